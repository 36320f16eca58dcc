/* scale-tap: many idle keepalive connections from keepwire's stack to the
 * Linux kernel over a TAP device (bench/scale-tap.sh runs it; results in
 * docs/BENCHMARKS.md, "Scale").
 *
 *   scale-tap hold --port P
 *       kernel side: accept every connection and keep it, silently (the
 *       kernel's TCP answers the stack's keepalive probes by itself);
 *       prints "held N" when the count changes.
 *   scale-tap stack --tap DEV --address A/P --peer K --port P --conns N
 *                   [--idle S] [--interval S] [--count C] [--measure S]
 *       opens N connections (keepalive on: idle, interval, count), waits
 *       until all are established, then measures over --measure seconds of
 *       real idle time: CPU of this process, keepalive probes sent, and
 *       RSS per connection; checks every connection is still ESTABLISHED. */
#define _GNU_SOURCE
#include "dev/loop.h"
#include "dev/tap.h"
#include "stack/stack.h"
#include "stack/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "scale-tap: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	if (f)
		fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

__attribute__((noreturn)) static void hold(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1, ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN }, out[64];
	long held = 0;

	raise_nofile();
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(l, 4096) != 0)
		die("listen on port %d: %s", port, strerror(errno));
	ev.data.fd = l;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	printf("hold listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, out, 64, -1);

		for (int i = 0; i < n; i++) {
			int c = accept(l, NULL, NULL);
			if (c >= 0)
				held++;
		}
		printf("held %ld\n", held);
		fflush(stdout);
	}
}

struct opts {
	const char *tap, *address, *peer;
	int port, conns;
	double idle, interval, measure;
	unsigned count;
};

