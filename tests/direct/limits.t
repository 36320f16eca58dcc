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

cat > "$TMP/peer.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello")
    c.close()
EOF
cat > "$TMP/limit.py" <<'EOF'
# limit.py PEER PORT LISTEN_ADDR: at the descriptor limit, connect and
# listen; prints one word per step.
import errno, resource, socket, sys
peer = (sys.argv[1], int(sys.argv[2]))
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

ip netns exec "$NS" timeout 60 python3 "$TMP/peer.py" "$KADDR" 7400 > "$TMP/peer" 2>&1 &
wait_for_line "$TMP/peer" '^listening$' 50
want=$(ip netns exec "$NS" python3 "$TMP/limit.py" "$KADDR" 7400 "$KADDR")
is "$want" "connect:hello listen:ok socket:EMFILE" "the kernel: connect and listen at the limit work, then socket() is EMFILE"
got=$(direct_exec python3 "$TMP/limit.py" "$KADDR" 7400 "$SADDR" 2>&1)
is "$got" "$want" "direct mode: the same"
done_testing
