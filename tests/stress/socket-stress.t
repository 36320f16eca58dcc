#!/bin/sh
# Stress, socket mode (issue 5): 64 threads x 10,000 socket/connect/close
# rounds with 640 forks in between, under libkeepwire.so. Every TCP socket
# must be configured, every connect succeed, every child exit 0, and the
# descriptor count and resident set stay put (see socket-stress.c).
# KW_STRESS_ITERATIONS, KW_STRESS_THREADS and KW_STRESS_FORKS resize it.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

STRESS="$KW_BUILDDIR/tests/stress/socket-stress"
[ -x "$STRESS" ] || skip_all "$STRESS is not built (make check builds it)"
out=$(mktemp "${TMPDIR:-/tmp}/kw-stress.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

# Values that are nobody's default, user timeout auto = 37 + 7 x 5 s.
kw KEEPWIRE_IDLE=37 KEEPWIRE_INTERVAL=7 KEEPWIRE_COUNT=5 KEEPWIRE_USER_TIMEOUT=auto \
	"$STRESS" 37 7 5 72000 >"$out"
rc=$?

# The program's own TAP lines become ours; its plan is replaced by ours.
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "${line#ok * - }" ;;
	"not ok "*) ok 1 "${line#not ok * - }" ;;
	"#"* | "Bail out!"*) printf '%s\n' "$line" ;;
	esac
done <"$out"
is "$rc" 0 "the stress program exited 0"

# The checks can fail: a short run without keepwire must see unconfigured
# sockets, listeners, accepted sockets and children.
KW_STRESS_ITERATIONS=40 KW_STRESS_THREADS=4 KW_STRESS_FORKS=2 \
	"$STRESS" 37 7 5 72000 >"$out" 2>&1
rc=$?
text=$(cat "$out")
like "$text" "^not ok [0-9]+ - all [0-9]+ sockets configured" \
	"without keepwire the stress test reports unconfigured sockets"
like "$text" "^not ok [0-9]+ - all [0-9]+ children .* exited 0" \
	"... and children that saw unconfigured sockets"
like "$text" "first misconfigured socket: keepalive=0 idle=7200" "... with what it saw"
[ "$rc" -ne 0 ]
ok $? "... and exits non-zero"

done_testing
