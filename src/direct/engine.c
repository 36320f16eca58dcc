/* The engine thread: one loop over epoll (the TAP fd, the request pair,
 * every connection's end), the stack's timers, and the requests programs
 * send. It holds E->lock while it works and releases it while it waits,
 * so fork() (which takes the lock in its prepare handler) always copies a
 * consistent engine into the child, which then closes the engine's
 * descriptors: only the process that started the engine runs it. */
#include "config.h"
#include "direct/engine.h"
#include "direct/engine_internal.h"
#include "direct/fdpass.h"
#include "direct/rendezvous.h"
#include "direct/thread_show.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct kw_engine *engine;    /* the engine this process runs, if any */

/* How long the engine keeps looking for work after its last event before
 * it sleeps in epoll_wait. */
#define KW_ENGINE_SPIN_NS (50 * KW_NS_PER_US)
#define KW_NS_PER_US UINT64_C(1000)

/* The timestamp offsets' secret (stack.h, ts_seed): the same for every
 * engine until the machine reboots. It comes from the kernel's boot id,
 * which local users can read: what it keys is no secret of security
 * (RFC 7323 §7.1 hides uptime from peers; ISNs keep their own random
 * key). 0 (the stack's own seed) when there is no boot id. */
static uint64_t boot_secret(void)
{
	char id[64];
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	ssize_t n = 0;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, id, sizeof(id));
		close(fd);
	}
	if (n < 16)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)id[i]) * UINT64_C(0x100000001b3);
	h ^= h >> 31;
	h *= UINT64_C(0x7fb5d329728ea185);
	h ^= h >> 27;
	return h | 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * KW_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The system call itself: in the thread placement a plain epoll_wait()
 * would reach libkeepwire's own hook: busy polling (KEEPWIRE_BUSY_POLL)
 * is for the program; the engine has its own (KW_ENGINE_SPIN_NS). */
static int engine_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout, NULL, 0);
}

static void notify(void *ctx, struct kw_tcp *sock)
{
	struct kw_engine *E = ctx;
	struct kw_conn *c = kw_tcp_user(sock);

	if (c != NULL)
		kw_conn_mark(E, c);
}

/* ---- requests ---------------------------------------------------------- */

