/* SYN cookies (RFC 4987 §3.6, Linux's scheme): the pure encoding and
 * decoding (MSS table, age, tuple, TSval option bits), and a listener over
 * the in-memory pair with fake time: a flood of spoofed SYNs does not shut
 * a real client out; a connection made from a cookie has the table's MSS,
 * the peer's window scale and timestamps; forged, old or misdirected
 * cookie ACKs are answered with a RST and make nothing; without a flood no
 * cookie is ever sent. Reads the connection block (tcp_internal.h) for
 * what the wire cannot show. */
#include "stack/checksum.h"
#include "stack/tcp_internal.h"
#include "stack/tcp_syncookie.h"
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>
#include <string.h>

#define SPOOF_BASE 0x0a090000u   /* 10.9.0.0/16: nobody answers there */
#define SPOOF_PORT_LO 1024       /* spoofed source ports: 1024..32767 */
#define SPOOF_PORT_HI 32767

/* ---- pure functions --------------------------------------------------------- */

static void test_pure(void)
{
	struct tcp_cookie_key k = { 0x0123456789abcdefull, 0xfedcba9876543210ull };
	struct tcp_cookie_tuple t = { 0x0a000002, 0x0a000001, 80, 50000 }, u;
	uint64_t now = 1000ull * TCP_SYNCOOKIE_PERIOD + 5 * KW_NS_PER_S;
	static const uint16_t in[] = { 9000, 1460, 1459, 1440, 1400, 1300, 1299, 600, 536, 100, 0 };
	static const uint16_t want[] = { 1460, 1460, 1440, 1440, 1300, 1300, 536, 536, 536, 536, 536 };
	uint32_t ck, isn = 0xfffffff0u;
	unsigned i, bad = 0, wrong = 0;
	bool all = true;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		ck = tcp_syncookie_encode(&k, &t, isn, in[i], now);
		if (tcp_syncookie_mss(in[i]) != want[i] ||
		    tcp_syncookie_decode(&k, &t, isn, ck, now) != want[i]) {
			all = false;
			tap_diag("peer MSS %u: table %u, decoded %u, want %u", in[i],
				 tcp_syncookie_mss(in[i]), tcp_syncookie_decode(&k, &t, isn, ck, now),
				 want[i]);
		}
	}
	tap_ok(all, "decode(encode) gives the largest table MSS not above the peer's (536 floor)");

	ck = tcp_syncookie_encode(&k, &t, isn, 1460, now);
	tap_is_u64(tcp_syncookie_decode(&k, &t, isn, ck, now + 54 * KW_NS_PER_S), 1460,
		   "good later in the same period");
	tap_is_u64(tcp_syncookie_decode(&k, &t, isn, ck, now + 114 * KW_NS_PER_S), 1460,
		   "good in the next period");
	tap_is_u64(tcp_syncookie_decode(&k, &t, isn, ck, now + 115 * KW_NS_PER_S), 0,
		   "too old two periods on");
	tap_is_u64(tcp_syncookie_decode(&k, &t, isn, ck, now + 600 * KW_NS_PER_S), 0,
		   "too old ten minutes on");
	tap_is_u64(tcp_syncookie_decode(&k, &t, isn, ck, now - TCP_SYNCOOKIE_PERIOD), 0,
		   "not good before it was made");

	u = t; u.raddr++;
	wrong += tcp_syncookie_decode(&k, &u, isn, ck, now) != 0;
	u = t; u.laddr ^= 0x100;
	wrong += tcp_syncookie_decode(&k, &u, isn, ck, now) != 0;
	u = t; u.rport++;
	wrong += tcp_syncookie_decode(&k, &u, isn, ck, now) != 0;
	u = t; u.lport++;
	wrong += tcp_syncookie_decode(&k, &u, isn, ck, now) != 0;
	wrong += tcp_syncookie_decode(&k, &t, isn + 1, ck, now) != 0;
	{
		struct tcp_cookie_key k2 = { k.k0 ^ 1, k.k1 };
		wrong += tcp_syncookie_decode(&k2, &t, isn, ck, now) != 0;
	}
	tap_is_u64(wrong, 0, "another tuple, peer ISN or secret: rejected");

	/* Random cookies: each passes with probability 2 * 4 / 2^24. */
	for (i = 0; i < 200000; i++) {
		uint32_t r = ck + 0x9e3779b9u * (i + 1);
		bad += tcp_syncookie_decode(&k, &t, isn, r, now) != 0;
	}
	tap_ok(bad <= 2, "200,000 guessed cookies: at most 2 pass");
	tap_diag("guesses that passed: %u", bad);

	/* TSval bits. */
	all = true;
	for (i = 0; i <= 15; i++) {
		for (unsigned sack = 0; sack < 2; sack++) {
			struct tcp_cookie_opts o = { i < 15, (uint8_t)(i < 15 ? i : 0), sack != 0 }, d;
			uint32_t nowts = 0xffffffc5u + i * 7777u, ts = tcp_syncookie_ts_encode(nowts, &o);
			if (o.ws > 14)
				o.ws = 14;
			tcp_syncookie_ts_decode(ts, &d);
			if (d.ws_ok != o.ws_ok || d.ws != o.ws || d.sack_ok != o.sack_ok ||
			    seq_gt(ts, nowts) || seq_diff(nowts, ts) >= 64)
				all = false;
		}
	}
	tap_ok(all, "TSval low bits carry window scale / none / SACK; TSval <= now, > now - 64");
}

