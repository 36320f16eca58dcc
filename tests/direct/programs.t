#!/bin/sh
# Real, unmodified programs in direct mode: curl, socat, nc (netcat-openbsd)
# and python3 (asyncio, selectors, socketserver, http.server) run under
# `keepwire --direct`, so their IPv4 TCP goes through keepwire's own stack
# on a TAP device, and trade data with programs on the kernel's stack.
#
# Everything happens inside one network namespace this test creates
# (tests/lib/direct.sh): the TAP device kwt0 has the kernel's end,
# K = 10.238.N.1/24; the stack is S = 10.238.N.2/24. The programs under
# keepwire run in the namespace and attach the TAP device; the "kernel side"
# (python3 helpers, an HTTP server, curl) runs there too, bound to K. Cases:
#   - curl fetches 16 MiB from python3 -m http.server (checksum, TAP
#     counters); a closed port is "Connection refused" (exit 7), an on-link
#     address nobody answers is "No route to host" and an off-link one
#     without a gateway "Network is unreachable", as the kernel says;
#   - socat, nc, a python3 asyncio and a selectors program, each once as a
#     client of a kernel-side listener and once listening (on 0.0.0.0 or on
#     S) for a kernel-side client: 1 MiB each way, both checksummed, with
#     the kernel side ending its direction first or last;
#   - socketserver.ForkingTCPServer and python3 -m http.server under
#     keepwire serve several kernel-side clients at once;
#   - a program connecting to its own listener at S; the inetd/tcpclient
#     pattern (exec with a connected socket) and a daemon whose listener
#     outlives the parent that opened it (both work because the engine is
#     a process of its own, the default placement);
#   - the same kind of client with direct mode off (socket mode), or with a
#     destination direct mode does not route, stays on the kernel: not one
#     frame on the TAP device;
#   - keepalive death: a python3 client blocked in recv() under
#     --idle 1 --interval 1 --count 3 stays connected while the kernel
#     answers the stack's probes; once nftables drops everything on the TAP
#     device, recv() raises TimeoutError (ETIMEDOUT) 2.5-6 s later.
# The kernel-side peers are python3 (written to the temporary directory):
# they send their stdin while reading, and write what they got to stdout.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup dprog 238
require_cmd nft curl socat nc python3 sha256sum awk timeout
nc -h 2>&1 | grep -q 'OpenBSD netcat' || skip_all "nc is not netcat-openbsd"
[ -x "$KW_CMD" ] && [ -f "$KW_LIB" ] ||
	{ echo "Bail out! $KW_CMD or $KW_LIB is not built"; exit 1; }
# No IPv6 in the namespace: the kernel would send router solicitations and
# MLD reports on the TAP device, and the counters must show only our TCP.
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 2>/dev/null

# The real interpreter, not a version manager's shell shim.
PY=$(python3 -c 'import sys; print(sys.executable)') || PY=python3
K=$KADDR
S=$SADDR
DEV=kwt0
diag "namespace $NS: TAP $DEV, kernel $K, stack $S"

# ---- helpers ------------------------------------------------------------

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# between VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals); 0 when it is.
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
sha() { sha256sum <"$1" | cut -c1-64; }

# nsx COMMAND...: run in the namespace (killed at exit by onens_cleanup).
nsx() { ip netns exec "$NS" timeout 30 "$@"; }
# keepwire ARGS...: the keepwire command in the namespace. Under a sanitizer
# build the ASan runtime must stay first in LD_PRELOAD.
keepwire() {
	ip netns exec "$NS" timeout 30 env ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} \
		"$KW_CMD" "$@"
}
# kwd ARGS... -- COMMAND...: direct mode on the namespace's TAP device; the
# debug log says when the stack is ready, as a thread or an engine process
# (listeners wait for it).
kwd() { keepwire --direct --tap "$DEV" --address "$S/24" --log debug "$@"; }

# The TAP device's counters as the kernel sees them: rx = frames the stack
# wrote, tx = frames the kernel sent to the stack.
stat_of() { ip netns exec "$NS" cat "/sys/class/net/$1/statistics/$2"; }
tap_counters() { echo "rx $(stat_of "$DEV" rx_packets) tx $(stat_of "$DEV" tx_packets)"; }

