/* Direct mode keeps the kernel's socket semantics (DESIGN §4.3), checked
 * from inside a program that uses plain libc calls.
 *
 * semantics.t runs this inside a network namespace whose TAP device is the
 * stack's link, under LD_PRELOAD=libkeepwire.so with KEEPWIRE_MODE=direct:
 * the stack is KW_T_STACK (10.x.y.2), the kernel end of the TAP device is
 * KW_T_KERNEL (10.x.y.1). The same process also plays the kernel's side:
 * listeners bound to the kernel's address stay on the kernel (keepwire
 * only takes the stack's address and INADDR_ANY), and its kernel-side
 * connects to the stack are made with the raw system call, which keepwire
 * does not see. A raw getsockopt(SO_DOMAIN) tells which stack a descriptor
 * is really on: AF_UNIX underneath means "bridged to keepwire's stack".
 *
 * Each numbered part is one semantic of issue 4; the last ones (keepalive
 * death, user timeout) add an nftables rule dropping everything on the
 * TAP device. */
#define _GNU_SOURCE
#include "tests/tap.h"
#include "tests/direct/helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *kernel_addr, *stack_addr, *tap_name;

static int tcp_connect(const char *addr, int port)
{
	struct sockaddr_in sin = sin_of(addr, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The kernel's side connecting to the stack: the raw system call. */
static int kernel_connect(const char *addr, int port)
{
	struct sockaddr_in sin = sin_of(addr, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (syscall(SYS_connect, fd, &sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static ssize_t read_all(int fd, char *buf, size_t cap, double timeout_s)
{
	size_t got = 0;
	double end = now_s() + timeout_s;

	while (got < cap) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, (int)((end - now_s()) * 1000)) <= 0)
			break;
		n = read(fd, buf + got, cap - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* ---- kernel-side servers (threads) ------------------------------------- */

enum behaviour { ECHO, HELLO_CLOSE, RESET, HALF, HOLD, WATCH_EOF };

struct server {
	int lfd, port;
	enum behaviour what;
	int conns;                     /* how many to serve */
	pthread_t thread;
	_Atomic int eofs;              /* connections that saw EOF */
	_Atomic int held[8];           /* HOLD: accepted fds */
	_Atomic int n_held;
};

static void serve_one(struct server *s, int fd)
{
	char buf[65536];
	ssize_t n;
	size_t total = 0;

	switch (s->what) {
	case ECHO:
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (write(fd, buf, (size_t)n) != n)
				break;
		if (n == 0)
			atomic_fetch_add(&s->eofs, 1);
		close(fd);
		break;
	case HELLO_CLOSE:
		(void)!write(fd, "hello", 5);
		close(fd);
		break;
	case RESET: {
		struct linger lg = { 1, 0 };
		n = read(fd, buf, 1);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		break;
	}
	case HALF:
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			total += (size_t)n;
		n = snprintf(buf, sizeof(buf), "got %zu", total);
		(void)!write(fd, buf, (size_t)n);
		close(fd);
		break;
	case HOLD:
		s->held[atomic_fetch_add(&s->n_held, 1) % 8] = fd;
		break;
	case WATCH_EOF:
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n == 0)
			atomic_fetch_add(&s->eofs, 1);
		close(fd);
		break;
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	for (int i = 0; i < s->conns; i++) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			break;
		serve_one(s, fd);
	}
	return NULL;
}

static struct server *server_start(enum behaviour what, int conns)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = sin_of(kernel_addr, 0);
	socklen_t len = sizeof(sin);
	int one = 1;

	s->what = what;
	s->conns = conns;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(s->lfd, 16) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sin, &len) != 0) {
		printf("Bail out! kernel-side server on %s: %s\n", kernel_addr, strerror(errno));
		exit(1);
	}
	s->port = ntohs(sin.sin_port);
	pthread_create(&s->thread, NULL, server_main, s);
	return s;
}

static void server_join(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

static bool wait_for(_Atomic int *v, int want, double timeout_s)
{
	double end = now_s() + timeout_s;

	while (atomic_load(v) < want && now_s() < end)
		usleep(10000);
	return atomic_load(v) >= want;
}

/* ---- the parts ---------------------------------------------------------- */

static void test_blocking_connect(void)
{
	struct server *s = server_start(ECHO, 1);
	struct sockaddr_in me, peer;
	socklen_t len = sizeof(me);
	char buf[8] = { 0 };
	int fd = tcp_connect(kernel_addr, s->port);

	tap_ok(fd >= 0, "blocking connect to the kernel over the stack succeeds");
	tap_is_u64(raw_domain(fd), AF_UNIX, "... the descriptor is bridged to keepwire's stack");
	tap_ok(getsockname(fd, (struct sockaddr *)&me, &len) == 0 && len == sizeof(me) &&
	       me.sin_family == AF_INET && me.sin_addr.s_addr == sin_of(stack_addr, 0).sin_addr.s_addr &&
	       ntohs(me.sin_port) >= 1024, "getsockname: AF_INET, the stack's address, a port");
	len = sizeof(peer);
	tap_ok(getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && peer.sin_family == AF_INET &&
	       peer.sin_addr.s_addr == sin_of(kernel_addr, 0).sin_addr.s_addr &&
	       ntohs(peer.sin_port) == s->port, "getpeername: the kernel's address and port");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM, "SO_TYPE is SOCK_STREAM");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_DOMAIN), AF_INET, "SO_DOMAIN is AF_INET");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP, "SO_PROTOCOL is IPPROTO_TCP");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1, "SO_KEEPALIVE is on (keepwire's configuration)");
	tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7, "TCP_KEEPIDLE is KEEPWIRE_IDLE (7)");
	tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3, "TCP_KEEPINTVL is KEEPWIRE_INTERVAL (3)");
	tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4, "TCP_KEEPCNT is KEEPWIRE_COUNT (4)");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "SO_ERROR is 0");
	tap_ok(write(fd, "ping", 4) == 4 && read_all(fd, buf, 4, 5) == 4 && memcmp(buf, "ping", 4) == 0,
	       "bytes go through and come back");
	{
		struct sockaddr_in again = sin_of(kernel_addr, s->port);
		errno = 0;
		tap_ok(connect(fd, (struct sockaddr *)&again, sizeof(again)) == -1 && errno == EISCONN,
		       "connect again on a connected socket: EISCONN");
	}
	close(fd);
	server_join(s);
	tap_is_u64(atomic_load(&s->eofs), 1, "close: the kernel's side sees EOF");
}

