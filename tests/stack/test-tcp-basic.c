/* TCP state machine over the in-memory pair and with crafted segments:
 * handshake, small data, half-close both ways, TIME-WAIT, RST to a closed
 * port (ECONNREFUSED), RFC 5961 RST checks, malformed input, checksum. */
#include "stack/checksum.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <malloc.h>
#include <sys/socket.h>

static unsigned n_segs[2], n_rst[2], n_synack;
static struct seginfo last[2];

static void count_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		      const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	n_segs[from]++;
	if (si->flags & F_RST)
		n_rst[from]++;
	if ((si->flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK))
		n_synack++;
	last[from] = *si;
}

static void reset_counts(void)
{
	memset(n_segs, 0, sizeof(n_segs));
	memset(n_rst, 0, sizeof(n_rst));
	n_synack = 0;
}

static void test_checksum(void)
{
	/* RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	const uint8_t v[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	uint8_t odd[] = { 0x01, 0x02, 0x03 };
	uint8_t hdr[20] = { 0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
	uint16_t c;

	tap_is_u64(kw_checksum(v, sizeof(v), 0), (uint16_t)~0xddf2, "checksum: RFC 1071 example");
	tap_is_u64(kw_checksum(odd, 3, 0), (uint16_t)~(0x0102 + 0x0300), "checksum: odd length pads a zero");
	c = kw_inet_checksum(hdr, sizeof(hdr));
	hdr[10] = (uint8_t)(c >> 8);
	hdr[11] = (uint8_t)c;
	tap_is_u64(kw_inet_checksum(hdr, sizeof(hdr)), 0, "checksum: a filled-in header verifies to 0");
	tap_is_u64(kw_checksum_fold(kw_checksum_add(kw_checksum_add(0, v, 4), v + 4, 4)),
		   kw_checksum(v, 8, 0), "checksum: chained pieces equal one pass");
}

/* The calls a bridge uses: peek leaves bytes in place, consume drops
 * them, send_space says what send would take. */
static void test_peek_consume_space(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char buf[16];
	size_t space;

	pair_init(&p, 7);
	tap_ok(pair_connect(&p, 81, &c, &s, NULL) == 0, "bridge calls: connected");
	space = kw_tcp_send_space(c);
	tap_ok(space > 0, "send_space of a fresh connection is positive");
	tap_is_u64((uint64_t)kw_tcp_peek(s, buf, sizeof(buf)), (uint64_t)-EAGAIN, "peek with nothing: -EAGAIN");
	tap_is_u64((uint64_t)kw_tcp_send(c, "abcdef", 6, p.now), 6, "send 6 bytes");
	tap_ok(kw_tcp_send_space(c) <= space - 6 || kw_tcp_send_space(c) == space,
	       "send_space shrinks by what is still unacknowledged");
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64((uint64_t)kw_tcp_peek(s, buf, 4), 4, "peek 4 of 6");
	tap_ok(memcmp(buf, "abcd", 4) == 0, "peeked bytes are the first ones");
	tap_is_u64((uint64_t)kw_tcp_peek(s, buf, sizeof(buf)), 6, "peek again sees all 6: nothing consumed");
	kw_tcp_consume(s, 2, p.now);
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), 4, "after consuming 2, recv gets 4");
	tap_ok(memcmp(buf, "cdef", 4) == 0, "and they are the last 4");
	tap_is_u64(kw_tcp_shutdown(c, SHUT_WR, p.now), 0, "client SHUT_WR");
	tap_is_u64(kw_tcp_send_space(c), 0, "send_space is 0 after SHUT_WR");
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64((uint64_t)kw_tcp_peek(s, buf, sizeof(buf)), 0, "peek at EOF: 0");
	kw_tcp_abort(c, p.now);
	kw_tcp_abort(s, p.now);
	pair_fini(&p);
}

/* kw_tcp_peek_iov: the bytes peek would copy, in place, in two pieces
 * once the receive ring wraps; nothing consumed. */
