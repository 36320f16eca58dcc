/* TCP timers. Each connection has one kw_timer in the layer's heap, armed
 * at the earliest of its deadlines:
 *   rtx_at     retransmission (RFC 6298) or, when `persist` is set, the
 *              zero-window persist timer (exponential backoff, 200 ms..60 s)
 *   delack_at  delayed ACK (TCP_DELACK = 40 ms; RFC 9293 requires <= 500 ms,
 *              RFC 1122 recommends <= 200 ms; an ACK goes out at once for
 *              every second full segment, out-of-order data and FIN)
 *   ka_at      keepalive (src/core/keepalive), only while nothing is
 *              unacknowledged and the connection is synchronized
 *   tw_at      TIME-WAIT end (2*MSL), or the orphaned FIN-WAIT-2 limit
 * so a timer event costs O(log n) in the number of connections.
 *
 * RTO (RFC 6298): initial 1 s; after samples SRTT + max(G, 4*RTTVAR) with
 * G = 1 ms, clamped to [200 ms, 120 s] (the 200 ms floor is Linux's; RFC
 * 6298 (2.4) says 1 s, this is a documented deviation); doubled on each
 * expiry. With RFC 7323 timestamps agreed, every ACK that advances
 * SND.UNA gives a sample, now - TSecr (1 ms ticks), retransmissions
 * included (tcp_input.c); without them samples follow Karn's rule (no
 * sample from a retransmitted segment: one segment is timed at a time
 * and timing stops on a retransmission). After TCP_SYN_RETRIES (SYN-SENT),
 * TCP_SYNACK_RETRIES (SYN-RECEIVED) or
 * TCP_DATA_RETRIES consecutive expiries the connection fails with
 * ETIMEDOUT.
 *
 * Ends on error paths follow Linux (tcp_timer.c):
 *   - TCP_USER_TIMEOUT U (RFC 5482, tcp_write_timeout): once a
 *     retransmission was made, the connection fails U after the first
 *     retransmission by the RTO (Linux's retrans_stamp; a loss probe does
 *     not start it); the RTO is clamped so that the check happens
 *     exactly then (tcp_clamp_rto_to_user_timeout). With U
 *     set, U alone decides for synchronized connections (the retry count
 *     no longer applies), as in Linux's retransmits_timed_out().
 *   - persist (tcp_probe_timer): probes are counted; any acceptable ACK
 *     resets the count (RFC 1122 4.2.2.17: a receiver that answers keeps
 *     the connection), TCP_DATA_RETRIES unanswered probes end it; U counts
 *     from the first persist expiry and is not reset by an ACK that keeps
 *     the window closed (icsk_probes_tstamp).
 *   - orphans (the program closed its handle): retransmissions and probes
 *     use Linux's orphan budget, TCP_ORPHAN_RETRIES while the backed-off
 *     timeout is below TCP_RTO_MAX ("alive"), none beyond.
 *   - keepalive with U: see keepalive_poll_ut().
 * A timed-out connection sends a RST, as this stack did for the retry
 * budget before (Linux's tcp_write_err() does not; its keepalive abort
 * does). */
#include "stack/tcp_internal.h"

#include <errno.h>

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

void tcp_timer_update(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;
	uint64_t d = min64(min64(c->rtx_at, c->delack_at), min64(c->ka_at, c->tw_at));

	if (d == KW_TIME_NEVER || c->state == KW_TCP_CLOSED)
		kw_timer_cancel(&L->timers, &c->timer);
	else
		(void)kw_timer_arm(&L->timers, &c->timer, d);
	/* -ENOMEM leaves the timer as it was: the connection then relies on
	 * input to make progress; nothing better can be done. */
}

void tcp_rtx_arm(struct kw_tcp *c, uint64_t now_ns)
{
	c->persist = false;
	c->rtx_at = now_ns + c->rto;
	tcp_timer_update(c);
}

void tcp_rtx_stop(struct kw_tcp *c)
{
	c->persist = false;
	c->rtx_at = KW_TIME_NEVER;
	tcp_timer_update(c);
}