static void test_nonblocking_connect(void)
{
	struct server *s = server_start(ECHO, 1);
	struct sockaddr_in sin = sin_of(kernel_addr, s->port);
	struct sockaddr_in nowhere = sin_of(stack_addr, 0);
	struct pollfd p;
	char buf[8];
	int fd, r;

	/* A host that never answers (nobody has .99 on the link): the socket
	 * must not look writable while the handshake cannot end. */
	nowhere.sin_addr.s_addr = htonl((ntohl(nowhere.sin_addr.s_addr) & ~0xffu) | 99u);
	nowhere.sin_port = htons(9);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 0;
	r = connect(fd, (struct sockaddr *)&nowhere, sizeof(nowhere));
	tap_ok(r == -1 && errno == EINPROGRESS, "non-blocking connect: EINPROGRESS");
	p = (struct pollfd){ fd, POLLOUT | POLLIN, 0 };
	tap_is_u64(poll(&p, 1, 300), 0, "... while connecting: no POLLOUT (nor POLLIN) for 300 ms");
	errno = 0;
	tap_ok(connect(fd, (struct sockaddr *)&nowhere, sizeof(nowhere)) == -1 && errno == EALREADY,
	       "... connect again while connecting: EALREADY");
	errno = 0;
	tap_ok(write(fd, "x", 1) == -1 && errno == EAGAIN, "... write while connecting: EAGAIN");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "... SO_ERROR 0 while connecting");
	{
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		errno = 0;
		tap_ok(getpeername(fd, (struct sockaddr *)&peer, &len) == -1 && errno == ENOTCONN,
		       "... getpeername while connecting: ENOTCONN");
	}
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 0;
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	tap_ok(r == -1 && errno == EINPROGRESS, "non-blocking connect to a listener: EINPROGRESS");
	tap_ok(fcntl(fd, F_GETFL) & O_NONBLOCK, "... the descriptor is still non-blocking");
	p = (struct pollfd){ fd, POLLOUT, 0 };
	tap_ok(poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT), "... then POLLOUT");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "... then SO_ERROR 0");
	tap_ok(write(fd, "abc", 3) == 3, "... and write works");
	p = (struct pollfd){ fd, POLLIN, 0 };
	tap_ok(poll(&p, 1, 5000) == 1 && read(fd, buf, sizeof(buf)) == 3, "... and the echo arrives");
	errno = 0;
	tap_ok(read(fd, buf, sizeof(buf)) == -1 && errno == EAGAIN, "... read with nothing there: EAGAIN");
	close(fd);
	server_join(s);
}

static int closed_port(void)
{
	struct server *s = server_start(ECHO, 0);
	int port = s->port;

	server_join(s);                /* listener closed: nobody on the port */
	return port;
}

static void test_refused(void)
{
	int port = closed_port();
	struct sockaddr_in sin = sin_of(kernel_addr, port);
	struct pollfd p;
	int fd;

	errno = 0;
	fd = tcp_connect(kernel_addr, port);
	tap_ok(fd == -1 && errno == ECONNREFUSED, "blocking connect to a closed port: ECONNREFUSED");
	if (fd >= 0)
		close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 0;
	tap_ok(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 && errno == EINPROGRESS,
	       "non-blocking connect to a closed port: EINPROGRESS");
	p = (struct pollfd){ fd, POLLOUT, 0 };
	tap_ok(poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT), "... then POLLOUT");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), ECONNREFUSED, "... then SO_ERROR ECONNREFUSED");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "... which reading cleared");
	close(fd);
}

static void test_unreachable(void)
{
	struct sockaddr_in nowhere = sin_of(stack_addr, 0);
	double t0;
	int fd;

	errno = 0;
	fd = tcp_connect("192.0.2.1", 80);
	tap_ok(fd == -1 && errno == ENETUNREACH,
	       "connect off-link without a gateway: ENETUNREACH at once");
	nowhere.sin_addr.s_addr = htonl((ntohl(nowhere.sin_addr.s_addr) & ~0xffu) | 98u);
	t0 = now_s();
	errno = 0;
	fd = tcp_connect(inet_ntoa(nowhere.sin_addr), 9);
	tap_ok(fd == -1 && errno == EHOSTUNREACH,
	       "connect to an on-link address nobody answers ARP for: EHOSTUNREACH");
	tap_diag("after %.2f s (3 ARP requests, 1 s apart)", now_s() - t0);
}

