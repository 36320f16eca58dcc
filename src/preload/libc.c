#include "config.h"
#include "preload/libc.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

struct kw_libc kw_libc;

/* System-call fallbacks, used only if dlsym cannot find a symbol (a libc
 * without it, or an unusual link order). */
static int sys_socket(int domain, int type, int protocol)
{
	return (int)syscall(SYS_socket, domain, type, protocol);
}

static int sys_connect(int fd, kw_const_sockaddr_arg addr, socklen_t len)
{
	return (int)syscall(SYS_connect, fd, KW_CONST_SA(addr), len);
}

static int sys_accept4(int fd, kw_sockaddr_arg addr, socklen_t *restrict len, int flags)
{
#ifdef SYS_accept4
	return (int)syscall(SYS_accept4, fd, *(void **)&addr, len, flags);
#else
	(void)flags;
	return (int)syscall(SYS_accept, fd, *(void **)&addr, len);
#endif
}

static int sys_accept(int fd, kw_sockaddr_arg addr, socklen_t *restrict len)
{
	return sys_accept4(fd, addr, len, 0);
}

static int sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

static int sys_getsockopt(int fd, int level, int name, void *restrict val,
			  socklen_t *restrict len)
{
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

static int sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static int sys_dup(int fd)
{
	return (int)syscall(SYS_dup, fd);
}

static int sys_dup3(int oldfd, int newfd, int flags)
{
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

static int sys_dup2(int oldfd, int newfd)
{
	/* dup3 refuses oldfd == newfd; dup2 returns it if it is open. */
	if (oldfd == newfd)
		return (int)syscall(SYS_fcntl, oldfd, F_GETFD) < 0 ? -1 : newfd;
	return sys_dup3(oldfd, newfd, 0);
}

static int sys_bind(int fd, kw_const_sockaddr_arg addr, socklen_t len)
{
	return (int)syscall(SYS_bind, fd, KW_CONST_SA(addr), len);
}

static int sys_listen(int fd, int backlog)
{
	return (int)syscall(SYS_listen, fd, backlog);
}

static int sys_shutdown(int fd, int how)
{
	return (int)syscall(SYS_shutdown, fd, how);
}

static int sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

/* epoll_pwait and ppoll: the calls every architecture has. */
static int sys_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout, NULL, 0);
}

static int sys_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };

	return (int)syscall(SYS_ppoll, fds, n, timeout < 0 ? NULL : &ts, NULL, 0);
}

static int sys_getsockname(int fd, kw_sockaddr_arg addr, socklen_t *restrict len)
{
	return (int)syscall(SYS_getsockname, fd, *(void **)&addr, len);
}

static int sys_getpeername(int fd, kw_sockaddr_arg addr, socklen_t *restrict len)
{
	return (int)syscall(SYS_getpeername, fd, *(void **)&addr, len);
}

static ssize_t sys_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

static ssize_t sys_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}

static ssize_t sys_readv(int fd, const struct iovec *iov, int n)
{
	return syscall(SYS_readv, fd, iov, n);
}

static ssize_t sys_writev(int fd, const struct iovec *iov, int n)
{
	return syscall(SYS_writev, fd, iov, n);
}

static ssize_t sys_recvfrom(int fd, void *restrict buf, size_t n, int flags,
			    kw_sockaddr_arg addr, socklen_t *restrict len)
{
	return syscall(SYS_recvfrom, fd, buf, n, flags, *(void **)&addr, len);
}

static ssize_t sys_recv(int fd, void *buf, size_t n, int flags)
{
	return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

static ssize_t sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return syscall(SYS_recvmsg, fd, msg, flags);
}

static ssize_t sys_sendto(int fd, const void *buf, size_t n, int flags,
			  kw_const_sockaddr_arg addr, socklen_t len)
{
	return syscall(SYS_sendto, fd, buf, n, flags, KW_CONST_SA(addr), len);
}

static ssize_t sys_send(int fd, const void *buf, size_t n, int flags)
{
	return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

static ssize_t sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return syscall(SYS_sendmsg, fd, msg, flags);
}

static int sys_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

#define RESOLVE(field, fallback)                                   \
	do {                                                       \
		void *sym = dlsym(RTLD_NEXT, #field);              \
		*(void **)&kw_libc.field = sym ? sym : (void *)fallback; \
	} while (0)

void kw_libc_resolve(void)
{
	RESOLVE(socket, sys_socket);
	RESOLVE(connect, sys_connect);
	RESOLVE(accept, sys_accept);
	RESOLVE(accept4, sys_accept4);
	RESOLVE(setsockopt, sys_setsockopt);
	RESOLVE(getsockopt, sys_getsockopt);
	RESOLVE(close, sys_close);
	RESOLVE(dup, sys_dup);
	RESOLVE(dup2, sys_dup2);
	RESOLVE(dup3, sys_dup3);
	RESOLVE(bind, sys_bind);
	RESOLVE(listen, sys_listen);
	RESOLVE(shutdown, sys_shutdown);
	RESOLVE(epoll_ctl, sys_epoll_ctl);
	RESOLVE(epoll_wait, sys_epoll_wait);
	RESOLVE(poll, sys_poll);
	RESOLVE(getsockname, sys_getsockname);
	RESOLVE(getpeername, sys_getpeername);
	RESOLVE(read, sys_read);
	RESOLVE(write, sys_write);
	RESOLVE(readv, sys_readv);
	RESOLVE(writev, sys_writev);
	RESOLVE(recv, sys_recv);
	RESOLVE(recvfrom, sys_recvfrom);
	RESOLVE(recvmsg, sys_recvmsg);
	RESOLVE(send, sys_send);
	RESOLVE(sendto, sys_sendto);
	RESOLVE(sendmsg, sys_sendmsg);
	RESOLVE(fcntl, sys_fcntl);
}
