/* RACK-TLP (RFC 8985) on SACK connections, over the scoreboard of
 * tcp_sack.c (each entry holds the time it was last sent).
 *
 * RACK: a range is lost when a range sent after it has been delivered
 * (SACKed or cumulatively acknowledged) and more than RACK.rtt +
 * reo_wnd has passed since it was sent; a retransmission is judged the
 * same way, so a lost retransmission is found after about one RTT, not
 * at the RTO. reo_wnd = min_rtt / 4 (times a multiplier that D-SACKs
 * raise, RFC 8985 §6.2 step 4), at most SRTT; 0 until reordering has
 * been seen while in recovery or with 3 segments SACKed (as the RFC and
 * Linux's tcp_rack_reo_wnd). A range still inside its window arms the
 * reordering timer.
 *
 * TLP, as Linux's tcp_schedule_loss_probe / tcp_send_loss_probe (the
 * kernel is the judge, and its timing is what TCP_USER_TIMEOUT and the
 * retry budgets are pinned to): only in the Open state (no recovery, no
 * RTO since the last forward progress), one probe at a time (a second
 * one only after the first was answered). PTO = 2 * SRTT, plus
 * TCP_RTO_MIN (200 ms, the peer's worst-case delayed ACK, RFC 8985 §7.2
 * WCDelAckT) when one segment is out, else plus 2 ms; never later than
 * the RTO: when it would be, the probe takes the RTO's place. When it
 * fires, two new segments go if the peer's window allows (one where
 * Linux sends one: a receiver that delays its ACKs answers two at once),
 * else the last segment again; the RTO then restarts from the probe. A
 * probe is not a retransmission for the retry count (icsk_retransmits)
 * and does not start the user-timeout clock (Linux resends it with
 * __tcp_retransmit_skb, which leaves retrans_stamp alone). Its ACK (carrying SACKs) lets RACK find
 * the rest. A probe that repaired a loss (acknowledged, no D-SACK for
 * it) halves cwnd as any loss does (§7.4.2). The RTO, restarted by each
 * probe, stays the last resort, with Linux's 200 ms floor.
 *
 * Both timers live in rtx_at in front of the RTO deadline (Linux shares
 * icsk_retransmit_timer the same way): tcp_rack_schedule, at the end of
 * every tcp_output, puts the earliest of them there; tcp_rack_timer
 * takes the expiry when it is ours.
 *
 * Spurious RTO: undone with timestamps (Eifel detection, RFC 3522, as
 * Linux's tcp_try_undo_loss / tcp_packet_delayed): the first ACK after a
 * timeout that echoes a TSval from before it acknowledges an original
 * transmission, so the timeout was premature: cwnd and ssthresh come
 * back, the lost marks go. We chose this over F-RTO (RFC 5682) because
 * it needs no change to what is sent after the timeout and decides on
 * the first ACK; timestamps are on by default on both ends (ours and
 * Linux's). Without timestamps a spurious RTO is not undone. */
#include "stack/tcp_internal.h"

#define TCP_PTO_EXTRA  (2 * KW_NS_PER_MS)       /* Linux: TCP_TIMEOUT_MIN, 2 jiffies */

static uint64_t reo_wnd(const struct kw_tcp *c)
{
	const struct tcp_scoreboard *sb = &c->sb;
	uint64_t w;

	if (!sb->reord) {
		if (c->in_recovery || sb->loss_mode)
			return 0;
		if (sb->sacked_bytes >= 3u * c->mss)
			return 0;
	}
	w = sb->min_rtt_ns / 4 * (sb->reo_wnd_mult ? sb->reo_wnd_mult : 1);
	if (c->have_rtt && w > c->srtt)
		w = c->srtt;
	return w;
}

void tcp_rack_detect(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint64_t reo, timeout = 0;

	sb->reo_at = 0;
	if (!sb->rack_valid)
		return;
	reo = reo_wnd(c);
	for (unsigned i = 0; i < sb->n; i++) {
		struct tcp_sb_ent *e = &sb->e[i];
		uint64_t elapsed, limit = sb->rack_rtt_ns + reo;

		if (e->flags & TCP_SB_SACKED)
			continue;
		if ((e->flags & TCP_SB_LOST) && !(e->flags & TCP_SB_RETRANS))
			continue;       /* lost already, not sent again yet */
		/* Sent before the delivered one (time, then sequence)? */
		if (e->xmit_ns > sb->rack_xmit_ns ||
		    (e->xmit_ns == sb->rack_xmit_ns && seq_gt(e->end, sb->rack_end)))
			continue;
		elapsed = now_ns > e->xmit_ns ? now_ns - e->xmit_ns : 0;
		if (elapsed >= limit) {
			e->flags |= TCP_SB_LOST;
			e->flags &= ~TCP_SB_RETRANS;
			sb->rack_losses++;
			c->rate.lost_new += (uint32_t)seq_diff(e->end, e->start);
		} else if (limit - elapsed > timeout) {
			timeout = limit - elapsed;
		}
	}
	if (timeout)
		sb->reo_at = now_ns + timeout;
}

