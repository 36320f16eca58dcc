/* 10 MiB each way at once, with a byte checksum: on a clean link, and on
 * a link with 5% loss, reordering and duplication. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <time.h>

#define TOTAL (10u * 1024 * 1024)

struct flow {
	struct kw_tcp *from, *to;
	size_t sent, got;
	uint32_t sum_sent, sum_got;   /* Fletcher-like, order sensitive */
	uint32_t a_s, a_g;
	uint64_t x;
	bool eof;
};

static uint8_t gen(struct flow *f)
{
	f->x = f->x * 6364136223846793005u + 1442695040888963407u;
	return (uint8_t)(f->x >> 56);
}

static void pump(struct flow *f, uint64_t now)
{
	uint8_t buf[16384];

	while (f->sent < TOTAL) {
		size_t n = TOTAL - f->sent < sizeof(buf) ? TOTAL - f->sent : sizeof(buf);
		uint64_t save = f->x;
		ssize_t r;
		for (size_t i = 0; i < n; i++)
			buf[i] = gen(f);
		r = kw_tcp_send(f->from, buf, n, now);
		if (r <= 0) {
			f->x = save;
			break;
		}
		/* Re-generate to keep the generator in step with what was taken. */
		f->x = save;
		for (ssize_t i = 0; i < r; i++) {
			uint8_t b = gen(f);
			f->a_s += b;
			f->sum_sent += f->a_s;
		}
		f->sent += (size_t)r;
		if (f->sent == TOTAL)
			kw_tcp_shutdown(f->from, 1 /* SHUT_WR */, now);
	}
	for (;;) {
		ssize_t r = kw_tcp_recv(f->to, buf, sizeof(buf), now);
		if (r == 0)
			f->eof = true;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			f->a_g += buf[i];
			f->sum_got += f->a_g;
		}
		f->got += (size_t)r;
	}
}

struct both {
	struct flow f[2];
};

static bool done(struct tcp_pair *p, void *arg)
{
	struct both *b = arg;
	pump(&b->f[0], p->now);
	pump(&b->f[1], p->now);
	return b->f[0].eof && b->f[1].eof;
}

static void run(const char *name, uint64_t seed, double loss, double reorder, double dup)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	struct both b;
	struct kw_tcp_stats st0, st1;
	uint64_t start;
	clock_t t0 = clock();
	char d[160];
	bool ok;

	pair_init(&p, seed);
	memset(&b, 0, sizeof(b));
	if (pair_connect(&p, 5001, &c, &s, NULL) != 0) {
		tap_ok(0, "connect");
		return;
	}
	p.loss = loss;
	p.reorder = reorder;
	p.dup = dup;
	b.f[0] = (struct flow){ .from = c, .to = s, .x = seed };
	b.f[1] = (struct flow){ .from = s, .to = c, .x = seed * 7 + 1 };
	start = p.now;
	ok = pair_run_while_not(&p, done, &b, p.now + SEC(3600));
	kw_tcp_layer_stats(p.l[0], &st0);
	kw_tcp_layer_stats(p.l[1], &st1);
	snprintf(d, sizeof(d), "%s: both directions reach EOF", name);
	tap_ok(ok, d);
	snprintf(d, sizeof(d), "%s: 10 MiB client->server, checksum matches", name);
	tap_ok(b.f[0].got == TOTAL && b.f[0].sum_got == b.f[0].sum_sent, d);
	snprintf(d, sizeof(d), "%s: 10 MiB server->client, checksum matches", name);
	tap_ok(b.f[1].got == TOTAL && b.f[1].sum_got == b.f[1].sum_sent, d);
	tap_diag("%s: %.3f s of fake time, %.2f s wall, %llu events; retransmits %llu/%llu, fast %llu/%llu",
		 name, (double)(p.now - start) / 1e9, (double)(clock() - t0) / CLOCKS_PER_SEC,
		 (unsigned long long)p.events,
		 (unsigned long long)st0.retransmits, (unsigned long long)st1.retransmits,
		 (unsigned long long)st0.fast_retransmits, (unsigned long long)st1.fast_retransmits);
	if (loss > 0) {
		snprintf(d, sizeof(d), "%s: fast retransmit was used", name);
		tap_ok(st0.fast_retransmits + st1.fast_retransmits > 0, d);
	}
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	p.loss = p.reorder = p.dup = 0;
	pair_run_until(&p, p.now + SEC(130));
	snprintf(d, sizeof(d), "%s: everything closed and freed", name);
	tap_ok(kw_tcp_layer_count(p.l[0]) + kw_tcp_layer_count(p.l[1]) == 0, d);
	pair_fini(&p);
}

int main(void)
{
	run("clean", 11, 0, 0, 0);
	run("5% loss + reorder + dup", 12, 0.05, 0.05, 0.02);
	return tap_done();
}
