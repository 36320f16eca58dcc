/* socket-stress IDLE INTVL CNT USER_TIMEOUT_MS: socket mode under load
 * (issue 5). Run under LD_PRELOAD=libkeepwire.so by socket-stress.t.
 *
 * THREADS connector threads (default 64) each do ITERATIONS rounds
 * (default 10,000) of
 *     socket() -> check the keepalive options -> connect() to a loopback
 *     listener -> wait for the server's EOF -> close()
 * with four socket() variants (IPv4/IPv6, protocol 0/IPPROTO_TCP,
 * SOCK_NONBLOCK and SOCK_CLOEXEC in the type). A few acceptor threads
 * accept, check the accepted socket's options and close it. Every
 * ITERATIONS/FORKS rounds a connector forks (FORKS per thread, default 10:
 * 640 forks in all); the child does CHILD_ROUNDS rounds of its own, checks
 * its descriptor count did not grow and _exits with a status the parent
 * checks. The descriptor count (/proc/self/fd) and the resident set
 * (/proc/self/statm) are taken while every connector waits at a barrier,
 * once after its warm-up tenth of the rounds and once after its last
 * round (before any thread exits); both must stay put.
 *
 * Environment: KW_STRESS_ITERATIONS, KW_STRESS_THREADS, KW_STRESS_FORKS
 * (forks per thread), KW_STRESS_TIMEOUT (seconds before giving up, 900).
 *
 * No TIME-WAIT: the server closes first (FIN), the client reads the EOF
 * and then closes with SO_LINGER {on, 0}, which sends a reset from
 * CLOSE-WAIT. The server's FIN-WAIT-2 socket dies on that reset, the
 * client's socket goes straight to CLOSED, and neither end keeps the
 * 4-tuple, so 640,000 connections in a minute neither run out of
 * ephemeral ports nor fill the kernel's TIME-WAIT table; no sysctl is
 * involved. Waiting for the EOF also bounds the connections in flight to
 * one per connector, so the listen backlog never overflows.
 *
 * Output: TAP, a handful of lines; every failure is counted by kind and
 * reported as a diagnostic. The counters live in a shared mapping, so the
 * forked children report into them too. */
#define _GNU_SOURCE
#include "tests/tap.h"

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
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define ACCEPTORS_PER_LISTENER 2
#define CHILD_ROUNDS 3
#define IO_TIMEOUT_MS 10000

/* Leak tolerances, over the rounds after the warm-up (9,000 per thread,
 * 576,000 in all by default). A leak of one descriptor per 1,000 rounds
 * would add 576 descriptors, against a tolerance of FD_SLACK; a leak of
 * 100 bytes per round would add about 55 MiB, against RSS_SLACK_KIB (a
 * leak of even 8 bytes per round, 4.4 MiB, would exceed it). Both are
 * measured at barriers where no connection is open, so the descriptor
 * count should not move at all; the slack only allows for a runtime that
 * opens a descriptor lazily. The RSS slack covers allocator and page-table
 * noise of 64 threads and 640 forks. */
#define FD_SLACK 2
#define RSS_SLACK_KIB 4096

/* ---- failure and event counters, shared with forked children ---------- */

enum counter {
	C_SOCKETS,           /* sockets created by connectors */
	C_CONNECTS,          /* connects that succeeded */
	C_ACCEPTED,          /* sockets accepted */
	C_FORKS,             /* children forked */
	C_CHILD_SOCKETS,     /* sockets created by children */
	C_CHILD_CONNECTS,    /* connects by children that succeeded */
	/* failures */
	C_SOCKET_FAIL,       /* socket() returned -1 */
	C_GETSOCKOPT_FAIL,   /* reading an option back failed */
	C_MISCONFIGURED,     /* a connector's socket without keepwire's values */
	C_LINGER_FAIL,       /* setsockopt(SO_LINGER) failed */
	C_CONNECT_FAIL,      /* connect() (or its completion) failed */
	C_EOF_FAIL,          /* no clean EOF from the server */
	C_CLOSE_FAIL,        /* close() returned -1 */
	C_ACCEPT_FAIL,       /* accept()/accept4() returned -1 */
	C_ACCEPTED_BAD,      /* an accepted socket without keepwire's values */
	C_FORK_FAIL,         /* fork() returned -1 */
	C_WAIT_FAIL,         /* waitpid() failed */
	C_CHILD_STATUS,      /* a child did not exit with status 0 */
	C_CHILD_SOCKET_FAIL, /* in a child: socket() failed */
	C_CHILD_MISCONFIGURED,
	C_CHILD_CONNECT_FAIL,
	C_CHILD_FD_LEAK,     /* a child's descriptor count grew */
	C_COUNT
};

