/* Input batches (kw_tcp_layer_batch_begin/end): the ACKs that in-order
 * data calls for are held to the end of the batch and sent once per
 * connection, as Linux acknowledges what GRO merged; out-of-order data
 * still draws its duplicate ACK at once; outside a batch nothing changes
 * (an ACK every second full segment). A read within the batch sends no
 * window update of its own: the ACK at the end carries the window. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <string.h>

struct acks {
	unsigned n;
	uint32_t last;
	uint16_t win;
};
static struct acks acks;              /* pure ACKs the server sent */
static struct seginfo client_last;    /* the client's last segment */

static void count_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		      const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	if (from == 0) {
		client_last = *si;
	} else if (si->dlen == 0 && (si->flags & F_ACK) && !(si->flags & (F_SYN | F_FIN))) {
		acks.n++;
		acks.last = si->ack;
		acks.win = si->win;
	}
}

struct conn {
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint16_t cport;
	uint32_t cseq, sseq;
	size_t mss;
};

/* A connection, then the link down: the server (endpoint 1) gets only
 * what the test injects as the client (endpoint 0). */
static void setup(struct conn *k)
{
	uint32_t a;

	memset(k, 0, sizeof(*k));
	pair_init(&k->p, 7);
	k->p.tap = count_tap;
	tap_ok(pair_connect(&k->p, 80, &k->c, &k->s, NULL) == 0, "connected");
	pair_run_until(&k->p, k->p.now + MS(100));
	kw_tcp_local(k->c, &a, &k->cport);
	k->cseq = client_last.seq;
	k->sseq = client_last.ack;
	k->mss = 1448;                /* full segments with timestamps, MTU 1500 */
	k->p.down = true;
	memset(&acks, 0, sizeof(acks));
}

static void inject(struct conn *k, uint32_t seq, size_t len)
{
	static uint8_t b[1500];

	pair_inject(&k->p, 1, k->cport, 80, seq, k->sseq, F_ACK, 65535, b, len);
}

static void teardown(struct conn *k)
{
	pair_fini(&k->p);
}

static void test_without_batch(void)
{
	struct conn k;

	setup(&k);
	for (int i = 0; i < 10; i++)
		inject(&k, k.cseq + (uint32_t)(i * k.mss), k.mss);
	tap_is_u64(acks.n, 5, "no batch: 10 full segments draw 5 ACKs (every second one)");
	teardown(&k);
}

static void test_batch(void)
{
	struct conn k;
	unsigned during;

	setup(&k);
	kw_tcp_layer_batch_begin(k.p.l[1]);
	for (int i = 0; i < 10; i++)
		inject(&k, k.cseq + (uint32_t)(i * k.mss), k.mss);
	during = acks.n;
	kw_tcp_layer_batch_end(k.p.l[1], k.p.now);
	tap_is_u64(during, 0, "a batch of 10 full segments: no ACK while it lasts");
	tap_is_u64(acks.n, 1, "... one ACK at its end");
	tap_ok(acks.last == k.cseq + (uint32_t)(10 * k.mss), "... acknowledging all 10 segments");
	teardown(&k);
}

static void test_batch_out_of_order(void)
{
	struct conn k;

	setup(&k);
	kw_tcp_layer_batch_begin(k.p.l[1]);
	inject(&k, k.cseq, k.mss);
	inject(&k, k.cseq + (uint32_t)(3 * k.mss), k.mss);   /* a hole */
	tap_is_u64(acks.n, 1, "in a batch, a segment past a hole draws its duplicate ACK at once");
	tap_ok(acks.last == k.cseq + (uint32_t)k.mss, "... for the data before the hole");
	kw_tcp_layer_batch_end(k.p.l[1], k.p.now);
	tap_is_u64(acks.n, 1, "... and the batch's end adds none (nothing left to acknowledge)");
	teardown(&k);
}

static void test_batch_single_segment(void)
{
	struct conn k;

	setup(&k);
	kw_tcp_layer_batch_begin(k.p.l[1]);
	inject(&k, k.cseq, k.mss);
	kw_tcp_layer_batch_end(k.p.l[1], k.p.now);
	tap_is_u64(acks.n, 0, "a batch of one full segment: no ACK at its end (delayed ACK)");
	pair_run_until(&k.p, k.p.now + MS(250));
	tap_is_u64(acks.n, 1, "... the delayed-ACK timer sends it");
	teardown(&k);
}

static void test_batch_conn_freed(void)
{
	struct conn k;

	setup(&k);
	kw_tcp_layer_batch_begin(k.p.l[1]);
	inject(&k, k.cseq, k.mss);
	inject(&k, k.cseq + (uint32_t)k.mss, k.mss);
	/* A reset in the same batch frees the connection. */
	pair_inject(&k.p, 1, k.cport, 80, k.cseq + (uint32_t)(2 * k.mss), k.sseq, F_RST, 0, NULL, 0);
	kw_tcp_close(k.s, k.p.now);
	kw_tcp_layer_batch_end(k.p.l[1], k.p.now);
	tap_is_u64(acks.n, 0, "a connection reset within the batch gets no ACK at its end");
	teardown(&k);
}

static void drain(struct kw_tcp *s, struct tcp_pair *p)
{
	static uint8_t buf[65536];

	while (kw_tcp_recv(s, buf, sizeof(buf), p->now) > 0)
		;
}

static void test_batch_read(void)
{
	struct conn k;
	unsigned during;
	uint16_t win_read, win_unread;

	setup(&k);
	kw_tcp_layer_batch_begin(k.p.l[1]);
	for (int i = 0; i < 10; i++)
		inject(&k, k.cseq + (uint32_t)(i * k.mss), k.mss);
	drain(k.s, &k.p);
	during = acks.n;
	kw_tcp_layer_batch_end(k.p.l[1], k.p.now);
	win_read = acks.win;
	tap_is_u64(during, 0, "read within a batch: no window update of its own");
	tap_is_u64(acks.n, 1, "... one ACK at the batch's end");
	tap_ok(acks.last == k.cseq + (uint32_t)(10 * k.mss), "... acknowledging all 10 segments");
	teardown(&k);

	setup(&k);
	kw_tcp_layer_batch_begin(k.p.l[1]);
	for (int i = 0; i < 10; i++)
		inject(&k, k.cseq + (uint32_t)(i * k.mss), k.mss);
	kw_tcp_layer_batch_end(k.p.l[1], k.p.now);
	win_unread = acks.win;
	tap_diag("window at the batch's end: %u read, %u unread", win_read, win_unread);
	tap_ok(win_read > win_unread, "... carrying the window the read reopened");
	/* Outside a batch, reading 10 segments opens the window by more than
	 * 2 MSS: an update goes at once (RFC 9293 receiver SWS avoidance). */
	acks.n = 0;
	drain(k.s, &k.p);
	tap_is_u64(acks.n, 1, "a read outside a batch sends its window update");
	tap_ok(acks.win > win_unread, "... with the reopened window");
	teardown(&k);
}

int main(void)
{
	test_without_batch();
	test_batch();
	test_batch_out_of_order();
	test_batch_single_segment();
	test_batch_conn_freed();
	test_batch_read();
	return tap_done();
}
