/* connect(2): sockets keepwire did not create (inherited from a parent,
 * received over SCM_RIGHTS, made before the library loaded) are
 * configured here, before the connection is made, unless the program
 * already chose its own keepalive options. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <netinet/in.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

static bool is_inet(kw_const_sockaddr_arg addr, socklen_t len)
{
	const struct sockaddr *sa = KW_CONST_SA(addr);

	if (sa == NULL || len < (socklen_t)sizeof(sa->sa_family))
		return false;
	return sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
}

static int kw_connect(int fd, kw_const_sockaddr_arg addr, socklen_t len)
{
	enum kw_fd_state st;

	if (kw_rt.active && is_inet(addr, len)) {
		st = kw_fd_get(fd);
		if (st == KW_FD_UNKNOWN)
			kw_fd_set(fd, kw_adopt(fd));
		else if (st == KW_FD_PROGRAM && kw_rt.cfg.policy == KW_POLICY_FORCE)
			kw_fd_set(fd, kw_apply(fd));
	}
	return kw_libc.connect(fd, addr, len);
}

/* Direct mode: an IPv4 destination routed to the stack. */
static bool direct_connect(int fd, kw_const_sockaddr_arg addr, socklen_t len, int *ret)
{
	const struct sockaddr *sa = KW_CONST_SA(addr);
	struct sockaddr_in sin;

	if (sa == NULL || len < (socklen_t)sizeof(sin) || sa->sa_family != AF_INET) {
		/* AF_UNSPEC on a stack socket would dissolve it; not supported. */
		return false;
	}
	memcpy(&sin, sa, sizeof(sin));
	return kw_direct_connect(fd, &sin, ret);
}

KW_EXPORT int connect(int fd, kw_const_sockaddr_arg addr, socklen_t len)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (direct_connect(fd, addr, len, &ret))
			return ret;
		errno = saved;
	}
	return kw_connect(fd, addr, len);
}
