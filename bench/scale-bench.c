/* scale-bench: what many idle connections with keepalive on cost in
 * keepwire's direct stack (run by bench/scale.sh; method and figures in
 * docs/BENCHMARKS.md, "Scale").
 *
 * Two whole stacks (kw_stack_create: Ethernet, ARP, IPv4, TCP) are joined
 * by the in-memory link (src/dev/memlink) and driven with fake time, in
 * one thread, as a TAP-driven loop would drive one of them:
 *
 *   side 0, 10.77.0.1/24: the clients, one kw_tcp_connect() each
 *   side 1, 10.77.0.2/24: the listeners and the accepted connections
 *
 * Ephemeral ports give at most 16384 connections per (address, port)
 * pair, so the server listens on ceil(N / --per-port) ports and client i
 * connects to port 5000 + i mod that count.
 *
 * Phases:
 *   1. setup: connection i is opened at fake time T0 + i * ramp / N
 *      (ramp = the keepalive idle time by default), so the keepalive
 *      timers are spread evenly, as on a real server, and the pattern of
 *      events per connection is the same for every N. Keepalive is turned
 *      on with kw_tcp_set_keepalive() on each client before connect() and
 *      (--ka-sides 2, the default) on each accepted connection.
 *   2. warm-up: --warmup seconds of idleness (every end probes once).
 *      Memory is measured at its end.
 *   3. measured idleness: --idle seconds of fake time; the process CPU
 *      time (CLOCK_PROCESS_CPUTIME_ID) of the whole simulation loop is
 *      measured: timers, probes, answers, both stacks, and the in-memory
 *      link (a malloc, a memcpy and a heap push/pop per frame). There is
 *      no real device: no system call happens in this phase.
 *   4. checks: all N connections ESTABLISHED at both ends with no error,
 *      no retransmission, no keepalive abort, no reset, the probe count
 *      what the keepalive timing predicts. A failed check is printed and
 *      the exit status is 1.
 *
 * Memory is the growth from just before setup to the end of the
 * warm-up: resident set (/proc/self/statm), address space (statm size),
 * bytes malloc has handed out (mallinfo2: uordblks + hblkhd), and the
 * kernel's page tables for the process (VmPTE, not part of RSS), divided
 * by 2N, i.e. per connection end (one kw_tcp in one stack); both stacks
 * are in the process and hold one end each. The bench's own arrays are
 * allocated and touched before the baseline.
 *
 * --timers-only replaces the stacks by the bare timer heap the TCP layer
 * uses (src/stack/timer.h): two heaps of N timers (one per stack) with the
 * same deadlines, each re-armed one keepalive cycle later when it fires.
 * It shows what the timer structure alone costs per event as N grows,
 * with its timers in one compact array (bytes_per_timer counts that
 * array and the heaps' pointer arrays).
 *
 * Output: one line "scale key=value ..." on stdout; errors and failed
 * checks on stderr, exit 1. */
#include "config.h"
#include "core/keepalive.h"
#include "dev/memlink.h"
#include "stack/stack.h"
#include "stack/timer.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define ADDR_CLIENT IP4(10, 77, 0, 1)
#define ADDR_SERVER IP4(10, 77, 0, 2)
#define PORT_BASE 5000
#define T0 KW_NS_PER_S

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "scale-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- options ----------------------------------------------------------------- */

struct opts {
	unsigned long conns;
	unsigned long per_port;
	double idle_s, warmup_s, ramp_s;
	double ka_idle_s, ka_intvl_s;
	unsigned ka_count;
	int ka_sides;
	double delay_us;
	size_t buffers;
	uint64_t seed;
	bool timers_only;
	bool verbose;
};

static bool g_verbose;
static uint64_t g_wall0;

static uint64_t wall_ns(void);

/* --verbose: where the wall time goes, on stderr. */
static void phase(const char *what)
{
	if (g_verbose)
		fprintf(stderr, "scale-bench: %8.3f s  %s\n", (double)(wall_ns() - g_wall0) / 1e9, what);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: scale-bench --conns N [--idle S] [--warmup S] [--ramp S]\n"
		"                   [--ka-idle S] [--ka-interval S] [--ka-count N] [--ka-sides 1|2]\n"
		"                   [--delay-us US] [--per-port N] [--buffers BYTES] [--seed N]\n"
		"                   [--timers-only] [--verbose]\n");
	exit(2);
}

