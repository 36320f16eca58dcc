/* The driver's event loop: runs a stack on a TAP device in real time.
 *
 * This is where the clock and the fds live (the stack has neither): each
 * round runs the stack's due timers (kw_stack_poll with CLOCK_MONOTONIC
 * now), waits with ppoll() on the TAP fd and the caller's extra fds until
 * the stack's next deadline, reads every waiting frame (up to a batch, so
 * timers are not starved) into kw_stack_input, calls the extra fds'
 * callbacks, and polls the stack again. One thread; nothing is locked.
 * An error or hang-up on the device fd ends the loop with -EIO. */
#ifndef KW_DEV_LOOP_H
#define KW_DEV_LOOP_H

#include "dev/tap.h"
#include "stack/stack.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KW_LOOP_MAX_FDS 16
#define KW_LOOP_READ_BATCH 64

struct kw_loop;

/* Called with the revents of an extra fd and the loop's current time. */
typedef void (*kw_loop_fd_fn)(void *ctx, int fd, short revents, uint64_t now_ns);

/* NULL on no memory. The loop uses, and does not own, stack and tap. */
struct kw_loop *kw_loop_create(struct kw_stack *stack, struct kw_tap *tap);

/* Any frame source with an fd, e.g. a socketpair in a test: read_frame
 * returns one frame's length, 0 when none is waiting, or a negative
 * errno; frame_max is the largest frame it can return. The stack's
 * device (which transmits) is the caller's business. */
typedef ssize_t (*kw_loop_read_fn)(void *ctx, void *buf, size_t cap);
struct kw_loop *kw_loop_create_fd(struct kw_stack *stack, int fd, kw_loop_read_fn read_frame,
				  void *ctx, size_t frame_max);
/* The same for a source that says something about each frame (a TAP with
 * offloads): the frames go to kw_stack_input_meta(). kw_loop_create() does
 * this by itself for a TAP opened with offloads. */
typedef ssize_t (*kw_loop_read_meta_fn)(void *ctx, void *buf, size_t cap,
					struct kw_netdev_rx_meta *meta);
struct kw_loop *kw_loop_create_fd_meta(struct kw_stack *stack, int fd,
				       kw_loop_read_meta_fn read_frame, void *ctx,
				       size_t frame_max);
void kw_loop_destroy(struct kw_loop *loop);

/* Watch fd for events (POLLIN, POLLOUT, ...). -EEXIST, -ENOSPC. */
int kw_loop_add_fd(struct kw_loop *loop, int fd, short events, kw_loop_fd_fn fn, void *ctx);
int kw_loop_remove_fd(struct kw_loop *loop, int fd);

/* One round, waiting at most max_wait_ns (KW_TIME_NEVER: until the stack's
 * deadline or an event). 0, or a negative errno when the device failed. */
int kw_loop_run_once(struct kw_loop *loop, uint64_t max_wait_ns);
/* Rounds until kw_loop_stop() or CLOCK_MONOTONIC time until_ns
 * (KW_TIME_NEVER: no limit). 0, or the device's negative errno. */
int kw_loop_run(struct kw_loop *loop, uint64_t until_ns);
/* Async-signal-safe: the loop returns after the current round. */
void kw_loop_stop(struct kw_loop *loop);

/* CLOCK_MONOTONIC in nanoseconds: the stack's time base. */
uint64_t kw_loop_now(void);

#endif
