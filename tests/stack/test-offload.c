/* Offloads with crafted frames (netdev.h: KW_NETDEV_TX_CSUM, _TX_TSO4,
 * _RX_META). Two stacks with the same seed and the same peer, one on a
 * plain device and one on a device with offloads, get the same frames at
 * the same times:
 *   - what the offload stack transmits, finished and cut the way a device
 *     (the kernel's TSO) does it, is byte for byte what the plain stack
 *     transmits (but for IP identification and header checksum): the
 *     windows, cwnd, Nagle, SWS avoidance and FIN decide exactly as
 *     without, through slow start, a window cut short, a sub-MSS tail
 *     held by Nagle, nodelay and the FIN;
 *   - every large frame carries the right metadata (partial checksum at
 *     the TCP header, gso_size = MSS, header length) and a valid IP header
 *     with the whole packet's length;
 *   - received: a partial (invalid as a full) TCP checksum is taken only
 *     with metadata that says so and points at the segment's own checksum
 *     field, or with "verified", and only from a device that announced
 *     KW_NETDEV_RX_META; a segment larger than the MTU is taken whole and
 *     ACKed at once; ICMP is always verified. */
#include "fixture.h"
#include "stack/tcp.h"

#include <stdlib.h>
#include <sys/socket.h>

#define MAXF 256
#define PEER_PORT 80
#define PEER_ISN 1000u
#define MSS_TS 1448u                   /* 1460 - 12 bytes of timestamps */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_PSH 0x08
#define TH_ACK 0x10

struct rec {
	struct kw_netdev dev;
	unsigned n;
	size_t len[MAXF];
	uint8_t *frame[MAXF];
	bool has_meta[MAXF];
	struct kw_netdev_tx_meta meta[MAXF];
};

static int rec_put(struct kw_netdev *dev, const void *frame, size_t len,
		   const struct kw_netdev_tx_meta *meta)
{
	struct rec *r = dev->priv;

	if (r->n >= MAXF)
		return -ENOBUFS;
	r->frame[r->n] = malloc(len);
	if (r->frame[r->n] == NULL)
		return -ENOMEM;
	memcpy(r->frame[r->n], frame, len);
	r->len[r->n] = len;
	r->has_meta[r->n] = meta != NULL;
	if (meta)
		r->meta[r->n] = *meta;
	r->n++;
	return 0;
}

static int rec_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	return rec_put(dev, frame, len, NULL);
}

static int rec_transmit_meta(struct kw_netdev *dev, const void *frame, size_t len,
			     const struct kw_netdev_tx_meta *meta)
{
	return rec_put(dev, frame, len, meta);
}

static const struct kw_netdev_ops rec_ops = {
	.transmit = rec_transmit,
	.transmit_meta = rec_transmit_meta,
};

static void rec_clear(struct rec *r)
{
	for (unsigned i = 0; i < r->n; i++)
		free(r->frame[i]);
	r->n = 0;
}

static void rec_init(struct rec *r, uint32_t flags)
{
	memset(r, 0, sizeof(*r));
	r->dev.ops = &rec_ops;
	r->dev.priv = r;
	memcpy(r->dev.mac, OUR_MAC, 6);
	r->dev.mtu = 1500;
	r->dev.flags = flags;
}

/* ---- a device's work, done in software ------------------------------------ */

/* Finish and cut one transmitted frame as a device would (the kernel's
 * TSO: IP ID + i, lengths, sequence numbers, FIN/PSH only on the last
 * piece, checksums computed); plain frames are copied. Appends to out. */
