#!/usr/bin/env bash
# A real multi-host evserve cluster on one Linux machine, in network namespaces.
#
#   deploy/cluster.sh up [N]        N backends (default 3), HAProxy in front, servers discovered
#   deploy/cluster.sh down          remove everything: processes, namespaces, bridge
#   deploy/cluster.sh status        namespaces, processes, HAProxy's view of each server
#   deploy/cluster.sh sync          rediscover the backends; reload HAProxy if the list changed
#   deploy/cluster.sh backend I start|term|kill    start, SIGTERM or SIGKILL backend I
#   deploy/cluster.sh client CMD... run CMD on the client host (e.g. evserve load ...)
#   deploy/cluster.sh front CMD...  run CMD in HAProxy's namespace
#   deploy/cluster.sh broadcast-rate SECONDS       broadcast frames/s seen on the bridge
#
# Layout (all of it inside namespaces; the host's own network is not touched):
#
#   netns P-lan:    bridge P-br (no address)
#                    ├── veth ── netns P-client 10.77.0.3    clients (load, curl)
#                    ├── veth ── netns P-front  10.77.0.2    HAProxy on 10.77.0.2:8080,
#                    │                                        evserve discover
#                    ├── veth ── netns P-b1     10.77.0.11   evserve serve --http 0.0.0.0:8080
#                    └── ...                    10.77.0.1N     --announce 10.77.0.255:7099
#
# The 10.77.0.0/24 subnet exists only inside these namespaces, and every packet stays there.
# Needs root, iproute2 and haproxy. Environment:
#   CLUSTER_PREFIX  name prefix of namespaces and links (default evs; at most 6 characters)
#   CLUSTER_STATE   state directory: pids, logs, configs (default /tmp/evserve-cluster-PREFIX)
#   EVSERVE         the evserve binary (default: target/release/evserve next to this script)
#   DRAIN_DELAY     the backends' --drain-delay (default 2s)
#
# Beacons are signed: `up` makes a shared key, $STATE/beacon.key (mode 600), and every backend's
# --announce and the front's discover use it, so no other host on the segment can add a server.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=${CLUSTER_PREFIX:-evs}
STATE=${CLUSTER_STATE:-/tmp/evserve-cluster-$P}
EVSERVE=${EVSERVE:-$HERE/../target/release/evserve}
DRAIN_DELAY=${DRAIN_DELAY:-2s}
NET=10.77.0
FRONT_IP=$NET.2
CLIENT_IP=$NET.3
BCAST=$NET.255
BEACON_PORT=7099
HTTP_PORT=8080
LAN=$P-lan
FRONT=$P-front
CLIENT=$P-client
BRIDGE=$P-br
KEY=$STATE/beacon.key

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
backend_ns() { echo "$P-b$1"; }
backend_ip() { echo "$NET.$((10 + $1))"; }
our_namespaces() { ip netns list | awk '{print $1}' | grep -E "^$P-(lan|front|client|b[0-9]+)$" || true; }

# Waits up to $2 seconds for a line containing $4 in the file $1 after its first $3 lines.
wait_for_line() {
    local file=$1 seconds=$2 skip=$3 needle=$4 i
    for ((i = 0; i < seconds * 10; i++)); do
        tail -n "+$((skip + 1))" "$file" 2>/dev/null | grep -q -- "$needle" && return 0
        sleep 0.1
    done
    return 1
}

