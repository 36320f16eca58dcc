/* RACK-TLP (RFC 8985) over the fake-time pair (RTT 10 ms): a lost
 * retransmission is found by RACK about an RTT later, not by the RTO; a
 * lost last segment is resent by the tail-loss probe about 2 SRTT after
 * it was sent; a lost tail of several segments costs no RTO either.
 * Against a crafted peer with timestamps: a spurious RTO is undone
 * (Eifel) on the first ACK that echoes a TSval from before it. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <stdlib.h>
#include <string.h>

#define NSENT 8192
static struct {
	uint32_t base;
	uint32_t drop_off[8];           /* offsets to lose ... */
	unsigned drop_times[8];         /* ... this many transmissions of */
	unsigned ndrop;
	struct { uint32_t off; uint64_t at; } sent[NSENT];
	unsigned nsent;
	uint64_t last_at, max_gap;
	/* ACKs from the server lost in [ack_drop_from, ack_drop_to) */
	uint64_t ack_drop_from, ack_drop_to;
	/* the probe: segments the client sent in the instant of its first TLP */
	const struct kw_tcp *client;
	uint64_t probe_at;
	unsigned probe_segs;
	int sender;                     /* the endpoint that sends the data */
} w;

static unsigned copies(uint32_t off)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w.nsent; i++)
		n += w.sent[i].off == off;
	return n;
}

static uint64_t nth_at(uint32_t off, unsigned nth)
{
	for (unsigned i = 0; i < w.nsent; i++)
		if (w.sent[i].off == off && nth-- == 0)
			return w.sent[i].at;
	return 0;
}

static bool filter(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		   const struct seginfo *si)
{
	uint32_t off = si->seq - w.base;
	unsigned before;

	(void)seg; (void)len;
	if (from != w.sender)
		return si->dlen == 0 && p->now >= w.ack_drop_from && p->now < w.ack_drop_to;
	if (si->dlen == 0)
		return false;
	if (w.client && w.client->sb.tlp_probes == 1 && (w.probe_at == 0 || w.probe_at == p->now)) {
		w.probe_at = p->now;
		w.probe_segs++;
	}
	if (w.last_at && p->now - w.last_at > w.max_gap)
		w.max_gap = p->now - w.last_at;
	w.last_at = p->now;
	before = copies(off);
	if (w.nsent < NSENT) {
		w.sent[w.nsent].off = off;
		w.sent[w.nsent].at = p->now;
		w.nsent++;
	}
	for (unsigned i = 0; i < w.ndrop; i++)
		if (w.drop_off[i] == off && before < w.drop_times[i])
			return true;
	return false;
}

struct xfer {
	struct kw_tcp *c, *s;
	size_t total, sent, got;
	bool bad;
};