static void device_finish(const struct rec *r, unsigned i, struct rec *out)
{
	const uint8_t *f = r->frame[i];
	size_t len = r->len[i];
	const struct kw_netdev_tx_meta *m = &r->meta[i];
	static uint8_t buf[2048];

	if (!r->has_meta[i]) {
		rec_put(&out->dev, f, len, NULL);
		return;
	}
	if (m->gso_size == 0) {
		uint8_t *c = malloc(len);
		memcpy(c, f, len);
		if (m->csum_partial) {
			uint16_t s = kw_checksum(c + m->csum_start, len - m->csum_start, 0);
			kw_put16(c + m->csum_start + m->csum_offset, s);
		}
		rec_put(&out->dev, c, len, NULL);
		free(c);
		return;
	}
	{
		size_t hl = m->hdr_len, pay = len - hl, off = 0;
		uint16_t id = kw_get16(f + 18);
		uint32_t seq = kw_get32(f + KW_ETH_HLEN + 20 + 4);
		uint8_t flags = f[KW_ETH_HLEN + 20 + 13];

		for (unsigned k = 0; off < pay; k++) {
			size_t n = pay - off < m->gso_size ? pay - off : m->gso_size;
			bool last = off + n == pay;
			uint8_t *ip = buf + KW_ETH_HLEN, *th = ip + 20;
			size_t tl = hl - KW_ETH_HLEN - 20 + n;

			memcpy(buf, f, hl);
			memcpy(buf + hl, f + hl + off, n);
			kw_put16(ip + 2, (uint16_t)(20 + tl));
			kw_put16(ip + 4, (uint16_t)(id + k));
			kw_put16(ip + 10, 0);
			kw_put16(ip + 10, kw_checksum(ip, 20, 0));
			kw_put32(th + 4, seq + (uint32_t)off);
			th[13] = last ? flags : (uint8_t)(flags & ~(TH_FIN | TH_PSH));
			kw_put16(th + 16, 0);
			kw_put16(th + 16, kw_checksum(th, tl, kw_checksum_pseudo(kw_get32(ip + 12),
							kw_get32(ip + 16), 6, (uint16_t)tl)));
			rec_put(&out->dev, buf, hl + n, NULL);
			off += n;
		}
	}
}

/* ---- crafted frames from the peer ------------------------------------------ */

static uint8_t pf[70000];
static uint32_t peer_ts = 5000;

/* Peer -> us: a TCP segment with options opts and dlen bytes of data.
 * partial: the checksum field holds the folded pseudo-header sum, as a
 * local sender that offloads its checksum leaves it. */
static size_t build_tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
			uint8_t flags, uint16_t win, const uint8_t *opts, size_t optlen,
			size_t dlen, bool partial)
{
	uint8_t *ip = pf + KW_ETH_HLEN, *th = ip + 20;
	size_t tl = 20 + optlen + dlen;
	uint32_t ps;

	build_eth(pf, OUR_MAC, PEER_MAC, KW_ETH_P_IP);
	memset(th, 0, 20);
	kw_put16(th, sport);
	kw_put16(th + 2, dport);
	kw_put32(th + 4, seq);
	kw_put32(th + 8, ack);
	th[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	th[13] = flags;
	kw_put16(th + 14, win);
	memcpy(th + 20, opts, optlen);
	for (size_t i = 0; i < dlen; i++)
		th[20 + optlen + i] = (uint8_t)(i * 13 + 5);
	build_ip(ip, PEER_IP, OUR_IP, KW_IPPROTO_TCP, tl, 64);
	ps = kw_checksum_pseudo(PEER_IP, OUR_IP, 6, (uint16_t)tl);
	kw_put16(th + 16, partial ? (uint16_t)~kw_checksum_fold(ps) : kw_checksum(th, tl, ps));
	return KW_ETH_HLEN + 20 + tl;
}

static size_t ts_opts(uint8_t *o, uint32_t tsecr)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	kw_put32(o + 4, peer_ts++);
	kw_put32(o + 8, tsecr);
	return 12;
}

/* ---- two stacks side by side ----------------------------------------------- */

struct side {
	struct rec dev;
	struct kw_stack *s;
	struct kw_tcp *c;
};
static struct side A, B;              /* A: plain device; B: offloads */
static uint64_t now = SEC(100);
static uint16_t our_port;
static uint32_t iss, peer_nxt;        /* our ISN; the peer's next sequence number */
static uint32_t our_tsval;            /* the latest TSval we sent (to echo) */
static uint32_t hi;                   /* highest data byte sent, relative to ISN + 1 */

