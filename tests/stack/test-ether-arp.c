/* Ethernet II and ARP with crafted frames and fake time: parsing, frames
 * not for us, request -> reply, the cache and its expiry, packets queued
 * while resolving and released by the reply, retries that give up,
 * gratuitous ARP, address conflicts. */
#include "fixture.h"

static struct capture cap;

static const uint8_t *tx(unsigned i) { return cap.frame[i]; }
static uint16_t tx_type(unsigned i) { return kw_get16(tx(i) + 12); }
static uint16_t tx_arp_op(unsigned i) { return kw_get16(tx(i) + KW_ETH_HLEN + 6); }
static uint32_t tx_arp_tpa(unsigned i) { return kw_get32(tx(i) + KW_ETH_HLEN + 24); }

/* Send an IP datagram with a one-byte marker payload (protocol 253). */
static int send_marker(struct kw_stack *s, uint32_t dst, uint8_t marker, uint64_t now)
{
	return kw_ipv4_output(s, dst, 253, &marker, 1, now);
}
static uint8_t tx_marker(unsigned i) { return tx(i)[KW_ETH_HLEN + KW_IP_HLEN]; }

static void test_ether_parse(void)
{
	uint8_t f[64] = { 0 };
	struct kw_ether_view v;

	tap_ok(kw_ether_parse(f, 13, &v) == -EINVAL, "ether: a 13-byte runt is refused");
	build_eth(f, OUR_MAC, PEER_MAC, 0x05dc);
	tap_ok(kw_ether_parse(f, 60, &v) == -EINVAL, "ether: an 802.3 length field is not an EtherType");
	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_ARP);
	tap_ok(kw_ether_parse(f, 60, &v) == 0 && v.type == KW_ETH_P_ARP && v.len == 46 &&
	       memcmp(v.src, PEER_MAC, 6) == 0 && memcmp(v.dst, OUR_MAC, 6) == 0 &&
	       v.payload == f + 14, "ether: header fields parsed");
}

static void test_create_config(void)
{
	struct kw_stack_config good = { OUR_IP, 24, GW_IP, 1, KW_TCP_CC_NEWRENO }, c;
	struct kw_stack *s;

	capture_init(&cap, 1500);
	c = good; c.addr = 0;
	tap_ok(kw_stack_create_with_ops(&c, &cap.dev, &fake_tcp_ops) == NULL, "create: address 0 refused");
	c = good; c.prefix_len = 33;
	tap_ok(kw_stack_create_with_ops(&c, &cap.dev, &fake_tcp_ops) == NULL, "create: prefix 33 refused");
	c = good; c.gateway = IP4(10, 0, 1, 1);
	tap_ok(kw_stack_create_with_ops(&c, &cap.dev, &fake_tcp_ops) == NULL, "create: off-link gateway refused");
	c = good; c.addr = IP4(10, 0, 0, 255);
	tap_ok(kw_stack_create_with_ops(&c, &cap.dev, &fake_tcp_ops) == NULL, "create: broadcast address refused");
	cap.dev.mtu = 60;
	tap_ok(kw_stack_create_with_ops(&good, &cap.dev, &fake_tcp_ops) == NULL, "create: MTU below 68 refused");
	cap.dev.mtu = 1500;
	cap.dev.mac[0] = 0x01;
	tap_ok(kw_stack_create_with_ops(&good, &cap.dev, &fake_tcp_ops) == NULL, "create: multicast MAC refused");
	cap.dev.mac[0] = 0x02;
	s = kw_stack_create_with_ops(&good, &cap.dev, &fake_tcp_ops);
	tap_ok(s != NULL && fake_tcp.env.local_addr == OUR_IP && fake_tcp.env.mss == 1460 &&
	       fake_tcp.env.seed == 1, "create: TCP layer made with our address, MSS = MTU - 40, the seed");
	kw_stack_destroy(s);
}

