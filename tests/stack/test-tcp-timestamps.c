/* RFC 7323 timestamps over the in-memory pair and with crafted segments:
 * negotiation (both offer / one does not), TSval on every segment and
 * TSecr = TS.Recent per §4.3, the MSS less 12 bytes, RTT samples from
 * TSecr driving the RTO (also right after a retransmission), PAWS (stale
 * data dropped and ACKed, RSTs exempt, the 24-day idle rule), TSval wrap
 * around 2^32 (ours and the peer's), timestamps on keepalive and
 * zero-window probes; and the cwnd cap against forged duplicate ACKs.
 * Reads the connection block (tcp_internal.h) for what the wire cannot
 * show: the RTO, cwnd, TS.Recent. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define MAXLOG 8192
static struct {
	uint64_t at;
	int from;
	struct seginfo si;
	bool ts;
	uint32_t tsval, tsecr;
} logv[MAXLOG];
static unsigned nlog;

/* The TS option of a segment, if any. */
static bool get_ts(const uint8_t *seg, const struct seginfo *si, uint32_t *val, uint32_t *ecr)
{
	size_t i = 20;

	while (i < si->hlen) {
		uint8_t k = seg[i];
		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		if (i + 1 >= si->hlen || seg[i + 1] < 2)
			break;
		if (k == 8 && seg[i + 1] == 10 && i + 10 <= si->hlen) {
			*val = (uint32_t)seg[i + 2] << 24 | (uint32_t)seg[i + 3] << 16 |
			       (uint32_t)seg[i + 4] << 8 | seg[i + 5];
			*ecr = (uint32_t)seg[i + 6] << 24 | (uint32_t)seg[i + 7] << 16 |
			       (uint32_t)seg[i + 8] << 8 | seg[i + 9];
			return true;
		}
		i += seg[i + 1];
	}
	return false;
}

static void log_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		    const struct seginfo *si)
{
	(void)len;
	if (nlog < MAXLOG) {
		logv[nlog].at = p->now;
		logv[nlog].from = from;
		logv[nlog].si = *si;
		logv[nlog].ts = get_ts(seg, si, &logv[nlog].tsval, &logv[nlog].tsecr);
		nlog++;
	}
}

/* A crafted segment with an optional TS option, delivered to `to` now. */
static void inject_ts(struct tcp_pair *p, int to, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win, bool ts,
		      uint32_t tsval, uint32_t tsecr, const void *data, size_t dlen)
{
	uint8_t b[2048];
	uint32_t src = to == 0 ? PAIR_ADDR1 : PAIR_ADDR0, dst = to == 0 ? PAIR_ADDR0 : PAIR_ADDR1;
	size_t hl = ts ? 32 : 20, len = hl + dlen;
	uint16_t ck;

	memset(b, 0, hl);
	b[0] = (uint8_t)(sport >> 8); b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8); b[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[12] = (uint8_t)((hl / 4) << 4);
	b[13] = flags;
	b[14] = (uint8_t)(win >> 8); b[15] = (uint8_t)win;
	if (ts) {
		b[20] = 1; b[21] = 1; b[22] = 8; b[23] = 10;
		for (int i = 0; i < 4; i++) {
			b[24 + i] = (uint8_t)(tsval >> (24 - 8 * i));
			b[28 + i] = (uint8_t)(tsecr >> (24 - 8 * i));
		}
	}
	if (dlen)
		memcpy(b + hl, data, dlen);
	ck = kw_checksum(b, len, kw_checksum_pseudo(src, dst, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(p->l[to], src, dst, b, len, p->now);
}

static size_t drain(struct kw_tcp *s, uint8_t *buf, size_t cap, uint64_t now)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap && (r = kw_tcp_recv(s, buf + n, cap - n, now)) > 0)
		n += (size_t)r;
	return n;
}

/* ---- negotiation, TSecr, MSS ------------------------------------------------ */

