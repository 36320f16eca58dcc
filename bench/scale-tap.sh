#!/bin/sh
# bench/scale-tap.sh: 10,000 idle keepalive connections from keepwire's
# stack to the Linux kernel over a TAP device (`make bench-scale-tap`;
# docs/BENCHMARKS.md, "Scale", "Against the kernel"). Root: it makes a
# network namespace with a TAP device (kernel end 10.241.0.1, stack
# 10.241.0.2), a kernel-side acceptor that holds every connection, and runs
# bench/scale-tap stack there; a trap removes the namespace and its
# processes. Environment: KW_SCALE_TAP_CONNS (10000), KW_SCALE_TAP_MEASURE
# (seconds of idleness measured, 30), keepalive idle/interval/count 10/5/3.
set -eu
builddir=${KW_BUILDDIR:-$(pwd)}
bench=$builddir/bench/scale-tap
conns=${KW_SCALE_TAP_CONNS:-10000}
measure=${KW_SCALE_TAP_MEASURE:-30}
NS=kwscaletap-$$
[ "$(id -u)" -eq 0 ] || { echo "bench/scale-tap.sh: needs root" >&2; exit 1; }
[ -x "$bench" ] || { echo "bench/scale-tap.sh: $bench not built" >&2; exit 1; }
cleanup() {
	pids=$(ip netns pids "$NS" 2>/dev/null || true)
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
	ip netns delete "$NS" 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev kwst0 mode tap
ip -n "$NS" addr add 10.241.0.1/24 dev kwst0
ip -n "$NS" link set kwst0 up
out=$(mktemp)
ip netns exec "$NS" sh -c 'ulimit -n 20000 2>/dev/null; exec "$0" hold --port 7100' "$bench" >"$out" 2>&1 &
i=0
until grep -q '^hold listening' "$out"; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$out"; exit 1; }; sleep 0.05
done
echo "bench/scale-tap.sh: $conns connections, keepalive 10 s / 5 s / 3, ${measure} s measured" >&2
ip netns exec "$NS" "$bench" stack --tap kwst0 --address 10.241.0.2/24 --peer 10.241.0.1 \
	--port 7100 --conns "$conns" --measure "$measure"
echo "kernel side: $(tail -n 1 "$out")"
rm -f "$out"
