/* The BBR model (core/bbr.h) over a simulated path with fake time: a
 * bottleneck of R bytes/s and a fixed round trip T, one ACK per segment,
 * delivery rate samples built as the stack builds them. Checked: STARTUP
 * grows like slow start and ends when the bandwidth stops growing; the
 * estimates find R and T; PROBE_BW's window is about 2 BDP; a loss holds
 * the window to packet conservation for a round and gives it back after
 * recovery (NewReno would halve it); an RTO's window of 1 segment comes
 * back too; app-limited samples never lower the estimate, while a slower
 * path does once 10 rounds have passed; PROBE_RTT after 10 s without a
 * new minimum, at 4 segments for 200 ms and a round; the window's bounds. */
#include "core/bbr.h"
#include "tests/tap.h"

#include <string.h>

#define MSS 1448u
#define US(x) ((uint64_t)(x) * 1000u)
#define MS(x) ((uint64_t)(x) * 1000000u)
#define SEC(x) ((uint64_t)(x) * 1000000000u)
#define QUANTUM (2u * MSS)
#define NPKT 65536u

/* One segment in flight, with the rate state of its send. */
struct pkt {
	uint64_t sent, ack_at;
	uint64_t delivered, delivered_at, first_sent;
	bool app_limited;
};

struct sim {
	struct kw_bbr b;
	uint64_t now, rate, rtt;        /* bottleneck bytes/s, propagation ns */
	uint64_t link_free;             /* when the bottleneck is free again */
	uint64_t delivered, delivered_at, first_sent;
	struct pkt q[NPKT];             /* in flight, oldest first (a ring) */
	unsigned head, n;
	/* what the next ACK reports, set by a test */
	bool recovering;
	uint32_t lost;
	bool app_limited;
	uint64_t acks;
};

static void sim_init(struct sim *s, uint64_t rate, uint64_t rtt, uint32_t cap)
{
	memset(s, 0, sizeof(*s));
	s->now = SEC(100);
	s->rate = rate;
	s->rtt = rtt;
	kw_bbr_init(&s->b, MSS, 10 * MSS, cap, s->now);
}

static uint32_t inflight(const struct sim *s)
{
	return s->n * MSS;
}

/* Send what the window allows now. */
static void sim_send(struct sim *s)
{
	while (inflight(s) + MSS <= kw_bbr_cwnd(&s->b) && s->n < NPKT) {
		struct pkt *p = &s->q[(s->head + s->n) % NPKT];
		uint64_t start = s->link_free > s->now ? s->link_free : s->now;

		if (s->n == 0)
			s->first_sent = s->delivered_at = s->now;
		s->link_free = start + MSS * SEC(1) / s->rate;
		p->sent = s->now;
		p->ack_at = s->link_free + s->rtt;
		p->delivered = s->delivered;
		p->delivered_at = s->delivered_at;
		p->first_sent = s->first_sent;
		p->app_limited = s->app_limited;
		s->n++;
	}
}

/* The next ACK: one segment delivered. */
static void sim_ack(struct sim *s)
{
	struct pkt p = s->q[s->head];
	struct kw_bbr_ack a;
	uint64_t send_elapsed, ack_elapsed;

	s->head = (s->head + 1) % NPKT;
	s->n--;
	if (p.ack_at > s->now)
		s->now = p.ack_at;
	s->delivered += MSS;
	s->delivered_at = s->now;
	s->first_sent = p.sent;
	send_elapsed = p.sent - p.first_sent;
	ack_elapsed = s->now - p.delivered_at;
	memset(&a, 0, sizeof(a));
	a.now_ns = s->now;
	a.acked = MSS;
	a.lost = s->lost;
	a.inflight = inflight(s);
	a.recovering = s->recovering;
	a.delivered = s->delivered;
	a.prior_delivered = p.delivered;
	a.interval_ns = send_elapsed > ack_elapsed ? send_elapsed : ack_elapsed;
	a.app_limited = p.app_limited;
	a.rtt_ns = s->now - p.sent;
	a.quantum = QUANTUM;
	s->lost = 0;
	s->acks++;
	kw_bbr_on_ack(&s->b, &a);
}

/* Run until the fake clock passes `until`. */
static void sim_run(struct sim *s, uint64_t until)
{
	sim_send(s);
	while (s->now < until && s->n > 0) {
		sim_ack(s);
		sim_send(s);
	}
}

static uint64_t bdp(const struct sim *s)
{
	return s->rate * s->rtt / SEC(1);
}

static bool near(uint64_t got, uint64_t want, unsigned pct)
{
	uint64_t d = got > want ? got - want : want - got;

	return d * 100 <= want * pct;
}

static struct sim S;

