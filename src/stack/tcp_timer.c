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
 * and timing stops on a retransmission). After TCP_SYN_RETRIES (SYN-SENT, SYN-RECEIVED) or
 * TCP_DATA_RETRIES consecutive expiries the connection fails with
 * ETIMEDOUT. */
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

	c->ka_at = run ? keepalive_next_deadline(&c->ka, &c->ka_cfg) : KW_TIME_NEVER;
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
		c->rtx_at = now_ns + persist_interval(c);
		tcp_timer_update(c);
	}
}

static void rto_expired(struct kw_tcp *c, uint64_t now_ns)
{
	bool syn = c->state == KW_TCP_SYN_SENT || c->state == KW_TCP_SYN_RECEIVED;
	unsigned limit = syn ? TCP_SYN_RETRIES : TCP_DATA_RETRIES;
	uint32_t flight;

	if (c->snd_una == c->snd_max && !syn)
		return;                             /* nothing outstanding */
	if (c->retries >= limit) {
		if (c->state != KW_TCP_SYN_SENT)
			tcp_send_rst(c, now_ns);
		tcp_set_closed(c, ETIMEDOUT);
		return;
	}
	c->retries++;
	c->rto = c->rto * 2 > TCP_RTO_MAX ? TCP_RTO_MAX : c->rto * 2;
	c->rtt_timing = false;                  /* Karn */
	if (syn) {
		tcp_send_syn(c, now_ns);
		tcp_rtx_arm(c, now_ns);
		return;
	}
	flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);
	if (c->retries == 1) {                  /* RFC 5681 (4), first timeout */
		c->ssthresh = flight / 2;
		if (c->ssthresh < 2u * c->mss)
			c->ssthresh = 2u * c->mss;
	}
	c->cwnd = c->mss;
	c->in_recovery = false;
	c->dupacks = 0;
	c->recover = c->snd_max;                /* RFC 6582 §3.2 (4) */
	if (c->sack_ok) {
		tcp_sack_rto(c, now_ns);        /* resend what is not SACKed */
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
				tcp_send_window_probe(c, now_ns);
				c->persist = true;
				c->persist_shift++;
				c->rtx_at = now_ns + persist_interval(c);
			} else {
				tcp_output(c, now_ns);
			}
		} else {
			rto_expired(c, now_ns);
			if (c->state == KW_TCP_CLOSED)
				return;
		}
	}
	if (c->ka_at <= now_ns) {
		struct keepalive_decision d;

		c->ka_at = KW_TIME_NEVER;
		d = keepalive_poll(&c->ka, &c->ka_cfg, now_ns);
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
