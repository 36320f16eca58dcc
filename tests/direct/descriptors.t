#!/bin/sh
# The program's descriptor table in direct mode is the one it would have
# on the kernel (issue 9, item 4): with the engine as a process, keepwire
# holds no descriptor in the program between calls (a connection to the
# engine lives only for one request), so the program has as many as on
# the kernel. Its new descriptors get the numbers they get on the kernel;
# closing every number a daemon does not know (one by one, close_range,
# closefrom), fcntl on them, or dup2 onto the top number do not cut it off
# from the engine, and nothing of the engine's ever lands in one of the
# program's own sockets. The same python
# program runs on the kernel and in direct mode (the engine as a process,
# the default), and must print the same. Needs root, /dev/net/tun, ip,
# python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup ddesc 225
require_cmd python3

cat > "$TMP/prog.py" <<'PY'
# prog.py PEER PORT: one word per step; the same on the kernel and in
# direct mode.
import errno, os, resource, socket, sys
peer = (sys.argv[1], int(sys.argv[2]))
out = []
def hello(tag):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)   # a request to the engine
    s.connect(peer)
    out.append(tag + ":" + s.recv(5).decode())
    return s
s1 = hello("first")
# As many descriptors as on the kernel: none of keepwire's between calls.
out.append("fds:%d" % len(os.listdir("/proc/self/fd")))
low = os.dup(0)
out.append("lowest:%d" % (low - s1.fileno()))
os.close(low)
# A daemon shedding what it inherited, one number at a time.
soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
closed = 0
for fd in range(3, soft):
    if fd == s1.fileno():
        continue
    try:
        os.fstat(fd)
        os.close(fd)
        closed += 1
    except OSError:
        pass
out.append("closed:%d" % closed)
s2 = hello("after-close")
# fcntl and dup2 on the top number.
r, w = os.pipe()
os.dup2(r, soft - 1)
out.append("dup2-top:%d" % (os.fstat(soft - 1).st_ino == os.fstat(r).st_ino))
s3 = hello("after-dup2")
os.close(soft - 1)
# close_range (os.closerange) over everything, then a kernel socket on
# loopback takes the lowest number: nothing of the engine's must arrive.
for s in (s1, s2, s3):
    s.detach()
os.closerange(3, soft)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
k = socket.create_connection(l.getsockname())
a, _ = l.accept()
s4 = hello("after-closerange")
s4.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
a.setblocking(False)
try:
    stray = len(a.recv(4096))
except BlockingIOError:
    stray = 0
out.append("stray:%d" % stray)
for s in (s4, k, a, l):
    s.close()
import ctypes
ctypes.CDLL(None).closefrom(3)
hello("after-closefrom")
print(" ".join(out))
PY

hello_peer 7400
# The kernel's numbers: the same program without keepwire, its peer
# reached over the kernel's side of the TAP device's subnet.
want=$(ip netns exec "$NS" python3 "$TMP/prog.py" "$KADDR" 7400 2>&1)
like "$want" "^first:hello fds:[0-9]+ lowest:1 closed:[0-9]+ after-close:hello dup2-top:1 after-dup2:hello after-closerange:hello stray:0 after-closefrom:hello\$" \
	"the kernel: the program's expectations hold"
got=$(direct_exec KEEPWIRE_ENGINE=process timeout 60 python3 "$TMP/prog.py" "$KADDR" 7400 2>&1)
is "$got" "$want" "direct mode: the same descriptor numbers, closes, dup2, close_range and closefrom"
done_testing
