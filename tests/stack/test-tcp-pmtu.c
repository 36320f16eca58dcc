/* Path MTU discovery (RFC 1191, issue 13) in the TCP layer: a link that
 * drops every segment larger than its MTU and answers with ICMP
 * "fragmentation needed" (handed to the sender through
 * kw_tcp_icmp_frag_needed); the RFC 5927 sequence check; the 552-byte
 * floor; the segmentation offload's segment size. */
#include "stack/checksum.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <stdlib.h>
#include <string.h>

/* ---- a link with a small MTU ----------------------------------------------- */

static uint32_t link_mtu;               /* IP bytes; 0: no limit */
static bool send_icmp = true;
static uint8_t icmp_quote[8];
static bool icmp_pending;
static unsigned icmps;
static size_t max_data_from0;

static bool small_mtu_filter(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			     const struct seginfo *si)
{
	(void)p; (void)si;
	if (link_mtu == 0 || len + 20 <= link_mtu)
		return false;
	if (from == 0 && send_icmp) {
		memcpy(icmp_quote, seg, 8);
		icmp_pending = true;
	}
	return true;
}

static void size_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		     const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	if (from == 0 && si->dlen > max_data_from0)
		max_data_from0 = si->dlen;
}

/* The router's ICMP reaches the sender between events (never from inside
 * the layer's own output). */
static void deliver_icmp(struct tcp_pair *p)
{
	if (!icmp_pending)
		return;
	icmp_pending = false;
	icmps++;
	kw_tcp_icmp_frag_needed(p->l[0], PAIR_ADDR0, PAIR_ADDR1, icmp_quote, 8, link_mtu, p->now);
}

struct xfer {
	struct kw_tcp *c, *s;
	uint8_t *src, *dst;
	size_t n, sent, got;
	bool closed;
};

static bool xfer_step(struct tcp_pair *p, void *arg)
{
	struct xfer *x = arg;
	ssize_t r;

	deliver_icmp(p);
	if (x->sent < x->n) {
		r = kw_tcp_send(x->c, x->src + x->sent, x->n - x->sent, p->now);
		if (r > 0)
			x->sent += (size_t)r;
	}
	if (x->sent == x->n && !x->closed) {
		kw_tcp_shutdown(x->c, 1 /* SHUT_WR */, p->now);
		x->closed = true;
	}
	while ((r = kw_tcp_recv(x->s, x->dst + x->got, x->n + 1 - x->got, p->now)) > 0)
		x->got += (size_t)r;
	return r == 0;
}

static void test_transfer(uint32_t mtu, uint64_t seed, const char *what)
{
	struct tcp_pair p;
	struct xfer x = { 0 };
	bool done;
	char d[200];

	pair_init(&p, seed);
	link_mtu = 0;
	tap_ok(pair_connect(&p, 80, &x.c, &x.s, NULL) == 0, "connected (MSS 1460, timestamps)");
	x.n = 2 * 1024 * 1024;
	x.src = malloc(x.n);
	x.dst = malloc(x.n + 1);
	for (size_t i = 0; i < x.n; i++)
		x.src[i] = (uint8_t)(pair_rand(&p) >> 24);
	link_mtu = mtu;
	icmps = 0;
	max_data_from0 = 0;
	p.filter = small_mtu_filter;
	p.tap = size_tap;
	done = pair_run_while_not(&p, xfer_step, &x, p.now + SEC(120));
	tap_diag("%s: %zu of %zu bytes in %.2f s, %u ICMP, %llu segments dropped, largest segment %zu",
		 what, x.got, x.n, (double)(p.now - SEC(1000)) / 1e9, icmps,
		 (unsigned long long)p.lost[0], max_data_from0);
	snprintf(d, sizeof(d), "%s: the transfer completes", what);
	tap_ok(done && x.got == x.n, d);
	snprintf(d, sizeof(d), "%s: byte-exact", what);
	tap_ok(x.got == x.n && memcmp(x.src, x.dst, x.n) == 0, d);
	free(x.src);
	free(x.dst);
	kw_tcp_close(x.c, p.now);
	kw_tcp_close(x.s, p.now);
	p.filter = NULL;
	link_mtu = 0;
	pair_fini(&p);
}

/* Every segment after the ICMP fits: count what is dropped after the
 * first answer. */
static unsigned drops_after_icmp;
static bool counting_filter(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			    const struct seginfo *si)
{
	bool drop = small_mtu_filter(p, from, seg, len, si);
	if (drop && icmps > 0 && from == 0)
		drops_after_icmp++;
	return drop;
}

