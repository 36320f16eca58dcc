/* Test fixture for the stack's unit tests: a device that records the
 * frames the stack transmits, a fake TCP layer that records what IP and
 * ICMP hand it, and builders for crafted frames. Time is whatever the
 * test says it is. */
#ifndef KW_TESTS_STACK_FIXTURE_H
#define KW_TESTS_STACK_FIXTURE_H

#include "stack/checksum.h"
#include "stack/stack_internal.h"
#include "tests/tap.h"

#include <errno.h>

#define MS(x) ((uint64_t)(x) * UINT64_C(1000000))
#define SEC(x) ((uint64_t)(x) * UINT64_C(1000000000))
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static const uint8_t OUR_MAC[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t PEER_MAC[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t OTHER_MAC[6] = { 0x02, 0, 0, 0, 0, 0x03 };
#define OUR_IP IP4(10, 0, 0, 2)
#define PEER_IP IP4(10, 0, 0, 1)
#define GW_IP IP4(10, 0, 0, 254)

/* ---- a device that records ------------------------------------------------ */

#define CAP_FRAMES 64
struct capture {
	struct kw_netdev dev;
	int fail;                        /* transmit returns -ENOBUFS */
	unsigned n;
	size_t len[CAP_FRAMES];
	uint8_t frame[CAP_FRAMES][2048];
};

static int capture_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	struct capture *c = dev->priv;

	if (c->fail)
		return -ENOBUFS;
	if (c->n < CAP_FRAMES && len <= sizeof(c->frame[0])) {
		memcpy(c->frame[c->n], frame, len);
		c->len[c->n] = len;
	}
	c->n++;
	return 0;
}

static const struct kw_netdev_ops capture_ops = { .transmit = capture_transmit };

static inline void capture_init(struct capture *c, uint16_t mtu)
{
	memset(c, 0, sizeof(*c));
	c->dev.ops = &capture_ops;
	c->dev.priv = c;
	memcpy(c->dev.mac, OUR_MAC, 6);
	c->dev.mtu = mtu;
}

/* ---- a TCP layer that records --------------------------------------------- */

struct fake_tcp {
	struct kw_tcp_env env;
	unsigned inputs, unreachables, polls;
	uint32_t in_src, in_dst;
	size_t in_len;
	uint8_t in_data[2048];
	uint32_t un_src, un_dst;
	size_t un_len;
	int un_code;
	uint8_t un_data[64];
	uint64_t deadline;
};
static struct fake_tcp fake_tcp;

static struct kw_tcp_layer *fake_create(const struct kw_tcp_env *env)
{
	memset(&fake_tcp, 0, sizeof(fake_tcp));
	fake_tcp.env = *env;
	fake_tcp.deadline = KW_TIME_NEVER;
	return (struct kw_tcp_layer *)&fake_tcp;
}

static void fake_destroy(struct kw_tcp_layer *l) { (void)l; }

static void fake_input(struct kw_tcp_layer *l, uint32_t src, uint32_t dst, const void *seg,
		       size_t len, uint64_t now)
{
	(void)l; (void)now;
	fake_tcp.inputs++;
	fake_tcp.in_src = src;
	fake_tcp.in_dst = dst;
	fake_tcp.in_len = len;
	memcpy(fake_tcp.in_data, seg, len < sizeof(fake_tcp.in_data) ? len : sizeof(fake_tcp.in_data));
}

static void fake_unreachable(struct kw_tcp_layer *l, uint32_t src, uint32_t dst,
			     const void *q, size_t len, int code, uint64_t now)
{
	(void)l; (void)now;
	fake_tcp.unreachables++;
	fake_tcp.un_src = src;
	fake_tcp.un_dst = dst;
	fake_tcp.un_len = len;
	fake_tcp.un_code = code;
	memcpy(fake_tcp.un_data, q, len < sizeof(fake_tcp.un_data) ? len : sizeof(fake_tcp.un_data));
}

static uint64_t fake_next_deadline(const struct kw_tcp_layer *l)
{
	(void)l;
	return fake_tcp.deadline;
}

static uint64_t fake_poll(struct kw_tcp_layer *l, uint64_t now)
{
	(void)now;
	fake_tcp.polls++;
	return fake_next_deadline(l);
}

static const struct kw_stack_tcp_ops fake_tcp_ops = {
	.create = fake_create,
	.destroy = fake_destroy,
	.input = fake_input,
	.icmp_unreachable = fake_unreachable,
	.poll = fake_poll,
	.next_deadline = fake_next_deadline,
};

static inline struct kw_stack *fixture_stack(struct capture *c, uint32_t gateway)
{
	struct kw_stack_config cfg = { OUR_IP, 24, gateway, 42, KW_TCP_CC_NEWRENO };

	capture_init(c, 1500);
	return kw_stack_create_with_ops(&cfg, &c->dev, &fake_tcp_ops);
}

/* ---- crafted frames -------------------------------------------------------- */

static inline size_t build_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	kw_ether_write_header(f, dst, src, type);
	return KW_ETH_HLEN;
}

