/* accept(2), accept4(2): on Linux an accepted socket inherits the
 * listener's keepalive options, so a listener keepwire configured needs no
 * further system calls; sockets from listeners keepwire never saw (socket
 * activation, created before the library loaded) are looked at once. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

static void after_accept(int listener, int fd)
{
	enum kw_fd_state from = kw_fd_get(listener);

	switch (from) {
	case KW_FD_APPLIED:
	case KW_FD_OTHER:
		kw_fd_set(fd, from);
		break;
	case KW_FD_PROGRAM:
		/* Inherited the program's own choice; force overrides it. */
		if (kw_rt.cfg.policy == KW_POLICY_FORCE)
			kw_fd_set(fd, kw_apply(fd));
		else
			kw_fd_set(fd, KW_FD_PROGRAM);
		break;
	case KW_FD_UNKNOWN:
		kw_fd_set(fd, kw_adopt(fd));
		break;
	}
}

static int kw_accept4(int listener, kw_sockaddr_arg addr, socklen_t *restrict len,
		      int flags, bool with_flags)
{
	int fd;

	if (kw_direct_enabled && kw_direct_accept(listener, KW_SA(addr), len,
						  with_flags ? flags : 0, &fd))
		return fd;
	fd = with_flags ? kw_libc.accept4(listener, addr, len, flags)
			: kw_libc.accept(listener, addr, len);

	if (fd >= 0 && kw_rt.active)
		after_accept(listener, fd);
	return fd;
}

KW_EXPORT int accept(int listener, kw_sockaddr_arg addr, socklen_t *restrict len)
{
	kw_init_once();
	return kw_accept4(listener, addr, len, 0, false);
}

#ifdef HAVE_ACCEPT4
KW_EXPORT int accept4(int listener, kw_sockaddr_arg addr, socklen_t *restrict len, int flags)
{
	kw_init_once();
	return kw_accept4(listener, addr, len, flags, true);
}
#endif
