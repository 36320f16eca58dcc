/* libFuzzer target: a whole stack with live TCP connections.
 *
 * Every input starts from the same state (so a crash file reproduces on
 * its own): two stacks over the in-memory link of tests/stack/stack-pair,
 * A = 10.9.0.1 and B = 10.9.0.2, listeners on B:80 and A:443, and B's
 * connections to A in several states (ESTABLISHED idle, ESTABLISHED with
 * unread data, B as client, CLOSE-WAIT, FIN-WAIT-2, SYN-SENT to a host that
 * does not exist), as in tests/stack/test-stack-fuzz.c. The pair is built
 * once and the setup is deterministic (fixed seeds, fake clock), so each
 * input rebuilds it the same way: about as cheap as a snapshot.
 *
 * The input is a sequence of records:
 *     op (1 byte), length (2 bytes, big endian), body (length bytes; a
 *     short last body is what is left)
 * op bit 0: fix the body's IPv4 header and TCP/ICMP checksums first;
 * op bit 1: the body is an application call (below), not a frame;
 * op bits 2-7 (t): after the record the clock advances by 2^(t*37/63) ns
 *     (t = 0: not at all; t = 63: about 137 s) while the link
 *     delivers and both stacks run their timers.
 * A frame body goes straight into B's kw_stack_input; B's answers travel
 * the link to A, whose answers come back to B.
 * An application call: body[0] % 10 selects send, recv, shutdown, close,
 * abort, keepalive, connect, accept, buffers/nodelay, error/events; body[1]
 * the socket (a slot of either side); the rest its arguments or data.
 *
 * Invariants (abort() when violated): every socket a slot holds has a
 * valid state and events; the number of sockets each layer holds grows by
 * at most one per record; ARP's queue stays within its limit; counters
 * agree (no more frames dropped than received); the clock never makes a
 * deadline go into the past after a poll. ASan/UBSan report the rest.
 *
 * Built with clang -fsanitize=fuzzer (make fuzz), or with any compiler and
 * fuzz/replay.c to replay files. With -DKW_FUZZ_MKCORPUS it is instead a
 * program writing the seed corpus (fuzz/corpus/stack) into a directory. */
#include "stack/checksum.h"
#include "stack/stack_internal.h"
#include "stack/tcp_internal.h"
#include "tests/stack/stack-pair.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz-stack: invariant failed at %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);                            \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define GHOST SP_IP4(10, 9, 0, 77)
#define MAX_RECORDS 256
#define NSLOT 16

enum { L_IDLE, L_UNREAD, L_BCLIENT, L_CLOSE_WAIT, L_FIN_WAIT2, L_SYN_SENT, NLIVE };

static struct spair sp;
/* slot[1][i]: B's sockets (the live ones first), slot[0][i]: A's. */
static struct kw_tcp *slot[2][NSLOT];
static struct kw_tcp *lst[2];

static bool both_established(struct spair *s, void *arg)
{
	struct kw_tcp **pair = arg;
	(void)s;
	return pair[0] && pair[1] && kw_tcp_state(pair[0]) == KW_TCP_ESTABLISHED &&
	       kw_tcp_state(pair[1]) == KW_TCP_ESTABLISHED;
}

/* Small buffers (children of a listener inherit its): the default 256 KiB
 * each way would make every setup map and unmap megabytes. */
static int small(struct kw_tcp *s)
{
	return kw_tcp_set_buffers(s, 16384, 16384);
}

/* Connect from side `from` to the other side's listener; the two ends go
 * into slot[from][i] and slot[1 - from][i]. */
static int open_conn(int from, uint16_t port, int i)
{
	struct kw_tcp *pair[2] = { NULL, NULL };
	uint64_t limit = sp.now + SP_SEC(5);

	if (kw_tcp_open(sp_tcp(&sp, from), &pair[0]) < 0 || small(pair[0]) < 0 ||
	    kw_tcp_connect(pair[0], from ? SP_ADDR0 : SP_ADDR1, port, sp.now) != -EINPROGRESS)
		return -1;
	while (sp.now < limit) {
		if (!pair[1] && kw_tcp_accept(lst[1 - from], &pair[1]) < 0)
			pair[1] = NULL;
		if (both_established(&sp, pair))
			break;
		if (!sp_step(&sp, limit))
			break;
	}
	if (!both_established(&sp, pair))
		return -1;
	slot[from][i] = pair[0];
	slot[1 - from][i] = pair[1];
	return 0;
}

