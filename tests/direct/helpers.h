/* Small helpers shared by the C programs of tests/direct (addresses,
 * clocks, int options, a kernel-side listener and a connection to it). Header-only:
 * each program takes what it uses. */
#ifndef KW_TESTS_DIRECT_HELPERS_H
#define KW_TESTS_DIRECT_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline struct sockaddr_in sin_of(const char *addr, int port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sin.sin_addr);
	return sin;
}

static inline int port_of(int fd)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);

	if (getsockname(fd, (struct sockaddr *)&me, &len) != 0)
		return -1;
	return ntohs(me.sin_port);
}

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static inline double now_s(void)
{
	return now_ms() / 1000;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* An int option, or -errno. */
static inline int get_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) != 0)
		return -errno;
	return v;
}

/* 0, or -errno. */
static inline int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v)) == 0 ? 0 : -errno;
}

/* The domain the kernel itself sees, past keepwire's getsockopt hook. */
static inline int raw_domain(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0)
		return -1;
	return v;
}

/* A listener on addr, the kernel's address (it stays on the kernel). */
static inline int listener_on(const char *addr)
{
	struct sockaddr_in at = sin_of(addr, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&at, sizeof(at)) != 0 || listen(l, 16) != 0) {
		close(l);
		return -1;
	}
	return l;
}

/* A connection from this program to the listener l on addr (over the
 * stack in direct mode), and the listener's end of it (*k, -1 if none). */
static inline int connect_pair(const char *addr, int l, int *k)
{
	struct sockaddr_in at = sin_of(addr, port_of(l));
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	*k = -1;
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&at, sizeof(at)) != 0) {
		close(fd);
		return -1;
	}
	*k = accept(l, NULL, NULL);
	return fd;
}

#endif
