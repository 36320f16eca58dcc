/* SYN cookies: encoding and decoding (see tcp_syncookie.h). The cookie is
 * a number in our sequence space, but it is built and taken apart as a
 * plain 32-bit word (modular arithmetic), not compared as a sequence
 * number: only its bit fields matter. */
#include "stack/tcp_syncookie.h"
#include "stack/tcp_internal.h"

/* Linux's msstab (net/ipv4/syncookies.c): the common MSS values, so that
 * 2 bits lose little. */
static const uint16_t msstab[] = { 536, 1300, 1440, 1460 };
#define NMSS (sizeof(msstab) / sizeof(msstab[0]))

#define COUNT_BITS 8
#define DATA_MASK  0xffffffu            /* the low 24 bits: hash + MSS index */
#define TS_WS_NONE 0xfu
#define TS_SACK    0x10u
#define TS_MASK    ((1u << TCP_SYNCOOKIE_TSBITS) - 1)

/* Unlike Linux, H2 covers the peer's ISN too (which Linux only adds):
 * an ACK with another SEQ cannot reuse a cookie with a shifted MSS index. */
static uint32_t cookie_hash(const struct tcp_cookie_key *key, const struct tcp_cookie_tuple *t,
			    uint32_t count, uint32_t peer_isn, uint32_t which)
{
	uint32_t w[6] = { t->laddr, t->raddr, (uint32_t)t->lport << 16 | t->rport, count,
			  peer_isn, which };
	return (uint32_t)tcp_siphash(key->k0, key->k1, w, sizeof(w));
}

static unsigned mss_index(uint16_t peer_mss)
{
	unsigned i;

	/* The largest entry not above the peer's; the smallest if all are
	 * (as Linux: 536 is every host's minimum, RFC 9293 §3.7.1). */
	for (i = NMSS - 1; i > 0; i--)
		if (peer_mss >= msstab[i])
			break;
	return i;
}

uint16_t tcp_syncookie_mss(uint16_t peer_mss)
{
	return msstab[mss_index(peer_mss)];
}

static uint32_t counter(uint64_t now_ns)
{
	return (uint32_t)(now_ns / TCP_SYNCOOKIE_PERIOD);
}

uint32_t tcp_syncookie_encode(const struct tcp_cookie_key *key,
			      const struct tcp_cookie_tuple *t, uint32_t peer_isn,
			      uint16_t peer_mss, uint64_t now_ns)
{
	uint32_t count = counter(now_ns);

	return cookie_hash(key, t, 0, 0, 1) + peer_isn + (count << (32 - COUNT_BITS)) +
	       ((cookie_hash(key, t, count, peer_isn, 2) + mss_index(peer_mss)) & DATA_MASK);
}

uint16_t tcp_syncookie_decode(const struct tcp_cookie_key *key,
			      const struct tcp_cookie_tuple *t, uint32_t peer_isn,
			      uint32_t cookie, uint64_t now_ns)
{
	uint32_t count = counter(now_ns), x, age, idx;

	x = cookie - cookie_hash(key, t, 0, 0, 1) - peer_isn;
	age = (count - (x >> (32 - COUNT_BITS))) & ((1u << COUNT_BITS) - 1);
	if (age >= TCP_SYNCOOKIE_MAX_AGE)
		return 0;
	idx = (x - cookie_hash(key, t, count - age, peer_isn, 2)) & DATA_MASK;
	if (idx >= NMSS)
		return 0;
	return msstab[idx];
}

uint32_t tcp_syncookie_ts_encode(uint32_t ts_now, const struct tcp_cookie_opts *o)
{
	uint32_t opts = o->ws_ok ? (o->ws > 14 ? 14u : o->ws) : TS_WS_NONE, ts;

	if (o->sack_ok)
		opts |= TS_SACK;
	ts = (ts_now & ~TS_MASK) | opts;
	/* Never ahead of our clock: the TSvals that follow must not look
	 * older to the peer's PAWS (Linux does the same). */
	if ((int32_t)(ts - ts_now) > 0)
		ts -= 1u << TCP_SYNCOOKIE_TSBITS;
	return ts;
}

void tcp_syncookie_ts_decode(uint32_t tsecr, struct tcp_cookie_opts *o)
{
	uint32_t ws = tsecr & TS_WS_NONE;

	o->ws_ok = ws != TS_WS_NONE;
	o->ws = o->ws_ok ? (uint8_t)(ws > 14 ? 14 : ws) : 0;
	o->sack_ok = (tsecr & TS_SACK) != 0;
}