static const char *const counter_name[C_COUNT] = {
	"sockets", "connects", "accepted", "forks", "child_sockets", "child_connects",
	"socket", "getsockopt", "misconfigured", "linger", "connect", "eof", "close",
	"accept", "accepted_misconfigured", "fork", "waitpid", "child_status",
	"child_socket", "child_misconfigured", "child_connect", "child_fd_leak",
};

#define FIRST_FAILURE C_SOCKET_FAIL

/* Bits of a child's exit status. */
enum {
	CHILD_SOCKET_FAIL = 1,
	CHILD_MISCONFIGURED = 2,
	CHILD_CONNECT_FAIL = 4,
	CHILD_FD_LEAK = 8,
	CHILD_FD_COUNT_FAIL = 16,
};

struct opts {
	int keepalive, idle, intvl, cnt, user_timeout;
};

struct shared {
	_Atomic unsigned long count[C_COUNT];
	_Atomic int first_errno[C_COUNT];   /* the first errno seen per kind */
	atomic_flag bad_recorded;           /* first misconfigured socket */
	struct opts first_bad;
	_Atomic int first_child_status;
};

static struct shared *sh;

static void count(enum counter c)
{
	atomic_fetch_add_explicit(&sh->count[c], 1, memory_order_relaxed);
}

static void fail(enum counter c, int err)
{
	int zero = 0;

	count(c);
	atomic_compare_exchange_strong(&sh->first_errno[c], &zero, err);
}

static unsigned long counted(enum counter c)
{
	return atomic_load(&sh->count[c]);
}

/* ---- configuration ---------------------------------------------------- */

static struct opts want;
static long iterations = 10000, nthreads = 64, forks_per_thread = 10;
static long fork_every, warmup;

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		printf("Bail out! %s=\"%s\": expected a whole number from %ld to %ld\n",
		       name, s, min, max);
		exit(1);
	}
	return v;
}

/* ---- listeners -------------------------------------------------------- */

struct listener {
	int fd;
	int family;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static struct listener lis[2];
static int nlisteners;
static atomic_bool stopping;

static bool open_listener(struct listener *l, int family)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;

	memset(l, 0, sizeof(*l));
	l->family = family;
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l->addrlen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		l->addrlen = sizeof(*sin6);
	}
	l->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return false;
	if (bind(l->fd, (struct sockaddr *)&l->addr, l->addrlen) != 0 ||
	    listen(l->fd, SOMAXCONN) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&l->addr, &l->addrlen) != 0) {
		close(l->fd);
		l->fd = -1;
		return false;
	}
	return true;
}

/* ---- checks ----------------------------------------------------------- */

static int get_int(int fd, int level, int name, int *v)
{
	socklen_t len = sizeof(*v);

	*v = -1;
	return getsockopt(fd, level, name, v, &len);
}

/* Reads the five options keepwire sets; false if one cannot be read. */
static bool read_opts(int fd, struct opts *o)
{
	return get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &o->keepalive) == 0 &&
	       get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, &o->idle) == 0 &&
	       get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, &o->intvl) == 0 &&
	       get_int(fd, IPPROTO_TCP, TCP_KEEPCNT, &o->cnt) == 0 &&
	       get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &o->user_timeout) == 0;
}

static bool opts_ok(const struct opts *o)
{
	return o->keepalive == want.keepalive && o->idle == want.idle &&
	       o->intvl == want.intvl && o->cnt == want.cnt &&
	       o->user_timeout == want.user_timeout;
}

/* Checks fd's keepalive options, counting a failure as `bad`. */
static bool check_socket(int fd, enum counter bad)
{
	struct opts o;

	if (!read_opts(fd, &o)) {
		fail(C_GETSOCKOPT_FAIL, errno);
		return false;
	}
	if (opts_ok(&o))
		return true;
	count(bad);
	if (!atomic_flag_test_and_set(&sh->bad_recorded))
		sh->first_bad = o;
	return false;
}