void kw_engine_reply(struct kw_engine *E, uint32_t cell, int32_t result, uint32_t slot, uint32_t gen)
{
	struct kw_reply *r;

	if (cell >= KW_DIRECT_CELLS)
		return;
	r = &E->shared->cell[cell];
	r->result = result;
	r->slot = slot;
	r->gen = gen;
	atomic_store_explicit(&r->state, KW_CELL_DONE, memory_order_release);
	syscall(SYS_futex, &r->state, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The connection a request names, if it still is the one the program saw. */
static struct kw_conn *named(struct kw_engine *E, const struct kw_direct_request *rq)
{
	struct kw_conn *c;

	if (rq->slot >= KW_DIRECT_SLOTS)
		return NULL;
	c = E->conn[rq->slot];
	if (c == NULL || (atomic_load(&E->shared->slot[rq->slot].gen) & 0xffffu) != (rq->gen & 0xffffu))
		return NULL;
	return c;
}

static uint32_t gen_of(struct kw_engine *E, const struct kw_conn *c)
{
	return atomic_load(&E->shared->slot[c->slot].gen);
}

/* A listener or bound socket whose program closed every copy of its end
 * still holds its port until the loop reads the hang-up. The program's
 * close() has returned before it asked for this bind, so the hang-up is
 * visible now: reap such sockets on that port before saying EADDRINUSE
 * (close, then bind and listen again at once, works on the kernel). */
static bool reap_closed_on_port(struct kw_engine *E, uint16_t port)
{
	bool reaped = false;

	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++) {
		struct kw_conn *c = E->conn[i];
		struct pollfd p;
		uint32_t a;
		uint16_t lp;

		if (c == NULL || c->kind != KW_SLOT_LISTENER || c->tcp == NULL || c->fd < 0)
			continue;
		kw_tcp_local(c->tcp, &a, &lp);
		p = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		if (lp != port || poll(&p, 1, 0) != 1 || !(p.revents & (POLLHUP | POLLERR)))
			continue;
		kw_conn_free(E, c);
		reaped = true;
	}
	return reaped;
}

static int op_bind(struct kw_engine *E, const struct kw_direct_request *rq, struct kw_conn **out)
{
	struct kw_tcp *t;
	struct kw_conn *c;
	int r = kw_tcp_open(kw_stack_tcp(E->stack), &t);

	if (r < 0)
		return r;
	kw_tcp_set_reuseport(t, rq->reuseport != 0);
	r = kw_tcp_bind(t, rq->addr, rq->port);
	if (r == -EADDRINUSE && rq->port != 0 && reap_closed_on_port(E, rq->port))
		r = kw_tcp_bind(t, rq->addr, rq->port);
	if (r < 0) {
		kw_tcp_close(t, E->now);
		return r;
	}
	c = kw_conn_new(E, KW_SLOT_BOUND);
	if (c == NULL) {
		kw_tcp_close(t, E->now);
		return -ENOBUFS;
	}
	c->tcp = t;
	c->sock_ino = rq->sock_ino;
	kw_tcp_set_user(t, c);
	kw_conn_publish(E, c);
	atomic_store(&E->shared->slot[c->slot].reuseport, rq->reuseport != 0);
	*out = c;
	return 0;
}

static int op_connect(struct kw_engine *E, const struct kw_direct_request *rq,
		      const int *fds, int nfds, struct kw_conn **out)
{
	struct kw_conn *c = NULL;
	struct kw_tcp *t;
	int r;

	if (nfds != 1)
		return -EINVAL;
	if (rq->slot != UINT32_MAX) {
		c = named(E, rq);
		if (c == NULL || c->kind != KW_SLOT_BOUND)
			return -EBADF;
	} else {
		r = kw_tcp_open(kw_stack_tcp(E->stack), &t);
		if (r < 0)
			return r;
		c = kw_conn_new(E, KW_SLOT_STREAM);
		if (c == NULL) {
			kw_tcp_close(t, E->now);
			return -ENOBUFS;
		}
		c->tcp = t;
		kw_tcp_set_user(t, c);
	}
	c->kind = KW_SLOT_STREAM;
	kw_conn_apply_opts(E, c, &rq->opts);
	r = kw_tcp_connect(c->tcp, rq->addr, rq->port, E->now);
	if (r != -EINPROGRESS && r != 0) {
		kw_conn_free(E, c);
		return r;
	}
	atomic_store_explicit(&E->shared->slot[c->slot].kind, KW_SLOT_STREAM, memory_order_release);
	c->fd = fds[0];
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	kw_conn_oob_inline(c);
	c->filler_left = rq->filler;
	atomic_store(&E->shared->slot[c->slot].sndbuf, rq->sndbuf);
	c->connecting = true;
	kw_conn_publish(E, c);
	/* In the set from now on (no interest yet): its end is ours to watch. */
	kw_conn_watch(E, c, 0);
	kw_conn_mark(E, c);
	*out = c;
	return -EINPROGRESS;
}

static int op_listen(struct kw_engine *E, const struct kw_direct_request *rq,
		     const int *fds, int nfds, struct kw_conn **out)
{
	struct kw_conn *c = named(E, rq);
	int r;

	if (nfds != 1)
		return -EINVAL;
	if (c == NULL || c->kind != KW_SLOT_BOUND)
		return -EBADF;
	r = kw_tcp_listen(c->tcp, rq->backlog);
	if (r < 0)
		return r;
	c->kind = KW_SLOT_LISTENER;
	c->fd = fds[0];
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	kw_conn_apply_opts(E, c, &rq->opts);
	atomic_store_explicit(&E->shared->slot[c->slot].kind, KW_SLOT_LISTENER, memory_order_release);
	kw_conn_watch(E, c, 0);
	kw_conn_mark(E, c);
	*out = c;
	return 0;
}

/* Seconds as the kernel takes them for TCP_KEEP*: 1..32767. */
static int keep_seconds(int32_t v, uint32_t *ms)
{
	if (v < 1 || v > 32767)
		return -EINVAL;
	*ms = (uint32_t)v * 1000u;
	return 0;
}

static int op_setopt(struct kw_engine *E, const struct kw_direct_request *rq)
{
	struct kw_conn *c = named(E, rq);
	struct kw_direct_opts o;
	int r = 0;

	if (c == NULL)
		return -EBADF;
	o = c->opts;
	if (rq->level == SOL_SOCKET && rq->name == SO_KEEPALIVE) {
		o.keepalive = rq->value != 0;
	} else if (rq->level == SOL_SOCKET && rq->name == SO_LINGER) {
		o.linger_on = rq->value != 0;
		o.linger_s = rq->value2 < 0 ? 0 : rq->value2;
	} else if (rq->level == IPPROTO_TCP) {
		switch (rq->name) {
		case TCP_KEEPIDLE:
			r = keep_seconds(rq->value, &o.idle_ms);
			break;
		case TCP_KEEPINTVL:
			r = keep_seconds(rq->value, &o.interval_ms);
			break;
		case TCP_KEEPCNT:
			if (rq->value < 1 || rq->value > 127)
				r = -EINVAL;
			else
				o.count = (uint32_t)rq->value;
			break;
		case TCP_NODELAY:
			o.nodelay = rq->value != 0;
			break;
		case TCP_USER_TIMEOUT:
			if (rq->value < 0)
				r = -EINVAL;
			else
				o.user_timeout_ms = (uint32_t)rq->value;
			break;
		default:
			r = -ENOPROTOOPT;
		}
	} else {
		r = -ENOPROTOOPT;
	}
	if (r == 0)
		kw_conn_apply_opts(E, c, &o);
	return r;
}

static int op_info(struct kw_engine *E, const struct kw_direct_request *rq)
{
	struct kw_conn *c = named(E, rq);

	if (c == NULL)
		return -EBADF;
	if (rq->cell >= KW_DIRECT_CELLS)
		return -EINVAL;
	if (c->tcp != NULL)
		kw_tcp_info(c->tcp, &E->shared->cell[rq->cell].info, E->now);
	else
		memset(&E->shared->cell[rq->cell].info, 0, sizeof(struct kw_tcp_info));
	return 0;
}

static void handle_request(struct kw_engine *E, const struct kw_direct_request *rq,
			   int *fds, int nfds)
{
	struct kw_conn *c = NULL;
	bool deferred = false;
	int r;

	switch (rq->op) {
	case KW_OP_BIND:
		r = op_bind(E, rq, &c);
		break;
	case KW_OP_CONNECT:
		r = op_connect(E, rq, fds, nfds, &c);
		break;
	case KW_OP_LISTEN:
		r = op_listen(E, rq, fds, nfds, &c);
		break;
	case KW_OP_SETOPT:
		r = op_setopt(E, rq);
		break;
	case KW_OP_INFO:
		r = op_info(E, rq);
		break;
	case KW_OP_DUMP:
		if (nfds == 1)
			kw_engine_dump(E, fds[0], (pid_t)rq->addr, (rq->port & KW_DUMP_INODES) != 0);
		r = 0;
		break;
	case KW_OP_LINGER:
		c = named(E, rq);
		deferred = c != NULL && kw_bridge_linger(E, c, rq->cell) == 1;
		c = NULL;
		r = 0;
		break;
	case KW_OP_RELEASE:
		/* A bound socket closed, or a listener shut down for reading
		 * (the stack stops listening before shutdown() returns). */
		c = named(E, rq);
		if (c != NULL && (c->kind == KW_SLOT_BOUND || c->kind == KW_SLOT_LISTENER))
			kw_conn_free(E, c);
		c = NULL;
		r = 0;
		break;
	default:
		r = -EINVAL;
	}
	/* Attached descriptors the request did not keep are closed here. */
	bool kept = (rq->op == KW_OP_CONNECT && r == -EINPROGRESS) ||
		    (rq->op == KW_OP_LISTEN && r == 0);
	if (!kept) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
	if (r < 0 && r != -EINPROGRESS)
		c = NULL;
	if (deferred)
		return;             /* the connection answers it later */
	kw_engine_reply(E, rq->cell, r, c ? c->slot : 0, c ? gen_of(E, c) : 0);
}

void kw_engine_channel_init(int fd)
{
	int on = 1;

	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
}

/* How often answered cells are looked at while some are outstanding. */
#define KW_CELL_CHECK_NS KW_NS_PER_S

/* Whether process pid has ended (a zombie counts: it reads no answer). */
static bool process_gone(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0) {
		/* A pidfd reads as readable once the process has exited. */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		bool gone = poll(&p, 1, 0) == 1;

		close(fd);
		return gone;
	}
	if (errno == ESRCH)
		return true;
	/* No pidfd_open (before Linux 5.3): a zombie looks alive. */
	return kill(pid, 0) != 0 && errno == ESRCH;
}