static void both_input(size_t len)
{
	kw_stack_input(A.s, pf, len, now);
	kw_stack_input(B.s, pf, len, now);
}

/* The frames both sent since last time: B's, finished and cut by the
 * "device", must equal A's but for IP ID and header checksum. Returns
 * the number of wire frames, or -1 after saying how they differ. */
static int compare(const char *what)
{
	struct rec cut;
	int result;

	rec_init(&cut, 0);
	for (unsigned i = 0; i < B.dev.n; i++)
		device_finish(&B.dev, i, &cut);
	result = (int)A.dev.n;
	if (cut.n != A.dev.n) {
		tap_diag("%s: plain stack sent %u frames, offload stack %u writes = %u frames", what,
			 A.dev.n, B.dev.n, cut.n);
		result = -1;
	}
	for (unsigned i = 0; result >= 0 && i < A.dev.n; i++) {
		uint8_t *a = A.dev.frame[i], *b = cut.frame[i];
		if (A.dev.len[i] != cut.len[i] || memcmp(a, b, 18) != 0 ||
		    memcmp(a + 20, b + 20, 4) != 0 ||
		    memcmp(a + 26, b + 26, A.dev.len[i] - 26) != 0) {
			tap_diag("%s: frame %u differs (lengths %zu, %zu)", what, i, A.dev.len[i],
				 cut.len[i]);
			result = -1;
		}
	}
	/* Remember what the peer must echo, and how far we sent. */
	for (unsigned i = 0; i < A.dev.n; i++) {
		const uint8_t *f = A.dev.frame[i], *th = f + KW_ETH_HLEN + 20;
		size_t doff = (size_t)(th[12] >> 4) * 4;
		uint32_t end;

		if (kw_get16(f + 12) != KW_ETH_P_IP)
			continue;
		if (doff >= 32 && th[22] == 8)
			our_tsval = kw_get32(th + 24);
		end = kw_get32(th + 4) - iss - 1 +
		      (uint32_t)(kw_get16(f + KW_ETH_HLEN + 2) - 20 - doff);
		if (!(th[13] & TH_SYN) && (int32_t)(end - hi) > 0)
			hi = end;
	}
	rec_clear(&cut);
	return result;
}

static void clear_both(void)
{
	rec_clear(&A.dev);
	rec_clear(&B.dev);
}

/* Every large write of B: metadata and headers as a device needs them. */
static bool gso_frames_ok(unsigned *n_gso, size_t *largest)
{
	bool ok = true;

	for (unsigned i = 0; i < B.dev.n; i++) {
		const uint8_t *f = B.dev.frame[i], *ip = f + KW_ETH_HLEN, *th = ip + 20;
		const struct kw_netdev_tx_meta *m = &B.dev.meta[i];
		size_t len = B.dev.len[i], tl = len - KW_ETH_HLEN - 20;
		uint16_t want;

		if (!B.dev.has_meta[i] || !m->csum_partial || m->csum_start != 34 ||
		    m->csum_offset != 16)
			ok = false;
		/* The field holds the pseudo-header sum (finishing it makes it
		 * valid: compare() checks that). */
		if (kw_get16(ip + 2) != len - KW_ETH_HLEN || kw_checksum(ip, 20, 0) != 0)
			ok = false;
		want = (uint16_t)~kw_checksum_fold(kw_checksum_pseudo(OUR_IP, PEER_IP, 6,
								       (uint16_t)tl));
		if (kw_get16(th + 16) != want)
			ok = false;
		if (m->gso_size) {
			(*n_gso)++;
			if (len > *largest)
				*largest = len;
			if (m->gso_size != MSS_TS || m->hdr_len != KW_ETH_HLEN + 20 + 32 ||
			    len - m->hdr_len <= m->gso_size)
				ok = false;
		} else if (len > KW_ETH_HLEN + 1500) {
			ok = false;
		}
	}
	return ok;
}

