#!/usr/bin/env bash
# Side-by-side HTTP throughput: evserve against nginx and a hyper current_thread server,
# same machine, same run, same load. Prints a markdown table of medians of RUNS runs.
#
#   benches/compare.sh                  # defaults: 3 runs of 10 s, 50 connections
#   RUNS=5 DURATION=20s CONNS=50 benches/compare.sh
#
# Servers run on CPU 0 and wrk on CPU 1 (when there are two or more), so the load generator
# does not steal the server's core. Besides requests/s, each row gives requests per *server*
# CPU-second (from /proc/PID/stat), since a one-thread wrk may saturate before the server.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
PORT_EV=18080 PORT_NGINX=18082 PORT_HYPER=18081 PORT_C=18083

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release -q
cargo build --release -q --example hyper_plain

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$(nproc)" -ge 2 ]; then SRV="taskset -c 0" LOAD="taskset -c 1"; else SRV="" LOAD=""; fi

cc -O2 -o "$work/c_epoll_plain" benches/peers/c_epoll_plain.c
mkdir -p "$work/root"
printf 'Hello, World!' > "$work/root/plain.txt"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $work/nginx.err warn;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  default_type text/plain;
  server { listen 127.0.0.1:$PORT_NGINX; root $work/root; }
}
CONF

$SRV nginx -c "$work/nginx.conf" & pids+=($!); nginx_master=$!
$SRV target/release/evserve serve --http 127.0.0.1:$PORT_EV --root "$work/root" \
  --access-log false 2>"$work/evserve.log" & pids+=($!); ev_pid=$!
$SRV target/release/examples/hyper_plain 127.0.0.1:$PORT_HYPER 2>"$work/hyper.log" & pids+=($!); hyper_pid=$!
$SRV "$work/c_epoll_plain" $PORT_C & pids+=($!); c_pid=$!
sleep 1
# nginx serves from its worker process: measure that one's CPU time.
nginx_pid=$(pgrep -P "$nginx_master" | head -1)

cat > "$work/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME PID URL [wrk args...] -> "rps rps_per_cpu_s"
run_once() {
  local pid=$1 url=$2; shift 2
  local t0 t1 out rps
  t0=$(cpu_ticks "$pid")
  out=$($LOAD wrk -t1 -c"$CONNS" -d"$DURATION" "$@" "$url")
  t1=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  local reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  local hz=$(getconf CLK_TCK)
  local cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {print (b - a) / hz}')
  awk -v r="$rps" -v n="$reqs" -v c="$cpu" 'BEGIN {printf "%.0f %.0f\n", r, (c > 0 ? n / c : 0)}'
}

median_of_runs() {
  local results=()
  for _ in $(seq "$RUNS"); do results+=("$(run_once "$@")"); done
  printf '%s\n' "${results[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2)'
}

row() { # label pid url [wrk args]
  local label=$1; shift
  read -r rps per_cpu <<<"$(median_of_runs "$@")"
  printf '| %s | %s | %s |\n' "$label" "$rps" "$per_cpu"
}

echo "## HTTP, wrk -t1 -c$CONNS -d$DURATION, median of $RUNS ($(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo
echo "| server / request | requests/s | requests per server CPU-second |"
echo "| --- | ---: | ---: |"
row "nginx static 13 B file" $nginx_pid "http://127.0.0.1:$PORT_NGINX/plain.txt"
row "evserve static 13 B file" $ev_pid "http://127.0.0.1:$PORT_EV/plain.txt"
row "hyper fixed body" $hyper_pid "http://127.0.0.1:$PORT_HYPER/plain"
row "evserve GET /plain" $ev_pid "http://127.0.0.1:$PORT_EV/plain"
row "C epoll loop (ceiling)" $c_pid "http://127.0.0.1:$PORT_C/plain"
row "nginx static, 16 pipelined" $nginx_pid "http://127.0.0.1:$PORT_NGINX/plain.txt" -s "$work/pipeline.lua"
row "evserve static, 16 pipelined" $ev_pid "http://127.0.0.1:$PORT_EV/plain.txt" -s "$work/pipeline.lua"
row "hyper, 16 pipelined" $hyper_pid "http://127.0.0.1:$PORT_HYPER/plain" -s "$work/pipeline.lua"
row "evserve /plain, 16 pipelined" $ev_pid "http://127.0.0.1:$PORT_EV/plain" -s "$work/pipeline.lua"
row "C epoll loop, 16 pipelined" $c_pid "http://127.0.0.1:$PORT_C/plain" -s "$work/pipeline.lua"