/* A process killed while it waited for an answer leaves its reply cell
 * taken: the engine answers (KW_CELL_DONE) and nobody reads the answer
 * and frees the cell. Give such cells back. Only DONE cells are touched:
 * a DONE cell belongs to the process whose request the engine answered
 * last in it (it cannot be taken again before it is freed), so its pid
 * is that of cell_pid. (A requester killed between taking a cell and
 * sending its request is not seen here; the window is a few
 * instructions.) Returns when to look again. */
static uint64_t reap_cells(struct kw_engine *E)
{
	bool pending = false;

	if (E->cells_check_at > E->now)
		return E->cells_check_at;
	for (uint32_t i = 0; i < KW_DIRECT_CELLS; i++) {
		struct kw_reply *r = &E->shared->cell[i];
		uint32_t done = KW_CELL_DONE;

		if (E->cell_pid[i] == 0)
			continue;
		if (atomic_load(&r->state) != KW_CELL_DONE) {
			/* Freed by its reader, or waiting for an answer we
			 * still owe (a lingering close). */
			if (atomic_load(&r->state) == KW_CELL_FREE)
				E->cell_pid[i] = 0;
			else
				pending = true;
			continue;
		}
		if (process_gone(E->cell_pid[i])) {
			atomic_compare_exchange_strong(&r->state, &done, KW_CELL_FREE);
			E->cell_pid[i] = 0;
		} else {
			pending = true;
		}
	}
	E->cells_check_at = pending ? E->now + KW_CELL_CHECK_NS : KW_TIME_NEVER;
	return E->cells_check_at;
}