# show_err FILE...: the files' contents as diagnostics.
show_err() {
	for _f in "$@"; do
		[ -s "$_f" ] && diag "$(basename "$_f"):" "$(head -c 3000 "$_f")"
	done
	return 0
}

cat >"$TMP/kwpy.py" <<'EOF'
# Kernel-side peers and direct-mode programs. Every mode sends its stdin
# and writes what it receives to stdout; status lines go to stderr.
import asyncio, errno, os, selectors, socket, sys, threading, time

CHUNK = 65536


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def finish(sent, got):
    sys.stdout.buffer.write(got)
    sys.stdout.flush()
    log("sent %d received %d" % (sent, len(got)))


def trade(s, data, shut_first):
    """Send everything while reading. shut_first: SHUT_WR once all is sent,
    else close only after the other side's EOF. KWPY_IDLE (10 s): give up
    waiting for more after that long."""
    got = []
    s.settimeout(float(os.environ.get("KWPY_IDLE", "10")))

    def reader():
        try:
            while True:
                b = s.recv(CHUNK)
                if not b:
                    return
                got.append(b)
        except OSError as e:
            log("recv: %r" % e)
    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    if shut_first:
        s.shutdown(socket.SHUT_WR)
    t.join()
    s.close()
    finish(len(data), b"".join(got))


def peer_listen(host, port, data, shut_first):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port))
    l.listen(4)
    log("listening")
    s, peer = l.accept()
    l.close()
    log("accepted %s:%d" % peer)
    trade(s, data, shut_first)


def peer_connect(host, port, data, shut_first):
    # The program under test may not listen yet: retry for a while.
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection((host, port), timeout=1)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    log("connected from %s:%d" % s.getsockname())
    trade(s, data, shut_first)


async def aio_trade(reader, writer, data):
    got = []

    async def send():
        for i in range(0, len(data), CHUNK):
            writer.write(data[i:i + CHUNK])
            await writer.drain()
        writer.write_eof()

    async def recv():
        while True:
            b = await reader.read(CHUNK)
            if not b:
                return
            got.append(b)
    await asyncio.gather(send(), recv())
    writer.close()
    await writer.wait_closed()
    finish(len(data), b"".join(got))


async def aio_client(host, port, data):
    reader, writer = await asyncio.open_connection(host, port)
    log("connected from %s:%d" % writer.get_extra_info("sockname"))
    await aio_trade(reader, writer, data)


async def aio_server(host, port, data):
    done = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        log("accepted %s:%d" % writer.get_extra_info("peername"))
        await aio_trade(reader, writer, data)
        done.set_result(None)
    srv = await asyncio.start_server(handle, host, port)
    log("listening")
    await done
    srv.close()
    await srv.wait_closed()


def sel_trade(sel, s, data):
    """Non-blocking: send and receive at once, SHUT_WR once all is sent,
    until both directions are done (the peer may end its side first)."""
    s.setblocking(False)
    got, off, eof = [], 0, False
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while not eof or off < len(data):
        ready = sel.select(10)
        if not ready:
            sys.exit("selectors: nothing happened in 10 s")
        for key, ev in ready:
            if ev & selectors.EVENT_READ and not eof:
                try:
                    b = s.recv(CHUNK)
                except BlockingIOError:
                    b = None
                if b == b"":
                    eof = True
                elif b:
                    got.append(b)
            if ev & selectors.EVENT_WRITE and off < len(data):
                try:
                    off += s.send(data[off:off + CHUNK])
                except BlockingIOError:
                    pass
                if off == len(data):
                    s.shutdown(socket.SHUT_WR)
        want = (0 if eof else selectors.EVENT_READ) | \
            (selectors.EVENT_WRITE if off < len(data) else 0)
        if want:
            sel.modify(s, want)
    sel.unregister(s)
    s.close()
    finish(off, b"".join(got))


