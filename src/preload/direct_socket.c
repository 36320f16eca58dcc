/* Direct mode: turning a program's TCP socket into a stack socket, and
 * the few places a socketpair needs help to look like TCP.
 *
 * The program's socket() is a kernel socket as usual (the destination is
 * not known yet). connect() to a routed address, or bind() to the stack's
 * address (or INADDR_ANY) followed by listen(), asks the engine for a
 * stack socket and puts the program's end of a fresh socketpair on the
 * very same descriptor number with dup3(), keeping its O_NONBLOCK,
 * FD_CLOEXEC and timeouts. The swap happens before the program can have
 * put the descriptor in an epoll set that matters: a socket is added to
 * epoll after connect() (to learn when it completes) or listen().
 *
 * While the handshake runs, the program's end must not look writable: a
 * few KiB of filler written into it with a tiny send buffer keep POLLOUT
 * off; the engine drops the filler when the handshake ends, which is
 * exactly when the kernel would report POLLOUT, and the first write (or
 * SO_ERROR) after restores the buffer (kw_direct_lift_sndbuf). The engine
 * keeps no copy of the program's end, so a close() before the handshake
 * ends reaches it at once and aborts the connect, as on the kernel. */
#include "config.h"
#include "preload/direct.h"
#include "direct/fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static bool fail(int *ret, int err)
{
	*ret = -1;
	errno = err;
	return true;
}

static int get_int(int fd, int level, int name, int *v)
{
	socklen_t len = sizeof(*v);

	*v = 0;
	return kw_libc.getsockopt(fd, level, name, v, &len);
}

/* An IPv4 TCP socket (asking the kernel unless keepwire knows). */
static bool is_ipv4_tcp(int fd)
{
	int domain, type, protocol;

	if (get_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0 || domain != AF_INET)
		return false;
	if (get_int(fd, SOL_SOCKET, SO_TYPE, &type) != 0 || type != SOCK_STREAM)
		return false;
	return get_int(fd, SOL_SOCKET, SO_PROTOCOL, &protocol) == 0 && protocol == IPPROTO_TCP;
}

/* KEEPWIRE_USER_TIMEOUT for the stack, in milliseconds like the keepalive
 * times: `auto` is exactly idle + interval * count, the keepalive budget
 * (socket mode rounds the times up to seconds for the kernel). */
static uint32_t config_user_timeout_ms(void)
{
	const struct kw_config *cfg = &kw_rt.cfg;
	uint64_t ms;

	switch (cfg->user_timeout_mode) {
	case KW_UT_AUTO:
		ms = cfg->idle_ms + cfg->interval_ms * cfg->count;
		break;
	case KW_UT_VALUE:
		ms = cfg->user_timeout_ms;
		break;
	default:
		return 0;
	}
	return ms > KW_USER_TIMEOUT_MAX_MS ? KW_USER_TIMEOUT_MAX_MS : (uint32_t)ms;
}

/* The options the program (or socket mode) put on the kernel socket,
 * which the stack socket takes over. Socket mode's own values are taken
 * from the configuration, in milliseconds: the stack keeps them exact. */
static void carried_options(int fd, struct kw_direct_opts *o)
{
	int v;

	memset(o, 0, sizeof(*o));
	if (kw_fd_get(fd) == KW_FD_APPLIED) {
		o->keepalive = 1;
		o->idle_ms = (uint32_t)kw_rt.cfg.idle_ms;
		o->interval_ms = (uint32_t)kw_rt.cfg.interval_ms;
		o->count = kw_rt.cfg.count;
		/* Not keepwire's setting: the program may have set its own
		 * (it leaves the socket APPLIED, see setsockopt.c). */
		if (kw_rt.values.set_user_timeout)
			o->user_timeout_ms = config_user_timeout_ms();
		else
			o->user_timeout_ms = get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v) == 0 && v > 0
				? (uint32_t)v : 0;
	} else {
		o->keepalive = get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &v) == 0 && v;
		o->idle_ms = get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v) == 0 && v > 0 ? (uint32_t)v * 1000u : 7200000u;
		o->interval_ms = get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v) == 0 && v > 0 ? (uint32_t)v * 1000u : 75000u;
		o->count = get_int(fd, IPPROTO_TCP, TCP_KEEPCNT, &v) == 0 && v > 0 ? (uint32_t)v : 9u;
		o->user_timeout_ms = get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v) == 0 && v > 0 ? (uint32_t)v : 0;
	}
	o->nodelay = get_int(fd, IPPROTO_TCP, TCP_NODELAY, &v) == 0 && v;
	{
		struct linger l = { 0, 0 };
		socklen_t len = sizeof(l);

		if (kw_libc.getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) == 0 && l.l_onoff) {
			o->linger_on = 1;
			o->linger_s = l.l_linger;
		}
	}
}

