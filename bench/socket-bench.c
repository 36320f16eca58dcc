/* socket-bench: the per-socket cost of keepwire's socket mode, measured
 * from inside an ordinary program (run it plain, or under LD_PRELOAD).
 *
 *   socket-bench MODE [-n ITERATIONS] [-b BATCHES] [-v]
 *
 * Modes:
 *   socket         socket(AF_INET, SOCK_STREAM, 0) + close()
 *   socket-floor   the same plus, made by this program itself, exactly the
 *                  setsockopt calls keepwire adds: TCP_KEEPIDLE 60,
 *                  TCP_KEEPINTVL 10, TCP_KEEPCNT 6, SO_KEEPALIVE 1 (the
 *                  system-call floor no preload library can go under)
 *   connect        a loopback connection per iteration: client socket() +
 *                  connect() to a listener on 127.0.0.1, accept(), both
 *                  closed
 *   connect-floor  the same with the floor's four setsockopt calls made on
 *                  the client socket by this program
 *   paired         socket()+close() through whatever library is preloaded
 *                  (the "hooked" path), alternating batch by batch with the
 *                  floor made straight through libc (socket, the four
 *                  setsockopt calls, close, looked up in libc itself so no
 *                  preloaded hook sees them): both sides of the ratio are
 *                  measured in one process, milliseconds apart, which
 *                  cancels the drift of a busy machine far better than
 *                  separate runs can
 *   check          no timing: prints the keepalive options of a new socket,
 *                  of a connected client socket and of an accepted socket,
 *                  to verify that a preloaded library really configures them
 *
 * Each timed mode runs one untimed warm-up batch, then BATCHES batches of
 * ITERATIONS iterations, and prints one line of key=value pairs:
 *
 *   mode=socket iters=20000 batches=15 median_ns=1234.5 min_ns=... max_ns=...
 *
 * median_ns is the median over the batches of each batch's mean time per
 * iteration; min_ns and max_ns are the smallest and largest batch means.
 * With -v the batch means follow as batch_ns=a,b,c,...
 *
 * paired prints hooked_ns and floor_ns (medians of the batch means of each
 * path) and ratio, the median over batch pairs of hooked/floor, with its
 * smallest and largest value and quartiles:
 *
 *   mode=paired iters=2000 batches=41 hooked_ns=... floor_ns=... ratio=1.004
 *   ratio_q1=... ratio_q3=... ratio_min=... ratio_max=...
 *
 * Connections are torn down without TIME_WAIT: the listener has SO_LINGER
 * {on, 0}, which accepted sockets inherit, and the accepted side closes
 * first, so its close() sends a reset and frees the 4-tuple at once. No
 * ephemeral ports pile up however many iterations run, and the timed loop
 * holds no system call beyond socket/connect/accept/close.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <gnu/lib-names.h>
#endif
#ifndef LIBC_SO
#define LIBC_SO "libc.so.6"
#endif

#define MAX_BATCHES 1000

/* The values keepwire sets by default (and run.sh asks both libraries for). */
enum { FLOOR_IDLE = 60, FLOOR_INTVL = 10, FLOOR_CNT = 6 };

static void die(const char *what)
{
	fprintf(stderr, "socket-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void set_int(int fd, int level, int name, int value)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) != 0)
		die("setsockopt");
}

static int get_int(int fd, int level, int name)
{
	int value = -1;
	socklen_t len = sizeof(value);

	if (getsockopt(fd, level, name, &value, &len) != 0)
		die("getsockopt");
	return value;
}

/* Exactly what keepwire's apply does to a new socket, in the same order. */
static void floor_options(int fd)
{
	set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, FLOOR_IDLE);
	set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, FLOOR_INTVL);
	set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, FLOOR_CNT);
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	return fd;
}

static void close_or_die(int fd)
{
	if (close(fd) != 0)
		die("close");
}

/* ---- the loops ------------------------------------------------------- */

struct bench {
	bool with_floor;
	int listener;
	struct sockaddr_in addr;
};

static void run_socket(struct bench *b, long iters)
{
	for (long i = 0; i < iters; i++) {
		int fd = tcp_socket();

		if (b->with_floor)
			floor_options(fd);
		close_or_die(fd);
	}
}