/* Descriptors open in this process, by reading /proc/self/fd with the raw
 * system call: no allocation, so the forked child of a threaded process
 * may use it too. -1 on error. */
static long count_fds(void)
{
	char buf[4096] __attribute__((aligned(8)));
	long n = 0;
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dir < 0)
		return -1;
	for (;;) {
		long got = syscall(SYS_getdents64, dir, buf, sizeof(buf));
		if (got < 0) {
			n = -1;
			break;
		}
		if (got == 0)
			break;
		for (long off = 0; off < got;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			unsigned short reclen;
			const char *name = buf + off + 19;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			if (name[0] != '.')
				n++;
			off += reclen;
		}
	}
	close(dir);
	return n < 0 ? -1 : n - 1;	/* not the directory's own descriptor */
}

static long rss_kib(void)
{
	char buf[128];
	long size = 0, resident = -1;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%ld %ld", &size, &resident) != 2)
		return -1;
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- one round: socket, check, connect, EOF, close -------------------- */

struct variant {
	int family, type, protocol;
};

static const struct variant variants[] = {
	{ AF_INET, SOCK_STREAM, 0 },
	{ AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP },
	{ AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP },
	{ AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0 },
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static bool wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, IO_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	return r > 0;
}

static bool do_connect(int fd, const struct listener *l, bool nonblock)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (connect(fd, (const struct sockaddr *)&l->addr, l->addrlen) == 0)
		return true;
	if (!nonblock || errno != EINPROGRESS)
		return false;
	if (!wait_for(fd, POLLOUT))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return false;
	errno = err;
	return err == 0;
}

/* Waits for the server's EOF, so the server side closed first. */
static bool read_eof(int fd, bool nonblock)
{
	char c;
	ssize_t n;

	for (;;) {
		if (nonblock && !wait_for(fd, POLLIN))
			return false;
		n = read(fd, &c, 1);
		if (n == 0)
			return true;
		if (n > 0) {
			errno = EPROTO;
			return false;
		}
		if (errno != EINTR && errno != EAGAIN)
			return false;
	}
}

struct round_result {
	bool socket_ok, configured, connected;
};

/* Fail counters differ between connectors and children. */
struct round_counters {
	enum counter sockets, socket_fail, misconfigured, connects, connect_fail;
};

static const struct round_counters parent_counters = {
	C_SOCKETS, C_SOCKET_FAIL, C_MISCONFIGURED, C_CONNECTS, C_CONNECT_FAIL,
};

static const struct round_counters child_counters = {
	C_CHILD_SOCKETS, C_CHILD_SOCKET_FAIL, C_CHILD_MISCONFIGURED, C_CHILD_CONNECTS,
	C_CHILD_CONNECT_FAIL,
};

static struct round_result one_round(unsigned long i, const struct round_counters *rc)
{
	const struct variant *v = &variants[i % NVARIANTS];
	const struct listener *l = &lis[0];
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct round_result r = { false, false, false };
	bool nonblock = (v->type & SOCK_NONBLOCK) != 0;
	int family = v->family, fd;

	if (family == AF_INET6 && nlisteners > 1)
		l = &lis[1];
	family = l->family;	/* IPv4 only when there is no IPv6 loopback */
	fd = socket(family, v->type, v->protocol);
	if (fd < 0) {
		fail(rc->socket_fail, errno);
		return r;
	}
	count(rc->sockets);
	r.socket_ok = true;
	r.configured = check_socket(fd, rc->misconfigured);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
		fail(C_LINGER_FAIL, errno);
	if (do_connect(fd, l, nonblock)) {
		count(rc->connects);
		r.connected = true;
		if (!read_eof(fd, nonblock))
			fail(C_EOF_FAIL, errno);
	} else {
		fail(rc->connect_fail, errno);
	}
	if (close(fd) != 0)
		fail(C_CLOSE_FAIL, errno);
	return r;
}

/* ---- forked child ----------------------------------------------------- */

/* Runs in the child of a threaded process: system calls and the shared
 * counters only, then _exit. */
