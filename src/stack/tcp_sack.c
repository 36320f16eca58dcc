/* TCP selective acknowledgments.
 *
 * Receiver (RFC 2018, RFC 2883): while the out-of-order queue holds
 * anything, every ACK carries SACK blocks, up to 3 next to timestamps and
 * 4 without; the first is the block holding the segment that arrived
 * last (§4), then the others most recent first, as Linux orders its
 * selective_acks. A duplicate segment (below RCV.NXT, or held already)
 * is reported once as a D-SACK first block (RFC 2883 §4), followed by the
 * block that holds it when it lies above RCV.NXT. The blocks are computed
 * from the out-of-order queue when the ACK is built, so they never claim
 * bytes that are not held (and vanish as RCV.NXT passes them). */
#include "stack/tcp_internal.h"

#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* ---- receiver ---------------------------------------------------------- */

/* The contiguous run of out-of-order pieces that holds seq: false if none. */
static bool ooo_run(const struct kw_tcp *c, seq_t seq, seq_t *start, seq_t *end)
{
	const struct tcp_ooo *o;
	bool in = false;
	seq_t rs = 0, re = 0;

	for (o = c->ooo; o; o = o->next) {
		if (in && o->seq == re) {
			re = seq_add(o->seq, o->len);   /* adjacent: the run goes on */
			continue;
		}
		if (in && seq_geq(seq, rs) && seq_lt(seq, re))
			break;
		if (seq_gt(o->seq, seq))
			return false;
		rs = o->seq;
		re = seq_add(o->seq, o->len);
		in = true;
	}
	if (!in || !(seq_geq(seq, rs) && seq_lt(seq, re)))
		return false;
	*start = rs;
	*end = re;
	return true;
}

static void dsack_set(struct kw_tcp *c, seq_t start, seq_t end)
{
	if (!c->sack_ok || !seq_lt(start, end))
		return;
	c->sack_rcv.dsack = true;
	c->sack_rcv.dsack_start = start;
	c->sack_rcv.dsack_end = end;
}

void tcp_sack_rcv_dup(struct kw_tcp *c, seq_t seq, uint32_t len)
{
	const struct tcp_ooo *o;
	seq_t end = seq_add(seq, len), ds = 0, de = 0;
	bool any = false;

	if (!c->sack_ok || len == 0)
		return;
	/* The hull of the parts already held (Linux: tcp_dsack_set, then
	 * tcp_dsack_extend for each piece the new one covers). */
	for (o = c->ooo; o && seq_lt(o->seq, end); o = o->next) {
		seq_t os = seq_max(o->seq, seq), oe = seq_min(seq_add(o->seq, o->len), end);

		if (!seq_lt(os, oe))
			continue;
		if (!any)
			ds = os;
		de = oe;
		any = true;
	}
	if (any)
		dsack_set(c, ds, de);
}

void tcp_sack_rcv_old(struct kw_tcp *c, seq_t seq, uint32_t len)
{
	seq_t end = seq_add(seq, len);

	if (len == 0 || !seq_lt(seq, c->rcv_nxt))
		return;
	dsack_set(c, seq, seq_min(end, c->rcv_nxt));
}

/* Keys whose run is gone (passed by RCV.NXT, never held) or repeats an
 * earlier key's run drop out, so the slots name distinct blocks. */
static void keys_prune(struct kw_tcp *c)
{
	struct tcp_sack_rcv *r = &c->sack_rcv;
	seq_t rs[TCP_SACK_KEYS];
	uint8_t n = 0;

	for (uint8_t i = 0; i < r->nkeys; i++) {
		seq_t s, e;
		bool dup = false;

		if (!ooo_run(c, r->key[i], &s, &e))
			continue;
		for (uint8_t j = 0; j < n; j++)
			dup |= rs[j] == s;
		if (dup)
			continue;
		(void)e;
		rs[n] = s;
		r->key[n++] = r->key[i];
	}
	r->nkeys = n;
}

