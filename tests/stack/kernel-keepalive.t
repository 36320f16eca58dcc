#!/bin/sh
# Keepalive between keepwire's stack and the Linux kernel, over TAP:
#  1. the kernel probes (socat keepalive,keepidle=1,keepintvl=1,keepcnt=3)
#     an idle connection to a stack listener; the stack answers every
#     probe, so the connection is alive after 10 s (unanswered, the kernel
#     would have given up after 1 + 3 x 1 = 4 s);
#  2. the stack probes (--keepalive 1,1,3) an idle connection to a kernel
#     listener; the kernel answers, the connection is alive after 10 s;
#  3. nftables in the namespace drops everything: the stack sends its 3
#     probes, aborts at idle + count x interval = 4 s after the last
#     segment it received, sends an RST (counted by an nft counter in the
#     kernel's input chain, ahead of the drop) and reports ETIMEDOUT.
#  4. the kernel forgets the connection silently: the stack's next probe
#     draws an RST and the stack reports ECONNRESET.
# 1 and 2 run at the same time on two TAP devices (kwtap0, kwtap1), so the
# whole file takes about 10 + 5 s.
#
# Everything happens inside one network namespace this test creates, as in
# kernel-tcp.t: persistent TAP devices whose kernel ends are
# 10.235.X.1/24 and 10.236.X.1/24, the stack (tests/stack/kwtcp) attaching
# as .2 with a fixed MAC. Needs root, /dev/net/tun, ip, socat, nft.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/onens.sh"

