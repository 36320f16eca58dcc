/* Fuzzing a whole stack with live connections.
 *
 * Stack B (10.9.0.2) holds connections to stack A (10.9.0.1) over the
 * in-memory link, in several states (ESTABLISHED idle, ESTABLISHED with
 * unread data, B as client, CLOSE-WAIT, FIN-WAIT-2, SYN-SENT to a host
 * that does not exist) plus a listener. Then many thousands of random
 * and mutated frames go straight into B's kw_stack_input: truncated at
 * every length, bad IP/TCP lengths and checksums (and correct ones, so
 * they reach deep code), every TCP flag combination, sequence and
 * acknowledgment numbers around 2^32 wrap and around the live
 * connections' windows, options with bad lengths, ARP garbage, ICMP
 * unreachables quoting live connections with wrong sequence numbers.
 * B's answers travel the link to A as usual.
 *
 * An oracle that reads the connections' state keeps out the few frames
 * that would legitimately change a live connection (an in-window segment
 * with an acceptable ACK, a RST at exactly RCV.NXT, an ARP claim that A
 * moved, an ICMP error for the SYN-SENT connection's own sequence
 * number): everything else must leave the connections as they were.
 * Afterwards every connection is in its old state, data still flows
 * correctly both ways, and once all is closed nothing is left.
 *
 * Seeded and deterministic: KW_FUZZ_SEED and KW_FUZZ_ITERATIONS override
 * the defaults; the seed is printed. */
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
#define US(x) ((uint64_t)(x) * 1000u)
#define GHOST SP_IP4(10, 9, 0, 77)

static uint64_t rng;
static uint64_t rnd(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
static uint32_t rn(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static bool chance(unsigned pct) { return rn(100) < pct; }

static struct spair sp;
static uint8_t mac_a[6], mac_b[6];

/* ---- the live connections ------------------------------------------------- */

enum { L_IDLE, L_UNREAD, L_BCLIENT, L_CLOSE_WAIT, L_FIN_WAIT2, L_SYN_SENT, NLIVE };
static const char *const live_name[NLIVE] = {
	"ESTABLISHED idle", "ESTABLISHED with unread data", "B as client", "CLOSE-WAIT",
	"FIN-WAIT-2", "SYN-SENT",
};
static struct kw_tcp *lb[NLIVE], *la[NLIVE];   /* B's end, A's end */
static enum kw_tcp_state want_b[NLIVE], want_a[NLIVE];

static bool cond_state(struct spair *s, void *arg)
{
	struct kw_tcp **pair = arg;
	(void)s;
	return pair[0] && pair[1] && kw_tcp_state(pair[0]) == KW_TCP_ESTABLISHED &&
	       kw_tcp_state(pair[1]) == KW_TCP_ESTABLISHED;
}

/* Connect from side `from` to the other side's listener on port; returns
 * the two ends (from's end first). */
static int open_conn(int from, struct kw_tcp *listener, uint16_t port, struct kw_tcp **mine,
		     struct kw_tcp **theirs)
{
	struct kw_tcp *pair[2] = { NULL, NULL };
	uint64_t limit = sp.now + SEC(5);

	kw_tcp_open(sp_tcp(&sp, from), &pair[0]);
	if (kw_tcp_connect(pair[0], from ? SP_ADDR0 : SP_ADDR1, port, sp.now) != -EINPROGRESS)
		return -1;
	while (sp.now < limit) {
		if (!pair[1] && kw_tcp_accept(listener, &pair[1]) < 0)
			pair[1] = NULL;
		if (cond_state(&sp, pair))
			break;
		if (!sp_step(&sp, limit))
			break;
	}
	if (!cond_state(&sp, pair))
		return -1;
	*mine = pair[0];
	*theirs = pair[1];
	return 0;
}

static struct kw_tcp *lst_b, *lst_a;

static int setup(void)
{
	struct kw_memlink_config lc = { .seed = 99, .delay_ns = US(20) };
	static uint8_t junk[1000];

	if (sp_init(&sp, &lc, 99) != 0)
		return -1;
	memcpy(mac_a, sp.dev[0].dev.mac, 6);
	memcpy(mac_b, sp.dev[1].dev.mac, 6);
	kw_tcp_open(sp_tcp(&sp, 1), &lst_b);
	kw_tcp_bind(lst_b, 0, 80);
	kw_tcp_listen(lst_b, 16);
	kw_tcp_open(sp_tcp(&sp, 0), &lst_a);
	kw_tcp_bind(lst_a, 0, 443);
	kw_tcp_listen(lst_a, 16);
	if (open_conn(0, lst_b, 80, &la[L_IDLE], &lb[L_IDLE]) ||
	    open_conn(0, lst_b, 80, &la[L_UNREAD], &lb[L_UNREAD]) ||
	    open_conn(1, lst_a, 443, &lb[L_BCLIENT], &la[L_BCLIENT]) ||
	    open_conn(0, lst_b, 80, &la[L_CLOSE_WAIT], &lb[L_CLOSE_WAIT]) ||
	    open_conn(0, lst_b, 80, &la[L_FIN_WAIT2], &lb[L_FIN_WAIT2]))
		return -1;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13);
	kw_tcp_send(la[L_UNREAD], junk, sizeof(junk), sp.now);
	kw_tcp_shutdown(la[L_CLOSE_WAIT], SHUT_WR, sp.now);
	kw_tcp_shutdown(lb[L_FIN_WAIT2], SHUT_WR, sp.now);
	kw_tcp_open(sp_tcp(&sp, 1), &lb[L_SYN_SENT]);
	kw_tcp_connect(lb[L_SYN_SENT], GHOST, 9, sp.now);
	sp_run_until(&sp, sp.now + MS(100));
	for (int i = 0; i < NLIVE; i++) {
		want_b[i] = kw_tcp_state(lb[i]);
		want_a[i] = la[i] ? kw_tcp_state(la[i]) : KW_TCP_CLOSED;
	}
	return 0;
}

/* ---- frame building ---------------------------------------------------------- */

#define FMAX 1600
struct frame {
	uint8_t b[FMAX];
	size_t len;
};

static void eth(struct frame *f, uint16_t type)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	unsigned r = rn(100);

	memcpy(f->b, r < 90 ? mac_b : r < 95 ? bcast : (const uint8_t[6]){ 2, 0, 0, 0, 0, (uint8_t)rnd() }, 6);
	r = rn(100);
	if (r < 90)
		memcpy(f->b + 6, mac_a, 6);
	else
		for (int i = 0; i < 6; i++)
			f->b[6 + i] = (uint8_t)rnd();
	kw_put16(f->b + 12, type);
}

