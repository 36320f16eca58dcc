/* The process placement's host around the engine loop: the listening
 * socket, one connection per request, signals, the bound-only sockets'
 * holders, and the lifetime rules (docs/direct-engine.md). Everything else is the engine of
 * direct/engine.c and bridge.c, unchanged. */
#include "config.h"
#include "direct/server.h"
#include "direct/engine_internal.h"
#include "direct/fdpass.h"
#include "direct/rendezvous.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define EV_LISTEN (KW_EV_HOST + 0)
#define EV_SIGNAL (KW_EV_HOST + 1)
#define EV_CLIENT (KW_EV_HOST + 2)      /* + the client's index */

/* How long an auto engine stays with nothing to do before it exits (a
 * program that just started it connects within that time). */
#define IDLE_EXIT_NS (2 * KW_NS_PER_S)
/* Connections of other users at once (each may be idle: they must not
 * use up the engine's descriptors). */
#define FOREIGN_MAX 32
/* At SIGTERM: how long to go on sending what programs wrote (as the
 * thread placement's exit drain). */
#define DRAIN_NS (10 * KW_NS_PER_S)

struct host {
	const struct kw_serve_options *opt;
	int listen_fd, sig_fd;
	/* A descriptor kept for the moment the engine has no other: it is
	 * given up to accept one request's connection, whose descriptors the
	 * engine then cannot receive, so the request is answered EMFILE
	 * (engine.c) instead of waiting in the backlog. -1: in use; the
	 * listener is out of the epoll set (listen_paused) until it is back. */
	int spare_fd;
	bool listen_paused;
	int *client;                   /* descriptors; -1 for a free entry */
	pid_t *client_pid;             /* the process that connected (keepwire show) */
	bool *client_foreign;          /* not the engine's user or root */
	size_t n_client, cap_client, live;
	size_t live_foreign;           /* of them, not the engine's user or root */
	bool draining;
	uint64_t drain_until;
	uint64_t next_check, idle_since;
	uid_t uid;
};

static void report(const struct kw_serve_options *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(const struct kw_serve_options *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->report_fd >= 0)
		(void)!write(o->report_fd, line, strlen(line));
	fprintf(stderr, "keepwire engine: %s\n", line);
}

static int add_watch(int epfd, int fd, uint64_t id)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u64 = id;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void client_close(struct kw_engine *E, struct host *h, size_t i)
{
	if (h->client_foreign[i])
		h->live_foreign--;
	epoll_ctl(E->epfd, EPOLL_CTL_DEL, h->client[i], NULL);
	close(h->client[i]);
	h->client[i] = -1;
	h->live--;
}

/* The same user as the engine, or root: the shared region (the hello) and
 * the listings give a client every connection of the engine. */
static bool peer_allowed(struct host *h, int fd, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	*pid = cr.pid;
	return cr.uid == h->uid || cr.uid == 0;
}

/* Take the spare descriptor back, and listen again if that had stopped. */
static void spare_restore(struct kw_engine *E, struct host *h)
{
	if (h->spare_fd < 0)
		h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (h->spare_fd >= 0 && h->listen_paused && h->listen_fd >= 0 &&
	    add_watch(E->epfd, h->listen_fd, EV_LISTEN) == 0)
		h->listen_paused = false;
}

static void client_accept(struct kw_engine *E, struct host *h)
{
	for (;;) {
		size_t i;
		pid_t pid = 0;
		bool foreign;
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE) && h->spare_fd >= 0) {
			close(h->spare_fd);
			h->spare_fd = -1;
			fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && !h->listen_paused) {
				/* Out of descriptors, the spare in use: no
				 * spinning on a listener that stays readable. */
				epoll_ctl(E->epfd, EPOLL_CTL_DEL, h->listen_fd, NULL);
				h->listen_paused = true;
			}
			return;
		}
		/* Before any request is read: each then names its sender
		 * (reply cells of dead requesters are reaped). */
		kw_engine_channel_init(fd);
		/* Another user may still make requests with the region's key
		 * (a daemon's worker after it dropped privileges: it inherited
		 * the mapping), but not greet or list (engine.c). */
		foreign = !peer_allowed(h, fd, &pid);
		if (foreign && h->live_foreign >= FOREIGN_MAX) {
			close(fd);      /* no user holds the engine's descriptors */
			continue;
		}
		for (i = 0; i < h->n_client && h->client[i] >= 0; i++)
			;
		if (i == h->n_client) {
			if (h->n_client == h->cap_client) {
				size_t cap = h->cap_client ? 2 * h->cap_client : 16;
				int *p = realloc(h->client, cap * sizeof(*p));
				pid_t *q = p ? realloc(h->client_pid, cap * sizeof(*q)) : NULL;
				bool *f = q ? realloc(h->client_foreign, cap * sizeof(*f)) : NULL;
				if (p != NULL)
					h->client = p;
				if (q != NULL)
					h->client_pid = q;
				if (f == NULL) {
					close(fd);
					continue;
				}
				h->client_foreign = f;
				h->cap_client = cap;
			}
			h->n_client++;
		}
		h->client[i] = fd;
		h->client_pid[i] = pid;
		h->client_foreign[i] = foreign;
		h->live_foreign += foreign;
		h->live++;
		if (add_watch(E->epfd, fd, EV_CLIENT + i) != 0)
			client_close(E, h, i);
	}
}

