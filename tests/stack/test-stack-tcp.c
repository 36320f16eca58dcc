/* TCP through two whole stacks (Ethernet, ARP, IPv4) joined by the seeded
 * in-memory link, with fake time: ARP then handshake, bulk transfer both
 * ways with a byte checksum on a clean and a faulty link, refused
 * connections, orderly close both ways and freeing, keepalive death
 * detection on a dead link (DESIGN §4.2), keepalive on a working link,
 * and a thousand concurrent connections. */
#include "stack/checksum.h"
#include "stack/stack_internal.h"
#include "stack/tcp_internal.h"
#include "tests/stack/stack-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <sys/socket.h>
#include <time.h>

#define MS SP_MS
#define SEC SP_SEC

static char desc[200];
#define D(...) (snprintf(desc, sizeof(desc), __VA_ARGS__), desc)

static size_t layer_counts(struct spair *sp)
{
	return kw_tcp_layer_count(sp_tcp(sp, 0)) + kw_tcp_layer_count(sp_tcp(sp, 1));
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- ARP resolution, then the handshake ------------------------------------ */

static unsigned first_frames_n;
static uint16_t first_type[8];
static int first_side[8];
static void first_tap(struct spair *sp, int side, const uint8_t *f, size_t len)
{
	struct sp_frame fr;
	(void)sp;
	if (first_frames_n < 8 && sp_parse(f, len, &fr)) {
		first_type[first_frames_n] = fr.ethertype;
		first_side[first_frames_n] = side;
	}
	first_frames_n++;
}

static bool established(struct spair *sp, void *arg)
{
	(void)sp;
	return kw_tcp_state(arg) == KW_TCP_ESTABLISHED;
}

static bool accepted(struct spair *sp, void *arg)
{
	(void)sp;
	return (kw_tcp_events(arg) & KW_TCP_READABLE) != 0;
}

static void test_arp_then_handshake(void)
{
	struct kw_memlink_config lc = { .seed = 1, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c, *s, *l;
	struct kw_stack_stats a, b;
	uint64_t t0;

	tap_ok(sp_init(&sp, &lc, 1) == 0, "two stacks 10.9.0.1/24 and 10.9.0.2/24 on the link");
	sp.tap = first_tap;
	t0 = sp.now;
	kw_tcp_open(sp_tcp(&sp, 1), &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 4);
	kw_tcp_open(sp_tcp(&sp, 0), &c);
	tap_is_u64((uint64_t)kw_tcp_connect(c, SP_ADDR1, 80, sp.now), (uint64_t)-EINPROGRESS,
		   "connect from 10.9.0.1 to 10.9.0.2:80: EINPROGRESS");
	tap_ok(sp_run_while_not(&sp, established, c, sp.now + SEC(5)), "the client reaches ESTABLISHED");
	tap_is_u64(sp.now - t0, MS(4), "... after 4 one-way delays (ARP request, reply, SYN, SYN-ACK)");
	tap_ok(sp_run_while_not(&sp, accepted, l, sp.now + SEC(5)), "the server accepts it");
	tap_is_u64(sp.now - t0, MS(5), "... one delay later (the client's ACK)");
	kw_tcp_accept(l, &s);
	kw_tcp_close(l, sp.now);
	tap_ok(first_frames_n >= 4 && first_side[0] == 0 && first_type[0] == 0x0806 &&
	       first_side[1] == 1 && first_type[1] == 0x0806 &&
	       first_side[2] == 0 && first_type[2] == 0x0800 && first_side[3] == 1 && first_type[3] == 0x0800,
	       "on the wire: A's ARP request, B's ARP reply, then A's SYN and B's SYN-ACK");
	kw_stack_stats(sp.st[0], &a);
	kw_stack_stats(sp.st[1], &b);
	tap_ok(a.arp_requests_out == 1 && b.arp_replies_out == 1 && b.arp_requests_out == 0,
	       "one ARP exchange: B learnt A from A's request");
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && kw_tcp_state(s) == KW_TCP_ESTABLISHED,
	       "both ends ESTABLISHED");
	{
		uint32_t addr;
		uint16_t port;
		kw_tcp_remote(s, &addr, &port);
		tap_ok(addr == SP_ADDR0 && port >= 49152, "the server sees the client's address and an ephemeral port");
	}
	kw_tcp_abort(c, sp.now);
	kw_tcp_abort(s, sp.now);
	sp_run_until(&sp, sp.now + SEC(1));
	tap_is_u64(layer_counts(&sp), 0, "aborted: nothing left");
	sp_fini(&sp);
}

/* ---- bulk transfer with a checksum ------------------------------------------ */

struct flow {
	struct kw_tcp *from, *to;
	size_t total, sent, got;
	uint32_t a_s, sum_sent, a_g, sum_got;  /* Fletcher-like, order sensitive */
	uint64_t x;
	bool eof;
};

static uint8_t gen(uint64_t *x)
{
	*x = *x * 6364136223846793005u + 1442695040888963407u;
	return (uint8_t)(*x >> 56);
}

static void pump(struct flow *f, uint64_t now)
{
	uint8_t buf[16384];

	while (f->sent < f->total) {
		size_t n = f->total - f->sent < sizeof(buf) ? f->total - f->sent : sizeof(buf);
		uint64_t x = f->x;
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			buf[i] = gen(&x);
		r = kw_tcp_send(f->from, buf, n, now);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			uint8_t b = gen(&f->x);
			f->a_s += b;
			f->sum_sent += f->a_s;
		}
		f->sent += (size_t)r;
		if (f->sent == f->total)
			kw_tcp_shutdown(f->from, SHUT_WR, now);
	}
	for (;;) {
		ssize_t r = kw_tcp_recv(f->to, buf, sizeof(buf), now);
		if (r == 0)
			f->eof = true;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			f->a_g += buf[i];
			f->sum_got += f->a_g;
		}
		f->got += (size_t)r;
	}
}