static void test_not_for_us(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	struct kw_stack_stats st;
	uint8_t f[64] = { 0 };
	size_t n;

	n = build_arp(f, OTHER_MAC, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP, NULL, OUR_IP);
	kw_stack_input(s, f, n, 0);
	build_eth(f, OUR_MAC, PEER_MAC, 0x86dd);
	kw_stack_input(s, f, 60, 0);
	kw_stack_input(s, f, 10, 0);
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP, NULL, OUR_IP);
	f[0] = 0x33;   /* IPv6 multicast group, not broadcast */
	kw_stack_input(s, f, n, 0);
	kw_stack_stats(s, &st);
	tap_ok(cap.n == 0 && st.frames_in == 4 && st.frames_dropped == 4 && st.arp_requests_in == 0,
	       "frames for another MAC or multicast, IPv6 and runts: dropped and counted, no answer");
	kw_stack_destroy(s);
}

static void test_request_reply(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	struct kw_stack_stats st;
	const struct kw_arp_entry *e;
	uint8_t f[64];
	size_t n;

	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP, NULL, OUR_IP);
	kw_stack_input(s, f, n, SEC(10));
	kw_stack_stats(s, &st);
	tap_is_u64(cap.n, 1, "ARP request for our address: one frame out");
	tap_ok(memcmp(tx(0), PEER_MAC, 6) == 0 && memcmp(tx(0) + 6, OUR_MAC, 6) == 0 &&
	       tx_type(0) == KW_ETH_P_ARP, "reply: unicast to the asker, from our MAC, EtherType ARP");
	tap_ok(tx_arp_op(0) == KW_ARP_OP_REPLY &&
	       memcmp(tx(0) + 14 + 8, OUR_MAC, 6) == 0 && kw_get32(tx(0) + 14 + 14) == OUR_IP &&
	       memcmp(tx(0) + 14 + 18, PEER_MAC, 6) == 0 && tx_arp_tpa(0) == PEER_IP &&
	       kw_get16(tx(0) + 14) == 1 && kw_get16(tx(0) + 16) == 0x0800 &&
	       tx(0)[18] == 6 && tx(0)[19] == 4,
	       "reply: op 2, sender = us, target = the asker");
	tap_is_u64(cap.len[0], 60, "reply: padded to the 60-byte Ethernet minimum");
	tap_ok(st.arp_requests_in == 1 && st.arp_replies_out == 1 && st.frames_out == 1,
	       "counted: one request in, one reply out");
	e = kw_arp_lookup(s, PEER_IP, SEC(10));
	tap_ok(e != NULL && memcmp(e->mac, PEER_MAC, 6) == 0, "the asker's MAC is cached (RFC 826)");

	/* Known now: IP goes out at once, to its MAC. */
	cap.n = 0;
	tap_ok(send_marker(s, PEER_IP, 7, SEC(11)) == 0 && cap.n == 1 &&
	       memcmp(tx(0), PEER_MAC, 6) == 0 && tx_type(0) == KW_ETH_P_IP && tx_marker(0) == 7,
	       "IP to a cached neighbour leaves at once, to its MAC");

	/* A question about another host: no answer, nothing learnt. */
	cap.n = 0;
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, OTHER_MAC, IP4(10, 0, 0, 3), NULL,
		      IP4(10, 0, 0, 4));
	kw_stack_input(s, f, n, SEC(12));
	tap_ok(cap.n == 0 && kw_arp_lookup(s, IP4(10, 0, 0, 3), SEC(12)) == NULL,
	       "request for another address: no reply, the sender is not cached");

	/* Refresh while in use: a unicast request in the last seconds. */
	cap.n = 0;
	send_marker(s, PEER_IP, 9, SEC(10) + KW_ARP_REACHABLE_NS - KW_ARP_REFRESH_NS - 1);
	tap_is_u64(cap.n, 1, "an entry in use before its refresh window: no ARP");
	send_marker(s, PEER_IP, 10, SEC(10) + KW_ARP_REACHABLE_NS - KW_ARP_REFRESH_NS);
	tap_ok(cap.n == 3 && tx_type(1) == KW_ETH_P_IP && tx_marker(1) == 10 &&
	       tx_type(2) == KW_ETH_P_ARP && tx_arp_op(2) == KW_ARP_OP_REQUEST &&
	       memcmp(tx(2), PEER_MAC, 6) == 0 && tx_arp_tpa(2) == PEER_IP,
	       "in its refresh window: the packet still goes out, then one unicast request to the cached MAC");
	send_marker(s, PEER_IP, 11, SEC(10) + KW_ARP_REACHABLE_NS - MS(1));
	tap_is_u64(cap.n, 4, "only one refresh request per lifetime");

	/* Expiry. */
	tap_ok(kw_arp_lookup(s, PEER_IP, SEC(10) + KW_ARP_REACHABLE_NS - 1) != NULL &&
	       kw_arp_lookup(s, PEER_IP, SEC(10) + KW_ARP_REACHABLE_NS) == NULL,
	       "cache entry expires KW_ARP_REACHABLE_NS after it was confirmed");
	cap.n = 0;
	send_marker(s, PEER_IP, 8, SEC(10) + KW_ARP_REACHABLE_NS);
	tap_ok(cap.n == 1 && tx_type(0) == KW_ETH_P_ARP && tx_arp_op(0) == KW_ARP_OP_REQUEST &&
	       tx_arp_tpa(0) == PEER_IP && kw_ether_is_broadcast(tx(0)),
	       "after expiry, sending asks again (broadcast request) instead of using the old MAC");
	kw_arp_poll(s, SEC(200));
	kw_stack_destroy(s);
}

