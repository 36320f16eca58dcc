/* SYN cookies (RFC 4987 §3.6), after Linux's scheme (net/ipv4/syncookies.c):
 * when a listener's SYN queue is full, the SYN-ACK's ISN carries
 * everything needed to build the connection from the final ACK, so the
 * listener keeps no state for it.
 *
 *   ISN = H1(tuple) + ISN(peer) + (count << 24)
 *         + ((H2(tuple, count, ISN(peer)) + mss index) mod 2^24)
 *
 * count is a one-minute counter; H1 and H2 are keyed SipHash values. A
 * cookie is good for the counter value it was made in and the one after
 * (1 to 2 minutes, as Linux's MAX_SYNCOOKIE_AGE 2). The MSS is one of the
 * four values of Linux's msstab, the largest not above the peer's.
 *
 * With timestamps, the low 6 bits of our TSval carry the peer's window
 * scale (4 bits, 15: none) and SACK-permitted (Linux's
 * cookie_init_timestamp), and come back in the ACK's TSecr. Without
 * timestamps there is no room for them: no window scaling (as Linux).
 *
 * Pure functions: no layer, no clock. */
#ifndef KW_STACK_TCP_SYNCOOKIE_H
#define KW_STACK_TCP_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_SYNCOOKIE_PERIOD (60ull * 1000000000ull)   /* ns per counter step */
#define TCP_SYNCOOKIE_MAX_AGE 2                         /* counter values */
#define TCP_SYNCOOKIE_TSBITS 6

struct tcp_cookie_key {
	uint64_t k0, k1;
};

struct tcp_cookie_tuple {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
};

/* The options that ride in the TSval's low bits. */
struct tcp_cookie_opts {
	bool ws_ok;
	uint8_t ws;             /* the peer's window scale, <= 14 */
	bool sack_ok;
};

/* The MSS the cookie will carry for a peer that offered peer_mss. */
uint16_t tcp_syncookie_mss(uint16_t peer_mss);
/* Our ISN for a SYN with sequence number peer_isn that arrived at now_ns. */
uint32_t tcp_syncookie_encode(const struct tcp_cookie_key *key,
			      const struct tcp_cookie_tuple *t, uint32_t peer_isn,
			      uint16_t peer_mss, uint64_t now_ns);
/* The MSS a cookie (ACK - 1) carries for the ACK's SEQ - 1 = peer_isn,
 * or 0 when it is not one of ours, from another tuple, or too old. */
uint16_t tcp_syncookie_decode(const struct tcp_cookie_key *key,
			      const struct tcp_cookie_tuple *t, uint32_t peer_isn,
			      uint32_t cookie, uint64_t now_ns);
/* TSval (before the connection's offset) for a cookie SYN-ACK at ts_now
 * (our millisecond clock, before the offset): never later than ts_now. */
uint32_t tcp_syncookie_ts_encode(uint32_t ts_now, const struct tcp_cookie_opts *o);
/* The options from the echoed TSecr (less the offset). */
void tcp_syncookie_ts_decode(uint32_t tsecr, struct tcp_cookie_opts *o);

#endif