/* ---- over the pair ---------------------------------------------------------- */

#define MAXLOG 4096
static struct {
	int from;
	struct seginfo si;
	bool ts;
	uint32_t tsval, tsecr;
	uint16_t mss;
	int ws;
} logv[MAXLOG];
static unsigned nlog;
static uint64_t synacks_to_spoofed;

static void parse_opts(const uint8_t *seg, const struct seginfo *si, unsigned k)
{
	size_t i = 20;

	logv[k].ts = false;
	logv[k].mss = 0;
	logv[k].ws = -1;
	while (i < si->hlen) {
		uint8_t kind = seg[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= si->hlen || seg[i + 1] < 2)
			break;
		if (kind == 2 && seg[i + 1] == 4)
			logv[k].mss = (uint16_t)(seg[i + 2] << 8 | seg[i + 3]);
		if (kind == 3 && seg[i + 1] == 3)
			logv[k].ws = seg[i + 2];
		if (kind == 8 && seg[i + 1] == 10) {
			logv[k].ts = true;
			logv[k].tsval = (uint32_t)seg[i + 2] << 24 | (uint32_t)seg[i + 3] << 16 |
					(uint32_t)seg[i + 4] << 8 | seg[i + 5];
			logv[k].tsecr = (uint32_t)seg[i + 6] << 24 | (uint32_t)seg[i + 7] << 16 |
					(uint32_t)seg[i + 8] << 8 | seg[i + 9];
		}
		i += seg[i + 1];
	}
}

static void log_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		    const struct seginfo *si)
{
	(void)p;
	(void)len;
	if (from == 1 && si->dport >= SPOOF_PORT_LO && si->dport <= SPOOF_PORT_HI &&
	    (si->flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK))
		synacks_to_spoofed++;
	if (nlog < MAXLOG) {
		logv[nlog].from = from;
		logv[nlog].si = *si;
		parse_opts(seg, si, nlog);
		nlog++;
	}
}

/* What goes to a spoofed address is lost: nobody is there to answer. */
static bool drop_spoofed(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			 const struct seginfo *si)
{
	(void)p;
	(void)seg;
	(void)len;
	return from == 1 && si->dport >= SPOOF_PORT_LO && si->dport <= SPOOF_PORT_HI;
}

struct synopt {
	int mss;                /* <0: none */
	int ws;                 /* <0: none */
	bool ts;
	uint32_t tsval, tsecr;
};

