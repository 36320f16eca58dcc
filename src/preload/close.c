/* close(2) and the dup family: keep keepwire's per-descriptor knowledge
 * true when a number is released or made to point at another socket, so
 * a later accept/connect on a reused number is judged afresh. Only a
 * store each: no system call is added. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <fcntl.h>
#include <stdarg.h>

#include <unistd.h>

KW_EXPORT int close(int fd)
{
	uint32_t linger = 0;
	int r;

	kw_init_once();
	kw_fd_set(fd, KW_FD_UNKNOWN);
	if (kw_direct_enabled) {
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

KW_EXPORT int dup(int oldfd)
{
	kw_init_once();
	return copy_state(oldfd, kw_libc.dup(oldfd));
}

KW_EXPORT int dup2(int oldfd, int newfd)
{
	kw_init_once();
	return copy_state(oldfd, kw_libc.dup2(oldfd, newfd));
}

#ifdef HAVE_DUP3
KW_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	kw_init_once();
	return copy_state(oldfd, kw_libc.dup3(oldfd, newfd, flags));
}
#endif

/* fcntl(F_DUPFD, F_DUPFD_CLOEXEC) is dup by another name (Python's
 * socket.dup() uses it). glibc 2.28+ also exports fcntl64, which programs
 * built with 64-bit file offsets call instead. */
static int kw_fcntl(int fd, int cmd, void *arg)
{
	int r = kw_libc.fcntl(fd, cmd, arg);

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
