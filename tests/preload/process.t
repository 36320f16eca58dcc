#!/bin/sh
# Process-level behaviour: threads, fork+exec, and a socket() made by
# another library's constructor before keepwire's own constructor ran.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

is "$(kw KEEPWIRE_IDLE=17 "$PROBE" threads 32 300)" "threads=32 sockets=9600 bad=0" \
	"32 threads creating and closing sockets at once: every TCP socket configured"
is "$("$PROBE" threads 2 10)" "threads=2 sockets=20 bad=20" \
	"the thread check fails without keepwire"

out=$(kw KEEPWIRE_IDLE=19 "$PROBE" exec)
like "$out" "^tcp4 keepalive=1 idle=19 intvl=10 cnt=6 user_timeout=0$" \
	"a child started with fork+exec keeps the configuration"
like "$out" "^child status=0$" "the child ran normally"

is "$("$PROBE" ctor)" "ctor fd_ok=1 keepalive=0 idle=7200" \
	"without keepwire the constructor's socket is unconfigured"
is "$(kw KEEPWIRE_IDLE=21 "$PROBE" ctor)" "ctor fd_ok=1 keepalive=1 idle=21" \
	"a socket() from another library's constructor, before keepwire's, is configured"
out=$(env KEEPWIRE_IDLE=abc LD_PRELOAD="$KW_PRELOAD" "$PROBE" ctor 2>&1)
like "$out" "ctor fd_ok=1 keepalive=0 idle=7200" \
	"a bad configuration seen first from a constructor still fails open"
is "$(printf '%s\n' "$out" | grep -c 'KEEPWIRE_IDLE="abc"')" 1 "... with one message"

done_testing
