/* Direct mode's busy polling (KEEPWIRE_BUSY_POLL, microseconds; off by
 * default): a blocking read of a stack socket that finds nothing waits in
 * a loop of zero-timeout polls, for up to that long, before it sleeps in
 * the kernel; so do poll() on a set with a stack socket and epoll_wait()
 * in a process that has had one (an epoll set's members cannot be listed
 * cheaply), as Linux's net.core.busy_poll does for its sockets. A request/response exchange then skips the wake-up of the
 * program, which on the development machine is a fifth of a round trip
 * (docs/BENCHMARKS.md, "Busy polling"). Linux offers the same trade for
 * its own sockets (net.core.busy_read, SO_BUSY_POLL): CPU for latency.
 *
 * Only the wait before the call is added: the program's own call then runs
 * unchanged (flags, MSG_WAITALL, SO_RCVTIMEO, the EOF and error checks), so
 * polling changes when it starts, never what it returns. Raw system calls:
 * nothing here may reach another hook. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec zero = { 0, 0 };

	/* Any event (data, EOF, error, hang-up) or a failure ends the wait:
	 * the program's call reports it. */
	return syscall(SYS_ppoll, &p, 1, &zero, NULL, 0) != 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Polls with try(arg) (a zero-timeout wait) for the busy-poll budget, bounded
 * by timeout ms (negative: none; the callers pass no 0). Returns what try
 * returned when it was not 0 (events, or -1 with errno); 0 with *expired
 * when the timeout itself ran out; 0 otherwise, and the caller then waits
 * for real. */
static int poll_first(int timeout, int (*try)(void *), void *arg, bool *expired)
{
	uint64_t ns = (uint64_t)kw_rt.cfg.busy_poll_us * 1000u, until;
	int r;

	*expired = false;
	if (timeout > 0 && (uint64_t)timeout * 1000000u <= ns) {
		*expired = true;
		ns = (uint64_t)timeout * 1000000u;
	}
	until = now_ns() + ns;
	do {
		r = try(arg);
		if (r != 0) {
			*expired = false;
			return r;
		}
	} while (now_ns() < until);
	return 0;
}

static int try_readable(void *arg)
{
	return readable_now(*(int *)arg);
}

void kw_busy_poll_wait_readable(int fd, int flags)
{
	int saved, fl;
	bool expired;

	if ((flags & MSG_DONTWAIT) || kw_rt.cfg.busy_poll_us == 0 || kw_direct_ref(fd) == 0)
		return;
	saved = errno;
	if (readable_now(fd))
		goto out;
	/* A non-blocking descriptor answers at once: no wait to shorten. */
	fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		goto out;
	(void)poll_first(-1, try_readable, &fd, &expired);
out:
	errno = saved;
}

static int real_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return kw_libc.epoll_wait ? kw_libc.epoll_wait(epfd, ev, max, timeout)
				  : (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout, NULL, 0);
}

struct epoll_args {
	int epfd, max;
	struct epoll_event *ev;
};

static int try_epoll(void *arg)
{
	struct epoll_args *a = arg;

	return real_epoll_wait(a->epfd, a->ev, a->max, 0);
}

KW_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	if (kw_direct_enabled && timeout != 0 && kw_rt.cfg.busy_poll_us != 0 &&
	    atomic_load_explicit(&kw_dc.fd_high, memory_order_relaxed) > 0) {
		struct epoll_args a = { .epfd = epfd, .max = max, .ev = ev };
		bool expired;
		int n = poll_first(timeout, try_epoll, &a, &expired);

		if (n != 0 || expired)
			return n;
	}
	return real_epoll_wait(epfd, ev, max, timeout);
}

static int real_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };

	return kw_libc.poll ? kw_libc.poll(fds, n, timeout)
			    : (int)syscall(SYS_ppoll, fds, n, timeout < 0 ? NULL : &ts, NULL, 0);
}

static bool has_stack_socket(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (kw_direct_ref(fds[i].fd) != 0)
			return true;
	return false;
}

struct poll_args {
	struct pollfd *fds;
	nfds_t n;
};

static int try_poll(void *arg)
{
	struct poll_args *a = arg;

	return real_poll(a->fds, a->n, 0);
}

KW_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (kw_direct_enabled && timeout != 0 && kw_rt.cfg.busy_poll_us != 0 &&
	    has_stack_socket(fds, n)) {
		struct poll_args a = { .fds = fds, .n = n };
		bool expired;
		int r = poll_first(timeout, try_poll, &a, &expired);

		if (r != 0 || expired)
			return r;
	}
	return real_poll(fds, n, timeout);
}