def sel_client(host, port, data):
    sel = selectors.DefaultSelector()
    s = socket.socket()
    s.setblocking(False)
    r = s.connect_ex((host, port))
    if r != errno.EINPROGRESS:
        sys.exit("connect_ex: %s, not EINPROGRESS" % os.strerror(r))
    sel.register(s, selectors.EVENT_WRITE)
    if not sel.select(10):
        sys.exit("connect: not writable after 10 s")
    sel.unregister(s)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        sys.exit("connect: SO_ERROR %s" % os.strerror(err))
    log("connected from %s:%d" % s.getsockname())
    sel_trade(sel, s, data)


def sel_server(host, port, data):
    sel = selectors.DefaultSelector()
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port))
    l.listen(4)
    l.setblocking(False)
    sel.register(l, selectors.EVENT_READ)
    log("listening")
    if not sel.select(10):
        sys.exit("accept: nothing in 10 s")
    s, peer = l.accept()
    sel.unregister(l)
    l.close()
    log("accepted %s:%d" % peer)
    sel_trade(sel, s, data)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = sys.stdin.buffer.read()
    peers = {"peer-listen": peer_listen, "peer-connect": peer_connect}
    plain = {"selectors-client": sel_client, "selectors-server": sel_server}
    aio = {"asyncio-client": aio_client, "asyncio-server": aio_server}
    if mode in peers:
        peers[mode](host, port, data, sys.argv[4:] == ["shut-first"])
    elif mode in plain:
        plain[mode](host, port, data)
    else:
        asyncio.run(aio[mode](host, port, data))


main()
EOF

# 1 MiB each way for the exchanges, 16 MiB for curl.
UP=$TMP/up
DOWN=$TMP/down
mkdir "$TMP/www"
head -c 1048576 /dev/urandom >"$UP"
head -c 1048576 /dev/urandom >"$DOWN"
head -c 16777216 /dev/urandom >"$TMP/www/big"

# check_trade NAME RC: the program exited 0, and each side got the other's
# bytes intact ($TMP/NAME.got: what the program received; NAME.peer: what
# the kernel-side peer received).
check_trade() {
	if [ "$2" -eq 0 ]; then
		ok 0 "$1: exits 0"
	else
		ok 1 "$1: exits 0"
		diag "  exit status $2"
		show_err "$TMP/$1.err" "$TMP/$1.peer.err"
	fi
	is "$(sha "$TMP/$1.got")" "$(sha "$DOWN")" \
		"$1: received the kernel side's 1 MiB intact ($(wc -c <"$TMP/$1.got") bytes)"
	is "$(sha "$TMP/$1.peer")" "$(sha "$UP")" \
		"$1: the kernel side received its 1 MiB intact ($(wc -c <"$TMP/$1.peer") bytes)"
}

# What the kernel-side peer and the program logged about the connection:
# "accepted A:P" / "connected from A:P" lines in FILE.
accepted_in() { sed -n 's/^accepted \(.*\)$/\1/p' "$1"; }
connected_in() { sed -n 's/^connected from \(.*\)$/\1/p' "$1"; }

# client_case NAME PORT COMMAND...: a kernel-side peer listens on K:PORT and
# sends DOWN; COMMAND connects to it, sends its stdin (UP) and writes what it
# receives to stdout. PEER_SHUT=shut-first: the peer ends its side as soon as
# it has sent everything (else only after COMMAND's EOF). PEER_FROM: the
# address:port the peer saw the connection come from.
client_case() {
	_name=$1 _port=$2
	shift 2
	nsx "$PY" "$TMP/kwpy.py" peer-listen "$K" "$_port" ${PEER_SHUT:-} <"$DOWN" \
		>"$TMP/$_name.peer" 2>"$TMP/$_name.peer.err" &
	_peer=$!
	PEER_FROM=
	if ! wait_for_line "$TMP/$_name.peer.err" '^listening$' 100; then
		ok 1 "$_name: the kernel-side peer listens on $K:$_port"
		show_err "$TMP/$_name.peer.err"
		return 1
	fi
	"$@" <"$UP" >"$TMP/$_name.got" 2>"$TMP/$_name.err"
	_rc=$?
	wait "$_peer"
	check_trade "$_name" "$_rc"
	PEER_FROM=$(accepted_in "$TMP/$_name.peer.err")
}