static void pump(struct tcp_pair *p, struct kw_tcp *c, const uint8_t *data, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = kw_tcp_send(c, data + off, n - off, p->now);
		if (r > 0)
			off += (size_t)r;
		pair_run_until(p, p->now + MS(20));
	}
	pair_run_until(p, p->now + MS(100));
}

static void test_peek_iov(void)
{
	static uint8_t data[300000], flat[300000];
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	struct iovec iov[2];
	ssize_t n;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	pair_init(&p, 9);
	tap_ok(pair_connect(&p, 82, &c, &s, NULL) == 0, "peek_iov: connected");
	tap_is_u64((uint64_t)kw_tcp_peek_iov(s, iov, 100), (uint64_t)-EAGAIN, "peek_iov with nothing: -EAGAIN");
	pump(&p, c, data, 200000);
	n = kw_tcp_peek_iov(s, iov, sizeof(flat));
	tap_ok(n == 200000 && iov[0].iov_len == 200000 && iov[1].iov_len == 0 &&
	       memcmp(iov[0].iov_base, data, 200000) == 0, "200,000 bytes in one piece, in place");
	/* Leave 50,000 bytes unread (an empty ring restarts at offset 0),
	 * so the next 100,000 run past the end of the 256 KiB ring. */
	kw_tcp_consume(s, 150000, p.now);
	pump(&p, c, data + 200000, 100000);
	n = kw_tcp_peek_iov(s, iov, sizeof(flat));
	tap_diag("after the wrap: %zu + %zu bytes", iov[0].iov_len, iov[1].iov_len);
	if (n > 0) {
		memcpy(flat, iov[0].iov_base, iov[0].iov_len);
		memcpy(flat + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
	}
	tap_ok(n == 150000 && iov[1].iov_len > 0 && iov[0].iov_len + iov[1].iov_len == 150000 &&
	       memcmp(flat, data + 150000, 150000) == 0,
	       "150,000 unread bytes in two pieces where the ring wraps, in order");
	n = kw_tcp_peek_iov(s, iov, 10);
	tap_ok(n == 10 && iov[0].iov_len + iov[1].iov_len == 10, "at most len bytes");
	tap_is_u64((uint64_t)kw_tcp_recv(s, flat, sizeof(flat), p.now), 150000, "nothing was consumed");
	kw_tcp_abort(c, p.now);
	kw_tcp_abort(s, p.now);
	pair_fini(&p);
}

/* An idle connection (keepalive only, no data yet) allocates no buffer:
 * 100 of them must not map 2 x 256 KiB each. */
static void test_idle_connections_have_no_buffers(void)
{
	struct tcp_pair p;
	struct kw_tcp *c[100], *s[100];
	size_t before, after;
	int ok = 1;

	pair_init(&p, 13);
	before = mallinfo2().hblkhd + mallinfo2().uordblks;
	for (int i = 0; i < 100; i++)
		ok &= pair_connect(&p, (uint16_t)(1000 + i), &c[i], &s[i], NULL) == 0;
	after = mallinfo2().hblkhd + mallinfo2().uordblks;
	tap_ok(ok, "100 idle connections");
#if defined(__SANITIZE_ADDRESS__)
	(void)before;
	(void)after;
	printf("ok %d - ... hold no send or receive buffers # SKIP mallinfo2 under ASan\n", ++tap_count);
#else
	tap_ok(after - before < 100 * 2 * 4096,
	       "... hold no send or receive buffers (under 8 KiB of heap each)");
	tap_diag("heap: %zu bytes per connection pair", (after - before) / 100);
#endif
	tap_is_u64((uint64_t)kw_tcp_send(c[0], "x", 1, p.now), 1, "the first byte still goes out");
	pair_run_until(&p, p.now + MS(100));
	{
		char b[4];
		tap_is_u64((uint64_t)kw_tcp_recv(s[0], b, sizeof(b), p.now), 1, "... and arrives");
	}
	for (int i = 0; i < 100; i++) {
		kw_tcp_abort(c[i], p.now);
		kw_tcp_abort(s[i], p.now);
	}
	pair_fini(&p);
}

/* TIME-WAIT keeps no buffers: 1000 of them must not hold 512 KiB each. */
static void test_time_wait_frees_buffers(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char buf[4096];
	size_t before, during;

	pair_init(&p, 11);
	tap_ok(pair_connect(&p, 82, &c, &s, NULL) == 0, "TIME-WAIT buffers: connected");
	memset(buf, 'b', sizeof(buf));
	kw_tcp_send(c, buf, sizeof(buf), p.now);
	kw_tcp_send(s, buf, sizeof(buf), p.now);
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_recv(c, buf, sizeof(buf), p.now);
	kw_tcp_recv(s, buf, sizeof(buf), p.now);
	before = mallinfo2().hblkhd + mallinfo2().uordblks;
	kw_tcp_close(c, p.now);          /* c closes first: c ends in TIME-WAIT */
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_close(s, p.now);
	pair_run_until(&p, p.now + MS(100));
	during = mallinfo2().hblkhd + mallinfo2().uordblks;
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 1, "the closing side still holds the connection (TIME-WAIT)");
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's allocator does not report through mallinfo2. */
	(void)before;
	(void)during;
	printf("ok %d - both connections' buffers are freed by now # SKIP mallinfo2 under ASan\n",
	       ++tap_count);
#else
	tap_ok(before - during >= 4 * 256 * 1024 - 4096,
	       "both connections' send and receive buffers (4 x 256 KiB) are freed by now");
#endif
	tap_diag("heap: %zu KiB before the closes, %zu KiB in TIME-WAIT", before / 1024, during / 1024);
	pair_fini(&p);
}

