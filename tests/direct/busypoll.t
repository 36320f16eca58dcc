#!/bin/sh
# Direct mode's busy polling (KEEPWIRE_BUSY_POLL; tests/direct/busypoll.c
# says what is checked): the C program runs twice inside a network
# namespace this test creates, under libkeepwire.so in direct mode on the
# TAP device kwt0, once with 200 ms of polling and once without (where the
# same read must sleep, so the first run's checks can fail). Needs root
# and /dev/net/tun.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/busypoll"
[ -x "$PROG" ] || { echo "Bail out! $PROG is not built (make check builds it)"; exit 1; }
direct_setup dbp 236
for mode in on off; do
	if [ "$mode" = on ]; then
		direct_exec KEEPWIRE_BUSY_POLL=200000 "$PROG" on > "$TMP/busypoll.out"
	else
		direct_exec "$PROG" off > "$TMP/busypoll.out"
	fi
	status=$?
	grep -v '^1\.\.' "$TMP/busypoll.out" | sed "s/^\(\(not \)\?ok\) [0-9]* - /\1 - $mode: /"
	grep -q '^not ok ' "$TMP/busypoll.out" && _tap_failed=1
	_tap_n=$((_tap_n + $(grep -c '^\(not \)\?ok ' "$TMP/busypoll.out")))
	is "$status" 0 "the program ($mode) exited 0"
done
done_testing
