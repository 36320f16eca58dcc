/* Retransmission (RFC 6298: initial 1 s, backoff, RTT-derived RTO,
 * ETIMEDOUT), fast retransmit after 3 duplicate ACKs, zero-window
 * persist probes, Nagle and delayed ACK. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>

#define MAXLOG 4096
static struct { uint64_t at; int from; struct seginfo si; } logv[MAXLOG];
static unsigned nlog;

static void log_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		    const struct seginfo *si)
{
	(void)seg; (void)len;
	if (nlog < MAXLOG) {
		logv[nlog].at = p->now;
		logv[nlog].from = from;
		logv[nlog].si = *si;
		nlog++;
	}
}

static bool has_error(struct tcp_pair *p, void *arg)
{
	(void)p;
	return (kw_tcp_events(arg) & KW_TCP_ERROR) != 0;
}

static void test_syn_backoff(void)
{
	struct tcp_pair p;
	struct kw_tcp *c;
	uint64_t t0;
	int ok = 1;
	static const uint64_t want[] = { 0, 1, 3, 7, 15, 31, 63 };

	pair_init(&p, 21);
	p.tap = log_tap;
	p.down = true;
	nlog = 0;
	kw_tcp_open(p.l[0], &c);
	t0 = p.now;
	kw_tcp_connect(c, PAIR_ADDR1, 80, p.now);
	pair_run_while_not(&p, has_error, c, p.now + SEC(300));
	tap_is_u64(nlog, 7, "SYN sent 7 times (1 + 6 retries)");
	for (unsigned i = 0; i < nlog && i < 7; i++)
		ok &= logv[i].at - t0 == SEC(want[i]) && logv[i].si.flags == F_SYN;
	tap_ok(ok, "SYN retransmissions at 1, 3, 7, 15, 31, 63 s (initial RTO 1 s, doubling)");
	tap_is_u64(p.now - t0, SEC(127), "connect fails at 127 s");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ETIMEDOUT, "with ETIMEDOUT");
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

/* A passive open whose SYN-ACKs all vanish: Linux's tcp_synack_retries
 * (5), so the embryonic connection is gone 63 s after the SYN (a spoofed
 * SYN holds a backlog slot that long, not the 127 s of an active open). */
static void test_synack_backoff(void)
{
	struct tcp_pair p;
	struct kw_tcp *l;
	uint64_t t0;
	unsigned synacks = 0;
	int ok = 1;
	static const uint64_t want[] = { 0, 1, 3, 7, 15, 31 };

	pair_init(&p, 22);
	p.tap = log_tap;
	nlog = 0;
	kw_tcp_open(p.l[1], &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 8);
	t0 = p.now;
	p.down = true;
	pair_inject(&p, 1, 40000, 80, 1000, 0, F_SYN, 65535, NULL, 0);
	while (kw_tcp_layer_count(p.l[1]) > 1 && p.now - t0 < SEC(300))
		pair_run_until(&p, p.now + MS(100));
	for (unsigned i = 0; i < nlog; i++)
		if (logv[i].from == 1 && logv[i].si.flags == (F_SYN | F_ACK)) {
			ok &= synacks < 6 && logv[i].at - t0 == SEC(want[synacks]);
			synacks++;
		}
	tap_is_u64(synacks, 6, "SYN-ACK sent 6 times (1 + Linux's tcp_synack_retries 5)");
	tap_ok(ok, "... at 0, 1, 3, 7, 15, 31 s");
	tap_ok(p.now - t0 >= SEC(63) && p.now - t0 <= SEC(63) + MS(100),
	       "the embryonic connection is gone at 63 s");
	kw_tcp_close(l, p.now);
	pair_fini(&p);
}

