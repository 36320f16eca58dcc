/* keepwire's TCP (RFC 9293), sans-I/O.
 *
 * The TCP layer knows nothing of IP, devices or clocks. It is created with
 * an environment: a function that sends a segment to an IPv4 address, the
 * local address, the MSS the link allows, and a secret seed. Everything
 * that happens comes in through an entry point that carries now_ns:
 * kw_tcp_input() for a segment that arrived, kw_tcp_layer_poll() when time
 * passed, and the socket-like calls below. Timers (retransmission, delayed
 * ACK, persist, keepalive, TIME-WAIT) live in one structure whose cost per
 * event grows at most logarithmically with the number of connections; the
 * caller asks for the next deadline and polls then.
 *
 * Addresses and ports are in host byte order in this API. Errors are
 * negative errno values, as the kernel's socket calls would set errno:
 * -EAGAIN, -EINPROGRESS, -ECONNREFUSED, -ECONNRESET, -ETIMEDOUT, -EPIPE,
 * -ENOTCONN, -EADDRINUSE, -EINVAL, -ENOMEM. */
#ifndef KW_STACK_TCP_H
#define KW_STACK_TCP_H

#include "core/keepalive.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct kw_tcp_layer;
struct kw_tcp;                     /* a socket: listener or connection */

struct kw_tcp_env {
	void *ctx;
	/* Hand one TCP segment (header with checksum filled in, payload) to
	 * IP for delivery from src to dst. */
	void (*ip_output)(void *ctx, uint32_t src, uint32_t dst,
			  const void *segment, size_t len, uint64_t now_ns);
	uint32_t local_addr;           /* the stack's IPv4 address */
	uint16_t mss;                  /* MTU - 40 */
	uint64_t seed;                 /* ISN secret (RFC 6528), ephemeral ports */
	uint64_t ts_seed;              /* timestamp offsets' secret; 0: seed */
	/* Called when a socket's readiness or error may have changed
	 * (optional): the layer above wakes whoever waits on it. */
	void (*notify)(void *ctx, struct kw_tcp *sock);
	/* Offloads (optional; NULL/0: none, every segment goes through
	 * ip_output with its checksum computed and at most MSS bytes of
	 * data). With ip_output_offload set, every segment goes through it
	 * instead, its checksum field holding the folded pseudo-header sum
	 * for the device to finish; and when gso_max is not 0, data may
	 * leave in one segment of up to gso_max payload bytes that the device
	 * cuts into gso_size-byte segments (gso_size 0: one segment as it
	 * is). Only what would have been sent back to back anyway is joined:
	 * the windows, cwnd and Nagle decide exactly as without. */
	void (*ip_output_offload)(void *ctx, uint32_t src, uint32_t dst,
				  const void *segment, size_t len, uint16_t gso_size,
				  uint64_t now_ns);
	uint32_t gso_max;
	/* Congestion control of connections that agree on SACK (the others
	 * always run NewReno): KW_TCP_CC_NEWRENO (0, RFC 5681/6582/6675) or
	 * KW_TCP_CC_BBR (core/bbr.h: a model-based window that a random
	 * loss does not halve). */
	uint8_t congestion;
	/* Where to build a segment (optional): a buffer of *cap bytes that
	 * ip_output and ip_output_offload take in place, without copying
	 * (the stack's frame buffer, behind the room for Ethernet and IP).
	 * NULL, or too small for a segment: the layer's own buffer. */
	uint8_t *(*tx_buffer)(void *ctx, size_t *cap);
	/* Whether dst has a route (optional): kw_tcp_connect fails with
	 * -ENETUNREACH at once when it has none. */
	bool (*reachable)(void *ctx, uint32_t dst);
};

enum { KW_TCP_CC_NEWRENO = 0, KW_TCP_CC_BBR = 1 };
struct kw_tcp_layer *kw_tcp_layer_create(const struct kw_tcp_env *env);
void kw_tcp_layer_destroy(struct kw_tcp_layer *layer);

/* A segment from IP: the TCP header and payload, with the pseudo-header
 * addresses. Bad checksums and malformed segments are dropped. */
void kw_tcp_input(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
		  const void *segment, size_t len, uint64_t now_ns);
