/* The timer heap against a naive reference: random arm, re-arm, cancel
 * and expiry, checking the earliest deadline and the set that fires. */
#include "stack/timer.h"
#include "tests/tap.h"

#define N 500

static struct kw_timer t[N];
static uint64_t ref[N];         /* UINT64_MAX: not armed */
static int fired[N];
static unsigned nfired;

static uint64_t rng = 12345;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void on_fire(struct kw_timer *tm, void *arg, uint64_t now)
{
	(void)tm; (void)now;
	fired[(size_t)arg]++;
	nfired++;
}

static uint64_t ref_next(void)
{
	uint64_t m = UINT64_MAX;
	for (int i = 0; i < N; i++)
		if (ref[i] < m)
			m = ref[i];
	return m;
}

static int heap_ok(const struct kw_timer_heap *h)
{
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i]->slot != i)
			return 0;
		if (i > 0 && h->v[(i - 1) / 2]->deadline_ns > h->v[i]->deadline_ns)
			return 0;
	}
	return 1;
}

int main(void)
{
	struct kw_timer_heap h;
	uint64_t now = 0;
	int next_ok = 1, fire_ok = 1, armed_ok = 1, inv_ok = 1, size_ok = 1;
	struct kw_timer a, b;

	kw_timer_heap_init(&h);
	for (int i = 0; i < N; i++) {
		kw_timer_init(&t[i], on_fire, (void *)(size_t)i);
		ref[i] = UINT64_MAX;
	}
	tap_is_u64(kw_timer_heap_next(&h), UINT64_MAX, "empty heap: no deadline");
	tap_ok(kw_timer_pop_expired(&h, UINT64_MAX - 1) == NULL, "empty heap: nothing expires");

	for (int step = 0; step < 200000; step++) {
		int i = (int)(rnd() % N);
		unsigned op = (unsigned)(rnd() % 10);
		size_t armed = 0;

		if (op < 5) {
			uint64_t d = now + rnd() % 1000;
			if (kw_timer_arm(&h, &t[i], d) == 0)
				ref[i] = d;
		} else if (op < 7) {
			kw_timer_cancel(&h, &t[i]);
			ref[i] = UINT64_MAX;
		} else {
			now += rnd() % 50;
			memset(fired, 0, sizeof(fired));
			nfired = 0;
			kw_timer_heap_run(&h, now);
			for (int k = 0; k < N; k++) {
				int due = ref[k] <= now;
				if (fired[k] != due)
					fire_ok = 0;
				if (due)
					ref[k] = UINT64_MAX;
			}
		}
		if (kw_timer_heap_next(&h) != ref_next())
			next_ok = 0;
		for (int k = 0; k < N; k++) {
			if (kw_timer_armed(&t[k]) != (ref[k] != UINT64_MAX))
				armed_ok = 0;
			armed += ref[k] != UINT64_MAX;
		}
		if (kw_timer_heap_size(&h) != armed)
			size_ok = 0;
		if ((step & 255) == 0 && !heap_ok(&h))
			inv_ok = 0;
	}
	tap_ok(next_ok, "200000 random operations: earliest deadline matches the reference");
	tap_ok(fire_ok, "exactly the due timers fire, once each");
	tap_ok(armed_ok, "armed state matches the reference");
	tap_ok(size_ok, "size matches the reference");
	tap_ok(inv_ok, "heap order and slot back-pointers hold");

	/* Re-arming earlier and later moves the timer both ways. */
	kw_timer_heap_fini(&h);
	kw_timer_heap_init(&h);
	kw_timer_init(&a, NULL, NULL);
	kw_timer_init(&b, NULL, NULL);
	kw_timer_arm(&h, &a, 100);
	kw_timer_arm(&h, &b, 200);
	kw_timer_arm(&h, &b, 50);
	tap_ok(kw_timer_pop_expired(&h, 1000) == &b, "re-armed earlier: pops first");
	kw_timer_arm(&h, &b, 300);
	kw_timer_arm(&h, &a, 400);
	tap_ok(kw_timer_pop_expired(&h, 1000) == &b, "re-armed later: pops after");
	tap_ok(!kw_timer_armed(&b) && kw_timer_armed(&a), "popped timer is idle");
	kw_timer_cancel(&h, &b);
	tap_ok(kw_timer_heap_size(&h) == 1, "cancel of an idle timer is harmless");
	kw_timer_heap_fini(&h);
	tap_ok(!kw_timer_armed(&a), "fini leaves timers idle");
	return tap_done();
}
