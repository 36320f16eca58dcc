#!/bin/sh
# bench/programs.sh: unmodified third-party programs in direct mode next to
# the same programs on the kernel, in one run (`make bench-programs`;
# figures in docs/BENCHMARKS.md, "Programs").
#
#   iperf3    bulk throughput, the client sending (up) and receiving (-R,
#             down), Gbit/s as iperf3's receiver counts them
#   sockperf  TCP ping-pong, full round-trip time, p50 and p99 (µs)
#   wrk       -t2 -c256 against nginx serving a 1 MiB file: requests/s,
#             latency p50 and p99, timeouts and socket errors; without
#             loss and with KW_PROGRAMS_LOSS % dropped by the router.
#             And -t2 -c32 with "Connection: close" for a 1 KiB file: a
#             new connection per request (in direct mode a connect()
#             request to the engine each), requests/s and p50
#
# The client runs in direct mode (under libkeepwire.so, its stack on a TAP
# device in the router namespace) or on the kernel (a namespace behind the
# router over veth); the servers (iperf3 -s, sockperf server, nginx) run
# on the kernel in the peer namespace behind the same router
# (bench/router.sh), so both clients cross the same hop and the same drop
# rule. Rounds are interleaved, the order alternating; medians are shown,
# and every round's figure goes to bench/results/programs-rounds.txt.
#
# Needs root, /dev/net/tun, ip, nft, and the programs (Debian packages
# iperf3, sockperf, wrk, nginx-light). A missing program skips its part,
# with a message.
#
# Environment: KW_BUILDDIR, KW_SRCDIR (set by make bench-programs);
#   KW_PROGRAMS_ROUNDS   rounds per configuration (default 3)
#   KW_PROGRAMS_SECONDS  seconds per iperf3/sockperf/wrk run (default 5)
#   KW_PROGRAMS_LOSS     loss rates for wrk, % (default "0 2")
#   KW_PROGRAMS_BUSY_POLL  KEEPWIRE_BUSY_POLL for an extra sockperf row in
#                          direct mode, us (default 100; 0: no such row)
#   KW_KERNEL_CC         the kernel side's congestion control
set -eu

builddir=${KW_BUILDDIR:-$(pwd)}
srcdir=${KW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
lib=$builddir/.libs/libkeepwire.so
rounds=${KW_PROGRAMS_ROUNDS:-3}
secs=${KW_PROGRAMS_SECONDS:-5}
wrk_loss=${KW_PROGRAMS_LOSS:-0 2}
busy_poll=${KW_PROGRAMS_BUSY_POLL:-100}
resultdir=$builddir/bench/results
result=$resultdir/programs.txt
# Every round's figure, in round order: a median of three hides a run
# that went another way (docs/BENCHMARKS.md, "Programs").
rounds_result=$resultdir/programs-rounds.txt

die() {
	echo "bench/programs.sh: $*" >&2
	exit 1
}

[ -f "$lib" ] || die "$lib not built (run: make bench-programs)"
if ldd "$lib" 2>/dev/null | grep -q 'libasan'; then
	die "built with sanitizers; configure without --enable-sanitizers to benchmark"
fi
. "$srcdir/bench/router.sh"
router_requirements
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kw-programs.XXXXXX")
mkdir -p "$resultdir"
router_setup
router_direct_env "$lib"

have() { command -v "$1" >/dev/null 2>&1; }

median() {
	tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else print "-" }'
}

# client WHO CMD...: runs a client program in direct mode or on the kernel.
client() {
	who=$1
	shift
	if [ "$who" = direct ]; then
		# shellcheck disable=SC2086
		ip netns exec "$NS_R" env $DIRECT_ENV timeout $((secs * 4 + 20)) "$@"
		rc=$?
		stop_engine
		return $rc
	fi
	ip netns exec "$NS_K" timeout $((secs * 4 + 20)) "$@"
}