static void test_segments_fit(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t buf[200000];
	size_t got = 0;
	ssize_t r;

	pair_init(&p, 1302);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "connected");
	link_mtu = 1000;
	icmps = 0;
	drops_after_icmp = 0;
	max_data_from0 = 0;
	p.filter = counting_filter;
	p.tap = size_tap;
	kw_tcp_send(c, buf, 100000, p.now);
	for (int i = 0; i < 2000 && got < 100000; i++) {
		pair_run_until(&p, p.now + MS(5));
		deliver_icmp(&p);
		while ((r = kw_tcp_recv(s, buf, sizeof(buf), p.now)) > 0)
			got += (size_t)r;
	}
	tap_is_u64(got, 100000, "MTU 1000: 100,000 bytes arrive");
	tap_is_u64(drops_after_icmp, 0, "after the first ICMP no segment is too large");
	max_data_from0 = 0;
	kw_tcp_send(c, buf, 50000, p.now);
	pair_run_until(&p, p.now + SEC(1));
	tap_is_u64(max_data_from0, 1000 - 40 - 12, "segments now carry 948 bytes (1000 - 40 - 12 of timestamps)");
	p.filter = NULL;
	link_mtu = 0;
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

/* ---- the checks on the message ------------------------------------------------ */

static struct seginfo last0;
static void last_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		     const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	if (from == 0)
		last0 = *si;
	if (from == 0 && si->dlen > max_data_from0)
		max_data_from0 = si->dlen;
}

static void frag_needed(struct tcp_pair *p, uint16_t lport, uint32_t seq, uint32_t mtu)
{
	uint8_t q[8] = { (uint8_t)(lport >> 8), (uint8_t)lport, 0, 80,
			 (uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8), (uint8_t)seq };
	kw_tcp_icmp_frag_needed(p->l[0], PAIR_ADDR0, PAIR_ADDR1, q, sizeof(q), mtu, p->now);
}

/* The largest segment c sends for 20,000 bytes. */
static size_t seg_size(struct tcp_pair *p, struct kw_tcp *c, struct kw_tcp *s)
{
	static char b[20000];
	size_t got = 0;
	ssize_t r;

	max_data_from0 = 0;
	kw_tcp_send(c, b, sizeof(b), p->now);
	pair_run_until(p, p->now + SEC(2));
	while ((r = kw_tcp_recv(s, b, sizeof(b), p->now)) > 0)
		got += (size_t)r;
	return got == sizeof(b) ? max_data_from0 : 0;
}

static void test_checks(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint32_t a, una;
	uint16_t lport;

	pair_init(&p, 1303);
	p.tap = last_tap;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "connected");
	kw_tcp_local(c, &a, &lport);
	tap_is_u64(seg_size(&p, c, s), 1448, "segments of 1448 bytes at first");
	una = last0.seq + (uint32_t)last0.dlen;     /* idle: SND.UNA = SND.NXT */
	frag_needed(&p, lport, una + 5000, 1000);
	tap_is_u64(seg_size(&p, c, s), 1448, "ICMP quoting a sequence number beyond SND.NXT: ignored");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport, una - 5000, 1000);
	tap_is_u64(seg_size(&p, c, s), 1448, "ICMP quoting a sequence number before SND.UNA: ignored");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport ^ 1, una, 1000);
	tap_is_u64(seg_size(&p, c, s), 1448, "ICMP for another port: ignored");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport, una, 1500);
	tap_is_u64(seg_size(&p, c, s), 1448, "next-hop MTU 1500 (not below the current): ignored");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport, una, 1200);
	tap_is_u64(seg_size(&p, c, s), 1200 - 52, "MTU 1200 quoting SND.UNA: segments of 1148 bytes");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport, una, 300);
	tap_is_u64(seg_size(&p, c, s), 552 - 52, "MTU 300: raised to Linux's floor 552, segments of 500 bytes");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport, una, 1000);
	tap_is_u64(seg_size(&p, c, s), 500, "a larger MTU later: ignored (PMTU only shrinks here)");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

/* ---- segmentation offload --------------------------------------------------------- */

#define GSO_MAX 64
static struct { size_t len; uint16_t gso; uint32_t seq; } gso_log[GSO_MAX];
static unsigned ngso;
static uint32_t gso_iss;

/* A next-hop MTU below 552, even 0 (a router older than RFC 1191), is
 * raised to 552 as Linux's __ip_rt_update_pmtu does. */
