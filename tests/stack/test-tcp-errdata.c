/* What a connection that ended with an error still gives its reader, as
 * on Linux: in-order bytes received before a reset (or a keepalive
 * timeout) are read first, then the error; a reset after the peer's FIN
 * reads as end of stream (SOCK_DONE before sk_err) while SO_ERROR and
 * send report EPIPE; and a connect abandoned in SYN-SENT leaves nothing
 * behind, so a late SYN-ACK is answered with RST. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define TOTAL 400000u

static uint8_t pattern(size_t i) { return (uint8_t)(i * 13 + i / 251); }

static unsigned n_rst[2], n_synack;
static struct seginfo last_rst[2], last_synack;

static void count_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		      const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	if (si->flags & F_RST) {
		n_rst[from]++;
		last_rst[from] = *si;
	}
	if ((si->flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK)) {
		n_synack++;
		last_synack = *si;
	}
}

/* The server (endpoint 1) sends TOTAL bytes while the client reads only
 * a little at a time, until every byte is acknowledged; the client has
 * read `*got` of them and keeps the rest queued. */
static bool send_all_acked(struct tcp_pair *p, struct kw_tcp *c, struct kw_tcp *s,
			   size_t *got, bool *intact)
{
	static uint8_t buf[65536];
	size_t sent = 0, full = kw_tcp_send_space(s);

	for (int round = 0; round < 10000; round++) {
		while (sent < TOTAL) {
			size_t n = TOTAL - sent < sizeof(buf) ? TOTAL - sent : sizeof(buf);
			ssize_t w;

			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(sent + i);
			w = kw_tcp_send(s, buf, n, p->now);
			if (w <= 0)
				break;
			sent += (size_t)w;
		}
		pair_run_until(p, p->now + MS(5));
		if (sent == TOTAL && kw_tcp_send_space(s) == full)
			return true;
		/* A slow reader: 2 KiB per 5 ms. */
		ssize_t r = kw_tcp_recv(c, buf, 2048, p->now);
		for (ssize_t i = 0; i < r; i++)
			*intact &= buf[i] == pattern(*got + (size_t)i);
		if (r > 0)
			*got += (size_t)r;
	}
	return false;
}

/* Read everything left; returns the final (non-positive) result. */
static ssize_t drain(struct tcp_pair *p, struct kw_tcp *c, size_t *got, bool *intact)
{
	static uint8_t buf[7000];
	ssize_t r;

	while ((r = kw_tcp_recv(c, buf, sizeof(buf), p->now)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			*intact &= buf[i] == pattern(*got + (size_t)i);
		*got += (size_t)r;
	}
	return r;
}

static void test_data_before_reset(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	size_t got = 0, before;
	bool intact = true;
	char b[4];

	pair_init(&p, 91);
	p.latency = MS(1);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "reset after data: connected");
	tap_ok(send_all_acked(&p, c, s, &got, &intact),
	       "400,000 bytes sent and all acknowledged, the reader slow");
	before = got;
	tap_diag("the reader had read %zu bytes when the peer reset", before);
	tap_ok(before < TOTAL / 2, "... so most of them are still queued");
	kw_tcp_abort(s, p.now);                 /* SO_LINGER {1,0} + close */
	pair_run_until(&p, p.now + MS(10));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "the peer's RST closed the connection");
	tap_ok((kw_tcp_events(c) & (KW_TCP_READABLE | KW_TCP_ERROR)) == (KW_TCP_READABLE | KW_TCP_ERROR),
	       "events: readable and an error pending");
	tap_is_u64((uint64_t)kw_tcp_peek(c, b, 4), 4, "peek still returns queued bytes");
	tap_is_u64((uint64_t)drain(&p, c, &got, &intact), (uint64_t)-ECONNRESET,
		   "recv returns the queued bytes, then -ECONNRESET");
	tap_is_u64(got, TOTAL, "all 400,000 bytes were read");
	tap_ok(intact, "... intact and in order");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ECONNRESET, "SO_ERROR: ECONNRESET");
	kw_tcp_close(c, p.now);
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "close frees the socket (and its queue)");
	pair_fini(&p);
}