static void test_handshake_and_data(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char buf[64];
	uint32_t a;
	uint16_t port;

	pair_init(&p, 1);
	p.tap = count_tap;
	reset_counts();
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "handshake: both ends ESTABLISHED");
	tap_is_u64(n_segs[0] + n_segs[1], 3, "handshake: three segments");
	tap_is_u64(kw_tcp_state(s), KW_TCP_ESTABLISHED, "handshake: accepted socket ESTABLISHED");
	kw_tcp_remote(s, &a, &port);
	tap_ok(a == PAIR_ADDR0 && port >= 49152, "server sees the client's address and an ephemeral port");
	tap_ok(kw_tcp_events(c) & KW_TCP_WRITABLE, "client is writable once connected");
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), (uint64_t)-EAGAIN,
		   "recv with nothing there: -EAGAIN");
	tap_is_u64((uint64_t)kw_tcp_send(c, "hello", 5, p.now), 5, "send 5 bytes");
	pair_run_until(&p, p.now + MS(100));
	tap_ok(kw_tcp_events(s) & KW_TCP_READABLE, "server readable");
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), 5, "server receives 5 bytes");
	tap_ok(memcmp(buf, "hello", 5) == 0, "bytes intact");

	/* Half-close, client first: client FIN, server still sends. */
	tap_is_u64(kw_tcp_shutdown(c, SHUT_WR, p.now), 0, "client SHUT_WR");
	pair_run_until(&p, p.now + MS(100));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "FIN-WAIT-2", "client FIN-WAIT-2");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(s)), "CLOSE-WAIT", "server CLOSE-WAIT");
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), 0, "server reads EOF");
	tap_ok(kw_tcp_events(s) & KW_TCP_RDHUP, "server: RDHUP");
	tap_is_u64((uint64_t)kw_tcp_send(c, "x", 1, p.now), (uint64_t)-EPIPE, "client send after SHUT_WR: -EPIPE");
	tap_is_u64((uint64_t)kw_tcp_send(s, "reply", 5, p.now), 5, "server still sends in CLOSE-WAIT");
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64((uint64_t)kw_tcp_recv(c, buf, sizeof(buf), p.now), 5, "client receives in FIN-WAIT-2");
	kw_tcp_close(s, p.now);
	pair_run_until(&p, p.now + MS(100));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "TIME-WAIT", "client TIME-WAIT");
	tap_is_u64((uint64_t)kw_tcp_recv(c, buf, sizeof(buf), p.now), 0, "client reads EOF");
	tap_is_u64(kw_tcp_layer_count(p.l[1]), 0, "server side freed after LAST-ACK");
	pair_run_until(&p, p.now + SEC(59));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "TIME-WAIT", "still TIME-WAIT before 2 MSL");
	pair_run_until(&p, p.now + SEC(1) + MS(100));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "CLOSED after 2 MSL (60 s)");
	kw_tcp_close(c, p.now);
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "client freed after close");
	pair_fini(&p);
}