static void test_init(void)
{
	struct kw_bbr b;

	kw_bbr_init(&b, MSS, 10 * MSS, 1u << 30, SEC(1));
	tap_is_u64(kw_bbr_cwnd(&b), 10 * MSS, "init: the initial window");
	tap_ok(b.mode == KW_BBR_STARTUP, "init: STARTUP");
	tap_ok(kw_bbr_bw(&b) == 0 && kw_bbr_min_rtt(&b) == 0, "init: no estimates yet");
	kw_bbr_init(&b, MSS, MSS, 1u << 30, SEC(1));
	tap_is_u64(kw_bbr_cwnd(&b), 4 * MSS, "init: never below 4 segments");
	tap_is_str(kw_bbr_mode_name(KW_BBR_PROBE_RTT), "probe_rtt", "mode names");
}

static void test_startup_and_steady(void)
{
	uint64_t c1, c2, t;
	unsigned i;

	/* 100 Mbit/s, 10 ms: a BDP of 125,000 bytes (86 segments). */
	sim_init(&S, 12500000, MS(10), 1u << 30);
	sim_send(&S);
	for (i = 0; i < 10; i++)
		sim_ack(&S);
	c1 = kw_bbr_cwnd(&S.b);
	tap_is_u64(c1, 20 * MSS, "STARTUP: the first window's 10 ACKs add 10 segments (slow start)");
	sim_run(&S, S.now + MS(40));
	c2 = kw_bbr_cwnd(&S.b);
	tap_diag("startup: cwnd %llu, then %llu 40 ms later", (unsigned long long)c1,
		 (unsigned long long)c2);
	tap_ok(c2 >= 8 * c1 - 10 * MSS, "... and it keeps doubling per round trip");
	for (i = 0, t = S.now; i < 200 && S.b.mode == KW_BBR_STARTUP; i++)
		sim_run(&S, S.now + MS(10));
	tap_ok(S.b.full_bw_reached && S.b.mode != KW_BBR_STARTUP,
	       "the bandwidth stopped growing: STARTUP is over");
	tap_diag("STARTUP ended after %.0f ms", (double)(S.now - t) / 1e6);
	sim_run(&S, S.now + SEC(2));
	tap_ok(S.b.mode == KW_BBR_PROBE_BW, "... DRAIN, then PROBE_BW");
	tap_diag("steady: bw %llu bytes/s, min RTT %llu ns, cwnd %u (BDP %llu)",
		 (unsigned long long)kw_bbr_bw(&S.b), (unsigned long long)kw_bbr_min_rtt(&S.b),
		 kw_bbr_cwnd(&S.b), (unsigned long long)bdp(&S));
	tap_ok(near(kw_bbr_bw(&S.b), S.rate, 3), "bandwidth estimate within 3 % of the bottleneck's");
	tap_ok(kw_bbr_min_rtt(&S.b) >= MS(10) && kw_bbr_min_rtt(&S.b) <= MS(10) + US(120),
	       "minimum RTT: the path's 10 ms (plus one segment's serialization)");
	tap_ok(kw_bbr_cwnd(&S.b) >= 2 * bdp(&S) - 2 * MSS &&
	       kw_bbr_cwnd(&S.b) <= 2 * bdp(&S) + 3 * QUANTUM + bdp(&S) / 2,
	       "PROBE_BW: the window about 2 BDP (plus 3 TSO frames and some aggregation)");
}

static void test_loss(void)
{
	uint32_t before, entry, low = UINT32_MAX;
	unsigned i;

	before = kw_bbr_cwnd(&S.b);
	S.recovering = true;
	S.lost = MSS;
	sim_ack(&S);
	entry = kw_bbr_cwnd(&S.b);
	tap_is_u64(entry, inflight(&S) + MSS,
		   "a loss: recovery starts at packet conservation (in flight + delivered)");
	tap_ok(S.b.conservation, "... conservation for the first round");
	for (i = 0; i < 60; i++) {
		sim_send(&S);
		sim_ack(&S);
		if (kw_bbr_cwnd(&S.b) < low)
			low = kw_bbr_cwnd(&S.b);
	}
	S.recovering = false;
	sim_send(&S);
	sim_ack(&S);
	tap_diag("loss: cwnd %u before, %u at entry, %u lowest, %u after recovery", before, entry, low,
		 kw_bbr_cwnd(&S.b));
	tap_ok(low > before / 2 + MSS, "... never near NewReno's halved window");
	tap_ok(kw_bbr_cwnd(&S.b) >= before, "recovery over: the window from before the loss is back");
	tap_ok(!S.b.conservation, "... conservation over");
	sim_run(&S, S.now + MS(200));
}