static void test_rto_from_rtt(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char buf[2000];
	unsigned first, k = 0;
	uint64_t sent_at, gaps[4] = { 0 };
	struct kw_tcp_stats st;
	int doubling = 1;

	pair_init(&p, 22);
	p.latency = MS(50);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "RTT 100 ms: connected");
	kw_tcp_set_nodelay(c, true);
	for (int i = 0; i < 30; i++) {
		kw_tcp_send(c, "0123456789", 10, p.now);
		pair_run_until(&p, p.now + MS(300));
		kw_tcp_recv(s, buf, sizeof(buf), p.now);
	}
	p.tap = log_tap;
	nlog = 0;
	p.down = true;
	sent_at = p.now;
	kw_tcp_send(c, "x", 1, p.now);
	pair_run_until(&p, p.now + SEC(20));
	first = 1;
	for (unsigned i = 0; i < nlog; i++)
		if (logv[i].from == 0 && logv[i].si.dlen == 1 && k < 4) {
			if (first) {
				first = 0;
				continue;
			}
			gaps[k++] = logv[i].at - sent_at;
		}
	tap_ok(k >= 3, "the byte is retransmitted");
	tap_diag("first retransmission after %.3f s", (double)gaps[0] / 1e9);
	tap_ok(gaps[0] >= MS(200) && gaps[0] <= MS(500),
	       "first retransmission after the RTT-derived RTO (200..500 ms), not 1 s");
	/* The first resend is the tail-loss probe, in the RTO's place (SACK
	 * is on; Linux's PTO for a lone segment is past the RTO); it does not
	 * back the RTO off, the RTO expiries after it do. */
	tap_ok(k >= 4 && gaps[1] - gaps[0] == gaps[0], "the probe, then the RTO at its undoubled value");
	for (unsigned i = 2; i < k; i++)
		doubling &= (gaps[i] - gaps[i - 1]) == 2 * (gaps[i - 1] - gaps[i - 2]);
	tap_ok(doubling, "then exponential backoff (each gap twice the previous)");
	pair_run_while_not(&p, has_error, c, p.now + SEC(3600));
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ETIMEDOUT, "after 15 retransmissions: ETIMEDOUT");
	tap_is_u64((uint64_t)kw_tcp_send(c, "y", 1, p.now), (uint64_t)-ETIMEDOUT, "send keeps saying ETIMEDOUT");
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(st.retransmits >= 15, "retransmissions counted");
	tap_diag("gave up after %.1f s", (double)(p.now - sent_at) / 1e9);
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static uint32_t drop_seq;
static int dropped;
static bool drop_once(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		      const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	if (from == 0 && si->dlen > 0 && si->seq == drop_seq && !dropped) {
		dropped = 1;
		return true;
	}
	return false;
}

