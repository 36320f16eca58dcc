/* libFuzzer target: a listener under a small memory cap against hostile
 * peers.
 *
 * Every input starts from the same state: one TCP layer (no IP below it)
 * capped at 256 KiB (kw_tcp_layer_set_mem_limit), a listener on port 80
 * with backlog 4 and 8 KiB buffers, so that the SYN queue overflows into
 * SYN cookies and the cap is reached within a few records. 32 peers
 * (10.0.1.k, port 40000 + k) send what the input says; the layer's
 * answers are read back so that a peer can complete a handshake (with the
 * SYN-ACK's ISN, a cookie or not, and its TSval echoed) and send data in
 * order or out of order.
 *
 * The input is a sequence of records, op (1 byte) then its arguments (as
 * many bytes as the op takes; missing bytes read as 0):
 *   0 SYN (options: MSS, window scale, timestamps, SACK-permitted)
 *   1 the handshake's ACK (SYN-ACK ISN + 1, TSecr = its TSval), maybe data
 *   2 data in order     3 data out of order     4 RST     5 FIN
 *   6 a forged segment (any seq, ack, flags; a cookie guess)
 *   7 raw bytes as a segment (checksum not checked)
 *   8 time passes (timers run)
 *   9 accept          10 the program: read, send, close, abort, buffers
 *
 * Invariants (abort() when violated), after every record: the memory in
 * use is at most the cap, and equals what the connection blocks, their
 * charged rings and their out-of-order segments add up to. ASan/UBSan
 * report the rest.
 *
 * Built with clang -fsanitize=fuzzer (make fuzz), or with any compiler and
 * fuzz/replay.c to replay files. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz-listener: invariant failed at %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);                               \
			abort();                                                          \
		}                                                                         \
	} while (0)

#define LOCAL 0x0a000001u
#define PEER_BASE 0x0a000100u
#define NPEER 32
#define NSLOT 16
#define MEM_CAP ((size_t)256 * 1024)
#define MAX_RECORDS 512

struct peer {
	uint32_t seq;           /* next sequence number the peer sends */
	uint32_t synack;        /* the last SYN-ACK's ISN */
	uint32_t tsval;         /* and its TSval */
	bool have_synack;
};

static struct {
	struct kw_tcp_layer *L;
	struct kw_tcp *listener;
	struct kw_tcp *slot[NSLOT];
	struct peer peer[NPEER];
	uint64_t now;
	const uint8_t *in;
	size_t left;
} F;

static uint8_t u8(void)
{
	if (F.left == 0)
		return 0;
	F.left--;
	return *F.in++;
}