/* A segment from src:sport to endpoint 1 port dport, with options. */
static void inject_from(struct tcp_pair *p, uint32_t src, uint16_t sport, uint16_t dport,
			uint32_t seq, uint32_t ack, uint8_t flags, const struct synopt *o,
			const void *data, size_t dlen)
{
	uint8_t b[2048];
	size_t hl = 20, len;
	uint16_t ck;

	memset(b, 0, 60);
	if (o && o->mss >= 0) {
		b[hl] = 2; b[hl + 1] = 4;
		b[hl + 2] = (uint8_t)(o->mss >> 8); b[hl + 3] = (uint8_t)o->mss;
		hl += 4;
	}
	if (o && o->ws >= 0) {
		b[hl] = 1; b[hl + 1] = 3; b[hl + 2] = 3; b[hl + 3] = (uint8_t)o->ws;
		hl += 4;
	}
	if (o && o->ts) {
		b[hl] = 1; b[hl + 1] = 1; b[hl + 2] = 8; b[hl + 3] = 10;
		for (int i = 0; i < 4; i++) {
			b[hl + 4 + i] = (uint8_t)(o->tsval >> (24 - 8 * i));
			b[hl + 8 + i] = (uint8_t)(o->tsecr >> (24 - 8 * i));
		}
		hl += 12;
	}
	len = hl + dlen;
	b[0] = (uint8_t)(sport >> 8); b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8); b[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[12] = (uint8_t)((hl / 4) << 4);
	b[13] = flags;
	b[14] = 0xff; b[15] = 0xff;
	if (dlen)
		memcpy(b + hl, data, dlen);
	ck = kw_checksum(b, len, kw_checksum_pseudo(src, PAIR_ADDR1, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	kw_tcp_input(p->l[1], src, PAIR_ADDR1, b, len, p->now);
}

static void spoofed_syn(struct tcp_pair *p, unsigned i, uint16_t dport)
{
	struct synopt o = { 1460, 7, true, 1000 + i, 0 };

	inject_from(p, SPOOF_BASE + (i >> 8 & 0xffff), (uint16_t)(SPOOF_PORT_LO + (i & 0xff)),
		    dport, 0x1000u * i, 0, F_SYN, &o, NULL, 0);
}

static struct kw_tcp *listen_on(struct tcp_pair *p, uint16_t port, int backlog)
{
	struct kw_tcp *l;

	if (kw_tcp_open(p->l[1], &l) < 0 || kw_tcp_bind(l, 0, port) < 0 ||
	    kw_tcp_listen(l, backlog) < 0)
		return NULL;
	return l;
}

struct acc {
	struct kw_tcp *client, *listener, *server;
};

static bool accepted(struct tcp_pair *p, void *arg)
{
	struct acc *a = arg;
	(void)p;
	if (!a->server && kw_tcp_accept(a->listener, &a->server) < 0)
		a->server = NULL;
	return a->server && kw_tcp_state(a->client) == KW_TCP_ESTABLISHED;
}

struct xfer {
	struct kw_tcp *from, *to;
	const uint8_t *data;
	uint8_t *got;
	size_t n, sent, rcvd;
};

static bool xfer_done(struct tcp_pair *p, void *arg)
{
	struct xfer *x = arg;
	ssize_t r;

	while (x->sent < x->n &&
	       (r = kw_tcp_send(x->from, x->data + x->sent, x->n - x->sent, p->now)) > 0)
		x->sent += (size_t)r;
	while (x->rcvd < x->n &&
	       (r = kw_tcp_recv(x->to, x->got + x->rcvd, x->n - x->rcvd, p->now)) > 0)
		x->rcvd += (size_t)r;
	return x->rcvd == x->n;
}

static bool transfer(struct tcp_pair *p, struct kw_tcp *from, struct kw_tcp *to, size_t n,
		     unsigned salt)
{
	static uint8_t data[300000], got[300000];
	struct xfer x = { from, to, data, got, n, 0, 0 };

	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + salt + (i >> 11));
	memset(got, 0, n);
	return pair_run_while_not(p, xfer_done, &x, p->now + SEC(60)) && memcmp(data, got, n) == 0;
}

static void test_flood(void)
{
	struct tcp_pair p;
	struct kw_tcp_stats st;
	struct acc a = { NULL, NULL, NULL };
	uint64_t t0;
	bool ok;

	pair_init(&p, 7);
	p.filter = drop_spoofed;
	p.tap = log_tap;
	synacks_to_spoofed = 0;
	nlog = 0;
	a.listener = listen_on(&p, 80, 128);
	tap_ok(a.listener != NULL, "listener, backlog 128");
	/* 10,000 spoofed SYNs within a second. */
	for (unsigned i = 0; i < 10000; i++) {
		spoofed_syn(&p, i, 80);
		if (i % 100 == 99)
			pair_run_until(&p, p.now + MS(10));
	}
	kw_tcp_layer_stats(p.l[1], &st);
	tap_is_u64(a.listener->n_syn, 128, "the SYN queue is full");
	tap_ok(st.syncookies_sent >= 10000 - 128, "the rest were answered with cookies");
	tap_diag("syncookies_sent %llu, SYN-ACKs to spoofed %llu",
		 (unsigned long long)st.syncookies_sent, (unsigned long long)synacks_to_spoofed);
	tap_is_u64(kw_tcp_layer_count(p.l[1]), 129, "no state kept for them (listener + 128)");

	t0 = p.now;
	kw_tcp_open(p.l[0], &a.client);
	tap_ok(kw_tcp_connect(a.client, PAIR_ADDR1, 80, p.now) == -EINPROGRESS, "client connects");
	ok = pair_run_while_not(&p, accepted, &a, p.now + SEC(200));
	tap_ok(ok && p.now - t0 <= MS(50), "a real client gets in at once, during the flood");
	tap_diag("after %llu ms", (unsigned long long)((p.now - t0) / KW_NS_PER_MS));
	if (!ok) {
		tap_ok(0, "# skipped: not connected");
		tap_ok(0, "# skipped");
		tap_ok(0, "# skipped");
		tap_ok(0, "# skipped");
		pair_fini(&p);
		return;
	}
	kw_tcp_layer_stats(p.l[1], &st);
	tap_is_u64(st.syncookies_ok, 1, "through a cookie");
	tap_ok(a.server->ts_ok && a.server->ws_ok && a.server->snd_wscale == a.client->rcv_wscale &&
	       a.server->mss == 1460 - TCP_TS_OPTLEN,
	       "with timestamps, window scale and MSS 1460 (less the TS option)");
	tap_ok(transfer(&p, a.client, a.server, 300000, 1), "300,000 bytes client -> server, byte-exact");
	tap_ok(transfer(&p, a.server, a.client, 300000, 2), "300,000 bytes server -> client, byte-exact");
	pair_fini(&p);
}

/* The SYN-ACK that endpoint 1 sent last to sport. */
static int find_synack(uint16_t sport)
{
	for (int i = (int)nlog - 1; i >= 0; i--)
		if (logv[i].from == 1 && logv[i].si.dport == sport &&
		    logv[i].si.flags == (F_SYN | F_ACK))
			return i;
	return -1;
}

static int find_rst(uint16_t sport, unsigned from_idx)
{
	for (unsigned i = from_idx; i < nlog; i++)
		if (logv[i].from == 1 && logv[i].si.dport == sport && (logv[i].si.flags & F_RST))
			return (int)i;
	return -1;
}

/* A listener with backlog 1 whose SYN queue is taken by a spoofed SYN. */
static struct kw_tcp *full_listener(struct tcp_pair *p, uint16_t port, unsigned spoof)
{
	struct kw_tcp *l = listen_on(p, port, 1);

	spoofed_syn(p, spoof, port);
	return l;
}

static struct kw_tcp *child_of(struct kw_tcp_layer *L, uint16_t rport)
{
	return tcp_lookup(L, PAIR_ADDR1, 80, SPOOF_BASE + 0x100, rport);
}

static void test_options(void)
{
	struct tcp_pair p;
	struct kw_tcp *l, *c;
	struct kw_tcp_stats st;
	int k;
	uint32_t src = SPOOF_BASE + 0x100;
	struct synopt o;
	static const char hello[] = "hello";
	char buf[16];

	pair_init(&p, 11);
	p.filter = drop_spoofed;
	p.tap = log_tap;
	nlog = 0;
	l = full_listener(&p, 80, 1);

	/* Timestamps, window scale 7, MSS 1400. */
	o = (struct synopt){ 1400, 7, true, 5555, 0 };
	inject_from(&p, src, 2000, 80, 1000, 0, F_SYN, &o, NULL, 0);
	k = find_synack(2000);
	tap_ok(k >= 0 && logv[k].ts && logv[k].tsecr == 5555 && logv[k].ws >= 0 &&
	       logv[k].mss == 1460, "cookie SYN-ACK: our MSS, window scale, TSecr = the SYN's TSval");
	if (k < 0)
		k = 0;
	o = (struct synopt){ -1, -1, true, 5556, logv[k].tsval };
	inject_from(&p, src, 2000, 80, 1001, logv[k].si.seq + 1, F_ACK | F_PSH, &o, hello, 5);
	c = child_of(p.l[1], 2000);
	tap_ok(c && c->state == KW_TCP_ESTABLISHED && c->in_acceptq,
	       "the ACK makes an established child in the accept queue");
	tap_ok(c && c->mss == 1300 - TCP_TS_OPTLEN && c->ts_ok && c->ts_recent == 5556 &&
	       c->ws_ok && c->snd_wscale == 7 && c->rcv_wscale == (uint8_t)logv[k].ws,
	       "MSS 1300 (table, not above 1400) less TS; timestamps; window scale 7 each way");
	if (c)
		tap_diag("mss %u ts %d ws %d/%u/%u", c->mss, c->ts_ok, c->ws_ok, c->snd_wscale,
			 c->rcv_wscale);
	tap_ok(c && c->rcv.len == 5 && c->rcv_nxt == 1006 && c->snd_wnd == 65535u << 7,
	       "data on the ACK taken; its window scaled");
	{
		struct kw_tcp *s = NULL;
		tap_ok(kw_tcp_accept(l, &s) == 0 && s == c && kw_tcp_recv(s, buf, sizeof(buf), p.now) == 5 &&
		       memcmp(buf, hello, 5) == 0, "accepted, the data reads back");
	}

	/* No timestamps: MSS 1000 -> 536, no window scaling despite the SYN's. */
	o = (struct synopt){ 1000, 5, false, 0, 0 };
	inject_from(&p, src, 2001, 80, 7000, 0, F_SYN, &o, NULL, 0);
	k = find_synack(2001);
	tap_ok(k >= 0 && !logv[k].ts, "cookie SYN-ACK without timestamps");
	if (k < 0)
		k = 0;
	inject_from(&p, src, 2001, 80, 7001, logv[k].si.seq + 1, F_ACK, NULL, NULL, 0);
	c = child_of(p.l[1], 2001);
	tap_ok(c && c->state == KW_TCP_ESTABLISHED && c->mss == 536 && !c->ts_ok && !c->ws_ok &&
	       c->snd_wscale == 0 && c->rcv_wscale == 0 && c->snd_wnd == 65535,
	       "without timestamps: MSS 536, no window scaling (as Linux)");

	{
		struct kw_tcp *s = NULL;
		kw_tcp_accept(l, &s);
	}
	/* No MSS option: 536. */
	inject_from(&p, src, 2002, 80, 9000, 0, F_SYN, NULL, NULL, 0);
	k = find_synack(2002);
	if (k < 0)
		k = 0;
	inject_from(&p, src, 2002, 80, 9001, logv[k].si.seq + 1, F_ACK, NULL, NULL, 0);
	c = child_of(p.l[1], 2002);
	tap_ok(c && c->mss == 536, "no MSS option: 536");
	kw_tcp_layer_stats(p.l[1], &st);
	tap_ok(st.syncookies_sent == 3 && st.syncookies_ok == 3 && st.syncookies_failed == 0,
	       "counted: 3 sent, 3 ok, 0 failed");
	tap_diag("sent %llu ok %llu failed %llu", (unsigned long long)st.syncookies_sent,
		 (unsigned long long)st.syncookies_ok, (unsigned long long)st.syncookies_failed);
	(void)l;
	pair_fini(&p);
}

static void test_forged(void)
{
	struct tcp_pair p;
	struct kw_tcp *l;
	struct kw_tcp_stats st;
	uint32_t src = SPOOF_BASE + 0x100, cookie;
	unsigned before;
	int k;

	pair_init(&p, 13);
	p.filter = drop_spoofed;
	p.tap = log_tap;
	nlog = 0;
	l = full_listener(&p, 80, 1);
	inject_from(&p, src, 3000, 80, 100, 0, F_SYN, NULL, NULL, 0);
	k = find_synack(3000);
	tap_ok(k >= 0, "cookie SYN-ACK");
	if (k < 0)
		k = 0;
	cookie = logv[k].si.seq;

	/* A wrong cookie. */
	before = nlog;
	inject_from(&p, src, 3000, 80, 101, cookie + 1 + 0x1000, F_ACK, NULL, NULL, 0);
	k = find_rst(3000, before);
	tap_ok(k >= 0 && logv[k].si.seq == cookie + 1 + 0x1000 && !child_of(p.l[1], 3000),
	       "wrong cookie: RST (seq = its ACK), no connection");
	/* Another 4-tuple. */
	before = nlog;
	inject_from(&p, src, 3001, 80, 101, cookie + 1, F_ACK, NULL, NULL, 0);
	tap_ok(find_rst(3001, before) >= 0 && !child_of(p.l[1], 3001),
	       "the cookie from another port: RST, no connection");
	before = nlog;
	inject_from(&p, src + 1, 3000, 80, 101, cookie + 1, F_ACK, NULL, NULL, 0);
	tap_ok(tcp_lookup(p.l[1], PAIR_ADDR1, 80, src + 1, 3000) == NULL,
	       "the cookie from another address: no connection");
	/* Another peer ISN. */
	before = nlog;
	inject_from(&p, src, 3000, 80, 201, cookie + 1, F_ACK, NULL, NULL, 0);
	tap_ok(find_rst(3000, before) >= 0 && !child_of(p.l[1], 3000),
	       "another peer ISN: RST, no connection");
	kw_tcp_layer_stats(p.l[1], &st);
	tap_is_u64(st.syncookies_failed, 4, "4 failed cookies counted");

	/* Too old: 3 minutes on (more than 2 periods), with a fresh overflow
	 * so that cookies are looked at. The spoofed child gave up by then. */
	pair_run_until(&p, p.now + SEC(180));
	spoofed_syn(&p, 2, 80);
	spoofed_syn(&p, 3, 80);
	kw_tcp_layer_stats(p.l[1], &st);
	tap_is_u64(st.syncookies_sent, 2, "queue full again: a cookie went out");
	before = nlog;
	inject_from(&p, src, 3000, 80, 101, cookie + 1, F_ACK, NULL, NULL, 0);
	tap_ok(find_rst(3000, before) >= 0 && !child_of(p.l[1], 3000),
	       "a cookie 3 minutes old: RST, no connection");
	kw_tcp_layer_stats(p.l[1], &st);
	tap_is_u64(st.syncookies_failed, 5, "and counted as failed");

	/* The good one, fresh, still works (control). */
	inject_from(&p, src, 3000, 80, 100, 0, F_SYN, NULL, NULL, 0);
	k = find_synack(3000);
	if (k < 0)
		k = 0;
	inject_from(&p, src, 3000, 80, 101, logv[k].si.seq + 1, F_ACK, NULL, NULL, 0);
	tap_ok(child_of(p.l[1], 3000) != NULL, "a fresh cookie from the right tuple works");

	/* Accept queue full (backlog 1): a good cookie ACK is dropped
	 * silently, as Linux (no RST, no connection). */
	inject_from(&p, src, 3002, 80, 500, 0, F_SYN, NULL, NULL, 0);
	k = find_synack(3002);
	tap_ok(k < 0, "accept queue full: the SYN is dropped, no cookie");
	(void)l;
	pair_fini(&p);
}

static void test_no_flood(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s, *l;
	struct kw_tcp_stats st;
	unsigned before;

	pair_init(&p, 17);
	p.tap = log_tap;
	p.filter = drop_spoofed;
	nlog = 0;
	tap_ok(pair_connect(&p, 80, &c, &s, &l) == 0, "normal connect");
	tap_ok(transfer(&p, c, s, 100000, 3), "data flows");
	/* An unknown ACK to the listener: RST, no cookie looked at. */
	before = nlog;
	inject_from(&p, SPOOF_BASE + 5, 4000, 80, 1, 12345, F_ACK, NULL, NULL, 0);
	tap_ok(find_rst(4000, before) >= 0, "stray ACK to a listener: RST");
	kw_tcp_layer_stats(p.l[1], &st);
	tap_ok(st.syncookies_sent == 0 && st.syncookies_ok == 0 && st.syncookies_failed == 0,
	       "no flood: no cookie sent, none checked");
	pair_fini(&p);
}

int main(void)
{
	test_pure();
	test_flood();
	test_options();
	test_forged();
	test_no_flood();
	return tap_done();
}
