/* dev/txq: the transmit queue's writer thread writes every frame, in
 * order, whole; a full queue makes the producer wait instead of losing
 * frames; kw_txq_busy() is true until the last pushed frame is written;
 * stop writes what is queued first. The device is a SOCK_SEQPACKET pair,
 * which keeps each write a message of its own. */
#include "config.h"
#include "dev/txq.h"
#include "tests/tap.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAMES 20000
#define MAXLEN 60000

struct reader {
	int fd;
	unsigned got, bad_order, bad_data, bad_len;
	uint64_t bytes;
	_Atomic unsigned pushed;        /* frames the producer pushed so far */
	unsigned pushed_at_start;       /* ... when the reader began */
};

/* Frame i: a 4-byte number, then bytes derived from it; its length
 * varies so records of every size meet the ring's end. */
static size_t frame_len(unsigned i)
{
	return 8 + (size_t)(i * 7919u) % (MAXLEN - 8);
}

static void frame_fill(uint8_t *f, unsigned i, size_t len)
{
	memcpy(f, &i, sizeof(i));
	for (size_t k = sizeof(i); k < len; k++)
		f[k] = (uint8_t)(i + k * 31);
}

static void *read_all(void *arg)
{
	static uint8_t buf[MAXLEN + 64];
	struct reader *r = arg;

	struct timespec hold = { 0, 200 * 1000000 };

	/* Let the queue and the device fill up first. */
	nanosleep(&hold, NULL);
	r->pushed_at_start = atomic_load(&r->pushed);
	while (r->got < FRAMES) {
		ssize_t n;
		unsigned i;

		n = recv(r->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		memcpy(&i, buf, sizeof(i));
		if (i != r->got)
			r->bad_order++;
		if ((size_t)n != frame_len(i))
			r->bad_len++;
		else
			for (size_t k = sizeof(i); k < (size_t)n; k++)
				if (buf[k] != (uint8_t)(i + k * 31)) {
					r->bad_data++;
					break;
				}
		r->bytes += (uint64_t)n;
		r->got++;
	}
	return NULL;
}

static void test_order_and_backpressure(void)
{
	static uint8_t f[MAXLEN];
	struct reader r = { 0 };
	struct kw_txq *q;
	pthread_t th;
	int sv[2];
	uint64_t want_bytes = 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
		tap_ok(0, "socketpair(SOCK_SEQPACKET)");
		return;
	}
	r.fd = sv[1];
	pthread_create(&th, NULL, read_all, &r);
	/* The smallest queue (256 KiB): frames of up to 60 KB wrap it all
	 * the time, and while the reader holds back it fills. */
	q = kw_txq_start(sv[0], 1, 2);
	tap_ok(q != NULL, "a queue and its writer thread start");
	if (q == NULL)
		return;
	tap_ok(!kw_txq_busy(q), "an empty queue is not busy");
	for (unsigned i = 0; i < FRAMES; i++) {
		size_t len = frame_len(i);

		frame_fill(f, i, len);
		/* Two pieces, split anywhere (a header and a frame). */
		if (kw_txq_push(q, f, len / 3, f + len / 3, len - len / 3) != 0)
			break;
		want_bytes += len - 2;
		atomic_store(&r.pushed, i + 1);
	}
	/* Right after the last push, frames are still queued: stop must
	 * write them all before it returns. */
	kw_txq_stop(q);
	pthread_join(th, NULL);
	tap_is_u64(r.got, FRAMES, "every frame arrived (stop writes the queue out)");
	tap_is_u64(r.bad_order, 0, "in the order pushed");
	tap_is_u64(r.bad_len, 0, "each one whole: one write, one frame");
	tap_is_u64(r.bad_data, 0, "with its own bytes");
	tap_is_u64(r.bytes - 2u * FRAMES, want_bytes, "all the bytes pushed");
	tap_diag("frames pushed when the reader began: %u of %u", r.pushed_at_start, FRAMES);
	tap_ok(r.pushed_at_start < FRAMES,
	       "a full queue held the producer back (it could not push all before the reader began)");
	close(sv[0]);
	close(sv[1]);
}

static void test_busy_until_written(void)
{
	struct kw_txq_stats st;
	struct kw_txq *q;
	uint8_t f[100] = { 1 }, buf[300];
	struct timespec ms50 = { 0, 50 * 1000000 };
	int sv[2], filler = 0;
	ssize_t n, last = 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
		tap_ok(0, "socketpair(SOCK_SEQPACKET)");
		return;
	}
	/* A device with no room: the writer's write blocks. */
	while (send(sv[0], buf, 200, MSG_DONTWAIT) == 200)
		filler++;
	q = kw_txq_start(sv[0], 0, 10);
	tap_is_u64((uint64_t)kw_txq_push(q, f, 10, f, sizeof(f)), 0, "push one frame onto a full device");
	nanosleep(&ms50, NULL);
	tap_ok(kw_txq_busy(q), "busy while its write cannot finish");
	/* Make room: the frame goes out behind the filler. */
	while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0) {
		last = n;
		if (n == 110)
			break;
	}
	for (int i = 0; i < 2000 && kw_txq_busy(q); i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	tap_ok(!kw_txq_busy(q), "not busy once it is written");
	tap_ok(filler > 0 && last == 110, "it came after what was on the device, whole");
	kw_txq_stats(q, &st);
	tap_ok(st.frames == 1 && st.bytes == 100, "stats: 1 frame, 100 bytes past the 10-byte header");
	tap_is_u64((uint64_t)kw_txq_push(q, buf, 200 * 1024, NULL, 0), (uint64_t)-EMSGSIZE,
		   "a frame over half the queue is refused, not truncated");
	/* A device that fails the write: the frame counts as dropped. */
	close(sv[1]);
	tap_is_u64((uint64_t)kw_txq_push(q, f, sizeof(f), NULL, 0), 0, "push onto a dead device");
	for (int i = 0; i < 2000 && kw_txq_busy(q); i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	kw_txq_stats(q, &st);
	tap_ok(st.frames == 1 && st.dropped == 1, "a failed write is counted as dropped");
	kw_txq_stop(q);
	close(sv[0]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_order_and_backpressure();
	test_busy_until_written();
	return tap_done();
}