static void test_negotiated(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[10000], got[10000];
	unsigned i, all_ts = 1, max_d = 0, n_after = 0;
	bool echo_ok = true;
	uint32_t v1 = 0, v2 = 0, ecr = 0, hs_ack_tsval;
	uint64_t t0;

	pair_init(&p, 101);
	p.tap = log_tap;
	nlog = 0;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "both offer: connected");
	tap_ok(nlog >= 3 && logv[0].si.flags == F_SYN && logv[0].ts && logv[0].tsecr == 0,
	       "the SYN offers timestamps, TSecr 0");
	tap_ok(nlog >= 3 && (logv[1].si.flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK) && logv[1].ts &&
	       logv[1].tsecr == logv[0].tsval, "the SYN-ACK answers them, TSecr = the SYN's TSval");
	tap_ok(nlog >= 3 && logv[2].ts && logv[2].tsecr == logv[1].tsval,
	       "the final ACK echoes the SYN-ACK's TSval");
	tap_ok(c->ts_ok && s->ts_ok, "both ends agreed on timestamps");
	hs_ack_tsval = logv[2].tsval;
	tap_is_u64(c->mss, 1460 - 12, "client MSS for data: 1460 less 12 option bytes");
	tap_is_u64(s->mss, 1460 - 12, "server MSS for data: 1460 less 12 option bytes");

	/* Bulk data both ways: every segment carries the option, full
	 * segments are 1448 bytes with a 32-byte header. */
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	nlog = 0;
	kw_tcp_send(c, data, sizeof(data), p.now);
	kw_tcp_send(s, data, 3000, p.now);
	pair_run_until(&p, p.now + MS(300));
	tap_ok(drain(s, got, sizeof(got), p.now) == sizeof(data) && memcmp(got, data, sizeof(data)) == 0,
	       "10000 bytes arrive intact");
	kw_tcp_shutdown(c, SHUT_WR, p.now);
	pair_run_until(&p, p.now + MS(300));
	for (i = 0; i < nlog; i++) {
		all_ts &= logv[i].ts;
		if (logv[i].from == 0 && logv[i].si.dlen > max_d)
			max_d = (unsigned)logv[i].si.dlen;
		if (logv[i].si.dlen)
			all_ts &= logv[i].si.hlen == 32;
		n_after++;
	}
	tap_ok(n_after > 10 && all_ts, "every data segment, ACK and FIN carries TSval/TSecr");
	tap_is_u64(max_d, 1448, "largest data segment is 1448 bytes (MSS 1460 - 12)");
	/* Every TSecr from the server echoes a TSval the client sent, never
	 * one from the future. */
	for (i = 0; i < nlog; i++) {
		bool found = false;
		if (logv[i].from != 1)
			continue;
		for (unsigned j = 0; j < i; j++)
			if (logv[j].from == 0 && logv[j].tsval == logv[i].tsecr)
				found = true;
		echo_ok &= found || logv[i].tsecr == hs_ack_tsval;
	}
	tap_ok(echo_ok, "the server's TSecr always echoes a TSval the client sent");

	/* §4.3: one delayed ACK for two segments echoes the earlier one's
	 * TSval (the segment that covered Last.ACK.sent). */
	drain(c, got, sizeof(got), p.now);
	pair_fini(&p);

	pair_init(&p, 102);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "delayed-ACK echo: connected");
	kw_tcp_set_nodelay(c, true);
	p.tap = log_tap;
	nlog = 0;
	t0 = p.now;
	kw_tcp_send(c, "first", 5, p.now);
	pair_run_until(&p, t0 + MS(10));
	kw_tcp_send(c, "second", 6, p.now);
	pair_run_until(&p, t0 + MS(200));
	for (i = 0; i < nlog; i++) {
		if (logv[i].from == 0 && logv[i].si.dlen == 5)
			v1 = logv[i].tsval;
		if (logv[i].from == 0 && logv[i].si.dlen == 6)
			v2 = logv[i].tsval;
		if (logv[i].from == 1 && !ecr)
			ecr = logv[i].tsecr;
	}
	tap_is_u64(v2 - v1, 10, "TSval ticks once per millisecond (10 ms apart: +10)");
	tap_ok(ecr == v1 && ecr != v2,
	       "one ACK for both: TSecr echoes the first segment's TSval (RFC 7323 §4.3)");
	pair_fini(&p);
}

/* The filter replaces the client's SYN by a copy without the TS option:
 * the client "does not offer". */