/* From tcp_sb_on_ack, after the scoreboard took the ACK. */
void tcp_rack_on_ack(struct kw_tcp *c, seq_t ack, const struct tcp_opts *o, bool dsack,
		     uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;

	(void)now_ns;
	/* D-SACK: widen the reordering window, once per round trip, kept
	 * for 16 recoveries (RFC 8985 §6.2 step 4). */
	if (dsack) {
		if (!sb->dsack_round_on || seq_geq(ack, sb->dsack_round)) {
			uint64_t w = sb->min_rtt_ns / 4 * (uint64_t)(sb->reo_wnd_mult + 1);
			if (sb->reo_wnd_mult == 0)
				sb->reo_wnd_mult = 1;
			if (!c->have_rtt || w <= c->srtt)
				sb->reo_wnd_mult++;
			sb->dsack_round = c->snd_max;
			sb->dsack_round_on = true;
		}
		sb->reo_wnd_persist = 16;
		sb->reord = true;
	}
	/* The end of a TLP episode (§7.4). */
	if (sb->tlp_out && seq_geq(ack, sb->tlp_end)) {
		sb->tlp_out = false;
		if (sb->tlp_rtx && !dsack && !c->in_recovery && !sb->loss_mode) {
			/* The probe repaired a loss: the congestion response. */
			tcp_cc_tlp_loss(c);
		}
	} else if (sb->tlp_out && sb->tlp_rtx && dsack) {
		sb->tlp_out = false;        /* the probe was needless */
	}
	/* Eifel: an echo from before the RTO acknowledges an original. */
	if (sb->loss_mode && sb->undo_ok && o->ts_ok && o->tsecr != 0 &&
	    seq_gt(ack, c->snd_una) && seq_lt(o->tsecr, sb->undo_tsval)) {
		tcp_cc_undo(c, sb->undo_cwnd, sb->undo_ssthresh);
		for (unsigned i = 0; i < sb->n; i++)
			sb->e[i].flags &= ~TCP_SB_LOST;
		sb->loss_mode = false;
		sb->undo_ok = false;
		sb->undos++;
	}
}

void tcp_rack_recovery_done(struct kw_tcp *c)
{
	struct tcp_scoreboard *sb = &c->sb;

	if (sb->reo_wnd_persist > 0 && --sb->reo_wnd_persist == 0)
		sb->reo_wnd_mult = 1;
}

void tcp_rack_rto(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;

	sb->tlp_out = false;
	sb->reo_at = 0;
	sb->timer = TCP_RACK_T_NONE;
	/* Eifel works from the first timeout only (later ones resend what
	 * an earlier one already resent). */
	sb->undo_ok = c->ts_ok && c->retries == 1;
	sb->undo_tsval = tcp_ts_now(c, now_ns);
}

/* Which probe may be scheduled now: 0 none; 1 Linux's (TCP_CA_Open, or
 * recovery: see above; no RTO since the last progress; none
 * unanswered); 2 a second one while the first is unanswered. */
static int tlp_allowed(const struct kw_tcp *c)
{
	const struct tcp_scoreboard *sb = &c->sb;

	if (c->retries != 0 || sb->loss_mode || !c->have_rtt || c->snd_una == c->snd_max ||
	    c->persist ||
	    !(c->state == KW_TCP_ESTABLISHED || c->state == KW_TCP_CLOSE_WAIT ||
	      c->state == KW_TCP_FIN_WAIT_1 || c->state == KW_TCP_CLOSING ||
	      c->state == KW_TCP_LAST_ACK))
		return 0;
	if (!sb->tlp_out)
		return 1;
	return sb->tlp_episode < 2 ? 2 : 0;
}

