/* TCP: segment arrival. Validation (length, data offset, options,
 * checksum), demultiplexing (connection table, then listeners, else RST),
 * and the event processing of RFC 9293 §3.10.7 with the RFC 5961
 * defences: a RST resets only when its sequence number is exactly
 * RCV.NXT (in-window: challenge ACK; else ignored), a SYN on a
 * synchronized connection draws a challenge ACK, an ACK for data never
 * sent or too old is answered and dropped. Congestion control: slow start
 * and congestion avoidance (RFC 5681) counting bytes acknowledged
 * (tcp_cc_grow: why NewReno and not CUBIC), fast retransmit / NewReno
 * fast recovery (RFC 6582) without SACK, RFC 6675 recovery with RACK-TLP
 * with SACK (tcp_sack.c, tcp_rack.c), cwnd bounded by tcp_cwnd_max(). RFC 7323
 * timestamps: negotiation on the SYNs, PAWS, TS.Recent, RTT samples from
 * TSecr. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"
#include "stack/tcp_syncookie.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tcp_parse_options(const uint8_t *p, size_t len, struct tcp_opts *o)
{
	size_t i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i], olen;
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		olen = p[i + 1];
		if (olen < 2 || i + olen > len)
			return -1;
		switch (kind) {
		case 2:
			if (olen != 4)
				return -1;
			o->mss_ok = true;
			o->mss = get16(p + i + 2);
			break;
		case 3:
			if (olen != 3)
				return -1;
			o->ws_ok = true;
			o->ws = p[i + 2];
			break;
		case 4:
			if (olen != 2)
				return -1;
			o->sack_ok = true;
			break;
		case 5:
			/* SACK blocks (RFC 2018): a malformed option is ignored,
			 * not the segment (as Linux). */
			if (olen >= 10 && (olen - 2) % 8 == 0 && olen <= 34) {
				o->nsack = (uint8_t)((olen - 2) / 8);
				for (unsigned b = 0; b < o->nsack; b++) {
					o->sack[b][0] = get32(p + i + 2 + 8 * b);
					o->sack[b][1] = get32(p + i + 6 + 8 * b);
				}
			}
			break;
		case 8:
			if (olen != 10)
				return -1;
			o->ts_ok = true;
			o->tsval = get32(p + i + 2);
			o->tsecr = get32(p + i + 6);
			break;
		default:
			break;
		}
		i += olen;
	}
	return 0;
}

struct seg {
	uint32_t src, dst;
	uint16_t sport, dport;
	seq_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *data;
	uint32_t dlen;
	struct tcp_opts opt;
};

static uint32_t seg_len(const struct seg *s)
{
	return s->dlen + ((s->flags & TH_SYN) ? 1 : 0) + ((s->flags & TH_FIN) ? 1 : 0);
}

/* RFC 9293 §3.10.7.1: no connection. */
static void reply_reset(struct kw_tcp_layer *L, const struct seg *s, uint64_t now_ns)
{
	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK)
		tcp_reply_rst(L, s->dst, s->src, s->dport, s->sport, s->ack, 0, false, now_ns);
	else
		tcp_reply_rst(L, s->dst, s->src, s->dport, s->sport, 0,
			      seq_add(s->seq, seg_len(s)), true, now_ns);
}

static void apply_syn_options(struct kw_tcp *c, const struct seg *s, uint64_t now_ns)
{
	/* An MSS option of 0 counts as none, as for Linux. */
	c->peer_mss = s->opt.mss_ok && s->opt.mss ? s->opt.mss : TCP_DEFAULT_MSS;
	/* RFC 7323 §3.2: timestamps are on when the SYN we answer offered
	 * them, or the SYN-ACK to ours carried them (we always offer). The
	 * MSS counts no options (RFC 6691): data segments then carry 12
	 * bytes fewer (tcp_mss_now, which also clamps a tiny MSS). */
	c->ts_ok = s->opt.ts_ok;
	if (c->ts_ok) {
		c->ts_recent = s->opt.tsval;
		c->ts_recent_at = now_ns;
	}
	c->mss = tcp_mss_now(c);
	/* SACK (RFC 2018 §2): we offer it on every SYN; on when the SYN we
	 * answer or the SYN-ACK to ours carries SACK-permitted. */
	c->sack_ok = s->opt.sack_ok;
	if (s->opt.ws_ok) {
		c->ws_ok = true;
		c->snd_wscale = s->opt.ws > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : s->opt.ws;
	} else {
		c->ws_ok = false;
		c->snd_wscale = 0;
		c->rcv_wscale = 0;
	}
	tcp_cc_init(c, now_ns);
}

/* ---- SYN cookies (tcp_syncookie.h; Linux with tcp_syncookies=1) ---------- */

static void sync_input(struct kw_tcp *c, struct seg *s, uint64_t now_ns);

static void cookie_key(const struct kw_tcp_layer *L, struct tcp_cookie_key *k)
{
	uint64_t seed = L->env.seed;

	k->k0 = tcp_siphash(seed, ~seed, "syncookie", 9);
	k->k1 = tcp_siphash(~seed, seed, "syncookie", 9);
}

/* rcv_wscale for a receive buffer of cap bytes, as alloc_buffers sets it
 * on the child that the cookie's ACK creates. */