static uint16_t u16(void) { return (uint16_t)(u8() << 8 | u8()); }
static uint32_t u32(void) { return (uint32_t)u16() << 16 | u16(); }

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What the layer sends: remember SYN-ACKs per peer. */
static void ip_output(void *ctx, uint32_t src, uint32_t dst, const void *seg, size_t len,
		      uint64_t now_ns)
{
	const uint8_t *p = seg;
	struct peer *pe;
	size_t hl, i;

	(void)ctx;
	(void)src;
	(void)now_ns;
	if (len < 20 || dst - PEER_BASE >= NPEER)
		return;
	pe = &F.peer[dst - PEER_BASE];
	if ((p[13] & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK))
		return;
	pe->synack = get32(p + 4);
	pe->have_synack = true;
	pe->tsval = 0;
	hl = (size_t)(p[12] >> 4) * 4;
	for (i = 20; i + 1 < hl && hl <= len;) {
		if (p[i] == 0)
			break;
		if (p[i] == 1) {
			i++;
			continue;
		}
		if (p[i + 1] < 2)
			break;
		if (p[i] == 8 && p[i + 1] == 10 && i + 10 <= hl)
			pe->tsval = get32(p + i + 2);
		i += p[i + 1];
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* A segment from peer k; opt: options already laid out (multiple of 4). */
static void send_seg(unsigned k, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		     const uint8_t *opt, size_t optlen, size_t dlen)
{
	static uint8_t b[60 + 2048];
	size_t hl = 20 + optlen, len;
	uint32_t src = PEER_BASE + k;
	uint16_t ck;

	if (dlen > 2048)
		dlen = 2048;
	len = hl + dlen;
	memset(b, 0, 20);
	b[0] = (uint8_t)((40000 + k) >> 8); b[1] = (uint8_t)(40000 + k);
	b[2] = 0; b[3] = 80;
	put32(b + 4, seq);
	put32(b + 8, ack);
	b[12] = (uint8_t)((hl / 4) << 4);
	b[13] = flags;
	b[14] = (uint8_t)(win >> 8); b[15] = (uint8_t)win;
	if (optlen)
		memcpy(b + 20, opt, optlen);
	for (size_t i = 0; i < dlen; i++)
		b[hl + i] = (uint8_t)(seq + i);
	ck = kw_checksum(b, len, kw_checksum_pseudo(src, LOCAL, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(F.L, src, LOCAL, b, len, F.now);
}

static size_t ts_opt(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	o[0] = 1; o[1] = 1; o[2] = 8; o[3] = 10;
	put32(o + 4, tsval);
	put32(o + 8, tsecr);
	return 12;
}

static void op_syn(void)
{
	unsigned k = u8() % NPEER;
	uint8_t f = u8(), o[40];
	size_t n = 0;
	struct peer *pe = &F.peer[k];
	uint32_t isn = u32();

	if (f & 1) {
		uint16_t mss = u16();
		o[n++] = 2; o[n++] = 4; o[n++] = (uint8_t)(mss >> 8); o[n++] = (uint8_t)mss;
	}
	if (f & 2) {
		o[n++] = 1; o[n++] = 3; o[n++] = 3; o[n++] = u8();
	}
	if (f & 4)
		n += ts_opt(o + n, (uint32_t)(F.now / 1000000), 0);
	if (f & 8) {
		o[n++] = 1; o[n++] = 1; o[n++] = 4; o[n++] = 2;
	}
	pe->seq = isn + 1;
	send_seg(k, isn, 0, TH_SYN, 65535, o, n, 0);
}

static void op_ack(void)
{
	unsigned k = u8() % NPEER;
	uint8_t f = u8(), o[12];
	struct peer *pe = &F.peer[k];
	size_t n = 0, dlen = (f & 2) ? (size_t)u8() * 8 : 0;

	if (f & 1)
		n = ts_opt(o, (uint32_t)(F.now / 1000000), pe->tsval);
	send_seg(k, pe->seq, pe->synack + 1, TH_ACK | (dlen ? TH_PSH : 0), u16(), o, n, dlen);
	pe->seq += (uint32_t)dlen;
}

static void op_data(bool in_order)
{
	unsigned k = u8() % NPEER;
	struct peer *pe = &F.peer[k];
	uint32_t off = in_order ? 0 : u16();
	size_t dlen = (size_t)u8() * 8 + 1;

	send_seg(k, pe->seq + off, pe->synack + 1, TH_ACK, 65535, NULL, 0, dlen);
	if (in_order)
		pe->seq += (uint32_t)dlen;
}

static void op_flags(uint8_t flags)
{
	unsigned k = u8() % NPEER;
	struct peer *pe = &F.peer[k];
	int8_t d = (int8_t)u8();

	send_seg(k, pe->seq + (uint32_t)(int32_t)d, pe->synack + 1, flags, 65535, NULL, 0, 0);
	if (flags & TH_FIN)
		pe->seq++;
}

static void op_forged(void)
{
	unsigned k = u8() % NPEER;
	uint32_t seq = u32(), ack = u32();
	uint8_t flags = u8() & 0x3f;

	send_seg(k, seq, ack, flags, u16(), NULL, 0, u8() & 0x0f);
}

static void op_raw(void)
{
	static uint8_t b[256];
	unsigned k = u8() % NPEER;
	size_t n = u8(), i;

	for (i = 0; i < n; i++)
		b[i] = u8();
	if (n >= 4) {
		b[0] = (uint8_t)((40000 + k) >> 8); b[1] = (uint8_t)(40000 + k);
		b[2] = 0; b[3] = 80;
	}
	kw_tcp_input_csum_ok(F.L, PEER_BASE + k, LOCAL, b, n, F.now);
}

static void run_timers(uint64_t until)
{
	for (unsigned i = 0; i < 10000; i++) {
		uint64_t d = kw_tcp_layer_next_deadline(F.L);
		if (d == KW_TIME_NEVER || d > until)
			break;
		if (d > F.now)
			F.now = d;
		kw_tcp_layer_poll(F.L, F.now);
	}
	if (F.now < until)
		F.now = until;
}

static void op_time(void)
{
	uint8_t b = u8();

	run_timers(F.now + (uint64_t)b * b * 10 * KW_NS_PER_MS);
}

static void op_accept(void)
{
	unsigned s = u8() % NSLOT;
	struct kw_tcp *c;

	if (!F.listener || kw_tcp_accept(F.listener, &c) < 0)
		return;
	if (F.slot[s])
		kw_tcp_abort(F.slot[s], F.now);
	F.slot[s] = c;
}

static void op_program(void)
{
	static uint8_t buf[4096];
	unsigned s = u8() % NSLOT, what = u8();
	struct kw_tcp *c = F.slot[s];
	size_t n;

	if (!c)
		return;
	switch (what % 6) {
	case 0:
		while (kw_tcp_recv(c, buf, sizeof(buf), F.now) > 0)
			;
		break;
	case 1:
		n = (size_t)u8() * 16;
		memset(buf, 'x', n);
		kw_tcp_send(c, buf, n, F.now);
		break;
	case 2:
		kw_tcp_close(c, F.now);
		F.slot[s] = NULL;
		break;
	case 3:
		kw_tcp_abort(c, F.now);
		F.slot[s] = NULL;
		break;
	case 4:
		kw_tcp_set_buffers(c, (size_t)u16() * 4, (size_t)u16() * 4);
		break;
	default:
		(void)kw_tcp_events(c);
		(void)kw_tcp_send_space(c);
		break;
	}
}

/* What the memory in use must be: every block, its charged rings, its
 * out-of-order segments. */
static void check_memory(void)
{
	struct kw_tcp_stats st;
	uint64_t sum = 0;

	kw_tcp_layer_stats(F.L, &st);
	CHECK(st.mem_limit == MEM_CAP);
	CHECK(st.mem_in_use <= st.mem_limit);
	for (const struct kw_tcp *c = F.L->all; c; c = c->all_next) {
		sum += sizeof(*c);
		if (c->mem_rings & TCP_MEM_SND) {
			CHECK(c->snd.buf != NULL);
			sum += c->snd.cap;
		}
		if (c->mem_rings & TCP_MEM_RCV) {
			CHECK(c->rcv.buf != NULL);
			sum += c->rcv.cap;
		}
		CHECK(c->snd.buf == NULL || (c->mem_rings & TCP_MEM_SND));
		CHECK(c->rcv.buf == NULL || (c->mem_rings & TCP_MEM_RCV));
		for (const struct tcp_ooo *o = c->ooo; o; o = o->next)
			sum += sizeof(*o) + o->len;
	}
	CHECK(sum == st.mem_in_use);
}

static void setup(void)
{
	struct kw_tcp_env env = {
		.ip_output = ip_output,
		.local_addr = LOCAL,
		.mss = 1460,
		.seed = 0x5eed,
		.congestion = KW_TCP_CC_BBR,    /* forged ACKs and SACKs drive BBR too */
	};

	memset(&F, 0, sizeof(F));
	F.now = 1000 * KW_NS_PER_S;
	F.L = kw_tcp_layer_create(&env);
	CHECK(F.L != NULL);
	kw_tcp_layer_set_mem_limit(F.L, MEM_CAP);
	CHECK(kw_tcp_open(F.L, &F.listener) == 0);
	CHECK(kw_tcp_bind(F.listener, 0, 80) == 0);
	CHECK(kw_tcp_set_buffers(F.listener, 8192, 8192) == 0);
	CHECK(kw_tcp_listen(F.listener, 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	F.in = data;
	F.left = size;
	for (unsigned r = 0; r < MAX_RECORDS && F.left > 0; r++) {
		switch (u8() % 11) {
		case 0: op_syn(); break;
		case 1: op_ack(); break;
		case 2: op_data(true); break;
		case 3: op_data(false); break;
		case 4: op_flags(TH_RST); break;
		case 5: op_flags(TH_FIN | TH_ACK); break;
		case 6: op_forged(); break;
		case 7: op_raw(); break;
		case 8: op_time(); break;
		case 9: op_accept(); break;
		default: op_program(); break;
		}
		check_memory();
	}
	/* Everything ends: the program lets go, time runs out the timers. */
	for (unsigned s = 0; s < NSLOT; s++)
		if (F.slot[s])
			kw_tcp_abort(F.slot[s], F.now);
	kw_tcp_close(F.listener, F.now);
	check_memory();
	run_timers(F.now + 3600 * KW_NS_PER_S);
	check_memory();
	kw_tcp_layer_destroy(F.L);
	return 0;
}
