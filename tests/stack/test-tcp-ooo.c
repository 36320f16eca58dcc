/* Out-of-order data against hostile peers (issue 11): the bytes held
 * never exceed the sequence space they cover nor the window advertised;
 * random overlapping and duplicated segments reassemble byte-exactly; and
 * segments outside the window do not keep keepalive from firing. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct seginfo last[2];

static void last_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		     const struct seginfo *si)
{
	(void)p; (void)seg; (void)len;
	last[from] = *si;
}

/* The byte the client's stream carries at sequence number seq. */
static uint8_t pat(uint32_t seq) { return (uint8_t)(seq * 131u + (seq >> 8) * 7u + 3u); }

struct conn {
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint16_t cport;
	uint32_t cseq, sseq;          /* client's SND.NXT, server's SND.NXT */
};

/* A connection, then the link down: what reaches the server from now on
 * is what the test injects as the client. */
static void setup(struct conn *k, uint64_t seed)
{
	uint32_t a;

	pair_init(&k->p, seed);
	k->p.tap = last_tap;
	tap_ok(pair_connect(&k->p, 80, &k->c, &k->s, NULL) == 0, "connected");
	pair_run_until(&k->p, k->p.now + MS(100));
	kw_tcp_local(k->c, &a, &k->cport);
	k->cseq = last[0].seq;
	k->sseq = last[0].ack;
	k->p.down = true;
}

static void inject_data(struct conn *k, uint32_t seq, size_t len, bool fin)
{
	uint8_t b[2048];

	for (size_t i = 0; i < len; i++)
		b[i] = pat(seq + (uint32_t)i);
	pair_inject(&k->p, 1, k->cport, 80, seq, k->sseq, (uint8_t)(F_ACK | (fin ? F_FIN : 0)),
		    65535, b, len);
}

/* 600 segments of 1460 bytes, each one byte further than the last, past
 * a one-byte hole: before, each was stored whole (512 of them: 747,520
 * bytes for 2,059 bytes of sequence space). */
static void test_shifted_segments(void)
{
	struct conn k;
	uint32_t base;
	size_t covered = 599 + 1460, held, peak = 0;
	uint8_t buf[4096];
	ssize_t n;
	int same = 1;

	setup(&k, 1101);
	base = k.cseq + 1;              /* one byte hole at cseq */
	for (uint32_t i = 0; i < 600; i++) {
		inject_data(&k, base + i, 1460, false);
		held = kw_tcp_ooo_bytes(k.s);
		if (held > peak)
			peak = held;
	}
	held = kw_tcp_ooo_bytes(k.s);
	tap_diag("held out of order: %zu bytes (peak %zu), covering at most %zu", held, peak, covered);
	tap_ok(peak <= covered, "600 one-byte-shifted 1460-byte segments: held bytes <= sequence space covered (2059)");
	tap_ok(peak <= 256 * 1024, "... and <= the receive window (256 KiB buffer)");
	tap_ok(held >= 1460, "... the first segment is held whole");
	/* The hole fills: everything held comes out in order, right. */
	inject_data(&k, k.cseq, 1, false);
	tap_is_u64(kw_tcp_ooo_bytes(k.s), 0, "hole filled: nothing left out of order");
	n = kw_tcp_recv(k.s, buf, sizeof(buf), k.p.now);
	tap_is_u64((uint64_t)n, 1 + held, "the byte and every byte held are readable in order");
	for (ssize_t i = 0; i < n; i++)
		same &= buf[i] == pat(k.cseq + (uint32_t)i);
	tap_ok(same, "... and they are the bytes sent");
	kw_tcp_close(k.c, k.p.now);
	kw_tcp_close(k.s, k.p.now);
	pair_fini(&k.p);
}

/* One-byte segments with a gap between each: the count bound
 * (TCP_OOO_MAX = 512 pieces) still holds. */
static void test_piece_count(void)
{
	struct conn k;

	setup(&k, 1106);
	for (uint32_t i = 0; i < 1000; i++)
		inject_data(&k, k.cseq + 1 + 2 * i, 1, false);
	tap_is_u64(kw_tcp_ooo_bytes(k.s), 512, "1000 separate one-byte pieces: 512 kept (TCP_OOO_MAX)");
	kw_tcp_close(k.c, k.p.now);
	kw_tcp_close(k.s, k.p.now);
	pair_fini(&k.p);
}

/* A small receive buffer: whatever the peer sends, the held bytes stay
 * inside the window. */