static bool both_done(struct spair *sp, void *arg)
{
	struct flow *f = arg;
	pump(&f[0], sp->now);
	pump(&f[1], sp->now);
	return f[0].eof && f[1].eof;
}

static void bulk(const char *name, uint64_t seed, size_t total, double loss, double reorder,
		 double dup)
{
	struct kw_memlink_config lc = { .seed = seed, .delay_ns = MS(5) };
	struct spair sp;
	struct kw_tcp *c, *s;
	struct flow f[2];
	struct kw_tcp_stats st0, st1;
	struct kw_memlink_stats l0, l1;
	uint64_t start;
	double w0 = wall();
	bool ok;

	if (sp_init(&sp, &lc, seed) != 0 || sp_connect(&sp, 5001, &c, &s, NULL) != 0) {
		tap_ok(0, D("%s: connected", name));
		return;
	}
	lc.loss = loss;
	lc.reorder = reorder;
	lc.reorder_ns = MS(3);
	lc.duplicate = dup;
	kw_memlink_set_faults(sp.link, &lc);
	memset(f, 0, sizeof(f));
	f[0] = (struct flow){ .from = c, .to = s, .total = total, .x = seed };
	f[1] = (struct flow){ .from = s, .to = c, .total = total, .x = seed * 7 + 1 };
	start = sp.now;
	ok = sp_run_while_not(&sp, both_done, f, sp.now + SEC(3600));
	tap_ok(ok, D("%s: both directions reach EOF", name));
	tap_ok(f[0].got == total && f[0].sum_got == f[0].sum_sent,
	       D("%s: %zu bytes client->server, checksum matches", name, total));
	tap_ok(f[1].got == total && f[1].sum_got == f[1].sum_sent,
	       D("%s: %zu bytes server->client, checksum matches", name, total));
	kw_tcp_layer_stats(sp_tcp(&sp, 0), &st0);
	kw_tcp_layer_stats(sp_tcp(&sp, 1), &st1);
	kw_memlink_stats(sp.link, 0, &l0);
	kw_memlink_stats(sp.link, 1, &l1);
	tap_diag("%s: %.3f s fake, %.2f s wall, %llu events; frames %llu/%llu, lost %llu, reordered %llu, dup %llu; "
		 "retransmits %llu/%llu, fast %llu/%llu", name, (double)(sp.now - start) / 1e9, wall() - w0,
		 (unsigned long long)sp.events, (unsigned long long)l0.sent, (unsigned long long)l1.sent,
		 (unsigned long long)(l0.lost + l1.lost), (unsigned long long)(l0.reordered + l1.reordered),
		 (unsigned long long)(l0.duplicated + l1.duplicated),
		 (unsigned long long)st0.retransmits, (unsigned long long)st1.retransmits,
		 (unsigned long long)st0.fast_retransmits, (unsigned long long)st1.fast_retransmits);
	if (loss > 0)
		tap_ok(l0.lost + l1.lost > 0 && l0.reordered + l1.reordered > 0 &&
		       l0.duplicated + l1.duplicated > 0 && st0.retransmits + st1.retransmits > 0,
		       D("%s: the link lost, reordered and duplicated frames; TCP retransmitted", name));
	kw_tcp_close(c, sp.now);
	kw_tcp_close(s, sp.now);
	sp_run_until(&sp, sp.now + SEC(130));
	tap_is_u64(layer_counts(&sp), 0, D("%s: closed, TIME-WAIT over, everything freed", name));
	sp_fini(&sp);
}

/* ---- a slow reader: zero windows and the persist timer ------------------------ */

static unsigned zero_windows;
static void zw_tap(struct spair *sp, int side, const uint8_t *f, size_t len)
{
	struct sp_frame fr;
	(void)sp;
	if (side == 0 && sp_parse(f, len, &fr) && fr.tcp && fr.win == 0 && !(fr.flags & SP_RST))
		zero_windows++;
}