static int run_stack(const struct opts *o)
{
	struct kw_tap_options topt = { .name = o->tap, .must_exist = true };
	struct kw_stack_config cfg = { .seed = 0x5ca1e };
	struct keepalive_config ka = {
		.idle_ns = (uint64_t)(o->idle * 1e9),
		.interval_ns = (uint64_t)(o->interval * 1e9),
		.count = o->count,
	};
	struct kw_tcp_stats ts0, ts1;
	struct kw_tcp **c;
	struct kw_stack *stack;
	struct kw_loop *loop;
	struct kw_tap *tap;
	struct in_addr a;
	char err[256], addr[32];
	const char *slash = strchr(o->address, '/');
	uint32_t peer;
	uint64_t t0, end;
	long rss0, rss1;
	double cpu0, cpu1;
	int up = 0;

	if (slash == NULL || (size_t)(slash - o->address) >= sizeof(addr) ||
	    inet_pton(AF_INET, o->peer, &a) != 1)
		die("bad --address or --peer");
	peer = ntohl(a.s_addr);
	memcpy(addr, o->address, (size_t)(slash - o->address));
	addr[slash - o->address] = 0;
	if (inet_pton(AF_INET, addr, &a) != 1)
		die("bad --address");
	cfg.addr = ntohl(a.s_addr);
	cfg.prefix_len = (uint8_t)atoi(slash + 1);
	tap = kw_tap_open(&topt, err, sizeof(err));
	if (tap == NULL)
		die("%s", err);
	stack = kw_stack_create(&cfg, kw_tap_netdev(tap));
	loop = stack ? kw_loop_create(stack, tap) : NULL;
	c = calloc((size_t)o->conns, sizeof(*c));
	if (loop == NULL || c == NULL)
		die("out of memory");

	rss0 = rss_kib();
	t0 = kw_loop_now();
	/* Open in batches the kernel's accept queue takes. */
	for (int i = 0; i < o->conns; i++) {
		int r;

		if (kw_tcp_open(kw_stack_tcp(stack), &c[i]) < 0)
			die("kw_tcp_open");
		kw_tcp_set_keepalive(c[i], true, &ka, kw_loop_now());
		r = kw_tcp_connect(c[i], peer, (uint16_t)o->port, kw_loop_now());
		if (r != -EINPROGRESS && r != 0)
			die("connect %d: %s", i, strerror(-r));
		if (i % 256 == 255)
			for (int k = 0; k < 20; k++)
				kw_loop_run_once(loop, 1000000);
	}
	end = kw_loop_now() + 120 * UINT64_C(1000000000);
	while (up < o->conns && kw_loop_now() < end) {
		kw_loop_run_once(loop, 10000000);
		up = 0;
		for (int i = 0; i < o->conns; i++)
			up += kw_tcp_state(c[i]) == KW_TCP_ESTABLISHED;
	}
	if (up < o->conns)
		die("only %d of %d connections established", up, o->conns);
	printf("established %d in %.2f s\n", up, (double)(kw_loop_now() - t0) / 1e9);

	/* Idle: keepalive probes go out and the kernel answers them. */
	kw_tcp_layer_stats(kw_stack_tcp(stack), &ts0);
	rss1 = rss_kib();
	cpu0 = cpu_s();
	t0 = kw_loop_now();
	end = t0 + (uint64_t)(o->measure * 1e9);
	while (kw_loop_now() < end)
		kw_loop_run_once(loop, end - kw_loop_now());
	cpu1 = cpu_s();
	kw_tcp_layer_stats(kw_stack_tcp(stack), &ts1);
	up = 0;
	for (int i = 0; i < o->conns; i++)
		up += kw_tcp_state(c[i]) == KW_TCP_ESTABLISHED;
	printf("conns=%d established_after=%d measure_s=%.1f cpu_s=%.4f cpu_us_per_s=%.1f "
	       "probes=%llu aborts=%llu ns_cpu_per_probe=%.0f rss_kib=%ld bytes_per_conn=%.0f\n",
	       o->conns, up, o->measure, cpu1 - cpu0, (cpu1 - cpu0) * 1e6 / o->measure,
	       (unsigned long long)(ts1.keepalive_probes - ts0.keepalive_probes),
	       (unsigned long long)(ts1.keepalive_aborts - ts0.keepalive_aborts),
	       ts1.keepalive_probes > ts0.keepalive_probes
		       ? (cpu1 - cpu0) * 1e9 / (double)(ts1.keepalive_probes - ts0.keepalive_probes) : 0.0,
	       rss1, (double)(rss1 - rss0) * 1024.0 / o->conns);
	return up == o->conns ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tap", required_argument, NULL, 't' }, { "address", required_argument, NULL, 'a' },
		{ "peer", required_argument, NULL, 'p' }, { "port", required_argument, NULL, 'P' },
		{ "conns", required_argument, NULL, 'n' }, { "idle", required_argument, NULL, 'i' },
		{ "interval", required_argument, NULL, 'v' }, { "count", required_argument, NULL, 'c' },
		{ "measure", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 },
	};
	struct opts o = { .conns = 10000, .idle = 10, .interval = 5, .count = 3, .measure = 30 };
	int opt;

	if (argc < 2)
		die("usage: scale-tap hold|stack [options] (see the source)");
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 't': o.tap = optarg; break;
		case 'a': o.address = optarg; break;
		case 'p': o.peer = optarg; break;
		case 'P': o.port = atoi(optarg); break;
		case 'n': o.conns = atoi(optarg); break;
		case 'i': o.idle = atof(optarg); break;
		case 'v': o.interval = atof(optarg); break;
		case 'c': o.count = (unsigned)atoi(optarg); break;
		case 'm': o.measure = atof(optarg); break;
		default: die("bad option");
		}
	}
	if (strcmp(argv[1], "hold") == 0)
		hold(o.port);
	if (strcmp(argv[1], "stack") == 0) {
		if (!o.tap || !o.address || !o.peer || o.port <= 0 || o.conns <= 0)
			die("stack: --tap, --address, --peer, --port, --conns");
		return run_stack(&o);
	}
	die("unknown mode %s", argv[1]);
	return 1;
}
