/* SACK, sender side (issue 10): the scoreboard and RFC 6675 recovery.
 * Over the fake-time pair: one lost segment, and three lost in one
 * window, are each sent again exactly once (nothing the peer holds goes
 * again), with no RTO. Against a crafted peer with segmentation offload:
 * retransmitted TSO frames stop at SACKed bytes, recovery sets cwnd =
 * ssthresh = FlightSize / 2, junk blocks are ignored, a D-SACK is
 * recognised, and the scoreboard stays within TCP_SB_MAX entries. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <stdlib.h>
#include <string.h>

/* ---- over the pair ---------------------------------------------------- */

#define NSENT 4096
static struct {
	uint32_t base;                  /* client's ISS + 1 */
	uint32_t drop[8];               /* offsets whose first copy is lost */
	unsigned ndrop;
	uint32_t seen_off[NSENT];       /* every data segment the client sent */
	unsigned nseen;
	uint64_t last_at, max_gap;      /* between data segments of the client */
} w;

static bool drop_first(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		       const struct seginfo *si)
{
	uint32_t off = si->seq - w.base;

	(void)seg; (void)len;
	if (from != 0 || si->dlen == 0)
		return false;
	if (w.last_at && p->now - w.last_at > w.max_gap)
		w.max_gap = p->now - w.last_at;
	w.last_at = p->now;
	for (unsigned i = 0; i < w.nseen; i++)
		if (w.seen_off[i] == off)
			goto seen;
	for (unsigned i = 0; i < w.ndrop; i++)
		if (w.drop[i] == off) {
			if (w.nseen < NSENT)
				w.seen_off[w.nseen++] = off;
			return true;
		}
seen:
	if (w.nseen < NSENT)
		w.seen_off[w.nseen++] = off;
	return false;
}

struct sink {
	struct kw_tcp *c, *s;
	size_t total, sent, got;
	bool bad;
};

static bool drained(struct tcp_pair *p, void *arg)
{
	struct sink *k = arg;
	uint8_t buf[16384];
	ssize_t n;

	while (k->sent < k->total) {
		size_t m = k->total - k->sent < sizeof(buf) ? k->total - k->sent : sizeof(buf);
		for (size_t i = 0; i < m; i++)
			buf[i] = (uint8_t)((k->sent + i) * 7 + 1);
		n = kw_tcp_send(k->c, buf, m, p->now);
		if (n <= 0)
			break;
		k->sent += (size_t)n;
	}
	while ((n = kw_tcp_recv(k->s, buf, sizeof(buf), p->now)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			k->bad |= buf[i] != (uint8_t)((k->got + (size_t)i) * 7 + 1);
		k->got += (size_t)n;
	}
	return k->got == k->total;
}

static unsigned copies(uint32_t off)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w.nseen; i++)
		n += w.seen_off[i] == off;
	return n;
}

static uint64_t clean_ns;

