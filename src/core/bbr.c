/* BBR v1's model and window, without pacing (bbr.h says what and why). */
#include "core/bbr.h"

#include <string.h>

#define NS_PER_S 1000000000ull

/* Window gains, per mille. STARTUP: 2/ln 2, BBR's high gain. DRAIN: 1
 * (with pacing BBR drains by sending at 1/2.89 of the rate; a window of
 * one BDP drains the same queue). PROBE_BW: 2, as BBR's cwnd_gain. */
#define GAIN_STARTUP   2885u
#define GAIN_DRAIN     1000u
#define GAIN_PROBE_BW  2000u
#define FULL_BW_GROWTH 1250u            /* 25 % more ... */
#define FULL_BW_ROUNDS 3u               /* ... within 3 rounds, or STARTUP ends */
#define MIN_SEGS       4u               /* the smallest window, and PROBE_RTT's */
#define EXTRA_MAX_NS   (100ull * 1000000)   /* aggregation credit: <= 100 ms of data */

static uint32_t min_cwnd(const struct kw_bbr *b)
{
	return MIN_SEGS * b->mss;
}

void kw_bbr_init(struct kw_bbr *b, uint32_t mss, uint32_t iw, uint32_t cap, uint64_t now_ns)
{
	memset(b, 0, sizeof(*b));
	b->mss = mss ? mss : 536;
	b->cwnd_cap = cap > min_cwnd(b) ? cap : min_cwnd(b);
	b->cwnd = iw > min_cwnd(b) ? iw : min_cwnd(b);
	b->prior_cwnd = b->cwnd;
	b->mode = KW_BBR_STARTUP;
	b->epoch_at = now_ns;
	b->min_rtt_at = now_ns;
}

void kw_bbr_set_mss(struct kw_bbr *b, uint32_t mss)
{
	if (mss)
		b->mss = mss;
}

uint64_t kw_bbr_bw(const struct kw_bbr *b)
{
	uint64_t max = 0;

	for (unsigned i = 0; i < KW_BBR_BW_ROUNDS; i++)
		if (b->bw[i].round + KW_BBR_BW_ROUNDS > b->round && b->bw[i].bw > max)
			max = b->bw[i].bw;
	return max;
}

const char *kw_bbr_mode_name(enum kw_bbr_mode m)
{
	switch (m) {
	case KW_BBR_STARTUP: return "startup";
	case KW_BBR_DRAIN: return "drain";
	case KW_BBR_PROBE_BW: return "probe_bw";
	case KW_BBR_PROBE_RTT: return "probe_rtt";
	}
	return "?";
}

/* gain/1000 x bandwidth x min RTT, in bytes; 0 while either is unknown. */
static uint64_t bdp(const struct kw_bbr *b, unsigned gain)
{
	unsigned __int128 v = (unsigned __int128)kw_bbr_bw(b) * b->min_rtt_ns * gain;

	v /= (unsigned __int128)NS_PER_S * 1000u;
	return v > UINT32_MAX ? UINT32_MAX : (uint64_t)v;
}

static unsigned gain(const struct kw_bbr *b)
{
	switch (b->mode) {
	case KW_BBR_STARTUP: return GAIN_STARTUP;
	case KW_BBR_DRAIN: return GAIN_DRAIN;
	default: return GAIN_PROBE_BW;
	}
}

static void update_round(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	b->round_start = false;
	if (a->acked > 0 && a->prior_delivered >= b->next_round_delivered) {
		b->next_round_delivered = a->delivered;
		b->round++;
		b->round_start = true;
	}
}

static void update_bw(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	struct kw_bbr_slot *s = &b->bw[b->round % KW_BBR_BW_ROUNDS];
	uint64_t bw;

	if (a->interval_ns == 0 || a->delivered <= a->prior_delivered)
		return;
	bw = (a->delivered - a->prior_delivered) * NS_PER_S / a->interval_ns;
	/* An app-limited sample only says the path can do at least that:
	 * taken when it raises the estimate, else ignored. */
	if (a->app_limited && bw < kw_bbr_bw(b))
		return;
	if (s->round != b->round) {
		s->round = b->round;
		s->bw = 0;
	}
	if (bw > s->bw)
		s->bw = bw;
}