static uint32_t rand_src(void)
{
	switch (rn(8)) {
	case 0: return SP_IP4(10, 9, 0, 1 + rn(254));
	case 1: return (uint32_t)rnd();
	case 2: return SP_ADDR1;                /* ourselves: martian */
	case 3: return SP_IP4(10, 9, 0, 255);   /* broadcast: martian */
	default: return SP_ADDR0;
	}
}

static void ip_hdr(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto, size_t payload)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	kw_put16(ip + 2, (uint16_t)(20 + payload));
	kw_put16(ip + 4, (uint16_t)rnd());
	if (chance(80))
		kw_put16(ip + 6, 0x4000);
	ip[8] = (uint8_t)(chance(95) ? 64 : rn(3));
	ip[9] = proto;
	kw_put32(ip + 12, src);
	kw_put32(ip + 16, dst);
	kw_put16(ip + 10, kw_checksum(ip, 20, 0));
}

static void ip_fix(uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 0xf) * 4;
	kw_put16(ip + 10, 0);
	kw_put16(ip + 10, kw_checksum(ip, hl, 0));
}

/* TCP checksum over [t, t+tlen) with the IP header's addresses. */
static void tcp_fix(uint8_t *ip, uint8_t *t, size_t tlen)
{
	kw_put16(t + 16, 0);
	kw_put16(t + 16, kw_checksum(t, tlen, kw_checksum_pseudo(kw_get32(ip + 12), kw_get32(ip + 16), 6,
							     (uint16_t)tlen)));
}

/* Options: good ones, bad lengths, unknown kinds, junk. */
static size_t options(uint8_t *o, size_t room)
{
	size_t n = 0, want = 4 * rn((unsigned)(room / 4) + 1);

	while (n < want) {
		switch (rn(10)) {
		case 0: o[n++] = 1; break;                                          /* NOP */
		case 1: if (n + 4 <= want) { o[n] = 2; o[n + 1] = 4; kw_put16(o + n + 2, (uint16_t)rnd()); n += 4; } else o[n++] = 1; break;
		case 2: if (n + 3 <= want) { o[n] = 3; o[n + 1] = 3; o[n + 2] = (uint8_t)rn(40); n += 3; } else o[n++] = 1; break;
		case 3: if (n + 10 <= want) { o[n] = 8; o[n + 1] = 10; kw_put32(o + n + 2, (uint32_t)rnd()); kw_put32(o + n + 6, (uint32_t)rnd()); n += 10; } else o[n++] = 0; break;
		case 4: o[n++] = (uint8_t)rn(40); break;                               /* kind, then whatever */
		case 5: if (n + 2 <= want) { o[n] = (uint8_t)rn(30); o[n + 1] = (uint8_t)rn(3); n += 2; } else o[n++] = 0; break; /* length 0, 1, 2 */
		case 6: if (n + 2 <= want) { o[n] = (uint8_t)(2 + rn(7)); o[n + 1] = (uint8_t)(want - n + rn(8)); n += 2; } else o[n++] = 1; break; /* runs past */
		case 7: o[n++] = 0; break;                                          /* EOL */
		default: o[n++] = (uint8_t)rnd(); break;
		}
	}
	return want;
}

static uint8_t rand_flags(void)
{
	/* Every combination of the 6 classic flags, plus ECE/CWR at times. */
	uint8_t f = (uint8_t)rn(64);
	if (chance(10))
		f |= (uint8_t)(rn(4) << 6);
	return f;
}

