/* A binary min-heap of timers with stable handles (intrusive).
 *
 * A timer is a struct kw_timer embedded in the owner's own structure; the
 * heap stores pointers to them and each timer remembers its slot, so the
 * handle (the timer's address) stays valid while the heap reorders, and
 * arm, re-arm and cancel cost O(log n). Nothing is allocated per timer;
 * the heap's pointer array grows geometrically (kw_timer_arm can fail with
 * -ENOMEM only when it has to grow).
 *
 * The heap knows no clock: deadlines are plain uint64_t nanoseconds and
 * the caller asks for expired timers at a time it passes in
 * (kw_timer_heap_run or kw_timer_pop_expired). Timers with equal deadlines
 * fire in no particular order.
 *
 * Used by the TCP layer (one timer per connection, set to the earliest of
 * its retransmission, delayed-ACK, persist, keepalive and TIME-WAIT
 * deadlines) and available to the other layers of the stack. */
#ifndef KW_STACK_TIMER_H
#define KW_STACK_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_TIMER_IDLE ((size_t)-1)

struct kw_timer;
typedef void (*kw_timer_fn)(struct kw_timer *t, void *arg, uint64_t now_ns);

struct kw_timer {
	uint64_t deadline_ns;    /* valid while armed */
	size_t slot;             /* index in the heap, KW_TIMER_IDLE if not armed */
	kw_timer_fn fn;          /* called by kw_timer_heap_run (may be NULL) */
	void *arg;
};

struct kw_timer_heap {
	struct kw_timer **v;
	size_t n, cap;
};

void kw_timer_heap_init(struct kw_timer_heap *h);
/* Frees the array; armed timers are simply forgotten (left idle). */
void kw_timer_heap_fini(struct kw_timer_heap *h);

/* Prepare a timer (not armed). */
void kw_timer_init(struct kw_timer *t, kw_timer_fn fn, void *arg);

static inline bool kw_timer_armed(const struct kw_timer *t)
{
	return t->slot != KW_TIMER_IDLE;
}

/* Arm, or move an armed timer to a new deadline. 0 or -ENOMEM (the timer
 * is then left as it was). */
int kw_timer_arm(struct kw_timer_heap *h, struct kw_timer *t, uint64_t deadline_ns);
/* Disarm; harmless on an idle timer. */
void kw_timer_cancel(struct kw_timer_heap *h, struct kw_timer *t);

/* The earliest deadline, or UINT64_MAX when nothing is armed. O(1). */
uint64_t kw_timer_heap_next(const struct kw_timer_heap *h);
size_t kw_timer_heap_size(const struct kw_timer_heap *h);

/* Remove and return the earliest timer if its deadline is <= now_ns, else
 * NULL. The returned timer is idle; its owner may re-arm it. */
struct kw_timer *kw_timer_pop_expired(struct kw_timer_heap *h, uint64_t now_ns);

/* Pop every timer due at now_ns and call its fn. A callback may arm or
 * cancel any timer, itself included; a timer re-armed for a time <= now_ns
 * runs again in the same call. Returns the number of callbacks run. */
size_t kw_timer_heap_run(struct kw_timer_heap *h, uint64_t now_ns);

#endif
