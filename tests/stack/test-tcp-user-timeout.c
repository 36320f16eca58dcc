/* TCP_USER_TIMEOUT (RFC 5482) with Linux's semantics (tcp_timer.c):
 *
 * Retransmission: Linux checks at each RTO expiry once one retransmission
 * was made (retransmits_timed_out: icsk_retransmits > 0) whether U has
 * passed since retrans_stamp, and clamps each RTO to the time left
 * (tcp_clamp_rto_to_user_timeout; 1 jiffy when it is already past).
 * retrans_stamp is the time of the first retransmission by the RTO
 * (tcp_retransmit_skb takes the segment's timestamp after resending it);
 * a tail-loss probe leaves it alone. The connection has SACK, so a probe
 * comes first: for the lone segment in flight its PTO (2 SRTT + 200 ms)
 * is past the RTO, so the probe takes the RTO's place at t0 + 0.2 s
 * without counting as a retry, and restarts the RTO. So with RTO 200 ms
 * (RTT ~0 here: the 200 ms floor) and data sent at t0: the probe at
 * 0.2 s, RTO expiries at 0.4 (the stamp), 0.8, 1.6, 3.2 s, and the next,
 * 6.4 s, is clamped to 0.4 + 5.0 s where U = 5 s ends it. With U =
 * 100 ms the 0.4 s expiry retransmits (no retry was made yet), the clamp
 * gives 0.5 s: abort. Linux 6.18 measured the same way (veth, all
 * dropped after the write, reno, SACK on): U = 5 s aborts 5.442 s after
 * the write after 5 retransmissions, one of them a loss probe; U =
 * 100 ms 0.517 s after 2 (its RTO is a little above 200 ms). With U set,
 * the retry count (tcp_retries2) no longer applies: U = 1200 s outlasts
 * the 924.8 s the count gives, and ends at 0.4 + 1200 s. Without U, the
 * 15th retry's expiry is at t0 + 924.8 s (a count here, where Linux
 * compares the time since retrans_stamp with tcp_model_timeout()).
 *
 * Zero window: U counts from the first persist expiry
 * (icsk_probes_tstamp), and an ACK that keeps the window closed does not
 * reset it; the probe timer is clamped to U. Probes at P1, P1 + 0.4,
 * 1.2, 2.8 s (200 ms backed off), the next (2.8 + 3.2) clamped to 5.0:
 * abort at P1 + 5 s even though the peer answers every probe.
 *
 * Keepalive (tcp_keepalive_timer): with U the count no longer applies,
 * abort at the first keepalive event whose silence reaches U.
 *
 * The timed-out connection sends a RST (as this stack does for the retry
 * budget); the program gets ETIMEDOUT from SO_ERROR, recv and send. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <string.h>

#define MAXLOG 8192
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

/* The time of the first RST endpoint `from` sent (0: none). */
static uint64_t rst_at(int from)
{
	for (unsigned i = 0; i < nlog; i++)
		if (logv[i].from == from && (logv[i].si.flags & F_RST))
			return logv[i].at;
	return 0;
}

static void setup(struct tcp_pair *p, uint64_t seed, struct kw_tcp **c, struct kw_tcp **s)
{
	pair_init(p, seed);
	p->latency = 0;         /* RTT 0: RTO at its 200 ms floor */
	tap_ok(pair_connect(p, 80, c, s, NULL) == 0, "connected");
	/* A little traffic for RTT samples. */
	for (int i = 0; i < 3; i++) {
		char b[8];
		kw_tcp_send(*c, "ping", 4, p->now);
		pair_run_until(p, p->now + MS(100));
		kw_tcp_recv(*s, b, sizeof(b), p->now);
	}
	pair_run_until(p, p->now + SEC(1));
}

/* Peer down with data in flight, user timeout ut: returns when the client
 * got its error (or limit passed), the time since the data was sent. */