/* A sequence number somewhere interesting relative to `base`. */
static uint32_t near(uint32_t base)
{
	switch (rn(10)) {
	case 0: return base + rn(3) - 1;
	case 1: return base + 0x80000000u + rn(5) - 2;               /* the other half */
	case 2: return (uint32_t)0 - rn(4);                          /* around 2^32 wrap */
	case 3: return rn(4);
	case 4: return base + 0x7fffffffu - rn(3);
	case 5: return base - rn(70000);
	case 6: return base + rn(1u << 20);
	case 7: return 0x80000000u + rn(3) - 1;
	default: return (uint32_t)rnd();
	}
}

struct tcpspec {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	size_t dlen;
	bool opts;
};

static void build_tcp(struct frame *f, const struct tcpspec *s)
{
	uint8_t *ip = f->b + 14, *t = ip + 20;
	size_t ol = s->opts ? options(t + 20, 40) : 0, tl = 20 + ol + s->dlen;

	eth(f, 0x0800);
	kw_put16(t, s->sport);
	kw_put16(t + 2, s->dport);
	kw_put32(t + 4, s->seq);
	kw_put32(t + 8, s->ack);
	t[12] = (uint8_t)(((20 + ol) / 4) << 4);
	t[13] = s->flags;
	kw_put16(t + 14, s->win);
	kw_put16(t + 18, (uint16_t)rnd());
	for (size_t i = 0; i < s->dlen; i++)
		t[20 + ol + i] = (uint8_t)rnd();
	ip_hdr(ip, s->src, s->dst, 6, tl);
	tcp_fix(ip, t, tl);
	f->len = 14 + 20 + tl;
	if (f->len < 60) {
		memset(f->b + f->len, 0, 60 - f->len);
		f->len = 60;
	}
}

/* A segment for one of B's live connections, as if from A. */
static void gen_live_tcp(struct frame *f)
{
	struct kw_tcp *c = lb[rn(NLIVE)];
	struct tcpspec s;

	memset(&s, 0, sizeof(s));
	s.src = c->raddr ? c->raddr : SP_ADDR0;
	s.dst = SP_ADDR1;
	s.sport = c->rport;
	s.dport = c->lport;
	s.flags = rand_flags();
	s.seq = near(chance(50) ? c->rcv_nxt : c->rcv_adv);
	s.ack = near(chance(50) ? c->snd_una : c->snd_max);
	s.win = (uint16_t)(chance(20) ? 0 : rnd());
	s.dlen = chance(50) ? 0 : rn(chance(90) ? 64 : 1400);
	s.opts = chance(30);
	if (chance(5)) {
		s.sport = (uint16_t)(s.sport + rn(3) - 1);
		s.dport = (uint16_t)(s.dport + rn(3) - 1);
	}
	build_tcp(f, &s);
}

/* A segment for anything else: the listener, closed ports, random peers. */
static void gen_other_tcp(struct frame *f)
{
	struct tcpspec s;
	static const uint16_t ports[] = { 80, 81, 443, 0, 65535, 1 };

	memset(&s, 0, sizeof(s));
	s.src = rand_src();
	s.dst = chance(95) ? SP_ADDR1 : (uint32_t)rnd();
	s.sport = (uint16_t)(chance(50) ? rnd() : ports[rn(6)]);
	s.dport = (uint16_t)(chance(70) ? ports[rn(6)] : rnd());
	s.flags = rand_flags();
	s.seq = (uint32_t)rnd();
	s.ack = (uint32_t)rnd();
	s.win = (uint16_t)rnd();
	s.dlen = chance(60) ? 0 : rn(1400);
	s.opts = chance(50);
	build_tcp(f, &s);
}

static void gen_icmp(struct frame *f)
{
	uint8_t *ip = f->b + 14, *icmp = ip + 20, *q = icmp + 8, *qt = q + 20;
	struct kw_tcp *c = lb[rn(NLIVE)];
	size_t qlen, ilen;

	eth(f, 0x0800);
	memset(icmp, 0, 8);
	if (chance(20)) {
		/* Echo request of any size. */
		ilen = 8 + rn(1400);
		icmp[0] = 8;
		for (size_t i = 4; i < ilen; i++)
			icmp[i] = (uint8_t)rnd();
	} else {
		icmp[0] = (uint8_t)(chance(90) ? 3 : rn(20));
		icmp[1] = (uint8_t)rn(16);
		/* The quoted datagram: B's header to A, then 8+ bytes of TCP. */
		ip_hdr(q, c->laddr ? c->laddr : SP_ADDR1, c->raddr, 6, 20);
		if (chance(10))
			q[0] = (uint8_t)(0x40 | rn(16));
		if (chance(5))
			q[9] = (uint8_t)rn(20);
		kw_put16(qt, c->lport);
		kw_put16(qt + 2, c->rport);
		kw_put32(qt + 4, near(chance(50) ? c->snd_una : c->iss));
		kw_put32(qt + 8, (uint32_t)rnd());
		for (int i = 12; i < 20; i++)
			qt[i] = (uint8_t)rnd();
		qlen = chance(30) ? rn(40) : 28 + rn(12);
		ilen = 8 + qlen;
	}
	kw_put16(icmp + 2, 0);
	kw_put16(icmp + 2, kw_checksum(icmp, ilen, 0));
	ip_hdr(ip, rand_src(), SP_ADDR1, 1, ilen);
	f->len = 14 + 20 + ilen;
	if (f->len < 60) {
		memset(f->b + f->len, 0, 60 - f->len);
		f->len = 60;
	}
}