# Creates namespace $1 joined to the bridge with address $2.
add_host() {
    local ns=$1 ip=$2 veth=${1#"$P"-}
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    # Both ends are created in the host first, then moved: names must be unique there.
    ip link add "$P-$veth" type veth peer name "$P-$veth-p"
    ip link set "$P-$veth" netns "$ns"
    ip link set "$P-$veth-p" netns "$LAN"
    in_ns "$ns" ip link set "$P-$veth" name eth0
    in_ns "$ns" ip addr add "$ip/24" broadcast "$BCAST" dev eth0
    in_ns "$ns" ip link set eth0 up
    in_ns "$LAN" ip link set "$P-$veth-p" master "$BRIDGE" up
}

# The shared beacon key: 32 random bytes as hex, readable by root only (evserve refuses a key
# file others can read). Kept across `up`s, so a backend started later still matches.
make_key() {
    [[ -s $KEY ]] && return 0
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY")
    say "made the beacon key $KEY"
}

start_backend() {
    local i=$1 ns ip
    ns=$(backend_ns "$i")
    ip=$(backend_ip "$i")
    mkdir -p "$STATE/root"
    touch "$STATE/b$i.log"
    # The log accumulates over restarts; wait for this run's listening line.
    local skip
    skip=$(wc -l <"$STATE/b$i.log")
    # Bound to 0.0.0.0: the beacon advertises the address it leaves from (10.77.0.1N).
    # `ip netns exec` and `env` exec in place: $! is evserve's own pid.
    ip netns exec "$ns" env RUST_LOG=info "$EVSERVE" serve \
        --http "0.0.0.0:$HTTP_PORT" --root "$STATE/root" --access-log false \
        --proxy-protocol --proxy-from "$FRONT_IP" --drain-delay "$DRAIN_DELAY" \
        --announce "$BCAST:$BEACON_PORT" --announce-interval 1s --name "b$i" --beacon-key "$KEY" \
        >>"$STATE/b$i.log" 2>&1 &
    echo $! >"$STATE/b$i.pid"
    disown
    wait_for_line "$STATE/b$i.log" 10 "$skip" "listening http tcp" ||
        die "backend $i ($ip) did not start; see $STATE/b$i.log"
    say "backend b$i on $ip:$HTTP_PORT (pid $(cat "$STATE/b$i.pid"))"
}

# Whether process $1 is alive: a zombie (dead, waiting to be reaped by its parent) is not.
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

signal_backend() {
    local i=$1 sig=$2 pid
    pid=$(cat "$STATE/b$i.pid" 2>/dev/null) || die "backend $i is not running"
    kill "-$sig" "$pid" 2>/dev/null || true
    # It is not our child (an earlier run of this script started it): poll until it is gone.
    local n
    for ((n = 0; n < 300; n++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && die "backend $i (pid $pid) did not exit after SIG$sig"
    rm -f "$STATE/b$i.pid"
    say "backend b$i stopped by SIG$sig"
}

# Listens for beacons in the front namespace and writes the HAProxy backend's server lines.
discover_servers() {
    in_ns "$FRONT" env RUST_LOG=warn "$EVSERVE" discover \
        --listen "0.0.0.0:$BEACON_PORT" --for 2500ms --format haproxy --beacon-key "$KEY" \
        >"$STATE/servers.cfg.new"
    if ! cmp -s "$STATE/servers.cfg.new" "$STATE/servers.cfg" 2>/dev/null; then
        mv "$STATE/servers.cfg.new" "$STATE/servers.cfg"
        return 0 # changed
    fi
    rm -f "$STATE/servers.cfg.new"
    return 1
}

# The configuration: the template, then the discovered server lines, which continue its last
# section (the backend). HAProxy does not carry a section from one -f file to the next.
write_haproxy_cfg() {
    sed -e "s|@STATE@|$STATE|g" -e "s|@BIND@|$FRONT_IP:$HTTP_PORT|g" \
        "$HERE/haproxy.cfg.in" >"$STATE/haproxy.cfg.new"
    cat "$STATE/servers.cfg" >>"$STATE/haproxy.cfg.new"
    haproxy -c -q -f "$STATE/haproxy.cfg.new" ||
        die "HAProxy refused the configuration; see $STATE/haproxy.cfg.new"
    mv "$STATE/haproxy.cfg.new" "$STATE/haproxy.cfg"
}

start_haproxy() {
    write_haproxy_cfg
    # Master-worker mode in the foreground (backgrounded here): USR2 to the master reloads.
    ip netns exec "$FRONT" haproxy -W -f "$STATE/haproxy.cfg" >>"$STATE/haproxy.log" 2>&1 &
    echo $! >"$STATE/haproxy.master.pid"
    disown
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -S $STATE/haproxy.sock ]] && break
        sleep 0.1
    done
    [[ -S $STATE/haproxy.sock ]] || die "HAProxy did not start; see $STATE/haproxy.log"
    say "HAProxy on $FRONT_IP:$HTTP_PORT (master pid $(cat "$STATE/haproxy.master.pid"))"
}

cmd_up() {
    local n=${1:-3} i
    [[ $(id -u) == 0 ]] || die "needs root (network namespaces); try: sudo $0 up $n"
    command -v haproxy >/dev/null || die "haproxy not found; install it: apt-get install haproxy"
    [[ -x $EVSERVE ]] || die "no evserve binary at $EVSERVE; build it (cargo build --release) or set EVSERVE"
    ((n >= 1 && n <= 200)) || die "between 1 and 200 backends, not $n"
    [[ -z $(our_namespaces) ]] || die "a cluster named $P exists; run: $0 down"
    # From here on, any failure removes whatever was made.
    trap 'rc=$?; if ((rc != 0)); then say "up failed; removing everything"; cmd_down; fi' EXIT
    mkdir -p "$STATE"
    make_key
    rm -f "$STATE"/*.pid "$STATE"/*.log "$STATE"/servers.cfg "$STATE/haproxy.sock"
    ip netns add "$LAN"
    in_ns "$LAN" ip link set lo up
    in_ns "$LAN" ip link add "$BRIDGE" type bridge
    in_ns "$LAN" ip link set "$BRIDGE" up
    add_host "$FRONT" "$FRONT_IP"
    add_host "$CLIENT" "$CLIENT_IP"
    for ((i = 1; i <= n; i++)); do
        add_host "$(backend_ns "$i")" "$(backend_ip "$i")"
    done
    for ((i = 1; i <= n; i++)); do
        start_backend "$i"
    done
    discover_servers || true
    local found
    found=$(grep -c '^ *server ' "$STATE/servers.cfg" || true)
    ((found == n)) || die "discover found $found of $n backends; see $STATE/servers.cfg"
    start_haproxy
    trap - EXIT
    say "up: $n backends behind http://$FRONT_IP:$HTTP_PORT/ (run clients with: $0 client CMD)"
}

cmd_down() {
    trap - EXIT
    local ns pid
    # Our processes first, by the pids we recorded, then anything else left in our namespaces.
    for f in "$STATE"/*.pid; do
        [[ -e $f ]] || continue
        pid=$(cat "$f" 2>/dev/null) || continue
        [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
        rm -f "$f"
    done
    for ns in $(our_namespaces); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
    for ns in $(our_namespaces); do
        for ((i = 0; i < 50; i++)); do
            [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
            sleep 0.1
        done
        # Deleting a namespace deletes its interfaces: the veths, and the bridge with P-lan.
        ip netns delete "$ns" || say "cannot delete namespace $ns"
    done
    # A veth whose move failed midway is still in the host namespace.
    for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$P-" || true); do
        ip link delete "$link" 2>/dev/null || true
    done
    rm -f "$STATE/haproxy.sock"
    say "down: no namespace, link or process of cluster $P is left"
}

cmd_status() {
    local ns
    echo "namespaces:"
    for ns in $(our_namespaces); do
        echo "  $ns: pids $(ip netns pids "$ns" | tr '\n' ' ')"
    done
    if [[ -S $STATE/haproxy.sock ]] && ! command -v socat >/dev/null; then
        echo "(install socat to see HAProxy's view of the servers: apt-get install socat)"
    elif [[ -S $STATE/haproxy.sock ]]; then
        echo "HAProxy servers (name address status):"
        echo "show servers state evserve" | socat - "unix-connect:$STATE/haproxy.sock" |
            awk 'NR > 2 && NF > 5 { print "  " $4, $5, ($6 == 2 ? "UP" : "DOWN (op_state " $6 ")") }'
    fi
}

cmd_sync() {
    if discover_servers; then
        write_haproxy_cfg
        local skip
        skip=$(wc -l <"$STATE/haproxy.log")
        kill -USR2 "$(cat "$STATE/haproxy.master.pid")"
        wait_for_line "$STATE/haproxy.log" 10 "$skip" "Loading success" ||
            die "HAProxy did not reload; see $STATE/haproxy.log"
        say "server list changed: HAProxy reloaded"
    else
        say "server list unchanged"
    fi
}

# Broadcast (and multicast) frames seen by the bridge itself over $1 seconds: unicast traffic is
# forwarded between ports and never reaches the bridge device, so this is the broadcast rate.
cmd_broadcast_rate() {
    local seconds=${1:-10} before after
    before=$(in_ns "$LAN" cat "/sys/class/net/$BRIDGE/statistics/rx_packets")
    sleep "$seconds"
    after=$(in_ns "$LAN" cat "/sys/class/net/$BRIDGE/statistics/rx_packets")
    echo "broadcast frames: $((after - before)) in ${seconds}s"
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
sync) cmd_sync ;;
backend)
    [[ $# == 3 ]] || die "usage: $0 backend I start|term|kill"
    case $3 in
    start) start_backend "$2" ;;
    term) signal_backend "$2" TERM ;;
    kill) signal_backend "$2" KILL ;;
    *) die "backend: start, term or kill, not '$3'" ;;
    esac
    ;;
front) shift; in_ns "$FRONT" "$@" ;;
client) shift; in_ns "$CLIENT" "$@" ;;
broadcast-rate) shift; cmd_broadcast_rate "$@" ;;
*)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