static uint8_t wscale_for(size_t cap)
{
	uint8_t ws = 0;

	while (ws < TCP_MAX_WSCALE && ((size_t)65535 << ws) < cap)
		ws++;
	return ws;
}

/* The SYN queue is full: answer with a SYN-ACK whose ISN is a cookie and
 * keep nothing. The SYN-ACK is the one a child would send (same options,
 * window, TSecr), built on a connection block on the stack that lives for
 * this call only; its TSval carries the peer's window scale. */
static void cookie_synack(struct kw_tcp *l, const struct seg *s, uint64_t now_ns)
{
	struct kw_tcp_layer *L = l->layer;
	struct tcp_cookie_key key;
	struct tcp_cookie_tuple t = { s->dst, s->src, s->dport, s->sport };
	struct kw_tcp tmp;

	cookie_key(L, &key);
	memset(&tmp, 0, sizeof(tmp));
	tmp.layer = L;
	tmp.state = KW_TCP_SYN_RECEIVED;
	tmp.laddr = s->dst;
	tmp.lport = s->dport;
	tmp.raddr = s->src;
	tmp.rport = s->sport;
	tmp.rcv.cap = l->rcv.cap;
	tmp.rcv_wscale = wscale_for(tmp.rcv.cap);
	tmp.rtx_at = tmp.delack_at = tmp.ka_at = tmp.tw_at = KW_TIME_NEVER;
	tmp.irs = s->seq;
	tmp.rcv_nxt = tmp.rcv_adv = seq_succ(s->seq);
	tmp.iss = tcp_syncookie_encode(&key, &t, s->seq,
				       s->opt.mss_ok ? s->opt.mss : TCP_DEFAULT_MSS, now_ns);
	tmp.snd_una = tmp.snd_nxt = tmp.snd_max = tmp.iss;
	apply_syn_options(&tmp, s, now_ns);
	if (tmp.ts_ok) {
		/* SACK is never agreed (we do not offer it), ECN neither. */
		struct tcp_cookie_opts o = { tmp.ws_ok, tmp.snd_wscale, false };
		uint32_t ms = (uint32_t)(now_ns / TCP_TS_TICK);

		tmp.ts_offset = tcp_ts_offset(L, tmp.laddr, tmp.lport, tmp.raddr, tmp.rport) +
				(tcp_syncookie_ts_encode(ms, &o) - ms);
	}
	tcp_send_syn(&tmp, now_ns);
	L->stats.syncookies_sent++;
}

/* An ACK reached a listener: is it the end of a handshake answered with a
 * cookie? True when it was taken (a child made, or dropped because the
 * accept queue is full, as Linux), false to answer with a RST: as
 * cookie_v4_check, a bad cookie is an ACK without connection. */
static bool cookie_ack(struct kw_tcp *l, const struct seg *s, uint64_t now_ns)
{
	struct kw_tcp_layer *L = l->layer;
	struct tcp_cookie_key key;
	struct tcp_cookie_tuple t = { s->dst, s->src, s->dport, s->sport };
	seq_t irs = seq_pred(s->seq), iss = seq_pred(s->ack);
	struct seg syn, first;
	uint16_t mss;
	struct kw_tcp *c;

	if (s->flags & (TH_SYN | TH_RST))
		return false;
	/* No cookie went out in the last two periods: none can come back
	 * (Linux's tcp_synq_no_recent_overflow), and guessing is not tried. */
	if (!l->synq_overflowed ||
	    now_ns - l->synq_overflow_at > TCP_SYNCOOKIE_MAX_AGE * TCP_SYNCOOKIE_PERIOD)
		return false;
	cookie_key(L, &key);
	mss = tcp_syncookie_decode(&key, &t, irs, iss, now_ns);
	if (mss == 0) {
		L->stats.syncookies_failed++;
		return false;
	}
	if (l->n_accept >= (unsigned)l->backlog)
		return true;            /* as Linux: dropped, the peer retransmits */
	c = tcp_child_new(l, s->dst, s->src, s->sport, now_ns);
	if (!c)
		return true;
	L->stats.syncookies_ok++;
	c->irs = irs;
	c->rcv_nxt = s->seq;
	/* What our SYN-ACK advertised (never scaled). */
	c->rcv_adv = seq_add(c->rcv_nxt, (uint32_t)(c->rcv.cap > 65535 ? 65535 : c->rcv.cap));
	c->last_ack_sent = c->rcv_nxt;
	c->iss = c->snd_una = c->recover = iss;
	c->snd_nxt = c->snd_max = s->ack;
	c->snd_wl1 = irs;
	c->snd_wl2 = iss;
	/* The SYN as the cookie remembers it: the table's MSS; window scale
	 * from the TSecr's low bits when timestamps are on, else none. */
	memset(&syn, 0, sizeof(syn));
	syn.opt.mss_ok = true;
	syn.opt.mss = mss;
	if (s->opt.ts_ok) {
		struct tcp_cookie_opts o;

		tcp_syncookie_ts_decode(s->opt.tsecr - c->ts_offset, &o);
		syn.opt.ts_ok = true;
		syn.opt.tsval = s->opt.tsval;
		syn.opt.ws_ok = o.ws_ok;
		syn.opt.ws = o.ws;
	}
	apply_syn_options(c, &syn, now_ns);
	/* The ACK itself, with any data, as for a child in SYN-RECEIVED. */
	first = *s;
	sync_input(c, &first, now_ns);
	return true;
}

