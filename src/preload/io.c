/* The data calls: read/recv and write/send families. In socket mode they
 * go straight to libc (one predictable branch). In direct mode a stack
 * connection that ended with an error reports it here, once, as the
 * kernel would: its socketpair end can only say "end of stream", so a
 * read that returns 0 asks the slot whether that EOF is really ETIMEDOUT
 * or ECONNRESET, and a write to a dead connection fails with the error
 * (then EPIPE) instead of vanishing.
 *
 * These hooks never call kw_init_once(): keepwire's own initialisation
 * writes its log through write(). Before initialisation has resolved the
 * real functions, the system call is made directly. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static ssize_t after_read(int fd, ssize_t r, size_t wanted)
{
	int err;

	if (r != 0 || wanted == 0 || !kw_direct_enabled)
		return r;
	err = kw_direct_read_error(fd);
	if (err == 0)
		return 0;
	errno = err;
	return -1;
}

static bool write_refused(int fd, int flags)
{
	int err;

	if (!kw_direct_enabled)
		return false;
	err = kw_direct_write_check(fd, flags);
	if (err == 0)
		return false;
	errno = err;
	return true;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t total = 0;

	for (int i = 0; i < n && iov != NULL; i++)
		total += iov[i].iov_len;
	return total;
}

KW_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	kw_busy_poll_read(fd, 0);
	ssize_t r = kw_libc.read ? kw_libc.read(fd, buf, n) : syscall(SYS_read, fd, buf, n);

	return after_read(fd, r, n);
}

KW_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	kw_busy_poll_read(fd, 0);
	ssize_t r = kw_libc.readv ? kw_libc.readv(fd, iov, n) : syscall(SYS_readv, fd, iov, n);

	return after_read(fd, r, r == 0 ? iov_total(iov, n) : 0);
}

KW_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	kw_busy_poll_read(fd, flags);
	ssize_t r = kw_libc.recv ? kw_libc.recv(fd, buf, n, flags)
				 : syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);

	return after_read(fd, r, n);
}

KW_EXPORT ssize_t recvfrom(int fd, void *restrict buf, size_t n, int flags,
			   kw_sockaddr_arg addr, socklen_t *restrict len)
{
	kw_busy_poll_read(fd, flags);
	ssize_t r = kw_libc.recvfrom ? kw_libc.recvfrom(fd, buf, n, flags, addr, len)
				     : syscall(SYS_recvfrom, fd, buf, n, flags, KW_SA(addr), len);

	return after_read(fd, r, n);
}

KW_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	kw_busy_poll_read(fd, flags);
	ssize_t r = kw_libc.recvmsg ? kw_libc.recvmsg(fd, msg, flags)
				    : syscall(SYS_recvmsg, fd, msg, flags);

	return after_read(fd, r, r == 0 && msg ? iov_total(msg->msg_iov, (int)msg->msg_iovlen) : 0);
}

KW_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (write_refused(fd, 0))
		return -1;
	return kw_libc.write ? kw_libc.write(fd, buf, n) : syscall(SYS_write, fd, buf, n);
}

KW_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	if (write_refused(fd, 0))
		return -1;
	return kw_libc.writev ? kw_libc.writev(fd, iov, n) : syscall(SYS_writev, fd, iov, n);
}

KW_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (write_refused(fd, flags))
		return -1;
	return kw_libc.send ? kw_libc.send(fd, buf, n, flags)
			    : syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

KW_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 kw_const_sockaddr_arg addr, socklen_t len)
{
	if (write_refused(fd, flags))
		return -1;
	/* A connected TCP socket ignores a destination; a socketpair end
	 * would refuse it. */
	if (kw_direct_enabled && kw_direct_ref(fd) != 0)
		return send(fd, buf, n, flags);
	return kw_libc.sendto ? kw_libc.sendto(fd, buf, n, flags, addr, len)
			      : syscall(SYS_sendto, fd, buf, n, flags, KW_CONST_SA(addr), len);
}

KW_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr copy;

	if (write_refused(fd, flags))
		return -1;
	if (kw_direct_enabled && msg != NULL && msg->msg_name != NULL && kw_direct_ref(fd) != 0) {
		copy = *msg;
		copy.msg_name = NULL;
		copy.msg_namelen = 0;
		msg = &copy;
	}
	return kw_libc.sendmsg ? kw_libc.sendmsg(fd, msg, flags) : syscall(SYS_sendmsg, fd, msg, flags);
}

/* _FORTIFY_SOURCE variants: glibc's own call the internal read/recv, past
 * the hooks above. */
extern void __chk_fail(void) __attribute__((noreturn));
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *restrict buf, size_t n, size_t buflen, int flags,
		       kw_sockaddr_arg addr, socklen_t *restrict len);

KW_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

KW_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

KW_EXPORT ssize_t __recvfrom_chk(int fd, void *restrict buf, size_t n, size_t buflen, int flags,
				 kw_sockaddr_arg addr, socklen_t *restrict len)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, len);
}