# server_case NAME PORT COMMAND...: COMMAND listens on PORT (under keepwire
# in direct mode, logging at debug); once its stack thread runs, a kernel-side
# peer connects to S:PORT and sends DOWN; COMMAND sends UP. PEER_SHUT as
# for client_case.
server_case() {
	_name=$1 _port=$2
	shift 2
	"$@" <"$UP" >"$TMP/$_name.got" 2>"$TMP/$_name.err" &
	_prog=$!
	if ! wait_for_line "$TMP/$_name.err" 'stack thread started|attached to the engine process' 100; then
		ok 1 "$_name: the program under keepwire starts its stack"
		show_err "$TMP/$_name.err"
		return 1
	fi
	nsx "$PY" "$TMP/kwpy.py" peer-connect "$S" "$_port" ${PEER_SHUT:-} <"$DOWN" \
		>"$TMP/$_name.peer" 2>"$TMP/$_name.peer.err"
	wait "$_prog"
	check_trade "$_name" "$?"
}

# ---- curl and an HTTP server ----------------------------------------------

if [ -n "${KW_ASAN_RUNTIME:-}" ]; then
	# As in tests/real/programs.t: curl hangs with the ASan runtime preloaded.
	skip "curl cases: curl hangs with the ASan runtime preloaded (sanitizer build)"
else
	nsx "$PY" -u -m http.server --bind "$K" --directory "$TMP/www" 8000 >"$TMP/http.out" 2>&1 &
	if wait_for_line "$TMP/http.out" '^Serving HTTP' 100; then
		before_rx=$(stat_of "$DEV" rx_bytes)
		before_tx=$(stat_of "$DEV" tx_bytes)
		t0=$(now)
		kwd -- curl -sS -o "$TMP/big.got" "http://$K:8000/big" 2>"$TMP/curl.err"
		rc=$?
		t1=$(now)
		is "$rc" 0 "curl: fetches http://$K:8000/big through the stack"
		[ "$rc" -eq 0 ] || show_err "$TMP/curl.err" "$TMP/http.out"
		is "$(sha "$TMP/big.got")" "$(sha "$TMP/www/big")" \
			"curl: the 16 MiB file arrived intact ($(wc -c <"$TMP/big.got") bytes)"
		rx=$(($(stat_of "$DEV" rx_bytes) - before_rx))
		tx=$(($(stat_of "$DEV" tx_bytes) - before_tx))
		diag "curl: $(elapsed "$t0" "$t1") s; TAP device: $tx bytes kernel -> stack, $rx bytes stack -> kernel"
		[ "$tx" -ge 16777216 ] && [ "$rx" -gt 0 ]
		ok $? "curl: the bytes went over the TAP device (>= 16 MiB kernel -> stack)"
	else
		ok 1 "python3 -m http.server listens on $K:8000"
		show_err "$TMP/http.out"
	fi

	# Nothing listens on port 8001: the kernel answers the SYN with RST.
	kwd -- curl -sS -v "http://$K:8001/" >"$TMP/refused.out" 2>&1
	is "$?" 7 "curl to a closed port: exit status 7 (could not connect)"
	if grep -q 'Connection refused' "$TMP/refused.out"; then
		ok 0 "curl to a closed port: Connection refused"
	else
		ok 1 "curl to a closed port: Connection refused"
		show_err "$TMP/refused.out"
	fi

	# An address on the stack's network that nobody answers ARP for: the
	# kernel gives up after its 3 ARP requests, "No route to host"
	# (EHOSTUNREACH) after about 3 s, and curl exits 7.
	t0=$(now)
	kwd -- curl -sS -v --connect-timeout 6 "http://${K%.1}.99/" >"$TMP/noarp.out" 2>&1
	rc=$?
	took=$(elapsed "$t0" "$(now)")
	diag "curl to ${K%.1}.99 (no ARP answer): exit $rc after ${took}s"
	is "$rc" 7 "curl to a silent on-link address: exit status 7 (could not connect)"
	if grep -q 'No route to host' "$TMP/noarp.out"; then
		ok 0 "curl to a silent on-link address: No route to host"
	else
		ok 1 "curl to a silent on-link address: No route to host"
		show_err "$TMP/noarp.out"
	fi

	# Off the stack's network without a gateway: no route at all. The
	# kernel fails the connect at once, "Network is unreachable".
	t0=$(now)
	kwd -- curl -sS -v --connect-timeout 2 "http://192.0.2.1/" >"$TMP/noroute.out" 2>&1
	rc=$?
	diag "curl to 192.0.2.1 (no gateway): exit $rc after $(elapsed "$t0" "$(now)")s"
	is "$rc" 7 "curl off-link without a gateway: exit status 7 (could not connect)"
	if grep -q 'Network is unreachable' "$TMP/noroute.out"; then
		ok 0 "curl off-link without a gateway: Network is unreachable"
	else
		ok 1 "curl off-link without a gateway: Network is unreachable"
		show_err "$TMP/noroute.out"
	fi