/* KW_OP_HELLO: the engine process's hello, its shared region attached. */
static void send_hello(struct kw_engine *E, int fd, int32_t result)
{
	struct kw_direct_hello h = {
		.magic = KW_HELLO_MAGIC, .version = KW_HELLO_VERSION,
		.shared_size = sizeof(struct kw_direct_shared),
		.slots = KW_DIRECT_SLOTS, .cells = KW_DIRECT_CELLS, .result = result,
	};

	if (result != 0 || E->shared_fd < 0) {
		if (result == 0)
			h.result = -EBUSY;  /* no region to share: a stack thread */
		kw_fd_send(fd, &h, sizeof(h), NULL, 0, MSG_DONTWAIT);
		return;
	}
	kw_fd_send(fd, &h, sizeof(h), &E->shared_fd, 1, MSG_DONTWAIT);
}

int kw_engine_read_requests(struct kw_engine *E, int fd)
{
	for (int n = 0; n < 64; n++) {
		struct kw_direct_request rq;
		int fds[KW_FDPASS_MAX], nfds;
		pid_t pid;
		bool lost;
		ssize_t r = kw_fd_recv_pid(fd, &rq, sizeof(rq), fds, KW_FDPASS_MAX, &nfds,
					   MSG_DONTWAIT | MSG_CMSG_CLOEXEC, &pid, &lost);

		if (r < 0 && (errno == EINTR || errno == EPROTO))
			continue;
		if (r <= 0)
			return 0;
		if ((size_t)r != sizeof(rq)) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		if (rq.op == KW_OP_HELLO || (rq.op == KW_OP_DUMP && E->requester_foreign)) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			if (E->requester_foreign) {
				send_hello(E, fd, -EACCES);
				return -1;
			}
			send_hello(E, fd, 0);
			continue;
		}
		if ((E->key[0] | E->key[1]) != 0 && rq.op != KW_OP_DUMP &&
		    (rq.key[0] != E->key[0] || rq.key[1] != E->key[1])) {
			/* Meant for an engine that has gone since its sender
			 * greeted it (its cell is in another region), or from
			 * a process that never had the region. */
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			return -1;
		}
		if (rq.cell < KW_DIRECT_CELLS) {
			E->cell_pid[rq.cell] = pid;
			if (pid != 0 && E->cells_check_at == KW_TIME_NEVER)
				E->cells_check_at = E->now + KW_CELL_CHECK_NS;
		}
		if (lost) {
			/* No descriptor number free for what came with it (the
			 * thread placement shares the program's table): answer
			 * as the kernel would when out of descriptors, never
			 * leave the requester waiting. */
			kw_engine_reply(E, rq.cell, -EMFILE, 0, 0);
			continue;
		}
		handle_request(E, &rq, fds, nfds);
	}
	return 0;
}

