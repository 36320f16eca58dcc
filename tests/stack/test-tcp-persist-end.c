/* Persist and orphans end as on Linux (tcp_timer.c: tcp_probe_timer,
 * tcp_write_timeout, tcp_orphan_retries; the FIN-WAIT-2 limit).
 *
 * The link has no latency, so the RTO sits at its 200 ms floor and the
 * zero-window probe base is 200 ms. The persist timer is armed at Tp when
 * the window closes; expiry j (j = 0, 1, ...) waits min(200 ms << j,
 * 120 s) after the previous one, so expiry j is at
 *   Tp + 0.2 * (2^(j+1) - 1) s   for j <= 9 (the last is Tp + 204.6 s),
 *   Tp + 204.6 + 120 * (j - 9) s beyond.
 * Each expiry that does not give up sends one probe; P1 (the first probe)
 * = Tp + 0.2 s. An answered probe resets the count of unanswered probes,
 * not the backoff.
 *
 *   held handle, probes unanswered: 15 probes (tcp_retries2), the
 *     16th expiry (j = 15) gives up: Tp + 924.6 = P1 + 924.4 s.
 *   held handle, probes answered: never ends (RFC 1122 4.2.2.17).
 *   orphan, probes unanswered: 8 probes (tcp_orphan_retries() = 8 while
 *     "alive", 200 ms << j < 120 s), expiry j = 8 gives up: Tp + 102.2 =
 *     P1 + 102.0 s.
 *   orphan, probes answered: at expiry j = 10 the backed-off interval
 *     (204.8 s, capped at 120 s) is no longer below TCP_RTO_MAX: "not
 *     alive" leaves no probe budget: Tp + 324.6 = P1 + 324.4 s, after 10
 *     probes.
 *   orphan, retransmissions unanswered (tcp_write_timeout): the loss
 *     probe at t0 + 0.2 s (in the RTO's place, not a retry; the RTO
 *     restarts), 8 retries at 0.4 .. 51.2 s, and the next expiry, t0 +
 *     102.4 s, is the first past tcp_model_timeout(8) = 102.2 s from
 *     retrans_stamp (t0): freed at t0 + 102.4 s.
 *   orphaned FIN-WAIT-2: freed 60 s (tcp_fin_timeout) after it is both
 *     orphaned and in FIN-WAIT-2, whichever came last. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define MAXLOG 8192
static struct { uint64_t at; int from; struct seginfo si; } logv[MAXLOG];
static unsigned nlog;
static bool down_at_first_probe;

static bool is_probe(int from, const struct seginfo *si)
{
	return from == 1 && si->dlen == 0 && si->flags == F_ACK;
}

static void log_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		    const struct seginfo *si)
{
	(void)seg; (void)len;
	if (down_at_first_probe && is_probe(from, si))
		p->down = true;           /* this probe and everything after is lost */
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

static bool server_gone(struct tcp_pair *p, void *arg)
{
	(void)arg;
	return kw_tcp_layer_count(p->l[1]) == 0;
}

static unsigned probes(uint64_t *first)
{
	unsigned n = 0;

	*first = 0;
	for (unsigned i = 0; i < nlog; i++)
		if (is_probe(logv[i].from, &logv[i].si)) {
			if (n++ == 0)
				*first = logv[i].at;
		}
	return n;
}

/* Server (endpoint 1) sends 20000 bytes to a client with a 4 KiB receive
 * buffer that never reads: the window closes. */
static void setup(struct tcp_pair *p, uint64_t seed, struct kw_tcp **c, struct kw_tcp **s)
{
	static uint8_t data[20000];

	pair_init(p, seed);
	p->latency = 0;
	p->client_rcvbuf = 4096;
	tap_ok(pair_connect(p, 80, c, s, NULL) == 0, "connected");
	p->tap = log_tap;
	nlog = 0;
	kw_tcp_send(*s, data, sizeof(data), p->now);
}

