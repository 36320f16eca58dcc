#!/bin/sh
# kwtcp's command line (no root needed): --help documents the options and
# exit codes; each kind of bad input gets one clear line naming the option
# and the value, and exit status 2; a device that cannot be opened gets
# exit status 1.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

KWTCP="$KW_BUILDDIR/tests/stack/kwtcp"
[ -x "$KWTCP" ] || { echo "Bail out! $KWTCP is not built (make check builds it)"; exit 1; }

out=$("$KWTCP" --help 2>&1)
ok $? "--help exits 0"
like "$out" "^usage: kwtcp --tap NAME" "--help starts with a usage line"
like "$out" "--keepalive I,N,C" "--help lists --keepalive"
like "$out" "^Exit status: 0 done" "--help documents the exit codes"

# run EXPECTED-STATUS REGEX DESCRIPTION ARGS...
run() {
	_want=$1 _re=$2 _desc=$3
	shift 3
	_err=$("$KWTCP" "$@" 2>&1 >/dev/null </dev/null)
	_st=$?
	if [ "$_st" -eq "$_want" ] && [ "$(printf '%s\n' "$_err" | wc -l)" -eq 1 ] &&
	   printf '%s\n' "$_err" | grep -Eq -- "$_re"; then
		ok 0 "$_desc"
	else
		ok 1 "$_desc"
		diag "status $_st (want $_want): $_err"
	fi
}
T="--tap kwnone0 --attach --address 10.9.9.2/24"
run 2 "^kwtcp: --tap and --address are required" "no arguments: usage error"
run 2 "give exactly one of --connect and --listen" "neither --connect nor --listen" $T
run 2 "give exactly one of --connect and --listen" "both --connect and --listen" $T --connect 10.9.9.1:1 --listen 2
run 2 "bad --address '10.9.9.2': expected A.B.C.D/PREFIX" "an address without prefix" --tap x --address 10.9.9.2 --listen 1
run 2 "bad --address '10.9.9.2/33'" "a prefix of 33" --tap x --address 10.9.9.2/33 --listen 1
run 2 "bad --connect '10.9.9.1': expected A.B.C.D:PORT" "--connect without a port" $T --connect 10.9.9.1
run 2 "bad --connect '10.9.9.1:70000'" "--connect to port 70000" $T --connect 10.9.9.1:70000
run 2 "bad --listen '0': expected a port from 1 to 65535" "--listen 0" $T --listen 0
run 2 "bad --mac '01:00:5e:00:00:01': expected a unicast MAC" "a multicast --mac" $T --listen 1 --mac 01:00:5e:00:00:01
run 2 "bad --keepalive '1,1': expected IDLE,INTERVAL,COUNT" "--keepalive with two fields" $T --listen 1 --keepalive 1,1
run 2 "bad keepalive idle 'abc'" "--keepalive idle not a duration" $T --listen 1 --keepalive abc,1,3
run 2 "bad keepalive interval '0'" "--keepalive interval 0" $T --listen 1 --keepalive 1,0,3
run 2 "bad keepalive count '128': expected an integer from 1 to 127" "--keepalive count 128" $T --listen 1 --keepalive 1,1,128
run 2 "bad --send-bytes '-1'" "--send-bytes -1" $T --listen 1 --send-bytes -1
run 2 "bad --hold '10x'" "--hold 10x" $T --listen 1 --hold 10x
run 2 "unknown option '--frobnicate'" "an unknown option" $T --listen 1 --frobnicate 1
run 2 "--timeout needs a value" "an option without its value" $T --listen 1 --timeout
run 1 "^kwtcp: .*kwnone0" "a TAP device that does not exist (--attach): exit 1, naming it" $T --listen 1 --keepalive 1500ms,500ms,4

done_testing