/* The same for a segment whose checksum is not to be verified: the
 * device verified it, or a sender on this host left it partial for a
 * checksum offload that never happened because the segment did not leave
 * the host. Anything else goes through kw_tcp_input(). */
void kw_tcp_input_csum_ok(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
			  const void *segment, size_t len, uint64_t now_ns);

/* ICMP destination unreachable for a segment we sent (the quoted IP
 * header's addresses and the first 8 bytes of our TCP header). */
void kw_tcp_icmp_unreachable(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
			     const void *quoted_tcp, size_t len, int code, uint64_t now_ns);

/* ICMP fragmentation needed (type 3 code 4, RFC 1191) for a segment we
 * sent, with the next-hop MTU from the message: the connection's segments
 * shrink to fit (never below Linux's 552-byte floor), what was lost is
 * sent again. Ignored unless the quoted sequence number is in flight
 * (RFC 5927), or when the MTU is below 68 or not below the current. */
void kw_tcp_icmp_frag_needed(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
			     const void *quoted_tcp, size_t len, uint32_t mtu, uint64_t now_ns);

/* Run every timer due at now_ns; returns the next deadline, or
 * KW_TIME_NEVER. */
uint64_t kw_tcp_layer_poll(struct kw_tcp_layer *layer, uint64_t now_ns);
uint64_t kw_tcp_layer_next_deadline(const struct kw_tcp_layer *layer);

/* ---- socket-like calls; all non-blocking --------------------------------- */

int kw_tcp_open(struct kw_tcp_layer *layer, struct kw_tcp **out);
int kw_tcp_bind(struct kw_tcp *s, uint32_t addr, uint16_t port);
int kw_tcp_listen(struct kw_tcp *s, int backlog);
/* -EAGAIN while no connection is ready. */
int kw_tcp_accept(struct kw_tcp *listener, struct kw_tcp **out);
/* Starts the handshake: -EINPROGRESS; completion shows as KW_TCP_WRITABLE,
 * failure as KW_TCP_ERROR with kw_tcp_take_error(). */
int kw_tcp_connect(struct kw_tcp *s, uint32_t addr, uint16_t port, uint64_t now_ns);
/* Bytes queued, or -EAGAIN when the send buffer is full. */
ssize_t kw_tcp_send(struct kw_tcp *s, const void *buf, size_t len, uint64_t now_ns);
/* Bytes read, 0 at end of stream, -EAGAIN when nothing is there yet. */
ssize_t kw_tcp_recv(struct kw_tcp *s, void *buf, size_t len, uint64_t now_ns);
/* What a bridge to another byte stream needs (the direct-mode runtime):
 * how many bytes kw_tcp_send() would take now (0 when it would not take
 * any); received bytes copied without consuming them (same returns as
 * kw_tcp_recv()); and consuming n bytes already peeked. */
size_t kw_tcp_send_space(const struct kw_tcp *s);
ssize_t kw_tcp_peek(const struct kw_tcp *s, void *buf, size_t len);
/* The same without the copy: up to len received bytes as one or two
 * pieces of the receive buffer (iov[1].iov_len 0 when one), valid until
 * the next call into the layer. */
ssize_t kw_tcp_peek_iov(const struct kw_tcp *s, struct iovec iov[2], size_t len);
void kw_tcp_consume(struct kw_tcp *s, size_t n, uint64_t now_ns);
/* SHUT_RD, SHUT_WR or SHUT_RDWR from <sys/socket.h>. */
int kw_tcp_shutdown(struct kw_tcp *s, int how, uint64_t now_ns);
/* Give the socket up: a connection closes gracefully (FIN, unsent data
 * first) and is freed by the layer when done; the handle is dead. */
void kw_tcp_close(struct kw_tcp *s, uint64_t now_ns);
/* Reset the connection (RST) and free it. */
void kw_tcp_abort(struct kw_tcp *s, uint64_t now_ns);

#define KW_TCP_READABLE 0x1u       /* data, EOF, or a connection to accept */
#define KW_TCP_WRITABLE 0x2u       /* connected and room in the send buffer */
#define KW_TCP_ERROR    0x4u       /* an error is pending */
#define KW_TCP_HUP      0x8u       /* both directions are finished */
#define KW_TCP_RDHUP    0x10u      /* the peer sent FIN */
unsigned kw_tcp_events(const struct kw_tcp *s);

