#!/bin/sh
# dead-peer.sh: watch keepwire detect a peer that silently vanished.
#
# A client connects to a server, gets one line, and then both sides say
# nothing. Then the network between them silently drops every packet, as a
# NAT, firewall or load balancer does when it forgets an idle flow. Without
# keepalive the client would wait for ever in read(); run under keepwire, the
# kernel probes the idle connection and the client's read() fails with
# "Connection timed out" after idle + count x interval seconds.
#
# Everything happens inside two network namespaces created for the demo
# (joined by a veth pair, 10.231.X.1 and 10.231.X.2); nothing touches the
# host's own network, and everything is removed at the end.
#
# Usage (as root):
#   examples/dead-peer.sh [--idle S] [--interval S] [--count N]
#   IDLE=5 INTERVAL=2 COUNT=3 examples/dead-peer.sh
#   examples/dead-peer.sh 5 2 3
# Defaults: idle 5s, interval 2s, count 3 (detection after 11s).
# Uses `keepwire` from PATH if installed, else the one in the build tree
# (KEEPWIRE_CMD=/path/to/keepwire chooses another). Needs ip, nft, python3.
set -u

IDLE=${IDLE:-5}
INTERVAL=${INTERVAL:-2}
COUNT=${COUNT:-3}
PORT=7000
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

usage() {
	sed -n 's/^# \{0,1\}//; /^Usage/,/^Uses/p' "$0" | sed '$d'
	exit "$1"
}

positional=0
while [ $# -gt 0 ]; do
	case $1 in
	--idle) IDLE=${2:-}; shift 2 || usage 2 ;;
	--idle=*) IDLE=${1#*=}; shift ;;
	--interval) INTERVAL=${2:-}; shift 2 || usage 2 ;;
	--interval=*) INTERVAL=${1#*=}; shift ;;
	--count) COUNT=${2:-}; shift 2 || usage 2 ;;
	--count=*) COUNT=${1#*=}; shift ;;
	-h|--help) usage 0 ;;
	-*) echo "dead-peer.sh: unknown option $1" >&2; usage 2 ;;
	*)
		positional=$((positional + 1))
		case $positional in
		1) IDLE=$1 ;;
		2) INTERVAL=$1 ;;
		3) COUNT=$1 ;;
		*) usage 2 ;;
		esac
		shift ;;
	esac
done
for v in "IDLE=$IDLE" "INTERVAL=$INTERVAL" "COUNT=$COUNT"; do
	case ${v#*=} in
	''|*[!0-9]*|0*)
		echo "dead-peer.sh: ${v%%=*} must be a whole number of seconds (count: probes) >= 1, not '${v#*=}'" >&2
		exit 2 ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "dead-peer.sh: this demo must be run as root: it creates network namespaces," >&2
	echo "a veth pair and nftables rules (all removed at the end). Try: sudo $0" >&2
	exit 1
fi
for c in ip nft python3 ss; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "dead-peer.sh: $c is needed but not installed" >&2
		exit 1
	fi
done

if [ -n "${KEEPWIRE_CMD:-}" ]; then
	KW=$KEEPWIRE_CMD
elif command -v keepwire >/dev/null 2>&1; then
	KW=$(command -v keepwire)
elif [ -x "$top/keepwire" ]; then
	KW=$top/keepwire
else
	echo "dead-peer.sh: keepwire is neither installed nor built in $top" >&2
	echo "(build it with: cd $top && ./autogen.sh && ./configure && make)" >&2
	exit 1
fi

# The client: the test suite's idle-client if it is built, else the same in
# python3. Neither knows anything about keepalive.
if [ -x "$top/tests/bin/idle-client" ]; then
	set -- "$top/tests/bin/idle-client"
else
	set -- python3 -c '
import errno, os, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
last = time.monotonic()
data = b""
while b"\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
    last = time.monotonic()
print("ready", flush=True)
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            print("eof after %.3f s" % (time.monotonic() - last), flush=True)
            sys.exit(0)
        last = time.monotonic()
except OSError as e:
    print("read: %s (errno %d) after %.3f s" % (os.strerror(e.errno), e.errno,
          time.monotonic() - last), flush=True)
    sys.exit(3)
'
fi

NS_SERVER="kw-demo-$$-server"
NS_CLIENT="kw-demo-$$-client"
NET=$(($$ % 250 + 1))
SERVER_ADDR="10.231.$NET.1"
CLIENT_ADDR="10.231.$NET.2"
TMP=
created=

