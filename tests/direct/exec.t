#!/bin/sh
# An exec'd image re-attaches the stack sockets it inherited (issue 9,
# item 2; KEEPWIRE_ENGINE=process): a python program under keepwire
# direct mode connects (and listens), makes the descriptors inheritable
# and exec's a new python image, which must see them as the TCP sockets
# they are — getpeername/getsockname, SO_DOMAIN/SO_TYPE, the keepalive
# options set before the exec, SO_ERROR, shutdown(SHUT_WR) reaching the
# peer as a FIN, accept() on an inherited listener naming the peer — not
# as the AF_UNIX socketpair ends they are underneath (as inetd's children
# and sshd's re-exec need). Needs root, /dev/net/tun, ip, python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dexec 224
require_cmd python3

cat > "$TMP/peer.py" <<'EOF'
# Accepts one connection, reads to EOF, prints what it got, answers "bye".
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, a = s.accept()
got = b""
while True:
    b = c.recv(100)
    if not b:
        break
    got += b
print("got %s then EOF" % got.decode(), flush=True)
c.sendall(b"bye")
c.close()
EOF
cat > "$TMP/parent.py" <<'EOF'
# parent.py PEER PORT STACK: connect, set keepalive, listen, exec child.py.
import os, socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
l = socket.socket()
l.bind((sys.argv[3], 7502))
l.listen(4)
os.set_inheritable(c.fileno(), True)
os.set_inheritable(l.fileno(), True)
os.execv(sys.executable, [sys.executable, os.path.join(os.path.dirname(sys.argv[0]), "child.py"),
                          str(c.fileno()), str(l.fileno())])
EOF
cat > "$TMP/child.py" <<'EOF'
# child.py CFD LFD: the inherited connection and listener, after exec.
import socket, sys
c = socket.socket(fileno=int(sys.argv[1]))
print("family", c.family.name, "type", c.type.name, flush=True)
print("peer %s:%d" % c.getpeername(), flush=True)
print("local %s:%d" % c.getsockname(), flush=True)
print("keepalive", c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0,
      "idle", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), flush=True)
print("so_error", c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
c.sendall(b"hi")
c.shutdown(socket.SHUT_WR)
print("reply", c.recv(10).decode(), flush=True)
c.close()
l = socket.socket(fileno=int(sys.argv[2]))
print("listener %s:%d" % l.getsockname(), flush=True)
n, a = l.accept()
print("accepted from %s" % a[0], flush=True)
n.close()
EOF

ip netns exec "$NS" timeout 60 python3 "$TMP/peer.py" "$KADDR" 7501 > "$TMP/peer" 2>&1 &
wait_for_line "$TMP/peer" '^listening$' 50
direct_exec timeout 60 python3 "$TMP/parent.py" "$KADDR" 7501 "$SADDR" > "$TMP/child" 2>&1 &
wait_for_line "$TMP/child" '^listener ' 100
ip netns exec "$NS" python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], 7502)).close()' "$SADDR"
wait_for_line "$TMP/child" '^accepted ' 100
diag "$(cat "$TMP/child")"
out=$(cat "$TMP/child")
like "$out" 'family AF_INET type SOCK_STREAM' "after exec: the inherited stack socket is AF_INET, SOCK_STREAM"
like "$out" "peer $KADDR:7501" "... getpeername names the peer"
like "$out" "local $SADDR:[0-9]+" "... getsockname names the stack's address"
like "$out" 'keepalive True idle 77' "... SO_KEEPALIVE and TCP_KEEPIDLE as set before the exec"
like "$out" 'so_error 0' "... SO_ERROR 0"
like "$(cat "$TMP/peer")" 'got hi then EOF' "... its write arrives and shutdown(SHUT_WR) reaches the peer as a FIN"
like "$out" 'reply bye' "... and the peer's answer is read"
like "$out" "listener $SADDR:7502" "an inherited listener: getsockname names it"
like "$out" "accepted from $KADDR" "... accept() returns a connection naming its peer"
wait
done_testing
