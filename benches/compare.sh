#!/usr/bin/env bash
# Side-by-side throughput: evserve against the servers users would pick instead, on one machine
# in one run, under the same load.
#
#   benches/compare.sh            # the table: HTTP and echo workloads, evserve vs its peer
#   benches/compare.sh sweep      # throughput vs connections (1 … 1000) → CSV and SVG chart
#   benches/compare.sh all        # both
#   RUNS=5 DURATION=20s CONNS=50 benches/compare.sh
#   RUNS=1 DURATION=1s SWEEP_DURATION=1s benches/compare.sh all   # smoke test: 40 s of load
#   ONLY="1 MiB" benches/compare.sh   # only the table rows whose label contains ONLY
#
# Environment: RUNS (3), DURATION (10s, table), CONNS (50, table), ONLY (all rows), SWEEP_DURATION (5s),
# SWEEP_CONNS ("1 10 50 200 1000"), SWEEP_STATIC (0; 1 adds evserve vs nginx on the static file
# to the sweep), OUT (docs/bench, where the sweep writes sweep.csv and the SVG), PORT_BASE
# (18080; the script uses eight ports from there, TCP and UDP).
#
# Peers: nginx (worker_processes 1) and a hyper current_thread server for HTTP, a tokio
# current_thread echo server for echo (both built from benches/peers), and a hand-written C
# epoll loop as the ceiling; for the plaintext and JSON rows, may_minihttp and xitca-web, the
# fastest Rust servers of TechEmpower's tests, one worker thread each (benches/peers/fast: a
# crate of its own, built into target/bench-peers, never into evserve's dependencies). HTTP load is wrk -t1; echo and UDP load is `evserve load`.
#
# Servers run on CPU 0 and the load generator on CPU 1 (when there are two or more), so the
# load does not steal the server's core. Each figure is the median of RUNS runs, evserve and
# its peer measured alternately so that drift on the machine hits both. Besides requests/s,
# each row gives requests per *server* CPU-second (user + system time from /proc/PID/stat),
# since a one-thread load generator may saturate before the server does.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-table}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
SWEEP_DURATION=${SWEEP_DURATION:-5s}
SWEEP_CONNS=${SWEEP_CONNS:-"1 10 50 200 1000"}
SWEEP_STATIC=${SWEEP_STATIC:-0}
OUT=${OUT:-docs/bench}
PORT_BASE=${PORT_BASE:-18080}
PORT_EV=$PORT_BASE PORT_HYPER=$((PORT_BASE + 1)) PORT_NGINX=$((PORT_BASE + 2))
PORT_C=$((PORT_BASE + 3)) PORT_EV_ECHO=$((PORT_BASE + 4)) PORT_TOKIO=$((PORT_BASE + 5))
PORT_MAY=$((PORT_BASE + 6)) PORT_XITCA=$((PORT_BASE + 7))

case $MODE in table | sweep | all) ;; *) echo "usage: $0 [table|sweep|all]" >&2; exit 2 ;; esac

# secs 10s|500ms|2m|10 -> whole seconds, rounded up (for the time estimate only)
secs() {
  case $1 in
    *ms) echo $(((${1%ms} + 999) / 1000)) ;;
    *s) echo "${1%s}" ;;
    *m) echo $((${1%m} * 60)) ;;
    *) echo "$1" ;;
  esac
}
n_sweep=$(wc -w <<<"$SWEEP_CONNS")
sweep_services=2
[ "$SWEEP_STATIC" = 1 ] && sweep_services=3
total=0 # seconds of load: rows (or sweep points) x 2 servers x RUNS x duration
[ "$MODE" != sweep ] && total=$((total + 10 * 2 * RUNS * $(secs "$DURATION")))
[ "$MODE" != table ] && total=$((total + sweep_services * n_sweep * 2 * RUNS * $(secs "$SWEEP_DURATION")))
echo "compare.sh $MODE: about $((total / 60)) min $((total % 60)) s of load, plus building" >&2

. "$(dirname "$0")/lib.sh"
bench_ports_free $PORT_EV $PORT_HYPER $PORT_NGINX $PORT_C $PORT_EV_ECHO $PORT_TOKIO $PORT_MAY $PORT_XITCA

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
bench_install "${need[@]}"
cargo build --release -q
cargo build --release -q --example hyper_plain --example tokio_echo --example chart
(cd benches/peers/fast && cargo build --release -q --target-dir ../../../target/bench-peers)

bench_setup

