/* Direct mode's busy polling (KEEPWIRE_BUSY_POLL, src/preload/busy_poll.c).
 * busypoll.t runs this program twice in a namespace whose TAP device is the
 * stack's link, under libkeepwire.so in direct mode:
 *
 *   busypoll on   (KEEPWIRE_BUSY_POLL=200000, 200 ms)
 *     - a blocking recv() and a blocking read() whose data arrives 20 ms
 *       later return it without the thread sleeping (no voluntary context
 *       switch: it polled);
 *     - what the program's call means is unchanged: MSG_WAITALL still
 *       waits for all of it, end of stream still reads 0, SO_RCVTIMEO
 *       still ends in EAGAIN;
 *     - a non-blocking descriptor and MSG_DONTWAIT answer EAGAIN at once
 *       (no 200 ms of polling: the thread's CPU time says so);
 *     - polling stops after its 200 ms: data that arrives after 700 ms is
 *       read after a sleep, with well under 700 ms of CPU time used;
 *     - epoll_wait() and poll() on the socket report data that arrives
 *       20 ms later without sleeping too; with a 50 ms timeout and nothing
 *       arriving they return 0 after about 50 ms (the timeout bounds the
 *       polling);
 *   busypoll off  (unset)
 *     - the same recv(), epoll_wait() and poll() sleep: the checks above
 *       can fail.
 *
 * The kernel's side is a connection made with the raw connect system
 * call, which keepwire does not see, to a stack listener; a thread writes
 * to it with raw write calls after a delay. */
#define _GNU_SOURCE
#include "tests/tap.h"
#include "tests/direct/helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>

static const char *stack_addr;

static void okf(int cond, const char *fmt, ...)
{
	char desc[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	tap_ok(cond, desc);
}

struct later {
	int fd;
	int delay_ms;
	const char *bytes;
	int delay2_ms;              /* then, if bytes2: */
	const char *bytes2;
	bool shut;                  /* then shutdown(SHUT_WR) */
};

static void *write_later(void *arg)
{
	struct later *w = arg;

	sleep_ms(w->delay_ms);
	if (w->bytes)
		(void)!syscall(SYS_write, w->fd, w->bytes, strlen(w->bytes));
	if (w->bytes2) {
		sleep_ms(w->delay2_ms);
		(void)!syscall(SYS_write, w->fd, w->bytes2, strlen(w->bytes2));
	}
	if (w->shut)
		syscall(SYS_shutdown, w->fd, SHUT_WR);
	return NULL;
}

static long voluntary_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* A stack connection (s, what the program holds) and the kernel's end (k). */
static bool pair_up(int *s, int *k)
{
	struct sockaddr_in sin = sin_of(stack_addr, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	*s = *k = -1;
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(l, 4) != 0)
		return false;
	port = port_of(l);
	sin = sin_of(stack_addr, port);
	*k = socket(AF_INET, SOCK_STREAM, 0);
	if (*k < 0 || syscall(SYS_connect, *k, &sin, sizeof(sin)) != 0)
		return false;
	*s = accept(l, NULL, NULL);
	close(l);
	return *s >= 0;
}

/* One timed read: fn is 'r' (recv), 'R' (read); returns what it returned. */
static ssize_t read_with(int s, char fn, char *buf, size_t n, int flags, long *switches,
			 double *cpu)
{
	long v0 = voluntary_switches();
	double c0 = cpu_ms();
	ssize_t r = fn == 'R' ? read(s, buf, n) : recv(s, buf, n, flags);
	int e = errno;

	*switches = voluntary_switches() - v0;
	*cpu = cpu_ms() - c0;
	errno = e;
	return r;
}

/* One wait for readability on s: 'e' epoll_wait, 'p' poll; its result. */
static int wait_with(int s, char fn, int timeout, long *switches, double *cpu, double *ms)
{
	long v0 = voluntary_switches();
	double c0 = cpu_ms(), t0 = now_ms();
	int r;

	if (fn == 'e') {
		int ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = s }, out;

		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
		v0 = voluntary_switches();
		c0 = cpu_ms();
		t0 = now_ms();
		r = epoll_wait(ep, &out, 1, timeout);
		*switches = voluntary_switches() - v0;
		*cpu = cpu_ms() - c0;
		*ms = now_ms() - t0;
		close(ep);
		return r;
	}
	struct pollfd p = { .fd = s, .events = POLLIN };
	r = poll(&p, 1, timeout);
	*switches = voluntary_switches() - v0;
	*cpu = cpu_ms() - c0;
	*ms = now_ms() - t0;
	return r;
}

/* epoll_wait and poll: data 20 ms later (expect_sleep: without polling). */
static void test_waits(int s, int k, bool expect_sleep)
{
	const char fns[2] = { 'e', 'p' };
	const char *names[2] = { "epoll_wait()", "poll()" };
	char buf[4];
	pthread_t t;
	long sw;
	double cpu, ms;

	for (int i = 0; i < 2; i++) {
		struct later w = { .fd = k, .delay_ms = 20, .bytes = "w" };
		int r;

		pthread_create(&t, NULL, write_later, &w);
		r = wait_with(s, fns[i], 5000, &sw, &cpu, &ms);
		pthread_join(t, NULL);
		okf(r == 1 && recv(s, buf, sizeof(buf), MSG_DONTWAIT) == 1,
		    "%s: the socket readable when the byte written 20 ms later arrives", names[i]);
		if (expect_sleep)
			okf(sw >= 1, "... after sleeping, without busy polling: %ld voluntary switches", sw);
		else
			okf(sw == 0, "... without sleeping (it polled): %ld voluntary switches", sw);
	}
}

