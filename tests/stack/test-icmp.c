/* ICMP with crafted frames: echo request -> echo reply (fields, data,
 * checksum), requests that get no answer, destination unreachable handed
 * to TCP, unreachables we send for UDP and unknown protocols, and their
 * rate limit. */
#include "fixture.h"

static struct capture cap;
static uint8_t f[2048];

static const uint8_t *rx_ip(unsigned i) { return cap.frame[i] + KW_ETH_HLEN; }
static const uint8_t *rx_icmp(unsigned i) { return cap.frame[i] + KW_ETH_HLEN + KW_IP_HLEN; }

static void test_echo(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	struct kw_stack_stats st;
	size_t n;
	int same = 1;

	learn_peer(s, &cap, SEC(1));
	n = build_echo(f, PEER_IP, OUR_IP, 0x1234, 1, 0);
	kw_stack_input(s, f, n, SEC(1));
	tap_is_u64(cap.n, 1, "echo request: one frame out");
	tap_ok(memcmp(cap.frame[0], PEER_MAC, 6) == 0 && kw_get16(cap.frame[0] + 12) == KW_ETH_P_IP &&
	       kw_get32(rx_ip(0) + 12) == OUR_IP && kw_get32(rx_ip(0) + 16) == PEER_IP &&
	       rx_ip(0)[9] == KW_IPPROTO_ICMP && kw_checksum(rx_ip(0), 20, 0) == 0,
	       "reply: from us to the asker, protocol ICMP, valid IP header");
	tap_ok(rx_icmp(0)[0] == KW_ICMP_ECHO_REPLY && rx_icmp(0)[1] == 0 &&
	       kw_get16(rx_icmp(0) + 4) == 0x1234 && kw_get16(rx_icmp(0) + 6) == 1,
	       "reply: type 0 code 0, identifier and sequence echoed");
	/* 0x0000 + 0x1234 + 0x0001 = 0x1235, complemented. */
	tap_is_u64(kw_get16(rx_icmp(0) + 2), 0xedca, "reply checksum: 0xedca, computed by hand");

	cap.n = 0;
	n = build_echo(f, PEER_IP, OUR_IP, 0xbeef, 77, 56);
	kw_stack_input(s, f, n, SEC(2));
	for (int i = 0; i < 56; i++)
		same &= cap.n == 1 && rx_icmp(0)[8 + i] == f[KW_ETH_HLEN + KW_IP_HLEN + 8 + i];
	tap_ok(same && kw_get16(rx_ip(0) + 2) == 20 + 8 + 56, "ping's 56 data bytes come back unchanged");
	tap_ok(cap.n == 1 && kw_checksum(rx_icmp(0), 8 + 56, 0) == 0, "ICMP checksum of the reply verifies");

	cap.n = 0;
	n = build_echo(f, PEER_IP, OUR_IP, 1, 1, 1472);
	kw_stack_input(s, f, n, SEC(2));
	tap_ok(cap.n == 1 && cap.len[0] == 1514 && kw_checksum(rx_icmp(0), 8 + 1472, 0) == 0,
	       "a full-MTU echo (ping -s 1472) is answered in a 1514-byte frame");

	cap.n = 0;
	n = build_echo(f, PEER_IP, OUR_IP, 1, 2, 8);
	f[KW_ETH_HLEN + KW_IP_HLEN + 12] ^= 0xff;
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 0 && s->stats.icmp_bad == 1, "bad ICMP checksum: no reply, counted");
	n = build_echo(f, PEER_IP, OUR_IP, 1, 2, 0);
	build_ip(f + KW_ETH_HLEN, PEER_IP, OUR_IP, KW_IPPROTO_ICMP, 4, 64);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 0 && s->stats.icmp_bad == 2, "ICMP message shorter than 8 bytes: dropped");
	n = build_echo(f, PEER_IP, IP4(10, 0, 0, 255), 1, 3, 0);
	memcpy(f, kw_ether_broadcast, 6);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 0, "echo request to the broadcast address: ignored (as Linux does)");
	n = build_echo(f, PEER_IP, IP4(10, 0, 0, 77), 1, 3, 0);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 0, "echo request for an address not ours: no reply");
	kw_stack_stats(s, &st);
	tap_ok(st.icmp_echo_in == 4 && st.icmp_echo_out == 3, "counted: 4 requests in, 3 replies out");
	kw_stack_destroy(s);

	/* From a neighbour we do not know yet: ARP first, then the reply. */
	s = fixture_stack(&cap, 0);
	n = build_echo(f, PEER_IP, OUR_IP, 9, 9, 0);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(cap.n == 1 && kw_get16(cap.frame[0] + 12) == KW_ETH_P_ARP,
	       "echo from an unknown neighbour: an ARP request goes out first");
	{
		uint8_t a[64];
		size_t m = build_arp(a, OUR_MAC, KW_ARP_OP_REPLY, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP);
		kw_stack_input(s, a, m, SEC(1) + MS(1));
	}
	tap_ok(cap.n == 2 && rx_icmp(1)[0] == KW_ICMP_ECHO_REPLY && kw_get16(rx_icmp(1) + 6) == 9,
	       "... and the queued echo reply leaves when ARP answers");
	kw_stack_destroy(s);
}

/* An ICMP destination unreachable from the peer quoting a TCP segment
 * from qsrc to qdst (ports 40000 -> 80, sequence 0x01020304). */
