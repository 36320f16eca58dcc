/* The in-memory link: a binary min-heap of frames in flight keyed by (due
 * time, transmission number), one seeded xorshift generator for every
 * random decision. See memlink.h. */
#include "dev/memlink.h"
#include "core/keepalive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEMLINK_DEFAULT_MTU 1500
#define MEMLINK_DEFAULT_LIMIT 10000
#define MEMLINK_DEFAULT_REORDER_NS UINT64_C(1000000)

struct frame {
	uint64_t due, seq;
	int to;
	size_t len;
	uint8_t data[];
};

struct kw_memlink {
	struct kw_memlink_config cfg;
	struct kw_netdev dev[2];
	uint64_t rng;
	uint64_t now;
	uint64_t next_seq;
	bool drop_all;
	struct frame **heap;
	size_t n, cap;
	size_t in_flight[2];             /* by sending side */
	struct kw_memlink_stats stats[2];
};

static uint64_t rng_next(struct kw_memlink *l)
{
	/* xorshift64* */
	uint64_t x = l->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	l->rng = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* True with probability p (exactly never for 0, always for 1). */
static bool chance(struct kw_memlink *l, double p)
{
	if (p <= 0)
		return false;
	return (double)(rng_next(l) >> 11) * 0x1.0p-53 < p;
}

static uint64_t uniform(struct kw_memlink *l, uint64_t max)
{
	return max == 0 ? 0 : rng_next(l) % (max + 1);
}

static bool before(const struct frame *a, const struct frame *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static int heap_push(struct kw_memlink *l, struct frame *f)
{
	size_t i;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct frame **h = realloc(l->heap, cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		l->heap = h;
		l->cap = cap;
	}
	for (i = l->n++; i > 0; i = (i - 1) / 2) {
		struct frame *parent = l->heap[(i - 1) / 2];
		if (!before(f, parent))
			break;
		l->heap[i] = parent;
	}
	l->heap[i] = f;
	return 0;
}

static struct frame *heap_pop(struct kw_memlink *l)
{
	struct frame *top = l->heap[0], *last = l->heap[--l->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->n)
			break;
		if (c + 1 < l->n && before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!before(l->heap[c], last))
			break;
		l->heap[i] = l->heap[c];
		i = c;
	}
	if (l->n > 0)
		l->heap[i] = last;
	return top;
}

static int enqueue(struct kw_memlink *l, int from, const void *data, size_t len, uint64_t extra)
{
	struct kw_memlink_stats *st = &l->stats[from];
	struct frame *f;

	if (l->in_flight[from] >= l->cfg.limit) {
		st->overflow++;
		return -ENOBUFS;
	}
	f = malloc(sizeof(*f) + len);
	if (f == NULL)
		return -ENOMEM;
	f->due = l->now + l->cfg.delay_ns + uniform(l, l->cfg.jitter_ns) + extra;
	f->seq = l->next_seq++;
	f->to = 1 - from;
	f->len = len;
	memcpy(f->data, data, len);
	if (heap_push(l, f) < 0) {
		free(f);
		return -ENOMEM;
	}
	l->in_flight[from]++;
	return 0;
}

static int memlink_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	struct kw_memlink *l = dev->priv;
	int from = dev == &l->dev[1];
	struct kw_memlink_stats *st = &l->stats[from];
	uint64_t extra = 0;
	int r;

	if (len > 14 + (size_t)dev->mtu) {
		st->too_big++;
		return -EMSGSIZE;
	}
	st->sent++;
	if (l->drop_all) {
		st->blocked++;
		return 0;                /* the wire ate it: not the sender's error */
	}
	if (chance(l, l->cfg.loss)) {
		st->lost++;
		return 0;
	}
	if (chance(l, l->cfg.reorder)) {
		st->reordered++;
		extra = l->cfg.reorder_ns;
	}
	r = enqueue(l, from, frame, len, extra);
	if (r == 0 && chance(l, l->cfg.duplicate)) {
		st->duplicated++;
		enqueue(l, from, frame, len, 0);
	}
	return r == -ENOBUFS ? 0 : r;
}