static int setup(void)
{
	struct kw_memlink_config lc = { .seed = 99, .delay_ns = 20000 };
	static uint8_t junk[1000];

	memset(slot, 0, sizeof(slot));
	if (sp_init(&sp, &lc, 99) != 0)
		return -1;
	for (int side = 0; side < 2; side++) {
		if (kw_tcp_open(sp_tcp(&sp, side), &lst[side]) < 0 ||
		    small(lst[side]) < 0 || kw_tcp_bind(lst[side], 0, side ? 80 : 443) < 0 || kw_tcp_listen(lst[side], 16) < 0)
			return -1;
	}
	if (open_conn(0, 80, L_IDLE) || open_conn(0, 80, L_UNREAD) || open_conn(1, 443, L_BCLIENT) ||
	    open_conn(0, 80, L_CLOSE_WAIT) || open_conn(0, 80, L_FIN_WAIT2))
		return -1;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13);
	kw_tcp_send(slot[0][L_UNREAD], junk, sizeof(junk), sp.now);
	kw_tcp_shutdown(slot[0][L_CLOSE_WAIT], SHUT_WR, sp.now);
	kw_tcp_shutdown(slot[1][L_FIN_WAIT2], SHUT_WR, sp.now);
	if (kw_tcp_open(sp_tcp(&sp, 1), &slot[1][L_SYN_SENT]) < 0 || small(slot[1][L_SYN_SENT]) < 0)
		return -1;
	kw_tcp_connect(slot[1][L_SYN_SENT], GHOST, 9, sp.now);
	sp_run_until(&sp, sp.now + SP_MS(100));
	return 0;
}

/* ---- records ---------------------------------------------------------------- */

static void fix_checksums(uint8_t *f, size_t len)
{
	uint8_t *ip = f + 14;
	size_t ihl, total;

	if (len < 34 || kw_get16(f + 12) != 0x0800)
		return;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || 14 + ihl > len)
		return;
	kw_put16(ip + 10, 0);
	kw_put16(ip + 10, kw_checksum(ip, ihl, 0));
	total = kw_get16(ip + 2);
	if (total > len - 14)
		total = len - 14;
	if (total < ihl)
		return;
	if (ip[9] == 6 && total >= ihl + 20) {
		uint8_t *t = ip + ihl;
		size_t tl = total - ihl;
		kw_put16(t + 16, 0);
		kw_put16(t + 16, kw_checksum(t, tl, kw_checksum_pseudo(kw_get32(ip + 12), kw_get32(ip + 16),
								     6, (uint16_t)tl)));
	} else if (ip[9] == 1 && total >= ihl + 8) {
		uint8_t *c = ip + ihl;
		kw_put16(c + 2, 0);
		kw_put16(c + 2, kw_checksum(c, total - ihl, 0));
	}
}

static int free_slot(int side)
{
	for (int i = NLIVE; i < NSLOT; i++)
		if (!slot[side][i])
			return i;
	return -1;
}

