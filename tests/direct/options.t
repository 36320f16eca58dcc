#!/bin/sh
# Direct mode's socket options and names (tests/direct/options.c says what
# is checked): the C program runs inside a network namespace this test
# creates, under libkeepwire.so in direct mode on the TAP device kwt0
# (kernel end 10.238.N.1/24, stack 10.238.N.2). Needs root and
# /dev/net/tun.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/options"
[ -x "$PROG" ] || { echo "Bail out! $PROG is not built (make check builds it)"; exit 1; }
direct_setup dopt 238
direct_exec "$PROG" > "$TMP/options.out"
status=$?
grep -v '^1\.\.' "$TMP/options.out"
_tap_n=$(grep -c '^\(not \)\?ok ' "$TMP/options.out")
grep -q '^not ok ' "$TMP/options.out" && _tap_failed=1
is "$status" 0 "the options program exited 0"
done_testing