fi

# ---- socat and nc, both directions ----------------------------------------

# socat -t 10: when one direction ends, go on with the other for up to 10 s.
# The kernel-side peer ends its side first.
PEER_SHUT=shut-first
client_case socat-client 9101 kwd -- socat -t 10 STDIO "TCP4:$K:9101"
like "$PEER_FROM" "^$S:[0-9]+$" "socat-client: the kernel saw the connection come from the stack's address"
server_case socat-server 9102 kwd -- socat -t 10 STDIO TCP4-LISTEN:9102,reuseaddr
PEER_SHUT=

# nc -N: shutdown(SHUT_WR) at the end of its input. nc -l stops as soon as
# the network side reaches EOF, so the kernel-side peer closes only after
# nc's EOF.
client_case nc-client 9103 kwd -- nc -N "$K" 9103
like "$PEER_FROM" "^$S:[0-9]+$" "nc-client: the kernel saw the connection come from the stack's address"
server_case nc-server 9104 kwd -- nc -l -N "$S" 9104

# ---- python3: asyncio and selectors ---------------------------------------

# The kernel-side peer ends its side first: the programs read EOF while they
# are still sending.
PEER_SHUT=shut-first
client_case asyncio-client 9105 kwd -- "$PY" "$TMP/kwpy.py" asyncio-client "$K" 9105
is "$(connected_in "$TMP/asyncio-client.err")" "$PEER_FROM" \
	"asyncio-client: getsockname() is the address the kernel saw ($PEER_FROM)"
server_case asyncio-server 9106 kwd -- "$PY" "$TMP/kwpy.py" asyncio-server 0.0.0.0 9106
is "$(accepted_in "$TMP/asyncio-server.err")" "$(connected_in "$TMP/asyncio-server.peer.err")" \
	"asyncio-server: the peer address is the kernel's end of the connection"
# Non-blocking connect: EINPROGRESS, writable, SO_ERROR 0.
client_case selectors-client 9107 kwd -- "$PY" "$TMP/kwpy.py" selectors-client "$K" 9107
is "$(connected_in "$TMP/selectors-client.err")" "$PEER_FROM" \
	"selectors-client: getsockname() is the address the kernel saw ($PEER_FROM)"
server_case selectors-server 9108 kwd -- "$PY" "$TMP/kwpy.py" selectors-server "$S" 9108
is "$(accepted_in "$TMP/selectors-server.err")" "$(connected_in "$TMP/selectors-server.peer.err")" \
	"selectors-server: accept() returns the kernel's end of the connection"
PEER_SHUT=

# ---- servers: forking, threading ----------------------------------------------

