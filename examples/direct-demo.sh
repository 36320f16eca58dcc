#!/bin/sh
# direct-demo.sh: an unmodified curl whose TCP runs over keepwire's own
# userspace TCP/IP stack instead of the kernel's.
#
# The demo makes a network namespace with a TAP device in it; the kernel owns
# one end of the device (10.77.0.1). A plain HTTP server (python3 -m
# http.server) runs on the kernel's side. Then curl fetches a file from it
# under `keepwire --direct`: keepwire's stack attaches the TAP device as
# 10.77.0.2, with its own MAC, ARP, IP and TCP, and curl never notices. The
# TAP device's counters and the server's log show where the bytes went; the
# same curl without keepwire, for contrast, stays on the kernel (loopback).
#
# Nothing touches the host's own network: everything lives in the namespace,
# which is deleted at the end together with every process in it.
#
# Usage (as root):
#   examples/direct-demo.sh [--size MIB]
#   examples/direct-demo.sh 32
# Default size: 8 MiB. Uses `keepwire` from PATH if installed, else the one
# in the build tree (KEEPWIRE_CMD=/path/to/keepwire chooses another).
# Needs ip, python3, curl and sha256sum.
set -u

SIZE=8
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

usage() {
	sed -n 's/^# \{0,1\}//; /^Usage/,/^Needs/p' "$0"
	exit "$1"
}

while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=${2:-}; shift 2 || usage 2 ;;
	--size=*) SIZE=${1#*=}; shift ;;
	-h|--help) usage 0 ;;
	-*) echo "direct-demo.sh: unknown option $1" >&2; usage 2 ;;
	*) SIZE=$1; shift ;;
	esac
done
case $SIZE in
''|*[!0-9]*|0*)
	echo "direct-demo.sh: the size must be a whole number of MiB >= 1, not '$SIZE'" >&2
	exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "direct-demo.sh: this demo must be run as root: it creates a network namespace" >&2
	echo "and a TAP device (both removed at the end). Try: sudo $0" >&2
	exit 1
fi
if [ ! -c /dev/net/tun ]; then
	echo "direct-demo.sh: /dev/net/tun is missing (modprobe tun?)" >&2
	exit 1
fi
for c in ip python3 curl sha256sum; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "direct-demo.sh: $c is needed but not installed" >&2
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
	echo "direct-demo.sh: keepwire is neither installed nor built in $top" >&2
	echo "(build it with: cd $top && ./autogen.sh && ./configure && make)" >&2
	exit 1
fi

NS="kw-demo-$$-direct"
DEV=kw0
KERNEL=10.77.0.1
STACK=10.77.0.2
PORT=8000
URL="http://$KERNEL:$PORT/file"
TMP=
created=

step() { printf '\n==> %s\n' "$*"; }
run() { printf '    $ %s\n' "$*"; "$@"; }
indent() { sed 's/^/    /'; }
stat_of() { ip netns exec "$NS" cat "/sys/class/net/$DEV/statistics/$1"; }
sha() { sha256sum <"$1" | cut -c1-64; }

