/* An in-memory Ethernet link joining two netdevs in one process, with
 * deterministic fault injection (in the spirit of picoquic's simulated
 * link): loss, duplication, reordering, delay and jitter, all drawn from
 * one seeded generator, so a run is repeated exactly by repeating its seed
 * and its sequence of calls.
 *
 * Sans-I/O like the stack: the link has no clock and no thread. The test
 * loop tells it the time: a frame transmitted is stamped with the latest
 * time given to kw_memlink_set_now() or kw_memlink_deliver(), and is due
 * at that time + delay (+ jitter, + the reorder hold-back). The loop asks
 * kw_memlink_next_deadline() when the next frame is due and calls
 * kw_memlink_deliver() then, which hands each due frame to a callback
 * (typically kw_stack_input on the receiving side's stack).
 *
 * A typical loop:
 *     for (;;) {
 *         uint64_t t = min(kw_memlink_next_deadline(link), stack deadlines);
 *         if (t == KW_TIME_NEVER || t > end) break;
 *         now = t;
 *         kw_memlink_deliver(link, now, to_stack, stacks);
 *         kw_stack_poll(a, now); kw_stack_poll(b, now);
 *     }
 */
#ifndef KW_DEV_MEMLINK_H
#define KW_DEV_MEMLINK_H

#include "stack/netdev.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kw_memlink;

struct kw_memlink_config {
	uint64_t seed;
	uint16_t mtu;             /* both devices' MTU; 0: 1500 */
	double loss;              /* probability that a frame is lost, 0..1 */
	double duplicate;         /* probability that a frame arrives twice */
	double reorder;           /* probability that a frame is held back ... */
	uint64_t reorder_ns;      /* ... by this much more (0: 1 ms), so later frames pass it */
	uint64_t delay_ns;        /* one-way delay */
	uint64_t jitter_ns;       /* plus a uniform random 0..jitter_ns per frame */
	unsigned limit;           /* frames in flight per direction; 0: 10000 (more are dropped) */
};

struct kw_memlink_stats {
	uint64_t sent;            /* frames transmitted into this direction */
	uint64_t delivered;       /* handed to the callback (duplicates included) */
	uint64_t lost;            /* random loss */
	uint64_t blocked;         /* dropped by the drop-everything switch */
	uint64_t duplicated, reordered;
	uint64_t overflow;        /* dropped because `limit` frames were in flight */
	uint64_t too_big;         /* longer than 14 + MTU: refused with -EMSGSIZE */
};

/* NULL on no memory or nonsense (a probability outside 0..1). The two
 * devices get MACs 02:6b:77:00:00:01 (side 0) and ...:02 (side 1); the
 * caller may change them before creating stacks on them. */
struct kw_memlink *kw_memlink_create(const struct kw_memlink_config *cfg);
void kw_memlink_destroy(struct kw_memlink *link);

/* Side 0 or 1. A frame transmitted on side s arrives on side 1 - s. */
struct kw_netdev *kw_memlink_dev(struct kw_memlink *link, int side);

/* Change the faults (not the seed or the MTU) while running. */
int kw_memlink_set_faults(struct kw_memlink *link, const struct kw_memlink_config *cfg);
/* Drop every frame transmitted from now on, both ways (frames already in
 * flight still arrive), until switched off: a dead network. */
void kw_memlink_set_drop_all(struct kw_memlink *link, bool on);

void kw_memlink_set_now(struct kw_memlink *link, uint64_t now_ns);
/* When the next frame is due, or KW_TIME_NEVER when none is in flight. */
uint64_t kw_memlink_next_deadline(const struct kw_memlink *link);

/* to_side: the side receiving the frame. */
typedef void (*kw_memlink_deliver_fn)(void *ctx, int to_side, const void *frame, size_t len);
/* Hand every frame due at now_ns to fn, in order of arrival time (ties in
 * order of transmission). Frames transmitted by fn itself are not
 * delivered by this call even if already due (call again). Returns the
 * number delivered. */
size_t kw_memlink_deliver(struct kw_memlink *link, uint64_t now_ns, kw_memlink_deliver_fn fn,
			  void *ctx);
size_t kw_memlink_in_flight(const struct kw_memlink *link);

/* Counters of frames transmitted from side `from`. */
void kw_memlink_stats(const struct kw_memlink *link, int from, struct kw_memlink_stats *out);

#endif
