/* Direct mode: socket options and names that servers, load generators and
 * health checks rely on, answered as the kernel answers them (issue 11,
 * items 4, 7, 8 and 9):
 *   - getsockname after bind(port 0) names the chosen port at once;
 *   - bind + listen + close five times on one port all succeed;
 *   - SO_REUSEPORT: several listeners on one port share its connections;
 *   - SO_LINGER {1,0} closes with RST; values read back as set;
 *   - TCP_INFO reports the stack's own state, RTT, cwnd and counters;
 *   - MSG_OOB is refused with EOPNOTSUPP, no byte is lost;
 *   - TCP_NODELAY set while a non-blocking connect runs costs no request
 *     to the engine and is in force for the first bytes.
 * options.t runs it like semantics.c: in a namespace whose TAP device is
 * the stack's link, under libkeepwire.so in direct mode. The kernel's side
 * is played by the same process with raw system calls keepwire does not
 * see, and by listeners on the kernel's address. */
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *kernel_addr, *stack_addr;

/* The kernel's side connecting to the stack: the raw system call. */
static int kernel_connect(int port)
{
	struct sockaddr_in sin = sin_of(stack_addr, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && syscall(SYS_connect, fd, &sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static ssize_t read_n(int fd, char *buf, size_t n, int timeout_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) != 1)
			break;
		r = read(fd, buf + got, n - got);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void test_sockname_after_bind(void)
{
	struct sockaddr_in at = sin_of(stack_addr, 0), me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	tap_ok(bind(fd, (struct sockaddr *)&at, sizeof(at)) == 0, "bind(stack address, port 0)");
	tap_ok(getsockname(fd, (struct sockaddr *)&me, &len) == 0 && me.sin_family == AF_INET &&
	       me.sin_addr.s_addr == at.sin_addr.s_addr && ntohs(me.sin_port) != 0,
	       "getsockname before listen/connect names the address and the chosen port");
	tap_diag("bound to port %d", ntohs(me.sin_port));
	close(fd);
}

static void test_relisten(void)
{
	int port = 0, fails = 0, k;

	for (int i = 0; i < 5; i++) {
		struct sockaddr_in any = sin_of("0.0.0.0", port);
		int on = 1, l = socket(AF_INET, SOCK_STREAM, 0);

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(l, (struct sockaddr *)&any, sizeof(any)) != 0 || listen(l, 4) != 0) {
			tap_diag("round %d: %s", i + 1, strerror(errno));
			fails++;
		} else if (port == 0) {
			port = port_of(l);
		}
		if (i == 4) {
			k = kernel_connect(port);
			tap_ok(k >= 0, "... the fifth listener takes a connection");
			close(k);
		}
		close(l);
	}
	tap_is_u64((uint64_t)fails, 0, "bind + listen + close five times on one port: no EADDRINUSE");
}

static int reuseport_listener(int port, int on)
{
	struct sockaddr_in any = sin_of("0.0.0.0", port);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (bind(l, (struct sockaddr *)&any, sizeof(any)) != 0 || listen(l, 64) != 0) {
		int e = errno;
		close(l);
		errno = e;
		return -1;
	}
	return l;
}

static void test_reuseport(void)
{
	int a = reuseport_listener(0, 1), b, c, v = -1, got[2] = { 0, 0 }, k[40];
	socklen_t len = sizeof(v);

	tap_ok(a >= 0, "SO_REUSEPORT listener");
	b = reuseport_listener(port_of(a), 1);
	tap_ok(b >= 0, "... a second one on the same port");
	tap_ok(getsockopt(b, SOL_SOCKET, SO_REUSEPORT, &v, &len) == 0 && v == 1,
	       "... getsockopt(SO_REUSEPORT) reads 1");
	errno = 0;
	c = reuseport_listener(port_of(a), 0);
	tap_ok(c < 0 && errno == EADDRINUSE, "a third one without SO_REUSEPORT: EADDRINUSE");
	for (int i = 0; i < 40; i++)
		k[i] = kernel_connect(port_of(a));
	for (int i = 0; i < 40; i++) {
		struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
		if (poll(p, 2, 2000) < 1)
			break;
		for (int j = 0; j < 2; j++)
			if (p[j].revents & POLLIN) {
				int s = accept(j ? b : a, NULL, NULL);
				if (s >= 0) {
					got[j]++;
					close(s);
				}
			}
		if (got[0] + got[1] == 40)
			break;
	}
	tap_diag("40 connections: %d to the first listener, %d to the second", got[0], got[1]);
	tap_ok(got[0] + got[1] == 40 && got[0] > 0 && got[1] > 0,
	       "... connections are spread over both listeners");
	for (int i = 0; i < 40; i++)
		close(k[i]);
	close(a);
	close(b);
}

static void test_linger(void)
{
	int l = listener_on(kernel_addr), k = -1, fd = connect_pair(kernel_addr, l, &k);
	struct linger set = { 1, 0 }, got = { -1, -1 };
	socklen_t len = sizeof(got);
	char buf[64];
	ssize_t r;

	tap_ok(fd >= 0 && k >= 0, "connected to a kernel listener");
	tap_ok(getsockopt(fd, SOL_SOCKET, SO_LINGER, &got, &len) == 0 && got.l_onoff == 0,
	       "SO_LINGER is off by default");
	set.l_linger = 7;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &set, sizeof(set));
	len = sizeof(got);
	tap_ok(getsockopt(fd, SOL_SOCKET, SO_LINGER, &got, &len) == 0 && got.l_onoff == 1 &&
	       got.l_linger == 7 && len == sizeof(got), "SO_LINGER {1,7} reads back as set");
	set.l_linger = 0;
	tap_ok(setsockopt(fd, SOL_SOCKET, SO_LINGER, &set, sizeof(set)) == 0, "SO_LINGER {1,0}");
	tap_ok(write(fd, "unsent?", 7) == 7, "write, then close");
	close(fd);
	/* The kernel's end may see the 7 bytes first (they may have left
	 * before the close), then the reset. */
	errno = 0;
	do
		r = read_n(k, buf, sizeof(buf), 3000);
	while (r > 0);
	tap_ok(r < 0 && errno == ECONNRESET, "the kernel's end reads ECONNRESET, not EOF");
	if (!(r < 0 && errno == ECONNRESET))
		tap_diag("read returned %zd (%s)", r, strerror(errno));
	close(k);
	close(l);
}

