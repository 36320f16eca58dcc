/* TCP_INFO's source (kw_tcp_info) and SO_REUSEPORT in the TCP layer, over
 * the in-memory pair with fake time: the counters follow what crossed the
 * link, retransmissions are counted, RTT is the link's; listeners that
 * set SO_REUSEPORT share a port and split its connections, others get
 * EADDRINUSE. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>

static void test_info_counts(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s, *l;
	struct kw_tcp_info ci, si;
	static uint8_t buf[100000], rbuf[100000];
	size_t got = 0;
	uint64_t t0, max_rate = 0;

	pair_init(&p, 11);
	p.latency = MS(5);
	if (pair_connect(&p, 80, &c, &s, &l) != 0) {
		tap_ok(0, "connect");
		return;
	}
	kw_tcp_info(c, &ci, p.now);
	tap_is_u64(ci.state, KW_TCP_ESTABLISHED, "info: ESTABLISHED");
	tap_is_u64(ci.rtt_us, 10000, "info: RTT from the handshake is the link's 10 ms");
	memset(buf, 7, sizeof(buf));
	tap_is_u64((uint64_t)kw_tcp_send(c, buf, sizeof(buf), p.now), sizeof(buf), "100,000 bytes queued");
	t0 = p.now;
	while (got < sizeof(buf) && p.now < t0 + SEC(30)) {
		ssize_t r;
		pair_run_until(&p, p.now + MS(1));
		kw_tcp_info(c, &ci, p.now);
		if (ci.delivery_rate > max_rate)
			max_rate = ci.delivery_rate;
		while ((r = kw_tcp_recv(s, rbuf, sizeof(rbuf), p.now)) > 0)
			got += (size_t)r;
	}
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_info(c, &ci, p.now);
	kw_tcp_info(s, &si, p.now);
	tap_is_u64(got, sizeof(buf), "all received");
	tap_is_u64(ci.bytes_acked, sizeof(buf), "sender: bytes_acked");
	tap_is_u64(ci.bytes_sent, sizeof(buf), "sender: bytes_sent (no loss, nothing sent twice)");
	tap_is_u64(ci.total_retrans, 0, "sender: no retransmission");
	tap_is_u64(si.bytes_received, sizeof(buf), "receiver: bytes_received");
	tap_ok(si.data_segs_in >= sizeof(buf) / ci.snd_mss, "receiver: data segments in");
	tap_ok(ci.segs_out >= ci.data_segs_out && ci.data_segs_out == si.data_segs_in,
	       "what one sent the other received");
	tap_is_u64(ci.unacked, 0, "sender: nothing unacknowledged");
	tap_diag("sender: rtt %u us, rttvar %u us, cwnd %u", ci.rtt_us, ci.rttvar_us, ci.snd_cwnd);
	tap_ok(ci.rtt_us >= 10000 && ci.rtt_us < 50000,
	       "sender: smoothed RTT between the link's 10 ms and that plus the 40 ms delayed ACK");
	tap_ok(ci.snd_cwnd > 10, "sender: cwnd grew past the initial 10 segments");
	tap_ok(ci.last_data_sent_ms >= 105 && ci.last_data_sent_ms <= 106,
	       "sender: last data sent 105 ms ago (one-way 5 ms, then 100 ms idle)");
	tap_ok(si.last_data_recv_ms >= 100 && si.last_data_recv_ms <= 106,
	       "receiver: last data received about 100 ms ago");
	tap_ok(ci.options & KW_TCPI_OPT_TIMESTAMPS, "timestamps agreed");
	tap_diag("sender: min_rtt %u us, delivery rate %llu bytes/s now, %llu at most", ci.min_rtt_us,
		 (unsigned long long)ci.delivery_rate, (unsigned long long)max_rate);
	tap_ok(ci.min_rtt_us >= 9990 && ci.min_rtt_us < 13000,
	       "sender: min_rtt the link's 10 ms (plus at most its 3 ms jitter)");
	/* Slow start from 10 segments over 10 ms: the rate doubles per RTT;
	 * the last sample is the 88-byte tail over its delayed ACK. */
	tap_ok(max_rate >= 10 * 1448 * 100 && max_rate <= sizeof(buf) * 100,
	       "sender: delivery rate samples from 10 segments per RTT up to at most all of it in one");
	tap_ok(ci.delivery_rate > 0 && ci.delivery_rate < max_rate, "... the last one, the tail's, lower");
	tap_is_u64(si.min_rtt_us, UINT32_MAX, "receiver (sent nothing): no min_rtt, as Linux's ~0U");

	/* A loss: one RTO, counted. */
	p.down = true;
	kw_tcp_send(c, buf, 1000, p.now);
	/* The tail-loss probe goes first (2 SRTT + 40 ms), then the RTO
	 * (restarted by the probe, as Linux does). */
	pair_run_until(&p, p.now + MS(500));
	kw_tcp_info(c, &ci, p.now);
	tap_ok(ci.retransmits >= 1 && ci.total_retrans >= 1 && ci.unacked == 1,
	       "link down: a timeout retransmits, and TCP_INFO says so");
	tap_ok(ci.lost >= 1, "... the segment counts as lost");
	p.down = false;
	pair_run_until(&p, p.now + SEC(3));
	kw_tcp_info(c, &ci, p.now);
	tap_ok(ci.retransmits == 0 && ci.unacked == 0 && ci.total_retrans >= 1,
	       "link back: acknowledged, retransmits back to 0, total kept");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	kw_tcp_close(l, p.now);
	pair_fini(&p);
}