static void app_call(const uint8_t *b, size_t n)
{
	static uint8_t buf[4096];
	unsigned sel, side, i;
	struct kw_tcp *s;
	uint64_t now = sp.now;

	if (n < 2)
		return;
	sel = b[1];
	side = (sel >> 7) ? 0u : 1u;          /* mostly B */
	i = (sel & 0x7f) % NSLOT;
	s = slot[side][i];
	b += 2;
	n -= 2;

	switch (b[-2] % 10) {
	case 0: /* send */
		if (s) {
			ssize_t r = kw_tcp_send(s, b, n, now);
			CHECK(r < 0 ? r >= -4095 : (size_t)r <= n);
		}
		break;
	case 1: /* recv */
		if (s) {
			size_t want = n ? (size_t)b[0] * 16u + 1 : sizeof(buf);
			ssize_t r = kw_tcp_recv(s, buf, want > sizeof(buf) ? sizeof(buf) : want, now);
			CHECK(r < 0 ? r >= -4095 : (size_t)r <= want);
		}
		break;
	case 2: /* shutdown */
		if (s)
			kw_tcp_shutdown(s, n ? b[0] % 3 : SHUT_WR, now);
		break;
	case 3: /* close */
		if (s) {
			kw_tcp_close(s, now);
			slot[side][i] = NULL;
		}
		break;
	case 4: /* abort */
		if (s) {
			kw_tcp_abort(s, now);
			slot[side][i] = NULL;
		}
		break;
	case 5: /* keepalive */
		if (s) {
			struct keepalive_config kc = {
				/* From 100 ms: a probe every ms for a
				 * simulated quarter hour is only slow. */
				.idle_ns = SP_MS(100 + (n > 0 ? b[0] : 0) * 100u + (n > 4 ? b[4] : 0)),
				.interval_ns = SP_MS(100 + (n > 1 ? b[1] : 0) * 10u),
				.count = n > 2 ? b[2] % 12u : 3u,
			};
			kw_tcp_set_keepalive(s, !(n > 3 && (b[3] & 1)), &kc, now);
		}
		break;
	case 6: /* connect: B to A:443 or nowhere, A to B:80 or a closed port */
		if ((int)(i = (unsigned)free_slot((int)side)) >= 0 &&
		    kw_tcp_open(sp_tcp(&sp, (int)side), &s) == 0) {
			small(s);
			uint32_t to = side ? (n && (b[0] & 1) ? GHOST : SP_ADDR0) : SP_ADDR1;
			uint16_t port = (uint16_t)(side ? 443 : 80);
			if (n > 1 && (b[1] & 1))
				port = (uint16_t)(n > 2 ? b[2] : 81);
			slot[side][i] = s;
			kw_tcp_connect(s, to, port, now);
		}
		break;
	case 7: /* accept */
		if ((int)(i = (unsigned)free_slot((int)side)) >= 0 &&
		    kw_tcp_accept(lst[side], &s) == 0)
			slot[side][i] = s;
		break;
	case 8: /* buffers, nodelay */
		if (s) {
			if (n > 1)
				kw_tcp_set_buffers(s, (size_t)b[0] * 512u, (size_t)b[1] * 512u);
			kw_tcp_set_nodelay(s, n > 2 && (b[2] & 1));
		}
		break;
	default: /* pending error, events */
		if (s) {
			int e = kw_tcp_take_error(s);
			CHECK(e >= 0 && e < 4096);
			CHECK((kw_tcp_events(s) & ~0x1fu) == 0);
		}
		break;
	}
}

static void check_state(size_t records, const size_t base[2])
{
	for (int side = 0; side < 2; side++) {
		struct kw_stack_stats st;
		struct kw_stack *stack = sp.st[side];

		CHECK(kw_tcp_layer_count(sp_tcp(&sp, side)) <= base[side] + records);
		CHECK(stack->arp.nqueued <= KW_ARP_QUEUE_MAX);
		kw_stack_stats(stack, &st);
		CHECK(st.frames_dropped <= st.frames_in);
		CHECK(st.frames_in <= sp.rx[side] + (side == 1 ? records : 0));
		for (int i = 0; i < NSLOT; i++) {
			struct kw_tcp *s = slot[side][i];
			if (!s)
				continue;
			CHECK(kw_tcp_state(s) <= KW_TCP_TIME_WAIT);
			CHECK(kw_tcp_state_name(kw_tcp_state(s)) != NULL);
			CHECK((kw_tcp_events(s) & ~0x1fu) == 0);
		}
		/* Polling runs everything due: nothing is left in the past. */
		kw_stack_poll(stack, sp.now);
		CHECK(kw_stack_next_deadline(stack) > sp.now);
	}
	CHECK(kw_memlink_in_flight(sp.link) <= 2 * 10000);
}

static int ready = -1;
static bool verbose;            /* KW_FUZZ_VERBOSE set: say what each record did */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[65536 + 64];
	size_t at = 0, records = 0, base[2];

	if (ready < 0 && (verbose = getenv("KW_FUZZ_VERBOSE") != NULL, setup() != 0)) {
		fprintf(stderr, "fuzz-stack: setup failed\n");
		abort();
	}
	if (ready > 0) {
		sp_fini(&sp);
		CHECK(setup() == 0);
	}
	ready = 1;
	base[0] = kw_tcp_layer_count(sp_tcp(&sp, 0));
	base[1] = kw_tcp_layer_count(sp_tcp(&sp, 1));

	while (at < size && records < MAX_RECORDS) {
		uint8_t op = data[at];
		size_t len = 0, t;

		if (at + 3 <= size)
			len = (size_t)data[at + 1] << 8 | data[at + 2];
		at = at + 3 <= size ? at + 3 : size;
		if (len > size - at)
			len = size - at;
		records++;
		if (op & 2) {
			app_call(data + at, len);
		} else {
			memcpy(frame, data + at, len);
			if (op & 1)
				fix_checksums(frame, len);
			kw_memlink_set_now(sp.link, sp.now);
			kw_stack_input(sp.st[1], frame, len, sp.now);
		}
		at += len;
		t = op >> 2;
		sp_run_until(&sp, sp.now + (t ? UINT64_C(1) << (t * 37 / 63) : 0));
		check_state(records, base);
		if (verbose) {
			struct kw_tcp_stats ts;
			kw_tcp_layer_stats(sp_tcp(&sp, 1), &ts);
			fprintf(stderr, "# record %zu op %#x len %zu: now %llu ns, B segs_in %llu bad %llu rst_in %llu, sockets A %zu B %zu; B slots:",
				records, op, len, (unsigned long long)sp.now, (unsigned long long)ts.segs_in,
				(unsigned long long)ts.bad_segments, (unsigned long long)ts.rst_in,
				kw_tcp_layer_count(sp_tcp(&sp, 0)), kw_tcp_layer_count(sp_tcp(&sp, 1)));
			for (int i = 0; i < NSLOT; i++)
				if (slot[1][i])
					fprintf(stderr, " %d:%s", i, kw_tcp_state_name(kw_tcp_state(slot[1][i])));
			fprintf(stderr, "\n");
		}
	}
	return 0;
}