cc -O2 -o "$work/c_epoll_plain" benches/peers/c_epoll_plain.c
mkdir -p "$work/root"
printf 'Hello, World!' >"$work/root/plain.txt"
# Larger than evserve's small-file cache (64 KiB): sent with sendfile by both servers.
head -c 1048576 /dev/urandom >"$work/root/1mib.bin"
# Tuned for one 13-byte file (bench_nginx_conf). sendfile with tcp_nopush (TCP_CORK) was
# slower for it: 18 k against 92 k requests/s with 16 pipelined, 32 k against 59 k without.
bench_nginx_conf 4096 text/plain <<CONF
  server {
    listen 127.0.0.1:$PORT_NGINX backlog=4096; root $work/root;
    # A large file is what sendfile is for (nginx's default, and evserve's).
    location = /1mib.bin { sendfile on; }
  }
CONF

ulimit -n 8192 2>/dev/null || echo "warning: ulimit -n is $(ulimit -n); 1000 connections may fail" >&2
$SRV nginx -c "$work/nginx.conf" & pids+=($!); nginx_master=$!
$SRV target/release/evserve serve --http 127.0.0.1:$PORT_EV --root "$work/root" \
  --echo 127.0.0.1:$PORT_EV_ECHO --udp-echo 127.0.0.1:$PORT_EV_ECHO \
  --max-connections 4096 --backlog 4096 --access-log false 2>"$work/evserve.log" & pids+=($!)
ev_pid=$!
$SRV target/release/examples/hyper_plain 127.0.0.1:$PORT_HYPER 2>"$work/hyper.log" & pids+=($!)
hyper_pid=$!
$SRV target/release/examples/tokio_echo 127.0.0.1:$PORT_TOKIO 127.0.0.1:$PORT_TOKIO \
  2>"$work/tokio.log" & pids+=($!)
tokio_pid=$!
$SRV "$work/c_epoll_plain" $PORT_C & pids+=($!); c_pid=$!
$SRV target/bench-peers/release/may_plain 127.0.0.1:$PORT_MAY 2>"$work/may.log" & pids+=($!)
may_pid=$!
$SRV target/bench-peers/release/xitca_plain 127.0.0.1:$PORT_XITCA 2>"$work/xitca.log" & pids+=($!)
xitca_pid=$!

# Every server up and listening within 5 s, or stop here.
bench_wait_listening "nginx $nginx_master $PORT_NGINX" "evserve $ev_pid $PORT_EV" "evserve $ev_pid $PORT_EV_ECHO" \
  "hyper_plain $hyper_pid $PORT_HYPER" "tokio_echo $tokio_pid $PORT_TOKIO" "c_epoll_plain $c_pid $PORT_C" \
  "may_plain $may_pid $PORT_MAY" "xitca_plain $xitca_pid $PORT_XITCA"
bench_nginx_worker "$nginx_master"

# Every HTTP server must answer the 13-byte body with a 200 before it is measured (wrk
# counts error answers as requests).
for url in http://127.0.0.1:$PORT_EV/plain.txt http://127.0.0.1:$PORT_NGINX/plain.txt \
  http://127.0.0.1:$PORT_EV/plain http://127.0.0.1:$PORT_HYPER/plain http://127.0.0.1:$PORT_C/plain \
  http://127.0.0.1:$PORT_MAY/plain http://127.0.0.1:$PORT_XITCA/plain; do
  body=$(curl -sf --max-time 2 "$url") || { echo "$url: no 200 answer" >&2; exit 1; }
  [ "$body" = "Hello, World!" ] || { echo "$url: unexpected body '$body'" >&2; exit 1; }
done

for url in http://127.0.0.1:$PORT_EV/1mib.bin http://127.0.0.1:$PORT_NGINX/1mib.bin; do
  curl -sf --max-time 5 "$url" | cmp -s - "$work/root/1mib.bin" ||
    { echo "$url: not the 1 MiB file, byte for byte" >&2; exit 1; }
done

cat >"$work/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
LUA