static void client_event(struct kw_engine *E, struct host *h, size_t i, uint32_t events)
{
	int fd = h->client[i], queued = 0;

	if (fd < 0)
		return;
	E->requester_pid = h->client_pid[i];
	E->requester_foreign = h->client_foreign[i];
	if (kw_engine_read_requests(E, fd) < 0) {
		client_close(E, h, i);  /* for another engine: it greets again */
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		/* The requester has its answer, or is gone: what it still
		 * queued is served first. */
		while (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0 &&
		       kw_engine_read_requests(E, fd) == 0)
			queued = 0;
		client_close(E, h, i);
	}
	E->requester_pid = 0;
	E->requester_foreign = false;
}

static void start_drain(struct kw_engine *E, struct host *h)
{
	if (h->draining)
		return;
	h->draining = true;
	h->drain_until = E->now + DRAIN_NS;
	/* No new clients or requests: the name is free for a successor. */
	epoll_ctl(E->epfd, EPOLL_CTL_DEL, h->listen_fd, NULL);
	close(h->listen_fd);
	h->listen_fd = -1;
	for (size_t i = 0; i < h->n_client; i++)
		if (h->client[i] >= 0)
			client_close(E, h, i);
	kw_engine_drain_begin(E);
}

static void host_event(struct kw_engine *E, uint64_t id, uint32_t events)
{
	struct host *h = E->host;

	if (id == EV_LISTEN) {
		if (h->listen_fd >= 0)
			client_accept(E, h);
	} else if (id == EV_SIGNAL) {
		struct signalfd_siginfo si;

		while (read(h->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			start_drain(E, h);
	} else if (id - EV_CLIENT < h->n_client) {
		client_event(E, h, (size_t)(id - EV_CLIENT), events);
	}
}

/* ---- bound sockets -------------------------------------------------------
 * A socket that is only bound has no socketpair end whose last close the
 * engine would see: the program's descriptor is its own kernel socket,
 * whose inode came with the bind. As the kernel frees a bound socket when
 * its last holder closes it or dies, the engine looks once a second
 * whether the process that bound it still holds that inode, and else
 * for any process that does (a forked child, a process it was passed
 * to); none left: the port is free again. Only bound-only sockets, which
 * programs hold for the moment between bind() and listen()/connect(),
 * cost this look. */

/* Whether process pid has a descriptor for socket inode ino: 1 yes, 0 no
 * (or no such process), -1 when its table cannot be read. */
static int pid_holds(pid_t pid, uint64_t ino)
{
	char path[40], link[64], want[40];
	struct dirent *e;
	int found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	while (!found && (e = readdir(d)) != NULL) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			found = strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return found;
}

/* A process that holds socket inode ino, or 0; *unsure when some
 * process's table could not be read (it might be there). */
static pid_t find_holder(uint64_t ino, bool *unsure)
{
	struct dirent *e;
	pid_t found = 0;
	DIR *d = opendir("/proc");

	if (d == NULL) {
		*unsure = true;
		return 0;
	}
	while (found == 0 && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		int r;

		if (*end != '\0' || pid <= 0 || pid == (long)getpid())
			continue;
		r = pid_holds((pid_t)pid, ino);
		if (r > 0)
			found = (pid_t)pid;
		else if (r < 0)
			*unsure = true;
	}
	closedir(d);
	return found;
}

static void check_bound(struct kw_engine *E)
{
	for (uint32_t s = 0; s < KW_DIRECT_SLOTS; s++) {
		struct kw_conn *c = E->conn[s];
		bool unsure = false;
		pid_t holder;

		if (c == NULL || c->kind != KW_SLOT_BOUND || c->sock_ino == 0)
			continue;
		if (c->pid > 0 && pid_holds(c->pid, c->sock_ino) != 0)
			continue;       /* held (or cannot tell) */
		holder = find_holder(c->sock_ino, &unsure);
		if (holder > 0)
			c->pid = holder;
		else if (!unsure)
			kw_conn_free(E, c);
	}
}

/* Nothing for an auto engine to do: no client, no stack socket a program
 * holds, and nothing the stack still has to send, acknowledge or wait out
 * (kw_tcp_layer_count counts closing sockets and TIME-WAIT too). */
static bool idle(struct kw_engine *E, struct host *h)
{
	return h->live == 0 && E->n_free == KW_DIRECT_SLOTS &&
	       kw_tcp_layer_count(kw_stack_tcp(E->stack)) == 0;
}

/* A program connecting at the moment we decide to go: serve it instead.
 * (One connecting after the listener is closed finds no engine and starts
 * one; one caught in between is told by its failed hello and retries.) */
static bool pending_client(struct host *h)
{
	struct pollfd p = { .fd = h->listen_fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static uint64_t host_turn(struct kw_engine *E)
{
	struct host *h = E->host;

	if (h->draining) {
		if (kw_engine_drained(E) || E->now >= h->drain_until)
			E->stop = true;
		return E->now + 5 * KW_NS_PER_MS;
	}
	if (h->spare_fd < 0)
		spare_restore(E, h);
	if (E->now >= h->next_check) {
		/* Once a second: both walk every slot. */
		h->next_check = E->now + KW_NS_PER_S;
		check_bound(E);
		if (!h->opt->auto_exit)
			return h->next_check;
		if (!idle(E, h))
			h->idle_since = 0;
		else if (h->idle_since == 0)
			h->idle_since = E->now;
		else if (E->now - h->idle_since >= IDLE_EXIT_NS && !pending_client(h))
			E->stop = true;
	}
	return h->next_check;
}

static void free_all(struct kw_engine *E, struct host *h)
{
	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++)
		if (E->conn[i] != NULL)
			kw_conn_free(E, E->conn[i]);
	for (size_t i = 0; i < h->n_client; i++)
		if (h->client[i] >= 0)
			close(h->client[i]);
	free(h->client);
	free(h->client_pid);
	free(h->client_foreign);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	if (h->spare_fd >= 0)
		close(h->spare_fd);
	if (h->sig_fd >= 0)
		close(h->sig_fd);
}

int kw_engine_serve(const struct kw_config *cfg, const struct kw_serve_options *o)
{
	struct host h = { .opt = o, .listen_fd = -1, .sig_fd = -1, .spare_fd = -1,
			  .uid = geteuid() };
	struct sockaddr_un sun;
	struct kw_engine *E;
	char err[320], name[128];
	socklen_t len;
	sigset_t sigs;

	signal(SIGPIPE, SIG_IGN);
	/* One descriptor per connection of every program it serves: the
	 * soft limit it inherited (from a program at its own limit, even) is
	 * raised to the hard one, as servers do. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	kw_engine_address(cfg->tap_name, &sun, &len, name, sizeof(name));
	h.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h.listen_fd < 0) {
		report(o, "cannot create the engine's socket: %s", strerror(errno));
		return 1;
	}
	/* The bound name is the lock: one engine per device and namespace.
	 * It is bound before the device is opened, so of two engines started
	 * at once the loser says so instead of finding the device busy. */
	if (bind(h.listen_fd, (struct sockaddr *)&sun, len) != 0) {
		int e = errno;

		close(h.listen_fd);
		if (e == EADDRINUSE && o->auto_exit)
			return 0;       /* the other one serves our starter */
		if (e == EADDRINUSE)
			report(o, "an engine already serves TAP device %s in this network namespace (%s)",
			       cfg->tap_name, name);
		else
			report(o, "cannot bind %s: %s", name, strerror(e));
		return 1;
	}
	E = kw_engine_create(cfg, true, err, sizeof(err));
	if (E == NULL) {
		report(o, "%s", err);
		close(h.listen_fd);
		return 1;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	h.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (h.sig_fd < 0 || listen(h.listen_fd, 128) != 0 ||
	    add_watch(E->epfd, h.listen_fd, EV_LISTEN) != 0 ||
	    add_watch(E->epfd, h.sig_fd, EV_SIGNAL) != 0) {
		report(o, "cannot listen on %s: %s", name, strerror(errno));
		free_all(E, &h);
		kw_engine_destroy(E);
		return 1;
	}
	if (o->report_fd >= 0)
		close(o->report_fd);    /* started: the starter may connect */
	if (!o->auto_exit) {
		fprintf(stderr, "keepwire engine: serving TAP device %s at %s\n",
			cfg->tap_name, name);
		if (kw_tap_txqueue_short(E->tap))
			fprintf(stderr, "keepwire engine: warning: TAP device %s queues only %d "
				"frames for the stack and keepwire may not lengthen it; under "
				"load the kernel drops what does not fit, and its senders "
				"retransmit: ip link set %s txqueuelen 10000\n",
				cfg->tap_name, kw_tap_txqueue_len(E->tap), cfg->tap_name);
	}
	h.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	E->host = &h;
	E->host_event = host_event;
	E->host_turn = host_turn;
	h.next_check = E->now + KW_NS_PER_S;
	kw_engine_run(E);
	free_all(E, &h);
	kw_engine_destroy(E);       /* gives the device back as found */
	return 0;
}