# interleave FUNC: runs FUNC direct and FUNC kernel $rounds times, the
# order alternating; FUNC WHO appends "key value" lines to $tmp/WHO.
interleave() {
	: >"$tmp/direct"
	: >"$tmp/kernel"
	r=0
	while [ "$r" -lt "$rounds" ]; do
		if [ $((r % 2)) -eq 0 ]; then
			"$1" direct
			"$1" kernel
		else
			"$1" kernel
			"$1" direct
		fi
		r=$((r + 1))
	done
}
# med WHO KEY: the median of KEY's values from interleave.
med() {
	each "$1" "$2" | median
}
# each WHO KEY: KEY's values from interleave, in round order.
each() {
	awk -v k="$2" '$1 == k { printf " %s", $2 }' "$tmp/$1"
}
row() {
	d=$(med direct "$2")
	k=$(med kernel "$2")
	printf '%-34s %12s %12s %8s\n' "$1" "$d" "$k" "$(ratio "$d" "$k")" | tee -a "$result"
	printf '%s | direct:%s | kernel:%s\n' "$1" "$(each direct "$2")" "$(each kernel "$2")" >>"$rounds_result"
}

{
	echo "keepwire programs benchmark: $(date -u '+%Y-%m-%d %H:%M UTC')"
	router_machine_line
	echo "rounds: $rounds (median), $secs s per run; servers on the kernel behind the router"
	echo
	printf '%-34s %12s %12s %8s\n' measure direct kernel ratio
} | tee "$result"
head -n 3 "$result" >"$rounds_result"

# ---- iperf3 ----------------------------------------------------------------
iperf_one() {
	for dir in up down; do
		flag=
		[ "$dir" = down ] && flag=-R
		out=$tmp/iperf.json
		# shellcheck disable=SC2086
		if client "$1" iperf3 -c "$P_PEER" -p 5201 -t "$secs" -J $flag >"$out" 2>"$tmp/iperf.err"; then
			g=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' "$out" 2>/dev/null || echo -)
		else
			echo "bench/programs.sh: iperf3 $1 $dir failed: $(head -c 300 "$tmp/iperf.err")" >&2
			g=-
		fi
		echo "iperf_$dir $g" >>"$tmp/$1"
	done
}
if have iperf3; then
	ip netns exec "$NS_P" iperf3 -s -p 5201 >/dev/null 2>&1 &
	sleep 0.3
	interleave iperf_one
	row "iperf3 up, Gbit/s" iperf_up
	row "iperf3 down (-R), Gbit/s" iperf_down
else
	echo "iperf3 is missing: skipped (apt-get install iperf3)" | tee -a "$result"
fi

# ---- sockperf ----------------------------------------------------------------
sockperf_one() {
	out=$tmp/sockperf.out
	if client "$1" sockperf ping-pong --tcp -i "$P_PEER" -p 11111 -t "$secs" --full-rtt >"$out" 2>&1; then
		p50=$(sed -n 's/.*percentile 50\.000 = *\([0-9.]*\).*/\1/p' "$out" | head -n 1)
		p99=$(sed -n 's/.*percentile 99\.000 = *\([0-9.]*\).*/\1/p' "$out" | head -n 1)
	else
		echo "bench/programs.sh: sockperf $1 failed: $(tail -n 3 "$out")" >&2
	fi
	echo "sp_p50 ${p50:--}" >>"$tmp/$1"
	echo "sp_p99 ${p99:--}" >>"$tmp/$1"
	# Direct mode again with busy polling (KEEPWIRE_BUSY_POLL); the kernel
	# has nothing to poll on veth, so its row compares with the plain run.
	if [ "$1" = direct ] && [ "$busy_poll" != 0 ]; then
		plain_env=$DIRECT_ENV
		DIRECT_ENV="$DIRECT_ENV KEEPWIRE_BUSY_POLL=$busy_poll"
		p50=
		client direct sockperf ping-pong --tcp -i "$P_PEER" -p 11111 -t "$secs" --full-rtt >"$out" 2>&1 &&
			p50=$(sed -n 's/.*percentile 50\.000 = *\([0-9.]*\).*/\1/p' "$out" | head -n 1)
		DIRECT_ENV=$plain_env
	fi
	echo "sp_bp_p50 ${p50:--}" >>"$tmp/$1"
}
if have sockperf; then
	ip netns exec "$NS_P" sockperf server --tcp -i "$P_PEER" -p 11111 >/dev/null 2>&1 &
	sleep 0.3
	interleave sockperf_one
	row "sockperf ping-pong p50, us" sp_p50
	row "sockperf ping-pong p99, us" sp_p99
	[ "$busy_poll" != 0 ] && row "sockperf p50, busy poll ${busy_poll} us" sp_bp_p50