static void test_half_close_server_first(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char buf[64];

	pair_init(&p, 2);
	tap_ok(pair_connect(&p, 81, &c, &s, NULL) == 0, "half-close (server first): connected");
	kw_tcp_shutdown(s, SHUT_WR, p.now);
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64((uint64_t)kw_tcp_recv(c, buf, sizeof(buf), p.now), 0, "client reads EOF");
	tap_is_u64((uint64_t)kw_tcp_send(c, "abc", 3, p.now), 3, "client sends after the peer's FIN");
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64((uint64_t)kw_tcp_recv(s, buf, sizeof(buf), p.now), 3, "server (FIN-WAIT-2) receives it");
	kw_tcp_close(c, p.now);
	pair_run_until(&p, p.now + MS(100));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(s)), "TIME-WAIT", "server TIME-WAIT (it closed first)");
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "client freed after LAST-ACK");
	tap_ok((kw_tcp_events(s) & KW_TCP_HUP) != 0, "server: HUP");
	kw_tcp_close(s, p.now);
	pair_run_until(&p, p.now + SEC(61));
	tap_is_u64(kw_tcp_layer_count(p.l[1]), 0, "TIME-WAIT ends and frees an orphan");
	pair_fini(&p);
}

static void test_simultaneous_close(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;

	pair_init(&p, 3);
	tap_ok(pair_connect(&p, 82, &c, &s, NULL) == 0, "simultaneous close: connected");
	kw_tcp_shutdown(c, SHUT_WR, p.now);
	kw_tcp_shutdown(s, SHUT_WR, p.now);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "FIN-WAIT-1", "both FIN-WAIT-1");
	pair_run_until(&p, p.now + MS(7));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSING", "FINs crossed: CLOSING");
	pair_run_until(&p, p.now + MS(100));
	tap_ok(kw_tcp_state(c) == KW_TCP_TIME_WAIT && kw_tcp_state(s) == KW_TCP_TIME_WAIT,
	       "both TIME-WAIT");
	pair_fini(&p);
}

static void test_refused(void)
{
	struct tcp_pair p;
	struct kw_tcp *c;

	pair_init(&p, 4);
	p.tap = count_tap;
	reset_counts();
	kw_tcp_open(p.l[0], &c);
	tap_is_u64((uint64_t)kw_tcp_connect(c, PAIR_ADDR1, 9, p.now), (uint64_t)-EINPROGRESS,
		   "connect to a closed port: -EINPROGRESS");
	pair_run_until(&p, p.now + MS(50));
	tap_is_u64(n_rst[1], 1, "the closed port answers with RST");
	tap_ok(last[1].flags == (F_RST | F_ACK), "RST+ACK for a SYN");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "connector CLOSED");
	tap_ok(kw_tcp_events(c) & KW_TCP_ERROR, "connector: ERROR event");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ECONNREFUSED, "SO_ERROR is ECONNREFUSED");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), 0, "...cleared by reading it");
	tap_is_u64((uint64_t)kw_tcp_send(c, "x", 1, p.now), (uint64_t)-ECONNREFUSED, "send reports it still");
	kw_tcp_close(c, p.now);
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "freed");
	pair_fini(&p);
}