/* ---- the loop ---------------------------------------------------------- */

/* What the device has queued, up to 64 frames. It is read inside an input
 * batch (kw_engine_run), so the stack acknowledges each connection's
 * in-order data once, after the bridges have moved it on (as Linux does
 * what GRO merged): fewer ACK frames go back through the TAP device. */
static void read_frames(struct kw_engine *E)
{
	for (int n = 0; n < 64; n++) {
		struct kw_netdev_rx_meta meta;
		ssize_t len = kw_tap_read_meta(E->tap, E->frame, E->frame_cap, &meta);

		if (len <= 0) {
			if (len < 0 && len != -EAGAIN && len != -EINTR) {
				/* The device is gone: nothing more will arrive. */
				epoll_ctl(E->epfd, EPOLL_CTL_DEL, kw_tap_fd(E->tap), NULL);
			}
			break;
		}
		kw_stack_input_meta(E->stack, E->frame, (size_t)len, &meta, E->now);
	}
}

static int wait_ms(uint64_t deadline, uint64_t now)
{
	uint64_t ms;

	if (deadline == KW_TIME_NEVER)
		return -1;
	if (deadline <= now)
		return 0;
	ms = (deadline - now + KW_NS_PER_MS - 1) / KW_NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void kw_engine_run(struct kw_engine *E)
{
	struct epoll_event ev[64];
	uint64_t busy_until = 0;

	pthread_mutex_lock(&E->lock);
	while (!E->stop) {
		uint64_t deadline;
		int n;

		kw_tap_tx_round(E->tap);
		E->now = now_ns();
		kw_stack_poll(E->stack, E->now);
		kw_bridge_run_dirty(E);
		deadline = kw_stack_next_deadline(E->stack);
		if (E->lingering != NULL) {
			uint64_t l = kw_bridge_linger_expire(E);
			deadline = l < deadline ? l : deadline;
		}
		if (E->cells_check_at != KW_TIME_NEVER) {
			uint64_t l = reap_cells(E);
			deadline = l < deadline ? l : deadline;
		}
		if (E->host_turn != NULL) {
			uint64_t h = E->host_turn(E);
			deadline = h < deadline ? h : deadline;
			if (E->stop)
				break;
		}
		pthread_mutex_unlock(&E->lock);
		n = engine_epoll_wait(E->epfd, ev, 64, 0);
		/* Right after work, spin briefly before sleeping: in a
		 * request/response exchange the answer is usually a few tens of
		 * microseconds away, and waking a sleeping thread costs about as
		 * much again (docs/BENCHMARKS.md, "Direct stack"). */
		while (n == 0 && busy_until > now_ns())
			n = engine_epoll_wait(E->epfd, ev, 64, 0);
		if (n == 0)
			n = engine_epoll_wait(E->epfd, ev, 64, wait_ms(deadline, now_ns()));
		pthread_mutex_lock(&E->lock);
		kw_tap_tx_round(E->tap);
		if (n > 0)
			busy_until = now_ns() + KW_ENGINE_SPIN_NS;
		E->now = now_ns();
		/* One ACK per connection for all the frames read, sent after
		 * the bridges moved the data on: it then carries the reopened
		 * window, as Linux defers an ACK that would shrink the window
		 * until the reader has read (tcp_cleanup_rbuf). */
		kw_tcp_layer_batch_begin(kw_stack_tcp(E->stack));
		for (int i = 0; i < n; i++) {
			uint64_t id = ev[i].data.u64;

			if (id == KW_EV_TAP)
				read_frames(E);
			else if (id == KW_EV_CTL)
				kw_engine_read_requests(E, E->ctl_fd);
			else if (id == KW_EV_WAKE) {
				uint64_t v;
				(void)!read(E->wake_fd, &v, sizeof(v));
			}
			else if (id < KW_DIRECT_SLOTS && E->conn[id] != NULL)
				kw_bridge_event(E, E->conn[id], ev[i].events);
			else if (id >= KW_EV_HOST && E->host_event != NULL)
				E->host_event(E, id, ev[i].events);
		}
		kw_bridge_run_dirty(E);
		kw_tcp_layer_batch_end(kw_stack_tcp(E->stack), E->now);
	}
	pthread_mutex_unlock(&E->lock);
}

static void *engine_main(void *arg)
{
	kw_engine_run(arg);
	return NULL;
}

/* ---- exit -------------------------------------------------------------- */

bool kw_engine_drained(struct kw_engine *E)
{
	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++) {
		struct kw_conn *c = E->conn[i];
		if (c != NULL && c->kind == KW_SLOT_STREAM && !c->dead)
			return false;
	}
	return kw_tcp_layer_unfinished(kw_stack_tcp(E->stack)) == 0;
}

