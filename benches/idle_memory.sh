#!/usr/bin/env bash
# Memory per idle connection, HTTP/1.1 against HTTP/2 (h2c), on one evserve in one run.
#
#   benches/idle_memory.sh                   # 10,000 connections of each kind
#   IDLE_CONNS=2000 benches/idle_memory.sh   # fewer, if the machine allows fewer files
#
# For each kind, a Python client opens IDLE_CONNS connections to a fresh `evserve serve
# --http` and brings each to rest, then the server's resident memory growth (VmRSS) is
# divided by IDLE_CONNS:
#   http/1.1 after one request   GET /plain answered, the keep-alive connection left open
#   h2 after SETTINGS            preface, SETTINGS both ways, both acknowledged
#   h2 after one request         the same, then GET /plain on stream 1 answered
# Every connection is in the kernel's table too (socket buffers are not in the server's RSS).
# Needs `ulimit -n` above IDLE_CONNS (for the server, and for the client, each its own
# process): raised here as far as the hard limit allows.
# Environment: IDLE_CONNS (10000), PORT (18780), EVSERVE (target/release/evserve).
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE_CONNS=${IDLE_CONNS:-10000}
PORT=${PORT:-18780}
EVSERVE=${EVSERVE:-target/release/evserve}

. "$(dirname "$0")/lib.sh"
bench_ports_free "$PORT"
[ -x "$EVSERVE" ] || { echo "$EVSERVE is missing: cargo build --release" >&2; exit 1; }
ulimit -n "$(( IDLE_CONNS + 1000 ))" 2>/dev/null || ulimit -n hard
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $(( IDLE_CONNS + 200 )) ]; then
  echo "ulimit -n is $(ulimit -n): too few files for $IDLE_CONNS connections; raise the" \
       "hard limit (as root), or run with IDLE_CONNS=$(( $(ulimit -n) - 200 ))" >&2
  exit 1
fi
bench_setup

# measure KIND -> bytes of server RSS per idle connection of KIND
measure() {
  local kind=$1
  $SRV "$EVSERVE" serve --http "127.0.0.1:$PORT" --max-connections $(( IDLE_CONNS + 100 )) \
    --idle-timeout 600s --access-log false --workers 1 >"$work/ev.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  bench_wait_listening "evserve $pid $PORT"
  $LOAD python3 - "$PORT" "$IDLE_CONNS" "$pid" "$kind" <<'PY'
import socket, struct, sys, time
port, n, pid, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def rss():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))

def frames(sock, until):
    """Reads frames (type, flags, stream) until `until(frame)` is true for one."""
    buf = b""
    while True:
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            kind_, flags = buf[3], buf[4]
            stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            buf = buf[9 + length:]
            if until((kind_, flags, stream)):
                return
        data = sock.recv(65536)
        if not data:
            sys.exit("closed by the server")
        buf += data

# GET /plain on stream 1, HPACK without Huffman: :method GET (2), :scheme http (6),
# :path (4) literal "/plain", :authority (1) literal "x".
GET = bytes([0x82, 0x86, 0x04, 6]) + b"/plain" + bytes([0x01, 1]) + b"x"
HEADERS = struct.pack(">I", len(GET))[1:] + bytes([1, 0x05]) + struct.pack(">I", 1) + GET
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(9)[:3] + bytes([4, 0]) + bytes(4)
ACK = bytes(3) + bytes([4, 1]) + bytes(4)

before = rss()
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if kind == "h1":
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"Hello, World!"):
            got += s.recv(4096)
    else:
        s.sendall(PREFACE)
        seen = set()
        def settled(f):
            if f[0] == 4:
                seen.add(f[1] & 1)
            return seen == {0, 1}
        frames(s, settled)
        if kind == "h2-request":
            s.sendall(ACK + HEADERS)
            frames(s, lambda f: f[0] == 0 and f[2] == 1 and f[1] & 1)
        else:
            s.sendall(ACK)
    conns.append(s)
time.sleep(1)  # the server has read every ACK
print(int((rss() - before) / n))
for s in conns:
    s.close()
PY
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

h1=$(measure h1)
h2=$(measure h2)
h2r=$(measure h2-request)
echo "evserve $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $IDLE_CONNS idle connections each, server RSS growth per connection:"
echo
echo "| connection | bytes | KiB |"
echo "| --- | ---: | ---: |"
for row in "HTTP/1.1, after one request:$h1" "HTTP/2 (h2c), after SETTINGS:$h2" "HTTP/2 (h2c), after one request:$h2r"; do
  printf '| %s | %s | %s |\n' "${row%%:*}" "${row##*:}" "$(awk -v b="${row##*:}" 'BEGIN { printf "%.2f", b / 1024 }')"
done
