#!/bin/sh
# Direct mode's socket semantics (tests/direct/semantics.c says what is
# checked): the C program runs inside a network namespace this test
# creates, under libkeepwire.so in direct mode on the TAP device kwt0, whose
# kernel end is 10.237.N.1/24; the stack is 10.237.N.2. The program also
# plays the kernel's side. Needs root, /dev/net/tun, ip and nft (the last
# part drops the TAP device's traffic to kill connections).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/onens.sh"

require_root
[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing"
require_cmd ip nft nc

PROG="$KW_BUILDDIR/tests/direct/semantics"
[ -x "$PROG" ] || { echo "Bail out! $PROG is not built (make check builds it)"; exit 1; }
NET=$(($$ % 250 + 1))
onens_setup dsem
if ! { ip -n "$NS" link set lo up && onens_add_tap kwt0 "10.237.$NET.1/24"; } 2>"$TMP/setup.err"; then
	echo "Bail out! cannot set up namespace $NS with TAP device kwt0: $(cat "$TMP/setup.err")"
	exit 1
fi
direct() {
	ip netns exec "$NS" env LD_PRELOAD="$KW_PRELOAD" \
		KEEPWIRE_MODE=direct KEEPWIRE_TAP=kwt0 KEEPWIRE_ADDRESS="10.237.$NET.2/24" \
		KEEPWIRE_IDLE=7 KEEPWIRE_INTERVAL=3 KEEPWIRE_COUNT=4 KEEPWIRE_STRICT=1 \
		KW_T_KERNEL="10.237.$NET.1" KW_T_STACK="10.237.$NET.2" KW_T_TAP=kwt0 \
		"$PROG" "$@"
}
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
ip netns exec "$NS" timeout 30 nc -l "10.237.$NET.1" 7009 > "$TMP/received" &
nc_pid=$!
sleep 0.3
direct send-exit 7009 "$TMP/sent"
ok $? "send-exit: wrote 4 MiB and exited"
wait "$nc_pid"
ok $? "... the kernel side saw the connection end with FIN (nc exited 0)"
is "$(wc -c < "$TMP/received" | tr -d ' ')" 4194304 "... and received all 4 MiB"
cmp -s "$TMP/sent" "$TMP/received"
ok $? "... byte for byte"
done_testing
