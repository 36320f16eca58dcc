/* Direct mode, program side, KEEPWIRE_ENGINE=process: reach the engine
 * process for our TAP device (direct/rendezvous.h), starting one when none
 * listens, once per request: the program keeps no descriptor of ours
 * between requests. The shared region is mapped at the first greeting and
 * mapped again, at the same address, when a request finds another engine
 * (the last one went idle and exited, and a new one was started).
 *
 * The engine is started as `keepwire engine --auto`, found next to this
 * library in a build tree (.libs/..) or in $(bindir), detached from the
 * program: its own session, stdio on /dev/null, no other descriptor of
 * ours, and not through any hook (raw system calls between clone and
 * execve: the program may have other threads holding locks). */
#include "config.h"
#include "preload/direct.h"
#include "direct/engine.h"
#include "direct/fdpass.h"
#include "direct/rendezvous.h"
#include "core/keepalive.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KW_BINDIR
#define KW_BINDIR "/usr/local/bin"
#endif

/* How long a program waits for an engine it started to listen. */
#define ATTACH_WAIT_MS 2000

static int connect_engine(const struct sockaddr_un *sun, socklen_t len)
{
	int fd = kw_libc.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	while (kw_libc.connect(fd, (const struct sockaddr *)sun, len) != 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		kw_libc.close(fd);
		return -e;
	}
	return fd;
}

/* Serialises greetings: a region is mapped (or replaced) by one thread. */
static pthread_mutex_t greet_lock = PTHREAD_MUTEX_INITIALIZER;

/* The engine at the other end of fd: only one of our own user or root
 * gets our requests (anyone can bind an abstract name). Its pid in *pid. */
static int engine_peer(int fd, pid_t *pid, char *err, size_t errlen)
{
	struct ucred cr = { .uid = (uid_t)-1 };
	socklen_t crlen = sizeof(cr);

	if (kw_libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 ||
	    (cr.uid != geteuid() && cr.uid != 0)) {
		snprintf(err, errlen, "the engine's socket is held by another user (uid %d): "
			 "not using it", (int)cr.uid);
		return -1;
	}
	*pid = cr.pid;
	return 0;
}

/* Map the engine's shared region from memfd: where the previous engine's
 * was, when there was one (MAP_FIXED replaces it in one step, so a
 * pointer into it never dangles; that engine had no slot left, or it
 * would not have exited). */
static int map_region(int memfd, char *err, size_t errlen)
{
	struct kw_direct_shared *old = kw_dc.shared;
	void *map;

	map = mmap(old, sizeof(struct kw_direct_shared), PROT_READ | PROT_WRITE,
		   MAP_SHARED | (old != NULL ? MAP_FIXED : 0), memfd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map the engine's socket table: %s", strerror(errno));
		return -1;
	}
	if (old == NULL)
		kw_dc.shared = map;     /* else the same address: other threads read it */
	return 0;
}

/* KW_OP_HELLO on fd: check the engine's answer and map the region it
 * carries. 0, -1 (err says why), or -2: the engine left before its
 * answer (an on-demand engine that was just going idle: try again). */
static int greet(int fd, pid_t pid, char *err, size_t errlen)
{
	struct kw_direct_request rq = { .op = KW_OP_HELLO, .cell = KW_CELL_NONE };
	struct kw_direct_hello h;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int memfd = -1, nfds = 0;
	ssize_t r;

	/* The region's memfd needs a descriptor number: a datagram drops
	 * what does not fit, so make sure of one first. */
	{
		int spare = kw_libc.fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (spare < 0) {
			int e = errno;

			snprintf(err, errlen, "cannot map the engine's socket table: %s",
				 strerror(e));
			errno = e;
			return -1;
		}
		kw_libc.close(spare);
	}
	/* A refused program finds the engine's answer already queued and
	 * the connection closed: the send fails, the answer is read. */
	(void)kw_fd_send(fd, &rq, sizeof(rq), NULL, 0, MSG_NOSIGNAL);
	if (poll(&p, 1, ATTACH_WAIT_MS) != 1) {
		snprintf(err, errlen, "the engine did not answer");
		return -1;
	}
	r = kw_fd_recv(fd, &h, sizeof(h), &memfd, 1, &nfds, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r == 0 || (r < 0 && errno == ECONNRESET)) {
		snprintf(err, errlen, "the engine went away before answering");
		return -2;
	}
	if (r != (ssize_t)sizeof(h) || h.magic != KW_HELLO_MAGIC) {
		snprintf(err, errlen, "the engine's socket gave no hello (%s)",
			 r < 0 ? strerror(errno) : "closed or malformed");
		goto fail;
	}
	if (h.version != KW_HELLO_VERSION || h.shared_size != sizeof(struct kw_direct_shared) ||
	    h.slots != KW_DIRECT_SLOTS || h.cells != KW_DIRECT_CELLS) {
		snprintf(err, errlen, "the running engine is from another keepwire version "
			 "(protocol %u, this library %u): stop it and start this version's",
			 h.version, KW_HELLO_VERSION);
		goto fail;
	}
	if (h.result == -EBUSY) {
		snprintf(err, errlen, "the TAP device is in use by another program's stack thread "
			 "(KEEPWIRE_ENGINE=thread), not by an engine process it could share");
		goto fail;
	}
	if (h.result != 0 || nfds != 1) {
		snprintf(err, errlen, "the engine refused this program: %s (it serves "
			 "only its own user and root)", strerror(h.result ? -h.result : EPROTO));
		goto fail;
	}
	if (map_region(memfd, err, errlen) != 0)
		goto fail;
	kw_libc.close(memfd);
	atomic_store(&kw_dc.engine_pid, pid);
	return 0;
fail:
	if (memfd >= 0)
		kw_libc.close(memfd);
	return -1;
}