static void test_refresh(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	const uint64_t t = SEC(1) + KW_ARP_REACHABLE_NS - KW_ARP_REFRESH_NS;
	uint8_t f[64];
	size_t n;

	learn_peer(s, &cap, SEC(1));
	send_marker(s, PEER_IP, 1, t);
	n = build_arp(f, OUR_MAC, KW_ARP_OP_REPLY, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP);
	kw_stack_input(s, f, n, t + MS(1));
	cap.n = 0;
	send_marker(s, PEER_IP, 2, SEC(1) + KW_ARP_REACHABLE_NS + SEC(1));
	tap_ok(cap.n == 1 && tx_type(0) == KW_ETH_P_IP && tx_marker(0) == 2 &&
	       memcmp(tx(0), PEER_MAC, 6) == 0,
	       "the refresh answered: past the old expiry, packets still go straight out");
	kw_stack_destroy(s);
}

static void test_queue_release(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	const uint32_t dst = IP4(10, 0, 0, 7);
	const uint64_t t0 = SEC(5);
	uint8_t f[64];
	size_t n;

	tap_ok(send_marker(s, dst, 1, t0) == 0, "IP to an unknown neighbour: accepted (queued)");
	tap_ok(cap.n == 1 && kw_ether_is_broadcast(tx(0)) && tx_type(0) == KW_ETH_P_ARP &&
	       tx_arp_op(0) == KW_ARP_OP_REQUEST && tx_arp_tpa(0) == dst &&
	       kw_get32(tx(0) + 14 + 14) == OUR_IP && memcmp(tx(0) + 14 + 8, OUR_MAC, 6) == 0 &&
	       kw_ether_is_zero(tx(0) + 14 + 18),
	       "... and a broadcast ARP request for it goes out instead");
	tap_is_u64(kw_stack_next_deadline(s), t0 + KW_ARP_RETRY_NS, "next deadline: the ARP retry");
	send_marker(s, dst, 2, t0 + MS(10));
	tap_ok(cap.n == 1 && s->arp.nqueued == 2, "a second packet waits too, without a second request");
	n = build_arp(f, OUR_MAC, KW_ARP_OP_REPLY, OTHER_MAC, dst, OUR_MAC, OUR_IP);
	kw_stack_input(s, f, n, t0 + MS(20));
	tap_ok(cap.n == 3 && tx_type(1) == KW_ETH_P_IP && tx_type(2) == KW_ETH_P_IP &&
	       memcmp(tx(1), OTHER_MAC, 6) == 0 && memcmp(tx(2), OTHER_MAC, 6) == 0 &&
	       tx_marker(1) == 1 && tx_marker(2) == 2,
	       "the reply releases both, in order, to the MAC it names");
	tap_ok(s->arp.nqueued == 0 && kw_stack_next_deadline(s) == KW_TIME_NEVER,
	       "queue empty, no ARP deadline left");

	/* Per-destination limit: the oldest go. */
	cap.n = 0;
	for (uint8_t i = 1; i <= 6; i++)
		send_marker(s, IP4(10, 0, 0, 8), i, SEC(6));
	n = build_arp(f, OUR_MAC, KW_ARP_OP_REPLY, OTHER_MAC, IP4(10, 0, 0, 8), OUR_MAC, OUR_IP);
	kw_stack_input(s, f, n, SEC(6));
	tap_ok(cap.n == 1 + KW_ARP_QUEUE_PER_DEST && tx_marker(1) == 3 && tx_marker(4) == 6 &&
	       s->x.arp_queue_dropped == 2,
	       "at most KW_ARP_QUEUE_PER_DEST wait per address: the oldest are dropped and counted");
	kw_stack_destroy(s);
}