static void run_drops(const char *name, uint64_t seed, const uint32_t *segs, unsigned nseg)
{
	struct tcp_pair p;
	struct sink k;
	struct kw_tcp_stats st;
	uint64_t t0;
	unsigned twice = 0;
	bool ok, each = true;
	char d[200];

	memset(&w, 0, sizeof(w));
	memset(&k, 0, sizeof(k));
	pair_init(&p, seed);
	tap_ok(pair_connect(&p, 80, &k.c, &k.s, NULL) == 0, "connected");
	tap_ok(k.c->sack_ok && k.s->sack_ok, "SACK agreed");
	w.base = k.c->iss + 1;
	for (unsigned i = 0; i < nseg; i++)
		w.drop[w.ndrop++] = segs[i] * k.c->mss;
	p.filter = drop_first;
	k.total = 400000;
	t0 = p.now;
	ok = pair_run_while_not(&p, drained, &k, p.now + SEC(60));
	kw_tcp_layer_stats(p.l[0], &st);
	snprintf(d, sizeof(d), "%s: 400000 bytes delivered, byte-exact", name);
	tap_ok(ok && !k.bad, d);
	for (unsigned i = 0; i < w.ndrop; i++)
		each &= copies(w.drop[i]) == 2;
	for (unsigned i = 0; i < w.nseen; i++)
		twice += copies(w.seen_off[i]) > 1;
	snprintf(d, sizeof(d), "%s: each lost segment sent exactly twice", name);
	tap_ok(each, d);
	snprintf(d, sizeof(d), "%s: nothing else sent again (%llu retransmissions)", name,
		 (unsigned long long)st.retransmits);
	tap_ok(st.retransmits == nseg && twice == 2 * nseg, d);
	(void)drop_first;
	if (nseg == 0) {
		clean_ns = p.now - t0;
		tap_diag("no loss: %.1f ms", (double)clean_ns / 1e6);
	} else {
		snprintf(d, sizeof(d), "%s: no RTO, the sender never stalls (longest pause %.1f ms, RTT 10 ms)",
			 name, (double)w.max_gap / 1e6);
		tap_ok(k.c->sb.rto_episodes == 0 && w.max_gap < MS(20), d);
		tap_diag("%s: %.1f ms, no loss %.1f ms (cwnd halved once)", name,
			 (double)(p.now - t0) / 1e6, (double)clean_ns / 1e6);
	}
	kw_tcp_abort(k.c, p.now);
	kw_tcp_abort(k.s, p.now);
	pair_fini(&p);
}

/* ---- against a crafted peer, with offload ----------------------------- */

#define NFR 512
static struct { uint32_t off, len; uint16_t gso; } fr[NFR];
static unsigned nfr;
static uint32_t off_iss;

static void off_output(void *ctx, uint32_t src, uint32_t dst, const void *seg, size_t len,
		       uint64_t now_ns)
{
	(void)ctx; (void)src; (void)dst; (void)seg; (void)len; (void)now_ns;
}

static void off_output_gso(void *ctx, uint32_t src, uint32_t dst, const void *seg, size_t len,
			   uint16_t gso_size, uint64_t now_ns)
{
	struct seginfo si;

	(void)ctx; (void)src; (void)dst; (void)now_ns;
	if (!pair_parse(seg, len, &si))
		return;
	if (si.flags & F_SYN) {
		off_iss = si.seq;
		return;
	}
	if (si.dlen == 0 || nfr >= NFR)
		return;
	fr[nfr].off = si.seq - off_iss - 1;
	fr[nfr].len = (uint32_t)si.dlen;
	fr[nfr].gso = gso_size;
	nfr++;
}

