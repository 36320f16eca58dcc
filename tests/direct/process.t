#!/bin/sh
# KEEPWIRE_ENGINE=process: direct mode's engine as a process of its own
# (keepwire engine), one per TAP device and network namespace, serving
# every program on the device (docs/direct-engine.md). In a namespace with
# the TAP device kwt0 (kernel end 10.238.N.1, stack 10.238.N.2):
# semantics.c's whole program through an engine started on demand; an
# on-demand engine going away by itself; two programs starting at once
# sharing one engine; an explicit `keepwire engine` serving two unrelated
# programs at once, and a second one refused; data a program left unsent
# delivered after it exited; SIGTERM; a device the engine cannot get.
# Needs root, /dev/net/tun, ip, nc and nft (semantics.c's last part).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/semantics"
HELP="$KW_BUILDDIR/tests/direct/process"
for p in "$PROG" "$HELP" "$KW_CMD"; do
	[ -x "$p" ] || { echo "Bail out! $p is not built (make check builds it)"; exit 1; }
done
direct_setup dproc 238
require_cmd nft nc
pdirect() { direct_exec KEEPWIRE_ENGINE=process "$@"; }
kernel() { ip netns exec "$NS" env KW_T_KERNEL="$KADDR" "$@"; }

# listening MODE PORT [ARGS]: a kernel-side helper in the background, up.
# The group's stderr goes to a file: the helper's messages stay readable,
# and the background shell's "Killed" when the namespace's cleanup ends
# the helper stays out of the test's output.
listening() {
	{ kernel "$HELP" "$1" "$2" ${3:+"$3"}; } > "$TMP/$1.$2" 2> "$TMP/$1.$2.err" &
	wait_for_line "$TMP/$1.$2" '^listening$' 50 || diag "$1 on port $2 did not start"
}

# 1. The whole semantics program through an engine process started on
# demand (its TAP lines are part of this file's stream).
pdirect KEEPWIRE_IDLE=7 KEEPWIRE_INTERVAL=3 KEEPWIRE_COUNT=4 "$PROG" > "$TMP/semantics.out"
status=$?
grep -v '^1\.\.' "$TMP/semantics.out"
_tap_n=$(grep -c '^\(not \)\?ok ' "$TMP/semantics.out")
grep -q '^not ok ' "$TMP/semantics.out" && _tap_failed=1
is "$status" 0 "KEEPWIRE_ENGINE=process: the semantics program exited 0"
is "$(engines)" 1 "... served by one engine process it started (keepwire engine --auto)"
# It may wait out TIME-WAIT (60 s) before going by itself: stop it.
kill -TERM $(engine_pids) 2>/dev/null
wait_engines 0 150
ok $? "SIGTERM: the on-demand engine drains and exits"

# 2. An on-demand engine goes away by itself once its last program and
# connection are gone (the kernel closes first: no TIME-WAIT on the stack).
listening server 7101
is "$(pdirect "$HELP" fetch 7101)" "hello" "a program fetches over an engine it starts"
is "$(engines)" 1 "... the engine still runs right after the program exited"
wait_engines 0 100
ok $? "... and exits by itself within 10 s (no client, no connection)"

# 3. Two programs starting at once end up with one engine (the engine's
# socket name decides; the loser exits quietly, its starter attaches to
# the winner).
listening server 7102
listening server 7103
pdirect "$HELP" fetch 7102 > "$TMP/f2" 2>&1 &
f2=$!
pdirect "$HELP" fetch 7103 > "$TMP/f3" 2>&1 &
f3=$!
wait "$f2"; s2=$?
wait "$f3"; s3=$?
ok "$([ "$s2$s3" = 00 ] && echo 0 || echo 1)" "two programs started at once both exit 0"
is "$(cat "$TMP/f2" "$TMP/f3" | tr '\n' ' ')" "hello hello " "... both fetched over the stack"
is "$(engines)" 1 "... through one engine"
wait_engines 0 100 || kill -KILL $(engine_pids) 2>/dev/null

# 4. An explicit engine (a service); a second one for the device is refused.
ip netns exec "$NS" "$KW_CMD" engine --tap kwt0 --address "$SADDR/24" 2> "$TMP/engine.err" &
eng=$!
wait_for_line "$TMP/engine.err" '^keepwire engine: serving TAP device kwt0 at @keepwire/[0-9]+/kwt0$' 50
ok $? "keepwire engine --tap kwt0 --address $SADDR/24 runs in the foreground"
ip netns exec "$NS" "$KW_CMD" engine --tap kwt0 --address "$SADDR/24" 2> "$TMP/engine2.err"
is "$?" 1 "a second keepwire engine for kwt0 exits with status 1"
like "$(cat "$TMP/engine2.err")" \
	'^keepwire engine: an engine already serves TAP device kwt0 in this network namespace \(@keepwire/[0-9]+/kwt0\)$' \
	"... saying an engine already serves the device"

