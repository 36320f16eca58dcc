/* Private to the TCP layer (tcp_*.c): the connection block, the layer,
 * and the functions the pieces call in each other.
 *
 *   tcp_conn.c    lifecycle, tables, ISN, ports, socket-like calls
 *   tcp_input.c   parsing, validation, the RFC 9293 §3.10.7 state machine
 *   tcp_output.c  segment building, sending data/ACK/RST, Nagle, windows
 *   tcp_timer.c   RTO (RFC 6298), delayed ACK, persist, keepalive,
 *                 TIME-WAIT: one heap timer per connection at the
 *                 earliest of its deadlines
 *
 * Buffers: the send buffer is a ring holding the bytes from SND.UNA on
 * (once the SYN is acknowledged, offset 0 is SND.UNA); the receive buffer
 * is a ring of in-order bytes not yet read. Out-of-order segments wait in
 * a sorted list, bounded by the receive window and TCP_OOO_MAX entries. */
#ifndef KW_STACK_TCP_INTERNAL_H
#define KW_STACK_TCP_INTERNAL_H

#include "core/bbr.h"
#include "core/keepalive.h"
#include "core/seq.h"
#include "stack/tcp.h"
#include "stack/tcp_sack.h"
#include "stack/timer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- tunables (documented values) ---------------------------------------- */
#define TCP_RTO_INITIAL   (1 * KW_NS_PER_S)     /* RFC 6298 (2.1) */
#define TCP_RTO_FALLBACK  (3 * KW_NS_PER_S)     /* RFC 6298 (5.7), Linux TCP_TIMEOUT_FALLBACK */
#define TCP_RTO_MIN       (200 * KW_NS_PER_MS)  /* Linux's floor, not RFC's 1 s */
#define TCP_RTO_MAX       (120 * KW_NS_PER_S)   /* Linux; RFC 6298 (2.5): >= 60 s */
#define TCP_SYN_RETRIES   6                     /* Linux tcp_syn_retries */
#define TCP_SYNACK_RETRIES 5                    /* Linux tcp_synack_retries: 63 s */
#define TCP_DATA_RETRIES  15                    /* Linux tcp_retries2 */
#define TCP_DELACK        (40 * KW_NS_PER_MS)   /* <= 200 ms (RFC 9293) */
#define TCP_PERSIST_MIN   (200 * KW_NS_PER_MS)
#define TCP_PERSIST_MAX   TCP_RTO_MAX           /* Linux tcp_probe0_when() */
#define TCP_ORPHAN_RETRIES 8                    /* Linux tcp_orphan_retries() with the sysctl at 0 */
#define TCP_MSL_DEFAULT   (30 * KW_NS_PER_S)    /* TIME-WAIT = 2*MSL = 60 s */
#define TCP_FIN_TIMEOUT   (60 * KW_NS_PER_S)    /* orphaned FIN-WAIT-2 */
#define TCP_BUF_DEFAULT   (256 * 1024)
#define TCP_BUF_MIN       2048
#define TCP_BUF_MAX       (16 * 1024 * 1024)
#define TCP_OOO_MAX       512
#define TCP_EPHEMERAL_LO  49152
#define TCP_EPHEMERAL_HI  65535
#define TCP_DEFAULT_MSS   536                   /* RFC 9293 when no option */
#define TCP_MAX_WSCALE    14
#define TCP_OOW_ACK_GAP   (500 * KW_NS_PER_MS)  /* Linux tcp_invalid_ratelimit */
#define TCP_CWND_MAX      (1u << 30)            /* cwnd never grows past this */
/* Stack memory (send/receive rings, out-of-order segments, connection
 * blocks) per layer: the hard cap (kw_tcp_layer_set_mem_limit), and
 * pressure above 3/4 of it (Linux's tcp_mem: pressure, then the limit). */
#define TCP_MEM_PRESSURE(limit) ((limit) - (limit) / 4)
/* Segmentation offload: the largest payload of one segment handed to the
 * device, so that IP (20) + TCP with options (60) + payload fit in 64 KiB. */
#define TCP_GSO_MAX       (65535u - 20 - 60)
/* RFC 7323 timestamps: the TSval clock ticks once per millisecond; the
 * option takes 12 bytes of every segment (NOP, NOP, kind 8, len 10). */
