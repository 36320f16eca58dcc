/* stack-bench: the direct-mode throughput benchmark's programs (run by
 * bench/direct.sh; method and figures in docs/BENCHMARKS.md).
 *
 *   stack-bench sink --port P [--lowat BYTES]
 *       A kernel TCP sink: listens on 0.0.0.0:P, and for every connection
 *       reads into a 256 KiB buffer until EOF, then prints one line
 *       "sink bytes=B secs=S gbps=G" (time from accept to EOF) and closes.
 *       --lowat sets SO_RCVLOWAT on each connection (fewer wake-ups; for
 *       experiments, not used by bench/direct.sh).
 *   stack-bench stack --tap NAME --address A.B.C.D/PREFIX --peer A.B.C.D
 *                     --port P --mib N [--sndbuf BYTES] [--seed N] [--offload 1]
 *       keepwire's stack on an existing TAP device (attach only), driven
 *       by src/dev/loop: connects to the peer, sends N MiB as fast as the
 *       stack allows, closes, waits for the peer's FIN; prints
 *       "stack bytes=B secs=S gbps=G ..." and the stack's counters.
 *       --offload 1 opens the TAP with IFF_VNET_HDR, checksum and TCP
 *       segmentation offload (kw_tap_options.offload).
 *   stack-bench kernel --peer A.B.C.D --port P --mib N
 *       The same with the kernel's TCP: connect, write N MiB in 256 KiB
 *       writes, shutdown(SHUT_WR), wait for EOF.
 *   stack-bench echo --port P
 *       A kernel echo server for the latency runs: listens on 0.0.0.0:P
 *       (TCP_NODELAY), and for every connection writes back whatever it
 *       reads, until EOF.
 *   stack-bench stack-ping --tap NAME --address A.B.C.D/PREFIX --peer A.B.C.D
 *                          --port P [--count N] [--size BYTES] [--warmup N]
 *                          [--offload 1] [--poll 1] [--seed N]
 *   stack-bench kernel-ping --peer A.B.C.D --port P [--count N] [--size BYTES]
 *                           [--warmup N]
 *       Request/response latency: connect to the echo server (nodelay),
 *       then --warmup (default 1000) untimed and --count (default 20000)
 *       timed round trips, each: send --size (default 1) bytes, wait until
 *       as many came back. The stack's client sleeps in the loop's ppoll
 *       on the TAP fd, the kernel's in read(), as an ordinary program
 *       would; with --poll 1 the stack's client never sleeps (zero-timeout
 *       ppoll calls): the lowest round trip keepwire's stack can have on
 *       the machine, with no engine, bridge or wake-up on its side.
 *       Prints "ping count=N size=S min_us= p50_us= p90_us= p99_us=
 *       max_us= mean_us=".
 *   stack-bench tapwrite --tap NAME --seconds S
 *       The raw TAP ceiling: one thread, one write() per 1514-byte frame
 *       (an IPv4 frame to a MAC that is not the interface's, so the
 *       kernel drops it as soon as it has parsed the Ethernet header);
 *       prints "tapwrite frames=F secs=S fps=R gbps=G eagain=E".
 *
 * Gbit/s are of TCP payload for the TCP modes, of whole frames (1514
 * bytes, no FCS, preamble or gap) for tapwrite. Errors: one line on
 * stderr, exit 1. */
#include "config.h"
#include "dev/loop.h"
#include "dev/tap.h"
#include "stack/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static uint8_t chunk[CHUNK];

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "stack-bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	return (double)kw_loop_now() / 1e9;
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

struct opts {
	const char *tap, *address, *peer;
	int port;
	double mib, seconds;
	size_t sndbuf;
	int lowat;
	uint64_t seed;
	bool offload, poll;
	long count, warmup, size;
};

static void parse(int argc, char **argv, struct opts *o)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			die("%s needs a value", a);
		i++;
		if (strcmp(a, "--tap") == 0)
			o->tap = v;
		else if (strcmp(a, "--address") == 0)
			o->address = v;
		else if (strcmp(a, "--peer") == 0)
			o->peer = v;
		else if (strcmp(a, "--port") == 0)
			o->port = atoi(v);
		else if (strcmp(a, "--mib") == 0)
			o->mib = atof(v);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = atof(v);
		else if (strcmp(a, "--sndbuf") == 0)
			o->sndbuf = (size_t)strtoull(v, NULL, 0);
		else if (strcmp(a, "--lowat") == 0)
			o->lowat = atoi(v);
		else if (strcmp(a, "--seed") == 0)
			o->seed = strtoull(v, NULL, 0);
		else if (strcmp(a, "--offload") == 0)
			o->offload = atoi(v) != 0;
		else if (strcmp(a, "--poll") == 0)
			o->poll = atoi(v) != 0;
		else if (strcmp(a, "--count") == 0)
			o->count = atol(v);
		else if (strcmp(a, "--warmup") == 0)
			o->warmup = atol(v);
		else if (strcmp(a, "--size") == 0)
			o->size = atol(v);
		else
			die("unknown option %s", a);
	}
}