static void test_retries_give_up(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	const uint32_t dst = IP4(10, 0, 0, 9);
	struct kw_stack_stats st;
	uint64_t t = SEC(1);
	int spaced = 1;

	fake_tcp.deadline = SEC(100);
	send_marker(s, dst, 1, t);
	kw_stack_poll(s, t + KW_ARP_RETRY_NS / 2);
	tap_is_u64(cap.n, 1, "no retry before the retry interval");
	for (unsigned k = 1; k < KW_ARP_MAX_REQUESTS; k++) {
		uint64_t next = kw_stack_poll(s, t + k * KW_ARP_RETRY_NS);
		spaced &= cap.n == k + 1 && tx_arp_tpa(k) == dst && tx_arp_op(k) == KW_ARP_OP_REQUEST &&
			  next == t + (k + 1) * KW_ARP_RETRY_NS;
	}
	tap_ok(spaced, "a retry each interval, poll returning the next one");
	tap_is_u64(kw_stack_poll(s, t + KW_ARP_MAX_REQUESTS * KW_ARP_RETRY_NS), SEC(100),
		   "after the last unanswered request: gives up; next deadline is TCP's");
	kw_stack_stats(s, &st);
	tap_ok(cap.n == KW_ARP_MAX_REQUESTS && st.arp_requests_out == KW_ARP_MAX_REQUESTS &&
	       s->x.arp_failed == 1 && s->x.arp_queue_dropped == 1 && s->arp.nqueued == 0,
	       "exactly KW_ARP_MAX_REQUESTS requests; the queued packet is dropped and counted");
	tap_ok(fake_tcp.polls >= KW_ARP_MAX_REQUESTS, "kw_stack_poll polls TCP too");
	/* A late poll does not send a burst. */
	cap.n = 0;
	send_marker(s, dst, 2, SEC(50));
	kw_stack_poll(s, SEC(50) + 10 * KW_ARP_RETRY_NS);
	tap_is_u64(cap.n, 2, "a poll long after the deadline sends one request, not a burst");
	kw_stack_destroy(s);
}