/* The pending error as a positive errno (0 if none), cleared by reading,
 * like getsockopt(SO_ERROR). Read/send keep returning -error after a fatal
 * error (e.g. -ETIMEDOUT after keepalive gave up). */
int kw_tcp_take_error(struct kw_tcp *s);

enum kw_tcp_state {
	KW_TCP_CLOSED, KW_TCP_LISTEN, KW_TCP_SYN_SENT, KW_TCP_SYN_RECEIVED,
	KW_TCP_ESTABLISHED, KW_TCP_FIN_WAIT_1, KW_TCP_FIN_WAIT_2, KW_TCP_CLOSE_WAIT,
	KW_TCP_CLOSING, KW_TCP_LAST_ACK, KW_TCP_TIME_WAIT,
};
enum kw_tcp_state kw_tcp_state(const struct kw_tcp *s);
const char *kw_tcp_state_name(enum kw_tcp_state st);

void kw_tcp_local(const struct kw_tcp *s, uint32_t *addr, uint16_t *port);
void kw_tcp_remote(const struct kw_tcp *s, uint32_t *addr, uint16_t *port);

/* Keepalive through the pure module (src/core/keepalive.h); off by default. */
int kw_tcp_set_keepalive(struct kw_tcp *s, bool on, const struct keepalive_config *cfg,
			 uint64_t now_ns);
bool kw_tcp_get_keepalive(const struct kw_tcp *s, struct keepalive_config *cfg);
int kw_tcp_set_nodelay(struct kw_tcp *s, bool on);
/* SO_REUSEPORT, before bind: sockets that all set it share a port; new
 * connections spread over such a group of listeners by 4-tuple hash. */
int kw_tcp_set_reuseport(struct kw_tcp *s, bool on);
bool kw_tcp_get_reuseport(const struct kw_tcp *s);
/* TCP_USER_TIMEOUT (RFC 5482, Linux semantics; 0: off, the default): the
 * connection fails with ETIMEDOUT (and a RST) when sent data stays
 * unacknowledged, or the peer's window stays closed, for longer; with
 * keepalive on it also ends a silent peer (see keepalive_poll_ut).
 * Children of a listener inherit it. */
int kw_tcp_set_user_timeout(struct kw_tcp *s, uint64_t timeout_ns);
uint64_t kw_tcp_get_user_timeout(const struct kw_tcp *s);
int kw_tcp_set_buffers(struct kw_tcp *s, size_t sndbuf, size_t rcvbuf);

/* The layer above may attach its own pointer to a socket. */
void kw_tcp_set_user(struct kw_tcp *s, void *user);
void *kw_tcp_user(const struct kw_tcp *s);

/* Tuning and introspection (added with the implementation). TIME-WAIT
 * lasts 2*MSL; MSL defaults to 30 s (TIME-WAIT 60 s, as on Linux). */
void kw_tcp_layer_set_msl(struct kw_tcp_layer *layer, uint64_t msl_ns);
/* Sockets the layer holds (user-held, embryonic, closing, TIME-WAIT). */
size_t kw_tcp_layer_count(const struct kw_tcp_layer *layer);
/* Connections that still have data or a FIN to send or to see
 * acknowledged (not LISTEN, FIN-WAIT-2, TIME-WAIT or CLOSED). */
size_t kw_tcp_layer_unfinished(const struct kw_tcp_layer *layer);

/* A connection's vital signs, as Linux's getsockopt(TCP_INFO) reports
 * them (src/stack/tcp_info.c): the layer above copies them into a
 * struct tcp_info. Times since an event are in milliseconds, RTT and RTO
 * in microseconds, windows and counts of bytes in bytes, cwnd, ssthresh
 * and the in-flight counts in segments of snd_mss bytes. */