/* A program connecting to its own listener on the stack's address. */
static void test_self_connect(void)
{
	struct sockaddr_in at = sin_of(stack_addr, 0);
	socklen_t len = sizeof(at);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, a;
	char buf[8];

	bind(l, (struct sockaddr *)&at, sizeof(at));
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&at, &len);
	c = tcp_connect(stack_addr, ntohs(at.sin_port));
	a = accept(l, NULL, NULL);
	tap_ok(c >= 0 && a >= 0, "connect to our own listener on the stack's address");
	tap_ok(write(c, "self", 4) == 4 && read_all(a, buf, 4, 5) == 4 && memcmp(buf, "self", 4) == 0 &&
	       write(a, "back", 4) == 4 && read_all(c, buf, 4, 5) == 4 && memcmp(buf, "back", 4) == 0,
	       "... data both ways");
	close(c);
	tap_is_u64(read_all(a, buf, sizeof(buf), 5), 0, "... and EOF after close");
	close(a);
	close(l);
}

static void test_reset_and_eof(void)
{
	struct server *r = server_start(RESET, 1), *h = server_start(HELLO_CLOSE, 1);
	char buf[16];
	int fd;
	ssize_t n;

	fd = tcp_connect(kernel_addr, r->port);
	tap_ok(fd >= 0 && write(fd, "x", 1) == 1, "connected to a peer that will reset");
	errno = 0;
	n = read(fd, buf, sizeof(buf));
	tap_ok(n == -1 && errno == ECONNRESET, "read after the peer's RST: ECONNRESET");
	tap_ok(read(fd, buf, sizeof(buf)) == 0, "... reported once, then end of stream");
	close(fd);
	server_join(r);

	fd = tcp_connect(kernel_addr, h->port);
	n = read_all(fd, buf, 5, 5);
	tap_ok(n == 5 && memcmp(buf, "hello", 5) == 0, "data the peer sent before FIN arrives");
	tap_is_u64(read(fd, buf, sizeof(buf)), 0, "then read returns 0 (EOF)");
	tap_is_u64(read(fd, buf, sizeof(buf)), 0, "and again 0");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "a clean EOF leaves SO_ERROR 0");
	tap_ok(write(fd, "late", 4) == 4, "writing after the peer's FIN is still allowed (half-open)");
	close(fd);
	server_join(h);
}

static void test_half_close(void)
{
	struct server *s = server_start(HALF, 1);
	char data[1000], buf[32] = { 0 };
	int fd = tcp_connect(kernel_addr, s->port);
	ssize_t n;

	memset(data, 'q', sizeof(data));
	tap_ok(fd >= 0 && write(fd, data, sizeof(data)) == (ssize_t)sizeof(data),
	       "half-close: 1000 bytes sent");
	tap_is_u64(shutdown(fd, SHUT_WR), 0, "shutdown(SHUT_WR)");
	n = read_all(fd, buf, sizeof(buf) - 1, 5);
	tap_is_str(n > 0 ? buf : "", "got 1000", "the peer saw our EOF after all 1000 bytes and answered");
	tap_is_u64(read(fd, buf, sizeof(buf)), 0, "then its FIN: EOF");
	close(fd);
	server_join(s);
}

static void test_poll_select_epoll(void)
{
	struct server *s = server_start(ECHO, 1);
	int fd = tcp_connect(kernel_addr, s->port), pfd[2];
	struct pollfd p[2];
	struct epoll_event ev, out[4];
	fd_set rd;
	struct timeval tv;
	char c;
	int ep, n;

	(void)!pipe(pfd);
	(void)!write(pfd[1], "p", 1);
	p[0] = (struct pollfd){ fd, POLLIN, 0 };
	p[1] = (struct pollfd){ pfd[0], POLLIN, 0 };
	n = poll(p, 2, 1000);
	tap_ok(n == 1 && p[1].revents == POLLIN && p[0].revents == 0,
	       "poll on a stack socket and a pipe: only the pipe is ready");
	(void)!read(pfd[0], &c, 1);
	(void)!write(fd, "s", 1);
	n = poll(p, 2, 5000);
	tap_ok(n == 1 && (p[0].revents & POLLIN) && p[1].revents == 0,
	       "... then only the socket, when its data comes");
	(void)!read(fd, &c, 1);

	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	FD_SET(pfd[0], &rd);
	(void)!write(fd, "s", 1);
	tv = (struct timeval){ 5, 0 };
	n = select((fd > pfd[0] ? fd : pfd[0]) + 1, &rd, NULL, NULL, &tv);
	tap_ok(n == 1 && FD_ISSET(fd, &rd) && !FD_ISSET(pfd[0], &rd), "select: the socket, not the pipe");
	(void)!read(fd, &c, 1);

	ep = epoll_create1(0);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = pfd[0] };
	epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
	tap_is_u64(epoll_wait(ep, out, 4, 200), 0, "epoll: nothing ready, nothing reported");
	(void)!write(fd, "e", 1);
	n = epoll_wait(ep, out, 4, 5000);
	tap_ok(n == 1 && out[0].data.fd == fd, "epoll: the socket when its data comes");
	(void)!read(fd, &c, 1);
	(void)!write(pfd[1], "p", 1);
	n = epoll_wait(ep, out, 4, 5000);
	tap_ok(n == 1 && out[0].data.fd == pfd[0], "epoll: the pipe when it is written");
	close(ep);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	server_join(s);
}

