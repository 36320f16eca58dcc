/* SACK, receiver side (issue 10): SACK-permitted on our SYN and SYN-ACK
 * (and not on a SYN-ACK to a SYN without it), the exact blocks the ACKs
 * carry after given arrival patterns (RFC 2018 §4: the block of the
 * latest segment first, then the most recent others; 3 with timestamps,
 * 4 without), D-SACK first for a duplicate (RFC 2883), and no SACK
 * option at all when it was not agreed. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"
#include "stack/checksum.h"

#include <stdlib.h>
#include <string.h>

struct cap {
	bool syn_sackok[2];
	unsigned nack;                   /* ACKs endpoint 1 sent */
	struct seginfo si;               /* its last one */
	unsigned nblk;
	uint32_t blk[4][2];
	bool has_sack;
	bool sackok;                     /* kind 4 on its last SYN-ACK */
};
static struct cap cap;

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void parse_opts(const uint8_t *seg, const struct seginfo *si, bool *sackok,
		       bool *has, unsigned *nblk, uint32_t blk[4][2])
{
	size_t i = 20;

	*sackok = *has = false;
	*nblk = 0;
	while (i < si->hlen) {
		uint8_t k = seg[i], l;
		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		l = seg[i + 1];
		if (l < 2)
			break;
		if (k == 4)
			*sackok = true;
		if (k == 5) {
			*has = true;
			*nblk = (unsigned)(l - 2) / 8;
			for (unsigned b = 0; b < *nblk && b < 4; b++) {
				blk[b][0] = g32(seg + i + 2 + 8 * b);
				blk[b][1] = g32(seg + i + 6 + 8 * b);
			}
		}
		i += l;
	}
}

static void tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		const struct seginfo *si)
{
	bool sackok, has;
	unsigned n;
	uint32_t blk[4][2];

	(void)p; (void)len;
	parse_opts(seg, si, &sackok, &has, &n, blk);
	if (si->flags & F_SYN)
		cap.syn_sackok[from] = sackok;
	if (from != 1)
		return;
	if ((si->flags & F_SYN) && (si->flags & F_ACK))
		cap.sackok = sackok;
	cap.si = *si;
	cap.nack++;
	cap.has_sack = has;
	cap.nblk = n;
	memcpy(cap.blk, blk, sizeof(blk));
}

/* Blocks relative to base, as "s-e s-e ..." for the test messages. */
static bool blocks_are(uint32_t base, const char *want)
{
	char got[128] = "";
	size_t o = 0;

	for (unsigned b = 0; b < cap.nblk; b++)
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%u-%u", b ? " " : "",
				      cap.blk[b][0] - base, cap.blk[b][1] - base);
	if (strcmp(got, want) != 0) {
		tap_diag("blocks: got \"%s\", want \"%s\"", got, want);
		return false;
	}
	return true;
}

struct conn {
	struct tcp_pair p;
	struct kw_tcp *c, *s, *l;
	uint16_t cport;
	uint32_t cseq, sseq;
};

static void setup(struct conn *k, uint64_t seed)
{
	uint32_t a;

	memset(&cap, 0, sizeof(cap));
	memset(k, 0, sizeof(*k));
	pair_init(&k->p, seed);
	k->p.tap = tap;
	tap_ok(pair_connect(&k->p, 80, &k->c, &k->s, NULL) == 0, "connected");
	pair_run_until(&k->p, k->p.now + MS(100));
	kw_tcp_local(k->c, &a, &k->cport);
	k->cseq = cap.si.ack;
	k->sseq = cap.si.seq;
	k->p.down = true;
}

static void fini(struct conn *k)
{
	kw_tcp_abort(k->c, k->p.now);
	if (k->s)
		kw_tcp_abort(k->s, k->p.now);
	if (k->l)
		kw_tcp_close(k->l, k->p.now);
	pair_fini(&k->p);
}

/* A segment from the client's address to endpoint 1 with the given
 * options (a multiple of 4 bytes). */
