#!/usr/bin/env bash
# HTTP/2 side by side (issue 21, "Prove it"): evserve against h2o (one thread) and nginx
# (`http2`, one worker), h2c and h2 over TLS, the same 13-byte file and the same ECDSA P-256
# certificate, on one machine in one run; and evserve's own HTTP/1.1, pipelined x16, on the
# same file, for the "HTTP/2 at least 0.8x of our HTTP/1.1" target.
#
#   benches/h2_compare.sh
#   ROUNDS=5 DURATION=20s benches/h2_compare.sh
#   ROUNDS=1 DURATION=2s benches/h2_compare.sh          # smoke test: ~20 s of load
#
# Environment: ROUNDS (3), DURATION (10s, h2load -D), CONNS (50), STREAMS (100, h2load -m
# for HTTP/2), PIPELINE (16, h2load --h1 -m for HTTP/1.1), PORT_BASE (18620; six ports from
# there).
#
# Load: h2load (nghttp2-client), one thread, `-c CONNS -m STREAMS`, GET /plain.txt; for the
# HTTP/1.1 rows `h2load --h1 -m PIPELINE`, which pipelines that many requests per connection.
# Servers run on CPU 0 and h2load on CPU 1 (when there are two). A round measures every
# (workload, server) once, in turn, so that drift on the machine hits all; each figure is the
# median of ROUNDS rounds. Besides requests/s, each row gives requests per *server* CPU-second
# (user + system time of the serving process from /proc/PID/stat: evserve, h2o, nginx's
# worker), since one h2load thread may saturate before the server does. The script prints a
# markdown table and the ratios the issue's targets are stated in, ready to paste into
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
STREAMS=${STREAMS:-100}
PIPELINE=${PIPELINE:-16}
PORT_BASE=${PORT_BASE:-18620}
P_EV=$PORT_BASE P_EV_TLS=$((PORT_BASE + 1))
P_H2O=$((PORT_BASE + 2)) P_H2O_TLS=$((PORT_BASE + 3))
P_NGINX=$((PORT_BASE + 4)) P_NGINX_TLS=$((PORT_BASE + 5))

secs() { case $1 in *ms) echo 1 ;; *s) echo "${1%s}" ;; *m) echo $((${1%m} * 60)) ;; *) echo "$1" ;; esac; }
echo "h2_compare.sh: about $((8 * ROUNDS * $(secs "$DURATION"))) s of load, plus building" >&2

. "$(dirname "$0")/lib.sh"
bench_ports_free $P_EV $P_EV_TLS $P_H2O $P_H2O_TLS $P_NGINX $P_NGINX_TLS

need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v h2o >/dev/null || need+=(h2o)
command -v nginx >/dev/null || need+=(nginx-light)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
bench_install "${need[@]}"
cargo build --release -q

bench_setup

# One certificate and one file for the three servers.
bench_cert_and_root

# nginx 1.22 turns HTTP/2 on per listener (`listen ... http2`; 1.25 spells it `http2 on`): on
# a plain listener that is h2c by prior knowledge, on an ssl one h2 by ALPN.
bench_nginx_conf 4096 text/plain <<CONF
  server {
    listen 127.0.0.1:$P_NGINX http2 backlog=4096;
    listen 127.0.0.1:$P_NGINX_TLS ssl http2 backlog=4096;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $work/root;
  }
CONF

# h2o: one thread, no access log (none is configured), errors to h2o.log, no OCSP stapling
# (a self-signed certificate names no responder), h2c by prior knowledge on the plain
# listener (h2o recognises the preface), h2 by ALPN on the TLS one.
cat >"$work/h2o.conf" <<CONF
num-threads: 1
user: nobody
listen:
  host: 127.0.0.1
  port: $P_H2O
listen:
  host: 127.0.0.1
  port: $P_H2O_TLS
  ssl:
    certificate-file: $work/cert.pem
    key-file: $work/key.pem
    minimum-version: TLSv1.2
    ocsp-update-interval: 0
hosts:
  default:
    paths:
      /:
        file.dir: $work/root
CONF

ulimit -n 8192 2>/dev/null || true
$SRV nginx -c "$work/nginx.conf" & pids+=($!); nginx_master=$!
$SRV h2o -c "$work/h2o.conf" 2>"$work/h2o.log" & pids+=($!); h2o_pid=$!
$SRV target/release/evserve serve --http 127.0.0.1:$P_EV --https 127.0.0.1:$P_EV_TLS \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --root "$work/root" \
  --max-connections 4096 --backlog 4096 --access-log false 2>"$work/evserve.log" & pids+=($!)
