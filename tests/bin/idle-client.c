/* idle-client HOST PORT: a TCP client that knows nothing about keepalive,
 * standing in for an unmodified program in the broken-network tests.
 *
 * It connects, reads until the server's first line has arrived, prints
 * "ready", then blocks in read() for ever. When that read fails it prints
 *     read: <strerror> (errno N) after X.XXX s
 * and exits 3; on end of file it prints
 *     eof after X.XXX s
 * and exits 0. The time is measured with CLOCK_MONOTONIC from the moment
 * the last byte arrived (or the connection was established, if nothing
 * arrived), so the caller can compare it with idle + interval x count.
 * Usage errors exit 2, a failed lookup or connect exits 1.
 *
 * It never calls setsockopt: whatever keepalive the socket has comes from
 * outside (keepwire) or from the kernel's defaults (none). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr,
		"Usage: idle-client HOST PORT\n"
		"Connect to HOST:PORT, wait for the first line, print \"ready\", then\n"
		"block in read() and report how it ends: \"read: <error> (errno N)\n"
		"after X.XXX s\" (exit 3) or \"eof after X.XXX s\" (exit 0).\n");
	return 2;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "idle-client: %s port %s: %s\n", host, port,
			gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "idle-client: connect to %s port %s: %s\n", host, port,
			strerror(err));
	return fd;
}

int main(int argc, char **argv)
{
	char buf[4096];
	double last;
	int fd, ready = 0;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage();
		return 0;
	}
	if (argc != 3 || argv[1][0] == '\0' || argv[2][0] == '\0')
		return usage();

	fd = connect_to(argv[1], argv[2]);
	if (fd < 0)
		return 1;
	last = now_s();

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			last = now_s();
			if (!ready && memchr(buf, '\n', (size_t)n) != NULL) {
				ready = 1;
				printf("ready\n");
				fflush(stdout);
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			printf("eof after %.3f s\n", now_s() - last);
			fflush(stdout);
			return 0;
		}
		{
			int err = errno;
			printf("read: %s (errno %d) after %.3f s\n", strerror(err), err,
			       now_s() - last);
			fflush(stdout);
		}
		return 3;
	}
}