/* SO_LINGER {1,N}: close() waits until the FIN is acknowledged, at most
 * N s; the connection then goes on without the program. */
static void test_linger_wait(void)
{
	int l = listener_on(kernel_addr), k = -1, fd = connect_pair(kernel_addr, l, &k), fl;
	struct linger lg = { 1, 2 };
	static char chunk[65536], sink[65536];
	size_t sent = 0, got = 0;
	double t0, waited;
	ssize_t r;

	tap_ok(fd >= 0 && k >= 0, "connected to a kernel listener that does not read yet");
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	memset(chunk, 'L', sizeof(chunk));
	for (int idle = 0; idle < 20;) {
		r = write(fd, chunk, sizeof(chunk));
		if (r > 0) {
			sent += (size_t)r;
			idle = 0;
		} else {
			idle++;
			usleep(20000);
		}
	}
	fcntl(fd, F_SETFL, fl);
	tap_diag("%zu bytes written before everything was full", sent);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	t0 = now_s();
	tap_ok(close(fd) == 0, "SO_LINGER {1,2}: close with unsent data");
	waited = now_s() - t0;
	tap_diag("close took %.3f s", waited);
	tap_ok(waited >= 1.9 && waited < 3.0, "... blocked 2 s: the FIN could not be acknowledged");
	while ((r = read_n(k, sink, sizeof(sink), 3000)) > 0)
		got += (size_t)r;
	tap_ok(r == 0 && got == sent, "... then the kernel reads every byte and EOF: nothing was lost");
	if (got != sent)
		tap_diag("got %zu of %zu", got, sent);
	close(k);

	fd = connect_pair(kernel_addr, l, &k);
	lg.l_linger = 5;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	tap_ok(write(fd, chunk, 1000) == 1000, "SO_LINGER {1,5} with a reading peer: write 1000 bytes");
	t0 = now_s();
	close(fd);
	waited = now_s() - t0;
	tap_diag("close took %.3f s", waited);
	tap_ok(waited < 1.0, "... close returns as soon as the FIN is acknowledged");
	tap_ok(read_n(k, sink, sizeof(sink), 3000) == 1000 && read_n(k, sink, 1, 3000) == 0,
	       "... the kernel read the 1000 bytes and EOF");
	close(k);
	close(l);
}

