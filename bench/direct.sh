#!/bin/sh
# bench/direct.sh: keepwire's direct-mode benchmark: bulk throughput and
# request/response latency of the stack over TAP next to the kernel over
# veth (`make bench-direct`; the method and the latest figures are in
# docs/BENCHMARKS.md, "Direct stack").
#
# In one invocation, interleaved round by round (the order rotates each
# round, so slow drift of a shared machine hits every configuration alike):
#   (1)  stack:    keepwire's stack (bench/stack-bench stack, src/dev/tap +
#                  src/dev/loop) on a TAP device, MTU 1500, sending N MiB
#                  to a kernel TCP sink in the same network namespace
#   (1o) offload:  the same with the TAP's offloads on (IFF_VNET_HDR,
#                  checksum and TCP segmentation offload: segments of up
#                  to 64 KiB, cut or not by the kernel)
#   (2)  kernel:   the kernel's TCP sending the same N MiB over a veth pair
#                  (MTU 1500) between two namespaces, to the same sink
#   (3)  tapwrite: the raw TAP ceiling: one thread writing 1514-byte frames
#                  into the TAP device, one write() per frame
#   (1d) direct:   direct mode end to end: the plain-socket sender of (2),
#                  unmodified, under libkeepwire.so with KEEPWIRE_MODE=direct
#                  on the TAP device (socketpair -> engine thread -> stack
#                  with offloads), to the same sink as (1)
#   (4)  stack-ping, (4o) with offloads, (4d) direct mode, (5) kernel-ping
#                  over veth: request/response latency, 1-byte requests and
#                  answers to a kernel echo server, many round trips;
#                  p50/p90/p99
#   (4p) stack-ping with offloads whose client polls the device instead of
#                  sleeping: the floor of any placement of keepwire's stack
#                  on this machine (no engine, no socketpair, no wake-up on
#                  the stack's side; the echo server's wake-up remains)
# Throughput of (1), (1o), (1d) and (2) is measured by the sink: TCP payload
# bytes from accept() to EOF. Optionally (KW_DIRECT_PROFILE) extra stack
# transfers are counted with perf: system calls per data frame, and a
# cpu-clock profile of where the time goes, without and with offloads.
#
# Everything happens inside network namespaces the script creates, and a
# trap removes them (and every process in them) on exit, INT and TERM.
# Needs root, /dev/net/tun and ip (iproute2).
#
# Prints a table (with the profile, if any) and writes it to
# $KW_BUILDDIR/bench/results/direct.txt; raw per-round figures go to
# direct.data ("round key value" lines), the summaries the plots are drawn
# from to direct-throughput.dat and direct-latency.dat, perf's samples to
# direct-perf.data. With gnuplot, bench/direct.gp draws them into
# $KW_SRCDIR/docs/img/throughput.svg and latency.svg (skipped, with a
# message, without gnuplot).
#
# Environment: KW_BUILDDIR, KW_SRCDIR (set by `make bench-direct`);
#   KW_DIRECT_ROUNDS       interleaved rounds (default 11)
#   KW_DIRECT_MIB          MiB per TCP transfer (default 256)
#   KW_DIRECT_TAP_SECONDS  seconds per raw TAP write run (default 1)
#   KW_DIRECT_PINGS        timed round trips per latency run (default 20000)
#   KW_DIRECT_PROFILE      yes (default when perf works) | no
#   KW_DIRECT_PLOTS        yes (default) | no: leave docs/img alone
set -eu

builddir=${KW_BUILDDIR:-$(pwd)}
srcdir=${KW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bench=$builddir/bench/stack-bench
rounds=${KW_DIRECT_ROUNDS:-11}
mib=${KW_DIRECT_MIB:-256}
tap_seconds=${KW_DIRECT_TAP_SECONDS:-1}
pings=${KW_DIRECT_PINGS:-20000}
profile=${KW_DIRECT_PROFILE:-auto}
plots=${KW_DIRECT_PLOTS:-yes}
resultdir=$builddir/bench/results
result=$resultdir/direct.txt
port=5001
echo_port=5002

die() {
	echo "bench/direct.sh: $*" >&2
	exit 1
}

[ -x "$bench" ] || die "$bench not built (run: make bench-direct)"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TAP devices)"
[ -c /dev/net/tun ] || die "/dev/net/tun is missing"
command -v ip >/dev/null 2>&1 || die "ip (iproute2) is missing"
if ldd "$bench" 2>/dev/null | grep -q 'libasan'; then
	die "built with sanitizers; configure without --enable-sanitizers to benchmark"