void tcp_rtt_sample(struct kw_tcp *c, uint64_t r)
{
	uint64_t var;

	if (!c->have_rtt) {
		c->srtt = r;
		c->rttvar = r / 2;
		c->have_rtt = true;
	} else {
		uint64_t delta = c->srtt > r ? c->srtt - r : r - c->srtt;
		c->rttvar = (3 * c->rttvar + delta) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
	}
	var = 4 * c->rttvar;
	if (var < KW_NS_PER_MS)
		var = KW_NS_PER_MS;
	c->rto = c->srtt + var;
	if (c->rto < TCP_RTO_MIN)
		c->rto = TCP_RTO_MIN;
	if (c->rto > TCP_RTO_MAX)
		c->rto = TCP_RTO_MAX;
}

void tcp_delack_arm(struct kw_tcp *c, uint64_t now_ns)
{
	if (c->delack_at == KW_TIME_NEVER) {
		c->delack_at = now_ns + TCP_DELACK;
		tcp_timer_update(c);
	}
}

void tcp_ka_update(struct kw_tcp *c)
{
	bool run = c->ka_on &&
		   (c->state == KW_TCP_ESTABLISHED || c->state == KW_TCP_CLOSE_WAIT ||
		    c->state == KW_TCP_FIN_WAIT_2) &&
		   c->snd_una == c->snd_max;       /* suspended while data is unacked */

	c->ka_at = run ? keepalive_next_deadline_ut(&c->ka, &c->ka_cfg, c->user_timeout)
		       : KW_TIME_NEVER;
	tcp_timer_update(c);
}

static uint64_t persist_interval(const struct kw_tcp *c)
{
	uint64_t t = c->have_rtt ? c->rto : TCP_RTO_INITIAL;
	unsigned shift = c->persist_shift > 16 ? 16 : c->persist_shift;

	t <<= shift;
	if (t < TCP_PERSIST_MIN)
		t = TCP_PERSIST_MIN;
	if (t > TCP_PERSIST_MAX)
		t = TCP_PERSIST_MAX;
	return t;
}

void tcp_persist_check(struct kw_tcp *c, uint64_t now_ns)
{
	if (c->snd_wnd == 0 && c->snd_nxt == c->snd_una && tcp_unsent(c) > 0 &&
	    c->rtx_at == KW_TIME_NEVER) {
		c->persist = true;
		c->persist_shift = 0;
		c->probes_out = 0;
		c->probes_stamped = false;
		c->rtx_at = now_ns + persist_interval(c);
		tcp_timer_update(c);
	}
}

/* The program closed its handle (Linux SOCK_DEAD); a child waiting in a
 * listener's queue is not an orphan. */
static bool orphaned(const struct kw_tcp *c)
{
	return !c->user_ref && !c->parent;
}

static void timeout_abort(struct kw_tcp *c, uint64_t now_ns)
{
	if (c->state != KW_TCP_SYN_SENT)
		tcp_send_rst(c, now_ns);
	tcp_set_closed(c, ETIMEDOUT);
}

/* Linux tcp_write_timeout(), at an RTO expiry before its retransmission.
 * The retry budgets are counts here: with RTO 200 ms they end at the same
 * expiry as Linux's time model (tcp_model_timeout). */
static bool rto_gave_up(const struct kw_tcp *c, bool syn, uint64_t now_ns)
{
	unsigned limit = TCP_DATA_RETRIES;

	if (syn && c->retries >= (c->state == KW_TCP_SYN_SENT ? TCP_SYN_RETRIES : TCP_SYNACK_RETRIES))
		return true;
	if (c->user_timeout != 0)           /* needs one retransmission done */
		return c->retries > 0 && now_ns - c->rtx_stamp >= c->user_timeout;
	if (syn)
		return false;
	if (orphaned(c))                    /* tcp_orphan_retries(), alive = rto < max */
		limit = c->rto < TCP_RTO_MAX ? TCP_ORPHAN_RETRIES : 0;
	return c->retries > 0 && c->retries >= limit;
}

/* Linux tcp_clamp_rto_to_user_timeout(): the next expiry is no later than
 * the user timeout; already past it: 1 ms (one jiffy at HZ=1000). */
