#!/bin/sh
# bench/scale.sh: keepwire's scale benchmark (`make bench-scale`; the method
# and the latest figures are in docs/BENCHMARKS.md, "Scale").
#
# Many idle connections with keepalive on in the direct stack: two stacks in
# one process joined by the in-memory link, fake time (bench/scale-bench; no
# root, no device). For each size (1,000, 10,000 and 100,000 connections by
# default) it measures, in rounds that run every size in a rotating order:
#   - memory per connection end (resident, address space, malloc'd)
#   - CPU per simulated second of idleness, and per keepalive probe
#     (one timer event: probe out, answer back), over 600 s of fake time
#   - the bare timer heap's cost per event with the same deadlines (two
#     heaps of N timers, as in the two stacks: scale-bench --timers-only)
# and once per size, with valgrind if present, the exact user-space
# instruction count of the idle phase per probe (not timed, so not noisy).
# Every run checks that all N connections are still ESTABLISHED at both ends;
# a failed check stops the script.
#
# Prints a table and writes it to $KW_BUILDDIR/bench/results/scale.txt;
# scale.data (TSV, one line per size: medians, extremes) is what the plot
# shows; scale-runs.data holds every run. With gnuplot, renders
# docs/img/scale.svg in the source tree from bench/scale.gp.
#
# Environment: KW_BUILDDIR, KW_SRCDIR (set by `make bench-scale`);
#   KW_SCALE_SIZES      connection counts (default "1000 10000 100000")
#   KW_SCALE_RUNS       rounds (default 5; the table gives the median)
#   KW_SCALE_IDLE       simulated idle seconds measured (default 600)
#   KW_SCALE_CALLGRIND  yes (default when valgrind exists) | no
#   KW_SCALE_CALLGRIND_SIZES  sizes counted with valgrind (default: all)
#   KW_SCALE_PLOT       where the plot goes (default $KW_SRCDIR/docs/img/scale.svg)
set -eu

builddir=${KW_BUILDDIR:-$(pwd)}
srcdir=${KW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bench=$builddir/bench/scale-bench
sizes=${KW_SCALE_SIZES:-1000 10000 100000}
runs=${KW_SCALE_RUNS:-5}
idle=${KW_SCALE_IDLE:-600}
cg=${KW_SCALE_CALLGRIND:-auto}
cg_sizes=${KW_SCALE_CALLGRIND_SIZES:-$sizes}
plot=${KW_SCALE_PLOT:-$srcdir/docs/img/scale.svg}
resultdir=$builddir/bench/results
result=$resultdir/scale.txt
# Keepalive on every connection end: idle 60 s, interval 10 s, 5 probes.
ka_idle=60
ka_interval=10
ka_count=5

die() {
	echo "bench/scale.sh: $*" >&2
	exit 1
}

[ -x "$bench" ] || die "$bench not built (run: make bench-scale)"
if ldd "$bench" 2>/dev/null | grep -q 'libasan'; then
	die "built with sanitizers; configure without --enable-sanitizers to benchmark"
fi
for n in $sizes; do
	case $n in
	'' | *[!0-9]*) die "KW_SCALE_SIZES: '$n' is not a number" ;;
	esac
done
[ "$cg" != auto ] || {
	cg=no
	command -v valgrind >/dev/null 2>&1 && cg=yes
}

