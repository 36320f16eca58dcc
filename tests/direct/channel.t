#!/bin/sh
# The engine process's requests (issue 9, item 4; docs/direct-engine.md):
# a program connects to the engine for each request and closes the
# connection once it has the answer, so between requests it holds no
# descriptor of keepwire's. What that must not break:
#  - an idle on-demand engine exits even while a program that used it
#    lives on; that program's next socket starts and greets a new engine
#    (its shared region is mapped again) and works;
#  - a socket that is only bound keeps its port on the stack while any
#    process holds it (a forked child too), and the port is free again
#    once the last holder is killed, as the kernel frees a dead process's
#    bound sockets (the engine looks once a second);
#  - a forked child that changed its uid (a daemon's worker) still makes
#    requests: it cannot greet the engine as another user, but it has the
#    region and its key;
#  - a child forked while another thread waits for an answer does not
#    keep a copy of that request's connection;
#  - a new engine's SYN on a 4-tuple the kernel holds in TIME-WAIT is
#    taken at once (timestamps keep growing from engine to engine).
# Needs root, /dev/net/tun, ip, python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dchan 230
require_cmd python3

cat > "$TMP/again.py" <<'EOF'
# again.py PEER PORT GO: a connection, then another once GO exists.
import os, socket, sys, time
peer = (sys.argv[1], int(sys.argv[2]))
def hello(tag):
    s = socket.create_connection(peer)
    print(tag + ":" + s.recv(5).decode(), flush=True)
    s.close()
hello("first")
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
hello("second")
EOF

cat > "$TMP/hold.py" <<'EOF'
# hold.py ADDR PORT [fork]: bind (no listen) and hold the socket; with
# fork, a child holds it too. Prints "bound CHILD" (0: no child).
import os, socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
child = 0
if len(sys.argv) > 3:
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
print("bound %d" % child, flush=True)
time.sleep(60)
EOF

cat > "$TMP/try.py" <<'EOF'
# try.py ADDR PORT TENTHS: bind, again every 0.1 s until it works or
# TENTHS attempts failed; prints ok or the last errno's name.
import errno, socket, sys, time
for i in range(int(sys.argv[3])):
    s = socket.socket()
    try:
        s.bind((sys.argv[1], int(sys.argv[2])))
        print("ok")
        break
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    time.sleep(0.1)
else:
    print(err)
EOF

# 1. The engine goes when idle; the program's next socket gets a new one.
hello_peer 7400
direct_exec KEEPWIRE_ENGINE=process timeout 60 python3 "$TMP/again.py" "$KADDR" 7400 "$TMP/go" \
	> "$TMP/again.out" 2>&1 &
app=$!
wait_for_line "$TMP/again.out" '^first:hello$' 100
ok $? "a program's first connection over an engine process it started"
first=$(engine_pids)
wait_engines 0 150
ok $? "the idle engine exits while the program lives (the program holds no connection to it)"
touch "$TMP/go"
wait_for_line "$TMP/again.out" '^second:hello$' 100
ok $? "... the program's next connection starts and uses a new engine" ||
	diag "$(cat "$TMP/again.out")"
second=$(engine_pids)
ok "$([ -n "$second" ] && [ "$second" != "$first" ] && echo 0 || echo 1)" \
	"... which is another process (engine $first, then $second)"
wait "$app"
stop_engines