static void open_listener(struct bench *b)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	socklen_t len = sizeof(b->addr);

	b->listener = tcp_socket();
	memset(&b->addr, 0, sizeof(b->addr));
	b->addr.sin_family = AF_INET;
	b->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->addr.sin_port = 0;
	/* Inherited by every accepted socket: its close() sends a reset. */
	if (setsockopt(b->listener, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
		die("setsockopt SO_LINGER");
	if (bind(b->listener, (struct sockaddr *)&b->addr, sizeof(b->addr)) != 0)
		die("bind");
	if (listen(b->listener, 128) != 0)
		die("listen");
	if (getsockname(b->listener, (struct sockaddr *)&b->addr, &len) != 0)
		die("getsockname");
}

/* One connection: returns the client and accepted descriptors, open. */
static void connect_pair(struct bench *b, int *client, int *server)
{
	*client = tcp_socket();
	if (b->with_floor)
		floor_options(*client);
	/* On loopback the handshake completes inside connect(), so one
	 * thread can connect and then accept without blocking. */
	if (connect(*client, (struct sockaddr *)&b->addr, sizeof(b->addr)) != 0)
		die("connect");
	*server = accept(b->listener, NULL, NULL);
	if (*server < 0)
		die("accept");
}

static void run_connect(struct bench *b, long iters)
{
	for (long i = 0; i < iters; i++) {
		int client, server;

		connect_pair(b, &client, &server);
		close_or_die(server);	/* reset: no TIME_WAIT anywhere */
		close_or_die(client);
	}
}

/* ---- paired mode: the hooked path against libc's own floor ----------- */

struct libc_fns {
	int (*socket)(int domain, int type, int protocol);
	int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
	int (*close)(int fd);
};

static struct libc_fns libc_fns;

static void resolve(void *handle, const char *name, void *field)
{
	void *sym = dlsym(handle, name);

	if (sym == NULL) {
		fprintf(stderr, "socket-bench: %s not found in %s\n", name, LIBC_SO);
		exit(1);
	}
	memcpy(field, &sym, sizeof(sym));	/* POSIX: data and function pointers convert */
}

static void resolve_libc(void)
{
	/* The libc already loaded: its own definitions, not the first ones
	 * in the global search order (which a preloaded library's are). */
	void *h = dlopen(LIBC_SO, RTLD_LAZY);

	if (h == NULL) {
		fprintf(stderr, "socket-bench: dlopen %s: %s\n", LIBC_SO, dlerror());
		exit(1);
	}
	resolve(h, "socket", &libc_fns.socket);
	resolve(h, "setsockopt", &libc_fns.setsockopt);
	resolve(h, "close", &libc_fns.close);
}

static void libc_set_int(int fd, int level, int name, int value)
{
	if (libc_fns.setsockopt(fd, level, name, &value, sizeof(value)) != 0)
		die("setsockopt");
}

static void run_libc_floor(struct bench *b, long iters)
{
	(void)b;
	for (long i = 0; i < iters; i++) {
		int fd = libc_fns.socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			die("socket");
		libc_set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, FLOOR_IDLE);
		libc_set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, FLOOR_INTVL);
		libc_set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, FLOOR_CNT);
		libc_set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
		if (libc_fns.close(fd) != 0)
			die("close");
	}
}

/* ---- check mode ------------------------------------------------------ */

static void print_keepalive(const char *label, int fd)
{
	printf("%s keepalive=%d idle=%d intvl=%d cnt=%d\n", label,
	       get_int(fd, SOL_SOCKET, SO_KEEPALIVE),
	       get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	       get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL),
	       get_int(fd, IPPROTO_TCP, TCP_KEEPCNT));
}

static int run_check(void)
{
	struct bench b = { .with_floor = false };
	struct linger lg;
	socklen_t len = sizeof(lg);
	int fd, client, server;

	fd = tcp_socket();
	print_keepalive("socket", fd);
	close_or_die(fd);

	open_listener(&b);
	connect_pair(&b, &client, &server);
	print_keepalive("client", client);
	print_keepalive("accepted", server);
	if (getsockopt(server, SOL_SOCKET, SO_LINGER, &lg, &len) != 0)
		die("getsockopt SO_LINGER");
	printf("accepted linger=%d/%d\n", lg.l_onoff, lg.l_linger);
	close_or_die(server);
	close_or_die(client);
	close_or_die(b.listener);
	return 0;
}

/* ---- timing and output ----------------------------------------------- */

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

