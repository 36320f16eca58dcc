#include "tests/stack/stack-pair.h"

#include <errno.h>
#include <string.h>

static int sp_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	struct sp_dev *d = dev->priv;
	struct spair *sp = d->sp;

	sp->tx[d->side]++;
	if (sp->tap)
		sp->tap(sp, d->side, frame, len);
	/* The link stamps the frame with the latest time it was told. */
	kw_memlink_set_now(sp->link, sp->now);
	return kw_netdev_transmit(d->inner, frame, len);
}

static const struct kw_netdev_ops sp_dev_ops = { .transmit = sp_transmit };

int sp_init(struct spair *sp, const struct kw_memlink_config *lc, uint64_t seed)
{
	static const uint32_t addr[2] = { SP_ADDR0, SP_ADDR1 };

	memset(sp, 0, sizeof(*sp));
	sp->now = SP_T0;
	sp->link = kw_memlink_create(lc);
	if (!sp->link)
		return -1;
	kw_memlink_set_now(sp->link, sp->now);
	for (int i = 0; i < 2; i++) {
		struct sp_dev *d = &sp->dev[i];
		/* B (the side fuzz-stack feeds) runs BBR, A NewReno: both
		 * congestion controls see the same traffic. */
		struct kw_stack_config cfg = { addr[i], 24, 0, seed * 2 + (uint64_t)i + 1,
					       i == 1 ? KW_TCP_CC_BBR : KW_TCP_CC_NEWRENO };

		d->inner = kw_memlink_dev(sp->link, i);
		d->sp = sp;
		d->side = i;
		d->dev.ops = &sp_dev_ops;
		d->dev.priv = d;
		memcpy(d->dev.mac, d->inner->mac, KW_ETH_ALEN);
		d->dev.mtu = d->inner->mtu;
		sp->st[i] = kw_stack_create(&cfg, &d->dev);
		if (!sp->st[i])
			return -1;
	}
	return 0;
}

void sp_fini(struct spair *sp)
{
	kw_stack_destroy(sp->st[0]);
	kw_stack_destroy(sp->st[1]);
	kw_memlink_destroy(sp->link);
	sp->st[0] = sp->st[1] = NULL;
	sp->link = NULL;
}

struct kw_tcp_layer *sp_tcp(struct spair *sp, int side)
{
	return kw_stack_tcp(sp->st[side]);
}

uint64_t sp_next_event(const struct spair *sp)
{
	uint64_t t = kw_memlink_next_deadline(sp->link);

	for (int i = 0; i < 2; i++) {
		uint64_t d = kw_stack_next_deadline(sp->st[i]);
		if (d < t)
			t = d;
	}
	return t;
}

static void deliver(void *ctx, int to, const void *frame, size_t len)
{
	struct spair *sp = ctx;

	sp->rx[to]++;
	kw_stack_input(sp->st[to], frame, len, sp->now);
}

bool sp_step(struct spair *sp, uint64_t limit)
{
	uint64_t t = sp_next_event(sp);

	if (t == KW_TIME_NEVER || t > limit)
		return false;
	if (t > sp->now)
		sp->now = t;
	sp->events++;
	kw_memlink_deliver(sp->link, sp->now, deliver, sp);
	for (int i = 0; i < 2; i++)
		if (kw_stack_next_deadline(sp->st[i]) <= sp->now)
			kw_stack_poll(sp->st[i], sp->now);
	return true;
}

void sp_run_until(struct spair *sp, uint64_t t)
{
	while (sp_step(sp, t))
		;
	if (sp->now < t)
		sp->now = t;
	kw_memlink_set_now(sp->link, sp->now);
}

bool sp_run_while_not(struct spair *sp, bool (*cond)(struct spair *, void *), void *arg,
		      uint64_t limit)
{
	if (cond(sp, arg))
		return true;
	while (sp_step(sp, limit))
		if (cond(sp, arg))
			return true;
	if (sp->now < limit)
		sp->now = limit;
	kw_memlink_set_now(sp->link, sp->now);
	return cond(sp, arg);
}

struct conn_wait {
	struct kw_tcp *client, *listener, *server;
};

static bool connected(struct spair *sp, void *arg)
{
	struct conn_wait *w = arg;

	(void)sp;
	if (!w->server && kw_tcp_accept(w->listener, &w->server) < 0)
		w->server = NULL;
	return w->server && kw_tcp_state(w->client) == KW_TCP_ESTABLISHED;
}

int sp_connect(struct spair *sp, uint16_t port, struct kw_tcp **client, struct kw_tcp **server,
	       struct kw_tcp **listener)
{
	struct conn_wait w = { NULL, NULL, NULL };

	if (kw_tcp_open(sp_tcp(sp, 1), &w.listener) < 0 || kw_tcp_bind(w.listener, 0, port) < 0 ||
	    kw_tcp_listen(w.listener, 16) < 0)
		return -1;
	if (kw_tcp_open(sp_tcp(sp, 0), &w.client) < 0)
		return -1;
	if (kw_tcp_connect(w.client, SP_ADDR1, port, sp->now) != -EINPROGRESS)
		return -1;
	if (!sp_run_while_not(sp, connected, &w, sp->now + SP_SEC(200)))
		return -1;
	*client = w.client;
	*server = w.server;
	if (listener)
		*listener = w.listener;
	else
		kw_tcp_close(w.listener, sp->now);
	return 0;
}

static uint16_t g16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool sp_parse(const uint8_t *f, size_t len, struct sp_frame *o)
{
	const uint8_t *ip, *t;
	size_t ihl, total, thl;

	memset(o, 0, sizeof(*o));
	if (len < 14)
		return false;
	o->ethertype = g16(f + 12);
	if (o->ethertype != 0x0800 || len < 34)
		return true;
	ip = f + 14;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	total = g16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < 20 || total < ihl || 14 + total > len)
		return true;
	o->ipv4 = true;
	o->ip_proto = ip[9];
	o->src = g32(ip + 12);
	o->dst = g32(ip + 16);
	if (o->ip_proto != 6 || total < ihl + 20)
		return true;
	t = ip + ihl;
	thl = (size_t)(t[12] >> 4) * 4;
	if (thl < 20 || ihl + thl > total)
		return true;
	o->tcp = true;
	o->sport = g16(t);
	o->dport = g16(t + 2);
	o->seq = g32(t + 4);
	o->ack = g32(t + 8);
	o->flags = t[13];
	o->win = g16(t + 14);
	o->dlen = total - ihl - thl;
	return true;
}