/* ---- kernel sink ---------------------------------------------------------- */

static int run_sink(const struct opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static uint8_t buf[CHUNK];
	int l, one = 1;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die("socket: %s", strerror(errno));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)o->port);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 16) < 0)
		die("bind/listen: %s", strerror(errno));
	printf("sink listening port=%d\n", o->port);
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		unsigned long long bytes = 0;
		double t0, t1;
		ssize_t n;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			die("accept: %s", strerror(errno));
		}
		if (o->lowat > 0)
			setsockopt(c, SOL_SOCKET, SO_RCVLOWAT, &o->lowat, sizeof(o->lowat));
		t0 = now_s();
		while ((n = read(c, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			bytes += (unsigned long long)n;
		}
		t1 = now_s();
		printf("sink bytes=%llu secs=%.6f gbps=%.4f%s\n", bytes, t1 - t0,
		       (double)bytes * 8 / (t1 - t0) / 1e9, n < 0 ? " error=1" : "");
		fflush(stdout);
		close(c);
	}
	return 0;
}

/* ---- kernel sender ---------------------------------------------------------- */

static int run_kernel(const struct opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long long total = (unsigned long long)(o->mib * 1048576), sent = 0;
	uint32_t peer;
	double t0, t1;
	char b[64];
	int s;

	if (parse_ip(o->peer, &peer) < 0 || o->port <= 0 || total == 0)
		die("%s", "kernel: --peer, --port and --mib are required");
	sa.sin_addr.s_addr = htonl(peer);
	sa.sin_port = htons((uint16_t)o->port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket: %s", strerror(errno));
	t0 = now_s();
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect: %s", strerror(errno));
	while (sent < total) {
		size_t want = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
		ssize_t n = write(s, chunk, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write: %s", strerror(errno));
		}
		sent += (unsigned long long)n;
	}
	shutdown(s, SHUT_WR);
	while (read(s, b, sizeof(b)) > 0)
		;
	t1 = now_s();
	close(s);
	printf("kernel bytes=%llu secs=%.6f gbps=%.4f\n", sent, t1 - t0,
	       (double)sent * 8 / (t1 - t0) / 1e9);
	return 0;
}

/* ---- keepwire's stack on a TAP device --------------------------------------- */

static int run_stack(const struct opts *o)
{
	struct kw_tap_options topt = { .name = o->tap, .must_exist = true, .offload = o->offload };
	struct kw_stack_config cfg = { .seed = o->seed ? o->seed : 0x6b77 };
	unsigned long long total = (unsigned long long)(o->mib * 1048576), queued = 0;
	struct kw_stack_stats st;
	struct kw_tcp_stats ts;
	struct kw_tap_stats tps;
	struct kw_stack *stack;
	struct kw_loop *loop;
	struct kw_tap *tap;
	struct kw_tcp *c;
	char err[256], addr[32];
	const char *slash;
	uint32_t peer;
	uint64_t t0, t_conn = 0, t_sent = 0, t1, deadline, rounds = 0, sends = 0;
	bool closed = false;
	int r;

	if (o->tap == NULL || o->address == NULL || parse_ip(o->peer, &peer) < 0 ||
	    o->port <= 0 || total == 0)
		die("%s", "stack: --tap, --address, --peer, --port and --mib are required");
	slash = strchr(o->address, '/');
	if (slash == NULL || (size_t)(slash - o->address) >= sizeof(addr))
		die("bad --address %s (A.B.C.D/PREFIX)", o->address);
	memcpy(addr, o->address, (size_t)(slash - o->address));
	addr[slash - o->address] = 0;
	if (parse_ip(addr, &cfg.addr) < 0)
		die("bad --address %s", o->address);
	cfg.prefix_len = (uint8_t)atoi(slash + 1);

	tap = kw_tap_open(&topt, err, sizeof(err));
	if (tap == NULL)
		die("%s", err);
	stack = kw_stack_create(&cfg, kw_tap_netdev(tap));
	if (stack == NULL)
		die("%s", "cannot create the stack");
	loop = kw_loop_create(stack, tap);
	if (loop == NULL)
		die("%s", "out of memory");
	if (kw_tcp_open(kw_stack_tcp(stack), &c) < 0)
		die("%s", "kw_tcp_open failed");
	if (o->sndbuf && kw_tcp_set_buffers(c, o->sndbuf, 0) < 0)
		die("%s", "kw_tcp_set_buffers failed");

	t0 = kw_loop_now();
	deadline = t0 + 120 * UINT64_C(1000000000);
	r = kw_tcp_connect(c, peer, (uint16_t)o->port, t0);
	if (r != -EINPROGRESS && r != 0)
		die("connect: %s", strerror(-r));
	for (;;) {
		unsigned ev = kw_tcp_events(c);
		uint64_t now = kw_loop_now(), wait = 200 * UINT64_C(1000000);

		if (now > deadline)
			die("%s", "timed out (120 s)");
		if (ev & KW_TCP_ERROR)
			die("connection failed: %s", strerror(kw_tcp_take_error(c)));
		if (closed) {
			enum kw_tcp_state s = kw_tcp_state(c);
			if (s == KW_TCP_TIME_WAIT || s == KW_TCP_CLOSED)
				break;
		} else if (ev & KW_TCP_WRITABLE) {
			if (t_conn == 0)
				t_conn = now;
			/* Fill the send buffer; come back without sleeping
			 * while there is room (the loop's ppoll returns at
			 * once), else sleep until an ACK arrives. */
			while (queued < total) {
				size_t want = total - queued < CHUNK ? (size_t)(total - queued) : CHUNK;
				ssize_t n = kw_tcp_send(c, chunk, want, now);
				sends++;
				if (n < 0)
					break;
				queued += (unsigned long long)n;
			}
			if (queued == total) {
				t_sent = kw_loop_now();
				kw_tcp_shutdown(c, SHUT_WR, t_sent);
				closed = true;
			}
		}
		r = kw_loop_run_once(loop, wait);
		rounds++;
		if (r < 0)
			die("device failed: %s", strerror(-r));
	}
	t1 = kw_loop_now();

	kw_stack_stats(stack, &st);
	kw_tcp_layer_stats(kw_stack_tcp(stack), &ts);
	kw_tap_stats(tap, &tps);
	printf("stack bytes=%llu secs=%.6f gbps=%.4f connect_ms=%.3f drain_ms=%.3f\n", total,
	       (double)(t1 - t_conn) / 1e9, (double)total * 8 / (double)(t1 - t_conn),
	       (double)(t_conn - t0) / 1e6, (double)(t1 - t_sent) / 1e6);
	printf("stack frames_out=%llu frames_in=%llu segs_out=%llu segs_in=%llu "
	       "retransmits=%llu fast_retransmits=%llu tx_dropped=%llu rounds=%llu sends=%llu "
	       "offload=%d\n",
	       (unsigned long long)st.frames_out, (unsigned long long)st.frames_in,
	       (unsigned long long)ts.segs_out, (unsigned long long)ts.segs_in,
	       (unsigned long long)ts.retransmits, (unsigned long long)ts.fast_retransmits,
	       (unsigned long long)tps.tx_dropped, (unsigned long long)rounds,
	       (unsigned long long)sends, o->offload);
	kw_tcp_close(c, t1);
	kw_loop_destroy(loop);
	kw_stack_destroy(stack);
	kw_tap_close(tap);
	return 0;
}

/* ---- request/response latency ---------------------------------------------- */

#define PING_MAX 65536

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The round trips' times (ns), sorted: one line of percentiles. */
static void ping_report(uint64_t *t, long n, long size)
{
	double sum = 0;

	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	for (long i = 0; i < n; i++)
		sum += (double)t[i];
#define PCT(q) ((double)t[(long)((double)(n - 1) * (q) + 0.5)] / 1e3)
	printf("ping count=%ld size=%ld min_us=%.2f p50_us=%.2f p90_us=%.2f p99_us=%.2f "
	       "max_us=%.2f mean_us=%.2f\n", n, size, PCT(0), PCT(0.5), PCT(0.9), PCT(0.99),
	       PCT(1), sum / (double)n / 1e3);
#undef PCT
}

static void ping_args(const struct opts *o, long *count, long *warmup, long *size)
{
	*count = o->count > 0 ? o->count : 20000;
	*warmup = o->warmup > 0 ? o->warmup : 1000;
	*size = o->size > 0 ? o->size : 1;
	if (*size > PING_MAX)
		die("%s", "--size is at most 65536");
}

static int run_echo(const struct opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static uint8_t buf[PING_MAX];
	int l, one = 1;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die("socket: %s", strerror(errno));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)o->port);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 16) < 0)
		die("bind/listen: %s", strerror(errno));
	printf("echo listening port=%d\n", o->port);
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		ssize_t n;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			die("accept: %s", strerror(errno));
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while ((n = read(c, buf, sizeof(buf))) != 0) {
			ssize_t off = 0;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			while (off < n) {
				ssize_t w = write(c, buf + off, (size_t)(n - off));
				if (w < 0) {
					if (errno == EINTR)
						continue;
					off = -1;
					break;
				}
				off += w;
			}
			if (off < 0)
				break;
		}
		close(c);
	}
	return 0;
}