static void test_fast_retransmit(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[40000], got[40000];
	size_t n = 0;
	struct kw_tcp_stats st;
	uint64_t t_orig = 0, t_re = 0;
	unsigned dups = 0;

	pair_init(&p, 23);
	p.latency = MS(20);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "fast retransmit: connected");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	p.tap = log_tap;
	p.filter = drop_once;
	nlog = 0;
	dropped = 0;
	kw_tcp_send(c, data, 1, p.now);      /* learn the sequence numbers */
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_recv(s, got, 1, p.now);
	drop_seq = logv[0].si.seq + 1 + 3 * 1448;   /* the 4th full segment (MSS 1460 less 12 bytes of timestamps) */
	nlog = 0;
	kw_tcp_send(c, data + 1, 20000, p.now);
	pair_run_until(&p, p.now + SEC(2));
	while (n < 20000) {
		ssize_t r = kw_tcp_recv(s, got + n, sizeof(got) - n, p.now);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	tap_ok(dropped, "one segment dropped");
	tap_ok(n == 20000 && memcmp(got, data + 1, n) == 0, "all data arrives intact");
	for (unsigned i = 0; i < nlog; i++) {
		if (logv[i].from == 0 && logv[i].si.seq == drop_seq && logv[i].si.dlen) {
			if (!t_orig)
				t_orig = logv[i].at;
			else if (!t_re)
				t_re = logv[i].at;
		}
		if (logv[i].from == 1 && logv[i].si.ack == drop_seq && !t_re)
			dups++;
	}
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(dups >= 4, "the receiver sent duplicate ACKs for the hole");
	tap_ok(st.fast_retransmits == 1, "one fast retransmit");
	tap_ok(t_re > t_orig && t_re - t_orig < MS(100),
	       "the lost segment is resent after ~1 RTT (40 ms), well before the RTO");
	tap_diag("resent %.3f s after the original", (double)(t_re - t_orig) / 1e9);
	tap_is_u64(st.retransmits, 1, "and nothing else was retransmitted");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static bool drop_wupdate;
static bool drop_window_updates(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
				const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	return drop_wupdate && from == 0 && si->win > 0;
}

static void test_persist(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[30000], got[30000];
	size_t n = 0;
	ssize_t r;
	unsigned probes = 0;
	uint64_t pt[16];
	int growing = 1;

	pair_init(&p, 24);
	p.client_rcvbuf = 4096;
	/* The client is the receiver here: c <- s. */
	tap_ok(pair_connect(&p, 80, &s, &c, NULL) == 0, "persist: connected");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	kw_tcp_send(c, data, sizeof(data), p.now);
	pair_run_until(&p, p.now + SEC(1));
	while ((r = kw_tcp_recv(s, got + n, sizeof(got) - n, p.now)) > 0)
		n += (size_t)r;
	tap_ok(n > 0 && n < sizeof(data), "receiver took a part");
	/* Now the receiver stops reading: its window closes. */
	pair_run_until(&p, p.now + SEC(1));
	p.tap = log_tap;
	nlog = 0;
	pair_run_until(&p, p.now + SEC(30));
	for (unsigned i = 0; i < nlog; i++)
		if (logv[i].from == 1 && logv[i].si.dlen == 0 && probes < 16)
			pt[probes++] = logv[i].at;
	tap_ok(probes >= 4, "zero window: the sender probes");
	tap_diag("%u probes in 30 s", probes);
	for (unsigned i = 2; i < probes; i++)
		growing &= pt[i] - pt[i - 1] >= pt[i - 1] - pt[i - 2];
	tap_ok(growing, "probe intervals back off");
	/* Read everything, but lose the window update: a probe recovers. */
	drop_wupdate = true;
	p.filter = drop_window_updates;
	while ((r = kw_tcp_recv(s, got + n, sizeof(got) - n, p.now)) > 0)
		n += (size_t)r;
	pair_run_until(&p, p.now + MS(100));
	drop_wupdate = false;
	for (int i = 0; i < 400 && n < sizeof(data); i++) {
		pair_run_until(&p, p.now + MS(500));
		while ((r = kw_tcp_recv(s, got + n, sizeof(got) - n, p.now)) > 0)
			n += (size_t)r;
	}
	tap_ok(n == sizeof(data) && memcmp(got, data, n) == 0,
	       "after the lost window update a probe reopens the flow; all data intact");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static void test_nagle_delack(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char buf[4000];
	unsigned data_segs = 0;
	uint64_t t0;

	pair_init(&p, 25);
	p.latency = MS(10);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "nagle: connected");
	p.tap = log_tap;
	nlog = 0;
	kw_tcp_send(c, "a", 1, p.now);
	kw_tcp_send(c, "b", 1, p.now);
	kw_tcp_send(c, "c", 1, p.now);
	for (unsigned i = 0; i < nlog; i++)
		data_segs += logv[i].from == 0 && logv[i].si.dlen > 0;
	tap_is_u64(data_segs, 1, "Nagle: small writes wait while one is unacknowledged");
	t0 = p.now;
	pair_run_until(&p, p.now + MS(200));
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), 3, "the rest follows the ACK");
	{
		uint64_t ack_at = 0;
		for (unsigned i = 0; i < nlog; i++)
			if (logv[i].from == 1 && !ack_at)
				ack_at = logv[i].at;
		tap_is_u64(ack_at - t0, MS(10) + MS(40), "a lone small segment is ACKed after the 40 ms delay");
	}
	kw_tcp_set_nodelay(c, true);
	nlog = 0;
	kw_tcp_send(c, "d", 1, p.now);
	kw_tcp_send(c, "e", 1, p.now);
	data_segs = 0;
	for (unsigned i = 0; i < nlog; i++)
		data_segs += logv[i].from == 0 && logv[i].si.dlen > 0;
	tap_is_u64(data_segs, 2, "TCP_NODELAY: both go at once");
	pair_run_until(&p, p.now + MS(200));
	kw_tcp_recv(s, buf, sizeof(buf), p.now);
	nlog = 0;
	memset(buf, 'z', sizeof(buf));
	kw_tcp_send(c, buf, 2920, p.now);
	t0 = p.now;
	pair_run_until(&p, p.now + MS(200));
	{
		uint64_t ack_at = 0;
		for (unsigned i = 0; i < nlog; i++)
			if (logv[i].from == 1 && !ack_at)
				ack_at = logv[i].at;
		tap_is_u64(ack_at - t0, MS(10), "two full segments are ACKed at once");
	}
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_syn_backoff();
	test_synack_backoff();
	test_rto_from_rtt();
	test_fast_retransmit();
	test_persist();
	test_nagle_delack();
	return tap_done();
}