static void listen_input(struct kw_tcp *l, const struct seg *s, uint64_t now_ns)
{
	struct kw_tcp *c;

	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK) {
		if (!cookie_ack(l, s, now_ns))
			reply_reset(l->layer, s, now_ns);
		return;
	}
	if (!(s->flags & TH_SYN))
		return;
	if (l->n_syn >= (unsigned)l->backlog) {
		/* SYN queue full: a cookie (RFC 4987 §3.6), unless the accept
		 * queue is full too, where Linux drops the SYN. */
		if (l->n_accept < (unsigned)l->backlog) {
			l->synq_overflowed = true;
			l->synq_overflow_at = now_ns;
			cookie_synack(l, s, now_ns);
		}
		return;
	}
	c = tcp_child_new(l, s->dst, s->src, s->sport, now_ns);
	if (!c)
		return;                 /* backlog full: drop, the peer retries */
	c->irs = s->seq;
	c->rcv_nxt = seq_succ(s->seq);
	c->rcv_adv = c->rcv_nxt;
	apply_syn_options(c, s, now_ns);
	c->snd_wnd = s->win;            /* never scaled in a SYN */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = c->iss;
	keepalive_on_receive(&c->ka, now_ns);
	tcp_send_syn(c, now_ns);
	tcp_rtx_arm(c, now_ns);
}

/* RFC 7323 §4.1 / RFC 6298: with timestamps, an ACK that advances
 * SND.UNA measures the RTT as now - TSecr, retransmissions included (the
 * echo names the very transmission that was answered, so Karn's rule is
 * not needed). An echo from the future or more than TCP_RTO_MAX back (a
 * broken or forged one; 0 means "no echo" as for Linux) gives no sample. */
static bool ts_rtt_sample(struct kw_tcp *c, const struct seg *s, uint64_t now_ns)
{
	int32_t d;

	if (!c->ts_ok || !s->opt.ts_ok || s->opt.tsecr == 0)
		return false;
	d = seq_diff(tcp_ts_now(c, now_ns), s->opt.tsecr);
	if (d < 0 || (uint64_t)d > TCP_RTO_MAX / TCP_TS_TICK)
		return false;
	tcp_rtt_sample(c, (uint64_t)d * TCP_TS_TICK);
	return true;
}

static void syn_sent_input(struct kw_tcp *c, const struct seg *s, uint64_t now_ns)
{
	bool ack_ok = false;

	if (s->flags & TH_ACK) {
		if (seq_leq(s->ack, c->iss) || seq_gt(s->ack, c->snd_max)) {
			reply_reset(c->layer, s, now_ns);
			return;
		}
		ack_ok = true;
	}
	if (s->flags & TH_RST) {
		if (ack_ok) {
			c->layer->stats.rst_in++;
			tcp_set_closed(c, ECONNREFUSED);
		}
		return;
	}
	if (!(s->flags & TH_SYN))
		return;
	c->irs = s->seq;
	c->rcv_nxt = seq_succ(s->seq);
	c->rcv_adv = c->rcv_nxt;
	apply_syn_options(c, s, now_ns);
	keepalive_on_receive(&c->ka, now_ns);
	if (ack_ok) {
		/* The SYN timed in ns when it went once (TSecr's 1 ms ticks
		 * say 0 on a fast link), else the echo names the SYN answered. */
		if (c->rtt_timing && c->retries == 0)
			tcp_rtt_sample(c, now_ns - c->rtt_start);
		else
			(void)ts_rtt_sample(c, s, now_ns);
		tcp_rto_after_handshake(c);
		c->rtt_timing = false;
		c->retries = 0;
		c->rtx_stamped = false;
		c->snd_una = s->ack;
		c->snd_nxt = seq_max(c->snd_nxt, c->snd_una);
		c->snd_wnd = s->win;    /* never scaled in a SYN */
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		tcp_rtx_stop(c);
		tcp_set_state(c, KW_TCP_ESTABLISHED);
		c->ack_now = true;
		tcp_output(c, now_ns);
	} else {
		/* Simultaneous open. */
		c->state = KW_TCP_SYN_RECEIVED;
		c->snd_wnd = s->win;
		c->snd_wl1 = s->seq;
		tcp_send_syn(c, now_ns);
	}
}

static void process_fin(struct kw_tcp *c, uint64_t now_ns)
{
	c->rcv_nxt = seq_succ(c->rcv_nxt);
	c->fin_received = true;
	c->ack_now = true;
	switch (c->state) {
	case KW_TCP_SYN_RECEIVED:
	case KW_TCP_ESTABLISHED:
		tcp_set_state(c, KW_TCP_CLOSE_WAIT);
		break;
	case KW_TCP_FIN_WAIT_1:
		if (c->fin_sent && seq_gt(c->snd_una, c->fin_seq)) {
			tcp_send_ack(c, now_ns);
			tcp_enter_time_wait(c, now_ns);
		} else {
			tcp_set_state(c, KW_TCP_CLOSING);
		}
		break;
	case KW_TCP_FIN_WAIT_2:
		tcp_send_ack(c, now_ns);
		tcp_enter_time_wait(c, now_ns);
		break;
	default:
		break;
	}
}