else
	echo "sockperf is missing: skipped (apt-get install sockperf)" | tee -a "$result"
fi

# ---- wrk against nginx ---------------------------------------------------------
# wrk prints latencies with units; in ms.
to_ms() {
	awk '{ v = $1; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
		printf "%.2f", v * f }'
}
wrk_one() {
	out=$tmp/wrk.out
	if client "$1" wrk -t2 -c256 -d"${secs}s" --timeout 10s --latency "http://$P_PEER:8080/1m" >"$out" 2>&1; then
		p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
		p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
		rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
		tmo=$(sed -n 's/.*timeout \([0-9]*\).*/\1/p' "$out")
		err=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\).*/\1 \2 \3/p' "$out" |
			awk '{ print $1 + $2 + $3 }')
		# A response that is not the file is an error too.
		bad=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
		err=$((${err:-0} + ${bad:-0}))
	else
		echo "bench/programs.sh: wrk $1 failed: $(tail -n 3 "$out")" >&2
	fi
	echo "wrk_p50 ${p50:--}" >>"$tmp/$1"
	echo "wrk_p99 ${p99:--}" >>"$tmp/$1"
	echo "wrk_rps ${rps:--}" >>"$tmp/$1"
	echo "wrk_timeouts ${tmo:-0}" >>"$tmp/$1"
	echo "wrk_errors ${err:-0}" >>"$tmp/$1"
}
# A new connection per request: connect() is on the path of every request.
wrk_close_one() {
	out=$tmp/wrk.out
	if client "$1" wrk -t2 -c32 -d"${secs}s" --timeout 10s --latency -H "Connection: close" \
		"http://$P_PEER:8080/1k" >"$out" 2>&1; then
		p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
		rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
	else
		p50=
		rps=
		echo "bench/programs.sh: wrk (Connection: close) $1 failed: $(tail -n 3 "$out")" >&2
	fi
	echo "wrkc_p50 ${p50:--}" >>"$tmp/$1"
	echo "wrkc_rps ${rps:--}" >>"$tmp/$1"
}

if have wrk && have nginx; then
	mkdir -p "$tmp/www" "$tmp/nginx"
	head -c 1048576 /dev/urandom >"$tmp/www/1m"
	head -c 1024 /dev/urandom >"$tmp/www/1k"
	# nginx's workers run as an unprivileged user: let them read the file.
	chmod 755 "$tmp" "$tmp/www"
	chmod 644 "$tmp/www/1m" "$tmp/www/1k"
	cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $tmp/nginx;
	proxy_temp_path $tmp/nginx;
	fastcgi_temp_path $tmp/nginx;
	uwsgi_temp_path $tmp/nginx;
	scgi_temp_path $tmp/nginx;
	server {
		listen $P_PEER:8080 backlog=4096;
		root $tmp/www;
	}
}
EOF
	ip netns exec "$NS_P" nginx -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >/dev/null 2>&1 &
	sleep 0.5
	set_loss 0
	interleave wrk_close_one
	row "wrk -c32 close, 1 KiB: req/s" wrkc_rps
	row "wrk -c32 close, 1 KiB: p50 ms" wrkc_p50
	for p in $wrk_loss; do
		set_loss "$p"
		interleave wrk_one
		row "wrk -c256 1 MiB, $p% loss: req/s" wrk_rps
		row "wrk -c256 1 MiB, $p% loss: p50 ms" wrk_p50
		row "wrk -c256 1 MiB, $p% loss: p99 ms" wrk_p99
		row "wrk -c256 1 MiB, $p% loss: timeouts" wrk_timeouts
		row "wrk -c256 1 MiB, $p% loss: errors" wrk_errors
	done
	set_loss 0
else
	echo "wrk or nginx is missing: skipped (apt-get install wrk nginx-light)" | tee -a "$result"
fi
echo
echo "ratio = direct / kernel (for Gbit/s and req/s higher is better, for times lower)."
echo "written to $result (each round: $rounds_result)"