static void gen_arp(struct frame *f)
{
	uint8_t *a = f->b + 14;

	eth(f, 0x0806);
	kw_put16(a, chance(90) ? 1 : (uint16_t)rn(4));
	kw_put16(a + 2, chance(90) ? 0x0800 : (uint16_t)rnd());
	a[4] = (uint8_t)(chance(90) ? 6 : rn(10));
	a[5] = (uint8_t)(chance(90) ? 4 : rn(10));
	kw_put16(a + 6, (uint16_t)(chance(90) ? 1 + rn(2) : rn(10)));
	for (int i = 8; i < 14; i++)
		a[i] = (uint8_t)rnd();
	if (chance(50))
		a[8] &= 0xfe;
	kw_put32(a + 14, chance(50) ? SP_IP4(10, 9, 0, rn(256)) : (uint32_t)rnd());
	for (int i = 18; i < 24; i++)
		a[i] = (uint8_t)(chance(50) ? 0 : rnd());
	kw_put32(a + 24, chance(70) ? SP_ADDR1 : SP_IP4(10, 9, 0, rn(256)));
	f->len = 14 + 28 + (chance(50) ? 18 : 0);
}

static void gen_ip_other(struct frame *f)
{
	uint8_t *ip = f->b + 14;
	size_t pl = rn(200);

	eth(f, 0x0800);
	for (size_t i = 0; i < pl + 40; i++)
		ip[20 + i] = (uint8_t)rnd();
	ip_hdr(ip, rand_src(), chance(80) ? SP_ADDR1 : chance(50) ? SP_IP4(10, 9, 0, 255) : 0xffffffffu,
	       (uint8_t)(chance(30) ? 17 : rn(256)), pl);
	switch (rn(6)) {
	case 0: ip[0] = (uint8_t)(0x40 | (5 + rn(11))); break;            /* options */
	case 1: kw_put16(ip + 6, (uint16_t)(chance(50) ? 0x2000 : rn(0x2000))); break;  /* fragments */
	case 2: ip[0] = (uint8_t)rnd(); break;                           /* version/IHL */
	case 3: kw_put16(ip + 2, (uint16_t)rnd()); break;                /* total length */
	default: break;
	}
	ip_fix(ip);
	f->len = 14 + 20 + pl + 40 * chance(50);
}

static void gen_random(struct frame *f)
{
	f->len = rn(FMAX + 1);
	for (size_t i = 0; i < f->len; i++)
		f->b[i] = (uint8_t)rnd();
	if (f->len >= 14 && chance(70)) {
		eth(f, chance(70) ? 0x0800 : 0x0806);
		if (f->len >= 34 && chance(50)) {
			f->b[14] = 0x45;
			kw_put32(f->b + 14 + 16, SP_ADDR1);
			ip_fix(f->b + 14);
		}
	}
}

/* Bits and bytes changed, lengths broken, checksums fixed or not. */
static void mutate(struct frame *f)
{
	uint8_t *ip = f->b + 14;
	unsigned n = 1 + rn(4);

	for (unsigned i = 0; i < n && f->len > 0; i++) {
		size_t at = rn((uint32_t)f->len);
		if (chance(50))
			f->b[at] ^= (uint8_t)(1u << rn(8));
		else
			f->b[at] = (uint8_t)rnd();
	}
	if (f->len >= 34 && kw_get16(f->b + 12) == 0x0800 && (ip[0] >> 4) == 4) {
		size_t hl = (size_t)(ip[0] & 0xf) * 4;
		if (chance(20))
			ip[46 - 14] = (uint8_t)(rn(16) << 4);     /* TCP data offset */
		if (chance(20))
			kw_put16(ip + 2, (uint16_t)(kw_get16(ip + 2) + rn(41) - 20));
		if (chance(70) && hl >= 20 && 14 + hl <= f->len)
			ip_fix(ip);
		if (chance(70) && hl == 20 && ip[9] == 6 && kw_get16(ip + 2) >= 40 && 14u + kw_get16(ip + 2) <= f->len)
			tcp_fix(ip, ip + 20, kw_get16(ip + 2) - 20u);
	}
}

/* ---- the oracle -------------------------------------------------------------- */

static struct kw_tcp *live_for(uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	for (int i = 0; i < NLIVE; i++) {
		struct kw_tcp *c = lb[i];
		if (c->lport == lport && c->rport == rport && c->raddr == raddr && c->laddr == laddr)
			return c;
	}
	return NULL;
}