static void test_tcp_info(void)
{
	int l = listener_on(kernel_addr), k = -1, fd = connect_pair(kernel_addr, l, &k);
	static char data[200000], sink[200000];
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(data, 'x', sizeof(data));
	tap_ok(fd >= 0 && k >= 0, "connected to a kernel listener");
	tap_ok(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data) &&
	       read_n(k, sink, sizeof(sink), 5000) == (ssize_t)sizeof(sink), "200,000 bytes sent");
	tap_ok(write(k, "pong", 4) == 4 && read_n(fd, sink, 4, 5000) == 4, "4 bytes received");
	usleep(100000);
	memset(&ti, 0xff, sizeof(ti));
	tap_ok(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && len == sizeof(ti),
	       "getsockopt(TCP_INFO)");
	tap_is_u64(ti.tcpi_state, TCP_ESTABLISHED, "... state ESTABLISHED");
	tap_ok(ti.tcpi_rtt > 0 && ti.tcpi_rtt < 1000000, "... an RTT was measured (0 < rtt < 1 s)");
	tap_diag("rtt %u us, rttvar %u us, rto %u us, cwnd %u, mss %u", ti.tcpi_rtt, ti.tcpi_rttvar,
		 ti.tcpi_rto, ti.tcpi_snd_cwnd, ti.tcpi_snd_mss);
	tap_ok(ti.tcpi_rto >= 200000, "... RTO at least Linux's 200 ms floor");
	tap_ok(ti.tcpi_snd_cwnd >= 10, "... cwnd in segments, at least the initial 10");
	tap_ok(ti.tcpi_snd_mss > 0 && ti.tcpi_snd_mss <= 1460, "... snd_mss");
	tap_is_u64(ti.tcpi_unacked, 0, "... nothing unacknowledged");
	tap_is_u64(ti.tcpi_total_retrans, 0, "... no retransmission on a clean link");
	tap_ok(ti.tcpi_last_data_recv < 5000, "... last data received a moment ago");
	tap_ok(ti.tcpi_options & TCPI_OPT_TIMESTAMPS, "... timestamps agreed with the kernel");
	{
		/* Linux's longer struct: min_rtt (offset 148, us) and
		 * delivery_rate (offset 160, bytes/s), from the stack's rate
		 * samples on its SACK scoreboard. */
		uint8_t ext[232];
		socklen_t elen = sizeof(ext);
		uint32_t min_rtt;
		uint64_t rate;

		memset(ext, 0xff, sizeof(ext));
		getsockopt(fd, IPPROTO_TCP, TCP_INFO, ext, &elen);
		memcpy(&min_rtt, ext + 148, 4);
		memcpy(&rate, ext + 160, 8);
		tap_diag("min_rtt %u us, delivery_rate %llu bytes/s (%u bytes of TCP_INFO)", min_rtt,
			 (unsigned long long)rate, (unsigned)elen);
		tap_ok(elen >= 168 && min_rtt > 0 && min_rtt < 1000000,
		       "... tcpi_min_rtt measured (0 < min_rtt < 1 s)");
		tap_ok(rate > 0 && rate < UINT64_C(100000000000), "... tcpi_delivery_rate measured");
	}
	{
		/* The engine's congestion control by name, in Linux's 16-byte
		 * field: BBR unless KEEPWIRE_CONGESTION says otherwise. */
		char ca[32];
		socklen_t calen = sizeof(ca);
		const char *want = getenv("KEEPWIRE_CONGESTION") ? getenv("KEEPWIRE_CONGESTION") : "bbr";

		memset(ca, 'x', sizeof(ca));
		tap_ok(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, ca, &calen) == 0 && calen == 16 &&
		       strcmp(ca, want) == 0, "getsockopt(TCP_CONGESTION): the engine's, 16 bytes");
		tap_diag("TCP_CONGESTION \"%.16s\", %u bytes", ca, (unsigned)calen);
	}
	{
		/* The kernel's own header's longer struct: bytes acked. */
		uint64_t ext[30];
		socklen_t elen = sizeof(ext);
		uint64_t acked, received;

		memset(ext, 0, sizeof(ext));
		getsockopt(fd, IPPROTO_TCP, TCP_INFO, ext, &elen);
		memcpy(&acked, (char *)ext + 120, 8);
		memcpy(&received, (char *)ext + 128, 8);
		tap_ok(elen > sizeof(ti), "... the longer struct of <linux/tcp.h> is filled too");
		tap_is_u64(acked, sizeof(data), "... tcpi_bytes_acked = 200,000");
		tap_is_u64(received, 4, "... tcpi_bytes_received = 4");
	}
	close(k);
	usleep(200000);
	len = sizeof(ti);
	tap_ok(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE_WAIT,
	       "after the kernel's close: CLOSE-WAIT");
	close(fd);
	close(l);
}