static uint64_t dead_peer(uint64_t seed, uint64_t ut, uint64_t limit, struct kw_tcp_stats *st,
			  int *err, ssize_t *rv, ssize_t *sv, uint64_t *rst)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t t0;
	char b[8];

	setup(&p, seed, &c, &s);
	tap_is_u64((uint64_t)kw_tcp_set_user_timeout(c, ut), 0, "set_user_timeout");
	tap_is_u64(kw_tcp_get_user_timeout(c), ut, "get_user_timeout reads it back");
	p.down = true;
	p.tap = log_tap;
	nlog = 0;
	t0 = p.now;
	kw_tcp_send(c, "data", 4, p.now);
	pair_run_while_not(&p, has_error, c, t0 + limit);
	kw_tcp_layer_stats(p.l[0], st);
	*rst = rst_at(0) ? rst_at(0) - t0 : 0;
	*err = kw_tcp_take_error(c);
	*rv = kw_tcp_recv(c, b, sizeof(b), p.now);
	*sv = kw_tcp_send(c, "x", 1, p.now);
	t0 = p.now - t0;
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
	return t0;
}

static void test_rto(void)
{
	struct kw_tcp_stats st;
	int err;
	ssize_t rv, sv;
	uint64_t t, rst;

	t = dead_peer(31, SEC(5), SEC(3600), &st, &err, &rv, &sv, &rst);
	tap_diag("U 5 s: ETIMEDOUT after %.3f s, %llu retransmissions", (double)t / 1e9,
		 (unsigned long long)st.retransmits);
	tap_is_u64(t, MS(5400), "U 5 s: aborted at exactly the first RTO (0.4 s) + 5 s (RTO clamped to U)");
	tap_is_u64(st.retransmits, 5, "U 5 s: after the probe at 0.2 s and retransmissions at 0.4, 0.8, 1.6, 3.2 s");
	tap_is_u64((uint64_t)err, ETIMEDOUT, "U 5 s: SO_ERROR ETIMEDOUT");
	tap_is_u64((uint64_t)rv, (uint64_t)-ETIMEDOUT, "U 5 s: recv -ETIMEDOUT");
	tap_is_u64((uint64_t)sv, (uint64_t)-ETIMEDOUT, "U 5 s: send -ETIMEDOUT");
	tap_is_u64(rst, MS(5400), "U 5 s: a RST went out at the abort");

	t = dead_peer(32, MS(100), SEC(3600), &st, &err, &rv, &sv, &rst);
	tap_is_u64(t, MS(500), "U 100 ms < RTO: the probe at 0.2 s, one retransmission at 0.4 s, abort U later");
	tap_is_u64((uint64_t)err, ETIMEDOUT, "U 100 ms: ETIMEDOUT");

	t = dead_peer(33, SEC(1200), SEC(7200), &st, &err, &rv, &sv, &rst);
	tap_is_u64(t, MS(1200400), "U 1200 s: the retry count no longer applies, abort at 0.4 + 1200 s");
	tap_ok(st.retransmits > 15, "U 1200 s: more than tcp_retries2 retransmissions");

	t = dead_peer(34, 0, SEC(7200), &st, &err, &rv, &sv, &rst);
	tap_is_u64(t, MS(924800), "U 0: the old budget, 15 retries after the probe, abort at 924.8 s");
	tap_is_u64(st.retransmits, 16, "U 0: the probe and 15 retransmissions");
	tap_is_u64((uint64_t)err, ETIMEDOUT, "U 0: ETIMEDOUT");
}

