/* The TAP event loop. See loop.h. */
#include "config.h"
#include "dev/loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct extra_fd {
	kw_loop_fd_fn fn;
	void *ctx;
};

struct kw_loop {
	struct kw_stack *stack;
	kw_loop_read_fn read_frame;
	kw_loop_read_meta_fn read_meta;          /* instead of read_frame */
	void *read_ctx;
	volatile sig_atomic_t stop;
	nfds_t nfds;                               /* pfd[0] is the TAP */
	struct pollfd pfd[1 + KW_LOOP_MAX_FDS];
	struct extra_fd extra[1 + KW_LOOP_MAX_FDS];
	size_t bufsize;
	uint8_t *buf;
};

uint64_t kw_loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static struct kw_loop *create(struct kw_stack *stack, int fd, kw_loop_read_fn read_frame,
			      kw_loop_read_meta_fn read_meta, void *ctx, size_t frame_max)
{
	struct kw_loop *loop;

	if (stack == NULL || fd < 0 || (read_frame == NULL && read_meta == NULL))
		return NULL;
	loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return NULL;
	loop->stack = stack;
	loop->read_frame = read_frame;
	loop->read_meta = read_meta;
	loop->read_ctx = ctx;
	/* Larger than any frame the device can produce: a short buffer would
	 * silently truncate. */
	loop->bufsize = frame_max < 65536 ? 65536 : frame_max;
	loop->buf = malloc(loop->bufsize);
	if (loop->buf == NULL) {
		free(loop);
		return NULL;
	}
	loop->pfd[0].fd = fd;
	loop->pfd[0].events = POLLIN;
	loop->nfds = 1;
	return loop;
}

struct kw_loop *kw_loop_create_fd(struct kw_stack *stack, int fd, kw_loop_read_fn read_frame,
				  void *ctx, size_t frame_max)
{
	if (read_frame == NULL)
		return NULL;
	return create(stack, fd, read_frame, NULL, ctx, frame_max);
}

struct kw_loop *kw_loop_create_fd_meta(struct kw_stack *stack, int fd,
				       kw_loop_read_meta_fn read_frame, void *ctx,
				       size_t frame_max)
{
	if (read_frame == NULL)
		return NULL;
	return create(stack, fd, NULL, read_frame, ctx, frame_max);
}

static ssize_t tap_read_frame(void *ctx, void *buf, size_t cap)
{
	return kw_tap_read(ctx, buf, cap);
}

static ssize_t tap_read_meta(void *ctx, void *buf, size_t cap, struct kw_netdev_rx_meta *meta)
{
	return kw_tap_read_meta(ctx, buf, cap, meta);
}

struct kw_loop *kw_loop_create(struct kw_stack *stack, struct kw_tap *tap)
{
	if (tap == NULL)
		return NULL;
	if (kw_tap_offload(tap))
		return kw_loop_create_fd_meta(stack, kw_tap_fd(tap), tap_read_meta, tap,
					      kw_tap_frame_max(tap));
	return kw_loop_create_fd(stack, kw_tap_fd(tap), tap_read_frame, tap, kw_tap_frame_max(tap));
}

void kw_loop_destroy(struct kw_loop *loop)
{
	if (loop == NULL)
		return;
	free(loop->buf);
	free(loop);
}

int kw_loop_add_fd(struct kw_loop *loop, int fd, short events, kw_loop_fd_fn fn, void *ctx)
{
	for (nfds_t i = 0; i < loop->nfds; i++)
		if (loop->pfd[i].fd == fd)
			return -EEXIST;
	if (loop->nfds == 1 + KW_LOOP_MAX_FDS)
		return -ENOSPC;
	loop->pfd[loop->nfds] = (struct pollfd){ .fd = fd, .events = events };
	loop->extra[loop->nfds] = (struct extra_fd){ fn, ctx };
	loop->nfds++;
	return 0;
}

int kw_loop_remove_fd(struct kw_loop *loop, int fd)
{
	for (nfds_t i = 1; i < loop->nfds; i++) {
		if (loop->pfd[i].fd != fd)
			continue;
		memmove(&loop->pfd[i], &loop->pfd[i + 1], (loop->nfds - i - 1) * sizeof(loop->pfd[0]));
		memmove(&loop->extra[i], &loop->extra[i + 1],
			(loop->nfds - i - 1) * sizeof(loop->extra[0]));
		loop->nfds--;
		return 0;
	}
	return -ENOENT;
}

void kw_loop_stop(struct kw_loop *loop)
{
	loop->stop = 1;
}

static int read_frames(struct kw_loop *loop, uint64_t now)
{
	for (int i = 0; i < KW_LOOP_READ_BATCH; i++) {
		struct kw_netdev_rx_meta meta;
		ssize_t n = loop->read_meta
			? loop->read_meta(loop->read_ctx, loop->buf, loop->bufsize, &meta)
			: loop->read_frame(loop->read_ctx, loop->buf, loop->bufsize);
		if (n == 0)
			return 0;
		if (n < 0)
			return (int)n;
		if (loop->read_meta)
			kw_stack_input_meta(loop->stack, loop->buf, (size_t)n, &meta, now);
		else
			kw_stack_input(loop->stack, loop->buf, (size_t)n, now);
	}
	return 0;
}

int kw_loop_run_once(struct kw_loop *loop, uint64_t max_wait_ns)
{
	uint64_t now = kw_loop_now();
	uint64_t deadline = kw_stack_poll(loop->stack, now);
	struct timespec ts, *tsp = NULL;
	nfds_t n = loop->nfds;
	int r;

	if (max_wait_ns != KW_TIME_NEVER && (deadline == KW_TIME_NEVER || deadline - now > max_wait_ns))
		deadline = now + max_wait_ns;
	if (deadline != KW_TIME_NEVER) {
		uint64_t wait = deadline > now ? deadline - now : 0;
		ts.tv_sec = (time_t)(wait / UINT64_C(1000000000));
		ts.tv_nsec = (long)(wait % UINT64_C(1000000000));
		tsp = &ts;
	}
	r = ppoll(loop->pfd, n, tsp, NULL);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	now = kw_loop_now();
	if (loop->pfd[0].revents & POLLIN) {
		r = read_frames(loop, now);
		if (r < 0)
			return r;
	}
	if (loop->pfd[0].revents & (POLLERR | POLLNVAL | POLLHUP))
		return -EIO;
	/* Callbacks may add or remove fds: walk a snapshot of this round. */
	for (nfds_t i = 1; i < n && i < loop->nfds; i++) {
		short rev = loop->pfd[i].revents;
		if (rev == 0)
			continue;
		loop->pfd[i].revents = 0;
		if (loop->extra[i].fn)
			loop->extra[i].fn(loop->extra[i].ctx, loop->pfd[i].fd, rev, now);
	}
	kw_stack_poll(loop->stack, now);
	return 0;
}

int kw_loop_run(struct kw_loop *loop, uint64_t until_ns)
{
	loop->stop = 0;
	while (!loop->stop) {
		uint64_t now = kw_loop_now();
		int r;

		if (until_ns != KW_TIME_NEVER && now >= until_ns)
			break;
		r = kw_loop_run_once(loop, until_ns == KW_TIME_NEVER ? KW_TIME_NEVER : until_ns - now);
		if (r < 0)
			return r;
	}
	return 0;
}