static double num(const char *name, const char *s, double lo, double hi)
{
	char *end;
	double v;

	if (s == NULL)
		die("%s needs a value", name);
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		die("%s: bad value '%s' (%g..%g)", name, s, lo, hi);
	return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){
		.conns = 0, .per_port = 10000, .idle_s = 600, .warmup_s = -1, .ramp_s = -1,
		.ka_idle_s = 60, .ka_intvl_s = 10, .ka_count = 5, .ka_sides = 2,
		.delay_us = 100, .buffers = 0, .seed = 1, .timers_only = false,
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--timers-only") == 0) {
			o->timers_only = true;
			continue;
		}
		if (strcmp(a, "--verbose") == 0) {
			o->verbose = true;
			continue;
		}
		if (strcmp(a, "--conns") == 0)
			o->conns = (unsigned long)num(a, v, 1, 1e7);
		else if (strcmp(a, "--per-port") == 0)
			o->per_port = (unsigned long)num(a, v, 1, 16000);
		else if (strcmp(a, "--idle") == 0)
			o->idle_s = num(a, v, 1, 1e6);
		else if (strcmp(a, "--warmup") == 0)
			o->warmup_s = num(a, v, 0, 1e6);
		else if (strcmp(a, "--ramp") == 0)
			o->ramp_s = num(a, v, 0, 1e6);
		else if (strcmp(a, "--ka-idle") == 0)
			o->ka_idle_s = num(a, v, 0.001, 1e6);
		else if (strcmp(a, "--ka-interval") == 0)
			o->ka_intvl_s = num(a, v, 0.001, 1e6);
		else if (strcmp(a, "--ka-count") == 0)
			o->ka_count = (unsigned)num(a, v, 1, 1000);
		else if (strcmp(a, "--ka-sides") == 0)
			o->ka_sides = (int)num(a, v, 1, 2);
		else if (strcmp(a, "--delay-us") == 0)
			o->delay_us = num(a, v, 1, 1e6);
		else if (strcmp(a, "--buffers") == 0)
			o->buffers = (size_t)num(a, v, 0, 16 * 1024 * 1024);
		else if (strcmp(a, "--seed") == 0)
			o->seed = (uint64_t)num(a, v, 0, 1e15);
		else
			usage();
		i++;
	}
	if (o->conns == 0)
		usage();
	/* By default the openings are spread over one keepalive idle time,
	 * and the warm-up lets every end probe once. */
	if (o->ramp_s < 0)
		o->ramp_s = o->ka_idle_s;
	if (o->warmup_s < 0)
		o->warmup_s = o->ka_idle_s + o->ka_intvl_s;
}

static uint64_t sec_ns(double s)
{
	return (uint64_t)(s * 1e9 + 0.5);
}

/* ---- measuring ----------------------------------------------------------------- */

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * KW_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * KW_NS_PER_S + (uint64_t)ts.tv_nsec;
}

struct mem {
	uint64_t vsz, rss;           /* bytes */
	uint64_t heap;               /* malloc'd and not freed, bytes */
	uint64_t pte;                /* the kernel's page tables for us (VmPTE), bytes */
	long minflt;
};

