/* close(2) and the dup family: keep keepwire's per-descriptor knowledge
 * true when a number is released or made to point at another socket, so
 * a later accept/connect on a reused number is judged afresh. Only a
 * store each: no system call is added. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_CLOSE_RANGE_H
#include <linux/close_range.h>
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

KW_EXPORT int close(int fd)
{
	uint32_t linger = 0;
	int r;

	kw_init_once();
	if (kw_direct_is_ctl(fd)) {
		errno = EBADF;              /* not the program's descriptor */
		return -1;
	}
	kw_fd_set(fd, KW_FD_UNKNOWN);
	if (kw_direct_enabled) {
		kw_direct_epoll_closing(fd);
		linger = kw_direct_linger_ref(fd);
		kw_direct_forget(fd);
	}
	r = kw_libc.close(fd);
	if (linger != 0 && r == 0)
		kw_direct_linger_wait(linger);
	return r;
}

/* The new number refers to the same socket as the old one. */
static int copy_state(int oldfd, int newfd)
{
	if (newfd >= 0 && newfd != oldfd) {
		kw_fd_set(newfd, kw_fd_get(oldfd));
		if (kw_direct_enabled)
			kw_direct_copy(oldfd, newfd);
	}
	return newfd;
}

/* The engine channel (direct mode) is not the program's: copying it
 * fails as for a closed number, and a copy onto its number first moves
 * the channel away. */
static bool not_ours(int oldfd, int newfd)
{
	if (kw_direct_is_ctl(oldfd)) {
		errno = EBADF;
		return true;
	}
	if (kw_direct_is_ctl(newfd))
		kw_direct_ctl_evict(newfd);
	if (kw_direct_enabled && newfd >= 0)
		kw_direct_epoll_closing(newfd);
	return false;
}

KW_EXPORT int dup(int oldfd)
{
	kw_init_once();
	if (not_ours(oldfd, -1))
		return -1;
	return copy_state(oldfd, kw_libc.dup(oldfd));
}

KW_EXPORT int dup2(int oldfd, int newfd)
{
	kw_init_once();
	if (not_ours(oldfd, newfd))
		return -1;
	return copy_state(oldfd, kw_libc.dup2(oldfd, newfd));
}

#ifdef HAVE_DUP3
KW_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	kw_init_once();
	if (not_ours(oldfd, newfd))
		return -1;
	return copy_state(oldfd, kw_libc.dup3(oldfd, newfd, flags));
}
#endif

#ifdef SYS_close_range
/* close_range(2) and closefrom(3), which daemons call to shed what they
 * inherited: the stack sockets in the range are forgotten as by close(),
 * and the engine channel is left out of the range (the kernel would not
 * close a descriptor the program does not have). */
static int close_range_around(unsigned first, unsigned last, int flags)
{
	int ctl = kw_direct_enabled ? atomic_load(&kw_dc.ctl_fd) : -1;
	unsigned top = last;
	struct rlimit rl;

	if (first > last) {
		errno = EINVAL;
		return -1;
	}
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		if (kw_direct_enabled)
			kw_direct_forget_range(first, last);
		/* The per-number tables only up to the descriptor limit. */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur <= (rlim_t)top)
			top = rl.rlim_cur ? (unsigned)rl.rlim_cur - 1 : 0;
		for (unsigned fd = first; fd <= top && fd < KW_FD_TABLE_SIZE; fd++) {
			kw_fd_set((int)fd, KW_FD_UNKNOWN);
			if (kw_direct_enabled)
				kw_direct_epoll_closing((int)fd);
		}
	}
	if (ctl >= 0 && (unsigned)ctl >= first && (unsigned)ctl <= last &&
	    !(flags & CLOSE_RANGE_CLOEXEC)) {
		int r = 0;

		if ((unsigned)ctl > first)
			r = (int)syscall(SYS_close_range, first, (unsigned)ctl - 1, flags);
		if (r == 0 && (unsigned)ctl < last)
			r = (int)syscall(SYS_close_range, (unsigned)ctl + 1, last, flags);
		return r;
	}
	return (int)syscall(SYS_close_range, first, last, flags);
}

#ifdef HAVE_CLOSE_RANGE
KW_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	kw_init_once();
	return close_range_around(first, last, flags);
}
#endif

#ifdef HAVE_CLOSEFROM
KW_EXPORT void closefrom(int lowfd)
{
	int saved = errno;

	kw_init_once();
	if (lowfd < 0)
		lowfd = 0;
	if (close_range_around((unsigned)lowfd, ~0U, 0) != 0) {
		/* No close_range (before Linux 5.9): one by one. */
		struct rlimit rl;
		long top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
			   (long)rl.rlim_cur : 65536;

		for (long fd = lowfd; fd < top; fd++)
			close((int)fd);
	}
	errno = saved;
}
#endif
#endif

/* fcntl(F_DUPFD, F_DUPFD_CLOEXEC) is dup by another name (Python's
 * socket.dup() uses it). glibc 2.28+ also exports fcntl64, which programs
 * built with 64-bit file offsets call instead. */
static int kw_fcntl(int fd, int cmd, void *arg)
{
	int r;

	if (kw_direct_is_ctl(fd)) {
		errno = EBADF;              /* the engine channel: not the program's */
		return -1;
	}
	r = kw_libc.fcntl(fd, cmd, arg);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		copy_state(fd, r);
	return r;
}

KW_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	kw_init_once();
	return kw_fcntl(fd, cmd, arg);
}

KW_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));
