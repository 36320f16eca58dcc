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

/* An option's value, copied as the kernel does (at most *len bytes). */
static bool put_value(void *val, socklen_t *len, const void *v, size_t size, int *ret)
{
	socklen_t n;

	if (len == NULL || val == NULL)
		return fail(ret, EFAULT);
	if ((int)*len < 0)
		return fail(ret, EINVAL);
	n = *len < size ? *len : (socklen_t)size;
	memcpy(val, v, n);
	*len = n;
	*ret = 0;
	return true;
}

static bool put_int(void *val, socklen_t *len, int v, int *ret)
{
	return put_value(val, len, &v, sizeof(v), ret);
}

static int seconds(uint32_t ms)
{
	return (int)((ms + 999u) / 1000u);
}

/* Linux's struct tcp_info as far as tcpi_rehash (linux/tcp.h): glibc's
 * <netinet/tcp.h> stops at tcpi_total_retrans; programs built against the
 * kernel's header read the rest. */
struct kw_linux_tcp_info {
	struct tcp_info base;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in, notsent_bytes, min_rtt, data_segs_in, data_segs_out;
	uint64_t delivery_rate, busy_time, rwnd_limited, sndbuf_limited;
	uint32_t delivered, delivered_ce;
	uint64_t bytes_sent, bytes_retrans;
	uint32_t dsack_dups, reord_seen, rcv_ooopack, snd_wnd, rcv_wnd, rehash;
};
_Static_assert(offsetof(struct kw_linux_tcp_info, rcv_wnd) == 232, "Linux's tcp_info layout");

static uint8_t linux_state(enum kw_tcp_state st)
{
	static const uint8_t map[] = {
		[KW_TCP_CLOSED] = TCP_CLOSE, [KW_TCP_LISTEN] = TCP_LISTEN,
		[KW_TCP_SYN_SENT] = TCP_SYN_SENT, [KW_TCP_SYN_RECEIVED] = TCP_SYN_RECV,
		[KW_TCP_ESTABLISHED] = TCP_ESTABLISHED, [KW_TCP_FIN_WAIT_1] = TCP_FIN_WAIT1,
		[KW_TCP_FIN_WAIT_2] = TCP_FIN_WAIT2, [KW_TCP_CLOSE_WAIT] = TCP_CLOSE_WAIT,
		[KW_TCP_CLOSING] = TCP_CLOSING, [KW_TCP_LAST_ACK] = TCP_LAST_ACK,
		[KW_TCP_TIME_WAIT] = TCP_TIME_WAIT,
	};
	return (unsigned)st < sizeof(map) ? map[st] : TCP_CLOSE;
}

/* TCP_INFO from the engine's view of the connection. */
static bool get_tcp_info(struct kw_slot *s, void *val, socklen_t *len, int *ret)
{
	struct kw_direct_request rq = { .op = KW_OP_INFO };
	struct kw_linux_tcp_info ti;
	struct kw_tcp_info k;
	int r;

	if (len == NULL || val == NULL)
		return fail(ret, EFAULT);
	rq.slot = (uint32_t)(s - kw_dc.shared->slot);
	rq.gen = atomic_load(&s->gen) & 0xffffu;
	r = kw_direct_info(&rq, &k);
	if (r != 0)
		memset(&k, 0, sizeof(k));          /* gone meanwhile: closed */
	if (atomic_load(&s->kind) == KW_SLOT_LISTENER)
		k.state = KW_TCP_LISTEN;
	memset(&ti, 0, sizeof(ti));
	ti.base.tcpi_state = linux_state(k.state);
	ti.base.tcpi_retransmits = k.retransmits;
	ti.base.tcpi_probes = k.probes;
	ti.base.tcpi_backoff = k.backoff;
	ti.base.tcpi_options = (uint8_t)(((k.options & KW_TCPI_OPT_TIMESTAMPS) ? TCPI_OPT_TIMESTAMPS : 0) |
					 ((k.options & KW_TCPI_OPT_SACK) ? TCPI_OPT_SACK : 0) |
					 ((k.options & KW_TCPI_OPT_WSCALE) ? TCPI_OPT_WSCALE : 0));
	ti.base.tcpi_snd_wscale = k.snd_wscale & 15;
	ti.base.tcpi_rcv_wscale = k.rcv_wscale & 15;
	ti.base.tcpi_rto = k.rto_us;
	ti.base.tcpi_snd_mss = k.snd_mss;
	ti.base.tcpi_rcv_mss = k.rcv_mss;
	ti.base.tcpi_advmss = k.snd_mss;
	ti.base.tcpi_unacked = k.unacked;
	ti.base.tcpi_lost = k.lost;
	ti.base.tcpi_retrans = k.retrans;
	ti.base.tcpi_last_data_sent = k.last_data_sent_ms;
	ti.base.tcpi_last_data_recv = k.last_data_recv_ms;
	ti.base.tcpi_last_ack_recv = k.last_ack_recv_ms;
	ti.base.tcpi_pmtu = kw_rt.cfg.has_mtu ? kw_rt.cfg.mtu : 1500;
	ti.base.tcpi_rtt = k.rtt_us;
	ti.base.tcpi_rttvar = k.rttvar_us;
	ti.base.tcpi_snd_ssthresh = k.snd_ssthresh;
	ti.base.tcpi_snd_cwnd = k.snd_cwnd;
	ti.base.tcpi_reordering = 3;
	ti.base.tcpi_total_retrans = k.total_retrans;
	ti.bytes_acked = k.bytes_acked;
	ti.bytes_received = k.bytes_received;
	ti.segs_out = k.segs_out;
	ti.segs_in = k.segs_in;
	ti.data_segs_in = k.data_segs_in;
	ti.data_segs_out = k.data_segs_out;
	ti.bytes_sent = k.bytes_sent;
	ti.bytes_retrans = k.bytes_retrans;
	ti.min_rtt = k.min_rtt_us;
	ti.delivery_rate = k.delivery_rate;
	ti.snd_wnd = k.snd_wnd;
	ti.rcv_wnd = k.rcv_wnd;
	return put_value(val, len, &ti, offsetof(struct kw_linux_tcp_info, rehash), ret);
}