step() { printf '\n==> %s\n' "$*"; }
run() { printf '    $ %s\n' "$*"; "$@"; }
indent() { sed 's/^/    /'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
	[ -n "$created$TMP" ] || return 0
	printf '\n==> Cleaning up: stopping the demo processes, deleting the namespaces\n'
	{
		for ns in $created; do
			pids=$(ip netns pids "$ns")
			[ -z "$pids" ] || kill $pids
		done
		sleep 0.2
		for ns in $created; do
			pids=$(ip netns pids "$ns")
			[ -z "$pids" ] || kill -9 $pids
			ip netns exec "$ns" nft delete table inet kw_demo
			ip netns delete "$ns"
		done
	} >/dev/null 2>&1
	created=
	[ -z "$TMP" ] || rm -rf "$TMP"
	TMP=
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kw-demo.$$.XXXXXX") || exit 1
expect=$((IDLE + COUNT * INTERVAL))

echo "keepwire dead-peer demo: idle ${IDLE}s, interval ${INTERVAL}s, count $COUNT"
echo "(keepwire: $KW; client: $(basename "$1"))"

step "Creating two network namespaces joined by a veth pair"
run ip netns add "$NS_SERVER" || exit 1
created=$NS_SERVER
run ip netns add "$NS_CLIENT" || exit 1
created="$NS_SERVER $NS_CLIENT"
run ip -n "$NS_SERVER" link add veth0 type veth peer name veth0 netns "$NS_CLIENT" || exit 1
run ip -n "$NS_SERVER" addr add "$SERVER_ADDR/24" dev veth0 || exit 1
run ip -n "$NS_CLIENT" addr add "$CLIENT_ADDR/24" dev veth0 || exit 1
for ns in "$NS_SERVER" "$NS_CLIENT"; do
	ip -n "$ns" link set lo up && ip -n "$ns" link set veth0 up || exit 1
done
echo "    server: $NS_SERVER $SERVER_ADDR    client: $NS_CLIENT $CLIENT_ADDR"

step "Starting a server on $SERVER_ADDR:$PORT: it sends one line, then says nothing"
ip netns exec "$NS_SERVER" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept()
    c.sendall(b"hello, now I will say nothing more\n")
    held.append(c)
' "$SERVER_ADDR" "$PORT" >"$TMP/server.out" 2>&1 &
i=0
until grep -q '^listening$' "$TMP/server.out"; do
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "dead-peer.sh: the server did not start:" >&2
		cat "$TMP/server.out" >&2
		exit 1
	fi
	sleep 0.1
done

step "Starting the client under keepwire"
printf '    $ ip netns exec %s %s --idle %s --interval %s --count %s -- %s %s %s\n' \
	"$NS_CLIENT" "$KW" "$IDLE" "$INTERVAL" "$COUNT" "$(basename "$1")" "$SERVER_ADDR" "$PORT"
ip netns exec "$NS_CLIENT" "$KW" --idle "$IDLE" --interval "$INTERVAL" --count "$COUNT" -- \
	"$@" "$SERVER_ADDR" "$PORT" >"$TMP/client.out" 2>&1 &
client=$!
i=0
until grep -q '^ready$' "$TMP/client.out"; do
	i=$((i + 1))
	if [ "$i" -gt 100 ] || ! kill -0 "$client" 2>/dev/null; then
		echo "dead-peer.sh: the client did not connect:" >&2
		cat "$TMP/client.out" >&2
		exit 1
	fi
	sleep 0.1
done
t0=$(now)
echo "    client (pid $client) connected, got the server's line, and now blocks in read()"

step "What the kernel says about the client's connection"
printf '    $ %s show %s\n' "$KW" "$client"
"$KW" show "$client" | indent
printf '    $ ip netns exec %s ss -tnoi dst %s:%s\n' "$NS_CLIENT" "$SERVER_ADDR" "$PORT"
ip netns exec "$NS_CLIENT" ss -Htnoi dst "$SERVER_ADDR:$PORT" | head -1 | indent

step "The network dies: nftables in the server namespace drops every packet"
printf '    $ ip netns exec %s nft -f - <<EOF\n' "$NS_SERVER"
rules="table inet kw_demo {
	chain input { type filter hook input priority -300; policy drop; }
	chain output { type filter hook output priority -300; policy drop; }
}"
printf '%s\nEOF\n' "$rules" | indent
printf '%s\n' "$rules" | ip netns exec "$NS_SERVER" nft -f - || exit 1
echo "    No FIN, no RST, nothing: to the client the connection still looks fine."
echo "    keepwire's setting: first probe ${IDLE}s after the last traffic, then one every"
echo "    ${INTERVAL}s; after $COUNT unanswered probes the kernel gives up: about ${expect}s."

step "Waiting: the kernel now probes the silent connection"
echo "    (ss -tnoi shows timer:(keepalive,<time left>,<probes sent>) for it)"
deadline=$((expect + 15))
last_probes=
while ! grep -Eq '^(read:|eof )' "$TMP/client.out"; do
	if ! kill -0 "$client" 2>/dev/null; then
		break
	fi
	timer=$(ip netns exec "$NS_CLIENT" ss -Htnoi dst "$SERVER_ADDR:$PORT" 2>/dev/null |
		grep -o 'timer:(keepalive[^)]*)' | head -1)
	probes=$(printf '%s\n' "$timer" | sed -n 's/.*,\([0-9]*\))$/\1/p')
	if [ -n "$probes" ] && [ "$probes" != "$last_probes" ]; then
		if [ "$probes" -eq 0 ]; then
			what="idle, no probe sent yet"
		else
			what="probe $probes of $COUNT sent, no answer"
		fi
		printf '    t=%5ss  %-38s %s\n' "$(since "$t0")" "$what" "$timer"
		last_probes=$probes
	fi
	if awk -v t="$(since "$t0")" -v d="$deadline" 'BEGIN { exit !(t > d) }'; then
		echo "dead-peer.sh: no timeout after ${deadline}s; is keepwire's library being loaded?" >&2
		exit 1
	fi
	sleep 0.1
done
sleep 0.1

step "The client's blocked read() returned (the client measures from the last byte it got):"
sed -n '/^\(read:\|eof \)/p' "$TMP/client.out" | indent
wait "$client"
status=$?
echo "    (client exit status $status; expected about idle + count x interval = $IDLE + $COUNT x $INTERVAL = ${expect}s)"
echo "    Without keepwire the same client would still be waiting, for hours or for ever."
