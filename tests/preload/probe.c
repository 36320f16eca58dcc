/* probe COMMAND: does one socket operation the way a program would and
 * prints what the kernel then reports, as key=value words on one line per
 * socket. The TAP scripts run it with and without libkeepwire.so and
 * compare. It never sets keepalive options unless a command says so. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

void ctorsock_result(int *fd, int *keepalive, int *idle);

static int get(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) != 0)
		return -errno;
	return v;
}

static void print_opts(const char *label, int fd)
{
	printf("%s keepalive=%d idle=%d intvl=%d cnt=%d user_timeout=%d\n", label,
	       get(fd, SOL_SOCKET, SO_KEEPALIVE), get(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	       get(fd, IPPROTO_TCP, TCP_KEEPINTVL), get(fd, IPPROTO_TCP, TCP_KEEPCNT),
	       get(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
}

static void die(const char *what)
{
	printf("error %s: %s\n", what, strerror(errno));
	exit(1);
}

static void set(int fd, int level, int name, int value)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) != 0)
		die("setsockopt");
}

/* A socket() that keepwire cannot see: the raw system call. */
static int unseen_socket(int domain, int type)
{
	return (int)syscall(SYS_socket, domain, type, 0);
}

/* Listener on 127.0.0.1, any port; fd made by socket() or unseen. */
static int listener(int fd, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) != 0)
		die("listen");
	return fd;
}

static void connect_unseen(const struct sockaddr_in *addr)
{
	int c = unseen_socket(AF_INET, SOCK_STREAM);
	if (c < 0 || syscall(SYS_connect, c, addr, sizeof(*addr)) != 0)
		die("connect");
}

/* accept or accept4 from a listener made with socket() (seen) or the raw
 * syscall (unseen); optionally the program sets its own idle first. */
static int do_accept(int use_accept4, int seen, int program_idle)
{
	struct sockaddr_in addr;
	int l = listener(seen ? socket(AF_INET, SOCK_STREAM, 0)
			      : unseen_socket(AF_INET, SOCK_STREAM), &addr);
	int fd;

	if (program_idle > 0)
		set(l, IPPROTO_TCP, TCP_KEEPIDLE, program_idle);
	connect_unseen(&addr);
	fd = use_accept4 ? accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)
			 : accept(l, NULL, NULL);
	if (fd < 0)
		die("accept");
	print_opts("accepted", fd);
	if (use_accept4)
		printf("flags nonblock=%d cloexec=%d\n", !!(fcntl(fd, F_GETFL) & O_NONBLOCK),
		       !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
	return 0;
}