/* Would B take this frame as a legitimate change to a live connection? */
static bool legit_change(const struct frame *f)
{
	struct kw_ether_view e;
	struct kw_ipv4_view ip;

	if (kw_ether_parse(f->b, f->len, &e) < 0)
		return false;
	if (e.type == KW_ETH_P_ARP) {
		struct kw_arp_packet p;
		/* "A moved to another MAC": ARP believes it, as RFC 826 says. */
		return kw_arp_parse(e.payload, e.len, &p) == 0 && p.spa == SP_ADDR0 &&
		       memcmp(p.sha, mac_a, 6) != 0;
	}
	if (e.type != KW_ETH_P_IP || kw_ipv4_parse(e.payload, e.len, &ip) < 0 || ip.dst != SP_ADDR1)
		return false;
	if (ip.proto == 1 && ip.len >= 8 + 28 && ip.payload[0] == 3) {
		const uint8_t *q = ip.payload + 8, *qt = q + (size_t)(q[0] & 0xf) * 4;
		struct kw_tcp *c;
		if ((size_t)(q[0] & 0xf) * 4 + 8 > ip.len - 8)
			return false;
		c = live_for(kw_get32(q + 12), kw_get16(qt), kw_get32(q + 16), kw_get16(qt + 2));
		return c && c->state == KW_TCP_SYN_SENT && seq_geq(kw_get32(qt + 4), c->snd_una) &&
		       seq_leq(kw_get32(qt + 4), c->snd_max) && ip.payload[1] != 4;
	}
	if (ip.proto == 6 && ip.len >= 20) {
		const uint8_t *t = ip.payload;
		struct kw_tcp *c = live_for(ip.dst, kw_get16(t + 2), ip.src, kw_get16(t));
		size_t doff = (size_t)(t[12] >> 4) * 4;
		uint32_t seq = kw_get32(t + 4), ack = kw_get32(t + 8), rwnd, slen;
		uint8_t fl = t[13] & 0x3f;
		int32_t d;
		bool ok;

		if (!c || doff < 20 || doff > ip.len)
			return false;
		if (kw_checksum(t, ip.len, kw_checksum_pseudo(ip.src, ip.dst, 6, (uint16_t)ip.len)) != 0)
			return false;
		if (c->state == KW_TCP_SYN_SENT)        /* a SYN-ACK, a RST, a simultaneous open */
			return ((fl & TH_ACK) && seq_gt(ack, c->iss) && seq_leq(ack, c->snd_max)) ||
			       ((fl & TH_SYN) && !(fl & TH_ACK) && !(fl & TH_RST));
		if ((fl & TH_RST) && seq == c->rcv_nxt)
			return true;
		d = seq_diff(c->rcv_adv, c->rcv_nxt);
		rwnd = d > 0 ? (uint32_t)d : 0;
		slen = (uint32_t)(ip.len - doff) + !!(fl & TH_SYN) + !!(fl & TH_FIN);
		ok = slen == 0 ? seq_in_range(seq, c->rcv_nxt, c->rcv_nxt + rwnd)
			       : seq_in_range(seq, c->rcv_nxt, c->rcv_nxt + rwnd) ||
				 seq_in_range(seq + slen - 1, c->rcv_nxt, c->rcv_nxt + rwnd);
		if (rwnd == 0 && seq == c->rcv_nxt)
			ok = true;
		/* Acceptable and carrying an acceptable ACK: may move the
		 * window, take data or a FIN. */
		return ok && (fl & TH_ACK) && seq_leq(ack, c->snd_max) &&
		       seq_geq(ack, c->snd_una - (c->max_snd_wnd > 65535 ? c->max_snd_wnd : 65535));
	}
	return false;
}

/* ---- after the storm --------------------------------------------------------- */

static bool got_all(struct spair *s, void *arg)
{
	struct kw_tcp **p = arg;
	(void)s;
	return (kw_tcp_events(p[1]) & KW_TCP_READABLE) != 0;
}

/* n bytes from `from` to `to`, read back and compared. */
static bool flows(struct kw_tcp *from, struct kw_tcp *to, size_t n, uint8_t salt)
{
	static uint8_t out[65536], in[65536];
	struct kw_tcp *p[2] = { from, to };
	size_t sent = 0, got = 0;
	uint64_t limit = sp.now + SEC(20);

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i * 31 + salt);
	while (got < n && sp.now < limit) {
		ssize_t r;
		if (sent < n && (r = kw_tcp_send(from, out + sent, n - sent, sp.now)) > 0)
			sent += (size_t)r;
		sp_run_while_not(&sp, got_all, p, sp.now + MS(50));
		while ((r = kw_tcp_recv(to, in + got, n - got, sp.now)) > 0)
			got += (size_t)r;
		if (r == 0 || (r < 0 && r != -EAGAIN))
			break;
	}
	return got == n && memcmp(in, out, n) == 0;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- phase 2: throwaway connections, no oracle ------------------------------
 *
 * In-window segments with acceptable ACKs, exact RSTs, FINs, zero windows,
 * out-of-order pieces, all made up: they change the connections (that is
 * the point), so only memory safety, the absence of crashes and the final
 * clean-up are checked. The link is down meanwhile, so A never sees B's
 * answers to a conversation A never had (which would make the two ends
 * ACK each other forever). */

