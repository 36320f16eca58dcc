#include "config.h"
#include "preload/libc.h"

#include <dlfcn.h>
#include <fcntl.h>
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
}
