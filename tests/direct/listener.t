#!/bin/sh
# shutdown() of a stack listener, as Linux's inet_shutdown does it (issue
# 9): SHUT_WR does nothing (connections are still accepted); SHUT_RD stops
# the listening: a thread blocked in accept() wakes with EINVAL, later
# accept() calls fail with EINVAL (not ECONNABORTED, which servers take for
# a transient error and retry forever), and a new connection is refused.
# The same python program on the kernel (listening on the kernel's
# address) and in direct mode (on the stack's, where a connection from the
# program itself is looped back inside the stack). Needs root,
# /dev/net/tun, ip, python3.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dlsn 222
require_cmd python3

cat > "$TMP/prog.py" <<'PY'
# prog.py ADDR: one word per step.
import errno, socket, sys, threading, time
addr = sys.argv[1]
out = []
def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))
def connect(port):
    c = socket.socket()
    c.settimeout(3)
    try:
        c.connect((addr, port))
        return c, "connected"
    except OSError as e:
        return None, name(e)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((addr, 0))
l.listen(8)
port = l.getsockname()[1]
l.shutdown(socket.SHUT_WR)
c, what = connect(port)
a, _ = l.accept()
out.append("shut-wr:" + what)
woke = []
def blocked():
    t0 = time.time()
    try:
        l.accept()
        woke.append("accepted")
    except OSError as e:
        woke.append(name(e) + ("-fast" if time.time() - t0 < 2.5 else "-slow"))
t = threading.Thread(target=blocked)
t.start()
time.sleep(0.5)
l.shutdown(socket.SHUT_RD)
t.join(3)
out.append("blocked-accept:" + (woke[0] if woke else "still-blocked"))
try:
    l.accept()
    out.append("accept:ok")
except OSError as e:
    out.append("accept:" + name(e))
c2, what = connect(port)
out.append("new-connection:" + what)
print(" ".join(out), flush=True)
PY

want=$(ip netns exec "$NS" timeout 30 python3 "$TMP/prog.py" "$KADDR" 2>&1)
is "$want" "shut-wr:connected blocked-accept:EINVAL-fast accept:EINVAL new-connection:ECONNREFUSED" \
	"the kernel: SHUT_WR leaves a listener be, SHUT_RD ends it"
for engine in process thread; do
	stop_engines
	got=$(direct_exec KEEPWIRE_ENGINE=$engine timeout 30 python3 "$TMP/prog.py" "$SADDR" 2>&1)
	is "$got" "$want" "direct mode, engine as a $engine: the same"
done
done_testing