/* Bytes acknowledged in bursts beyond what the estimated rate explains
 * (ACK compression, receivers that ACK what GRO merged, an engine that
 * reads frames in batches): the largest excess of the last 5-10 rounds,
 * added to the window so the bursts do not stall the sender. */
static void update_aggregation(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	uint64_t expected, extra, bw = kw_bbr_bw(b);

	if (a->acked == 0 || bw == 0)
		return;
	if (b->round_start && ++b->extra_rounds >= KW_BBR_EXTRA_ROUNDS) {
		b->extra_rounds = 0;
		b->extra_idx ^= 1u;
		b->extra_acked[b->extra_idx] = 0;
	}
	expected = bw * (a->now_ns - b->epoch_at) / NS_PER_S;
	if (b->epoch_acked <= expected || b->epoch_acked + a->acked >= (1u << 20) * (uint64_t)b->mss) {
		b->epoch_acked = 0;
		b->epoch_at = a->now_ns;
		expected = 0;
	}
	b->epoch_acked += a->acked;
	extra = b->epoch_acked - expected;
	if (extra > b->cwnd)
		extra = b->cwnd;
	if (extra > b->extra_acked[b->extra_idx])
		b->extra_acked[b->extra_idx] = (uint32_t)extra;
}

static uint32_t aggregation_cwnd(const struct kw_bbr *b)
{
	uint64_t extra = b->extra_acked[0] > b->extra_acked[1] ? b->extra_acked[0] : b->extra_acked[1];
	uint64_t cap = kw_bbr_bw(b) * EXTRA_MAX_NS / NS_PER_S;

	if (!b->full_bw_reached)
		return 0;
	return (uint32_t)(extra < cap ? extra : cap);
}

static void check_full_bw(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	uint64_t bw = kw_bbr_bw(b);

	if (b->full_bw_reached || !b->round_start || a->app_limited)
		return;
	if (bw * 1000u >= b->full_bw * FULL_BW_GROWTH) {
		b->full_bw = bw;
		b->full_bw_rounds = 0;
		return;
	}
	if (++b->full_bw_rounds >= FULL_BW_ROUNDS)
		b->full_bw_reached = true;
}

static void check_drain(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	if (b->mode == KW_BBR_STARTUP && b->full_bw_reached)
		b->mode = KW_BBR_DRAIN;
	if (b->mode == KW_BBR_DRAIN && a->inflight <= bdp(b, 1000u))
		b->mode = KW_BBR_PROBE_BW;
}

/* The window to come back to after recovery or PROBE_RTT. */
static void save_cwnd(struct kw_bbr *b)
{
	if (!b->was_recovering && b->mode != KW_BBR_PROBE_RTT)
		b->prior_cwnd = b->cwnd;
	else if (b->cwnd > b->prior_cwnd)
		b->prior_cwnd = b->cwnd;
}

static void update_min_rtt(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	bool expired = a->now_ns > b->min_rtt_at + KW_BBR_MIN_RTT_WIN;

	if (a->rtt_ns && (b->min_rtt_ns == 0 || a->rtt_ns <= b->min_rtt_ns || expired)) {
		b->min_rtt_ns = a->rtt_ns;
		b->min_rtt_at = a->now_ns;
	}
	if (expired && b->mode != KW_BBR_PROBE_RTT && b->min_rtt_ns) {
		save_cwnd(b);
		b->mode = KW_BBR_PROBE_RTT;
		b->probe_rtt_done_at = 0;
	}
	if (b->mode != KW_BBR_PROBE_RTT)
		return;
	if (b->probe_rtt_done_at == 0 && a->inflight <= min_cwnd(b)) {
		/* Down to 4 segments: hold them 200 ms and one round trip. */
		b->probe_rtt_done_at = a->now_ns + KW_BBR_PROBE_RTT_TIME;
		b->probe_rtt_round_done = false;
		b->next_round_delivered = a->delivered;
	} else if (b->probe_rtt_done_at) {
		if (b->round_start)
			b->probe_rtt_round_done = true;
		if (b->probe_rtt_round_done && a->now_ns >= b->probe_rtt_done_at) {
			b->min_rtt_at = a->now_ns;
			if (b->cwnd < b->prior_cwnd)
				b->cwnd = b->prior_cwnd;
			b->mode = b->full_bw_reached ? KW_BBR_PROBE_BW : KW_BBR_STARTUP;
		}
	}
}

