/* Helpers for tests/direct/process.t (the engine as a process of its own).
 * Kernel-side modes run in the test's namespace without keepwire; program
 * modes run under libkeepwire.so with KEEPWIRE_ENGINE=process. Addresses
 * from KW_T_KERNEL (the kernel's end of the TAP device).
 *
 *   reader PORT GOFILE   kernel: listen (small receive buffer), print
 *                        "listening", accept one connection, wait until
 *                        GOFILE exists, then read to EOF checking the byte
 *                        pattern; print "<bytes> pattern-ok|pattern-bad"
 *   writer PORT          program: connect, write the pattern without
 *                        blocking until nothing more fits for 1 s, print
 *                        the count, exit without closing
 *   server PORT          kernel: listen, print "listening", accept one,
 *                        send "hello" and close (the kernel closes first)
 *   fetch PORT           program: connect, read to EOF, print what came
 *   pump PORT BYTES      program: connect, write BYTES of the pattern,
 *                        shut down, print the count
 *   sink PORT            kernel: listen, print "listening", accept one,
 *                        read to EOF, print "<bytes> pattern-ok|bad" */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *kernel_addr;

static unsigned char pattern(unsigned long long i)
{
	return (unsigned char)((i * 7) % 251);
}

static struct sockaddr_in addr_of(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, kernel_addr, &a.sin_addr);
	return a;
}

static int kernel_listen(int port, int rcvbuf)
{
	struct sockaddr_in a = addr_of(port);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0) {
		perror("listen");
		exit(2);
	}
	printf("listening\n");
	fflush(stdout);
	return fd;
}

static int program_connect(int port)
{
	struct sockaddr_in a = addr_of(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		printf("connect: %s\n", strerror(errno));
		exit(3);
	}
	return fd;
}

/* Read to EOF, checking the pattern; prints the count. */
static int drain(int fd)
{
	static unsigned char buf[65536];
	unsigned long long n = 0;
	bool good = true;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			printf("%llu read: %s\n", n, strerror(errno));
			return 1;
		}
		for (ssize_t i = 0; i < r; i++)
			good &= buf[i] == pattern(n + (unsigned long long)i);
		n += (unsigned long long)r;
	}
	printf("%llu %s\n", n, good ? "pattern-ok" : "pattern-bad");
	return good ? 0 : 1;
}

static int reader(int port, const char *go)
{
	int l = kernel_listen(port, 4096), fd;
	struct stat st;

	alarm(60);
	fd = accept(l, NULL, NULL);
	if (fd < 0)
		return 2;
	while (stat(go, &st) != 0)
		usleep(20 * 1000);
	return drain(fd);
}

static int writer(int port)
{
	static unsigned char buf[16384];
	unsigned long long n = 0;
	int fd = program_connect(port);

	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(n + i);
		w = write(fd, buf, sizeof(buf));
		if (w > 0) {
			n += (unsigned long long)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			return 4;
		if (poll(&p, 1, 1000) == 0)
			break;          /* the slow reader holds everything up */
	}
	printf("%llu\n", n);
	fflush(stdout);
	return 0;                      /* exit with the socket open, data unsent */
}

static int server(int port)
{
	int l = kernel_listen(port, 0), fd;

	alarm(60);
	fd = accept(l, NULL, NULL);
	if (fd < 0 || write(fd, "hello\n", 6) != 6)
		return 2;
	close(fd);
	return 0;
}

static int fetch(int port)
{
	char buf[64];
	size_t got = 0;
	ssize_t r;
	int fd = program_connect(port);

	while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	fputs(buf, stdout);
	close(fd);
	return 0;
}

static int pump(int port, unsigned long long bytes)
{
	static unsigned char buf[65536];
	unsigned long long n = 0;
	int fd = program_connect(port);

	while (n < bytes) {
		size_t len = bytes - n < sizeof(buf) ? (size_t)(bytes - n) : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < len; i++)
			buf[i] = pattern(n + i);
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 4;
		n += (unsigned long long)w;
	}
	shutdown(fd, SHUT_WR);
	printf("%llu\n", n);
	close(fd);
	return 0;
}

static int sink(int port)
{
	int l = kernel_listen(port, 0), fd;

	alarm(60);
	fd = accept(l, NULL, NULL);
	return fd < 0 ? 2 : drain(fd);
}

int main(int argc, char **argv)
{
	kernel_addr = getenv("KW_T_KERNEL");
	if (kernel_addr == NULL || argc < 3) {
		fprintf(stderr, "run by tests/direct/process.t\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "reader") == 0 && argc == 4)
		return reader(atoi(argv[2]), argv[3]);
	if (strcmp(argv[1], "writer") == 0)
		return writer(atoi(argv[2]));
	if (strcmp(argv[1], "server") == 0)
		return server(atoi(argv[2]));
	if (strcmp(argv[1], "fetch") == 0)
		return fetch(atoi(argv[2]));
	if (strcmp(argv[1], "pump") == 0 && argc == 4)
		return pump(atoi(argv[2]), strtoull(argv[3], NULL, 10));
	if (strcmp(argv[1], "sink") == 0)
		return sink(atoi(argv[2]));
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