/* The keepwire command that belongs to this library. */
static void engine_command(char *buf, size_t len)
{
	Dl_info info;

	if (dladdr((void *)kw_direct_attach, &info) != 0 && info.dli_fname != NULL) {
		const char *slash = strrchr(info.dli_fname, '/');
		size_t dir = slash != NULL ? (size_t)(slash - info.dli_fname) : 0;

		/* A build tree: libtool keeps the library in .libs beside
		 * the command. */
		if (dir >= 6 && strncmp(info.dli_fname + dir - 6, "/.libs", 6) == 0) {
			snprintf(buf, len, "%.*s/keepwire", (int)(dir - 6), info.dli_fname);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "%s/keepwire", KW_BINDIR);
}

static long raw_clone(unsigned long flags)
{
	return syscall(SYS_clone, flags, 0UL, 0UL, 0UL, 0UL);
}

/* In the grandchild, between clone and execve: system calls only. */
static __attribute__((noreturn)) void exec_engine(int report, const char *cmd, char *const *argv,
						   char *const *envp)
{
	sigset_t none;
	long nul;

	if (report != 3) {
		syscall(SYS_dup3, report, 3, 0);
	} else {
		syscall(SYS_fcntl, 3, F_SETFD, 0);
	}
	nul = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR, 0);
	for (int i = 0; i < 3 && nul >= 0; i++)
		if (nul != i)
			syscall(SYS_dup3, (int)nul, i, 0);
	if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
		for (int fd = 4; fd < 65536; fd++)
			syscall(SYS_close, fd);
	}
	sigemptyset(&none);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);
	syscall(SYS_execve, cmd, argv, envp);
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}

/* Start `keepwire engine --auto` for our configuration; 0, or -1 with the
 * reason in err (the engine's own setup error when it wrote one). */