/* The receiver (endpoint 0) never reads; the server sends 30000 bytes. */
static void test_persist(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	static uint8_t data[30000];
	uint64_t pt[64], p1;
	unsigned probes = 0;
	int answered = 0, exact;
	static const uint64_t want[] = { 0, 400, 1200, 2800 };

	pair_init(&p, 35);
	p.latency = 0;
	p.client_rcvbuf = 4096;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "persist: connected");
	kw_tcp_set_user_timeout(s, SEC(5));
	p.tap = log_tap;
	nlog = 0;
	kw_tcp_send(s, data, sizeof(data), p.now);
	pair_run_while_not(&p, has_error, s, p.now + SEC(600));
	for (unsigned i = 0; i < nlog; i++) {
		if (logv[i].from == 1 && logv[i].si.dlen == 0 && logv[i].si.flags == F_ACK &&
		    probes < 64)
			pt[probes++] = logv[i].at;
		if (probes && logv[i].from == 0 && logv[i].at >= pt[0] && logv[i].si.win == 0)
			answered++;
	}
	tap_ok(probes > 0, "persist: the window closed and the server probes");
	p1 = probes ? pt[0] : 0;
	tap_is_u64(probes, 4, "persist U 5 s: 4 probes");
	exact = probes == 4;
	for (unsigned i = 0; i < probes && i < 4; i++)
		exact &= pt[i] - p1 == MS(want[i]);
	tap_ok(exact, "persist U 5 s: probes at P1 + 0, 0.4, 1.2, 2.8 s");
	tap_ok(answered >= 4, "the peer answered every probe (window 0)");
	tap_is_u64(p.now - p1, SEC(5), "persist U 5 s: aborted at P1 + 5 s although the peer answers");
	tap_is_u64(rst_at(1) - p1, SEC(5), "persist U 5 s: RST at the abort");
	tap_is_u64((uint64_t)kw_tcp_take_error(s), ETIMEDOUT, "persist U 5 s: ETIMEDOUT");
	tap_is_u64((uint64_t)kw_tcp_send(s, "x", 1, p.now), (uint64_t)-ETIMEDOUT,
		   "persist U 5 s: send -ETIMEDOUT");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

/* Keepalive 1/1/3 (abort at 4 s without U) on a silent peer. */
static void ka_case(uint64_t seed, uint64_t ut, uint64_t want, const char *what)
{
	static const struct keepalive_config k = { SEC(1), SEC(1), 3 };
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t t0;
	struct kw_tcp_stats st;

	setup(&p, seed, &c, &s);
	kw_tcp_set_keepalive(c, true, &k, p.now);
	kw_tcp_set_user_timeout(c, ut);
	pair_run_until(&p, p.now + MS(100));
	t0 = p.now;
	p.down = true;
	p.tap = log_tap;
	nlog = 0;
	/* The last segment the client received came before t0; measure from
	 * the keepalive's own anchor: the first probe is at anchor + 1 s. */
	pair_run_while_not(&p, has_error, c, t0 + SEC(3600));
	kw_tcp_layer_stats(p.l[0], &st);
	{
		uint64_t first = 0;
		for (unsigned i = 0; i < nlog; i++)
			if (logv[i].from == 0 && !(logv[i].si.flags & F_RST)) {
				first = logv[i].at;
				break;
			}
		tap_ok(first != 0, "keepalive: probes went out");
		tap_is_u64(p.now - (first - SEC(1)), want, what);
		tap_is_u64(rst_at(0), p.now, "keepalive + U: RST at the abort");
	}
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ETIMEDOUT, "keepalive + U: ETIMEDOUT");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static void test_keepalive(void)
{
	ka_case(36, SEC(10), SEC(10), "keepalive 1/1/3 + U 10 s: abort at 10 s of silence, not 4 s");
	ka_case(37, MS(2500), SEC(3), "keepalive 1/1/3 + U 2.5 s: abort at the next event, 3 s");
	ka_case(38, 0, SEC(4), "keepalive 1/1/3, U 0: abort at 4 s as before");
}

static void test_inherit(void)
{
	struct tcp_pair p;
	struct kw_tcp *l, *c, *s;

	pair_init(&p, 39);
	kw_tcp_open(p.l[1], &l);
	kw_tcp_bind(l, 0, 81);
	kw_tcp_set_user_timeout(l, MS(2000));
	kw_tcp_listen(l, 4);
	kw_tcp_open(p.l[0], &c);
	kw_tcp_connect(c, PAIR_ADDR1, 81, p.now);
	pair_run_until(&p, p.now + SEC(1));
	tap_is_u64((uint64_t)kw_tcp_accept(l, &s), 0, "inherit: accepted");
	tap_is_u64(kw_tcp_get_user_timeout(s), MS(2000), "the child inherits the listener's user timeout");
	tap_is_u64(kw_tcp_get_user_timeout(c), 0, "off by default");
	kw_tcp_close(s, p.now);
	kw_tcp_close(c, p.now);
	kw_tcp_close(l, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_rto();
	test_persist();
	test_keepalive();
	test_inherit();
	return tap_done();
}
