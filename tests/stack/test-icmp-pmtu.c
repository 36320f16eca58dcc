/* ICMP "fragmentation needed" (type 3 code 4, RFC 1191) with crafted
 * frames: handed to TCP's icmp_frag_needed with the next-hop MTU from
 * bytes 6-7 of the message and the quoted TCP header; other unreachables
 * still go to icmp_unreachable; a TCP layer without the operation gets
 * code 4 through icmp_unreachable as before. And through two whole
 * stacks: a crafted ICMP quoting a data frame makes the real TCP layer
 * send smaller frames at once. */
#include "fixture.h"
#include "tests/stack/stack-pair.h"

#include <stdlib.h>

static struct capture cap;
static uint8_t f[2048];

static struct {
	unsigned n;
	uint32_t src, dst, mtu;
	size_t len;
	uint8_t q[8];
} frag;

static void fake_frag_needed(struct kw_tcp_layer *l, uint32_t src, uint32_t dst, const void *q,
			     size_t len, uint32_t mtu, uint64_t now)
{
	(void)l; (void)now;
	frag.n++;
	frag.src = src;
	frag.dst = dst;
	frag.mtu = mtu;
	frag.len = len;
	memcpy(frag.q, q, len < 8 ? len : 8);
}

static const struct kw_stack_tcp_ops pmtu_tcp_ops = {
	.create = fake_create,
	.destroy = fake_destroy,
	.input = fake_input,
	.icmp_unreachable = fake_unreachable,
	.poll = fake_poll,
	.next_deadline = fake_next_deadline,
	.icmp_frag_needed = fake_frag_needed,
};

/* Destination unreachable (code) from a router quoting our TCP segment
 * 10.0.0.2:40000 -> 10.0.0.1:80, sequence 0x01020304, with next-hop MTU
 * mtu in bytes 6-7. */