/* Out-of-order data is held only once per sequence number: the list is
 * sorted and its pieces never overlap, so the bytes held never exceed the
 * sequence space they cover, which lies inside the window we advertised
 * (sync_input trims every segment to it). A new segment is trimmed
 * against its neighbours (its head against the piece before it, its tail
 * against the piece after it) and replaces the pieces it covers whole,
 * as Linux's tcp_data_queue_ofo drops the skbs a new one covers. We trim
 * rather than merge: merging would copy the bytes already held again for
 * every segment, and a peer sending one-byte pieces next to a large one
 * would make that quadratic. TCP_OOO_MAX bounds the pieces (and so the
 * per-piece overhead) on top of the bytes. */
static void ooo_free(struct kw_tcp *c, struct tcp_ooo **pp)
{
	struct tcp_ooo *o = *pp;

	*pp = o->next;
	c->n_ooo--;
	c->ooo_bytes -= o->len;
	tcp_mem_uncharge(c->layer, sizeof(*o) + o->len);
	free(o);
}

static void ooo_insert(struct kw_tcp *c, seq_t seq, const uint8_t *data, uint32_t len, bool fin)
{
	struct tcp_ooo **pp = &c->ooo, *o, *prev = NULL;
	seq_t end = seq_add(seq, len);
	int32_t d = seq_diff(c->rcv_adv, c->rcv_nxt);
	uint32_t wnd = d > 0 ? (uint32_t)d : 0;

	while (*pp && seq_lt((*pp)->seq, seq)) {
		prev = *pp;
		pp = &prev->next;
	}
	if (prev) {
		seq_t pend = seq_add(prev->seq, prev->len);
		if (seq_geq(pend, end)) {
			if (fin && pend == end)
				prev->fin = true;
			return;             /* nothing new */
		}
		if (seq_gt(pend, seq)) {
			uint32_t cut = (uint32_t)seq_diff(pend, seq);
			data += cut;
			len -= cut;
			seq = pend;
		}
	}
	o = *pp;
	if (o && o->seq == seq && seq_geq(seq_add(o->seq, o->len), end)) {
		if (fin && seq_add(o->seq, o->len) == end)
			o->fin = true;
		return;                     /* nothing new */
	}
	/* Pieces the new one covers whole go (their FIN with them when it
	 * is at the same place). */
	while ((o = *pp) != NULL && seq_leq(seq_add(o->seq, o->len), end)) {
		if (o->fin && seq_add(o->seq, o->len) == end)
			fin = true;
		ooo_free(c, pp);
	}
	if (o && seq_lt(o->seq, end)) {
		len = (uint32_t)seq_diff(o->seq, seq);
		fin = false;                /* data follows: not the end */
	}
	if (c->n_ooo >= TCP_OOO_MAX || c->ooo_bytes + len > wnd)
		return;
	if (!tcp_mem_charge(c->layer, sizeof(*o) + len, true)) {
		c->layer->stats.mem_drops++;        /* pressure: dropped first */
		return;
	}
	o = malloc(sizeof(*o) + len);
	if (!o) {
		tcp_mem_uncharge(c->layer, sizeof(*o) + len);
		return;
	}
	o->seq = seq;
	o->len = len;
	o->fin = fin;
	memcpy(o->data, data, len);
	o->next = *pp;
	*pp = o;
	c->n_ooo++;
	c->ooo_bytes += len;
}

size_t kw_tcp_ooo_bytes(const struct kw_tcp *c)
{
	return c->ooo_bytes;
}

/* Move what became in-order from the out-of-order list. */
static void ooo_pull(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_ooo *o;

	while ((o = c->ooo) != NULL && seq_leq(o->seq, c->rcv_nxt)) {
		seq_t end = seq_add(o->seq, o->len);
		bool fin = false;

		c->ooo = o->next;
		c->n_ooo--;
		c->ooo_bytes -= o->len;
		if (seq_gt(end, c->rcv_nxt)) {
			uint32_t off = (uint32_t)seq_diff(c->rcv_nxt, o->seq);
			size_t n = ring_write(&c->rcv, o->data + off, o->len - off);
			c->rcv_nxt = seq_add(c->rcv_nxt, (uint32_t)n);
			c->ctr.bytes_received += n;
		}
		fin = o->fin && c->rcv_nxt == end && !c->fin_received;
		tcp_mem_uncharge(c->layer, sizeof(*o) + o->len);
		free(o);
		if (fin)
			process_fin(c, now_ns);
	}
}

