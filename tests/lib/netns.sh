# Two network namespaces joined by a veth pair, for tests that break the
# network. Source it after tap.sh, then call netns_setup:
#
#   . "$KW_SRCDIR/tests/lib/netns.sh"
#   netns_setup || bail out
#   ns_spawn "$NS_SERVER" some-server ... >server.out; server_pid=$NS_PID
#   ns_spawn "$NS_CLIENT" some-client "$NS_SERVER_ADDR" ...; client_pid=$NS_PID
#   netns_drop_all "$NS_SERVER"        # nftables: drop everything, both ways
#
# Everything lives inside the two namespaces this file creates: the veth pair
# is created inside the server namespace with its peer moved straight into
# the client namespace, and the addresses are only configured there, so
# nothing is added to (or routed through) the host's own network.
#
# netns_setup installs a trap (EXIT, INT, TERM) that runs netns_cleanup:
# it kills every process still running inside the two namespaces, deletes
# the nftables tables it added, deletes the namespaces and removes
# $NETNS_TMP. A test that needs more cleanup defines netns_cleanup_hook.
#
# Set by netns_setup:
#   NS_SERVER, NS_CLIENT            namespace names (unique per run: pid)
#   NS_SERVER_ADDR, NS_CLIENT_ADDR  10.231.X.1 and 10.231.X.2 (/24)
#   NETNS_TMP                       a private temporary directory

NS_SERVER="kw-$$-server"
NS_CLIENT="kw-$$-client"
NS_NET=$(($$ % 250 + 1))
NS_SERVER_ADDR="10.231.$NS_NET.1"
NS_CLIENT_ADDR="10.231.$NS_NET.2"
NETNS_TMP=
NETNS_NFT_TABLE=kw_drop_all
_netns_created=
_netns_cleaned=

# ns_exec NS COMMAND...: run COMMAND inside namespace NS (in the foreground).
ns_exec() {
	_ns=$1
	shift
	ip netns exec "$_ns" "$@"
}

# ns_spawn NS COMMAND...: start COMMAND in the background inside NS and set
# NS_PID to its pid. `ip netns exec` execs the command, so NS_PID is the
# command's own pid (with `keepwire --` in front, keepwire execs too).
# Redirections given to ns_spawn apply to the command.
ns_spawn() {
	_ns=$1
	shift
	ip netns exec "$_ns" "$@" &
	NS_PID=$!
}

# netns_setup: create both namespaces and the link; 0 on success. On failure
# says why on stderr and returns 1 (what was created is cleaned up on exit).
netns_setup() {
	trap 'netns_cleanup' EXIT
	trap 'netns_cleanup; trap - EXIT; exit 130' INT
	trap 'netns_cleanup; trap - EXIT; exit 143' TERM

	NETNS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kw-netns.$$.XXXXXX") || return 1
	ip netns add "$NS_SERVER" || return 1
	_netns_created="$NS_SERVER"
	ip netns add "$NS_CLIENT" || return 1
	_netns_created="$NS_SERVER $NS_CLIENT"
	ip -n "$NS_SERVER" link add veth0 type veth peer name veth0 netns "$NS_CLIENT" ||
		return 1
	ip -n "$NS_SERVER" addr add "$NS_SERVER_ADDR/24" dev veth0 || return 1
	ip -n "$NS_CLIENT" addr add "$NS_CLIENT_ADDR/24" dev veth0 || return 1
	for _ns in "$NS_SERVER" "$NS_CLIENT"; do
		ip -n "$_ns" link set lo up || return 1
		ip -n "$_ns" link set veth0 up || return 1
	done
	# Wait until both ends of the link report carrier (state UP).
	_i=0
	while ! ip -n "$NS_SERVER" -o link show veth0 | grep -q 'state UP' ||
	      ! ip -n "$NS_CLIENT" -o link show veth0 | grep -q 'state UP'; do
		_i=$((_i + 1))
		if [ "$_i" -ge 40 ]; then
			echo "netns_setup: the veth link between $NS_SERVER and $NS_CLIENT did not come up" >&2
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# netns_drop_all NS: nftables in NS drops every packet, in and out.
netns_drop_all() {
	ip netns exec "$1" nft -f - <<EOF
table inet $NETNS_NFT_TABLE {
	chain input { type filter hook input priority -300; policy drop; }
	chain output { type filter hook output priority -300; policy drop; }
}
EOF
}

# netns_kill_all NS: TERM, then KILL, every process running inside NS.
netns_kill_all() {
	_pids=$(ip netns pids "$1" 2>/dev/null)
	[ -n "$_pids" ] || return 0
	kill -TERM $_pids 2>/dev/null
	_i=0
	while [ "$_i" -lt 20 ]; do
		_pids=$(ip netns pids "$1" 2>/dev/null)
		[ -n "$_pids" ] || return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	kill -KILL $_pids 2>/dev/null
	return 0
}

netns_cleanup() {
	[ -z "$_netns_cleaned" ] || return 0
	_netns_cleaned=1
	if command -v netns_cleanup_hook >/dev/null 2>&1; then
		netns_cleanup_hook
	fi
	# stderr off: the shell would report each job killed here ("Terminated").
	{
		for _ns in $_netns_created; do
			netns_kill_all "$_ns"
			ip netns exec "$_ns" nft delete table inet "$NETNS_NFT_TABLE"
			ip netns delete "$_ns"
		done
	} >/dev/null 2>&1
	_netns_created=
	[ -z "$NETNS_TMP" ] || rm -rf "$NETNS_TMP"
	return 0
}

# netns_wait_file FILE REGEX TENTHS: wait_for_line from tap.sh.
netns_wait_file() { wait_for_line "$@"; }
