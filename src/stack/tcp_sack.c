/* TCP selective acknowledgments.
 *
 * Receiver (RFC 2018, RFC 2883): while the out-of-order queue holds
 * anything, every ACK carries SACK blocks, up to 3 next to timestamps and
 * 4 without; the first is the block holding the segment that arrived
 * last (§4), then the others most recent first, as Linux orders its
 * selective_acks. A duplicate segment (below RCV.NXT, or held already)
 * is reported once as a D-SACK first block (RFC 2883 §4), followed by the
 * block that holds it when it lies above RCV.NXT. The blocks are computed
 * from the out-of-order queue when the ACK is built, so they never claim
 * bytes that are not held (and vanish as RCV.NXT passes them). */
#include "stack/tcp_internal.h"

#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* ---- receiver ---------------------------------------------------------- */

/* The contiguous run of out-of-order pieces that holds seq: false if none. */
static bool ooo_run(const struct kw_tcp *c, seq_t seq, seq_t *start, seq_t *end)
{
	const struct tcp_ooo *o;
	bool in = false;
	seq_t rs = 0, re = 0;

	for (o = c->ooo; o; o = o->next) {
		if (in && o->seq == re) {
			re = seq_add(o->seq, o->len);   /* adjacent: the run goes on */
			continue;
		}
		if (in && seq_geq(seq, rs) && seq_lt(seq, re))
			break;
		if (seq_gt(o->seq, seq))
			return false;
		rs = o->seq;
		re = seq_add(o->seq, o->len);
		in = true;
	}
	if (!in || !(seq_geq(seq, rs) && seq_lt(seq, re)))
		return false;
	*start = rs;
	*end = re;
	return true;
}

static void dsack_set(struct kw_tcp *c, seq_t start, seq_t end)
{
	if (!c->sack_ok || !seq_lt(start, end))
		return;
	c->sack_rcv.dsack = true;
	c->sack_rcv.dsack_start = start;
	c->sack_rcv.dsack_end = end;
}

void tcp_sack_rcv_dup(struct kw_tcp *c, seq_t seq, uint32_t len)
{
	const struct tcp_ooo *o;
	seq_t end = seq_add(seq, len), ds = 0, de = 0;
	bool any = false;

	if (!c->sack_ok || len == 0)
		return;
	/* The hull of the parts already held (Linux: tcp_dsack_set, then
	 * tcp_dsack_extend for each piece the new one covers). */
	for (o = c->ooo; o && seq_lt(o->seq, end); o = o->next) {
		seq_t os = seq_max(o->seq, seq), oe = seq_min(seq_add(o->seq, o->len), end);

		if (!seq_lt(os, oe))
			continue;
		if (!any)
			ds = os;
		de = oe;
		any = true;
	}
	if (any)
		dsack_set(c, ds, de);
}

void tcp_sack_rcv_old(struct kw_tcp *c, seq_t seq, uint32_t len)
{
	seq_t end = seq_add(seq, len);

	if (len == 0 || !seq_lt(seq, c->rcv_nxt))
		return;
	dsack_set(c, seq, seq_min(end, c->rcv_nxt));
}

/* Keys whose run is gone (passed by RCV.NXT, never held) or repeats an
 * earlier key's run drop out, so the slots name distinct blocks. */
static void keys_prune(struct kw_tcp *c)
{
	struct tcp_sack_rcv *r = &c->sack_rcv;
	seq_t rs[TCP_SACK_KEYS];
	uint8_t n = 0;

	for (uint8_t i = 0; i < r->nkeys; i++) {
		seq_t s, e;
		bool dup = false;

		if (!ooo_run(c, r->key[i], &s, &e))
			continue;
		for (uint8_t j = 0; j < n; j++)
			dup |= rs[j] == s;
		if (dup)
			continue;
		(void)e;
		rs[n] = s;
		r->key[n++] = r->key[i];
	}
	r->nkeys = n;
}

void tcp_sack_rcv_note(struct kw_tcp *c, seq_t seq)
{
	struct tcp_sack_rcv *r = &c->sack_rcv;

	if (!c->sack_ok)
		return;
	memmove(r->key + 1, r->key, sizeof(r->key[0]) * (TCP_SACK_KEYS - 1));
	r->key[0] = seq;
	if (r->nkeys < TCP_SACK_KEYS)
		r->nkeys++;
	keys_prune(c);
}

size_t tcp_sack_rcv_opts(struct kw_tcp *c, uint8_t *p, size_t room, bool *partial)
{
	struct tcp_sack_rcv *r = &c->sack_rcv;
	seq_t bs[4], be[4];
	unsigned n = 0, want = 0, max;

	*partial = false;
	if (!c->sack_ok || (!r->dsack && !c->ooo))
		return 0;
	if (r->dsack) {
		bs[n] = r->dsack_start;
		be[n++] = r->dsack_end;
	}
	if (c->ooo) {
		keys_prune(c);
		for (uint8_t i = 0; i < r->nkeys && n < 4; i++) {
			seq_t s, e;

			if (!ooo_run(c, r->key[i], &s, &e))
				continue;
			bs[n] = s;
			be[n++] = e;
		}
		if (n == 0 || (r->dsack && n == 1)) {
			/* No key names a block (the queue filled before SACK was
			 * noted): the lowest block, so the option is never empty. */
			bs[n] = c->ooo->seq;
			if (!ooo_run(c, c->ooo->seq, &bs[n], &be[n]))
				be[n] = seq_add(c->ooo->seq, c->ooo->len);
			n++;
		}
	}
	want = n;
	max = room >= 4 ? (unsigned)(room - 4) / 8 : 0;
	if (max > 4)
		max = 4;
	if (n > max)
		n = max;
	*partial = n < want;
	if (n == 0)
		return 0;
	p[0] = 1;
	p[1] = 1;
	p[2] = 5;
	p[3] = (uint8_t)(2 + 8 * n);
	for (unsigned i = 0; i < n; i++) {
		put32(p + 4 + 8 * i, bs[i]);
		put32(p + 8 + 8 * i, be[i]);
	}
	if (r->dsack)
		r->dsack = false;   /* reported once (RFC 2883 §4) */
	return 4 + 8 * (size_t)n;
}
