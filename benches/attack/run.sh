#!/usr/bin/env bash
# Fairness under attack (issue 11): for each server and each attack, start the server fresh,
# run ONE bounded attack while a well-behaved client asks for a 13-byte answer every ~10 ms,
# sample the server's RSS every 100 ms during the attack and for AFTER seconds after it, and
# print one markdown row: the good client's p50/p99/max and failures, RSS idle/peak/after.
#
#   benches/attack/run.sh                      # everything: 16 attacks, evserve and nginx, ~24 min
#   QUICK=1 benches/attack/run.sh              # each attack at a tenth of the size, shorter: ~6 min
#   ATTACKS=h2 benches/attack/run.sh           # the control and the seven HTTP/2 attacks, ~10 min
#   SERVERS=evserve ATTACKS="slow-body burst" benches/attack/run.sh
#   EVSERVE_FLAGS="--max-memory 256MiB" benches/attack/run.sh   # extra flags for every evserve
#
# Attacks (full size; benches/attack/attack.rs says exactly what each connection sends):
#   none          no attack: the control, the good client alone (the machine's own noise)
#   slow-body     250 conns POST /echo, Content-Length 4096, 3 body bytes every 5 s; servers
#                 limited to 200 connections (evserve --max-connections 200, nginx
#                 worker_connections 201: one is its listener; QUICK: 25 against 20): the
#                 lockout case
#   slow-read     2,000 conns GET a 20 MiB file and never read
#   listing       20 conns GET a directory of 100,000 entries in a loop
#   chunked-echo  30 conns POST /echo 16 MiB chunked, never reading the answer (nginx: the echo
#                 module, echo_read_request_body + echo_request_body)
#   burst         2,000 conns GET the 20 MiB file at once and read it; ends when all are done
#   pipelined     200 conns each pipelining 64 GETs of the 20 MiB file, never reading
#   chat          1,000 chat members reading, 4 senders sending lines as fast as taken
#                 (evserve only: its --chat room)
#   udp-flood     100,000 datagrams/s of 512 bytes to the UDP echo, echoes never read
#                 (evserve only: its --udp-echo)
#   h2-rapid-reset   10 h2c conns: GET /big.bin + RST_STREAM(CANCEL), again and again
#   h2-continuation  10 h2c conns: a header block that never ends (CONTINUATION flood)
#   h2-ping          10 h2c conns: PING flood, acknowledgements never read
#   h2-settings      10 h2c conns: SETTINGS flood, acknowledgements never read
#   h2-empty-data    10 h2c conns: a POST /echo stream, then empty DATA frames on it
#   h2-zero-window   200 h2c conns: initial window 0, 100 GET /big.bin each, held
#   h2-no-end        200 h2c conns: 100 POST /echo streams each, one byte, never END_STREAM
#   (evserve serves h2c on its HTTP port; nginx on a second listener, `listen ... http2`.
#   The good client stays HTTP/1.1 on the server's HTTP port. `ATTACKS=h2` runs the seven.)
#
# Environment: QUICK (0), SERVERS ("evserve nginx"), ATTACKS (all sixteen; "h2": the control
# and the HTTP/2 ones), DURATION (25 s; QUICK
# 6 s), AFTER (10 s; QUICK 5 s), PORT_BASE (18190; one port per run from there, and that
# port + 500 for evserve's chat and UDP echo or nginx's h2c), EVSERVE_FLAGS,
# PIN (1: server on CPU 0, runner on CPU 1; 0: leave placement to the scheduler).
#
# The good client: GET /plain (evserve) or /plain.txt (nginx, a 13-byte static file), a new
# connection per request, 10 ms between requests, 10 s timeout; p50/p99/max cover every
# attempt, failed or not. Access logs are off. Everything lives in a temp dir, removed on exit
# with every process this script started. Method and figures: docs/fairness.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

QUICK=${QUICK:-0}
SERVERS=${SERVERS:-"evserve nginx"}
H2_ATTACKS="h2-rapid-reset h2-continuation h2-ping h2-settings h2-empty-data h2-zero-window h2-no-end"
ALL="none slow-body slow-read listing chunked-echo burst pipelined chat udp-flood $H2_ATTACKS"
ATTACKS=${ATTACKS:-$ALL}
[ "$ATTACKS" = h2 ] && ATTACKS="none $H2_ATTACKS"
PORT_BASE=${PORT_BASE:-18190}
EVSERVE_FLAGS=${EVSERVE_FLAGS:-}
PIN=${PIN:-1}
if [ "$QUICK" = 1 ]; then
  SCALE=0.1 ENTRIES=10000 DURATION=${DURATION:-6} AFTER=${AFTER:-5} LIMIT=20
else
  SCALE=1 ENTRIES=100000 DURATION=${DURATION:-25} AFTER=${AFTER:-10} LIMIT=200
fi
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

for s in $SERVERS; do
  case $s in evserve | nginx) ;; *) echo "unknown server '$s' (evserve, nginx)" >&2; exit 2 ;; esac
done
for a in $ATTACKS; do
  case " $ALL " in *" $a "*) ;; *) echo "unknown attack '$a' ($ALL)" >&2; exit 2 ;; esac
done
# nginx serves no chat room and no UDP echo: those attacks are evserve's alone.
only_evserve() { [ "$1" = chat ] || [ "$1" = udp-flood ]; }
runs=0
for a in $ATTACKS; do
  for s in $SERVERS; do
    [ "$s" = nginx ] && only_evserve "$a" && continue
    runs=$((runs + 1))
  done