void tcp_sack_rcv_note(struct kw_tcp *c, seq_t seq)
{
	struct tcp_sack_rcv *r = &c->sack_rcv;

	if (!c->sack_ok)
		return;
	memmove(r->key + 1, r->key, sizeof(r->key[0]) * (TCP_SACK_KEYS - 1));
	r->key[0] = seq;
	if (r->nkeys < TCP_SACK_KEYS)
		r->nkeys++;
	keys_prune(c);
}

size_t tcp_sack_rcv_opts(struct kw_tcp *c, uint8_t *p, size_t room, bool *partial)
{
	struct tcp_sack_rcv *r = &c->sack_rcv;
	seq_t bs[4], be[4];
	unsigned n = 0, want = 0, max;

	*partial = false;
	if (!c->sack_ok || (!r->dsack && !c->ooo))
		return 0;
	if (r->dsack) {
		bs[n] = r->dsack_start;
		be[n++] = r->dsack_end;
	}
	if (c->ooo) {
		keys_prune(c);
		for (uint8_t i = 0; i < r->nkeys && n < 4; i++) {
			seq_t s, e;

			if (!ooo_run(c, r->key[i], &s, &e))
				continue;
			bs[n] = s;
			be[n++] = e;
		}
		if (n == 0 || (r->dsack && n == 1)) {
			/* No key names a block (the queue filled before SACK was
			 * noted): the lowest block, so the option is never empty. */
			bs[n] = c->ooo->seq;
			if (!ooo_run(c, c->ooo->seq, &bs[n], &be[n]))
				be[n] = seq_add(c->ooo->seq, c->ooo->len);
			n++;
		}
	}
	want = n;
	max = room >= 4 ? (unsigned)(room - 4) / 8 : 0;
	if (max > 4)
		max = 4;
	if (n > max)
		n = max;
	*partial = n < want;
	if (n == 0)
		return 0;
	p[0] = 1;
	p[1] = 1;
	p[2] = 5;
	p[3] = (uint8_t)(2 + 8 * n);
	for (unsigned i = 0; i < n; i++) {
		put32(p + 4 + 8 * i, bs[i]);
		put32(p + 8 + 8 * i, be[i]);
	}
	if (r->dsack)
		r->dsack = false;   /* reported once (RFC 2883 §4) */
	return 4 + 8 * (size_t)n;
}

/* ---- sender: the scoreboard (RFC 6675) --------------------------------- */

static uint32_t ent_len(const struct tcp_sb_ent *e)
{
	return (uint32_t)seq_diff(e->end, e->start);
}

/* What an entry adds to the pipe (RFC 6675 §4 SetPipe, as Linux's
 * packets_out - sacked_out - lost_out + retrans_out): its original
 * unless SACKed or lost, plus a retransmission in flight. */
static uint32_t ent_pipe(const struct tcp_sb_ent *e)
{
	uint32_t n = 0;

	if (e->flags & TCP_SB_SACKED)
		return 0;
	if (!(e->flags & TCP_SB_LOST))
		n++;
	if (e->flags & TCP_SB_RETRANS)
		n++;
	return n * ent_len(e);
}

static void sb_recount(struct kw_tcp *c)
{
	struct tcp_scoreboard *sb = &c->sb;

	sb->pipe = 0;
	sb->sacked_bytes = 0;
	for (unsigned i = 0; i < sb->n; i++) {
		struct tcp_sb_ent *e = &sb->e[i];

		sb->pipe += ent_pipe(e);
		if (e->flags & TCP_SB_SACKED) {
			sb->sacked_bytes += ent_len(e);
			sb->high_sacked = e->end;
		}
	}
}

/* A merged entry keeps the later send: its time and its rate state. Its
 * older bytes were sent earlier than that time says, so an RTT measured
 * on it would come out short: MIXED. */