/* What the descriptor's replacement must keep. */
struct fd_traits {
	int status_flags;              /* O_NONBLOCK */
	bool cloexec;
	struct timeval rcvtimeo, sndtimeo;
};

static void traits_of(int fd, struct fd_traits *t)
{
	socklen_t len;
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	memset(t, 0, sizeof(*t));
	t->status_flags = fl < 0 ? 0 : (fl & O_NONBLOCK);
	t->cloexec = fdfl >= 0 && (fdfl & FD_CLOEXEC);
	len = sizeof(t->rcvtimeo);
	kw_libc.getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t->rcvtimeo, &len);
	len = sizeof(t->sndtimeo);
	kw_libc.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t->sndtimeo, &len);
}

/* Put `from` on number `fd` with the traits of what was there. */
static int replace_fd(int from, int fd, const struct fd_traits *t)
{
	if (kw_libc.dup3(from, fd, t->cloexec ? O_CLOEXEC : 0) < 0)
		return -1;
	kw_libc.close(from);
	if (t->status_flags & O_NONBLOCK)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	if (t->rcvtimeo.tv_sec || t->rcvtimeo.tv_usec)
		kw_libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t->rcvtimeo, sizeof(t->rcvtimeo));
	if (t->sndtimeo.tv_sec || t->sndtimeo.tv_usec)
		kw_libc.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t->sndtimeo, sizeof(t->sndtimeo));
	kw_fd_set(fd, KW_FD_OTHER);
	kw_direct_epoll_replay(fd);
	return 0;
}

/* Fill the program's end until it stops being writable; returns the
 * number of filler bytes and the send buffer to restore. */
