/* The real libc functions behind keepwire's hooks (the bottom layer of
 * exported hook -> kw_* logic -> libc_*). Resolved once with
 * dlsym(RTLD_NEXT); where a symbol cannot be found the raw system call is
 * used, so a hook never calls through a null pointer. */
#ifndef KW_PRELOAD_LIBC_H
#define KW_PRELOAD_LIBC_H

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* glibc declares the socket address arguments as transparent unions under
 * _GNU_SOURCE; the hooks must be defined with the very same types. */
#if defined(__GLIBC__) && defined(__USE_GNU) && !defined(__cplusplus)
typedef __SOCKADDR_ARG kw_sockaddr_arg;
typedef __CONST_SOCKADDR_ARG kw_const_sockaddr_arg;
#define KW_CONST_SA(arg) ((arg).__sockaddr__)
#define KW_SA(arg) ((arg).__sockaddr__)
#else
typedef struct sockaddr *kw_sockaddr_arg;
typedef const struct sockaddr *kw_const_sockaddr_arg;
#define KW_CONST_SA(arg) (arg)
#define KW_SA(arg) (arg)
#endif

struct kw_libc {
	int (*socket)(int domain, int type, int protocol);
	int (*connect)(int fd, kw_const_sockaddr_arg addr, socklen_t len);
	int (*accept)(int fd, kw_sockaddr_arg addr, socklen_t *restrict len);
	int (*accept4)(int fd, kw_sockaddr_arg addr, socklen_t *restrict len, int flags);
	int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
	int (*getsockopt)(int fd, int level, int name, void *restrict val,
			  socklen_t *restrict len);
	int (*close)(int fd);
	int (*dup)(int fd);
	int (*dup2)(int oldfd, int newfd);
	int (*dup3)(int oldfd, int newfd, int flags);
	/* direct mode */
	int (*bind)(int fd, kw_const_sockaddr_arg addr, socklen_t len);
	int (*listen)(int fd, int backlog);
	int (*shutdown)(int fd, int how);
	int (*getsockname)(int fd, kw_sockaddr_arg addr, socklen_t *restrict len);
	int (*getpeername)(int fd, kw_sockaddr_arg addr, socklen_t *restrict len);
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	ssize_t (*readv)(int fd, const struct iovec *iov, int n);
	ssize_t (*writev)(int fd, const struct iovec *iov, int n);
	ssize_t (*recv)(int fd, void *buf, size_t n, int flags);
	ssize_t (*recvfrom)(int fd, void *restrict buf, size_t n, int flags,
			    kw_sockaddr_arg addr, socklen_t *restrict len);
	ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
	ssize_t (*send)(int fd, const void *buf, size_t n, int flags);
	ssize_t (*sendto)(int fd, const void *buf, size_t n, int flags,
			  kw_const_sockaddr_arg addr, socklen_t len);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	int (*fcntl)(int fd, int cmd, ...);
	int (*epoll_ctl)(int epfd, int op, int fd, struct epoll_event *event);
	int (*epoll_wait)(int epfd, struct epoll_event *ev, int max, int timeout);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
};

/* Filled by kw_libc_resolve(), called once from keepwire's initialisation. */
extern struct kw_libc kw_libc;

void kw_libc_resolve(void);

#endif
