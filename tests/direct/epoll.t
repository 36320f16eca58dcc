#!/bin/sh
# epoll sets that watch a socket before its connect() or listen() (issue
# 9): in direct mode both replace the socket by a socketpair end on the
# same number, and the epoll registration, which belongs to the old open
# file, went with it: the program waited forever (nginx registers every
# upstream connection before connecting). keepwire now makes the
# registrations again for the new file. The same python program on the
# kernel and in direct mode (both engine placements) must print the same;
# then nginx as a reverse proxy on the stack. Needs root, /dev/net/tun,
# ip, python3; nginx and curl for the last part.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup depl 220
require_cmd python3

cat > "$TMP/prog.py" <<'PY'
# prog.py PEER PORT LISTEN_ADDR: one word per step.
import select, socket, sys
peer = (sys.argv[1], int(sys.argv[2]))
out = []
def events(ep, timeout=3):
    return sorted("%d:%s" % (data, "out" if ev & select.EPOLLOUT else "in")
                  for data, ev in ep.poll(timeout))
# 1. Registered before a non-blocking connect, edge-triggered, a made-up
#    key (the data the program gets back).
ep = select.epoll()
s = socket.socket()
s.setblocking(False)
ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLET)
s.connect_ex(peer)
got = events(ep)
out.append("connect:" + ",".join("k" if e.endswith(":out") and e.startswith("%d:" % s.fileno()) else e for e in got))
ep.modify(s.fileno(), select.EPOLLIN)
got = events(ep)
out.append("read:" + ("hello" if got and s.recv(5) == b"hello" else ",".join(got) or "nothing"))
s.close()
# 2. A listener registered before listen(): its connection is reported.
l = socket.socket()
l.bind((sys.argv[3], 0))
ep.register(l.fileno(), select.EPOLLIN)
l.listen(4)
c = socket.create_connection(l.getsockname())
got = events(ep)
out.append("listen:" + ("accept" if got == ["%d:in" % l.fileno()] else ",".join(got) or "nothing"))
a, _ = l.accept()
for x in (a, c, l):
    x.close()
ep.close()
# 3. An epoll set closed before the connect, and a new one on its number:
#    the new set must not watch the socket.
ep1 = select.epoll()
s = socket.socket()
ep1.register(s.fileno(), select.EPOLLOUT)
n = ep1.fileno()
ep1.close()
ep2 = select.epoll()
s.connect(peer)
out.append("reused-set:%s:%s" % ("same-number" if ep2.fileno() == n else "other-number",
                                 ",".join(events(ep2, 0.5)) or "empty"))
# 4. Watched by four epoll sets before connect(): each still reports it.
eps = [select.epoll() for _ in range(4)]
s = socket.socket()
for e in eps:
    e.register(s.fileno(), select.EPOLLOUT)
s.connect(peer)
out.append("four-sets:%d" % sum(1 for e in eps if e.poll(3)))
s.close()
for e in eps:
    e.close()
print(" ".join(out), flush=True)
PY

hello_peer 7400
want=$(ip netns exec "$NS" timeout 30 python3 "$TMP/prog.py" "$KADDR" 7400 "$KADDR" 2>&1)
is "$want" "connect:k read:hello listen:accept reused-set:same-number:empty four-sets:4" \
	"the kernel: registrations made before connect and listen are kept"
for engine in process thread; do
	stop_engines
	got=$(direct_exec KEEPWIRE_ENGINE=$engine timeout 30 python3 "$TMP/prog.py" "$KADDR" 7400 "$SADDR" 2>&1)
	is "$got" "$want" "direct mode, engine as a $engine: the same"
done
stop_engines

# nginx as a reverse proxy on the stack's address: its upstream
# connections to a kernel-side server are registered before connect().
if command -v nginx > /dev/null 2>&1 && command -v curl > /dev/null 2>&1; then
	chmod 755 "$TMP"
	mkdir "$TMP/www"
	head -c 300000 /dev/urandom > "$TMP/www/f"
	chmod -R a+rX "$TMP/www"
	ip netns exec "$NS" timeout 60 python3 -c '
import http.server, os, socketserver, sys
os.chdir(sys.argv[2])
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
print("listening", flush=True)
socketserver.ThreadingTCPServer((sys.argv[1], 8081), H).serve_forever()
' "$KADDR" "$TMP/www" > "$TMP/http.log" 2>&1 &
	wait_for_line "$TMP/http.log" '^listening$' 50
	cat > "$TMP/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
events {}
http {
	access_log off;
	server {
		listen $SADDR:8080;
		location / { proxy_pass http://$KADDR:8081; }
	}
}
EOF
	direct_exec timeout 60 nginx -c "$TMP/nginx.conf" > "$TMP/nginx.out" 2>&1 &
	for _ in $(seq 50); do [ -s "$TMP/nginx.pid" ] && break; sleep 0.1; done
	sum=$(sha256sum < "$TMP/www/f" | cut -d' ' -f1)
	n=0
	for i in $(seq 20); do
		got=$(ip netns exec "$NS" curl -s --max-time 5 "http://$SADDR:8080/f" | sha256sum | cut -d' ' -f1)
		[ "$got" = "$sum" ] && n=$((n + 1))
	done
	is "$n" 20 "nginx proxy_pass on the stack: 20 fetches through it, each byte-exact" ||
		diag "$(cat "$TMP/nginx.out" "$TMP/nginx-error.log" 2>&1 | tail -n 20)"
	[ -s "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null
else
	skip "nginx or curl is missing"
fi
done_testing
