#!/bin/sh
# bench/loss.sh: bulk transfer under random packet loss, direct mode next to
# the kernel, behind the same router and the same drop rule (`make
# bench-loss`; figures in docs/BENCHMARKS.md, "Loss").
#
#   NS_R  the router. nftables in its FORWARD chain drops P % of the TCP
#         packets it forwards, in both directions (a drop in a local output
#         hook would be retried by the sender's kernel and hide the loss).
#         It also holds the TAP device of direct mode: the program under
#         keepwire runs here, its stack (TAP_STACK, gateway TAP_ROUTER) on
#         the TAP, so every frame of the stack is forwarded by NS_R.
#   NS_K  the kernel's client, behind NS_R over veth.
#   NS_P  the peer (a plain kernel TCP program), behind NS_R over veth.
#
# Per loss rate and direction, interleaved (direct, kernel, or the other
# way round in alternate rounds): N MiB from the client to the peer
# ("up": stack -> kernel), and from the peer to the client ("down":
# kernel -> stack). The programs are bench/stack-bench's plain-socket
# `kernel` sender and `sink` receiver, unmodified; under direct mode they
# run under libkeepwire.so with KEEPWIRE_MODE=direct. The time is the
# sink's, from accept() to EOF; a run that has not finished after
# KW_LOSS_TIMEOUT seconds counts as that (and is marked ">").
#
# The topology (router, kernel client, peer) is bench/router.sh's. Raw
# figures go to bench/results/loss.dat (medians) and loss-rounds.txt
# (every round's seconds, in the order run); with gnuplot, bench/loss.gp draws
# them into docs/img/loss.svg (KW_LOSS_PLOT=no leaves docs/img alone).
#
# Environment: KW_BUILDDIR, KW_SRCDIR (set by make bench-loss);
#   KW_LOSS_RATES    percentages (default "0 1 2 5 10")
#   KW_LOSS_MIB      MiB per transfer (default 64)
#   KW_LOSS_ROUNDS   rounds per configuration (default 1; the median is shown)
#   KW_LOSS_TIMEOUT  seconds per transfer (default 300)
#   KW_KERNEL_CC     the kernel side's congestion control (default: the
#                    machine's)
set -eu