static bool strip_syn_ts(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			 const struct seginfo *si)
{
	uint8_t b[128];
	uint32_t v, e;
	uint16_t ck;

	if (from != 0 || !(si->flags & F_SYN) || len > sizeof(b) || !get_ts(seg, si, &v, &e))
		return false;
	memcpy(b, seg, len);
	for (size_t i = 20; i + 10 <= si->hlen; i++)
		if (b[i] == 8 && b[i + 1] == 10) {
			memset(b + i, 1, 10);
			break;
		}
	b[16] = b[17] = 0;
	ck = kw_checksum(b, len, kw_checksum_pseudo(PAIR_ADDR0, PAIR_ADDR1, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(p->l[1], PAIR_ADDR0, PAIR_ADDR1, b, len, p->now);
	return true;
}

static bool drop_from_0(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			const struct seginfo *si)
{
	(void)p; (void)seg; (void)len; (void)si;
	return from == 0;
}

static bool drop_from_1(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			const struct seginfo *si)
{
	(void)p; (void)seg; (void)len; (void)si;
	return from == 1;
}

static void test_not_negotiated(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[10000], got[10000];
	unsigned i, any_ts = 0, max_d = 0, n = 0;
	uint32_t iss = 0;

	/* The client does not offer: no option from the server, ever. */
	pair_init(&p, 103);
	p.tap = log_tap;
	p.filter = strip_syn_ts;
	nlog = 0;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "one does not offer: connected");
	p.filter = NULL;
	tap_ok(!c->ts_ok && !s->ts_ok, "timestamps not agreed on either end");
	memset(data, 'q', sizeof(data));
	kw_tcp_send(c, data, sizeof(data), p.now);
	kw_tcp_send(s, data, 2000, p.now);
	pair_run_until(&p, p.now + MS(300));
	tap_is_u64(drain(s, got, sizeof(got), p.now), sizeof(data), "data flows without timestamps");
	for (i = 1; i < nlog; i++) {            /* all but the client's (replaced) SYN */
		any_ts += logv[i].ts;
		if (logv[i].from == 0 && logv[i].si.dlen > max_d)
			max_d = (unsigned)logv[i].si.dlen;
		n++;
	}
	tap_ok(n > 8 && any_ts == 0, "no segment after the SYN carries the option (SYN-ACK included)");
	tap_is_u64(max_d, 1460, "full 1460-byte segments without timestamps");
	pair_fini(&p);

	/* The SYN-ACK lacks the option (crafted peer): the client drops
	 * timestamps, its ACK and data carry none. */
	pair_init(&p, 104);
	p.tap = log_tap;
	p.filter = drop_from_0;
	nlog = 0;
	kw_tcp_open(p.l[0], &c);
	kw_tcp_connect(c, PAIR_ADDR1, 80, p.now);
	tap_ok(nlog == 1 && logv[0].ts, "the client's SYN offers timestamps");
	iss = logv[0].si.seq;
	inject_ts(&p, 0, 80, logv[0].si.sport, 5000, iss + 1, F_SYN | F_ACK, 65535, false, 0, 0, NULL, 0);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "ESTABLISHED", "SYN-ACK without TS: established");
	kw_tcp_send(c, "hi", 2, p.now);
	pair_run_until(&p, p.now + MS(50));
	any_ts = 0;
	for (i = 1; i < nlog; i++)
		any_ts += logv[i].ts;
	tap_ok(!c->ts_ok && nlog >= 3 && any_ts == 0, "the client's ACK and data carry no timestamps");
	tap_is_u64(c->mss, 536, "MSS not reduced without timestamps (536: the SYN-ACK had no MSS option)");
	kw_tcp_abort(c, p.now);
	pair_fini(&p);
}

/* ---- RTT from TSecr ---------------------------------------------------------- */

static int drop_next_data;
static uint32_t dropped_seq;
static bool drop_one_data(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			  const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	if (drop_next_data && from == 0 && si->dlen > 0) {
		drop_next_data--;
		dropped_seq = si->seq;
		return true;
	}
	return false;
}