void kw_engine_drain(uint64_t timeout_ns)
{
	struct kw_engine *E = engine;
	uint64_t end = now_ns() + timeout_ns, one = 1;
	bool done;

	if (E == NULL || E->pid != getpid())
		return;
	pthread_mutex_lock(&E->lock);
	kw_engine_drain_begin(E);
	pthread_mutex_unlock(&E->lock);
	(void)!write(E->wake_fd, &one, sizeof(one));
	for (;;) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		pthread_mutex_lock(&E->lock);
		done = kw_engine_drained(E);
		pthread_mutex_unlock(&E->lock);
		if (done || now_ns() >= end)
			break;
		nanosleep(&ts, NULL);
	}
	/* The device's offload flags outlive its descriptor: give it back as
	 * found. The lock stays taken: the engine thread must not touch the
	 * device again in the moments before the process ends. */
	pthread_mutex_lock(&E->lock);
	kw_tap_close(E->tap);
	E->tap = NULL;
}

void kw_engine_drain_begin(struct kw_engine *E)
{
	E->draining = true;
	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++) {
		struct kw_conn *c = E->conn[i];
		if (c == NULL)
			continue;
		if (c->kind == KW_SLOT_LISTENER || c->kind == KW_SLOT_BOUND || c->connecting) {
			kw_conn_free(E, c);
			continue;
		}
		/* The program is done with every connection: as if it had
		 * closed them all (its descriptors close after this). */
		c->hup = true;
		kw_conn_mark(E, c);
	}
}

/* ---- fork -------------------------------------------------------------- */

static void fork_prepare(void)
{
	if (engine != NULL && engine->pid == getpid())
		pthread_mutex_lock(&engine->lock);
}

static void fork_parent(void)
{
	if (engine != NULL && engine->pid == getpid())
		pthread_mutex_unlock(&engine->lock);
}

/* The child has no engine thread; it keeps the program's ends and the
 * request pair (the parent's engine serves it), and lets go of the
 * engine's descriptors so their lifetimes stay the parent's. */
static void fork_child(void)
{
	struct kw_engine *E = engine;

	if (E == NULL)
		return;
	engine = NULL;
	pthread_mutex_unlock(&E->lock);
	kw_thread_show_close(E);
	close(kw_tap_fd(E->tap));
	close(E->epfd);
	close(E->ctl_fd);
	close(E->wake_fd);
	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++) {
		struct kw_conn *c = E->conn[i];
		if (c == NULL)
			continue;
		if (c->fd >= 0)
			close(c->fd);
		if (c->prog_fd >= 0)
			close(c->prog_fd);
	}
}

/* ---- start ------------------------------------------------------------- */

static void tap_options(const struct kw_config *cfg, struct kw_tap_options *o)
{
	memset(o, 0, sizeof(*o));
	o->name = cfg->tap_name;
	o->must_exist = true;
	o->mac = cfg->has_mac ? cfg->mac : NULL;
	o->mtu = cfg->has_mtu ? (uint16_t)cfg->mtu : 0;
	/* Checksum and segmentation offload: the stack hands the kernel TCP
	 * segments of up to 64 KiB (docs/BENCHMARKS.md, "Direct stack"). */
	o->offload = true;
}

/* Without attaching (another process of the same program may hold the
 * device; attaching is done at first use): the driver can be opened, and
 * the device exists and is a TAP device. Busy or foreign-owned devices are
 * found when the engine starts. */