/* The peer acknowledges up to ack (relative to our ISN + 1) with window win. */
static size_t peer_ack(uint32_t ack, uint16_t win)
{
	uint8_t o[12];
	size_t ol = ts_opts(o, our_tsval);

	return build_tcp(PEER_PORT, our_port, peer_nxt, iss + 1 + ack, TH_ACK, win, o, ol, 0, false);
}

static void setup(void)
{
	struct kw_stack_config cfg = { OUR_IP, 24, 0, 77, KW_TCP_CC_NEWRENO };
	struct side *sd[2] = { &A, &B };
	uint8_t o[20];
	size_t n;

	rec_init(&A.dev, 0);
	rec_init(&B.dev, KW_NETDEV_TX_CSUM | KW_NETDEV_TX_TSO4 | KW_NETDEV_RX_META);
	for (int i = 0; i < 2; i++) {
		uint8_t f[64];
		size_t k = build_arp(f, kw_ether_broadcast, KW_ARP_OP_REQUEST, PEER_MAC, PEER_IP,
				     NULL, OUR_IP);
		sd[i]->s = kw_stack_create(&cfg, &sd[i]->dev.dev);
		kw_stack_input(sd[i]->s, f, k, now);
		kw_tcp_open(kw_stack_tcp(sd[i]->s), &sd[i]->c);
		kw_tcp_connect(sd[i]->c, PEER_IP, PEER_PORT, now);
	}
	tap_is_u64(compare("handshake"), 2, "SYN: the same from both stacks (after the ARP reply)");
	{
		const uint8_t *th = A.dev.frame[1] + KW_ETH_HLEN + 20;
		iss = kw_get32(th + 4);
		our_port = kw_get16(th);
	}
	clear_both();
	/* SYN-ACK: MSS 1460, window scale 7, timestamps. */
	o[0] = 2; o[1] = 4; kw_put16(o + 2, 1460);
	o[4] = 1; o[5] = 3; o[6] = 3; o[7] = 7;
	ts_opts(o + 8, our_tsval);
	n = build_tcp(PEER_PORT, our_port, PEER_ISN, iss + 1, TH_SYN | TH_ACK, 65535, o, 20, 0,
		      false);
	peer_nxt = PEER_ISN + 1;
	now += MS(1);
	both_input(n);
	tap_ok(kw_tcp_state(A.c) == KW_TCP_ESTABLISHED && kw_tcp_state(B.c) == KW_TCP_ESTABLISHED,
	       "both connected");
	tap_is_u64(compare("ACK of the SYN-ACK"), 1, "... and sent the same ACK");
	clear_both();
}

static uint8_t data[400000];

static uint32_t queued;                /* bytes kw_tcp_send took */

static void both_send(size_t len)
{
	ssize_t a = kw_tcp_send(A.c, data, len, now), b = kw_tcp_send(B.c, data, len, now);
	if (a != b)
		tap_diag("send: %zd vs %zd", a, b);
	if (a > 0)
		queued += (uint32_t)a;
}

static void show(const char *what, const struct rec *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		const uint8_t *th = r->frame[i] + 34;
		tap_diag("%s %u: len %zu seq +%u ack %u flags %02x meta %d gso %u", what, i, r->len[i],
			 kw_get32(th + 4) - iss - 1, kw_get32(th + 8), th[13], r->has_meta[i],
			 r->meta[i].gso_size);
	}
}