static void test_reuseport(void)
{
	struct tcp_pair p;
	struct kw_tcp *a, *b, *x, *cl[32];
	int n[2] = { 0, 0 };

	pair_init(&p, 12);
	kw_tcp_open(p.l[1], &a);
	kw_tcp_open(p.l[1], &b);
	kw_tcp_open(p.l[1], &x);
	kw_tcp_set_reuseport(a, true);
	kw_tcp_set_reuseport(b, true);
	tap_ok(kw_tcp_bind(a, 0, 8080) == 0 && kw_tcp_listen(a, 64) == 0, "reuseport: first listener");
	tap_ok(kw_tcp_bind(b, 0, 8080) == 0 && kw_tcp_listen(b, 64) == 0, "reuseport: second on the same port");
	tap_is_u64((uint64_t)-kw_tcp_bind(x, 0, 8080), EADDRINUSE, "without SO_REUSEPORT: EADDRINUSE");
	for (int i = 0; i < 32; i++) {
		kw_tcp_open(p.l[0], &cl[i]);
		kw_tcp_connect(cl[i], PAIR_ADDR1, 8080, p.now);
	}
	pair_run_until(&p, p.now + SEC(1));
	for (int i = 0; i < 2; i++) {
		struct kw_tcp *t;
		while (kw_tcp_accept(i ? b : a, &t) == 0) {
			n[i]++;
			kw_tcp_close(t, p.now);
		}
	}
	tap_diag("32 connections: %d and %d", n[0], n[1]);
	tap_ok(n[0] + n[1] == 32 && n[0] > 0 && n[1] > 0, "reuseport: connections spread over both");
	kw_tcp_close(a, p.now);
	tap_ok(kw_tcp_bind(x, 0, 8080) == -EADDRINUSE, "one of the group left: still in use");
	kw_tcp_close(b, p.now);
	tap_ok(kw_tcp_bind(x, 0, 8080) == 0, "the whole group closed: the port is free at once");
	kw_tcp_close(x, p.now);
	for (int i = 0; i < 32; i++)
		kw_tcp_close(cl[i], p.now);
	pair_run_until(&p, p.now + SEC(200));
	pair_fini(&p);
}

int main(void)
{
	test_info_counts();
	test_reuseport();
	return tap_done();
}
