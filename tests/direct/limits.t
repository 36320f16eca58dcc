#!/bin/sh
# Descriptor limits in direct mode (issue 9, item 4): the kernel needs no
# descriptor for connect() or listen(), so a program whose socket took the
# last descriptor RLIMIT_NOFILE allows still connects and listens; direct
# mode must not fail there with EMFILE (its socketpair's descriptors are
# only transient). Once past the limit, socket() itself fails with EMFILE
# as on the kernel. The same python program runs on the kernel (no
# keepwire) and in direct mode. Needs root, /dev/net/tun, ip, python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dlim 226
require_cmd python3

cat > "$TMP/limit.py" <<'EOF'
# limit.py PEER PORT LISTEN_ADDR [cold]: at the descriptor limit, connect
# and listen; prints one word per step. Cold: no connection before.
import errno, resource, socket, sys
peer = (sys.argv[1], int(sys.argv[2]))
if sys.argv[4:] != ["cold"]:
    warm = socket.create_connection(peer)   # attach to the engine first
    warm.recv(5)
    warm.close()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
out = []
s = socket.socket()
resource.setrlimit(resource.RLIMIT_NOFILE, (s.fileno() + 1, hard))
try:
    s.connect(peer)
    out.append("connect:" + s.recv(5).decode())
except OSError as e:
    out.append("connect:" + errno.errorcode.get(e.errno, str(e.errno)))
s.close()
l = socket.socket()
try:
    l.bind((sys.argv[3], 0))
    l.listen(4)
    out.append("listen:ok")
except OSError as e:
    out.append("listen:" + errno.errorcode.get(e.errno, str(e.errno)))
try:
    socket.socket()
    out.append("socket:ok")
except OSError as e:
    out.append("socket:" + errno.errorcode.get(e.errno, str(e.errno)))
print(" ".join(out))
EOF

hello_peer 7400
want=$(ip netns exec "$NS" python3 "$TMP/limit.py" "$KADDR" 7400 "$KADDR")
is "$want" "connect:hello listen:ok socket:EMFILE" "the kernel: connect and listen at the limit work, then socket() is EMFILE"
got=$(direct_exec python3 "$TMP/limit.py" "$KADDR" 7400 "$SADDR" 2>&1)
is "$got" "$want" "direct mode: the same"
# The first socket of the program at the limit: it starts the engine and
# maps its shared region there (the connection to the engine, the
# region's descriptor and the start-up pipe are transient too).
stop_engines
got=$(direct_exec python3 "$TMP/limit.py" "$KADDR" 7400 "$SADDR" cold 2>&1)
is "$got" "$want" "direct mode, the engine started and greeted at the limit: the same"

# The engine's own descriptors run out: an engine process limited to 32
# cannot take the end of a 30th connection. The request must be answered
# (EMFILE), never dropped: before, connect() waited forever. The engine
# started on demand above is stopped first, so the limited one serves.
cat > "$TMP/many.py" <<'EOF2'
# many.py PEER PORT N: N connections kept open; prints "ok K" (each read
# its hello) and the errno names of the failures, the outcome of one more
# while an idle connection to the engine holds its last descriptor, then
# whether a connection still works after half of them are closed.
import errno, os, socket, sys, time
peer = (sys.argv[1], int(sys.argv[2]))
held, errs = [], {}
for _ in range(int(sys.argv[3])):
    s = socket.socket()
    try:
        s.connect(peer)
        if s.recv(5) == b"hello":
            held.append(s)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        errs[name] = errs.get(name, 0) + 1
        s.close()
# Another connection to the engine's socket, idle, takes the engine's
# last descriptor: the next request must still be answered.
raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
raw.connect("\0keepwire/%d/kwt0" % os.stat("/proc/self/ns/net").st_ino)
time.sleep(0.3)
s = socket.socket()
try:
    s.connect(peer)
    last = "connected"
except OSError as e:
    last = errno.errorcode.get(e.errno, str(e.errno))
s.close()
raw.close()
for s in held[: len(held) // 2]:
    s.close()
# The engine learns of those closes asynchronously: until it has, it may
# still be out of descriptors.
for _ in range(100):
    try:
        again = socket.create_connection(peer)
        break
    except OSError as e:
        if e.errno != errno.EMFILE:
            raise
        time.sleep(0.05)
print("ok", len(held), " ".join("%s:%d" % kv for kv in sorted(errs.items())),
      "last:" + last, "again:" + again.recv(5).decode())
EOF2
stop_engines
ip netns exec "$NS" sh -c "ulimit -n 32 && exec \"\$0\" engine --tap kwt0 --address $SADDR/24" \
	"$KW_CMD" 2> "$TMP/engine.err" &
engine=$!
wait_for_line "$TMP/engine.err" 'serving TAP device' 50
got=$(direct_exec KEEPWIRE_ENGINE=process timeout 30 python3 "$TMP/many.py" "$KADDR" 7400 40 2>&1)
st=$?
kill -TERM "$engine" 2>/dev/null
wait "$engine"
is "$st" 0 "an engine out of descriptors: the program is answered, no connect() waits forever" ||
	diag "program: $got" "engine: $(cat "$TMP/engine.err")"
like "$got" '^ok [1-9][0-9]* EMFILE:[1-9][0-9]* last:EMFILE again:hello$' \
	"... the connections it could not take fail with EMFILE (also with the engine's last descriptor taken by an idle connection to it), the others carry data, and it recovers"
done_testing
