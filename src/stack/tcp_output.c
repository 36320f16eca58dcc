/* TCP: building and sending segments. Data segments, pure ACKs, SYN and
 * SYN-ACK with options, RSTs, keepalive and window probes. Implements
 * the sender side of the windows: peer's window and cwnd, Nagle's
 * algorithm (RFC 896, off with nodelay) and sender-side SWS avoidance;
 * and the advertised receive window with receiver-side SWS avoidance. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

struct seg_out {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	seq_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opts;
	size_t optlen;              /* multiple of 4 */
	uint8_t optbuf[40];         /* options built here (opts points to it) */
	const struct ring *data;    /* payload from the ring, or NULL */
	size_t off, len;
	uint16_t gso_size;          /* len > gso_size: the device cuts it */
};

static void emit(struct kw_tcp_layer *L, const struct seg_out *s, uint64_t now_ns)
{
	size_t hlen = 20 + s->optlen, total = hlen + s->len, cap = 0;
	uint8_t *p = L->env.tx_buffer ? L->env.tx_buffer(L->env.ctx, &cap) : NULL;
	uint32_t pseudo;

	if (p == NULL || cap < total)
		p = L->txbuf;       /* IP then copies it into its frame */
	if (p == L->txbuf && total > L->txcap)
		return;             /* cannot happen: len <= mss or gso_max, options <= 40 */
	put16(p, s->lport);
	put16(p + 2, s->rport);
	put32(p + 4, s->seq);
	put32(p + 8, (s->flags & TH_ACK) ? s->ack : 0);
	p[12] = (uint8_t)((hlen / 4) << 4);
	p[13] = s->flags;
	put16(p + 14, s->win);
	put16(p + 16, 0);
	put16(p + 18, 0);
	if (s->optlen)
		memcpy(p + 20, s->opts, s->optlen);
	if (s->len)
		ring_peek(s->data, s->off, p + hlen, s->len);
	pseudo = kw_checksum_pseudo(s->laddr, s->raddr, 6, (uint16_t)total);
	if (s->gso_size && s->len > s->gso_size)
		L->stats.segs_out += (s->len + s->gso_size - 1) / s->gso_size;
	else
		L->stats.segs_out++;
	if (s->flags & TH_RST)
		L->stats.rst_out++;
	if (L->env.ip_output_offload) {
		/* Partial: the pseudo-header's sum, folded, for the device to
		 * add the rest to (RFC 1071 sums are associative). */
		put16(p + 16, (uint16_t)~kw_checksum_fold(pseudo));
		L->env.ip_output_offload(L->env.ctx, s->laddr, s->raddr, p, total,
					 s->len > s->gso_size ? s->gso_size : 0, now_ns);
		return;
	}
	put16(p + 16, kw_checksum(p, total, pseudo));
	L->env.ip_output(L->env.ctx, s->laddr, s->raddr, p, total, now_ns);
}

/* The window to advertise, and move the advertised right edge (never
 * back). It opens only by at least min(buffer/2, MSS) at a time. */
uint32_t tcp_rcv_window(struct kw_tcp *c)
{
	uint32_t space = (uint32_t)ring_space(&c->rcv);
	int32_t d = seq_diff(c->rcv_adv, c->rcv_nxt);
	uint32_t cur = d > 0 ? (uint32_t)d : 0;
	uint32_t step = (uint32_t)(c->rcv.cap / 2 < c->mss ? c->rcv.cap / 2 : c->mss);
	uint32_t wnd = cur;
	uint8_t ws = c->ws_ok ? c->rcv_wscale : 0;

	if (space > cur && space - cur >= step)
		wnd = space;
	if (wnd > (uint32_t)65535 << ws)
		wnd = (uint32_t)65535 << ws;
	/* The field carries wnd >> ws: round the edge down to what it can say,
	 * but not below what was advertised already. */
	if (wnd > cur) {
		uint32_t r = (wnd >> ws) << ws;
		wnd = r > cur ? r : cur;
	}
	if (seq_gt(seq_add(c->rcv_nxt, wnd), c->rcv_adv))
		c->rcv_adv = seq_add(c->rcv_nxt, wnd);
	return wnd;
}

