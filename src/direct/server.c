/* The process placement's host around the engine loop: the listening
 * socket, one connection per client process tree, signals, and the
 * lifetime rules (docs/direct-engine.md). Everything else is the engine of
 * direct/engine.c and bridge.c, unchanged. */
#include "config.h"
#include "direct/server.h"
#include "direct/engine_internal.h"
#include "direct/fdpass.h"
#include "direct/rendezvous.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define EV_LISTEN (KW_EV_HOST + 0)
#define EV_SIGNAL (KW_EV_HOST + 1)
#define EV_CLIENT (KW_EV_HOST + 2)      /* + the client's index */

/* How long an auto engine stays with nothing to do before it exits (a
 * program that just started it connects within that time). */
#define IDLE_EXIT_NS (2 * KW_NS_PER_S)
/* At SIGTERM: how long to go on sending what programs wrote (as the
 * thread placement's exit drain). */
#define DRAIN_NS (10 * KW_NS_PER_S)

struct host {
	const struct kw_serve_options *opt;
	int listen_fd, sig_fd;
	int *client;                   /* descriptors; -1 for a free entry */
	pid_t *client_pid;             /* the process that connected (keepwire show) */
	size_t n_client, cap_client, live;
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
	/* Sockets it bound and never used (connections and listeners end
	 * with the program's ends; a bound one has none): as the kernel frees
	 * a dead process's bound sockets. */
	for (uint32_t s = 0; s < KW_DIRECT_SLOTS; s++) {
		struct kw_conn *c = E->conn[s];

		if (c != NULL && c->kind == KW_SLOT_BOUND && c->owner == i + 1)
			kw_conn_free(E, c);
	}
	epoll_ctl(E->epfd, EPOLL_CTL_DEL, h->client[i], NULL);
	close(h->client[i]);
	h->client[i] = -1;
	h->live--;
}

/* The same user as the engine, or root: the shared region and the
 * requests give a client every connection of the engine. */
static bool peer_allowed(struct host *h, int fd, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	*pid = cr.pid;
	return cr.uid == h->uid || cr.uid == 0;
}

static void client_accept(struct kw_engine *E, struct host *h)
{
	for (;;) {
		struct kw_direct_hello hello = {
			.magic = KW_HELLO_MAGIC, .version = KW_HELLO_VERSION,
			.shared_size = sizeof(struct kw_direct_shared),
			.slots = KW_DIRECT_SLOTS, .cells = KW_DIRECT_CELLS,
		};
		size_t i;
		pid_t pid = 0;
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;         /* EAGAIN, or out of descriptors: later */
		}
		/* Before the hello: every request it then carries names its
		 * sender (reply cells of dead requesters are reaped). */
		kw_engine_channel_init(fd);
		if (!peer_allowed(h, fd, &pid)) {
			hello.result = -EACCES;
			kw_fd_send(fd, &hello, sizeof(hello), NULL, 0, MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (kw_fd_send(fd, &hello, sizeof(hello), &E->shared_fd, 1, MSG_DONTWAIT) !=
		    (ssize_t)sizeof(hello)) {
			close(fd);
			continue;
		}
		for (i = 0; i < h->n_client && h->client[i] >= 0; i++)
			;
		if (i == h->n_client) {
			if (h->n_client == h->cap_client) {
				size_t cap = h->cap_client ? 2 * h->cap_client : 16;
				int *p = realloc(h->client, cap * sizeof(*p));
				pid_t *q = p ? realloc(h->client_pid, cap * sizeof(*q)) : NULL;
				if (p != NULL)
					h->client = p;
				if (q == NULL) {
					close(fd);
					continue;
				}
				h->client_pid = q;
				h->cap_client = cap;
			}
			h->n_client++;
		}
		h->client[i] = fd;
		h->client_pid[i] = pid;
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
	E->requester = (uint32_t)i + 1;
	E->requester_pid = h->client_pid[i];
	kw_engine_read_requests(E, fd);
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* Every process holding this connection is gone: what it
		 * still queued is served first (a close's release, a linger). */
		while (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0) {
			kw_engine_read_requests(E, fd);
			queued = 0;
		}
		client_close(E, h, i);
	}
	E->requester = 0;
	E->requester_pid = 0;
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
	if (!h->opt->auto_exit)
		return KW_TIME_NEVER;
	if (E->now >= h->next_check) {
		/* Once a second: counting the stack's sockets walks them all. */
		h->next_check = E->now + KW_NS_PER_S;
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
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	if (h->sig_fd >= 0)
		close(h->sig_fd);
}

int kw_engine_serve(const struct kw_config *cfg, const struct kw_serve_options *o)
{
	struct host h = { .opt = o, .listen_fd = -1, .sig_fd = -1, .uid = geteuid() };
	struct sockaddr_un sun;
	struct kw_engine *E;
	char err[320], name[128];
	socklen_t len;
	sigset_t sigs;

	signal(SIGPIPE, SIG_IGN);
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
	E->host = &h;
	E->host_event = host_event;
	E->host_turn = host_turn;
	h.next_check = E->now + KW_NS_PER_S;
	kw_engine_run(E);
	free_all(E, &h);
	kw_engine_destroy(E);       /* gives the device back as found */
	return 0;
}
