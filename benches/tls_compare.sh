#!/usr/bin/env bash
# TLS side by side: evserve (rustls, aws-lc-rs) against nginx (1 worker, OpenSSL), the same
# ECDSA P-256 certificate and the same files, on one machine in one run.
#
#   benches/tls_compare.sh
#   RUNS=5 DURATION=20s benches/tls_compare.sh
#   RUNS=1 DURATION=2s IDLE_CONNS=200 benches/tls_compare.sh     # smoke test
#
# Environment: RUNS (3), DURATION (10s), CONNS (50), IDLE_CONNS (2000), PORT_BASE (18443; two
# ports from there).
#
# Rows:
#   keep-alive    wrk -t1 over TLS, GET /plain.txt (13 bytes), CONNS connections
#   full hs       openssl s_time -new -www /plain.txt: a full handshake (TLS 1.3, no
#                 resumption) and one GET per connection
#   resumed hs    the same with -reuse: TLS 1.3 resumption by ticket
#   1 MiB file    wrk -t1 -c4 over TLS, GET /big.bin (MB per server CPU-second)
#   idle memory   IDLE_CONNS TLS connections held open (handshake done) by a Python client:
#                 the server's RSS growth per connection
#
# The server runs on CPU 0 and the load on CPU 1 (when there are two). Each figure is the
# median of RUNS runs, evserve and nginx alternately. "per CPU-s" is requests (or handshakes,
# or MB) per second of the server's own CPU time (user + system, /proc/PID/stat): the load
# generators are single-threaded and may saturate before the server.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
IDLE_CONNS=${IDLE_CONNS:-2000}
PORT_BASE=${PORT_BASE:-18443}
PORT_EV=$PORT_BASE PORT_NGINX=$((PORT_BASE + 1))

. "$(dirname "$0")/lib.sh"
bench_ports_free $PORT_EV $PORT_NGINX

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
bench_install "${need[@]}"
cargo build --release -q

bench_setup

# One certificate and the same files for both servers.
bench_cert_and_root
head -c $((1 << 20)) /dev/urandom >"$work/root/big.bin"
chmod a+r "$work/root/big.bin"

bench_nginx_conf 8192 application/octet-stream <<CONF
  server {
    listen 127.0.0.1:$PORT_NGINX ssl backlog=4096;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    root $work/root;
  }
CONF

ulimit -n 16384 2>/dev/null || echo "warning: ulimit -n is $(ulimit -n)" >&2
$SRV nginx -c "$work/nginx.conf" & pids+=($!); nginx_master=$!
$SRV target/release/evserve serve --https 127.0.0.1:$PORT_EV --root "$work/root" \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
  --max-connections 16384 --backlog 4096 --access-log false 2>"$work/evserve.log" & pids+=($!)
ev_pid=$!

bench_wait_listening "nginx $nginx_master $PORT_NGINX" "evserve $ev_pid $PORT_EV"
bench_nginx_worker "$nginx_master"

for port in $PORT_EV $PORT_NGINX; do
  body=$(curl -sf --max-time 2 --cacert "$work/cert.pem" "https://127.0.0.1:$port/plain.txt") ||
    { echo "port $port: no 200 answer over TLS" >&2; exit 1; }
  [ "$body" = "Hello, World!" ] || { echo "port $port: unexpected body '$body'" >&2; exit 1; }
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
secs() { case $1 in *ms) echo 1 ;; *s) echo "${1%s}" ;; *m) echo $((${1%m} * 60)) ;; *) echo "$1" ;; esac; }