static int run_kernel_ping(const struct opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static uint8_t buf[PING_MAX];
	long count, warmup, size;
	uint64_t *t;
	uint32_t peer;
	int s, one = 1;

	ping_args(o, &count, &warmup, &size);
	if (parse_ip(o->peer, &peer) < 0 || o->port <= 0)
		die("%s", "kernel-ping: --peer and --port are required");
	t = calloc((size_t)count, sizeof(*t));
	if (t == NULL)
		die("%s", "out of memory");
	sa.sin_addr.s_addr = htonl(peer);
	sa.sin_port = htons((uint16_t)o->port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect: %s", strerror(errno));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (long i = -warmup; i < count; i++) {
		uint64_t t0 = kw_loop_now();
		long got = 0;

		if (write(s, chunk, (size_t)size) != (ssize_t)size)
			die("write: %s", strerror(errno));
		while (got < size) {
			ssize_t n = read(s, buf, (size_t)(size - got));
			if (n <= 0)
				die("read: %s", n < 0 ? strerror(errno) : "EOF");
			got += n;
		}
		if (i >= 0)
			t[i] = kw_loop_now() - t0;
	}
	close(s);
	ping_report(t, count, size);
	free(t);
	return 0;
}

static int run_stack_ping(const struct opts *o)
{
	struct kw_tap_options topt = { .name = o->tap, .must_exist = true, .offload = o->offload };
	struct kw_stack_config cfg = { .seed = o->seed ? o->seed : 0x6b77 };
	static uint8_t buf[PING_MAX];
	long count, warmup, size;
	struct kw_stack *stack;
	struct kw_loop *loop;
	struct kw_tap *tap;
	struct kw_tcp *c;
	char err[256], addr[32];
	const char *slash;
	uint64_t *t, deadline;
	uint32_t peer;
	int r;

	ping_args(o, &count, &warmup, &size);
	if (o->tap == NULL || o->address == NULL || parse_ip(o->peer, &peer) < 0 || o->port <= 0)
		die("%s", "stack-ping: --tap, --address, --peer and --port are required");
	slash = strchr(o->address, '/');
	if (slash == NULL || (size_t)(slash - o->address) >= sizeof(addr))
		die("bad --address %s (A.B.C.D/PREFIX)", o->address);
	memcpy(addr, o->address, (size_t)(slash - o->address));
	addr[slash - o->address] = 0;
	if (parse_ip(addr, &cfg.addr) < 0)
		die("bad --address %s", o->address);
	cfg.prefix_len = (uint8_t)atoi(slash + 1);
	t = calloc((size_t)count, sizeof(*t));
	if (t == NULL)
		die("%s", "out of memory");

	tap = kw_tap_open(&topt, err, sizeof(err));
	if (tap == NULL)
		die("%s", err);
	stack = kw_stack_create(&cfg, kw_tap_netdev(tap));
	loop = stack ? kw_loop_create(stack, tap) : NULL;
	if (loop == NULL || kw_tcp_open(kw_stack_tcp(stack), &c) < 0)
		die("%s", "cannot create the stack");
	r = kw_tcp_connect(c, peer, (uint16_t)o->port, kw_loop_now());
	if (r != -EINPROGRESS && r != 0)
		die("connect: %s", strerror(-r));
	deadline = kw_loop_now() + 10 * UINT64_C(1000000000);
	while (kw_tcp_state(c) != KW_TCP_ESTABLISHED) {
		if (kw_tcp_events(c) & KW_TCP_ERROR)
			die("connect: %s", strerror(kw_tcp_take_error(c)));
		if (kw_loop_now() > deadline)
			die("%s", "connect timed out");
		if ((r = kw_loop_run_once(loop, 100 * UINT64_C(1000000))) < 0)
			die("device failed: %s", strerror(-r));
	}
	kw_tcp_set_nodelay(c, true);
	deadline = kw_loop_now() + 120 * UINT64_C(1000000000);
	for (long i = -warmup; i < count; i++) {
		uint64_t t0 = kw_loop_now();
		long got = 0;
		ssize_t n = kw_tcp_send(c, chunk, (size_t)size, t0);

		if (n != size)
			die("%s", "kw_tcp_send took less than one request");
		while (got < size) {
			n = kw_tcp_recv(c, buf, (size_t)(size - got), kw_loop_now());
			if (n > 0) {
				got += n;
				continue;
			}
			if (n == 0 || (n < 0 && n != -EAGAIN))
				die("recv: %s", n == 0 ? "EOF" : strerror((int)-n));
			if (kw_loop_now() > deadline)
				die("%s", "timed out (120 s)");
			if ((r = kw_loop_run_once(loop, o->poll ? 0 : 100 * UINT64_C(1000000))) < 0)
				die("device failed: %s", strerror(-r));
		}
		if (i >= 0)
			t[i] = kw_loop_now() - t0;
	}
	kw_tcp_close(c, kw_loop_now());
	/* Let the FIN go and be answered, so the echo server's connection ends. */
	for (int k = 0; k < 20 && kw_tcp_layer_count(kw_stack_tcp(stack)) > 0; k++)
		kw_loop_run_once(loop, 10 * UINT64_C(1000000));
	ping_report(t, count, size);
	kw_loop_destroy(loop);
	kw_stack_destroy(stack);
	kw_tap_close(tap);
	free(t);
	return 0;
}