static void test_dup_and_close(void)
{
	struct server *s = server_start(ECHO, 1);
	int fd = tcp_connect(kernel_addr, s->port), d;
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	char buf[8];

	d = dup2(fd, 100);
	tap_is_u64(d, 100, "dup2 onto 100");
	close(fd);
	tap_ok(getpeername(100, (struct sockaddr *)&peer, &len) == 0 && ntohs(peer.sin_port) == s->port,
	       "the copy answers getpeername after the original is closed");
	tap_is_u64(get_int(100, SOL_SOCKET, SO_DOMAIN), AF_INET, "... and SO_DOMAIN AF_INET");
	tap_ok(write(100, "dup", 3) == 3 && read_all(100, buf, 3, 5) == 3, "... and carries data");
	tap_is_u64(atomic_load(&s->eofs), 0, "closing one copy does not end the connection");
	d = fcntl(100, F_DUPFD_CLOEXEC, 200);
	tap_ok(d >= 200 && get_int(d, SOL_SOCKET, SO_DOMAIN) == AF_INET,
	       "fcntl(F_DUPFD_CLOEXEC) makes a copy keepwire knows too");
	close(100);
	tap_is_u64(atomic_load(&s->eofs), 0, "... still open through it");
	close(d);
	tap_ok(wait_for(&s->eofs, 1, 5), "closing the last copy: the peer sees EOF");
	server_join(s);
}

static void test_fork(void)
{
	struct server *s = server_start(ECHO, 1);
	int fd = tcp_connect(kernel_addr, s->port), status = -1;
	char buf[16];
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		char b[16];
		int ok = getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
			 ntohs(peer.sin_port) == s->port &&
			 write(fd, "child", 5) == 5 && read_all(fd, b, 5, 5) == 5 &&
			 memcmp(b, "child", 5) == 0;
		_exit(ok ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "fork: the child uses the connection (getpeername, write, read the echo)");
	tap_ok(write(fd, "parent", 6) == 6 && read_all(fd, buf, 6, 5) == 6 && memcmp(buf, "parent", 6) == 0,
	       "... and the parent still does after the child exited");
	tap_is_u64(atomic_load(&s->eofs), 0, "... the child's exit did not end it");
	close(fd);
	tap_ok(wait_for(&s->eofs, 1, 5), "the parent's close ends it");
	server_join(s);
}

static void test_accept(void)
{
	struct sockaddr_in any = sin_of("0.0.0.0", 0), me, peer;
	socklen_t len = sizeof(me);
	int l = socket(AF_INET, SOCK_STREAM, 0), k, a, port;
	char buf[16];

	tap_ok(bind(l, (struct sockaddr *)&any, sizeof(any)) == 0 && listen(l, 8) == 0,
	       "listener on INADDR_ANY, port 0");
	tap_is_u64(raw_domain(l), AF_UNIX, "... it is keepwire's stack's");
	tap_ok(getsockname(l, (struct sockaddr *)&me, &len) == 0 && me.sin_family == AF_INET &&
	       me.sin_addr.s_addr == 0 && ntohs(me.sin_port) > 0, "getsockname: 0.0.0.0 and the port");
	tap_is_u64(get_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1, "SO_ACCEPTCONN 1");
	port = ntohs(me.sin_port);
	k = kernel_connect(stack_addr, port);
	tap_ok(k >= 0, "the kernel connects to it over the TAP device");
	len = sizeof(peer);
	a = accept4(l, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	tap_ok(a >= 0, "accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)");
	tap_ok((fcntl(a, F_GETFL) & O_NONBLOCK) && (fcntl(a, F_GETFD) & FD_CLOEXEC),
	       "... the accepted socket is non-blocking and close-on-exec");
	tap_ok(len == sizeof(peer) && peer.sin_family == AF_INET &&
	       peer.sin_addr.s_addr == sin_of(kernel_addr, 0).sin_addr.s_addr,
	       "... and accept names the kernel's address");
	len = sizeof(me);
	tap_ok(getsockname(a, (struct sockaddr *)&me, &len) == 0 &&
	       me.sin_addr.s_addr == sin_of(stack_addr, 0).sin_addr.s_addr && ntohs(me.sin_port) == port,
	       "getsockname of the accepted socket: the stack's address and the listening port");
	tap_is_u64(get_int(a, SOL_SOCKET, SO_KEEPALIVE), 1, "accepted sockets get keepwire's keepalive");
	errno = 0;
	tap_ok(read(a, buf, sizeof(buf)) == -1 && errno == EAGAIN, "non-blocking read with nothing: EAGAIN");
	tap_ok(write(k, "to-stack", 8) == 8 && read_all(a, buf, 8, 5) == 8 && memcmp(buf, "to-stack", 8) == 0,
	       "kernel -> program");
	tap_ok(write(a, "to-kernel", 9) == 9 && read_all(k, buf, 9, 5) == 9 && memcmp(buf, "to-kernel", 9) == 0,
	       "program -> kernel");
	close(a);
	tap_is_u64(read_all(k, buf, sizeof(buf), 5), 0, "the program's close: the kernel reads EOF");
	close(k);

	/* A blocking accept on the stack's own address, plain accept(). */
	{
		int l2 = socket(AF_INET, SOCK_STREAM, 0), k2, a2;
		struct sockaddr_in at = sin_of(stack_addr, 0);
		len = sizeof(me);
		tap_ok(bind(l2, (struct sockaddr *)&at, sizeof(at)) == 0 && listen(l2, 1) == 0 &&
		       getsockname(l2, (struct sockaddr *)&me, &len) == 0 &&
		       me.sin_addr.s_addr == at.sin_addr.s_addr, "listener on the stack's own address");
		k2 = kernel_connect(stack_addr, ntohs(me.sin_port));
		a2 = accept(l2, NULL, NULL);
		tap_ok(a2 >= 0 && !(fcntl(a2, F_GETFL) & O_NONBLOCK) && !(fcntl(a2, F_GETFD) & FD_CLOEXEC),
		       "blocking accept(): a blocking socket without close-on-exec");
		close(a2);
		close(k2);
		close(l2);
	}
	close(l);
	/* The engine learns of the close from the socketpair's hang-up, a
	 * moment after close() returns. */
	for (int i = 0; i < 40; i++) {
		k = kernel_connect(stack_addr, port);
		if (k < 0)
			break;
		close(k);
		usleep(50000);
	}
	tap_ok(k < 0, "after the listener is closed the port refuses connections");
}

static void test_kernel_stays_kernel(void)
{
	struct sockaddr_in lo = sin_of("127.0.0.1", 0), me;
	socklen_t len = sizeof(me);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, a;
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	bind(l, (struct sockaddr *)&lo, sizeof(lo));
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&me, &len);
	tap_is_u64(raw_domain(l), AF_INET, "a listener on 127.0.0.1 stays on the kernel");
	c = tcp_connect("127.0.0.1", ntohs(me.sin_port));
	a = accept(l, NULL, NULL);
	tap_ok(c >= 0 && a >= 0 && raw_domain(c) == AF_INET && raw_domain(a) == AF_INET,
	       "a loopback connection stays on the kernel");
	tap_is_u64(raw_domain(u), AF_INET, "UDP stays on the kernel");
	close(a);
	close(c);
	close(l);
	close(u);
}