ev_pid=$!

bench_wait_listening "nginx $nginx_master $P_NGINX" "nginx $nginx_master $P_NGINX_TLS" \
  "h2o $h2o_pid $P_H2O" "h2o $h2o_pid $P_H2O_TLS" "evserve $ev_pid $P_EV" "evserve $ev_pid $P_EV_TLS"
bench_nginx_worker "$nginx_master"

# Every server answers the 13-byte body over HTTP/2, h2c and h2, before it is measured (and
# h2load counts only 2xx as succeeded).
for u in "h2c $P_EV" "h2 $P_EV_TLS" "h2c $P_H2O" "h2 $P_H2O_TLS" "h2c $P_NGINX" "h2 $P_NGINX_TLS"; do
  read -r how port <<<"$u"
  if [ "$how" = h2c ]; then
    out=$(curl -sf --max-time 2 --http2-prior-knowledge -w ' %{http_version}' "http://127.0.0.1:$port/plain.txt") || out=failed
  else
    out=$(curl -sf --max-time 2 --http2 --cacert "$work/cert.pem" -w ' %{http_version}' "https://localhost:$port/plain.txt") || out=failed
  fi
  [ "$out" = "Hello, World! 2" ] ||
    { echo "port $port ($how): expected 'Hello, World!' over HTTP/2, got '$out'" >&2; tail -5 "$work"/*.err "$work"/*.log >&2; exit 1; }
done


# measure PID URL [h2load args] -> "requests/s requests-per-server-CPU-second"
measure() {
  local pid=$1 url=$2 t0 t1 out rps ok bad; shift 2
  t0=$(cpu_ticks "$pid")
  out=$($LOAD h2load -t1 -c"$CONNS" -D "$(secs "$DURATION")" "$@" "$url" 2>&1) ||
    { echo "h2load $* $url failed: $(tail -3 <<<"$out")" >&2; echo "0 0"; return; }
  t1=$(cpu_ticks "$pid")
  # "finished in 10.00s, 123456.70 req/s, 4.50MB/s"
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  # "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
  ok=$(awk '/^requests:/ {print $8}' <<<"$out")
  bad=$(awk '/^requests:/ {print $10 + $12 + $14}' <<<"$out")
  [ "${bad:-0}" = 0 ] || echo "warning: h2load $* $url: $(grep '^requests:' <<<"$out")" >&2
  # Rates from the succeeded requests only: failures must not count as throughput.
  awk -v r="$rps" -v ok="$ok" -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$(secs "$DURATION")" \
    'BEGIN { c = (b - a) / hz; printf "%.0f %.0f\n", (r > 0 ? ok / d : 0), (c > 0 ? ok / c : 0) }'
}


H2=(-m "$STREAMS")
H1=(--h1 -m "$PIPELINE")
# key|label|server|pid|url|h2load args
cases=(
  "ev_h2c|h2c|evserve|$ev_pid|http://127.0.0.1:$P_EV/plain.txt|${H2[*]}"
  "h2o_h2c|h2c|h2o|$h2o_pid|http://127.0.0.1:$P_H2O/plain.txt|${H2[*]}"
  "ng_h2c|h2c|nginx|$nginx_pid|http://127.0.0.1:$P_NGINX/plain.txt|${H2[*]}"
  "ev_h2|h2 over TLS|evserve|$ev_pid|https://127.0.0.1:$P_EV_TLS/plain.txt|${H2[*]}"
  "h2o_h2|h2 over TLS|h2o|$h2o_pid|https://127.0.0.1:$P_H2O_TLS/plain.txt|${H2[*]}"
  "ng_h2|h2 over TLS|nginx|$nginx_pid|https://127.0.0.1:$P_NGINX_TLS/plain.txt|${H2[*]}"
  "ev_h1|HTTP/1.1, $PIPELINE pipelined|evserve|$ev_pid|http://127.0.0.1:$P_EV/plain.txt|${H1[*]}"
  "ev_h1tls|HTTP/1.1 over TLS, $PIPELINE pipelined|evserve|$ev_pid|https://127.0.0.1:$P_EV_TLS/plain.txt|${H1[*]}"
)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# Warm-up, unmeasured: every server opens its file, fills its caches, makes its sessions.
for c in "${cases[@]}"; do
  IFS='|' read -r _ _ _ _ url args <<<"$c"
  # shellcheck disable=SC2086 # args is a list of h2load flags on purpose
  $LOAD h2load -t1 -c10 -n 2000 $args "$url" >/dev/null 2>&1 || true
done

for round in $(seq "$ROUNDS"); do
  for c in "${cases[@]}"; do
    IFS='|' read -r key _ _ pid url args <<<"$c"
    # shellcheck disable=SC2086
    measure "$pid" "$url" $args >>"$work/$key"
  done
  echo "round $round of $ROUNDS done" >&2
done

declare -A rps cpu
for c in "${cases[@]}"; do
  IFS='|' read -r key _ _ _ _ _ <<<"$c"
  rps[$key]=$(cut -d' ' -f1 "$work/$key" | median)
  cpu[$key]=$(cut -d' ' -f2 "$work/$key" | median)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
k() { awk -v n="$1" 'BEGIN { printf "%.1f k", n / 1000 }'; }

machine="$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "## HTTP/2: evserve $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(h2o --version | head -1 | sed 's/ version//'), $(nginx -v 2>&1 | sed 's/.*: //'); medians of ROUNDS=$ROUNDS rounds of $DURATION"
echo
echo "$(h2load --version | head -1), one thread: \`h2load -c $CONNS -m $STREAMS\` (HTTP/2), \`h2load --h1 -c $CONNS -m $PIPELINE\` (HTTP/1.1), GET of a 13-byte file; $machine; load average before: $load_before."
echo
echo "| workload | server | req/s | req per server CPU-s | evserve / this server, per CPU-s |"
echo "| --- | --- | ---: | ---: | ---: |"
for c in "${cases[@]}"; do
  IFS='|' read -r key label server _ _ _ <<<"$c"
  case $key in
    *_h2c) base=ev_h2c ;;
    *_h2) base=ev_h2 ;;
    *) base= ;;
  esac
  r=""
  [ -n "$base" ] && [ "$server" != evserve ] && r="**$(ratio "${cpu[$base]}" "${cpu[$key]}")**"
  printf '| %s | %s | %s | %s | %s |\n' "$label" "$server" "$(k "${rps[$key]}")" "$(k "${cpu[$key]}")" "$r"
done
echo
echo "| target (issue 21) | req/s | per server CPU-s |"
echo "| --- | ---: | ---: |"
printf '| evserve / h2o, h2c (>= 1.0) | %s | **%s** |\n' "$(ratio "${rps[ev_h2c]}" "${rps[h2o_h2c]}")" "$(ratio "${cpu[ev_h2c]}" "${cpu[h2o_h2c]}")"
printf '| evserve / h2o, h2 over TLS (>= 1.0) | %s | **%s** |\n' "$(ratio "${rps[ev_h2]}" "${rps[h2o_h2]}")" "$(ratio "${cpu[ev_h2]}" "${cpu[h2o_h2]}")"
printf '| evserve / nginx, h2c | %s | **%s** |\n' "$(ratio "${rps[ev_h2c]}" "${rps[ng_h2c]}")" "$(ratio "${cpu[ev_h2c]}" "${cpu[ng_h2c]}")"
printf '| evserve / nginx, h2 over TLS | %s | **%s** |\n' "$(ratio "${rps[ev_h2]}" "${rps[ng_h2]}")" "$(ratio "${cpu[ev_h2]}" "${cpu[ng_h2]}")"
printf '| evserve h2c / evserve HTTP/1.1 x%s (>= 0.8) | %s | **%s** |\n' "$PIPELINE" "$(ratio "${rps[ev_h2c]}" "${rps[ev_h1]}")" "$(ratio "${cpu[ev_h2c]}" "${cpu[ev_h1]}")"
printf '| evserve h2 / evserve HTTP/1.1 x%s, both over TLS | %s | **%s** |\n' "$PIPELINE" "$(ratio "${rps[ev_h2]}" "${rps[ev_h1tls]}")" "$(ratio "${cpu[ev_h2]}" "${cpu[ev_h1tls]}")"
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg). Servers on CPU 0, h2load on CPU 1;"
echo "CPU-s: user + system time of evserve, h2o and nginx's worker during each run. On a machine"
echo "where anything else runs, rerun: the load generator and the servers share its CPUs."