static bool drained(struct tcp_pair *p, void *arg)
{
	struct xfer *k = arg;
	uint8_t buf[16384];
	ssize_t n;

	while (k->sent < k->total) {
		size_t m = k->total - k->sent < sizeof(buf) ? k->total - k->sent : sizeof(buf);
		for (size_t i = 0; i < m; i++)
			buf[i] = (uint8_t)((k->sent + i) * 13 + 5);
		n = kw_tcp_send(k->c, buf, m, p->now);
		if (n <= 0)
			break;
		k->sent += (size_t)n;
	}
	while ((n = kw_tcp_recv(k->s, buf, sizeof(buf), p->now)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			k->bad |= buf[i] != (uint8_t)((k->got + (size_t)i) * 13 + 5);
		k->got += (size_t)n;
	}
	return k->got == k->total;
}

static bool setup(struct tcp_pair *p, struct xfer *k, uint64_t seed, size_t total)
{
	memset(&w, 0, sizeof(w));
	memset(k, 0, sizeof(*k));
	pair_init(p, seed);
	if (pair_connect(p, 80, &k->c, &k->s, NULL) != 0)
		return false;
	w.base = k->c->iss + 1;
	p->filter = filter;
	k->total = total;
	return true;
}

static void finish(struct tcp_pair *p, struct xfer *k)
{
	kw_tcp_abort(k->c, p->now);
	kw_tcp_abort(k->s, p->now);
	pair_fini(p);
}

/* Segment 30 of 200 is lost, and so is its first retransmission. */
static void test_lost_retransmission(void)
{
	struct tcp_pair p;
	struct xfer k;
	uint32_t off;
	bool ok;
	uint64_t t1, t2;

	tap_ok(setup(&p, &k, 4001, 200 * 1448), "connected");
	off = 30 * k.c->mss;
	w.drop_off[0] = off;
	w.drop_times[0] = 2;
	w.ndrop = 1;
	ok = pair_run_while_not(&p, drained, &k, p.now + SEC(60));
	tap_ok(ok && !k.bad, "lost retransmission: everything delivered, byte-exact");
	t1 = nth_at(off, 1);
	t2 = nth_at(off, 2);
	tap_diag("sent at +0, +%.1f ms, +%.1f ms; RACK losses %u, TLPs %u, RTOs %u, SRTT %.1f ms",
		 (double)(t1 - nth_at(off, 0)) / 1e6, (double)(t2 - nth_at(off, 0)) / 1e6,
		 k.c->sb.rack_losses, k.c->sb.tlp_probes, k.c->sb.rto_episodes, (double)k.c->srtt / 1e6);
	tap_ok(copies(off) == 3, "the segment went three times");
	tap_ok(k.c->sb.rto_episodes == 0, "no RTO: RACK found the lost retransmission");
	tap_ok(t1 && t2 && t2 - t1 <= MS(30), "... about one RTT after the retransmission (<= 30 ms, not 200+)");
	finish(&p, &k);
}

/* The last segment of a transfer is lost: the tail-loss probe. */
static void test_lost_last(void)
{
	struct tcp_pair p;
	struct xfer k;
	uint32_t off;
	bool ok;
	uint64_t t0, t1;

	tap_ok(setup(&p, &k, 4002, 50 * 1448), "connected");
	off = 49 * k.c->mss;
	w.drop_off[0] = off;
	w.drop_times[0] = 1;
	w.ndrop = 1;
	ok = pair_run_while_not(&p, drained, &k, p.now + SEC(60));
	tap_ok(ok && !k.bad, "lost last segment: everything delivered, byte-exact");
	t0 = nth_at(off, 0);
	t1 = nth_at(off, 1);
	tap_diag("resent %.1f ms after it was sent (SRTT %.1f ms); TLPs %u, RTOs %u",
		 (double)(t1 - t0) / 1e6, (double)k.c->srtt / 1e6, k.c->sb.tlp_probes, k.c->sb.rto_episodes);
	tap_ok(k.c->sb.tlp_probes >= 1 && k.c->sb.rto_episodes == 0, "a loss probe, no RTO");
	/* When the ACK for the rest arrives only this segment is out, and
	 * for a lone segment Linux's PTO is 2 SRTT + 200 ms (the peer's
	 * worst-case delayed ACK), at most the RTO: the probe goes in the
	 * RTO's place, and its ACK comes without the RTO's cwnd collapse. */
	tap_ok(t1 && t1 - t0 <= 2 * k.c->srtt + MS(200) + MS(12),
	       "resent by the probe within 2 SRTT + 200 ms (+ one RTT for the ACK that left it "
	       "alone) of being sent, as Linux");
	finish(&p, &k);
}

/* The last segment and the probe that resends it are lost. Linux sends
 * one probe per episode and the RTO, restarted by the probe, resends it
 * next; so do we (a second probe is sent only before the RTO's time,
 * which a lone segment's PTO of 2 SRTT + 200 ms never is). */
static void test_lost_probe(void)
{
	struct tcp_pair p;
	struct xfer k;
	uint32_t off;
	bool ok;

	tap_ok(setup(&p, &k, 4005, 50 * 1448), "connected");
	off = 49 * k.c->mss;
	w.drop_off[0] = off;
	w.drop_times[0] = 2;
	w.ndrop = 1;
	ok = pair_run_while_not(&p, drained, &k, p.now + SEC(60));
	tap_ok(ok && !k.bad, "lost last segment and lost probe: everything delivered, byte-exact");
	tap_diag("sent at +0, +%.1f ms, +%.1f ms; TLPs %u, RTOs %u",
		 (double)(nth_at(off, 1) - nth_at(off, 0)) / 1e6, (double)(nth_at(off, 2) - nth_at(off, 0)) / 1e6,
		 k.c->sb.tlp_probes, k.c->sb.rto_episodes);
	tap_ok(k.c->sb.tlp_probes == 1 && k.c->sb.rto_episodes == 1,
	       "one probe, then the RTO (Linux: one probe per episode)");
	finish(&p, &k);
}

/* Mid-transfer, the ACKs for a whole flight are lost: the probe is two
 * new segments, which a receiver that delays ACKs answers at once (one
 * it would answer only after its delayed-ACK timer). */
static void test_probe_two_segments(void)
{
	struct tcp_pair p;
	struct xfer k;
	bool ok;

	/* The server sends, with 4 MiB buffers both ends: the window does
	 * not limit the probe. */
	memset(&w, 0, sizeof(w));
	memset(&k, 0, sizeof(k));
	pair_init(&p, 4006);
	p.client_rcvbuf = 4 << 20;
	tap_ok(pair_connect(&p, 80, &k.s, &k.c, NULL) == 0, "connected");
	kw_tcp_set_buffers(k.c, 4 << 20, 0);
	k.c->ssthresh = 40 * 1448;      /* cwnd-limited: data waits to go */
	w.sender = 1;
	w.base = k.c->iss + 1;
	p.filter = filter;
	k.total = 20000 * 1448;
	w.client = k.c;
	w.ack_drop_from = p.now + MS(100);
	w.ack_drop_to = p.now + MS(112);
	ok = pair_run_while_not(&p, drained, &k, p.now + SEC(60));
	tap_ok(ok && !k.bad, "ACKs of a flight lost: everything delivered, byte-exact");
	tap_diag("first probe: %u segments; TLPs %u, RTOs %u, longest pause %.1f ms", w.probe_segs,
		 k.c->sb.tlp_probes, k.c->sb.rto_episodes, (double)w.max_gap / 1e6);
	tap_ok(w.probe_segs == 2, "the probe is two new segments");
	tap_ok(k.c->sb.rto_episodes == 0 && w.max_gap < MS(40),
	       "... answered at once: no RTO, no pause as long as a delayed ACK (40 ms)");
	finish(&p, &k);
}

/* The last five segments are lost. */
static void test_lost_tail(void)
{
	struct tcp_pair p;
	struct xfer k;
	bool ok;

	tap_ok(setup(&p, &k, 4003, 60 * 1448), "connected");
	for (unsigned i = 0; i < 5; i++) {
		w.drop_off[i] = (55 + i) * k.c->mss;
		w.drop_times[i] = 1;
	}
	w.ndrop = 5;
	ok = pair_run_while_not(&p, drained, &k, p.now + SEC(60));
	tap_ok(ok && !k.bad, "five lost at the tail: everything delivered, byte-exact");
	tap_diag("TLPs %u, RACK losses %u, RTOs %u, longest pause %.1f ms", k.c->sb.tlp_probes,
		 k.c->sb.rack_losses, k.c->sb.rto_episodes, (double)w.max_gap / 1e6);
	tap_ok(k.c->sb.rto_episodes == 0 && w.max_gap < MS(100), "the probe and RACK recover them, no RTO");
	finish(&p, &k);
}

/* ---- a spurious RTO, against a crafted peer ----------------------------- */

static uint32_t o_iss, o_tsval;
static unsigned o_data;

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void o_output(void *ctx, uint32_t src, uint32_t dst, const void *seg, size_t len,
		     uint64_t now_ns)
{
	struct seginfo si;
	const uint8_t *s = seg;

	(void)ctx; (void)src; (void)dst; (void)now_ns;
	if (!pair_parse(seg, len, &si))
		return;
	if (si.flags & F_SYN)
		o_iss = si.seq;
	if (si.dlen > 0) {
		o_data++;
		for (size_t i = 20; i + 10 <= si.hlen; i++)
			if (s[i] == 8 && s[i + 1] == 10) {
				if (o_data == 1)
					o_tsval = g32(s + i + 2);   /* the original's */
				break;
			}
	}
}

static void o_send(struct kw_tcp_layer *L, uint16_t lport, uint8_t flags, uint32_t seq, uint32_t ack,
		   const uint8_t *opt, size_t optlen, uint64_t now)
{
	uint8_t b[80];
	size_t len = 20 + optlen;
	uint16_t ck;

	memset(b, 0, sizeof(b));
	b[0] = 7777 >> 8; b[1] = 7777 & 0xff;
	b[2] = (uint8_t)(lport >> 8); b[3] = (uint8_t)lport;
	put32(b + 4, seq);
	put32(b + 8, ack);
	b[12] = (uint8_t)((len / 4) << 4);
	b[13] = flags;
	b[14] = b[15] = 0xff;
	memcpy(b + 20, opt, optlen);
	ck = kw_checksum(b, len, kw_checksum_pseudo(PAIR_ADDR1, PAIR_ADDR0, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(L, PAIR_ADDR1, PAIR_ADDR0, b, len, now);
}

static void test_spurious_rto(void)
{
	struct kw_tcp_env env = {
		.ip_output = o_output, .local_addr = PAIR_ADDR0, .mss = 1460, .seed = 4004,
	};
	struct kw_tcp_layer *L = kw_tcp_layer_create(&env);
	struct kw_tcp *c;
	uint64_t now = SEC(70);
	uint8_t opt[20];
	uint32_t a, cwnd0, ssth0;
	uint16_t lport;
	static uint8_t data[20 * 1448];

	kw_tcp_open(L, &c);
	kw_tcp_connect(c, PAIR_ADDR1, 7777, now);
	kw_tcp_local(c, &a, &lport);
	now += MS(10);
	/* SYN-ACK: MSS, SACK-permitted, timestamps (echo 0 is fine here). */
	memset(opt, 0, sizeof(opt));
	opt[0] = 2; opt[1] = 4; opt[2] = 1460 >> 8; opt[3] = 1460 & 0xff;
	opt[4] = 4; opt[5] = 2; opt[6] = 8; opt[7] = 10;
	put32(opt + 8, 5000);
	put32(opt + 12, 0);
	opt[16] = 1; opt[17] = 1; opt[18] = 1; opt[19] = 1;
	o_send(L, lport, F_SYN | F_ACK, 100, o_iss + 1, opt, 20, now);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && c->sack_ok && c->ts_ok,
	       "crafted peer: SACK and timestamps agreed");
	c->ssthresh = 8 * 1448;             /* out of slow start: a known cwnd */
	kw_tcp_send(c, data, sizeof(data), now);
	cwnd0 = c->cwnd;
	ssth0 = c->ssthresh;
	/* No ACK: the RTO fires. */
	now = kw_tcp_layer_next_deadline(L);
	while (c->sb.rto_episodes == 0 && now < SEC(80)) {
		kw_tcp_layer_poll(L, now);
		now = kw_tcp_layer_next_deadline(L);
	}
	tap_ok(c->sb.rto_episodes == 1 && c->cwnd == c->mss, "the RTO fired: cwnd 1 MSS");
	/* The ACK for the original transmissions: its TSecr is theirs. */
	now = c->rtx_at - MS(1);
	opt[0] = 1; opt[1] = 1; opt[2] = 8; opt[3] = 10;
	put32(opt + 4, 5001);
	put32(opt + 8, o_tsval);
	o_send(L, lport, F_ACK, 101, o_iss + 1 + 4 * 1448, opt, 12, now);
	tap_diag("cwnd %u -> %u after the undo (ssthresh %u -> %u), undos %u", cwnd0, c->cwnd, ssth0,
		 c->ssthresh, c->sb.undos);
	tap_ok(c->sb.undos == 1, "an ACK echoing a TSval from before the RTO: spurious, undone");
	tap_ok(c->cwnd >= cwnd0 && c->ssthresh >= ssth0, "... cwnd and ssthresh are back");
	kw_tcp_abort(c, now);
	kw_tcp_layer_destroy(L);
}

int main(void)
{
	test_lost_retransmission();
	test_lost_last();
	test_lost_probe();
	test_probe_two_segments();
	test_lost_tail();
	test_spurious_rto();
	return tap_done();
}
