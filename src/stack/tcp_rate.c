/* Delivery rate samples (draft-cheng-iccrg-delivery-rate-estimation, as
 * Linux's tcp_rate.c) on the SACK scoreboard, for BBR (tcp_cc.c).
 *
 * Each range sent records how much the connection had delivered, and
 * when, at that moment. When an ACK delivers ranges, the newest of them
 * (the one sent last) gives the sample: the bytes delivered since it was
 * sent, over the longer of its send interval (from the first send of its
 * flight) and its ACK interval (from the delivery that preceded its
 * send). Taking the longer keeps ACK compression from inflating it. */
#include "stack/tcp_internal.h"

static uint32_t gap(uint64_t later, uint64_t earlier)
{
	uint64_t d = later > earlier ? later - earlier : 0;

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

void tcp_rate_sent(struct kw_tcp *c, struct tcp_sb_ent *e, uint64_t now_ns)
{
	struct tcp_rate *r = &c->rate;

	if (c->sb.pipe == 0 || r->first_sent_ns == 0)
		r->first_sent_ns = r->delivered_ns = now_ns;   /* a flight starts */
	e->r_delivered = (uint32_t)r->delivered;
	e->r_ack_gap = gap(e->xmit_ns, r->delivered_ns);
	e->r_send_gap = gap(e->xmit_ns, r->first_sent_ns);
	if (r->app_limited)
		e->flags |= TCP_SB_APP_LIMITED;
	else
		e->flags &= ~TCP_SB_APP_LIMITED;
}

void tcp_rate_delivered_bytes(struct kw_tcp *c, uint32_t n, uint64_t now_ns)
{
	c->rate.delivered += n;
	c->rate.delivered_ns = now_ns;
	c->rate.rs_acked += n;
}

void tcp_rate_delivered(struct kw_tcp *c, const struct tcp_sb_ent *e, uint64_t now_ns)
{
	struct tcp_rate *r = &c->rate;
	uint64_t prior;

	tcp_rate_delivered_bytes(c, (uint32_t)seq_diff(e->end, e->start), now_ns);
	prior = r->delivered - (uint32_t)((uint32_t)r->delivered - e->r_delivered);
	if (r->rs_valid && prior < r->rs_prior_delivered)
		return;                 /* an older send than the sample's */
	r->rs_valid = true;
	r->rs_prior_delivered = prior;
	r->rs_app_limited = (e->flags & TCP_SB_APP_LIMITED) != 0;
	r->rs_send_elapsed = e->r_send_gap;
	r->rs_ack_elapsed = gap(now_ns, e->xmit_ns) + (uint64_t)e->r_ack_gap;
	/* An RTT only from a range sent once (an answer to which copy is
	 * unknown otherwise, Karn) and at one time (not merged). */
	r->rs_rtt_ns = (e->flags & (TCP_SB_EVER_RETRANS | TCP_SB_MIXED)) ? 0 : gap(now_ns, e->xmit_ns);
	/* The next send interval starts at this range's send. */
	r->first_sent_ns = e->xmit_ns;
}

void tcp_rate_check_app_limited(struct kw_tcp *c)
{
	const struct tcp_scoreboard *sb = &c->sb;

	if (!c->sack_ok || tcp_unsent(c) > 0 || sb->pipe >= c->cwnd)
		return;
	for (unsigned i = 0; i < sb->n; i++)
		if ((sb->e[i].flags & (TCP_SB_SACKED | TCP_SB_LOST | TCP_SB_RETRANS)) == TCP_SB_LOST)
			return;             /* lost data waits to go again: not idle */
	c->rate.app_limited = c->rate.delivered + sb->pipe;
	if (c->rate.app_limited == 0)
		c->rate.app_limited = 1;
}