static void slow_reader(const char *name, uint64_t seed, double loss)
{
	struct kw_memlink_config lc = { .seed = seed, .delay_ns = MS(2) };
	struct spair sp;
	struct kw_tcp *c, *s, *l;
	static uint8_t out[256 * 1024], in[sizeof(out)];
	size_t sent = 0, got = 0;
	uint64_t t0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	sp_init(&sp, &lc, seed);
	kw_tcp_open(sp_tcp(&sp, 1), &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 4);
	kw_tcp_open(sp_tcp(&sp, 0), &c);
	kw_tcp_set_buffers(c, 0, 2048);            /* the smallest receive buffer */
	kw_tcp_connect(c, SP_ADDR1, 80, sp.now);
	sp_run_until(&sp, sp.now + SEC(1));
	if (kw_tcp_accept(l, &s) < 0) {
		tap_ok(0, D("%s: connected", name));
		return;
	}
	lc.loss = loss;
	kw_memlink_set_faults(sp.link, &lc);
	zero_windows = 0;
	sp.tap = zw_tap;
	t0 = sp.now;
	/* The reader takes 700 bytes every 10 ms (70 kB/s) and looks away for
	 * 500 ms in every 2 s (zero window, persist). */
	while (got < sizeof(out) && sp.now < t0 + SEC(600)) {
		ssize_t r;
		if (sent < sizeof(out) && (r = kw_tcp_send(s, out + sent, sizeof(out) - sent, sp.now)) > 0)
			sent += (size_t)r;
		if ((sp.now - t0) % SEC(2) < MS(500))
			r = -EAGAIN;
		else
			r = kw_tcp_recv(c, in + got, sizeof(out) - got < 700 ? sizeof(out) - got : 700, sp.now);
		if (r > 0)
			got += (size_t)r;
		else if (r != -EAGAIN)
			break;
		sp_run_until(&sp, sp.now + MS(10));
	}
	tap_ok(got == sizeof(out) && memcmp(in, out, sizeof(out)) == 0,
	       D("%s: 256 KiB through a 2 KiB receive buffer, intact", name));
	tap_ok(zero_windows > 0, D("%s: the reader advertised a zero window at times", name));
	tap_diag("%s: %.1f s of fake time (the reader's pace: %.1f s), %u zero-window segments", name,
		 (double)(sp.now - t0) / 1e9, (double)sizeof(out) / 70000 * 4 / 3, zero_windows);
	kw_tcp_close(c, sp.now);
	kw_tcp_close(s, sp.now);
	kw_tcp_close(l, sp.now);
	lc.loss = 0;
	kw_memlink_set_faults(sp.link, &lc);
	sp_run_until(&sp, sp.now + SEC(130));
	tap_is_u64(layer_counts(&sp), 0, D("%s: closed and freed", name));
	sp_fini(&sp);
}

/* ---- SYN to a closed port ---------------------------------------------------- */

static bool has_error(struct spair *sp, void *arg)
{
	(void)sp;
	return (kw_tcp_events(arg) & KW_TCP_ERROR) != 0;
}

static void test_refused(void)
{
	struct kw_memlink_config lc = { .seed = 3, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c;
	struct kw_tcp_stats st;
	uint64_t t0;
	char b[4];

	sp_init(&sp, &lc, 3);
	kw_tcp_open(sp_tcp(&sp, 0), &c);
	t0 = sp.now;
	tap_is_u64((uint64_t)kw_tcp_connect(c, SP_ADDR1, 81, sp.now), (uint64_t)-EINPROGRESS,
		   "refused: connect to a port nobody listens on: EINPROGRESS");
	tap_ok(sp_run_while_not(&sp, has_error, c, sp.now + SEC(10)), "refused: an error shows");
	tap_is_u64(sp.now - t0, MS(4), "refused: after ARP and one round trip");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ECONNREFUSED, "refused: SO_ERROR is ECONNREFUSED");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "refused: CLOSED");
	tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), sp.now), (uint64_t)-ECONNREFUSED,
		   "refused: recv says ECONNREFUSED");
	kw_tcp_layer_stats(sp_tcp(&sp, 1), &st);
	tap_is_u64(st.rst_out, 1, "refused: the server's stack answered with one RST");
	kw_tcp_close(c, sp.now);
	sp_run_until(&sp, sp.now + SEC(1));
	tap_is_u64(layer_counts(&sp), 0, "refused: nothing left in either layer");
	sp_fini(&sp);
}

/* ---- orderly close both ways --------------------------------------------------- */

static bool state_is(struct kw_tcp *s, enum kw_tcp_state st) { return kw_tcp_state(s) == st; }

struct two { struct kw_tcp *a, *b; enum kw_tcp_state sa, sb; };
static bool states(struct spair *sp, void *arg)
{
	struct two *t = arg;
	(void)sp;
	return state_is(t->a, t->sa) && state_is(t->b, t->sb);
}