static void process_ack(struct kw_tcp *c, const struct seg *s, uint64_t now_ns)
{
	uint32_t acked = (uint32_t)seq_diff(s->ack, c->snd_una);
	size_t data = acked < c->snd.len ? acked : c->snd.len;
	uint32_t mss = c->mss;

	if (c->rtt_timing && seq_gt(s->ack, c->rtt_seq)) {
		/* Never retransmitted (Karn), measured in ns. */
		tcp_rtt_sample(c, now_ns - c->rtt_start);
		c->rtt_timing = false;
	} else {
		(void)ts_rtt_sample(c, s, now_ns);
	}
	ring_drop(&c->snd, data);
	c->ctr.bytes_acked += data;
	tcp_mem_reclaim(c);
	c->snd_una = s->ack;
	if (seq_lt(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	c->retries = 0;
	c->rtx_stamped = false;
	if (c->sack_ok && tcp_sack_cum_ack(c, s->ack)) {
		/* SACK recovery (tcp_sack.c): no growth, no deflation */
	} else if (c->in_recovery) {
		if (seq_geq(s->ack, c->recover)) {
			/* Full acknowledgment: deflate (RFC 6582 §3.2 (3)). */
			uint32_t flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);
			c->cwnd = c->ssthresh < flight + mss ? c->ssthresh : flight + mss;
			c->in_recovery = false;
			c->dupacks = 0;
		} else {
			/* Partial acknowledgment: retransmit the next hole,
			 * deflate by what was acked, add back one MSS. */
			tcp_retransmit_head(c, now_ns);
			c->cwnd = c->cwnd > acked ? c->cwnd - acked + mss : mss;
			if (c->cwnd > tcp_cwnd_max(c))
				c->cwnd = tcp_cwnd_max(c);
			c->layer->stats.fast_retransmits++;
		}
	} else {
		c->dupacks = 0;
		if (!c->bbr_on)
			tcp_cc_grow(c, acked);
	}
	if (c->snd_una == c->snd_max)
		tcp_rtx_stop(c);
	else
		tcp_rtx_arm(c, now_ns);
	tcp_notify(c);
}

/* Window growth: Reno's AIMD in bytes. Our choice is NewReno (with SACK
 * recovery when agreed), not CUBIC (RFC 9438): the stack's paths are
 * mostly short (a LAN, a host's own namespaces), where CUBIC runs in its
 * Reno-friendly region anyway; AIMD keeps recovery simple to reason
 * about and to test in fake time; and loss recovery, not growth, was
 * what failed under loss. Slow start adds every byte acknowledged, as
 * Linux's tcp_slow_start counts every segment an ACK covers: a receiver
 * that coalesces (GRO) and ACKs 64 KiB at a time must not slow us down
 * (RFC 3465's L = 2 SMSS would). Congestion avoidance adds
 * SMSS * acked / cwnd per ACK: one SMSS per window's worth of bytes
 * acknowledged, however many ACKs carry it (Linux's tcp_cong_avoid_ai).
 * Recovery: cwnd = ssthresh = FlightSize / 2 (RFC 6675 §5, RFC 5681
 * (4)), RTO: cwnd = 1 SMSS. */
void tcp_cc_grow(struct kw_tcp *c, uint32_t acked)
{
	uint32_t mss = c->mss, inc;

	if (c->cwnd < c->ssthresh) {
		inc = acked;
	} else {
		inc = (uint32_t)((uint64_t)mss * acked / c->cwnd);
		if (inc == 0)
			inc = 1;
	}
	c->cwnd = c->cwnd > tcp_cwnd_max(c) - inc ? tcp_cwnd_max(c) : c->cwnd + inc;
}

static void dupack(struct kw_tcp *c, uint64_t now_ns)
{
	uint32_t mss = c->mss;

	c->dupacks++;
	if (c->sack_ok)
		return;         /* tcp_sack_after_ack decides (RFC 6675) */
	if (c->in_recovery) {
		/* Inflate (RFC 5681 §3.2 (4)), bounded: duplicate ACKs are
		 * cheap to forge and must not wrap cwnd. */
		c->cwnd = c->cwnd > tcp_cwnd_max(c) - mss ? tcp_cwnd_max(c) : c->cwnd + mss;
		return;
	}
	if (c->dupacks == 3 && seq_gt(c->snd_una, c->recover)) {
		uint32_t flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);
		c->ssthresh = flight / 2 > 2 * mss ? flight / 2 : 2 * mss;
		c->recover = c->snd_max;
		c->in_recovery = true;
		c->layer->stats.fast_retransmits++;
		tcp_retransmit_head(c, now_ns);
		c->cwnd = c->ssthresh + 3 * mss;
		tcp_rtx_arm(c, now_ns);
	}
}

/* RST on a synchronized connection, accepted (RFC 5961 §3.2). */
static void reset_connection(struct kw_tcp *c)
{
	int err;

	c->layer->stats.rst_in++;
	switch (c->state) {
	case KW_TCP_SYN_RECEIVED:
		/* A passive open goes back to LISTEN: the child just dies. */
		err = c->parent ? 0 : ECONNREFUSED;
		break;
	case KW_TCP_CLOSE_WAIT:
		err = EPIPE;                        /* as Linux */
		break;
	case KW_TCP_CLOSING:
	case KW_TCP_LAST_ACK:
	case KW_TCP_TIME_WAIT:
		err = 0;
		break;
	default:
		err = ECONNRESET;
		break;
	}
	tcp_set_closed(c, err);
}

/* The ACK owed to a segment outside the window or acknowledging data
 * never sent (RFC 9293 §3.10.7.4). When the segment is a bare ACK, at
 * most one such answer goes out per TCP_OOW_ACK_GAP per connection, as
 * Linux does (tcp_oow_rate_limited): otherwise two ends that disagree
 * about the sequence space (after a blind data injection, say) answer
 * each other's ACKs forever at link speed. Segments with data or a FIN
 * are always answered: their sender needs the ACK, and they cannot form
 * such a loop. So is a keepalive or window probe (SEQ = RCV.NXT - 1, no
 * data): a keepalive with a sub-second interval must not lose answers. */