static bool get_linger(struct kw_slot *s, void *val, socklen_t *len, int *ret)
{
	struct linger l = {
		.l_onoff = atomic_load(&s->linger_on),
		.l_linger = atomic_load(&s->linger_s),
	};

	return put_value(val, len, &l, sizeof(l), ret);
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
			return put_int(val, len, 0, ret);
		case SO_REUSEPORT:
			return put_int(val, len, atomic_load(&s->reuseport), ret);
		case SO_LINGER:
			return get_linger(s, val, len, ret);
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
		case TCP_NODELAY: {
			uint8_t set = atomic_load(&s->nodelay_set);

			return put_int(val, len, set != 0 ? set == 2 : atomic_load(&s->nodelay), ret);
		}
		case TCP_USER_TIMEOUT:
			return put_int(val, len, (int)atomic_load(&s->user_timeout_ms), ret);
		case TCP_MAXSEG:
			return put_int(val, len, kw_rt.cfg.has_mtu ? (int)kw_rt.cfg.mtu - 40 : 1460, ret);
		case TCP_INFO:
			return get_tcp_info(s, val, len, ret);
		case TCP_CONGESTION: {
			/* As Linux: the name in a 16-byte field (TCP_CA_NAME_MAX). */
			char ca[16] = { 0 };
			strncpy(ca, kw_congestion_name(kw_rt.cfg.congestion), sizeof(ca) - 1);
			return put_value(val, len, ca, sizeof(ca), ret);
		}
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

static bool set_linger(struct kw_slot *s, const void *val, socklen_t len, int *ret)
{
	struct kw_direct_request rq = { .op = KW_OP_SETOPT, .level = SOL_SOCKET, .name = SO_LINGER };
	struct linger l;
	uint32_t ref = 0;
	int r;

	if (val == NULL)
		return fail(ret, EFAULT);
	if (len < sizeof(l))
		return fail(ret, EINVAL);
	memcpy(&l, val, sizeof(l));
	rq.value = l.l_onoff != 0;
	rq.value2 = l.l_linger < 0 ? 0 : l.l_linger;
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
		case SO_LINGER:
			return set_linger(s, val, len, ret);
		case SO_SNDBUF:
		case SO_SNDBUFFORCE:
			/* The program's own size wins over the one kept to
			 * restore after the handshake. */
			atomic_store(&s->sndbuf, 0);
			return false;
		case SO_REUSEADDR:
		case SO_REUSEPORT:
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
	if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		/* During the handshake: no request (proto.h, nodelay_set);
		 * wrk, for one, sets it right after a non-blocking connect. */
		if (atomic_load(&s->kind) == KW_SLOT_STREAM &&
		    atomic_load_explicit(&s->state, memory_order_acquire) == KW_SLOT_CONNECTING) {
			atomic_store(&s->nodelay_set, v != 0 ? 2 : 1);
			*ret = 0;
			return true;
		}
		/* Later: the request's value, not one still waiting. */
		atomic_store(&s->nodelay_set, 0);
	}
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
	if (kind == KW_SLOT_BOUND && !peer && atomic_load(&s->laddr) == 0)
		return false;   /* bound on INADDR_ANY: the kernel socket holds the same port */
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