static void test_transmit(void)
{
	unsigned n_gso = 0, total_gso = 0;
	size_t largest = 0;
	uint32_t acked = 0;
	int r;
	bool same = true, meta_ok = true;

	/* Slow start: 10 segments, one write. */
	both_send(300000);
	r = compare("initial window");
	tap_is_u64((uint64_t)r, 10, "initial window: 10 wire segments from the plain stack, the same from the offload stack");
	meta_ok = gso_frames_ok(&n_gso, &largest);
	tap_ok(B.dev.n == 1 && n_gso == 1 && B.dev.len[0] == 34 + 32 + 10 * MSS_TS,
	       "... in one write of 10 x 1448 bytes");
	tap_ok(meta_ok, "... with a partial checksum at the TCP header, gso_size 1448, hdr_len 66, "
	       "IP length of the whole packet, valid IP checksum, pseudo-header sum in the field");
	clear_both();

	/* ACK in pieces (2 segments at a time): each opens cwnd and the
	 * window, each time the same segments leave. */
	for (int k = 0; k < 40; k++) {
		now += MS(1);
		acked += 2 * MSS_TS;
		if (acked > hi)
			acked = hi;
		both_input(peer_ack(acked, 2000));     /* 2000 << 7 = 256000 */
		r = compare("slow start");
		n_gso = 0;
		if (r < 0 || !gso_frames_ok(&n_gso, &largest))
			same = false;
		total_gso += n_gso;
		clear_both();
	}
	tap_ok(same, "40 ACKs of 2 segments in slow start: the same wire segments every time");
	tap_ok(total_gso > 0 && largest > 34 + 32 + 2 * MSS_TS,
	       "... sent as large writes (largest frame cut into several segments)");
	tap_diag("%u large writes, largest %zu bytes; %u bytes sent", total_gso, largest, hi);

	/* The peer's window cuts a segment short: 3.5 segments beyond what
	 * is acknowledged; with data in flight, SWS avoidance decides. */
	now += MS(1);
	acked = hi;
	both_input(peer_ack(acked, (uint16_t)((MSS_TS * 7 / 2) >> 7)));
	r = compare("window cut short");
	tap_ok(r >= 0, "a window of 3.5 segments: the same segments");
	clear_both();
	now += MS(1);
	both_input(peer_ack(acked, 2000));
	r = compare("window opens");
	tap_ok(r >= 0, "... and when it opens again");
	clear_both();
}

/* Everything queued leaves; then a tail shorter than the MSS with data
 * in flight (Nagle holds it), nodelay (it goes), and the FIN. */
static void test_tail_and_fin(void)
{
	uint32_t unacked;
	bool same = true;
	int r;

	/* Drain: ACK all that is out until nothing more goes. */
	for (int k = 0; k < 400; k++) {
		now += MS(1);
		both_input(peer_ack(hi, 4000));
		if (queued < 300000)
			both_send(300000 - queued);
		r = compare("drain");
		if (r < 0)
			same = false;
		clear_both();
		if (r == 0)
			break;
	}
	tap_ok(same && hi == 300000 && queued == 300000,
	       "the rest of the 300000 bytes: the same segments throughout");
	if (hi != 300000)
		tap_diag("sent %u of %u", hi, queued);

	/* 3.5 segments more while the last 1000 are unacknowledged: 3 full
	 * segments go, the half waits (Nagle). */
	now += MS(1);
	both_input(peer_ack(hi - 1000, 4000));
	clear_both();
	unacked = hi;
	both_send(MSS_TS * 7 / 2);
	r = compare("Nagle");
	tap_ok(r == 3 && B.dev.n == 1, "Nagle: 3.5 segments with data in flight: 3 full segments in one write, the tail waits");
	clear_both();
	now += MS(1);
	both_input(peer_ack(unacked + 3 * MSS_TS, 4000));
	r = compare("Nagle tail");
	tap_ok(r == 1, "... the tail leaves once everything is acknowledged");
	clear_both();

	/* nodelay: the tail goes with the full segments, in the same write. */
	kw_tcp_set_nodelay(A.c, true);
	kw_tcp_set_nodelay(B.c, true);
	both_send(MSS_TS * 5 / 2);
	r = compare("nodelay");
	tap_ok(r == 3 && B.dev.n == 1, "nodelay: 2.5 segments with data in flight: all three in one write");
	clear_both();

	/* FIN with the last data: queued behind a zero window, then the
	 * window opens. */
	now += MS(1);
	both_input(peer_ack(hi, 0));
	both_send(3 * MSS_TS + 10);
	kw_tcp_shutdown(A.c, SHUT_WR, now);
	kw_tcp_shutdown(B.c, SHUT_WR, now);
	r = compare("zero window");
	tap_ok(r == 0, "a zero window: data and FIN wait");
	clear_both();
	now += MS(1);
	both_input(peer_ack(hi, 4000));
	r = compare("FIN");
	if (r != 4 || B.dev.n != 1) {
		show("A", &A.dev);
		show("B", &B.dev);
	}
	tap_ok(r == 4 && B.dev.n == 1 &&
	       (B.dev.frame[0][KW_ETH_HLEN + 20 + 13] & TH_FIN) != 0,
	       "FIN: the last data and the FIN in one write (the device puts FIN on the last piece only)");
	clear_both();
}