#define TCP_TS_TICK       KW_NS_PER_MS
#define TCP_TS_OPTLEN     12
#define TCP_PAWS_IDLE     (24ull * 24 * 3600 * KW_NS_PER_S) /* RFC 7323 §5.5 */

/* flags */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

struct tcp_ooo {
	struct tcp_ooo *next;
	seq_t seq;
	uint32_t len;
	bool fin;               /* a FIN follows the data */
	uint8_t data[];
};

struct ring {
	uint8_t *buf;
	size_t cap, head, len;
};

/* What TCP_INFO reports that the protocol itself does not need
 * (tcp_info.c reads them). Times are now_ns values, 0 for never. */
struct tcp_counters {
	uint64_t bytes_sent, bytes_retrans, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in, data_segs_out, data_segs_in, total_retrans;
	uint64_t last_data_sent, last_data_recv, last_ack_recv;
};

struct kw_tcp {
	struct kw_tcp_layer *layer;
	enum kw_tcp_state state;
	uint32_t laddr, raddr;
	uint16_t lport, rport;

	bool user_ref;          /* the program still holds the handle */
	bool bound;             /* an explicit bind or a chosen port */
	bool reuseport;         /* SO_REUSEPORT: may share its port with others that set it */
	bool in_conn_table, in_listen_table;
	bool was_connected;     /* reached ESTABLISHED at some point */
	struct kw_tcp *hnext;   /* hash chain (connections or listeners) */
	struct kw_tcp *all_next, *all_prev;      /* every socket of the layer */

	/* listener */
	int backlog;
	unsigned n_syn, n_accept;
	struct kw_tcp *syn_head, *syn_tail;      /* children in SYN-RECEIVED */
	struct kw_tcp *acc_head, *acc_tail;      /* established, not accepted */
	bool synq_overflowed;   /* the SYN queue was full once: cookies went out */
	uint64_t synq_overflow_at;               /* when last (Linux's tcp_synq_overflow) */
	/* child of a listener (until accepted) */
	struct kw_tcp *parent;
	struct kw_tcp *qnext, *qprev;            /* in parent's accept queue */
	bool in_acceptq;        /* on acc_* (else on syn_* while parent set) */
	bool dead;              /* queued for freeing */
	bool orphan_fin_wait2;  /* closed by the program in FIN-WAIT-2 */
	uint8_t mem_rings;      /* TCP_MEM_SND/RCV: ring charged to the layer */

	/* send sequence space */
	seq_t iss, snd_una, snd_nxt, snd_max, snd_wl1, snd_wl2;
	uint32_t snd_wnd, max_snd_wnd;
	struct ring snd;
	bool fin_queued;        /* SHUT_WR/close: a FIN follows the data */
	bool fin_sent;
	seq_t fin_seq;          /* the FIN's sequence number, once sent */
	bool wr_shut, rd_shut;
	uint16_t mss;           /* what we send per segment */
	uint8_t snd_wscale, rcv_wscale;
	bool ws_ok, ts_ok;      /* ts_ok: RFC 7323 timestamps agreed */
	uint32_t ts_offset;     /* TSval = now in ms + ts_offset (secret, per connection) */
	uint32_t ts_recent;     /* TS.Recent: the TSval to echo */
	uint64_t ts_recent_at;  /* when TS.Recent was last updated (PAWS idle rule) */
	seq_t last_ack_sent;    /* Last.ACK.sent (RFC 7323 §4.3) */

	/* receive sequence space */
	seq_t irs, rcv_nxt, rcv_adv;             /* rcv_adv: right edge advertised */
	struct ring rcv;
	struct tcp_ooo *ooo;
	unsigned n_ooo;
	bool fin_received;
	bool ack_now;           /* an ACK must go out at the end of input */
	unsigned delack_segs;   /* full segments received since our last ACK */
	bool ack_batched;       /* in layer->batched: ACK at the batch's end */

	/* congestion control (RFC 5681, NewReno RFC 6582; or BBR, tcp_cc.c) */
	uint32_t cwnd, ssthresh;
	bool bbr_on;            /* BBR decides cwnd (env.congestion, with SACK) */
	struct kw_bbr bbr;
	struct tcp_rate rate;
	unsigned dupacks;
	bool in_recovery;
	seq_t recover;