tmp=
cleanup() {
	[ -z "$tmp" ] || rm -rf "$tmp"
	tmp=
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kw-scale.XXXXXX")
mkdir -p "$resultdir"

val() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# One run of one size; appends a line to the runs file.
run_stack() {
	# $1: round, $2: connections
	"$bench" --conns "$2" --idle "$idle" --ka-idle "$ka_idle" --ka-interval "$ka_interval" \
		--ka-count "$ka_count" --seed "$1" >"$tmp/out" 2>"$tmp/err" ||
		die "scale-bench --conns $2 failed: $(cat "$tmp/err" "$tmp/out")"
	line=$(cat "$tmp/out")
	if [ "$(val checks "$line")" != ok ] || [ "$(val ok "$line")" != "$2" ]; then
		die "scale-bench --conns $2: connections were lost: $line"
	fi
	printf 'stack\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" \
		"$(val ns_per_probe "$line")" "$(val us_per_sim_s "$line")" \
		"$(val ns_per_sim_s_per_conn "$line")" "$(val rss_per_end "$line")" \
		"$(val vsz_per_end "$line")" "$(val heap_per_end "$line")" "$(val pte_per_end "$line")" \
		"$(val setup_cpu_s "$line")" "$(val probes "$line")" "$(val cpu_ms "$line")" \
		"$(val rss_idle_growth "$line")" >>"$tmp/runs"
	echo "$line" >>"$tmp/lines"
}
run_timers() {
	"$bench" --conns "$2" --idle "$idle" --ka-idle "$ka_idle" --ka-interval "$ka_interval" \
		--ka-count "$ka_count" --timers-only >"$tmp/out" 2>"$tmp/err" ||
		die "scale-bench --timers-only --conns $2 failed: $(cat "$tmp/err")"
	line=$(cat "$tmp/out")
	printf 'timers\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(val ns_per_event "$line")" \
		"$(val events "$line")" >>"$tmp/runs"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
started=$(date +%s)
: >"$tmp/runs"
: >"$tmp/lines"
# shellcheck disable=SC2086 # the sizes are split on purpose
nsizes=$(echo $sizes | wc -w)
r=1
while [ "$r" -le "$runs" ]; do
	# Rotate the order of the sizes from round to round.
	# shellcheck disable=SC2086
	set -- $sizes
	k=$(( (r - 1) % nsizes ))
	while [ "$k" -gt 0 ]; do
		first=$1
		shift
		set -- "$@" "$first"
		k=$((k - 1))
	done
	for n in "$@"; do
		run_stack "$r" "$n"
		run_timers "$r" "$n"
	done
	echo "bench/scale.sh: round $r of $runs done" >&2
	r=$((r + 1))
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# ---- exact instruction counts of the idle phase ------------------------------
: >"$tmp/cg"
if [ "$cg" = yes ]; then
	for n in $cg_sizes; do
		echo "bench/scale.sh: counting instructions with valgrind, $n connections" >&2
		# 120 simulated seconds are enough: the count is exact. Buffers of
		# 128 KiB instead of 256 KiB, at every size: valgrind's address
		# space does not hold 100,000 x 2 x 512 KiB. An idle connection
		# never touches them; the count is the same (checked at 1,000).
		valgrind --tool=callgrind --collect-atstart=no --toggle-collect=idle_phase \
			--callgrind-out-file="$tmp/cg.out" "$bench" --conns "$n" --idle 120 \
			--ka-idle "$ka_idle" --ka-interval "$ka_interval" --ka-count "$ka_count" \
			--buffers 131072 \
			>"$tmp/cg.stdout" 2>"$tmp/cg.err" ||
			die "valgrind run failed: $(tail -n 5 "$tmp/cg.err")"
		line=$(cat "$tmp/cg.stdout")
		[ "$(val checks "$line")" = ok ] || die "valgrind run: checks failed: $line"
		probes=$(val probes "$line")
		callgrind_annotate --inclusive=no --auto=no --threshold=100 "$tmp/cg.out" 2>/dev/null |
			awk -v n="$n" -v p="$probes" '
			function num(s) { gsub(",", "", s); return s + 0 }
			/PROGRAM TOTALS/ { total = num($1) }
			/src\/stack\/timer\.c:/ { heap += num($1) }
			/:tcp_lookup / { lookup += num($1) }
			/src\/stack\/arp\.c:(kw_arp_next_deadline|kw_arp_poll) / { arp += num($1) }
			END { printf "%s\t%.0f\t%.0f\t%.0f\t%.0f\n", n, total / p, heap / p, lookup / p, arp / p }' \
			>>"$tmp/cg"
	done
fi
elapsed=$(( $(date +%s) - started ))

# ---- per size: medians ----------------------------------------------------------
awk -F'\t' '
function sort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
}
function med(key,    n, i, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++)
		a[i] = v[key, i]
	sort(a, n)
	MIN = a[1]; MAX = a[n]
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, x) { v[key, ++cnt[key]] = x }
FILENAME == ARGV[1] && $1 == "stack" {
	n = $3; seen[n] = 1
	add(n SUBSEP "probe", $4); add(n SUBSEP "uss", $5); add(n SUBSEP "perconn", $6)
	add(n SUBSEP "rss", $7); add(n SUBSEP "vsz", $8); add(n SUBSEP "heap", $9)
	add(n SUBSEP "pte", $10); add(n SUBSEP "setup", $11 * 1e6 / n); add(n SUBSEP "growth", $14)
}
FILENAME == ARGV[1] && $1 == "timers" { add($3 SUBSEP "timer", $4) }
FILENAME == ARGV[2] { ins[$1] = $2; insheap[$1] = $3; inslookup[$1] = $4; insarp[$1] = $5 }
END {
	m = 0
	for (n in seen)
		sizes[++m] = n + 0
	sort(sizes, m)
	printf "# conns\tns_per_probe\tmin\tmax\tus_cpu_per_sim_s\tns_per_sim_s_per_conn"
	printf "\trss_per_end\tvsz_per_end\theap_per_end\tpte_per_end\ttimer_ns_per_event\tmin\tmax"
	printf "\tinstr_per_probe\tinstr_timer_heap\tinstr_lookup\tinstr_arp\tsetup_us_per_conn\truns\n"
	for (i = 1; i <= m; i++) {
		n = sizes[i]
		printf "%d\t%.1f\t%.1f\t%.1f", n, med(n SUBSEP "probe"), MIN, MAX
		printf "\t%.2f\t%.3f", med(n SUBSEP "uss"), med(n SUBSEP "perconn")
		printf "\t%.0f\t%.0f\t%.0f", med(n SUBSEP "rss"), med(n SUBSEP "vsz"), med(n SUBSEP "heap")
		printf "\t%.0f", med(n SUBSEP "pte")
		printf "\t%.1f\t%.1f\t%.1f", med(n SUBSEP "timer"), MIN, MAX
		printf "\t%s\t%s\t%s\t%s", (n in ins) ? ins[n] : "-", (n in ins) ? insheap[n] : "-",
			(n in ins) ? inslookup[n] : "-", (n in ins) ? insarp[n] : "-"
		printf "\t%.1f\t%d\n", med(n SUBSEP "setup"), cnt[n SUBSEP "probe"]
	}
}' "$tmp/runs" "$tmp/cg" >"$tmp/data"