/* NOP, NOP, TS (RFC 7323 Appendix A layout) at p: TCP_TS_OPTLEN bytes. */
static void put_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	p[0] = 1;
	p[1] = 1;
	p[2] = 8;
	p[3] = 10;
	put32(p + 4, tsval);
	put32(p + 8, tsecr);
}

/* A segment of connection c. Once timestamps are agreed every segment
 * carries TSval and TSecr = TS.Recent (RFC 7323 §3.2), RSTs included
 * (a SHOULD there; Linux does the same). */
static void conn_seg(struct kw_tcp *c, struct seg_out *s, seq_t seq, uint8_t flags,
		     uint64_t now_ns)
{
	memset(s, 0, sizeof(*s));
	c->ctr.segs_out++;
	s->laddr = c->laddr;
	s->raddr = c->raddr;
	s->lport = c->lport;
	s->rport = c->rport;
	s->seq = seq;
	s->flags = flags;
	if (flags & TH_ACK) {
		uint32_t w = tcp_rcv_window(c);
		s->ack = c->rcv_nxt;
		c->last_ack_sent = c->rcv_nxt;
		s->win = (uint16_t)(w >> (c->ws_ok ? c->rcv_wscale : 0));
		c->ack_now = false;
		c->delack_segs = 0;
		if (c->delack_at != KW_TIME_NEVER) {
			c->delack_at = KW_TIME_NEVER;
			tcp_timer_update(c);
		}
	}
	if (c->ts_ok) {
		put_ts(s->optbuf, tcp_ts_now(c, now_ns), c->ts_recent);
		s->opts = s->optbuf;
		s->optlen = TCP_TS_OPTLEN;
	}
}

/* SACK blocks on an ACK (tcp_sack.c) in the room the segment has: a data
 * segment of `seglen` bytes per wire segment keeps within the MSS, as
 * its length was chosen without them. Blocks that did not fit leave an
 * ACK owed, which carries them all. */
static void add_sack(struct kw_tcp *c, struct seg_out *s, size_t seglen)
{
	size_t room = sizeof(s->optbuf) - s->optlen, n;
	bool partial;

	if (!c->sack_ok || !(s->flags & TH_ACK))
		return;
	if (seglen > 0)
		room = seglen >= c->mss ? 0 : c->mss - seglen < room ? c->mss - seglen : room;
	n = tcp_sack_rcv_opts(c, s->optbuf + s->optlen, room, &partial);
	if (n) {
		s->opts = s->optbuf;
		s->optlen += n;
	}
	if (partial)
		c->ack_now = true;
}

seq_t tcp_data_end(const struct kw_tcp *c)
{
	return seq_add(c->snd_una, (uint32_t)c->snd.len);
}

size_t tcp_unsent(const struct kw_tcp *c)
{
	int32_t d = seq_diff(tcp_data_end(c), c->snd_nxt);
	return d > 0 ? (size_t)d : 0;
}

/* Send [seq, seq+len) from the buffer (seq >= SND.UNA), with FIN if asked;
 * more than gso_size bytes (when not 0) leave as one segment that the
 * device cuts into gso_size-byte pieces. */
