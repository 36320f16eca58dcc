#!/bin/sh
# An unmodified client gets TCP keepalive from keepwire, checked from the
# outside. Everything stays on 127.0.0.1 and is cleaned up at the end.
#   sh examples/loopback-demo.sh        (from a build tree or with keepwire installed)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$here/keepwire" ]; then KEEPWIRE="$here/keepwire"; else KEEPWIRE=keepwire; fi
pids=
cleanup() { [ -n "$pids" ] && kill $pids 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "1. A server on 127.0.0.1:$port that accepts and then says nothing (socat)."
socat -u TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr OPEN:/dev/null &
pids="$pids $!"
sleep 0.3

echo "2. An unmodified client, nc, connects through keepwire:"
echo "     $KEEPWIRE --idle 30 --interval 5 --count 4 -- nc -d 127.0.0.1 $port"
# keepwire execs the command: this PID is nc's own.
"$KEEPWIRE" --idle 30 --interval 5 --count 4 -- nc -d 127.0.0.1 "$port" </dev/null &
client=$!
pids="$pids $client"
i=0
while ! ss -tn state established "( dport = :$port )" | grep -q "$port"; do
	i=$((i + 1)); [ $i -gt 50 ] && { echo "the client did not connect" >&2; exit 1; }
	sleep 0.1
done

echo
echo "3. What the kernel says about the client's socket (keepwire show $client):"
"$KEEPWIRE" show "$client"
echo
echo "4. The same connection in ss -tnoi: a keepalive timer is running."
ss -tnoi state established "( dport = :$port )" | sed 's/^/     /'
echo
echo "If the peer vanished, nc would now learn it within 30 + 4 x 5 = 50 s"
echo "instead of hanging for hours. See examples/dead-peer.sh for that, live."