# ---- the machine -------------------------------------------------------------------
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

# ---- the table --------------------------------------------------------------------
{
	echo "keepwire scale benchmark (bench/scale.sh, make bench-scale)"
	echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:  $cpu, $cores cores"
	echo "kernel:   $kernel"
	echo "compiler: $gccv, CFLAGS ${cflags:-?}"
	echo "keepwire: $rev"
	echo "method:   two stacks over the in-memory link, fake time; N connections opened"
	echo "          over ${ka_idle} s, keepalive on at both ends (idle ${ka_idle} s, interval"
	echo "          ${ka_interval} s, count ${ka_count}), ${idle} s of idleness measured; $runs rounds,"
	echo "          median (min-max);"
	echo "          load average before $load_before, after $load_after; ${elapsed}s"
	echo
	awk -F'\t' '
	/^#/ { next }
	{ n[++k] = $1; for (i = 2; i <= NF; i++) f[k, i] = $i }
	function row(label, col, fmt, lo, hi,    j) {
		printf "%-38s", label
		for (j = 1; j <= k; j++)
			if (f[j, col] == "-")
				printf " %18s", "-"
			else if (lo)
				printf " %18s", sprintf(fmt " (" fmt "-" fmt ")", f[j, col], f[j, lo], f[j, hi])
			else
				printf " %18s", sprintf(fmt, f[j, col])
		printf "\n"
	}
	END {
		printf "%-38s", "connections"
		for (j = 1; j <= k; j++)
			printf " %18d", n[j]
		printf "\n"
		row("runs, all N ESTABLISHED at the end", 19, "%d")
		print "memory per connection end (one kw_tcp in one stack)"
		row("  resident (RSS), bytes", 7, "%.0f")
		row("  address space (VSZ), bytes", 8, "%.0f")
		row("  malloc'"'"'d (mallinfo2), bytes", 9, "%.0f")
		row("  kernel page tables (VmPTE), bytes", 10, "%.0f")
		print "CPU while idle (both stacks and the link)"
		row("  us per simulated second", 5, "%.1f")
		row("  ns per simulated second per conn", 6, "%.2f")
		row("  ns per probe (timer event)", 2, "%.0f", 3, 4)
		row("  bare timer heap (2 x N), ns/event", 11, "%.0f", 12, 13)
		print "user-space instructions per probe (valgrind, exact)"
		row("  all", 14, "%s")
		row("  timer heap (src/stack/timer.c)", 15, "%s")
		row("  connection lookup (tcp_lookup)", 16, "%s")
		row("  ARP cache scans (poll, deadline)", 17, "%s")
		row("setup, CPU us per connection", 18, "%.1f")
	}' "$tmp/data"
	echo
	echo "probes: one keepalive probe and its answer (a timer event in the sender's"
	echo "heap, 2 frames, 2 inputs). Every run: all connections ESTABLISHED at both"
	echo "ends, no retransmission, no reset, no abort, the probe count as predicted."
	echo
	echo "every run:"
	sed 's/^scale //; s/^/  /' "$tmp/lines"
} >"$tmp/table"

cat "$tmp/table"
cp "$tmp/table" "$result"
cp "$tmp/data" "$resultdir/scale.data"
{
	printf '# mode\tround\tconns\tns_per_probe\tus_per_sim_s\tns_per_sim_s_per_conn'
	printf '\trss_per_end\tvsz_per_end\theap_per_end\tpte_per_end\tsetup_cpu_s\tprobes\tcpu_ms\trss_idle_growth\n'
	printf '# (timers rows: mode round conns ns_per_event events)\n'
	cat "$tmp/runs"
} >"$resultdir/scale-runs.data"
echo "(written to $result; per size $resultdir/scale.data, every run $resultdir/scale-runs.data)" >&2

# ---- the plot ------------------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1; then
	mkdir -p "$(dirname "$plot")"
	instr=$(awk -F'\t' '!/^#/ && $14 != "-" { n++ } END { print n ? 1 : 0 }' "$resultdir/scale.data")
	gnuplot -e "datafile='$resultdir/scale.data'; outfile='$plot'; instr=$instr" \
		"$srcdir/bench/scale.gp" ||
		die "gnuplot failed"
	echo "(plot: $plot)" >&2
else
	echo "bench/scale.sh: gnuplot not found (Debian package gnuplot-nox): plot skipped" >&2
fi
