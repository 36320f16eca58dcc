# TAP helpers for keepwire's shell tests. Source it first thing:
#   . "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
# make check and make prove export KW_BUILDDIR and KW_SRCDIR; run by hand
# from an in-tree build, the paths default to the source tree.

: "${KW_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${KW_BUILDDIR:=$KW_SRCDIR}"
export KW_SRCDIR KW_BUILDDIR

KW_LIB="$KW_BUILDDIR/.libs/libkeepwire.so"
KW_CMD="$KW_BUILDDIR/keepwire"
PROBE="$KW_BUILDDIR/tests/preload/probe"
# The sanitizer runtime must be the first object loaded.
if [ -n "${KW_ASAN_RUNTIME:-}" ]; then
	KW_PRELOAD="$KW_ASAN_RUNTIME:$KW_LIB"
	export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=0"
else
	KW_PRELOAD="$KW_LIB"
fi

# Whatever the caller's environment says about keepalive, tests start clean.
unset KEEPWIRE KEEPWIRE_IDLE KEEPWIRE_INTERVAL KEEPWIRE_COUNT KEEPWIRE_USER_TIMEOUT \
	KEEPWIRE_POLICY KEEPWIRE_LOG KEEPWIRE_STRICT KEEPWIRE_MODE KEEPWIRE_LIBRARY \
	KEEPWIRE_TAP KEEPWIRE_ADDRESS KEEPWIRE_GATEWAY KEEPWIRE_MAC KEEPWIRE_MTU KEEPWIRE_ROUTE \
	KEEPALIVE KEEPIDLE KEEPINTVL KEEPCNT LD_PRELOAD

_tap_n=0
_tap_failed=0

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# ok STATUS DESCRIPTION: STATUS 0 passes.
ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $2"
	fi
}

# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "  got:  '$1'" "  want: '$2'"
	fi
}

# like TEXT EXTENDED-REGEX DESCRIPTION
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "  '$1'" "  does not match /$2/"
	fi
}

skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $*"; }

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
}

# kw ENV... COMMAND...: run with libkeepwire.so preloaded.
kw() { env LD_PRELOAD="$KW_PRELOAD" "$@"; }

# wait_for_line FILE REGEX TENTHS: wait up to TENTHS tenths of a second for
# a line of FILE to match REGEX; 0 when it did.
wait_for_line() {
	_w=0
	while [ "$_w" -lt "$3" ]; do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		_w=$((_w + 1))
	done
	grep -Eq -- "$2" "$1" 2>/dev/null
}

# Skip the whole file unless root.
require_root() {
	[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, nftables)"
}

# Skip the whole file unless each named program is installed.
require_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed"
	done
}