static void rto_clamp_to_user_timeout(struct kw_tcp *c, uint64_t now_ns)
{
	uint64_t end, at;

	if (c->user_timeout == 0)
		return;
	end = c->rtx_stamp + c->user_timeout;
	at = end > now_ns ? end : now_ns + KW_NS_PER_MS;
	if (at < c->rtx_at) {
		c->rtx_at = at;
		tcp_timer_update(c);
	}
}

void tcp_rtx_stamp(struct kw_tcp *c, uint64_t sent_ns)
{
	if (!c->rtx_stamped) {
		c->rtx_stamp = sent_ns;
		c->rtx_stamped = true;
	}
}

static void rto_expired(struct kw_tcp *c, uint64_t now_ns)
{
	bool syn = c->state == KW_TCP_SYN_SENT || c->state == KW_TCP_SYN_RECEIVED;
	uint32_t flight;

	if (c->snd_una == c->snd_max && !syn)
		return;                             /* nothing outstanding */
	if (rto_gave_up(c, syn, now_ns)) {
		timeout_abort(c, now_ns);
		return;
	}
	/* Linux's retrans_stamp: tcp_retransmit_skb takes the resent
	 * segment's timestamp after sending it, i.e. the time of this first
	 * retransmission. Measured on Linux 6.18 (veth, everything dropped
	 * after a write): TCP_USER_TIMEOUT 100 ms aborts 0.309 s after the
	 * write without SACK (RTO ~0.21 s + U), 0.517 s with SACK (loss
	 * probe, RTO at ~0.42 s, + U); 5000 ms: 5.305 s and 5.442 s. */
	tcp_rtx_stamp(c, now_ns);
	c->retries++;
	c->rto = c->rto * 2 > TCP_RTO_MAX ? TCP_RTO_MAX : c->rto * 2;
	c->rtt_timing = false;                  /* Karn */
	if (syn) {
		tcp_send_syn(c, now_ns);
		tcp_rtx_arm(c, now_ns);
		rto_clamp_to_user_timeout(c, now_ns);
		return;
	}
	flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);
	tcp_cc_on_rto(c, flight);              /* RFC 5681 (4): cwnd = 1 SMSS */
	c->in_recovery = false;
	c->dupacks = 0;
	c->recover = c->snd_max;                /* RFC 6582 §3.2 (4) */
	if (c->sack_ok) {
		tcp_sack_rto(c, now_ns);        /* resend what is not SACKed */
		rto_clamp_to_user_timeout(c, now_ns);
		return;
	}
	c->snd_nxt = c->snd_una;                /* go back N */
	c->rtx_at = KW_TIME_NEVER;
	tcp_output(c, now_ns);
	if (c->snd_nxt == c->snd_una) {
		/* Nothing could go (e.g. a zero window): resend the head anyway. */
		tcp_retransmit_head(c, now_ns);
	}
	tcp_rtx_arm(c, now_ns);
	rto_clamp_to_user_timeout(c, now_ns);
}

/* Linux tcp_clamp_probe0_to_user_timeout(): the next probe no later than
 * the user timeout counted from the first probe expiry, but at least
 * 2 ms (TCP_TIMEOUT_MIN, two jiffies at HZ=1000) away. */
static uint64_t persist_clamp(const struct kw_tcp *c, uint64_t when, uint64_t now_ns)
{
	uint64_t elapsed, remaining;

	if (c->user_timeout == 0 || !c->probes_stamped)
		return when;
	elapsed = now_ns > c->probes_stamp ? now_ns - c->probes_stamp : 0;
	if (elapsed >= c->user_timeout)
		return when;
	remaining = c->user_timeout - elapsed;
	if (remaining < 2 * KW_NS_PER_MS)
		remaining = 2 * KW_NS_PER_MS;
	return remaining < when ? remaining : when;
}

/* Linux tcp_probe_timer(): whether the zero-window wait ends now. */
static bool persist_gave_up(struct kw_tcp *c, uint64_t now_ns)
{
	unsigned max_probes = TCP_DATA_RETRIES;

	if (!c->probes_stamped) {
		c->probes_stamped = true;
		c->probes_stamp = now_ns;
	} else if (c->user_timeout != 0 && now_ns - c->probes_stamp >= c->user_timeout) {
		return true;
	}
	if (orphaned(c)) {
		/* alive: the backed-off probe interval is still below
		 * TCP_RTO_MAX; then 8 unanswered probes, else none more. */
		bool alive = persist_interval(c) < TCP_RTO_MAX;

		max_probes = alive ? TCP_ORPHAN_RETRIES : 0;
		if (!alive && c->persist_shift >= max_probes)
			return true;
	}
	return c->probes_out >= max_probes;
}