static void mem_now(struct mem *m)
{
	static long page;
	unsigned long size = 0, resident = 0;
	FILE *f;
	struct rusage ru;

	if (page == 0)
		page = sysconf(_SC_PAGESIZE);
	f = fopen("/proc/self/statm", "r");
	if (f == NULL || fscanf(f, "%lu %lu", &size, &resident) != 2)
		die("cannot read /proc/self/statm");
	fclose(f);
	m->vsz = (uint64_t)size * (uint64_t)page;
	m->rss = (uint64_t)resident * (uint64_t)page;
	m->pte = 0;
	f = fopen("/proc/self/status", "r");
	if (f != NULL) {
		char line[256];
		unsigned long kb;

		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmPTE: %lu kB", &kb) == 1)
				m->pte = (uint64_t)kb * 1024;
		fclose(f);
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	{
		struct mallinfo2 mi = mallinfo2();
		m->heap = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
	}
#else
	m->heap = 0;
#endif
	getrusage(RUSAGE_SELF, &ru);
	m->minflt = ru.ru_minflt;
}

/* Growth per connection end, in bytes (may be negative in principle). */
static double per_end(uint64_t after, uint64_t before, unsigned long ends)
{
	return ((double)after - (double)before) / (double)ends;
}

/* ---- the two stacks and the link ---------------------------------------------- */

struct sim {
	struct kw_memlink *link;
	struct kw_stack *st[2];
	uint64_t deadline[2];        /* each stack's next deadline, cached */
	bool got[2];                 /* frames delivered to it in this step */
	uint64_t now;
	uint64_t steps;
};

static void on_frame(void *ctx, int to, const void *frame, size_t len)
{
	struct sim *s = ctx;

	s->got[to] = true;
	kw_stack_input(s->st[to], frame, len, s->now);
}

/* One event time: deliver what is due, run the timers that are due. Like
 * a real driver, it asks a stack for its deadline only after giving it
 * something (frames, or time through kw_stack_poll). */
static bool sim_step(struct sim *s, uint64_t limit)
{
	uint64_t t = kw_memlink_next_deadline(s->link);

	for (int i = 0; i < 2; i++)
		if (s->deadline[i] < t)
			t = s->deadline[i];
	if (t == KW_TIME_NEVER || t > limit)
		return false;
	if (t > s->now)
		s->now = t;
	s->steps++;
	s->got[0] = s->got[1] = false;
	kw_memlink_deliver(s->link, s->now, on_frame, s);
	for (int i = 0; i < 2; i++) {
		if (s->deadline[i] <= s->now)
			s->deadline[i] = kw_stack_poll(s->st[i], s->now);
		else if (s->got[i])
			s->deadline[i] = kw_stack_next_deadline(s->st[i]);
	}
	return true;
}

/* Every event up to t; the clock ends at t. The caller may have used the
 * stacks in between (connect, accept, ...), so the deadlines are asked
 * again first. */
static void sim_run_until(struct sim *s, uint64_t t)
{
	for (int i = 0; i < 2; i++)
		s->deadline[i] = kw_stack_next_deadline(s->st[i]);
	while (sim_step(s, t))
		;
	if (s->now < t)
		s->now = t;
	kw_memlink_set_now(s->link, s->now);
}

/* The measured phase: the CPU time of running every event up to t. Out
 * of line, named, and not the same code as any other function (gcc
 * would otherwise fold it into sim_run_until), so that callgrind can
 * count this phase alone (--toggle-collect=idle_phase). */
__attribute__((noinline, noclone)) static uint64_t idle_phase(struct sim *s, uint64_t t)
{
	uint64_t c0 = cpu_ns();

	sim_run_until(s, t);
	return cpu_ns() - c0;
}

static void sim_init(struct sim *s, const struct opts *o)
{
	struct kw_memlink_config lc = {
		.seed = o->seed,
		.delay_ns = sec_ns(o->delay_us / 1e6),
		.limit = 4000000,
	};
	static const uint32_t addr[2] = { ADDR_CLIENT, ADDR_SERVER };

	memset(s, 0, sizeof(*s));
	s->now = T0;
	s->link = kw_memlink_create(&lc);
	if (s->link == NULL)
		die("cannot create the in-memory link");
	kw_memlink_set_now(s->link, s->now);
	for (int i = 0; i < 2; i++) {
		struct kw_stack_config cfg = { addr[i], 24, 0, o->seed * 2 + (uint64_t)i + 1, KW_TCP_CC_NEWRENO };

		s->st[i] = kw_stack_create(&cfg, kw_memlink_dev(s->link, i));
		if (s->st[i] == NULL)
			die("cannot create stack %d", i);
	}
}

/* ---- the connections ------------------------------------------------------------ */

struct conns {
	unsigned long n, nports;
	struct kw_tcp **client, **server, **listener;
	unsigned long nserver;
	struct keepalive_config ka;
	int ka_sides;
};

static void accept_all(struct sim *s, struct conns *c)
{
	for (unsigned long p = 0; p < c->nports; p++) {
		struct kw_tcp *t;

		while (kw_tcp_accept(c->listener[p], &t) == 0) {
			if (c->nserver >= c->n)
				die("more connections accepted than opened");
			if (c->ka_sides == 2 && kw_tcp_set_keepalive(t, true, &c->ka, s->now) < 0)
				die("kw_tcp_set_keepalive (server) failed");
			c->server[c->nserver++] = t;
		}
	}
}

static void setup(struct sim *s, struct conns *c, const struct opts *o)
{
	struct kw_tcp_layer *cl = kw_stack_tcp(s->st[0]), *sl = kw_stack_tcp(s->st[1]);
	uint64_t start = s->now, ramp = sec_ns(o->ramp_s), limit;

	for (unsigned long p = 0; p < c->nports; p++) {
		struct kw_tcp *l;

		if (kw_tcp_open(sl, &l) < 0 || kw_tcp_bind(l, 0, (uint16_t)(PORT_BASE + p)) < 0 ||
		    kw_tcp_listen(l, 4096) < 0)
			die("cannot listen on port %lu", PORT_BASE + p);
		if (o->buffers && kw_tcp_set_buffers(l, o->buffers, o->buffers) < 0)
			die("kw_tcp_set_buffers (listener) failed");
		c->listener[p] = l;
	}
	for (unsigned long i = 0; i < c->n; i++) {
		struct kw_tcp *t;
		uint64_t at = start + (uint64_t)((double)ramp * (double)i / (double)c->n);
		int r;

		sim_run_until(s, at);
		accept_all(s, c);
		if (kw_tcp_open(cl, &t) < 0)
			die("kw_tcp_open failed at connection %lu", i);
		if (o->buffers && kw_tcp_set_buffers(t, o->buffers, o->buffers) < 0)
			die("kw_tcp_set_buffers failed");
		if (kw_tcp_set_keepalive(t, true, &c->ka, s->now) < 0)
			die("kw_tcp_set_keepalive (client) failed");
		r = kw_tcp_connect(t, ADDR_SERVER, (uint16_t)(PORT_BASE + i % c->nports), s->now);
		if (r != -EINPROGRESS)
			die("kw_tcp_connect: %s at connection %lu", strerror(-r), i);
		c->client[i] = t;
	}
	/* The last handshakes: a few round trips at most. */
	limit = s->now + 10 * KW_NS_PER_S;
	while (c->nserver < c->n && s->now < limit) {
		sim_run_until(s, s->now + 10 * KW_NS_PER_MS);
		accept_all(s, c);
	}
	if (c->nserver < c->n)
		die("only %lu of %lu connections were accepted", c->nserver, c->n);
}

struct tally {
	uint64_t probes, segs, frames, retransmits, aborts, rst;
};

static void tally(const struct sim *s, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 2; i++) {
		struct kw_tcp_stats ts;
		struct kw_memlink_stats ms;

		kw_tcp_layer_stats(kw_stack_tcp(s->st[i]), &ts);
		kw_memlink_stats(s->link, i, &ms);
		t->probes += ts.keepalive_probes;
		t->segs += ts.segs_out;
		t->retransmits += ts.retransmits;
		t->aborts += ts.keepalive_aborts;
		t->rst += ts.rst_in + ts.rst_out;
		t->frames += ms.delivered;
	}
}

