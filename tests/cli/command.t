#!/bin/sh
# The keepwire command: options become the environment, the library goes in
# front of LD_PRELOAD, the command's status and signals pass through, and
# bad input gets usage and status 2.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

err_file=${TMPDIR:-/tmp}/kw-command.$$
trap 'rm -f "$err_file"' EXIT
# Under a sanitizer build the ASan runtime must stay first in LD_PRELOAD.
run() { env ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} "$KW_CMD" "$@"; }

like "$(run --version)" '^keepwire [0-9]+\.[0-9]+\.[0-9]+$' "--version"
out=$(run --help); status=$?
is "$status" 0 "--help exits 0"
like "$out" '^Usage: keepwire \[OPTIONS\] \[--\] COMMAND \[ARG\.\.\.\]$' "--help shows usage"
like "$out" '--user-timeout' "--help lists the options"

run --bogus true >/dev/null 2>"$err_file"; status=$?
is "$status" 2 "an unknown option exits 2"
like "$(cat "$err_file")" 'Usage: keepwire' "... and prints usage on stderr"
run --idle >/dev/null 2>"$err_file"; status=$?
is "$status" 2 "a missing option value exits 2"
run >/dev/null 2>"$err_file"; status=$?
is "$status" 2 "no command exits 2"
like "$(cat "$err_file")" 'no command given' "... saying so"
run --idle abc -- true 2>"$err_file"; status=$?
is "$status" 2 "--idle abc exits 2"
like "$(cat "$err_file")" '^keepwire: --idle "abc": not a number; expected a duration from 1s to 32767s' \
	"... naming the option, the value and what is accepted"
run --count 0 -- true 2>/dev/null; is "$?" 2 "--count 0 exits 2"
run --interval 10x -- true 2>/dev/null; is "$?" 2 "--interval 10x exits 2"
run --user-timeout soon -- true 2>/dev/null; is "$?" 2 "--user-timeout soon exits 2"
run --policy always -- true 2>/dev/null; is "$?" 2 "--policy always exits 2"
run --log loud -- true 2>/dev/null; is "$?" 2 "--log loud exits 2"
like "$(run --help)" '--direct.*needs --tap and --address' "--help lists direct mode's options"
run --direct --tap kw0 -- true 2>"$err_file"; status=$?
is "$status" 2 "--direct without --address exits 2"
like "$(cat "$err_file")" '^keepwire: KEEPWIRE_MODE=direct needs KEEPWIRE_ADDRESS' "... naming what is missing"
run --direct --tap kw0 --address 10.0.0.2/24 --gateway 10.1.0.1 -- true 2>"$err_file"; status=$?
is "$status" 2 "--direct with an off-link gateway exits 2"
like "$(cat "$err_file")" 'KEEPWIRE_GATEWAY="10.1.0.1": outside KEEPWIRE_ADDRESS.s network 10.0.0.0/24' \
	"... with the library's own words"
run --direct --tap kw0 --address 10.0.0.2/33 -- true 2>/dev/null; is "$?" 2 "--address 10.0.0.2/33 exits 2"
run --direct --tap kw0 --address 10.0.0.2/24 --mtu 9 -- true 2>/dev/null; is "$?" 2 "--mtu 9 exits 2"
run --direct --tap kw0 --address 10.0.0.2/24 --mac zz -- true 2>/dev/null; is "$?" 2 "--mac zz exits 2"
run --direct --tap kw0 --address 10.0.0.2/24 --route 10.0.0.0/99 -- true 2>/dev/null; is "$?" 2 "--route 10.0.0.0/99 exits 2"
is "$(run --direct --tap kw0 --address 10.0.0.2/24 --gateway 10.0.0.1 --route 10.9.0.0/16,192.0.2.7 \
	--mac 02:00:00:00:00:07 --mtu 1400 -- env 2>/dev/null | grep '^KEEPWIRE_' | sort | tr '\n' ' ')" \
	"KEEPWIRE_ADDRESS=10.0.0.2/24 KEEPWIRE_GATEWAY=10.0.0.1 KEEPWIRE_MAC=02:00:00:00:00:07 KEEPWIRE_MODE=direct KEEPWIRE_MTU=1400 KEEPWIRE_ROUTE=10.9.0.0/16,192.0.2.7 KEEPWIRE_TAP=kw0 " \
	"the direct options set their variables"