/* ---- receiving ---------------------------------------------------------------- */

static uint64_t bad_segments(struct kw_stack *s)
{
	struct kw_tcp_stats st;

	kw_tcp_layer_stats(kw_stack_tcp(s), &st);
	return st.bad_segments;
}

static ssize_t drain(struct kw_tcp *c)
{
	static uint8_t buf[70000];
	ssize_t n, total = 0;

	while ((n = kw_tcp_recv(c, buf, sizeof(buf), now)) > 0)
		total += n;
	return total;
}

/* Data from the peer on B (and A): accepted or not. */
static size_t peer_data(size_t dlen, bool partial)
{
	uint8_t o[12];
	size_t ol = ts_opts(o, our_tsval);

	return build_tcp(PEER_PORT, our_port, peer_nxt, iss + 1, TH_ACK | TH_PSH, 4000, o, ol,
			 dlen, partial);
}

static int taken(struct side *sd, size_t n, const struct kw_netdev_rx_meta *m, size_t dlen)
{
	uint64_t bad = bad_segments(sd->s);
	ssize_t got;

	now += MS(1);
	if (m)
		kw_stack_input_meta(sd->s, pf, n, m, now);
	else
		kw_stack_input(sd->s, pf, n, now);
	got = drain(sd->c);
	if (got == (ssize_t)dlen && bad_segments(sd->s) == bad)
		return 1;
	if (got == 0 && bad_segments(sd->s) == bad + 1)
		return 0;
	tap_diag("unexpected: %zd bytes read, %llu bad segments more", got,
		 (unsigned long long)(bad_segments(sd->s) - bad));
	return -1;
}