static size_t build_frag(int code, uint16_t mtu)
{
	uint8_t *icmp = f + KW_ETH_HLEN + KW_IP_HLEN, *q = icmp + 8;
	size_t len = 8 + 20 + 8;

	memset(f, 0, sizeof(f));
	build_eth(f, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	icmp[0] = KW_ICMP_DEST_UNREACH;
	icmp[1] = (uint8_t)code;
	kw_put16(icmp + 6, mtu);
	build_ip(q, OUR_IP, PEER_IP, KW_IPPROTO_TCP, 20 + 1400, 64);
	kw_put16(q + 20, 40000);
	kw_put16(q + 22, 80);
	kw_put32(q + 24, 0x01020304);
	kw_put16(icmp + 2, kw_checksum(icmp, len, 0));
	build_ip(f + KW_ETH_HLEN, PEER_IP, OUR_IP, KW_IPPROTO_ICMP, len, 64);
	return KW_ETH_HLEN + KW_IP_HLEN + len;
}

/* ---- whole stacks ---------------------------------------------------------- */

static uint8_t quote[28];               /* IP header + 8 bytes of TCP */
static bool have_quote, icmp_sent;
static size_t max_after, max_before;

static void frame_tap(struct spair *sp, int side, const uint8_t *fr, size_t len)
{
	struct sp_frame pf;

	(void)sp;
	if (side != 0 || !sp_parse(fr, len, &pf) || !pf.tcp || pf.dlen == 0)
		return;
	if (icmp_sent) {
		if (len > max_after)
			max_after = len;
		return;
	}
	if (len > max_before)
		max_before = len;
	if (!have_quote) {
		memcpy(quote, fr + KW_ETH_HLEN, sizeof(quote));
		have_quote = true;
	}
}

struct rx {
	struct kw_tcp *c, *s;
	size_t sent, got;
};

static bool got_all(struct spair *sp, void *arg)
{
	static uint8_t b[65536];
	struct rx *x = arg;
	ssize_t r;

	if (x->sent < 300000 && (r = kw_tcp_send(x->c, b, 300000 - x->sent, sp->now)) > 0)
		x->sent += (size_t)r;
	while ((r = kw_tcp_recv(x->s, b, sizeof(b), sp->now)) > 0)
		x->got += (size_t)r;
	return x->got >= 300000;
}

static void test_whole_stacks(void)
{
	struct kw_memlink_config lc = { .seed = 9, .delay_ns = SP_MS(5) };
	struct spair sp;
	struct kw_tcp *c, *s;
	static uint8_t data[300000];
	uint8_t *icmp = f + KW_ETH_HLEN + KW_IP_HLEN;
	size_t len = 8 + sizeof(quote);
	struct rx x = { NULL, NULL, 0, 0 };

	tap_ok(sp_init(&sp, &lc, 11) == 0 && sp_connect(&sp, 80, &c, &s, NULL) == 0,
	       "two stacks: connected");
	sp.tap = frame_tap;
	x.sent = (size_t)kw_tcp_send(c, data, sizeof(data), sp.now);
	while (!have_quote && sp_step(&sp, sp.now + SP_SEC(1)))
		;
	/* The router answers the first data frame: next-hop MTU 1000. */
	memset(f, 0, sizeof(f));
	build_eth(f, kw_memlink_dev(sp.link, 0)->mac, kw_memlink_dev(sp.link, 1)->mac, KW_ETH_P_IP);
	icmp[0] = KW_ICMP_DEST_UNREACH;
	icmp[1] = KW_ICMP_FRAG_NEEDED;
	kw_put16(icmp + 6, 1000);
	memcpy(icmp + 8, quote, sizeof(quote));
	kw_put16(icmp + 2, kw_checksum(icmp, len, 0));
	build_ip(f + KW_ETH_HLEN, SP_ADDR1, SP_ADDR0, KW_IPPROTO_ICMP, len, 64);
	icmp_sent = true;
	kw_stack_input(sp.st[0], f, KW_ETH_HLEN + KW_IP_HLEN + len, sp.now);
	x.c = c;
	x.s = s;
	tap_ok(sp_run_while_not(&sp, got_all, &x, sp.now + SP_SEC(30)), "all 300,000 bytes arrive");
	tap_diag("largest data frame before %zu, after %zu", max_before, max_after);
	tap_ok(max_before == 1514 && max_after > 0 && max_after <= KW_ETH_HLEN + 1000,
	       "after the ICMP (next-hop MTU 1000) every data frame fits in 1000 bytes of IP");
	kw_tcp_close(c, sp.now);
	kw_tcp_close(s, sp.now);
	sp_fini(&sp);
}

int main(void)
{
	struct kw_stack_config cfg = { OUR_IP, 24, 0, 42, KW_TCP_CC_NEWRENO };
	struct kw_stack *s;
	size_t n;

	capture_init(&cap, 1500);
	s = kw_stack_create_with_ops(&cfg, &cap.dev, &pmtu_tcp_ops);
	n = build_frag(KW_ICMP_FRAG_NEEDED, 1280);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(frag.n == 1 && fake_tcp.unreachables == 0,
	       "fragmentation needed: handed to TCP's icmp_frag_needed, not icmp_unreachable");
	tap_ok(frag.src == OUR_IP && frag.dst == PEER_IP && frag.mtu == 1280,
	       "... with the quoted addresses and the next-hop MTU (1280)");
	tap_ok(frag.len == 8 && kw_get16(frag.q) == 40000 && kw_get16(frag.q + 2) == 80 &&
	       kw_get32(frag.q + 4) == 0x01020304, "... and the quoted TCP header");
	n = build_frag(KW_ICMP_FRAG_NEEDED, 0);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(frag.n == 2 && frag.mtu == 0, "an MTU of 0 (pre-RFC 1191 router) is passed on: TCP decides");
	n = build_frag(KW_ICMP_PORT_UNREACH, 1280);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(frag.n == 2 && fake_tcp.unreachables == 1 && fake_tcp.un_code == KW_ICMP_PORT_UNREACH,
	       "port unreachable still goes to icmp_unreachable");
	kw_stack_destroy(s);

	/* A TCP layer without the operation: code 4 as before. */
	s = fixture_stack(&cap, 0);
	n = build_frag(KW_ICMP_FRAG_NEEDED, 1280);
	kw_stack_input(s, f, n, SEC(1));
	tap_ok(fake_tcp.unreachables == 1 && fake_tcp.un_code == KW_ICMP_FRAG_NEEDED,
	       "no icmp_frag_needed operation: code 4 goes to icmp_unreachable");
	kw_stack_destroy(s);
	test_whole_stacks();
	return tap_done();
}