static void send_oow_ack(struct kw_tcp *c, const struct seg *s, uint64_t now_ns)
{
	bool probe = s->seq == seq_pred(c->rcv_nxt) && !(s->flags & TH_SYN);

	if (s->dlen == 0 && !(s->flags & TH_FIN) && !probe) {
		if (c->oow_ack_at != 0 && now_ns - c->oow_ack_at < TCP_OOW_ACK_GAP)
			return;
		c->oow_ack_at = now_ns;
	}
	tcp_send_ack(c, now_ns);
}

static void sync_input(struct kw_tcp *c, struct seg *s, uint64_t now_ns)
{
	int32_t d = seq_diff(c->rcv_adv, c->rcv_nxt);
	uint32_t rwnd = d > 0 ? (uint32_t)d : 0;
	seq_t wend = seq_add(c->rcv_nxt, rwnd);
	uint32_t slen = seg_len(s);
	bool ok;

	/* 0. PAWS (RFC 7323 §5.3 R1): a segment whose TSval is older than
	 * TS.Recent is an old duplicate: ACK (rate-limited as for any
	 * unacceptable segment) and drop. Not for RSTs (§5.2), and not when
	 * TS.Recent has gone stale after 24 days idle (§5.5). Segments
	 * without the option are taken as Linux takes them. */
	if (c->ts_ok && s->opt.ts_ok && !(s->flags & TH_RST) &&
	    seq_lt(s->opt.tsval, c->ts_recent) && now_ns - c->ts_recent_at <= TCP_PAWS_IDLE) {
		send_oow_ack(c, s, now_ns);
		tcp_timer_update(c);
		return;
	}

	/* 1. Sequence number check. */
	if (slen == 0)
		ok = rwnd == 0 ? s->seq == c->rcv_nxt : seq_in_range(s->seq, c->rcv_nxt, wend);
	else
		ok = rwnd != 0 && (seq_in_range(s->seq, c->rcv_nxt, wend) ||
				   seq_in_range(seq_add(s->seq, slen - 1), c->rcv_nxt, wend));
	if (!ok && rwnd == 0 && s->seq == c->rcv_nxt && !(s->flags & TH_SYN)) {
		/* Zero window: still take the ACK (and a RST), not the data. */
		s->dlen = 0;
		s->flags &= (uint8_t)~TH_FIN;
		ok = true;
	}

	/* 2. RST (RFC 5961 §3.2). */
	if (s->flags & TH_RST) {
		if (s->seq == c->rcv_nxt)
			reset_connection(c);
		else if (seq_in_range(s->seq, c->rcv_nxt, rwnd ? wend : seq_succ(c->rcv_nxt)))
			tcp_send_challenge_ack(c, now_ns);
		return;
	}

	if (!ok) {
		if (c->state == KW_TCP_SYN_RECEIVED && (s->flags & TH_SYN) && s->seq == c->irs) {
			/* Our SYN-ACK was lost: answer the retransmitted SYN,
			 * echoing its TSval so the peer's RTT sample is right. */
			if (c->ts_ok && s->opt.ts_ok && seq_geq(s->opt.tsval, c->ts_recent)) {
				c->ts_recent = s->opt.tsval;
				c->ts_recent_at = now_ns;
			}
			tcp_send_syn(c, now_ns);
			return;
		}
		if (c->state == KW_TCP_TIME_WAIT && (s->flags & TH_FIN))
			c->tw_at = now_ns + 2 * c->layer->msl_ns;
		if (!(s->flags & TH_SYN))
			tcp_sack_rcv_old(c, s->seq, s->dlen);   /* RFC 2883 */
		send_oow_ack(c, s, now_ns);
		tcp_timer_update(c);
		return;
	}

	/* Only an acceptable segment is news from the peer for keepalive
	 * (as Linux): junk outside the window, a blind or stale segment,
	 * must not keep a dead connection looking alive. */
	keepalive_on_receive(&c->ka, now_ns);

	/* Trim to the window. */
	if (seq_lt(s->seq, c->rcv_nxt)) {
		uint32_t cut = (uint32_t)seq_diff(c->rcv_nxt, s->seq);
		if (s->flags & TH_SYN) {
			s->flags &= (uint8_t)~TH_SYN;
			s->seq = seq_succ(s->seq);
			cut--;
		}
		tcp_sack_rcv_old(c, s->seq, s->dlen);   /* RFC 2883: the old part */
		if (cut >= s->dlen) {
			if (cut > s->dlen)
				s->flags &= (uint8_t)~TH_FIN;
			cut = s->dlen;
		}
		s->data += cut;
		s->dlen -= cut;
		s->seq = seq_add(s->seq, cut);
	}
	if (seq_gt(seq_add(s->seq, s->dlen), wend)) {
		s->dlen = (uint32_t)seq_diff(wend, s->seq);
		s->flags &= (uint8_t)~TH_FIN;
	}

	/* 3. SYN on a synchronized connection: challenge ACK (RFC 5961 §4). */
	if (s->flags & TH_SYN) {
		tcp_send_challenge_ack(c, now_ns);
		return;
	}

	/* 4. ACK. */
	if (!(s->flags & TH_ACK))
		return;
	if (c->state == KW_TCP_SYN_RECEIVED) {
		if (!(seq_lt(c->snd_una, s->ack) && seq_leq(s->ack, c->snd_max))) {
			reply_reset(c->layer, s, now_ns);
			return;
		}
		c->snd_wnd = (uint32_t)s->win << c->snd_wscale;
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		tcp_rto_after_handshake(c);     /* process_ack may sample below */
		tcp_set_state(c, KW_TCP_ESTABLISHED);
		tcp_child_established(c);
	}
	if (seq_gt(s->ack, c->snd_max)) {
		send_oow_ack(c, s, now_ns);        /* acks data never sent */
		return;
	}
	if (seq_lt(s->ack, seq_add(c->snd_una, -(c->max_snd_wnd > 65535 ? c->max_snd_wnd : 65535)))) {
		tcp_send_challenge_ack(c, now_ns); /* RFC 5961 §5.2 */
		return;
	}
	/* TS.Recent (RFC 7323 §4.3, §5.3 R3): from a segment acceptable in
	 * sequence and in ACK (as Linux: a blind segment with a bad ACK must
	 * not move it) that covers Last.ACK.sent, and is not older than
	 * TS.Recent unless that went stale (24 days idle). */
	if (c->ts_ok && s->opt.ts_ok && seq_leq(s->seq, c->last_ack_sent) &&
	    (seq_geq(s->opt.tsval, c->ts_recent) || now_ns - c->ts_recent_at > TCP_PAWS_IDLE)) {
		c->ts_recent = s->opt.tsval;
		c->ts_recent_at = now_ns;
	}
	{
		uint32_t nwnd = (uint32_t)s->win << c->snd_wscale;
		bool wupdate = seq_lt(c->snd_wl1, s->seq) ||
			       (c->snd_wl1 == s->seq && seq_leq(c->snd_wl2, s->ack));
		bool same_wnd = nwnd == c->snd_wnd;

		if (c->sack_ok)
			(void)tcp_sb_on_ack(c, s->ack, &s->opt, now_ns);
		if (seq_gt(s->ack, c->snd_una))
			process_ack(c, s, now_ns);
		else if (s->ack == c->snd_una && s->dlen == 0 && !(s->flags & TH_FIN) &&
			 same_wnd && c->snd_max != c->snd_una)
			dupack(c, now_ns);
		if (wupdate && seq_geq(s->ack, c->snd_una)) {
			bool opened = c->snd_wnd == 0 && nwnd > 0;
			c->snd_wnd = nwnd;
			c->snd_wl1 = s->seq;
			c->snd_wl2 = s->ack;
			if (nwnd > c->max_snd_wnd)
				c->max_snd_wnd = nwnd;
			if (opened && c->persist) {
				c->persist = false;
				c->rtx_at = KW_TIME_NEVER;
				tcp_timer_update(c);
			}
		}
		if (seq_geq(s->ack, c->snd_una))   /* not an old ACK */
			tcp_timer_on_ack(c, now_ns);
		if (c->sack_ok) {
			tcp_sack_after_ack(c, now_ns);
			tcp_cc_on_ack(c, now_ns);
		}
	}
	{
		bool fin_acked = c->fin_sent && seq_gt(c->snd_una, c->fin_seq);
		switch (c->state) {
		case KW_TCP_FIN_WAIT_1:
			if (fin_acked) {
				tcp_set_state(c, KW_TCP_FIN_WAIT_2);
				if (!c->user_ref && !c->parent) {
					c->tw_at = now_ns + TCP_FIN_TIMEOUT;
					tcp_timer_update(c);
				}
			}
			break;
		case KW_TCP_CLOSING:
			if (fin_acked)
				tcp_enter_time_wait(c, now_ns);
			break;
		case KW_TCP_LAST_ACK:
			if (fin_acked) {
				tcp_set_closed(c, 0);
				return;
			}
			break;
		case KW_TCP_TIME_WAIT:
			if (s->flags & TH_FIN) {
				tcp_send_ack(c, now_ns);
				c->tw_at = now_ns + 2 * c->layer->msl_ns;
				tcp_timer_update(c);
			}
			return;
		default:
			break;
		}
	}

	/* 6. Data. */
	if (s->dlen > 0) {
		switch (c->state) {
		case KW_TCP_ESTABLISHED:
		case KW_TCP_FIN_WAIT_1:
		case KW_TCP_FIN_WAIT_2:
			break;
		default:
			s->dlen = 0;    /* the peer's FIN came before: ignore */
			break;
		}
	}
	if (s->dlen > 0 && !c->user_ref && !c->parent) {
		/* Data for a socket the program closed: reset, as Linux does. */
		tcp_send_rst(c, now_ns);
		tcp_set_closed(c, 0);
		return;
	}
	if (s->dlen > 0 || (s->flags & TH_FIN)) {
		if (s->seq == c->rcv_nxt) {
			bool had_ooo = c->ooo != NULL;
			size_t n;

			/* At the memory cap: dropped as if the window were full. */
			if (s->dlen > 0)
				tcp_ring_alloc(c, &c->rcv);
			n = ring_write(&c->rcv, s->data, s->dlen);

			c->rcv_nxt = seq_add(c->rcv_nxt, (uint32_t)n);
			c->ctr.bytes_received += n;
			if (n == s->dlen && (s->flags & TH_FIN) && !c->fin_received)
				process_fin(c, now_ns);
			if (c->state == KW_TCP_CLOSED || c->state == KW_TCP_TIME_WAIT)
				return;
			if (had_ooo) {
				ooo_pull(c, now_ns);
				c->ack_now = true;
			}
			if (s->dlen > 0) {
				/* More than our MSS: several segments
				 * coalesced by the device (or never cut by
				 * the sender's): that is two at least. */
				if (s->dlen > c->layer->env.mss)
					c->delack_segs += 2;
				else if (s->dlen >= c->mss)
					c->delack_segs++;
				if (c->delack_segs >= 2 && !tcp_ack_batch(c))
					c->ack_now = true;
				else if (c->delack_segs < 2)
					tcp_delack_arm(c, now_ns);
				tcp_notify(c);
			}
		} else {
			tcp_sack_rcv_dup(c, s->seq, s->dlen);
			ooo_insert(c, s->seq, s->data, s->dlen, (s->flags & TH_FIN) != 0);
			if (s->dlen > 0)
				tcp_sack_rcv_note(c, s->seq);
			c->ack_now = true;      /* duplicate ACK tells the sender */
		}
	}
	if (c->state == KW_TCP_CLOSED || c->state == KW_TCP_TIME_WAIT)
		return;
	tcp_output(c, now_ns);
	tcp_ka_update(c);
}

