/* Model-based congestion control after BBR v1 (Cardwell et al., "BBR:
 * Congestion-Based Congestion Control", ACM Queue 2016; the IETF draft
 * draft-cardwell-iccrg-bbr-congestion-control; Linux's tcp_bbr.c): the
 * window follows an estimate of the path's bottleneck bandwidth (the
 * largest delivery rate of the last 10 round trips) times its round-trip
 * propagation time (the smallest RTT of the last 10 s), not the losses.
 * A random loss therefore does not halve the rate as in Reno or CUBIC:
 * the window is held to packet conservation for one round trip of
 * recovery, then restored.
 *
 * Window only, no pacing: the sender this is for (keepwire's stack) has
 * no pacing timer, so the gains act on the window. STARTUP grows it as
 * slow start does up to 2.89 x the estimated BDP; once the bandwidth
 * stops growing (3 rounds without 25 % more) DRAIN holds it at 1 x BDP
 * until the queue STARTUP built has drained, and PROBE_BW at 2 x BDP plus
 * the ACK aggregation seen (Linux's extra_acked) and three TSO frames.
 * PROBE_RTT: when the minimum RTT was not seen again for 10 s, the window
 * is 4 segments for 200 ms and a round trip, to measure it afresh.
 *
 * I/O-free, time injected: the sender gives each ACK's rate sample
 * (struct kw_bbr_ack, draft-cheng-iccrg-delivery-rate-estimation) and
 * takes the window from kw_bbr_cwnd(). All sizes in bytes, times in ns. */
#ifndef KW_CORE_BBR_H
#define KW_CORE_BBR_H

#include <stdbool.h>
#include <stdint.h>

#define KW_BBR_BW_ROUNDS       10                      /* bandwidth filter window */
#define KW_BBR_MIN_RTT_WIN     (10ull * 1000000000)    /* min RTT filter window */
#define KW_BBR_PROBE_RTT_TIME  (200ull * 1000000)      /* 200 ms at 4 segments */
#define KW_BBR_EXTRA_ROUNDS    5                       /* ACK aggregation: 2 x 5 rounds */

enum kw_bbr_mode {
	KW_BBR_STARTUP,
	KW_BBR_DRAIN,
	KW_BBR_PROBE_BW,
	KW_BBR_PROBE_RTT,
};

/* One ACK, as the sender saw it. */
struct kw_bbr_ack {
	uint64_t now_ns;
	uint32_t acked;            /* bytes newly delivered (cumulative + SACKed) */
	uint32_t lost;             /* bytes newly taken as lost */
	uint32_t inflight;         /* bytes in flight after the ACK (pipe) */
	bool recovering;           /* in fast recovery or after an RTO */
	/* The rate sample: delivered is the connection's count of bytes
	 * delivered after this ACK; prior_delivered that count when the
	 * newest delivered segment was sent; interval_ns the longer of its
	 * send and ACK intervals (0: no valid sample). */
	uint64_t delivered, prior_delivered, interval_ns;
	bool app_limited;          /* the sample's segment went while the sender had nothing to send */
	uint64_t rtt_ns;           /* of a segment sent once (0: none) */
	uint32_t quantum;          /* the sender's TSO frame size now */
};

struct kw_bbr_slot {
	uint64_t round, bw;        /* largest delivery rate (bytes/s) of that round */
};

struct kw_bbr {
	uint32_t mss, cwnd, cwnd_cap, prior_cwnd;
	enum kw_bbr_mode mode;
	/* rounds: one ends when a segment sent after it began is delivered */
	uint64_t round, next_round_delivered;
	bool round_start;
	struct kw_bbr_slot bw[KW_BBR_BW_ROUNDS];
	uint64_t min_rtt_ns, min_rtt_at;       /* 0: no sample yet */
	/* STARTUP's end: bandwidth did not grow by 25 % in 3 rounds */
	uint64_t full_bw;
	unsigned full_bw_rounds;
	bool full_bw_reached;
	/* recovery: packet conservation for its first round */
	bool was_recovering, conservation;
	/* PROBE_RTT */
	uint64_t probe_rtt_done_at;            /* 0: window not down yet */
	bool probe_rtt_round_done;
	/* ACK aggregation (bytes acknowledged beyond what the rate explains) */
	uint64_t epoch_at, epoch_acked;
	uint32_t extra_acked[2];
	unsigned extra_idx, extra_rounds;
	uint64_t delivered;                    /* the last sample's count */
};

/* Start with the initial window iw (bytes) for segments of mss bytes; the
 * window never goes past cap. */
void kw_bbr_init(struct kw_bbr *b, uint32_t mss, uint32_t iw, uint32_t cap, uint64_t now_ns);
/* An ACK: update the model and the window. */
void kw_bbr_on_ack(struct kw_bbr *b, const struct kw_bbr_ack *a);
/* A retransmission timeout: the window is one segment until the lost data
 * is recovered, then what it was before (the ACK with recovering false). */
void kw_bbr_on_rto(struct kw_bbr *b);
/* A spurious timeout was undone: the window from before it. */
void kw_bbr_undo(struct kw_bbr *b);
/* The segment size changed (path MTU). */
void kw_bbr_set_mss(struct kw_bbr *b, uint32_t mss);

static inline uint32_t kw_bbr_cwnd(const struct kw_bbr *b) { return b->cwnd; }
/* The estimates (0 until measured): bottleneck bandwidth in bytes per
 * second, minimum RTT in ns. */
uint64_t kw_bbr_bw(const struct kw_bbr *b);
static inline uint64_t kw_bbr_min_rtt(const struct kw_bbr *b) { return b->min_rtt_ns; }
const char *kw_bbr_mode_name(enum kw_bbr_mode m);

#endif
