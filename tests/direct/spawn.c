/* Helper for tests/direct/daemons.t: children started with posix_spawn and
 * vfork+execve while the parent holds a stack connection. Addresses from
 * KW_T_KERNEL (the kernel's end of the TAP device) and KW_T_STACK.
 *
 *   peer PORT          kernel: listen, print "listening", accept one,
 *                      print "accepted ADDR", then every line that comes,
 *                      answering "pong" to "parent"; "eof" at the end
 *   parent PORT        program (under keepwire): connect; a posix_spawn
 *                      child writes "spawn" on the inherited descriptor and
 *                      closes it; one through file actions (dup2 to 41,
 *                      close the original) writes "spawn-dup"; a vfork
 *                      child dup2()s it to 40 and to 1, close()s the
 *                      original, then execs and writes "vfork" on 40. The
 *                      parent checks its descriptor is still the stack
 *                      socket (and 1 and 40 are not), writes "parent" and
 *                      reads "pong". One "ok ..." or "fail ..." line each.
 *   child FD WORD      the exec'd image: write "WORD\n" on FD, close it */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int failures;

static void check(int cond, const char *what)
{
	printf("%s %s\n", cond ? "ok" : "fail", what);
	fflush(stdout);
	if (!cond)
		failures++;
}

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static int peer(const char *kaddr, int port)
{
	struct sockaddr_in a = addr_of(kaddr, port), from;
	socklen_t fl = sizeof(from);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), s;
	char line[256];
	FILE *in;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4) != 0) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	s = accept(l, (struct sockaddr *)&from, &fl);
	if (s < 0) {
		perror("accept");
		return 1;
	}
	printf("accepted %s\n", inet_ntoa(from.sin_addr));
	fflush(stdout);
	in = fdopen(dup(s), "r");
	while (fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\n")] = 0;
		printf("%s\n", line);
		fflush(stdout);
		if (strcmp(line, "parent") == 0 && write(s, "pong\n", 5) != 5)
			perror("write");
	}
	printf("eof\n");
	return 0;
}

static int child(int fd, const char *word)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s\n", word);

	if (write(fd, buf, (size_t)n) != n) {
		perror("child write");
		return 1;
	}
	return close(fd) == 0 ? 0 : 1;
}

static int waited(pid_t pid)
{
	int st;

	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* fd is the stack socket connected from KW_T_STACK to KW_T_KERNEL:port. */
static int is_stack_socket(int fd, const char *saddr, const char *kaddr, int port)
{
	struct sockaddr_in me, them;
	socklen_t ml = sizeof(me), tl = sizeof(them);
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&me, &ml) != 0 || me.sin_family != AF_INET ||
	    getpeername(fd, (struct sockaddr *)&them, &tl) != 0 || them.sin_family != AF_INET)
		return 0;
	inet_ntop(AF_INET, &me.sin_addr, a, sizeof(a));
	inet_ntop(AF_INET, &them.sin_addr, b, sizeof(b));
	return strcmp(a, saddr) == 0 && strcmp(b, kaddr) == 0 && ntohs(them.sin_port) == port;
}

static int parent(const char *self, const char *kaddr, const char *saddr, int port)
{
	struct sockaddr_in a = addr_of(kaddr, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char fds[16], reply[16];
	char *argv[5];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	ssize_t n;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("connect");
		return 1;
	}
	check(is_stack_socket(fd, saddr, kaddr, port), "connected over the stack");

	/* posix_spawn, the descriptor inherited as it is. */
	snprintf(fds, sizeof(fds), "%d", fd);
	argv[0] = (char *)self; argv[1] = "child"; argv[2] = fds; argv[3] = "spawn"; argv[4] = NULL;
	check(posix_spawn(&pid, self, NULL, NULL, argv, environ) == 0 && waited(pid),
	      "posix_spawn child wrote on the inherited descriptor and closed it");

	/* posix_spawn with file actions: dup2 to 41, close the original. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 41);
	posix_spawn_file_actions_addclose(&fa, fd);
	argv[2] = "41"; argv[3] = "spawn-dup";
	check(posix_spawn(&pid, self, &fa, NULL, argv, environ) == 0 && waited(pid),
	      "posix_spawn child (dup2 to 41, close the original) wrote on 41");
	posix_spawn_file_actions_destroy(&fa);

	/* vfork: the child shares the parent's memory until execve, so what
	 * its dup2/close hooks record must not land in the parent's tables. */
	argv[2] = "40"; argv[3] = "vfork";
	pid = vfork();
	if (pid == 0) {
		if (dup2(fd, 40) != 40 || dup2(fd, 1) != 1 || close(fd) != 0)
			_exit(3);
		execve(self, argv, environ);
		_exit(4);
	}
	check(waited(pid), "vfork child (dup2 to 40 and 1, close the original) wrote on 40");

	check(is_stack_socket(fd, saddr, kaddr, port),
	      "the parent's descriptor is still its stack socket after the children");
	{
		struct sockaddr_in x;
		socklen_t xl = sizeof(x);

		/* stdout is a file or pipe here: the kernel says ENOTSOCK. */
		check(getsockname(1, (struct sockaddr *)&x, &xl) != 0 && errno == ENOTSOCK,
		      "the parent's descriptor 1 is not taken for a stack socket");
		xl = sizeof(x);
		check(getsockname(40, (struct sockaddr *)&x, &xl) != 0 && errno == EBADF,
		      "the parent's descriptor 40 is not taken for a stack socket");
	}
	check(write(fd, "parent\n", 7) == 7, "the parent writes on its connection");
	n = read(fd, reply, sizeof(reply) - 1);
	reply[n > 0 ? n : 0] = 0;
	check(strcmp(reply, "pong\n") == 0, "... and reads the peer's answer");
	check(shutdown(fd, SHUT_WR) == 0, "... and shuts it down");
	n = read(fd, reply, sizeof(reply));
	check(n == 0, "... then reads the peer's end of stream");
	close(fd);
	return failures != 0;
}

int main(int argc, char **argv)
{
	const char *kaddr = getenv("KW_T_KERNEL"), *saddr = getenv("KW_T_STACK");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "child") == 0)
		return child(atoi(argv[2]), argv[3]);
	if (kaddr == NULL)
		return 2;
	if (argc == 3 && strcmp(argv[1], "peer") == 0)
		return peer(kaddr, atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "parent") == 0 && saddr != NULL)
		return parent(argv[0], kaddr, saddr, atoi(argv[2]));
	fprintf(stderr, "usage: spawn peer|parent PORT | child FD WORD\n");
	return 2;
}
