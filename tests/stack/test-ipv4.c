/* IPv4 with crafted frames: validation (checksum, lengths, version, TTL),
 * fragments and options dropped and counted, delivery to TCP with the
 * padding cut off, output header fields, IP IDs from the seed, routing
 * on-link / via the gateway / unreachable. */
#include "fixture.h"

static struct capture cap;
static uint8_t f[2048];

/* A TCP-ish datagram from the peer to dst: IP header + 10 bytes, in a
 * frame padded to 60. Returns the frame length. */
static size_t build_tcp_frame(uint32_t src, uint32_t dst, uint8_t ttl)
{
	memset(f, 0, sizeof(f));
	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	for (int i = 0; i < 10; i++)
		f[KW_ETH_HLEN + KW_IP_HLEN + i] = (uint8_t)(0xa0 + i);
	build_ip(f + KW_ETH_HLEN, src, dst, KW_IPPROTO_TCP, 10, ttl);
	return KW_ETH_ZLEN;
}

static uint8_t *ip_hdr(void) { return f + KW_ETH_HLEN; }

/* Feed f; true when TCP got it. */
static int delivered(struct kw_stack *s, size_t len)
{
	unsigned before = fake_tcp.inputs;
	kw_stack_input(s, f, len, SEC(1));
	return fake_tcp.inputs == before + 1;
}

