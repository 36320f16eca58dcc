/* TCP: bounds against hostile or broken peers and paths.
 *
 *   - the MSS of data segments, from the path MTU and the peer's MSS
 *     option, clamped as Linux clamps it (never wraps, never below 48);
 *   - RFC 5961 §7: challenge ACKs limited per layer and per second, as
 *     Linux limits them host-wide (tcp_challenge_ack_limit);
 *   - RFC 1191 path MTU discovery: ICMP "fragmentation needed" lowers the
 *     MSS of the connection it names (RFC 5927 sequence check) and what
 *     was lost is sent again at once at the new size. */
#include "stack/tcp_internal.h"

/* Linux TCP_MIN_SND_MSS / tcp_min_snd_mss: the smallest MSS before the
 * options are taken off (room for 40 bytes of options and 8 of data). An
 * MSS option below it (1, say) gives segments of this size anyway. */
#define TCP_MIN_SND_MSS    48
/* Linux ip_rt_min_pmtu: a smaller MTU in an ICMP message is raised to it. */
#define TCP_MIN_PMTU       552
#define TCP_IP_TCP_HLEN    40           /* IPv4 + TCP headers, no options */
/* RFC 5961 §7, Linux tcp_challenge_ack_limit before 6.0 (1000 a second,
 * the allowance of each second drawn from [limit/2, 3*limit/2), as Linux
 * does since 4.7 so that the shared counter tells an off-path attacker
 * nothing: CVE-2016-5696). */
#define TCP_CHALLENGE_ACK_LIMIT 1000u

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t path_mtu(const struct kw_tcp *c)
{
	return c->pmtu ? c->pmtu : (uint32_t)c->layer->env.mss + TCP_IP_TCP_HLEN;
}

/* As Linux's tcp_mtu_to_mss: MTU - 40, at most the peer's MSS option, at
 * least TCP_MIN_SND_MSS, then minus the timestamp option that every data
 * segment carries once agreed (the MSS counts no options, RFC 6691). */
uint16_t tcp_mss_now(const struct kw_tcp *c)
{
	uint32_t mss = path_mtu(c) - TCP_IP_TCP_HLEN;
	uint32_t peer = c->peer_mss ? c->peer_mss : TCP_DEFAULT_MSS;

	if (mss > peer)
		mss = peer;
	if (mss < TCP_MIN_SND_MSS)
		mss = TCP_MIN_SND_MSS;
	if (c->ts_ok)
		mss -= TCP_TS_OPTLEN;
	return (uint16_t)mss;
}

void tcp_send_challenge_ack(struct kw_tcp *c, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;
	uint64_t sec = now_ns / KW_NS_PER_S + 1;        /* 0: never */

	if (sec != L->challenge_sec) {
		uint64_t r = tcp_siphash(L->env.seed, 0x6368616c6c656e67ull, &sec, sizeof(sec));
		L->challenge_sec = sec;
		L->challenge_left = TCP_CHALLENGE_ACK_LIMIT / 2 + (uint32_t)(r % TCP_CHALLENGE_ACK_LIMIT);
	}
	if (L->challenge_left == 0)
		return;
	L->challenge_left--;
	tcp_send_ack(c, now_ns);
}

/* RFC 1191 with the RFC 5927 §4.1 check, as Linux's tcp_v4_err and
 * tcp_v4_mtu_reduced: an MTU below 552 (even a pre-RFC 1191 router's 0)
 * is raised to 552 (ip_rt_min_pmtu), one not below the path MTU already in use changes
 * nothing. When the MSS shrinks, every segment in flight was larger than
 * the path allows and is lost: they are sent again now at the new size
 * (Linux's tcp_simple_retransmit), cwnd untouched (the data in flight did
 * not grow, only its units changed). */
void tcp_icmp_frag_needed(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			  const uint8_t *q, size_t len, uint32_t mtu, uint64_t now_ns)
{
	struct kw_tcp *c;
	seq_t seq;
	uint16_t old;

	if (len < 8)
		return;
	c = tcp_lookup(L, src, get16(q), dst, get16(q + 2));
	if (!c || c->state == KW_TCP_LISTEN || c->state == KW_TCP_CLOSED)
		return;
	seq = get32(q + 4);
	if (!(seq_geq(seq, c->snd_una) && seq_leq(seq, c->snd_max)))
		return;                 /* not for anything in flight: blind */
	if (mtu < TCP_MIN_PMTU)
		mtu = TCP_MIN_PMTU;
	if (mtu >= path_mtu(c) || mtu > 65535)
		return;
	c->pmtu = (uint16_t)mtu;
	old = c->mss;
	c->mss = tcp_mss_now(c);    /* in SYN-SENT the SYN-ACK sets it again */
	if (c->state == KW_TCP_SYN_SENT || c->state == KW_TCP_SYN_RECEIVED)
		return;                 /* no data in flight yet */
	if (c->mss >= old || c->snd_nxt == c->snd_una)
		return;
	c->rtt_timing = false;      /* Karn: what follows is a retransmission */
	if (c->sack_ok) {
		tcp_sack_mark_all_lost(c);  /* resent in order, SACKed bytes not */
		tcp_output(c, now_ns);
		return;
	}
	c->snd_nxt = c->snd_una;
	tcp_output(c, now_ns);
}