/* A persist expiry with the window still closed: give up, or probe and
 * back off (the backoff stops growing at TCP_DATA_RETRIES, as Linux's
 * icsk_backoff). Returns false when the connection was closed. */
static bool persist_probe(struct kw_tcp *c, uint64_t now_ns)
{
	if (persist_gave_up(c, now_ns)) {
		timeout_abort(c, now_ns);
		return false;
	}
	tcp_send_window_probe(c, now_ns);
	c->probes_out++;
	c->persist = true;
	if (c->persist_shift < TCP_DATA_RETRIES)
		c->persist_shift++;
	c->rtx_at = now_ns + persist_clamp(c, persist_interval(c), now_ns);
	return true;
}

void tcp_timer_on_ack(struct kw_tcp *c, uint64_t now_ns)
{
	/* tcp_ack(): an answered probe proves the peer alive. */
	c->probes_out = 0;
	/* tcp_ack_probe(): the window stayed closed, the next probe is one
	 * backed-off interval from this ACK. */
	if (c->persist && c->snd_wnd == 0 && tcp_unsent(c) > 0) {
		c->rtx_at = now_ns + persist_clamp(c, persist_interval(c), now_ns);
		tcp_timer_update(c);
	}
}

int kw_tcp_set_user_timeout(struct kw_tcp *s, uint64_t timeout_ns)
{
	s->user_timeout = timeout_ns;
	tcp_ka_update(s);                       /* it moves the keepalive end */
	return 0;
}

uint64_t kw_tcp_get_user_timeout(const struct kw_tcp *s)
{
	return s->user_timeout;
}

void tcp_timer_fire(struct kw_timer *t, void *arg, uint64_t now_ns)
{
	struct kw_tcp *c = arg;

	(void)t;
	if (c->tw_at <= now_ns) {
		c->tw_at = KW_TIME_NEVER;
		tcp_set_closed(c, 0);
		return;
	}
	if (c->delack_at <= now_ns) {
		c->delack_at = KW_TIME_NEVER;
		tcp_send_ack(c, now_ns);
	}
	if (c->rtx_at <= now_ns) {
		c->rtx_at = KW_TIME_NEVER;
		if (c->persist) {
			c->persist = false;
			if (c->snd_wnd == 0 && tcp_unsent(c) > 0) {
				if (!persist_probe(c, now_ns))
					return;
			} else {
				tcp_output(c, now_ns);
			}
		} else if (!tcp_rack_timer(c, now_ns)) {   /* RACK-TLP first */
			rto_expired(c, now_ns);
			if (c->state == KW_TCP_CLOSED)
				return;
		}
	}
	if (c->ka_at <= now_ns) {
		struct keepalive_decision d;

		c->ka_at = KW_TIME_NEVER;
		d = keepalive_poll_ut(&c->ka, &c->ka_cfg, c->user_timeout, now_ns);
		if (d.action == KEEPALIVE_SEND_PROBE) {
			tcp_send_keepalive_probe(c, now_ns);
		} else if (d.action == KEEPALIVE_ABORT) {
			c->layer->stats.keepalive_aborts++;
			tcp_send_rst(c, now_ns);
			tcp_set_closed(c, ETIMEDOUT);
			return;
		}
	}
	tcp_ka_update(c);
}

/* RFC 6298 (5.7): when the handshake gave no RTT sample (its SYN or
 * SYN-ACK was retransmitted, so Karn's rule forbids one, and no timestamp
 * echo gave one), the RTO is re-initialised to 3 s as data transmission
 * begins, not left at the backed-off value. Linux does the same in
 * tcp_init_transfer -> tcp_init_metrics whenever srtt is still 0
 * (TCP_TIMEOUT_FALLBACK); called before the sample the handshake's last
 * ACK may give (passive side), which then replaces it. */
void tcp_rto_after_handshake(struct kw_tcp *c)
{
	if (!c->have_rtt)
		c->rto = TCP_RTO_FALLBACK;
}