static void test_rtt(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint8_t buf[256];
	uint64_t t_orig = 0, t_re = 0, rto_before, rto_backed_off = 0;
	struct kw_tcp_stats st;

	pair_init(&p, 105);
	p.latency = MS(50);                     /* 100 ms round trip */
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "100 ms path: connected");
	kw_tcp_set_nodelay(c, true);
	memset(buf, 'r', sizeof(buf));
	for (int i = 0; i < 6; i++) {
		kw_tcp_send(c, buf, 100, p.now);
		pair_run_until(&p, p.now + MS(400));
		drain(s, buf, sizeof(buf), p.now);
	}
	tap_ok(c->have_rtt && c->srtt >= MS(100) && c->srtt <= MS(150),
	       "SRTT from TSecr samples: 100..150 ms (RTT plus delayed ACK)");
	tap_ok(c->rto >= MS(200) && c->rto <= MS(300), "RTO near 200-300 ms after a few ACKs");
	tap_ok(!c->rtt_timing, "no Karn timed segment while timestamps are on");
	rto_before = c->rto;

	/* Lose one segment and the tail-loss probe that resends it (the probe
	 * goes in the RTO's place, ~RTO after the original, and restarts the
	 * RTO): the RTO then fires, doubles, and the ACK of its
	 * retransmission (its TSecr names the retransmission) brings the RTO
	 * straight back. Karn's rule alone would keep it doubled. */
	p.tap = log_tap;
	p.filter = drop_one_data;
	nlog = 0;
	drop_next_data = 2;
	kw_tcp_send(c, buf, 100, p.now);
	for (int k = 0; k < 200 && !rto_backed_off; k++) {
		pair_run_until(&p, p.now + MS(5));
		if (c->rto > rto_before)
			rto_backed_off = c->rto;
	}
	pair_run_until(&p, p.now + MS(400));
	for (unsigned i = 0; i < nlog; i++)
		if (logv[i].from == 0 && logv[i].si.dlen && logv[i].si.seq == dropped_seq) {
			if (!t_orig)
				t_orig = logv[i].at;
			else if (!t_re)
				t_re = logv[i].at;
		}
	kw_tcp_layer_stats(p.l[0], &st);
	tap_is_u64(st.retransmits, 2, "two retransmissions: the probe and the RTO's");
	tap_ok(t_re > t_orig && t_re - t_orig >= MS(200) && t_re - t_orig <= MS(300),
	       "the probe goes 200-300 ms after the original (in the RTO's place)");
	tap_ok(rto_backed_off >= 2 * rto_before - MS(1), "the RTO doubled on expiry");
	tap_ok(c->rto >= MS(200) && c->rto <= MS(300),
	       "the ACK of the retransmission is an RTT sample: RTO back to 200-300 ms");
	tap_is_u64(drain(s, buf, sizeof(buf), p.now), 100, "the data arrived");
	pair_fini(&p);
}

/* ---- PAWS ---------------------------------------------------------------------- */