static void test_program_options(void)
{
	struct server *s = server_start(ECHO, 1);
	int fd = tcp_connect(kernel_addr, s->port);

	tap_is_u64(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 11), 0, "setsockopt(TCP_KEEPIDLE, 11)");
	tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 11, "... getsockopt reads 11");
	tap_is_u64(set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 0), (uint64_t)-EINVAL, "TCP_KEEPCNT 0: EINVAL");
	tap_is_u64(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 40000), (uint64_t)-EINVAL, "TCP_KEEPIDLE 40000: EINVAL");
	tap_is_u64(set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 0), 0, "setsockopt(SO_KEEPALIVE, 0)");
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0, "... getsockopt reads 0");
	tap_is_u64(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0, "setsockopt(TCP_NODELAY, 1)");
	tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1, "... getsockopt reads 1");
	tap_is_u64(set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1), 0, "SO_REUSEADDR is accepted");
	close(fd);
	server_join(s);
}

/* Keepalive death: the program's own setsockopt (idle 1 s, interval 1 s,
 * 2 probes) on three idle connections, then everything on the TAP device
 * is dropped. Each way of noticing must see ETIMEDOUT about 3 s later. */
static void test_keepalive_death(void)
{
	struct server *s = server_start(HOLD, 3);
	int fd[3], ok = 1;
	char cmd[512], buf[8];
	double t0 = 0, t;
	ssize_t n;
	struct pollfd p;

	for (int i = 0; i < 3; i++) {
		fd[i] = tcp_connect(kernel_addr, s->port);
		ok &= fd[i] >= 0 &&
		      set_int(fd[i], IPPROTO_TCP, TCP_KEEPIDLE, 1) == 0 &&
		      set_int(fd[i], IPPROTO_TCP, TCP_KEEPINTVL, 1) == 0 &&
		      set_int(fd[i], IPPROTO_TCP, TCP_KEEPCNT, 2) == 0 &&
		      set_int(fd[i], SOL_SOCKET, SO_KEEPALIVE, 1) == 0;
		if (i == 0)
			t0 = now_s();   /* setsockopt re-arms keepalive, as on Linux */
	}
	tap_ok(ok, "three idle connections with the program's own keepalive 1 s / 1 s / 2");
	snprintf(cmd, sizeof(cmd),
		 "nft add table inet kwdrop && "
		 "nft add chain inet kwdrop in '{ type filter hook input priority -10; }' && "
		 "nft add chain inet kwdrop out '{ type filter hook output priority -10; }' && "
		 "nft add rule inet kwdrop in iifname %s drop && "
		 "nft add rule inet kwdrop out oifname %s drop", tap_name, tap_name);
	tap_is_u64(system(cmd), 0, "nftables drops everything on the TAP device");
	errno = 0;
	n = read(fd[0], buf, sizeof(buf));
	t = now_s() - t0;
	tap_ok(n == -1 && errno == ETIMEDOUT, "a blocked read fails with ETIMEDOUT");
	tap_diag("read failed %.3f s after keepalive was set (idle 1 + 2 x 1 = 3 s)", t);
	tap_ok(t >= 2.9 && t <= 5.0, "... idle + count x interval after the last sign of life");
	tap_is_u64(read(fd[0], buf, sizeof(buf)), 0, "... once; then end of stream");
	/* fd[1] got its keepalive a moment after fd[0] and dies that much
	 * later (on the kernel too): wait for it, without taking its error. */
	p = (struct pollfd){ fd[1], POLLOUT, 0 };
	t = now_s();
	for (int i = 0; i < 500 && poll(&p, 1, 0) == 1 && !(p.revents & (POLLERR | POLLHUP)); i++)
		usleep(10000);
	tap_diag("the second one showed its end %.3f s after the first", now_s() - t);
	errno = 0;
	tap_ok(write(fd[1], "x", 1) == -1 && errno == ETIMEDOUT, "a write to another dead one: ETIMEDOUT");
	errno = 0;
	tap_ok(send(fd[1], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "... then EPIPE");
	p = (struct pollfd){ fd[2], POLLIN, 0 };
	tap_ok(poll(&p, 1, 5000) == 1, "the third one becomes readable (poll wakes on death)");
	tap_is_u64(get_int(fd[2], SOL_SOCKET, SO_ERROR), ETIMEDOUT, "... and SO_ERROR is ETIMEDOUT");
	tap_is_u64(get_int(fd[2], SOL_SOCKET, SO_ERROR), 0, "... once");
	(void)!system("nft delete table inet kwdrop");
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	for (int i = 0; i < atomic_load(&s->n_held) && i < 8; i++)
		close(s->held[i]);
	server_join(s);
}

static const char drop_all_fmt[] =
	"nft add table inet kwut && "
	"nft add chain inet kwut in '{ type filter hook input priority -10; }' && "
	"nft add chain inet kwut out '{ type filter hook output priority -10; }' && "
	"nft add rule inet kwut in iifname %s drop && "
	"nft add rule inet kwut out oifname %s drop";

/* TCP_USER_TIMEOUT (RFC 5482): the program sets 2000 ms, everything on
 * the TAP device is dropped, it writes. Linux aborts 2 s after its first
 * retransmission by the RTO (retrans_stamp; a loss probe comes before
 * it), the RTO clamped to that: about 2.4 s after the write, far from
 * the ~15 min of the retransmission budget. */
static void test_user_timeout(void)
{
	struct server *s = server_start(HOLD, 1);
	int fd = tcp_connect(kernel_addr, s->port);
	char cmd[512], buf[8];
	double t0, t;
	ssize_t n;

	tap_ok(fd >= 0 && set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 2000) == 0,
	       "user timeout: setsockopt(TCP_USER_TIMEOUT, 2000)");
	tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 2000, "... getsockopt reads 2000");
	snprintf(cmd, sizeof(cmd), drop_all_fmt, tap_name, tap_name);
	tap_is_u64(system(cmd), 0, "user timeout: nftables drops everything on the TAP device");
	t0 = now_s();
	tap_is_u64(write(fd, "lost", 4), 4, "user timeout: write 4 bytes that will never be acknowledged");
	errno = 0;
	n = read(fd, buf, sizeof(buf));
	t = now_s() - t0;
	tap_ok(n == -1 && errno == ETIMEDOUT, "user timeout: the blocked read fails with ETIMEDOUT");
	tap_diag("ETIMEDOUT %.3f s after the write (user timeout 2 s)", t);
	tap_ok(t >= 1.9 && t <= 4.0, "... 2 s after the write, not after the retransmission budget");
	errno = 0;
	tap_ok(send(fd, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "... then a write: EPIPE");
	(void)!system("nft delete table inet kwut");
	close(fd);
	for (int i = 0; i < atomic_load(&s->n_held) && i < 8; i++)
		close(s->held[i]);
	server_join(s);
}