/* `first` (side first_side) closes its sending half first, then `second`. */
static void close_one_way(const char *name, int first_is_client)
{
	struct kw_memlink_config lc = { .seed = 4, .delay_ns = MS(2) };
	struct spair sp;
	struct kw_tcp *c, *s, *first, *second;
	char b[16];
	struct two t;

	sp_init(&sp, &lc, 4);
	if (sp_connect(&sp, 80, &c, &s, NULL) != 0) {
		tap_ok(0, D("%s: connected", name));
		return;
	}
	first = first_is_client ? c : s;
	second = first_is_client ? s : c;
	kw_tcp_send(first, "last words", 10, sp.now);
	kw_tcp_shutdown(first, SHUT_WR, sp.now);
	t = (struct two){ first, second, KW_TCP_FIN_WAIT_2, KW_TCP_CLOSE_WAIT };
	tap_ok(sp_run_while_not(&sp, states, &t, sp.now + SEC(5)),
	       D("%s: shutdown(SHUT_WR): FIN-WAIT-2 / CLOSE-WAIT", name));
	tap_ok(kw_tcp_recv(second, b, sizeof(b), sp.now) == 10 && memcmp(b, "last words", 10) == 0 &&
	       kw_tcp_recv(second, b, sizeof(b), sp.now) == 0,
	       D("%s: the other side reads the data, then EOF", name));
	tap_ok((kw_tcp_events(second) & KW_TCP_RDHUP) && (kw_tcp_events(second) & KW_TCP_WRITABLE),
	       D("%s: half-closed: RDHUP, still writable", name));
	kw_tcp_send(second, "reply", 5, sp.now);
	kw_tcp_shutdown(second, SHUT_WR, sp.now);
	tap_is_str(kw_tcp_state_name(kw_tcp_state(second)), "LAST-ACK", D("%s: then it closes: LAST-ACK", name));
	t = (struct two){ first, second, KW_TCP_TIME_WAIT, KW_TCP_CLOSED };
	tap_ok(sp_run_while_not(&sp, states, &t, sp.now + SEC(5)),
	       D("%s: TIME-WAIT on the side that closed first, CLOSED on the other", name));
	tap_ok(kw_tcp_recv(first, b, sizeof(b), sp.now) == 5 && kw_tcp_recv(first, b, sizeof(b), sp.now) == 0,
	       D("%s: the first side reads the reply and EOF", name));
	tap_ok(kw_tcp_take_error(first) == 0 && kw_tcp_take_error(second) == 0, D("%s: no error on either side", name));
	kw_tcp_close(first, sp.now);
	kw_tcp_close(second, sp.now);
	sp_run_until(&sp, sp.now + SEC(59));
	tap_is_u64(layer_counts(&sp), 1, D("%s: only the TIME-WAIT block is left before 2 MSL", name));
	sp_run_until(&sp, sp.now + SEC(2));
	tap_is_u64(layer_counts(&sp), 0, D("%s: after 2 MSL (60 s) everything is freed", name));
	tap_ok(kw_stack_next_deadline(sp.st[0]) == KW_TIME_NEVER && kw_stack_next_deadline(sp.st[1]) == KW_TIME_NEVER &&
	       kw_memlink_in_flight(sp.link) == 0, D("%s: no timer and no frame left", name));
	sp_fini(&sp);
}

/* Both close() at the same instant: CLOSING on both, then TIME-WAIT. */
static void close_simultaneous(void)
{
	struct kw_memlink_config lc = { .seed = 5, .delay_ns = MS(2) };
	struct spair sp;
	struct kw_tcp *c, *s;

	sp_init(&sp, &lc, 5);
	sp_connect(&sp, 80, &c, &s, NULL);
	kw_tcp_close(c, sp.now);
	kw_tcp_close(s, sp.now);
	sp_run_until(&sp, sp.now + SEC(1));
	tap_is_u64(layer_counts(&sp), 2, "simultaneous close: both in TIME-WAIT");
	sp_run_until(&sp, sp.now + SEC(60));
	tap_is_u64(layer_counts(&sp), 0, "simultaneous close: both freed after 2 MSL");
	sp_fini(&sp);
}

/* ---- keepalive on a dead link (DESIGN §4.2, end to end) -------------------------- */

static struct {
	uint64_t abort_at;
	bool last_is_rst;
	unsigned after;
	unsigned probes;
} ka;

static void ka_tap(struct spair *sp, int side, const uint8_t *f, size_t len)
{
	struct sp_frame fr;

	if (side != 0)
		return;
	sp_parse(f, len, &fr);
	ka.last_is_rst = fr.tcp && (fr.flags & SP_RST);
	if (fr.tcp && fr.dlen == 0 && !(fr.flags & (SP_SYN | SP_FIN | SP_RST)))
		ka.probes++;
	if (ka.abort_at != KW_TIME_NEVER && sp->now > ka.abort_at)
		ka.after++;
	if (ka.last_is_rst && ka.abort_at == KW_TIME_NEVER)
		ka.abort_at = sp->now;
}

static const struct keepalive_config cfg111 = { SEC(1), SEC(1), 3 };