#define KW_TCPI_OPT_TIMESTAMPS 0x1u
#define KW_TCPI_OPT_SACK       0x2u
#define KW_TCPI_OPT_WSCALE     0x4u
struct kw_tcp_info {
	enum kw_tcp_state state;
	uint8_t retransmits;       /* consecutive timeouts of the current segment */
	uint8_t probes;            /* unanswered keepalive or zero-window probes */
	uint8_t backoff;           /* the RTO's exponent */
	uint8_t options;           /* KW_TCPI_OPT_* */
	uint8_t snd_wscale, rcv_wscale;
	uint32_t rto_us, snd_mss, rcv_mss;
	uint32_t unacked, lost, retrans;
	uint32_t last_data_sent_ms, last_data_recv_ms, last_ack_recv_ms;
	uint32_t rtt_us, rttvar_us, snd_ssthresh, snd_cwnd;
	/* With SACK: the smallest RTT seen (UINT32_MAX: none yet, as Linux)
	 * and the last delivery rate sample, bytes per second (tcp_rate.c). */
	uint32_t min_rtt_us;
	uint64_t delivery_rate;
	uint32_t total_retrans;
	uint32_t snd_wnd, rcv_wnd;
	uint64_t bytes_sent, bytes_retrans, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in, data_segs_out, data_segs_in;
	/* Keepalive: on, its configuration, probes unanswered, and the time to
	 * its next event (probe or abort; UINT32_MAX: none scheduled). */
	bool ka_on;
	uint32_t ka_idle_ms, ka_interval_ms, ka_count, ka_probes, ka_next_ms;
};
void kw_tcp_info(const struct kw_tcp *s, struct kw_tcp_info *out, uint64_t now_ns);
/* Every socket the layer holds (held by the program, accepted and not yet
 * taken, closing, TIME-WAIT), for listings such as keepwire show; fn must
 * not close or free sockets. */
void kw_tcp_layer_foreach(struct kw_tcp_layer *layer, void (*fn)(struct kw_tcp *s, void *arg),
			  void *arg);

struct kw_tcp_stats {
	uint64_t segs_in, segs_out, retransmits, fast_retransmits, bad_segments,
		 rst_in, rst_out, keepalive_probes, keepalive_aborts;
	/* SYN cookies (a listener's SYN queue was full): SYN-ACKs sent with
	 * one, ACKs that carried a valid one, ACKs that did not. */
	uint64_t syncookies_sent, syncookies_ok, syncookies_failed;
	/* Stack memory (kw_tcp_layer_set_mem_limit): bytes in use now and
	 * the cap; what was refused for it: segments with new data dropped
	 * (as if the window were full), out-of-order segments not kept under
	 * pressure, connections refused, send buffers not allocated. */
	uint64_t mem_in_use, mem_limit, mem_drops;
};
void kw_tcp_layer_stats(const struct kw_tcp_layer *layer, struct kw_tcp_stats *out);
/* Data bytes a connection holds out of order (for tests and debugging):
 * never more than the receive window it advertised. */
size_t kw_tcp_ooo_bytes(const struct kw_tcp *s);

/* The cap on the layer's memory for connections: send and receive
 * buffers, out-of-order segments, connection blocks (TIME-WAIT ones
 * included). Default KW_TCP_MEM_DEFAULT; 0 restores it. Above 3/4 of the
 * cap (pressure) out-of-order segments are dropped and emptied buffers
 * are given back; at the cap, segments with new data that need a buffer
 * are dropped as if the window were full, kw_tcp_send() takes nothing
 * (kw_tcp_send_space() is 0), and new connections fail: kw_tcp_open()
 * with -ENOMEM, a SYN is dropped. Lowering it frees nothing at once. */
#define KW_TCP_MEM_DEFAULT ((size_t)1 << 30)     /* 1 GiB */
void kw_tcp_layer_set_mem_limit(struct kw_tcp_layer *layer, size_t bytes);

/* A batch of input segments (what a device had queued at once): between
 * begin and end, the ACK that in-order data calls for (every second full
 * segment) is held back and sent once per connection at end, acknowledging
 * the whole batch, as Linux acknowledges what GRO merged. Duplicate ACKs
 * and ACKs for out-of-order data still go at once. A caller that also
 * reads (kw_tcp_consume) before the end gets the reopened window into that
 * one ACK instead of a window update of its own. */
void kw_tcp_layer_batch_begin(struct kw_tcp_layer *layer);
void kw_tcp_layer_batch_end(struct kw_tcp_layer *layer, uint64_t now_ns);

#endif