/* accept() with no descriptor free: EMFILE and the connection stays
 * queued, as on the kernel (the socketpair end must not be lost). */
static void test_accept_emfile(void)
{
	struct sockaddr_in any = sin_of("0.0.0.0", 0);
	int l = socket(AF_INET, SOCK_STREAM, 0), k, a, fill[256], n = 0;
	struct rlimit old, low;
	char buf[8];

	tap_ok(bind(l, (struct sockaddr *)&any, sizeof(any)) == 0 && listen(l, 4) == 0,
	       "a stack listener");
	k = kernel_connect(port_of(l));
	tap_ok(k >= 0, "the kernel connects to it");
	usleep(100000);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 200;
	setrlimit(RLIMIT_NOFILE, &low);
	while (n < 256 && (fill[n] = dup(0)) >= 0)
		n++;
	errno = 0;
	a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	tap_ok(a == -1 && errno == EMFILE, "accept with every descriptor taken: EMFILE");
	if (a >= 0)
		close(a);
	while (n > 0)
		close(fill[--n]);
	setrlimit(RLIMIT_NOFILE, &old);
	{
		struct pollfd p = { .fd = l, .events = POLLIN };
		a = poll(&p, 1, 2000) == 1 ? accept4(l, NULL, NULL, SOCK_NONBLOCK) : -1;
	}
	tap_ok(a >= 0, "... the connection stayed queued: accept succeeds once one is free");
	tap_ok(a >= 0 && write(k, "hi", 2) == 2 && read_n(a, buf, 2, 3000) == 2 && memcmp(buf, "hi", 2) == 0,
	       "... and it works");
	if (a >= 0)
		close(a);
	close(k);
	close(l);
}