/* An ARP frame: eth header + 28 bytes. */
static inline size_t build_arp(uint8_t *f, const uint8_t *eth_dst, uint16_t op,
			       const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	static const uint8_t zero[6];
	struct kw_arp_packet p = { .op = op, .spa = spa, .tpa = tpa };

	memcpy(p.sha, sha, 6);
	memcpy(p.tha, tha ? tha : zero, 6);
	build_eth(f, eth_dst, sha, KW_ETH_P_ARP);
	kw_arp_build(f + KW_ETH_HLEN, &p);
	return KW_ETH_HLEN + KW_ARP_LEN;
}

/* An IPv4 header at p (20 bytes, no options) with a correct checksum. */
static inline void build_ip(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto,
			    size_t payload_len, uint8_t ttl)
{
	memset(p, 0, KW_IP_HLEN);
	p[0] = 0x45;
	kw_put16(p + 2, (uint16_t)(KW_IP_HLEN + payload_len));
	kw_put16(p + 4, 0x1234);
	p[8] = ttl;
	p[9] = proto;
	kw_put32(p + 12, src);
	kw_put32(p + 16, dst);
	kw_put16(p + 10, kw_checksum(p, KW_IP_HLEN, 0));
}

static inline void ip_fix_checksum(uint8_t *p)
{
	size_t hlen = (size_t)(p[0] & 0xf) * 4;
	kw_put16(p + 10, 0);
	kw_put16(p + 10, kw_checksum(p, hlen, 0));
}

/* An ICMP echo request frame from the peer to us, `data_len` bytes of data. */
static inline size_t build_echo(uint8_t *f, uint32_t src, uint32_t dst, uint16_t id,
				uint16_t seq, size_t data_len)
{
	uint8_t *ip = f + KW_ETH_HLEN, *icmp = ip + KW_IP_HLEN;

	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	icmp[0] = KW_ICMP_ECHO_REQUEST;
	icmp[1] = 0;
	kw_put16(icmp + 2, 0);
	kw_put16(icmp + 4, id);
	kw_put16(icmp + 6, seq);
	for (size_t i = 0; i < data_len; i++)
		icmp[8 + i] = (uint8_t)(i * 7 + 3);
	kw_put16(icmp + 2, kw_checksum(icmp, 8 + data_len, 0));
	build_ip(ip, src, dst, KW_IPPROTO_ICMP, 8 + data_len, 64);
	return KW_ETH_HLEN + KW_IP_HLEN + 8 + data_len;
}

/* Teach the stack the peer's MAC (an ARP request from the peer for us). */
static inline void learn_peer(struct kw_stack *s, struct capture *c, uint64_t now)
{
	uint8_t f[64];
	size_t n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP, NULL, OUR_IP);
	kw_stack_input(s, f, n, now);
	c->n = 0;
}

#endif
