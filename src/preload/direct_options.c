/* Direct mode: socket options and names of stack sockets, answered as a
 * kernel TCP socket would answer them. The stack socket's own state lives
 * in its shared slot; options that mean the same on the program's end of
 * the socketpair (buffer sizes, timeouts, SO_RCVLOWAT, ...) are passed to
 * it. A socket that is only bound is still a kernel socket: everything is
 * the kernel's until it listens or connects. */
#include "config.h"
#include "preload/direct.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

/* Only connected/listening stack sockets are answered here. */
static struct kw_slot *emulated(int fd)
{
	struct kw_slot *s = kw_direct_slot(kw_direct_ref(fd));

	if (s == NULL)
		return NULL;
	switch (atomic_load(&s->kind)) {
	case KW_SLOT_STREAM:
	case KW_SLOT_LISTENER:
		return s;
	default:
		return NULL;
	}
}

static bool fail(int *ret, int err)
{
	*ret = -1;
	errno = err;
	return true;
}

/* An int option's value, copied as the kernel does (at most len bytes). */
static bool put_int(void *val, socklen_t *len, int v, int *ret)
{
	socklen_t n;

	if (len == NULL || val == NULL)
		return fail(ret, EFAULT);
	if ((int)*len < 0)
		return fail(ret, EINVAL);
	n = *len < sizeof(int) ? *len : (socklen_t)sizeof(int);
	memcpy(val, &v, n);
	*len = n;
	*ret = 0;
	return true;
}

static int seconds(uint32_t ms)
{
	return (int)((ms + 999u) / 1000u);
}

static bool get_tcp_info(struct kw_slot *s, void *val, socklen_t *len, int *ret)
{
	struct tcp_info ti;
	socklen_t n;

	if (len == NULL || val == NULL)
		return fail(ret, EFAULT);
	memset(&ti, 0, sizeof(ti));
	switch (atomic_load(&s->state)) {
	case KW_SLOT_CONNECTING:
		ti.tcpi_state = TCP_SYN_SENT;
		break;
	case KW_SLOT_OPEN:
		ti.tcpi_state = atomic_load(&s->kind) == KW_SLOT_LISTENER ? TCP_LISTEN : TCP_ESTABLISHED;
		break;
	default:
		ti.tcpi_state = TCP_CLOSE;
	}
	if (atomic_load(&s->kind) == KW_SLOT_LISTENER)
		ti.tcpi_state = TCP_LISTEN;
	ti.tcpi_snd_mss = ti.tcpi_rcv_mss = (uint32_t)(kw_rt.cfg.has_mtu ? kw_rt.cfg.mtu - 40 : 1460);
	n = *len < sizeof(ti) ? *len : (socklen_t)sizeof(ti);
	memcpy(val, &ti, n);
	*len = n;
	*ret = 0;
	return true;
}

bool kw_direct_getsockopt(int fd, int level, int name, void *val, socklen_t *len, int *ret)
{
	struct kw_slot *s = emulated(fd);

	if (s == NULL)
		return false;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_TYPE:
			return put_int(val, len, SOCK_STREAM, ret);
		case SO_DOMAIN:
			return put_int(val, len, AF_INET, ret);
		case SO_PROTOCOL:
			return put_int(val, len, IPPROTO_TCP, ret);
		case SO_ACCEPTCONN:
			return put_int(val, len, atomic_load(&s->kind) == KW_SLOT_LISTENER, ret);
		case SO_ERROR:
			if (len == NULL || val == NULL)
				return fail(ret, EFAULT);
			kw_direct_lift_sndbuf(fd, s);
			return put_int(val, len, atomic_exchange(&s->error, 0), ret);
		case SO_SNDBUF:
			kw_direct_lift_sndbuf(fd, s);
			return false;           /* the socketpair end answers */
		case SO_KEEPALIVE:
			return put_int(val, len, atomic_load(&s->keepalive), ret);
		case SO_REUSEADDR:
		case SO_REUSEPORT:
			return put_int(val, len, 0, ret);
		default:
			return false;           /* the socketpair end answers */
		}
	}
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_KEEPIDLE:
			return put_int(val, len, seconds(atomic_load(&s->idle_ms)), ret);
		case TCP_KEEPINTVL:
			return put_int(val, len, seconds(atomic_load(&s->interval_ms)), ret);
		case TCP_KEEPCNT:
			return put_int(val, len, (int)atomic_load(&s->count), ret);
		case TCP_NODELAY:
			return put_int(val, len, atomic_load(&s->nodelay), ret);
		case TCP_USER_TIMEOUT:
			return put_int(val, len, (int)atomic_load(&s->user_timeout_ms), ret);
		case TCP_MAXSEG:
			return put_int(val, len, kw_rt.cfg.has_mtu ? (int)kw_rt.cfg.mtu - 40 : 1460, ret);
		case TCP_INFO:
			return get_tcp_info(s, val, len, ret);
		default:
			return fail(ret, ENOPROTOOPT);
		}
	}
	if (level == IPPROTO_IP) {
		switch (name) {
		case IP_TOS:
			return put_int(val, len, 0, ret);
		case IP_TTL:
			return put_int(val, len, 64, ret);
		default:
			return fail(ret, ENOPROTOOPT);
		}
	}
	return fail(ret, ENOPROTOOPT);
}