static const struct kw_netdev_ops memlink_ops = { .transmit = memlink_transmit };

static bool faults_ok(const struct kw_memlink_config *c)
{
	return c->loss >= 0 && c->loss <= 1 && c->duplicate >= 0 && c->duplicate <= 1 &&
	       c->reorder >= 0 && c->reorder <= 1;
}

static void apply_faults(struct kw_memlink *l, const struct kw_memlink_config *cfg)
{
	uint64_t seed = l->cfg.seed;
	uint16_t mtu = l->cfg.mtu;

	l->cfg = *cfg;
	l->cfg.seed = seed;
	l->cfg.mtu = mtu;
	if (l->cfg.reorder_ns == 0)
		l->cfg.reorder_ns = MEMLINK_DEFAULT_REORDER_NS;
	if (l->cfg.limit == 0)
		l->cfg.limit = MEMLINK_DEFAULT_LIMIT;
}

struct kw_memlink *kw_memlink_create(const struct kw_memlink_config *cfg)
{
	struct kw_memlink *l;

	if (cfg == NULL || !faults_ok(cfg))
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->cfg.seed = cfg->seed;
	l->cfg.mtu = cfg->mtu ? cfg->mtu : MEMLINK_DEFAULT_MTU;
	apply_faults(l, cfg);
	/* xorshift must not start at 0. */
	l->rng = cfg->seed ^ UINT64_C(0x6d656d6c696e6b21);
	if (l->rng == 0)
		l->rng = 1;
	for (int s = 0; s < 2; s++) {
		static const uint8_t mac[KW_ETH_ALEN] = { 0x02, 0x6b, 0x77, 0, 0, 0 };
		l->dev[s].ops = &memlink_ops;
		l->dev[s].priv = l;
		memcpy(l->dev[s].mac, mac, KW_ETH_ALEN);
		l->dev[s].mac[5] = (uint8_t)(s + 1);
		l->dev[s].mtu = l->cfg.mtu;
	}
	return l;
}

void kw_memlink_destroy(struct kw_memlink *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l);
}

struct kw_netdev *kw_memlink_dev(struct kw_memlink *l, int side)
{
	return side == 0 || side == 1 ? &l->dev[side] : NULL;
}

int kw_memlink_set_faults(struct kw_memlink *l, const struct kw_memlink_config *cfg)
{
	if (cfg == NULL || !faults_ok(cfg))
		return -EINVAL;
	apply_faults(l, cfg);
	return 0;
}

void kw_memlink_set_drop_all(struct kw_memlink *l, bool on)
{
	l->drop_all = on;
}

void kw_memlink_set_now(struct kw_memlink *l, uint64_t now_ns)
{
	l->now = now_ns;
}

uint64_t kw_memlink_next_deadline(const struct kw_memlink *l)
{
	return l->n ? l->heap[0]->due : KW_TIME_NEVER;
}

size_t kw_memlink_in_flight(const struct kw_memlink *l)
{
	return l->n;
}

size_t kw_memlink_deliver(struct kw_memlink *l, uint64_t now_ns, kw_memlink_deliver_fn fn,
			  void *ctx)
{
	uint64_t seq_limit = l->next_seq;
	size_t count = 0;

	l->now = now_ns;
	/* Frames sent during this call are due no earlier than now and come
	 * after every older due frame in (due, seq) order: stop at the first. */
	while (l->n > 0 && l->heap[0]->due <= now_ns && l->heap[0]->seq < seq_limit) {
		struct frame *f = heap_pop(l);

		l->in_flight[1 - f->to]--;
		l->stats[1 - f->to].delivered++;
		count++;
		if (fn)
			fn(ctx, f->to, f->data, f->len);
		free(f);
	}
	return count;
}

void kw_memlink_stats(const struct kw_memlink *l, int from, struct kw_memlink_stats *out)
{
	*out = l->stats[from ? 1 : 0];
}