#define NTHROW 8

static void gen_throwaway(struct frame *f, struct kw_tcp *c)
{
	struct tcpspec s;
	uint32_t flight = (uint32_t)seq_diff(c->snd_max, c->snd_una);

	memset(&s, 0, sizeof(s));
	s.src = c->raddr;
	s.dst = SP_ADDR1;
	s.sport = c->rport;
	s.dport = c->lport;
	s.flags = (uint8_t)(chance(70) ? TH_ACK | (chance(10) ? TH_FIN : 0) | (chance(20) ? TH_PSH : 0)
				       : rand_flags() & ~TH_RST);
	if (rn(1000) < 3)
		s.flags = TH_RST | (chance(50) ? TH_ACK : 0);
	s.seq = c->rcv_nxt + (chance(40) ? 0 : rn(70000) - 3000);
	s.ack = c->snd_una + (chance(50) ? rn(flight + 1) : chance(50) ? 0 : flight);
	if (chance(5))
		s.ack = near(c->snd_una);
	s.win = (uint16_t)(chance(10) ? 0 : chance(10) ? rn(4) : rnd());
	s.dlen = chance(40) ? 0 : rn(1460);
	s.opts = chance(10);
	build_tcp(f, &s);
}

/* Make a built frame plainly deliverable: to B's MAC from A's, TTL 64. */
static void sane(struct frame *f)
{
	memcpy(f->b, mac_b, 6);
	memcpy(f->b + 6, mac_a, 6);
	f->b[14 + 8] = 64;
	ip_fix(f->b + 14);
}

/* A connection to B's listener from a made-up peer at A's address: the
 * handshake is injected, B's answers are lost on the dead link. */
static struct kw_tcp *fake_open(struct kw_tcp *l, uint16_t sport)
{
	struct tcpspec s;
	struct frame f;
	struct kw_tcp *c = NULL, *child;
	uint8_t *t = f.b + 34;

	memset(&s, 0, sizeof(s));
	s.src = SP_ADDR0;
	s.dst = SP_ADDR1;
	s.sport = sport;
	s.dport = l->lport;
	s.seq = (uint32_t)rnd();
	s.flags = TH_SYN;
	s.win = 65535;
	build_tcp(&f, &s);
	/* MSS 1460, window scale 0..14 */
	memcpy(t + 20, (const uint8_t[]){ 2, 4, 0x05, 0xb4, 1, 3, 3, (uint8_t)rn(15) }, 8);
	t[12] = 7 << 4;
	kw_put16(f.b + 16, 20 + 28);
	ip_fix(f.b + 14);
	tcp_fix(f.b + 14, t, 28);
	f.len = 14 + 48 < 60 ? 60 : 14 + 48;
	sane(&f);
	kw_stack_input(sp.st[1], f.b, f.len, sp.now);
	child = tcp_lookup(sp_tcp(&sp, 1), SP_ADDR1, l->lport, SP_ADDR0, sport);
	if (!child || child->state != KW_TCP_SYN_RECEIVED)
		return NULL;             /* e.g. the SYN backlog is full */
	s.seq++;
	s.ack = child->iss + 1;
	s.flags = TH_ACK;
	build_tcp(&f, &s);
	sane(&f);
	kw_stack_input(sp.st[1], f.b, f.len, sp.now);
	if (kw_tcp_accept(l, &c) < 0)
		return NULL;
	return c;
}

