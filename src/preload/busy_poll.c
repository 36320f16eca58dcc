/* Direct mode's busy polling (KEEPWIRE_BUSY_POLL, microseconds; off by
 * default): a blocking read of a stack socket that finds nothing waits in
 * a loop of zero-timeout polls, for up to that long, before it sleeps in
 * the kernel. A request/response exchange then skips the wake-up of the
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
#include "preload/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

void kw_busy_poll_read(int fd, int flags)
{
	unsigned us;
	uint64_t until;
	int saved, fl;

	if ((flags & MSG_DONTWAIT) || kw_direct_ref(fd) == 0)
		return;
	us = kw_rt.cfg.busy_poll_us;
	if (us == 0)
		return;
	saved = errno;
	if (readable_now(fd))
		goto out;
	/* A non-blocking descriptor answers at once: no wait to shorten. */
	fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		goto out;
	until = now_ns() + (uint64_t)us * 1000u;
	while (!readable_now(fd) && now_ns() < until)
		;
out:
	errno = saved;
}