static void test_paws(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint8_t buf[64];
	uint32_t stale, fresh, rcv_before;
	uint16_t cport, sport;
	uint32_t a;
	unsigned acks;

	pair_init(&p, 106);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "PAWS: connected");
	kw_tcp_local(c, &a, &cport);
	kw_tcp_local(s, &a, &sport);
	stale = tcp_ts_now(c, p.now);           /* the client's TSval now */
	pair_run_until(&p, p.now + SEC(2));
	kw_tcp_send(c, "good", 4, p.now);
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64(drain(s, buf, sizeof(buf), p.now), 4, "fresh data accepted");
	tap_ok(s->ts_recent - stale >= 2000 && s->ts_recent - stale < 2100,
	       "TS.Recent moved to the data segment's TSval");

	/* An old duplicate: in the window, carrying stale data and a TSval
	 * 2 s old. Dropped, and answered with an ACK. */
	p.tap = log_tap;
	nlog = 0;
	rcv_before = s->rcv_nxt;
	inject_ts(&p, 1, cport, sport, s->rcv_nxt, s->snd_nxt, F_ACK | F_PSH, 1000, true,
		  stale, s->ts_recent, "STALE", 5);
	acks = 0;
	for (unsigned i = 0; i < nlog; i++)
		acks += logv[i].from == 1 && (logv[i].si.flags & F_ACK) && logv[i].si.ack == rcv_before;
	tap_ok(s->rcv_nxt == rcv_before && kw_tcp_recv(s, buf, sizeof(buf), p.now) == -EAGAIN,
	       "PAWS: an old duplicate with stale data is dropped");
	tap_is_u64(acks, 1, "PAWS: and answered with an ACK");
	tap_ok(s->ts_recent - stale >= 2000, "TS.Recent unchanged by the stale segment");
	/* The same bytes with a current TSval are taken. */
	fresh = tcp_ts_now(c, p.now);
	inject_ts(&p, 1, cport, sport, s->rcv_nxt, s->snd_nxt, F_ACK | F_PSH, 1000, true,
		  fresh, s->ts_recent, "FRESH", 5);
	tap_ok(drain(s, buf, sizeof(buf), p.now) == 5 && memcmp(buf, "FRESH", 5) == 0,
	       "the same segment with a current TSval is accepted");
	/* RSTs are not subject to PAWS. */
	inject_ts(&p, 1, cport, sport, s->rcv_nxt, 0, F_RST, 0, true, stale, 0, NULL, 0);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(s)), "CLOSED", "a RST with a stale TSval still resets");
	tap_is_u64((uint64_t)kw_tcp_take_error(s), ECONNRESET, "ECONNRESET");
	kw_tcp_close(s, p.now);
	kw_tcp_abort(c, p.now);
	pair_fini(&p);

	/* The 24-day rule (§5.5): after that long idle TS.Recent is invalid. */
	pair_init(&p, 107);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "PAWS idle: connected");
	kw_tcp_local(c, &a, &cport);
	kw_tcp_local(s, &a, &sport);
	stale = s->ts_recent - 5000;
	pair_run_until(&p, p.now + SEC(23 * 86400));
	inject_ts(&p, 1, cport, sport, s->rcv_nxt, s->snd_nxt, F_ACK | F_PSH, 1000, true,
		  stale, s->ts_recent, "OLD", 3);
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), (uint64_t)-EAGAIN,
		   "idle 23 days: a stale TSval is still rejected");
	pair_run_until(&p, p.now + SEC(2 * 86400));
	inject_ts(&p, 1, cport, sport, s->rcv_nxt, s->snd_nxt, F_ACK | F_PSH, 1000, true,
		  stale, s->ts_recent, "OLD", 3);
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), 3,
		   "idle 25 days: TS.Recent is stale, the segment is accepted");
	tap_is_u64(s->ts_recent, stale, "and TS.Recent restarts from its TSval");
	kw_tcp_abort(c, p.now);
	kw_tcp_abort(s, p.now);
	pair_fini(&p);
}

/* ---- wrap around 2^32 ------------------------------------------------------------ */

static void test_wrap_peer(void)
{
	struct tcp_pair p;
	struct kw_tcp *l, *s = NULL;
	uint8_t buf[16];
	uint32_t siss, cseq = 777000;
	unsigned i;

	/* A crafted client whose TSval crosses 2^32. */
	pair_init(&p, 108);
	p.tap = log_tap;
	p.filter = drop_from_1;
	kw_tcp_open(p.l[1], &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 4);
	nlog = 0;
	inject_ts(&p, 1, 5555, 80, cseq, 0, F_SYN, 65535, true, 0xffffff00u, 0, NULL, 0);
	tap_ok(nlog == 1 && logv[0].ts && logv[0].tsecr == 0xffffff00u,
	       "wrap: the SYN-ACK echoes TSval 0xffffff00");
	siss = logv[0].si.seq;
	inject_ts(&p, 1, 5555, 80, cseq + 1, siss + 1, F_ACK, 65535, true, 0xfffffff0u,
		  logv[0].tsval, NULL, 0);
	tap_ok(kw_tcp_accept(l, &s) == 0, "wrap: handshake done");
	if (!s) {
		pair_fini(&p);
		return;
	}
	tap_is_u64(s->ts_recent, 0xfffffff0u, "TS.Recent = 0xfffffff0");
	nlog = 0;
	inject_ts(&p, 1, 5555, 80, cseq + 1, siss + 1, F_ACK | F_PSH, 65535, true, 0x10, 0, "A", 1);
	tap_ok(kw_tcp_recv(s, buf, sizeof(buf), p.now) == 1 && buf[0] == 'A',
	       "TSval 0x10 after 0xfffffff0 is newer (wrapped): accepted");
	tap_is_u64(s->ts_recent, 0x10, "TS.Recent = 0x10");
	pair_run_until(&p, p.now + MS(100));
	for (i = 0; i < nlog; i++)
		if (logv[i].from == 1 && logv[i].ts && logv[i].tsecr == 0x10)
			break;
	tap_ok(i < nlog, "the ACK echoes TSecr 0x10");
	inject_ts(&p, 1, 5555, 80, cseq + 2, siss + 1, F_ACK | F_PSH, 65535, true, 0xfffffff8u, 0, "B", 1);
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), (uint64_t)-EAGAIN,
		   "TSval 0xfffffff8 after 0x10 is older: PAWS drops it");
	kw_tcp_abort(s, p.now);
	kw_tcp_close(l, p.now);
	pair_fini(&p);
}