static uint32_t fill(int fd, uint32_t *sndbuf)
{
	static const char zeros[512];
	int v, one = 1;
	uint32_t total = 0;

	*sndbuf = get_int(fd, SOL_SOCKET, SO_SNDBUF, &v) == 0 && v > 0 ? (uint32_t)v / 2 : 0;
	kw_libc.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	for (;;) {
		ssize_t n = send(fd, zeros, sizeof(zeros), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (uint32_t)n;
	}
	return total;
}

/* A blocking connect waits for the handshake as the kernel would: until
 * it ends, a signal (EINTR; it goes on in the background), or SO_SNDTIMEO
 * (EINPROGRESS). */
static bool wait_connected(int fd, const struct fd_traits *t, int *ret)
{
	int timeout = -1;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	uint32_t ref = kw_direct_ref(fd);
	struct kw_slot *s;
	int r, err;

	if (t->sndtimeo.tv_sec || t->sndtimeo.tv_usec)
		timeout = (int)(t->sndtimeo.tv_sec * 1000 + (t->sndtimeo.tv_usec + 999) / 1000);
	r = poll(&p, 1, timeout);
	if (r < 0)
		return fail(ret, errno);
	if (r == 0)
		return fail(ret, EINPROGRESS);
	s = kw_direct_slot(ref);
	if (s == NULL)
		return fail(ret, ECONNABORTED);
	if (atomic_load_explicit(&s->state, memory_order_acquire) == KW_SLOT_OPEN) {
		kw_direct_lift_sndbuf(fd, s);
		*ret = 0;
		return true;
	}
	err = atomic_exchange(&s->error, 0);
	return fail(ret, err ? err : ECONNREFUSED);
}

/* connect() on a descriptor that already is a stack socket. */
static bool connect_again(struct kw_slot *s, int *ret)
{
	int err;

	switch (atomic_load(&s->kind)) {
	case KW_SLOT_LISTENER:
		return fail(ret, EISCONN);
	case KW_SLOT_STREAM:
		break;
	default:
		return false;
	}
	switch (atomic_load_explicit(&s->state, memory_order_acquire)) {
	case KW_SLOT_CONNECTING:
		return fail(ret, EALREADY);
	case KW_SLOT_OPEN:
		return fail(ret, EISCONN);
	default:
		err = atomic_exchange(&s->error, 0);
		return fail(ret, err ? err : ECONNABORTED);
	}
}

/* The pair that will become the program's socket. Its two descriptors
 * exist only for a moment: one ends as the program's descriptor (in
 * place of the socket it made), the other goes to the engine. The kernel
 * needs no descriptor at all for connect() or listen(), so at
 * RLIMIT_NOFILE the limit is raised (kw_nofile_raise) until the engine
 * has the request: two for the pair, and a third with the engine as a
 * thread of this process, which receives its end here (the engine
 * process's connection raises it for itself). EMFILE only where the
 * kernel would give it. */
static int transient_pair(int type, int sv[2], struct kw_nofile_raise *nr)
{
	int want = kw_rt.cfg.engine == KW_ENGINE_PROCESS ? 2 : 3, e;

	nr->raised = false;
	if (socketpair(AF_UNIX, type, 0, sv) == 0)
		return 0;
	if (errno != EMFILE || kw_nofile_raise(want, nr) != 0)
		return -1;
	if (socketpair(AF_UNIX, type, 0, sv) == 0)
		return 0;
	e = errno;
	kw_nofile_restore(nr);
	errno = e;
	return -1;
}

bool kw_direct_connect(int fd, const struct sockaddr_in *sin, int *ret)
{
	struct kw_direct_request rq = { .op = KW_OP_CONNECT, .slot = UINT32_MAX };
	uint32_t ref = kw_direct_ref(fd), newref;
	uint32_t dst = ntohl(sin->sin_addr.s_addr);
	struct kw_slot *s = kw_direct_slot(ref);
	struct fd_traits t;
	struct kw_nofile_raise nr;
	int sv[2], r;

	if (s != NULL && atomic_load(&s->kind) != KW_SLOT_BOUND)
		return connect_again(s, ret);
	if (!kw_direct_routed(dst)) {
		if (s != NULL)
			kw_direct_forget(fd);   /* bound on both; the kernel one is used */
		return false;
	}
	if (s == NULL && (!is_ipv4_tcp(fd) || kw_direct_ensure() != 0))
		return false;
	if (s != NULL) {
		rq.slot = kw_slot_ref_index(ref);
		rq.gen = kw_slot_ref_gen(ref);
	}
	traits_of(fd, &t);
	carried_options(fd, &rq.opts);
	rq.addr = dst;
	rq.port = ntohs(sin->sin_port);
	if (transient_pair(SOCK_STREAM | SOCK_CLOEXEC, sv, &nr) < 0)
		return fail(ret, errno == EMFILE || errno == ENFILE ? errno : ENOBUFS);
	rq.filler = fill(sv[0], &rq.sndbuf);
	r = kw_direct_request(&rq, &sv[1], 1, &newref);
	kw_libc.close(sv[1]);
	kw_nofile_restore(&nr);
	if (r != -EINPROGRESS) {
		kw_libc.close(sv[0]);
		if (s != NULL)
			kw_direct_map(fd, 0);   /* the engine let the bound socket go */
		return fail(ret, -r);
	}
	if (replace_fd(sv[0], fd, &t) < 0) {
		int e = errno;
		kw_libc.close(sv[0]);
		return fail(ret, e);
	}
	kw_direct_map_new(fd, newref);
	if (t.status_flags & O_NONBLOCK)
		return fail(ret, EINPROGRESS);
	return wait_connected(fd, &t, ret);
}

bool kw_direct_bind(int fd, const struct sockaddr_in *sin, socklen_t len, int *ret)
{
	struct kw_direct_request rq = { .op = KW_OP_BIND };
	uint32_t addr = ntohl(sin->sin_addr.s_addr), ref;
	struct sockaddr_in got;
	socklen_t glen = sizeof(got);
	int r;

	if (addr != 0 && addr != kw_rt.cfg.address)
		return false;
	if (kw_direct_ref(fd) != 0)
		return fail(ret, EINVAL);       /* bound already */
	if (!is_ipv4_tcp(fd) || kw_direct_ensure() != 0)
		return false;
	rq.addr = addr;
	rq.port = ntohs(sin->sin_port);
	{
		int v;
		struct stat st;

		rq.reuseport = get_int(fd, SOL_SOCKET, SO_REUSEPORT, &v) == 0 && v;
		/* The engine frees the port when no process holds this. */
		if (fstat(fd, &st) == 0)
			rq.sock_ino = (uint64_t)st.st_ino;
	}
	if (addr == 0) {
		/* INADDR_ANY: the port is taken on the kernel too, so a later
		 * connect to a kernel destination or a listen keeps its word. */
		if (kw_libc.bind(fd, (const struct sockaddr *)sin, len) != 0) {
			*ret = -1;
			return true;
		}
		if (rq.port == 0 && getsockname(fd, (struct sockaddr *)&got, &glen) == 0)
			rq.port = ntohs(got.sin_port);
	}
	r = kw_direct_request(&rq, NULL, 0, &ref);
	if (r != 0)
		return fail(ret, -r);
	kw_direct_map(fd, ref);
	*ret = 0;
	return true;
}

bool kw_direct_listen(int fd, int backlog, int *ret)
{
	struct kw_direct_request rq = { .op = KW_OP_LISTEN };
	uint32_t ref = kw_direct_ref(fd), unused;
	struct kw_slot *s = kw_direct_slot(ref);
	struct fd_traits t;
	struct kw_nofile_raise nr;
	int sv[2], r;

	if (s == NULL)
		return false;
	if (atomic_load(&s->kind) == KW_SLOT_LISTENER) {
		*ret = 0;                       /* listen() again: nothing to change */
		return true;
	}
	if (atomic_load(&s->kind) != KW_SLOT_BOUND)
		return fail(ret, EINVAL);
	traits_of(fd, &t);
	carried_options(fd, &rq.opts);
	rq.slot = kw_slot_ref_index(ref);
	rq.gen = kw_slot_ref_gen(ref);
	rq.backlog = backlog;
	if (transient_pair(SOCK_SEQPACKET | SOCK_CLOEXEC, sv, &nr) < 0)
		return fail(ret, errno == EMFILE || errno == ENFILE ? errno : ENOBUFS);
	r = kw_direct_request(&rq, &sv[1], 1, &unused);
	kw_libc.close(sv[1]);
	kw_nofile_restore(&nr);
	if (r != 0) {
		kw_libc.close(sv[0]);
		return fail(ret, -r);
	}
	if (replace_fd(sv[0], fd, &t) < 0) {
		int e = errno;
		kw_libc.close(sv[0]);
		return fail(ret, e);
	}
	kw_direct_map_new(fd, ref);
	*ret = 0;
	return true;
}

static void fill_sockaddr(struct sockaddr *addr, socklen_t *len, uint32_t a, uint16_t port)
{
	struct sockaddr_in sin;

	if (addr == NULL || len == NULL)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(a);
	sin.sin_port = htons(port);
	memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
}

bool kw_direct_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags, int *ret)
{
	struct kw_slot *s = kw_direct_slot(kw_direct_ref(fd)), *ns;
	struct kw_direct_accepted msg;
	uint32_t ref;
	ssize_t r;
	int nfd = -1, n;

	if (s == NULL)
		return false;
	if (atomic_load(&s->kind) != KW_SLOT_LISTENER)
		return fail(ret, EINVAL);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return fail(ret, EINVAL);
	/* The kernel's accept takes a descriptor number before it waits and
	 * fails with EMFILE/ENFILE, leaving the connection queued, when there
	 * is none. Here the connection arrives as SCM_RIGHTS, which drops what
	 * does not fit: so check first, as the kernel does. */
	{
		int spare = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (spare < 0)
			return fail(ret, errno == ENFILE ? ENFILE : EMFILE);
		kw_libc.close(spare);
	}
	/* Blocking or not as the listener is, as accept() would be. */
	r = kw_fd_recv(fd, &msg, sizeof(msg), &nfd, 1, &n,
		       (flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0);
	if (r < 0 && errno != EPROTO) {
		*ret = -1;
		return true;
	}
	if (r == 0 && n == 0)
		return fail(ret, EINVAL);   /* no longer listening (shut down) */
	if (r != (ssize_t)sizeof(msg) || n != 1) {
		if (n == 1)
			kw_libc.close(nfd);
		return fail(ret, ECONNABORTED);
	}
	if (flags & SOCK_NONBLOCK)
		fcntl(nfd, F_SETFL, O_NONBLOCK);
	ref = kw_slot_ref(msg.slot, msg.gen);
	kw_direct_map_new(nfd, ref);
	kw_fd_set(nfd, KW_FD_OTHER);
	ns = kw_direct_slot(ref);
	if (ns != NULL)
		fill_sockaddr(addr, len, atomic_load(&ns->raddr), atomic_load(&ns->rport));
	*ret = nfd;
	return true;
}

bool kw_direct_shutdown_listener(int fd, int how, int *ret)
{
	struct kw_slot *s = kw_direct_slot(kw_direct_ref(fd));

	if (s == NULL || atomic_load(&s->kind) != KW_SLOT_LISTENER)
		return false;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return fail(ret, EINVAL);
	if (how == SHUT_WR) {
		*ret = 0;
		return true;
	}
	/* Both ways on our end: it reads EOF from now on, which accept()
	 * turns into EINVAL (a blocked one wakes). And the engine closes the
	 * stack listener before we return, so a connection that comes after
	 * shutdown() is refused, as after the kernel's tcp_disconnect. */
	if (kw_libc.shutdown(fd, SHUT_RDWR) != 0)
		return fail(ret, errno);
	{
		uint32_t ref = kw_direct_ref(fd), unused;
		struct kw_direct_request rq = {
			.op = KW_OP_RELEASE,
			.slot = kw_slot_ref_index(ref),
			.gen = kw_slot_ref_gen(ref),
		};

		(void)kw_direct_request(&rq, NULL, 0, &unused);
	}
	*ret = 0;
	return true;
}

/* ---- data and lifetime ------------------------------------------------- */

void kw_direct_lift_sndbuf(int fd, struct kw_slot *s)
{
	int v;

	/* One load on the common path; the exchange makes sure one copy of
	 * the descriptor (of many, after fork) does it, once. */
	if (atomic_load_explicit(&s->sndbuf, memory_order_relaxed) == 0 ||
	    atomic_load_explicit(&s->state, memory_order_acquire) == KW_SLOT_CONNECTING)
		return;
	v = (int)atomic_exchange(&s->sndbuf, 0);
	if (v > 0)
		kw_libc.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

int kw_direct_read_error(int fd)
{
	struct kw_slot *s = kw_direct_slot(kw_direct_ref(fd));

	if (s == NULL || atomic_load_explicit(&s->state, memory_order_acquire) != KW_SLOT_DEAD)
		return 0;
	/* The peer's FIN came first: end of stream, the error stays for
	 * SO_ERROR and write (Linux tests SOCK_DONE before sk_err). */
	if (atomic_load(&s->peer_fin))
		return 0;
	return atomic_exchange(&s->error, 0);
}

int kw_direct_write_check(int fd, int flags)
{
	struct kw_slot *s = kw_direct_slot(kw_direct_ref(fd));
	int err;

	if (s == NULL || atomic_load(&s->kind) != KW_SLOT_STREAM)
		return 0;
	/* Urgent data is not carried to the stack: refuse it rather than let
	 * the socketpair keep the byte aside where the engine never reads it
	 * (README, "Limits of direct mode"). */
	if (flags & MSG_OOB)
		return EOPNOTSUPP;
	kw_direct_lift_sndbuf(fd, s);
	if (atomic_load_explicit(&s->state, memory_order_acquire) != KW_SLOT_DEAD)
		return 0;
	err = atomic_exchange(&s->error, 0);
	/* Linux's sk_stream_error(): SIGPIPE for EPIPE, whether it was the
	 * pending error (a reset in CLOSE-WAIT) or not. */
	if (err != 0 && err != EPIPE)
		return err;
	if (!(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return EPIPE;
}

uint32_t kw_direct_linger_ref(int fd)
{
	uint32_t ref = kw_direct_ref(fd);
	struct kw_slot *s = kw_direct_slot(ref);

	if (s == NULL || atomic_load(&s->kind) != KW_SLOT_STREAM ||
	    atomic_load(&s->state) != KW_SLOT_OPEN || !atomic_load(&s->linger_on) ||
	    atomic_load(&s->linger_s) <= 0)
		return 0;
	return ref;
}

void kw_direct_linger_wait(uint32_t ref)
{
	struct kw_direct_request rq = {
		.op = KW_OP_LINGER,
		.slot = kw_slot_ref_index(ref),
		.gen = kw_slot_ref_gen(ref),
	};
	uint32_t unused;

	(void)kw_direct_request(&rq, NULL, 0, &unused);
}

void kw_direct_forget(int fd)
{
	uint32_t ref = kw_direct_ref(fd);
	struct kw_slot *s = kw_direct_slot(ref);

	if (ref == 0 || !kw_direct_own_map())
		return;
	kw_direct_map(fd, 0);
	/* Connections and listeners end when the engine sees the last copy of
	 * the program's end close; a bound-only socket has no such end. */
	if (s != NULL && atomic_load(&s->kind) == KW_SLOT_BOUND) {
		struct kw_direct_request rq = {
			.op = KW_OP_RELEASE,
			.slot = kw_slot_ref_index(ref),
			.gen = kw_slot_ref_gen(ref),
		};
		kw_direct_request(&rq, NULL, 0, NULL);
	}
}

void kw_direct_forget_range(unsigned first, unsigned last)
{
	unsigned high = (unsigned)atomic_load(&kw_dc.fd_high);

	for (unsigned fd = first; fd <= last && fd <= high; fd++)
		if (kw_direct_ref((int)fd) != 0)
			kw_direct_forget((int)fd);
}

void kw_direct_copy(int oldfd, int newfd)
{
	if (newfd < 0 || newfd == oldfd ||
	    (kw_direct_ref(oldfd) == 0 && kw_direct_ref(newfd) == 0))
		return;
	if (kw_direct_own_map())
		kw_direct_map(newfd, kw_direct_ref(oldfd));
}
