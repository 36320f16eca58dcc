/* keepwire show --engine IF, and the stack section of keepwire show PID:
 * the connections of keepwire's own stack, asked from the engine process
 * that serves the TAP device (KW_OP_DUMP over its rendezvous socket; see
 * docs/direct-engine.md). The engine writes the listing into a pipe whose
 * write end travels with the request; we copy it to stdout. */
#define _GNU_SOURCE
#include "config.h"
#include "cli/cli.h"
#include "direct/fdpass.h"
#include "direct/proto.h"
#include "direct/rendezvous.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connected to the engine and past its hello, or -1 with a message. */
static int attach(const char *tap, char *why, size_t whylen)
{
	struct sockaddr_un sun;
	struct kw_direct_hello hello;
	char shown[128];
	socklen_t len;
	int fd, memfd = -1, n = 0;
	ssize_t r;

	kw_engine_address(tap, &sun, &len, shown, sizeof(shown));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, len) != 0) {
		snprintf(why, whylen, "no engine process serves TAP device %s in this network "
			 "namespace (%s: %s)", tap, shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	{
		struct kw_direct_request rq = { .op = KW_OP_HELLO, .cell = KW_CELL_NONE };

		r = kw_fd_send(fd, &rq, sizeof(rq), NULL, 0, MSG_NOSIGNAL);
	}
	if (r == (ssize_t)sizeof(struct kw_direct_request))
		r = kw_fd_recv(fd, &hello, sizeof(hello), &memfd, 1, &n, MSG_CMSG_CLOEXEC);
	if (n == 1)
		close(memfd);           /* the shared region: not needed to list */
	/* -EBUSY: a program's stack thread (KEEPWIRE_ENGINE=thread), which
	 * answers listings only. */
	if (r != (ssize_t)sizeof(hello) || hello.magic != KW_HELLO_MAGIC ||
	    hello.version != KW_HELLO_VERSION || (hello.result != 0 && hello.result != -EBUSY)) {
		snprintf(why, whylen, "the engine at %s refused us (%s)", shown,
			 r == (ssize_t)sizeof(hello) && hello.result != 0 ? strerror(-hello.result)
									  : "another version");
		close(fd);
		return -1;
	}
	return fd;
}

/* The engine's listing (KW_OP_DUMP with flags) into *text (malloc'd,
 * NUL-terminated), or -1 with why. */
static int listing(const char *tap, pid_t only, uint16_t flags, char **text, char *why,
		   size_t whylen)
{
	struct kw_direct_request rq = { .op = KW_OP_DUMP, .cell = KW_CELL_NONE };
	char buf[8192];
	int fd = attach(tap, why, whylen), p[2];
	size_t len = 0;
	FILE *out;
	ssize_t r;

	if (fd < 0)
		return -1;
	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		close(fd);
		return -1;
	}
	rq.addr = (uint32_t)only;
	rq.port = flags;
	if (kw_fd_send(fd, &rq, sizeof(rq), &p[1], 1, 0) != (ssize_t)sizeof(rq)) {
		snprintf(why, whylen, "cannot ask the engine: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		close(fd);
		return -1;
	}
	close(p[1]);
	out = open_memstream(text, &len);
	while (out != NULL && ((r = read(p[0], buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0 && fwrite(buf, 1, (size_t)r, out) != (size_t)r)
			break;
	close(p[0]);
	close(fd);
	if (out == NULL || fclose(out) != 0) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int kw_show_engine(const char *tap, pid_t only, char *why, size_t whylen)
{
	char *text = NULL;

	if (listing(tap, only, 0, &text, why, whylen) != 0)
		return -1;
	fputs(text, stdout);
	free(text);
	return 0;
}

/* The descriptors of pid that are sockets, by inode. */
struct held {
	unsigned long long ino;
	int fd;
};

static size_t sockets_of(pid_t pid, struct held **out)
{
	char path[64], link[64];
	struct held *h = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	*out = NULL;
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		char p[sizeof(path) + 260];
		unsigned long long ino;
		ssize_t k;

		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		k = readlink(p, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1)
			continue;
		if (n == cap) {
			struct held *m = realloc(h, (cap = cap ? 2 * cap : 16) * sizeof(*h));
			if (m == NULL)
				break;
			h = m;
		}
		h[n].ino = ino;
		h[n].fd = atoi(de->d_name);
		n++;
	}
	closedir(dir);
	*out = h;
	return n;
}

/* The engine's lines (each ending with the program end's inode) for the
 * connections pid holds a descriptor of, or made: "FD" in front (the
 * descriptor numbers, "-" for a connection it made but no longer holds),
 * the inode dropped. */
static void print_held(const char *text, pid_t pid, const struct held *h, size_t n)
{
	const char *line = text;
	bool header = true;
	unsigned shown = 0;

	while (*line != '\0') {
		const char *nl = strchr(line, '\n'), *sp;
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		unsigned long long ino;
		char fds[64] = "";
		size_t off = 0;
		long maker = 0;
		const char *pidcol;

		/* The last column is the inode, the one before it the maker. */
		for (sp = line + len; sp > line && sp[-1] != ' '; sp--)
			;
		ino = strtoull(sp, NULL, 10);
		for (pidcol = sp > line ? sp - 1 : line; pidcol > line && pidcol[-1] != ' '; pidcol--)
			;
		maker = strtol(pidcol, NULL, 10);
		if (header) {
			printf("%-6s %.*s\n", "FD", (int)(sp > line ? sp - line - 1 : 0), line);
			header = false;
		} else {
			for (size_t i = 0; i < n && ino != 0; i++)
				if (h[i].ino == ino && off + 12 < sizeof(fds))
					off += (size_t)snprintf(fds + off, sizeof(fds) - off, "%s%d",
								off ? "," : "", h[i].fd);
			if (off == 0 && maker == (long)pid)
				snprintf(fds, sizeof(fds), "-");
			if (fds[0] != '\0') {
				printf("%-6s %.*s\n", fds, (int)(sp > line ? sp - line - 1 : 0), line);
				shown++;
			}
		}
		line += len + (nl != NULL);
	}
	if (shown == 0)
		printf("(no stack connections)\n");
}

/* The TAP device a process runs direct mode on, from its environment
 * (KEEPWIRE_MODE=direct and KEEPWIRE_TAP), or false. */
static bool direct_tap_of(pid_t pid, char *tap, size_t taplen)
{
	char path[64], *env = NULL;
	size_t cap = 0, len = 0;
	bool direct = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	tap[0] = '\0';
	while ((len = (size_t)getdelim(&env, &cap, '\0', f)) != (size_t)-1 && len > 0) {
		if (strcasecmp(env, "KEEPWIRE_MODE=direct") == 0)
			direct = true;
		else if (strncmp(env, "KEEPWIRE_TAP=", 13) == 0)
			snprintf(tap, taplen, "%s", env + 13);
	}
	free(env);
	fclose(f);
	return direct && tap[0] != '\0';
}

void kw_show_stack_of(pid_t pid)
{
	char tap[64], why[320], path[64], *text = NULL;
	struct held *h = NULL;
	size_t n;
	int ns;

	if (!direct_tap_of(pid, tap, sizeof(tap)))
		return;
	printf("\nkeepwire's stack on TAP device %s (this process's descriptors):\n", tap);
	/* The engine's name is in the target's network namespace. */
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
		printf("(cannot enter its network namespace: %s)\n", strerror(errno));
		if (ns >= 0)
			close(ns);
		return;
	}
	close(ns);
	/* Every connection: a forked child or an exec'd image holds ones
	 * another process made. */
	n = sockets_of(pid, &h);
	if (listing(tap, 0, KW_DUMP_INODES, &text, why, sizeof(why)) != 0)
		printf("(%s)\n", why);
	else
		print_held(text, pid, h, n);
	free(text);
	free(h);
}
