/* IPv4 (RFC 791, host requirements of RFC 1122): validate and deliver
 * datagrams addressed to us, route and send ours.
 *
 * Received datagrams are checked in this order, each failure counted:
 * header sanity (version 4, IHL >= 5, total length within the frame,
 * reserved flag clear) and header checksum -> ip_bad; TTL 0 -> ip_bad;
 * any fragment (MF set or an offset) -> ip_fragments_dropped, since we do
 * not reassemble and our peers' TCP never needs to fragment (we announce
 * an MSS of MTU - 40 and send with DF); any IP option ->
 * ip_options_dropped; a martian source (0, loopback, multicast,
 * broadcast, our own address) -> ip_bad. Datagrams for another address
 * are dropped quietly. Ethernet padding after the total length is cut off.
 *
 * Routing: a destination on our network is its own next hop; anything
 * else goes to the gateway, or is unreachable without one. Datagrams go
 * out with TTL 64, DF set and an identification that counts up from a
 * value derived from the seed. */
#include "stack/stack_internal.h"
#include "stack/checksum.h"

#include <errno.h>
#include <string.h>

#define IP_RF 0x8000u
#define IP_DF 0x4000u
#define IP_MF 0x2000u
#define IP_OFFMASK 0x1fffu

bool kw_ipv4_is_broadcast(const struct kw_stack *stack, uint32_t addr)
{
	if (addr == 0xffffffffu)
		return true;
	/* The directed broadcast of our network (none on /31 and /32). */
	return stack->cfg.prefix_len < 31 &&
	       (addr & stack->netmask) == (stack->cfg.addr & stack->netmask) &&
	       (addr | stack->netmask) == 0xffffffffu;
}

uint32_t kw_ipv4_next_hop(const struct kw_stack *stack, uint32_t dst)
{
	if (dst == 0 || dst == stack->cfg.addr)
		return 0;
	if ((dst & stack->netmask) == (stack->cfg.addr & stack->netmask))
		return dst;
	return stack->cfg.gateway;
}

int kw_ipv4_parse(const uint8_t *pkt, size_t len, struct kw_ipv4_view *out)
{
	size_t hlen, total;

	if (len < KW_IP_HLEN || pkt[0] >> 4 != 4)
		return -EINVAL;
	hlen = (size_t)(pkt[0] & 0x0f) * 4;
	total = kw_get16(pkt + 2);
	if (hlen < KW_IP_HLEN || hlen > len || total < hlen || total > len)
		return -EINVAL;
	if (kw_get16(pkt + 6) & IP_RF)
		return -EINVAL;
	if (kw_checksum(pkt, hlen, 0) != 0)
		return -EBADMSG;
	out->hdr = pkt;
	out->hlen = hlen;
	out->ttl = pkt[8];
	out->proto = pkt[9];
	out->src = kw_get32(pkt + 12);
	out->dst = kw_get32(pkt + 16);
	out->broadcast = false;
	out->payload = pkt + hlen;
	out->len = total - hlen;
	return 0;
}

/* A TCP segment the device vouched for (kw_stack_input_meta): verified,
 * or left partial by a local sender with the partial sum in this very
 * segment's checksum field. */
static bool tcp_csum_vouched(const struct kw_stack *stack, const struct kw_ipv4_view *ip)
{
	const struct kw_netdev_rx_meta *m = stack->rx_meta;

	if (m == NULL || ip->len < 20)
		return false;
	if (m->csum_valid)
		return true;
	return m->csum_partial && m->csum_start == KW_ETH_HLEN + ip->hlen && m->csum_offset == 16;
}

static bool martian_source(const struct kw_stack *stack, uint32_t src)
{
	return src == 0 || (src >> 24) == 127 || (src >> 28) >= 0xe ||
	       src == stack->cfg.addr || kw_ipv4_is_broadcast(stack, src);
}

static void drop(struct kw_stack *stack, uint64_t *counter)
{
	if (counter)
		(*counter)++;
	stack->stats.frames_dropped++;
}