static void ent_take_later(struct tcp_sb_ent *a, const struct tcp_sb_ent *b)
{
	if (a->xmit_ns != b->xmit_ns || (b->flags & TCP_SB_MIXED))
		a->flags |= TCP_SB_MIXED;
	if (b->xmit_ns <= a->xmit_ns)
		return;
	a->xmit_ns = b->xmit_ns;
	a->flags = (a->flags & ~TCP_SB_APP_LIMITED) | (b->flags & TCP_SB_APP_LIMITED);
	a->r_delivered = b->r_delivered;
	a->r_ack_gap = b->r_ack_gap;
	a->r_send_gap = b->r_send_gap;
}

/* Merge neighbours in the same state, oldest first, until a quarter of
 * the entries is free (the later time stays: RACK then waits longer
 * before it calls the older bytes lost, never shorter). */
static bool sb_compact(struct tcp_scoreboard *sb)
{
	unsigned j = 0, excess = sb->n > TCP_SB_MAX * 3 / 4 ? sb->n - TCP_SB_MAX * 3 / 4 : 0;

	for (unsigned i = 0; i < sb->n; i++) {
		if (excess > 0 && j > 0 &&
		    (sb->e[j - 1].flags & TCP_SB_STATE) == (sb->e[i].flags & TCP_SB_STATE) &&
		    sb->e[j - 1].end == sb->e[i].start) {
			excess--;
			sb->e[j - 1].end = sb->e[i].end;
			ent_take_later(&sb->e[j - 1], &sb->e[i]);
			continue;
		}
		sb->e[j++] = sb->e[i];
	}
	if (j == sb->n && sb->n == TCP_SB_MAX) {
		/* Nothing alike side by side: the two newest entries become
		 * one, SACKed only if both were, lost if either unSACKed part
		 * was. Losing a SACK mark costs at most a needless
		 * retransmission (which the peer then D-SACKs). */
		struct tcp_sb_ent *a = &sb->e[j - 2], *b = &sb->e[j - 1];
		uint32_t fa = a->flags & TCP_SB_SACKED ? 0 : a->flags & TCP_SB_STATE;
		uint32_t fb = b->flags & TCP_SB_SACKED ? 0 : b->flags & TCP_SB_STATE;
		uint32_t keep = (a->flags | b->flags) & TCP_SB_MIXED;

		if (a->flags & b->flags & TCP_SB_SACKED) {
			a->flags &= b->flags;
		} else {
			bool resend = ((fa & TCP_SB_LOST) && !(fa & TCP_SB_RETRANS)) ||
				      ((fb & TCP_SB_LOST) && !(fb & TCP_SB_RETRANS));
			a->flags = fa | fb;
			if (resend)
				a->flags &= ~TCP_SB_RETRANS;   /* a part still to resend */
		}
		a->flags |= keep;
		a->end = b->end;
		ent_take_later(a, b);
		j--;
	}
	sb->n = (uint16_t)j;
	return sb->n < TCP_SB_MAX;
}

/* An entry boundary at seq (inside SND.UNA..SND.MAX); false if no room. */
static bool sb_split(struct kw_tcp *c, seq_t seq)
{
	struct tcp_scoreboard *sb = &c->sb;

	for (unsigned i = 0; i < sb->n; i++) {
		struct tcp_sb_ent *e = &sb->e[i];

		if (!seq_gt(seq, e->start))
			return true;
		if (!seq_lt(seq, e->end))
			continue;
		if (sb->n == TCP_SB_MAX) {
			if (!sb_compact(sb))
				return false;
			return sb_split(c, seq);
		}
		memmove(e + 1, e, sizeof(*e) * (sb->n - i));
		sb->n++;
		e[0].end = seq;
		e[1].start = seq;
		return true;
	}
	return true;
}

