#!/bin/sh
# keepwire's TCP against the Linux kernel's, over a TAP device: the stack
# connects to a kernel listener and the kernel connects to a stack
# listener; 64 MiB each way with SHA-256 compared against sha256sum on the
# kernel side; orderly close started by either side (the other sees EOF);
# reset sent by either side (the other sees ECONNRESET); stdin/stdout.
#
# Everything happens inside one network namespace this test creates: a
# persistent TAP device kwtap0 whose kernel end is 10.234.X.1/24; each run
# of the stack (tests/stack/kwtcp, one connection per run) attaches to it
# as 10.234.X.2 with a fixed MAC, so the kernel's address, route and ARP
# entry stay valid from one run to the next. The kernel side is socat
# (bulk) and a small python3 peer (close/reset semantics).
# With KW_KTCP_OFFLOAD=1 (tests/stack/kernel-tcp-offload.t) every run of
# the stack opens the TAP with offloads (kwtcp --offload: IFF_VNET_HDR,
# checksum and TCP segmentation offload), and the bulk transfers also check
# that segments of more than one MSS went out and came in.
# Needs root, /dev/net/tun, ip, socat, python3, sha256sum.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/onens.sh"

require_root
[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing"
require_cmd ip ss socat python3 sha256sum awk

KWTCP="$KW_BUILDDIR/tests/stack/kwtcp"
NET=$(($$ % 250 + 1))
KERNEL_ADDR="10.234.$NET.1"
STACK_ADDR="10.234.$NET.2"
STACK_MAC=02:6b:77:00:00:02
TAPDEV=kwtap0
BULK=67108864		# 64 MiB
OFFLOAD=
[ -z "${KW_KTCP_OFFLOAD:-}" ] || OFFLOAD=--offload


[ -x "$KWTCP" ] || { echo "Bail out! $KWTCP is not built (make check builds it)"; exit 1; }
onens_setup "ktcp${OFFLOAD:+o}"
{
	ip -n "$NS" link set lo up &&
	onens_add_tap "$TAPDEV" "$KERNEL_ADDR/24"
} 2>"$TMP/setup.err"
ok $? "namespace $NS: TAP $TAPDEV with the kernel at $KERNEL_ADDR/24"
[ -s "$TMP/setup.err" ] && diag "$(cat "$TMP/setup.err")"

# in_order FILE RE1 RE2: a line matches RE1, and a later line RE2.
in_order() {
	_a=$(grep -En -- "$2" "$1" | head -n 1 | cut -d: -f1)
	_b=$(grep -En -- "$3" "$1" | head -n 1 | cut -d: -f1)
	[ -n "$_a" ] && [ -n "$_b" ] && [ "$_a" -lt "$_b" ]
}
field() { sed -n "s/^$2 //p" "$1" | head -n 1; }
sha_of() { sed -n "s/^$2 [0-9]* bytes sha256 \([0-9a-f]*\) .*/\1/p" "$1"; }
bytes_of() { sed -n "s/^$2 \([0-9]*\) bytes .*/\1/p" "$1"; }
secs_of() { sed -n "s/^$2 [0-9]* bytes sha256 [0-9a-f]* in \([0-9.]*\) s.*/\1/p" "$1"; }

SEED=$$
# stack NAME ARGS...: start kwtcp in the namespace in the background,
# reports in $TMP/NAME.err; sets STACK_PID.
stack() {
	_name=$1
	shift
	SEED=$((SEED + 1))
	ip netns exec "$NS" "$KWTCP" --tap "$TAPDEV" --attach --address "$STACK_ADDR/24" \
		--mac "$STACK_MAC" --seed "$SEED" --timeout 30 $OFFLOAD "$@" \
		>"$TMP/$_name.out" 2>"$TMP/$_name.err" </dev/null &
	STACK_PID=$!
}
# finish NAME: wait for the stack's exit; sets STATUS.
finish() {
	wait "$STACK_PID"
	STATUS=$?
	STACK_PID=
}
show() { diag "--- $1:" "$(cat "$TMP/$1")"; }
# wait_listen PORT: up to 5 s for a kernel listener on PORT in NS (a fixed
# sleep lost the race on a loaded machine: the stack was refused).
wait_listen() {
	_i=0
	until ip netns exec "$NS" ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || return 1
		sleep 0.05
	done
}

# The kernel's python3 peer: connect or accept one connection, send N
# bytes, then 'wait' (read to EOF or error), 'close' (shutdown(SHUT_WR),
# then read to EOF) or 'reset' (after DELAY s, SO_LINGER 0 and close).
# Prints: accepted/connected, then "received N SHA256 eof|ECONNRESET|..."
# (sent data's hash on "sent N SHA256").
cat >"$TMP/peer.py" <<'EOF'
import errno, hashlib, socket, struct, sys, time
mode, addr, port, nsend, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
delay = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
if mode == "listen":
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(1)
    print("listening", flush=True)
    s, _ = l.accept(); l.close()
else:
    s = socket.create_connection((addr, port), timeout=10)
    s.settimeout(None)
print(mode == "listen" and "accepted" or "connected", flush=True)
data = bytes((i * 7 + 1) & 255 for i in range(nsend))
if nsend:
    s.sendall(data)
print("sent %d %s" % (nsend, hashlib.sha256(data).hexdigest()), flush=True)
if end == "reset":
    time.sleep(delay)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("reset", flush=True)
    sys.exit(0)
if end == "close":
    s.shutdown(socket.SHUT_WR)
h, n, how = hashlib.sha256(), 0, "eof"
s.settimeout(20)
while True:
    try:
        b = s.recv(65536)
    except OSError as e:
        how = errno.errorcode.get(e.errno, str(e.errno))
        break
    if not b:
        break
    h.update(b); n += len(b)
print("received %d %s %s" % (n, h.hexdigest(), how), flush=True)
s.close()
EOF
peer() { ip netns exec "$NS" python3 "$TMP/peer.py" "$@"; }

# ---- 1. the stack connects to a kernel listener: 64 MiB stack -> kernel ---
ip netns exec "$NS" sh -c "{ socat -u TCP-LISTEN:5001,reuseaddr STDOUT; echo \$? >'$TMP/k1.status'; } |
	sha256sum >'$TMP/k1.sha'" &
kpid=$!
wait_listen 5001
stack s1 --connect "$KERNEL_ADDR:5001" --send-bytes $BULK --sink
finish s1
wait "$kpid"
is "$STATUS" 0 "stack -> kernel listener: kwtcp sent 64 MiB and closed, exit 0"
[ "$STATUS" -eq 0 ] || show s1.err
is "$(bytes_of "$TMP/s1.err" sent)" "$BULK" "... all $BULK bytes"
is "$(cut -d' ' -f1 "$TMP/k1.sha")" "$(sha_of "$TMP/s1.err" sent)" \
	"... sha256sum in the kernel's namespace matches the stack's SHA-256"
is "$(cat "$TMP/k1.status" 2>/dev/null)" 0 "... the kernel's socat saw EOF and exited 0"
in_order "$TMP/s1.err" '^eof after' '^closed \(TIME-WAIT\)'
ok $? "... the stack closed first: it ends in TIME-WAIT after the kernel's FIN"
t_s1=$(secs_of "$TMP/s1.err" sent)
diag "64 MiB stack -> kernel in ${t_s1} s ($(sed -n 's/^sent .*(\(.*\))$/\1/p' "$TMP/s1.err")), retransmits $(field "$TMP/s1.err" 'stat tcp_retransmits')"
if [ -n "$OFFLOAD" ]; then
	segs=$(field "$TMP/s1.err" 'stat tcp_segs_out')
	writes=$(field "$TMP/s1.err" 'stat tap_tx_frames')
	[ "${segs:-0}" -gt $((4 * ${writes:-1})) ]
	ok $? "... offload: $segs segments went out in $writes TAP writes (segmentation offload used)"
fi

# ---- 2. the kernel connects to a stack listener: 64 MiB kernel -> stack ---
ip netns exec "$NS" sh -c "head -c $BULK /dev/urandom >'$TMP/bulk' && sha256sum <'$TMP/bulk' >'$TMP/k2.sha'"
stack s2 --listen 5002 --send-bytes 0 --hold 20s --sink
wait_for_line "$TMP/s2.err" '^listening' 50
ip netns exec "$NS" socat -u "OPEN:$TMP/bulk" "TCP:$STACK_ADDR:5002" 2>"$TMP/k2.err"
kstatus=$?
finish s2
is "$kstatus" 0 "kernel -> stack listener: socat sent 64 MiB and exited 0"
is "$STATUS" 0 "... kwtcp received it, saw EOF and closed, exit 0"
[ "$STATUS" -eq 0 ] || show s2.err
is "$(bytes_of "$TMP/s2.err" received)" "$BULK" "... all $BULK bytes arrived"
is "$(sha_of "$TMP/s2.err" received)" "$(cut -d' ' -f1 "$TMP/k2.sha")" \
	"... the stack's SHA-256 matches sha256sum of the kernel's file"
grep -Eq "^accepted $STACK_ADDR:5002 <- $KERNEL_ADDR:[0-9]+\$" "$TMP/s2.err" &&
	in_order "$TMP/s2.err" '^eof after' '^closed \((CLOSED|TIME-WAIT)\)'
ok $? "... the kernel closed first: the stack saw EOF, then closed (--hold 20s cut short by the EOF)"
t_s2=$(secs_of "$TMP/s2.err" received)
diag "64 MiB kernel -> stack in ${t_s2} s ($(sed -n 's/^received .*(\(.*\))$/\1/p' "$TMP/s2.err"))"
if [ -n "$OFFLOAD" ]; then
	gso=$(field "$TMP/s2.err" 'stat tap_rx_gso')
	fmax=$(field "$TMP/s2.err" 'stat tap_rx_frame_max')
	[ "${gso:-0}" -gt 0 ] && [ "${fmax:-0}" -gt 1514 ]
	ok $? "... offload: the kernel sent ${gso:-0} packets larger than one segment (largest frame ${fmax:-0} bytes), partial checksums: $(field "$TMP/s2.err" 'stat tap_rx_csum_partial'), bad segments: $(field "$TMP/s2.err" 'stat tcp_bad_segments')"
fi

# ---- 2b. both ways at once on one connection: 64 MiB each way ------------
# The kernel side: socat runs a shell that sends the file and hashes what
# arrives; its stdout closes (FIN) when both are done.
ip netns exec "$NS" socat TCP-LISTEN:5008,bind="$KERNEL_ADDR",reuseaddr \
	SYSTEM:"cat '$TMP/bulk' & sha256sum >'$TMP/k2b.sha'; wait" 2>"$TMP/k2b.err" &
kpid=$!
wait_listen 5008
stack s2b --connect "$KERNEL_ADDR:5008" --send-bytes $BULK --sink
finish s2b
wait "$kpid"
kstatus=$?
rm -f "$TMP/bulk"
is "$STATUS:$kstatus" 0:0 "full duplex: 64 MiB each way at once on one connection, both sides exit 0"
[ "$STATUS" -eq 0 ] || show s2b.err
is "$(bytes_of "$TMP/s2b.err" sent):$(bytes_of "$TMP/s2b.err" received)" "$BULK:$BULK" "... $BULK bytes each way"
is "$(cut -d' ' -f1 "$TMP/k2b.sha" 2>/dev/null)" "$(sha_of "$TMP/s2b.err" sent)" "... the kernel's sha256sum matches what the stack sent"
is "$(sha_of "$TMP/s2b.err" received)" "$(cut -d' ' -f1 "$TMP/k2.sha")" "... the stack's SHA-256 matches the kernel's file"
diag "64 MiB both ways at once in $(secs_of "$TMP/s2b.err" received) s"

# ---- 3. orderly close started by the stack; the kernel sees EOF ----------
peer listen "$KERNEL_ADDR" 5003 2000 wait >"$TMP/p3.out" 2>&1 &
kpid=$!
wait_for_line "$TMP/p3.out" '^listening' 50
stack s3 --connect "$KERNEL_ADDR:5003" --send-bytes 3000 --hold 200ms --sink
finish s3
wait "$kpid"
is "$STATUS" 0 "stack closes first: kwtcp exit 0"
[ "$STATUS" -eq 0 ] || show s3.err
is "$(sed -n 's/^received //p' "$TMP/p3.out")" "3000 $(sha_of "$TMP/s3.err" sent) eof" \
	"... the kernel's recv() got the stack's 3000 bytes, then EOF (0)"
is "$(bytes_of "$TMP/s3.err" received) $(sha_of "$TMP/s3.err" received)" \
	"$(sed -n 's/^sent //p' "$TMP/p3.out")" "... and the stack got the kernel's 2000 bytes"
in_order "$TMP/s3.err" '^eof after' '^closed \(TIME-WAIT\)'
ok $? "... the stack saw the kernel's FIN after its own and ends in TIME-WAIT"

# ---- 4. orderly close started by the kernel; the stack sees EOF ----------
stack s4 --listen 5004 --send-bytes 3000 --hold 1s --sink
wait_for_line "$TMP/s4.err" '^listening' 50
peer connect "$STACK_ADDR" 5004 5000 close >"$TMP/p4.out" 2>&1
finish s4
is "$STATUS" 0 "kernel closes first (shutdown SHUT_WR): kwtcp exit 0"
[ "$STATUS" -eq 0 ] || show s4.err
is "$(bytes_of "$TMP/s4.err" received) $(sha_of "$TMP/s4.err" received)" \
	"$(sed -n 's/^sent //p' "$TMP/p4.out")" "... the stack got the kernel's 5000 bytes"
e4=$(sed -n 's/^eof after \([0-9.]*\) s$/\1/p' "$TMP/s4.err")
awk -v t="${e4:-9}" 'BEGIN { exit !(t < 0.9) }'
ok $? "... and the kernel's EOF (after ${e4:-?} s), before its own FIN (held 1 s)"
is "$(sed -n 's/^received //p' "$TMP/p4.out")" "3000 $(sha_of "$TMP/s4.err" sent) eof" \
	"... the kernel then got the stack's 3000 bytes and EOF"
like "$(cat "$TMP/s4.err")" "closed \((CLOSED|TIME-WAIT)\)" "... the stack's close completed ($(sed -n 's/^closed (\(.*\)).*/\1/p' "$TMP/s4.err"))"

# ---- 5. the stack resets; the kernel sees ECONNRESET ---------------------
peer listen "$KERNEL_ADDR" 5005 0 wait >"$TMP/p5.out" 2>&1 &
kpid=$!
wait_for_line "$TMP/p5.out" '^listening' 50
stack s5 --connect "$KERNEL_ADDR:5005" --send-bytes 1000 --hold 300ms --reset --sink
finish s5
wait "$kpid"
is "$STATUS" 0 "the stack resets (--reset): kwtcp exit 0"
[ "$STATUS" -eq 0 ] || show s5.err
grep -q '^reset sent after' "$TMP/s5.err"
ok $? "... it reports 'reset sent'"
is "$(field "$TMP/s5.err" 'stat tcp_rst_out'):$(field "$TMP/s5.err" 'stat wire_rst_out')" "1:1" \
	"... one RST counted by the TCP layer and seen on the wire"
is "$(sed -n 's/^received //p' "$TMP/p5.out")" "1000 $(sha_of "$TMP/s5.err" sent) ECONNRESET" \
	"... the kernel read the 1000 bytes, then recv() failed with ECONNRESET"
grep -q '^received' "$TMP/p5.out" || show p5.out

# ---- 6. the kernel resets; the stack sees ECONNRESET ---------------------
stack s6 --listen 5006 --send-bytes 0 --hold 30s --sink
wait_for_line "$TMP/s6.err" '^listening' 50
peer connect "$STACK_ADDR" 5006 1000 reset 0.3 >"$TMP/p6.out" 2>&1
finish s6
is "$STATUS" 3 "the kernel resets (SO_LINGER 0): kwtcp exits 3 (connection failed)"
grep -Eq '^error: recv: Connection reset by peer after [0-9.]+ s idle' "$TMP/s6.err"
ok $? \
	"... reporting 'error: recv: Connection reset by peer'"
[ "$STATUS" -eq 3 ] || show s6.err
is "$(bytes_of "$TMP/s6.err" received) $(sha_of "$TMP/s6.err" received)" \
	"$(sed -n 's/^sent //p' "$TMP/p6.out")" "... after receiving the kernel's 1000 bytes"
is "$(field "$TMP/s6.err" 'stat tcp_rst_in')" 1 "... one RST in"

# ---- 7. stdin -> connection -> stdout (the default data path) -------------
ip netns exec "$NS" socat TCP-LISTEN:5007,bind="$KERNEL_ADDR",reuseaddr EXEC:"tr a-z A-Z" &
kpid=$!
wait_listen 5007
printf 'hello, kernel\n' | ip netns exec "$NS" "$KWTCP" --tap "$TAPDEV" --attach $OFFLOAD \
	--address "$STACK_ADDR/24" --mac "$STACK_MAC" --seed $((SEED + 1)) --timeout 10 \
	--connect "$KERNEL_ADDR:5007" >"$TMP/s7.out" 2>"$TMP/s7.err"
STATUS=$?
wait "$kpid"
is "$STATUS:$(cat "$TMP/s7.out")" "0:HELLO, KERNEL" \
	"stdin to a kernel 'tr a-z A-Z' and back to stdout: exit 0, the line upper-cased"
[ "$STATUS" -eq 0 ] || show s7.err

done_testing
