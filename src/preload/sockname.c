/* getsockname(2), getpeername(2), getsockopt(2): a stack socket answers
 * with its AF_INET addresses and TCP options, not those of the socketpair
 * end the program actually holds. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>

KW_EXPORT int getsockname(int fd, kw_sockaddr_arg addr, socklen_t *restrict len)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (kw_direct_sockname(fd, KW_SA(addr), len, false, &ret))
			return ret;
		errno = saved;
	}
	return kw_libc.getsockname(fd, addr, len);
}

KW_EXPORT int getpeername(int fd, kw_sockaddr_arg addr, socklen_t *restrict len)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (kw_direct_sockname(fd, KW_SA(addr), len, true, &ret))
			return ret;
		errno = saved;
	}
	return kw_libc.getpeername(fd, addr, len);
}

KW_EXPORT int getsockopt(int fd, int level, int name, void *restrict val, socklen_t *restrict len)
{
	int saved, ret;

	kw_init_once();
	if (kw_direct_enabled) {
		saved = errno;
		if (kw_direct_getsockopt(fd, level, name, val, len, &ret))
			return ret;
		errno = saved;
	}
	return kw_libc.getsockopt(fd, level, name, val, len);
}