void tcp_rack_schedule(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint64_t d = KW_TIME_NEVER;
	uint8_t kind = TCP_RACK_T_NONE;
	int probe;

	if (!c->sack_ok)
		return;
	/* Whatever re-armed rtx_at since we last wrote it is the RTO. */
	if (sb->timer == TCP_RACK_T_NONE || c->rtx_at != sb->timer_at)
		sb->rto_at = c->rtx_at;
	if (c->persist || sb->rto_at == KW_TIME_NEVER || c->snd_una == c->snd_max) {
		sb->timer = TCP_RACK_T_NONE;
		if (c->snd_una == c->snd_max)
			sb->tlp_out = false;
		return;
	}
	/* The cwnd and ssthresh an undo would restore. */
	if (!c->in_recovery && !sb->loss_mode && c->retries == 0) {
		sb->undo_cwnd = c->cwnd;
		sb->undo_ssthresh = c->ssthresh;
	}
	if (sb->reo_at) {
		d = sb->reo_at;
		kind = TCP_RACK_T_REO;
	} else if ((probe = tlp_allowed(c)) != 0) {
		uint32_t flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);
		uint64_t pto = 2 * c->srtt + (flight <= c->mss ? TCP_RTO_MIN : TCP_PTO_EXTRA);

		if (probe == 1) {
			d = now_ns + pto;
			if (d > sb->rto_at)
				d = sb->rto_at; /* the probe goes in the RTO's place */
			kind = TCP_RACK_T_TLP;
		} else if (now_ns + 2 * pto < sb->rto_at) {
			d = now_ns + 2 * pto;   /* only in front of the RTO */
			kind = TCP_RACK_T_TLP;
		}
	}
	if (kind == TCP_RACK_T_TLP ? d <= sb->rto_at : kind != TCP_RACK_T_NONE && d < sb->rto_at) {
		sb->timer = kind;
		sb->timer_at = d;
		c->rtx_at = d;
	} else {
		sb->timer = TCP_RACK_T_NONE;
		c->rtx_at = sb->rto_at;
	}
	tcp_timer_update(c);
}

/* The loss probe (§7.3): new data if the peer's window allows (cwnd may
 * not: the probe goes regardless, as Linux's push_one), else the last
 * segment not SACKed again. */
static void send_probe(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	seq_t before = c->snd_max;

	sb->tlp_episode = sb->tlp_out ? sb->tlp_episode + 1 : 1;
	sb->tlp_out = true;
	sb->tlp_probes++;
	if (tcp_unsent(c) > 0 && seq_lt(c->snd_max, seq_add(c->snd_una, c->snd_wnd))) {
		uint32_t cwnd = c->cwnd;
		bool nodelay = c->nodelay;

		/* Two segments where RFC 8985 §7.3 sends one: a receiver
		 * that delays its ACKs (Linux, us) answers a lone in-order
		 * segment only after its delayed-ACK timer, two at once. Seen
		 * in bench-loss: the ACK for a frame dropped, the first probe
		 * left unanswered, the second probe's ACK dropped too, and
		 * the RTO 200 ms later. */
		c->cwnd = sb->pipe + 2u * c->mss;
		c->nodelay = true;
		tcp_output(c, now_ns);
		c->cwnd = cwnd;
		c->nodelay = nodelay;
	}
	if (c->snd_max != before) {
		sb->tlp_rtx = false;
	} else {
		for (unsigned i = sb->n; i-- > 0;) {
			struct tcp_sb_ent *e = &sb->e[i];

			if (e->flags & TCP_SB_SACKED)
				continue;
			tcp_sack_resend(c, (uint32_t)seq_diff(e->end, e->start) > c->mss ?
					    seq_add(e->end, -(uint32_t)c->mss) : e->start, e->end, now_ns);
			break;
		}
		sb->tlp_rtx = true;
	}
	sb->tlp_end = c->snd_max;
}

bool tcp_rack_timer(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_scoreboard *sb = &c->sb;
	uint8_t kind = sb->timer;

	if (!c->sack_ok || kind == TCP_RACK_T_NONE)
		return false;
	sb->timer = TCP_RACK_T_NONE;
	c->rtx_at = sb->rto_at;             /* the RTO stays behind us */
	if (sb->rto_at <= now_ns && kind != TCP_RACK_T_TLP) {
		c->rtx_at = KW_TIME_NEVER;      /* due too: the RTO goes */
		return false;
	}
	if (kind == TCP_RACK_T_REO) {
		sb->reo_at = 0;
		tcp_sack_after_ack(c, now_ns);  /* RACK again, then recovery */
		tcp_output(c, now_ns);
	} else {
		send_probe(c, now_ns);
		/* §7.3: the RTO restarts after Linux's probe; a second one
		 * leaves it where it was, so a dead peer meets the RTOs (and
		 * TCP_USER_TIMEOUT, the retry budgets) at Linux's times. */
		if (sb->tlp_episode == 1)
			tcp_rtx_arm(c, now_ns);
		tcp_rack_schedule(c, now_ns);
	}
	tcp_timer_update(c);
	return true;
}
