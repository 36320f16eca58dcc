#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#if defined(__linux__) && !defined(IPPROTO_MPTCP)
#define IPPROTO_MPTCP 262
#endif

/* macOS names the idle time TCP_KEEPALIVE. */
#if !defined(TCP_KEEPIDLE) && defined(TCP_KEEPALIVE)
#define TCP_KEEPIDLE TCP_KEEPALIVE
#endif

bool kw_is_tcp_socket_args(int domain, int type, int protocol)
{
	int base = type;

#ifdef SOCK_NONBLOCK
	base &= ~SOCK_NONBLOCK;
#endif
#ifdef SOCK_CLOEXEC
	base &= ~SOCK_CLOEXEC;
#endif
	if (domain != AF_INET && domain != AF_INET6)
		return false;
	if (base != SOCK_STREAM)
		return false;
#ifdef IPPROTO_MPTCP
	if (protocol == IPPROTO_MPTCP)
		return true;
#endif
	return protocol == 0 || protocol == IPPROTO_TCP;
}

static int set_int(int fd, int level, int name, int value)
{
	return kw_libc.setsockopt(fd, level, name, &value, sizeof(value));
}

static int get_int(int fd, int level, int name, int *value)
{
	socklen_t len = sizeof(*value);
	return kw_libc.getsockopt(fd, level, name, value, &len);
}

enum kw_fd_state kw_apply(int fd)
{
	const struct kw_socket_values *v = &kw_rt.values;
	int saved = errno;
	enum kw_fd_state result = KW_FD_APPLIED;

	/* Times first, then SO_KEEPALIVE: on a connected socket the timer
	 * then starts with keepwire's idle time, not the system's. Options a
	 * socket does not support (MPTCP on older kernels) are skipped. */
#ifdef TCP_KEEPIDLE
	if (set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, v->idle_s) != 0)
		kw_log(KW_LOG_DEBUG, "fd %d: TCP_KEEPIDLE not set (errno %d)", fd, errno);
#endif
#ifdef TCP_KEEPINTVL
	if (set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, v->interval_s) != 0)
		kw_log(KW_LOG_DEBUG, "fd %d: TCP_KEEPINTVL not set (errno %d)", fd, errno);
#endif
#ifdef TCP_KEEPCNT
	if (set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, v->count) != 0)
		kw_log(KW_LOG_DEBUG, "fd %d: TCP_KEEPCNT not set (errno %d)", fd, errno);
#endif
#ifdef TCP_USER_TIMEOUT
	if (v->set_user_timeout &&
	    set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)v->user_timeout_ms) != 0)
		kw_log(KW_LOG_DEBUG, "fd %d: TCP_USER_TIMEOUT not set (errno %d)", fd, errno);
#endif
	if (set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) != 0) {
		kw_log(KW_LOG_DEBUG, "fd %d: SO_KEEPALIVE not set (errno %d)", fd, errno);
		result = KW_FD_OTHER;
	} else {
		kw_log(KW_LOG_DEBUG, "fd %d: keepalive on, idle %ds, interval %ds, count %d",
		       fd, v->idle_s, v->interval_s, v->count);
	}
	errno = saved;
	return result;
}

/* Whether fd is an IPv4/IPv6 TCP socket, asking the kernel. */
static bool is_tcp_socket(int fd, int *protocol)
{
#if defined(SO_DOMAIN) && defined(SO_PROTOCOL)
	int domain, type;

	if (get_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0 ||
	    get_int(fd, SOL_SOCKET, SO_TYPE, &type) != 0 ||
	    get_int(fd, SOL_SOCKET, SO_PROTOCOL, protocol) != 0)
		return false;
	return kw_is_tcp_socket_args(domain, type, *protocol);
#else
	/* Without SO_DOMAIN: a stream socket that accepts a TCP-level option. */
	int type, nodelay;

	*protocol = 0;
	return get_int(fd, SOL_SOCKET, SO_TYPE, &type) == 0 && type == SOCK_STREAM &&
	       get_int(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay) == 0;
#endif
}

enum kw_fd_state kw_adopt(int fd)
{
	int saved = errno;
	int protocol = 0, keepalive = 0;
	enum kw_fd_state st;

	if (!is_tcp_socket(fd, &protocol)) {
		st = KW_FD_OTHER;
	} else if (kw_rt.cfg.policy == KW_POLICY_DEFAULT &&
		   get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive) == 0 && keepalive) {
		/* Someone (the program, or a parent process) chose already. */
		st = KW_FD_PROGRAM;
	} else {
		st = kw_apply(fd);
	}
	errno = saved;
	return st;
}