static void test_held_unanswered(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t p1;
	unsigned n;

	setup(&p, 51, &c, &s);
	tap_is_u64((uint64_t)kw_tcp_shutdown(s, SHUT_WR, p.now), 0, "SHUT_WR with data waiting");
	down_at_first_probe = true;
	pair_run_while_not(&p, has_error, s, p.now + SEC(36000));
	down_at_first_probe = false;
	n = probes(&p1);
	tap_is_u64(n, 15, "held, unanswered: 15 probes (tcp_retries2)");
	tap_is_u64(p.now - p1, MS(924400), "held, unanswered: ends at P1 + 924.4 s, not never");
	tap_is_u64((uint64_t)kw_tcp_take_error(s), ETIMEDOUT, "held, unanswered: ETIMEDOUT");
	tap_is_u64(kw_tcp_state(s), KW_TCP_CLOSED, "held, unanswered: CLOSED (was FIN-WAIT-1)");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static void test_held_answered(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t p1;
	unsigned n;

	setup(&p, 52, &c, &s);
	kw_tcp_shutdown(s, SHUT_WR, p.now);
	pair_run_until(&p, p.now + SEC(36000));
	n = probes(&p1);
	tap_diag("held, answered: %u probes in 10 h", n);
	tap_ok(n > 200, "held, answered: probing goes on (every 120 s at most)");
	tap_is_u64(kw_tcp_state(s), KW_TCP_FIN_WAIT_1, "held, answered: still FIN-WAIT-1 after 10 h");
	tap_is_u64((uint64_t)kw_tcp_take_error(s), 0, "held, answered: no error (RFC 1122 4.2.2.17)");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static void orphan_case(uint64_t seed, bool answered, unsigned want_probes, uint64_t want_end,
			const char *what)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t p1;
	unsigned n;
	char b[16];

	setup(&p, seed, &c, &s);
	kw_tcp_close(s, p.now);            /* orphan, FIN queued behind the data */
	down_at_first_probe = !answered;
	pair_run_while_not(&p, server_gone, NULL, p.now + SEC(36000));
	down_at_first_probe = false;
	n = probes(&p1);
	tap_is_u64(kw_tcp_layer_count(p.l[1]), 0, "orphan: freed");
	tap_is_u64(n, want_probes, "orphan: probes sent");
	tap_is_u64(p.now - p1, want_end, what);
	if (answered) {
		pair_run_until(&p, p.now + MS(1));
		tap_ok(kw_tcp_recv(c, b, sizeof(b), p.now) > 0 || kw_tcp_take_error(c) == ECONNRESET,
		       "orphan, answered: the client learns of it (RST)");
	}
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

static void test_orphan_rto(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t t0;

	pair_init(&p, 55);
	p.latency = 0;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "orphan rto: connected");
	pair_run_until(&p, p.now + SEC(1));
	p.down = true;
	t0 = p.now;
	kw_tcp_send(s, "data", 4, p.now);
	kw_tcp_close(s, p.now);
	pair_run_while_not(&p, server_gone, NULL, p.now + SEC(36000));
	tap_is_u64(p.now - t0, MS(102400), "orphan, retransmissions unanswered: freed at t0 + 102.4 s (a probe, 8 retries)");
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

/* FIN-WAIT-2 orphans, reached three ways. */
static void test_fin_wait2(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t t;
	static uint8_t data[20000], got[20000];

	/* a: closed in ESTABLISHED; the peer ACKs the FIN and stays. */
	pair_init(&p, 56);
	p.latency = 0;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "fin-wait-2 a: connected");
	t = p.now;
	kw_tcp_close(s, p.now);
	pair_run_until(&p, t + SEC(60) - MS(1));
	tap_is_u64(kw_tcp_layer_count(p.l[1]), 1, "a: still held 1 ms before 60 s");
	pair_run_while_not(&p, server_gone, NULL, p.now + SEC(3600));
	tap_is_u64(p.now - t, SEC(60), "a: close in ESTABLISHED: freed 60 s after the FIN was acknowledged");
	kw_tcp_close(c, p.now);
	pair_fini(&p);

	/* b: SHUT_WR, FIN-WAIT-2 with the handle held for 100 s, then close. */
	pair_init(&p, 57);
	p.latency = 0;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "fin-wait-2 b: connected");
	kw_tcp_shutdown(s, SHUT_WR, p.now);
	pair_run_until(&p, p.now + SEC(100));
	tap_is_u64(kw_tcp_state(s), KW_TCP_FIN_WAIT_2, "b: held FIN-WAIT-2 stays (100 s)");
	t = p.now;
	kw_tcp_close(s, p.now);
	pair_run_while_not(&p, server_gone, NULL, p.now + SEC(3600));
	tap_is_u64(p.now - t, SEC(60), "b: freed 60 s after the close");
	kw_tcp_close(c, p.now);
	pair_fini(&p);

	/* c: closed in FIN-WAIT-1 behind a closed window; the client reads it
	 * all 30 s later, the FIN goes and is acknowledged: FIN-WAIT-2 then. */
	pair_init(&p, 58);
	p.latency = 0;
	p.client_rcvbuf = 4096;
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "fin-wait-2 c: connected");
	p.tap = log_tap;
	nlog = 0;
	kw_tcp_send(s, data, sizeof(data), p.now);
	kw_tcp_close(s, p.now);
	pair_run_until(&p, p.now + SEC(30));
	{
		size_t n = 0;
		ssize_t r;
		uint32_t fin_end = 0;
		uint64_t acked = 0;

		for (int i = 0; i < 200 && n < sizeof(got); i++) {
			while ((r = kw_tcp_recv(c, got + n, sizeof(got) - n, p.now)) > 0)
				n += (size_t)r;
			pair_run_until(&p, p.now + MS(10));
		}
		tap_is_u64(n, sizeof(data), "c: all data arrived");
		for (unsigned i = 0; i < nlog; i++) {
			if (logv[i].from == 1 && (logv[i].si.flags & F_FIN))
				fin_end = logv[i].si.seq + (uint32_t)logv[i].si.dlen + 1;
			if (fin_end && !acked && logv[i].from == 0 && logv[i].si.ack == fin_end)
				acked = logv[i].at;
		}
		tap_ok(acked != 0, "c: the FIN was acknowledged");
		pair_run_while_not(&p, server_gone, NULL, p.now + SEC(3600));
		tap_is_u64(p.now - acked, SEC(60), "c: freed 60 s after FIN-WAIT-2 was reached");
	}
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_held_unanswered();
	test_held_answered();
	orphan_case(53, false, 8, MS(102000),
		    "orphan, probes unanswered: freed at P1 + 102.0 s (8 probes, tcp_orphan_retries)");
	orphan_case(54, true, 10, MS(324400),
		    "orphan, probes answered: freed at P1 + 324.4 s (backoff reached 120 s: not alive)");
	test_orphan_rto();
	test_fin_wait2();
	return tap_done();
}