static void child_main(unsigned long seed)
{
	int status = 0;
	long before = count_fds(), after;

	for (unsigned long k = 0; k < CHILD_ROUNDS; k++) {
		struct round_result r = one_round(seed + k, &child_counters);
		if (!r.socket_ok)
			status |= CHILD_SOCKET_FAIL;
		if (!r.configured)
			status |= CHILD_MISCONFIGURED;
		if (!r.connected)
			status |= CHILD_CONNECT_FAIL;
	}
	after = count_fds();
	if (before < 0 || after < 0) {
		status |= CHILD_FD_COUNT_FAIL;
	} else if (after != before) {
		count(C_CHILD_FD_LEAK);
		status |= CHILD_FD_LEAK;
	}
	_exit(status);
}

static void fork_child(unsigned long seed)
{
	int st, zero = 0;
	pid_t pid = fork(), w;

	if (pid < 0) {
		fail(C_FORK_FAIL, errno);
		return;
	}
	if (pid == 0)
		child_main(seed);
	count(C_FORKS);
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		fail(C_WAIT_FAIL, errno);
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		count(C_CHILD_STATUS);
		atomic_compare_exchange_strong(&sh->first_child_status, &zero, st);
	}
}

/* ---- threads ---------------------------------------------------------- */

/* The connectors and main meet at `paused` twice: after the warm-up and
 * after the last round. Main measures, then lets them go at `resumed`. */
static pthread_barrier_t paused, resumed;

static void pause_for_measurement(void)
{
	pthread_barrier_wait(&paused);
	pthread_barrier_wait(&resumed);
}

/* Spread the forks: thread id forks after the rounds i with
 * (i + offset) % fork_every == fork_every - 1. */
static unsigned long fork_offset(unsigned long id)
{
	return (id * 37) % (unsigned long)fork_every;
}

/* How many times thread id forks. */
static unsigned long forks_planned(unsigned long id)
{
	unsigned long f = (unsigned long)fork_every, n = (unsigned long)iterations;
	unsigned long first = (f - 1 - fork_offset(id)) % f;

	if (forks_per_thread == 0 || first >= n)
		return 0;
	return (n - 1 - first) / f + 1;
}

static void *connector(void *arg)
{
	unsigned long id = (unsigned long)(uintptr_t)arg;
	unsigned long offset = fork_offset(id);

	for (long i = 0; i < iterations; i++) {
		if (i == warmup)
			pause_for_measurement();
		one_round(id + (unsigned long)i, &parent_counters);
		if (forks_per_thread > 0 &&
		    ((unsigned long)i + offset) % (unsigned long)fork_every ==
			    (unsigned long)fork_every - 1)
			fork_child(id + (unsigned long)i);
	}
	/* Measured again with every thread still alive: joined threads give
	 * their stacks back and would hide a leak of that size. */
	pause_for_measurement();
	return NULL;
}

struct acceptor_arg {
	const struct listener *l;
	bool use_accept4;
};

static void *acceptor(void *p)
{
	const struct acceptor_arg *a = p;

	for (;;) {
		int fd = a->use_accept4 ? accept4(a->l->fd, NULL, NULL, SOCK_CLOEXEC)
					: accept(a->l->fd, NULL, NULL);
		if (fd < 0) {
			if (atomic_load(&stopping))
				return NULL;
			if (errno != EINTR && errno != ECONNABORTED) {
				fail(C_ACCEPT_FAIL, errno);
				usleep(1000);	/* no busy loop on EMFILE */
			}
			continue;
		}
		count(C_ACCEPTED);
		check_socket(fd, C_ACCEPTED_BAD);
		if (close(fd) != 0)
			fail(C_CLOSE_FAIL, errno);
	}
}

/* ---- main ------------------------------------------------------------- */

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! socket-stress: timed out (KW_STRESS_TIMEOUT)\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_failures(void)
{
	char line[1024];
	size_t n = 0;

	for (int c = 0; c < C_COUNT; c++) {
		int r = snprintf(line + n, sizeof(line) - n, "%s%s=%lu",
				 c == 0 ? "" : c == FIRST_FAILURE ? " | failures: " : " ",
				 counter_name[c], counted((enum counter)c));
		if (r > 0 && (size_t)r < sizeof(line) - n)
			n += (size_t)r;
	}
	tap_diag("%s", line);
	for (int c = FIRST_FAILURE; c < C_COUNT; c++) {
		int e = atomic_load(&sh->first_errno[c]);
		if (counted((enum counter)c) > 0 && e != 0)
			tap_diag("  first %s failure: %s", counter_name[c], strerror(e));
	}
	if (counted(C_MISCONFIGURED) + counted(C_ACCEPTED_BAD) + counted(C_CHILD_MISCONFIGURED) > 0) {
		const struct opts *o = &sh->first_bad;
		tap_diag("  first misconfigured socket: keepalive=%d idle=%d intvl=%d cnt=%d "
			 "user_timeout=%d", o->keepalive, o->idle, o->intvl, o->cnt,
			 o->user_timeout);
	}
}