cleanup() {
	[ -n "$created$TMP" ] || return 0
	printf '\n==> Cleaning up: stopping the demo processes, deleting the namespace\n'
	{
		if [ -n "$created" ]; then
			pids=$(ip netns pids "$NS")
			[ -z "$pids" ] || kill $pids
			sleep 0.2
			pids=$(ip netns pids "$NS")
			[ -z "$pids" ] || kill -9 $pids
			ip netns delete "$NS"
		fi
	} >/dev/null 2>&1
	created=
	[ -z "$TMP" ] || rm -rf "$TMP"
	TMP=
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kw-direct-demo.$$.XXXXXX") || exit 1
mkdir "$TMP/www"
chmod 755 "$TMP" "$TMP/www"

echo "keepwire direct-mode demo: curl over keepwire's own TCP/IP stack"
echo "(keepwire: $KW)"

step "Creating a network namespace with a TAP device; the kernel's end is $KERNEL"
run ip netns add "$NS" || exit 1
created=1
# No IPv6: its router solicitations would clutter the TAP device's counters.
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
ip -n "$NS" link set lo up || exit 1
run ip -n "$NS" tuntap add dev "$DEV" mode tap || exit 1
run ip -n "$NS" addr add "$KERNEL/24" dev "$DEV" || exit 1
run ip -n "$NS" link set "$DEV" up || exit 1
echo "    Nobody holds the device's other end yet: it says NO-CARRIER."

step "Serving a file of ${SIZE} MiB from the kernel's side: python3 -m http.server on $KERNEL:$PORT"
head -c "$((SIZE * 1048576))" /dev/urandom >"$TMP/www/file" || exit 1
ip netns exec "$NS" python3 -u -m http.server --bind "$KERNEL" --directory "$TMP/www" "$PORT" \
	>"$TMP/server.log" 2>&1 &
i=0
until grep -q '^Serving HTTP' "$TMP/server.log"; do
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "direct-demo.sh: the HTTP server did not start:" >&2
		cat "$TMP/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
head -1 "$TMP/server.log" | indent

step "The TAP device before"
ip -n "$NS" -s link show "$DEV" | indent
rx0=$(stat_of rx_bytes) tx0=$(stat_of tx_bytes) rxp0=$(stat_of rx_packets) txp0=$(stat_of tx_packets)

step "curl, unmodified, through keepwire's stack (the stack takes $STACK on $DEV)"
fmt='HTTP %{http_code}: %{size_download} bytes in %{time_total} s, from %{local_ip}:%{local_port} to %{remote_ip}:%{remote_port}\n'
printf '    $ ip netns exec %s %s --direct --tap %s --address %s/24 \\\n' "$NS" "$KW" "$DEV" "$STACK"
printf '          --idle 5s --interval 1s --count 3 -- curl -sS -o FILE -w ... %s\n' "$URL"
ip netns exec "$NS" "$KW" --direct --tap "$DEV" --address "$STACK/24" \
	--idle 5s --interval 1s --count 3 -- \
	curl -sS -o "$TMP/fetched" -w "$fmt" "$URL" 2>&1 | indent
if [ "$(sha "$TMP/fetched" 2>/dev/null)" = "$(sha "$TMP/www/file")" ]; then
	echo "    SHA-256 of what curl got matches the served file: $(sha "$TMP/fetched" | cut -c1-16)..."
else
	echo "    What curl got does NOT match the served file!"
fi

step "The TAP device after: the bytes crossed it"
ip -n "$NS" -s link show "$DEV" | indent
rx=$(($(stat_of rx_bytes) - rx0)) tx=$(($(stat_of tx_bytes) - tx0))
rxp=$(($(stat_of rx_packets) - rxp0)) txp=$(($(stat_of tx_packets) - txp0))
echo "    kernel -> stack (TX on $DEV): $tx bytes in $txp frames"
echo "    stack -> kernel (RX on $DEV): $rx bytes in $rxp frames (ARP, SYN, ACKs, the request)"
echo "    (frames may be larger than the MTU when the device's offloads are on)"

step "What the server saw: a client at the stack's address, not the kernel's"
grep 'GET /file' "$TMP/server.log" | indent

step "For contrast: the same curl without keepwire stays on the kernel"
rx0=$(stat_of rx_bytes) tx0=$(stat_of tx_bytes)
printf '    $ ip netns exec %s curl -sS -o FILE -w ... %s\n' "$NS" "$URL"
ip netns exec "$NS" curl -sS -o "$TMP/fetched.kernel" -w "$fmt" "$URL" 2>&1 | indent
echo "    $KERNEL is the kernel's own address: it answers itself over loopback."
echo "    The TAP device moved $(($(stat_of rx_bytes) - rx0 + $(stat_of tx_bytes) - tx0)) bytes this time."
grep 'GET /file' "$TMP/server.log" | tail -1 | indent

echo
echo "keepwire's stack ran in an engine process that curl started on demand"
echo "(keepwire engine --auto); it goes away by itself a moment after its last"
echo "connection. Any program works the same way, and its connections get the"
echo "stack's keepalive, with millisecond resolution (--idle 1500ms). See"
echo "README.md, \"Direct mode\"."