/* ---- raw TAP ceiling ------------------------------------------------------- */

static int run_tapwrite(const struct opts *o)
{
	struct kw_tap_options topt = { .name = o->tap, .must_exist = true };
	unsigned long long frames = 0, eagain = 0;
	static uint8_t frame[1514];
	struct kw_tap *tap;
	char err[256];
	uint64_t t0, t1, end;
	int fd;

	if (o->tap == NULL || o->seconds <= 0)
		die("%s", "tapwrite: --tap and --seconds are required");
	tap = kw_tap_open(&topt, err, sizeof(err));
	if (tap == NULL)
		die("%s", err);
	fd = kw_tap_fd(tap);
	/* To 02:00:00:00:00:01 (not the interface), from the TAP's MAC, an
	 * IPv4 header: the kernel counts the frame and drops it as
	 * PACKET_OTHERHOST. */
	frame[0] = 0x02;
	frame[5] = 0x01;
	memcpy(frame + 6, kw_tap_netdev(tap)->mac, 6);
	frame[12] = 0x08;
	frame[14] = 0x45;
	t0 = kw_loop_now();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	do {
		for (int i = 0; i < 256; i++) {
			if (write(fd, frame, sizeof(frame)) == (ssize_t)sizeof(frame))
				frames++;
			else if (errno == EAGAIN)
				eagain++;
			else
				die("write: %s", strerror(errno));
		}
		t1 = kw_loop_now();
	} while (t1 < end);
	printf("tapwrite frames=%llu secs=%.6f fps=%.0f gbps=%.4f eagain=%llu\n", frames,
	       (double)(t1 - t0) / 1e9, (double)frames / ((double)(t1 - t0) / 1e9),
	       (double)frames * sizeof(frame) * 8 / (double)(t1 - t0), eagain);
	kw_tap_close(tap);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 131 + (i >> 8));
	if (argc < 2)
		die("%s", "usage: stack-bench sink|stack|kernel|tapwrite|echo|stack-ping|kernel-ping "
		    "OPTIONS (see the source)");
	parse(argc, argv, &o);
	if (strcmp(argv[1], "sink") == 0)
		return run_sink(&o);
	if (strcmp(argv[1], "kernel") == 0)
		return run_kernel(&o);
	if (strcmp(argv[1], "stack") == 0)
		return run_stack(&o);
	if (strcmp(argv[1], "tapwrite") == 0)
		return run_tapwrite(&o);
	if (strcmp(argv[1], "echo") == 0)
		return run_echo(&o);
	if (strcmp(argv[1], "stack-ping") == 0)
		return run_stack_ping(&o);
	if (strcmp(argv[1], "kernel-ping") == 0)
		return run_kernel_ping(&o);
	die("unknown mode %s", argv[1]);
	return 1;
}
