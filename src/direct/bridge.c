/* Moving bytes between stack connections and the program's socketpairs.
 *
 * Each stack connection has a stream socketpair; the program holds one
 * end, the engine the other (non-blocking, in the engine's epoll set).
 * Flow control is the pair's and the stack's own: the engine reads from
 * the pair only as much as the connection's send buffer takes, and
 * consumes received stack data only as far as the pair accepts it
 * (peek, send, consume), so nothing is buffered twice and nothing is lost.
 *
 * What the pair's ends say to each other:
 *   program wrote bytes        -> we read them, kw_tcp_send
 *   program shut its write side -> we read EOF (no HUP): kw_tcp_shutdown
 *   program closed every copy  -> EPOLLHUP: flush its last bytes, close
 *   peer sent FIN              -> we shut our write side: program reads EOF
 *   connection failed/died     -> slot error + our write side shut: the
 *                                 program's read/SO_ERROR hooks report it */
#include "config.h"
#include "direct/engine_internal.h"
#include "direct/fdpass.h"
#include "direct/unixpeer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static struct kw_slot *slot_of(struct kw_engine *E, const struct kw_conn *c)
{
	return &E->shared->slot[c->slot];
}

/* SO_LINGER {1,0}: the program's close resets the connection and throws
 * away what was not sent (Linux tcp_close -> tcp_disconnect). */
static bool linger_resets(const struct kw_conn *c)
{
	return c->opts.linger_on && c->opts.linger_s == 0;
}

struct kw_conn *kw_conn_new(struct kw_engine *E, enum kw_slot_kind kind)
{
	struct kw_conn *c;
	struct kw_slot *s;

