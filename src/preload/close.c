/* close(2) and the dup family: keep keepwire's per-descriptor knowledge
 * true when a number is released or made to point at another socket, so
 * a later accept/connect on a reused number is judged afresh. Only a
 * store each: no system call is added. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"

#include <unistd.h>

KW_EXPORT int close(int fd)
{
	kw_init_once();
	kw_fd_set(fd, KW_FD_UNKNOWN);
	return kw_libc.close(fd);
}

/* The new number refers to the same socket as the old one. */
static int copy_state(int oldfd, int newfd)
{
	if (newfd >= 0)
		kw_fd_set(newfd, kw_fd_get(oldfd));
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