static double median(const double *sorted, int n)
{
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static double quantile(const double *sorted, int n, double q)
{
	double p = (n - 1) * q;
	int i = (int)p;

	return i + 1 >= n ? sorted[n - 1] : sorted[i] + (p - i) * (sorted[i + 1] - sorted[i]);
}

static double time_batch(void (*loop)(struct bench *, long), struct bench *b, long iters)
{
	double t0 = now_ns();

	loop(b, iters);
	return (now_ns() - t0) / (double)iters;
}

static int run_paired(long iters, long batches)
{
	static double hooked[MAX_BATCHES], floor_ns[MAX_BATCHES], ratio[MAX_BATCHES];
	struct bench b = { .with_floor = false, .listener = -1 };
	int n = (int)batches;

	resolve_libc();
	run_socket(&b, iters);		/* warm-up, both paths */
	run_libc_floor(&b, iters);
	for (int k = 0; k < n; k++) {
		/* Alternate which path goes first: cancels a linear drift. */
		if (k % 2 == 0) {
			hooked[k] = time_batch(run_socket, &b, iters);
			floor_ns[k] = time_batch(run_libc_floor, &b, iters);
		} else {
			floor_ns[k] = time_batch(run_libc_floor, &b, iters);
			hooked[k] = time_batch(run_socket, &b, iters);
		}
		ratio[k] = hooked[k] / floor_ns[k];
	}
	qsort(hooked, (size_t)n, sizeof(double), cmp_double);
	qsort(floor_ns, (size_t)n, sizeof(double), cmp_double);
	qsort(ratio, (size_t)n, sizeof(double), cmp_double);
	printf("mode=paired iters=%ld batches=%ld hooked_ns=%.1f floor_ns=%.1f ratio=%.4f "
	       "ratio_q1=%.4f ratio_q3=%.4f ratio_min=%.4f ratio_max=%.4f\n",
	       iters, batches, median(hooked, n), median(floor_ns, n), median(ratio, n),
	       quantile(ratio, n, 0.25), quantile(ratio, n, 0.75), ratio[0], ratio[n - 1]);
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: socket-bench socket|socket-floor|connect|connect-floor|paired|check"
	      " [-n ITERATIONS] [-b BATCHES] [-v]\n", out);
}

static long parse_count(const char *text, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max) {
		fprintf(stderr, "socket-bench: bad count '%s' (1..%ld)\n", text, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static double batch_ns[MAX_BATCHES], sorted[MAX_BATCHES];
	struct bench b = { .listener = -1 };
	const char *mode;
	bool is_connect, verbose = false;
	long iters = 0, batches = 0;
	void (*loop)(struct bench *, long);

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			iters = parse_count(argv[++i], 100000000L);
		else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
			batches = parse_count(argv[++i], MAX_BATCHES);
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else {
			usage(stderr);
			return 2;
		}
	}

	if (strcmp(mode, "check") == 0)
		return run_check();
	if (strcmp(mode, "paired") == 0)
		return run_paired(iters ? iters : 2000, batches ? batches : 41);
	if (batches == 0)
		batches = 15;
	if (strcmp(mode, "socket") == 0 || strcmp(mode, "socket-floor") == 0) {
		is_connect = false;
		b.with_floor = strcmp(mode, "socket-floor") == 0;
		loop = run_socket;
	} else if (strcmp(mode, "connect") == 0 || strcmp(mode, "connect-floor") == 0) {
		is_connect = true;
		b.with_floor = strcmp(mode, "connect-floor") == 0;
		loop = run_connect;
	} else if (strcmp(mode, "-h") == 0 || strcmp(mode, "--help") == 0) {
		usage(stdout);
		return 0;
	} else {
		usage(stderr);
		return 2;
	}
	if (iters == 0)
		iters = is_connect ? 2000 : 20000;
	if (is_connect)
		open_listener(&b);

	loop(&b, iters);	/* warm-up: caches, lazy binding, preload init */
	for (long k = 0; k < batches; k++)
		batch_ns[k] = time_batch(loop, &b, iters);
	if (b.listener >= 0)
		close_or_die(b.listener);

	memcpy(sorted, batch_ns, (size_t)batches * sizeof(sorted[0]));
	qsort(sorted, (size_t)batches, sizeof(sorted[0]), cmp_double);
	printf("mode=%s iters=%ld batches=%ld median_ns=%.1f min_ns=%.1f max_ns=%.1f",
	       mode, iters, batches, median(sorted, (int)batches), sorted[0],
	       sorted[batches - 1]);
	if (verbose) {
		printf(" batch_ns=");
		for (long k = 0; k < batches; k++)
			printf("%s%.1f", k ? "," : "", batch_ns[k]);
	}
	printf("\n");
	return 0;
}