	/* RTT (RFC 6298; Karn's timed segment only without timestamps) */
	bool rtt_timing;
	seq_t rtt_seq;
	uint64_t rtt_start;
	bool have_rtt;
	uint64_t srtt, rttvar, rto;
	unsigned retries;
	bool persist;           /* the rtx timer is the persist timer */
	unsigned persist_shift;
	/* TCP_USER_TIMEOUT (RFC 5482) and probe accounting (tcp_timer.c) */
	uint64_t user_timeout;  /* 0: off */
	uint64_t rtx_stamp;     /* start of the current retransmission series */
	bool rtx_stamped;       /* rtx_stamp is set (Linux retrans_stamp != 0) */
	unsigned probes_out;    /* zero-window probes since the last ACK */
	bool probes_stamped;    /* probes_stamp is set (Linux icsk_probes_tstamp) */
	uint64_t probes_stamp;  /* first persist expiry of this zero window */

	/* deadlines (KW_TIME_NEVER when off) and the one heap timer */
	uint64_t rtx_at, delack_at, ka_at, tw_at;
	struct kw_timer timer;

	/* options */
	bool nodelay;
	bool ka_on;
	struct keepalive_config ka_cfg;
	struct keepalive_state ka;

	struct tcp_counters ctr;

	int error;              /* pending, for take_error (positive errno) */
	int fatal;              /* sticky: recv/send return -fatal */
	uint64_t oow_ack_at;    /* last rate-limited ACK to a bad segment (0: none) */
	void *user;

	/* bounds against hostile or broken peers */
	uint32_t ooo_bytes;     /* data bytes held out of order (<= the window) */
	uint16_t peer_mss;      /* the peer's MSS option (0: not known yet) */
	uint16_t pmtu;          /* path MTU from ICMP (0: the link's, env.mss + 40) */

	/* SACK (tcp_sack.c) and RACK-TLP (tcp_rack.c) */
	bool sack_ok;           /* SACK-permitted both ways (RFC 2018) */
	struct tcp_sack_rcv sack_rcv;
	struct tcp_scoreboard sb;
};

struct conn_table {
	struct kw_tcp **b;
	size_t nb, n;           /* nb is a power of two */
};

struct kw_tcp_layer {
	struct kw_tcp_env env;
	struct kw_timer_heap timers;
	struct conn_table conns;
	struct kw_tcp *listeners[256];           /* by port, chained */
	struct kw_tcp_stats stats;
	struct kw_tcp *all;
	uint64_t msl_ns;
	uint32_t ephemeral_next;
	uint8_t *txbuf;
	size_t txcap;
	size_t mem_limit, mem_used;              /* bytes (tcp_mem_*) */
	/* sockets to free at the end of the current entry point */
	struct kw_tcp **dead;
	size_t ndead, capdead;
	int depth;
	/* kw_tcp_layer_batch_begin/end: connections whose ACK waits for the
	 * end of the batch (full: ACK at once) */
	bool batching;
	unsigned n_batched;
	struct kw_tcp *batched[64];
	/* RFC 5961 §7 challenge ACK limit (tcp_bounds.c) */
	uint64_t challenge_sec;  /* second + 1 that challenge_left is for (0: none) */
	uint32_t challenge_left;
};

/* In a batch (kw_tcp_layer_batch_begin): note c for an ACK at its end and
 * return true; false when there is no batch or it is full. */
bool tcp_ack_batch(struct kw_tcp *c);

/* ---- ring buffer (tcp_conn.c) -------------------------------------------- */
int ring_init(struct ring *r, size_t cap);
void ring_free(struct ring *r);
size_t ring_write(struct ring *r, const void *p, size_t n);
void ring_peek(const struct ring *r, size_t off, void *p, size_t n);
void ring_drop(struct ring *r, size_t n);
static inline size_t ring_space(const struct ring *r) { return r->cap - r->len; }

/* ---- tcp_conn.c ------------------------------------------------------------ */
/* Memory accounting against the layer's cap. charge: false (nothing
 * charged) when n more bytes would pass the cap or, for optional memory
 * (out-of-order segments), the pressure threshold. Rings are allocated
 * only through tcp_ring_alloc (ring_write does not allocate). */