static void sb_append(struct kw_tcp *c, seq_t seq, seq_t end, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	struct tcp_sb_ent *e;

	if (sb->n == 0 && c->snd_una != seq)
		seq = c->snd_una;       /* never a gap at the bottom */
	if (sb->n > 0 && sb->e[sb->n - 1].end != seq)
		seq = sb->e[sb->n - 1].end;
	if (!seq_lt(seq, end))
		return;
	if (sb->n == TCP_SB_MAX && !sb_compact(sb)) {
		/* Cannot happen (compact always frees one): join the last. */
		sb->e[sb->n - 1].end = end;
		sb->e[sb->n - 1].xmit_ns = now_ns;
		sb->e[sb->n - 1].flags |= TCP_SB_MIXED;
		tcp_rate_sent(c, &sb->e[sb->n - 1], now_ns);
		sb_recount(c);
		return;
	}
	e = &sb->e[sb->n++];
	e->start = seq;
	e->end = end;
	e->xmit_ns = now_ns;
	e->flags = 0;
	tcp_rate_sent(c, e, now_ns);
	sb->pipe += ent_len(e);
}

void tcp_sb_sent(struct kw_tcp *c, seq_t seq, uint32_t len, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	seq_t end = seq_add(seq, len), rend;

	if (!c->sack_ok || len == 0)
		return;
	/* Send times strictly increase (by a nanosecond when the clock has
	 * not moved): RACK orders transmissions by time, and a
	 * retransmission sent right after new data must count as later. */
	if (now_ns <= sb->last_xmit_ns)
		now_ns = sb->last_xmit_ns + 1;
	sb->last_xmit_ns = now_ns;
	if (seq_geq(seq, c->snd_max)) {
		sb_append(c, seq, end, now_ns);
		return;
	}
	/* A retransmission: its entries get the new time and RETRANS. */
	rend = seq_min(end, c->snd_max);
	if (sb_split(c, seq) && sb_split(c, rend)) {
		for (unsigned i = 0; i < sb->n; i++) {
			struct tcp_sb_ent *e = &sb->e[i];

			/* Overlap, not inclusion: a merge may have joined a
			 * neighbour to the range meanwhile. */
			if (seq_leq(e->end, seq) || seq_geq(e->start, rend))
				continue;
			e->xmit_ns = now_ns;
			e->flags |= TCP_SB_RETRANS | TCP_SB_EVER_RETRANS;
			tcp_rate_sent(c, e, now_ns);
		}
	}
	if (seq_gt(end, c->snd_max))
		sb_append(c, c->snd_max, end, now_ns);
	sb_recount(c);
}

/* RACK (RFC 8985 §6.2 step 2): remember the most recently sent segment
 * that got delivered. A retransmitted one whose RTT comes out below
 * min_rtt was probably answered for its original: skipped (Linux's
 * tcp_rack_advance). */
static void rack_delivered(struct kw_tcp *c, const struct tcp_sb_ent *e, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint64_t rtt = now_ns > e->xmit_ns ? now_ns - e->xmit_ns : 0;

	if ((e->flags & TCP_SB_EVER_RETRANS) && sb->min_rtt_ns && rtt < sb->min_rtt_ns)
		return;
	/* A merged range's time is its newest part's: its older part's RTT
	 * would come out short (sb_compact). */
	if (e->flags & TCP_SB_MIXED)
		return;
	/* ... or, acknowledged cumulatively, whose ACK echoes a TSval older
	 * than its last transmission (the echo names the original). Not for
	 * SACKed data: an ACK for data above a hole echoes the TSval of the
	 * last in-order segment (RFC 7323 §4.3). */
	if ((e->flags & TCP_SB_EVER_RETRANS) && sb->ack_tsecr &&
	    seq_lt(sb->ack_tsecr, tcp_ts_now(c, e->xmit_ns)))
		return;
	/* Delivered below what was SACKed before, never sent twice: it
	 * arrived after later data, reordering (RACK.reord). */
	if (!(e->flags & TCP_SB_EVER_RETRANS) && sb->sacked_bytes > 0 && seq_lt(e->end, sb->high_sacked))
		sb->reord = true;
	if (!(e->flags & TCP_SB_EVER_RETRANS) && (sb->min_rtt_ns == 0 || rtt < sb->min_rtt_ns))
		sb->min_rtt_ns = rtt ? rtt : 1;
	if (!sb->rack_valid || e->xmit_ns > sb->rack_xmit_ns ||
	    (e->xmit_ns == sb->rack_xmit_ns && seq_gt(e->end, sb->rack_end))) {
		sb->rack_xmit_ns = e->xmit_ns;
		sb->rack_end = e->end;
		sb->rack_rtt_ns = rtt;
		sb->rack_valid = true;
	}
}