done
echo "attack/run.sh: $runs runs of at most $((DURATION + AFTER + 3)) s: about" \
  "$((runs * (DURATION + AFTER + 3) / 60 + 1)) min, plus building" >&2

. "$(dirname "$0")/../lib.sh"
need=()
command -v nginx >/dev/null || need+=(nginx-light)
[ -e "$ECHO_MODULE" ] || need+=(libnginx-mod-http-echo)
command -v curl >/dev/null || need+=(curl)
[[ " $SERVERS " == *" nginx "* ]] && bench_install "${need[@]}"
cargo build --release -q
cargo build --release -q --example attack

# 2,000 attack sockets in the runner and as many in the server, plus the good client's.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 8192 ] || { echo "ulimit -n is $(ulimit -n); 2,000 connections need 8192" >&2; exit 1; }

bench_setup
[ "$PIN" = 1 ] || SRV="" LOAD=""
mkdir -p "$work/root" "$work/nginx-tmp"
chmod 777 "$work/nginx-tmp"
echo "preparing: a 20 MiB file and a directory of $ENTRIES entries" >&2
target/release/examples/attack prepare "$work/root" "$ENTRIES"

# nginx_conf PORT WORKER_CONNECTIONS H2C_PORT
nginx_conf() {
  cat >"$work/nginx.conf" <<CONF
load_module $ECHO_MODULE;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
error_log $work/nginx.err error;
pid $work/nginx.pid;
events { worker_connections $2; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  default_type text/plain;
  client_body_temp_path $work/nginx-tmp/body;
  proxy_temp_path $work/nginx-tmp/proxy;
  fastcgi_temp_path $work/nginx-tmp/fastcgi;
  uwsgi_temp_path $work/nginx-tmp/uwsgi;
  scgi_temp_path $work/nginx-tmp/scgi;
  server {
    listen 127.0.0.1:$1 backlog=4096;
    # nginx 1.22: HTTP/2 per listener; on a plain one, h2c by prior knowledge only.
    listen 127.0.0.1:$3 http2 backlog=4096;
    root $work/root;
    location / { autoindex on; }
    # evserve's POST /echo: the body back (as evserve's --max-body, 16 MiB at most).
    location = /echo {
      client_max_body_size 16m;
      echo_read_request_body;
      echo_request_body;
    }
  }
}
CONF
}

# up PID PORT PATH: the server answers PATH with 200 within 5 s, or the run stops here.
up() {
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || break
    curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$2$3" && return 0
    sleep 0.1
  done
  echo "the server (pid $1) did not answer http://127.0.0.1:$2$3; its log:" >&2
  tail -20 "$work"/*.log "$work/nginx.err" 2>/dev/null >&2 || true
  exit 1
}

machine="$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
placement="server on CPU 0, runner on CPU 1"
[ -n "$SRV" ] || placement="no CPU pinning"
echo "## Attacks: $ATTACKS (scale $SCALE, $DURATION s each, RSS read $AFTER s after; $machine, $placement)"
echo
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| server | attack | what the attack did | CPU s server / runner | good client: requests | p50 | p99 | max | failures | RSS idle | RSS peak | RSS +$AFTER s |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
port=$PORT_BASE
for attack in $ATTACKS; do
  for server in $SERVERS; do
    [ "$server" = nginx ] && only_evserve "$attack" && continue
    port=$((port + 1))
    side=$((port + 500))
    bench_ports_free "$port" "$side"
    limit=()
    extra=()
    [ "$attack" = slow-body ] && limit=(--max-connections "$LIMIT")
    if [ "$server" = evserve ]; then
      # shellcheck disable=SC2086 # EVSERVE_FLAGS is a list of flags on purpose
      $SRV target/release/evserve serve --http "127.0.0.1:$port" --root "$work/root" \
        --access-log false --listings --backlog 4096 --chat "127.0.0.1:$side" --udp-echo "127.0.0.1:$side" \
        "${limit[@]}" $EVSERVE_FLAGS 2>"$work/evserve.log" &
      pid=$!
      pids+=("$pid")
      up "$pid" "$port" /plain
      watch=$pid good=/plain
      extra=(--chat "127.0.0.1:$side" --udp "127.0.0.1:$side")
    else
      wc=8192
      [ "$attack" = slow-body ] && wc=$((LIMIT + 1))
      nginx_conf "$port" "$wc" "$side"
      $SRV nginx -c "$work/nginx.conf" 2>>"$work/nginx.err" &
      pid=$!
      pids+=("$pid")
      up "$pid" "$port" /plain.txt
      worker=$(pgrep -P "$pid" | head -1) || { echo "nginx started no worker" >&2; exit 1; }
      pids+=("$worker")
      watch=$pid,$worker good=/plain.txt
      extra=(--h2 "127.0.0.1:$side")
    fi
    echo "$server: $attack on port $port" >&2
    # In the background and waited for, so that a signal reaches the traps at once rather
    # than after the run (bash runs traps only between commands).
    $LOAD target/release/examples/attack run --server "$server" --addr "127.0.0.1:$port" \
      --pids "$watch" --attack "$attack" --scale "$SCALE" --duration "$DURATION" \
      --after "$AFTER" --good "$good" "${extra[@]}" &
    runner=$!
    pids+=("$runner")
    wait "$runner"
    for p in ${watch//,/ }; do kill -9 "$p" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
  done
done
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg). RSS: VmRSS of the server (nginx:"
echo "master + worker). Latency: every attempt of the good client during the attack, from"
echo "connect to the end of the answer; failures by kind (timeout: no answer in 10 s)."