fi

net=$(($$ % 250 + 1))
NS_TAP="kw-$$-dtap"           # the stack's TAP device and the kernel sink
NS_A="kw-$$-dveth-a"          # kernel sender
NS_B="kw-$$-dveth-b"          # kernel sink
TAPDEV=kwbench0
TAP_KERNEL="10.233.$net.1"
TAP_STACK="10.233.$net.2"
VETH_A="10.234.$net.1"
VETH_B="10.234.$net.2"
created=
tmp=

cleanup() {
	{
		for ns in $created; do
			pids=$(ip netns pids "$ns")
			[ -z "$pids" ] || kill -KILL $pids
		done
		sleep 0.1
		for ns in $created; do
			ip netns delete "$ns"
		done
		[ -z "$tmp" ] || rm -rf "$tmp"
	} >/dev/null 2>&1
	created=
	tmp=
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kw-direct.XXXXXX")
mkdir -p "$resultdir"
for ns in "$NS_TAP" "$NS_A" "$NS_B"; do
	ip netns add "$ns" || die "cannot create network namespace $ns"
	created="$created $ns"
	ip -n "$ns" link set lo up
	# No IPv6: no router solicitations or DAD frames on the links.
	ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6;
		echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
done

# The TAP device exists before the stack attaches to it (persistent, made
# by ip), so the kernel's side is configured before any run.
ip -n "$NS_TAP" tuntap add dev "$TAPDEV" mode tap || die "cannot create TAP device"
ip -n "$NS_TAP" link set "$TAPDEV" mtu 1500 up
ip -n "$NS_TAP" addr add "$TAP_KERNEL/24" dev "$TAPDEV"

ip -n "$NS_A" link add veth0 mtu 1500 type veth peer name veth0 mtu 1500 netns "$NS_B" ||
	die "cannot create the veth pair"
ip -n "$NS_A" addr add "$VETH_A/24" dev veth0
ip -n "$NS_B" addr add "$VETH_B/24" dev veth0
ip -n "$NS_A" link set veth0 up
ip -n "$NS_B" link set veth0 up

# The same sink program and echo server on both kernel sides.
ip netns exec "$NS_TAP" "$bench" sink --port "$port" >"$tmp/sink-tap.out" 2>&1 &
ip netns exec "$NS_B" "$bench" sink --port "$port" >"$tmp/sink-veth.out" 2>&1 &
ip netns exec "$NS_TAP" "$bench" echo --port "$echo_port" >"$tmp/echo-tap.out" 2>&1 &
ip netns exec "$NS_B" "$bench" echo --port "$echo_port" >"$tmp/echo-veth.out" 2>&1 &

wait_lines() {
	# wait_lines FILE PATTERN COUNT: up to 10 s for COUNT matching lines
	i=0
	while [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -lt "$3" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || return 1
		sleep 0.05
	done
}
wait_lines "$tmp/sink-tap.out" '^sink listening' 1 || die "the TAP-side sink did not start"
wait_lines "$tmp/sink-veth.out" '^sink listening' 1 || die "the veth-side sink did not start"
wait_lines "$tmp/echo-tap.out" '^echo listening' 1 || die "the TAP-side echo server did not start"
wait_lines "$tmp/echo-veth.out" '^echo listening' 1 || die "the veth-side echo server did not start"
i=0
while ! ip -n "$NS_A" -o link show veth0 | grep -q 'state UP' ||
      ! ip -n "$NS_B" -o link show veth0 | grep -q 'state UP'; do
	i=$((i + 1))
	[ $i -lt 100 ] || die "the veth link did not come up"
	sleep 0.05
done

n_tap=0
n_veth=0
run_stack() {
	# $1: round, $2: label in the data file, $3: 1 for offloads
	ip netns exec "$NS_TAP" "$bench" stack --tap "$TAPDEV" --address "$TAP_STACK/24" \
		--peer "$TAP_KERNEL" --port "$port" --mib "$mib" --seed "$1" --offload "${3:-0}" \
		>"$tmp/stack.out" 2>"$tmp/stack.err" ||
		die "stack run failed: $(cat "$tmp/stack.err")"
	n_tap=$((n_tap + 1))
	wait_lines "$tmp/sink-tap.out" '^sink bytes=' "$n_tap" || die "no result from the TAP sink"
	line=$(grep '^sink bytes=' "$tmp/sink-tap.out" | tail -n 1)
	check_bytes "$line"
	echo "$1 $2 $(val gbps "$line")" >>"$tmp/data"
	{ printf '%s ' "$2"; sed -n 's/^stack //p' "$tmp/stack.out" | tr '\n' ' '; echo; } \
		>>"$tmp/stack.log"
}
# (1d) direct mode: the same plain-socket sender as (2), unmodified, under
# libkeepwire.so with KEEPWIRE_MODE=direct: its socket is a socketpair end,
# keepwire's engine (a process of its own started on demand, the default
# placement; KW_DIRECT_ENGINE=thread for the in-process one) moves the
# bytes into the stack (offloads on).
direct_env="LD_PRELOAD=$builddir/.libs/libkeepwire.so KEEPWIRE_MODE=direct
	KEEPWIRE_TAP=$TAPDEV KEEPWIRE_ADDRESS=$TAP_STACK/24 KEEPWIRE_STRICT=1
	KEEPWIRE_ENGINE=${KW_DIRECT_ENGINE:-process}"
# The on-demand engine outlives its program (TIME-WAIT, a moment idle):
# stop it so the next configuration finds the TAP device free.
stop_engine() {
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		pids=$(for p in $(ip netns pids "$NS_TAP"); do
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'keepwire engine' && echo "$p"
		done || true)
		[ -z "$pids" ] && return 0
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	sleep 0.1
}
run_direct() {
	# shellcheck disable=SC2086
	ip netns exec "$NS_TAP" env $direct_env "$bench" kernel --peer "$TAP_KERNEL" --port "$port" \
		--mib "$mib" >"$tmp/direct.out" 2>"$tmp/direct.err" ||
		die "direct-mode run failed: $(cat "$tmp/direct.err")"
	stop_engine
	n_tap=$((n_tap + 1))
	wait_lines "$tmp/sink-tap.out" '^sink bytes=' "$n_tap" || die "no result from the TAP sink"
	line=$(grep '^sink bytes=' "$tmp/sink-tap.out" | tail -n 1)
	check_bytes "$line"
	echo "$1 direct $(val gbps "$line")" >>"$tmp/data"
}
run_kernel() {
	ip netns exec "$NS_A" "$bench" kernel --peer "$VETH_B" --port "$port" --mib "$mib" \
		>"$tmp/kernel.out" 2>"$tmp/kernel.err" ||
		die "kernel run failed: $(cat "$tmp/kernel.err")"
	n_veth=$((n_veth + 1))
	wait_lines "$tmp/sink-veth.out" '^sink bytes=' "$n_veth" || die "no result from the veth sink"
	line=$(grep '^sink bytes=' "$tmp/sink-veth.out" | tail -n 1)
	check_bytes "$line"
	echo "$1 kernel $(val gbps "$line")" >>"$tmp/data"
}
run_tapwrite() {
	ip netns exec "$NS_TAP" "$bench" tapwrite --tap "$TAPDEV" --seconds "$tap_seconds" \
		>"$tmp/tapwrite.out" 2>"$tmp/tapwrite.err" ||
		die "tapwrite failed: $(cat "$tmp/tapwrite.err")"
	line=$(cat "$tmp/tapwrite.out")
	echo "$1 tapwrite $(val gbps "$line")" >>"$tmp/data"
	echo "$1 tapfps $(val fps "$line")" >>"$tmp/data"
}
run_ping() {
	# $1: round, $2: label (lat_stack, lat_offload, lat_poll, lat_direct, lat_kernel)
	case $2 in
	lat_direct)
		# shellcheck disable=SC2086
		ip netns exec "$NS_TAP" env $direct_env "$bench" kernel-ping --peer "$TAP_KERNEL" \
			--port "$echo_port" --count "$pings" >"$tmp/ping.out" 2>"$tmp/ping.err" &&
			stop_engine ;;
	lat_kernel)
		ip netns exec "$NS_A" "$bench" kernel-ping --peer "$VETH_B" --port "$echo_port" \
			--count "$pings" >"$tmp/ping.out" 2>"$tmp/ping.err" ;;
	*)
		ip netns exec "$NS_TAP" "$bench" stack-ping --tap "$TAPDEV" \
			--address "$TAP_STACK/24" --peer "$TAP_KERNEL" --port "$echo_port" \
			--count "$pings" --seed "$1" --offload "$([ "$2" = lat_stack ] && echo 0 || echo 1)" \
			--poll "$([ "$2" = lat_poll ] && echo 1 || echo 0)" \
			>"$tmp/ping.out" 2>"$tmp/ping.err" ;;
	esac || die "$2 run failed: $(cat "$tmp/ping.err")"
	line=$(grep '^ping ' "$tmp/ping.out")
	[ -n "$line" ] || die "$2: no result"
	for q in p50 p90 p99; do
		echo "$1 ${2}_$q $(val ${q}_us "$line")" >>"$tmp/data"
	done
}
run_pings() {
	# $1: round; the five latency runs in a rotating order
	case $(($1 % 3)) in
	1) run_ping "$1" lat_stack; run_ping "$1" lat_offload; run_ping "$1" lat_kernel; run_ping "$1" lat_direct; run_ping "$1" lat_poll ;;
	2) run_ping "$1" lat_offload; run_ping "$1" lat_poll; run_ping "$1" lat_direct; run_ping "$1" lat_kernel; run_ping "$1" lat_stack ;;
	0) run_ping "$1" lat_direct; run_ping "$1" lat_kernel; run_ping "$1" lat_poll; run_ping "$1" lat_stack; run_ping "$1" lat_offload ;;
	esac
}
val() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
check_bytes() {
	[ "$(val bytes "$1")" -eq $((mib * 1048576)) ] ||
		die "the sink received $(val bytes "$1") bytes, not $((mib * 1048576))"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
started=$(date +%s)
: >"$tmp/data"
: >"$tmp/stack.log"
# One untimed warm-up of each TCP configuration (ARP, page cache, CPU
# frequency), then the rounds.
run_stack 0 warmup
run_stack 0 warmup-offload 1
run_kernel 0
run_direct 0
run_pings 0
r=1
while [ $r -le "$rounds" ]; do
	case $((r % 4)) in
	1) run_stack $r stack; run_stack $r offload 1; run_direct $r; run_kernel $r; run_tapwrite $r ;;
	2) run_stack $r offload 1; run_direct $r; run_kernel $r; run_tapwrite $r; run_stack $r stack ;;
	3) run_kernel $r; run_tapwrite $r; run_stack $r stack; run_stack $r offload 1; run_direct $r ;;
	0) run_direct $r; run_tapwrite $r; run_stack $r stack; run_stack $r offload 1; run_kernel $r ;;
	esac
	run_pings $r
	echo "bench/direct.sh: round $r of $rounds done" >&2
	r=$((r + 1))
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
elapsed=$(( $(date +%s) - started ))