/* semantics ut-env PORT: KEEPWIRE_USER_TIMEOUT from the configuration
 * alone, on a connection the program makes to the kernel's PORT and on
 * one it accepts from the kernel: drop everything, write on both, time
 * each ETIMEDOUT from the writes (both at once: idle, the other one would
 * meet its keepalive first). Prints "connect ETIMEDOUT <ms> accept
 * ETIMEDOUT <ms>" (or what happened instead). */
static int user_timeout_from_env(int port)
{
	struct sockaddr_in any = sin_of("0.0.0.0", 0), me;
	socklen_t len = sizeof(me);
	int fd[2], l = socket(AF_INET, SOCK_STREAM, 0), k;
	char cmd[512], buf[8];
	double t0;

	fd[0] = tcp_connect(kernel_addr, port);
	if (fd[0] < 0 || bind(l, (struct sockaddr *)&any, sizeof(any)) != 0 || listen(l, 4) != 0 ||
	    getsockname(l, (struct sockaddr *)&me, &len) != 0) {
		printf("setup: %s\n", strerror(errno));
		return 1;
	}
	k = kernel_connect(stack_addr, ntohs(me.sin_port));
	fd[1] = accept(l, NULL, NULL);
	if (k < 0 || fd[1] < 0) {
		printf("accept: %s\n", strerror(errno));
		return 1;
	}
	snprintf(cmd, sizeof(cmd), drop_all_fmt, tap_name, tap_name);
	if (system(cmd) != 0)
		return 1;
	t0 = now_s();
	if (write(fd[0], "lost", 4) != 4 || write(fd[1], "lost", 4) != 4)
		return 1;
	for (int i = 0; i < 2; i++) {
		ssize_t n;

		errno = 0;
		n = read(fd[i], buf, sizeof(buf));
		printf("%s%s %s %.0f", i ? " " : "", i ? "accept" : "connect",
		       n == -1 && errno == ETIMEDOUT ? "ETIMEDOUT" : n < 0 ? strerror(errno) : "data",
		       (now_s() - t0) * 1000);
	}
	printf("\n");
	(void)!system("nft delete table inet kwut");
	close(k);
	return 0;
}

/* Issue 11: data the peer sent and saw acknowledged before its RST is
 * read in full before ECONNRESET (Linux keeps the receive queue). The
 * kernel side sends 400,000 bytes to a program that does not read, waits
 * until SIOCOUTQ says all are acknowledged, then closes with SO_LINGER
 * {1,0}. */
struct bulk_reset {
	int lfd, port;
	pthread_t thread;
	_Atomic int state;             /* 1: all acknowledged and reset; -1: failed */
};

