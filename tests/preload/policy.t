#!/bin/sh
# KEEPWIRE_POLICY: the program's own setsockopt wins by default; under
# force keepwire's values stay and the attempt is logged.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

out=$(kw "$PROBE" program-sets 2>/dev/null)
like "$out" "program-set keepalive=1 idle=33 intvl=10 cnt=2" "default: the program's values win"
like "$out" "program-off keepalive=0" "default: the program may switch keepalive off"

out=$(kw KEEPWIRE_POLICY=force "$PROBE" program-sets 2>/tmp/kw-policy.$$)
err=$(cat /tmp/kw-policy.$$); rm -f /tmp/kw-policy.$$
like "$out" "program-set keepalive=1 idle=60 intvl=10 cnt=6" "force: keepwire's values stay"
like "$out" "program-off keepalive=1 idle=60" "force: the program cannot switch keepalive off"
is "$(printf '%s\n' "$err" | grep -c 'ignored (KEEPWIRE_POLICY=force)')" 1 \
	"force: one warning at the default log level"
like "$err" "^keepwire\[[0-9]+\]: fd [0-9]+: program's TCP_KEEPIDLE ignored \(KEEPWIRE_POLICY=force\); further ones are logged at info$" \
	"force: the warning names the option"
err=$(kw KEEPWIRE_POLICY=force KEEPWIRE_LOG=info "$PROBE" program-sets 2>&1 >/dev/null)
is "$(printf '%s\n' "$err" | grep -c 'ignored (KEEPWIRE_POLICY=force)')" 3 \
	"force: every ignored attempt is logged at info"

done_testing
