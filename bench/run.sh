#!/bin/sh
# bench/run.sh: keepwire's socket-mode benchmark (`make bench`; the method
# and the latest figures are in docs/BENCHMARKS.md).
#
# In one invocation, interleaved round by round so that slow drift of a
# noisy or shared machine hits every configuration alike:
#   socket()+close():  (a) plain, (b) under keepwire, (c) under Debian's
#                      libkeepalive, (d) plain plus the four setsockopt calls
#                      keepwire makes, done by the program (the floor)
#   loopback connect+accept+close: plain, keepwire, floor, libkeepalive
#   paired: under keepwire and under libkeepalive, socket()+close() through
#           the library alternating batch by batch with the floor made
#           straight through libc in the same process (the sharpest b/d and
#           c/d this machine allows: no process-to-process drift)
# Before timing, bench/socket-bench's check mode verifies that (b) and (c)
# really configure new, connected and accepted sockets.
#
# Prints a table and writes it to $KW_BUILDDIR/bench/results/socket-mode.txt.
#
# Environment: KW_BUILDDIR, KW_SRCDIR (set by `make bench`);
#   KW_BENCH_ROUNDS          interleaved rounds (default 15)
#   KW_BENCH_BATCHES         timed batches per run (default 15)
#   KW_BENCH_SOCKET_ITERS    iterations per batch, socket mode (default 2000)
#   KW_BENCH_CONNECT_ITERS   iterations per batch, connect mode (default 500)
#   KW_BENCH_PAIRED_BATCHES  batch pairs per paired run (default 21)
#   KW_BENCH_PAIRED_ITERS    iterations per paired batch (default 1000)
#   KW_BENCH_CALLGRIND       no: skip counting user-space instructions with
#                            valgrind (done when valgrind is installed)
#   KW_LIBKEEPALIVE          libkeepalive to compare with
#                            (default /usr/lib/libkeepalive.so)
set -eu

builddir=${KW_BUILDDIR:-$(pwd)}
srcdir=${KW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bench=$builddir/bench/socket-bench
kwlib=$builddir/.libs/libkeepwire.so
kalib=${KW_LIBKEEPALIVE:-/usr/lib/libkeepalive.so}
rounds=${KW_BENCH_ROUNDS:-15}
batches=${KW_BENCH_BATCHES:-15}
sock_iters=${KW_BENCH_SOCKET_ITERS:-2000}
conn_iters=${KW_BENCH_CONNECT_ITERS:-500}
paired_batches=${KW_BENCH_PAIRED_BATCHES:-21}
paired_iters=${KW_BENCH_PAIRED_ITERS:-1000}
resultdir=$builddir/bench/results
result=$resultdir/socket-mode.txt

die() {
	echo "bench/run.sh: $*" >&2
	exit 1
}

[ -x "$bench" ] || die "$bench not built (run: make bench)"
[ -f "$kwlib" ] || die "$kwlib not built (run: make)"
if ldd "$kwlib" 2>/dev/null | grep -q 'libasan'; then
	die "libkeepwire.so is built with sanitizers; configure without --enable-sanitizers to benchmark"
fi
have_ka=yes
if [ ! -f "$kalib" ]; then
	have_ka=no
	echo "bench/run.sh: libkeepalive not installed ($kalib): configuration (c) skipped" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kw-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Every run gets the same, minimal environment, with the keepalive values
# spelled out (60/10/6 are also keepwire's defaults). Nothing from the
# caller's environment (KEEPWIRE_*, KEEPIDLE, ...) leaks in. A minimal
# environment is libkeepalive's best case: it scans it with getenv on
# every socket().
run_env() {
	# $1: plain | keepwire | libkeepalive; the rest: the command
	lib=$1
	shift
	case $lib in
	plain)
		env -i "$@" ;;
	keepwire)
		env -i LD_PRELOAD="$kwlib" KEEPWIRE_IDLE=60 KEEPWIRE_INTERVAL=10 \
			KEEPWIRE_COUNT=6 "$@" ;;
	libkeepalive)
		env -i LD_PRELOAD="$kalib" KEEPIDLE=60 KEEPINTVL=10 KEEPCNT=6 "$@" ;;
	esac
}