/* Raw endpoint: endpoint 1 has no listener; we play the peer by hand.
 * Returns the client's ISS after the handshake with our ISS 1000. */
static struct kw_tcp *raw_connect(struct tcp_pair *p, uint32_t *iss, uint16_t *lport)
{
	struct kw_tcp *c;

	kw_tcp_open(p->l[0], &c);
	p->down = true;
	kw_tcp_connect(c, PAIR_ADDR1, 7777, p->now);
	*iss = last[0].seq;
	*lport = last[0].sport;
	pair_inject(p, 0, 7777, *lport, 1000, *iss + 1, F_SYN | F_ACK, 65535, NULL, 0);
	return c;
}

static void test_rst_checks(void)
{
	struct tcp_pair p;
	struct kw_tcp *c;
	uint32_t iss;
	uint16_t lport;
	struct kw_tcp_stats st;

	pair_init(&p, 5);
	p.tap = count_tap;
	c = raw_connect(&p, &iss, &lport);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "ESTABLISHED", "raw peer: ESTABLISHED");
	reset_counts();
	pair_inject(&p, 0, 7777, lport, 1000 + 1 + 100, 0, F_RST, 0, NULL, 0);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "ESTABLISHED", "in-window RST, not exact: ignored");
	tap_ok(n_segs[0] == 1 && last[0].flags == F_ACK && last[0].ack == 1001,
	       "...answered with a challenge ACK");
	reset_counts();
	pair_inject(&p, 0, 7777, lport, 1000 + 1 + 10000000, 0, F_RST, 0, NULL, 0);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && n_segs[0] == 0,
	       "out-of-window RST: ignored silently");
	reset_counts();
	pair_inject(&p, 0, 7777, lport, 1001, 0, F_SYN, 65535, NULL, 0);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && n_segs[0] == 1 && last[0].flags == F_ACK,
	       "SYN on an established connection: challenge ACK");
	reset_counts();
	pair_inject(&p, 0, 7777, lport, 1001, iss + 1 + 5000, F_ACK, 65535, NULL, 0);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && n_segs[0] == 1,
	       "ACK of data never sent: answered, dropped");
	pair_inject(&p, 0, 7777, lport, 1001, 0, F_RST, 0, NULL, 0);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "exact RST: CLOSED");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ECONNRESET, "error ECONNRESET");
	tap_is_u64((uint64_t)kw_tcp_recv(c, NULL, 0, p.now), (uint64_t)-ECONNRESET, "recv: -ECONNRESET, not EOF");
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(st.rst_in == 1, "one RST counted in");
	kw_tcp_close(c, p.now);

	/* RST in FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, LAST-ACK, CLOSING. */
	{
		static const struct { const char *name; int steps; int want_err; } cases[] = {
			{ "FIN-WAIT-1", 1, ECONNRESET }, { "FIN-WAIT-2", 2, ECONNRESET },
			{ "CLOSE-WAIT", 3, EPIPE }, { "LAST-ACK", 4, 0 }, { "CLOSING", 5, 0 },
			{ "TIME-WAIT", 6, 0 },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint32_t rseq = 1001;
			char d[80];
			c = raw_connect(&p, &iss, &lport);
			switch (cases[i].steps) {
			case 1: kw_tcp_shutdown(c, SHUT_WR, p.now); break;
			case 2: kw_tcp_shutdown(c, SHUT_WR, p.now);
				pair_inject(&p, 0, 7777, lport, rseq, iss + 2, F_ACK, 65535, NULL, 0); break;
			case 3: pair_inject(&p, 0, 7777, lport, rseq, iss + 1, F_ACK | F_FIN, 65535, NULL, 0);
				rseq++; break;
			case 4: pair_inject(&p, 0, 7777, lport, rseq, iss + 1, F_ACK | F_FIN, 65535, NULL, 0);
				rseq++; kw_tcp_shutdown(c, SHUT_WR, p.now); break;
			case 5: kw_tcp_shutdown(c, SHUT_WR, p.now);
				pair_inject(&p, 0, 7777, lport, rseq, iss + 1, F_ACK | F_FIN, 65535, NULL, 0);
				rseq++; break;
			case 6: kw_tcp_shutdown(c, SHUT_WR, p.now);
				pair_inject(&p, 0, 7777, lport, rseq, iss + 2, F_ACK | F_FIN, 65535, NULL, 0);
				rseq++; break;
			}
			snprintf(d, sizeof(d), "reached %s", cases[i].name);
			tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), cases[i].name, d);
			pair_inject(&p, 0, 7777, lport, rseq + 1, 0, F_RST, 0, NULL, 0);
			snprintf(d, sizeof(d), "%s: inexact RST does not close", cases[i].name);
			tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), cases[i].name, d);
			pair_inject(&p, 0, 7777, lport, rseq, 0, F_RST, 0, NULL, 0);
			snprintf(d, sizeof(d), "%s: exact RST closes", cases[i].name);
			tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", d);
			snprintf(d, sizeof(d), "%s: error %d", cases[i].name, cases[i].want_err);
			tap_is_u64((uint64_t)kw_tcp_take_error(c), (uint64_t)cases[i].want_err, d);
			kw_tcp_close(c, p.now);
			pair_run_until(&p, p.now + SEC(1));
		}
	}
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "all freed");
	pair_fini(&p);
}