static void test_oob(void)
{
	int l = listener_on(kernel_addr), k = -1, fd = connect_pair(kernel_addr, l, &k);
	char buf[8] = { 0 };

	tap_ok(fd >= 0 && k >= 0, "connected to a kernel listener");
	errno = 0;
	tap_ok(send(fd, "!", 1, MSG_OOB) == -1 && errno == EOPNOTSUPP,
	       "send(MSG_OOB) on a stack socket: EOPNOTSUPP (urgent data is not carried)");
	tap_ok(send(fd, "a", 1, 0) == 1 && send(fd, "b", 1, 0) == 1, "then ordinary bytes");
	tap_ok(read_n(k, buf, 2, 3000) == 2 && memcmp(buf, "ab", 2) == 0,
	       "... the kernel receives exactly them");
	/* The kernel's urgent byte arrives in line (as with SO_OOBINLINE). */
	tap_ok(send(k, "a", 1, 0) == 1 && send(k, "!", 1, MSG_OOB) == 1 && send(k, "b", 1, 0) == 1,
	       "the kernel sends a, ! (urgent), b");
	memset(buf, 0, sizeof(buf));
	tap_ok(read_n(fd, buf, 3, 3000) == 3 && memcmp(buf, "a!b", 3) == 0,
	       "... the program reads a!b: no byte lost (urgent data in line)");
	close(k);
	close(fd);
	close(l);
}

/* The keepwire engine process serving this network namespace, or -1. */
static pid_t engine_pid(void)
{
	struct stat self;
	pid_t found = -1;
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL || stat("/proc/self/ns/net", &self) != 0) {
		if (d != NULL)
			closedir(d);
		return -1;
	}
	while (found < 0 && (e = readdir(d)) != NULL) {
		char path[300], cmd[256];
		struct stat ns;
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
		if (stat(path, &ns) != 0 || ns.st_ino != self.st_ino)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		cmd[n] = 0;
		/* argv[0] .../keepwire, argv[1] engine */
		if (strlen(cmd) + 1 < (size_t)n && strcmp(cmd + strlen(cmd) + 1, "engine") == 0 &&
		    strstr(cmd, "keepwire") != NULL)
			found = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return found;
}

/* A kernel listener with backlog 0: its queue is full with one
 * connection not yet taken (connect_held). */
static int listener_backlog0(void)
{
	struct sockaddr_in at = sin_of(kernel_addr, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l >= 0 && (bind(l, (struct sockaddr *)&at, sizeof(at)) != 0 || listen(l, 0) != 0)) {
		close(l);
		l = -1;
	}
	return l;
}

/* A non-blocking connect over the stack to the listener l whose handshake
 * surely still runs: the kernel's own connection *plug fills l's queue, so
 * the stack's SYN is dropped until handshake_end makes room (and the SYN's
 * retransmission, a second later, gets through). */
static int connect_held(int l, int *plug)
{
	struct sockaddr_in at = sin_of(kernel_addr, port_of(l));
	int fd;

	*plug = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || *plug < 0 || syscall(SYS_connect, *plug, &at, sizeof(at)) != 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&at, sizeof(at)) == 0 || errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	/* The SYN has reached the full queue by then. */
	sleep_ms(100);
	return fd;
}

/* Room in l's queue; waits for fd's handshake; the kernel's end of fd. */
static int handshake_end(int l, int fd, int plug)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int taken = accept(l, NULL, NULL), k = -1;

	if (taken >= 0 && poll(&p, 1, 5000) == 1 && get_int(fd, SOL_SOCKET, SO_ERROR) == 0)
		k = accept(l, NULL, NULL);
	close(taken);
	close(plug);
	return k;
}

/* TCP_NODELAY set while a non-blocking connect runs (as wrk does): it
 * needs no request to the engine, reads back at once, and the engine
 * applies it before the first bytes. */