static bool is_keepalive_option(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == SO_KEEPALIVE;
	return level == IPPROTO_TCP &&
	       (name == TCP_KEEPIDLE || name == TCP_KEEPINTVL || name == TCP_KEEPCNT);
}

static bool set_in_stack(struct kw_slot *s, int level, int name, int value, int *ret)
{
	struct kw_direct_request rq = { .op = KW_OP_SETOPT, .level = level, .name = name,
					.value = value };
	uint32_t ref = 0;
	int r;

	rq.slot = (uint32_t)(s - kw_dc.shared->slot);
	rq.gen = atomic_load(&s->gen) & 0xffffu;
	r = kw_direct_request(&rq, NULL, 0, &ref);
	if (r != 0)
		return fail(ret, -r);
	*ret = 0;
	return true;
}

bool kw_direct_setsockopt(int fd, int level, int name, const void *val, socklen_t len, int *ret)
{
	struct kw_slot *s = emulated(fd);
	int v;

	if (s == NULL)
		return false;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_KEEPALIVE:
			break;
		case SO_SNDBUF:
		case SO_SNDBUFFORCE:
			/* The program's own size wins over the one kept to
			 * restore after the handshake. */
			atomic_store(&s->sndbuf, 0);
			return false;
		case SO_REUSEADDR:
		case SO_REUSEPORT:
		case SO_LINGER:
		case SO_PRIORITY:
		case SO_MARK:
		case SO_OOBINLINE:
		case SO_BINDTODEVICE:
			/* Accepted and without effect on a stack socket. */
			*ret = 0;
			return true;
		default:
			return false;           /* buffers, timeouts: the pair's */
		}
	} else if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
		case TCP_NODELAY:
		case TCP_USER_TIMEOUT:
			break;
		default:
			/* TCP_CORK, TCP_QUICKACK, TCP_DEFER_ACCEPT, congestion
			 * control, ...: hints the stack does without. */
			*ret = 0;
			return true;
		}
	} else {
		*ret = 0;                       /* IP_TOS, IP_TTL, ...: hints */
		return true;
	}
	if (val == NULL)
		return fail(ret, EFAULT);
	if (len < sizeof(int))
		return fail(ret, EINVAL);
	memcpy(&v, val, sizeof(v));
	if (is_keepalive_option(level, name) && kw_rt.active && kw_rt.cfg.policy == KW_POLICY_FORCE) {
		kw_log(KW_LOG_INFO, "fd %d: ignored the program's keepalive option %d/%d "
		       "(KEEPWIRE_POLICY=force)", fd, level, name);
		*ret = 0;
		return true;
	}
	return set_in_stack(s, level, name, v, ret);
}

bool kw_direct_sockname(int fd, struct sockaddr *addr, socklen_t *len, bool peer, int *ret)
{
	struct kw_slot *s = kw_direct_slot(kw_direct_ref(fd));
	struct sockaddr_in sin;
	uint8_t kind;

	if (s == NULL)
		return false;
	kind = atomic_load(&s->kind);
	if (kind == KW_SLOT_BOUND && !peer)
		return false;                   /* still a kernel socket */
	if (addr == NULL || len == NULL)
		return fail(ret, EFAULT);
	if ((int)*len < 0)
		return fail(ret, EINVAL);
	if (peer && (kind != KW_SLOT_STREAM ||
		     atomic_load_explicit(&s->state, memory_order_acquire) != KW_SLOT_OPEN))
		return fail(ret, ENOTCONN);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(atomic_load(peer ? &s->raddr : &s->laddr));
	sin.sin_port = htons(atomic_load(peer ? &s->rport : &s->lport));
	memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
	*ret = 0;
	return true;
}