builddir=${KW_BUILDDIR:-$(pwd)}
srcdir=${KW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bench=$builddir/bench/stack-bench
lib=$builddir/.libs/libkeepwire.so
rates=${KW_LOSS_RATES:-0 1 2 5 10}
mib=${KW_LOSS_MIB:-64}
rounds=${KW_LOSS_ROUNDS:-1}
limit=${KW_LOSS_TIMEOUT:-300}
resultdir=$builddir/bench/results
result=$resultdir/loss.txt

die() {
	echo "bench/loss.sh: $*" >&2
	exit 1
}

[ -x "$bench" ] || die "$bench not built (run: make bench-loss)"
[ -f "$lib" ] || die "$lib not built"
if ldd "$bench" 2>/dev/null | grep -q 'libasan'; then
	die "built with sanitizers; configure without --enable-sanitizers to benchmark"
fi

. "$srcdir/bench/router.sh"
router_requirements
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kw-loss.XXXXXX")
mkdir -p "$resultdir"
router_setup
router_direct_env "$lib"

port=6000
# one_run WHO DIR: prints the seconds (or ">LIMIT").
one_run() {
	port=$((port + 1))
	out=$tmp/sink.$port
	if [ "$2" = up ]; then
		ip netns exec "$NS_P" timeout "$((limit + 5))" "$bench" sink --port "$port" >"$out" 2>&1 &
		spid=$!
		sleep 0.2
		if [ "$1" = direct ]; then
			# shellcheck disable=SC2086
			ip netns exec "$NS_R" env $DIRECT_ENV timeout "$limit" "$bench" kernel --peer "$P_PEER" --port "$port" --mib "$mib" \
				>"$out.send" 2>&1 || true
		else
			ip netns exec "$NS_K" timeout "$limit" "$bench" kernel --peer "$P_PEER" --port "$port" \
				--mib "$mib" >/dev/null 2>&1 || true
		fi
	else
		if [ "$1" = direct ]; then
			# shellcheck disable=SC2086
			ip netns exec "$NS_R" env $DIRECT_ENV timeout "$((limit + 5))" "$bench" sink --port "$port" >"$out" 2>&1 &
			peer=$TAP_STACK
		else
			ip netns exec "$NS_K" timeout "$((limit + 5))" "$bench" sink --port "$port" >"$out" 2>&1 &
			peer=$K_CLIENT
		fi
		spid=$!
		sleep 0.3
		ip netns exec "$NS_P" timeout "$limit" "$bench" kernel --peer "$peer" --port "$port" \
			--mib "$mib" >"$out.send" 2>&1 || true
	fi
	# The sink prints its line at EOF; give it a moment after the sender.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -q '^sink bytes=' "$out" && break
		sleep 0.2
	done
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	if [ "$1" = direct ]; then
		stop_engine
	fi
	secs=$(sed -n 's/^sink bytes=\([0-9]*\) secs=\([0-9.]*\).*/\1 \2/p' "$out" | head -n 1)
	bytes=${secs% *}
	if [ -z "$secs" ] || [ "$bytes" -ne $((mib * 1048576)) ]; then
		# Say why on stderr (the table keeps one line per configuration).
		{ echo "bench/loss.sh: $1 $2 did not finish:"; cat "$out" "$out.send"; } | sed 's/^/  /' >&2
		echo ">$limit"
	else
		echo "${secs#* }"
	fi
}

median() {
	tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

{
	echo "keepwire loss benchmark: $mib MiB per transfer, $(date -u '+%Y-%m-%d %H:%M UTC')"
	router_machine_line
	echo "drop rule: nftables FORWARD chain of the router, meta l4proto tcp numgen random mod 100 < P"
	echo "rounds: $rounds (median; '>' = not finished within ${limit} s)"
	echo
	printf '%-6s %-5s %12s %12s %8s\n' loss dir direct_s kernel_s ratio
} | tee "$result"
: >"$resultdir/loss.dat"
: >"$resultdir/loss-rounds.txt"
for p in $rates; do
	set_loss "$p"
	for dir in up down; do
		d=; k=
		r=0
		while [ "$r" -lt "$rounds" ]; do
			if [ $((r % 2)) -eq 0 ]; then
				d="$d $(one_run direct "$dir")"
				k="$k $(one_run kernel "$dir")"
			else
				k="$k $(one_run kernel "$dir")"
				d="$d $(one_run direct "$dir")"
			fi
			r=$((r + 1))
		done
		dm=$(echo "$d" | sed 's/>//g' | median)
		km=$(echo "$k" | sed 's/>//g' | median)
		case "$d" in *">"*) dm=">$dm" ;; esac
		case "$k" in *">"*) km=">$km" ;; esac
		ratio=$(awk -v a="${dm#>}" -v b="${km#>}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		label=up; [ "$dir" = down ] && label=down
		printf '%-6s %-5s %12s %12s %8s\n' "$p%" "$label" "$dm" "$km" "$ratio" | tee -a "$result"
		echo "$p $label ${dm#>} ${km#>}" >>"$resultdir/loss.dat"
		echo "$p% $label direct:$d kernel:$k" >>"$resultdir/loss-rounds.txt"
	done
done
echo
echo "up = the client (direct mode or kernel) sends to the peer; down = the peer sends to it."
echo "written to $result"
if [ "${KW_LOSS_PLOT:-yes}" = yes ]; then
	if command -v gnuplot >/dev/null 2>&1; then
		mkdir -p "$srcdir/docs/img"
		gnuplot -e "datafile='$resultdir/loss.dat'; outfile='$srcdir/docs/img/loss.svg'" "$srcdir/bench/loss.gp" &&
			echo "plot: $srcdir/docs/img/loss.svg"
	else
		echo "gnuplot is missing: no plot drawn"
	fi
fi