/* Every connection still ESTABLISHED at both ends with no error; the
 * number that are. */
static unsigned long count_ok(struct conns *c)
{
	unsigned long ok = 0;

	for (unsigned long i = 0; i < c->n; i++) {
		struct kw_tcp *a = c->client[i], *b = c->server[i];

		if (kw_tcp_state(a) == KW_TCP_ESTABLISHED && kw_tcp_take_error(a) == 0 &&
		    kw_tcp_state(b) == KW_TCP_ESTABLISHED && kw_tcp_take_error(b) == 0 &&
		    !(kw_tcp_events(a) & (KW_TCP_ERROR | KW_TCP_HUP | KW_TCP_READABLE)) &&
		    !(kw_tcp_events(b) & (KW_TCP_ERROR | KW_TCP_HUP | KW_TCP_READABLE)))
			ok++;
	}
	return ok;
}

/* ---- the bare timer heap ----------------------------------------------------------- */

struct heap_timer {
	struct kw_timer t;
	struct kw_timer_heap *heap;
};

static uint64_t g_cycle;

static void heap_fire(struct kw_timer *t, void *arg, uint64_t now_ns)
{
	struct heap_timer *h = arg;

	if (kw_timer_arm(h->heap, t, now_ns + g_cycle) < 0)
		die("kw_timer_arm: no memory");
}

/* Both heaps, in deadline order, as the two stacks' timers run. */
__attribute__((noinline)) static uint64_t heap_run(struct kw_timer_heap *h, uint64_t from,
						   uint64_t to)
{
	uint64_t now = from, ran = 0;

	for (;;) {
		uint64_t t0 = kw_timer_heap_next(&h[0]), t1 = kw_timer_heap_next(&h[1]);
		uint64_t t = t0 < t1 ? t0 : t1;
		if (t > to)
			break;
		now = t > now ? t : now;
		ran += kw_timer_heap_run(&h[t0 <= t1 ? 0 : 1], now);
	}
	return ran;
}