# measure PID DURATION CONNS TARGET [load args...]
#   -> "requests/s requests-per-server-CPU-second MB/s" (MB/s: bytes echoed back, one
#      direction, 10^6 bytes; 0 for HTTP)
# TARGET is an http:// URL (wrk) or "echo|udp HOST:PORT" (evserve load).
measure() {
  local pid=$1 duration=$2 conns=$3 target=$4; shift 4
  local t0 t1 out rps reqs mbps=0 errors
  t0=$(cpu_ticks "$pid")
  case $target in
    http://*)
      out=$($LOAD wrk -t1 -c"$conns" -d"$duration" "$@" "$target")
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      errors=$(grep -E 'Socket errors|Non-2xx' <<<"$out" || true)
      [ -z "$errors" ] || echo "warning: wrk -c$conns $target: $(xargs <<<"$errors")" >&2
      ;;
    *)
      # shellcheck disable=SC2086 # TARGET is "protocol address" on purpose
      out=$($LOAD target/release/evserve load $target -c "$conns" -d "$duration" --json "$@")
      field() { sed -E "s/.*\"$1\":([0-9.]+).*/\\1/" <<<"$out"; }
      rps=$(field requests_per_sec) reqs=$(field requests)
      mbps=$(awk -v b="$(field bytes_received)" -v d="$(field duration_secs)" \
        'BEGIN { printf "%.1f", (d > 0 ? b / d / 1e6 : 0) }')
      errors=$(($(field errors) + $(field timeouts) + $(field connect_errors)))
      [ "$errors" = 0 ] ||
        echo "warning: evserve load $target -c $conns: $errors errors, timeouts or connect errors" >&2
      ;;
  esac
  t1=$(cpu_ticks "$pid")
  awk -v r="$rps" -v n="$reqs" -v a="$t0" -v b="$t1" -v hz="$HZ" -v m="$mbps" \
    'BEGIN { c = (b - a) / hz; printf "%.0f %.0f %s\n", r, (c > 0 ? n / c : 0), m }'
}


# compare DURATION CONNS EV_PID EV_TARGET PEER_PID PEER_TARGET [load args...]
#   -> "ev_rps peer_rps ev_per_cpu peer_per_cpu ev_mbps peer_mbps", medians of RUNS runs,
#      evserve and the peer alternately
compare() {
  local duration=$1 conns=$2 ev=$3 ev_target=$4 peer=$5 peer_target=$6; shift 6
  : >"$work/ev" && : >"$work/peer"
  for _ in $(seq "$RUNS"); do
    measure "$ev" "$duration" "$conns" "$ev_target" "$@" >>"$work/ev"
    measure "$peer" "$duration" "$conns" "$peer_target" "$@" >>"$work/peer"
  done
  local col out=()
  for col in 1 2 3; do
    out+=("$(cut -d' ' -f$col "$work/ev" | median)" "$(cut -d' ' -f$col "$work/peer" | median)")
  done
  echo "${out[0]} ${out[1]} ${out[2]} ${out[3]} ${out[4]} ${out[5]}"
}

# ratio A B -> A / B to two decimals ("n/a" when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
k() { awk -v n="$1" 'BEGIN { printf "%.1f k", n / 1000 }'; }

# row LABEL PEER_NAME CONNS compare-args... -> one markdown table row; with MB=1, the
# requests/s cells also give MB/s echoed
row() {
  local label=$1 peer=$2 conns=$3; shift 3
  [[ -z "${ONLY:-}" || "$label" == *"$ONLY"* ]] || return 0
  local e p ec pc em pm es ps
  read -r e p ec pc em pm <<<"$(compare "$DURATION" "$conns" "$@")"
  es=$(k "$e") ps=$(k "$p")
  if [ "${MB:-0}" = 1 ]; then es="$es ($em MB/s)" ps="$ps ($pm MB/s)"; fi
  printf '| %s | %s | %s | %s | **%s** | %s | %s | **%s** |\n' "$label" "$peer" \
    "$es" "$ps" "$(ratio "$e" "$p")" "$(k "$ec")" "$(k "$pc")" "$(ratio "$ec" "$pc")"
}

EV=http://127.0.0.1:$PORT_EV NGINX=http://127.0.0.1:$PORT_NGINX
HYPER=http://127.0.0.1:$PORT_HYPER C=http://127.0.0.1:$PORT_C
MAY=http://127.0.0.1:$PORT_MAY XITCA=http://127.0.0.1:$PORT_XITCA
PIPE=(-s "$work/pipeline.lua")
EV_ECHO=127.0.0.1:$PORT_EV_ECHO TOKIO=127.0.0.1:$PORT_TOKIO

machine="$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

