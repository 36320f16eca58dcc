#!/bin/sh
# Direct mode: a stack connection ends as the kernel ends a socket
# (tests/direct/ends.c says what is checked): unread data discarded at
# close or kill resets the connection, killed requesters give their reply
# cells back, a dead connection refuses writers that bypass the hooks. Run
# with the engine as a thread of the program and as a process of its own
# (an explicit `keepwire engine`, so the test knows whom to stop). In a
# namespace with the TAP device kwt0 (kernel end 10.239.N.1, stack
# 10.239.N.2). Needs root and /dev/net/tun.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/ends"
for p in "$PROG" "$KW_CMD"; do
	[ -x "$p" ] || { echo "Bail out! $p is not built (make check builds it)"; exit 1; }
done
direct_setup dends 228

# run PLACEMENT [VAR=value...]: the C program's TAP lines become this
# file's (its own plan is dropped).
run() {
	_p=$1
	shift
	direct_exec KEEPWIRE_ENGINE="$_p" "$@" "$PROG" > "$TMP/$_p.out"
	_st=$?
	sed -e '/^1\.\./d' -e "s/^\(\(not \)\?ok\) [0-9]* - /\1 - [$_p] /" "$TMP/$_p.out" \
		> "$TMP/$_p.tap"
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok 0 "${line#ok - }" ;;
		"not ok - "*) ok 1 "${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done < "$TMP/$_p.tap"
	is "$_st" 0 "[$_p] the ends program exited 0"
}

run thread

ip netns exec "$NS" "$KW_CMD" engine --tap kwt0 --address "$SADDR/24" 2> "$TMP/engine.err" &
engine=$!
wait_for_line "$TMP/engine.err" 'serving TAP device' 50
kill -0 "$engine" 2>/dev/null
ok $? "keepwire engine --tap kwt0 serves the process placement" || diag "$(cat "$TMP/engine.err")"
run process KW_T_ENGINE_PID="$engine"
kill -TERM "$engine" 2>/dev/null
wait "$engine"

# A dead connection's slot outlives the engine's own hang-up only until
# the program closes its end: an engine started on demand for the 'dead'
# part then finds itself idle and exits by itself (2 s idle, checked
# once a second).
direct_exec KEEPWIRE_ENGINE=process "$PROG" dead > "$TMP/auto.out"
ok $? "[process, on demand] the dead-connection part passes" || cat "$TMP/auto.out"
wait_engines 0 80
is "$(engines)" 0 "... and the engine exits by itself: every slot was freed"
done_testing
