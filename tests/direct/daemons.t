#!/bin/sh
# Real programs' process patterns in direct mode (issue 9, item 2), with
# the engine as a process (the default): nginx with `daemon on` and two
# workers, `redis-server --daemonize yes`, and `xargs -P 32` running 64
# curl fetches. Servers listen on the stack's address, which only the
# stack answers (the kernel does not have it), so a reply proves the
# stack served it; the client fetches are checked by the source address
# the kernel-side server logs. Needs root, /dev/net/tun, ip, curl,
# python3, nginx, redis-server/redis-cli (Debian: nginx-light,
# redis-server); a missing program skips its part.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/tap.sh"
. "$KW_SRCDIR/tests/lib/direct.sh"

direct_setup ddmn 227
require_cmd curl python3 sha256sum
kernel() { ip netns exec "$NS" "$@"; }

# Daemons must not outlive the test, whatever happens.
daemon_pids=
stop_daemons() {
	for f in "$TMP/nginx.pid" "$TMP/redis.pid"; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	for p in $(ip netns pids "$NS" 2>/dev/null); do
		tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "nginx\|redis-server" && kill -KILL "$p"
	done
}
trap 'stop_daemons; onens_cleanup' EXIT

head -c 1048576 /dev/urandom > "$TMP/1m"
sum=$(sha256sum < "$TMP/1m" | cut -d' ' -f1)
chmod 755 "$TMP"
chmod 644 "$TMP/1m"

# 1. nginx, daemon on, 2 workers, on the stack's address.
if command -v nginx > /dev/null 2>&1; then
	cat > "$TMP/nginx.conf" <<EOF
daemon on;
worker_processes 2;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
events { worker_connections 1024; }
http {
	log_format p '\$pid \$remote_addr \$status \$body_bytes_sent';
	access_log $TMP/nginx-access.log p;
	client_body_temp_path $TMP;
	proxy_temp_path $TMP;
	fastcgi_temp_path $TMP;
	uwsgi_temp_path $TMP;
	scgi_temp_path $TMP;
	server {
		listen $SADDR:8080;
		root $TMP;
	}
}
EOF
	direct_exec nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" > "$TMP/nginx.out" 2>&1
	is "$?" 0 "nginx (daemon on, 2 workers) under direct mode starts, exit status 0"
	for _ in $(seq 50); do [ -s "$TMP/nginx.pid" ] && break; sleep 0.1; done
	got=$(kernel curl -s --max-time 10 "http://$SADDR:8080/1m" | sha256sum | cut -d' ' -f1)
	is "$got" "$sum" "... a 1 MiB file from it over the stack, SHA-256 matches"
	seq 200 | kernel xargs -P 8 -I{} curl -s --max-time 20 -o /dev/null \
		-w '%{http_code} %{size_download}\n' "http://$SADDR:8080/1m" > "$TMP/nginx-fetch"
	is "$(grep -c '^200 1048576$' "$TMP/nginx-fetch")" 200 "... 200 fetches, 8 at a time, all complete"
	workers=$(awk '{ print $1 }' "$TMP/nginx-access.log" | sort -u | wc -l)
	diag "requests per worker: $(awk '{ print $1 }' "$TMP/nginx-access.log" | sort | uniq -c | tr -s ' \n' ' ')"
	ok "$([ "$workers" -ge 2 ] && echo 0 || echo 1)" "... served by both workers"
	is "$(grep -c 'accept4\|No route\|failed' "$TMP/nginx-error.log")" 0 "... no accept or routing error in its log"
	direct_exec nginx -c "$TMP/nginx.conf" -s quit > /dev/null 2>&1
	for _ in $(seq 100); do [ -f "$TMP/nginx.pid" ] || break; sleep 0.1; done
	ok "$([ ! -f "$TMP/nginx.pid" ] && echo 0 || echo 1)" "... nginx -s quit stops it"
else
	skip "nginx is missing (apt-get install nginx-light)"
fi

# 2. redis-server --daemonize yes on the stack's address.
if command -v redis-server > /dev/null 2>&1 && command -v redis-cli > /dev/null 2>&1; then
	direct_exec redis-server --daemonize yes --port 6390 --bind "$SADDR" --save '' --appendonly no --protected-mode no \
		--dir "$TMP" --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log" > /dev/null 2>&1
	is "$?" 0 "redis-server --daemonize yes under direct mode: exit status 0"
	for _ in $(seq 50); do kernel redis-cli -h "$SADDR" -p 6390 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
	is "$(kernel redis-cli -h "$SADDR" -p 6390 ping 2>&1)" PONG "... answers PING over the stack"
	head -c 1048576 /dev/urandom | base64 -w0 > "$TMP/val"
	kernel redis-cli -h "$SADDR" -p 6390 -x set big < "$TMP/val" > /dev/null
	is "$(kernel redis-cli -h "$SADDR" -p 6390 --raw get big | tr -d '\n' | sha256sum | cut -d' ' -f1)" \
		"$(sha256sum < "$TMP/val" | cut -d' ' -f1)" "... SET then GET of a 1.4 MB value, SHA-256 matches"
	for _ in $(seq 1000); do echo "INCR n"; done | kernel redis-cli -h "$SADDR" -p 6390 > /dev/null
	is "$(kernel redis-cli -h "$SADDR" -p 6390 get n)" 1000 "... 1,000 INCRs counted"
	kernel redis-cli -h "$SADDR" -p 6390 shutdown nosave > /dev/null 2>&1
	for _ in $(seq 50); do [ -f "$TMP/redis.pid" ] || break; sleep 0.1; done
	ok "$([ ! -f "$TMP/redis.pid" ] && echo 0 || echo 1)" "... shutdown nosave stops it"
else
	skip "redis-server is missing (apt-get install redis-server)"
fi

# 3. xargs -P 32: 64 curl processes under one keepwire, each over the stack.
# Not with the sanitizer runtime preloaded (distcheck): curl then hangs in
# its first setlocale() on glibc's locale lock whenever libkeepwire.so is
# loaded after libasan, in socket mode too (seen 2026-12-04; not yet
# understood, see README "Limits").
if [ -n "${KW_ASAN_RUNTIME:-}" ]; then
	skip "xargs -P 32 curl: curl hangs in setlocale under the ASan runtime + keepwire (known issue)"
	skip "... every one from the stack's address"
	skip "... none says the TAP device is busy"
else
	kernel python3 -u -c '
import http.server, os, socketserver, sys
os.chdir(sys.argv[2])
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, f, *a):
        sys.stdout.write("%s %s\n" % (self.client_address[0], a[1]))
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
print("listening", flush=True)
socketserver.ThreadingTCPServer((sys.argv[1], 8081), H).serve_forever()
	' "$KADDR" "$TMP" > "$TMP/http.log" 2>&1 &
	wait_for_line "$TMP/http.log" '^listening$' 50
	seq 64 | direct_exec timeout 120 sh -c "cd '$TMP' && xargs -P 32 -I{} curl -s --max-time 30 -o /dev/null \
		-w '%{http_code} %{size_download}\n' http://$KADDR:8081/1m" > "$TMP/xargs.out" 2> "$TMP/xargs.err"
	is "$(grep -c '^200 1048576$' "$TMP/xargs.out")" 64 "xargs -P 32: 64 curl fetches of 1 MiB all complete"
	is "$(grep -c "^$SADDR 200" "$TMP/http.log")" 64 "... every one from the stack's address (none over the kernel)"
	is "$(grep -ci busy "$TMP/xargs.err")" 0 "... none says the TAP device is busy"
fi
done_testing