# measure KIND PID PORT -> "per_second per_server_cpu_second"
measure() {
  local kind=$1 pid=$2 port=$3 t0 t1 out n rate
  t0=$(cpu_ticks "$pid")
  case $kind in
    keepalive | file)
      local path=/plain.txt conns=$CONNS
      [ "$kind" = file ] && path=/big.bin conns=4
      out=$($LOAD wrk -t1 -c"$conns" -d"$DURATION" "https://127.0.0.1:$port$path")
      rate=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      n=$(awk '/requests in/ {print $1}' <<<"$out")
      if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
        echo "warning: wrk $kind on $port: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | xargs)" >&2
      fi
      if [ "$kind" = file ]; then # MB (10^6 bytes) rather than requests
        rate=$(awk -v r="$rate" 'BEGIN { printf "%.1f", r * 1048576 / 1e6 }')
        n=$(awk -v r="$n" 'BEGIN { printf "%.1f", r * 1048576 / 1e6 }')
      fi
      ;;
    full | resumed)
      local flag=-new
      [ "$kind" = resumed ] && flag=-reuse
      out=$($LOAD openssl s_time -connect "127.0.0.1:$port" $flag -www /plain.txt \
        -time "$(secs "$DURATION")" 2>&1)
      # "1234 connections in 10.00s; 123.40 connections/user sec, bytes read 0"
      n=$(awk '/connections in [0-9.]+s;/ {print $1; exit}' <<<"$out")
      rate=$(awk -v n="$n" -v d="$(secs "$DURATION")" 'BEGIN { printf "%.0f", n / d }')
      ;;
  esac
  t1=$(cpu_ticks "$pid")
  awk -v r="$rate" -v n="$n" -v a="$t0" -v b="$t1" -v hz="$HZ" \
    'BEGIN { c = (b - a) / hz; printf "%s %.1f\n", r, (c > 0 ? n / c : 0) }'
}


# idle PID PORT -> RSS growth per connection, bytes, with IDLE_CONNS TLS connections open
idle() {
  local pid=$1 port=$2 before
  before=$(rss_kib "$pid")
  $LOAD python3 - "$port" "$IDLE_CONNS" "$work/cert.pem" "$pid" "$before" <<'PY'
import socket, ssl, sys
port, n, ca, pid, before = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
conns = []
for _ in range(n):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conns.append(ctx.wrap_socket(raw, server_hostname="localhost"))
# TLS 1.3 tickets arrive after the handshake: let the server finish writing them.
for c in conns:
    c.setblocking(False)
    try:
        c.recv(1)
    except (ssl.SSLWantReadError, BlockingIOError):
        pass
import time
time.sleep(1)
with open(f"/proc/{pid}/status") as f:
    rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
print(int((rss - before) * 1024 / n))
for c in conns:
    c.close()
PY
}

row() {
  local label=$1 kind=$2 unit=$3
  : >"$work/ev" && : >"$work/ng"
  for _ in $(seq "$RUNS"); do
    measure "$kind" "$ev_pid" "$PORT_EV" >>"$work/ev"
    measure "$kind" "$nginx_pid" "$PORT_NGINX" >>"$work/ng"
  done
  local e ec n nc
  e=$(cut -d' ' -f1 "$work/ev" | median) ec=$(cut -d' ' -f2 "$work/ev" | median)
  n=$(cut -d' ' -f1 "$work/ng" | median) nc=$(cut -d' ' -f2 "$work/ng" | median)
  printf '| %s | %s %s | %s %s | %s | %s | **%s** |\n' "$label" "$e" "$unit" "$n" "$unit" \
    "$ec" "$nc" "$(awk -v a="$ec" -v b="$nc" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
}

echo "evserve $(git rev-parse --short HEAD 2>/dev/null || echo '?') vs $(nginx -v 2>&1 | sed 's/.*: //') with $(openssl version | cut -d' ' -f1-2); RUNS=$RUNS DURATION=$DURATION CONNS=$CONNS"
echo
echo "| workload | evserve | nginx | evserve per CPU-s | nginx per CPU-s | ratio per CPU-s |"
echo "| --- | --- | --- | --- | --- | --- |"
row "HTTPS keep-alive GET 13 B, c=$CONNS" keepalive "req/s"
row "full handshake + GET (TLS 1.3, s_time -new)" full "hs/s"
row "resumed handshake + GET (TLS 1.3, s_time -reuse)" resumed "hs/s"
row "HTTPS 1 MiB file, c=4" file "MB/s"
ev_idle=$(idle "$ev_pid" "$PORT_EV")
ng_idle=$(idle "$nginx_pid" "$PORT_NGINX")
printf '| idle TLS connection, RSS at %s | %s B | %s B | | | **%s** (nginx/evserve) |\n' \
  "$IDLE_CONNS" "$ev_idle" "$ng_idle" \
  "$(awk -v a="$ev_idle" -v b="$ng_idle" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')"
echo
echo "evserve's handshake counters: $(curl -s --cacert "$work/cert.pem" "https://127.0.0.1:$PORT_EV/stats" |
  grep -oE '"tls_handshakes_[a-z]+":[0-9]+' | xargs)"