# ---- profile: system calls per frame, and where the time goes ---------------
[ "$profile" != auto ] || {
	profile=no
	perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 && profile=yes
}
profile_one() {
	# $1: label, $2: 0 or 1 (offloads); appends to $tmp/profile
	ip netns exec "$NS_TAP" perf stat -x, -o "$tmp/perfstat" \
		-e raw_syscalls:sys_enter,syscalls:sys_enter_write,syscalls:sys_enter_writev \
		-e syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_ppoll \
		"$bench" stack --tap "$TAPDEV" --address "$TAP_STACK/24" --peer "$TAP_KERNEL" \
		--port "$port" --mib "$pmib" --offload "$2" >"$tmp/pstat.out" 2>&1 ||
		die "perf stat failed: $(cat "$tmp/pstat.out")"
	n_tap=$((n_tap + 1))
	wait_lines "$tmp/sink-tap.out" '^sink bytes=' "$n_tap" || die "no result from the TAP sink"
	ip netns exec "$NS_TAP" perf record -q -e cpu-clock -F 4999 -g -o "$tmp/perf-$1.data" \
		"$bench" stack --tap "$TAPDEV" --address "$TAP_STACK/24" --peer "$TAP_KERNEL" \
		--port "$port" --mib "$pmib" --offload "$2" >"$tmp/prec.out" 2>&1 ||
		die "perf record failed"
	n_tap=$((n_tap + 1))
	wait_lines "$tmp/sink-tap.out" '^sink bytes=' "$n_tap" || die "no result from the TAP sink"
	frames=$(sed -n 's/.*frames_out=\([0-9]*\).*/\1/p' "$tmp/pstat.out")
	framesin=$(sed -n 's/.*frames_in=\([0-9]*\).*/\1/p' "$tmp/pstat.out")
	segs=$(sed -n 's/.* segs_out=\([0-9]*\).*/\1/p' "$tmp/pstat.out")
	{
		echo "$1: one stack transfer of $pmib MiB under perf stat: $frames writes to the TAP"
		echo "  carrying $segs TCP segments, $framesin frames in"
		awk -F, -v f="$frames" -v s="$segs" '$1 ~ /^[0-9]+$/ {
			printf "  %-32s %10d  %6.3f per write  %6.3f per segment\n", $3, $1, $1 / f, $1 / s
		}' "$tmp/perfstat"
		echo
		echo "$1: where the time goes (perf record -e cpu-clock, $pmib MiB; self time, top entries)"
		perf report -i "$tmp/perf-$1.data" --no-children --sort dso,sym --stdio 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n 20
		echo
		echo "$1: by binary (user space vs kernel)"
		perf report -i "$tmp/perf-$1.data" --no-children --sort dso --stdio 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n 6
		echo
	} >>"$tmp/profile"
	cp "$tmp/perf-$1.data" "$resultdir/direct-perf-$1.data" 2>/dev/null || true
}
: >"$tmp/profile"
if [ "$profile" = yes ]; then
	pmib=$((mib < 128 ? mib : 128))
	profile_one plain 0
	profile_one offload 1
