#!/bin/sh
# The stack on a TAP device against the Linux kernel: `ping` to the
# stack's address is answered (also with a full-MTU packet), the kernel
# learns the stack's MAC by ARP, a ping to an address nobody owns fails.
#
# Everything happens inside a network namespace this test creates: the
# stack driver (tests/stack/kwstack) is started inside it, creates the TAP
# device there and runs the stack at 10.232.X.2/24; the kernel's end of the
# TAP is 10.232.X.1/24. Needs root, /dev/net/tun, ip and ping
# (Debian: iproute2, iputils-ping).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/onens.sh"

require_root
[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing"
require_cmd ip ping

KWSTACK="$KW_BUILDDIR/tests/stack/kwstack"
NET=$(($$ % 250 + 1))
KERNEL_ADDR="10.232.$NET.1"
STACK_ADDR="10.232.$NET.2"
NOBODY_ADDR="10.232.$NET.3"
TAPDEV=kwtap0
stack_pid=


[ -x "$KWSTACK" ] || { echo "Bail out! $KWSTACK is not built (make check builds it)"; exit 1; }
onens_setup ping
ip -n "$NS" link set lo up


# The driver must open the TAP from inside the namespace: ip netns exec
# execs it, so $! is its own pid.
ip netns exec "$NS" "$KWSTACK" --tap "$TAPDEV" --address "$STACK_ADDR/24" --seconds 60 \
	>"$TMP/stack.out" 2>"$TMP/stack.err" &
stack_pid=$!
i=0
while ! grep -q '^ready' "$TMP/stack.out" 2>/dev/null && [ $i -lt 50 ] &&
      kill -0 "$stack_pid" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
ready=$(grep '^ready' "$TMP/stack.out")
like "$ready" "^ready tap=$TAPDEV mac=([0-9a-f]{2}:){5}[0-9a-f]{2} mtu=1500\$" \
	"the stack is up on a TAP device created inside the namespace"
[ -n "$ready" ] || diag "$(cat "$TMP/stack.err")"
stack_mac=$(printf '%s\n' "$ready" | sed -n 's/.* mac=\([^ ]*\) .*/\1/p')

ip -n "$NS" addr add "$KERNEL_ADDR/24" dev "$TAPDEV" &&
	ip -n "$NS" link set "$TAPDEV" up
ok $? "the kernel's end of the TAP is $KERNEL_ADDR/24 and up"

out=$(ip netns exec "$NS" ping -n -c 3 -i 0.2 -W 1 "$STACK_ADDR" 2>&1)
ok $? "ping -c 3 $STACK_ADDR succeeds"
like "$out" "3 packets transmitted, 3 received" "all three echo requests answered"
[ $_tap_failed -eq 0 ] || diag "$out"

neigh=$(ip -n "$NS" neigh show "$STACK_ADDR" dev "$TAPDEV")
like "$neigh" "lladdr $stack_mac " "the kernel learnt the stack's MAC by ARP ($neigh)"

out=$(ip netns exec "$NS" ping -n -c 1 -W 2 -s 1472 -M do "$STACK_ADDR" 2>&1)
ok $? "a full-MTU ping (1472 bytes of data, DF) is answered"

out=$(ip netns exec "$NS" ping -n -c 2 -i 0.2 -W 1 "$NOBODY_ADDR" 2>&1)
[ $? -ne 0 ]
ok $? "ping to $NOBODY_ADDR (not the stack's) fails"
like "$out" "2 packets transmitted, 0 received" "... and nothing answers it"

kill -TERM "$stack_pid"
wait "$stack_pid"
status=$?
stack_pid=
stats=$(cat "$TMP/stack.out")
echo_in=$(printf '%s\n' "$stats" | sed -n 's/^stat icmp_echo_in //p')
echo_out=$(printf '%s\n' "$stats" | sed -n 's/^stat icmp_echo_out //p')
ip_bad=$(printf '%s\n' "$stats" | sed -n 's/^stat ip_bad //p')
is "$status:$echo_in:$echo_out:$ip_bad" "0:4:4:0" \
	"the stack exits cleanly on SIGTERM: 4 echo requests in, 4 replies out, no bad IP"
[ -s "$TMP/stack.err" ] && diag "stack stderr: $(cat "$TMP/stack.err")"

done_testing
