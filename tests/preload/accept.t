#!/bin/sh
# accept() and accept4(): accepted sockets carry keepwire's values, whether
# inherited from a listener keepwire configured or applied afresh.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

is "$("$PROBE" accept)" "accepted keepalive=0 idle=7200 intvl=75 cnt=9 user_timeout=0" \
	"without keepwire an accepted socket has the kernel defaults"
for kind in accept accept-unseen; do
	is "$(kw KEEPWIRE_IDLE=25 "$PROBE" $kind)" \
		"accepted keepalive=1 idle=25 intvl=10 cnt=6 user_timeout=0" "$kind: configured"
done
for kind in accept4 accept4-unseen; do
	out=$(kw KEEPWIRE_IDLE=25 "$PROBE" $kind)
	like "$out" "accepted keepalive=1 idle=25 intvl=10 cnt=6 user_timeout=0" "$kind: configured"
	like "$out" "flags nonblock=1 cloexec=1" "$kind: SOCK_NONBLOCK|SOCK_CLOEXEC kept"
done
is "$(kw KEEPWIRE_USER_TIMEOUT=auto "$PROBE" accept-unseen)" \
	"accepted keepalive=1 idle=60 intvl=10 cnt=6 user_timeout=120000" \
	"accept from an unseen listener sets the user timeout too"
is "$(kw "$PROBE" accept-program)" "accepted keepalive=1 idle=44 intvl=10 cnt=6 user_timeout=0" \
	"the program's own listener setting is inherited, not overridden"
is "$(kw KEEPWIRE_POLICY=force "$PROBE" accept-program 2>/dev/null)" \
	"accepted keepalive=1 idle=60 intvl=10 cnt=6 user_timeout=0" \
	"policy force keeps keepwire's values on the listener"
out=$(kw "$PROBE" accept-unix)
like "$out" "unix-accepted keepalive=0" "a socket accepted from an AF_UNIX listener is untouched"
like "$out" "unix-client keepalive=0" "an AF_UNIX client socket is untouched"

done_testing
