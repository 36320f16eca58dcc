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
 *     - the same recv(), read(), epoll_wait() and poll() sleep: the
 *       checks above can fail.
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

/* What one call cost the calling thread. */
struct cost {
	long switches;              /* voluntary context switches: it slept */
	double cpu_ms, wall_ms;
};

/* One timed call on s while w (if not NULL) writes from a thread of its
 * own: fn 'r' recv(buf, n, flags), 'R' read(buf, n), 'e' epoll_wait and
 * 'p' poll for readability with timeout ms. Returns what the call did. */
static ssize_t timed(int s, char fn, char *buf, size_t n, int flags, int timeout,
		     struct later *w, struct cost *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s }, out;
	struct pollfd p = { .fd = s, .events = POLLIN };
	int ep = -1, e;
	pthread_t t;
	long v0;
	double c0, t0;
	ssize_t r;

	if (fn == 'e') {
		ep = epoll_create1(0);
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	}
	if (w)
		pthread_create(&t, NULL, write_later, w);
	v0 = voluntary_switches();
	c0 = cpu_ms();
	t0 = now_ms();
	r = fn == 'R' ? read(s, buf, n)
	  : fn == 'r' ? recv(s, buf, n, flags)
	  : fn == 'e' ? epoll_wait(ep, &out, 1, timeout)
	  : poll(&p, 1, timeout);
	e = errno;
	c->switches = voluntary_switches() - v0;
	c->cpu_ms = cpu_ms() - c0;
	c->wall_ms = now_ms() - t0;
	if (w)
		pthread_join(t, NULL);
	if (ep >= 0)
		close(ep);
	errno = e;
	return r;
}

/* recv(), read(), epoll_wait() and poll() on a byte written 20 ms later
 * (expect_sleep: without polling). */
static void test_late_byte(int s, int k, bool expect_sleep)
{
	const char fns[4] = { 'r', 'R', 'e', 'p' };
	const char *names[4] = { "blocking recv()", "blocking read()", "epoll_wait()", "poll()" };
	char buf[16];
	struct cost c;

	for (int i = 0; i < 4; i++) {
		struct later w = { .fd = k, .delay_ms = 20, .bytes = "a" };
		ssize_t r;

		buf[0] = 0;
		r = timed(s, fns[i], buf, sizeof(buf), 0, 5000, &w, &c);
		if (i >= 2)     /* a wait: then read what woke it */
			r = r == 1 ? recv(s, buf, sizeof(buf), MSG_DONTWAIT) : -1;
		okf(r == 1 && buf[0] == 'a', "%s: the byte written 20 ms later", names[i]);
		if (expect_sleep)
			okf(c.switches >= 1, "... after sleeping, without busy polling: "
			    "%ld voluntary switches", c.switches);
		else
			okf(c.switches == 0, "... without sleeping (it polled): %ld voluntary switches",
			    c.switches);
	}
}

static void test_on(void)
{
	char buf[16] = { 0 };
	struct cost c;
	ssize_t r;
	int s, k, e;

	okf(pair_up(&s, &k), "a stack connection with the kernel's end");
	test_late_byte(s, k, false);

	struct later w3 = { .fd = k, .delay_ms = 10, .bytes = "cd", .delay2_ms = 30, .bytes2 = "ef" };
	memset(buf, 0, sizeof(buf));
	r = timed(s, 'r', buf, 4, MSG_WAITALL, -1, &w3, &c);
	okf(r == 4 && memcmp(buf, "cdef", 4) == 0,
	    "MSG_WAITALL still waits for all four bytes (two writes 30 ms apart)");

	r = timed(s, 'r', buf, sizeof(buf), MSG_DONTWAIT, -1, NULL, &c);
	e = errno;
	okf(r == -1 && (e == EAGAIN || e == EWOULDBLOCK) && c.cpu_ms < 100,
	    "MSG_DONTWAIT: EAGAIN at once (%.1f ms of CPU)", c.cpu_ms);

	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	r = timed(s, 'R', buf, sizeof(buf), 0, -1, NULL, &c);
	e = errno;
	okf(r == -1 && (e == EAGAIN || e == EWOULDBLOCK) && c.cpu_ms < 100,
	    "O_NONBLOCK: read() says EAGAIN at once (%.1f ms of CPU)", c.cpu_ms);
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);

	{
		struct timeval tv = { 0, 50 * 1000 };

		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		r = timed(s, 'r', buf, sizeof(buf), 0, -1, NULL, &c);
		e = errno;
		okf(r == -1 && (e == EAGAIN || e == EWOULDBLOCK),
		    "SO_RCVTIMEO 50 ms and nothing sent: EAGAIN, after polling (errno %d)", e);
		tv.tv_usec = 0;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}

	struct later w4 = { .fd = k, .delay_ms = 700, .bytes = "g" };
	r = timed(s, 'r', buf, sizeof(buf), 0, -1, &w4, &c);
	okf(r == 1 && buf[0] == 'g', "data 700 ms later is read");
	okf(c.switches >= 1 && c.cpu_ms < 500,
	    "... after polling for 200 ms, then sleeping (%ld voluntary switches, %.0f ms of CPU)",
	    c.switches, c.cpu_ms);

	r = timed(s, 'e', NULL, 0, 0, 50, NULL, &c);
	okf(r == 0 && c.wall_ms >= 45 && c.wall_ms < 240,
	    "epoll_wait() with 50 ms and nothing sent: 0 after %.0f ms (polling stops at the timeout)",
	    c.wall_ms);
	r = timed(s, 'p', NULL, 0, 0, 50, NULL, &c);
	okf(r == 0 && c.wall_ms >= 45 && c.wall_ms < 240,
	    "poll() with 50 ms and nothing sent: 0 after %.0f ms", c.wall_ms);

	struct later w5 = { .fd = k, .delay_ms = 20, .shut = true };
	r = timed(s, 'r', buf, sizeof(buf), 0, -1, &w5, &c);
	okf(r == 0, "end of stream 20 ms later: recv() returns 0");
	close(s);
	close(k);
}

static void test_off(void)
{
	int s, k;

	okf(pair_up(&s, &k), "a stack connection with the kernel's end");
	test_late_byte(s, k, true);
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