static void phase2(uint64_t iters)
{
	struct kw_tcp *b[NTHROW], *l;
	static uint8_t junk[8192];
	uint64_t t0 = sp.now, ended = 0, opened = 0, failed = 0;
	uint16_t port = 20000;
	double w0 = wall();

	kw_memlink_set_drop_all(sp.link, true);
	kw_tcp_open(sp_tcp(&sp, 1), &l);
	kw_tcp_bind(l, 0, 8080);
	kw_tcp_listen(l, 1024);     /* mutated SYNs make children too */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd();
	for (unsigned i = 0; i < NTHROW; i++)
		b[i] = NULL;
	for (uint64_t i = 0; i < iters; i++) {
		unsigned k = rn(NTHROW);
		struct kw_tcp *c = b[k];
		struct frame f;

		if (c && kw_tcp_state(c) == KW_TCP_CLOSED) {
			kw_tcp_close(c, sp.now);
			c = b[k] = NULL;
			ended++;
		}
		if (!c) {
			c = b[k] = fake_open(l, port++);
			if (!c) {
				failed++;
				continue;
			}
			opened++;
			kw_tcp_set_buffers(c, 4096 + 8192 * k, 4096 + 8192 * k);
			kw_tcp_set_nodelay(c, k & 1);
			if (k % 3 == 0)
				kw_tcp_set_keepalive(c, true, &(struct keepalive_config){ MS(300), MS(100), 2 }, sp.now);
		}
		if (chance(3))
			kw_tcp_send(c, junk, rn(sizeof(junk)), sp.now);
		if (chance(3))
			kw_tcp_recv(c, junk, rn(sizeof(junk)), sp.now);
		if (rn(20000) == 0)
			kw_tcp_shutdown(c, SHUT_WR, sp.now);
		gen_throwaway(&f, c);
		sane(&f);
		if (chance(10))
			mutate(&f);
		kw_stack_input(sp.st[1], f.b, f.len, sp.now);
		if ((i & 7) == 7)
			sp_run_until(&sp, sp.now + US(500));
	}
	tap_ok(opened >= NTHROW, "phase 2: connections from a made-up peer accepted");
	tap_diag("phase 2: %llu frames in %.2f s wall, %.1f s fake; %llu connections opened, %llu ended, %llu refused",
		 (unsigned long long)iters, wall() - w0, (double)(sp.now - t0) / 1e9,
		 (unsigned long long)opened, (unsigned long long)ended, (unsigned long long)failed);
	for (unsigned i = 0; i < NTHROW; i++) {
		if (!b[i])
			continue;
		if (chance(50))
			kw_tcp_close(b[i], sp.now);
		else
			kw_tcp_abort(b[i], sp.now);
	}
	kw_tcp_close(l, sp.now);
	kw_memlink_set_drop_all(sp.link, false);
}

