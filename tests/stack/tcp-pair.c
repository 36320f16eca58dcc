#include "tests/stack/tcp-pair.h"
#include "stack/checksum.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t pair_rand(struct tcp_pair *p)
{
	/* splitmix64 */
	uint64_t z = (p->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double frand(struct tcp_pair *p)
{
	return (double)(pair_rand(p) >> 11) / (double)(UINT64_C(1) << 53);
}

static bool pkt_before(const struct pair_pkt *a, const struct pair_pkt *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void q_push(struct tcp_pair *p, struct pair_pkt pk)
{
	size_t i;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->q = realloc(p->q, p->cap * sizeof(*p->q));
		if (!p->q)
			abort();
	}
	i = p->n++;
	while (i > 0 && pkt_before(&pk, &p->q[(i - 1) / 2])) {
		p->q[i] = p->q[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	p->q[i] = pk;
}

static struct pair_pkt q_pop(struct tcp_pair *p)
{
	struct pair_pkt top = p->q[0], last = p->q[--p->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= p->n)
			break;
		if (c + 1 < p->n && pkt_before(&p->q[c + 1], &p->q[c]))
			c++;
		if (!pkt_before(&p->q[c], &last))
			break;
		p->q[i] = p->q[c];
		i = c;
	}
	if (p->n)
		p->q[i] = last;
	return top;
}

bool pair_parse(const uint8_t *s, size_t len, struct seginfo *si)
{
	if (len < 20)
		return false;
	si->sport = (uint16_t)(s[0] << 8 | s[1]);
	si->dport = (uint16_t)(s[2] << 8 | s[3]);
	si->seq = (uint32_t)s[4] << 24 | (uint32_t)s[5] << 16 | (uint32_t)s[6] << 8 | s[7];
	si->ack = (uint32_t)s[8] << 24 | (uint32_t)s[9] << 16 | (uint32_t)s[10] << 8 | s[11];
	si->hlen = (size_t)(s[12] >> 4) * 4;
	si->flags = s[13];
	si->win = (uint16_t)(s[14] << 8 | s[15]);
	if (si->hlen < 20 || si->hlen > len)
		return false;
	si->dlen = len - si->hlen;
	return true;
}

static void link_send(struct tcp_pair *p, int from, uint32_t src, uint32_t dst,
		      const void *seg, size_t len)
{
	struct seginfo si;
	int copies = 1;

	p->sent[from]++;
	memset(&si, 0, sizeof(si));
	pair_parse(seg, len, &si);
	if (p->tap)
		p->tap(p, from, seg, len, &si);
	if (p->down || (p->filter && p->filter(p, from, seg, len, &si))) {
		p->lost[from]++;
		return;
	}
	if (p->loss > 0 && frand(p) < p->loss) {
		p->lost[from]++;
		return;
	}
	if (p->dup > 0 && frand(p) < p->dup)
		copies = 2;
	for (int i = 0; i < copies; i++) {
		struct pair_pkt pk;
		pk.at = p->now + p->latency;
		if (p->reorder > 0 && frand(p) < p->reorder)
			pk.at += 1 + pair_rand(p) % (p->jitter ? p->jitter : 1);
		pk.order = p->order++;
		pk.to = 1 - from;
		pk.src = src;
		pk.dst = dst;
		pk.len = len;
		pk.data = malloc(len);
		if (!pk.data)
			abort();
		memcpy(pk.data, seg, len);
		q_push(p, pk);
	}
}

static void ip_output(void *ctx, uint32_t src, uint32_t dst, const void *segment,
		      size_t len, uint64_t now_ns)
{
	struct pair_ep *ep = ctx;

	(void)now_ns;
	link_send(ep->pair, ep->idx, src, dst, segment, len);
}

void pair_init(struct tcp_pair *p, uint64_t seed)
{
	pair_init_cc(p, seed, KW_TCP_CC_NEWRENO);
}

void pair_init_cc(struct tcp_pair *p, uint64_t seed, uint8_t congestion)
{
	memset(p, 0, sizeof(*p));
	p->rng = seed;
	p->latency = MS(5);
	p->jitter = MS(3);
	p->now = SEC(1000);     /* not zero: catches "0 means unset" bugs */
	for (int i = 0; i < 2; i++) {
		struct kw_tcp_env env = {
			.ctx = &p->ep[i],
			.ip_output = ip_output,
			.local_addr = i == 0 ? PAIR_ADDR0 : PAIR_ADDR1,
			.mss = 1460,
			.seed = seed * 31 + (uint64_t)i + 1,
			.notify = NULL,
			.congestion = congestion,
		};
		p->ep[i].pair = p;
		p->ep[i].idx = i;
		p->l[i] = kw_tcp_layer_create(&env);
		if (!p->l[i])
			abort();
	}
}

void pair_fini(struct tcp_pair *p)
{
	while (p->n) {
		struct pair_pkt pk = q_pop(p);
		free(pk.data);
	}
	free(p->q);
	kw_tcp_layer_destroy(p->l[0]);
	kw_tcp_layer_destroy(p->l[1]);
}

uint64_t pair_next_event(const struct tcp_pair *p)
{
	uint64_t t = p->n ? p->q[0].at : KW_TIME_NEVER;
	for (int i = 0; i < 2; i++) {
		uint64_t d = kw_tcp_layer_next_deadline(p->l[i]);
		if (d < t)
			t = d;
	}
	return t;
}

/* One event at the next event time if <= limit. */
static bool step(struct tcp_pair *p, uint64_t limit)
{
	uint64_t t = pair_next_event(p);

	if (t == KW_TIME_NEVER || t > limit)
		return false;
	if (t > p->now)
		p->now = t;
	p->events++;
	while (p->n && p->q[0].at <= p->now) {
		struct pair_pkt pk = q_pop(p);
		p->delivered[1 - pk.to]++;
		kw_tcp_input(p->l[pk.to], pk.src, pk.dst, pk.data, pk.len, p->now);
		free(pk.data);
	}
	for (int i = 0; i < 2; i++)
		if (kw_tcp_layer_next_deadline(p->l[i]) <= p->now)
			kw_tcp_layer_poll(p->l[i], p->now);
	return true;
}

void pair_run_until(struct tcp_pair *p, uint64_t t)
{
	while (step(p, t))
		;
	if (p->now < t)
		p->now = t;
}

bool pair_run_while_not(struct tcp_pair *p, bool (*cond)(struct tcp_pair *, void *),
			void *arg, uint64_t limit)
{
	if (cond(p, arg))
		return true;
	while (step(p, limit))
		if (cond(p, arg))
			return true;
	if (p->now < limit)
		p->now = limit;
	return cond(p, arg);
}

struct conn_wait {
	struct kw_tcp *client, *listener, *server;
};

static bool connected(struct tcp_pair *p, void *arg)
{
	struct conn_wait *w = arg;
	(void)p;
	if (!w->server && kw_tcp_accept(w->listener, &w->server) < 0)
		w->server = NULL;
	return w->server && kw_tcp_state(w->client) == KW_TCP_ESTABLISHED;
}

int pair_connect(struct tcp_pair *p, uint16_t port, struct kw_tcp **client,
		 struct kw_tcp **server, struct kw_tcp **listener)
{
	struct conn_wait w = { NULL, NULL, NULL };
	int r;

	if (kw_tcp_open(p->l[1], &w.listener) < 0 || kw_tcp_bind(w.listener, 0, port) < 0 ||
	    kw_tcp_listen(w.listener, 16) < 0)
		return -1;
	if (kw_tcp_open(p->l[0], &w.client) < 0)
		return -1;
	if (p->client_rcvbuf)
		kw_tcp_set_buffers(w.client, 0, p->client_rcvbuf);
	r = kw_tcp_connect(w.client, PAIR_ADDR1, port, p->now);
	if (r != -EINPROGRESS)
		return -1;
	if (!pair_run_while_not(p, connected, &w, p->now + SEC(200)))
		return -1;
	*client = w.client;
	*server = w.server;
	if (listener)
		*listener = w.listener;
	else
		kw_tcp_close(w.listener, p->now);
	return 0;
}

size_t pair_build(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		  uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		  const void *data, size_t dlen)
{
	size_t len = 20 + dlen;
	uint16_t ck;

	memset(b, 0, 20);
	b[0] = (uint8_t)(sport >> 8); b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8); b[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[12] = 5 << 4;
	b[13] = flags;
	b[14] = (uint8_t)(win >> 8); b[15] = (uint8_t)win;
	if (dlen)
		memcpy(b + 20, data, dlen);
	ck = kw_checksum(b, len, kw_checksum_pseudo(src, dst, 6, (uint16_t)len));
	b[16] = (uint8_t)(ck >> 8);
	b[17] = (uint8_t)ck;
	return len;
}

void pair_inject(struct tcp_pair *p, int to, uint16_t sport, uint16_t dport,
		 uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		 const void *data, size_t dlen)
{
	uint8_t buf[2048];
	uint32_t src = to == 0 ? PAIR_ADDR1 : PAIR_ADDR0, dst = to == 0 ? PAIR_ADDR0 : PAIR_ADDR1;
	size_t len = pair_build(buf, src, dst, sport, dport, seq, ack, flags, win, data, dlen);

	kw_tcp_input(p->l[to], src, dst, buf, len, p->now);
}