static int do_accept_unix(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c, fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/kw-probe-%ld", (long)getpid());
	unlink(sun.sun_path);
	if (l < 0 || bind(l, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(l, 1) != 0)
		die("unix listen");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		die("unix connect");
	fd = accept(l, NULL, NULL);
	unlink(sun.sun_path);
	if (fd < 0)
		die("unix accept");
	printf("unix-accepted keepalive=%d\n", get(fd, SOL_SOCKET, SO_KEEPALIVE));
	printf("unix-client keepalive=%d\n", get(c, SOL_SOCKET, SO_KEEPALIVE));
	return 0;
}

/* connect() on a socket keepwire never saw. With preset > 0, the socket
 * already carries keepalive settings chosen before keepwire could see it. */
static int do_connect_unseen(int preset_idle)
{
	struct sockaddr_in addr;
	int l = listener(unseen_socket(AF_INET, SOCK_STREAM), &addr);
	int c = unseen_socket(AF_INET, SOCK_STREAM);
	int one = 1;

	if (preset_idle > 0) {
		syscall(SYS_setsockopt, c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		syscall(SYS_setsockopt, c, IPPROTO_TCP, TCP_KEEPIDLE, &preset_idle,
			sizeof(preset_idle));
	}
	print_opts("before-connect", c);
	if (connect(c, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		die("connect");
	print_opts("connected", c);
	(void)l;
	return 0;
}

/* The program sets its own options after socket(). */
static int do_program_sets(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	set(fd, IPPROTO_TCP, TCP_KEEPIDLE, 33);
	set(fd, IPPROTO_TCP, TCP_KEEPCNT, 2);
	print_opts("program-set", fd);
	set(fd, SOL_SOCKET, SO_KEEPALIVE, 0);
	print_opts("program-off", fd);
	return 0;
}

/* errno after each call, to compare with and without keepwire. */
static int do_errno(void)
{
	struct sockaddr_in addr;
	int fd, l, one = 1;

	errno = EDOM;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("socket-ok rc=%d errno=%d\n", fd >= 0, errno);
	errno = EDOM;
	printf("socket-bad rc=%d errno=%d\n", socket(AF_INET, SOCK_STREAM, 4242), errno);
	errno = EDOM;
	printf("socket-family rc=%d errno=%d\n", socket(4242, SOCK_STREAM, 0), errno);
	errno = EDOM;
	printf("setsockopt-ok rc=%d errno=%d\n",
	       setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), errno);
	errno = EDOM;
	printf("setsockopt-ebadf rc=%d errno=%d\n",
	       setsockopt(9999, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof(one)), errno);
	errno = EDOM;
	printf("setsockopt-einval rc=%d errno=%d\n",
	       setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &one, 1), errno);
	l = listener(socket(AF_INET, SOCK_STREAM, 0), &addr);
	close(l);
	errno = EDOM;
	printf("connect-refused rc=%d errno=%d\n",
	       connect(fd, (struct sockaddr *)&addr, sizeof(addr)), errno);
	errno = EDOM;
	printf("connect-ebadf rc=%d errno=%d\n",
	       connect(9999, (struct sockaddr *)&addr, sizeof(addr)), errno);
	errno = EDOM;
	printf("accept-enotsock rc=%d errno=%d\n", accept(0, NULL, NULL), errno);
	errno = EDOM;
	printf("accept4-einval rc=%d errno=%d\n", accept4(fd, NULL, NULL, 0x7fff0000), errno);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	l = listener(socket(AF_INET, SOCK_STREAM, 0), &addr);
	errno = EDOM;
	printf("connect-nonblock rc=%d errno=%d\n",
	       connect(fd, (struct sockaddr *)&addr, sizeof(addr)), errno);
	errno = EDOM;
	{
		int a = accept(l, NULL, NULL);
		printf("accept-ok rc=%d errno=%d\n", a >= 0, errno);
	}
	return 0;
}

struct thread_arg { int sockets; int bad; };

static void *thread_main(void *p)
{
	struct thread_arg *arg = p;

	for (int i = 0; i < arg->sockets; i++) {
		int fd = socket(i % 2 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || get(fd, SOL_SOCKET, SO_KEEPALIVE) != 1 ||
		    get(fd, IPPROTO_TCP, TCP_KEEPIDLE) != 17)
			arg->bad++;
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static int do_threads(int n, int sockets)
{
	pthread_t tid[256];
	struct thread_arg args[256];
	int bad = 0;

	if (n > 256)
		n = 256;
	for (int i = 0; i < n; i++) {
		args[i] = (struct thread_arg){ sockets, 0 };
		if (pthread_create(&tid[i], NULL, thread_main, &args[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		bad += args[i].bad;
	}
	printf("threads=%d sockets=%d bad=%d\n", n, n * sockets, bad);
	return 0;
}

static int do_exec(const char *self)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execl(self, self, "tcp4", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	printf("child status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int fd, sv[2];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "tcp4") == 0)
		fd = socket(AF_INET, SOCK_STREAM, 0);
	else if (strcmp(cmd, "tcp4-flags") == 0)
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	else if (strcmp(cmd, "tcp4-proto") == 0)
		fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	else if (strcmp(cmd, "tcp6") == 0)
		fd = socket(AF_INET6, SOCK_STREAM, 0);
	else if (strcmp(cmd, "tcp6-flags") == 0)
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	else if (strcmp(cmd, "udp") == 0) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		printf("udp keepalive=%d\n", get(fd, SOL_SOCKET, SO_KEEPALIVE));
		return 0;
	} else if (strcmp(cmd, "unix") == 0) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		printf("unix keepalive=%d\n", get(fd, SOL_SOCKET, SO_KEEPALIVE));
		return 0;
	} else if (strcmp(cmd, "socketpair") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			die("socketpair");
		printf("socketpair keepalive=%d,%d\n", get(sv[0], SOL_SOCKET, SO_KEEPALIVE),
		       get(sv[1], SOL_SOCKET, SO_KEEPALIVE));
		return 0;
	} else if (strcmp(cmd, "accept") == 0)
		return do_accept(0, 1, 0);
	else if (strcmp(cmd, "accept4") == 0)
		return do_accept(1, 1, 0);
	else if (strcmp(cmd, "accept-unseen") == 0)
		return do_accept(0, 0, 0);
	else if (strcmp(cmd, "accept4-unseen") == 0)
		return do_accept(1, 0, 0);
	else if (strcmp(cmd, "accept-program") == 0)
		return do_accept(0, 1, 44);
	else if (strcmp(cmd, "accept-unix") == 0)
		return do_accept_unix();
	else if (strcmp(cmd, "connect-unseen") == 0)
		return do_connect_unseen(0);
	else if (strcmp(cmd, "connect-preset") == 0)
		return do_connect_unseen(77);
	else if (strcmp(cmd, "program-sets") == 0)
		return do_program_sets();
	else if (strcmp(cmd, "errno") == 0)
		return do_errno();
	else if (strcmp(cmd, "threads") == 0 && argc == 4)
		return do_threads(atoi(argv[2]), atoi(argv[3]));
	else if (strcmp(cmd, "exec") == 0)
		return do_exec(argv[0]);
	else if (strcmp(cmd, "ctor") == 0) {
		int cfd, ka, idle;
		ctorsock_result(&cfd, &ka, &idle);
		printf("ctor fd_ok=%d keepalive=%d idle=%d\n", cfd >= 0, ka, idle);
		return 0;
	} else if (strcmp(cmd, "main") == 0) {
		printf("main ran\n");
		return 0;
	} else {
		fprintf(stderr, "usage: probe COMMAND (see tests/preload/probe.c)\n");
		return 2;
	}
	if (fd < 0)
		die("socket");
	print_opts(cmd, fd);
	return 0;
}