static void *bulk_reset_main(void *arg)
{
	struct bulk_reset *b = arg;
	static char buf[400000];
	struct linger lg = { 1, 0 };
	size_t sent = 0;
	double end;
	int fd = accept(b->lfd, NULL, NULL), q = -1;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 251);
	while (fd >= 0 && sent < sizeof(buf)) {
		ssize_t n = write(fd, buf + sent, sizeof(buf) - sent);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	end = now_s() + 10;
	while (fd >= 0 && now_s() < end && (ioctl(fd, SIOCOUTQ, &q) != 0 || q != 0))
		usleep(10000);
	if (fd < 0 || sent != sizeof(buf) || q != 0) {
		atomic_store(&b->state, -1);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	atomic_store(&b->state, 1);
	return NULL;
}

static void test_data_before_reset(void)
{
	struct bulk_reset b = { .lfd = -1 };
	struct sockaddr_in sin = sin_of(kernel_addr, 0);
	socklen_t len = sizeof(sin);
	static char buf[65536];
	size_t got = 0;
	bool intact = true;
	int fd, one = 1;
	ssize_t n;

	b.lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(b.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(b.lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(b.lfd, 4) != 0 ||
	    getsockname(b.lfd, (struct sockaddr *)&sin, &len) != 0) {
		printf("Bail out! kernel-side listener: %s\n", strerror(errno));
		exit(1);
	}
	b.port = ntohs(sin.sin_port);
	pthread_create(&b.thread, NULL, bulk_reset_main, &b);
	fd = tcp_connect(kernel_addr, b.port);
	tap_ok(fd >= 0, "bulk then reset: connected");
	for (double end = now_s() + 12; atomic_load(&b.state) == 0 && now_s() < end;)
		usleep(10000);
	tap_is_u64((uint64_t)atomic_load(&b.state), 1,
		   "the kernel side sent 400,000 bytes, saw them all acknowledged, and reset");
	usleep(200000);                 /* the RST is in */
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, 5000) != 1)
			break;
		errno = 0;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			intact &= buf[i] == (char)((got + (size_t)i) % 251);
		got += (size_t)n;
	}
	tap_is_u64(got, 400000, "the program reads all 400,000 bytes first");
	tap_ok(intact, "... intact");
	tap_ok(n == -1 && errno == ECONNRESET, "... then read fails with ECONNRESET");
	tap_is_u64(read(fd, buf, sizeof(buf)), 0, "... once; then end of stream");
	close(fd);
	pthread_join(b.thread, NULL);
	close(b.lfd);
}

/* Issue 11: the peer sent "hello" and closed; the program's write draws
 * the peer kernel's RST. Linux: reads still end in EOF (SOCK_DONE before
 * sk_err), SO_ERROR is EPIPE (a reset in CLOSE-WAIT), a write EPIPE. */
