/* The in-memory link: delay and delivery order, determinism from the
 * seed, loss rate, drop-everything, reordering, duplication, jitter,
 * the in-flight limit. Every frame carries its number in bytes 14..17. */
#include "dev/memlink.h"
#include "core/keepalive.h"
#include "tests/tap.h"

#include <errno.h>

#define MS(x) ((uint64_t)(x) * UINT64_C(1000000))
#define US(x) ((uint64_t)(x) * UINT64_C(1000))
#define MAXREC 40000

struct rec {
	size_t n;
	uint32_t id[MAXREC];
	uint64_t at[MAXREC];
	int side[MAXREC];
	uint64_t now;
	struct kw_memlink *echo_link;    /* if set: answer each frame */
};

static void record(void *ctx, int to, const void *frame, size_t len)
{
	struct rec *r = ctx;
	const uint8_t *p = frame;

	if (len < 18 || r->n >= MAXREC)
		return;
	r->id[r->n] = (uint32_t)p[14] << 24 | (uint32_t)p[15] << 16 | (uint32_t)p[16] << 8 | p[17];
	r->at[r->n] = r->now;
	r->side[r->n] = to;
	r->n++;
	if (r->echo_link)
		kw_netdev_transmit(kw_memlink_dev(r->echo_link, to), frame, len);
}

static int send_id(struct kw_memlink *l, int side, uint32_t id)
{
	uint8_t f[60] = { 0 };

	f[14] = (uint8_t)(id >> 24);
	f[15] = (uint8_t)(id >> 16);
	f[16] = (uint8_t)(id >> 8);
	f[17] = (uint8_t)id;
	return kw_netdev_transmit(kw_memlink_dev(l, side), f, sizeof(f));
}

/* Drain everything: deliver at each deadline. */
static void drain(struct kw_memlink *l, struct rec *r)
{
	uint64_t t;

	while ((t = kw_memlink_next_deadline(l)) != KW_TIME_NEVER) {
		r->now = t;
		kw_memlink_deliver(l, t, record, r);
	}
}

/* Send n frames, one every `gap` ns from time 0, delivering as we go. */
static void run(struct kw_memlink *l, struct rec *r, unsigned n, uint64_t gap)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t t = i * gap;
		r->now = t;
		kw_memlink_deliver(l, t, record, r);
		kw_memlink_set_now(l, t);
		send_id(l, 0, i);
	}
	drain(l, r);
}

static unsigned inversions(const struct rec *r)
{
	unsigned k = 0;
	for (size_t i = 1; i < r->n; i++)
		k += r->id[i] < r->id[i - 1];
	return k;
}

static struct rec r1, r2;