static void test_malformed(void)
{
	struct tcp_pair p;
	struct kw_tcp *c;
	struct kw_tcp_stats st;
	uint32_t iss;
	uint16_t lport;
	uint8_t seg[200];
	size_t len;
	uint64_t seed = 42;

	pair_init(&p, 6);
	p.tap = count_tap;
	c = raw_connect(&p, &iss, &lport);
	reset_counts();
	len = pair_build(seg, PAIR_ADDR1, PAIR_ADDR0, 7777, lport, 1001, iss + 1, F_ACK, 65535, "hi", 2);
	seg[21] ^= 1;
	kw_tcp_input(p.l[0], PAIR_ADDR1, PAIR_ADDR0, seg, len, p.now);
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(st.bad_segments == 1 && n_segs[0] == 0, "bad checksum: dropped, counted, no answer");
	kw_tcp_input(p.l[0], PAIR_ADDR1, PAIR_ADDR0, seg, 10, p.now);
	seg[21] ^= 1;
	seg[12] = 15 << 4;      /* data offset 60 > length 22 */
	kw_tcp_input(p.l[0], PAIR_ADDR1, PAIR_ADDR0, seg, len, p.now);
	seg[12] = 4 << 4;       /* data offset 16 < 20 */
	kw_tcp_input(p.l[0], PAIR_ADDR1, PAIR_ADDR0, seg, len, p.now);
	kw_tcp_layer_stats(p.l[0], &st);
	tap_is_u64(st.bad_segments, 4, "short segment and bad data offsets dropped");
	/* Random garbage, with and without a valid checksum: must not crash. */
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(seed % 80);
		uint16_t ck;
		for (size_t k = 0; k < n; k++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			seg[k] = (uint8_t)(seed >> 33);
		}
		if (n >= 20 && (i & 1)) {
			seg[0] = 0x1e; seg[1] = 0x61; seg[2] = (uint8_t)(lport >> 8); seg[3] = (uint8_t)lport;
			seg[16] = seg[17] = 0;
			ck = kw_checksum(seg, n, kw_checksum_pseudo(PAIR_ADDR1, PAIR_ADDR0, 6, (uint16_t)n));
			seg[16] = (uint8_t)(ck >> 8); seg[17] = (uint8_t)ck;
		}
		kw_tcp_input(p.l[0], PAIR_ADDR1, PAIR_ADDR0, seg, n, p.now);
		seed += (uint64_t)i;
	}
	tap_ok(kw_tcp_layer_count(p.l[0]) == 1, "20000 random segments did not crash the layer");
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

