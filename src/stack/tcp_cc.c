/* Which congestion control decides cwnd, at the points where loss
 * recovery (tcp_sack.c, tcp_rack.c, tcp_timer.c) and ACK processing
 * (tcp_input.c) would change it.
 *
 * NewReno (RFC 5681, RFC 6582, with RFC 6675 recovery): the default of
 * the layer, and always without SACK. BBR (core/bbr.h) when the layer
 * asks for it (env.congestion) and SACK was agreed: it needs the
 * scoreboard's delivery rate samples (tcp_rate.c). Loss recovery (what
 * is lost, what goes again, the RTO) is the same for both; only the
 * window differs. */
#include "stack/tcp_internal.h"

#include <string.h>

void tcp_cc_init(struct kw_tcp *c, uint64_t now_ns)
{
	c->cwnd = 10u * c->mss;                  /* RFC 6928 */
	c->bbr_on = c->layer->env.congestion == KW_TCP_CC_BBR && c->sack_ok;
	memset(&c->rate, 0, sizeof(c->rate));
	if (c->bbr_on)
		kw_bbr_init(&c->bbr, c->mss, c->cwnd, tcp_cwnd_max(c), now_ns);
}

/* Every ACK of a SACK connection closes a delivery rate sample
 * (tcp_rate.c): its rate is what TCP_INFO reports, and BBR's input. */
void tcp_cc_on_ack(struct kw_tcp *c, uint64_t now_ns)
{
	struct tcp_rate *r = &c->rate;
	uint64_t min_rtt = c->bbr_on ? kw_bbr_min_rtt(&c->bbr) : c->sb.min_rtt_ns;
	struct kw_bbr_ack a = {
		.now_ns = now_ns,
		.acked = r->rs_acked,
		.lost = r->lost_new,
		.inflight = c->sb.pipe,
		.recovering = c->in_recovery || c->sb.loss_mode,
		.delivered = r->delivered,
	};

	if (r->rs_valid) {
		uint64_t interval = r->rs_send_elapsed > r->rs_ack_elapsed ? r->rs_send_elapsed
									   : r->rs_ack_elapsed;
		a.prior_delivered = r->rs_prior_delivered;
		a.app_limited = r->rs_app_limited;
		a.rtt_ns = r->rs_rtt_ns;
		/* An interval shorter than the minimum RTT cannot be right
		 * (the draft's rule): no rate from it. */
		if (interval > 0 && interval >= min_rtt && r->delivered > a.prior_delivered) {
			a.interval_ns = interval;
			r->last_rate = (r->delivered - a.prior_delivered) * KW_NS_PER_S / interval;
		}
	}
	if (r->app_limited && r->delivered > r->app_limited)
		r->app_limited = 0;
	r->rs_valid = false;
	r->rs_acked = 0;
	r->lost_new = 0;
	if (!c->bbr_on)
		return;
	a.quantum = c->layer->env.gso_max >= 2u * c->mss ? tcp_tso_goal(c) : c->mss;
	kw_bbr_set_mss(&c->bbr, c->mss);
	kw_bbr_on_ack(&c->bbr, &a);
	c->cwnd = kw_bbr_cwnd(&c->bbr);
}

void tcp_cc_on_rto(struct kw_tcp *c, uint32_t flight)
{
	if (c->bbr_on) {
		kw_bbr_on_rto(&c->bbr);
		c->cwnd = kw_bbr_cwnd(&c->bbr);
		return;
	}
	if (c->retries == 1) {                  /* RFC 5681 (4), first timeout */
		c->ssthresh = flight / 2;
		if (c->ssthresh < 2u * c->mss)
			c->ssthresh = 2u * c->mss;
	}
	c->cwnd = c->mss;
}

void tcp_cc_undo(struct kw_tcp *c, uint32_t cwnd, uint32_t ssthresh)
{
	if (c->bbr_on) {
		kw_bbr_undo(&c->bbr);
		c->cwnd = kw_bbr_cwnd(&c->bbr);
		return;
	}
	if (c->cwnd < cwnd)
		c->cwnd = cwnd;
	if (c->ssthresh < ssthresh)
		c->ssthresh = ssthresh;
}

void tcp_cc_recovery_start(struct kw_tcp *c, uint32_t flight)
{
	if (c->bbr_on)
		return;                 /* BBR: packet conservation (tcp_cc_on_ack) */
	/* RFC 6675 §5 (4.2): ssthresh = cwnd = FlightSize / 2, at least
	 * 2 SMSS (RFC 5681 (4)); cwnd then stays there for the episode and
	 * pipe, not cwnd inflation, decides what may go. */
	c->ssthresh = flight / 2 > 2u * c->mss ? flight / 2 : 2u * c->mss;
	c->cwnd = c->ssthresh;
}

void tcp_cc_recovery_end(struct kw_tcp *c)
{
	if (c->bbr_on)
		return;                 /* BBR restores its window on the ACK */
	if (c->cwnd > c->ssthresh)
		c->cwnd = c->ssthresh;
}

void tcp_cc_tlp_loss(struct kw_tcp *c)
{
	uint32_t half = c->cwnd / 2;

	if (c->bbr_on)
		return;                 /* the lost bytes count against BBR's window */
	c->ssthresh = half > 2u * c->mss ? half : 2u * c->mss;
	c->cwnd = c->ssthresh;
}