/* For TCP_INFO (tcp_info.c): every segment that reached the connection. */
static void count_input(struct kw_tcp *c, const struct seg *s, uint64_t now_ns)
{
	c->ctr.segs_in++;
	if (s->dlen > 0) {
		c->ctr.data_segs_in++;
		c->ctr.last_data_recv = now_ns;
	}
	if (s->flags & TH_ACK)
		c->ctr.last_ack_recv = now_ns;
}

void tcp_input_segment(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
		       const uint8_t *p, size_t len, bool csum_ok, uint64_t now_ns)
{
	struct seg s;
	struct kw_tcp *c;
	size_t doff;

	L->stats.segs_in++;
	if (len < 20 || len > 65535)
		goto bad;
	doff = (size_t)(p[12] >> 4) * 4;
	if (doff < 20 || doff > len)
		goto bad;
	if (!csum_ok && kw_checksum(p, len, kw_checksum_pseudo(src, dst, 6, (uint16_t)len)) != 0)
		goto bad;
	if (tcp_parse_options(p + 20, doff - 20, &s.opt) < 0)
		goto bad;
	s.src = src;
	s.dst = dst;
	s.sport = get16(p);
	s.dport = get16(p + 2);
	s.seq = get32(p + 4);
	s.ack = get32(p + 8);
	s.flags = p[13] & 0x3f;
	s.win = get16(p + 14);
	s.data = p + doff;
	s.dlen = (uint32_t)(len - doff);
	if (s.sport == 0 || s.dport == 0)
		goto bad;
	if ((s.flags & TH_SYN) && (s.flags & TH_FIN))
		goto bad;

	c = tcp_lookup(L, dst, s.dport, src, s.sport);
	if (c && c->state == KW_TCP_TIME_WAIT && (s.flags & TH_SYN) && !(s.flags & TH_ACK) &&
	    seq_gt(s.seq, c->rcv_nxt) && tcp_lookup_listener(L, dst, s.dport)) {
		/* A new incarnation (RFC 9293 §3.6.1): end TIME-WAIT early. */
		tcp_set_closed(c, 0);
		c = NULL;
	}
	if (!c) {
		struct kw_tcp *l = tcp_select_listener(L, dst, s.dport, src, s.sport);
		if (l)
			listen_input(l, &s, now_ns);
		else
			reply_reset(L, &s, now_ns);
		return;
	}
	count_input(c, &s, now_ns);
	if (c->state == KW_TCP_SYN_SENT)
		syn_sent_input(c, &s, now_ns);
	else
		sync_input(c, &s, now_ns);
	return;
bad:
	L->stats.bad_segments++;
}

static int icmp_errno(int code)
{
	switch (code) {
	case 0: case 6: case 9: case 11:
		return ENETUNREACH;
	case 2:
		return ENOPROTOOPT;
	case 3:
		return ECONNREFUSED;
	case 4:
		return EMSGSIZE;
	default:
		return EHOSTUNREACH;
	}
}

void tcp_icmp_unreachable(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			  const uint8_t *q, size_t len, int code, uint64_t now_ns)
{
	struct kw_tcp *c;
	seq_t seq;

	(void)now_ns;
	if (len < 8)
		return;
	c = tcp_lookup(L, src, get16(q), dst, get16(q + 2));
	if (!c)
		return;
	seq = get32(q + 4);
	if (!(seq_geq(seq, c->snd_una) && seq_leq(seq, c->snd_max)))
		return;                 /* not for anything in flight: blind */
	if (code == 4)
		return;                 /* fragmentation needed: tcp_icmp_frag_needed */
	/* As Linux: an unreachable ends a connection still opening; an
	 * established one keeps retrying (soft error). */
	if (c->state == KW_TCP_SYN_SENT)
		tcp_set_closed(c, icmp_errno(code));
}
