/* ICMP (RFC 792, RFC 1122 §3.2.2): answer echo requests so `ping` works,
 * hand destination-unreachable messages about our TCP segments to TCP,
 * and report datagrams for protocols we do not speak.
 *
 * Echo requests to a broadcast address are ignored (Linux's default
 * icmp_echo_ignore_broadcasts). Errors we send are rate-limited by a
 * token bucket (KW_ICMP_ERR_BURST, one token per KW_ICMP_ERR_EVERY_NS),
 * never answer a broadcast or another ICMP error, and quote as much of
 * the offending datagram as fits in 576 bytes (RFC 1812 §4.3.2.3). */
#include "stack/stack_internal.h"
#include "stack/checksum.h"

#include <errno.h>
#include <string.h>

#define ICMP_HLEN 8
#define ICMP_ERR_MAX 576

static void echo_reply(struct kw_stack *stack, const struct kw_ipv4_view *ip, uint64_t now_ns)
{
	uint8_t *out = kw_stack_tx_payload(stack);

	stack->stats.icmp_echo_in++;
	if (ip->broadcast || ip->len > (size_t)stack->dev->mtu - KW_IP_HLEN) {
		stack->stats.frames_dropped++;
		return;
	}
	memcpy(out, ip->payload, ip->len);
	out[0] = KW_ICMP_ECHO_REPLY;
	out[1] = 0;
	kw_put16(out + 2, 0);
	kw_put16(out + 2, kw_checksum(out, ip->len, 0));
	if (kw_ipv4_output(stack, ip->src, KW_IPPROTO_ICMP, out, ip->len, now_ns) == 0)
		stack->stats.icmp_echo_out++;
}

static void dest_unreachable(struct kw_stack *stack, const struct kw_ipv4_view *ip,
			     uint64_t now_ns)
{
	const uint8_t *q = ip->payload + ICMP_HLEN;       /* the quoted datagram */
	size_t qlen = ip->len - ICMP_HLEN, qhlen;

	if (qlen < KW_IP_HLEN || q[0] >> 4 != 4 || (qhlen = (size_t)(q[0] & 0x0f) * 4) < KW_IP_HLEN ||
	    qlen < qhlen + 8) {
		stack->stats.icmp_bad++;
		stack->stats.frames_dropped++;
		return;
	}
	stack->stats.icmp_unreach_in++;
	/* Only about what we sent: our address as the quoted source. */
	if (q[9] != KW_IPPROTO_TCP || kw_get32(q + 12) != stack->cfg.addr)
		return;
	if (ip->payload[1] == KW_ICMP_FRAG_NEEDED && stack->tcp_ops->icmp_frag_needed)
		/* RFC 1191: the next-hop MTU is in bytes 6-7 of the message. */
		stack->tcp_ops->icmp_frag_needed(stack->tcp, kw_get32(q + 12), kw_get32(q + 16),
						 q + qhlen, qlen - qhlen, kw_get16(ip->payload + 6),
						 now_ns);
	else
		stack->tcp_ops->icmp_unreachable(stack->tcp, kw_get32(q + 12), kw_get32(q + 16),
						 q + qhlen, qlen - qhlen, ip->payload[1], now_ns);
}

void kw_icmp_input(struct kw_stack *stack, const struct kw_ipv4_view *ip, uint64_t now_ns)
{
	if (ip->len < ICMP_HLEN || kw_checksum(ip->payload, ip->len, 0) != 0) {
		stack->stats.icmp_bad++;
		stack->stats.frames_dropped++;
		return;
	}
	switch (ip->payload[0]) {
	case KW_ICMP_ECHO_REQUEST:
		echo_reply(stack, ip, now_ns);
		break;
	case KW_ICMP_ECHO_REPLY:
		stack->x.icmp_echo_reply_in++;
		break;
	case KW_ICMP_DEST_UNREACH:
		dest_unreachable(stack, ip, now_ns);
		break;
	default:                 /* time exceeded, redirects, ...: ignored */
		break;
	}
}

static bool ratelimit_allows(struct kw_stack *stack, uint64_t now_ns)
{
	if (now_ns > stack->icmp_tokens_at) {
		uint64_t add = (now_ns - stack->icmp_tokens_at) / KW_ICMP_ERR_EVERY_NS;
		if (add > 0) {
			uint64_t t = stack->icmp_tokens + add;
			stack->icmp_tokens = t > KW_ICMP_ERR_BURST ? KW_ICMP_ERR_BURST : (uint32_t)t;
			stack->icmp_tokens_at += add * KW_ICMP_ERR_EVERY_NS;
		}
	}
	if (stack->icmp_tokens == 0)
		return false;
	stack->icmp_tokens--;
	return true;
}

int kw_icmp_send_unreachable(struct kw_stack *stack, int code, const struct kw_ipv4_view *orig,
			     uint64_t now_ns)
{
	uint8_t *out = kw_stack_tx_payload(stack);
	size_t quote = orig->hlen + orig->len, max = ICMP_ERR_MAX - KW_IP_HLEN - ICMP_HLEN;
	int r;

	if (orig->broadcast)
		return -EINVAL;
	/* Never an error about an ICMP error (only echo and its reply are
	 * queries we could be asked about here). */
	if (orig->proto == KW_IPPROTO_ICMP &&
	    (orig->len < 1 || (orig->payload[0] != KW_ICMP_ECHO_REQUEST &&
			       orig->payload[0] != KW_ICMP_ECHO_REPLY)))
		return -EINVAL;
	if (!ratelimit_allows(stack, now_ns)) {
		stack->x.icmp_ratelimited++;
		return -EAGAIN;
	}
	if (max > (size_t)stack->dev->mtu - KW_IP_HLEN - ICMP_HLEN)
		max = (size_t)stack->dev->mtu - KW_IP_HLEN - ICMP_HLEN;
	if (quote > max)
		quote = max;
	out[0] = KW_ICMP_DEST_UNREACH;
	out[1] = (uint8_t)code;
	memset(out + 2, 0, 6);
	memcpy(out + ICMP_HLEN, orig->hdr, quote);
	kw_put16(out + 2, kw_checksum(out, ICMP_HLEN + quote, 0));
	r = kw_ipv4_output(stack, orig->src, KW_IPPROTO_ICMP, out, ICMP_HLEN + quote, now_ns);
	if (r == 0)
		stack->x.icmp_unreach_out++;
	return r;
}