static void send_data(struct kw_tcp *c, seq_t seq, size_t len, bool fin, uint16_t gso_size,
		      uint64_t now_ns)
{
	struct seg_out s;
	uint8_t flags = TH_ACK;

	if (fin)
		flags |= TH_FIN;
	if (len && seq_add(seq, (uint32_t)len) == tcp_data_end(c))
		flags |= TH_PSH;
	conn_seg(c, &s, seq, flags, now_ns);
	add_sack(c, &s, gso_size && len > gso_size ? gso_size : len);
	s.data = &c->snd;
	s.off = (size_t)(uint32_t)seq_diff(seq, c->snd_una);
	s.len = len;
	s.gso_size = gso_size;
	if (seq_lt(seq, c->snd_max)) {
		c->layer->stats.retransmits++;
		c->ctr.total_retrans++;
		c->ctr.bytes_retrans += len;
	}
	if (gso_size && len > gso_size)
		c->ctr.segs_out += (uint32_t)((len + gso_size - 1) / gso_size) - 1;
	c->ctr.data_segs_out += gso_size && len > gso_size ? (uint32_t)((len + gso_size - 1) / gso_size) : 1;
	c->ctr.bytes_sent += len;
	c->ctr.last_data_sent = now_ns;
	tcp_sb_sent(c, seq, (uint32_t)len + (fin ? 1 : 0), now_ns);
	emit(c->layer, &s, now_ns);
	if (fin && !c->fin_sent) {
		c->fin_sent = true;
		c->fin_seq = seq_add(seq, (uint32_t)len);
	}
}

void tcp_send_range(struct kw_tcp *c, seq_t seq, size_t len, bool fin, uint16_t gso_size,
		    uint64_t now_ns)
{
	send_data(c, seq, len, fin, gso_size, now_ns);
}

/* TSO frame size as Linux's tcp_tso_autosize: about 1 ms of data at the
 * pacing rate (Linux: cwnd / SRTT, times 2 in slow start and 1.2 after),
 * at least 2 MSS, at most gso_max, so that on a path with a long enough
 * RTT a flight is several frames and a loss leaves later ones to produce
 * SACKs. Whole MSS units. (With a sub-millisecond RTT a frame may carry
 * the whole cwnd, as on Linux: RACK-TLP covers the lost tail then.) */
uint32_t tcp_tso_goal(const struct kw_tcp *c)
{
	uint64_t goal = c->layer->env.gso_max, mss = c->mss ? c->mss : TCP_DEFAULT_MSS;

	if (c->have_rtt && c->srtt > 0) {
		uint64_t pace = c->cwnd < c->ssthresh ? 20 : 12;   /* tenths */
		uint64_t rate = (uint64_t)c->cwnd * pace * KW_NS_PER_MS / 10 / c->srtt;
		if (rate < goal)
			goal = rate;
	}
	goal = goal / mss * mss;
	if (goal < 2 * mss)
		goal = 2 * mss;
	if (goal > c->layer->env.gso_max)
		goal = c->layer->env.gso_max;
	return (uint32_t)goal;
}

