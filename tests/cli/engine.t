#!/bin/sh
# keepwire --engine and keepwire engine's command line (no root needed: the
# engine itself is run by tests/direct/process.t).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"

err_file=${TMPDIR:-/tmp}/kw-engine-cli.$$
trap 'rm -f "$err_file"' EXIT
run() { env ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} "$KW_CMD" "$@"; }

like "$(run --help)" '--engine P' "--help lists --engine"
like "$(run --help)" 'keepwire engine --tap IF --address A/P' "--help names keepwire engine"
is "$(run --engine process -- sh -c 'echo "$KEEPWIRE_ENGINE"')" process \
	"--engine process sets KEEPWIRE_ENGINE=process"
is "$(run --engine thread -- sh -c 'echo "$KEEPWIRE_ENGINE"')" thread \
	"--engine thread sets KEEPWIRE_ENGINE=thread"
run --engine fork -- true 2>"$err_file"; status=$?
is "$status" 2 "--engine fork exits 2"
like "$(cat "$err_file")" '^keepwire: --engine "fork": unknown placement; expected thread or process$' \
	"... naming the option, the value and what is accepted"

like "$(run --help)" '--congestion C' "--help lists --congestion"
is "$(run --congestion newreno -- sh -c 'echo "$KEEPWIRE_CONGESTION"')" newreno \
	"--congestion newreno sets KEEPWIRE_CONGESTION=newreno"
run --congestion cubic -- true 2>"$err_file"; status=$?
is "$status" 2 "--congestion cubic exits 2"
like "$(cat "$err_file")" '^keepwire: --congestion "cubic": unknown congestion control; expected bbr or newreno$' \
	"... naming the option, the value and what is accepted"

like "$(run --help)" '--busy-poll US' "--help lists --busy-poll"
is "$(run --busy-poll 50 -- sh -c 'echo "$KEEPWIRE_BUSY_POLL"')" 50 \
	"--busy-poll 50 sets KEEPWIRE_BUSY_POLL=50"
run --busy-poll 2s -- true 2>"$err_file"; status=$?
is "$status" 2 "--busy-poll 2s exits 2"
like "$(cat "$err_file")" '^keepwire: --busy-poll "2s": not a number; expected microseconds from 0 \(off\) to 1000000, as 50 or 50us$' \
	"... naming the option, the value and what is accepted"

out=$(run engine --help); status=$?
is "$status" 0 "keepwire engine --help exits 0"
like "$out" '^Usage: keepwire engine --tap IF --address A/P' "... and shows its usage"
run engine --tap kw0 2>"$err_file"; status=$?
is "$status" 2 "keepwire engine without --address exits 2"
like "$(cat "$err_file")" '^keepwire engine: --tap IF and --address A/P are required$' "... saying so"
run engine --tap kw0 --address 10.0.0.2/33 2>"$err_file"; status=$?
is "$status" 2 "keepwire engine --address 10.0.0.2/33 exits 2"
like "$(cat "$err_file")" '^keepwire engine: KEEPWIRE_ADDRESS="10.0.0.2/33"' "... with the library's message"
like "$(run engine --help)" '\[--congestion bbr\|newreno\]' "keepwire engine --help lists --congestion"
run engine --tap kw0 --address 10.0.0.2/24 --congestion vegas 2>"$err_file"; status=$?
is "$status" 2 "keepwire engine --congestion vegas exits 2"
like "$(cat "$err_file")" '^keepwire engine: KEEPWIRE_CONGESTION="vegas": unknown congestion control' \
	"... with the library's message"
run engine --tap kw0 --address 10.0.0.2/24 --bogus 2>"$err_file"; status=$?
is "$status" 2 "keepwire engine --bogus exits 2"
run engine --tap kw0 --address 10.0.0.2/24 extra 2>"$err_file"; status=$?
is "$status" 2 "keepwire engine with an operand exits 2"
done_testing