static void test_gratuitous_conflict(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	const struct kw_arp_entry *e;
	uint8_t f[64];
	size_t n;

	learn_peer(s, &cap, SEC(1));
	/* The peer moved to another MAC and announces it. */
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, OTHER_MAC, PEER_IP, NULL, PEER_IP);
	kw_stack_input(s, f, n, SEC(2));
	e = kw_arp_lookup(s, PEER_IP, SEC(2));
	tap_ok(cap.n == 0 && e != NULL && memcmp(e->mac, OTHER_MAC, 6) == 0,
	       "gratuitous ARP from a cached neighbour updates its MAC, no answer");
	tap_ok(e != NULL && e->deadline == SEC(2) + KW_ARP_REACHABLE_NS, "... and refreshes its lifetime");
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REPLY, OTHER_MAC, IP4(10, 0, 0, 20), NULL,
		      IP4(10, 0, 0, 20));
	kw_stack_input(s, f, n, SEC(2));
	tap_ok(kw_arp_lookup(s, IP4(10, 0, 0, 20), SEC(2)) == NULL,
	       "gratuitous ARP from an unknown host creates no entry");
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, OTHER_MAC, OUR_IP, NULL, OUR_IP);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 0 && s->x.arp_conflicts == 1, "another MAC claiming our address: counted, not answered");
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, OTHER_MAC, IP4(192, 168, 0, 1), NULL, OUR_IP);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 1 && kw_arp_lookup(s, IP4(192, 168, 0, 1), SEC(3)) == NULL,
	       "an off-link sender is answered but not cached");
	cap.n = 0;
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, OTHER_MAC, 0, NULL, OUR_IP);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 1 && tx_arp_tpa(0) == 0 && memcmp(tx(0), OTHER_MAC, 6) == 0,
	       "an RFC 5227 probe (sender 0.0.0.0) for our address is answered");
	cap.n = 0;
	n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP, NULL, OUR_IP);
	f[14 + 4] = 8;   /* hardware length 8 */
	kw_stack_input(s, f, n, SEC(3));
	kw_stack_input(s, f, 14 + 27, SEC(3));
	tap_ok(cap.n == 0 && s->x.arp_bad == 2, "malformed ARP (bad hlen, short): dropped and counted");
	n = build_arp(f, kw_ether_broadcast, 3, PEER_MAC, PEER_IP, NULL, OUR_IP);
	kw_stack_input(s, f, n, SEC(3));
	tap_ok(cap.n == 0 && s->x.arp_bad == 3, "unknown ARP opcode: dropped");
	tap_ok(kw_stack_announce(s, SEC(4)) == 0 && cap.n == 1 && kw_ether_is_broadcast(tx(0)) &&
	       tx_arp_op(0) == KW_ARP_OP_REQUEST && tx_arp_tpa(0) == OUR_IP &&
	       kw_get32(tx(0) + 14 + 14) == OUR_IP, "kw_stack_announce: gratuitous request for our address");
	kw_stack_destroy(s);
}

static void test_cache_full(void)
{
	struct kw_stack *s = fixture_stack(&cap, 0);
	uint8_t f[64];
	int all = 1;

	for (unsigned i = 0; i < KW_ARP_CACHE_SIZE + 1; i++) {
		size_t n = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC,
				     IP4(10, 0, 0, 10 + i), NULL, OUR_IP);
		kw_stack_input(s, f, n, SEC(1) + i);
	}
	for (unsigned i = 1; i < KW_ARP_CACHE_SIZE + 1; i++)
		all &= kw_arp_lookup(s, IP4(10, 0, 0, 10 + i), SEC(2)) != NULL;
	tap_ok(all && kw_arp_lookup(s, IP4(10, 0, 0, 10), SEC(2)) == NULL,
	       "a full cache evicts the entry confirmed longest ago");
	cap.fail = 1;
	learn_peer(s, &cap, SEC(3));
	tap_ok(s->x.tx_errors == 1, "a device refusing a frame is counted");
	kw_stack_destroy(s);
}

int main(void)
{
	test_ether_parse();
	test_create_config();
	test_not_for_us();
	test_request_reply();
	test_refresh();
	test_queue_release();
	test_retries_give_up();
	test_gratuitous_conflict();
	test_cache_full();
	return tap_done();
}