require_root
[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing"
require_cmd ip socat nft awk

KWTCP="$KW_BUILDDIR/tests/stack/kwtcp"
NET=$(($$ % 250 + 1))
K0="10.235.$NET.1"
S0="10.235.$NET.2"
K1="10.236.$NET.1"
S1="10.236.$NET.2"


[ -x "$KWTCP" ] || { echo "Bail out! $KWTCP is not built (make check builds it)"; exit 1; }
onens_setup kka
{
	ip -n "$NS" link set lo up &&
	onens_add_tap kwtap0 "$K0/24" &&
	onens_add_tap kwtap1 "$K1/24"
} 2>"$TMP/setup.err"
ok $? "namespace $NS: kwtap0 (kernel $K0) and kwtap1 (kernel $K1)"
[ -s "$TMP/setup.err" ] && diag "$(cat "$TMP/setup.err")"

field() { sed -n "s/^$2 //p" "$1" | head -n 1; }
sha_of() { sed -n "s/^$2 [0-9]* bytes sha256 \([0-9a-f]*\) .*/\1/p" "$1"; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
show() { diag "--- $1:" "$(grep -v '^stat tcp_\(segs\|bad\|fast\)' "$TMP/$1")"; }

SEED=$$
# stack NAME TAP ADDR ARGS...: kwtcp in the background; reports in
# $TMP/NAME.err; sets STACK_PID.
stack() {
	_name=$1
	_tap=$2
	_addr=$3
	shift 3
	SEED=$((SEED + 1))
	ip netns exec "$NS" "$KWTCP" --tap "$_tap" --attach --address "$_addr/24" \
		--mac "02:6b:77:00:00:0$MAC_LAST" --seed "$SEED" --timeout 25 "$@" \
		>/dev/null 2>"$TMP/$_name.err" </dev/null &
	STACK_PID=$!
}

# ---- 1 and 2, at the same time -------------------------------------------
# 1: the stack listens on kwtap0 and sends 1000 bytes, then holds the
#    connection idle for 10 s; socat on the kernel side connects with
#    keepalive 1/1/3 and receives.
MAC_LAST=2
stack ka1 kwtap0 "$S0" --listen 6001 --send-bytes 1000 --hold 10s --sink
pid1=$STACK_PID
# 2: the stack connects from kwtap1 with keepalive 1/1/3 and holds the
#    idle connection for 10 s; socat listens on the kernel side.
MAC_LAST=3
ip netns exec "$NS" sh -c "socat -u TCP-LISTEN:6002,bind=$K1,reuseaddr STDOUT >'$TMP/k2.data' 2>'$TMP/k2.err';
	echo \$? >'$TMP/k2.status'" &
kpid2=$!
wait_for_line "$TMP/ka1.err" '^listening' 50
sleep 0.2		# socat's listener (no way to see it from here but ss)
stack ka2 kwtap1 "$S1" --connect "$K1:6002" --keepalive 1,1,3 --send-bytes 0 --hold 10s --sink
pid2=$STACK_PID
ip netns exec "$NS" sh -c "socat -u TCP:$S0:6001,keepalive,keepidle=1,keepintvl=1,keepcnt=3 STDOUT \
	>'$TMP/k1.data' 2>'$TMP/k1.err'; echo \$? >'$TMP/k1.status'" &
kpid1=$!

wait "$pid1"
st1=$?
wait "$kpid1"
wait "$pid2"
st2=$?
wait "$kpid2"

# -- 1: the kernel's probes --
is "$st1" 0 "kernel probes (socat keepidle=1,keepintvl=1,keepcnt=3): the stack's connection ends normally (exit 0)"
[ "$st1" -eq 0 ] || show ka1.err
is "$(cat "$TMP/k1.status")" 0 "... the kernel's socat exits 0: its keepalive never gave up (it would after 4 s unanswered)"
[ -s "$TMP/k1.err" ] && diag "socat: $(cat "$TMP/k1.err")"
t1=$(sed -n 's/^closed ([A-Z-]*) after \([0-9.]*\) s$/\1/p' "$TMP/ka1.err")
between "$t1" 10 12
ok $? "... the connection lived ${t1:-?} s (10 s idle hold, then close)"
is "$(wc -c <"$TMP/k1.data" | tr -d ' ')" 1000 "... and the 1000 bytes sent before the idle period arrived"
probes_in=$(field "$TMP/ka1.err" 'stat wire_probes_in')
between "${probes_in:-0}" 8 11
ok $? "... the stack received ${probes_in:-?} keepalive probes from the kernel in 10 s (8-11 accepted: one about every second after 1 s idle)"
is "$(field "$TMP/ka1.err" 'stat tcp_rst_out'):$(field "$TMP/ka1.err" 'stat tcp_rst_in')" 0:0 "... no RST either way"

# -- 2: the stack's probes --
is "$st2" 0 "stack probes (--keepalive 1,1,3): the connection ends normally after its 10 s hold (exit 0)"
[ "$st2" -eq 0 ] || show ka2.err
t2=$(sed -n 's/^closed ([A-Z-]*) after \([0-9.]*\) s$/\1/p' "$TMP/ka2.err")
between "$t2" 10 12
ok $? "... the connection lived ${t2:-?} s"
probes=$(field "$TMP/ka2.err" 'stat tcp_keepalive_probes')
between "${probes:-0}" 9 10
ok $? "... the stack sent ${probes:-?} probes (one each second from 1 s idle: 9 or 10 in 10 s)"
is "$(field "$TMP/ka2.err" 'stat wire_probes_out')" "$probes" "... each one seen on the wire as a probe (ACK, no data, SEG.SEQ = SND.NXT - 1)"
is "$(field "$TMP/ka2.err" 'stat tcp_keepalive_aborts')" 0 "... every one answered by the kernel: no abort"
is "$(cat "$TMP/k2.status")" 0 "... the kernel's socat saw the stack's EOF and exited 0"
[ -s "$TMP/k2.err" ] && diag "socat: $(cat "$TMP/k2.err")"

# ---- 3. nftables drops everything: the stack's keepalive gives up ---------
# Timing: the keepalive module aborts at exactly R + idle + count x
# interval = R + 4.000 s, R being the time the stack received its last
# segment (the kernel's SYN-ACK or an answer to a probe; nothing arrives
# after the drop). kwtcp stamps R when it reads that frame from the TAP and
# reports the time since then when it sees the error, right after the
# loop woke up for the abort deadline (ppoll with a nanosecond timeout, ms
# resolution in the configuration). So the reported idle time is 4.000 s
# plus the wake-up latency: the window [3.990, 4.250] allows 10 ms for the
# stamp (taken microseconds after the stack's own clock reading) and 250
# ms of scheduling delay on a loaded machine, and still tells count 3
# (4 s) from 2 (3 s) or 4 (5 s), and ms resolution from whole seconds.
# Seen from the test, the error comes 4 s after R minus the time from R to
# the drop (under 1 s: the drop follows the handshake at once, before
# the first probe), i.e. 3 to 4.25 s after the drop plus polling: 2.9-4.6 s.
MAC_LAST=2
ip netns exec "$NS" sh -c "socat -u TCP-LISTEN:6003,bind=$K0,reuseaddr STDOUT >/dev/null 2>&1" &
sleep 0.3
stack dead kwtap0 "$S0" --connect "$K0:6003" --keepalive 1,1,3 --send-bytes 0 --hold 30s --sink
pid3=$STACK_PID
wait_for_line "$TMP/dead.err" '^(connected|error)' 50
ip netns exec "$NS" nft -f - <<EOF
table inet kw_dead {
	counter stack_tcp { }
	counter stack_rst { }
	chain input {
		type filter hook input priority -300; policy drop;
		iifname "kwtap0" meta l4proto tcp counter name "stack_tcp"
		iifname "kwtap0" tcp flags & rst == rst counter name "stack_rst"
	}
	chain output { type filter hook output priority -300; policy drop; }
}
EOF
ok $? "nftables in the namespace drops every packet in and out (counting the stack's TCP segments first)"
t_drop=$(now)
grep -q '^connected' "$TMP/dead.err"
ok $? "... dropped right after the stack connected"
i=0
while kill -0 "$pid3" 2>/dev/null && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
t_exit=$(now)
wait "$pid3"
st3=$?
is "$st3" 3 "the stack gives up on the dead connection: kwtcp exits 3"
line=$(grep '^error: ' "$TMP/dead.err")
like "$line" "^error: recv: Connection timed out after [0-9.]+ s idle" "... reporting ETIMEDOUT: $line"
idle=$(printf '%s\n' "$line" | sed -n 's/.* after \([0-9.]*\) s idle.*/\1/p')
between "$idle" 3.990 4.250
ok $? "... ${idle:-?} s after the last segment it received (idle 1 + 3 x interval 1 = 4 s; 3.990-4.250 accepted)"
wall=$(elapsed "$t_drop" "$t_exit")
between "$wall" 2.9 4.6
ok $? "... ${wall} s after the drop (2.9-4.6 accepted)"
is "$(field "$TMP/dead.err" 'stat tcp_keepalive_aborts'):$(field "$TMP/dead.err" 'stat tcp_rst_out'):$(field "$TMP/dead.err" 'stat wire_rst_out')" \
	1:1:1 "... one keepalive abort, one RST sent (TCP layer and wire)"
probes=$(field "$TMP/dead.err" 'stat tcp_keepalive_probes')
is "$probes" 3 "... after exactly 3 probes"
[ "$st3" -eq 3 ] || show dead.err
counters=$(ip netns exec "$NS" nft list counters table inet kw_dead 2>&1)
n_tcp=$(printf '%s\n' "$counters" | awk '/counter stack_tcp/ { f = 1 } f && /packets/ { print $2; exit }')
n_rst=$(printf '%s\n' "$counters" | awk '/counter stack_rst/ { f = 1 } f && /packets/ { print $2; exit }')
is "${n_rst:-?}" 1 "the kernel's nft counter saw the stack's RST arrive on kwtap0"
is "${n_tcp:-?}" 4 "... and 4 TCP segments from the stack after the drop: 3 probes and the RST"
[ "${n_tcp:-0}" -eq 4 ] || diag "$counters"

# ---- 4. a probe answered by an RST: ECONNRESET ----------------------------
# The kernel forgets the connection without telling the stack (ss -K while
# nftables drops outgoing RSTs); the stack's first probe, 1 s after the
# handshake, then draws an RST, which ends the connection with ECONNRESET
# (DESIGN 4.2), not a timeout.
ip netns exec "$NS" nft delete table inet kw_dead
ip netns exec "$NS" sh -c "socat -u TCP-LISTEN:6004,bind=$K0,reuseaddr STDOUT >/dev/null 2>&1" &
sleep 0.3
MAC_LAST=2
stack rst kwtap0 "$S0" --connect "$K0:6004" --keepalive 1,1,3 --send-bytes 0 --hold 30s --sink
pid4=$STACK_PID
wait_for_line "$TMP/rst.err" '^(connected|error)' 50
ip netns exec "$NS" nft -f - <<EOF
table inet kw_mute {
	chain output { type filter hook output priority -300; tcp flags & rst == rst drop; }
}
EOF
ip netns exec "$NS" ss -K -tn dst "$S0" >/dev/null 2>&1
ip netns exec "$NS" nft delete table inet kw_mute
if [ -n "$(ip netns exec "$NS" ss -Htn dst "$S0")" ]; then
	kill "$pid4"
	wait "$pid4"
	for i in 1 2 3 4; do
		skip "ss -K cannot destroy sockets here (kernel without CONFIG_INET_DIAG_DESTROY)"
	done
else
	ok 0 "the kernel drops its end of the connection silently (ss -K, its RST dropped)"
	wait "$pid4"
	st4=$?
	is "$st4" 3 "the stack's next probe draws an RST: kwtcp exits 3"
	line=$(grep '^error: ' "$TMP/rst.err")
	like "$line" "^error: recv: Connection reset by peer after [0-9.]+ s idle \\(1\\.[0-9]{3} s after connect\\)" \
		"... ECONNRESET when the first probe is answered, 1 s after connect: $line"
	is "$(field "$TMP/rst.err" 'stat tcp_keepalive_probes'):$(field "$TMP/rst.err" 'stat tcp_rst_in'):$(field "$TMP/rst.err" 'stat tcp_keepalive_aborts')" \
		1:1:0 "... one probe, one RST in, no keepalive abort"
fi

done_testing
