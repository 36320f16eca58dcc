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
require_cmd ip nft

PROG="$KW_BUILDDIR/tests/direct/semantics"
[ -x "$PROG" ] || { echo "Bail out! $PROG is not built (make check builds it)"; exit 1; }
NET=$(($$ % 250 + 1))
onens_setup dsem
if ! { ip -n "$NS" link set lo up && onens_add_tap kwt0 "10.237.$NET.1/24"; } 2>"$TMP/setup.err"; then
	echo "Bail out! cannot set up namespace $NS with TAP device kwt0: $(cat "$TMP/setup.err")"
	exit 1
fi
ip netns exec "$NS" env LD_PRELOAD="$KW_PRELOAD" \
	KEEPWIRE_MODE=direct KEEPWIRE_TAP=kwt0 KEEPWIRE_ADDRESS="10.237.$NET.2/24" \
	KEEPWIRE_IDLE=7 KEEPWIRE_INTERVAL=3 KEEPWIRE_COUNT=4 KEEPWIRE_STRICT=1 \
	KW_T_KERNEL="10.237.$NET.1" KW_T_STACK="10.237.$NET.2" KW_T_TAP=kwt0 \
	"$PROG"