run -- /nonexistent/program 2>"$err_file"; status=$?
is "$status" 127 "a command that does not exist exits 127"
like "$(cat "$err_file")" '^keepwire: cannot run /nonexistent/program: No such file or directory$' "... saying so"

is "$(run --idle 12 --interval 3 --count 5 -- "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=12 intvl=3 cnt=5 user_timeout=0" "options reach the library"
is "$(run "$PROBE" tcp6)" "tcp6 keepalive=1 idle=60 intvl=10 cnt=6 user_timeout=0" \
	"without options the defaults apply, and -- is optional"
is "$(run --idle 20 --interval 5 --count 2 --user-timeout auto "$PROBE" tcp4)" \
	"tcp4 keepalive=1 idle=20 intvl=5 cnt=2 user_timeout=30000" "--user-timeout auto"
like "$(run --policy force "$PROBE" program-sets 2>/dev/null)" "program-set keepalive=1 idle=60" "--policy force"
run --log info "$PROBE" tcp4 >/dev/null 2>"$err_file"
like "$(cat "$err_file")" 'socket mode: idle 60s' "--log info"
env KEEPWIRE_COUNT=999 ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} "$KW_CMD" --strict "$PROBE" main >/dev/null 2>&1
is "$?" 2 "--strict makes a bad environment value fatal"
like "$(run "$PROBE" tcp4 -x)" "tcp4 keepalive=1" "options after the command belong to the command"

is "$(run sh -c 'exit 7')" "" "command runs"
run sh -c 'exit 7'; is "$?" 7 "the command's exit status passes through"
status=$( (run sh -c 'kill -TERM $$') 2>/dev/null; echo $?); is "$status" 143 "a signal that kills the command passes through"

lib=$(run sh -c 'printf %s "$LD_PRELOAD"')
like "$lib" "libkeepwire\.so$" "LD_PRELOAD holds the library"
other="$KW_BUILDDIR/tests/lib/.libs/libctorsock.so"
lib=$(env LD_PRELOAD="${KW_ASAN_RUNTIME:+$KW_ASAN_RUNTIME:}$other" "$KW_CMD" sh -c 'printf %s "$LD_PRELOAD"')
like "$lib" "libkeepwire\.so:.*libctorsock\.so$" "the library is put in front of an existing LD_PRELOAD"
lib=$(env LD_PRELOAD="$lib" "$KW_CMD" sh -c 'printf %s "$LD_PRELOAD"')
is "$(printf '%s' "$lib" | grep -o libkeepwire.so | wc -l | tr -d ' ')" 1 "never added twice"
env KEEPWIRE_LIBRARY=/nonexistent/libkeepwire.so "$KW_CMD" true 2>"$err_file"
is "$?" 1 "a missing library is an error"
like "$(cat "$err_file")" "cannot read /nonexistent/libkeepwire.so" "... naming the path"

# keepwire show
run show 999999999 2>"$err_file"; status=$?
is "$status" 1 "show of a PID that does not exist exits 1"
like "$(cat "$err_file")" '^keepwire show: no process with PID 999999999$' "... saying so"
run show abc 2>/dev/null; is "$?" 2 "show abc exits 2"
run show 2>/dev/null; is "$?" 2 "show without a PID exits 2"
out=$(run show $$); status=$?
is "$status" 0 "show of a process without TCP sockets exits 0"
like "$out" '^\(no TCP sockets\)$' "... and says it has none"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$KW_CMD" show 1 2>"$err_file"
	status=$?
	is "$status" 1 "show of another user's process without permission exits 1"
	like "$(cat "$err_file")" '^keepwire show: permission denied for PID 1' "... saying permission denied"
else
	skip "needs root and setpriv to run as another user"
	skip "needs root and setpriv to run as another user"
fi

done_testing