static void test_basic(void)
{
	struct kw_memlink_config cfg = { .seed = 1, .delay_ns = MS(5) };
	struct kw_memlink *l = kw_memlink_create(&cfg);
	struct kw_memlink_stats st;
	uint8_t big[1600] = { 0 };

	tap_ok(l != NULL && kw_memlink_dev(l, 0)->mtu == 1500 &&
	       memcmp(kw_memlink_dev(l, 0)->mac, kw_memlink_dev(l, 1)->mac, 6) != 0 &&
	       kw_memlink_dev(l, 2) == NULL, "two devices, distinct MACs, MTU 1500 by default");
	tap_is_u64(kw_memlink_next_deadline(l), KW_TIME_NEVER, "nothing in flight: no deadline");
	memset(&r1, 0, sizeof(r1));
	kw_memlink_set_now(l, MS(1));
	send_id(l, 0, 1);
	send_id(l, 0, 2);
	send_id(l, 1, 3);
	tap_is_u64(kw_memlink_next_deadline(l), MS(6), "deadline: send time + delay");
	tap_is_u64(kw_memlink_deliver(l, MS(6) - 1, record, &r1), 0, "nothing delivered early");
	r1.now = MS(6);
	tap_is_u64(kw_memlink_deliver(l, MS(6), record, &r1), 3, "all three delivered when due");
	tap_ok(r1.id[0] == 1 && r1.id[1] == 2 && r1.id[2] == 3 && r1.side[0] == 1 && r1.side[2] == 0,
	       "in send order, each to the other side");
	tap_ok(kw_netdev_transmit(kw_memlink_dev(l, 0), big, 1515) == -EMSGSIZE &&
	       kw_netdev_transmit(kw_memlink_dev(l, 0), big, 1514) == 0, "frames above 14 + MTU refused");

	/* Frames sent by the callback wait for the next call. */
	memset(&r1, 0, sizeof(r1));
	cfg.delay_ns = 0;
	kw_memlink_set_faults(l, &cfg);
	kw_memlink_deliver(l, MS(20), NULL, NULL);
	r1.echo_link = l;
	send_id(l, 0, 7);
	tap_ok(kw_memlink_deliver(l, MS(20), record, &r1) == 1 && kw_memlink_in_flight(l) == 1,
	       "a frame sent from the callback is not delivered in the same call (no ping-pong loop)");
	kw_memlink_stats(l, 0, &st);
	tap_ok(st.sent == 4 && st.too_big == 1, "stats: sent and refused frames counted");
	kw_memlink_destroy(l);

	cfg.loss = 1.5;
	tap_ok(kw_memlink_create(&cfg) == NULL, "a loss probability above 1 is refused");
}

static void faulty(struct rec *r, uint64_t seed)
{
	struct kw_memlink_config cfg = {
		.seed = seed, .loss = 0.2, .duplicate = 0.1, .reorder = 0.1,
		.delay_ns = MS(2), .jitter_ns = US(500),
	};
	struct kw_memlink *l = kw_memlink_create(&cfg);

	memset(r, 0, sizeof(*r));
	run(l, r, 2000, US(100));
	kw_memlink_destroy(l);
}

static void test_determinism(void)
{
	int same;

	faulty(&r1, 1234);
	faulty(&r2, 1234);
	same = r1.n == r2.n && memcmp(r1.id, r2.id, r1.n * sizeof(r1.id[0])) == 0 &&
	       memcmp(r1.at, r2.at, r1.n * sizeof(r1.at[0])) == 0;
	tap_ok(same && r1.n > 0, "same seed, same calls: the same frames at the same times");
	faulty(&r2, 1235);
	same = r1.n == r2.n && memcmp(r1.id, r2.id, r1.n * sizeof(r1.id[0])) == 0;
	tap_ok(!same, "another seed: another run");
}

static void test_loss(void)
{
	struct kw_memlink_config cfg = { .seed = 99, .loss = 0.25 };
	struct kw_memlink *l = kw_memlink_create(&cfg);
	struct kw_memlink_stats st;
	double rate;

	memset(&r1, 0, sizeof(r1));
	run(l, &r1, 20000, US(10));
	kw_memlink_stats(l, 0, &st);
	rate = (double)st.lost / 20000;
	tap_ok(rate > 0.235 && rate < 0.265 && r1.n == 20000 - st.lost && st.delivered == r1.n,
	       "loss 0.25: about a quarter of 20000 frames lost, the rest delivered");
	tap_diag("loss: %.4f (%llu lost)", rate, (unsigned long long)st.lost);
	tap_is_u64(inversions(&r1), 0, "loss alone never reorders");
	kw_memlink_destroy(l);
}