static int start_engine(const struct kw_config *c, char *err, size_t errlen)
{
	char cmd[PATH_MAX], addr[KW_IPV4_TEXT], gw[16], mac[24], mtu[16];
	char *argv[20], *envp[] = { "PATH=/usr/bin:/bin", NULL };
	int n = 0, rep[2];
	long pid;

	engine_command(cmd, sizeof(cmd));
	if (access(cmd, X_OK) != 0) {
		snprintf(err, errlen, "cannot start the engine: %s: %s", cmd, strerror(errno));
		return -1;
	}
	kw_ipv4_net_format(c->address, c->prefix_len, addr, sizeof(addr));
	argv[n++] = cmd;
	argv[n++] = "engine";
	argv[n++] = "--auto";
	argv[n++] = "--report-fd";
	argv[n++] = "3";
	argv[n++] = "--tap";
	argv[n++] = (char *)c->tap_name;
	argv[n++] = "--address";
	argv[n++] = addr;
	if (c->gateway) {
		kw_ipv4_format(c->gateway, gw, sizeof(gw));
		argv[n++] = "--gateway";
		argv[n++] = gw;
	}
	if (c->has_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", c->mac[0], c->mac[1],
			 c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
		argv[n++] = "--mac";
		argv[n++] = mac;
	}
	if (c->has_mtu) {
		snprintf(mtu, sizeof(mtu), "%u", c->mtu);
		argv[n++] = "--mtu";
		argv[n++] = mtu;
	}
	if (c->congestion != KW_CONGESTION_BBR) {
		argv[n++] = "--congestion";
		argv[n++] = (char *)kw_congestion_name(c->congestion);
	}
	argv[n] = NULL;
	if (pipe2(rep, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot start the engine: pipe: %s", strerror(errno));
		return -1;
	}
	/* Exit signal 0: the program gets no SIGCHLD for our helper. */
	pid = raw_clone(0);
	if (pid == 0) {
		syscall(SYS_setsid);
		/* Twice: the engine is nobody's child in the program's tree. */
		if (raw_clone(SIGCHLD) == 0)
			exec_engine(rep[1], cmd, argv, envp);
		syscall(SYS_exit_group, 0);
	}
	kw_libc.close(rep[1]);
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the engine: clone: %s", strerror(errno));
		kw_libc.close(rep[0]);
		return -1;
	}
	while (syscall(SYS_wait4, (pid_t)pid, NULL, __WALL, NULL) < 0 && errno == EINTR)
		;
	/* The engine closes the pipe once it listens, or writes why it could
	 * not start (or exits quietly: another engine won the name). */
	{
		struct pollfd p = { .fd = rep[0], .events = POLLIN };
		char line[320];
		ssize_t r = 0;

		if (poll(&p, 1, ATTACH_WAIT_MS) == 1)
			r = kw_libc.read(rep[0], line, sizeof(line) - 1);
		kw_libc.close(rep[0]);
		if (r > 0) {
			line[r] = '\0';
			snprintf(err, errlen, "the engine could not start: %s", line);
			return -1;
		}
	}
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* fd is connected to the engine: make sure ours is its region. */
static int ready(int fd, char *err, size_t errlen)
{
	pid_t pid;
	int r = 0;

	if (engine_peer(fd, &pid, err, errlen) != 0)
		return -1;
	if (pid == atomic_load(&kw_dc.engine_pid) && kw_dc.shared != NULL)
		return 0;
	pthread_mutex_lock(&greet_lock);
	if (pid != atomic_load(&kw_dc.engine_pid) || kw_dc.shared == NULL)
		r = greet(fd, pid, err, errlen);
	pthread_mutex_unlock(&greet_lock);
	return r;
}

static int ready_or_close(int fd, char *err, size_t errlen)
{
	int r = ready(fd, err, errlen);

	if (r != 0) {
		int e = errno;

		kw_libc.close(fd);
		errno = e;
		return r;
	}
	return fd;
}

/* A connection to the engine, or -1 (err says why), or -2: the engine
 * left before its hello. */
static int channel_once(char *err, size_t errlen)
{
	const struct kw_config *c = &kw_rt.cfg;
	struct sockaddr_un sun;
	char name[128];
	socklen_t len;
	uint64_t until;
	int fd;

	kw_engine_address(c->tap_name, &sun, &len, name, sizeof(name));
	fd = connect_engine(&sun, len);
	if (fd >= 0)
		return ready_or_close(fd, err, errlen);
	if (fd != -ECONNREFUSED && fd != -ENOENT) {
		snprintf(err, errlen, "cannot reach the engine at %s: %s", name, strerror(-fd));
		errno = -fd;
		return -1;
	}
	if (start_engine(c, err, errlen) != 0)
		return -1;
	/* Ours, or the one that won the name when several started at once. */
	until = mono_ms() + ATTACH_WAIT_MS;
	for (;;) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		fd = connect_engine(&sun, len);
		if (fd >= 0)
			return ready_or_close(fd, err, errlen);
		if ((fd != -ECONNREFUSED && fd != -ENOENT) || mono_ms() >= until)
			break;
		nanosleep(&ts, NULL);
	}
	snprintf(err, errlen, "the engine started for it does not answer at %s: %s", name,
		 strerror(-fd));
	return -1;
}

int kw_direct_channel(struct kw_nofile_raise *nr, char *err, size_t errlen)
{
	int r = -2;

	for (int attempt = 0; attempt < 3 && r == -2; attempt++) {
		r = channel_once(err, errlen);
		/* Out of descriptors: the kernel needs none for what the
		 * program asked, so neither do we (kw_nofile_raise). */
		if (r == -1 && errno == EMFILE && !nr->raised && kw_nofile_raise(2, nr) == 0)
			r = -2;
	}
	return r < 0 ? -1 : r;
}

void kw_direct_attach_after_fork(void)
{
	pthread_mutex_init(&greet_lock, NULL);
}

void kw_direct_greet_again(void)
{
	atomic_store(&kw_dc.engine_pid, 0);
}

int kw_direct_attach(struct kw_engine_link *out, char *err, size_t errlen)
{
	struct kw_nofile_raise nr = { .raised = false };
	int fd = kw_direct_channel(&nr, err, errlen);

	if (fd >= 0)
		kw_libc.close(fd);
	kw_nofile_restore(&nr);
	out->shared = kw_dc.shared;
	out->ctl_fd = -1;
	return fd >= 0 ? 0 : -1;
}

bool kw_direct_engine_running(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	kw_engine_address(kw_rt.cfg.tap_name, &sun, &len, NULL, 0);
	fd = connect_engine(&sun, len);
	if (fd < 0)
		return false;
	kw_libc.close(fd);
	return true;
}