/* Two heaps of N timers, one per side, with the deadlines the stacks'
 * keepalive timers have: end i of connection k fires at the connection's
 * opening time + one cycle, and again one cycle after each firing. */
static int timers_only(const struct opts *o)
{
	unsigned long n = 2 * o->conns;
	struct heap_timer *v;
	struct kw_timer_heap heap[2];
	uint64_t ramp = sec_ns(o->ramp_s), start = T0, c0, c1, w0, w1, ran, end;
	struct mem m0, m1;

	mem_now(&m0);
	v = calloc(n, sizeof(*v));
	if (v == NULL)
		die("no memory for %lu timers", n);
	kw_timer_heap_init(&heap[0]);
	kw_timer_heap_init(&heap[1]);
	/* One keepalive cycle: idle plus the probe's round trip. */
	g_cycle = sec_ns(o->ka_idle_s) + 2 * sec_ns(o->delay_us / 1e6);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t at = start + (uint64_t)((double)ramp * (double)(i / 2) / (double)o->conns);
		v[i].heap = &heap[i % 2];
		kw_timer_init(&v[i].t, heap_fire, &v[i]);
		if (kw_timer_arm(v[i].heap, &v[i].t, at + g_cycle) < 0)
			die("kw_timer_arm: no memory");
	}
	end = start + ramp + sec_ns(o->warmup_s);
	heap_run(heap, start, end);
	mem_now(&m1);
	c0 = cpu_ns();
	w0 = wall_ns();
	ran = heap_run(heap, end, end + sec_ns(o->idle_s));
	c1 = cpu_ns();
	w1 = wall_ns();
	if (kw_timer_heap_size(&heap[0]) + kw_timer_heap_size(&heap[1]) != n)
		die("the heaps hold %zu timers, not %lu",
		    kw_timer_heap_size(&heap[0]) + kw_timer_heap_size(&heap[1]), n);
	printf("scale mode=timers conns=%lu timers=%lu idle_s=%g events=%" PRIu64
	       " cpu_ms=%.3f wall_ms=%.3f ns_per_event=%.1f bytes_per_timer=%.1f\n",
	       o->conns, n, o->idle_s, ran, (double)(c1 - c0) / 1e6, (double)(w1 - w0) / 1e6,
	       ran ? (double)(c1 - c0) / (double)ran : 0.0, per_end(m1.heap, m0.heap, n));
	kw_timer_heap_fini(&heap[0]);
	kw_timer_heap_fini(&heap[1]);
	free(v);
	return 0;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct opts o;
	struct sim s;
	struct conns c;
	struct mem m0, m1, m2;
	struct tally t1, t2;
	uint64_t w0, w1, cpu, cw0, cw1, t_meas, idle_ns, cycle_ns, steps0;
	double expected, sides;
	unsigned long ok, ends;
	size_t count0, count1;
	int bad = 0;

	g_wall0 = wall_ns();
	parse(argc, argv, &o);
	g_verbose = o.verbose;
	if (o.timers_only)
		return timers_only(&o);

	memset(&c, 0, sizeof(c));
	c.n = o.conns;
	c.nports = (c.n + o.per_port - 1) / o.per_port;
	c.ka = (struct keepalive_config){ sec_ns(o.ka_idle_s), sec_ns(o.ka_intvl_s), o.ka_count };
	c.ka_sides = o.ka_sides;
	c.client = calloc(c.n, sizeof(*c.client));
	c.server = calloc(c.n, sizeof(*c.server));
	c.listener = calloc(c.nports, sizeof(*c.listener));
	if (!c.client || !c.server || !c.listener)
		die("no memory for %lu handles", c.n);
	/* Make the bench's own arrays resident before the baseline. */
	memset(c.client, 0xff, c.n * sizeof(*c.client));
	memset(c.server, 0xff, c.n * sizeof(*c.server));

	sim_init(&s, &o);
	mem_now(&m0);
	phase("setup");
	w0 = wall_ns();
	cw0 = cpu_ns();
	setup(&s, &c, &o);
	cw1 = cpu_ns();
	w1 = wall_ns();

	/* Warm-up: every end probes at least once; then the link is quiet
	 * for a moment (no frame in flight) when memory is measured. */
	phase("warm-up");
	t_meas = s.now + sec_ns(o.warmup_s);
	sim_run_until(&s, t_meas);
	mem_now(&m1);
	phase("measured idleness");

	idle_ns = sec_ns(o.idle_s);
	tally(&s, &t1);
	steps0 = s.steps;
	cpu = idle_phase(&s, t_meas + idle_ns);
	tally(&s, &t2);
	mem_now(&m2);

	/* ---- checks ---- */
	phase("checks");
	ok = count_ok(&c);
	count0 = kw_tcp_layer_count(kw_stack_tcp(s.st[0]));
	count1 = kw_tcp_layer_count(kw_stack_tcp(s.st[1]));
	if (ok != c.n) {
		fprintf(stderr, "scale-bench: only %lu of %lu connections are ESTABLISHED at both ends\n",
			ok, c.n);
		bad = 1;
	}
	if (count0 != c.n || count1 != c.n + c.nports) {
		fprintf(stderr, "scale-bench: the stacks hold %zu and %zu sockets, not %lu and %lu\n",
			count0, count1, c.n, c.n + c.nports);
		bad = 1;
	}
	if (t2.retransmits || t2.aborts || t2.rst) {
		fprintf(stderr, "scale-bench: %" PRIu64 " retransmissions, %" PRIu64
			" keepalive aborts, %" PRIu64 " resets\n", t2.retransmits, t2.aborts, t2.rst);
		bad = 1;
	}
	/* Each end with keepalive probes once per cycle (idle + the probe's
	 * round trip); over the window that is idle / cycle probes, give or
	 * take one per end at the window's edges. */
	sides = o.ka_sides;
	cycle_ns = sec_ns(o.ka_idle_s) + 2 * sec_ns(o.delay_us / 1e6);
	expected = sides * (double)c.n * (double)idle_ns / (double)cycle_ns;
	if ((double)(t2.probes - t1.probes) < expected - sides * (double)c.n - 1 ||
	    (double)(t2.probes - t1.probes) > expected + sides * (double)c.n + 1) {
		fprintf(stderr, "scale-bench: %" PRIu64 " probes in the window, expected about %.0f\n",
			t2.probes - t1.probes, expected);
		bad = 1;
	}

	ends = 2 * c.n;
	{
		uint64_t probes = t2.probes - t1.probes;

		printf("scale mode=stack conns=%lu ok=%lu ports=%lu ka_sides=%d ka=%g/%g/%u"
		       " delay_us=%g buffers=%zu idle_s=%g"
		       " setup_wall_s=%.3f setup_cpu_s=%.3f"
		       " rss_per_end=%.0f vsz_per_end=%.0f heap_per_end=%.0f pte_per_end=%.0f"
		       " rss_idle_growth=%.0f minflt_idle=%ld"
		       " probes=%" PRIu64 " frames=%" PRIu64 " steps=%" PRIu64
		       " cpu_ms=%.3f us_per_sim_s=%.2f ns_per_sim_s_per_conn=%.3f"
		       " ns_per_probe=%.1f checks=%s\n",
		       c.n, ok, c.nports, o.ka_sides, o.ka_idle_s, o.ka_intvl_s, o.ka_count,
		       o.delay_us, o.buffers, o.idle_s,
		       (double)(w1 - w0) / 1e9, (double)(cw1 - cw0) / 1e9,
		       per_end(m1.rss, m0.rss, ends), per_end(m1.vsz, m0.vsz, ends),
		       per_end(m1.heap, m0.heap, ends), per_end(m1.pte, m0.pte, ends),
		       (double)m2.rss - (double)m1.rss, m2.minflt - m1.minflt,
		       probes, t2.frames - t1.frames, s.steps - steps0,
		       (double)cpu / 1e6, (double)cpu / 1e3 / o.idle_s,
		       (double)cpu / o.idle_s / (double)c.n,
		       probes ? (double)cpu / (double)probes : 0.0, bad ? "FAILED" : "ok");
	}
	fflush(stdout);
	phase("done");
	/* Freeing 2N connections is not measured and takes a while. */
	if (getenv("SCALE_BENCH_FREE")) {
		kw_stack_destroy(s.st[0]);
		kw_stack_destroy(s.st[1]);
		kw_memlink_destroy(s.link);
		free(c.client);
		free(c.server);
		free(c.listener);
	}
	return bad;
}
