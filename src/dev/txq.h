/* A transmit queue with a writer thread of its own.
 *
 * Writing a frame to a TAP device runs the kernel's whole receive path for
 * it inside the write (forwarding, the peer's TCP, often the peer's next
 * transmission): under many busy connections that is most of the engine's
 * time, spent on the engine's thread. A kw_txq moves those writes to a
 * second thread, so the engine goes on receiving and bridging meanwhile.
 *
 * One producer (calls serialized by the caller), one writer thread. Frames
 * leave in the order they were pushed. kw_txq_busy() says whether any
 * pushed frame is not written yet: a caller that also writes some frames
 * itself (to spare a lone frame the hand-over) must write inline only when
 * it is false, or frames would overtake each other. */
#ifndef KW_DEV_TXQ_H
#define KW_DEV_TXQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kw_txq;

struct kw_txq_stats {
	uint64_t frames, bytes, dropped;    /* as the writes went */
};

/* A queue of `bytes` (rounded up to a power of two, at least 256 KiB)
 * writing to fd; NULL with errno set if memory or the thread fails.
 * `skip` bytes of each frame (a header in front) are not counted in
 * the stats' bytes. */
struct kw_txq *kw_txq_start(int fd, size_t bytes, size_t skip);
/* Writes what is queued, then ends the thread and frees the queue. */
void kw_txq_stop(struct kw_txq *q);

/* Queue a frame of two pieces (either may be empty). Waits while the
 * queue is full (the writer is at work, so room comes): a full queue
 * slows the producer down as a blocking write would, never loses a
 * frame. A frame larger than the queue can hold is refused (-EMSGSIZE). */
int kw_txq_push(struct kw_txq *q, const void *a, size_t alen, const void *b, size_t blen);
/* Whether a pushed frame is still unwritten. */
bool kw_txq_busy(const struct kw_txq *q);
void kw_txq_stats(const struct kw_txq *q, struct kw_txq_stats *out);

#endif