# socketserver.ForkingTCPServer: each connection is served by a forked
# child, which reads "name\n" and a payload until EOF, then answers
# "name sha256(payload) its-pid".
NCLIENTS=6
kwd -- "$PY" -c '
import hashlib, os, socketserver, sys

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while True:
            b = self.request.recv(65536)
            if not b:
                break
            data += b
        name, _, payload = data.partition(b"\n")
        digest = hashlib.sha256(payload).hexdigest().encode()
        self.request.sendall(b"%s %s %d\n" % (name, digest, os.getpid()))

class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True

srv = Server((sys.argv[1], int(sys.argv[2])), Handler)
print("listening pid %d" % os.getpid(), flush=True)
srv.serve_forever()
' 0.0.0.0 9110 >"$TMP/fork.out" 2>"$TMP/fork.err" &
if wait_for_line "$TMP/fork.out" '^listening pid [0-9]+$' 100; then
	server_pid=$(sed -n 's/^listening pid //p' "$TMP/fork.out")
	nsx "$PY" -c '
import hashlib, os, socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = [None] * n

def client(i):
    try:
        payload = os.urandom(200000 + 1000 * i)
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"client-%d\n" % i + payload)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            answer += b
        s.close()
        name, digest, pid = answer.split()
        good = name == b"client-%d" % i and digest.decode() == hashlib.sha256(payload).hexdigest()
        res[i] = "client-%d %s pid %s" % (i, "ok" if good else "wrong %r" % answer, pid.decode())
    except Exception as e:
        res[i] = "client-%d error %r" % (i, e)

threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(res))
' "$S" 9110 "$NCLIENTS" >"$TMP/fork-clients.out" 2>&1
	good=$(grep -c '^client-[0-9]* ok pid [0-9]*$' "$TMP/fork-clients.out")
	is "$good" "$NCLIENTS" "forking server: all $NCLIENTS kernel-side clients got the right answer"
	[ "$good" -eq "$NCLIENTS" ] || show_err "$TMP/fork-clients.out" "$TMP/fork.err"
	pids=$(sed -n 's/^client-[0-9]* ok pid \([0-9]*\)$/\1/p' "$TMP/fork-clients.out" | sort -u)
	npids=$(printf '%s\n' "$pids" | grep -c .)
	children=$(printf '%s\n' "$pids" | grep -cvx "$server_pid")
	is "$npids:$children" "$NCLIENTS:$NCLIENTS" \
		"forking server: each answer came from its own forked child (not the parent, pid $server_pid)"
	kill "$server_pid" 2>/dev/null
else
	ok 1 "forking server: listens under keepwire"
	show_err "$TMP/fork.out" "$TMP/fork.err"
fi

# python3 -m http.server (a ThreadingHTTPServer) under keepwire on 0.0.0.0,
# four kernel-side curls fetching 16 MiB from it at once.
if [ -n "${KW_ASAN_RUNTIME:-}" ]; then
	skip "http.server case: its clients are curl, which hangs with the ASan runtime preloaded"
else
	kwd -- sh -c 'echo "pid $$"; exec "$0" -u -m http.server --bind 0.0.0.0 --directory "$1" 8080' \
		"$PY" "$TMP/www" >"$TMP/kwhttp.out" 2>"$TMP/kwhttp.err" &
	if wait_for_line "$TMP/kwhttp.out" '^Serving HTTP' 100; then
		nsx sh -c 'for i in 1 2 3 4; do
			curl -sS -o "$0/fetched.$i" -w "%{http_code}\n" "http://$1:8080/big" &
		done; wait' "$TMP" "$S" >"$TMP/kwhttp.codes" 2>&1
		is "$(sort "$TMP/kwhttp.codes" | uniq -c | awk '{ print $1 "x" $2 }')" 4x200 \
			"http.server under keepwire: four kernel-side curls at once, all HTTP 200"
		intact=0
		for i in 1 2 3 4; do
			[ "$(sha "$TMP/fetched.$i" 2>/dev/null)" = "$(sha "$TMP/www/big")" ] &&
				intact=$((intact + 1))
		done
		is "$intact" 4 "http.server under keepwire: all four got the 16 MiB file intact"
		kill "$(sed -n 's/^pid //p' "$TMP/kwhttp.out")" 2>/dev/null
	else
		ok 1 "http.server under keepwire: listens on 0.0.0.0:8080"
		show_err "$TMP/kwhttp.out" "$TMP/kwhttp.err"
	fi
