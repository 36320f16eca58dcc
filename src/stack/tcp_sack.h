/* SACK (RFC 2018, RFC 2883) and SACK-based loss recovery (RFC 6675 with
 * RACK-TLP, RFC 8985): the per-connection state kept in struct kw_tcp.
 * Included by tcp_internal.h; the functions live in tcp_sack.c (receiver
 * blocks, sender scoreboard and recovery) and tcp_rack.c (RACK, TLP). */
#ifndef KW_STACK_TCP_SACK_H
#define KW_STACK_TCP_SACK_H

#include "core/seq.h"

#include <stdbool.h>
#include <stdint.h>

/* Receiver: the order in which blocks were last reported. Each key is a
 * sequence number of a segment that arrived out of order; the block sent
 * for it is the run of the out-of-order queue that holds it now (the
 * queue is the only source of the blocks, so a block never claims bytes
 * not held). key[0] is the most recent (RFC 2018 §4). */
#define TCP_SACK_KEYS 4
struct tcp_sack_rcv {
	seq_t key[TCP_SACK_KEYS];
	uint8_t nkeys;
	bool dsack;                 /* a D-SACK block is owed (RFC 2883) */
	seq_t dsack_start, dsack_end;
};

/* Sender: the scoreboard. One entry per range sent together (a segment,
 * or a TSO frame), covering SND.UNA..SND.MAX in order without gaps once
 * SACK is on, with the time it was last sent (RACK needs it). Bounded:
 * TCP_SB_MAX entries (a fixed array, 64 * 32 bytes per connection);
 * adjacent entries in the same state are merged when it fills, and when
 * nothing can merge a new transmission joins the newest entry (taking
 * its later time, which only makes RACK slower to call it lost). */
#define TCP_SB_MAX 64
#define TCP_SB_SACKED  0x1u         /* the peer holds it (SACK block) */
#define TCP_SB_LOST    0x2u         /* taken as lost (RACK, IsLost, RTO) */
#define TCP_SB_RETRANS 0x4u         /* sent again, that copy in flight */
#define TCP_SB_EVER_RETRANS 0x8u    /* sent more than once (RTT samples) */
#define TCP_SB_APP_LIMITED 0x10u    /* sent while the sender had nothing more (tcp_rate.c) */
#define TCP_SB_MIXED   0x20u        /* merged from ranges sent at different times: no RTT from it */
#define TCP_SB_STATE   (TCP_SB_SACKED | TCP_SB_LOST | TCP_SB_RETRANS | TCP_SB_EVER_RETRANS)
#define TCP_RACK_T_NONE 0
#define TCP_RACK_T_REO  1           /* RACK reordering window ends */
#define TCP_RACK_T_TLP  2           /* probe timeout (PTO) */
struct tcp_sb_ent {
	seq_t start, end;
	uint32_t flags;
	/* delivery rate estimation (tcp_rate.c), the connection's state when
	 * this range was last sent: bytes delivered (low 32 bits; what is in
	 * flight is far less than 4 GiB), and how long before xmit_ns the
	 * last delivery and the flight's first send were (ns, saturated). */
	uint32_t r_delivered;
	uint64_t xmit_ns;
	uint32_t r_ack_gap, r_send_gap;
};

/* Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation,
 * as Linux's tcp_rate.c), for BBR: bytes delivered so far and when, the
 * send time of the newest range delivered, and the sample the current
 * ACK builds. */
struct tcp_rate {
	uint64_t delivered, delivered_ns, first_sent_ns;
	uint64_t app_limited;       /* delivered mark up to which samples are app-limited (0: none) */
	bool rs_valid, rs_app_limited;
	uint64_t rs_prior_delivered, rs_send_elapsed, rs_ack_elapsed, rs_rtt_ns;
	uint32_t rs_acked;          /* bytes delivered by this ACK */
	uint32_t lost_new;          /* bytes taken as lost since the last ACK's sample */
	uint64_t last_rate;         /* the last valid sample, bytes per second (TCP_INFO) */
};

struct tcp_scoreboard {
	struct tcp_sb_ent e[TCP_SB_MAX];
	uint16_t n;
	uint32_t pipe;              /* RFC 6675 pipe, in bytes */
	uint64_t last_xmit_ns;      /* send times strictly increase */
	uint32_t ack_tsecr;         /* TSecr of the ACK being processed (0: none) */
	uint32_t sacked_bytes;      /* total SACKED */
	seq_t high_sacked;          /* highest SACKed end (valid if sacked_bytes) */
	bool loss_mode;             /* after an RTO: resending, until `recover` */
	bool rescue_done;           /* RFC 6675 rescue retransmission, this episode */
	/* RACK (RFC 8985 §6.1): the most recently sent segment delivered */
	uint64_t rack_xmit_ns, rack_rtt_ns, min_rtt_ns;
	seq_t rack_end;
	bool rack_valid;
	bool reord;                 /* RACK.reord: reordering seen */
	uint8_t reo_wnd_mult;       /* RFC 8985 §6.2 step 4 (0 counts as 1) */
	uint8_t reo_wnd_persist;
	bool dsack_round_on;        /* reo_wnd_mult grows once per round trip */
	seq_t dsack_round;
	uint64_t reo_at;            /* RACK reordering timer (0: off) */
	/* The RACK and TLP timers use rtx_at, as Linux's loss-probe and
	 * reordering timers share its retransmission timer: timer_at is
	 * what we put there, rto_at the RTO deadline it stands in front of. */
	uint8_t timer;              /* TCP_RACK_T_* */
	uint64_t timer_at, rto_at;
	bool tlp_out;               /* a probe is outstanding (RFC 8985 §7.4) */
	bool tlp_rtx;               /* ... and it was a retransmission */
	uint8_t tlp_episode;        /* probes sent while tlp_out */
	seq_t tlp_end;
	/* Undo of a spurious RTO (Eifel detection with timestamps, as
	 * Linux's tcp_try_undo_loss): cwnd and ssthresh from before it. */
	bool undo_ok;
	uint32_t undo_cwnd, undo_ssthresh, undo_tsval;
	/* counters (tests, debugging) */
	uint32_t rto_episodes, rack_losses, tlp_probes, dsacks_in, undos;
};

#endif
