/* Ethernet II: parse received frames, dispatch by EtherType, build the
 * header of frames we send. No FCS either way (the device handles it). */
#include "stack/stack_internal.h"

#include <errno.h>
#include <string.h>

const uint8_t kw_ether_broadcast[KW_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

bool kw_ether_is_broadcast(const uint8_t *mac)
{
	return memcmp(mac, kw_ether_broadcast, KW_ETH_ALEN) == 0;
}

bool kw_ether_is_zero(const uint8_t *mac)
{
	static const uint8_t zero[KW_ETH_ALEN];
	return memcmp(mac, zero, KW_ETH_ALEN) == 0;
}

int kw_ether_parse(const void *frame, size_t len, struct kw_ether_view *out)
{
	const uint8_t *p = frame;

	if (frame == NULL || len < KW_ETH_HLEN)
		return -EINVAL;
	out->dst = p;
	out->src = p + KW_ETH_ALEN;
	out->type = kw_get16(p + 2 * KW_ETH_ALEN);
	/* Values below 0x600 are an IEEE 802.3 length, not an EtherType. */
	if (out->type < 0x600)
		return -EINVAL;
	out->payload = p + KW_ETH_HLEN;
	out->len = len - KW_ETH_HLEN;
	return 0;
}

void kw_ether_write_header(uint8_t *buf, const uint8_t dst[KW_ETH_ALEN],
			   const uint8_t src[KW_ETH_ALEN], uint16_t type)
{
	memcpy(buf, dst, KW_ETH_ALEN);
	memcpy(buf + KW_ETH_ALEN, src, KW_ETH_ALEN);
	kw_put16(buf + 2 * KW_ETH_ALEN, type);
}

int kw_ether_output(struct kw_stack *stack, const uint8_t dst[KW_ETH_ALEN], uint16_t type,
		    size_t payload_len)
{
	return kw_ether_output_meta(stack, dst, type, payload_len, NULL);
}

int kw_ether_output_meta(struct kw_stack *stack, const uint8_t dst[KW_ETH_ALEN], uint16_t type,
			 size_t payload_len, const struct kw_netdev_tx_meta *meta)
{
	size_t len = KW_ETH_HLEN + payload_len;
	int r;

	kw_ether_write_header(stack->txbuf, dst, stack->dev->mac, type);
	if (len < KW_ETH_ZLEN) {
		memset(stack->txbuf + len, 0, KW_ETH_ZLEN - len);
		len = KW_ETH_ZLEN;
	}
	r = kw_netdev_transmit_meta(stack->dev, stack->txbuf, len, meta);
	if (r < 0)
		stack->x.tx_errors++;
	else
		stack->stats.frames_out++;
	return r;
}

void kw_ether_input(struct kw_stack *stack, const uint8_t *frame, size_t len, uint64_t now_ns)
{
	struct kw_ether_view eth;

	stack->stats.frames_in++;
	if (kw_ether_parse(frame, len, &eth) < 0) {
		stack->stats.frames_dropped++;
		return;
	}
	/* Ours, or broadcast. Other multicast (IPv6 ND, LLDP, ...) and frames
	 * for other stations are none of our business. */
	if (memcmp(eth.dst, stack->dev->mac, KW_ETH_ALEN) != 0 && !kw_ether_is_broadcast(eth.dst)) {
		stack->x.not_for_us++;
		stack->stats.frames_dropped++;
		return;
	}
	/* A frame claiming to come from a group address, or from ourselves
	 * (a loop), is bogus. */
	if (kw_ether_is_multicast(eth.src) || memcmp(eth.src, stack->dev->mac, KW_ETH_ALEN) == 0) {
		stack->stats.frames_dropped++;
		return;
	}
	switch (eth.type) {
	case KW_ETH_P_ARP:
		kw_arp_input(stack, eth.payload, eth.len, now_ns);
		break;
	case KW_ETH_P_IP:
		kw_ipv4_input(stack, eth.payload, eth.len, now_ns);
		break;
	default:                         /* IPv6, VLAN tags, ...: not spoken here */
		stack->stats.frames_dropped++;
		break;
	}
}