#define TCP_MEM_SND 1u
#define TCP_MEM_RCV 2u
bool tcp_mem_charge(struct kw_tcp_layer *L, size_t n, bool optional);
void tcp_mem_uncharge(struct kw_tcp_layer *L, size_t n);
/* The ring's buffer, charged: 0, or -ENOBUFS at the cap (counted). */
int tcp_ring_alloc(struct kw_tcp *c, struct ring *r);
/* Under pressure, give back the rings that are empty (Linux reclaims a
 * socket's forward-allocated memory under tcp_mem pressure). */
void tcp_mem_reclaim(struct kw_tcp *c);
struct kw_tcp *tcp_conn_new(struct kw_tcp_layer *L);
struct kw_tcp *tcp_lookup(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
			  uint32_t raddr, uint16_t rport);
struct kw_tcp *tcp_lookup_listener(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport);
/* Which listener takes a new connection (SO_REUSEPORT groups spread). */
struct kw_tcp *tcp_select_listener(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
				   uint32_t raddr, uint16_t rport);
int tcp_table_insert(struct kw_tcp_layer *L, struct kw_tcp *c);
void tcp_table_remove(struct kw_tcp_layer *L, struct kw_tcp *c);
seq_t tcp_isn(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
	      uint32_t raddr, uint16_t rport, uint64_t now_ns);
/* Move to CLOSED: out of the tables, timers off, keepalive closed; err (a
 * positive errno or 0) becomes the pending and sticky error. Frees the
 * block later if nobody holds it. */
void tcp_set_closed(struct kw_tcp *c, int err);
void tcp_set_state(struct kw_tcp *c, enum kw_tcp_state st);
void tcp_notify(struct kw_tcp *c);
void tcp_maybe_free(struct kw_tcp *c);
/* A child of a listener finished its handshake. */
void tcp_child_established(struct kw_tcp *c);
void tcp_enter_time_wait(struct kw_tcp *c, uint64_t now_ns);
void tcp_conn_init_buffers_done(struct kw_tcp *c);
struct kw_tcp *tcp_child_new(struct kw_tcp *l, uint32_t laddr, uint32_t raddr,
			     uint16_t rport, uint64_t now_ns);
/* csum_ok: the checksum is not to be verified (kw_tcp_input_csum_ok). */
void tcp_input_segment(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
		       const uint8_t *seg, size_t len, bool csum_ok, uint64_t now_ns);
void tcp_icmp_unreachable(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			  const uint8_t *q, size_t len, int code, uint64_t now_ns);
uint64_t tcp_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len);
/* The per-connection TSval offset from the layer's secret (RFC 7323 §7.1). */
uint32_t tcp_ts_offset(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
		       uint32_t raddr, uint16_t rport);
static inline uint32_t tcp_ts_now(const struct kw_tcp *c, uint64_t now_ns)
{
	return (uint32_t)(now_ns / TCP_TS_TICK) + c->ts_offset;
}
/* Largest cwnd (RFC 5681 growth and fast-recovery inflation stop here, so
 * forged duplicate ACKs cannot wrap it). */
static inline uint32_t tcp_cwnd_max(const struct kw_tcp *c)
{
	return c->snd.cap > TCP_CWND_MAX ? (uint32_t)c->snd.cap : TCP_CWND_MAX;
}

/* ---- tcp_output.c ---------------------------------------------------------- */
/* Send whatever the windows, Nagle and the state allow; an ACK if one is
 * owed. */
void tcp_output(struct kw_tcp *c, uint64_t now_ns);
void tcp_send_ack(struct kw_tcp *c, uint64_t now_ns);
void tcp_send_syn(struct kw_tcp *c, uint64_t now_ns);     /* SYN or SYN-ACK */
void tcp_send_rst(struct kw_tcp *c, uint64_t now_ns);     /* seq SND.NXT */
/* Retransmit one segment from SND.UNA (RTO, fast retransmit). */
void tcp_retransmit_head(struct kw_tcp *c, uint64_t now_ns);
void tcp_send_keepalive_probe(struct kw_tcp *c, uint64_t now_ns);
void tcp_send_window_probe(struct kw_tcp *c, uint64_t now_ns);
/* A reset for a segment that found no connection (RFC 9293 §3.10.7.1). */
void tcp_reply_rst(struct kw_tcp_layer *L, uint32_t laddr, uint32_t raddr,
		   uint16_t lport, uint16_t rport, seq_t seq, seq_t ack, bool with_ack,
		   uint64_t now_ns);