static void test_rto(void)
{
	uint32_t before = kw_bbr_cwnd(&S.b);

	kw_bbr_on_rto(&S.b);
	tap_is_u64(kw_bbr_cwnd(&S.b), MSS, "RTO: the window is one segment");
	kw_bbr_undo(&S.b);
	tap_is_u64(kw_bbr_cwnd(&S.b), before, "a spurious RTO undone: the window from before");
	kw_bbr_on_rto(&S.b);
	S.recovering = true;
	sim_ack(&S);
	tap_ok(kw_bbr_cwnd(&S.b) >= 4 * MSS && kw_bbr_cwnd(&S.b) < before,
	       "after the RTO: the window grows from at least 4 segments");
	S.recovering = false;
	sim_ack(&S);
	tap_ok(kw_bbr_cwnd(&S.b) >= before, "the lost data recovered: the window from before the RTO");
	sim_run(&S, S.now + MS(200));
}

static void test_filters(void)
{
	uint64_t bw = kw_bbr_bw(&S.b);
	struct kw_bbr_ack a;
	unsigned i;

	/* An app-limited sample at a tenth of the rate: ignored. */
	memset(&a, 0, sizeof(a));
	a.now_ns = S.now;
	a.acked = MSS;
	a.inflight = inflight(&S);
	a.delivered = S.delivered;
	a.prior_delivered = S.delivered - 10 * MSS;
	a.interval_ns = 10 * MSS * SEC(10) / S.rate;
	a.app_limited = true;
	a.quantum = QUANTUM;
	kw_bbr_on_ack(&S.b, &a);
	tap_is_u64(kw_bbr_bw(&S.b), bw, "an app-limited sample below the estimate does not lower it");
	/* The path slows to half: the old maximum ages out after 10 rounds. */
	S.rate /= 2;
	sim_run(&S, S.now + 5 * S.rtt);
	tap_ok(near(kw_bbr_bw(&S.b), bw, 3), "half the rate for 5 rounds: still the old maximum");
	for (i = 0; i < 40; i++)
		sim_run(&S, S.now + S.rtt);
	tap_diag("after the slowdown: bw %llu (was %llu)", (unsigned long long)kw_bbr_bw(&S.b),
		 (unsigned long long)bw);
	tap_ok(near(kw_bbr_bw(&S.b), S.rate, 5), "... after more than 10 rounds: the new rate");
}

static void test_probe_rtt(void)
{
	uint64_t entered = 0, left = 0, end;
	uint32_t prior = 0, low = UINT32_MAX;
	bool seen = false;

	/* The propagation time doubles: no sample reaches the old minimum,
	 * so after 10 s the model goes to measure it again. */
	S.rtt = MS(20);
	end = S.now + SEC(12);
	sim_send(&S);
	while (S.now < end && S.n > 0) {
		enum kw_bbr_mode was = S.b.mode;
		uint32_t cw = kw_bbr_cwnd(&S.b);

		sim_ack(&S);
		if (was != KW_BBR_PROBE_RTT && S.b.mode == KW_BBR_PROBE_RTT) {
			entered = S.now;
			prior = cw;
			seen = true;
		}
		if (S.b.mode == KW_BBR_PROBE_RTT && kw_bbr_cwnd(&S.b) < low)
			low = kw_bbr_cwnd(&S.b);
		if (was == KW_BBR_PROBE_RTT && S.b.mode != KW_BBR_PROBE_RTT && !left)
			left = S.now;
		sim_send(&S);
		if (S.n == 0)
			S.now += MS(1);     /* nothing in flight: time passes anyway */
		sim_send(&S);
	}
	tap_ok(seen, "no new minimum RTT for 10 s: PROBE_RTT");
	tap_is_u64(low, 4 * MSS, "... at a window of 4 segments");
	tap_diag("PROBE_RTT from %.3f s to %.3f s; min RTT now %llu ns", (double)entered / 1e9,
		 (double)left / 1e9, (unsigned long long)kw_bbr_min_rtt(&S.b));
	tap_ok(left > entered && left - entered >= MS(200), "... for at least 200 ms");
	tap_ok(kw_bbr_min_rtt(&S.b) >= MS(20), "... and the minimum RTT is the new path's");
	tap_ok(S.b.mode == KW_BBR_PROBE_BW && kw_bbr_cwnd(&S.b) >= prior,
	       "PROBE_RTT over: PROBE_BW with the window from before it");
}

static void test_cap(void)
{
	uint32_t max = 0;
	unsigned i;

	sim_init(&S, 12500000, MS(10), 30 * MSS);
	for (i = 0; i < 100; i++) {
		sim_run(&S, S.now + MS(10));
		if (kw_bbr_cwnd(&S.b) > max)
			max = kw_bbr_cwnd(&S.b);
	}
	tap_is_u64(max, 30 * MSS, "the window never passes the cap given (and reaches it)");
	S.lost = 100 * MSS;
	S.recovering = false;
	sim_ack(&S);
	tap_ok(kw_bbr_cwnd(&S.b) >= 4 * MSS, "a huge loss report: still at least 4 segments");
}

int main(void)
{
	test_init();
	test_startup_and_steady();
	test_loss();
	test_rto();
	test_filters();
	test_probe_rtt();
	test_cap();
	return tap_done();
}
