# Direct-mode tests: one network namespace with a TAP device (kwt0) whose
# kernel end is $KADDR; keepwire's stack attaches as $SADDR. Source after
# tap.sh, then:
#   direct_setup NAME SUBNET   # e.g. direct_setup dsem 237: 10.237.N.0/24
#   direct_exec [VAR=value...] PROGRAM ARGS...
# direct_exec runs a program in the namespace under libkeepwire.so in
# direct mode (KEEPWIRE_STRICT=1: a setup problem fails loudly), with
# KW_T_KERNEL, KW_T_STACK and KW_T_TAP telling test programs the addresses.
# The namespace and every process in it go away when the test ends.
. "$KW_SRCDIR/tests/lib/onens.sh"

direct_setup() {
	require_root
	[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing"
	require_cmd ip
	_net=$(($$ % 250 + 1))
	KADDR="10.$2.$_net.1"
	SADDR="10.$2.$_net.2"
	onens_setup "$1"
	if ! { ip -n "$NS" link set lo up && onens_add_tap kwt0 "$KADDR/24"; } 2>"$TMP/setup.err"; then
		echo "Bail out! cannot set up namespace $NS with TAP device kwt0: $(cat "$TMP/setup.err")"
		exit 1
	fi
}

direct_exec() {
	ip netns exec "$NS" env LD_PRELOAD="$KW_PRELOAD" \
		KEEPWIRE_MODE=direct KEEPWIRE_TAP=kwt0 KEEPWIRE_ADDRESS="$SADDR/24" KEEPWIRE_STRICT=1 \
		KW_T_KERNEL="$KADDR" KW_T_STACK="$SADDR" KW_T_TAP=kwt0 "$@"
}

# The keepwire engine processes in the test's namespace, one pid a line.
engine_pids() {
	for _p in $(ip netns pids "$NS"); do
		tr '\0' ' ' < "/proc/$_p/cmdline" 2>/dev/null | grep -q '^[^ ]*keepwire engine ' &&
			echo "$_p"
	done
}
engines() { engine_pids | wc -l | tr -d ' '; }
# wait_engines N TENTHS: until N engines run (at most TENTHS/10 s).
wait_engines() {
	_w=0
	while [ "$(engines)" != "$1" ] && [ "$_w" -lt "$2" ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	[ "$(engines)" = "$1" ]
}
# An on-demand engine outlives its programs for a while (TIME-WAIT): stop
# every engine in the namespace (SIGTERM, then SIGKILL after 5 s).
stop_engines() {
	for _ in $(seq 50); do
		_pids=$(engine_pids)
		[ -z "$_pids" ] && return 0
		kill -TERM $_pids 2>/dev/null
		sleep 0.1
	done
	kill -KILL $_pids 2>/dev/null
}

# hello_peer PORT: a kernel-side server on the kernel's address in the
# namespace that greets every connection with "hello" and closes it;
# returns once it listens (60 s at most, then it exits by itself).
hello_peer() {
	ip netns exec "$NS" timeout 60 python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello")
    c.close()
' "$KADDR" "$1" > "$TMP/hello.$1" 2>&1 &
	wait_for_line "$TMP/hello.$1" '^listening$' 50
}

# wait_engine_name TENTHS: until something (an engine process, or a
# program's engine thread) listens on the engine name of kwt0 in the
# namespace.
wait_engine_name() {
	_w=0
	while [ "$_w" -lt "$1" ]; do
		ip netns exec "$NS" ss -xl 2>/dev/null | grep -q '@keepwire/[0-9]*/kwt0 ' && return 0
		sleep 0.1
		_w=$((_w + 1))
	done
	return 1
}
