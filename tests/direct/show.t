#!/bin/sh
# keepwire show and direct mode: the connections of keepwire's own stack,
# listed by the engine process that serves the TAP device — `keepwire show
# --engine kwt0` (every connection) and the stack section of `keepwire
# show PID` (the connections that process made), with state, addresses,
# keepalive settings, time to the next probe, RTT and cwnd. In a namespace
# with the TAP device kwt0 (kernel end 10.240.N.1, stack 10.240.N.2).
# Needs root, /dev/net/tun, ip, nc and python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dshow 240
require_cmd nc python3

ip netns exec "$NS" nc -l "$KADDR" 7300 >/dev/null &
sleep 0.3
# An unmodified client that connects and stays idle.
direct_exec KEEPWIRE_IDLE=45 KEEPWIRE_INTERVAL=5 KEEPWIRE_COUNT=4 python3 -c '
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], 7300))
os.dup2(s.fileno(), 9)
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
print("pid", os.getpid())
print("child", child)
print("fd", s.fileno())
print("connected", s.getsockname()[1], flush=True)
time.sleep(30)
' "$KADDR" > "$TMP/client.out" 2>&1 &
wait_for_line "$TMP/client.out" '^connected' 50
ok $? "a python3 client under direct mode connects to the kernel and stays idle"
port=$(sed -n 's/^connected //p' "$TMP/client.out")
pid=$(sed -n 's/^pid //p' "$TMP/client.out")
child=$(sed -n 's/^child //p' "$TMP/client.out")
fd=$(sed -n 's/^fd //p' "$TMP/client.out")

out=$(ip netns exec "$NS" "$KW_CMD" show --engine kwt0)
ok $? "keepwire show --engine kwt0 exits 0"
diag "$out"
line=$(printf '%s\n' "$out" | grep " $SADDR:$port ")
like "$line" "^ESTABLISHED +$SADDR:$port +$KADDR:7300 " "... lists the connection: ESTABLISHED, the stack's and the kernel's address"
like "$line" " 45s/5s/4 +0 +4[0-5](\.[0-9])?s " "... keepalive 45 s / 5 s / 4 from the configuration, no probe yet, the next in about 45 s"
like "$line" "[0-9.]+ms +[0-9]+ +0 +0 +$pid\$" "... RTT, cwnd, nothing unacknowledged or retransmitted, made by the client's PID"
like "$(printf '%s\n' "$out" | head -n 1)" '^STATE +LOCAL +PEER +KEEPALIVE +PROBES +NEXT +RTT +CWND +UNACK +RETRANS +PID$' \
	"... under a header"

out=$("$KW_CMD" show "$pid")
ok $? "keepwire show PID (from outside its network namespace) exits 0"
diag "$out"
like "$out" "keepwire's stack on TAP device kwt0" "... has a section for keepwire's stack"
like "$(printf '%s\n' "$out" | sed -n '/keepwire.s stack/,$p')" "ESTABLISHED +$SADDR:$port +$KADDR:7300 " \
	"... listing the client's stack connection"
like "$(printf '%s\n' "$out" | sed -n '/keepwire.s stack/,$p')" "^$fd,9 +ESTABLISHED +$SADDR:$port " \
	"... by the descriptors that hold it ($fd and its dup2 copy 9)"
out=$("$KW_CMD" show "$child")
diag "$out"
like "$(printf '%s\n' "$out" | sed -n '/keepwire.s stack/,$p')" "^$fd,9 +ESTABLISHED +$SADDR:$port .* $pid\$" \
	"keepwire show CHILD: a forked child lists the connection it inherited, by descriptor, made by its parent"

# The engine as a thread of the program: it answers listings on the
# engine's name too, and a program wanting an engine process is told why
# it cannot have one.
kill $(sed -n 's/^\(pid\|child\) //p' "$TMP/client.out") 2>/dev/null
stop_engines
ip netns exec "$NS" nc -l "$KADDR" 7301 >/dev/null &
sleep 0.3
direct_exec KEEPWIRE_ENGINE=thread KEEPWIRE_IDLE=45 python3 -c '
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], 7301))
print("pid", os.getpid())
print("fd", s.fileno())
print("connected", s.getsockname()[1], flush=True)
time.sleep(30)
' "$KADDR" > "$TMP/thread.out" 2>&1 &
wait_for_line "$TMP/thread.out" '^connected' 50
tport=$(sed -n 's/^connected //p' "$TMP/thread.out")
tpid=$(sed -n 's/^pid //p' "$TMP/thread.out")
tfd=$(sed -n 's/^fd //p' "$TMP/thread.out")
out=$("$KW_CMD" show "$tpid")
diag "$out"
like "$(printf '%s\n' "$out" | sed -n '/keepwire.s stack/,$p')" "^$tfd +ESTABLISHED +$SADDR:$tport +$KADDR:7301 " \
	"KEEPWIRE_ENGINE=thread: keepwire show PID lists the stack connection by descriptor"
out=$(ip netns exec "$NS" "$KW_CMD" show --engine kwt0)
like "$out" "ESTABLISHED +$SADDR:$tport +$KADDR:7301 " "... and keepwire show --engine lists it"
err=$(direct_exec KEEPWIRE_ENGINE=process KEEPWIRE_STRICT=0 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7301), timeout=3)
' "$KADDR" 2>&1)
like "$err" "in use by another program.s stack thread" \
	"... and a program wanting an engine process is told the device is another program's"
kill "$tpid" 2>/dev/null

err=$(ip netns exec "$NS" "$KW_CMD" show --engine nosuch 2>&1)
status=$?
is "$status" 1 "keepwire show --engine for a device no engine serves: status 1"
like "$err" "no engine process serves TAP device nosuch" "... and says so"
done_testing