static void test_receive(void)
{
	struct kw_netdev_rx_meta partial = { .csum_partial = true, .csum_start = 34, .csum_offset = 16 };
	struct kw_netdev_rx_meta m;
	size_t n;

	/* Both sides: the peer's next data goes to B only from here on;
	 * A is used for the device-without-metadata case. */
	n = peer_data(100, false);
	tap_is_u64((uint64_t)taken(&B, n, NULL, 100), 1, "a segment with a valid checksum: taken");
	peer_nxt += 100;
	n = peer_data(100, true);
	tap_is_u64((uint64_t)taken(&B, n, NULL, 100), 0,
		   "a partial checksum without metadata: dropped as a bad segment");
	n = peer_data(100, true);
	tap_is_u64((uint64_t)taken(&B, n, &partial, 100), 1,
		   "... with metadata 'partial, from the TCP header, field at +16': taken");
	peer_nxt += 100;
	m = partial;
	m.csum_start = 38;
	n = peer_data(100, true);
	tap_is_u64((uint64_t)taken(&B, n, &m, 100), 0, "... partial from another offset: dropped");
	m = partial;
	m.csum_offset = 6;
	n = peer_data(100, true);
	tap_is_u64((uint64_t)taken(&B, n, &m, 100), 0,
		   "... partial with the field elsewhere: dropped");
	memset(&m, 0, sizeof(m));
	n = peer_data(100, true);
	tap_is_u64((uint64_t)taken(&B, n, &m, 100), 0, "... metadata that says nothing: dropped");
	m.csum_valid = true;
	n = peer_data(100, true);
	kw_put16(pf + 34 + 16, 0xbeef);
	tap_is_u64((uint64_t)taken(&B, n, &m, 100), 1,
		   "a wrong checksum with metadata 'verified by the device': taken");
	peer_nxt += 100;

	/* A's device announced no metadata: it does not count. A has not
	 * seen B's last 300 bytes: give it the same sequence space. */
	n = build_tcp(PEER_PORT, our_port, peer_nxt - 300, iss + 1, TH_ACK, 4000,
		      (const uint8_t[12]){ 1, 1, 8, 10, 0, 0, 0x30, 0, 0, 0, 0, 0 }, 12, 300, false);
	now += MS(1);
	kw_stack_input(A.s, pf, n, now);
	drain(A.c);
	n = peer_data(100, true);
	tap_is_u64((uint64_t)taken(&A, n, &partial, 100), 0,
		   "metadata from a device without KW_NETDEV_RX_META: ignored, dropped");

	/* Larger than the MTU (coalesced): taken whole, ACKed at once. */
	rec_clear(&B.dev);
	m = partial;
	m.gso_size = 1448;
	n = peer_data(8000, true);
	tap_ok(n > 1514, "a coalesced segment of 8000 bytes (frame larger than the MTU)");
	now += MS(1);
	kw_stack_input_meta(B.s, pf, n, &m, now);
	peer_nxt += 8000;
	tap_ok(B.dev.n == 1 && kw_get32(B.dev.frame[0] + 34 + 8) == peer_nxt,
	       "... ACKed at once (it counts as more than one segment)");
	if (B.dev.n != 1)
		show("B", &B.dev);
	tap_is_u64((uint64_t)drain(B.c), 8000, "... and taken whole");
	rec_clear(&B.dev);

	/* ICMP is always verified. */
	n = build_echo(pf, PEER_IP, OUR_IP, 7, 1, 32);
	pf[34 + 2] ^= 0x55;
	m.csum_valid = true;
	kw_stack_input_meta(B.s, pf, n, &m, now);
	tap_ok(B.dev.n == 0, "an ICMP echo with a bad checksum and 'verified' metadata: no reply");
	n = build_echo(pf, PEER_IP, OUR_IP, 7, 2, 32);
	kw_stack_input_meta(B.s, pf, n, &m, now);
	tap_ok(B.dev.n == 1, "... a good one: replied");
	rec_clear(&B.dev);
}

/* Offload flags without transmit_meta, or TSO without checksum offload:
 * the stack uses none (everything through transmit, MTU-sized). */
static void test_flags_without_means(void)
{
	struct kw_stack_config cfg = { OUR_IP, 24, 0, 78, KW_TCP_CC_NEWRENO };
	static const struct kw_netdev_ops plain_ops = { .transmit = rec_transmit };
	struct rec r;
	struct kw_stack *s;

	rec_init(&r, KW_NETDEV_TX_CSUM | KW_NETDEV_TX_TSO4);
	r.dev.ops = &plain_ops;
	s = kw_stack_create(&cfg, &r.dev);
	tap_ok(s != NULL && kw_stack_tx_offloads(&r.dev) == 0,
	       "offload flags without transmit_meta: no offloads used");
	kw_stack_destroy(s);
	rec_init(&r, KW_NETDEV_TX_TSO4);
	tap_ok(kw_stack_tx_offloads(&r.dev) == 0, "TSO without checksum offload: none used");
	rec_init(&r, KW_NETDEV_TX_CSUM);
	tap_ok(kw_stack_tx_offloads(&r.dev) == KW_NETDEV_TX_CSUM, "checksum offload alone: used");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 9));
	setup();
	test_transmit();
	test_tail_and_fin();
	test_receive();
	test_flags_without_means();
	kw_stack_destroy(A.s);
	kw_stack_destroy(B.s);
	rec_clear(&A.dev);
	rec_clear(&B.dev);
	return tap_done();
}