/* A retransmitted SYN (our SYN-ACK was lost) is answered with TSecr =
 * its own TSval, not the first SYN's: the peer's first RTT sample would
 * otherwise include its SYN timeout. */
static void test_syn_retransmit_echo(void)
{
	struct tcp_pair p;
	struct kw_tcp *l;

	pair_init(&p, 113);
	p.tap = log_tap;
	p.filter = drop_from_1;
	kw_tcp_open(p.l[1], &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 4);
	nlog = 0;
	inject_ts(&p, 1, 6666, 80, 1000, 0, F_SYN, 65535, true, 50000, 0, NULL, 0);
	pair_run_until(&p, p.now + MS(900));
	inject_ts(&p, 1, 6666, 80, 1000, 0, F_SYN, 65535, true, 51000, 0, NULL, 0);
	tap_ok(nlog == 2 && logv[0].tsecr == 50000 && logv[1].tsecr == 51000 &&
	       (logv[1].si.flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK),
	       "a retransmitted SYN gets a SYN-ACK echoing its own TSval");
	kw_tcp_close(l, p.now);
	pair_fini(&p);
}

static void test_wrap_own(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[300000], got[300000];
	size_t sent = 0, n = 0;
	bool high = false, low_after = false;
	struct kw_tcp_stats st;

	/* Both ends' TSval clocks 200 ms before 2^32. */
	pair_init(&p, 109);
	p.latency = MS(50);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "own TSval wrap: connected");
	c->ts_offset = (uint32_t)-(uint32_t)(p.now / KW_NS_PER_MS) - 200;
	s->ts_offset = (uint32_t)-(uint32_t)(p.now / KW_NS_PER_MS) - 150;
	s->ts_recent = tcp_ts_now(c, p.now);
	c->ts_recent = tcp_ts_now(s, p.now);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	p.tap = log_tap;
	nlog = 0;
	for (int k = 0; k < 400 && n < sizeof(data); k++) {
		ssize_t r = kw_tcp_send(c, data + sent, sizeof(data) - sent, p.now);
		if (r > 0)
			sent += (size_t)r;
		pair_run_until(&p, p.now + MS(10));
		n += drain(s, got + n, sizeof(got) - n, p.now);
	}
	for (unsigned i = 0; i < nlog; i++) {
		if (logv[i].from == 0 && logv[i].tsval >= 0xffffff00u)
			high = true;
		if (high && logv[i].from == 0 && logv[i].tsval < 0x10000u)
			low_after = true;
	}
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(high && low_after, "the client's TSval wrapped during the transfer");
	tap_ok(n == sizeof(data) && memcmp(got, data, n) == 0, "300 kB across the wrap, intact");
	tap_is_u64(st.retransmits, 0, "no retransmission (PAWS dropped nothing)");
	tap_ok(c->rto >= MS(200) && c->rto <= MS(300), "RTT samples across the wrap: RTO 200-300 ms");
	pair_fini(&p);
}

/* ---- probes ----------------------------------------------------------------------- */

