/* Stack sockets across exec (issue 9, item 2): an image that exec()s while
 * it holds connected and listening stack sockets; the new image (keepwire
 * preloaded again) must see them as the TCP sockets they are.
 *
 * exec.t runs this in a network namespace over the TAP device kwt0:
 *   exec peer PORT        the kernel's side (no keepwire): listens on
 *                         KW_T_KERNEL:PORT, accepts three connections,
 *                         resets the second, reports on stdout what the
 *                         others did (their FINs, the bytes they sent);
 *   exec connect PORT     under keepwire: makes the three connections
 *                         (options set before and after connect; the
 *                         third close-on-exec), waits for the reset of the
 *                         second, exec()s itself as
 *   exec connected-image  which checks names, options, SO_ERROR, TCP_INFO,
 *                         fork, shutdown, close on what it inherited
 *                         (TAP on stdout);
 *   exec listen PORT      under keepwire: listens on 0.0.0.0:PORT, exec()s
 *                         itself as
 *   exec listener-image   which accepts a connection made by the kernel
 *                         (a child using raw system calls, from a known
 *                         address) and, as sshd does, hands it to a
 *                         forked child that exec()s
 *   exec accepted-image   which checks the peer's name and talks.
 * The images print TAP lines; exec.t counts them. */
#define _GNU_SOURCE
#include "tests/tap.h"
#include "tests/direct/helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *kernel_addr, *stack_addr;

/* tap.h with a formatted description and int comparisons. */
static int ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ok(int cond, const char *fmt, ...)
{
	char desc[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	return tap_ok(cond, desc);
}

static int is_int(int got, int want, const char *desc)
{
	int r = tap_ok(got == want, desc);

	if (!r)
		tap_diag("  got %d, want %d", got, want);
	return r;
}

#define is_str tap_is_str
#define diag tap_diag
#define done_testing() return tap_done()

/* "a.b.c.d:port", "AF_UNIX" or "error <errno>" for a name. */
static const char *name_of(int fd, bool peer, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
		     : getsockname(fd, (struct sockaddr *)&ss, &sl);
	char host[INET_ADDRSTRLEN];

	if (r != 0) {
		snprintf(buf, len, "error %s", strerror(errno));
	} else if (ss.ss_family != AF_INET || sl != sizeof(struct sockaddr_in)) {
		snprintf(buf, len, "family %d len %u", ss.ss_family, (unsigned)sl);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	}
	return buf;
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Everything until EOF (or 10 s of silence) into buf; bytes read. */
static ssize_t read_to_eof(int fd, char *buf, size_t cap, bool *eof)
{
	size_t got = 0;

	*eof = false;
	while (got < cap && wait_readable(fd, 10000)) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n == 0)
			*eof = true;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got < cap ? got : cap - 1] = '\0';
	return (ssize_t)got;
}

static void self_exec(char **argv)
{
	execv("/proc/self/exe", argv);
	fprintf(stderr, "exec: %s\n", strerror(errno));
	exit(3);
}

/* ---- the kernel's side ------------------------------------------------- */

