/* bind(2), listen(2) and a listener's shutdown(2): in direct mode, a TCP
 * socket bound to the stack's address or to INADDR_ANY gets a place on
 * the stack, becomes a stack listener when it listens, and stops
 * listening when its reading side is shut. Everything else is the
 * kernel's. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static bool direct_bind(int fd, kw_const_sockaddr_arg addr, socklen_t len, int *ret)
{
	const struct sockaddr *sa = KW_CONST_SA(addr);
	struct sockaddr_in sin;

	if (sa == NULL || len < (socklen_t)sizeof(sin) || sa->sa_family != AF_INET)
		return false;
	memcpy(&sin, sa, sizeof(sin));
	return kw_direct_bind(fd, &sin, len, ret);
}

KW_EXPORT int bind(int fd, kw_const_sockaddr_arg addr, socklen_t len)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (direct_bind(fd, addr, len, &ret))
			return ret;
		errno = saved;
	}
	return kw_libc.bind(fd, addr, len);
}

KW_EXPORT int listen(int fd, int backlog)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (kw_direct_listen(fd, backlog, &ret))
			return ret;
		errno = saved;
	}
	return kw_libc.listen(fd, backlog);
}

KW_EXPORT int shutdown(int fd, int how)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (kw_direct_shutdown_listener(fd, how, &ret))
			return ret;
		errno = saved;
	}
	return kw_libc.shutdown(fd, how);
}
