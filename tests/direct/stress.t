#!/bin/sh
# Direct mode under load (tests/direct/stress.c): 1,000 connections at once
# through keepwire's stack to a kernel echo server, twice; descriptors and
# RSS must not grow. Needs root and /dev/net/tun.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/stress"
[ -x "$PROG" ] || { echo "Bail out! $PROG is not built (make check builds it)"; exit 1; }
direct_setup dstr 239
direct_exec KW_T_SANITIZER="${KW_ASAN_RUNTIME:-}" "$PROG"
