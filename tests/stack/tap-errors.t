#!/bin/sh
# The TAP backend's failures are one clear line each: attaching to an
# existing TAP works, a second opener is told the device is busy, a
# missing device, a device that is not a TAP, a name too long and an
# unprivileged caller are each named as such. Runs inside a network
# namespace this test creates. Needs root, /dev/net/tun, ip, setpriv.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/onens.sh"

require_root
[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing"
require_cmd ip setpriv

KWSTACK="$KW_BUILDDIR/tests/stack/kwstack"
first_pid=


[ -x "$KWSTACK" ] || { echo "Bail out! $KWSTACK is not built (make check builds it)"; exit 1; }
onens_setup taperr

kwstack() { ip netns exec "$NS" "$KWSTACK" --address 10.233.0.2/24 --seconds 1 "$@"; }

ip -n "$NS" tuntap add dev kwp0 mode tap
ok $? "a persistent TAP device made with ip tuntap"

ip netns exec "$NS" "$KWSTACK" --address 10.233.0.2/24 --seconds 20 --attach --tap kwp0 \
	>"$TMP/first.out" 2>"$TMP/first.err" &
first_pid=$!
i=0
while ! grep -q '^ready' "$TMP/first.out" 2>/dev/null && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
like "$(cat "$TMP/first.out")" "^ready tap=kwp0 " "--attach to the existing TAP works"

err=$(kwstack --tap kwp0 2>&1 >/dev/null)
st=$?
is "$st:$err" "1:kwstack: TAP device kwp0 is busy: another process has it open" \
	"a second opener: exit 1, 'busy'"

err=$(kwstack --attach --tap kwnosuch 2>&1 >/dev/null)
like "$err" "^kwstack: no network device named 'kwnosuch' \(create one with: ip tuntap add dev kwnosuch mode tap user" \
	"--attach to a missing device: says so and how to create it"

err=$(kwstack --tap lo 2>&1 >/dev/null)
like "$err" "^kwstack: lo exists but is not a single-queue TAP device" "lo: not a TAP device"

err=$(kwstack --tap kwabcdefghijklmn 2>&1 >/dev/null)
like "$err" "^kwstack: TAP device name 'kwabcdefghijklmn' is too long \(at most 15 characters\)\$" \
	"a 16-character name: too long"

# Unprivileged: /dev/net/tun may be closed to others (permission denied)
# or open to all (then creating needs CAP_NET_ADMIN).
err=$(ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$KWSTACK" --address 10.233.0.2/24 --seconds 1 --tap kwp9 2>&1 >/dev/null)
like "$err" "^kwstack: (permission denied opening /dev/net/tun|not allowed to create TAP device kwp9: needs CAP_NET_ADMIN)" \
	"unprivileged: permission denied, said plainly ($err)"

kill -TERM "$first_pid"
wait "$first_pid"
is "$?" "0" "the attached stack exits cleanly on SIGTERM"
first_pid=

done_testing
