#!/bin/sh
# How a program's stack connections end when the program closes them, exits
# or is killed, as the kernel ends a dead process's sockets (issue 9, item
# 3): bytes received but never read mean a reset (Linux tcp_close:
# "data was unread" -> RST), and the peer learns it at once; otherwise the
# program's unsent data is delivered and a FIN follows. The program is
# python3 under keepwire direct mode; the peer is python3 on the kernel at
# the TAP device's end. close() under both engine placements; the kills
# with the engine as a process (a thread engine dies with its program).
# Needs root, /dev/net/tun, ip, python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dlife 229
require_cmd python3

cat > "$TMP/peer.py" <<'EOF'
# peer.py ADDR PORT MODE: MODE send (100 KB to the client, then read) or
# recv (read only). Prints "listening", then at the end "eof N T" or
# "reset N T" (bytes read, wall time of the end).
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
if sys.argv[3] == "send":
    c.sendall(b"u" * 100000)
n = 0
try:
    while True:
        b = c.recv(65536)
        if not b:
            print("eof %d %.3f" % (n, time.time()), flush=True)
            break
        n += len(b)
except ConnectionResetError:
    print("reset %d %.3f" % (n, time.time()), flush=True)
EOF
cat > "$TMP/prog.py" <<'EOF'
# prog.py ADDR PORT MODE: close (wait for the peer's bytes, close unread,
# live on), hold (connected, never reads, waits to be killed), write
# (writes 300 KB to a peer that reads, waits to be killed).
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
if sys.argv[3] == "close":
    time.sleep(0.5)
    print("closing %.3f" % time.time(), flush=True)
    c.close()
    time.sleep(3)
elif sys.argv[3] == "write":
    c.sendall(b"w" * 300000)
    print("written", flush=True)
    time.sleep(600)
else:
    time.sleep(0.5)
    print("holding", flush=True)
    time.sleep(600)
EOF

peer() {
	ip netns exec "$NS" timeout 30 python3 "$TMP/peer.py" "$KADDR" "$1" "$2" > "$TMP/peer.$1" 2>&1 &
	wait_for_line "$TMP/peer.$1" '^listening$' 50 || diag "peer on port $1 did not start"
}
# elapsed FILE FROM: seconds between FROM and the time on FILE's last line.
elapsed() { awk -v t0="$2" 'END { printf "%.3f", $NF - t0 }' "$1"; }
fast() { awk -v s="$1" 'BEGIN { exit !(s ~ /^[0-9.]+$/ && s >= 0 && s < 1.0) }'; }


port=7300
for engine in ${KW_T_ENGINES:-process thread}; do
	stop_engines
	run() { direct_exec KEEPWIRE_ENGINE=$engine "$@"; }

	# 1. close() with the peer's 100 KB unread: RST at once.
	port=$((port + 1))
	peer $port send
	run python3 "$TMP/prog.py" "$KADDR" $port close > "$TMP/prog.$port" 2>&1 &
	wait_for_line "$TMP/peer.$port" '^\(eof\|reset\) ' 50
	line=$(tail -n 1 "$TMP/peer.$port")
	like "$line" '^reset 0 ' "$engine: close() with received data unread: the peer gets ECONNRESET" ||
		diag "program: $(cat "$TMP/prog.$port")"
	t=$(elapsed "$TMP/peer.$port" "$(awk '/^closing/ { print $2 }' "$TMP/prog.$port")")
	diag "$t s after close()"
	ok "$(fast "$t" && echo 0 || echo 1)" "... at once (well under a second)"
	wait
	# A killed program takes a thread engine with it (README, "Limits of
	# direct mode"): the kill cases are the process placement's.
	[ "$engine" = thread ] && continue

	# 2. SIGKILL with received data unread: RST at once.
	port=$((port + 1))
	peer $port send
	run timeout 60 python3 "$TMP/prog.py" "$KADDR" $port hold > "$TMP/prog.$port" 2>&1 &
	wait_for_line "$TMP/prog.$port" '^holding$' 50
	pid=$(ip netns pids "$NS" | while read -r p; do
		tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "prog.py $KADDR $port hold" && echo "$p"; done)
	t0=$(date +%s.%N)
	kill -KILL $pid
	wait_for_line "$TMP/peer.$port" '^\(eof\|reset\) ' 50
	line=$(tail -n 1 "$TMP/peer.$port")
	like "$line" '^reset 0 ' "$engine: SIGKILL with received data unread: the peer gets ECONNRESET"
	t=$(elapsed "$TMP/peer.$port" "$t0")
	diag "$t s after the kill"
	ok "$(fast "$t" && echo 0 || echo 1)" "... at once (well under a second)"
	wait

	# 3. SIGKILL with nothing unread: everything written arrives, then EOF.
	port=$((port + 1))
	peer $port recv
	run timeout 60 python3 "$TMP/prog.py" "$KADDR" $port write > "$TMP/prog.$port" 2>&1 &
	wait_for_line "$TMP/prog.$port" '^written$' 50
	pid=$(ip netns pids "$NS" | while read -r p; do
		tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "prog.py $KADDR $port write" && echo "$p"; done)
	kill -KILL $pid
	wait_for_line "$TMP/peer.$port" '^\(eof\|reset\) ' 50
	like "$(tail -n 1 "$TMP/peer.$port")" '^eof 300000 ' \
		"$engine: SIGKILL with nothing unread: all 300,000 bytes, then EOF (FIN)"
	wait
done
done_testing