void kw_ipv4_input(struct kw_stack *stack, const uint8_t *pkt, size_t len, uint64_t now_ns)
{
	struct kw_ipv4_view ip;
	uint16_t frag;

	stack->stats.ip_in++;
	if (kw_ipv4_parse(pkt, len, &ip) < 0)
		{ drop(stack, &stack->stats.ip_bad); return; }
	if (ip.ttl == 0) {
		stack->x.ip_ttl_zero++;
		{ drop(stack, &stack->stats.ip_bad); return; }
	}
	frag = kw_get16(pkt + 6);
	if (frag & (IP_MF | IP_OFFMASK))
		{ drop(stack, &stack->stats.ip_fragments_dropped); return; }
	if (ip.hlen > KW_IP_HLEN)
		{ drop(stack, &stack->stats.ip_options_dropped); return; }
	if (martian_source(stack, ip.src))
		{ drop(stack, &stack->stats.ip_bad); return; }
	if (ip.dst != stack->cfg.addr) {
		if (!kw_ipv4_is_broadcast(stack, ip.dst))
			{ drop(stack, &stack->x.not_for_us); return; }
		ip.broadcast = true;
	}

	switch (ip.proto) {
	case KW_IPPROTO_ICMP:
		kw_icmp_input(stack, &ip, now_ns);
		break;
	case KW_IPPROTO_TCP:
		if (ip.broadcast) {
			drop(stack, &stack->x.not_for_us);
			break;
		}
		if (stack->tcp_ops->input_csum_ok && tcp_csum_vouched(stack, &ip))
			stack->tcp_ops->input_csum_ok(stack->tcp, ip.src, ip.dst, ip.payload, ip.len,
						      now_ns);
		else
			stack->tcp_ops->input(stack->tcp, ip.src, ip.dst, ip.payload, ip.len, now_ns);
		break;
	case KW_IPPROTO_UDP:
		/* No UDP here: say so, as a host with no listener would. */
		drop(stack, &stack->x.ip_unknown_proto);
		kw_icmp_send_unreachable(stack, KW_ICMP_PORT_UNREACH, &ip, now_ns);
		break;
	default:
		drop(stack, &stack->x.ip_unknown_proto);
		kw_icmp_send_unreachable(stack, KW_ICMP_PROTO_UNREACH, &ip, now_ns);
		break;
	}
}

/* Header, then ARP (or a broadcast); max: the largest IP packet. */
static int ip_output(struct kw_stack *stack, uint32_t dst, uint8_t proto, const void *payload,
		     size_t len, size_t max, struct kw_netdev_tx_meta *meta, uint64_t now_ns)
{
	uint8_t *h = stack->txbuf + KW_ETH_HLEN;
	bool broadcast = kw_ipv4_is_broadcast(stack, dst);
	uint32_t hop = broadcast ? dst : kw_ipv4_next_hop(stack, dst);

	if (len > max - KW_IP_HLEN)
		return -EMSGSIZE;
	if (hop == 0) {
		stack->x.ip_no_route++;
		return -ENETUNREACH;
	}
	if (payload != h + KW_IP_HLEN)  /* else built in place (kw_stack_tx_payload) */
		memmove(h + KW_IP_HLEN, payload, len);
	h[0] = 0x45;
	h[1] = 0;
	kw_put16(h + 2, (uint16_t)(KW_IP_HLEN + len));
	kw_put16(h + 4, stack->ip_id++);
	kw_put16(h + 6, IP_DF);
	h[8] = KW_IP_TTL;
	h[9] = proto;
	kw_put16(h + 10, 0);
	kw_put32(h + 12, stack->cfg.addr);
	kw_put32(h + 16, dst);
	kw_put16(h + 10, kw_checksum(h, KW_IP_HLEN, 0));
	stack->stats.ip_out++;
	if (broadcast) {
		int r = kw_ether_output_meta(stack, kw_ether_broadcast, KW_ETH_P_IP, KW_IP_HLEN + len,
					     meta);
		return r < 0 ? r : 0;
	}
	return kw_arp_output_meta(stack, hop, KW_IP_HLEN + len, meta, now_ns);
}

int kw_ipv4_output(struct kw_stack *stack, uint32_t dst, uint8_t proto,
		   const void *payload, size_t len, uint64_t now_ns)
{
	return ip_output(stack, dst, proto, payload, len, stack->dev->mtu, NULL, now_ns);
}

int kw_ipv4_output_tcp_offload(struct kw_stack *stack, uint32_t dst, const void *segment,
			       size_t len, uint16_t gso_size, uint64_t now_ns)
{
	uint32_t offloads = kw_stack_tx_offloads(stack->dev);
	struct kw_netdev_tx_meta meta = {
		.csum_partial = true,
		.csum_start = KW_ETH_HLEN + KW_IP_HLEN,
		.csum_offset = 16,
	};
	size_t max = stack->dev->mtu, doff;

	if (len < 20 || !(offloads & KW_NETDEV_TX_CSUM))
		return -EINVAL;
	doff = (size_t)(((const uint8_t *)segment)[12] >> 4) * 4;
	if (gso_size && len - doff > gso_size) {
		/* The device cuts it: each piece must fit the MTU. */
		if (!(offloads & KW_NETDEV_TX_TSO4) ||
		    KW_IP_HLEN + doff + gso_size > (size_t)stack->dev->mtu)
			return -EMSGSIZE;
		max = KW_NETDEV_GSO_MAX;
		meta.gso_size = gso_size;
		meta.hdr_len = (uint16_t)(KW_ETH_HLEN + KW_IP_HLEN + doff);
	}
	return ip_output(stack, dst, KW_IPPROTO_TCP, segment, len, max, &meta, now_ns);
}