if [ "$MODE" != sweep ]; then
  echo "## evserve / peer: medians of $RUNS runs of $DURATION, $CONNS connections ($machine)"
  echo
  echo "| workload | peer | evserve req/s | peer req/s | ratio | evserve req per CPU-s | peer req per CPU-s | ratio |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  row "HTTP static 13 B file" nginx "$CONNS" $ev_pid "$EV/plain.txt" $nginx_pid "$NGINX/plain.txt"
  row "HTTP GET /plain" hyper "$CONNS" $ev_pid "$EV/plain" $hyper_pid "$HYPER/plain"
  row "HTTP GET /plain" "C epoll loop" "$CONNS" $ev_pid "$EV/plain" $c_pid "$C/plain"
  row "HTTP static, 16 pipelined" nginx "$CONNS" $ev_pid "$EV/plain.txt" $nginx_pid "$NGINX/plain.txt" "${PIPE[@]}"
  row "HTTP static 1 MiB file" nginx "$CONNS" $ev_pid "$EV/1mib.bin" $nginx_pid "$NGINX/1mib.bin"
  row "HTTP /plain, 16 pipelined" hyper "$CONNS" $ev_pid "$EV/plain" $hyper_pid "$HYPER/plain" "${PIPE[@]}"
  row "HTTP /plain, 16 pipelined" "C epoll loop" "$CONNS" $ev_pid "$EV/plain" $c_pid "$C/plain" "${PIPE[@]}"
  row "HTTP /plain, 16 pipelined" may_minihttp "$CONNS" $ev_pid "$EV/plain" $may_pid "$MAY/plain" "${PIPE[@]}"
  row "HTTP /plain, 16 pipelined" xitca-web "$CONNS" $ev_pid "$EV/plain" $xitca_pid "$XITCA/plain" "${PIPE[@]}"
  row "HTTP GET /json" may_minihttp "$CONNS" $ev_pid "$EV/json" $may_pid "$MAY/json"
  row "HTTP GET /json" xitca-web "$CONNS" $ev_pid "$EV/json" $xitca_pid "$XITCA/json"
  row "HTTP GET /json" hyper "$CONNS" $ev_pid "$EV/json" $hyper_pid "$HYPER/json"
  row "TCP echo 64 B" tokio "$CONNS" $ev_pid "echo $EV_ECHO" $tokio_pid "echo $TOKIO"
  row "TCP echo 64 B, 16 in flight" tokio "$CONNS" $ev_pid "echo $EV_ECHO" $tokio_pid "echo $TOKIO" --pipeline 16
  row "UDP echo 64 B" tokio "$CONNS" $ev_pid "udp $EV_ECHO" $tokio_pid "udp $TOKIO"
  MB=1 row "TCP echo 64 KiB, 1 connection" tokio 1 $ev_pid "echo $EV_ECHO" $tokio_pid "echo $TOKIO" --size 65536
  echo
  echo "HTTP load: wrk -t1; echo and UDP load: evserve load, every reply checked (UDP: $CONNS"
  echo "sockets). A request of the 64 KiB row is one 64 KiB round trip on one connection; its"
  echo "MB/s counts the bytes echoed back (one direction). Ratios are evserve / peer: above 1,"
  echo "evserve is ahead."
fi

if [ "$MODE" != table ]; then
  mkdir -p "$OUT"
  csv=$OUT/sweep.csv
  svg=$OUT/throughput-vs-connections.svg
  echo "service,server,connections,requests_per_sec,per_cpu_sec" >"$csv"
  # point SERVICE PEER_NAME CONNS compare-args... -> two CSV lines (evserve, then the peer)
  point() {
    local service=$1 peer=$2 c=$3 e p ec pc; shift 3
    read -r e p ec pc _ <<<"$(compare "$SWEEP_DURATION" "$c" "$@")"
    printf '%s,evserve,%s,%s,%s\n%s,%s,%s,%s,%s\n' "$service" "$c" "$e" "$ec" \
      "$service" "$peer" "$c" "$p" "$pc" >>"$csv"
  }
  for c in $SWEEP_CONNS; do
    point "HTTP GET /plain (wrk -t1)" hyper "$c" $ev_pid "$EV/plain" $hyper_pid "$HYPER/plain"
    point "TCP echo 64 B (evserve load)" tokio "$c" $ev_pid "echo $EV_ECHO" $tokio_pid "echo $TOKIO"
    if [ "$SWEEP_STATIC" = 1 ]; then
      point "HTTP static 13 B file (wrk -t1)" nginx "$c" $ev_pid "$EV/plain.txt" $nginx_pid "$NGINX/plain.txt"
    fi
    echo "sweep: $c connections done" >&2
  done
  target/release/examples/chart "$csv" "$svg"
  echo
  echo "## Throughput vs connections: medians of $RUNS runs of $SWEEP_DURATION ($machine)"
  echo
  echo "| service | connections | evserve req/s | peer | peer req/s | ratio | ratio per CPU-s |"
  echo "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
  awk -F, 'function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
    NR > 1 {
      key = $1 SUBSEP $3
      if ($2 == "evserve") { ev[key] = $4; evc[key] = $5; order[++n] = key; svc[key] = $1; conns[key] = $3 }
      else { peer[key] = $4; peerc[key] = $5; name[key] = $2 }
    }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]
        printf "| %s | %s | %.1f k | %s | %.1f k | **%s** | **%s** |\n", svc[k], conns[k], ev[k] / 1000,
          name[k], peer[k] / 1000, ratio(ev[k], peer[k]), ratio(evc[k], peerc[k])
      }
    }' "$csv"
  echo
  echo "CSV: $csv; chart: $svg"
fi