static void test_input_validation(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	struct kw_stack_stats st;
	size_t n;

	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	tap_ok(delivered(s, n), "a valid datagram for us reaches TCP");
	tap_ok(fake_tcp.in_src == PEER_IP && fake_tcp.in_dst == OUR_IP && fake_tcp.in_len == 10 &&
	       fake_tcp.in_data[0] == 0xa0 && fake_tcp.in_data[9] == 0xa9,
	       "... with its addresses, and the Ethernet padding cut off (10 bytes, not 26)");

	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	ip_hdr()[10] ^= 0x01;
	tap_ok(!delivered(s, n), "bad header checksum: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	ip_hdr()[0] = 0x65;
	ip_fix_checksum(ip_hdr());
	ip_hdr()[0] = 0x65;
	tap_ok(!delivered(s, n), "version 6 in an IPv4 frame: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	kw_put16(ip_hdr() + 2, 47);            /* more than the 46 bytes the frame holds */
	ip_fix_checksum(ip_hdr());
	tap_ok(!delivered(s, n), "total length beyond the frame: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	kw_put16(ip_hdr() + 2, 19);
	ip_fix_checksum(ip_hdr());
	tap_ok(!delivered(s, n), "total length shorter than the header: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	ip_hdr()[0] = 0x44;
	kw_put16(ip_hdr() + 10, 0);
	kw_put16(ip_hdr() + 10, kw_checksum(ip_hdr(), 16, 0));
	tap_ok(!delivered(s, n), "IHL 4: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	tap_ok(!delivered(s, KW_ETH_HLEN + 19), "a header cut short: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	kw_put16(ip_hdr() + 6, 0x8000);
	ip_fix_checksum(ip_hdr());
	tap_ok(!delivered(s, n), "reserved flag set: dropped");
	kw_stack_stats(s, &st);
	tap_is_u64(st.ip_bad, 7, "each malformed datagram counted in ip_bad");
	tap_is_u64(st.frames_dropped, 7, "... and in frames_dropped");

	n = build_tcp_frame(PEER_IP, OUR_IP, 0);
	tap_ok(!delivered(s, n), "TTL 0: dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 1);
	tap_ok(delivered(s, n), "TTL 1: delivered (a host does not decrement)");
	n = build_tcp_frame(IP4(127, 0, 0, 1), OUR_IP, 64);
	tap_ok(!delivered(s, n), "loopback source on the wire: dropped");
	n = build_tcp_frame(OUR_IP, OUR_IP, 64);
	tap_ok(!delivered(s, n), "our own address as source: dropped");
	n = build_tcp_frame(IP4(224, 0, 0, 1), OUR_IP, 64);
	tap_ok(!delivered(s, n), "multicast source: dropped");
	kw_stack_stats(s, &st);
	tap_is_u64(st.ip_bad, 11, "TTL 0 and martians counted in ip_bad");

	n = build_tcp_frame(PEER_IP, IP4(10, 0, 0, 99), 64);
	tap_ok(!delivered(s, n), "a datagram for another address: not delivered");
	n = build_tcp_frame(PEER_IP, IP4(10, 0, 0, 255), 64);
	tap_ok(!delivered(s, n), "TCP to the broadcast address: not delivered");
	kw_stack_stats(s, &st);
	tap_ok(st.ip_bad == 11 && s->x.not_for_us == 2, "... counted as not for us, not as bad");
	tap_ok(cap.n == 0, "nothing was sent in answer to any of these");
	kw_stack_destroy(s);
}

static void test_fragments_options(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	struct kw_stack_stats st;
	size_t n;

	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	kw_put16(ip_hdr() + 6, 0x2000);              /* MF, offset 0: a first fragment */
	ip_fix_checksum(ip_hdr());
	tap_ok(!delivered(s, n), "first fragment (MF): dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	kw_put16(ip_hdr() + 6, 185);                 /* last fragment, offset 1480 */
	ip_fix_checksum(ip_hdr());
	tap_ok(!delivered(s, n), "last fragment (offset, no MF): dropped");
	n = build_tcp_frame(PEER_IP, OUR_IP, 64);
	kw_put16(ip_hdr() + 6, 0x4000);              /* DF: not a fragment */
	ip_fix_checksum(ip_hdr());
	tap_ok(delivered(s, n), "DF set, no offset: delivered");

	/* IHL 6 with a 4-byte option (NOP NOP NOP EOL). */
	memset(f, 0, sizeof(f));
	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	build_ip(ip_hdr(), PEER_IP, OUR_IP, KW_IPPROTO_TCP, 14, 64);
	ip_hdr()[0] = 0x46;
	memcpy(ip_hdr() + 20, "\x01\x01\x01\x00", 4);
	ip_fix_checksum(ip_hdr());
	n = KW_ETH_HLEN + 24 + 10;
	tap_ok(kw_checksum(ip_hdr(), 24, 0) == 0 && !delivered(s, n), "IP options: dropped");
	kw_stack_stats(s, &st);
	tap_ok(st.ip_fragments_dropped == 2 && st.ip_options_dropped == 1 && st.ip_bad == 0 &&
	       st.frames_dropped == 3, "counted: 2 fragments, 1 with options, none as bad");
	kw_stack_destroy(s);
}

static void test_output(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0), *s2, *s3;
	const uint8_t *h;
	uint8_t seg[32] = { 1, 2, 3 };
	struct kw_tcp_env env;
	uint16_t id0;

	learn_peer(s, &cap, SEC(1));
	tap_ok(kw_ipv4_output(s, PEER_IP, KW_IPPROTO_TCP, seg, sizeof(seg), SEC(1)) == 0 && cap.n == 1,
	       "output to a known neighbour: one frame");
	h = cap.frame[0] + KW_ETH_HLEN;
	tap_ok(h[0] == 0x45 && kw_get16(h + 2) == 20 + sizeof(seg) && kw_get16(h + 6) == 0x4000 &&
	       h[8] == KW_IP_TTL && h[9] == KW_IPPROTO_TCP && kw_get32(h + 12) == OUR_IP &&
	       kw_get32(h + 16) == PEER_IP && memcmp(h + 20, seg, sizeof(seg)) == 0,
	       "header: v4, IHL 5, total length, DF, TTL 64, protocol, addresses; payload copied");
	tap_ok(kw_checksum(h, 20, 0) == 0, "header checksum valid");
	id0 = kw_get16(h + 4);
	kw_ipv4_output(s, PEER_IP, KW_IPPROTO_TCP, seg, sizeof(seg), SEC(1));
	tap_is_u64(kw_get16(cap.frame[1] + KW_ETH_HLEN + 4), (uint16_t)(id0 + 1), "IP ID counts up");

	/* The seed decides where IDs start. */
	env = fake_tcp.env;
	{
		struct capture c2, c3;
		struct kw_stack_config a = { OUR_IP, 24, 0, 42, KW_TCP_CC_NEWRENO }, b = { OUR_IP, 24, 0, 43, KW_TCP_CC_NEWRENO };
		capture_init(&c2, 1500);
		capture_init(&c3, 1500);
		s2 = kw_stack_create_with_ops(&a, &c2.dev, &fake_tcp_ops);
		s3 = kw_stack_create_with_ops(&b, &c3.dev, &fake_tcp_ops);
		tap_ok(s2->ip_id == id0 && s3->ip_id != id0,
		       "initial IP ID: the same for the same seed, different for another");
		kw_stack_destroy(s2);
		kw_stack_destroy(s3);
	}

	/* Through the TCP layer's environment. */
	cap.n = 0;
	learn_peer(s, &cap, SEC(2));
	env.ip_output(env.ctx, OUR_IP, PEER_IP, seg, 20, SEC(2));
	tap_ok(cap.n == 1 && cap.frame[0][KW_ETH_HLEN + 9] == KW_IPPROTO_TCP &&
	       kw_get16(cap.frame[0] + KW_ETH_HLEN + 2) == 40,
	       "TCP's ip_output: a TCP datagram to the peer");
	env.ip_output(env.ctx, IP4(10, 0, 0, 50), PEER_IP, seg, 20, SEC(2));
	tap_is_u64(cap.n, 1, "TCP's ip_output from an address not ours: dropped");

	cap.n = 0;
	{
		static uint8_t big[1500];
		tap_ok(kw_ipv4_output(s, PEER_IP, KW_IPPROTO_TCP, big, 1481, SEC(2)) == -EMSGSIZE &&
		       kw_ipv4_output(s, PEER_IP, KW_IPPROTO_TCP, big, 1480, SEC(2)) == 0 &&
		       cap.n == 1 && cap.len[0] == 1514,
		       "MTU: 1480 bytes of payload fit in a 1514-byte frame, 1481 give EMSGSIZE");
	}
	cap.n = 0;
	tap_ok(kw_ipv4_output(s, IP4(10, 0, 0, 255), 253, seg, 4, SEC(2)) == 0 && cap.n == 1 &&
	       kw_ether_is_broadcast(cap.frame[0]), "to the network's broadcast address: Ethernet broadcast, no ARP");
	tap_ok(kw_ipv4_output(s, OUR_IP, 253, seg, 4, SEC(2)) == -ENETUNREACH,
	       "to our own address: no route (no loopback here)");
	kw_stack_destroy(s);
}

static void test_routing(void)
{
	struct kw_stack *s = fixture_stack(&cap, GW_IP);
	const uint32_t far = IP4(192, 0, 2, 1);
	uint8_t a[64];
	size_t n;

	tap_ok(kw_ipv4_next_hop(s, PEER_IP) == PEER_IP && kw_ipv4_next_hop(s, far) == GW_IP,
	       "next hop: on-link destination itself, anything else the gateway");
	tap_ok(kw_ipv4_output(s, far, 253, "x", 1, SEC(1)) == 0 && cap.n == 1 &&
	       kw_get16(cap.frame[0] + 12) == KW_ETH_P_ARP && kw_get32(cap.frame[0] + 14 + 24) == GW_IP,
	       "off-link destination: ARP asks for the gateway, not the destination");
	n = build_arp(a, OUR_MAC, KW_ARP_OP_REPLY, OTHER_MAC, GW_IP, OUR_MAC, OUR_IP);
	kw_stack_input(s, a, n, SEC(1));
	tap_ok(cap.n == 2 && memcmp(cap.frame[1], OTHER_MAC, 6) == 0 &&
	       kw_get32(cap.frame[1] + 14 + 16) == far,
	       "the datagram goes to the gateway's MAC with the far address inside");
	kw_stack_destroy(s);

	s = fixture_stack(&cap, 0);
	tap_ok(kw_ipv4_output(s, far, 253, "x", 1, SEC(1)) == -ENETUNREACH && cap.n == 0 &&
	       s->x.ip_no_route == 1, "off-link without a gateway: ENETUNREACH, nothing sent");
	kw_stack_destroy(s);

	{
		struct kw_stack_config c = { IP4(10, 1, 2, 3), 32, 0, 1, KW_TCP_CC_NEWRENO };
		capture_init(&cap, 1500);
		s = kw_stack_create_with_ops(&c, &cap.dev, &fake_tcp_ops);
		tap_ok(s != NULL && kw_ipv4_output(s, IP4(10, 1, 2, 4), 253, "x", 1, SEC(1)) == -ENETUNREACH,
		       "a /32 without gateway reaches nobody");
		kw_stack_destroy(s);
	}
}

int main(void)
{
	test_input_validation();
	test_fragments_options();
	test_output();
	test_routing();
	return tap_done();
}