/* Mark [start, end) SACKed; returns the bytes newly SACKed. */
static uint32_t sb_mark(struct kw_tcp *c, seq_t start, seq_t end, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint32_t n = 0;

	if (!sb_split(c, start) || !sb_split(c, end))
		return 0;
	for (unsigned i = 0; i < sb->n; i++) {
		struct tcp_sb_ent *e = &sb->e[i];

		if (seq_lt(e->start, start))
			continue;
		if (seq_geq(e->start, end))
			break;
		if (e->flags & TCP_SB_SACKED)
			continue;
		rack_delivered(c, e, now_ns);
		tcp_rate_delivered(c, e, now_ns);
		e->flags |= TCP_SB_SACKED;
		n += ent_len(e);
	}
	return n;
}

uint32_t tcp_sb_on_ack(struct kw_tcp *c, seq_t ack, const struct tcp_opts *o, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	seq_t una = seq_max(ack, c->snd_una);
	uint32_t newly = 0;
	unsigned first = 0, j;
	bool dsack = false;

	if (!c->sack_ok)
		return 0;
	sb->ack_tsecr = c->ts_ok && o->ts_ok ? o->tsecr : 0;
	/* D-SACK (RFC 2883 §4): a first block below the cumulative ACK, or
	 * inside the second block. It tells of a needless retransmission or
	 * of reordering (RACK widens its window, tcp_rack.c). */
	if (o->nsack > 0 &&
	    (seq_leq(o->sack[0][1], ack) ||
	     (o->nsack > 1 && seq_geq(o->sack[0][0], o->sack[1][0]) &&
	      seq_leq(o->sack[0][1], o->sack[1][1])))) {
		first = 1;
		dsack = true;
		sb->dsacks_in++;
	}
	/* Cumulatively acknowledged entries: delivered, then gone. */
	for (j = 0; j < sb->n && seq_leq(sb->e[j].end, una); j++)
		if (!(sb->e[j].flags & TCP_SB_SACKED)) {
			rack_delivered(c, &sb->e[j], now_ns);
			tcp_rate_delivered(c, &sb->e[j], now_ns);
		}
	sb->ack_tsecr = 0;
	if (j > 0) {
		memmove(sb->e, sb->e + j, sizeof(sb->e[0]) * (sb->n - j));
		sb->n = (uint16_t)(sb->n - j);
	}
	if (sb->n > 0 && seq_lt(sb->e[0].start, una)) {
		/* Acknowledged in part: not delivered as a range yet, but
		 * those bytes are. */
		if (!(sb->e[0].flags & TCP_SB_SACKED))
			tcp_rate_delivered_bytes(c, (uint32_t)seq_diff(una, sb->e[0].start), now_ns);
		sb->e[0].start = una;
	}
	/* The blocks: only what lies in SND.UNA..SND.MAX counts; anything
	 * else (junk, forged, or older than the ACK) is ignored. */
	for (unsigned b = first; b < o->nsack; b++) {
		seq_t s = o->sack[b][0], e = o->sack[b][1];

		if (!seq_lt(s, e) || seq_gt(e, c->snd_max) || seq_lt(s, c->snd_una) ||
		    seq_diff(e, s) > seq_diff(c->snd_max, c->snd_una))
			continue;
		if (seq_lt(s, una))
			s = una;
		if (!seq_lt(s, e))
			continue;
		newly += sb_mark(c, s, e, now_ns);
	}
	tcp_rack_on_ack(c, ack, o, dsack, now_ns);
	sb_recount(c);
	return newly;
}

/* ---- sender: recovery (RFC 6675) ---------------------------------------- */