static void test_reset_after_fin(void)
{
	struct server *h = server_start(HELLO_CLOSE, 1);
	char buf[16];
	int fd = tcp_connect(kernel_addr, h->port);
	ssize_t n;

	n = read_all(fd, buf, 5, 5);
	tap_ok(n == 5 && read(fd, buf, sizeof(buf)) == 0, "reset after FIN: hello, then EOF");
	server_join(h);
	tap_ok(write(fd, "x", 1) == 1, "... a write after the peer's FIN is taken");
	usleep(300000);                 /* the peer's RST is in */
	errno = 0;
	n = read(fd, buf, sizeof(buf));
	tap_ok(n == 0, "... after the peer's RST, read still returns 0 (EOF), not EPIPE");
	if (n != 0)
		tap_diag("read returned %zd (%s)", n, strerror(errno));
	tap_is_u64(get_int(fd, SOL_SOCKET, SO_ERROR), EPIPE, "... SO_ERROR is EPIPE");
	errno = 0;
	tap_ok(send(fd, "y", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "... and a write fails with EPIPE");
	tap_is_u64(read(fd, buf, sizeof(buf)), 0, "... read: 0 again");
	close(fd);
}

/* Issue 11: close() on a socket whose handshake is still running aborts
 * it at once, as the kernel does (a happy-eyeballs client closes the
 * loser): the kernel listener's SYN-ACKs are dropped on their way out,
 * the program closes, the drop is lifted; the late SYN-ACK must meet a
 * RST, so nothing ever reaches the kernel's accept queue. A copy in a
 * forked child keeps the connection alive instead. */
static int drop_synacks(int port, bool on)
{
	char cmd[512];

	if (!on)
		return system("nft delete table inet kwsyn");
	snprintf(cmd, sizeof(cmd),
		 "nft add table inet kwsyn && "
		 "nft add chain inet kwsyn out '{ type filter hook output priority -10; }' && "
		 "nft add rule inet kwsyn out oifname %s tcp sport %d "
		 "'tcp flags & (syn | ack) == syn | ack' drop", tap_name, port);
	return system(cmd);
}

static void test_close_while_connecting(void)
{
	struct server *s = server_start(HOLD, 0);  /* a listener that does not accept */
	struct sockaddr_in sin = sin_of(kernel_addr, s->port);
	int fd, r, status = -1, afd;
	struct pollfd p;
	pid_t pid;

	tap_is_u64(drop_synacks(s->port, true), 0, "close while connecting: the listener's SYN-ACKs are dropped");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 0;
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	tap_ok(r == -1 && errno == EINPROGRESS, "... non-blocking connect: EINPROGRESS");
	usleep(100000);
	close(fd);
	usleep(100000);
	drop_synacks(s->port, false);
	usleep(1600000);                /* the kernel's SYN-ACK retransmission (1 s) */
	fcntl(s->lfd, F_SETFL, O_NONBLOCK);
	afd = accept(s->lfd, NULL, NULL);
	tap_ok(afd == -1 && errno == EAGAIN,
	       "... closed: the late SYN-ACK met a RST, the kernel has nothing to accept");
	if (afd >= 0)
		close(afd);

	tap_is_u64(drop_synacks(s->port, true), 0, "fork while connecting: SYN-ACKs dropped again");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	pid = fork();
	if (pid == 0) {
		p = (struct pollfd){ fd, POLLOUT, 0 };
		_exit(poll(&p, 1, 5000) == 1 && get_int(fd, SOL_SOCKET, SO_ERROR) == 0 &&
		      write(fd, "k", 1) == 1 ? 0 : 1);
	}
	close(fd);                      /* the child's copy keeps it */
	usleep(100000);
	drop_synacks(s->port, false);
	waitpid(pid, &status, 0);
	tap_ok(r == -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "... the parent closed its copy; the child's completes the connect and writes");
	{
		struct pollfd ap = { s->lfd, POLLIN, 0 };
		afd = poll(&ap, 1, 2000) == 1 ? accept(s->lfd, NULL, NULL) : -1;
	}
	tap_ok(afd >= 0, "... the kernel accepts that connection");
	if (afd >= 0)
		close(afd);
	server_join(s);

	/* The filler's tiny send buffer is gone once the handshake is. */
	s = server_start(ECHO, 1);
	sin = sin_of(kernel_addr, s->port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	p = (struct pollfd){ fd, POLLOUT, 0 };
	tap_ok(r == -1 && poll(&p, 1, 5000) == 1 && get_int(fd, SOL_SOCKET, SO_ERROR) == 0,
	       "a non-blocking connect completes");
	r = get_int(fd, SOL_SOCKET, SO_SNDBUF);
	tap_ok(r >= 65536, "... and its send buffer is back to the socket's own size");
	if (r < 65536)
		tap_diag("SO_SNDBUF %d", r);
	close(fd);
	server_join(s);
}

/* semantics send-exit PORT FILE: write 4 MiB to the kernel's PORT, keep
 * a copy in FILE, and exit without closing: the engine must still deliver
 * every byte and a FIN (the kernel would, after the process is gone). */
static int send_and_exit(int port, const char *copy)
{
	static char buf[1 << 20];
	FILE *f = fopen(copy, "wb");
	int fd = tcp_connect(kernel_addr, port);

	if (fd < 0 || f == NULL)
		return 2;
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)((i * 7 + (size_t)round * 13) % 251);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
		    fwrite(buf, 1, sizeof(buf), f) != sizeof(buf))
			return 3;
	}
	fclose(f);
	return 0;                      /* exit(): descriptors still open */
}

/* semantics ka-env PORT: keepalive from the configuration alone, in
 * milliseconds (semantics.t sets KEEPWIRE_IDLE=700ms, INTERVAL=300ms,
 * COUNT=2): connect, drop everything, and time the read's ETIMEDOUT from
 * the handshake (the last segment received): 700 + 2 x 300 = 1300 ms.
 * Prints "ETIMEDOUT <ms>" (or what happened instead). */
static int keepalive_from_env(int port)
{
	char cmd[400], buf[8];
	double t0;
	ssize_t n;
	int fd = tcp_connect(kernel_addr, port);

	t0 = now_s();
	if (fd < 0) {
		printf("connect: %s\n", strerror(errno));
		return 1;
	}
	snprintf(cmd, sizeof(cmd),
		 "nft add table inet kwka && "
		 "nft add chain inet kwka in '{ type filter hook input priority -10; }' && "
		 "nft add rule inet kwka in iifname %s drop", tap_name);
	if (system(cmd) != 0)
		return 1;
	errno = 0;
	n = read(fd, buf, sizeof(buf));
	printf("%s %.0f\n", n == -1 && errno == ETIMEDOUT ? "ETIMEDOUT" : n < 0 ? strerror(errno) : "data",
	       (now_s() - t0) * 1000);
	(void)!system("nft delete table inet kwka");
	return 0;
}

int main(int argc, char **argv)
{
	kernel_addr = getenv("KW_T_KERNEL");
	stack_addr = getenv("KW_T_STACK");
	tap_name = getenv("KW_T_TAP");
	if (!kernel_addr || !stack_addr || !tap_name) {
		printf("1..0 # SKIP run by tests/direct/semantics.t (KW_T_KERNEL, KW_T_STACK, KW_T_TAP)\n");
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "send-exit") == 0)
		return send_and_exit(atoi(argv[2]), argv[3]);
	if (argc == 3 && strcmp(argv[1], "ka-env") == 0)
		return keepalive_from_env(atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "ut-env") == 0)
		return user_timeout_from_env(atoi(argv[2]));
	signal(SIGPIPE, SIG_IGN);
	test_blocking_connect();
	test_nonblocking_connect();
	test_refused();
	test_unreachable();
	test_self_connect();
	test_reset_and_eof();
	test_half_close();
	test_poll_select_epoll();
	test_dup_and_close();
	test_fork();
	test_accept();
	test_kernel_stays_kernel();
	test_program_options();
	test_data_before_reset();
	test_reset_after_fin();
	test_close_while_connecting();
	test_keepalive_death();
	test_user_timeout();
	return tap_done();
}
