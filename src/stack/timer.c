#include "stack/timer.h"

#include <errno.h>
#include <stdlib.h>

void kw_timer_heap_init(struct kw_timer_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
}

void kw_timer_heap_fini(struct kw_timer_heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->v[i]->slot = KW_TIMER_IDLE;
	free(h->v);
	kw_timer_heap_init(h);
}

void kw_timer_init(struct kw_timer *t, kw_timer_fn fn, void *arg)
{
	t->deadline_ns = UINT64_MAX;
	t->slot = KW_TIMER_IDLE;
	t->fn = fn;
	t->arg = arg;
}

static void place(struct kw_timer_heap *h, size_t i, struct kw_timer *t)
{
	h->v[i] = t;
	t->slot = i;
}

static void sift_up(struct kw_timer_heap *h, size_t i)
{
	struct kw_timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->deadline_ns <= t->deadline_ns)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct kw_timer_heap *h, size_t i)
{
	struct kw_timer *t = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->deadline_ns < h->v[c]->deadline_ns)
			c++;
		if (t->deadline_ns <= h->v[c]->deadline_ns)
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, t);
}

int kw_timer_arm(struct kw_timer_heap *h, struct kw_timer *t, uint64_t deadline_ns)
{
	if (kw_timer_armed(t)) {
		uint64_t old = t->deadline_ns;
		t->deadline_ns = deadline_ns;
		if (deadline_ns < old)
			sift_up(h, t->slot);
		else if (deadline_ns > old)
			sift_down(h, t->slot);
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		struct kw_timer **v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->deadline_ns = deadline_ns;
	place(h, h->n++, t);
	sift_up(h, t->slot);
	return 0;
}

void kw_timer_cancel(struct kw_timer_heap *h, struct kw_timer *t)
{
	size_t i = t->slot;

	if (i == KW_TIMER_IDLE)
		return;
	t->slot = KW_TIMER_IDLE;
	h->n--;
	if (i == h->n)
		return;
	place(h, i, h->v[h->n]);
	/* The moved timer may belong above or below its new slot. */
	sift_up(h, i);
	sift_down(h, h->v[i]->slot);
}

uint64_t kw_timer_heap_next(const struct kw_timer_heap *h)
{
	return h->n ? h->v[0]->deadline_ns : UINT64_MAX;
}

size_t kw_timer_heap_size(const struct kw_timer_heap *h)
{
	return h->n;
}

struct kw_timer *kw_timer_pop_expired(struct kw_timer_heap *h, uint64_t now_ns)
{
	struct kw_timer *t;

	if (h->n == 0 || h->v[0]->deadline_ns > now_ns)
		return NULL;
	t = h->v[0];
	kw_timer_cancel(h, t);
	return t;
}

size_t kw_timer_heap_run(struct kw_timer_heap *h, uint64_t now_ns)
{
	struct kw_timer *t;
	size_t ran = 0;

	while ((t = kw_timer_pop_expired(h, now_ns)) != NULL) {
		ran++;
		if (t->fn)
			t->fn(t, t->arg, now_ns);
	}
	return ran;
}