static void test_probes(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[20000];
	unsigned i, probes = 0, probes_ts = 0;
	struct keepalive_config cfg = { SEC(1), SEC(1), 3 };
	uint32_t recent;

	pair_init(&p, 110);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "probes: connected");
	p.tap = log_tap;
	nlog = 0;
	recent = c->ts_recent;
	kw_tcp_set_keepalive(c, true, &cfg, p.now);
	pair_run_until(&p, p.now + MS(1500));
	for (i = 0; i < nlog; i++)
		if (logv[i].from == 0 && logv[i].si.dlen == 0 && logv[i].si.seq == c->snd_una - 1) {
			probes++;
			probes_ts += logv[i].ts && logv[i].tsecr == recent &&
				     logv[i].tsval == tcp_ts_now(c, logv[i].at);
		}
	tap_ok(probes == 1 && probes_ts == 1, "a keepalive probe carries TSval and TSecr = TS.Recent");
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED, "and is answered");
	pair_fini(&p);

	/* Zero window: the client does not read a small buffer. */
	pair_init(&p, 111);
	p.client_rcvbuf = 4096;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "window probe: connected");
	memset(data, 'w', sizeof(data));
	kw_tcp_send(s, data, sizeof(data), p.now);
	pair_run_until(&p, p.now + MS(500));
	p.tap = log_tap;
	nlog = 0;
	pair_run_until(&p, p.now + SEC(5));
	probes = probes_ts = 0;
	for (i = 0; i < nlog; i++)
		if (logv[i].from == 1 && logv[i].si.dlen == 0 && logv[i].si.seq == s->snd_una - 1) {
			probes++;
			probes_ts += logv[i].ts;
		}
	tap_ok(s->snd_wnd == 0 && probes >= 2 && probes_ts == probes,
	       "zero-window probes carry timestamps");
	pair_fini(&p);
}

/* ---- cwnd cap --------------------------------------------------------------------- */

static void test_cwnd_cap(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[10000];
	uint16_t cport, sport, win;
	uint32_t a;
	int i;

	pair_init(&p, 112);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "cwnd cap: connected");
	kw_tcp_local(c, &a, &cport);
	kw_tcp_local(s, &a, &sport);
	p.filter = drop_from_1;                 /* only our forged ACKs reach the client */
	c->sack_ok = false;                     /* NewReno's inflation: SACK recovery has none */
	memset(data, 'c', sizeof(data));
	kw_tcp_send(c, data, sizeof(data), p.now);
	win = (uint16_t)(c->snd_wnd >> c->snd_wscale);
	c->snd_wnd = (uint32_t)win << c->snd_wscale;
	for (i = 0; i < 3; i++)
		inject_ts(&p, 0, sport, cport, c->rcv_nxt, c->snd_una, F_ACK, win, false, 0, 0, NULL, 0);
	tap_ok(c->in_recovery, "three duplicate ACKs: fast recovery");
	/* Near the cap, more duplicates must stop at it, not wrap. */
	c->cwnd = tcp_cwnd_max(c) - 100;
	for (i = 0; i < 10; i++)
		inject_ts(&p, 0, sport, cport, c->rcv_nxt, c->snd_una, F_ACK, win, false, 0, 0, NULL, 0);
	tap_is_u64(c->cwnd, tcp_cwnd_max(c), "cwnd stops at the cap (2^30)");
	tap_ok(tcp_cwnd_max(c) >= (1u << 30) && tcp_cwnd_max(c) >= c->snd.cap,
	       "the cap is max(send buffer, 2^30)");
	/* And from a normal size, enough forged duplicates to pass 2^32
	 * without the cap: (2^32 / 1448) ~ 2.97 million would wrap; 760000
	 * reach 2^30 and must stop there. */
	c->cwnd = 20000;
	for (i = 0; i < 760000; i++)
		inject_ts(&p, 0, sport, cport, c->rcv_nxt, c->snd_una, F_ACK, win, false, 0, 0, NULL, 0);
	tap_is_u64(c->cwnd, tcp_cwnd_max(c),
		   "760000 forged duplicate ACKs: cwnd inflates up to the cap and stops");
	tap_ok(c->in_recovery && kw_tcp_state(c) == KW_TCP_ESTABLISHED, "still in recovery, connection fine");
	kw_tcp_abort(c, p.now);
	kw_tcp_abort(s, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_negotiated();
	test_not_negotiated();
	test_rtt();
	test_paws();
	test_wrap_peer();
	test_syn_retransmit_echo();
	test_wrap_own();
	test_probes();
	test_cwnd_cap();
	return tap_done();
}
