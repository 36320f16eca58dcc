/* Bounds against hostile or broken peers (issue 12), with crafted
 * segments against one layer (the other end is the test):
 *   - the MSS option: 0, 1, 11, 12, 88, 65535 or none, with and without
 *     timestamps, on a SYN-ACK (active open) and a SYN (passive open):
 *     data segments are what Linux sends (min(MSS, 1460) raised to 48,
 *     then 12 less with timestamps), never a wrapped MSS;
 *   - RFC 5961 §7: 5,000 in-window RSTs (or SYNs) in one second draw at
 *     most 1,500 challenge ACKs (Linux's 1000 a second, randomized);
 *   - RFC 6298 (5.7): after a retransmitted SYN or SYN-ACK and no RTT
 *     sample, the first data RTO is 3 s. */
#include "stack/checksum.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PEER_ISN 1000u

/* ---- what layer 0 sends ---------------------------------------------------- */

static struct seginfo syn0;             /* its last SYN or SYN-ACK */
static uint32_t syn0_tsval;
static uint64_t syn_times[8];
static unsigned nsyn;
static size_t max_dlen;
static unsigned n_acks, n_data;
static uint64_t data_times[8];
static uint32_t data_seq[8];

static uint32_t tsval_of(const uint8_t *seg, const struct seginfo *si)
{
	for (size_t i = 20; i + 1 < si->hlen;) {
		uint8_t kind = seg[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (kind == 8 && i + 10 <= si->hlen)
			return (uint32_t)seg[i + 2] << 24 | (uint32_t)seg[i + 3] << 16 |
			       (uint32_t)seg[i + 4] << 8 | seg[i + 5];
		if (seg[i + 1] < 2)
			break;
		i += seg[i + 1];
	}
	return 0;
}

static void tap0(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		 const struct seginfo *si)
{
	(void)len;
	if (from != 0)
		return;
	if (si->flags & F_SYN) {
		syn0 = *si;
		syn0_tsval = tsval_of(seg, si);
		if (nsyn < 8)
			syn_times[nsyn] = p->now;
		nsyn++;
		return;
	}
	if (si->dlen > max_dlen)
		max_dlen = si->dlen;
	if (si->dlen > 0) {
		if (n_data < 8) {
			data_times[n_data] = p->now;
			data_seq[n_data] = si->seq;
		}
		n_data++;
	} else if (si->flags == F_ACK) {
		n_acks++;
	}
}

static void reset_tap(void)
{
	nsyn = 0;
	max_dlen = 0;
	n_acks = n_data = 0;
}

/* ---- crafted segments with options ------------------------------------------ */

/* A segment to layer 0 from 10.0.0.2 with an MSS option (mss >= 0) and
 * timestamps (ts) before the data. */
static void inject_opt(struct tcp_pair *p, uint16_t sport, uint16_t dport, uint32_t seq,
		       uint32_t ack, uint8_t flags, int mss, bool ts, uint32_t tsval,
		       uint32_t tsecr, const void *data, size_t dlen)
{
	uint8_t b[2048];
	size_t o = 20, len;
	uint16_t ck;

	memset(b, 0, 60);
	if (mss >= 0) {
		b[o++] = 2;
		b[o++] = 4;
		b[o++] = (uint8_t)(mss >> 8);
		b[o++] = (uint8_t)mss;
	}
	if (ts) {
		b[o++] = 1;
		b[o++] = 1;
		b[o++] = 8;
		b[o++] = 10;
		for (int i = 0; i < 4; i++) {
			b[o + i] = (uint8_t)(tsval >> (24 - 8 * i));
			b[o + 4 + i] = (uint8_t)(tsecr >> (24 - 8 * i));
		}
		o += 8;
	}
	b[0] = (uint8_t)(sport >> 8); b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8); b[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[12] = (uint8_t)((o / 4) << 4);
	b[13] = flags;
	b[14] = 0xff;
	b[15] = 0xff;
	if (dlen)
		memcpy(b + o, data, dlen);
	len = o + dlen;
	ck = kw_checksum(b, len, kw_checksum_pseudo(PAIR_ADDR1, PAIR_ADDR0, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(p->l[0], PAIR_ADDR1, PAIR_ADDR0, b, len, p->now);
}

/* Layer 0 connects to a crafted peer (port 7777) that answers with a
 * SYN-ACK carrying the given options. The link is down. */
static struct kw_tcp *active_open(struct tcp_pair *p, int mss, bool ts, uint16_t *lport)
{
	struct kw_tcp *c;

	p->down = true;
	p->tap = tap0;
	reset_tap();
	kw_tcp_open(p->l[0], &c);
	kw_tcp_connect(c, PAIR_ADDR1, 7777, p->now);
	*lport = syn0.sport;
	inject_opt(p, 7777, *lport, PEER_ISN, syn0.seq + 1, F_SYN | F_ACK, mss, ts, 5, syn0_tsval,
		   NULL, 0);
	return c;
}

/* A crafted peer (port 5555) connects to a listener on layer 0 port 80
 * with a SYN carrying the given options. */
static struct kw_tcp *passive_open(struct tcp_pair *p, int mss, bool ts, struct kw_tcp **lst)
{
	struct kw_tcp *s = NULL;

	p->down = true;
	p->tap = tap0;
	reset_tap();
	kw_tcp_open(p->l[0], lst);
	kw_tcp_bind(*lst, 0, 80);
	kw_tcp_listen(*lst, 8);
	inject_opt(p, 5555, 80, PEER_ISN, 0, F_SYN, mss, ts, 5, 0, NULL, 0);
	inject_opt(p, 5555, 80, PEER_ISN + 1, syn0.seq + 1, F_ACK, -1, ts, 6, syn0_tsval, NULL, 0);
	if (kw_tcp_accept(*lst, &s) < 0)
		return NULL;
	return s;
}

/* ---- MSS ----------------------------------------------------------------------- */

static size_t largest_data_segment(struct tcp_pair *p, struct kw_tcp *c)
{
	static char big[20000];

	kw_tcp_set_nodelay(c, true);
	max_dlen = 0;
	kw_tcp_send(c, big, sizeof(big), p->now);
	pair_run_until(p, p->now + MS(10));
	return max_dlen;
}

static void test_mss(void)
{
	static const struct { int mss; size_t want, want_ts; } cases[] = {
		{ 1, 48, 36 }, { 11, 48, 36 }, { 12, 48, 36 }, { 88, 88, 76 },
		{ 536, 536, 524 }, { 65535, 1460, 1448 }, { 0, 536, 524 }, { -1, 536, 524 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int ts = 0; ts < 2; ts++) {
			for (int passive = 0; passive < 2; passive++) {
				struct tcp_pair p;
				struct kw_tcp *c, *l = NULL;
				uint16_t lport;
				size_t got, want = ts ? cases[i].want_ts : cases[i].want;
				char d[160];

				pair_init(&p, 1200 + i);
				c = passive ? passive_open(&p, cases[i].mss, ts, &l)
					    : active_open(&p, cases[i].mss, ts, &lport);
				got = c && kw_tcp_state(c) == KW_TCP_ESTABLISHED ? largest_data_segment(&p, c) : 0;
				if (cases[i].mss >= 0)
					snprintf(d, sizeof(d), "%s MSS %d, %s: data segments of %zu bytes",
						 passive ? "SYN" : "SYN-ACK", cases[i].mss,
						 ts ? "timestamps" : "no timestamps", want);
				else
					snprintf(d, sizeof(d), "%s without MSS, %s: data segments of %zu bytes",
						 passive ? "SYN" : "SYN-ACK",
						 ts ? "timestamps" : "no timestamps", want);
				tap_is_u64(got, want, d);
				if (c)
					kw_tcp_abort(c, p.now);
				if (l)
					kw_tcp_close(l, p.now);
				pair_fini(&p);
			}
		}
	}
}

/* ---- challenge ACKs ------------------------------------------------------------- */

static void test_challenge_ack_limit(void)
{
	struct tcp_pair p;
	struct kw_tcp *c;
	uint16_t lport;
	uint32_t rcv_nxt = PEER_ISN + 1;
	unsigned got;
	struct kw_tcp_stats st;

	pair_init(&p, 1250);
	c = active_open(&p, 1460, false, &lport);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED, "challenge ACKs: raw peer, ESTABLISHED");
	n_acks = 0;
	for (unsigned i = 0; i < 5000; i++)
		pair_inject(&p, 0, 7777, lport, rcv_nxt + 1 + i % 60000, 0, F_RST, 0, NULL, 0);
	got = n_acks;
	tap_diag("5000 in-window RSTs in one instant: %u challenge ACKs", got);
	tap_ok(got >= 500 && got <= 1500,
	       "5000 in-window RSTs in one second: 500..1500 challenge ACKs (1000/s, randomized)");
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED, "... and the connection stands");
	/* Later in the same second: nothing more. */
	p.now += MS(900);
	n_acks = 0;
	for (unsigned i = 0; i < 2000; i++)
		pair_inject(&p, 0, 7777, lport, rcv_nxt + 1 + i, 0, F_RST, 0, NULL, 0);
	tap_ok(n_acks + got <= 1500, "the rest of that second adds no more than the allowance");
	/* The next second: a new allowance, SYNs count too. */
	p.now += SEC(1);
	n_acks = 0;
	for (unsigned i = 0; i < 5000; i++)
		pair_inject(&p, 0, 7777, lport, rcv_nxt, 0, F_SYN, 65535, NULL, 0);
	tap_diag("5000 SYNs the next second: %u challenge ACKs", n_acks);
	tap_ok(n_acks >= 500 && n_acks <= 1500, "5000 SYNs the next second: 500..1500 challenge ACKs");
	p.now += SEC(1);
	n_acks = 0;
	pair_inject(&p, 0, 7777, lport, rcv_nxt + 1, 0, F_RST, 0, NULL, 0);
	tap_is_u64(n_acks, 1, "a lone in-window RST later still draws its challenge ACK");
	pair_inject(&p, 0, 7777, lport, rcv_nxt, 0, F_RST, 0, NULL, 0);
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(kw_tcp_state(c) == KW_TCP_CLOSED && st.rst_in == 1, "the exact RST still resets");
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

/* ---- RFC 6298 (5.7) ------------------------------------------------------------- */

/* The time from the first transmission of the first data segment to its
 * first retransmission. */
static uint64_t first_data_rto(struct tcp_pair *p, struct kw_tcp *c)
{
	n_data = 0;
	kw_tcp_send(c, "hello", 5, p->now);
	pair_run_until(p, p->now + SEC(10));
	if (n_data < 2 || data_seq[0] != data_seq[1])
		return 0;
	return data_times[1] - data_times[0];
}

static void test_rto_fallback(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *l;
	uint64_t t0, rto;

	/* Active open: SYN lost, retransmitted at 1 s, answered without
	 * timestamps (Karn: no sample). */
	pair_init(&p, 1260);
	p.down = true;
	p.tap = tap0;
	reset_tap();
	kw_tcp_open(p.l[0], &c);
	t0 = p.now;
	kw_tcp_connect(c, PAIR_ADDR1, 7777, p.now);
	pair_run_until(&p, t0 + SEC(1) + MS(50));
	tap_ok(nsyn == 2 && syn_times[1] - t0 == SEC(1), "SYN lost, retransmitted after 1 s");
	inject_opt(&p, 7777, syn0.sport, PEER_ISN, syn0.seq + 1, F_SYN | F_ACK, 1460, false, 0, 0, NULL, 0);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED, "SYN-ACK without timestamps: ESTABLISHED");
	rto = first_data_rto(&p, c);
	tap_diag("first data RTO %.3f s", (double)rto / 1e9);
	tap_is_u64(rto, SEC(3), "no RTT sample from the handshake: first data RTO 3 s (RFC 6298 5.7)");
	kw_tcp_abort(c, p.now);
	pair_fini(&p);

	/* The same with timestamps: the echo gives a sample (50 ms), and
	 * the RTO comes from it. */
	pair_init(&p, 1261);
	p.down = true;
	p.tap = tap0;
	reset_tap();
	kw_tcp_open(p.l[0], &c);
	t0 = p.now;
	kw_tcp_connect(c, PAIR_ADDR1, 7777, p.now);
	pair_run_until(&p, t0 + SEC(1) + MS(50));
	inject_opt(&p, 7777, syn0.sport, PEER_ISN, syn0.seq + 1, F_SYN | F_ACK, 1460, true, 9,
		   syn0_tsval, NULL, 0);
	rto = first_data_rto(&p, c);
	tap_is_u64(rto, MS(200), "with a timestamp echo of the retransmitted SYN: RTO from the sample (200 ms floor)");
	kw_tcp_abort(c, p.now);
	pair_fini(&p);

	/* Passive open: SYN-ACK lost, retransmitted, the ACK carries no
	 * timestamps. */
	pair_init(&p, 1262);
	p.down = true;
	p.tap = tap0;
	reset_tap();
	kw_tcp_open(p.l[0], &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 8);
	t0 = p.now;
	inject_opt(&p, 5555, 80, PEER_ISN, 0, F_SYN, 1460, false, 0, 0, NULL, 0);
	pair_run_until(&p, t0 + SEC(1) + MS(50));
	tap_ok(nsyn == 2 && syn_times[1] - t0 == SEC(1), "SYN-ACK lost, retransmitted after 1 s");
	inject_opt(&p, 5555, 80, PEER_ISN + 1, syn0.seq + 1, F_ACK, -1, false, 0, 0, NULL, 0);
	c = NULL;
	tap_ok(kw_tcp_accept(l, &c) == 0, "the ACK completes the handshake");
	rto = c ? first_data_rto(&p, c) : 0;
	tap_is_u64(rto, SEC(3), "passive open, no RTT sample: first data RTO 3 s");
	if (c)
		kw_tcp_abort(c, p.now);
	kw_tcp_close(l, p.now);
	pair_fini(&p);

	/* No retransmission: Karn's sample from the handshake (100 ms). */
	pair_init(&p, 1263);
	p.down = true;
	p.tap = tap0;
	reset_tap();
	kw_tcp_open(p.l[0], &c);
	kw_tcp_connect(c, PAIR_ADDR1, 7777, p.now);
	p.now += MS(100);
	inject_opt(&p, 7777, syn0.sport, PEER_ISN, syn0.seq + 1, F_SYN | F_ACK, 1460, false, 0, 0, NULL, 0);
	rto = first_data_rto(&p, c);
	tap_is_u64(rto, MS(300), "no retransmission: RTO from the handshake's sample (100 ms -> 300 ms)");
	kw_tcp_abort(c, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_mss();
	test_challenge_ack_limit();
	test_rto_fallback();
	return tap_done();
}