static void test_keepalive_dead(void)
{
	struct kw_memlink_config lc = { .seed = 6, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c, *s;
	struct kw_tcp_stats st;
	struct kw_stack_stats b0, b1;
	uint64_t t_down, t_err, tx_at_err;
	char b[8];

	sp_init(&sp, &lc, 6);
	tap_ok(sp_connect(&sp, 80, &c, &s, NULL) == 0, "keepalive: connected");
	kw_tcp_send(c, "hi", 2, sp.now);
	kw_tcp_send(s, "yo", 2, sp.now);
	sp_run_until(&sp, sp.now + MS(100));
	kw_tcp_recv(s, b, sizeof(b), sp.now);
	kw_tcp_recv(c, b, sizeof(b), sp.now);
	tap_is_u64((uint64_t)kw_tcp_set_keepalive(c, true, &cfg111, sp.now), 0,
		   "keepalive: idle 1 s, interval 1 s, count 3 on the client");
	t_down = sp.now;
	kw_memlink_set_drop_all(sp.link, true);
	kw_stack_stats(sp.st[1], &b0);
	ka.abort_at = KW_TIME_NEVER;
	ka.after = ka.probes = 0;
	sp.tap = ka_tap;
	tap_ok(sp_run_while_not(&sp, has_error, c, sp.now + SEC(30)), "keepalive: the client sees an error");
	t_err = sp.now;
	tx_at_err = sp.tx[0];
	tap_diag("keepalive: error after %.6f s of fake time", (double)(t_err - t_down) / 1e9);
	tap_ok(t_err - t_down >= SEC(4) - MS(1) && t_err - t_down <= SEC(4) + MS(1),
	       "keepalive: ETIMEDOUT at idle + count*interval = 4 s (+- 1 ms)");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ETIMEDOUT, "keepalive: SO_ERROR is ETIMEDOUT");
	tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), sp.now), (uint64_t)-ETIMEDOUT, "keepalive: recv -ETIMEDOUT, not EOF");
	tap_is_u64((uint64_t)kw_tcp_send(c, "x", 1, sp.now), (uint64_t)-ETIMEDOUT, "keepalive: send -ETIMEDOUT");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "keepalive: client CLOSED");
	kw_tcp_layer_stats(sp_tcp(&sp, 0), &st);
	tap_ok(st.keepalive_probes == 3 && ka.probes == 3 && st.keepalive_aborts == 1,
	       "keepalive: 3 probes left the client's device, then one abort");
	tap_ok(ka.last_is_rst && ka.abort_at == t_err, "keepalive: the client's last frame is its RST, sent at the abort");
	sp_run_until(&sp, sp.now + SEC(120));
	tap_is_u64(sp.tx[0] - tx_at_err, 0, "keepalive: no frame leaves the client's netdev in the 120 s after the abort");
	tap_is_u64(ka.after, 0, "keepalive: (the tap agrees)");
	kw_stack_stats(sp.st[1], &b1);
	tap_ok(b1.frames_in == b0.frames_in && sp.rx[1] == b0.frames_in,
	       "keepalive: the peer's stack never received a probe (nor anything else)");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(s)), "ESTABLISHED", "keepalive: the silent peer still thinks it is up");
	tap_is_u64(kw_tcp_layer_next_deadline(sp_tcp(&sp, 0)), KW_TIME_NEVER, "keepalive: no TCP timer left on the client");
	kw_tcp_close(c, sp.now);
	kw_tcp_abort(s, sp.now);
	sp_fini(&sp);
}

/* Regression: segments that fail the sequence check (blind injection,
 * stale duplicates) are dropped unread, as Linux does; they must not
 * count as "heard from the peer" and postpone keepalive's verdict. The
 * dead link carries nothing, yet a frame with the right addresses and
 * ports but a sequence number far outside the window reaches the client
 * every 300 ms. */
static void inject_oow(struct spair *sp, struct kw_tcp *c)
{
	uint8_t f[60], *ip = f + 14, *t = ip + 20;

	memset(f, 0, sizeof(f));
	memcpy(f, sp->dev[0].dev.mac, 6);
	memcpy(f + 6, sp->dev[1].dev.mac, 6);
	kw_put16(f + 12, KW_ETH_P_IP);
	kw_put16(t, c->rport);
	kw_put16(t + 2, c->lport);
	kw_put32(t + 4, c->rcv_nxt + 0x40000000u);
	kw_put32(t + 8, c->snd_una);
	t[12] = 5 << 4;
	t[13] = SP_ACK;
	kw_put16(t + 14, 1000);
	kw_put16(t + 16, kw_checksum(t, 20, kw_checksum_pseudo(SP_ADDR1, SP_ADDR0, 6, 20)));
	ip[0] = 0x45;
	kw_put16(ip + 2, 40);
	ip[8] = 64;
	ip[9] = KW_IPPROTO_TCP;
	kw_put32(ip + 12, SP_ADDR1);
	kw_put32(ip + 16, SP_ADDR0);
	kw_put16(ip + 10, kw_checksum(ip, 20, 0));
	kw_stack_input(sp->st[0], f, sizeof(f), sp->now);
}