int main(int argc, char **argv)
{
	static pthread_t conn[MAX_THREADS], acc[2 * ACCEPTORS_PER_LISTENER];
	static struct acceptor_arg acc_arg[2 * ACCEPTORS_PER_LISTENER];
	int nacc = 0, st;
	long fd0, fd1, rss0, rss1, timeout;
	unsigned long total, want_sockets, want_forks = 0;
	double t0, t1;
	char desc[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 5) {
		fprintf(stderr, "usage: socket-stress IDLE INTVL CNT USER_TIMEOUT_MS\n");
		return 2;
	}
	want = (struct opts){ 1, atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]) };
	iterations = env_long("KW_STRESS_ITERATIONS", iterations, 1, 100000000);
	nthreads = env_long("KW_STRESS_THREADS", nthreads, 1, MAX_THREADS);
	forks_per_thread = env_long("KW_STRESS_FORKS", forks_per_thread, 0, 1000000);
	timeout = env_long("KW_STRESS_TIMEOUT", 900, 0, 86400);
	/* Forks spread evenly over each thread's rounds. */
	fork_every = forks_per_thread > 0 ? iterations / forks_per_thread : 1;
	if (fork_every < 1)
		fork_every = 1;
	warmup = iterations / 10;
	total = (unsigned long)iterations * (unsigned long)nthreads;

	signal(SIGALRM, on_alarm);
	alarm((unsigned)timeout);
	signal(SIGPIPE, SIG_IGN);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		return 1;
	}
	memset(sh, 0, sizeof(*sh));

	if (!open_listener(&lis[0], AF_INET)) {
		printf("Bail out! no listener on 127.0.0.1: %s\n", strerror(errno));
		return 1;
	}
	nlisteners = 1;
	if (open_listener(&lis[1], AF_INET6))
		nlisteners = 2;
	else
		tap_diag("no IPv6 loopback (%s): IPv4 only", strerror(errno));
	tap_ok(check_socket(lis[0].fd, C_MISCONFIGURED) &&
		       (nlisteners < 2 || check_socket(lis[1].fd, C_MISCONFIGURED)),
	       "the listeners are configured");
	tap_diag("%ld threads x %ld rounds, %ld forks per thread, warm-up %ld rounds; "
		 "expecting keepalive=1 idle=%d intvl=%d cnt=%d user_timeout=%d",
		 nthreads, iterations, forks_per_thread, warmup, want.idle, want.intvl,
		 want.cnt, want.user_timeout);

	for (int k = 0; k < nlisteners; k++) {
		for (int j = 0; j < ACCEPTORS_PER_LISTENER; j++, nacc++) {
			acc_arg[nacc] = (struct acceptor_arg){ &lis[k], j % 2 == 1 };
			if (pthread_create(&acc[nacc], NULL, acceptor, &acc_arg[nacc]) != 0) {
				printf("Bail out! pthread_create failed\n");
				return 1;
			}
		}
	}

	pthread_barrier_init(&paused, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&resumed, NULL, (unsigned)nthreads + 1);
	t0 = now_s();
	for (long k = 0; k < nthreads; k++) {
		if (pthread_create(&conn[k], NULL, connector, (void *)(uintptr_t)k) != 0) {
			printf("Bail out! pthread_create failed for thread %ld\n", k);
			return 1;
		}
	}
	/* Each time every connector waits: no connection is open (each one
	 * ended with the server's EOF, so the acceptors have closed their side
	 * too) and every child has been reaped. */
	pthread_barrier_wait(&paused);
	fd0 = count_fds();
	rss0 = rss_kib();
	pthread_barrier_wait(&resumed);
	pthread_barrier_wait(&paused);
	fd1 = count_fds();
	rss1 = rss_kib();
	t1 = now_s();
	pthread_barrier_wait(&resumed);
	for (long k = 0; k < nthreads; k++)
		pthread_join(conn[k], NULL);

	atomic_store(&stopping, true);
	for (int k = 0; k < nlisteners; k++)
		shutdown(lis[k].fd, SHUT_RDWR);	/* wakes the blocked accepts */
	for (int k = 0; k < nacc; k++)
		pthread_join(acc[k], NULL);
	for (int k = 0; k < nlisteners; k++)
		close(lis[k].fd);

	tap_diag("%.1f s, %.0f rounds/s", t1 - t0, (double)total / (t1 - t0));
	report_failures();

	want_sockets = total + counted(C_CHILD_SOCKETS);
	snprintf(desc, sizeof(desc), "all %lu sockets configured (%lu by threads, %lu by children)",
		 want_sockets, counted(C_SOCKETS), counted(C_CHILD_SOCKETS));
	tap_ok(counted(C_SOCKETS) == total && counted(C_SOCKET_FAIL) == 0 &&
		       counted(C_GETSOCKOPT_FAIL) == 0 && counted(C_MISCONFIGURED) == 0 &&
		       counted(C_CHILD_MISCONFIGURED) == 0,
	       desc);
	snprintf(desc, sizeof(desc), "all %lu connects succeeded and ended with the server's EOF",
		 total);
	tap_ok(counted(C_CONNECTS) == total && counted(C_CONNECT_FAIL) == 0 &&
		       counted(C_EOF_FAIL) == 0 && counted(C_LINGER_FAIL) == 0 &&
		       counted(C_CLOSE_FAIL) == 0,
	       desc);
	snprintf(desc, sizeof(desc), "all %lu accepted sockets configured",
		 counted(C_ACCEPTED));
	tap_ok(counted(C_ACCEPTED) == counted(C_CONNECTS) + counted(C_CHILD_CONNECTS) &&
		       counted(C_ACCEPT_FAIL) == 0 && counted(C_ACCEPTED_BAD) == 0,
	       desc);
	if (counted(C_ACCEPTED) != counted(C_CONNECTS) + counted(C_CHILD_CONNECTS))
		tap_diag("  accepted %lu, connected %lu", counted(C_ACCEPTED),
			 counted(C_CONNECTS) + counted(C_CHILD_CONNECTS));
	snprintf(desc, sizeof(desc), "all %lu children (%d rounds each) exited 0",
		 counted(C_FORKS), CHILD_ROUNDS);
	for (long k = 0; k < nthreads; k++)
		want_forks += forks_planned((unsigned long)k);
	tap_ok(counted(C_FORKS) == want_forks &&
		       counted(C_FORK_FAIL) == 0 && counted(C_WAIT_FAIL) == 0 &&
		       counted(C_CHILD_STATUS) == 0,
	       desc);
	st = atomic_load(&sh->first_child_status);
	if (st != 0) {
		if (WIFEXITED(st))
			tap_diag("  first bad child: exit status %d (1 socket, 2 misconfigured, "
				 "4 connect, 8 fd leak, 16 fd count)", WEXITSTATUS(st));
		else
			tap_diag("  first bad child: %s", WIFSIGNALED(st) ?
				 strsignal(WTERMSIG(st)) : "stopped");
	}
	snprintf(desc, sizeof(desc), "fd count stable: %ld after warm-up, %ld at the end "
		 "(tolerance %d)", fd0, fd1, FD_SLACK);
	tap_ok(fd0 > 0 && fd1 > 0 && fd1 - fd0 <= FD_SLACK, desc);
	snprintf(desc, sizeof(desc), "RSS stable: %ld KiB after warm-up, %ld KiB at the end "
		 "(tolerance %d KiB)", rss0, rss1, RSS_SLACK_KIB);
	tap_ok(rss0 > 0 && rss1 > 0 && rss1 - rss0 <= RSS_SLACK_KIB, desc);
	if (warmup < iterations)
		tap_diag("  over %lu rounds after the warm-up: a leak above %.1f bytes per round "
			 "would exceed the RSS tolerance",
			 (unsigned long)(iterations - warmup) * (unsigned long)nthreads,
			 RSS_SLACK_KIB * 1024.0 /
				 ((double)(iterations - warmup) * (double)nthreads));
	return tap_done();
}