fi

# ---- the machine -----------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
if grep -qw hypervisor /proc/cpuinfo 2>/dev/null; then
	cpu="$cpu (virtual machine)"
fi
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
kernel=$(uname -srm)
gccv=$(${CC:-gcc} --version 2>/dev/null | head -n 1 || echo unknown)
cflags=$(sed -n "s/^CFLAGS='\(.*\)'\$/\1/p" "$builddir/config.log" 2>/dev/null | head -n 1)
rev=$(git -C "$srcdir" describe --always --dirty 2>/dev/null || echo unknown)

# ---- the table ---------------------------------------------------------------
{
	echo "keepwire direct-mode benchmark (bench/direct.sh, make bench-direct)"
	echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:  $cpu, $cores cores"
	echo "kernel:   $kernel"
	echo "compiler: $gccv, CFLAGS ${cflags:-?}"
	echo "keepwire: $rev"
	echo "method:   $rounds interleaved rounds after a warm-up; $mib MiB per TCP transfer,"
	echo "          measured by the sink (accept to EOF); ${tap_seconds}s per TAP write run;"
	echo "          $pings timed 1-byte round trips per latency run (after 1000 untimed);"
	echo "          load average before $load_before, after $load_after; ${elapsed}s"
	echo
	awk -v rounds="$rounds" -v mib="$mib" -v tput="$tmp/throughput.dat" \
	    -v lat="$tmp/latency.dat" '
	function sort(a, n,    i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
	}
	function quant(a, n, q,    p, i, f) {
		p = (n - 1) * q + 1; i = int(p); f = p - i
		return i >= n ? a[n] : a[i] + f * (a[i + 1] - a[i])
	}
	$1 > 0 { v[$1, $2] = $3 }
	function stats(x, y,    r, n, a) {
		n = 0
		for (r = 1; r <= rounds; r++)
			if ((r, x) in v && (y == "" || (r, y) in v))
				a[++n] = y == "" ? v[r, x] : v[r, x] / v[r, y]
		sort(a, n)
		S_med = quant(a, n, 0.5); S_q1 = quant(a, n, 0.25); S_q3 = quant(a, n, 0.75)
		S_min = a[1]; S_max = a[n]
	}
	function row(label, x, y, fmt) {
		stats(x, y)
		printf "%-50s " fmt "   " fmt " " fmt "   " fmt " " fmt "\n", label, S_med, S_q1, S_q3, S_min, S_max
	}
	# One bar of the throughput plot: name, median, quartiles, extremes.
	function tbar(name, x) {
		stats(x, "")
		printf "\"%s\" %.4f %.4f %.4f %.4f %.4f\n", name, S_med, S_q1, S_q3, S_min, S_max > tput
	}
	# One group of the latency plot: p50, p90, p99 (medians over rounds)
	# with the quartiles of each.
	function lbar(name, x,    q, i, line) {
		line = "\"" name "\""
		split("p50 p90 p99", q, " ")
		for (i = 1; i <= 3; i++) {
			stats(x "_" q[i], "")
			line = line sprintf(" %.2f %.2f %.2f", S_med, S_q1, S_q3)
		}
		print line > lat
	}
	function lrow(label, x,    q, i, m) {
		split("p50 p90 p99", q, " ")
		printf "%-50s", label
		for (i = 1; i <= 3; i++) {
			stats(x "_" q[i], "")
			printf " %7.1f (%5.1f-%5.1f)", S_med, S_q1, S_q3
		}
		printf "\n"
	}
	END {
		printf "%-50s %7s   %15s   %15s\n", "Gbit/s, over rounds", "median", "quartiles", "min     max"
		row("(1)  keepwire stack -> kernel, TAP, MTU 1500", "stack", "", "%7.3f")
		row("(1o) the same with TAP offloads (vnet hdr, TSO)", "offload", "", "%7.3f")
		row("(1d) direct mode: unmodified sender, keepwire", "direct", "", "%7.3f")
		row("(2)  kernel -> kernel, veth, MTU 1500", "kernel", "", "%7.3f")
		row("(3)  raw TAP write(), 1514-byte frames", "tapwrite", "", "%7.3f")
		print ""
		printf "%-50s %7s   %15s   %15s\n", "per round, then median", "median", "quartiles", "min     max"
		row("(1)/(2)  stack / kernel", "stack", "kernel", "%7.3f")
		stats("stack", "kernel"); r1 = S_med
		row("(1o)/(2) stack with offloads / kernel", "offload", "kernel", "%7.3f")
		stats("offload", "kernel"); r1o = S_med
		row("(1o)/(1) offloads / none", "offload", "stack", "%7.3f")
		row("(1d)/(2) direct mode / kernel", "direct", "kernel", "%7.3f")
		stats("direct", "kernel"); r1d = S_med
		row("(1)/(3)  stack / raw TAP ceiling", "stack", "tapwrite", "%7.3f")
		row("(3) raw TAP, frames/s (thousands)", "tapk", "", "%7.0f")
		print ""
		printf "%-50s %23s %23s %23s\n", "latency, us: median over rounds (quartiles)", \
			"p50", "p90", "p99"
		lrow("(4)  keepwire stack <-> kernel, TAP", "lat_stack")
		lrow("(4o) the same with TAP offloads", "lat_offload")
		lrow("(4d) direct mode: unmodified client, keepwire", "lat_direct")
		lrow("(4p) (4o) polling the device: the floor", "lat_poll")
		lrow("(5)  kernel <-> kernel, veth", "lat_kernel")
		print ""
		printf "%-50s %7s   %15s   %15s\n", "per round, then median", "median", "quartiles", "min     max"
		row("(4)/(5)  stack / kernel, p50", "lat_stack_p50", "lat_kernel_p50", "%7.2f")
		stats("lat_stack_p50", "lat_kernel_p50"); l4 = S_med
		row("(4)/(5)  stack / kernel, p99", "lat_stack_p99", "lat_kernel_p99", "%7.2f")
		row("(4o)/(5) stack with offloads / kernel, p50", "lat_offload_p50", "lat_kernel_p50", "%7.2f")
		stats("lat_offload_p50", "lat_kernel_p50"); l4o = S_med
		row("(4o)/(5) stack with offloads / kernel, p99", "lat_offload_p99", "lat_kernel_p99", "%7.2f")
		row("(4d)/(5) direct mode / kernel, p50", "lat_direct_p50", "lat_kernel_p50", "%7.2f")
		stats("lat_direct_p50", "lat_kernel_p50"); l4d = S_med
		row("(4d)/(5) direct mode / kernel, p99", "lat_direct_p99", "lat_kernel_p99", "%7.2f")
		row("(4p)/(5) the floor / kernel, p50", "lat_poll_p50", "lat_kernel_p50", "%7.2f")
		print ""
		stats("stack", ""); s = S_med
		printf "target: (1) >= 1 Gbit/s: %s (median %.3f)\n", (s >= 1 ? "met" : "MISSED"), s
		printf "target: (1o) >= 40%% of (2): %s (median ratio %.3f; without offloads %.3f)\n", \
			(r1o >= 0.4 ? "met" : "MISSED"), r1o, r1
		printf "target: p50 latency within 2x of the kernel'"'"'s: %s (median ratio %.2f; with offloads %.2f)\n", \
			(l4 <= 2 && l4o <= 2 ? "met" : "MISSED"), l4, l4o
		printf "target: direct mode (1d) >= 40%% of (2): %s (median ratio %.3f)\n", \
			(r1d >= 0.4 ? "met" : "MISSED"), r1d
		printf "target: direct mode p50 latency within 2x of the kernel'"'"'s: %s (median ratio %.2f)\n", \
			(l4d <= 2 ? "met" : "MISSED"), l4d
		tbar("stack", "stack"); tbar("stack + offloads", "offload"); tbar("direct mode", "direct")
		tbar("kernel over veth", "kernel"); tbar("raw TAP write()", "tapwrite")
		lbar("stack", "lat_stack"); lbar("stack + offloads", "lat_offload"); lbar("direct mode", "lat_direct")
		lbar("kernel over veth", "lat_kernel")
	}' "$tmp/data" "$(awk '$2 == "tapfps" { print $1, "tapk", $3 / 1000 }' "$tmp/data" >"$tmp/data2"; echo "$tmp/data2")"
	echo
	echo "stack sender counters, per round (warm-up first):"
	sed 's/^/  /' "$tmp/stack.log"
	if [ -s "$tmp/profile" ]; then
		echo
		cat "$tmp/profile"
	fi
} >"$tmp/table"

cat "$tmp/table"
cp "$tmp/table" "$result"
cp "$tmp/data" "$resultdir/direct.data"
cp "$tmp/throughput.dat" "$resultdir/direct-throughput.dat"
cp "$tmp/latency.dat" "$resultdir/direct-latency.dat"
echo "(written to $result; raw per-round figures in $resultdir/direct.data)" >&2

# ---- the plots -----------------------------------------------------------------
if [ "$plots" != yes ]; then
	:
elif ! command -v gnuplot >/dev/null 2>&1; then
	echo "bench/direct.sh: gnuplot is missing (Debian: apt-get install gnuplot-nox):" \
		"no plots drawn" >&2
else
	mkdir -p "$srcdir/docs/img"
	if gnuplot -e "resultdir='$resultdir'; imgdir='$srcdir/docs/img'" "$srcdir/bench/direct.gp"; then
		echo "(plots: $srcdir/docs/img/throughput.svg, $srcdir/docs/img/latency.svg)" >&2
	else
		echo "bench/direct.sh: gnuplot failed: no plots drawn" >&2
	fi
fi
