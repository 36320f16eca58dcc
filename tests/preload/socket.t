#!/bin/sh
# socket(): which sockets keepwire configures, with which values, and which
# it leaves alone.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

is "$("$PROBE" tcp4)" "tcp4 keepalive=0 idle=7200 intvl=75 cnt=9 user_timeout=0" \
	"without keepwire a TCP socket has the kernel defaults"
for kind in tcp4 tcp4-flags tcp4-proto tcp6 tcp6-flags; do
	is "$(kw "$PROBE" $kind)" "$kind keepalive=1 idle=60 intvl=10 cnt=6 user_timeout=0" \
		"$kind: keepwire defaults 60/10/6 applied"
done
is "$(kw KEEPWIRE_IDLE=5m KEEPWIRE_INTERVAL=15s KEEPWIRE_COUNT=4 "$PROBE" tcp6)" \
	"tcp6 keepalive=1 idle=300 intvl=15 cnt=4 user_timeout=0" "configured values applied"
is "$(kw KEEPWIRE_IDLE=1500ms KEEPWIRE_INTERVAL=200ms "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=2 intvl=1 cnt=6 user_timeout=0" "milliseconds round up to whole seconds"
is "$(kw KEEPWIRE_USER_TIMEOUT=auto KEEPWIRE_IDLE=20 KEEPWIRE_INTERVAL=5 KEEPWIRE_COUNT=3 "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=20 intvl=5 cnt=3 user_timeout=35000" "user timeout auto = idle + interval x count"
is "$(kw KEEPWIRE_USER_TIMEOUT=90s "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=60 intvl=10 cnt=6 user_timeout=90000" "user timeout as a duration"
is "$(kw KEEPIDLE=120 KEEPINTVL=30 KEEPCNT=5 "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=120 intvl=30 cnt=5 user_timeout=0" "libkeepalive variables honoured"
is "$(kw KEEPIDLE=120 KEEPWIRE_IDLE=45 "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=45 intvl=10 cnt=6 user_timeout=0" "KEEPWIRE_IDLE wins over KEEPIDLE"

is "$(kw "$PROBE" udp)" "udp keepalive=0" "UDP socket untouched"
is "$(kw "$PROBE" unix)" "unix keepalive=0" "AF_UNIX socket untouched"
is "$(kw "$PROBE" socketpair)" "socketpair keepalive=0,0" "socketpair untouched"
is "$(kw KEEPWIRE=off "$PROBE" tcp4)" "tcp4 keepalive=0 idle=7200 intvl=75 cnt=9 user_timeout=0" \
	"KEEPWIRE=off leaves sockets alone"
is "$(kw KEEPALIVE=off "$PROBE" tcp4)" "tcp4 keepalive=0 idle=7200 intvl=75 cnt=9 user_timeout=0" \
	"libkeepalive's KEEPALIVE=off leaves sockets alone"
is "$(kw KEEPALIVE=skip "$PROBE" tcp6)" "tcp6 keepalive=0 idle=7200 intvl=75 cnt=9 user_timeout=0" \
	"libkeepalive's KEEPALIVE=skip leaves sockets alone"

# Sockets keepwire did not create get configured when they connect.
out=$(kw "$PROBE" connect-unseen)
like "$out" "before-connect keepalive=0 idle=7200" "an unseen socket starts unconfigured"
like "$out" "connected keepalive=1 idle=60 intvl=10 cnt=6" "connect() configures an unseen socket"
out=$(kw "$PROBE" connect-preset)
like "$out" "connected keepalive=1 idle=77 intvl=75 cnt=9" \
	"connect() leaves an unseen socket whose keepalive was already chosen"
out=$(kw KEEPWIRE_POLICY=force "$PROBE" connect-preset)
like "$out" "connected keepalive=1 idle=60 intvl=10 cnt=6" "policy force configures it anyway"

# errno and return values are exactly libc's.
plain=$("$PROBE" errno)
with=$(kw "$PROBE" errno)
is "$with" "$plain" "errno and return values are the same with and without keepwire"
like "$with" "socket-ok rc=1 errno=33" "errno is preserved by a successful socket()"

done_testing