static void test_listen_backlog(void)
{
	struct tcp_pair p;
	struct kw_tcp *l, *cl[6], *a;
	int accepted = 0;

	pair_init(&p, 7);
	kw_tcp_open(p.l[1], &l);
	tap_is_u64(kw_tcp_bind(l, 0, 90), 0, "bind port 90");
	{
		struct kw_tcp *x;
		kw_tcp_open(p.l[1], &x);
		tap_is_u64((uint64_t)kw_tcp_bind(x, 0, 90), (uint64_t)-EADDRINUSE, "second bind: -EADDRINUSE");
		kw_tcp_close(x, p.now);
	}
	kw_tcp_listen(l, 2);
	tap_is_u64((uint64_t)kw_tcp_accept(l, &a), (uint64_t)-EAGAIN, "accept with nothing: -EAGAIN");
	for (int i = 0; i < 6; i++) {
		kw_tcp_open(p.l[0], &cl[i]);
		kw_tcp_connect(cl[i], PAIR_ADDR1, 90, p.now);
	}
	pair_run_until(&p, p.now + MS(200));
	/* As Linux (tcp_syncookies=1): the SYNs past the SYN queue were
	 * answered with cookies, and the ACKs that found the accept queue
	 * full were dropped; those clients get in when their data is
	 * retransmitted and carries the cookie again. */
	for (int i = 0; i < 6; i++)
		kw_tcp_send(cl[i], "x", 1, p.now);
	tap_ok(kw_tcp_events(l) & KW_TCP_READABLE, "listener readable");
	while (kw_tcp_accept(l, &a) == 0) {
		accepted++;
		kw_tcp_close(a, p.now);
	}
	tap_is_u64((uint64_t)accepted, 2, "accept queue holds the backlog (2)");
	/* The others retransmit and get in as we accept. */
	for (int round = 0; round < 10 && accepted < 6; round++) {
		pair_run_until(&p, p.now + SEC(4));
		while (kw_tcp_accept(l, &a) == 0) {
			accepted++;
			kw_tcp_close(a, p.now);
		}
	}
	tap_is_u64((uint64_t)accepted, 6, "all six get in through retransmissions");
	for (int i = 0; i < 6; i++)
		kw_tcp_close(cl[i], p.now);
	kw_tcp_close(l, p.now);
	pair_run_until(&p, p.now + SEC(200));
	tap_is_u64(kw_tcp_layer_count(p.l[0]) + kw_tcp_layer_count(p.l[1]), 0, "everything freed");
	pair_fini(&p);
}

static void test_abort(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char b[4];

	pair_init(&p, 8);
	p.tap = count_tap;
	tap_ok(pair_connect(&p, 83, &c, &s, NULL) == 0, "abort: connected");
	reset_counts();
	kw_tcp_abort(c, p.now);
	tap_ok(n_rst[0] == 1, "kw_tcp_abort sends RST");
	tap_is_u64(kw_tcp_layer_count(p.l[0]), 0, "and frees the socket");
	pair_run_until(&p, p.now + MS(100));
	tap_is_u64((uint64_t)kw_tcp_recv(s, b, 4, p.now), (uint64_t)-ECONNRESET, "peer: ECONNRESET");
	tap_ok(kw_tcp_events(s) & KW_TCP_HUP, "peer: HUP");
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_checksum();
	test_handshake_and_data();
	test_peek_consume_space();
	test_peek_iov();
	test_time_wait_frees_buffers();
	test_idle_connections_have_no_buffers();
	test_half_close_server_first();
	test_simultaneous_close();
	test_refused();
	test_rst_checks();
	test_malformed();
	test_listen_backlog();
	test_abort();
	return tap_done();
}
