/* TCP_INFO for a stack connection: what Linux's tcp_get_info() reports,
 * taken from the connection block and its counters. Health checks and
 * connection pools read state, RTT, cwnd, retransmissions, probes and the
 * times since the last data, so those must be the stack's real values,
 * in the units Linux uses (RTT/RTO in us, cwnd in segments, times since
 * an event in ms). */
#include "stack/tcp_internal.h"

#include <string.h>

static uint32_t ms_since(uint64_t then, uint64_t now_ns)
{
	uint64_t d;

	if (then == 0 || then > now_ns)
		return 0;
	d = (now_ns - then) / KW_NS_PER_MS;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static uint32_t us(uint64_t ns)
{
	uint64_t v = ns / 1000u;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t segments(uint64_t bytes, uint32_t mss)
{
	uint64_t v = (bytes + mss - 1) / mss;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void kw_tcp_info(const struct kw_tcp *c, struct kw_tcp_info *o, uint64_t now_ns)
{
	uint32_t mss = c->mss ? c->mss : TCP_DEFAULT_MSS;
	uint32_t inflight = (uint32_t)seq_diff(c->snd_max, c->snd_una);
	int32_t rwnd = seq_diff(c->rcv_adv, c->rcv_nxt);

	memset(o, 0, sizeof(*o));
	o->state = c->state;
	o->ka_next_ms = UINT32_MAX;
	if (c->state == KW_TCP_LISTEN || c->state == KW_TCP_CLOSED)
		return;
	/* Linux: icsk_retransmits counts the current timeouts, icsk_backoff
	 * the RTO's doublings, icsk_probes_out the unanswered zero-window or
	 * keepalive probes. */
	o->retransmits = (uint8_t)(c->persist ? 0 : c->retries > 255 ? 255 : c->retries);
	o->backoff = (uint8_t)(c->persist ? c->persist_shift : c->retries > 255 ? 255 : c->retries);
	o->probes = (uint8_t)(c->persist ? (c->persist_shift > 255 ? 255 : c->persist_shift)
			      : c->ka.probes_sent > 255 ? 255 : c->ka.probes_sent);
	if (c->ts_ok)
		o->options |= KW_TCPI_OPT_TIMESTAMPS;
	if (c->sack_ok)
		o->options |= KW_TCPI_OPT_SACK;
	if (c->ws_ok) {
		o->options |= KW_TCPI_OPT_WSCALE;
		o->snd_wscale = c->snd_wscale;
		o->rcv_wscale = c->rcv_wscale;
	}
	o->rto_us = us(c->rto);
	o->snd_mss = o->rcv_mss = mss;
	o->unacked = segments(inflight, mss);
	/* Without SACK, what a timeout sent again is taken as lost (Linux
	 * marks the whole flight lost on RTO); in fast recovery, the head. */
	if (c->retries > 0 && !c->persist)
		o->lost = o->retrans = o->unacked;
	else if (c->in_recovery)
		o->lost = o->retrans = o->unacked ? 1 : 0;
	o->last_data_sent_ms = ms_since(c->ctr.last_data_sent, now_ns);
	o->last_data_recv_ms = ms_since(c->ctr.last_data_recv, now_ns);
	o->last_ack_recv_ms = ms_since(c->ctr.last_ack_recv, now_ns);
	if (c->have_rtt) {
		o->rtt_us = us(c->srtt);
		o->rttvar_us = us(c->rttvar);
	}
	o->snd_cwnd = c->cwnd / mss ? c->cwnd / mss : 1;
	o->min_rtt_us = UINT32_MAX;
	if (c->bbr_on && kw_bbr_min_rtt(&c->bbr))
		o->min_rtt_us = us(kw_bbr_min_rtt(&c->bbr));
	else if (c->sack_ok && c->sb.min_rtt_ns)
		o->min_rtt_us = us(c->sb.min_rtt_ns);
	o->delivery_rate = c->rate.last_rate;
	o->snd_ssthresh = c->ssthresh >= UINT32_MAX / 2 ? 0x7fffffffu : c->ssthresh / mss;
	o->total_retrans = c->ctr.total_retrans;
	o->snd_wnd = c->snd_wnd;
	o->rcv_wnd = rwnd > 0 ? (uint32_t)rwnd : 0;
	o->bytes_sent = c->ctr.bytes_sent;
	o->bytes_retrans = c->ctr.bytes_retrans;
	o->bytes_acked = c->ctr.bytes_acked;
	o->bytes_received = c->ctr.bytes_received;
	o->segs_out = c->ctr.segs_out;
	o->segs_in = c->ctr.segs_in;
	o->data_segs_out = c->ctr.data_segs_out;
	o->data_segs_in = c->ctr.data_segs_in;
	o->ka_on = c->ka_on;
	o->ka_idle_ms = (uint32_t)(c->ka_cfg.idle_ns / KW_NS_PER_MS);
	o->ka_interval_ms = (uint32_t)(c->ka_cfg.interval_ns / KW_NS_PER_MS);
	o->ka_count = c->ka_cfg.count;
	o->ka_probes = c->ka.probes_sent;
	o->ka_next_ms = UINT32_MAX;
	if (c->ka_at != KW_TIME_NEVER) {
		uint64_t d = c->ka_at > now_ns ? (c->ka_at - now_ns) / KW_NS_PER_MS : 0;
		o->ka_next_ms = d >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)d;
	}
}

void kw_tcp_layer_foreach(struct kw_tcp_layer *L, void (*fn)(struct kw_tcp *s, void *arg),
			  void *arg)
{
	for (struct kw_tcp *c = L->all, *n; c != NULL; c = n) {
		n = c->all_next;
		if (!c->dead)
			fn(c, arg);
	}
}