static void test_keepalive_out_of_window(void)
{
	struct kw_memlink_config lc = { .seed = 9, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c, *s;
	struct kw_tcp_stats st0, st1;
	uint64_t t_down;

	sp_init(&sp, &lc, 9);
	sp_connect(&sp, 80, &c, &s, NULL);
	kw_tcp_set_keepalive(c, true, &cfg111, sp.now);
	kw_memlink_set_drop_all(sp.link, true);
	t_down = sp.now;
	kw_tcp_layer_stats(sp_tcp(&sp, 0), &st0);
	while (!(kw_tcp_events(c) & KW_TCP_ERROR) && sp.now < t_down + SEC(30)) {
		sp_run_until(&sp, sp.now + MS(300));
		if (kw_tcp_state(c) == KW_TCP_ESTABLISHED)
			inject_oow(&sp, c);
	}
	kw_tcp_layer_stats(sp_tcp(&sp, 0), &st1);
	tap_ok(st1.segs_in - st0.segs_in >= 10, "out-of-window junk: the client kept receiving segments with its ports");
	tap_ok((kw_tcp_events(c) & KW_TCP_ERROR) && kw_tcp_take_error(c) == ETIMEDOUT,
	       "out-of-window junk does not keep a dead connection alive: ETIMEDOUT");
	tap_diag("out-of-window junk: error after %.3f s", (double)(sp.now - t_down) / 1e9);
	tap_ok(sp.now - t_down <= SEC(4) + MS(300), "... within 4 s (+ the 300 ms step of this loop)");
	kw_tcp_close(c, sp.now);
	kw_tcp_abort(s, sp.now);
	sp_fini(&sp);
}

/* Regression: a forged in-window segment with data (a blind injection
 * that guessed right) makes B acknowledge bytes A never sent. A answers
 * that ACK of unsent data with an ACK of its own, which B finds below its
 * window and answers, and so on: without a limit the two stacks ACK each
 * other forever at link speed. As on Linux, such answers to bare ACKs are
 * limited to one per 500 ms per connection. */
static void test_ack_loop(size_t n)
{
	struct kw_memlink_config lc = { .seed = 10, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c, *s;
	uint8_t f[80], *ip = f + 14, *t = ip + 20;
	uint64_t tx0;

	sp_init(&sp, &lc, 10);
	sp_connect(&sp, 80, &c, &s, NULL);
	sp_run_until(&sp, sp.now + SEC(1));
	memset(f, 0, sizeof(f));
	memcpy(f, sp.dev[1].dev.mac, 6);
	memcpy(f + 6, sp.dev[0].dev.mac, 6);
	kw_put16(f + 12, KW_ETH_P_IP);
	kw_put16(t, s->rport);
	kw_put16(t + 2, s->lport);
	kw_put32(t + 4, s->rcv_nxt);
	kw_put32(t + 8, s->snd_una);
	t[12] = 5 << 4;
	t[13] = SP_ACK | SP_PSH;
	kw_put16(t + 14, 1000);
	memcpy(t + 20, "forged!!", 8);
	kw_put16(t + 16, kw_checksum(t, 20 + n, kw_checksum_pseudo(SP_ADDR0, SP_ADDR1, 6, (uint16_t)(20 + n))));
	ip[0] = 0x45;
	kw_put16(ip + 2, (uint16_t)(40 + n));
	ip[8] = 64;
	ip[9] = KW_IPPROTO_TCP;
	kw_put32(ip + 12, SP_ADDR0);
	kw_put32(ip + 16, SP_ADDR1);
	kw_put16(ip + 10, kw_checksum(ip, 20, 0));
	tx0 = sp.tx[0] + sp.tx[1];
	kw_stack_input(sp.st[1], f, 54 + n < 60 ? 60 : 54 + n, sp.now);
	tap_is_u64((uint64_t)kw_tcp_recv(s, f, sizeof(f), sp.now), n, "ack loop: B took the forged in-window bytes");
	sp_run_until(&sp, sp.now + SEC(10));
	tap_diag("ack loop: %llu frames in the 10 s after a forged segment of %zu bytes",
		 (unsigned long long)(sp.tx[0] + sp.tx[1] - tx0), n);
	tap_ok(sp.tx[0] + sp.tx[1] - tx0 <= 2 * 2 * 10 + 4,
	       "ack loop: A and B answer each other's ACKs at most twice a second, not at link speed");
	kw_tcp_abort(c, sp.now);
	kw_tcp_abort(s, sp.now);
	sp_fini(&sp);
}

/* Sub-second keepalive (direct mode keeps milliseconds) between two of
 * our stacks: every probe must be answered, the limit on answers to bad
 * segments notwithstanding. */
static void test_keepalive_fast(void)
{
	struct kw_memlink_config lc = { .seed = 11, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c, *s;
	struct kw_tcp_stats st;
	const struct keepalive_config fast = { MS(200), MS(100), 2 };

	sp_init(&sp, &lc, 11);
	sp_connect(&sp, 80, &c, &s, NULL);
	kw_tcp_set_keepalive(c, true, &fast, sp.now);
	kw_tcp_set_keepalive(s, true, &fast, sp.now);
	sp_run_until(&sp, sp.now + SEC(10));
	kw_tcp_layer_stats(sp_tcp(&sp, 0), &st);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && kw_tcp_state(s) == KW_TCP_ESTABLISHED &&
	       st.keepalive_aborts == 0 && st.keepalive_probes >= 20,
	       "keepalive 200 ms / 100 ms / 2 on both ends: probes answered, no abort in 10 s");
	tap_diag("fast keepalive: %llu probes from the client", (unsigned long long)st.keepalive_probes);
	kw_tcp_abort(c, sp.now);
	kw_tcp_abort(s, sp.now);
	sp_fini(&sp);
}

/* Probes answered on a working link keep an idle connection alive. */
static void test_keepalive_alive(void)
{
	struct kw_memlink_config lc = { .seed = 7, .delay_ns = MS(1) };
	struct spair sp;
	struct kw_tcp *c, *s;
	struct kw_tcp_stats st0, st1;
	struct kw_stack_stats a;
	uint64_t t0, rx1;
	char b[8];

	sp_init(&sp, &lc, 7);
	sp_connect(&sp, 80, &c, &s, NULL);
	kw_tcp_set_keepalive(c, true, &cfg111, sp.now);
	ka.abort_at = KW_TIME_NEVER;
	ka.after = ka.probes = 0;
	sp.tap = ka_tap;
	t0 = sp.now;
	rx1 = sp.rx[1];
	sp_run_until(&sp, t0 + SEC(60));
	kw_tcp_layer_stats(sp_tcp(&sp, 0), &st0);
	kw_tcp_layer_stats(sp_tcp(&sp, 1), &st1);
	tap_diag("alive: %llu probes in 60 s, %llu frames reached the server",
		 (unsigned long long)st0.keepalive_probes, (unsigned long long)(sp.rx[1] - rx1));
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && kw_tcp_state(s) == KW_TCP_ESTABLISHED,
	       "alive: both ends ESTABLISHED after 60 s idle with keepalive 1/1/3");
	tap_ok(st0.keepalive_probes >= 55 && st0.keepalive_probes <= 60 && st0.keepalive_aborts == 0,
	       "alive: about one probe per second (1 s + RTT), no abort");
	tap_ok(st1.segs_out >= st0.keepalive_probes, "alive: the server answered the probes");
	tap_ok(kw_tcp_take_error(c) == 0, "alive: no error");
	/* Past the ARP entry's lifetime: the stacks refreshed it while in use. */
	sp_run_until(&sp, t0 + SEC(130));
	kw_stack_stats(sp.st[0], &a);
	tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && kw_tcp_take_error(c) == 0 && sp.st[0]->x.arp_failed == 0,
	       "alive: still up after 130 s (ARP entry lifetime passed twice)");
	tap_diag("alive: A sent %llu ARP requests", (unsigned long long)a.arp_requests_out);
	kw_tcp_send(c, "ping", 4, sp.now);
	sp_run_until(&sp, sp.now + MS(50));
	tap_ok(kw_tcp_recv(s, b, sizeof(b), sp.now) == 4 && memcmp(b, "ping", 4) == 0, "alive: data still flows");
	kw_tcp_close(c, sp.now);
	kw_tcp_close(s, sp.now);
	sp_run_until(&sp, sp.now + SEC(61));
	tap_is_u64(layer_counts(&sp), 0, "alive: closed and freed, keepalive timer gone");
	sp_fini(&sp);
}