static size_t build_unreach(int code, uint32_t qsrc, uint32_t qdst, uint8_t qproto, size_t quoted_tail)
{
	uint8_t *icmp = f + KW_ETH_HLEN + KW_IP_HLEN, *q = icmp + 8;
	size_t len = 8 + 20 + quoted_tail;

	memset(f, 0, sizeof(f));
	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	icmp[0] = KW_ICMP_DEST_UNREACH;
	icmp[1] = (uint8_t)code;
	build_ip(q, qsrc, qdst, qproto, 20, 64);
	kw_put16(q + 20, 40000);
	kw_put16(q + 22, 80);
	kw_put32(q + 24, 0x01020304);
	kw_put16(icmp + 2, kw_checksum(icmp, len, 0));
	build_ip(f + KW_ETH_HLEN, PEER_IP, OUR_IP, KW_IPPROTO_ICMP, len, 64);
	return KW_ETH_HLEN + KW_IP_HLEN + len < KW_ETH_ZLEN ? KW_ETH_ZLEN : KW_ETH_HLEN + KW_IP_HLEN + len;
}

static void test_unreachable_in(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	size_t n;

	n = build_unreach(KW_ICMP_PORT_UNREACH, OUR_IP, PEER_IP, KW_IPPROTO_TCP, 8);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(fake_tcp.unreachables == 1 && fake_tcp.un_src == OUR_IP && fake_tcp.un_dst == PEER_IP &&
	       fake_tcp.un_code == KW_ICMP_PORT_UNREACH,
	       "unreachable quoting our TCP segment: passed to TCP with the quoted addresses and code");
	tap_ok(fake_tcp.un_len == 8 && kw_get16(fake_tcp.un_data) == 40000 &&
	       kw_get16(fake_tcp.un_data + 2) == 80 && kw_get32(fake_tcp.un_data + 4) == 0x01020304,
	       "... with the quoted TCP header's first 8 bytes");
	n = build_unreach(1, OUR_IP, PEER_IP, KW_IPPROTO_TCP, 20);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(fake_tcp.unreachables == 2 && fake_tcp.un_len == 20 && fake_tcp.un_code == 1,
	       "a longer quote is passed whole (host unreachable, code 1)");
	n = build_unreach(3, IP4(10, 0, 0, 50), PEER_IP, KW_IPPROTO_TCP, 8);
	kw_stack_input(s, f, n, SEC(1));
	tap_is_u64(fake_tcp.unreachables, 2, "quoting a segment not from our address: not passed on");
	n = build_unreach(3, OUR_IP, PEER_IP, KW_IPPROTO_UDP, 8);
	kw_stack_input(s, f, n, SEC(1));
	tap_is_u64(fake_tcp.unreachables, 2, "quoting UDP: not passed to TCP");
	tap_is_u64(s->stats.icmp_unreach_in, 4, "every valid unreachable counted");
	n = build_unreach(3, OUR_IP, PEER_IP, KW_IPPROTO_TCP, 4);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(fake_tcp.unreachables == 2 && s->stats.icmp_bad == 1,
	       "a quote shorter than IP header + 8 bytes: bad, not passed on");
	tap_is_u64(cap.n, 0, "no ICMP error is ever sent about an ICMP error");
	kw_stack_destroy(s);
}

static size_t build_proto(uint8_t proto, uint32_t dst)
{
	memset(f, 0, sizeof(f));
	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	kw_put16(f + KW_ETH_HLEN + KW_IP_HLEN, 5353);
	kw_put16(f + KW_ETH_HLEN + KW_IP_HLEN + 2, 53);
	build_ip(f + KW_ETH_HLEN, PEER_IP, dst, proto, 12, 64);
	return KW_ETH_ZLEN;
}

static void test_unreachable_out(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	size_t n;
	unsigned sent;

	learn_peer(s, &cap, SEC(1));
	n = build_proto(KW_IPPROTO_UDP, OUR_IP);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(cap.n == 1 && rx_icmp(0)[0] == KW_ICMP_DEST_UNREACH && rx_icmp(0)[1] == KW_ICMP_PORT_UNREACH &&
	       kw_get32(rx_ip(0) + 16) == PEER_IP, "UDP to us: port unreachable back to the sender");
	tap_ok(cap.n == 1 && memcmp(rx_icmp(0) + 8, f + KW_ETH_HLEN, 32) == 0 &&
	       kw_get16(rx_ip(0) + 2) == 20 + 8 + 32 && kw_checksum(rx_icmp(0), 8 + 32, 0) == 0,
	       "... quoting the whole datagram (header and UDP bytes), checksum valid");
	cap.n = 0;
	n = build_proto(200, OUR_IP);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(cap.n == 1 && rx_icmp(0)[1] == KW_ICMP_PROTO_UNREACH, "unknown protocol: protocol unreachable");
	cap.n = 0;
	n = build_proto(KW_IPPROTO_UDP, IP4(10, 0, 0, 255));
	memcpy(f, kw_ether_broadcast, 6);
	kw_stack_input(s, f, n, SEC(1));
	tap_is_u64(cap.n, 0, "UDP broadcast: no error sent");

	cap.n = 0;
	for (int i = 0; i < 60; i++) {
		n = build_proto(KW_IPPROTO_UDP, OUR_IP);
		kw_stack_input(s, f, n, SEC(2));
	}
	sent = cap.n;
	for (int i = 0; i < 60; i++) {
		n = build_proto(KW_IPPROTO_UDP, OUR_IP);
		kw_stack_input(s, f, n, SEC(2) + MS(100));
	}
	tap_ok(sent == KW_ICMP_ERR_BURST && cap.n - sent == 10 && s->x.icmp_ratelimited == 60,
	       "errors are rate-limited: a burst of 50, then one per 10 ms");
	if (sent != KW_ICMP_ERR_BURST || cap.n - sent != 10)
		tap_diag("sent %u then %u", sent, cap.n - sent);
	kw_stack_destroy(s);
}

int main(void)
{
	test_echo();
	test_unreachable_in();
	test_unreachable_out();
	return tap_done();
}