static bool can_send_data(const struct kw_tcp *c)
{
	switch (c->state) {
	case KW_TCP_ESTABLISHED:
	case KW_TCP_CLOSE_WAIT:
	case KW_TCP_FIN_WAIT_1:
	case KW_TCP_CLOSING:
	case KW_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* What tcp_output would send next if SND.NXT were nxt: false to stop, or
 * true with the segment's length and whether a FIN goes with it. The
 * windows (the peer's and cwnd), sender-side SWS avoidance and Nagle
 * (RFC 896, off with nodelay) decide. */
static bool next_segment(const struct kw_tcp *c, seq_t nxt, size_t *lenp, bool *finp)
{
	uint32_t flight = (uint32_t)seq_diff(nxt, c->snd_una);
	uint32_t wnd = c->snd_wnd < c->cwnd ? c->snd_wnd : c->cwnd;
	uint32_t avail = wnd > flight ? wnd - flight : 0;
	if (c->sack_ok)
		avail = tcp_sack_avail(c, nxt);     /* pipe (RFC 6675), not flight */
	int32_t d = seq_diff(tcp_data_end(c), nxt);
	size_t unsent = d > 0 ? (size_t)d : 0, len = unsent;
	bool fin;

	if (len > c->mss)
		len = c->mss;
	if (len > avail)
		len = avail;
	fin = c->fin_queued && len == unsent && !(c->fin_sent && seq_gt(nxt, c->fin_seq));
	if (len == 0 && !fin)
		return false;
	if (len == 0 && fin && unsent > 0)
		return false;       /* data first */
	if (len < c->mss && !fin) {
		bool idle = nxt == c->snd_una;
		if (len < unsent) {
			/* The window cuts the segment short: send only when
			 * nothing is in flight, or the piece is at least half
			 * the largest window seen (SWS). */
			if (!idle && len < c->max_snd_wnd / 2)
				return false;
		} else if (!idle && !c->nodelay) {
			return false;       /* Nagle */
		}
	}
	*lenp = len;
	*finp = fin;
	return true;
}

void tcp_output(struct kw_tcp *c, uint64_t now_ns)
{
	bool sent = false;
	uint32_t gso_max = c->layer->env.gso_max;

	if (can_send_data(c)) {
		size_t len;
		bool fin;
		uint32_t goal = gso_max >= 2u * c->mss ? tcp_tso_goal(c) : 0;

		if (c->sack_ok)
			sent = tcp_sack_retransmit(c, now_ns);
		while (next_segment(c, c->snd_nxt, &len, &fin)) {
			uint16_t gso_size = 0;

			/* Segmentation offload: join the full segments that
			 * would follow this one back to back (and the last,
			 * shorter one or the FIN, if it would go too) into one
			 * for the device to cut again. */
			if (gso_max >= 2u * c->mss && len == c->mss && !fin) {
				size_t more;
				bool mfin;

				while (len + c->mss <= goal &&
				       next_segment(c, seq_add(c->snd_nxt, (uint32_t)len), &more, &mfin)) {
					len += more;
					fin = mfin;
					if (fin || more < c->mss)
						break;
				}
				if (len > c->mss)
					gso_size = c->mss;
			}
			/* Karn's single timed segment, timed in ns. With
			 * timestamps every other ACK that advances SND.UNA is a
			 * sample too (RFC 7323 §4.1), but TSecr ticks in ms: on
			 * a fast link it says 0, so the timed segment's finer
			 * sample is taken when an ACK covers it. */
			if (seq_geq(c->snd_nxt, c->snd_max) && !c->rtt_timing &&
			    len > 0) {
				c->rtt_timing = true;
				c->rtt_seq = c->snd_nxt;
				c->rtt_start = now_ns;
			}
			send_data(c, c->snd_nxt, len, fin, gso_size, now_ns);
			c->snd_nxt = seq_add(c->snd_nxt, (uint32_t)len + (fin ? 1 : 0));
			c->snd_max = seq_max(c->snd_max, c->snd_nxt);
			sent = true;
			if (fin)
				break;
		}
		if (c->sack_ok)
			sent |= tcp_sack_rescue(c, now_ns);
		if (sent && (c->rtx_at == KW_TIME_NEVER || c->persist))
			tcp_rtx_arm(c, now_ns);
		if (sent)
			tcp_ka_update(c);
		tcp_persist_check(c, now_ns);
		if (c->sack_ok)
			tcp_rack_schedule(c, now_ns);   /* RACK-TLP timers (tcp_rack.c) */
		if (c->sack_ok)
			tcp_rate_check_app_limited(c);
	}
	if (c->ack_now)
		tcp_send_ack(c, now_ns);
}

void tcp_send_ack(struct kw_tcp *c, uint64_t now_ns)
{
	struct seg_out s;

	/* SND.MAX, not SND.NXT: after a go-back-N rewind SND.NXT may lie
	 * below the peer's RCV.NXT, and it would drop the ACK unread. */
	conn_seg(c, &s, c->snd_max, TH_ACK, now_ns);
	add_sack(c, &s, 0);
	emit(c->layer, &s, now_ns);
}

void tcp_send_syn(struct kw_tcp *c, uint64_t now_ns)
{
	struct seg_out s;
	uint8_t *opts = s.optbuf;
	size_t n = 0;
	bool synack = c->state == KW_TCP_SYN_RECEIVED;

	conn_seg(c, &s, c->iss, synack ? (TH_SYN | TH_ACK) : TH_SYN, now_ns);
	/* The window of a SYN is never scaled. */
	s.win = (uint16_t)(c->rcv.cap > 65535 ? 65535 : c->rcv.cap);
	opts[n++] = 2;
	opts[n++] = 4;
	put16(opts + n, c->layer->env.mss);
	n += 2;
	if (!synack || c->ws_ok) {
		opts[n++] = 1;
		opts[n++] = 3;
		opts[n++] = 3;
		opts[n++] = c->rcv_wscale;
	}
	/* Timestamps: offered on a SYN, answered on a SYN-ACK only when the
	 * peer's SYN offered them (RFC 7323 §3.2). TSecr is 0 on a SYN. */
	if (!synack || c->ts_ok) {
		put_ts(opts + n, tcp_ts_now(c, now_ns), synack ? c->ts_recent : 0);
		/* SACK-permitted (RFC 2018 §2) in the NOPs before the
		 * timestamps, as Linux lays it out. */
		if (!synack || c->sack_ok) {
			opts[n] = 4;
			opts[n + 1] = 2;
		}
		n += TCP_TS_OPTLEN;
	} else if (c->sack_ok) {
		opts[n++] = 1;
		opts[n++] = 1;
		opts[n++] = 4;
		opts[n++] = 2;
	}
	s.opts = opts;
	s.optlen = n;
	if (c->retries > 0)
		c->layer->stats.retransmits++;
	else {
		c->rtt_timing = true;
		c->rtt_seq = c->iss;
		c->rtt_start = now_ns;
	}
	emit(c->layer, &s, now_ns);
	c->snd_nxt = seq_succ(c->iss);
	c->snd_max = seq_max(c->snd_max, c->snd_nxt);
}

void tcp_send_rst(struct kw_tcp *c, uint64_t now_ns)
{
	struct seg_out s;

	conn_seg(c, &s, c->snd_max, TH_RST | TH_ACK, now_ns);
	emit(c->layer, &s, now_ns);
}

void tcp_retransmit_head(struct kw_tcp *c, uint64_t now_ns)
{
	size_t len = c->snd.len < c->mss ? c->snd.len : c->mss;
	bool fin = c->fin_sent && len == c->snd.len;

	if (c->state == KW_TCP_SYN_SENT || c->state == KW_TCP_SYN_RECEIVED) {
		tcp_send_syn(c, now_ns);
		return;
	}
	if (len == 0 && !fin)
		return;
	c->rtt_timing = false;              /* Karn */
	send_data(c, c->snd_una, len, fin, 0, now_ns);
	c->snd_nxt = seq_max(c->snd_nxt, seq_add(c->snd_una, (uint32_t)len + (fin ? 1 : 0)));
}

void tcp_send_keepalive_probe(struct kw_tcp *c, uint64_t now_ns)
{
	struct seg_out s;

	conn_seg(c, &s, seq_pred(c->snd_una), TH_ACK, now_ns);
	c->layer->stats.keepalive_probes++;
	emit(c->layer, &s, now_ns);
}

/* Zero-window probe as Linux sends it: an ACK with SEQ = SND.UNA - 1 and no
 * data, which the peer must answer with an ACK carrying its window. */
void tcp_send_window_probe(struct kw_tcp *c, uint64_t now_ns)
{
	struct seg_out s;

	conn_seg(c, &s, seq_pred(c->snd_una), TH_ACK, now_ns);
	emit(c->layer, &s, now_ns);
}

void tcp_reply_rst(struct kw_tcp_layer *L, uint32_t laddr, uint32_t raddr,
		   uint16_t lport, uint16_t rport, seq_t seq, seq_t ack, bool with_ack,
		   uint64_t now_ns)
{
	struct seg_out s;

	memset(&s, 0, sizeof(s));
	s.laddr = laddr;
	s.raddr = raddr;
	s.lport = lport;
	s.rport = rport;
	s.seq = seq;
	s.ack = ack;
	s.flags = TH_RST | (with_ack ? TH_ACK : 0);
	emit(L, &s, now_ns);
}