fi

# ---- what the kernel lets a program do with its connections ------------------

# A program that connects to its own listener through the stack's address
# (the kernel delivers it locally).
kwd -- "$PY" -c '
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 9130))
l.listen(4)
c = socket.socket()
c.settimeout(2)
try:
    c.connect((sys.argv[1], 9130))
    a, peer = l.accept()
    c.sendall(b"ping")
    print("connected; server got %r" % a.recv(16))
except OSError as e:
    print("connect to own listener: %r" % e)
' "$S" >"$TMP/self.out" 2>"$TMP/self.err"
is "$(cat "$TMP/self.out")" "connected; server got b'ping'" \
	"a program connects to its own listener at the stack's address"

# The inetd / ucspi-tcp (tcpclient) pattern: connect, put the socket on
# stdout, exec the program that talks over it.
nsx env KWPY_IDLE=2 "$PY" "$TMP/kwpy.py" peer-listen "$K" 9131 </dev/null \
	>"$TMP/exec.peer" 2>"$TMP/exec.peer.err" &
peer=$!
if wait_for_line "$TMP/exec.peer.err" '^listening$' 100; then
	kwd -- "$PY" -c '
import os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
os.dup2(s.fileno(), 1)
s.close()
os.execvp("sh", ["sh", "-c", "echo hello from the program it executed"])
' "$K" 9131 2>"$TMP/exec.err"
	rc=$?
	wait "$peer"
	is "$rc" 0 "exec with a connected socket: the executed program writes to it (exit 0)"
	is "$(cat "$TMP/exec.peer")" "hello from the program it executed" \
		"exec with a connected socket: the kernel side gets its line, then EOF"
else
	ok 1 "exec with a connected socket: the kernel-side peer listens"
	show_err "$TMP/exec.peer.err"
fi

# A daemon that listens, then forks and lets its parent exit (nginx and
# many C daemons open their sockets before they detach).
kwd -- "$PY" -c '
import os, socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 9132))
l.listen(4)
if os.fork() > 0:
    sys.exit(0)
os.setsid()
l.settimeout(4)
try:
    c, _ = l.accept()
    c.sendall(b"hello from the daemon\n")
    c.close()
except OSError as e:
    print("daemon: %r" % e, flush=True)
' >"$TMP/daemon.out" 2>"$TMP/daemon.err"
nsx "$PY" -c '
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], 9132), timeout=2)
    print(s.recv(100).decode().strip())
except OSError as e:
    print("client: %r" % e)
' "$S" >"$TMP/daemon-client.out" 2>&1
is "$(cat "$TMP/daemon-client.out")" "hello from the daemon" \
	"a daemon's listener keeps working after its parent exits (the engine is a process of its own)"

# ---- direct mode off: the kernel's own stack ---------------------------------

# The same kind of client in socket mode (plain keepwire), then in direct
# mode with a destination it does not route (--route elsewhere): the kernel
# address is local, so the connection runs over loopback and not one frame
# may cross the TAP device.
lo_rx_bytes() { stat_of lo rx_bytes; }

before=$(tap_counters)
lo_before=$(lo_rx_bytes)
client_case socket-mode 9120 keepwire --idle 5 --interval 1 --count 2 -- \
	"$PY" "$TMP/kwpy.py" selectors-client "$K" 9120
like "$PEER_FROM" "^$K:[0-9]+$" "socket-mode: the kernel saw the connection come from its own address"
is "$(tap_counters)" "$before" "socket-mode: no frame crossed the TAP device"
lo_delta=$(($(lo_rx_bytes) - lo_before))
[ "$lo_delta" -ge 2097152 ]
ok $? "socket-mode: the 2 MiB went over loopback ($lo_delta bytes)"

before=$(tap_counters)
client_case not-routed 9121 kwd --route 10.239.0.0/16 -- \
	"$PY" "$TMP/kwpy.py" selectors-client "$K" 9121