# ---- verify that the libraries really configure sockets ---------------
want_on="socket keepalive=1 idle=60 intvl=10 cnt=6
client keepalive=1 idle=60 intvl=10 cnt=6
accepted keepalive=1 idle=60 intvl=10 cnt=6
accepted linger=1/0"

check() {
	# $1: configuration; $2: expected keepalive on (yes/no)
	out=$(run_env "$1" "$bench" check) || die "check under $1 failed"
	if [ "$2" = yes ]; then
		[ "$out" = "$want_on" ] || die "check under $1: sockets not configured:
$out"
	else
		case $out in
		*keepalive=1*) die "check plain: keepalive already on without a library:
$out" ;;
		esac
	fi
	if [ "$2" = yes ]; then
		echo "check $1: new, connected and accepted sockets: keepalive=1 idle=60 intvl=10 cnt=6" >&2
	else
		echo "check $1: keepalive off by default: $(echo "$out" | sed -n '1p')" >&2
	fi
}

check plain no
check keepwire yes
[ $have_ka = no ] || check libkeepalive yes

# ---- the timed runs, interleaved ----------------------------------------
# name  environment   mode
configs="a plain socket
b keepwire socket
c libkeepalive socket
d plain socket-floor
ca plain connect
cb keepwire connect
cc libkeepalive connect
cd plain connect-floor
pb keepwire paired
pc libkeepalive paired"
if [ $have_ka = no ]; then
	configs=$(echo "$configs" | grep -v libkeepalive)
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
started=$(date +%s)
: >"$tmp/data"
r=1
while [ "$r" -le "$rounds" ]; do
	printf 'round %d/%d\r' "$r" "$rounds" >&2
	# A new order each round (shuffled, seeded by the round number, so
	# reproducible): no configuration always runs first, or right after
	# the same other one.
	order=$(echo "$configs" |
		awk -v seed="$r" 'BEGIN { srand(seed) } { printf "%.9f\t%s\n", rand(), $0 }' |
		sort -n | cut -f 2-)
	echo "$order" | while read -r name cfg mode; do
		case $mode in
		socket*) args="-n $sock_iters -b $batches" ;;
		connect*) args="-n $conn_iters -b $batches" ;;
		paired) args="-n $paired_iters -b $paired_batches" ;;
		esac
		# shellcheck disable=SC2086 # $args: two options, split on purpose
		line=$(run_env "$cfg" "$bench" "$mode" $args </dev/null) ||
			die "run $name ($cfg $mode) failed"
		# One "round name value" line per figure: name for the median
		# ns (or, paired, the ratio), name.h and name.f for the paired
		# hooked and floor ns.
		echo "$line" | awk -v r="$r" -v name="$name" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
			if ("median_ns" in f) { print r, name, f["median_ns"]; ok = 1 }
			if ("ratio" in f) {
				print r, name, f["ratio"]
				print r, name ".h", f["hooked_ns"]
				print r, name ".f", f["floor_ns"]; ok = 1
			}
		} END { exit !ok }' >>"$tmp/data" || die "run $name: unexpected output: $line"
	done || exit 1
	r=$((r + 1))
done
echo >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# ---- user-space instructions per socket (deterministic, noise-free) --------
# Instructions retired in user space per socket()+close(), hooks and libc
# wrappers included, kernel excluded: the difference of two runs of
# different length (each runs its loop twice: warm-up and one batch).
valgrind=$(command -v valgrind 2>/dev/null || true)
: >"$tmp/ir"
if [ -n "$valgrind" ] && [ "${KW_BENCH_CALLGRIND:-yes}" != no ]; then
	instructions() {
		# $1: configuration; $2: mode; $3: iterations
		run_env "$1" "$valgrind" --tool=callgrind --callgrind-out-file=/dev/null \
			"$bench" "$2" -n "$3" -b 1 </dev/null 2>&1 >/dev/null |
			sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
	}
	echo "counting instructions with callgrind" >&2
	echo "$configs" | grep ' socket' | while read -r name cfg mode; do
		small=$(instructions "$cfg" "$mode" 1000)
		large=$(instructions "$cfg" "$mode" 11000)
		[ -n "$small" ] && [ -n "$large" ] || die "callgrind run $name failed"
		echo "$name $(( (large - small) / 20000 ))" >>"$tmp/ir"
	done || exit 1
