/* The layer's memory cap (kw_tcp_layer_set_mem_limit) against a hostile
 * peer: 2,000 connections, each sending out-of-order data and filling its
 * receive buffer, into a layer capped at 4 MiB. The memory in use (the
 * layer's count and the process heap) stays under the cap; out-of-order
 * segments are dropped first under pressure; connections past the cap
 * are refused without state; established connections still make
 * progress as the program reads; the count goes back to 0. The peer is
 * crafted segments (no second layer's memory in the heap figures). */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>

#define NCONN 2000
#define PORT0 10000
#define CAP ((size_t)4 << 20)
#define RCVBUF 16384
#define SEG 1000

static uint32_t iss[NCONN];
static bool have_iss[NCONN];

static void tap_fn(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		   const struct seginfo *si)
{
	(void)p;
	(void)seg;
	(void)len;
	if (from == 1 && si->dport >= PORT0 && si->dport < PORT0 + NCONN &&
	    si->flags == (F_SYN | F_ACK)) {
		iss[si->dport - PORT0] = si->seq;
		have_iss[si->dport - PORT0] = true;
	}
}

/* Nobody answers for the hostile peer: we craft its segments. */
static bool drop_all(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		     const struct seginfo *si)
{
	(void)p;
	(void)from;
	(void)seg;
	(void)len;
	(void)si;
	return true;
}

static size_t heap(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.hblkhd + m.uordblks;
}

static uint8_t byte_at(unsigned i, uint32_t off)
{
	return (uint8_t)(off * 13 + i * 7 + (off >> 9));
}

/* Bytes [off, off + n) of connection i's stream. */
static void send_data(struct tcp_pair *p, unsigned i, uint32_t off, size_t n)
{
	uint8_t d[SEG];

	for (size_t k = 0; k < n; k++)
		d[k] = byte_at(i, off + (uint32_t)k);
	pair_inject(p, 1, (uint16_t)(PORT0 + i), 80, 1000u * i + 1 + off, iss[i] + 1,
		    F_ACK | F_PSH, 65535, d, n);
}

static uint64_t mem(struct tcp_pair *p)
{
	struct kw_tcp_stats st;
	kw_tcp_layer_stats(p->l[1], &st);
	return st.mem_in_use;
}

int main(void)
{
	struct tcp_pair p;
	struct kw_tcp *l, *x, *s[NCONN];
	struct kw_tcp_stats st;
	size_t h0, hmax = 0;
	uint64_t mmax = 0;
	unsigned established = 0, refused = 0, nacc = 0, progressed = 0, tried = 0;
	bool bytes_ok = true;

	pair_init(&p, 21);
	p.tap = tap_fn;
	p.filter = drop_all;
	kw_tcp_layer_set_mem_limit(p.l[1], CAP);
	kw_tcp_open(p.l[1], &l);
	kw_tcp_bind(l, 0, 80);
	kw_tcp_set_buffers(l, 0, RCVBUF);
	kw_tcp_listen(l, 4096);
	h0 = heap();

	for (unsigned i = 0; i < NCONN; i++) {
		uint16_t sport = (uint16_t)(PORT0 + i);

		pair_inject(&p, 1, sport, 80, 1000u * i, 0, F_SYN, 65535, NULL, 0);
		if (!have_iss[i]) {
			refused++;
			continue;
		}
		pair_inject(&p, 1, sport, 80, 1000u * i + 1, iss[i] + 1, F_ACK, 65535, NULL, 0);
		established++;
		/* Out of order first (a hole at [SEG, 2 SEG)), then the
		 * in-order part up to the hole. */
		for (uint32_t off = 2 * SEG; off + SEG <= RCVBUF; off += 2 * SEG)
			send_data(&p, i, off, SEG);
		send_data(&p, i, 0, SEG);
		if (mem(&p) > mmax)
			mmax = mem(&p);
		if (heap() - h0 > hmax)
			hmax = heap() - h0;
	}
	kw_tcp_layer_stats(p.l[1], &st);
	tap_ok(mmax <= CAP, "memory in use never above the 4 MiB cap");
	tap_diag("peak in use %llu, limit %llu; %u established, %u refused; drops %llu",
		 (unsigned long long)mmax, (unsigned long long)st.mem_limit, established, refused,
		 (unsigned long long)st.mem_drops);
#if defined(__SANITIZE_ADDRESS__)
	printf("ok %d - heap # SKIP mallinfo2 under ASan\n", ++tap_count);
#else
	tap_ok(hmax <= CAP + CAP / 8, "the heap grew by no more than the cap (+ 1/8 for tables, malloc)");
	tap_diag("heap growth %zu KiB", hmax / 1024);
#endif
	tap_ok(st.mem_drops > 0, "segments and connections refused for memory are counted");
	tap_ok(refused > 0 && kw_tcp_layer_count(p.l[1]) == 1 + established,
	       "connections past the cap are refused, without state");
	x = NULL;
	tap_is_u64((uint64_t)kw_tcp_open(p.l[1], &x), (uint64_t)-ENOMEM,
		   "at the cap kw_tcp_open fails with -ENOMEM");

	/* The program reads: its connections make progress. */
	while (nacc < NCONN && kw_tcp_accept(l, &s[nacc]) == 0)
		nacc++;
	tap_is_u64(nacc, established, "every established connection can be accepted");
	for (unsigned k = 0; k < nacc; k++) {
		uint8_t buf[3 * SEG];
		uint16_t rport;
		uint32_t raddr;
		unsigned i;
		ssize_t r;
		size_t got = 0;

		kw_tcp_remote(s[k], &raddr, &rport);
		i = rport - PORT0;
		tried++;
		while ((r = kw_tcp_recv(s[k], buf + got, sizeof(buf) - got, p.now)) > 0)
			got += (size_t)r;
		/* What it had (or what was dropped for memory), and the hole. */
		send_data(&p, i, 0, SEG);
		send_data(&p, i, SEG, SEG);
		while ((r = kw_tcp_recv(s[k], buf + got, sizeof(buf) - got, p.now)) > 0)
			got += (size_t)r;
		/* Out-of-order data kept before the pressure comes too. */
		if (got >= 2 * SEG)
			progressed++;
		for (size_t b = 0; b < got; b++)
			if (buf[b] != byte_at(i, (uint32_t)b))
				bytes_ok = false;
		if (mem(&p) > mmax)
			mmax = mem(&p);
	}
	tap_ok(progressed == tried && bytes_ok,
	       "every connection read by the program gets its next data, byte-exact");
	tap_diag("%u of %u made progress", progressed, tried);
	tap_ok(mmax <= CAP, "still never above the cap");

	for (unsigned k = 0; k < nacc; k++)
		kw_tcp_abort(s[k], p.now);
	kw_tcp_close(l, p.now);
	tap_is_u64(mem(&p), 0, "all freed: nothing left counted");
	pair_fini(&p);
	return tap_done();
}