/* Loss: the window loses what was newly taken as lost; the first round
 * trip of recovery sends one segment per segment delivered (packet
 * conservation); leaving recovery restores the window from before. True
 * while conservation decides the window. */
static bool recovery_cwnd(struct kw_bbr *b, const struct kw_bbr_ack *a, uint32_t *cwnd)
{
	bool entered = a->recovering && !b->was_recovering;

	if (a->lost > 0)
		*cwnd = *cwnd > a->lost + b->mss ? *cwnd - a->lost : b->mss;
	if (entered) {
		b->conservation = true;
		b->next_round_delivered = a->delivered;   /* the round starts now */
		*cwnd = a->inflight + a->acked;
	} else if (!a->recovering && b->was_recovering) {
		if (*cwnd < b->prior_cwnd)
			*cwnd = b->prior_cwnd;
		b->conservation = false;
	} else if (b->conservation && b->round_start) {
		b->conservation = false;                  /* a round trip of recovery */
	}
	b->was_recovering = a->recovering;
	if (!b->conservation)
		return false;
	if (*cwnd < a->inflight + a->acked)
		*cwnd = a->inflight + a->acked;
	return true;
}

static void set_cwnd(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	uint64_t target, cwnd = b->cwnd;
	uint32_t c32 = b->cwnd;

	if (a->acked == 0)
		goto done;
	if (recovery_cwnd(b, a, &c32)) {
		cwnd = c32;
		goto done;
	}
	cwnd = c32;
	target = bdp(b, gain(b));
	if (target == 0)
		target = b->prior_cwnd > b->cwnd ? b->prior_cwnd : b->cwnd;   /* no model yet */
	else if (b->mode != KW_BBR_DRAIN)
		/* DRAIN must get the flight down to one BDP (check_drain):
		 * no allowance there. */
		target += aggregation_cwnd(b) + 3u * (uint64_t)(a->quantum > b->mss ? a->quantum : b->mss);
	if (b->full_bw_reached) {
		cwnd += a->acked;
		if (cwnd > target)
			cwnd = target;
	} else if (cwnd < target || a->delivered < 10u * (uint64_t)b->mss) {
		cwnd += a->acked;
	}
done:
	if (cwnd < min_cwnd(b))
		cwnd = min_cwnd(b);
	if (b->mode == KW_BBR_PROBE_RTT && cwnd > min_cwnd(b))
		cwnd = min_cwnd(b);
	if (cwnd > b->cwnd_cap)
		cwnd = b->cwnd_cap;
	b->cwnd = (uint32_t)cwnd;
}

void kw_bbr_on_ack(struct kw_bbr *b, const struct kw_bbr_ack *a)
{
	if (a->recovering && !b->was_recovering)
		save_cwnd(b);
	update_round(b, a);
	update_bw(b, a);
	update_aggregation(b, a);
	check_full_bw(b, a);
	check_drain(b, a);
	update_min_rtt(b, a);
	set_cwnd(b, a);
	b->delivered = a->delivered;
}

void kw_bbr_on_rto(struct kw_bbr *b)
{
	save_cwnd(b);
	b->was_recovering = true;
	b->conservation = false;
	b->cwnd = b->mss;
	/* Everything in flight is taken as lost: what the previous rounds
	 * measured stays, as in BBR (the model survives a timeout). */
}

void kw_bbr_undo(struct kw_bbr *b)
{
	if (b->cwnd < b->prior_cwnd)
		b->cwnd = b->prior_cwnd;
}
