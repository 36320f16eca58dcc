/* keepwire show PID: the TCP sockets of a live process and their
 * keepalive settings, read from the sockets themselves. pidfd_getfd(2)
 * (Linux >= 5.6) gives this process a duplicate of each of the target's
 * socket descriptors, so getsockopt answers exactly what the kernel uses. */
#include "config.h"
#include "cli/cli.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__linux__) && !defined(IPPROTO_MPTCP)
#define IPPROTO_MPTCP 262
#endif

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static int pidfd_getfd_(int pidfd, int fd)
{
#ifdef SYS_pidfd_getfd
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
#else
	(void)pidfd;
	(void)fd;
	errno = ENOSYS;
	return -1;
#endif
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) != 0)
		return -1;
	return v;
}

static const char *tcp_state_name(int fd)
{
	static const char *const names[] = {
		"?", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1",
		"FIN-WAIT-2", "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK",
		"LISTEN", "CLOSING", "NEW-SYN-RECV",
	};
	struct tcp_info info;
	socklen_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
		return "?";
	if (info.tcpi_state < sizeof(names) / sizeof(names[0]))
		return names[info.tcpi_state];
	return "?";
}

static void format_address(const struct sockaddr_storage *ss, socklen_t len,
			   char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0 || ss->ss_family == AF_UNSPEC) {
		snprintf(out, outlen, "-");
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outlen, "?");
	}
}

static void peer_and_local(int fd, char *local, char *peer, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		sl = 0;
	format_address(&ss, sl, local, len);
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		sl = 0;
	format_address(&ss, sl, peer, len);
}

static bool is_tcp(int fd)
{
	int domain = get_int(fd, SOL_SOCKET, SO_DOMAIN);
	int type = get_int(fd, SOL_SOCKET, SO_TYPE);
	int proto = get_int(fd, SOL_SOCKET, SO_PROTOCOL);

	return (domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM &&
	       (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP);
}

static void print_socket(int target_fd, int fd)
{
	char local[80], peer[80], ut[24], idle[16], intvl[16];
	int keepalive = get_int(fd, SOL_SOCKET, SO_KEEPALIVE);
	int user_timeout = get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT);

	peer_and_local(fd, local, peer, sizeof(local));
	if (user_timeout <= 0)
		snprintf(ut, sizeof(ut), "off");
	else
		snprintf(ut, sizeof(ut), "%dms", user_timeout);
	snprintf(idle, sizeof(idle), "%ds", get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE));
	snprintf(intvl, sizeof(intvl), "%ds", get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL));
	printf("%-4d %-12s %-24s %-24s %-9s %-7s %-7s %-4d %s\n",
	       target_fd, tcp_state_name(fd), local, peer,
	       keepalive > 0 ? "on" : "off", idle, intvl,
	       get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), ut);
}

static void print_comm(pid_t pid)
{
	char path[64], comm[64] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fgets(comm, sizeof(comm), f) != NULL)
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	printf("PID %ld (%s)\n", (long)pid, comm);
}

static int fail(pid_t pid, const char *what, int err)
{
	if (err == ESRCH || err == ENOENT)
		fprintf(stderr, "keepwire show: no process with PID %ld\n", (long)pid);
	else if (err == EPERM || err == EACCES)
		fprintf(stderr, "keepwire show: permission denied for PID %ld: %s needs "
			"ptrace access to the process (run as root or as its user; "
			"see kernel.yama.ptrace_scope)\n", (long)pid, what);
	else if (err == ENOSYS)
		fprintf(stderr, "keepwire show: %s is not supported by this kernel "
			"(Linux 5.6 or later is needed)\n", what);
	else
		fprintf(stderr, "keepwire show: PID %ld: %s: %s\n", (long)pid, what,
			strerror(err));
	return 1;
}

static int show(pid_t pid)
{
	char dirpath[64], link[128], path[320];
	int pidfd, shown = 0;
	struct dirent *de;
	DIR *dir;

	pidfd = pidfd_open_(pid);
	if (pidfd < 0)
		return fail(pid, "pidfd_open", errno);
	snprintf(dirpath, sizeof(dirpath), "/proc/%ld/fd", (long)pid);
	dir = opendir(dirpath);
	if (dir == NULL) {
		int err = errno;
		close(pidfd);
		return fail(pid, "reading /proc/PID/fd", err);
	}
	print_comm(pid);
	printf("%-4s %-12s %-24s %-24s %-9s %-7s %-7s %-4s %s\n", "FD", "STATE",
	       "LOCAL", "PEER", "KEEPALIVE", "IDLE", "INTVL", "CNT", "USER_TIMEOUT");
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long target = strtol(de->d_name, &end, 10);
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.' || *end != '\0')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "socket:", 7) != 0)
			continue;
		fd = pidfd_getfd_(pidfd, (int)target);
		if (fd < 0) {
			int err = errno;
			if (err == EBADF)
				continue;	/* closed meanwhile */
			closedir(dir);
			close(pidfd);
			return fail(pid, "pidfd_getfd", err);
		}
		if (is_tcp(fd)) {
			print_socket((int)target, fd);
			shown++;
		}
		close(fd);
	}
	closedir(dir);
	close(pidfd);
	if (shown == 0)
		printf("(no TCP sockets)\n");
	kw_show_stack_of(pid);
	return 0;
}

int kw_show_main(int argc, char **argv)
{
	char *end;
	long pid;

	if (argc == 3 && strcmp(argv[1], "--engine") == 0) {
		char why[320];

		if (kw_show_engine(argv[2], 0, why, sizeof(why)) == 0)
			return 0;
		fprintf(stderr, "keepwire show: %s\n", why);
		return 1;
	}
	if (argc != 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: keepwire show PID\n       keepwire show --engine TAP-DEVICE\n");
		return argc == 2 ? 0 : 2;
	}
	errno = 0;
	pid = strtol(argv[1], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[1] || pid <= 0 || pid > 0x3fffffff) {
		fprintf(stderr, "keepwire show: \"%s\" is not a process ID\n", argv[1]);
		return 2;
	}
	return show((pid_t)pid);
}
