/* A transmit queue with a writer thread of its own. See txq.h.
 *
 * The queue is a byte ring: each frame is a record (two lengths, then the
 * two pieces) padded to 8 bytes; a record that does not fit before the
 * ring's end leaves a skip mark and starts again at offset 0. `tail` is
 * the producer's, `head` the writer's, and head moves past a record only
 * once its write returned, so tail != head means "not all written". */
#include "config.h"
#include "dev/txq.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TXQ_MIN      (256u * 1024u)
#define TXQ_SKIP     UINT32_MAX
/* Before sleeping, the writer watches for more work this long: in a bulk
 * transfer the next frame is usually microseconds away, and a sleeping
 * writer costs the producer a futex wake per frame. */
#define TXQ_SPIN_NS  (20 * 1000)

struct rec {
	uint32_t alen, blen;    /* alen TXQ_SKIP: nothing here up to the end */
};

struct kw_txq {
	int fd;
	size_t skip;
	uint8_t *buf;
	uint64_t size, mask;
	_Atomic uint64_t head, tail;
	_Atomic uint32_t sleeping;      /* futex word: the writer waits on 1 */
	_Atomic bool stop;
	_Atomic uint64_t frames, bytes, dropped;
	pthread_t thread;
};

static uint64_t rec_size(size_t alen, size_t blen)
{
	return ((uint64_t)sizeof(struct rec) + alen + blen + 7) & ~(uint64_t)7;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wake_writer(struct kw_txq *q)
{
	if (atomic_load(&q->sleeping)) {
		atomic_store(&q->sleeping, 0);
		syscall(SYS_futex, &q->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

static void write_one(struct kw_txq *q, const struct rec *r)
{
	const uint8_t *p = (const uint8_t *)(r + 1);
	struct iovec iov[2] = {
		{ .iov_base = (void *)p, .iov_len = r->alen },
		{ .iov_base = (void *)(p + r->alen), .iov_len = r->blen },
	};
	ssize_t n;

	do
		n = writev(q->fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* Interface down (EIO), and the like: lost, as on a NIC. */
		atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&q->frames, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&q->bytes, (uint64_t)n > q->skip ? (uint64_t)n - q->skip : 0,
				  memory_order_relaxed);
}

/* Nothing queued: true once more work came, false to end the thread. */
static bool wait_for_work(struct kw_txq *q, uint64_t head)
{
	uint64_t until = now_ns() + TXQ_SPIN_NS;

	for (;;) {
		if (atomic_load(&q->tail) != head)
			return true;
		if (atomic_load(&q->stop))
			return false;
		if (now_ns() >= until)
			break;
		sched_yield();
	}
	/* Say we sleep, then look again: the producer publishes its tail and
	 * then looks at `sleeping` (both sequentially consistent), so one of
	 * us sees the other. */
	atomic_store(&q->sleeping, 1);
	if (atomic_load(&q->tail) == head && !atomic_load(&q->stop))
		syscall(SYS_futex, &q->sleeping, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	atomic_store(&q->sleeping, 0);
	return true;
}

static void *writer_main(void *arg)
{
	struct kw_txq *q = arg;
	uint64_t head = atomic_load(&q->head);

	for (;;) {
		uint64_t tail = atomic_load(&q->tail);

		if (head == tail) {
			if (!wait_for_work(q, head))
				break;
			continue;
		}
		while (head != tail) {
			const struct rec *r = (const struct rec *)(q->buf + (head & q->mask));

			if (r->alen == TXQ_SKIP) {
				head += q->size - (head & q->mask);
			} else {
				write_one(q, r);
				head += rec_size(r->alen, r->blen);
			}
			atomic_store_explicit(&q->head, head, memory_order_release);
		}
	}
	return NULL;
}

struct kw_txq *kw_txq_start(int fd, size_t bytes, size_t skip)
{
	struct kw_txq *q = calloc(1, sizeof(*q));
	sigset_t all, old;
	uint64_t size = TXQ_MIN;
	int r;

	if (q == NULL)
		return NULL;
	while (size < bytes && size < ((uint64_t)1 << 40))
		size <<= 1;
	q->buf = malloc(size);
	if (q->buf == NULL) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	q->fd = fd;
	q->skip = skip;
	q->size = size;
	q->mask = size - 1;
	/* The program's signals are the program's: the writer takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&q->thread, NULL, writer_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		free(q->buf);
		free(q);
		errno = r;
		return NULL;
	}
	return q;
}

void kw_txq_stop(struct kw_txq *q)
{
	if (q == NULL)
		return;
	atomic_store(&q->stop, true);
	atomic_store(&q->sleeping, 0);
	syscall(SYS_futex, &q->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(q->thread, NULL);
	free(q->buf);
	free(q);
}

int kw_txq_push(struct kw_txq *q, const void *a, size_t alen, const void *b, size_t blen)
{
	uint64_t need = rec_size(alen, blen);
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint64_t room, off;
	struct rec *r;

	/* Half the ring at most, so a record always fits after a skip. */
	if (need > q->size / 2)
		return -EMSGSIZE;
	off = tail & q->mask;
	room = q->size - off < need ? q->size - off + need : need;
	while (q->size - (tail - atomic_load_explicit(&q->head, memory_order_acquire)) < room) {
		wake_writer(q);
		sched_yield();
	}
	if (q->size - off < need) {
		((struct rec *)(q->buf + off))->alen = TXQ_SKIP;
		tail += q->size - off;
		off = 0;
	}
	r = (struct rec *)(q->buf + off);
	r->alen = (uint32_t)alen;
	r->blen = (uint32_t)blen;
	if (alen)
		memcpy(r + 1, a, alen);
	if (blen)
		memcpy((uint8_t *)(r + 1) + alen, b, blen);
	atomic_store(&q->tail, tail + need);
	wake_writer(q);
	return 0;
}

bool kw_txq_busy(const struct kw_txq *q)
{
	return atomic_load_explicit(&q->tail, memory_order_relaxed) !=
	       atomic_load_explicit(&q->head, memory_order_acquire);
}

void kw_txq_stats(const struct kw_txq *q, struct kw_txq_stats *out)
{
	out->frames = atomic_load_explicit(&q->frames, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&q->bytes, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&q->dropped, memory_order_relaxed);
}