static void test_small_window(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint32_t a, rnxt, snxt;
	uint16_t cport;
	size_t peak = 0;
	uint8_t b[1460];

	pair_init(&p, 1102);
	p.tap = last_tap;
	p.client_rcvbuf = 8192;
	tap_ok(pair_connect(&p, 81, &c, &s, NULL) == 0, "connected, client receive buffer 8 KiB");
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_local(c, &a, &cport);
	rnxt = last[1].seq;
	snxt = last[1].ack;
	p.down = true;
	memset(b, 'x', sizeof(b));
	for (unsigned i = 0; i < 2000; i++) {
		uint32_t off = 1 + (uint32_t)(pair_rand(&p) % 20000);
		size_t len = 1 + (size_t)(pair_rand(&p) % sizeof(b));
		size_t held;

		pair_inject(&p, 0, 81, cport, rnxt + off, snxt, F_ACK, 65535, b, len);
		held = kw_tcp_ooo_bytes(c);
		if (held > peak)
			peak = held;
	}
	tap_diag("peak held %zu bytes", peak);
	tap_ok(peak > 0 && peak <= 8192, "random out-of-order segments: held bytes <= the 8 KiB window");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

/* Random segments, overlapping, duplicated and in any order, some with a
 * FIN at the end: the program reads exactly the stream sent, then EOF. */
static void test_random_reassembly(void)
{
	struct conn k;
	enum { N = 200000 };
	uint8_t *got = malloc(N), buf[8192];
	size_t have = 0, peak = 0;
	int same = 1, eof = 0;
	unsigned rounds = 0;

	setup(&k, 1103);
	while (!eof && rounds++ < 400000) {
		size_t lo = have, span = 40000, off, len;
		ssize_t n;

		off = lo + (size_t)(pair_rand(&k.p) % span);
		if (pair_rand(&k.p) % 8 == 0 && off > 3000)
			off -= 3000;        /* old, partly or wholly duplicate */
		if (off >= N)
			off = N - 1 - (size_t)(pair_rand(&k.p) % 100);
		len = 1 + (size_t)(pair_rand(&k.p) % 1460);
		if (off + len >= N)
			len = N - off;
		inject_data(&k, k.cseq + (uint32_t)off, len, off + len == N && pair_rand(&k.p) % 2);
		if (kw_tcp_ooo_bytes(k.s) > peak)
			peak = kw_tcp_ooo_bytes(k.s);
		if (rounds % 16 == 0) {
			while ((n = kw_tcp_recv(k.s, buf, sizeof(buf), k.p.now)) > 0) {
				if (have + (size_t)n > N) {
					same = 0;
					break;
				}
				memcpy(got + have, buf, (size_t)n);
				have += (size_t)n;
			}
			if (n == 0)
				eof = 1;
		}
	}
	for (size_t i = 0; i < have; i++)
		same &= got[i] == pat(k.cseq + (uint32_t)i);
	tap_diag("%u segments, peak held %zu bytes", rounds, peak);
	tap_is_u64(have, N, "random overlapping/duplicated segments: the whole stream arrives");
	tap_ok(same, "... byte for byte as sent");
	tap_ok(eof, "... then EOF (the FIN, also sent out of order)");
	tap_ok(peak <= 256 * 1024, "... never more held than the window");
	free(got);
	kw_tcp_close(k.c, k.p.now);
	kw_tcp_close(k.s, k.p.now);
	pair_fini(&k.p);
}

static bool has_error(struct tcp_pair *p, void *arg)
{
	(void)p;
	return (kw_tcp_events(arg) & KW_TCP_ERROR) != 0;
}

/* Keepalive 1 s / 1 s / 3 on the server, the client silent; junk every
 * 100 ms. Out-of-window junk: the connection still dies at 4 s. An
 * acceptable segment instead: it lives on. */
static void keepalive_with_junk(bool acceptable, uint64_t *died_after)
{
	static const struct keepalive_config cfg = { SEC(1), SEC(1), 3 };
	struct conn k;
	uint64_t t0, end;

	setup(&k, acceptable ? 1105 : 1104);
	kw_tcp_set_keepalive(k.s, true, &cfg, k.p.now);
	t0 = k.p.now;
	end = t0 + SEC(6);
	*died_after = 0;
	while (k.p.now < end) {
		pair_run_until(&k.p, k.p.now + MS(100));
		if (has_error(&k.p, k.s)) {
			*died_after = k.p.now - t0;
			break;
		}
		if (acceptable) {
			pair_inject(&k.p, 1, k.cport, 80, k.cseq, k.sseq, F_ACK, 65535, NULL, 0);
		} else {
			uint8_t d[100] = { 0 };
			/* beyond the window, far behind it, an old duplicate
			 * with data, a pure ACK beyond the window */
			pair_inject(&k.p, 1, k.cport, 80, k.cseq + 10000000, k.sseq, F_ACK, 65535, d, 100);
			pair_inject(&k.p, 1, k.cport, 80, k.cseq - 1000000, k.sseq, F_ACK, 65535, d, 100);
			pair_inject(&k.p, 1, k.cport, 80, k.cseq - 100, k.sseq, F_ACK, 65535, d, 50);
			pair_inject(&k.p, 1, k.cport, 80, k.cseq + 5000000, k.sseq, F_ACK, 65535, NULL, 0);
		}
	}
	kw_tcp_close(k.c, k.p.now);
	kw_tcp_close(k.s, k.p.now);
	pair_fini(&k.p);
}

static void test_keepalive_junk(void)
{
	uint64_t died;

	keepalive_with_junk(false, &died);
	tap_diag("died after %.3f s", (double)died / 1e9);
	tap_ok(died >= SEC(4) && died <= SEC(4) + MS(100),
	       "out-of-window junk every 100 ms: keepalive still ends the connection at 4 s");
	keepalive_with_junk(true, &died);
	tap_is_u64(died, 0, "control: an acceptable segment every 100 ms keeps it alive");
}

int main(void)
{
	test_shifted_segments();
	test_piece_count();
	test_small_window();
	test_random_reassembly();
	test_keepalive_junk();
	return tap_done();
}
