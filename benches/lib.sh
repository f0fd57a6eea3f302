# Shared by the benchmark scripts (compare.sh, tls_compare.sh, h2_compare.sh, attack/run.sh): a work
# directory, the processes a script starts, and their cleanup however the script ends.
#
#   . "$(dirname "$0")/lib.sh"      (or ../lib.sh)
#   bench_setup                     # sets $work, pids=(), traps EXIT/INT/TERM, $SRV and $LOAD
#   bench_cert_and_root             # a localhost certificate and $work/root/plain.txt
#   some_server & pids+=($!)

# Creates $work (readable by nginx's unprivileged worker: mktemp's 0700 made every nginx
# answer a 403), arms the cleanup, and sets $SRV/$LOAD to pin the server to CPU 0 and the
# load to CPU 1 when there are two.
bench_setup() {
  work=$(mktemp -d)
  chmod 755 "$work"
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [ "$(nproc)" -ge 2 ]; then SRV="taskset -c 0" LOAD="taskset -c 1"; else SRV="" LOAD=""; fi
}


# Writes $work/nginx.conf: one worker, no access log, open_file_cache (nginx's counterpart of
# evserve's small-file cache, also revalidated after 1 s), sendfile off and TCP_NODELAY for
# small answers, keep-alive without end: what every comparison tunes alike. Then the server
# blocks, read from stdin. Usage: bench_nginx_conf WORKER_CONNECTIONS DEFAULT_TYPE <<CONF
bench_nginx_conf() {
  {
    cat <<CONF
worker_processes 1;
daemon off;
error_log $work/nginx.err warn;
pid $work/nginx.pid;
events { worker_connections $1; }
http {
  access_log off;
  open_file_cache max=1024; open_file_cache_valid 1s;
  sendfile off; tcp_nodelay on;
  keepalive_requests 1000000;
  default_type $2;
CONF
    cat
    echo "}"
  } >"$work/nginx.conf"
}
# Stops every started process: SIGTERM, up to 8 s for them to go (evserve drains for up to
# 5 s), then SIGKILL; removes $work.
# One ECDSA P-256 certificate for localhost and 127.0.0.1 ($work/cert.pem, $work/key.pem, the
# key readable by the peers' unprivileged workers) and $work/root holding TechEmpower's
# 13-byte plain.txt: what every TLS and HTTP/2 comparison serves. After bench_setup.
bench_cert_and_root() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null
  openssl req -new -x509 -key "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=CA:FALSE 2>/dev/null
  chmod 644 "$work/key.pem"
  mkdir -p "$work/root"
  printf 'Hello, World!' >"$work/root/plain.txt"
  chmod -R a+rX "$work/root"
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 80); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# Waits until each "NAME PID PORT" given accepts connections on 127.0.0.1:PORT (5 s each);
# exits with the servers' logs if one does not.
bench_wait_listening() {
  local name pid port
  for s in "$@"; do
    read -r name pid port <<<"$s"
    for _ in $(seq 50); do bench_up "$pid" "$port" && break; sleep 0.1; done
    if ! bench_up "$pid" "$port"; then
      echo "$name did not start listening on $port; the servers' logs:" >&2
      cat "$work"/*.log "$work/nginx.err" 2>/dev/null | tail -20 >&2
      exit 1
    fi
  done
}

# The CPU time process PID has used, user and system, in clock ticks ($HZ a second): what
# every comparison divides requests by.
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The median of the numbers on stdin, one a line (the lower middle one of an even count).
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Whether process PID is alive and something accepts on 127.0.0.1:PORT.
bench_up() { kill -0 "$1" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; }

# Sets $nginx_pid to the worker of nginx master $1 (it serves, so its CPU time is measured).
bench_nginx_worker() {
  nginx_pid=
  for _ in $(seq 50); do
    nginx_pid=$(pgrep -P "$1" | head -1) && break
    sleep 0.1
  done
  [ -n "$nginx_pid" ] || { echo "nginx started no worker process" >&2; exit 1; }
}

# Exits, naming it, if any PORT given is taken on 127.0.0.1 (another run of a script?): we
# would measure someone else's server.
bench_ports_free() {
  for p in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "port $p is in use: stop what listens there or set PORT_BASE" >&2
      exit 1
    fi
  done
}

# Installs the Debian PACKAGES given (none: nothing to do), quietly.
bench_install() {
  [ "$#" -gt 0 ] || return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
