#!/bin/sh
# Stack sockets across exec (issue 9, item 2): an image that exec()s while
# it holds connected and listening stack sockets; the new image, with
# keepwire preloaded again, finds them in the engine's shared slots (by the inode
# of its end of each socketpair) and sees TCP sockets, not AF_UNIX ones.
# In a namespace with the TAP device kwt0 (kernel end 10.241.N.1, stack
# 10.241.N.2), with the engine as a process (the default placement):
#   - tests/direct/exec-sshd.c: after exec, a connected socket's names, options
#     set before and after connect, SO_ERROR (0, and ECONNRESET on one the
#     peer reset), TCP_INFO, a child forked after the exec, shutdown(SHUT_WR)
#     reaching the kernel as FIN, close; a close-on-exec one closed by the
#     exec (the kernel sees its FIN); a listener accepting after exec with
#     the kernel client's address, and the accepted socket exec'd again in
#     a forked handler (the inetd/sshd pattern);
#   - sshd with its default re-exec, under keepwire --direct: the kernel's
#     ssh client logs in with a key restricted to from="<its address>",
#     runs `echo ok`, and sshd's log names the client's address and port.
# Needs root, /dev/net/tun, ip; sshd, ssh and ssh-keygen (openssh-server,
# openssh-client) for the second part.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

PROG="$KW_BUILDDIR/tests/direct/exec-sshd"
for p in "$PROG" "$KW_CMD"; do
	[ -x "$p" ] || { echo "Bail out! $p is not built (make check builds it)"; exit 1; }
done
direct_setup dexec 241
K=$KADDR
S=$SADDR
kernel() { ip netns exec "$NS" timeout 30 env KW_T_KERNEL="$K" KW_T_STACK="$S" "$@"; }
pdirect() { direct_exec KEEPWIRE_ENGINE=process KEEPWIRE_LOG=debug timeout 30 "$@"; }

# The C program's TAP lines, numbered on after ours (its plan dropped).
take_tap() {
	while IFS= read -r _line; do
		case $_line in
		"ok "*)
			_tap_n=$((_tap_n + 1))
			echo "ok $_tap_n ${_line#ok [0-9]* }" ;;
		"not ok "*)
			_tap_n=$((_tap_n + 1))
			_tap_failed=1
			echo "not ok $_tap_n ${_line#not ok [0-9]* }" ;;
		"1.."*) ;;
		*) echo "$_line" ;;
		esac
	done < "$1"
}
show_err() {
	for _f in "$@"; do
		[ -s "$_f" ] && diag "$(basename "$_f"):" "$(head -c 3000 "$_f")"
	done
	return 0
}

# ---- a connected socket across exec --------------------------------------
kernel "$PROG" peer 7401 > "$TMP/peer.out" 2> "$TMP/peer.err" &
peer=$!
if wait_for_line "$TMP/peer.err" '^listening$' 100; then
	pdirect "$PROG" connect 7401 > "$TMP/connect.out" 2> "$TMP/connect.err"
	status=$?
	take_tap "$TMP/connect.out"
	is "$status" 0 "the exec'd image exited 0"
	grep -q 'taken back' "$TMP/connect.err" || show_err "$TMP/connect.err"
	wait "$peer"
	is "$?" 0 "the kernel-side peer exited 0"
	like "$(sed -n 1p "$TMP/peer.out")" "^accepted 1 from $S:[0-9]+\$" \
		"the kernel accepted the connection from the stack"
	is "$(grep '^3:' "$TMP/peer.out")" "3: 0 bytes, FIN" \
		"the close-on-exec connection: the kernel sees its FIN at the exec"
	is "$(grep '^1:' "$TMP/peer.out")" "1: got 'hello', FIN" \
		"the kernel gets what the exec'd image wrote, then its SHUT_WR as FIN"
else
	ok 1 "the kernel-side peer listens on $K:7401"
	show_err "$TMP/peer.err"
	kill "$peer" 2>/dev/null
fi

# ---- a listener across exec, the accepted socket across another ----------
pdirect "$PROG" listen 7402 > "$TMP/listen.out" 2> "$TMP/listen.err"
status=$?
take_tap "$TMP/listen.out"
is "$status" 0 "the exec'd listener image exited 0"
[ "$status" -eq 0 ] || show_err "$TMP/listen.err"

# ---- sshd with re-exec -----------------------------------------------------
SSHD=/usr/sbin/sshd
sshd_skip=
if [ ! -x "$SSHD" ] || ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
	sshd_skip="sshd, ssh or ssh-keygen is not installed (openssh-server, openssh-client)"
elif ! id sshd >/dev/null 2>&1; then
	sshd_skip="no 'sshd' user for sshd's privilege separation"
fi
# sshd's privilege separation chroots into /run/sshd: made here if missing,
# and removed again at the end.
made_run_sshd=
if [ -z "$sshd_skip" ] && [ ! -d /run/sshd ]; then
	if mkdir -m 0755 /run/sshd 2>/dev/null; then
		made_run_sshd=1
	else
		sshd_skip="cannot create sshd's privilege separation directory /run/sshd"
	fi
fi
cleanup() {
	[ -z "$made_run_sshd" ] || rmdir /run/sshd 2>/dev/null
	onens_cleanup
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

if [ -n "$sshd_skip" ]; then
	skip "$sshd_skip"
else
	ssh-keygen -q -t ed25519 -N '' -C kw-host -f "$TMP/host_key" </dev/null
	ssh-keygen -q -t ed25519 -N '' -C kw-user -f "$TMP/user_key" </dev/null
	echo "from=\"$K\" $(cat "$TMP/user_key.pub")" > "$TMP/authorized_keys"
	cat > "$TMP/sshd_config" <<EOF
Port 2222
AddressFamily inet
ListenAddress 0.0.0.0
HostKey $TMP/host_key
PidFile $TMP/sshd.pid
AuthorizedKeysFile $TMP/authorized_keys
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
LogLevel VERBOSE
EOF
	ip netns exec "$NS" env ${KW_ASAN_RUNTIME:+LD_PRELOAD=$KW_ASAN_RUNTIME} \
		"$KW_CMD" --direct --tap kwt0 --address "$S/24" -- \
		"$SSHD" -D -f "$TMP/sshd_config" -E "$TMP/sshd.log" 2> "$TMP/sshd.err" &
	if wait_for_line "$TMP/sshd.log" 'Server listening on 0.0.0.0 port 2222' 100; then
		out=$(ip netns exec "$NS" timeout 30 ssh -F /dev/null -i "$TMP/user_key" \
			-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
			-o BindAddress="$K" -o ConnectTimeout=10 -p 2222 root@"$S" echo ok 2> "$TMP/ssh.err")
		is "$out" "ok" "ssh with a key restricted to from=\"$K\" logs in to sshd under keepwire --direct and runs 'echo ok'"
		[ "$out" = ok ] || show_err "$TMP/ssh.err"
		log=$(grep 'Accepted publickey' "$TMP/sshd.log")
		like "$log" "Accepted publickey for root from $K port [1-9][0-9]* ssh2" \
			"sshd's re-exec'd image logs the client's address and port"
		[ -n "$log" ] || show_err "$TMP/sshd.log"
		like "$(grep -m1 'Connection from' "$TMP/sshd.log")" \
			"Connection from $K port [1-9][0-9]* on $S port 2222" \
			"... and its own address and port"
	else
		ok 1 "sshd listens on port 2222 under keepwire --direct"
		show_err "$TMP/sshd.err" "$TMP/sshd.log"
	fi
fi
done_testing