static bool to_resend(const struct tcp_sb_ent *e)
{
	return (e->flags & (TCP_SB_SACKED | TCP_SB_LOST | TCP_SB_RETRANS)) == TCP_SB_LOST;
}

/* IsLost (RFC 6675 §4) per entry: more than (DupThresh - 1) * SMSS
 * bytes SACKed above it, DupThresh = 3. A retransmission is left to
 * RACK, which knows when it was sent. */
static void mark_lost_dupthresh(struct kw_tcp *c)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint32_t above = 0;

	for (unsigned i = sb->n; i-- > 0;) {
		struct tcp_sb_ent *e = &sb->e[i];

		if (e->flags & TCP_SB_SACKED)
			above += ent_len(e);
		else if (above > 2u * c->mss && !(e->flags & (TCP_SB_LOST | TCP_SB_RETRANS))) {
			e->flags |= TCP_SB_LOST;
			c->rate.lost_new += ent_len(e);
		}
	}
}

static void enter_recovery(struct kw_tcp *c)
{
	uint32_t flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);

	tcp_cc_recovery_start(c, flight);
	c->recover = c->snd_max;
	c->in_recovery = true;
	c->sb.rescue_done = false;
	c->layer->stats.fast_retransmits++;
}

void tcp_sack_after_ack(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	bool lost = false;

	if (!c->sack_ok || sb->n == 0)
		return;
	/* DupThresh counting only until reordering is seen (RACK's reo_wnd
	 * is 0 then, RFC 8985 §6.2 step 4); RACK always. */
	if (!sb->reord)
		mark_lost_dupthresh(c);
	tcp_rack_detect(c, now_ns);
	/* The third duplicate ACK starts recovery even when too few bytes
	 * are SACKed for IsLost (small segments): the head is lost then
	 * (RFC 6675 §5 (4.3) retransmits it first). */
	if (c->dupacks >= 3 && !c->in_recovery && !sb->loss_mode && !sb->reord &&
	    !(sb->e[0].flags & (TCP_SB_SACKED | TCP_SB_RETRANS | TCP_SB_LOST))) {
		sb->e[0].flags |= TCP_SB_LOST;
		c->rate.lost_new += ent_len(&sb->e[0]);
	}
	sb_recount(c);
	for (unsigned i = 0; i < sb->n && !lost; i++)
		lost = to_resend(&sb->e[i]);
	if (lost && !c->in_recovery && !sb->loss_mode)
		enter_recovery(c);
}

bool tcp_sack_cum_ack(struct kw_tcp *c, seq_t ack)
{
	if (c->sb.loss_mode && seq_geq(ack, c->recover)) {
		c->sb.loss_mode = false;
		c->sb.undo_ok = false;      /* Eifel decides within the episode */
	}
	if (!c->in_recovery)
		return false;
	if (seq_geq(ack, c->recover)) {
		c->in_recovery = false;
		c->dupacks = 0;
		tcp_cc_recovery_end(c);
		tcp_rack_recovery_done(c);
	}
	return true;                    /* no growth during recovery */
}

uint32_t tcp_sack_avail(const struct kw_tcp *c, seq_t nxt)
{
	uint32_t out = (uint32_t)seq_diff(nxt, c->snd_una), pipe, rwnd, cwnd;

	pipe = seq_geq(nxt, c->snd_max) ? c->sb.pipe + (uint32_t)seq_diff(nxt, c->snd_max) : out;
	rwnd = c->snd_wnd > out ? c->snd_wnd - out : 0;
	cwnd = c->cwnd > pipe ? c->cwnd - pipe : 0;
	return rwnd < cwnd ? rwnd : cwnd;
}

/* Send [start, end) again (end may be the FIN's successor). */
void tcp_sack_resend(struct kw_tcp *c, seq_t start, seq_t end, uint64_t now_ns)
{
	uint32_t len = (uint32_t)seq_diff(end, start);
	bool fin = c->fin_sent && end == seq_succ(c->fin_seq);

	if (fin)
		len--;
	c->rtt_timing = false;          /* Karn */
	tcp_send_range(c, start, len, fin, len > c->mss ? c->mss : 0, now_ns);
}

