#!/bin/sh
# Broken network, socket mode: an unmodified client idles on an established
# connection, then the network silently drops everything. Under keepwire
# (idle 2s, interval 1s, count 3) the client's blocked read() fails with
# ETIMEDOUT about idle + count x interval = 5s after the last traffic; the
# same client without keepwire is still blocked 10s later.
#
# Two network namespaces joined by veth (tests/lib/netns.sh): a server that
# sends one line and then stays silent, two clients (with and without
# keepwire) connected to it, then nftables in the server namespace drops
# every packet in and out, like a peer that vanished behind a firewall.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

require_root
require_cmd ip nft ss python3 awk
CLIENT="$KW_BUILDDIR/tests/bin/idle-client"
[ -x "$CLIENT" ] || skip_all "$CLIENT is not built (make check builds it)"
. "$KW_SRCDIR/tests/lib/netns.sh"

IDLE=2
INTERVAL=1
COUNT=3
PORT=7000		# inside a private namespace: any port is free

now() { date +%s.%N; }
# between VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals); 0 when it is.
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# Under a sanitizer build the ASan runtime must stay first in LD_PRELOAD.
keepwire() { env ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} "$KW_CMD" "$@"; }
# The client's socket line(s) in `ss -tnoip` of the client namespace.
ss_of() {
	ns_exec "$NS_CLIENT" ss -Htnoip state established dst "$NS_SERVER_ADDR:$PORT" |
		grep -F "pid=$1,"
}
bail() {
	ok 1 "$1"
	[ -z "${2:-}" ] || diag "$2"
	done_testing
	exit 1
}

if ! netns_setup 2>"${TMPDIR:-/tmp}/kw-dead-peer.$$"; then
	err=$(cat "${TMPDIR:-/tmp}/kw-dead-peer.$$")
	rm -f "${TMPDIR:-/tmp}/kw-dead-peer.$$"
	bail "two network namespaces joined by veth" "$err"
fi
rm -f "${TMPDIR:-/tmp}/kw-dead-peer.$$"
diag "server $NS_SERVER $NS_SERVER_ADDR:$PORT, client $NS_CLIENT $NS_CLIENT_ADDR"

# The server: one line to each client, then silence (connections held open).
ns_spawn "$NS_SERVER" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept()
    c.sendall(b"hello, now I will say nothing more\n")
    held.append(c)
' "$NS_SERVER_ADDR" "$PORT" >"$NETNS_TMP/server.out" 2>&1
netns_wait_file "$NETNS_TMP/server.out" '^listening$' 50 ||
	bail "the server listens" "$(cat "$NETNS_TMP/server.out")"

# Both clients: the same unmodified program, one under keepwire.
ns_spawn "$NS_CLIENT" env ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} "$KW_CMD" \
	--idle "$IDLE" --interval "$INTERVAL" --count "$COUNT" -- \
	"$CLIENT" "$NS_SERVER_ADDR" "$PORT" >"$NETNS_TMP/kw.out" 2>&1
kw_pid=$NS_PID
ns_spawn "$NS_CLIENT" "$CLIENT" "$NS_SERVER_ADDR" "$PORT" >"$NETNS_TMP/plain.out" 2>&1
plain_pid=$NS_PID

netns_wait_file "$NETNS_TMP/kw.out" '^ready$' 50
is "$(cat "$NETNS_TMP/kw.out")" "ready" "client under keepwire connected and got the server's line"
t_ready=$(now)
netns_wait_file "$NETNS_TMP/plain.out" '^ready$' 50
is "$(cat "$NETNS_TMP/plain.out")" "ready" "client without keepwire connected and got the server's line"

# Before the drop: what the kernel says about both connections.
row=$(keepwire show "$kw_pid" 2>&1 | awk '$2 == "ESTABLISHED"')
like "$row" "^[0-9]+ +ESTABLISHED +$NS_CLIENT_ADDR:[0-9]+ +$NS_SERVER_ADDR:$PORT +on +${IDLE}s +${INTERVAL}s +$COUNT +off$" \
	"keepwire show: the client's socket has keepalive on, ${IDLE}s/${INTERVAL}s/$COUNT"
kw_ss=$(ss_of "$kw_pid")
like "$kw_ss" "timer:\(keepalive," "ss -tnoi: the keepwire client's connection has a keepalive timer"
plain_ss=$(ss_of "$plain_pid")
like "$plain_ss" " $NS_SERVER_ADDR:$PORT .*pid=$plain_pid," "ss -tnoi: the plain client's connection is established"
if printf '%s\n' "$plain_ss" | grep -q 'timer:(keepalive'; then
	ok 1 "ss -tnoi: the plain client's connection has no keepalive timer"
	diag "$plain_ss"
else
	ok 0 "ss -tnoi: the plain client's connection has no keepalive timer"
fi

# The network dies: the server namespace drops every packet, both ways.
netns_drop_all "$NS_SERVER"
ok $? "nftables in the server namespace drops everything"
t_drop=$(now)
gap=$(elapsed "$t_ready" "$t_drop")
between "$gap" 0 $((IDLE - 1)).9
ok $? "the network went down ${gap}s after the test saw 'ready', before the first probe was due"

# Keepwire's client: its blocked read must fail about idle + count x interval
# after the last byte arrived. Give it 10s at most.
expect=$((IDLE + COUNT * INTERVAL))
netns_wait_file "$NETNS_TMP/kw.out" '^(read:|eof )' 100
t_fail=$(now)
line=$(sed -n 2p "$NETNS_TMP/kw.out")
like "$line" "^read: Connection timed out \(errno 110\) after [0-9]+\.[0-9]{3} s$" \
	"under keepwire the blocked read fails with ETIMEDOUT"
status=none
if [ -n "$line" ]; then
	wait "$kw_pid"
	status=$?
fi
is "$status" 3 "... and the client exits with its read-error status"
took=$(printf '%s\n' "$line" | sed -n 's/.* after \([0-9.]*\) s$/\1/p')
between "${took:-0}" 4.5 7
ok $? "... ${took:-?}s after the last byte arrived (idle $IDLE + $COUNT x $INTERVAL = ${expect}s; 4.5-7s accepted)"
wall=$(elapsed "$t_ready" "$t_fail")
between "$wall" 4 8
ok $? "... and ${wall}s of wall time after the test saw 'ready' (4-8s accepted)"
diag "detection: client ${took:-?}s after the last byte, wall ${wall}s after ready, $(elapsed "$t_drop" "$t_fail")s after the drop"
if ss_of "$kw_pid" >/dev/null; then
	ok 1 "the keepwire client's connection is gone"
else
	ok 0 "the keepwire client's connection is gone"
fi

# The plain client: the kernel never probes, so it is still blocked 10s after
# the drop (it would stay so for ever: no timer, no data outstanding).
while ! between "$(elapsed "$t_drop" "$(now)")" 10 1000000; do
	sleep 0.2
done
alive=dead
kill -0 "$plain_pid" 2>/dev/null && [ -d "/proc/$plain_pid" ] &&
	! grep -q '^State:.*Z' "/proc/$plain_pid/status" 2>/dev/null && alive=running
is "$alive" running "without keepwire the client is still blocked 10s after the network died"
is "$(cat "$NETNS_TMP/plain.out")" "ready" "... having printed nothing since 'ready'"
like "$(ss_of "$plain_pid")" " $NS_SERVER_ADDR:$PORT .*pid=$plain_pid," "... and its connection still looks established"
{ kill "$plain_pid"; wait "$plain_pid"; } 2>/dev/null

done_testing