	if (E->n_free == 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->slot = E->free_slot[--E->n_free];
	c->kind = kind;
	c->fd = -1;
	c->prog_fd = -1;
	c->linger_cell = KW_CELL_NONE;
	c->pid = E->requester_pid;
	E->conn[c->slot] = c;
	s = slot_of(E, c);
	atomic_store(&s->state, KW_SLOT_CONNECTING);
	atomic_store(&s->was_open, 0);
	atomic_store(&s->error, 0);
	atomic_store(&s->peer_fin, 0);
	atomic_store(&s->sndbuf, 0);
	atomic_store(&s->nodelay_set, 0);
	atomic_store(&s->laddr, 0);
	atomic_store(&s->raddr, 0);
	atomic_store(&s->lport, 0);
	atomic_store(&s->rport, 0);
	atomic_store_explicit(&s->kind, (uint8_t)kind, memory_order_release);
	return c;
}

static void dirty_unlink(struct kw_engine *E, struct kw_conn *c)
{
	struct kw_conn **p;

	if (!c->dirty)
		return;
	for (p = &E->dirty_head; *p != NULL; p = &(*p)->dirty_next) {
		if (*p == c) {
			*p = c->dirty_next;
			break;
		}
	}
	c->dirty = false;
}

static void linger_unlink(struct kw_engine *E, struct kw_conn *c)
{
	struct kw_conn **p;

	if (c->linger_cell == KW_CELL_NONE)
		return;
	for (p = &E->lingering; *p != NULL; p = &(*p)->linger_next) {
		if (*p == c) {
			*p = c->linger_next;
			break;
		}
	}
	/* close() returns now (as the kernel's does when the FIN is
	 * acknowledged or the linger time is up). */
	kw_engine_reply(E, c->linger_cell, 0, 0, 0);
	c->linger_cell = KW_CELL_NONE;
	c->pid = E->requester_pid;
}

void kw_conn_free(struct kw_engine *E, struct kw_conn *c)
{
	struct kw_slot *s = slot_of(E, c);

	dirty_unlink(E, c);
	linger_unlink(E, c);
	if (c->pending != NULL) {
		kw_conn_free(E, c->pending);
		c->pending = NULL;
	}
	if (c->tcp != NULL) {
		kw_tcp_set_user(c->tcp, NULL);
		/* A listener's or a connection whose program is gone: a
		 * connection still sends what the program wrote, then FIN. */
		if (c->kind == KW_SLOT_STREAM && !c->dead && c->hup && !linger_resets(c) && !c->unread)
			kw_tcp_close(c->tcp, E->now);
		else if (c->kind == KW_SLOT_STREAM)
			kw_tcp_abort(c->tcp, E->now);
		else
			kw_tcp_close(c->tcp, E->now);
		c->tcp = NULL;
	}
	if (c->fd >= 0) {
		/* Forked children may hold copies of the fd: leave epoll
		 * explicitly rather than by the last close. */
		if (c->in_epoll)
			epoll_ctl(E->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (c->prog_fd >= 0)
		close(c->prog_fd);
	atomic_store(&s->kind, KW_SLOT_FREE);
	atomic_store(&s->prog_ino, 0);
	atomic_fetch_add_explicit(&s->gen, 1, memory_order_release);
	E->conn[c->slot] = NULL;
	E->free_slot[E->n_free++] = c->slot;
	free(c);
}

void kw_conn_publish(struct kw_engine *E, struct kw_conn *c)
{
	struct kw_slot *s = slot_of(E, c);
	uint32_t a;
	uint16_t p;

	if (c->tcp == NULL)
		return;
	kw_tcp_local(c->tcp, &a, &p);
	atomic_store(&s->laddr, a);
	atomic_store(&s->lport, p);
	kw_tcp_remote(c->tcp, &a, &p);
	atomic_store(&s->raddr, a);
	atomic_store(&s->rport, p);
}

void kw_conn_apply_opts(struct kw_engine *E, struct kw_conn *c, const struct kw_direct_opts *o)
{
	struct kw_slot *s = slot_of(E, c);
	struct keepalive_config k = {
		.idle_ns = (uint64_t)o->idle_ms * KW_NS_PER_MS,
		.interval_ns = (uint64_t)o->interval_ms * KW_NS_PER_MS,
		.count = o->count,
	};

	c->opts = *o;
	if (c->tcp != NULL && c->kind != KW_SLOT_LISTENER) {
		kw_tcp_set_keepalive(c->tcp, o->keepalive, &k, E->now);
		kw_tcp_set_nodelay(c->tcp, o->nodelay);
	}
	/* TCP_USER_TIMEOUT; on a listener too, which children inherit. */
	if (c->tcp != NULL)
		kw_tcp_set_user_timeout(c->tcp, (uint64_t)o->user_timeout_ms * KW_NS_PER_MS);
	atomic_store(&s->keepalive, o->keepalive);
	atomic_store(&s->nodelay, o->nodelay);
	atomic_store(&s->idle_ms, o->idle_ms);
	atomic_store(&s->interval_ms, o->interval_ms);
	atomic_store(&s->count, o->count);
	atomic_store(&s->user_timeout_ms, o->user_timeout_ms);
	atomic_store(&s->linger_on, o->linger_on);
	atomic_store(&s->linger_s, o->linger_s);
}

void kw_conn_oob_inline(struct kw_conn *c)
{
	int on = 1;

	/* A byte sent with MSG_OOB past the hooks (a raw system call) would
	 * otherwise wait aside on our end and be skipped by our reads: with
	 * SO_OOBINLINE it stays in the stream, so no byte is lost. */
	setsockopt(c->fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof(on));
}

void kw_conn_watch(struct kw_engine *E, struct kw_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (c->fd < 0)
		return;
	ev.data.u64 = c->slot;
	/* A hung-up fd reports EPOLLHUP whatever the interest: while there is
	 * nothing we can do with it, it must leave the set, or the loop spins.
	 * The stack's notification brings it back to work. */
	if (c->hup && !(events & EPOLLIN)) {
		if (c->in_epoll)
			epoll_ctl(E->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->in_epoll = false;
		return;
	}
	if (!c->in_epoll) {
		if (epoll_ctl(E->epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0) {
			c->in_epoll = true;
			c->events = events;
		}
		return;
	}
	if (c->events != events && epoll_ctl(E->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

void kw_conn_mark(struct kw_engine *E, struct kw_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = E->dirty_head;
	E->dirty_head = c;
}

/* ---- connections ------------------------------------------------------- */

/* Read and drop what the program writes into a dead connection. */
static void discard_program_bytes(struct kw_engine *E, struct kw_conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, E->scratch, sizeof(E->scratch), MSG_DONTWAIT);
		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			c->prog_eof = true;
		break;
	}
}

static void shut_program_side(struct kw_conn *c)
{
	if (!c->shut_wr) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
}

/* A dead connection is dead for every writer (issue 9, item 5): writes
 * that bypass the hooks (stdio's internal write, sendfile, splice, an
 * exec'd image) must fail with EPIPE and SIGPIPE as they do on a reset
 * kernel socket, not vanish into our end. Shutting our reading side does
 * it natively: unix_stream_sendmsg fails with EPIPE once the peer has
 * RCV_SHUTDOWN. The hooks still report the stack's error first, from the
 * slot. But with both sides of our end shut, it reports a hang-up by
 * itself, and the slot (which holds that error) must live on until the
 * program really closes its end. So the hang-up is no longer taken as
 * the program's close; the kernel's sock_diag is asked instead whether
 * the program's end still exists (its last close removes it from the
 * table at once), at each wake-up of our end (its last close wakes us:
 * EPOLLET, no interest, see awaiting_close). Chosen over shutting only
 * our reading side and keeping our writing side open until the pending
 * bytes are delivered: readers need the EOF of our SHUT_WR, which makes
 * the hang-up ambiguous just the same. Where sock_diag cannot tell (no
 * CONFIG_UNIX_DIAG), the writes are discarded as before. */
static void refuse_program_writes(struct kw_conn *c)
{
	if (c->shut_rd || c->hup || c->fd < 0)
		return;
	c->peer_ino = kw_unix_peer_ino(c->fd);
	if (c->peer_ino == 0 || kw_unix_ino_open(c->peer_ino) != 1)
		return;
	shutdown(c->fd, SHUT_RD);
	c->shut_rd = true;
	c->prog_eof = true;
}

/* A dead connection whose end we shut both ways: free it once the
 * program's end is gone, else wait for the wake-up its last close gives
 * us (edge-triggered: our end's own hang-up is always there). */
static void awaiting_close(struct kw_engine *E, struct kw_conn *c)
{
	struct epoll_event ev = { .events = EPOLLET };

	if (kw_unix_ino_open(c->peer_ino) == 0) {
		c->hup = true;
		kw_conn_free(E, c);
		return;
	}
	if (c->in_epoll && c->events == EPOLLET)
		return;
	ev.data.u64 = c->slot;
	if (epoll_ctl(E->epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
		c->in_epoll = true;
		c->events = EPOLLET;
	}
}

/* The connection ended with err: the program learns it from the slot. */
static void conn_fail(struct kw_engine *E, struct kw_conn *c, int err)
{
	struct kw_slot *s = slot_of(E, c);

	if (!c->err_published)
		atomic_store(&s->error, err);
	atomic_store_explicit(&s->state, KW_SLOT_DEAD, memory_order_release);
	if (c->tcp != NULL) {
		kw_tcp_set_user(c->tcp, NULL);
		kw_tcp_close(c->tcp, E->now);
		c->tcp = NULL;
	}
	c->dead = true;
	c->stack_backlog = false;
	shut_program_side(c);
	/* A failed handshake: once the filler is gone (connect_done), or
	 * the program's poll would wake on the hang-up before POLLOUT. */
	if (!c->connecting)
		refuse_program_writes(c);
}

/* The handshake ended (err 0: established). Publish the outcome first,
 * then drop the filler: that is what makes the program's end writable,
 * and a program woken by POLLOUT must find the outcome there (its send
 * buffer comes back on the program side, from the slot). */
static void connect_done(struct kw_engine *E, struct kw_conn *c, int err)
{
	struct kw_slot *s = slot_of(E, c);

	kw_conn_publish(E, c);
	if (err == 0) {
		atomic_store(&s->was_open, 1);
		atomic_store_explicit(&s->state, KW_SLOT_OPEN, memory_order_release);
	} else {
		conn_fail(E, c, err);
	}
	c->connecting = false;
	/* The filler is in front of anything the program writes from now on. */
	while (c->filler_left > 0) {
		size_t want = c->filler_left < sizeof(E->scratch) ? c->filler_left : sizeof(E->scratch);
		ssize_t r = recv(c->fd, E->scratch, want, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		c->filler_left -= (uint32_t)r;
	}
	if (c->dead)
		refuse_program_writes(c);
}

/* The stack ended the connection with an error. Linux sets sk_err at
 * once: SO_ERROR and a write report it from now on, so the slot says so
 * now. But the bytes received before it are still read first (the pair
 * carries them, then EOF, which the read hook turns into the error), and
 * after the peer's FIN the reads end in EOF, not the error (tcp_recvmsg
 * tests SOCK_DONE before sk_err). */
static void publish_stack_error(struct kw_engine *E, struct kw_conn *c)
{
	struct kw_slot *s = slot_of(E, c);
	unsigned ev;

	if (c->err_published || c->tcp == NULL)
		return;
	ev = kw_tcp_events(c->tcp);
	if (!(ev & KW_TCP_ERROR))
		return;
	c->err_published = true;
	atomic_store(&s->peer_fin, (ev & KW_TCP_RDHUP) != 0);
	atomic_store(&s->error, kw_tcp_take_error(c->tcp));
	atomic_store_explicit(&s->state, KW_SLOT_DEAD, memory_order_release);
	/* Writes fail from now on, as they do on Linux once sk_err is set,
	 * even while received bytes still wait to be delivered. */
	refuse_program_writes(c);
}

/* Received stack data into the pair, as far as the pair takes it. */
static void to_program(struct kw_engine *E, struct kw_conn *c)
{
	for (;;) {
		/* Straight from the stack's receive buffer (no copy in
		 * between), at most 256 KiB per call. */
		struct iovec iov[2];
		ssize_t n = kw_tcp_peek_iov(c->tcp, iov, 256 * 1024);
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t w;

		if (n == -EAGAIN) {
			c->stack_backlog = false;
			return;
		}
		if (n < 0) {
			conn_fail(E, c, (int)-n);
			return;
		}
		if (n == 0) {
			c->stack_backlog = false;
			shut_program_side(c);
			/* A reset after the peer's FIN: everything delivered. */
			if (c->err_published)
				conn_fail(E, c, 0);
			return;
		}
		if (c->hup) {
			/* Nobody will read it. After a close, Linux resets the
			 * connection (data arriving for a closed socket,
			 * LINUX_MIB_TCPABORTONDATA); after the program shut its
			 * reading side, drop it so the window stays open. */
			if (c->closed)
				c->unread = true;
			kw_tcp_consume(c->tcp, (size_t)n, E->now);
			continue;
		}
		if (iov[1].iov_len == 0)
			m.msg_iovlen = 1;
		w = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->stack_backlog = true;
				return;
			}
			/* EPIPE: the program shut its reading side or is gone. */
			c->hup = true;
			continue;
		}
		kw_tcp_consume(c->tcp, (size_t)w, E->now);
		if (w < n) {
			c->stack_backlog = true;
			return;
		}
	}
}

static int pending_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 ? err : 0;
}

/* Whether the program closed every copy of its end (not just shut its
 * writing side): the hang-up may not have reached us as an event yet. */
static bool program_closed(const struct kw_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

/* Our FIN is out and acknowledged (or the connection is over). */
static bool fin_acked(const struct kw_tcp *t)
{
	switch (kw_tcp_state(t)) {
	case KW_TCP_FIN_WAIT_2:
	case KW_TCP_TIME_WAIT:
	case KW_TCP_CLOSED:
		return true;
	default:
		return false;
	}
}

/* TCP_NODELAY the program set while the handshake ran (proto.h,
 * nodelay_set): applied first, then cleared unless the program set
 * another value meanwhile, so its getsockopt never reads a stale one. */
static void take_nodelay_set(struct kw_engine *E, struct kw_conn *c)
{
	struct kw_slot *s = slot_of(E, c);
	uint8_t v = atomic_load_explicit(&s->nodelay_set, memory_order_acquire);

	if (v == 0)
		return;
	c->opts.nodelay = v == 2;
	kw_tcp_set_nodelay(c->tcp, c->opts.nodelay);
	atomic_store(&s->nodelay, c->opts.nodelay);
	atomic_compare_exchange_strong(&s->nodelay_set, &v, 0);
}

/* What the program wrote into the stack, as far as the send buffer takes. */
static void from_program(struct kw_engine *E, struct kw_conn *c)
{
	if (c->prog_drained && !E->draining)
		return;
	while (!c->prog_eof && c->tcp != NULL) {
		size_t space = kw_tcp_send_space(c->tcp);
		ssize_t r;

		if (space == 0)
			return;
		if (space > sizeof(E->scratch))
			space = sizeof(E->scratch);
		r = recv(c->fd, E->scratch, space, MSG_DONTWAIT);
		if (r > 0) {
			take_nodelay_set(E, c);
			kw_tcp_send(c->tcp, E->scratch, (size_t)r, E->now);
			/* A short read emptied the pair: no second recv to
			 * hear EAGAIN (epoll reports what comes next). */
			if ((size_t)r < space && !E->draining) {
				c->prog_drained = true;
				return;
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* Exiting: what the program wrote so far is all it will write. */
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !E->draining) {
			c->prog_drained = true;
			return;
		}
		if (r < 0 && errno == ECONNRESET) {
			/* The last close, with bytes it never read (see
			 * kw_bridge_event): reset, as Linux's tcp_close. */
			c->hup = c->closed = c->unread = true;
			c->prog_eof = true;
			return;
		}
		/* EOF: shutdown(SHUT_WR) or the last close. */
		c->prog_eof = true;
		if (linger_resets(c) && program_closed(c)) {
			c->hup = true;          /* no FIN: stream_pump resets it */
			return;
		}
		kw_tcp_shutdown(c->tcp, SHUT_WR, E->now);
	}
}

static void stream_pump(struct kw_engine *E, struct kw_conn *c)
{
	uint32_t want = 0;

	if (c->connecting) {
		unsigned ev;

		if (c->tcp == NULL)
			return;
		if (c->hup) {
			/* The program closed every copy of its end before the
			 * handshake ended: give the connection up at once, as
			 * the kernel's close does in SYN-SENT (a late SYN-ACK
			 * then finds no socket and draws a RST). */
			kw_conn_free(E, c);
			return;
		}
		ev = kw_tcp_events(c->tcp);
		if (ev & KW_TCP_ERROR) {
			int err = kw_tcp_take_error(c->tcp);
			connect_done(E, c, err ? err : ECONNREFUSED);
		} else if (kw_tcp_state(c->tcp) != KW_TCP_SYN_SENT &&
			   kw_tcp_state(c->tcp) != KW_TCP_SYN_RECEIVED) {
			connect_done(E, c, 0);
		} else {
			return;
		}
	}
	if (c->dead) {
		if (c->shut_rd && !c->hup) {
			awaiting_close(E, c);
			return;
		}
		if (!c->prog_eof)
			discard_program_bytes(E, c);
		if (c->hup) {
			kw_conn_free(E, c);
			return;
		}
		kw_conn_watch(E, c, c->prog_eof ? 0 : EPOLLIN);
		return;
	}
	if (c->hup && (linger_resets(c) || c->unread)) {
		kw_conn_free(E, c);         /* RST, unsent data dropped */
		return;
	}
	publish_stack_error(E, c);
	to_program(E, c);
	if (c->dead) {
		stream_pump(E, c);
		return;
	}
	from_program(E, c);
	if (c->hup && c->prog_eof) {
		/* Everything the program wrote is in the stack: close; a
		 * lingering close waits for the FIN's acknowledgment. */
		if (c->linger_cell != KW_CELL_NONE && !fin_acked(c->tcp)) {
			kw_conn_watch(E, c, 0);
			return;
		}
		kw_conn_free(E, c);
		return;
	}
	if (!c->prog_eof && kw_tcp_send_space(c->tcp) > 0)
		want |= EPOLLIN;
	if (c->stack_backlog)
		want |= EPOLLOUT;
	kw_conn_watch(E, c, want);
}

/* ---- SO_LINGER {1,N} ------------------------------------------------------ */

int kw_bridge_linger(struct kw_engine *E, struct kw_conn *c, uint32_t cell)
{
	if (c->kind != KW_SLOT_STREAM || c->dead || c->tcp == NULL || c->connecting ||
	    c->linger_cell != KW_CELL_NONE || cell >= KW_DIRECT_CELLS || !program_closed(c))
		return 0;               /* another copy lives on: no wait */
	c->hup = true;
	c->linger_cell = cell;
	c->linger_until = E->now + (uint64_t)c->opts.linger_s * KW_NS_PER_S;
	c->linger_next = E->lingering;
	E->lingering = c;
	kw_conn_mark(E, c);
	return 1;
}

uint64_t kw_bridge_linger_expire(struct kw_engine *E)
{
	uint64_t next = KW_TIME_NEVER;
	struct kw_conn *c = E->lingering, *n;

	for (; c != NULL; c = n) {
		n = c->linger_next;
		if (c->linger_until <= E->now) {
			/* Time is up: close() returns, and the connection goes
			 * on delivering what the program wrote, as an orphan
			 * does on the kernel. */
			linger_unlink(E, c);
			kw_conn_mark(E, c);
		} else if (c->linger_until < next)
			next = c->linger_until;
	}
	return next;
}

/* ---- listeners --------------------------------------------------------- */

static bool hand_over(struct kw_engine *E, struct kw_conn *l, struct kw_conn *n)
{
	struct kw_direct_accepted msg = {
		.slot = n->slot,
		.gen = atomic_load(&slot_of(E, n)->gen),
	};
	ssize_t r = kw_fd_send(l->fd, &msg, sizeof(msg), &n->prog_fd, 1, MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	if (r < 0) {
		/* The program closed the listener: this one is refused too. */
		l->hup = true;
		return false;
	}
	close(n->prog_fd);
	n->prog_fd = -1;
	return true;
}

/* A connection the stack accepted, bridged and ready to hand over. */
static struct kw_conn *bridge_accepted(struct kw_engine *E, struct kw_conn *l, struct kw_tcp *t)
{
	struct kw_conn *n = kw_conn_new(E, KW_SLOT_STREAM);
	struct kw_slot *s;
	int sv[2];

	if (n == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		kw_conn_free(E, n);
		return NULL;
	}
	n->fd = sv[1];
	n->prog_fd = sv[0];
	/* The engine's end never blocks; the program's stays as accept makes
	 * it (accept4's flags are applied on the program side). */
	fcntl(n->fd, F_SETFL, O_NONBLOCK);
	kw_conn_oob_inline(n);
	n->pid = l->pid;
	n->tcp = t;
	kw_tcp_set_user(t, n);
	kw_conn_apply_opts(E, n, &l->opts);
	kw_conn_publish(E, n);
	s = slot_of(E, n);
	atomic_store(&s->was_open, 1);
	atomic_store_explicit(&s->state, KW_SLOT_OPEN, memory_order_release);
	return n;
}

static void listener_pump(struct kw_engine *E, struct kw_conn *l)
{
	for (;;) {
		if (l->hup) {
			kw_conn_free(E, l);
			return;
		}
		if (l->pending == NULL) {
			struct kw_tcp *t;

			if (l->tcp == NULL || kw_tcp_accept(l->tcp, &t) < 0)
				break;
			l->pending = bridge_accepted(E, l, t);
			if (l->pending == NULL) {
				/* No slot or no descriptor: refuse it as a full
				 * backlog would, with a reset. */
				kw_tcp_abort(t, E->now);
				continue;
			}
		}
		if (!hand_over(E, l, l->pending))
			break;
		kw_conn_mark(E, l->pending);
		l->pending = NULL;
	}
	if (!l->hup)
		kw_conn_watch(E, l, l->pending != NULL ? EPOLLOUT : 0);
}

/* ---- entry points ------------------------------------------------------ */

static void pump(struct kw_engine *E, struct kw_conn *c)
{
	switch (c->kind) {
	case KW_SLOT_STREAM:
		stream_pump(E, c);
		break;
	case KW_SLOT_LISTENER:
		listener_pump(E, c);
		break;
	default:
		break;
	}
}

void kw_bridge_run_dirty(struct kw_engine *E)
{
	/* Pumping can mark more (an ACK we send frees nothing of ours, but a
	 * handed-over connection is marked); loop until quiet. */
	while (E->dirty_head != NULL) {
		struct kw_conn *c = E->dirty_head;

		E->dirty_head = c->dirty_next;
		c->dirty = false;
		pump(E, c);
	}
}

void kw_bridge_event(struct kw_engine *E, struct kw_conn *c, uint32_t events)
{
	c->prog_drained = false;
	/* Once we shut our end both ways it hangs up by itself: whether the
	 * program closed is for awaiting_close to find out. */
	if ((events & (EPOLLHUP | EPOLLERR)) && !c->closed && !(c->shut_rd && c->shut_wr)) {
		c->hup = true;
		c->closed = true;
		/* Closed with bytes still queued for it to read: Linux's
		 * unix_release_sock leaves ECONNRESET on our end. */
		if (c->kind == KW_SLOT_STREAM && pending_error(c->fd) == ECONNRESET)
			c->unread = true;
	}
	kw_conn_mark(E, c);
}
