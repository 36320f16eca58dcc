# One network namespace for a test, removed with everything in it however
# the test ends. Source it after tap.sh, then:
#   onens_setup NAME     # NS=kw-<pid>-NAME and a private TMP directory
# Every process started inside NS (ip netns exec) is killed on exit, the
# namespace (and so any TAP device in it) is deleted and TMP removed.
NS=
TMP=
_onens_created=

onens_cleanup() {
	{
		if [ -n "$_onens_created" ]; then
			_pids=$(ip netns pids "$NS")
			[ -z "$_pids" ] || kill -KILL $_pids
			ip netns delete "$NS"
		fi
		[ -z "$TMP" ] || rm -rf "$TMP"
	} >/dev/null 2>&1
	_onens_created=
	TMP=
}

onens_setup() {
	NS="kw-$$-$1"
	trap onens_cleanup EXIT
	trap 'onens_cleanup; trap - EXIT; exit 130' INT
	trap 'onens_cleanup; trap - EXIT; exit 143' TERM
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/kw-$1.$$.XXXXXX") ||
		{ echo "Bail out! cannot make a temporary directory"; exit 1; }
	ip netns add "$NS" || { echo "Bail out! cannot create network namespace $NS"; exit 1; }
	_onens_created=1
}

# onens_add_tap DEV A.B.C.D/P: a persistent TAP device in NS with the
# kernel's address on it, up.
onens_add_tap() {
	ip -n "$NS" tuntap add dev "$1" mode tap &&
	ip -n "$NS" addr add "$2" dev "$1" &&
	ip -n "$NS" link set "$1" up
}