/* ---- a thousand concurrent connections ----------------------------------------- */

#define NCONN 1000
#define C2S 3000
#define S2C 2000

struct many {
	struct kw_tcp *listener;
	struct kw_tcp *c[NCONN], *s[NCONN];
	size_t nacc;
	size_t c_got[NCONN], s_got[NCONN], c_sent[NCONN], s_sent[NCONN];
	bool c_eof[NCONN], s_eof[NCONN], c_closed[NCONN], s_closed[NCONN];
	unsigned bad, done;
};

static uint8_t pat(unsigned conn, size_t off, int dir)
{
	return (uint8_t)(conn * 131 + off * 7 + (size_t)dir * 59 + (off >> 8));
}

static bool many_established(struct spair *sp, void *arg)
{
	struct many *m = arg;
	struct kw_tcp *t;

	(void)sp;
	while (m->nacc < NCONN && kw_tcp_accept(m->listener, &t) == 0)
		m->s[m->nacc++] = t;
	if (m->nacc < NCONN)
		return false;
	for (unsigned i = 0; i < NCONN; i++)
		if (kw_tcp_state(m->c[i]) != KW_TCP_ESTABLISHED)
			return false;
	return true;
}

/* The client of connection i sends C2S bytes then closes its half; the
 * server sends S2C bytes and closes when it saw EOF; the client closes
 * when it has everything. */
static void many_side(struct spair *sp, struct many *m, struct kw_tcp *k, unsigned id, int dir,
		      size_t total, size_t *sent, size_t *got, bool *eof, bool *closed)
{
	uint8_t buf[4096];
	ssize_t r;

	if (*closed)
		return;
	while (*sent < total) {
		size_t n = total - *sent < sizeof(buf) ? total - *sent : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(id, *sent + i, dir);
		r = kw_tcp_send(k, buf, n, sp->now);
		if (r <= 0)
			break;
		*sent += (size_t)r;
		if (*sent == total)
			kw_tcp_shutdown(k, SHUT_WR, sp->now);
	}
	while ((r = kw_tcp_recv(k, buf, sizeof(buf), sp->now)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat(id, *got + (size_t)i, 1 - dir))
				m->bad++;
		*got += (size_t)r;
	}
	if (r == 0)
		*eof = true;
	else if (r != -EAGAIN)
		m->bad++;
	if (*eof && *sent == total) {
		kw_tcp_close(k, sp->now);
		*closed = true;
		m->done++;
	}
}