# 5. Two unrelated programs at once on the one device, through it.
listening sink 7104
listening sink 7105
pdirect "$HELP" pump 7104 8388608 > "$TMP/p4" &
p4=$!
pdirect "$HELP" pump 7105 8388608 > "$TMP/p5" &
p5=$!
wait "$p4"; s4=$?
wait "$p5"; s5=$?
ok "$([ "$s4$s5" = 00 ] && echo 0 || echo 1)" "two programs send 8 MiB each at the same time"
sleep 0.5
is "$(grep -v listening "$TMP/sink.7104")" "8388608 pattern-ok" "... the kernel received all of the first's"
is "$(grep -v listening "$TMP/sink.7105")" "8388608 pattern-ok" "... and all of the second's"
is "$(engines)" 1 "... the explicit engine served both (no other started)"

# 6. A program exits with data its slow peer has not taken yet: the engine
# goes on sending after the program is gone, then FIN.
listening reader 7106 "$TMP/go"
w=$(pdirect "$HELP" writer 7106)
is "$?" 0 "a program writes until its slow peer stops taking data, then exits"
ok "$([ "${w:-0}" -gt 100000 ] && echo 0 || echo 1)" "... leaving $w bytes written, not yet read"
touch "$TMP/go"
for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	grep -q pattern "$TMP/reader.7106" && break
	sleep 0.5
done
is "$(grep -v listening "$TMP/reader.7106")" "$w pattern-ok" \
	"... the peer, reading only after the program exited, gets all $w bytes and FIN"

# Another user may not use it (SO_PEERCRED): told so, no silent kernel.
if command -v setpriv >/dev/null 2>&1 &&
   setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$KW_LIB" -a -x "$HELP" 2>/dev/null; then
	out=$(ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_PRELOAD="$KW_PRELOAD" KEEPWIRE_MODE=direct KEEPWIRE_TAP=kwt0 \
		KEEPWIRE_ADDRESS="$SADDR/24" KEEPWIRE_STRICT=1 KEEPWIRE_ENGINE=process \
		KW_T_KERNEL="$KADDR" "$HELP" fetch 7199 2>&1)
	is "$?" 2 "another user's program is refused by the engine: exit 2 (KEEPWIRE_STRICT=1)"
	like "$out" 'the engine refused this program: Permission denied' "... saying so"
else
	skip "setpriv missing, or uid 65534 cannot run the build tree's files"
	skip "setpriv missing, or uid 65534 cannot run the build tree's files"
fi

# 7. SIGTERM ends the explicit engine with status 0.
kill -TERM "$eng"
wait "$eng"
is "$?" 0 "keepwire engine exits 0 on SIGTERM"
is "$(engines)" 0 "... and is gone"

# 7b. An engine that may not lengthen its device's transmit queue (the
# device's owner without CAP_NET_ADMIN) warns: under load the kernel would
# drop frames towards the stack.
if ip -n "$NS" tuntap add dev kwq0 mode tap user 0 2>/dev/null &&
   ip -n "$NS" link set kwq0 txqueuelen 500 up 2>/dev/null; then
	ip netns exec "$NS" setpriv --inh-caps=-net_admin --bounding-set=-net_admin \
		"$KW_CMD" engine --tap kwq0 --address 10.237.1.2/24 2> "$TMP/engine-q.err" &
	engq=$!
	wait_for_line "$TMP/engine-q.err" 'txqueuelen' 50
	like "$(cat "$TMP/engine-q.err")" 'warning: TAP device kwq0 queues only 500 frames .*: ip link set kwq0 txqueuelen 10000' \
		"an engine without CAP_NET_ADMIN on a 500-frame device warns how to lengthen it"
	kill -TERM "$engq"
	wait "$engq"
	ip -n "$NS" link del kwq0 2>/dev/null
else
	skip "cannot make a second TAP device kwq0"
fi

# 8. The device held by another program's engine thread: the program says
# so (and exits 2 under KEEPWIRE_STRICT=1) instead of using the kernel.
listening reader 7107 "$TMP/never"
direct_exec KEEPWIRE_ENGINE=thread "$HELP" fetch 7107 > /dev/null 2>&1 &
holder=$!
wait_engine_name 50 || diag "the engine thread did not come up"
out=$(pdirect "$HELP" fetch 7107 2>&1)
is "$?" 2 "the device is held by a program's own engine thread: exit 2 (KEEPWIRE_STRICT=1)"
like "$out" "KEEPWIRE_TAP=kwt0: the TAP device is in use by another program's stack thread" \
	"... and says whose (the thread answers on the engine's name)"
# The holder and the reader go with the namespace (onens_cleanup); not
# `kill $(jobs -p); wait`: dash runs `jobs -p` in a subshell that has no
# jobs, and the wait lasted until the holder's 60 s alarm.
done_testing