fi
elapsed=$(( $(date +%s) - started ))

# ---- the machine -----------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
if grep -qw hypervisor /proc/cpuinfo 2>/dev/null; then
	cpu="$cpu (virtual machine)"
fi
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
kernel=$(uname -srm)
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>/dev/null | head -n 1)
gccv=$(${CC:-gcc} --version 2>/dev/null | head -n 1 || echo unknown)
kaver=$(dpkg-query -W -f='${Version}' libkeepalive0 2>/dev/null || echo unknown)
rev=$(git -C "$srcdir" describe --always --dirty 2>/dev/null || echo unknown)

# ---- the table ---------------------------------------------------------------
{
	echo "keepwire socket-mode benchmark (bench/run.sh, make bench)"
	echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:  $cpu, $cores cores"
	echo "kernel:   $kernel"
	echo "libc:     $glibc;  compiler: $gccv"
	echo "keepwire: $rev;  libkeepalive: $([ $have_ka = yes ] && echo "$kalib $kaver" || echo "not installed")"
	echo "method:   $rounds interleaved rounds; per run 1 warm-up + $batches batches of"
	echo "          $sock_iters (socket) / $conn_iters (connect) iterations, median batch mean;"
	echo "          paired runs $paired_batches alternating batch pairs of $paired_iters, median ratio;"
	echo "          load average before $load_before, after $load_after; ${elapsed}s"
	echo
	awk -v rounds="$rounds" -v have_ka="$have_ka" '
	function sort(a, n,    i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
	}
	# quantile q of the sorted a[1..n], linear interpolation
	function quant(a, n, q,    p, i, f) {
		p = (n - 1) * q + 1; i = int(p); f = p - i
		return i >= n ? a[n] : a[i] + f * (a[i + 1] - a[i])
	}
	{ v[$1, $2] = $3; seen[$2] = 1 }
	# Median over rounds of one configuration, and its spread.
	function cfg_stats(name,    r, n, a) {
		n = 0
		for (r = 1; r <= rounds; r++) if ((r, name) in v) a[++n] = v[r, name]
		sort(a, n)
		S_med = quant(a, n, 0.5); S_q1 = quant(a, n, 0.25); S_q3 = quant(a, n, 0.75)
		S_min = a[1]; S_max = a[n]
	}
	# Median over rounds of the within-round ratio x/y.
	function ratio_stats(x, y,    r, n, a) {
		n = 0
		for (r = 1; r <= rounds; r++)
			if ((r, x) in v && (r, y) in v) a[++n] = v[r, x] / v[r, y]
		sort(a, n)
		R_med = quant(a, n, 0.5); R_q1 = quant(a, n, 0.25); R_q3 = quant(a, n, 0.75)
		R_min = a[1]; R_max = a[n]
	}
	function diff_med(x, y,    r, n, a) {
		n = 0
		for (r = 1; r <= rounds; r++)
			if ((r, x) in v && (r, y) in v) a[++n] = v[r, x] - v[r, y]
		sort(a, n)
		return quant(a, n, 0.5)
	}
	function prow(name, label, target,    verdict, h, f, d) {
		if (!(name in seen)) { printf "%-32s %6s\n", label, "skipped"; return }
		cfg_stats(name ".h"); h = S_med
		cfg_stats(name ".f"); f = S_med
		d = diff_med(name ".h", name ".f")
		cfg_stats(name)
		verdict = ""
		if (target == "le1.10") verdict = (S_med <= 1.10 ? "target <= 1.10: met" : "target <= 1.10: MISSED")
		printf "%-32s %6.3f   %6.3f %6.3f   %6.3f %6.3f   %9.0f %9.0f %+7.0f%s\n", label, S_med, S_q1, S_q3, S_min, S_max, h, f, d, verdict == "" ? "" : "   " verdict
	}
	function row(name, label) {
		if (!(name in seen)) { printf "%-44s %10s\n", label, "skipped"; return }
		cfg_stats(name)
		printf "%-44s %10.0f   %7.0f %7.0f   %7.0f %7.0f\n", label, S_med, S_q1, S_q3, S_min, S_max
	}
	function rrow(x, y, label, target,    verdict) {
		if (!(x in seen) || !(y in seen)) { printf "%-32s %6s\n", label, "n/a"; return }
		ratio_stats(x, y)
		verdict = ""
		if (target == "le1.10") verdict = (R_med <= 1.10 ? "target <= 1.10: met" : "target <= 1.10: MISSED")
		if (target == "lt1") verdict = (R_med < 1 ? "target < 1: met" : "target < 1: MISSED")
		printf "%-32s %6.3f   %6.3f %6.3f   %6.3f %6.3f%s\n", label, R_med, R_q1, R_q3, R_min, R_max, verdict == "" ? "" : "   " verdict
	}
	END {
		hdr = sprintf("%-44s %10s   %15s   %15s", "", "median", "quartiles", "min   max")
		print "socket(AF_INET, SOCK_STREAM) + close()       ns/socket, over rounds"
		print hdr
		row("a", "(a) plain")
		row("b", "(b) keepwire")
		row("c", "(c) libkeepalive")
		row("d", "(d) floor: plain + 4 setsockopt")
		print ""
		print "connect + accept + 2 close, loopback         ns/connection, over rounds"
		print hdr
		row("ca", "plain")
		row("cb", "keepwire")
		row("cc", "libkeepalive")
		row("cd", "floor: plain + 4 setsockopt on client")
		print ""
		printf "%-32s %6s   %13s   %13s\n", "ratios (per round, then median)", "median", "quartiles", "min    max"
		rrow("b", "d", "b/d  keepwire / floor", "le1.10")
		rrow("c", "d", "c/d  libkeepalive / floor", "")
		rrow("b", "a", "b/a  keepwire / plain", "")
		rrow("b", "c", "b/c  keepwire / libkeepalive", "lt1")
		rrow("cb", "ca", "connect: keepwire / plain", "")
		rrow("cb", "cd", "connect: keepwire / floor", "")
		if ("cc" in seen) rrow("cc", "cd", "connect: libkeepalive / floor", "")
		print ""
		print "paired in one process: socket()+close() through the library vs the floor"
		print "through libc, batches alternating (ratio: median of per-run medians)"
		printf "%-32s %6s   %13s   %13s   %9s %9s %7s\n", "", "ratio", "quartiles", "min    max", "hooked ns", "floor ns", "+ns"
		prow("pb", "b/d  keepwire / floor", "le1.10")
		prow("pc", "c/d  libkeepalive / floor", "")
		if (("pb" in seen) && ("pc" in seen)) {
			ratio_stats("pb", "pc")
			printf "%-32s %6.3f   %6.3f %6.3f   %6.3f %6.3f   %s\n", "b/c  (b/d) / (c/d), per round",
				R_med, R_q1, R_q3, R_min, R_max, R_med < 1 ? "target < 1: met" : "target < 1: MISSED"
		}
		print ""
		printf "separate runs, median of per-round differences: keepwire %.0f ns over plain, %+.0f ns over the floor",
			diff_med("b", "a"), diff_med("b", "d")
		if ("c" in seen) printf "; libkeepalive %+.0f ns over the floor", diff_med("c", "d")
		print ""
	}' "$tmp/data"
	if [ -s "$tmp/ir" ]; then
		echo
		echo "user-space instructions per socket()+close() (valgrind --tool=callgrind;"
		echo "kernel excluded; exact, not timed)"
		awk '{ ir[$1] = $2 }
		END {
			split("a b c d", k, " ")
			split("(a) plain|(b) keepwire|(c) libkeepalive|(d) floor", l, "|")
			for (i = 1; i <= 4; i++)
				if (k[i] in ir)
					printf "%-44s %10d%s\n", l[i], ir[k[i]],
						(k[i] != "d" && ("d" in ir)) ? sprintf("  (%+d vs floor)", ir[k[i]] - ir["d"]) : ""
		}' "$tmp/ir"
	fi
} >"$tmp/table"

cat "$tmp/table"
mkdir -p "$resultdir"
cp "$tmp/table" "$result"
cp "$tmp/data" "$resultdir/socket-mode.data"
echo "(written to $result; raw per-run medians in $resultdir/socket-mode.data)" >&2
