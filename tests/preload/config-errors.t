#!/bin/sh
# Bad configuration: one clear line naming the variable, the value and what
# is accepted; the program runs on with keepalive as the OS had it, or, with
# KEEPWIRE_STRICT=1, exits with status 2 before main.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

TIME_RULE='expected a duration from 1s to 32767s: whole seconds, or a number with unit ms, s, m or h (1500ms, 90s, 5m)'
COUNT_RULE='expected a whole number from 1 to 127'
FAILOPEN='keepwire is off in this process, keepalive left as the system set it'
UNTOUCHED='tcp4 keepalive=0 idle=7200 intvl=75 cnt=9 user_timeout=0'
err_file=${TMPDIR:-/tmp}/kw-config-errors.$$
trap 'rm -f "$err_file"' EXIT

# check ASSIGNMENT EXPECTED-MESSAGE (without the keepwire[pid] prefix)
check() {
	out=$(env "$1" LD_PRELOAD="$KW_PRELOAD" "$PROBE" tcp4 2>"$err_file")
	status=$?
	err=$(cat "$err_file")
	is "$status:$out" "0:$UNTOUCHED" "$1: the program runs on, socket untouched"
	is "$(printf '%s\n' "$err" | sed 's/^keepwire\[[0-9]*\]: //')" "$2; $FAILOPEN" \
		"$1: exactly one line naming variable, value and what is accepted"
}

check KEEPWIRE_IDLE=abc "KEEPWIRE_IDLE=\"abc\": not a number; $TIME_RULE"
check KEEPWIRE_IDLE=0 "KEEPWIRE_IDLE=\"0\": out of range; $TIME_RULE"
check KEEPWIRE_IDLE=40000 "KEEPWIRE_IDLE=\"40000\": out of range; $TIME_RULE"
check KEEPWIRE_IDLE=-5 "KEEPWIRE_IDLE=\"-5\": negative; $TIME_RULE"
check KEEPWIRE_IDLE=10x "KEEPWIRE_IDLE=\"10x\": unknown unit; $TIME_RULE"
check KEEPWIRE_IDLE= "KEEPWIRE_IDLE=\"\": empty value; $TIME_RULE"
check KEEPWIRE_IDLE=184467440737095516160 "KEEPWIRE_IDLE=\"184467440737095516160\": out of range; $TIME_RULE"
check KEEPWIRE_INTERVAL=1.5s "KEEPWIRE_INTERVAL=\"1.5s\": not a number; $TIME_RULE"
check KEEPWIRE_COUNT=0 "KEEPWIRE_COUNT=\"0\": out of range; $COUNT_RULE"
check KEEPWIRE_COUNT=128 "KEEPWIRE_COUNT=\"128\": out of range; $COUNT_RULE"
check KEEPWIRE_COUNT=six "KEEPWIRE_COUNT=\"six\": not a number; $COUNT_RULE"
check KEEPWIRE_USER_TIMEOUT=soon "KEEPWIRE_USER_TIMEOUT=\"soon\": not a number; expected off, auto, or a duration from 0 to 2147483647ms (whole seconds, or a number with unit ms, s, m or h)"
check KEEPWIRE_POLICY=always 'KEEPWIRE_POLICY="always": unknown policy; expected default or force'
check KEEPWIRE_LOG=loud 'KEEPWIRE_LOG="loud": unknown level; expected error, warn, info or debug'
check KEEPWIRE=maybe 'KEEPWIRE="maybe": expected on or off'
check KEEPIDLE=1m 'KEEPIDLE="1m": not a number; expected whole seconds from 1 to 32767'

# The message is printed once per process, not once per socket.
env KEEPWIRE_COUNT=0 LD_PRELOAD="$KW_PRELOAD" "$PROBE" threads 4 10 >/dev/null 2>"$err_file"
is "$(wc -l <"$err_file" | tr -d ' ')" 1 "one message per process, however many sockets"

# Strict mode: exit 2 before main.
out=$(env KEEPWIRE_STRICT=1 KEEPWIRE_IDLE=abc LD_PRELOAD="$KW_PRELOAD" "$PROBE" main 2>"$err_file")
status=$?
is "$status" 2 "KEEPWIRE_STRICT=1 with a bad value exits with status 2"
is "$out" "" "... before main runs"
like "$(cat "$err_file")" '^keepwire\[[0-9]+\]: KEEPWIRE_IDLE="abc": not a number; .*; exiting \(KEEPWIRE_STRICT=1\)$' \
	"... saying why"
out=$(env KEEPWIRE_STRICT=1 KEEPWIRE_IDLE=9 LD_PRELOAD="$KW_PRELOAD" "$PROBE" tcp4 2>"$err_file")
is "$?:$out" "0:tcp4 keepalive=1 idle=9 intvl=10 cnt=6 user_timeout=0" "strict with a valid value runs normally"

# Quiet by default; informative at info.
out=$(env KEEPWIRE_IDLE=30 LD_PRELOAD="$KW_PRELOAD" "$PROBE" tcp4 2>"$err_file")
is "$(cat "$err_file")" "" "a valid configuration prints nothing at the default level"
env KEEPWIRE_LOG=info KEEPWIRE_IDLE=1500ms LD_PRELOAD="$KW_PRELOAD" "$PROBE" tcp4 >/dev/null 2>"$err_file"
err=$(cat "$err_file")
like "$err" '^keepwire\[[0-9]+\]: KEEPWIRE_IDLE=1500ms: kernel keepalive timers count whole seconds; using 2s$' \
	"rounding to whole seconds is said at info"
like "$err" '^keepwire\[[0-9]+\]: socket mode: idle 2s, interval 10s, count 6, user timeout off, policy default$' \
	"the effective settings are said at info"
env KEEPWIRE_LOG=debug LD_PRELOAD="$KW_PRELOAD" "$PROBE" tcp4 >/dev/null 2>"$err_file"
like "$(cat "$err_file")" '^keepwire\[[0-9]+\]: fd [0-9]+: keepalive on, idle 60s, interval 10s, count 6$' \
	"each configured socket is said at debug"
env KEEPWIRE_LOG=error KEEPWIRE_POLICY=force LD_PRELOAD="$KW_PRELOAD" "$PROBE" program-sets >/dev/null 2>"$err_file"
is "$(cat "$err_file")" "" "KEEPWIRE_LOG=error silences warnings"

done_testing
