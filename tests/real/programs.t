#!/bin/sh
# Real, unmodified programs under the keepwire command, checked from the
# outside: socat, nc (netcat-openbsd), a python3 client and curl connect on
# loopback to listeners that accept and then say nothing; while they sit
# connected, `keepwire show PID` must report keepalive on with the options
# given on the command line, and `ss -tnoi` must show the kernel's keepalive
# timer running on the connection. A client without keepwire shows neither.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

require_cmd socat nc python3 curl ss awk
if [ "$(id -u)" -ne 0 ] &&
   [ "$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)" != 0 ]; then
	skip_all "keepwire show needs ptrace access to the clients (root, or kernel.yama.ptrace_scope=0)"
fi
nc -h 2>&1 | grep -q 'OpenBSD netcat' || skip_all "nc is not netcat-openbsd"

IDLE=31
INTERVAL=7
COUNT=4
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kw-programs.$$.XXXXXX") || exit 1
pids=

cleanup() {
	# stderr off: the shell would report each job killed here ("Terminated").
	{
		for p in $pids; do
			kill -TERM "$p"
		done
		for p in $pids; do
			wait "$p"
		done
	} >/dev/null 2>&1
	pids=
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

# Under a sanitizer build the ASan runtime must stay first in LD_PRELOAD.
# (env execs the command: started with `env ... &`, $! is still the client.)
ASAN_PRELOAD=${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME}

# The real interpreter, not a version manager's shell shim: starts faster,
# and its comm is what we expect.
PY=$(python3 -c 'import sys; print(sys.executable)') || PY=python3

# One plain listener socket (not under keepwire) per client, each on a free
# port the kernel picks, all served by one python3 process: connections are
# accepted, held open and never answered.
cases="socat nc python curl curl-default curl-force plain"
"$PY" -c '
import selectors, socket, sys
sel = selectors.DefaultSelector()
for name in sys.argv[1:]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    sel.register(s, selectors.EVENT_READ)
    print(name, s.getsockname()[1])
print("listening", flush=True)
held = []
while True:
    for key, _ in sel.select():
        held.append(key.fileobj.accept())
' $cases >"$TMP/listeners" 2>&1 &
pids="$pids $!"
i=0
while ! grep -q '^listening$' "$TMP/listeners" && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if ! grep -q '^listening$' "$TMP/listeners"; then
	ok 1 "the listeners started"
	diag "$(cat "$TMP/listeners")"
	done_testing
	exit 1
fi
port_of() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/listeners"; }

# start NAME COMMAND...: start a client in the background (its output in
# $TMP/NAME.out); CPID is its pid. COMMAND must be a program, not a shell
# function (a function would run in a subshell, whose pid $! would be); env
# and keepwire exec the next command, so CPID is the client program itself.
start() {
	CNAME=$1
	shift
	"$@" >"$TMP/$CNAME.out" 2>&1 </dev/null &
	CPID=$!
	pids="$pids $CPID"
}

# connected PID PORT: wait (5s at most) until `keepwire show PID` lists an
# established socket to 127.0.0.1:PORT; SHOW is the whole output, ROW that
# socket's line.
connected() {
	_i=0
	while :; do
		SHOW=$(env $ASAN_PRELOAD "$KW_CMD" show "$1" 2>&1)
		ROW=$(printf '%s\n' "$SHOW" |
			awk -v peer="127.0.0.1:$2" '$2 == "ESTABLISHED" && $4 == peer')
		[ -n "$ROW" ] && return 0
		[ "$_i" -ge 50 ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}

# The client's connection in `ss -tnoi` (-p to tell it by pid; the
# listener's side of the same connection has the port as its source).
ss_row() {
	ss -Htnoip state established dport = ":$2" | grep -F "pid=$1,"
}

# check LABEL COMM IDLE INTVL CNT PORT: the last started client is connected,
# keepwire show finds it under its own pid, with these keepalive values.
check() {
	_label=$1 _comm=$2 _idle=$3 _intvl=$4 _cnt=$5 _port=$6
	if ! connected "$CPID" "$_port"; then
		ok 1 "$_label: connected to its listener"
		diag "keepwire show $CPID:" "$SHOW" "$CNAME output:" "$(cat "$TMP/$CNAME.out")"
		return 1
	fi
	like "$SHOW" "^PID $CPID \($_comm\)$" "$_label: keepwire show finds the program itself under keepwire's pid"
	like "$ROW" "^[0-9]+ +ESTABLISHED +127\.0\.0\.1:[0-9]+ +127\.0\.0\.1:$_port +on +$_idle +$_intvl +$_cnt +off$" \
		"$_label: keepalive on, idle $_idle, interval $_intvl, count $_cnt"
}

# check_timer LABEL PORT: ss shows a keepalive timer of at most IDLE (and
# more than IDLE - 10s: it started when the connection was established).
check_timer() {
	_row=$(ss_row "$CPID" "$2")
	like "$_row" "timer:\(keepalive,(2[1-9]|3[01])sec,0\)" \
		"$1: ss -tnoi shows the keepalive timer counting down from ${IDLE}s"
}

kw_opts="--idle $IDLE --interval $INTERVAL --count $COUNT --"

# socat: a unidirectional client, network to stdout.
port=$(port_of socat)
start socat env $ASAN_PRELOAD "$KW_CMD" $kw_opts socat -u "TCP:127.0.0.1:$port" STDOUT
check socat socat ${IDLE}s ${INTERVAL}s $COUNT "$port" && check_timer socat "$port"

# nc (netcat-openbsd); -d: never read stdin, just sit on the connection.
port=$(port_of nc)
start nc env $ASAN_PRELOAD "$KW_CMD" $kw_opts nc -d 127.0.0.1 "$port"
check nc nc ${IDLE}s ${INTERVAL}s $COUNT "$port" && check_timer nc "$port"

# python3: socket.create_connection, then sleep.
port=$(port_of python)
start python env $ASAN_PRELOAD "$KW_CMD" $kw_opts "$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(120)
' "$port"
check python "$(basename "$PY" | cut -c1-15)" ${IDLE}s ${INTERVAL}s $COUNT "$port" &&
	check_timer python "$port"

# curl: sends its request and waits for an answer that never comes. The
# curl tool turns keepalive on by itself (60s/60s, --keepalive-time), and
# under the default policy the program's own setsockopt wins; with
# --no-keepalive curl leaves the socket alone and keepwire's values stay.
if [ -n "${KW_ASAN_RUNTIME:-}" ]; then
	# curl hangs before connecting whenever the ASan runtime is preloaded
	# into it, with or without keepwire; the regular build runs these.
	skip "curl cases: curl hangs with the ASan runtime preloaded (sanitizer build)"
else
	port=$(port_of curl)
	start curl env $ASAN_PRELOAD "$KW_CMD" $kw_opts curl -sS --no-keepalive "http://127.0.0.1:$port/"
	check curl curl ${IDLE}s ${INTERVAL}s $COUNT "$port" && check_timer curl "$port"

	port=$(port_of curl-default)
	start curl-default env $ASAN_PRELOAD "$KW_CMD" $kw_opts curl -sS "http://127.0.0.1:$port/"
	check "curl (own keepalive, policy default)" curl 60s 60s $COUNT "$port"

	port=$(port_of curl-force)
	start curl-force env $ASAN_PRELOAD "$KW_CMD" --policy force $kw_opts curl -sS "http://127.0.0.1:$port/"
	check "curl (own keepalive, --policy force)" curl ${IDLE}s ${INTERVAL}s $COUNT "$port" &&
		check_timer "curl (--policy force)" "$port"

fi

# Without keepwire: the same socat client has no keepalive and no timer.
port=$(port_of plain)
start plain socat -u "TCP:127.0.0.1:$port" STDOUT
if connected "$CPID" "$port"; then
	like "$ROW" "^[0-9]+ +ESTABLISHED +127\.0\.0\.1:[0-9]+ +127\.0\.0\.1:$port +off " \
		"socat without keepwire: KEEPALIVE off"
	row=$(ss_row "$CPID" "$port")
	like "$row" "pid=$CPID," "socat without keepwire: its connection is in ss -tnoi"
	if printf '%s\n' "$row" | grep -q 'timer:(keepalive'; then
		ok 1 "socat without keepwire: no keepalive timer"
		diag "$row"
	else
		ok 0 "socat without keepwire: no keepalive timer"
	fi
else
	ok 1 "socat without keepwire: connected to its listener"
	diag "$SHOW" "$(cat "$TMP/plain.out")"
fi

# Every process is still running: keepwire made none of them fail or exit.
gone=
for p in $pids; do
	if ! kill -0 "$p" 2>/dev/null || grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
		gone="$gone $p"
	fi
done
is "${gone# }" "" "every listener and client is still running at the end"
for name in $cases; do
	out=$(cat "$TMP/$name.out" 2>/dev/null)
	[ -z "$out" ] || diag "$name printed: $out"
done

done_testing