int kw_engine_probe(const struct kw_config *cfg, char *err, size_t errlen)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	const char *name = cfg->tap_name;
	struct ifreq ifr;
	int fd, sock, e;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "/dev/net/tun does not exist: load the tun module "
				 "(modprobe tun), or in a container pass the device in");
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen, "permission denied opening /dev/net/tun: run as root "
				 "or make the device accessible");
		else
			snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(e));
		return -1;
	}
	close(fd);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		snprintf(err, errlen, "cannot look at network devices: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(sock, SIOCGIFINDEX, &ifr) != 0) {
		close(sock);
		snprintf(err, errlen, "no network device named '%s' (create one with: ip tuntap "
			 "add dev %s mode tap user $USER)", name, name);
		return -1;
	}
	ifr.ifr_data = (void *)&info;
	e = ioctl(sock, SIOCETHTOOL, &ifr);
	close(sock);
	if (e != 0 || strcmp(info.driver, "tun") != 0) {
		snprintf(err, errlen, "'%s' is not a TAP device (create one with: ip tuntap add "
			 "dev NAME mode tap user $USER)", name);
		return -1;
	}
	if (strcmp(info.bus_info, "tap") != 0) {
		snprintf(err, errlen, "'%s' is a TUN device; direct mode needs a TAP device "
			 "(ip tuntap add dev NAME mode tap user $USER)", name);
		return -1;
	}
	return 0;
}

/* What the stack's buffers may take at most: 1/16 of the machine's memory
 * (the order of Linux's tcp_mem hard limit), at least 64 MiB, at most the
 * layer's default. A peer that fills buffers meets pressure, not an OOM. */
static size_t stack_memory_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	uint64_t lim = KW_TCP_MEM_DEFAULT;

	if (pages > 0 && size > 0)
		lim = (uint64_t)pages * (uint64_t)size / 16;
	if (lim < 64u << 20)
		lim = 64u << 20;
	if (lim > KW_TCP_MEM_DEFAULT)
		lim = KW_TCP_MEM_DEFAULT;
	return (size_t)lim;
}

static int add_fd(int epfd, int fd, uint64_t id)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u64 = id;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The shared region: anonymous for the thread placement (forked children
 * inherit the mapping), a memfd for the process placement (each client
 * maps the descriptor the engine sends it). */
static struct kw_direct_shared *map_shared(bool memfd, int *fd_out)
{
	void *p;
	int fd = -1;