static void test_data_before_keepalive_timeout(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	struct keepalive_config k = { .idle_ns = SEC(2), .interval_ns = SEC(1), .count = 2 };
	size_t got = 0;
	bool intact = true;

	pair_init(&p, 92);
	p.latency = MS(1);
	tap_ok(pair_connect(&p, 81, &c, &s, NULL) == 0, "keepalive timeout after data: connected");
	tap_ok(send_all_acked(&p, c, s, &got, &intact), "400,000 bytes sent and acknowledged");
	kw_tcp_set_keepalive(c, true, &k, p.now);
	p.down = true;
	pair_run_until(&p, p.now + SEC(10));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "keepalive gave up");
	tap_is_u64((uint64_t)drain(&p, c, &got, &intact), (uint64_t)-ETIMEDOUT,
		   "recv returns the queued bytes, then -ETIMEDOUT");
	tap_is_u64(got, TOTAL, "all 400,000 bytes were read");
	tap_ok(intact, "... intact and in order");
	kw_tcp_close(c, p.now);
	kw_tcp_abort(s, p.now);
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "close frees the socket");
	pair_fini(&p);
}

static void test_reset_after_fin(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char b[16];

	for (int unread = 0; unread < 2; unread++) {
		pair_init(&p, 93 + (uint64_t)unread);
		p.latency = MS(1);
		tap_ok(pair_connect(&p, 82, &c, &s, NULL) == 0, "reset after FIN: connected");
		kw_tcp_send(s, "hello", 5, p.now);
		kw_tcp_shutdown(s, SHUT_WR, p.now);
		pair_run_until(&p, p.now + MS(10));
		tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSE-WAIT", "the peer's FIN: CLOSE-WAIT");
		if (!unread) {
			tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), p.now), 5, "hello read");
			tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), p.now), 0, "then EOF");
		}
		kw_tcp_send(c, "x", 1, p.now);
		kw_tcp_abort(s, p.now);         /* the peer's kernel resets */
		pair_run_until(&p, p.now + MS(10));
		tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "the RST closed it");
		if (unread)
			tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), p.now), 5,
				   "RST after FIN, data unread: recv returns the data first");
		tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), p.now), 0,
			   unread ? "... then 0 (end of stream), not -EPIPE"
				  : "RST after FIN: recv returns 0 (end of stream), not -EPIPE");
		tap_ok(kw_tcp_events(c) & KW_TCP_READABLE, "readable");
		tap_is_u64((uint64_t)kw_tcp_take_error(c), EPIPE, "SO_ERROR: EPIPE (Linux, CLOSE-WAIT)");
		tap_is_u64((uint64_t)kw_tcp_send(c, "y", 1, p.now), (uint64_t)-EPIPE, "send: -EPIPE");
		kw_tcp_close(c, p.now);
		tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "close frees it");
		pair_fini(&p);
	}
}

/* The server's first SYN-ACK is lost; the client gives up the connect
 * before the retransmission arrives. */
static bool drop_first_synack(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			      const struct seginfo *si)
{
	static unsigned seen;

	(void)p; (void)seg; (void)len;
	if (from == 1 && (si->flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK))
		return seen++ == 0;
	return false;
}

static void test_close_while_connecting(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *l;
	unsigned syns_after;

	pair_init(&p, 95);
	p.latency = MS(5);
	p.tap = count_tap;
	p.filter = drop_first_synack;
	memset(n_rst, 0, sizeof(n_rst));
	n_synack = 0;
	kw_tcp_open(p.l[1], &l);
	kw_tcp_bind(l, 0, 83);
	kw_tcp_listen(l, 8);
	kw_tcp_open(p.l[0], &c);
	tap_is_u64((uint64_t)kw_tcp_connect(c, PAIR_ADDR1, 83, p.now), (uint64_t)-EINPROGRESS,
		   "connect in progress");
	pair_run_until(&p, p.now + MS(100));
	tap_ok(n_synack == 1 && kw_tcp_state(c) == KW_TCP_SYN_SENT,
	       "the SYN-ACK was lost: still SYN-SENT");
	kw_tcp_close(c, p.now);
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "close in SYN-SENT frees the socket at once");
	tap_is_u64(n_rst[0], 0, "... without a RST (nothing to reset yet)");
	syns_after = n_synack;
	pair_run_until(&p, p.now + SEC(2));
	tap_ok(n_synack > syns_after, "the listener retransmitted its SYN-ACK");
	tap_is_u64(n_rst[0], 1, "the late SYN-ACK is answered with RST");
	tap_ok(last_rst[0].flags == F_RST && last_rst[0].seq == last_synack.ack,
	       "... a bare RST whose sequence number is the SYN-ACK's ACK");
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "the client's layer holds no socket");
	tap_is_u64(kw_tcp_layer_count(p.l[1]), 1, "the listener's half-open child is gone");
	kw_tcp_close(l, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_data_before_reset();
	test_data_before_keepalive_timeout();
	test_reset_after_fin();
	test_close_while_connecting();
	return tap_done();
}