# 2. A daemon's worker after it dropped privileges: it cannot greet the
# engine (another user), but it inherited the region, and its requests
# carry the region's key.
cat > "$TMP/drop.py" <<'EOF'
# drop.py PEER PORT STACK: connect as root, then fork a child that becomes
# nobody and connects again; prints what the child got, and whether its
# connection is on the stack's address.
import errno, os, socket, sys
peer = (sys.argv[1], int(sys.argv[2]))
s = socket.create_connection(peer)
s.recv(5)
s.close()
pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    try:
        c = socket.create_connection(peer)
        where = "stack" if c.getsockname()[0] == sys.argv[3] else "kernel"
        print("child:%s:%s" % (c.recv(5).decode(), where), flush=True)
    except OSError as e:
        print("child:" + errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
EOF
is "$(direct_exec KEEPWIRE_ENGINE=process timeout 60 python3 "$TMP/drop.py" "$KADDR" 7400 "$SADDR" 2>&1)" \
	"child:hello:stack" "a child that became another user still connects over the stack"
stop_engines

# 3. A bound-only socket: held while any process holds it.
direct_exec KEEPWIRE_ENGINE=process timeout 60 python3 "$TMP/hold.py" "$SADDR" 7501 \
	> "$TMP/hold1.out" 2>&1 &
holder=$!
wait_for_line "$TMP/hold1.out" '^bound 0$' 100
ok $? "a program binds $SADDR:7501 on the stack and holds the socket"
is "$(direct_exec python3 "$TMP/try.py" "$SADDR" 7501 1)" EADDRINUSE \
	"... another program's bind of the port: EADDRINUSE"
# The python under ip netns exec and timeout: kill the whole line.
pkill -KILL -f "hold.py $SADDR 7501" ; wait "$holder" 2>/dev/null
is "$(direct_exec python3 "$TMP/try.py" "$SADDR" 7501 50)" ok \
	"... once the holder is killed (no close), the port is free again"

direct_exec KEEPWIRE_ENGINE=process timeout 60 python3 "$TMP/hold.py" "$SADDR" 7502 fork \
	> "$TMP/hold2.out" 2>&1 &
holder=$!
wait_for_line "$TMP/hold2.out" '^bound [1-9]' 100
ok $? "a program binds $SADDR:7502 and forks a child that holds it too"
child=$(sed -n 's/^bound //p' "$TMP/hold2.out")
parent=$(ps -o ppid= -p "$child" | tr -d ' ')
kill -KILL "$parent"
sleep 2.5
is "$(direct_exec python3 "$TMP/try.py" "$SADDR" 7502 1)" EADDRINUSE \
	"... the parent killed: the child still holds the port (2.5 s later)"
kill -KILL "$child"
wait "$holder" 2>/dev/null
is "$(direct_exec python3 "$TMP/try.py" "$SADDR" 7502 50)" ok \
	"... the child killed too: the port is free again"
stop_engines

# 4. fork() while another thread waits
# for the engine's answer (a lingering close, up to 3 s, to a peer that
# reads nothing): the child has no copy of that request's connection, as
# it has nothing of the kind on the kernel.
ip netns exec "$NS" timeout 60 python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7420))
s.listen(4)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)             # never read
' "$KADDR" > "$TMP/sink.log" 2>&1 &
wait_for_line "$TMP/sink.log" '^listening$' 50
cat > "$TMP/forkwait.py" <<'EOF'
# forkwait.py PEER PORT: prints the child's descriptor count.
import os, socket, struct, sys, threading, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
c.setblocking(False)
# Until the peer's window is shut: no progress for 0.3 s.
n, idle = 0, 0
while idle < 30:
    try:
        n += c.send(b"x" * 65536)
        idle = 0
    except BlockingIOError:
        idle += 1
        time.sleep(0.01)
c.setblocking(True)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 3))
t = threading.Thread(target=c.close)
t.start()
time.sleep(1)
pid = os.fork()
if pid == 0:
    print("child-fds:%d" % len(os.listdir("/proc/self/fd")), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
t.join()
EOF
want=$(ip netns exec "$NS" timeout 30 python3 "$TMP/forkwait.py" "$KADDR" 7420 2>&1)
got=$(direct_exec KEEPWIRE_ENGINE=process timeout 30 python3 "$TMP/forkwait.py" "$KADDR" 7420 2>&1)
like "$want" '^child-fds:[0-9]+$' "the kernel: a child forked during a lingering close"
is "$got" "$want" "... the same descriptors in direct mode (not the request's connection)"
stop_engines

# 5. Each program below gets an engine of its own and connects from the
# same port to a kernel server that closes first, so the kernel holds the
# previous connection's 4-tuple in TIME-WAIT. It takes the new SYN only if
# its timestamp is newer: the engines' timestamps must keep growing from
# one engine to the next (before, a new engine's were random, and half of
# such connects lost their first SYN and waited a second). Counted: the
# SYNs the server's side of the namespace received.
if command -v nft >/dev/null 2>&1; then
	ip netns exec "$NS" nft -f - <<EOF
table inet kwsyn {
	chain in { type filter hook input priority 0; tcp dport 7410 tcp flags & (syn | ack) == syn counter; }
}
EOF
	hello_peer 7410         # greets, then closes first: TIME-WAIT on its side
	n=0
	for i in 1 2 3 4 5 6; do
		got=$(direct_exec KEEPWIRE_ENGINE=process timeout 20 python3 -c '
import socket, sys
s = socket.socket()
s.bind((sys.argv[2], 40123))
s.connect((sys.argv[1], 7410))
print(s.recv(5).decode())
' "$KADDR" "$SADDR" 2>&1)
		[ "$got" = hello ] && n=$((n + 1))
		stop_engines
	done
	is "$n" 6 "six engines in turn connect from $SADDR:40123 to a server that closed first"
	syns=$(ip netns exec "$NS" nft list table inet kwsyn | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	is "$syns" 6 "... each with one SYN: the kernel's TIME-WAIT took every new one"
else
	skip "nft is missing (apt-get install nftables)"
	skip "nft is missing"
fi
done_testing