static int peer(int port)
{
	struct sockaddr_in sin = sin_of(kernel_addr, port);
	int l = socket(AF_INET, SOCK_STREAM, 0), c[3], one = 1;
	char buf[256], name[64];
	struct linger rst = { 1, 0 };
	bool eof;
	ssize_t n;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(l, 8) != 0) {
		fprintf(stderr, "peer: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "listening\n");
	for (int i = 0; i < 3; i++) {
		if (!wait_readable(l, 20000) || (c[i] = accept(l, NULL, NULL)) < 0) {
			printf("accept %d failed\n", i + 1);
			return 1;
		}
		printf("accepted %d from %s\n", i + 1, name_of(c[i], true, name, sizeof(name)));
		fflush(stdout);
	}
	/* The second: reset at once. */
	setsockopt(c[1], SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	close(c[1]);
	/* The third was close-on-exec: its FIN comes at the exec. */
	n = read_to_eof(c[2], buf, sizeof(buf), &eof);
	printf("3: %zd bytes, %s\n", n, eof ? "FIN" : "no FIN");
	fflush(stdout);
	/* The first: the exec'd image writes, then shuts its side down. */
	n = read_to_eof(c[0], buf, sizeof(buf), &eof);
	printf("1: got '%s', %s\n", buf, eof ? "FIN" : "no FIN");
	fflush(stdout);
	if (write(c[0], "reply", 5) != 5)
		printf("1: write failed: %s\n", strerror(errno));
	close(c[0]);
	return 0;
}

/* ---- a connected socket across exec ------------------------------------ */

static int connect_to(int port, int flags)
{
	struct sockaddr_in sin = sin_of(kernel_addr, port);
	int fd = socket(AF_INET, SOCK_STREAM | flags, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		exit(3);
	}
	return fd;
}

static int connect_and_exec(int port)
{
	char a[16], b[16], c[16], p[16], local[64], *argv[8];
	int fd1, fd2, fd3;

	fd1 = socket(AF_INET, SOCK_STREAM, 0);
	/* Before connect (carried into the stack socket)... */
	set_int(fd1, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(fd1, IPPROTO_TCP, TCP_KEEPIDLE, 33);
	set_int(fd1, IPPROTO_TCP, TCP_KEEPINTVL, 7);
	{
		struct sockaddr_in sin = sin_of(kernel_addr, port);

		if (connect(fd1, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
			fprintf(stderr, "connect: %s\n", strerror(errno));
			return 3;
		}
	}
	/* ... and after (set on the stack socket by the engine). */
	set_int(fd1, IPPROTO_TCP, TCP_KEEPCNT, 5);
	set_int(fd1, IPPROTO_TCP, TCP_NODELAY, 1);
	set_int(fd1, IPPROTO_TCP, TCP_USER_TIMEOUT, 4000);
	fd2 = connect_to(port, 0);
	fd3 = connect_to(port, SOCK_CLOEXEC);
	/* The peer resets the second: wait until that arrived (the engine
	 * shuts our end's read side: readable). */
	if (!wait_readable(fd2, 10000)) {
		fprintf(stderr, "no reset on the second connection\n");
		return 3;
	}
	name_of(fd1, false, local, sizeof(local));
	snprintf(a, sizeof(a), "%d", fd1);
	snprintf(b, sizeof(b), "%d", fd2);
	snprintf(c, sizeof(c), "%d", fd3);
	snprintf(p, sizeof(p), "%d", port);
	argv[0] = "exec";
	argv[1] = "connected-image";
	argv[2] = a;
	argv[3] = b;
	argv[4] = c;
	argv[5] = p;
	argv[6] = local;
	argv[7] = NULL;
	self_exec(argv);
	return 3;
}

static int connected_image(int fd, int fd_reset, int fd_cloexec, int port, const char *local)
{
	char want[64], name[64], buf[64];
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	bool eof;
	pid_t pid;
	int st;

	snprintf(want, sizeof(want), "%s:%d", kernel_addr, port);
	is_str(name_of(fd, true, name, sizeof(name)), want,
	       "after exec: getpeername gives the kernel's address and port");
	is_str(name_of(fd, false, name, sizeof(name)), local,
	       "after exec: getsockname gives the address and port it had before");
	is_int(raw_domain(fd), AF_UNIX, "... (and the descriptor is still the stack's socketpair end)");
	is_int(get_int(fd, SOL_SOCKET, SO_DOMAIN), AF_INET, "SO_DOMAIN is AF_INET");
	is_int(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM, "SO_TYPE is SOCK_STREAM");
	is_int(get_int(fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP, "SO_PROTOCOL is IPPROTO_TCP");
	is_int(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0, "SO_ACCEPTCONN is 0");
	is_int(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1, "SO_KEEPALIVE set before connect is kept");
	is_int(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 33, "TCP_KEEPIDLE 33 is kept");
	is_int(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 7, "TCP_KEEPINTVL 7 is kept");
	is_int(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 5, "TCP_KEEPCNT 5 set after connect is kept");
	is_int(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1, "TCP_NODELAY is kept");
	is_int(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 4000, "TCP_USER_TIMEOUT is kept");
	is_int(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "SO_ERROR is 0");
	is_int(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 44), 0, "setsockopt(TCP_KEEPIDLE, 44) works");
	is_int(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 44, "... and reads back 44");
	memset(&ti, 0, sizeof(ti));
	st = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	ok(st == 0 && ti.tcpi_state == TCP_ESTABLISHED, "TCP_INFO says ESTABLISHED (state %u)",
	   ti.tcpi_state);

	/* Linux: a reset socket is in CLOSE, and inet_getname() refuses the
	 * peer's name there. */
	is_str(name_of(fd_reset, true, name, sizeof(name)), "error Transport endpoint is not connected",
	       "the reset connection: getpeername fails with ENOTCONN, as on Linux");
	is_int(get_int(fd_reset, SOL_SOCKET, SO_DOMAIN), AF_INET, "the reset connection: SO_DOMAIN is AF_INET");
	is_int(get_int(fd_reset, SOL_SOCKET, SO_ERROR), ECONNRESET,
	       "the reset connection: SO_ERROR is ECONNRESET");
	is_int(get_int(fd_reset, SOL_SOCKET, SO_ERROR), 0, "... once");
	errno = 0;
	ok(fcntl(fd_cloexec, F_GETFD) == -1 && errno == EBADF,
	   "the close-on-exec connection is closed by the exec");

	/* A child forked by the exec'd image shares the socket. */
	pid = fork();
	if (pid == 0) {
		char n2[64];

		_exit(strcmp(name_of(fd, true, n2, sizeof(n2)), want) == 0 &&
		      get_int(fd, SOL_SOCKET, SO_DOMAIN) == AF_INET ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "a child forked after the exec sees the same peer and AF_INET");

	ok(write(fd, "hello", 5) == 5, "write after exec");
	is_int(shutdown(fd, SHUT_WR), 0, "shutdown(SHUT_WR) after exec");
	read_to_eof(fd, buf, sizeof(buf), &eof);
	is_str(buf, "reply", "the peer saw data + FIN and replied (the reply arrives)");
	ok(eof, "... then EOF");
	is_int(close(fd), 0, "close after exec");
	close(fd_reset);
	done_testing();
}

/* ---- a listener across exec, and an accepted socket across another ---- */

static int listen_and_exec(int port)
{
	struct sockaddr_in sin = sin_of("0.0.0.0", port);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	char a[16], p[16], local[64], *argv[6];

	set_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(l, 8) != 0) {
		fprintf(stderr, "listen: %s\n", strerror(errno));
		return 3;
	}
	set_int(l, IPPROTO_TCP, TCP_KEEPIDLE, 21);
	name_of(l, false, local, sizeof(local));
	snprintf(a, sizeof(a), "%d", l);
	snprintf(p, sizeof(p), "%d", port);
	argv[0] = "exec";
	argv[1] = "listener-image";
	argv[2] = a;
	argv[3] = p;
	argv[4] = local;
	argv[5] = NULL;
	self_exec(argv);
	return 3;
}

/* The kernel connects from kernel_addr:cport (raw system calls: keepwire
 * does not see them), sends "ping", wants "pong". */
static pid_t kernel_client(int port, int cport)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sockaddr_in from = sin_of(kernel_addr, cport), to = sin_of(stack_addr, port);
		int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), one = 1;
		char buf[8];
		bool eof;

		syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (syscall(SYS_bind, fd, &from, sizeof(from)) != 0 ||
		    syscall(SYS_connect, fd, &to, sizeof(to)) != 0 ||
		    syscall(SYS_write, fd, "ping", 4) != 4)
			_exit(1);
		syscall(SYS_shutdown, fd, SHUT_WR);
		read_to_eof(fd, buf, sizeof(buf), &eof);
		_exit(strcmp(buf, "pong") == 0 && eof ? 0 : 2);
	}
	return pid;
}

static int listener_image(int l, int port, const char *local)
{
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	char want[64], name[64], host[INET_ADDRSTRLEN], fdtext[16];
	int cport = port + 1, c, st;
	pid_t client, handler;

	snprintf(want, sizeof(want), "%s:%d", kernel_addr, cport);
	is_str(name_of(l, false, name, sizeof(name)), local,
	       "after exec: the listener's getsockname is what it was");
	is_int(get_int(l, SOL_SOCKET, SO_DOMAIN), AF_INET, "the listener: SO_DOMAIN is AF_INET");
	is_int(get_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1, "the listener: SO_ACCEPTCONN is 1");
	is_int(get_int(l, IPPROTO_TCP, TCP_KEEPIDLE), 21, "the listener: TCP_KEEPIDLE 21 is kept");
	client = kernel_client(port, cport);
	c = wait_readable(l, 10000) ? accept(l, (struct sockaddr *)&from, &flen) : -1;
	ok(c >= 0, "accept on the inherited listener");
	if (c < 0) {
		diag("accept: %s", strerror(errno));
		kill(client, SIGKILL);
		done_testing();
	}
	inet_ntop(AF_INET, &from.sin_addr, host, sizeof(host));
	snprintf(name, sizeof(name), "%s:%u", host, ntohs(from.sin_port));
	is_str(name, want, "accept gives the kernel client's address and port");
	is_int(get_int(c, IPPROTO_TCP, TCP_KEEPIDLE), 21, "the accepted socket inherits TCP_KEEPIDLE");
	/* As sshd does: a child puts it on stdin and exec()s. */
	handler = fork();
	if (handler == 0) {
		char *argv[5];

		dup2(c, 0);
		close(c);
		close(l);
		snprintf(fdtext, sizeof(fdtext), "%d", port);
		argv[0] = "exec";
		argv[1] = "accepted-image";
		argv[2] = fdtext;
		argv[3] = want;
		argv[4] = NULL;
		self_exec(argv);
	}
	close(c);
	ok(handler > 0 && waitpid(handler, &st, 0) == handler && WIFEXITED(st) &&
	   WEXITSTATUS(st) == 0, "an exec'd handler of the accepted connection (its own checks above)");
	ok(waitpid(client, &st, 0) == client && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "the kernel client got 'pong' and FIN");
	is_int(close(l), 0, "close the inherited listener");
	done_testing();
}

/* Prints its lines as "# ..." diagnostics plus one status; the listener
 * image counts the result through its exit status. */
static int accepted_image(int port, const char *want)
{
	char name[64], buf[16], local[64];
	bool eof;
	int bad = 0;

	snprintf(local, sizeof(local), "%s:%d", stack_addr, port);
	if (strcmp(name_of(0, true, name, sizeof(name)), want) != 0) {
		printf("# accepted-image: getpeername gives %s, want %s\n", name, want);
		bad = 1;
	}
	if (strcmp(name_of(0, false, name, sizeof(name)), local) != 0) {
		printf("# accepted-image: getsockname gives %s, want %s\n", name, local);
		bad = 1;
	}
	if (get_int(0, SOL_SOCKET, SO_DOMAIN) != AF_INET) {
		printf("# accepted-image: SO_DOMAIN is not AF_INET\n");
		bad = 1;
	}
	read_to_eof(0, buf, sizeof(buf), &eof);
	if (strcmp(buf, "ping") != 0 || !eof || write(0, "pong", 4) != 4) {
		printf("# accepted-image: read '%s' (%s)\n", buf, eof ? "EOF" : "no EOF");
		bad = 1;
	}
	fflush(stdout);
	return bad;
}

int main(int argc, char **argv)
{
	kernel_addr = getenv("KW_T_KERNEL");
	stack_addr = getenv("KW_T_STACK");
	if (argc < 3 || kernel_addr == NULL || stack_addr == NULL) {
		fprintf(stderr, "usage: KW_T_KERNEL=.. KW_T_STACK=.. %s MODE ARGS\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "peer") == 0)
		return peer(atoi(argv[2]));
	if (strcmp(argv[1], "connect") == 0)
		return connect_and_exec(atoi(argv[2]));
	if (strcmp(argv[1], "connected-image") == 0 && argc == 7)
		return connected_image(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
				       argv[6]);
	if (strcmp(argv[1], "listen") == 0)
		return listen_and_exec(atoi(argv[2]));
	if (strcmp(argv[1], "listener-image") == 0 && argc == 5)
		return listener_image(atoi(argv[2]), atoi(argv[3]), argv[4]);
	if (strcmp(argv[1], "accepted-image") == 0 && argc == 4)
		return accepted_image(atoi(argv[2]), argv[3]);
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