static void test_drop_all(void)
{
	struct kw_memlink_config cfg = { .seed = 5, .delay_ns = MS(1) };
	struct kw_memlink *l = kw_memlink_create(&cfg);
	struct kw_memlink_stats st0, st1;

	memset(&r1, 0, sizeof(r1));
	kw_memlink_set_now(l, 0);
	send_id(l, 0, 1);                       /* in flight before the switch */
	kw_memlink_set_drop_all(l, true);
	for (uint32_t i = 0; i < 100; i++) {
		send_id(l, 0, 100 + i);
		send_id(l, 1, 200 + i);
	}
	drain(l, &r1);
	kw_memlink_stats(l, 0, &st0);
	kw_memlink_stats(l, 1, &st1);
	tap_ok(r1.n == 1 && r1.id[0] == 1 && st0.blocked == 100 && st1.blocked == 100,
	       "drop-all: nothing sent after the switch arrives, either way; what was in flight does");
	kw_memlink_set_drop_all(l, false);
	send_id(l, 1, 300);
	drain(l, &r1);
	tap_ok(r1.n == 2 && r1.id[1] == 300, "switched off: frames flow again");
	kw_memlink_destroy(l);
}

static void test_reorder_dup_jitter(void)
{
	struct kw_memlink_config cfg = { .seed = 7, .reorder = 0.2, .reorder_ns = US(500) };
	struct kw_memlink *l = kw_memlink_create(&cfg);
	struct kw_memlink_stats st;
	int within = 1, any_late = 0;

	memset(&r1, 0, sizeof(r1));
	run(l, &r1, 1000, US(100));
	kw_memlink_stats(l, 0, &st);
	tap_ok(r1.n == 1000 && inversions(&r1) > 0 && st.reordered > 150 && st.reordered < 250,
	       "reorder 0.2: all frames arrive, about a fifth held back and overtaken");
	tap_diag("reordered %llu, inversions %u", (unsigned long long)st.reordered, inversions(&r1));
	kw_memlink_destroy(l);

	cfg = (struct kw_memlink_config){ .seed = 7 };
	l = kw_memlink_create(&cfg);
	memset(&r1, 0, sizeof(r1));
	run(l, &r1, 1000, US(100));
	tap_ok(r1.n == 1000 && inversions(&r1) == 0, "no faults: in order, nothing lost");
	kw_memlink_destroy(l);

	cfg = (struct kw_memlink_config){ .seed = 8, .duplicate = 0.1 };
	l = kw_memlink_create(&cfg);
	memset(&r1, 0, sizeof(r1));
	run(l, &r1, 2000, US(100));
	kw_memlink_stats(l, 0, &st);
	tap_ok(st.duplicated > 150 && st.duplicated < 250 && r1.n == 2000 + st.duplicated,
	       "duplicate 0.1: about 10% of frames arrive twice");
	kw_memlink_destroy(l);

	cfg = (struct kw_memlink_config){ .seed = 9, .delay_ns = MS(10), .jitter_ns = MS(4) };
	l = kw_memlink_create(&cfg);
	memset(&r1, 0, sizeof(r1));
	run(l, &r1, 500, MS(1));
	for (size_t i = 0; i < r1.n; i++) {
		uint64_t d = r1.at[i] - r1.id[i] * MS(1);
		within &= d >= MS(10) && d <= MS(14);
		any_late |= d > MS(12);
	}
	tap_ok(r1.n == 500 && within && any_late && inversions(&r1) > 0,
	       "delay 10 ms + jitter 4 ms: every frame takes 10..14 ms, order varies");
	kw_memlink_destroy(l);

	cfg = (struct kw_memlink_config){ .seed = 10, .delay_ns = MS(1), .limit = 10 };
	l = kw_memlink_create(&cfg);
	memset(&r1, 0, sizeof(r1));
	kw_memlink_set_now(l, 0);
	for (uint32_t i = 0; i < 20; i++)
		send_id(l, 0, i);
	send_id(l, 1, 99);
	drain(l, &r1);
	kw_memlink_stats(l, 0, &st);
	tap_ok(r1.n == 11 && st.overflow == 10, "limit 10 in flight per direction: the rest dropped");
	kw_memlink_destroy(l);
}

int main(void)
{
	test_basic();
	test_determinism();
	test_loss();
	test_drop_all();
	test_reorder_dup_jitter();
	return tap_done();
}