uint32_t tcp_rcv_window(struct kw_tcp *c);               /* what we would advertise */
/* Send [seq, seq+len) from the send buffer (and the FIN), the device
 * cutting it into gso_size pieces when gso_size is not 0. */
void tcp_send_range(struct kw_tcp *c, seq_t seq, size_t len, bool fin, uint16_t gso_size,
		    uint64_t now_ns);
/* The payload of one TSO frame now (tcp_output.c). */
uint32_t tcp_tso_goal(const struct kw_tcp *c);
size_t tcp_unsent(const struct kw_tcp *c);               /* data not yet sent */
seq_t tcp_data_end(const struct kw_tcp *c);              /* SND.UNA + queued data */

/* ---- tcp_timer.c ----------------------------------------------------------- */
void tcp_timer_fire(struct kw_timer *t, void *arg, uint64_t now_ns);
/* Re-arm the heap timer at the earliest deadline of the connection. */
void tcp_timer_update(struct kw_tcp *c);
void tcp_rtx_arm(struct kw_tcp *c, uint64_t now_ns);     /* (re)start the RTO */
void tcp_rtx_stamp(struct kw_tcp *c, uint64_t sent_ns);  /* Linux retrans_stamp, once per series */
void tcp_rtx_stop(struct kw_tcp *c);
void tcp_rtt_sample(struct kw_tcp *c, uint64_t rtt_ns);
void tcp_delack_arm(struct kw_tcp *c, uint64_t now_ns);
void tcp_ka_update(struct kw_tcp *c);                    /* recompute ka_at */
void tcp_persist_check(struct kw_tcp *c, uint64_t now_ns);
void tcp_rto_after_handshake(struct kw_tcp *c);          /* RFC 6298 (5.7) */

/* ---- tcp_bounds.c ---------------------------------------------------------- */
/* The MSS of data segments now: path MTU, the peer's MSS, options. */
uint16_t tcp_mss_now(const struct kw_tcp *c);
/* An RFC 5961 challenge ACK, within the layer's per-second limit. */
void tcp_send_challenge_ack(struct kw_tcp *c, uint64_t now_ns);
void tcp_icmp_frag_needed(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			  const uint8_t *q, size_t len, uint32_t mtu, uint64_t now_ns);
/* An acceptable ACK (SND.UNA <= SEG.ACK <= SND.MAX) was processed. */
void tcp_timer_on_ack(struct kw_tcp *c, uint64_t now_ns);

/* ---- tcp_input.c ----------------------------------------------------------- */
struct tcp_opts {
	bool mss_ok, ws_ok, ts_ok, sack_ok;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint8_t nsack;          /* SACK blocks (kind 5), as received */
	seq_t sack[4][2];
};
int tcp_parse_options(const uint8_t *p, size_t len, struct tcp_opts *o);
/* Grow cwnd for `acked` new bytes acknowledged (slow start or AIMD). */
void tcp_cc_grow(struct kw_tcp *c, uint32_t acked);

/* ---- tcp_sack.c ------------------------------------------------------------ */
/* Receiver (RFC 2018, RFC 2883). A data segment [seq, seq+len) about to
 * go into the out-of-order queue: a D-SACK for what of it is held already. */
void tcp_sack_rcv_dup(struct kw_tcp *c, seq_t seq, uint32_t len);
/* ... and after it went in: its block is reported first. */
void tcp_sack_rcv_note(struct kw_tcp *c, seq_t seq);
/* A data segment starting below RCV.NXT: a D-SACK for the old part. */
void tcp_sack_rcv_old(struct kw_tcp *c, seq_t seq, uint32_t len);
/* Write the SACK option (NOP, NOP, kind 5, blocks) into p, at most room
 * bytes; returns its length (0: none owed). *partial: blocks left out. */
size_t tcp_sack_rcv_opts(struct kw_tcp *c, uint8_t *p, size_t room, bool *partial);
/* Sender (RFC 6675). Every data transmission (new or again; len counts
 * a FIN) goes on the scoreboard. */