static void test_mtu_zero(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint32_t a, una;
	uint16_t lport;

	pair_init(&p, 1304);
	p.tap = last_tap;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "connected");
	kw_tcp_local(c, &a, &lport);
	tap_is_u64(seg_size(&p, c, s), 1448, "segments of 1448 bytes at first");
	una = last0.seq + (uint32_t)last0.dlen;
	frag_needed(&p, lport, una, 0);
	tap_is_u64(seg_size(&p, c, s), 552 - 52, "next-hop MTU 0: raised to 552 as Linux does");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static void off_output(void *ctx, uint32_t src, uint32_t dst, const void *seg, size_t len,
		       uint64_t now_ns)
{
	(void)ctx; (void)src; (void)dst; (void)seg; (void)len; (void)now_ns;
}

/* With ip_output_offload set every segment comes here. */
static void off_output_gso(void *ctx, uint32_t src, uint32_t dst, const void *seg, size_t len,
			   uint16_t gso_size, uint64_t now_ns)
{
	struct seginfo si;

	(void)ctx; (void)src; (void)dst; (void)now_ns;
	if (!pair_parse(seg, len, &si))
		return;
	if (si.flags & F_SYN)
		gso_iss = si.seq;
	if (si.dlen == 0 || ngso >= GSO_MAX)
		return;
	gso_log[ngso].len = si.dlen;
	gso_log[ngso].gso = gso_size;
	gso_log[ngso].seq = si.seq;
	ngso++;
}

static void test_gso(void)
{
	struct kw_tcp_env env = {
		.ip_output = off_output, .local_addr = PAIR_ADDR0, .mss = 1460, .seed = 77,
		.ip_output_offload = off_output_gso, .gso_max = 60000,
	};
	struct kw_tcp_layer *L = kw_tcp_layer_create(&env);
	struct kw_tcp *c;
	uint8_t b[64], q[8];
	uint64_t now = SEC(50);
	uint32_t a;
	uint16_t lport, ck;
	static char data[30000];
	unsigned before;

	kw_tcp_open(L, &c);
	kw_tcp_connect(c, PAIR_ADDR1, 7777, now);
	kw_tcp_local(c, &a, &lport);
	/* SYN-ACK with MSS 1460, window 65535, no other option. */
	memset(b, 0, sizeof(b));
	b[0] = 7777 >> 8; b[1] = 7777 & 0xff;
	b[2] = (uint8_t)(lport >> 8); b[3] = (uint8_t)lport;
	b[7] = 100;
	for (int i = 0; i < 4; i++)
		b[8 + i] = (uint8_t)((gso_iss + 1) >> (24 - 8 * i));
	b[12] = 6 << 4;
	b[13] = F_SYN | F_ACK;
	b[14] = b[15] = 0xff;
	b[20] = 2; b[21] = 4; b[22] = 1460 >> 8; b[23] = 1460 & 0xff;
	ck = kw_checksum(b, 24, kw_checksum_pseudo(PAIR_ADDR1, PAIR_ADDR0, 6, 24));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	now += MS(1);       /* RTT 1 ms: TSO autosizing allows the whole window in one frame */
	kw_tcp_input(L, PAIR_ADDR1, PAIR_ADDR0, b, 24, now);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED, "offload layer (gso_max 60000): ESTABLISHED");
	ngso = 0;
	kw_tcp_send(c, data, sizeof(data), now);
	tap_ok(ngso == 1 && gso_log[0].gso == 1460 && gso_log[0].len == 14600,
	       "the initial window leaves as one 14600-byte segment cut at 1460");
	before = ngso;
	memcpy(q, b + 2, 2);
	memcpy(q + 2, b, 2);
	for (int i = 0; i < 4; i++)
		q[4 + i] = (uint8_t)((gso_iss + 1) >> (24 - 8 * i));
	now += MS(1);
	kw_tcp_icmp_frag_needed(L, PAIR_ADDR0, PAIR_ADDR1, q, 8, 1000, now);
	tap_ok(ngso > before && gso_log[before].seq == gso_iss + 1,
	       "fragmentation needed: what was in flight goes again at once");
	tap_ok(ngso > before && gso_log[before].gso == 960 && gso_log[before].len % 960 == 0 &&
	       gso_log[before].len <= 14600,
	       "... as one offloaded segment cut at the new MSS (960 = 1000 - 40)");
	if (ngso > before)
		tap_diag("retransmission: %zu bytes, gso_size %u", gso_log[before].len, gso_log[before].gso);
	kw_tcp_abort(c, now);
	kw_tcp_layer_destroy(L);
}

int main(void)
{
	test_transfer(1000, 1301, "link MTU 1000, ICMP from the router");
	test_segments_fit();
	test_checks();
	test_mtu_zero();
	test_gso();
	return tap_done();
}
