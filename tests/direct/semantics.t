#!/bin/sh
# Direct mode's socket semantics (tests/direct/semantics.c says what is
# checked): the C program runs inside a network namespace this test
# creates, under libkeepwire.so in direct mode on the TAP device kwt0, whose
# kernel end is 10.237.N.1/24; the stack is 10.237.N.2. The program also
# plays the kernel's side. Needs root, /dev/net/tun, ip, nc and nft (the
# last part drops the TAP device's traffic to kill connections).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/semantics"
[ -x "$PROG" ] || { echo "Bail out! $PROG is not built (make check builds it)"; exit 1; }
direct_setup dsem 237
require_cmd nft nc
# The thread placement here; tests/direct/process.t runs the same program
# with the engine as a process (the default).
direct() { direct_exec KEEPWIRE_ENGINE=thread KEEPWIRE_IDLE=7 KEEPWIRE_INTERVAL=3 KEEPWIRE_COUNT=4 "$PROG" "$@"; }
# The C program prints the first part of the TAP stream (its own plan at
# its end is dropped; this file counts on).
direct > "$TMP/semantics.out"
status=$?
grep -v '^1\.\.' "$TMP/semantics.out"
_tap_n=$(grep -c '^\(not \)\?ok ' "$TMP/semantics.out")
grep -q '^not ok ' "$TMP/semantics.out" && _tap_failed=1
is "$status" 0 "the semantics program exited 0"

# A program that writes 4 MiB and exits without closing: the engine still
# delivers every byte, then FIN (nc sees EOF and stops).
ip netns exec "$NS" timeout 30 nc -l "$KADDR" 7009 > "$TMP/received" &
nc_pid=$!
sleep 0.3
direct send-exit 7009 "$TMP/sent"
ok $? "send-exit: wrote 4 MiB and exited"
wait "$nc_pid"
ok $? "... the kernel side saw the connection end with FIN (nc exited 0)"
is "$(wc -c < "$TMP/received" | tr -d ' ')" 4194304 "... and received all 4 MiB"
cmp -s "$TMP/sent" "$TMP/received"
ok $? "... byte for byte"

# Keepalive from the configuration alone, with millisecond values the
# kernel could not take: 700 ms idle, 2 probes 300 ms apart.
ip netns exec "$NS" timeout 30 nc -l "$KADDR" 7010 > /dev/null &
nc_pid=$!
sleep 0.3
out=$(direct_exec KEEPWIRE_IDLE=700ms KEEPWIRE_INTERVAL=300ms KEEPWIRE_COUNT=2 "$PROG" ka-env 7010)
like "$out" '^ETIMEDOUT [0-9]+$' "KEEPWIRE_IDLE=700ms INTERVAL=300ms COUNT=2: read fails with ETIMEDOUT"
ms=${out#ETIMEDOUT }
diag "after $ms ms (700 + 2 x 300 = 1300 ms after the handshake)"
ok "$([ "${ms:-0}" -ge 1280 ] 2>/dev/null && [ "${ms:-0}" -le 1600 ] 2>/dev/null && echo 0 || echo 1)" \
	"... at 1300 ms, millisecond resolution (the kernel would have used 1 s + 2 x 1 s)"
kill "$nc_pid" 2>/dev/null

# KEEPWIRE_USER_TIMEOUT from the configuration, on a connection the program
# makes and on one it accepts: 1500 ms, then `auto` = the keepalive budget
# in milliseconds, 700 + 2 x 300 = 1300 ms (with data unacknowledged the
# retransmission timer, not keepalive, meets it).
for ut in 1500ms auto; do
	want=$([ "$ut" = auto ] && echo 1300 || echo 1500)
	ip netns exec "$NS" timeout 30 nc -l "$KADDR" 7011 > /dev/null &
	nc_pid=$!
	sleep 0.3
	out=$(direct_exec KEEPWIRE_IDLE=700ms KEEPWIRE_INTERVAL=300ms KEEPWIRE_COUNT=2 \
		KEEPWIRE_USER_TIMEOUT=$ut "$PROG" ut-env 7011)
	like "$out" '^connect ETIMEDOUT [0-9]+ accept ETIMEDOUT [0-9]+$' \
		"KEEPWIRE_USER_TIMEOUT=$ut: connected and accepted connections time out"
	diag "$out (user timeout $want ms from the write)"
	c=$(echo "$out" | awk '{print $3}')
	a=$(echo "$out" | awk '{print $6}')
	ok "$([ "${c:-0}" -ge $((want - 20)) ] 2>/dev/null && [ "${c:-0}" -le $((want + 700)) ] 2>/dev/null &&
	      [ "${a:-0}" -ge $((want - 20)) ] 2>/dev/null && [ "${a:-0}" -le $((want + 700)) ] 2>/dev/null &&
	      echo 0 || echo 1)" "... at $want ms after the write"
	kill "$nc_pid" 2>/dev/null
done
done_testing