static void inject_opts(struct conn *k, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags,
			const uint8_t *opts, size_t optlen, size_t dlen)
{
	uint8_t b[2048];
	size_t len = 20 + optlen + dlen;
	uint16_t ck;

	memset(b, 0, sizeof(b));
	b[0] = (uint8_t)(sport >> 8); b[1] = (uint8_t)sport;
	b[2] = 0; b[3] = 80;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	b[13] = flags;
	b[14] = 0xff; b[15] = 0xff;
	if (optlen)
		memcpy(b + 20, opts, optlen);
	for (size_t i = 0; i < dlen; i++)
		b[20 + optlen + i] = (uint8_t)(seq + i);
	ck = kw_checksum(b, len, kw_checksum_pseudo(PAIR_ADDR0, PAIR_ADDR1, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(k->p.l[1], PAIR_ADDR0, PAIR_ADDR1, b, len, k->p.now);
}

static void seg(struct conn *k, uint32_t off, size_t len)
{
	uint8_t b[2000];

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(off + i);
	pair_inject(&k->p, 1, k->cport, 80, k->cseq + off, k->sseq, F_ACK, 65535, b, len);
}

static void test_negotiated(void)
{
	struct conn k;
	struct kw_tcp_info ci, si;

	setup(&k, 2001);
	tap_ok(cap.syn_sackok[0], "our SYN offers SACK-permitted");
	tap_ok(cap.syn_sackok[1], "our SYN-ACK to a SYN that offered it does too");
	kw_tcp_info(k.c, &ci, k.p.now);
	kw_tcp_info(k.s, &si, k.p.now);
	tap_ok((ci.options & KW_TCPI_OPT_SACK) && (si.options & KW_TCPI_OPT_SACK),
	       "TCP_INFO shows SACK on both ends");
	fini(&k);
}

/* Arrival pattern over a 5 ms-old connection with timestamps (3 blocks
 * at most): holes at 0..1000, 1100..3000, 3100..5000, 5100..7000. */
static void test_blocks(void)
{
	struct conn k;
	uint32_t b;

	setup(&k, 2002);
	b = k.cseq;
	seg(&k, 1000, 100);
	tap_ok(cap.si.ack == b && blocks_are(b, "1000-1100"), "one hole: one block");
	seg(&k, 3000, 100);
	tap_ok(blocks_are(b, "3000-3100 1000-1100"), "the latest block first");
	seg(&k, 5000, 100);
	tap_ok(blocks_are(b, "5000-5100 3000-3100 1000-1100"), "three blocks, most recent first");
	seg(&k, 7000, 100);
	tap_ok(blocks_are(b, "7000-7100 5000-5100 3000-3100"),
	       "four held, timestamps on: the three most recent");
	seg(&k, 1100, 100);
	tap_ok(blocks_are(b, "1000-1200 7000-7100 5000-5100"),
	       "a segment that extends an old block brings it first, whole");
	seg(&k, 3100, 1900);
	tap_ok(blocks_are(b, "3000-5100 1000-1200 7000-7100"),
	       "a segment that joins two blocks: the joined block first");
	seg(&k, 0, 1000);
	tap_ok(cap.si.ack == b + 1200 && blocks_are(b, "3000-5100 7000-7100"),
	       "the first hole filled: ACK 1200, the blocks above stay in their order");
	/* D-SACK (RFC 2883). */
	seg(&k, 7000, 100);
	tap_ok(blocks_are(b, "7000-7100 7000-7100 3000-5100"),
	       "duplicate of held data: D-SACK first, then its block");
	seg(&k, 3050, 100);
	tap_ok(blocks_are(b, "3050-3150 3000-5100 7000-7100"), "partial duplicate: D-SACK of the overlap");
	seg(&k, 200, 300);
	tap_ok(cap.si.ack == b + 1200 && blocks_are(b, "200-500 3000-5100 7000-7100"),
	       "duplicate below RCV.NXT: D-SACK first");
	seg(&k, 1100, 400);
	tap_ok(blocks_are(b, "1100-1200 3000-5100 7000-7100"),
	       "partly below RCV.NXT: D-SACK of the old part");
	seg(&k, 9000, 100);
	tap_ok(blocks_are(b, "9000-9100 3000-5100 7000-7100"), "a D-SACK goes once");
	seg(&k, 1200, 1800);
	seg(&k, 5100, 1900);
	seg(&k, 7100, 1900);
	tap_ok(cap.si.ack == b + 9100 && !cap.has_sack, "every hole filled: no SACK option");
	fini(&k);
}

static void handshake(struct conn *k, uint64_t seed, const uint8_t *opts, size_t optlen)
{
	struct kw_tcp *l;

	memset(&cap, 0, sizeof(cap));
	memset(k, 0, sizeof(*k));
	pair_init(&k->p, seed);
	k->p.tap = tap;
	k->p.down = true;
	kw_tcp_open(k->p.l[1], &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_listen(l, 4);
	k->l = l;
	k->cport = 40000;
	k->cseq = 1000001;
	inject_opts(k, k->cport, k->cseq - 1, 0, F_SYN, opts, optlen, 0);
	k->sseq = cap.si.seq + 1;
	inject_opts(k, k->cport, k->cseq, k->sseq, F_ACK, NULL, 0, 0);
	k->s = NULL;
	kw_tcp_accept(l, &k->s);
	kw_tcp_open(k->p.l[0], &k->c);    /* a placeholder, for fini */
}

static void test_not_agreed(void)
{
	static const uint8_t mss_only[] = { 2, 4, 0x05, 0xb4 };
	static const uint8_t mss_sack[] = { 2, 4, 0x05, 0xb4, 1, 1, 4, 2 };
	struct conn k;
	uint32_t b;
	struct kw_tcp_info si;

	handshake(&k, 2003, mss_only, sizeof(mss_only));
	tap_ok(k.s != NULL, "handshake with a SYN without SACK-permitted");
	tap_ok(!cap.sackok, "... the SYN-ACK does not offer it");
	kw_tcp_info(k.s, &si, k.p.now);
	tap_ok(!(si.options & KW_TCPI_OPT_SACK), "... TCP_INFO: no SACK");
	b = k.cseq;
	inject_opts(&k, k.cport, b + 1000, k.sseq, F_ACK, NULL, 0, 100);
	tap_ok(cap.si.ack == b && !cap.has_sack, "out-of-order data: a duplicate ACK without SACK");
	inject_opts(&k, k.cport, b + 1000, k.sseq, F_ACK, NULL, 0, 100);
	tap_ok(!cap.has_sack, "a duplicate segment: no D-SACK");
	fini(&k);

	/* SACK without timestamps: 4 blocks fit. */
	handshake(&k, 2004, mss_sack, sizeof(mss_sack));
	tap_ok(k.s != NULL && cap.sackok, "SYN with SACK-permitted, no timestamps: the SYN-ACK offers it");
	b = k.cseq;
	for (uint32_t i = 1; i <= 5; i++)
		inject_opts(&k, k.cport, b + 1000 * i, k.sseq, F_ACK, NULL, 0, 100);
	tap_ok(blocks_are(b, "5000-5100 4000-4100 3000-3100 2000-2100"),
	       "no timestamps: four blocks, most recent first");
	fini(&k);
}

int main(void)
{
	test_negotiated();
	test_blocks();
	test_not_agreed();
	return tap_done();
}