#ifdef KW_FUZZ_MKCORPUS
/* ---- the seed corpus ----------------------------------------------------------- */

static const char *outdir;
static uint8_t rec[8192];
static size_t rlen;

static void add(uint8_t op, const uint8_t *body, size_t n)
{
	rec[rlen] = op;
	rec[rlen + 1] = (uint8_t)(n >> 8);
	rec[rlen + 2] = (uint8_t)n;
	memcpy(rec + rlen + 3, body, n);
	rlen += 3 + n;
}

static void save(const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(rec, 1, rlen, f) != rlen || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	rlen = 0;
}

static size_t eth(uint8_t *f, uint16_t type, bool bcast)
{
	static const uint8_t all[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	memcpy(f, bcast ? all : sp.dev[1].dev.mac, 6);
	memcpy(f + 6, sp.dev[0].dev.mac, 6);
	kw_put16(f + 12, type);
	return 14;
}

static size_t ip(uint8_t *f, uint8_t proto, uint32_t src, size_t payload)
{
	uint8_t *p = f + 14;
	memset(p, 0, 20);
	p[0] = 0x45;
	kw_put16(p + 2, (uint16_t)(20 + payload));
	kw_put16(p + 6, 0x4000);
	p[8] = 64;
	p[9] = proto;
	kw_put32(p + 12, src);
	kw_put32(p + 16, SP_ADDR1);
	return 34;
}

/* A TCP segment to B from A (ports, numbers, flags), with a timestamp
 * option when the connection uses them. */
static size_t tcp(uint8_t *f, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		  uint8_t flags, const char *data, const struct kw_tcp *c)
{
	size_t dl = data ? strlen(data) : 0, ol = 0;
	uint8_t *t = f + 34;

	eth(f, 0x0800, false);
	memset(t, 0, 20);
	if (flags & SP_SYN) {
		uint8_t o[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
		memcpy(t + 20, o, sizeof(o));
		ol = sizeof(o);
	} else if (c && c->ts_ok) {
		uint8_t o[12] = { 1, 1, 8, 10 };
		kw_put32(o + 4, c->ts_recent + 1000);
		kw_put32(o + 8, 0);
		memcpy(t + 20, o, sizeof(o));
		ol = sizeof(o);
	}
	kw_put16(t, sport);
	kw_put16(t + 2, dport);
	kw_put32(t + 4, seq);
	kw_put32(t + 8, ack);
	t[12] = (uint8_t)(((20 + ol) / 4) << 4);
	t[13] = flags;
	kw_put16(t + 14, 65535);
	memcpy(t + 20 + ol, data ? data : "", dl);
	ip(f, 6, SP_ADDR0, 20 + ol + dl);
	fix_checksums(f, 34 + 20 + ol + dl);
	return 34 + 20 + ol + dl;
}

/* A segment for one of B's live connections, as A would send it. */
static size_t live(uint8_t *f, int which, uint8_t flags, const char *data)
{
	const struct kw_tcp *c = slot[1][which];
	return tcp(f, c->rport, c->lport, c->rcv_nxt, c->snd_nxt, flags, data, c);
}

int main(int argc, char **argv)
{
	uint8_t f[2048];
	size_t n;
	uint8_t app[64];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (setup() != 0)
		return 1;

	/* ARP request for B, then a reply (A moved) */
	n = eth(f, 0x0806, true);
	{
		struct kw_arp_packet a = { KW_ARP_OP_REQUEST, { 0 }, SP_ADDR0, { 0 }, SP_ADDR1 };
		memcpy(a.sha, sp.dev[0].dev.mac, 6);
		kw_arp_build(f + n, &a);
		add(0, f, n + KW_ARP_LEN);
		save("arp-request");
		a.op = KW_ARP_OP_REPLY;
		a.sha[5] ^= 0x40;
		memcpy(a.tha, sp.dev[1].dev.mac, 6);
		a.tpa = SP_ADDR1;
		memcpy(f, sp.dev[1].dev.mac, 6);
		kw_arp_build(f + n, &a);
		add(4 << 2, f, n + KW_ARP_LEN);
		save("arp-reply");
	}

	/* ICMP echo request */
	{
		uint8_t *c = f + 34;
		eth(f, 0x0800, false);
		memset(c, 0, 8);
		c[0] = 8;
		kw_put16(c + 4, 0x1234);
		kw_put16(c + 6, 1);
		memcpy(c + 8, "keepwire ping", 13);
		ip(f, 1, SP_ADDR0, 21);
		fix_checksums(f, 34 + 21);
		add(0, f, 34 + 21);
		save("icmp-echo");
		/* ... and an unreachable quoting B's SYN-SENT connection */
		{
			const struct kw_tcp *s = slot[1][L_SYN_SENT];
			uint8_t *q = c + 8;
			memset(c, 0, 8);
			c[0] = 3;
			c[1] = 1;
			memset(q, 0, 28);
			q[0] = 0x45;
			kw_put16(q + 2, 60);
			q[8] = 64;
			q[9] = 6;
			kw_put32(q + 12, SP_ADDR1);
			kw_put32(q + 16, GHOST);
			kw_put16(q + 20, s->lport);
			kw_put16(q + 22, s->rport);
			kw_put32(q + 24, s->iss);
			ip(f, 1, SP_ADDR0, 36);
			fix_checksums(f, 34 + 36);
			add(1 | 20 << 2, f, 34 + 36);
			save("icmp-unreachable");
		}
	}

	/* TCP SYN to the listener, then the handshake's ACK is up to the fuzzer */
	n = tcp(f, 40000, 80, 1000, 0, SP_SYN, NULL, NULL);
	add(1 | 10 << 2, f, n);
	save("tcp-syn");
	n = tcp(f, 40001, 81, 1000, 0, SP_SYN, NULL, NULL);
	add(1, f, n);
	save("tcp-syn-closed-port");
	add(1, f, n);
	n = tcp(f, 40000, 80, 1000, 0, SP_SYN, NULL, NULL);
	add(1 | 10 << 2, f, n);
	app[0] = 7;
	app[1] = 0x00;
	add(2, app, 2);
	save("tcp-syn-accept");

	/* Data, FIN, RST to live connections */
	n = live(f, L_IDLE, SP_ACK | SP_PSH, "hello, keepwire");
	add(1 | 30 << 2, f, n);
	save("tcp-data-idle");
	n = live(f, L_UNREAD, SP_ACK | SP_PSH, "more data");
	add(1 | 30 << 2, f, n);
	save("tcp-data-unread");
	n = live(f, L_BCLIENT, SP_ACK | SP_PSH | SP_FIN, "last words");
	add(1 | 40 << 2, f, n);
	save("tcp-data-fin-bclient");
	n = live(f, L_FIN_WAIT2, SP_ACK | SP_FIN, NULL);
	add(1 | 50 << 2, f, n);
	save("tcp-fin-finwait2");
	n = live(f, L_CLOSE_WAIT, SP_RST, NULL);
	add(1 | 10 << 2, f, n);
	save("tcp-rst-closewait");
	n = live(f, L_IDLE, SP_ACK, NULL);
	add(1 | 62 << 2, f, n);
	save("tcp-ack-then-keepalive-time");

	/* Application calls mixed with frames */
	memcpy(app, "\x00\x00" "data from B", 13);
	add(2 | 20 << 2, app, 13);
	app[0] = 1; app[1] = 0x01; app[2] = 200;
	add(2, app, 3);
	app[0] = 5; app[1] = 0x00; app[2] = 1; app[3] = 1; app[4] = 2; app[5] = 0;
	add(2 | 63 << 2, app, 6);
	app[0] = 3; app[1] = 0x80 | L_IDLE;
	add(2 | 50 << 2, app, 2);
	save("app-send-recv-keepalive-close");
	app[0] = 6; app[1] = 0x00; app[2] = 0;
	add(2 | 30 << 2, app, 3);
	app[0] = 4; app[1] = 0x80 | L_BCLIENT;
	add(2 | 30 << 2, app, 2);
	app[0] = 9; app[1] = 0x00 | L_BCLIENT;
	add(2, app, 2);
	save("app-connect-abort");
	return 0;
}
#endif