int main(void)
{
	const char *e;
	uint64_t seed = 20261124, iters = 200000, skipped = 0, fed = 0;
	uint64_t kinds[7] = { 0 };
	struct kw_tcp_stats t0, t1;
	struct kw_stack_stats s0, s1;
	char d[160];
	double w0;
	bool all_ok = true;
	static uint8_t unread[2000];

	if ((e = getenv("KW_FUZZ_SEED")) && *e)
		seed = strtoull(e, NULL, 0);
	if ((e = getenv("KW_FUZZ_ITERATIONS")) && *e)
		iters = strtoull(e, NULL, 0);
	tap_diag("seed %llu, %llu iterations (KW_FUZZ_SEED, KW_FUZZ_ITERATIONS)",
		 (unsigned long long)seed, (unsigned long long)iters);
	rng = seed;

	tap_ok(setup() == 0, "six live connections of B's in six states, and two listeners");
	for (int i = 0; i < NLIVE; i++)
		tap_diag("  %-28s B %s, A %s", live_name[i], kw_tcp_state_name(want_b[i]),
			 la[i] ? kw_tcp_state_name(want_a[i]) : "-");
	kw_tcp_layer_stats(sp_tcp(&sp, 1), &t0);
	kw_stack_stats(sp.st[1], &s0);

	/* Truncation at every length of a valid segment for a live connection,
	 * with and without the IP length fixed to match. */
	w0 = wall();
	for (uint64_t i = 0; i < iters; i++) {
		struct frame f;
		unsigned k = rn(100);

		if (i < 2 * (14 + 20 + 60 + 64)) {
			gen_live_tcp(&f);
			size_t cut = (size_t)(i / 2) < f.len ? (size_t)(i / 2) : f.len;
			if (i & 1 && cut >= 34) {
				kw_put16(f.b + 16, (uint16_t)(cut - 14));
				ip_fix(f.b + 14);
				if (cut >= 54)
					tcp_fix(f.b + 14, f.b + 34, cut - 34);
			}
			f.len = cut;
			k = 0;
		} else if (k < 35) {
			gen_live_tcp(&f);
		} else if (k < 55) {
			gen_other_tcp(&f);
		} else if (k < 67) {
			gen_icmp(&f);
		} else if (k < 77) {
			gen_arp(&f);
		} else if (k < 85) {
			gen_ip_other(&f);
		} else {
			gen_random(&f);
		}
		kinds[k < 35 ? 0 : k < 55 ? 1 : k < 67 ? 2 : k < 77 ? 3 : k < 85 ? 4 : 5]++;
		if (chance(30)) {
			mutate(&f);
			kinds[6]++;
		}
		if (legit_change(&f)) {
			skipped++;
			continue;
		}
		fed++;
		kw_stack_input(sp.st[1], f.b, f.len, sp.now);
		/* Let the answers travel and the timers run: 5 µs per frame. */
		if ((i & 7) == 7)
			sp_run_until(&sp, sp.now + US(40));
	}
	{
		double w = wall() - w0;
		tap_diag("fed %llu frames (%llu kept out by the oracle) in %.2f s wall, %.0f frames/s; %.3f s fake",
			 (unsigned long long)fed, (unsigned long long)skipped, w, (double)fed / (w > 0 ? w : 1e-9),
			 (double)(sp.now - SEC(1)) / 1e9);
		tap_diag("  live TCP %llu, other TCP %llu, ICMP %llu, ARP %llu, other IP %llu, random %llu; mutated %llu",
			 (unsigned long long)kinds[0], (unsigned long long)kinds[1], (unsigned long long)kinds[2],
			 (unsigned long long)kinds[3], (unsigned long long)kinds[4], (unsigned long long)kinds[5],
			 (unsigned long long)kinds[6]);
	}
	kw_tcp_layer_stats(sp_tcp(&sp, 1), &t1);
	kw_stack_stats(sp.st[1], &s1);
	tap_diag("B: frames in %llu, dropped %llu, ip_bad %llu, frags %llu, options %llu, icmp_unreach_in %llu, icmp_bad %llu",
		 (unsigned long long)(s1.frames_in - s0.frames_in), (unsigned long long)(s1.frames_dropped - s0.frames_dropped),
		 (unsigned long long)(s1.ip_bad - s0.ip_bad), (unsigned long long)(s1.ip_fragments_dropped - s0.ip_fragments_dropped),
		 (unsigned long long)(s1.ip_options_dropped - s0.ip_options_dropped),
		 (unsigned long long)(s1.icmp_unreach_in - s0.icmp_unreach_in), (unsigned long long)(s1.icmp_bad - s0.icmp_bad));
	tap_diag("B TCP: segments in %llu (bad %llu), out %llu, RST out %llu, RST in %llu",
		 (unsigned long long)(t1.segs_in - t0.segs_in), (unsigned long long)(t1.bad_segments - t0.bad_segments),
		 (unsigned long long)(t1.segs_out - t0.segs_out), (unsigned long long)(t1.rst_out - t0.rst_out),
		 (unsigned long long)(t1.rst_in - t0.rst_in));
	tap_ok(iters < 10000 || t1.segs_in - t0.segs_in > t1.bad_segments - t0.bad_segments + iters / 10,
	       "many segments passed every check and reached the state machine");
	tap_ok(kinds[6] > 0 && skipped < fed / 20, "the oracle kept out only a few frames");

	/* Let everything settle (answers, retransmissions), then compare. */
	sp_run_until(&sp, sp.now + MS(500));
	for (int i = 0; i < NLIVE; i++) {
		snprintf(d, sizeof(d), "%s: B still %s, A still %s", live_name[i], kw_tcp_state_name(want_b[i]),
			 la[i] ? kw_tcp_state_name(want_a[i]) : "-");
		all_ok &= tap_ok(kw_tcp_state(lb[i]) == want_b[i] && (!la[i] || kw_tcp_state(la[i]) == want_a[i]) &&
				 kw_tcp_take_error(lb[i]) == 0 && (!la[i] || kw_tcp_take_error(la[i]) == 0), d);
	}
	tap_ok(kw_tcp_recv(lb[L_UNREAD], unread, sizeof(unread), sp.now) == 1000 && unread[999] == (uint8_t)(999 * 13) &&
	       unread[1] == 13, "the unread data is intact");
	tap_ok(flows(la[L_IDLE], lb[L_IDLE], 60000, 1) && flows(lb[L_IDLE], la[L_IDLE], 60000, 2),
	       "ESTABLISHED idle: 60000 bytes each way, intact");
	tap_ok(flows(la[L_UNREAD], lb[L_UNREAD], 60000, 3) && flows(lb[L_UNREAD], la[L_UNREAD], 60000, 4),
	       "ESTABLISHED with unread data: 60000 bytes each way, intact");
	tap_ok(flows(la[L_BCLIENT], lb[L_BCLIENT], 60000, 5) && flows(lb[L_BCLIENT], la[L_BCLIENT], 60000, 6),
	       "B as client: 60000 bytes each way, intact");
	tap_ok(flows(lb[L_CLOSE_WAIT], la[L_CLOSE_WAIT], 30000, 7), "CLOSE-WAIT: B can still send, intact");
	tap_ok(flows(la[L_FIN_WAIT2], lb[L_FIN_WAIT2], 30000, 8), "FIN-WAIT-2: A can still send, intact");

	phase2(iters / 2);

	/* Close everything; whatever the fuzz created must go away too. */
	kw_tcp_close(lst_a, sp.now);
	kw_tcp_close(lst_b, sp.now);
	for (int i = 0; i < NLIVE; i++) {
		kw_tcp_close(lb[i], sp.now);
		if (la[i])
			kw_tcp_close(la[i], sp.now);
	}
	sp_run_until(&sp, sp.now + SEC(3000));
	tap_is_u64(kw_tcp_layer_count(sp_tcp(&sp, 1)), 0, "B: every socket freed after closing (nothing leaked)");
	tap_is_u64(kw_tcp_layer_count(sp_tcp(&sp, 0)), 0, "A: every socket freed after closing");
	tap_ok(kw_stack_next_deadline(sp.st[0]) == KW_TIME_NEVER && kw_stack_next_deadline(sp.st[1]) == KW_TIME_NEVER,
	       "no timer left on either stack");
	sp_fini(&sp);
	return tap_done();
}