static void test_nodelay_while_connecting(void)
{
	struct sockaddr_in silent = sin_of(kernel_addr, 9);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), r;
	pid_t engine = engine_pid(), waker;
	double t0, took;

	/* An address on the device that nobody answers: the stack keeps
	 * asking ARP, and the connection stays in its handshake. */
	((uint8_t *)&silent.sin_addr.s_addr)[3] = 77;
	r = connect(fd, (struct sockaddr *)&silent, sizeof(silent));
	tap_ok(r == -1 && errno == EINPROGRESS, "non-blocking connect to a silent address: EINPROGRESS");
	tap_ok(engine > 0, "found the engine process of this namespace");
	if (engine > 0) {
		/* With the engine stopped, a request would wait until the
		 * child below lets it go on after 3 s. */
		kill(engine, SIGSTOP);
		waker = fork();
		if (waker == 0) {
			sleep(3);
			kill(engine, SIGCONT);
			_exit(0);
		}
		t0 = now_ms();
		r = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
		took = now_ms() - t0;
		kill(engine, SIGCONT);
		if (waker > 0)
			waitpid(waker, NULL, 0);
		tap_diag("setsockopt(TCP_NODELAY) with the engine stopped took %.1f ms", took);
		tap_ok(r == 0 && took < 1000, "... setsockopt(TCP_NODELAY, 1) needs no answer from the engine");
		tap_is_u64(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1, "... getsockopt reads 1 at once");
	}
	close(fd);

	/* Applied: the kernel's end delays its ACKs (TCP_QUICKACK 0), so with
	 * Nagle's algorithm on, a small write while another is unacknowledged
	 * would wait for its ACK, 40 ms or more. */
	{
		int l = listener_backlog0(), plug = -1, k = -1, ok;
		char buf[2];
		double gap = -1;

		fd = connect_held(l, &plug);
		ok = fd >= 0 && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) == 0 &&
		     get_int(fd, IPPROTO_TCP, TCP_NODELAY) == 1;
		k = handshake_end(l, fd, plug);
		ok = ok && k >= 0;
		set_int(k, IPPROTO_TCP, TCP_QUICKACK, 0);
		tap_ok(ok, "a connection with TCP_NODELAY set during its handshake");
		/* Three rounds: an ACK the kernel sent at once in one of them
		 * (quick ACK mode coming back) would hide Nagle's wait there. */
		for (int i = 0; i < 3 && ok; i++) {
			double t;

			/* "a" is on the kernel's side, not yet acknowledged,
			 * when "b" is written. */
			ok = write(fd, "a", 1) == 1 && read_n(k, buf, 1, 5000) == 1;
			t = now_ms();
			ok = ok && write(fd, "b", 1) == 1 && read_n(k, buf + 1, 1, 5000) == 1;
			t = now_ms() - t;
			gap = t > gap ? t : gap;
			set_int(k, IPPROTO_TCP, TCP_QUICKACK, 0);
			sleep_ms(50);
		}
		tap_diag("longest wait for the second byte: %.1f ms", gap);
		tap_ok(ok && gap >= 0 && gap < 30, "... the second small write is not held for an ACK");
		close(fd);
		close(k);

		/* Set again once the connection is open (a request): that
		 * value holds, not the one set during the handshake. */
		fd = connect_held(l, &plug);
		ok = fd >= 0 && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) == 0;
		k = handshake_end(l, fd, plug);
		ok = ok && k >= 0 && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 0) == 0 &&
		     get_int(fd, IPPROTO_TCP, TCP_NODELAY) == 0 &&
		     write(fd, "c", 1) == 1 && read_n(k, buf, 1, 5000) == 1;
		tap_ok(ok && get_int(fd, IPPROTO_TCP, TCP_NODELAY) == 0,
		       "TCP_NODELAY set on, then off once open: reads off, before and after data");
		close(fd);
		close(k);
		close(l);
	}
}

int main(void)
{
	kernel_addr = getenv("KW_T_KERNEL");
	stack_addr = getenv("KW_T_STACK");
	if (!kernel_addr || !stack_addr) {
		printf("1..0 # SKIP run by tests/direct/options.t (KW_T_KERNEL, KW_T_STACK)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	test_sockname_after_bind();
	test_relisten();
	test_reuseport();
	test_linger();
	test_linger_wait();
	test_tcp_info();
	test_oob();
	test_nodelay_while_connecting();
	test_accept_emfile();
	return tap_done();
}