	*fd_out = -1;
	if (!memfd)
		p = mmap(NULL, sizeof(struct kw_direct_shared), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	else {
		fd = memfd_create("keepwire-shared", MFD_CLOEXEC);
		if (fd < 0)
			return NULL;
		if (ftruncate(fd, sizeof(struct kw_direct_shared)) != 0) {
			close(fd);
			return NULL;
		}
		p = mmap(NULL, sizeof(struct kw_direct_shared), PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	}
	if (p == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*fd_out = fd;
	return p;
}

struct kw_engine *kw_engine_create(const struct kw_config *cfg, bool memfd, char *err,
				   size_t errlen)
{
	struct kw_stack_config sc = { 0 };
	struct kw_tap_options o;
	struct kw_engine *E;

	E = calloc(1, sizeof(*E));
	if (E == NULL) {
		snprintf(err, errlen, "out of memory starting the stack");
		return NULL;
	}
	E->epfd = -1;
	E->ctl_fd = -1;
	E->wake_fd = -1;
	E->shared_fd = -1;
	pthread_mutex_init(&E->lock, NULL);
	tap_options(cfg, &o);
	E->tap = kw_tap_open(&o, err, errlen);
	if (E->tap == NULL)
		goto fail;
	/* The device's writes on a thread of their own (dev/txq.h); if
	 * that thread cannot start, they stay on this one. */
	(void)kw_tap_tx_thread(E->tap);
	E->frame_cap = kw_tap_frame_max(E->tap);
	E->frame = malloc(E->frame_cap);
	if (E->frame == NULL) {
		snprintf(err, errlen, "out of memory starting the stack");
		goto fail;
	}
	E->shared = map_shared(memfd, &E->shared_fd);
	if (E->shared == NULL) {
		snprintf(err, errlen, "cannot map the shared socket table: %s", strerror(errno));
		goto fail;
	}
	if (memfd) {
		if (getrandom(E->key, sizeof(E->key), 0) != (ssize_t)sizeof(E->key)) {
			snprintf(err, errlen, "cannot make the engine's key: %s", strerror(errno));
			goto fail;
		}
		E->key[0] |= 1;         /* never all zero */
		memcpy(E->shared->key, E->key, sizeof(E->key));
		/* Slot generations start where a previous engine's are
		 * unlikely to be: a program that outlived a killed engine may
		 * still hold references into the region this one replaces. */
		for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++)
			atomic_store(&E->shared->slot[i].gen, (uint32_t)(E->key[1] >> 48));
	}
	sc.addr = cfg->address;
	sc.prefix_len = (uint8_t)cfg->prefix_len;
	sc.gateway = cfg->gateway;
	sc.congestion = cfg->congestion == KW_CONGESTION_NEWRENO ? KW_TCP_CC_NEWRENO : KW_TCP_CC_BBR;
	if (getrandom(&sc.seed, sizeof(sc.seed), 0) != (ssize_t)sizeof(sc.seed))
		sc.seed = now_ns() ^ ((uint64_t)getpid() << 32);
	sc.ts_seed = boot_secret();
	E->stack = kw_stack_create(&sc, kw_tap_netdev(E->tap));
	if (E->stack == NULL) {
		snprintf(err, errlen, "cannot create the stack (out of memory)");
		goto fail;
	}
	kw_stack_set_notify(E->stack, notify, E);
	kw_tcp_layer_set_mem_limit(kw_stack_tcp(E->stack), stack_memory_limit());
	E->epfd = epoll_create1(EPOLL_CLOEXEC);
	E->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (E->epfd < 0 || E->wake_fd < 0 || add_fd(E->epfd, kw_tap_fd(E->tap), KW_EV_TAP) < 0 ||
	    add_fd(E->epfd, E->wake_fd, KW_EV_WAKE) < 0) {
		snprintf(err, errlen, "cannot set up epoll: %s", strerror(errno));
		goto fail;
	}
	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++)
		E->free_slot[i] = KW_DIRECT_SLOTS - 1 - i;
	E->n_free = KW_DIRECT_SLOTS;
	E->pid = getpid();
	E->now = now_ns();
	E->cells_check_at = KW_TIME_NEVER;
	kw_stack_announce(E->stack, E->now);
	return E;
fail:
	kw_engine_destroy(E);
	return NULL;
}

void kw_engine_destroy(struct kw_engine *E)
{
	kw_thread_show_close(E);
	if (E->ctl_fd >= 0)
		close(E->ctl_fd);
	if (E->epfd >= 0)
		close(E->epfd);
	if (E->wake_fd >= 0)
		close(E->wake_fd);
	if (E->stack != NULL)
		kw_stack_destroy(E->stack);
	if (E->shared != NULL)
		munmap(E->shared, sizeof(*E->shared));
	if (E->shared_fd >= 0)
		close(E->shared_fd);
	if (E->tap != NULL)
		kw_tap_close(E->tap);
	free(E->frame);
	free(E);
}

int kw_engine_start(const struct kw_config *cfg, struct kw_engine_link *out,
		    char *err, size_t errlen)
{
	static bool atfork_done;
	struct kw_engine *E;
	sigset_t all, old;
	int ctl[2] = { -1, -1 };
	int r;

	E = kw_engine_create(cfg, false, err, errlen);
	if (E == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		snprintf(err, errlen, "cannot create the request channel: %s", strerror(errno));
		goto fail;
	}
	E->ctl_fd = ctl[1];
	fcntl(E->ctl_fd, F_SETFL, O_NONBLOCK);
	kw_engine_channel_init(E->ctl_fd);
	if (add_fd(E->epfd, E->ctl_fd, KW_EV_CTL) < 0) {
		snprintf(err, errlen, "cannot set up epoll: %s", strerror(errno));
		goto fail;
	}

	kw_thread_show_open(E, cfg->tap_name);
	engine = E;
	if (!atfork_done) {
		pthread_atfork(fork_prepare, fork_parent, fork_child);
		atfork_done = true;
	}
	/* The program's signals are the program's: the engine takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&E->thread, NULL, engine_main, E);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		engine = NULL;
		snprintf(err, errlen, "cannot start the stack thread: %s", strerror(r));
		goto fail;
	}
	pthread_detach(E->thread);
	out->shared = E->shared;
	out->ctl_fd = ctl[0];
	return 0;
fail:
	if (ctl[0] >= 0)
		close(ctl[0]);
	kw_engine_destroy(E);
	return -1;
}