static bool many_done(struct spair *sp, void *arg)
{
	struct many *m = arg;

	for (unsigned i = 0; i < NCONN; i++) {
		unsigned id;

		/* The server end knows its client's index (kw_tcp_user). */
		if (!m->s_closed[i]) {
			id = (unsigned)(uintptr_t)kw_tcp_user(m->s[i]);
			many_side(sp, m, m->s[i], id, 1, S2C, &m->s_sent[i], &m->s_got[i], &m->s_eof[i],
				  &m->s_closed[i]);
		}
		many_side(sp, m, m->c[i], i, 0, C2S, &m->c_sent[i], &m->c_got[i], &m->c_eof[i],
			  &m->c_closed[i]);
	}
	return m->done == 2 * NCONN;
}

static void test_many(void)
{
	struct kw_memlink_config lc = { .seed = 8, .delay_ns = MS(1), .jitter_ns = MS(1) };
	struct spair sp;
	static struct many m;
	unsigned ok = 0, bytes_ok = 1;
	double w0 = wall();
	uint64_t t0;

	memset(&m, 0, sizeof(m));
	sp_init(&sp, &lc, 8);
	kw_tcp_open(sp_tcp(&sp, 1), &m.listener);
	kw_tcp_bind(m.listener, 0, 7000);
	kw_tcp_listen(m.listener, NCONN);
	t0 = sp.now;
	for (unsigned i = 0; i < NCONN; i++) {
		kw_tcp_open(sp_tcp(&sp, 0), &m.c[i]);
		ok += kw_tcp_connect(m.c[i], SP_ADDR1, 7000, sp.now) == -EINPROGRESS;
	}
	tap_is_u64(ok, NCONN, "many: 1000 connects started at once (ARP still unresolved)");
	tap_ok(sp_run_while_not(&sp, many_established, &m, sp.now + SEC(60)),
	       "many: all 1000 established and accepted (SYNs beyond ARP's queue retried)");
	tap_diag("many: established after %.3f s of fake time", (double)(sp.now - t0) / 1e9);
	/* Tag each server end with its client's index. */
	for (unsigned i = 0; i < NCONN; i++) {
		uint32_t a;
		uint16_t p, q;
		kw_tcp_remote(m.s[i], &a, &p);
		for (unsigned j = 0; j < NCONN; j++) {
			kw_tcp_local(m.c[j], &a, &q);
			if (p == q) {
				kw_tcp_set_user(m.s[i], (void *)(uintptr_t)j);
				break;
			}
		}
	}
	tap_is_u64(kw_tcp_layer_count(sp_tcp(&sp, 0)), NCONN, "many: 1000 sockets on the client side");
	tap_is_u64(kw_tcp_layer_count(sp_tcp(&sp, 1)), NCONN + 1, "many: 1000 + the listener on the server side");
	tap_ok(sp_run_while_not(&sp, many_done, &m, sp.now + SEC(120)), "many: every connection transferred and closed");
	for (unsigned i = 0; i < NCONN; i++)
		bytes_ok &= m.c_got[i] == S2C && m.s_got[i] == C2S;
	tap_ok(bytes_ok && m.bad == 0, "many: every byte arrived, on the right connection, in order");
	kw_tcp_close(m.listener, sp.now);
	sp_run_until(&sp, sp.now + SEC(1));
	tap_ok(kw_tcp_layer_count(sp_tcp(&sp, 0)) == NCONN, "many: the client ends wait in TIME-WAIT");
	sp_run_until(&sp, sp.now + SEC(61));
	tap_is_u64(layer_counts(&sp), 0, "many: after TIME-WAIT both layers are empty (nothing leaked)");
	tap_ok(kw_stack_next_deadline(sp.st[0]) == KW_TIME_NEVER && kw_stack_next_deadline(sp.st[1]) == KW_TIME_NEVER,
	       "many: no timer left");
	tap_diag("many: %.3f s of fake time, %.2f s wall, %llu events", (double)(sp.now - t0) / 1e9,
		 wall() - w0, (unsigned long long)sp.events);
	sp_fini(&sp);
}

int main(void)
{
	test_arp_then_handshake();
	bulk("clean", 11, 10u << 20, 0, 0, 0);
	bulk("5% loss + reorder + dup", 12, 10u << 20, 0.05, 0.05, 0.02);
	bulk("lossy seed 101", 101, 1u << 20, 0.05, 0.05, 0.02);
	bulk("lossy seed 202", 202, 1u << 20, 0.05, 0.05, 0.02);
	bulk("lossy seed 303", 303, 1u << 20, 0.05, 0.05, 0.02);
	slow_reader("slow reader", 21, 0);
	slow_reader("slow reader, 5% loss", 22, 0.05);
	test_refused();
	close_one_way("client closes first", 1);
	close_one_way("server closes first", 0);
	close_simultaneous();
	test_keepalive_dead();
	test_keepalive_out_of_window();
	test_ack_loop(8);
	test_ack_loop(1);   /* A's ACKs then look like probes to B */
	test_keepalive_fast();
	test_keepalive_alive();
	test_many();
	return tap_done();
}