/* NextSeg rule (1): the lowest range taken as lost and not yet sent
 * again, while pipe leaves room; whole TSO frames where the device cuts
 * them, never across a SACKed byte. */
bool tcp_sack_retransmit(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint32_t gso = c->layer->env.gso_max, max = gso >= 2u * c->mss ? tcp_tso_goal(c) : c->mss;
	bool sent = false;

	for (unsigned guard = 0; guard < 2u * TCP_SB_MAX; guard++) {
		unsigned i;
		uint32_t room, len;
		seq_t start, end;

		for (i = 0; i < sb->n && !to_resend(&sb->e[i]); i++)
			;
		if (i == sb->n)
			break;
		room = c->cwnd > sb->pipe ? c->cwnd - sb->pipe : 0;
		start = sb->e[i].start;
		end = sb->e[i].end;
		while (i + 1 < sb->n && to_resend(&sb->e[i + 1]) && (uint32_t)seq_diff(end, start) < max)
			end = sb->e[++i].end;
		len = (uint32_t)seq_diff(end, start);
		if (room < (len < c->mss ? len : c->mss))
			break;
		if (len > max)
			len = max;
		if (len > room)
			len = room / c->mss * c->mss;
		tcp_sack_resend(c, start, seq_add(start, len), now_ns);
		sent = true;
	}
	return sent;
}

/* NextSeg rule (4), the rescue retransmission: in recovery, when nothing
 * lost is left to send and no new data can go, one segment ending at the
 * highest unSACKed sequence number below the recovery point, once per
 * episode (so a lost tail is found without waiting for the RTO). */
bool tcp_sack_rescue(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	seq_t wend = seq_add(c->snd_una, c->snd_wnd);

	if (!c->in_recovery || sb->rescue_done || sb->n == 0 ||
	    (tcp_unsent(c) > 0 && seq_lt(c->snd_max, wend)) ||
	    c->cwnd < sb->pipe + c->mss)
		return false;
	for (unsigned i = 0; i < sb->n; i++)
		if (to_resend(&sb->e[i]))
			return false;
	for (unsigned i = sb->n; i-- > 0;) {
		struct tcp_sb_ent *e = &sb->e[i];
		seq_t start;

		if (seq_gt(e->end, c->recover) || (e->flags & TCP_SB_SACKED))
			continue;
		if (e->flags & TCP_SB_RETRANS)
			return false;
		start = ent_len(e) > c->mss ? seq_add(e->end, -(uint32_t)c->mss) : e->start;
		sb->rescue_done = true;
		tcp_sack_resend(c, start, e->end, now_ns);
		return true;
	}
	return false;
}

/* Everything not SACKed is lost (RTO, or a smaller path MTU): it goes
 * again as cwnd allows, SACKed bytes never (RFC 6675 §5.1 keeps the
 * scoreboard across a timeout; as Linux's tcp_enter_loss without
 * reneging). Recovery is not entered until the ACK passes `recover`. */
void tcp_sack_mark_all_lost(struct kw_tcp *c)
{
	struct tcp_scoreboard *sb = &c->sb;

	for (unsigned i = 0; i < sb->n; i++) {
		if (sb->e[i].flags & TCP_SB_SACKED)
			continue;
		sb->e[i].flags |= TCP_SB_LOST;
		sb->e[i].flags &= ~TCP_SB_RETRANS;
	}
	sb->loss_mode = true;
	sb->rescue_done = false;
	c->recover = c->snd_max;
	sb_recount(c);
}

void tcp_sack_rto(struct kw_tcp *c, uint64_t now_ns)
{
	c->sb.rto_episodes++;
	tcp_rack_rto(c, now_ns);
	tcp_sack_mark_all_lost(c);
	c->rtx_at = KW_TIME_NEVER;
	tcp_output(c, now_ns);
	tcp_rtx_arm(c, now_ns);
}