struct peer {
	struct kw_tcp_layer *L;
	struct kw_tcp *c;
	uint16_t lport;
	uint64_t now;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* A segment from the peer (seq 101 on) with options. */
static void peer_send(struct peer *P, uint8_t flags, uint32_t seq, uint32_t ack,
		      const uint8_t *opt, size_t optlen)
{
	uint8_t b[80];
	size_t len = 20 + optlen;
	uint16_t ck;

	memset(b, 0, sizeof(b));
	b[0] = 7777 >> 8; b[1] = 7777 & 0xff;
	b[2] = (uint8_t)(P->lport >> 8); b[3] = (uint8_t)P->lport;
	put32(b + 4, seq);
	put32(b + 8, ack);
	b[12] = (uint8_t)((len / 4) << 4);
	b[13] = flags;
	b[14] = b[15] = 0xff;
	memcpy(b + 20, opt, optlen);
	ck = kw_checksum(b, len, kw_checksum_pseudo(PAIR_ADDR1, PAIR_ADDR0, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(P->L, PAIR_ADDR1, PAIR_ADDR0, b, len, P->now);
}

/* An ACK of offset `ack` with SACK blocks (offsets, pairs). */
static void peer_ack(struct peer *P, uint32_t ack, const uint32_t *blk, unsigned nblk)
{
	uint8_t o[40];
	size_t n = 0;

	if (nblk) {
		o[n++] = 1; o[n++] = 1; o[n++] = 5; o[n++] = (uint8_t)(2 + 8 * nblk);
		for (unsigned i = 0; i < nblk; i++) {
			put32(o + n, off_iss + 1 + blk[2 * i]);
			put32(o + n + 4, off_iss + 1 + blk[2 * i + 1]);
			n += 8;
		}
	}
	P->now += MS(1);
	peer_send(P, F_ACK, 102, off_iss + 1 + ack, o, n);
}

static void peer_setup_rtt(struct peer *P, uint32_t gso_max, uint64_t seed, uint64_t rtt)
{
	struct kw_tcp_env env = {
		.ip_output = off_output, .local_addr = PAIR_ADDR0, .mss = 1460, .seed = seed,
		.ip_output_offload = off_output_gso, .gso_max = gso_max,
	};
	/* SYN-ACK: MSS 1460, SACK-permitted, window scale 7, no timestamps. */
	static const uint8_t synack[] = { 2, 4, 1460 >> 8, 1460 & 0xff, 1, 1, 4, 2, 1, 3, 3, 7 };
	uint32_t a;

	memset(P, 0, sizeof(*P));
	P->L = kw_tcp_layer_create(&env);
	P->now = SEC(50);
	kw_tcp_open(P->L, &P->c);
	kw_tcp_set_buffers(P->c, 4 << 20, 0);
	kw_tcp_connect(P->c, PAIR_ADDR1, 7777, P->now);
	kw_tcp_local(P->c, &a, &P->lport);
	P->now += rtt;
	peer_send(P, F_SYN | F_ACK, 101, off_iss + 1, synack, sizeof(synack));
	peer_ack(P, 0, NULL, 0);            /* the window, scaled now */
	nfr = 0;
}

/* RTT 1 ms: TSO frames as large as cwnd allows. */
static void peer_setup(struct peer *P, uint32_t gso_max, uint64_t seed)
{
	peer_setup_rtt(P, gso_max, seed, MS(1));
}

static void peer_fini(struct peer *P)
{
	kw_tcp_abort(P->c, P->now);
	kw_tcp_layer_destroy(P->L);
}

/* Do frames [from, nfr) cover exactly [s, e) without touching others? */
static bool frames_cover(unsigned from, const uint32_t *want, unsigned nwant)
{
	static uint8_t map[256];            /* per 1460-byte segment */
	bool ok = true;

	memset(map, 0, sizeof(map));
	for (unsigned i = from; i < nfr; i++)
		for (uint32_t o = fr[i].off; o < fr[i].off + fr[i].len; o += 1460)
			map[o / 1460]++;
	for (unsigned s = 0; s < 256; s++) {
		unsigned in = 0;
		for (unsigned i = 0; i < nwant; i++)
			in |= s * 1460 >= want[2 * i] && s * 1460 < want[2 * i + 1];
		if (map[s] != in) {
			tap_diag("segment %u (offset %u): sent %u times, want %u", s, s * 1460, map[s], in);
			ok = false;
		}
	}
	return ok;
}

static void test_offload_holes(void)
{
	struct peer P;
	static uint8_t data[40 * 1460];
	unsigned before;
	uint32_t b1[] = { 5 * 1460, 40 * 1460 };
	uint32_t h1[] = { 0, 5 * 1460 };
	uint32_t b2[] = { 2 * 1460, 5 * 1460, 8 * 1460, 40 * 1460 };
	uint32_t h2[] = { 0, 2 * 1460, 5 * 1460, 8 * 1460 };
	uint32_t junk[] = { 50 * 1460, 60 * 1460, 3 * 1460, 2 * 1460, 0u - 2920u, 1460 };
	struct kw_tcp *c;

	peer_setup(&P, 60000, 91);
	c = P.c;
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && c->sack_ok, "offload client: established, SACK on");
	c->cwnd = 40 * 1460;
	kw_tcp_send(c, data, sizeof(data), P.now);
	tap_ok(nfr >= 1 && c->snd_max == c->iss + 1 + sizeof(data), "40 segments in flight");
	/* Junk blocks change nothing. */
	peer_ack(&P, 0, junk, 3);
	tap_ok(c->sb.sacked_bytes == 0 && !c->in_recovery,
	       "blocks beyond SND.MAX, reversed, or below SND.UNA: ignored");
	before = nfr;
	peer_ack(&P, 0, b1, 1);
	tap_ok(c->in_recovery, "35 segments SACKed above a 5-segment hole: recovery (IsLost)");
	tap_is_u64(c->ssthresh, 20 * 1460, "ssthresh = FlightSize / 2");
	tap_is_u64(c->cwnd, 20 * 1460, "cwnd = ssthresh (RFC 6675 §5)");
	tap_ok(frames_cover(before, h1, 1), "the hole, and only it, is sent again");
	tap_ok(nfr == before + 1 && fr[before].gso == 1460,
	       "... as one TSO frame (gso_size 1460)");
	/* A D-SACK: recognised, marks nothing. */
	{
		uint32_t ds[] = { 0, 1460, 10 * 1460, 13 * 1460 };
		unsigned n0 = c->sb.dsacks_in;
		peer_ack(&P, 7 * 1460, ds, 2);
		tap_ok(c->sb.dsacks_in == n0 + 1, "a first block below the ACK is a D-SACK");
	}
	peer_ack(&P, 40 * 1460, NULL, 0);
	tap_ok(!c->in_recovery && c->sb.n == 0, "all acknowledged: recovery over, scoreboard empty");
	peer_fini(&P);

	/* Two holes with a SACKed range between them. */
	peer_setup(&P, 60000, 93);
	c = P.c;
	c->cwnd = 40 * 1460;
	kw_tcp_send(c, data, sizeof(data), P.now);
	before = nfr;
	peer_ack(&P, 0, b2, 2);
	tap_ok(c->in_recovery && c->sb.sacked_bytes == (3 + 32) * 1460,
	       "SACKed 2..5 and 8..40: recovery, the scoreboard holds the SACKed bytes");
	tap_ok(frames_cover(before, h2, 2), "two holes: each sent once, the SACKed range between them never");
	tap_ok(nfr == before + 2, "... as two frames, cut at the SACKed range");
	peer_fini(&P);
}
/* Every other segment SACKed, 240 segments: more ranges than entries. */
static void test_bound(void)
{
	struct peer P;
	static uint8_t data[240 * 1460];
	struct kw_tcp *c;
	unsigned maxn = 0;
	bool inflight_ok = true;

	peer_setup(&P, 0, 92);
	c = P.c;
	c->cwnd = 240 * 1460;
	kw_tcp_send(c, data, sizeof(data), P.now);
	tap_ok(c->snd_max == c->iss + 1 + sizeof(data), "240 segments in flight, no offload");
	tap_ok(c->sb.n <= TCP_SB_MAX, "scoreboard within TCP_SB_MAX entries after sending");
	for (uint32_t s = 1; s + 2 < 240; s += 8) {
		uint32_t blk[8];
		for (unsigned i = 0; i < 4; i++) {
			blk[2 * i] = (s + 2 * i) * 1460;
			blk[2 * i + 1] = (s + 2 * i + 1) * 1460;
		}
		peer_ack(&P, 0, blk, 4);
		if (c->sb.n > maxn)
			maxn = c->sb.n;
		inflight_ok &= c->sb.sacked_bytes <= (uint32_t)seq_diff(c->snd_max, c->snd_una);
	}
	tap_diag("largest scoreboard: %u entries", maxn);
	tap_ok(maxn <= TCP_SB_MAX, "120 separate SACKed ranges: never more than TCP_SB_MAX entries");
	tap_ok(inflight_ok, "... SACKed bytes never more than what is in flight");
	peer_ack(&P, 240 * 1460, NULL, 0);
	tap_ok(c->sb.n == 0 && kw_tcp_state(c) == KW_TCP_ESTABLISHED, "all acknowledged: empty");
	peer_fini(&P);
}

/* TSO autosizing (Linux's tcp_tso_autosize): 1 ms at the pacing rate. */
static void test_autosize(void)
{
	struct peer P;
	static uint8_t data[400 * 1460];
	struct kw_tcp *c;
	bool same = true;

	peer_setup_rtt(&P, 60000, 94, MS(10));
	c = P.c;
	kw_tcp_send(c, data, 10 * 1460, P.now);
	tap_diag("RTT %.1f ms, cwnd %u: %u frames, the first %u bytes", (double)c->srtt / 1e6, c->cwnd,
		 nfr, nfr ? fr[0].len : 0);
	for (unsigned i = 0; i < nfr; i++)
		same &= fr[i].len == 2 * 1460 && fr[i].gso == 1460;
	tap_ok(nfr == 5 && same,
	       "RTT 10 ms, initial window (slow start: 2 x 14600 B / 10 ms): five frames of 2 MSS");
	peer_ack(&P, 10 * 1460, NULL, 0);
	c->cwnd = 200 * 1460;
	c->ssthresh = 100 * 1460;
	nfr = 0;
	kw_tcp_send(c, data, 100 * 1460, P.now);
	tap_diag("cwnd 200 MSS, congestion avoidance: %u frames, the first %u bytes", nfr, nfr ? fr[0].len : 0);
	{
		uint32_t want = (uint32_t)((uint64_t)292000 * 12 * 1000000 / 10 / c->srtt) / 1460 * 1460;
		tap_diag("SRTT %.3f ms: 1 ms at 1.2 x cwnd / SRTT = %u bytes", (double)c->srtt / 1e6, want);
		tap_ok(nfr >= 4 && fr[0].len == want && want < 60000,
		       "cwnd 200 MSS, congestion avoidance: frames of 1 ms at 1.2 x cwnd / SRTT, several in flight");
	}
	peer_fini(&P);

	peer_setup_rtt(&P, 60000, 95, MS(1));
	c = P.c;
	kw_tcp_send(c, data, 10 * 1460, P.now);
	tap_ok(nfr == 1 && fr[0].len == 10 * 1460, "RTT 1 ms: the initial window in one frame");
	peer_fini(&P);
}

/* Growth counts bytes acknowledged, however many ACKs carry them. */
static void test_cc_growth(void)
{
	struct peer P;
	static uint8_t data[200 * 1460];
	struct kw_tcp *c;
	uint32_t before;

	peer_setup(&P, 60000, 96);
	c = P.c;
	kw_tcp_send(c, data, sizeof(data), P.now);
	before = c->cwnd;
	peer_ack(&P, 10 * 1460, NULL, 0);
	tap_is_u64(c->cwnd - before, 10 * 1460,
		   "slow start: one ACK for 10 segments (a GRO receiver) opens cwnd by 10 segments");
	c->ssthresh = c->cwnd;              /* congestion avoidance from here */
	before = c->cwnd;
	peer_ack(&P, 10 * 1460 + before, NULL, 0);
	tap_ok(c->cwnd - before >= 1459 && c->cwnd - before <= 1460,
	       "congestion avoidance: one ACK for a whole window opens cwnd by one segment");
	peer_fini(&P);
}

int main(void)
{
	static const uint32_t one[] = { 20 };
	static const uint32_t three[] = { 30, 33, 37 };

	run_drops("no loss", 3001, NULL, 0);
	run_drops("one lost segment", 3001, one, 1);
	run_drops("three lost in one window", 3002, three, 3);
	test_offload_holes();
	test_bound();
	test_autosize();
	test_cc_growth();
	return tap_done();
}
