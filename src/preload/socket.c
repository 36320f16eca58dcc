/* socket(2): every new IPv4/IPv6 TCP socket gets keepwire's keepalive
 * values right away, so any setsockopt the program makes later wins. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

static int kw_socket(int domain, int type, int protocol)
{
	int fd = kw_libc.socket(domain, type, protocol);

	/* A new socket: what an earlier holder of the number had registered
	 * with epoll is not its. */
	if (fd >= 0 && kw_direct_enabled)
		kw_direct_epoll_forget_fd(fd);
	if (fd < 0 || !kw_rt.active)
		return fd;
	if (kw_is_tcp_socket_args(domain, type, protocol))
		kw_fd_set(fd, kw_apply(fd));
	else
		kw_fd_set(fd, KW_FD_OTHER);
	return fd;
}

KW_EXPORT int socket(int domain, int type, int protocol)
{
	kw_init_once();
	return kw_socket(domain, type, protocol);
}
