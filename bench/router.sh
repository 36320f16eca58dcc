# bench/router.sh: the lossy-router topology shared by bench/loss.sh and
# bench/programs.sh (sourced, not run; the caller sets -eu and defines
# die()).
#
#   NS_R  the router. nftables in its FORWARD chain drops P % of the TCP
#         packets it forwards, in both directions (a drop in a local output
#         hook would be retried by the sender's kernel and hide the loss).
#         It also holds the TAP device of direct mode: a program under
#         keepwire runs here, its stack (TAP_STACK, gateway TAP_ROUTER) on
#         the TAP, so every frame of the stack is forwarded by NS_R.
#   NS_K  the kernel's client, behind NS_R over veth.
#   NS_P  the peer (plain kernel programs), behind NS_R over veth.
#
# So direct mode and the kernel cross the same router, the same rule and
# the same number of hops. router_setup creates it all; router_cleanup
# (installed as the EXIT/INT/TERM trap) removes the namespaces and every
# process in them, and the caller's $tmp.
#
# KW_KERNEL_CC names the congestion control of the kernel's client and
# peer (default: what the machine uses, e.g. cubic or bbr); it is a
# per-namespace sysctl. KW_TAP_RPS=MASK sets Receive Packet Steering on
# the TAP device (below).

router_net=$(($$ % 250 + 1))
NS_R="kw-$$-lrouter"
NS_K="kw-$$-lkernel"
NS_P="kw-$$-lpeer"
TAPDEV=${TAPDEV:-kwloss0}
TAP_ROUTER="10.235.$router_net.1"
TAP_STACK="10.235.$router_net.2"
K_ROUTER="10.236.$router_net.1"
K_CLIENT="10.236.$router_net.2"
P_ROUTER="10.239.$router_net.1"
P_PEER="10.239.$router_net.2"
router_created=
tmp=

router_cleanup() {
	{
		for ns in $router_created; do
			pids=$(ip netns pids "$ns")
			[ -z "$pids" ] || kill -KILL $pids
		done
		sleep 0.1
		for ns in $router_created; do
			ip netns delete "$ns"
		done
		[ -z "$tmp" ] || rm -rf "$tmp"
	} >/dev/null 2>&1
	router_created=
	tmp=
}

router_requirements() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TAP devices, nftables)"
	[ -c /dev/net/tun ] || die "/dev/net/tun is missing"
	for c in ip nft timeout; do
		command -v "$c" >/dev/null 2>&1 || die "$c is missing"
	done
}

router_setup() {
	trap router_cleanup EXIT
	trap 'router_cleanup; trap - EXIT; exit 130' INT
	trap 'router_cleanup; trap - EXIT; exit 143' TERM
	for ns in "$NS_R" "$NS_K" "$NS_P"; do
		ip netns add "$ns" || die "cannot create network namespace $ns"
		router_created="$router_created $ns"
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6;
			echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
	done
	ip netns exec "$NS_R" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
	if [ -n "${KW_KERNEL_CC:-}" ]; then
		for ns in "$NS_K" "$NS_P"; do
			ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_congestion_control="$KW_KERNEL_CC" ||
				die "congestion control $KW_KERNEL_CC is not available"
		done
	fi

	ip -n "$NS_R" tuntap add dev "$TAPDEV" mode tap || die "cannot create the TAP device"
	ip -n "$NS_R" link set "$TAPDEV" mtu 1500 up
	ip -n "$NS_R" addr add "$TAP_ROUTER/24" dev "$TAPDEV"
	ip -n "$NS_R" link add rk mtu 1500 type veth peer name veth0 mtu 1500 netns "$NS_K"
	ip -n "$NS_R" link add rp mtu 1500 type veth peer name veth0 mtu 1500 netns "$NS_P"
	ip -n "$NS_R" addr add "$K_ROUTER/24" dev rk
	ip -n "$NS_R" addr add "$P_ROUTER/24" dev rp
	ip -n "$NS_R" link set rk up
	ip -n "$NS_R" link set rp up
	ip -n "$NS_K" addr add "$K_CLIENT/24" dev veth0
	ip -n "$NS_K" link set veth0 up
	ip -n "$NS_K" route add default via "$K_ROUTER"
	ip -n "$NS_P" addr add "$P_PEER/24" dev veth0
	ip -n "$NS_P" link set veth0 up
	ip -n "$NS_P" route add default via "$P_ROUTER"
	# KW_TAP_RPS=MASK: Receive Packet Steering on the TAP device, so the
	# kernel's work for a frame the engine writes (forwarding, the peer's
	# TCP) runs on the CPUs of MASK instead of in the engine's write().
	if [ -n "${KW_TAP_RPS:-}" ]; then
		ip netns exec "$NS_R" sh -c "echo $KW_TAP_RPS >/sys/class/net/$TAPDEV/queues/rx-0/rps_cpus" ||
			die "cannot set rps_cpus of $TAPDEV"
	fi
}

# set_loss P: drop P % of forwarded TCP packets (0: no rule).
set_loss() {
	ip netns exec "$NS_R" nft delete table inet kwloss 2>/dev/null || true
	[ "$1" -eq 0 ] && return 0
	ip netns exec "$NS_R" nft -f - <<EOF
table inet kwloss {
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta l4proto tcp numgen random mod 100 < $1 drop
	}
}
EOF
}

# What runs a program in direct mode (word-split on purpose: the values
# have no spaces). Callers spell the commands out where they use them: a
# function run in the background would leave $! naming a subshell.
router_direct_env() {
	DIRECT_ENV="LD_PRELOAD=$1 KEEPWIRE_MODE=direct KEEPWIRE_TAP=$TAPDEV KEEPWIRE_ADDRESS=$TAP_STACK/24 KEEPWIRE_GATEWAY=$TAP_ROUTER KEEPWIRE_STRICT=1"
}

# stop_engine: the on-demand engine outlives its program for a moment
# (TIME-WAIT, idle); stop it so the next run starts from a clean state.
stop_engine() {
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		pids=$(for p in $(ip netns pids "$NS_R"); do
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'keepwire engine' && echo "$p"
		done || true)
		[ -z "$pids" ] && return 0
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	sleep 0.1
}

router_machine_line() {
	echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r), kernel congestion control $(ip netns exec "$NS_K" sysctl -n net.ipv4.tcp_congestion_control)"
}