void tcp_sb_sent(struct kw_tcp *c, seq_t seq, uint32_t len, uint64_t now_ns);
/* An acceptable ACK, before process_ack: SACK blocks and the cumulative
 * ACK update the scoreboard; returns the bytes newly SACKed. */
uint32_t tcp_sb_on_ack(struct kw_tcp *c, seq_t ack, const struct tcp_opts *o, uint64_t now_ns);
/* After the ACK was processed: loss detection, entering recovery. */
void tcp_sack_after_ack(struct kw_tcp *c, uint64_t now_ns);
/* process_ack's cumulative ACK: true when recovery (or leaving it)
 * decided cwnd, so it must not grow. */
bool tcp_sack_cum_ack(struct kw_tcp *c, seq_t ack);
/* The bytes the windows allow if SND.NXT were nxt (pipe, not flight). */
uint32_t tcp_sack_avail(const struct kw_tcp *c, seq_t nxt);
/* From tcp_output: lost ranges first; the rescue retransmission last. */
bool tcp_sack_retransmit(struct kw_tcp *c, uint64_t now_ns);
bool tcp_sack_rescue(struct kw_tcp *c, uint64_t now_ns);
void tcp_sack_mark_all_lost(struct kw_tcp *c);
/* The RTO expired on a SACK connection (from rto_expired). */
void tcp_sack_rto(struct kw_tcp *c, uint64_t now_ns);
/* Send [start, end) again (end may be the FIN's successor). */
void tcp_sack_resend(struct kw_tcp *c, seq_t start, seq_t end, uint64_t now_ns);

/* ---- tcp_rate.c (delivery rate samples, SACK connections) ---------------- */
/* A range goes out (new or again): nothing in flight restarts the
 * intervals; the range keeps the connection's state. */
void tcp_rate_sent(struct kw_tcp *c, struct tcp_sb_ent *e, uint64_t now_ns);
/* A range was delivered (SACKed, or acknowledged and not SACKed before). */
void tcp_rate_delivered(struct kw_tcp *c, const struct tcp_sb_ent *e, uint64_t now_ns);
/* Bytes acknowledged below the scoreboard's ranges (part of one). */
void tcp_rate_delivered_bytes(struct kw_tcp *c, uint32_t n, uint64_t now_ns);
/* The end of tcp_output: mark the flight app-limited when the sender ran
 * out of data before cwnd. */
void tcp_rate_check_app_limited(struct kw_tcp *c);

/* ---- tcp_cc.c (which congestion control decides) ------------------------- */
/* The handshake is done and the options are known: cwnd = IW. */
void tcp_cc_init(struct kw_tcp *c, uint64_t now_ns);
/* At the end of an acceptable ACK (after loss detection). */
void tcp_cc_on_ack(struct kw_tcp *c, uint64_t now_ns);
/* A retransmission timeout on a SACK connection (cwnd = 1 SMSS). */
void tcp_cc_on_rto(struct kw_tcp *c, uint32_t flight);
/* A spurious RTO was undone (Eifel): cwnd from before. */
void tcp_cc_undo(struct kw_tcp *c, uint32_t cwnd, uint32_t ssthresh);
/* Fast recovery starts: NewReno's cwnd = ssthresh = FlightSize / 2. */
void tcp_cc_recovery_start(struct kw_tcp *c, uint32_t flight);
/* Recovery ends (the ACK passed `recover`). */
void tcp_cc_recovery_end(struct kw_tcp *c);
/* A TLP retransmission repaired a loss (RFC 8985 §7.4.2). */
void tcp_cc_tlp_loss(struct kw_tcp *c);

/* ---- tcp_rack.c ------------------------------------------------------------ */
void tcp_rack_detect(struct kw_tcp *c, uint64_t now_ns);
void tcp_rack_on_ack(struct kw_tcp *c, seq_t ack, const struct tcp_opts *o, bool dsack,
		     uint64_t now_ns);
void tcp_rack_recovery_done(struct kw_tcp *c);
void tcp_rack_rto(struct kw_tcp *c, uint64_t now_ns);
/* At the end of tcp_output: the RACK or TLP timer in front of the RTO. */
void tcp_rack_schedule(struct kw_tcp *c, uint64_t now_ns);
/* rtx_at expired: true when it was the RACK or TLP timer (handled). */
bool tcp_rack_timer(struct kw_tcp *c, uint64_t now_ns);

#endif
