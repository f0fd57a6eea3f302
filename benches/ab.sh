#!/usr/bin/env bash
# evserve against an earlier evserve, side by side in one run: did a change make the pipelined
# hot path slower? The measure is requests per server CPU-second, as in compare.sh.
#
#   benches/ab.sh 938ecfc                       # the working tree against commit 938ecfc
#   ROUNDS=11 REQUESTS=3000000 benches/ab.sh 938ecfc HEAD~3
#   CALLGRIND=1 benches/ab.sh 938ecfc           # also instructions per request (valgrind)
#
# Each commit is built as it was shipped (its own Cargo.toml, `cargo build --release`) in a git
# worktree under target/ab/, sharing one target directory so dependencies build once; the
# working tree is built in place. Then ROUNDS rounds, the two servers taking turns in each: the
# server pinned to CPU 0 serves the built-in `/plain`, h2load --h1 -m16 -c50 on CPU 1 sends
# REQUESTS, and the server's user and system time are read from /proc. On a shared virtual
# machine the same binary moves by ±10 % from run to run, so the script prints every round and
# two summaries: the median of the per-round ratios (paired: a slow minute slows both) and the
# ratio of the medians. When they disagree, the difference is within the noise. Instructions per
# request (CALLGRIND=1: the server under valgrind, counters zeroed after a 20k warm-up, then
# 100k requests) do not move with the machine's load, but count neither the kernel's work nor
# cache misses.
#
# Environment: ROUNDS (5), REQUESTS (2000000), CALLGRIND (0). Needs h2load (nghttp2-client);
# valgrind for CALLGRIND=1.

set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

[ $# -ge 1 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-2000000}
CALLGRIND=${CALLGRIND:-0}
command -v h2load >/dev/null || { echo "ab.sh needs h2load: apt-get install nghttp2-client" >&2; exit 1; }

# build REV -> the path of its evserve binary ("" or "." is the working tree).
build() {
  local rev=$1 sha dir
  if [ -z "$rev" ] || [ "$rev" = . ]; then
    cargo build --release --quiet --bin evserve >&2
    echo "$PWD/target/release/evserve"
    return
  fi
  sha=$(git rev-parse --short=10 "$rev^{commit}") || { echo "no commit $rev" >&2; exit 1; }
  dir=target/ab/src-$sha
  if [ ! -x "target/ab/evserve-$sha" ]; then
    [ -d "$dir" ] || git worktree add --quiet --detach "$dir" "$sha" >&2
    (cd "$dir" && CARGO_TARGET_DIR="$PWD/../target" cargo build --release --quiet --bin evserve >&2)
    cp target/ab/target/release/evserve "target/ab/evserve-$sha"
  fi
  echo "$PWD/target/ab/evserve-$sha"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve BIN PORT [wrapper...]: starts the server in the background; sets $server_pid.
serve() {
  local bin=$1 port=$2
  shift 2
  "$@" "$bin" serve --http "127.0.0.1:$port" --root "$work/root" --access-log false \
    >"$work/server-$port.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  # Under valgrind the server takes seconds to start.
  for _ in $(seq 300); do bench_up "$server_pid" "$port" && return; sleep 0.1; done
  echo "evserve ($bin) did not start listening on $port:" >&2
  tail -5 "$work/server-$port.log" >&2
  exit 1
}

# round BIN -> "requests server_cpu_seconds"
round() {
  local bin=$1 port t0 t1 ok
  port=$(free_port)
  serve "$bin" "$port" $SRV
  t0=$(cpu_ticks "$server_pid")
  ok=$($LOAD h2load --h1 -m16 -c50 -n "$REQUESTS" "http://127.0.0.1:$port/plain" 2>&1 |
    awk '/^requests:/ {print $8}')
  t1=$(cpu_ticks "$server_pid")
  kill -INT "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  echo "$ok $(echo "scale=3; ($t1 - $t0) / $HZ" | bc)"
}

# instructions BIN -> user-space instructions per request, under callgrind.
instructions() {
  local bin=$1 port out ok ir
  port=$(free_port)
  out=$work/callgrind.$port
  serve "$bin" "$port" valgrind --tool=callgrind --callgrind-out-file="$out"
  h2load --h1 -m16 -c50 -n 20000 "http://127.0.0.1:$port/plain" >/dev/null 2>&1
  callgrind_control -z "$server_pid" >/dev/null 2>&1
  ok=$(h2load --h1 -m16 -c50 -n 100000 "http://127.0.0.1:$port/plain" 2>&1 |
    awk '/^requests:/ {print $8}')
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  sleep 0.5
  kill -INT "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  ir=$(cat "$out".* 2>/dev/null | awk '/^summary:/ {s += $2} END {print s + 0}')
  echo $((ir / ok))
}

base=$(build "$1")
other=$(build "${2:-.}")
bench_setup
bench_cert_and_root
echo "A = $1 ($base)"
echo "B = ${2:-working tree} ($other)"
echo "$ROUNDS rounds of $REQUESTS pipelined /plain requests (h2load --h1 -m16 -c50), server on CPU 0"
echo
printf '%-6s %14s %14s %8s\n' round "A req/CPU-s" "B req/CPU-s" "B / A"
: >"$work/ratios"
: >"$work/a"
: >"$work/b"
for r in $(seq "$ROUNDS"); do
  read -r na ca <<<"$(round "$base")"
  read -r nb cb <<<"$(round "$other")"
  pa=$(echo "$na / $ca" | bc)
  pb=$(echo "$nb / $cb" | bc)
  echo "$pa" >>"$work/a"
  echo "$pb" >>"$work/b"
  awk -v a="$pa" -v b="$pb" 'BEGIN {printf "%.3f\n", b / a}' >>"$work/ratios"
  printf '%-6s %14s %14s %8s\n' "$r" "$pa" "$pb" "$(tail -1 "$work/ratios")"
done
ma=$(median <"$work/a")
mb=$(median <"$work/b")
echo
echo "B / A, median of the rounds' ratios: $(median <"$work/ratios")"
echo "B / A, ratio of the medians:         $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", b / a}') ($mb / $ma)"
if [ "$CALLGRIND" = 1 ]; then
  command -v valgrind >/dev/null || { echo "CALLGRIND=1 needs valgrind" >&2; exit 1; }
  echo "instructions per request (callgrind): A $(instructions "$base"), B $(instructions "$other")"
fi