static void test_on(void)
{
	char buf[16] = { 0 };
	pthread_t t;
	long sw;
	double cpu;
	ssize_t r;
	int s, k, e;

	okf(pair_up(&s, &k), "a stack connection with the kernel's end");

	struct later w1 = { .fd = k, .delay_ms = 20, .bytes = "a" };
	pthread_create(&t, NULL, write_later, &w1);
	r = read_with(s, 'r', buf, sizeof(buf), 0, &sw, &cpu);
	pthread_join(t, NULL);
	okf(r == 1 && buf[0] == 'a', "blocking recv(): the byte written 20 ms later");
	okf(sw == 0, "... without sleeping (it polled): %ld voluntary switches", sw);

	struct later w2 = { .fd = k, .delay_ms = 20, .bytes = "b" };
	pthread_create(&t, NULL, write_later, &w2);
	r = read_with(s, 'R', buf, sizeof(buf), 0, &sw, &cpu);
	pthread_join(t, NULL);
	okf(r == 1 && buf[0] == 'b', "blocking read(): the byte written 20 ms later");
	okf(sw == 0, "... without sleeping: %ld voluntary switches", sw);

	struct later w3 = { .fd = k, .delay_ms = 10, .bytes = "cd", .delay2_ms = 30, .bytes2 = "ef" };
	pthread_create(&t, NULL, write_later, &w3);
	memset(buf, 0, sizeof(buf));
	r = read_with(s, 'r', buf, 4, MSG_WAITALL, &sw, &cpu);
	pthread_join(t, NULL);
	okf(r == 4 && memcmp(buf, "cdef", 4) == 0,
	       "MSG_WAITALL still waits for all four bytes (two writes 30 ms apart)");

	r = read_with(s, 'r', buf, sizeof(buf), MSG_DONTWAIT, &sw, &cpu);
	e = errno;
	okf(r == -1 && (e == EAGAIN || e == EWOULDBLOCK) && cpu < 100,
	       "MSG_DONTWAIT: EAGAIN at once (%.1f ms of CPU)", cpu);

	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	r = read_with(s, 'R', buf, sizeof(buf), 0, &sw, &cpu);
	e = errno;
	okf(r == -1 && (e == EAGAIN || e == EWOULDBLOCK) && cpu < 100,
	       "O_NONBLOCK: read() says EAGAIN at once (%.1f ms of CPU)", cpu);
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);

	{
		struct timeval tv = { 0, 50 * 1000 };

		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		r = read_with(s, 'r', buf, sizeof(buf), 0, &sw, &cpu);
		e = errno;
		okf(r == -1 && (e == EAGAIN || e == EWOULDBLOCK),
		       "SO_RCVTIMEO 50 ms and nothing sent: EAGAIN, after polling (errno %d)", e);
		tv.tv_usec = 0;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}

	struct later w4 = { .fd = k, .delay_ms = 700, .bytes = "g" };
	pthread_create(&t, NULL, write_later, &w4);
	r = read_with(s, 'r', buf, sizeof(buf), 0, &sw, &cpu);
	pthread_join(t, NULL);
	okf(r == 1 && buf[0] == 'g', "data 700 ms later is read");
	okf(sw >= 1 && cpu < 500,
	       "... after polling for 200 ms, then sleeping (%ld voluntary switches, %.0f ms of CPU)",
	       sw, cpu);

	test_waits(s, k, false);
	{
		long sw2;
		double cpu2, ms2;
		int r2 = wait_with(s, 'e', 50, &sw2, &cpu2, &ms2);

		okf(r2 == 0 && ms2 >= 45 && ms2 < 240,
		    "epoll_wait() with 50 ms and nothing sent: 0 after %.0f ms (polling stops at the timeout)",
		    ms2);
		r2 = wait_with(s, 'p', 50, &sw2, &cpu2, &ms2);
		okf(r2 == 0 && ms2 >= 45 && ms2 < 240,
		    "poll() with 50 ms and nothing sent: 0 after %.0f ms", ms2);
	}

	struct later w5 = { .fd = k, .delay_ms = 20, .shut = true };
	pthread_create(&t, NULL, write_later, &w5);
	r = read_with(s, 'r', buf, sizeof(buf), 0, &sw, &cpu);
	pthread_join(t, NULL);
	okf(r == 0, "end of stream 20 ms later: recv() returns 0");
	close(s);
	close(k);
}

static void test_off(void)
{
	char buf[16] = { 0 };
	pthread_t t;
	long sw;
	double cpu;
	ssize_t r;
	int s, k;

	okf(pair_up(&s, &k), "a stack connection with the kernel's end");
	struct later w1 = { .fd = k, .delay_ms = 20, .bytes = "a" };
	pthread_create(&t, NULL, write_later, &w1);
	r = read_with(s, 'r', buf, sizeof(buf), 0, &sw, &cpu);
	pthread_join(t, NULL);
	okf(r == 1 && buf[0] == 'a', "blocking recv(): the byte written 20 ms later");
	okf(sw >= 1, "... after sleeping, without busy polling: %ld voluntary switches", sw);
	test_waits(s, k, true);
	close(s);
	close(k);
}

int main(int argc, char **argv)
{
	stack_addr = getenv("KW_T_STACK");
	if (!stack_addr || argc != 2) {
		printf("1..0 # SKIP run by tests/direct/busypoll.t (KW_T_STACK, on|off)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "on") == 0)
		test_on();
	else
		test_off();
	return tap_done();
}