like "$PEER_FROM" "^$K:[0-9]+$" "not-routed: the kernel saw the connection come from its own address"
is "$(tap_counters)" "$before" "not-routed (direct mode, --route elsewhere): no frame crossed the TAP device"

# ---- keepalive death ----------------------------------------------------------

# A kernel-side server that sends one line to each client and then says
# nothing; a python3 client blocked in recv() under keepwire's stack with
# keepalive 1 s / 1 s / 3.
nsx "$PY" -u -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
print("listening")
held = []
while True:
    c, _ = s.accept()
    c.sendall(b"hello, now I will say nothing more\n")
    held.append(c)
' "$K" 9140 >"$TMP/silent.out" 2>&1 &
IDLE=1 INTERVAL=1 COUNT=3
if wait_for_line "$TMP/silent.out" '^listening$' 100; then
	kwd --idle $IDLE --interval $INTERVAL --count $COUNT -- "$PY" -u -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.recv(4096)
print("ready", flush=True)
try:
    data = s.recv(4096)
    print("eof" if not data else "data %r" % data, flush=True)
    sys.exit(1)
except OSError as e:
    print("%s: [Errno %s] %s at %.3f" % (type(e).__name__, e.errno, e.strerror, time.time()), flush=True)
    sys.exit(3 if isinstance(e, TimeoutError) else 4)
' "$K" 9140 >"$TMP/ka.out" 2>"$TMP/ka.err" &
	ka=$!
	if wait_for_line "$TMP/ka.out" '^ready$' 100; then
		# Idle for longer than idle + count x interval (4 s) with the
		# network up: the stack's probes are answered, nothing dies.
		before_rx=$(stat_of "$DEV" rx_packets)
		before_tx=$(stat_of "$DEV" tx_packets)
		sleep 4.5
		is "$(cat "$TMP/ka.out")" "ready" \
			"keepalive: still blocked in recv() after 4.5 s idle while the kernel answers"
		probes=$(($(stat_of "$DEV" rx_packets) - before_rx))
		answers=$(($(stat_of "$DEV" tx_packets) - before_tx))
		diag "keepalive: in 4.5 s idle the stack sent $probes frames, the kernel $answers"
		[ "$probes" -ge 3 ] && [ "$answers" -ge 3 ]
		ok $? "keepalive: the stack probed the idle connection and the kernel answered"

		ip netns exec "$NS" nft -f - <<EOF
table inet kwdrop {
	chain in { type filter hook input priority -10; iifname "$DEV" drop; }
	chain out { type filter hook output priority -10; oifname "$DEV" drop; }
}
EOF
		ok $? "keepalive: nftables drops everything on $DEV"
		t_drop=$(now)
		wait_for_line "$TMP/ka.out" '^(eof|data|[A-Za-z]+Error)' 100
		wait "$ka"
		status=$?
		line=$(sed -n 2p "$TMP/ka.out")
		like "$line" '^TimeoutError: \[Errno 110\] ' \
			"keepalive: the blocked recv() raises TimeoutError (ETIMEDOUT)"
		is "$status" 3 "keepalive: ... and the client exits with its timeout status"
		t_fail=$(printf '%s\n' "$line" | sed -n 's/.* at \([0-9.]*\)$/\1/p')
		took=$(elapsed "$t_drop" "${t_fail:-0}")
		diag "keepalive: recv() failed ${took}s after the drop (idle $IDLE + $COUNT x $INTERVAL = 4 s after the last answer)"
		between "$took" 2.5 6
		ok $? "keepalive: ... ${took}s after the network died (2.5-6 s accepted)"
		[ -n "$line" ] || show_err "$TMP/ka.out" "$TMP/ka.err"
		ip netns exec "$NS" nft delete table inet kwdrop
	else
		ok 1 "keepalive: the client connects under keepwire and gets the server's line"
		show_err "$TMP/ka.out" "$TMP/ka.err"
	fi
else
	ok 1 "keepalive: the silent kernel-side server listens"
	show_err "$TMP/silent.out"
fi

done_testing
