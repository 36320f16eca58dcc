/* TCP: connection lifecycle, tables, initial sequence numbers, ports, and
 * the socket-like calls of stack/tcp.h. */
#include "stack/tcp_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- ring buffer --------------------------------------------------------- */

int ring_init(struct ring *r, size_t cap)
{
	r->buf = malloc(cap);
	if (!r->buf)
		return -ENOMEM;
	r->cap = cap;
	r->head = r->len = 0;
	return 0;
}

void ring_free(struct ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->head = r->len = 0;
}

size_t ring_write(struct ring *r, const void *p, size_t n)
{
	const uint8_t *src = p;
	size_t tail, first;

	/* Buffers are allocated by the first byte that needs them, through
	 * tcp_ring_alloc (charged to the layer): an idle connection
	 * (keepalive only) never pays for its 2 x cap. */
	if (n == 0 || r->buf == NULL)
		return 0;
	if (n > ring_space(r))
		n = ring_space(r);
	tail = (r->head + r->len) % r->cap;
	first = r->cap - tail < n ? r->cap - tail : n;
	memcpy(r->buf + tail, src, first);
	memcpy(r->buf, src + first, n - first);
	r->len += n;
	return n;
}

void ring_peek(const struct ring *r, size_t off, void *p, size_t n)
{
	uint8_t *dst = p;
	size_t start, first;

	if (n == 0)
		return;                 /* the buffer may not exist yet */
	start = (r->head + off) % r->cap;
	first = r->cap - start < n ? r->cap - start : n;
	memcpy(dst, r->buf + start, first);
	memcpy(dst + first, r->buf, n - first);
}

void ring_drop(struct ring *r, size_t n)
{
	if (n > r->len)
		n = r->len;
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
}

static int ring_resize(struct kw_tcp *c, struct ring *r, size_t cap)
{
	struct ring nr;

	if (!r->buf) {
		r->cap = cap;
		return 0;
	}
	if (cap < r->len)
		cap = r->len;
	/* A buffer in use moves to one of the new size: charged first, and
	 * refused under pressure if it grows (Linux stops buffer growth). */
	if (!tcp_mem_charge(c->layer, cap, cap > r->cap))
		return -ENOMEM;
	if (ring_init(&nr, cap) < 0) {
		tcp_mem_uncharge(c->layer, cap);
		return -ENOMEM;
	}
	tcp_mem_uncharge(c->layer, r->cap);
	ring_peek(r, 0, nr.buf, r->len);
	nr.len = r->len;
	free(r->buf);
	*r = nr;
	return 0;
}

/* ---- memory accounting (the layer's cap) ----------------------------------- */

bool tcp_mem_charge(struct kw_tcp_layer *L, size_t n, bool optional)
{
	size_t cap = optional ? TCP_MEM_PRESSURE(L->mem_limit) : L->mem_limit;

	if (n > cap || L->mem_used > cap - n)
		return false;
	L->mem_used += n;
	return true;
}

void tcp_mem_uncharge(struct kw_tcp_layer *L, size_t n)
{
	L->mem_used = n > L->mem_used ? 0 : L->mem_used - n;
}

static unsigned ring_bit(const struct kw_tcp *c, const struct ring *r)
{
	return r == &c->snd ? TCP_MEM_SND : TCP_MEM_RCV;
}

int tcp_ring_alloc(struct kw_tcp *c, struct ring *r)
{
	struct kw_tcp_layer *L = c->layer;

	if (r->buf)
		return 0;
	if (!tcp_mem_charge(L, r->cap, false)) {
		L->stats.mem_drops++;
		return -ENOBUFS;
	}
	if (ring_init(r, r->cap) < 0) {
		tcp_mem_uncharge(L, r->cap);
		return -ENOBUFS;
	}
	c->mem_rings |= (uint8_t)ring_bit(c, r);
	return 0;
}

static void conn_ring_free(struct kw_tcp *c, struct ring *r)
{
	unsigned bit = ring_bit(c, r);

	if (r->buf && (c->mem_rings & bit))
		tcp_mem_uncharge(c->layer, r->cap);
	c->mem_rings &= (uint8_t)~bit;
	ring_free(r);
}

void tcp_mem_reclaim(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;

	if (L->mem_used <= TCP_MEM_PRESSURE(L->mem_limit))
		return;
	if (c->snd.buf && c->snd.len == 0)
		conn_ring_free(c, &c->snd);
	if (c->rcv.buf && c->rcv.len == 0)
		conn_ring_free(c, &c->rcv);
}

/* Whether the send ring has, or could get, room now. */
static size_t snd_room(const struct kw_tcp *c)
{
	const struct kw_tcp_layer *L = c->layer;

	if (!c->snd.buf && (c->snd.cap > L->mem_limit || L->mem_used > L->mem_limit - c->snd.cap))
		return 0;
	return ring_space(&c->snd);
}

/* ---- SipHash-2-4 (keyed hash for ISNs, ports and the tables) -------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

uint64_t tcp_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573);
	uint64_t b = (uint64_t)len << 56, m;
	size_t i;

	for (; len >= 8; len -= 8, p += 8) {
		m = 0;
		for (i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < len; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t key0(const struct kw_tcp_layer *L) { return L->env.seed; }
static uint64_t key1(const struct kw_tcp_layer *L)
{
	return L->env.seed * UINT64_C(0x9e3779b97f4a7c15) + UINT64_C(0x632be59bd9b4e019);
}

static uint64_t tuple_hash(const struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
			   uint32_t raddr, uint16_t rport, uint32_t salt)
{
	uint32_t t[4] = { laddr, raddr, (uint32_t)lport << 16 | rport, salt };
	return tcp_siphash(key0(L), key1(L), t, sizeof(t));
}

/* RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a 4 µs clock. */
seq_t tcp_isn(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
	      uint32_t raddr, uint16_t rport, uint64_t now_ns)
{
	return (seq_t)(tuple_hash(L, laddr, lport, raddr, rport, 0x15e) + now_ns / 4000);
}

/* RFC 7323 §7.1: a keyed hash per connection, so TSval says nothing of
 * uptime and differs between connections; with ts_seed, the same for a
 * 4-tuple from one stack to the next (stack.h). */
uint32_t tcp_ts_offset(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
		       uint32_t raddr, uint16_t rport)
{
	uint64_t k = L->env.ts_seed;
	uint32_t t[4] = { laddr, raddr, (uint32_t)lport << 16 | rport, 0x7323 };

	if (k == 0)
		return (uint32_t)tuple_hash(L, laddr, lport, raddr, rport, 0x7323);
	return (uint32_t)tcp_siphash(k, k * UINT64_C(0x9e3779b97f4a7c15) + 1, t, sizeof(t));
}

/* ---- tables ---------------------------------------------------------------- */

static size_t bucket(const struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
		     uint32_t raddr, uint16_t rport)
{
	return (size_t)tuple_hash(L, laddr, lport, raddr, rport, 0x7ab) & (L->conns.nb - 1);
}

struct kw_tcp *tcp_lookup(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
			  uint32_t raddr, uint16_t rport)
{
	struct kw_tcp *c = L->conns.b[bucket(L, laddr, lport, raddr, rport)];

	for (; c; c = c->hnext)
		if (c->lport == lport && c->rport == rport && c->raddr == raddr &&
		    c->laddr == laddr)
			return c;
	return NULL;
}

static void table_grow(struct kw_tcp_layer *L)
{
	size_t nb = L->conns.nb * 2, i;
	struct kw_tcp **b = calloc(nb, sizeof(*b)), **old = L->conns.b;
	size_t oldnb = L->conns.nb;

	if (!b)
		return;         /* longer chains, still correct */
	L->conns.b = b;
	L->conns.nb = nb;
	for (i = 0; i < oldnb; i++) {
		struct kw_tcp *c = old[i], *next;
		for (; c; c = next) {
			size_t k = bucket(L, c->laddr, c->lport, c->raddr, c->rport);
			next = c->hnext;
			c->hnext = b[k];
			b[k] = c;
		}
	}
	free(old);
}

int tcp_table_insert(struct kw_tcp_layer *L, struct kw_tcp *c)
{
	size_t k;

	if (tcp_lookup(L, c->laddr, c->lport, c->raddr, c->rport))
		return -EADDRINUSE;
	/* At most one connection per two buckets: a lookup costs a cache miss
	 * per chain link (docs/BENCHMARKS.md, "Scale"). */
	if (2 * L->conns.n >= L->conns.nb)
		table_grow(L);
	k = bucket(L, c->laddr, c->lport, c->raddr, c->rport);
	c->hnext = L->conns.b[k];
	L->conns.b[k] = c;
	L->conns.n++;
	c->in_conn_table = true;
	return 0;
}

void tcp_table_remove(struct kw_tcp_layer *L, struct kw_tcp *c)
{
	struct kw_tcp **pp;

	if (c->in_conn_table) {
		pp = &L->conns.b[bucket(L, c->laddr, c->lport, c->raddr, c->rport)];
		for (; *pp; pp = &(*pp)->hnext)
			if (*pp == c) {
				*pp = c->hnext;
				L->conns.n--;
				break;
			}
		c->in_conn_table = false;
	}
	if (c->in_listen_table) {
		pp = &L->listeners[c->lport & 255];
		for (; *pp; pp = &(*pp)->hnext)
			if (*pp == c) {
				*pp = c->hnext;
				break;
			}
		c->in_listen_table = false;
	}
	c->hnext = NULL;
}

struct kw_tcp *tcp_lookup_listener(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport)
{
	struct kw_tcp *c = L->listeners[lport & 255];

	for (; c; c = c->hnext)
		if (c->lport == lport && (c->laddr == 0 || c->laddr == laddr))
			return c;
	return NULL;
}

static bool listener_matches(const struct kw_tcp *c, uint32_t laddr, uint16_t lport, bool exact)
{
	return c->lport == lport && (exact ? laddr != 0 && c->laddr == laddr : c->laddr == 0);
}

/* The listener a new connection from raddr:rport goes to. A listener on
 * the exact address wins over one on INADDR_ANY (as Linux scores them);
 * within an SO_REUSEPORT group, the 4-tuple's keyed hash picks one, so
 * every segment of one handshake finds the same listener. */
struct kw_tcp *tcp_select_listener(struct kw_tcp_layer *L, uint32_t laddr, uint16_t lport,
				   uint32_t raddr, uint16_t rport)
{
	struct kw_tcp *head = L->listeners[lport & 255], *c, *first;

	for (int exact = 1; exact >= 0; exact--) {
		uint32_t n = 0, want, i = 0;

		first = NULL;
		for (c = head; c; c = c->hnext)
			if (listener_matches(c, laddr, lport, exact)) {
				first = first ? first : c;
				n++;
			}
		if (n <= 1) {
			if (first)
				return first;
			continue;
		}
		want = (uint32_t)(tuple_hash(L, laddr, lport, raddr, rport, 0x5e) % n);
		for (c = head; c; c = c->hnext)
			if (listener_matches(c, laddr, lport, exact) && i++ == want)
				return c;
	}
	return NULL;
}

/* A socket that is bound and not yet connected or listening holds its port
 * too; connected sockets and TIME-WAIT do not block a bind (as with
 * SO_REUSEADDR, which servers set). Two sockets that both asked for
 * SO_REUSEPORT share a port. */
static bool port_taken(struct kw_tcp_layer *L, uint16_t port, const struct kw_tcp *self)
{
	struct kw_tcp *c;

	for (c = L->listeners[port & 255]; c; c = c->hnext)
		if (c != self && c->lport == port && !(self->reuseport && c->reuseport))
			return true;
	for (c = L->all; c; c = c->all_next)
		if (c != self && c->bound && c->lport == port && c->state == KW_TCP_CLOSED &&
		    !c->was_connected && c->user_ref && !(self->reuseport && c->reuseport))
			return true;
	return false;
}

/* ---- lifecycle ------------------------------------------------------------- */

static void list_append(struct kw_tcp **head, struct kw_tcp **tail, struct kw_tcp *c)
{
	c->qnext = NULL;
	c->qprev = *tail;
	if (*tail)
		(*tail)->qnext = c;
	else
		*head = c;
	*tail = c;
}

static void list_remove(struct kw_tcp **head, struct kw_tcp **tail, struct kw_tcp *c)
{
	if (c->qprev)
		c->qprev->qnext = c->qnext;
	else
		*head = c->qnext;
	if (c->qnext)
		c->qnext->qprev = c->qprev;
	else
		*tail = c->qprev;
	c->qnext = c->qprev = NULL;
}

struct kw_tcp *tcp_conn_new(struct kw_tcp_layer *L)
{
	struct kw_tcp *c;

	if (!tcp_mem_charge(L, sizeof(*c), false)) {
		L->stats.mem_drops++;   /* at the cap: no new connection */
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		tcp_mem_uncharge(L, sizeof(*c));
		return NULL;
	}
	c->layer = L;
	c->state = KW_TCP_CLOSED;
	c->snd.cap = TCP_BUF_DEFAULT;
	c->rcv.cap = TCP_BUF_DEFAULT;
	c->rto = TCP_RTO_INITIAL;
	c->rtx_at = c->delack_at = c->ka_at = c->tw_at = KW_TIME_NEVER;
	c->mss = TCP_DEFAULT_MSS;
	kw_timer_init(&c->timer, tcp_timer_fire, c);
	c->all_next = L->all;
	if (L->all)
		L->all->all_prev = c;
	L->all = c;
	return c;
}

/* The rings themselves come with the first byte (ring_write); what the
 * handshake needs is the window scale their size implies. */
static int alloc_buffers(struct kw_tcp *c)
{
	for (c->rcv_wscale = 0; c->rcv_wscale < TCP_MAX_WSCALE &&
	     ((size_t)65535 << c->rcv_wscale) < c->rcv.cap; c->rcv_wscale++)
		;
	return 0;
}

static void free_conn(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;
	struct tcp_ooo *o, *next;

	if (c->ack_batched)
		for (unsigned i = 0; i < L->n_batched; i++)
			if (L->batched[i] == c)
				L->batched[i] = NULL;

	kw_timer_cancel(&L->timers, &c->timer);
	tcp_table_remove(L, c);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		L->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	for (o = c->ooo; o; o = next) {
		next = o->next;
		tcp_mem_uncharge(L, sizeof(*o) + o->len);
		free(o);
	}
	conn_ring_free(c, &c->snd);
	conn_ring_free(c, &c->rcv);
	tcp_mem_uncharge(L, sizeof(*c));
	free(c);
}

static void flush_dead(struct kw_tcp_layer *L)
{
	while (L->ndead)
		free_conn(L->dead[--L->ndead]);
}

void tcp_maybe_free(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;

	if (c->dead || c->user_ref || c->parent || c->state != KW_TCP_CLOSED)
		return;
	if (L->ndead == L->capdead) {
		size_t cap = L->capdead ? 2 * L->capdead : 16;
		struct kw_tcp **d = realloc(L->dead, cap * sizeof(*d));
		if (!d) {
			/* Not inside a callback chain that could still touch c
			 * when depth is 0; otherwise leak rather than crash. */
			if (L->depth == 0)
				free_conn(c);
			return;
		}
		L->dead = d;
		L->capdead = cap;
	}
	c->dead = true;
	L->dead[L->ndead++] = c;
}

static void enter(struct kw_tcp_layer *L) { L->depth++; }
static void leave(struct kw_tcp_layer *L)
{
	if (--L->depth == 0)
		flush_dead(L);
}

void tcp_notify(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;

	if (!L->env.notify)
		return;
	if (c->user_ref)
		L->env.notify(L->env.ctx, c);
	else if (c->parent && c->parent->user_ref)
		L->env.notify(L->env.ctx, c->parent);
}

void tcp_set_state(struct kw_tcp *c, enum kw_tcp_state st)
{
	c->state = st;
	if (st == KW_TCP_ESTABLISHED)
		c->was_connected = true;
	tcp_ka_update(c);
	tcp_notify(c);
}

static void detach_from_parent(struct kw_tcp *c)
{
	struct kw_tcp *p = c->parent;

	if (!p)
		return;
	if (c->in_acceptq) {
		list_remove(&p->acc_head, &p->acc_tail, c);
		p->n_accept--;
	} else {
		list_remove(&p->syn_head, &p->syn_tail, c);
		p->n_syn--;
	}
	c->in_acceptq = false;
	c->parent = NULL;
}

void tcp_set_closed(struct kw_tcp *c, int err)
{
	struct kw_tcp_layer *L = c->layer;

	tcp_table_remove(L, c);
	keepalive_close(&c->ka);
	c->rtx_at = c->delack_at = c->ka_at = c->tw_at = KW_TIME_NEVER;
	kw_timer_cancel(&L->timers, &c->timer);
	c->state = KW_TCP_CLOSED;
	/* In-order bytes already received stay readable: Linux's tcp_reset()
	 * and tcp_done() leave the receive queue alone, so recv returns them
	 * before the error. The ring goes when the block is freed. */
	if (err)
		c->error = c->fatal = err;
	if (c->parent) {
		struct kw_tcp *p = c->parent;
		detach_from_parent(c);
		(void)p;
	}
	tcp_notify(c);
	tcp_maybe_free(c);
}

void tcp_child_established(struct kw_tcp *c)
{
	struct kw_tcp *p = c->parent;

	if (!p || c->in_acceptq)
		return;
	list_remove(&p->syn_head, &p->syn_tail, c);
	p->n_syn--;
	list_append(&p->acc_head, &p->acc_tail, c);
	p->n_accept++;
	c->in_acceptq = true;
	tcp_notify(p);
}

void tcp_enter_time_wait(struct kw_tcp *c, uint64_t now_ns)
{
	c->rtx_at = c->delack_at = c->ka_at = KW_TIME_NEVER;
	keepalive_close(&c->ka);
	c->tw_at = now_ns + 2 * c->layer->msl_ns;
	c->state = KW_TCP_TIME_WAIT;
	/* Everything we sent is acknowledged and nothing more can arrive: a
	 * connection waiting out 2*MSL keeps no buffers, only what it needs to
	 * answer a retransmitted FIN. Bytes the program has not read stay. */
	conn_ring_free(c, &c->snd);
	if (c->rcv.len == 0 || !c->user_ref)
		conn_ring_free(c, &c->rcv);
	tcp_timer_update(c);
	tcp_notify(c);
}

/* ---- the layer ------------------------------------------------------------- */

struct kw_tcp_layer *kw_tcp_layer_create(const struct kw_tcp_env *env)
{
	struct kw_tcp_layer *L;

	if (!env || !env->ip_output)
		return NULL;
	L = calloc(1, sizeof(*L));
	if (!L)
		return NULL;
	L->env = *env;
	if (L->env.mss < 64)
		L->env.mss = TCP_DEFAULT_MSS;
	L->msl_ns = TCP_MSL_DEFAULT;
	L->mem_limit = KW_TCP_MEM_DEFAULT;
	L->conns.nb = 1024;
	L->conns.b = calloc(L->conns.nb, sizeof(*L->conns.b));
	if (!L->env.ip_output_offload || L->env.gso_max < L->env.mss)
		L->env.gso_max = 0;
	if (L->env.gso_max > TCP_GSO_MAX)
		L->env.gso_max = TCP_GSO_MAX;
	L->txcap = 60 + (size_t)(L->env.gso_max > L->env.mss ? L->env.gso_max : L->env.mss);
	L->txbuf = malloc(L->txcap);
	L->ephemeral_next = (uint32_t)tcp_siphash(key0(L), key1(L), "port", 4);
	kw_timer_heap_init(&L->timers);
	if (!L->conns.b || !L->txbuf) {
		free(L->conns.b);
		free(L->txbuf);
		free(L);
		return NULL;
	}
	return L;
}

void kw_tcp_layer_destroy(struct kw_tcp_layer *L)
{
	if (!L)
		return;
	flush_dead(L);
	while (L->all)
		free_conn(L->all);
	kw_timer_heap_fini(&L->timers);
	free(L->conns.b);
	free(L->txbuf);
	free(L->dead);
	free(L);
}

void kw_tcp_layer_set_msl(struct kw_tcp_layer *L, uint64_t msl_ns)
{
	L->msl_ns = msl_ns;
}

uint64_t kw_tcp_layer_poll(struct kw_tcp_layer *L, uint64_t now_ns)
{
	enter(L);
	kw_timer_heap_run(&L->timers, now_ns);
	leave(L);
	return kw_timer_heap_next(&L->timers);
}

uint64_t kw_tcp_layer_next_deadline(const struct kw_tcp_layer *L)
{
	return kw_timer_heap_next(&L->timers);
}

void kw_tcp_layer_stats(const struct kw_tcp_layer *L, struct kw_tcp_stats *out)
{
	*out = L->stats;
	out->mem_in_use = L->mem_used;
	out->mem_limit = L->mem_limit;
}

void kw_tcp_layer_set_mem_limit(struct kw_tcp_layer *L, size_t bytes)
{
	L->mem_limit = bytes ? bytes : KW_TCP_MEM_DEFAULT;
}

size_t kw_tcp_layer_count(const struct kw_tcp_layer *L)
{
	size_t n = 0;
	for (const struct kw_tcp *c = L->all; c; c = c->all_next)
		n++;
	return n;
}

size_t kw_tcp_layer_unfinished(const struct kw_tcp_layer *L)
{
	size_t n = 0;

	for (const struct kw_tcp *c = L->all; c; c = c->all_next) {
		switch (c->state) {
		case KW_TCP_SYN_SENT:
		case KW_TCP_SYN_RECEIVED:
		case KW_TCP_ESTABLISHED:
		case KW_TCP_CLOSE_WAIT:
		case KW_TCP_FIN_WAIT_1:
		case KW_TCP_CLOSING:
		case KW_TCP_LAST_ACK:
			if (!c->dead)
				n++;
			break;
		default:
			break;
		}
	}
	return n;
}

/* Entry points of tcp_input.c, wrapped for deferred freeing. */

void kw_tcp_input(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
		  const void *segment, size_t len, uint64_t now_ns)
{
	enter(L);
	tcp_input_segment(L, src, dst, segment, len, false, now_ns);
	leave(L);
}

void kw_tcp_input_csum_ok(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			  const void *segment, size_t len, uint64_t now_ns)
{
	enter(L);
	tcp_input_segment(L, src, dst, segment, len, true, now_ns);
	leave(L);
}

void kw_tcp_icmp_unreachable(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			     const void *quoted_tcp, size_t len, int code, uint64_t now_ns)
{
	enter(L);
	tcp_icmp_unreachable(L, src, dst, quoted_tcp, len, code, now_ns);
	leave(L);
}

void kw_tcp_icmp_frag_needed(struct kw_tcp_layer *L, uint32_t src, uint32_t dst,
			     const void *quoted_tcp, size_t len, uint32_t mtu, uint64_t now_ns)
{
	enter(L);
	tcp_icmp_frag_needed(L, src, dst, quoted_tcp, len, mtu, now_ns);
	leave(L);
}

/* ---- socket-like calls ------------------------------------------------------ */

int kw_tcp_open(struct kw_tcp_layer *L, struct kw_tcp **out)
{
	struct kw_tcp *c = tcp_conn_new(L);

	if (!c)
		return -ENOMEM;
	c->user_ref = true;
	*out = c;
	return 0;
}

int kw_tcp_bind(struct kw_tcp *c, uint32_t addr, uint16_t port)
{
	struct kw_tcp_layer *L = c->layer;

	if (c->state != KW_TCP_CLOSED || c->bound || c->was_connected)
		return -EINVAL;
	if (addr != 0 && addr != L->env.local_addr)
		return -EADDRNOTAVAIL;
	if (port == 0) {
		/* Pick a free port now, as bind(0) does. */
		uint32_t n = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1, i;
		for (i = 0; i < n; i++) {
			uint16_t p = (uint16_t)(TCP_EPHEMERAL_LO + (L->ephemeral_next++ % n));
			if (!port_taken(L, p, c)) {
				port = p;
				break;
			}
		}
		if (port == 0)
			return -EADDRINUSE;
	} else if (port_taken(L, port, c)) {
		return -EADDRINUSE;
	}
	c->laddr = addr;
	c->lport = port;
	c->bound = true;
	return 0;
}

int kw_tcp_listen(struct kw_tcp *c, int backlog)
{
	struct kw_tcp_layer *L = c->layer;
	struct kw_tcp **slot;

	if (backlog < 1)
		backlog = 1;
	if (backlog > 4096)
		backlog = 4096;
	if (c->state == KW_TCP_LISTEN) {
		c->backlog = backlog;
		return 0;
	}
	if (c->state != KW_TCP_CLOSED || c->was_connected)
		return -EINVAL;
	if (!c->bound) {
		int r = kw_tcp_bind(c, 0, 0);
		if (r < 0)
			return r;
	}
	c->backlog = backlog;
	slot = &L->listeners[c->lport & 255];
	c->hnext = *slot;
	*slot = c;
	c->in_listen_table = true;
	c->state = KW_TCP_LISTEN;
	return 0;
}

int kw_tcp_accept(struct kw_tcp *l, struct kw_tcp **out)
{
	struct kw_tcp *c;

	if (l->state != KW_TCP_LISTEN)
		return -EINVAL;
	c = l->acc_head;
	if (!c)
		return -EAGAIN;
	detach_from_parent(c);
	c->user_ref = true;
	*out = c;
	return 0;
}

/* RFC 6056 algorithm 3: a keyed offset per destination plus a counter. */
static int pick_ephemeral(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;
	uint32_t n = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1;
	uint32_t off = (uint32_t)tuple_hash(L, c->laddr, 0, c->raddr, c->rport, 0xe9);

	for (uint32_t i = 0; i < n; i++) {
		uint16_t p = (uint16_t)(TCP_EPHEMERAL_LO + (off + L->ephemeral_next + i) % n);
		if (tcp_lookup_listener(L, c->laddr, p) ||
		    tcp_lookup(L, c->laddr, p, c->raddr, c->rport))
			continue;
		L->ephemeral_next += i + 1;
		c->lport = p;
		return 0;
	}
	return -EADDRNOTAVAIL;
}

int kw_tcp_connect(struct kw_tcp *c, uint32_t addr, uint16_t port, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;
	int r;

	switch (c->state) {
	case KW_TCP_CLOSED:
		break;
	case KW_TCP_SYN_SENT:
	case KW_TCP_SYN_RECEIVED:
		return -EALREADY;
	case KW_TCP_LISTEN:
		return -EINVAL;
	default:
		return -EISCONN;
	}
	if (c->was_connected || c->fatal)
		return c->fatal ? -c->fatal : -EISCONN;
	if (port == 0 || addr == 0)
		return -EINVAL;
	if (L->env.reachable != NULL && !L->env.reachable(L->env.ctx, addr))
		return -ENETUNREACH;
	enter(L);
	c->laddr = L->env.local_addr;
	c->raddr = addr;
	c->rport = port;
	if (!c->bound || c->lport == 0) {
		r = pick_ephemeral(c);
		if (r < 0)
			goto out;
		c->bound = true;
	}
	r = alloc_buffers(c);
	if (r < 0)
		goto out;
	r = tcp_table_insert(L, c);
	if (r < 0) {
		r = -EADDRNOTAVAIL;
		goto out;
	}
	c->iss = tcp_isn(L, c->laddr, c->lport, c->raddr, c->rport, now_ns);
	c->ts_offset = tcp_ts_offset(L, c->laddr, c->lport, c->raddr, c->rport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->mss = L->env.mss;
	c->cwnd = 10 * (uint32_t)c->mss;         /* RFC 6928 */
	c->ssthresh = UINT32_MAX;
	c->recover = c->iss;
	c->state = KW_TCP_SYN_SENT;
	tcp_send_syn(c, now_ns);
	tcp_rtx_arm(c, now_ns);
	r = -EINPROGRESS;
out:
	leave(L);
	return r;
}

ssize_t kw_tcp_send(struct kw_tcp *c, const void *buf, size_t len, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;
	size_t n;

	if (c->fatal)
		return -c->fatal;
	switch (c->state) {
	case KW_TCP_ESTABLISHED:
	case KW_TCP_CLOSE_WAIT:
		break;
	case KW_TCP_SYN_SENT:
	case KW_TCP_SYN_RECEIVED:
		return -EAGAIN;
	case KW_TCP_CLOSED:
	case KW_TCP_LISTEN:
		return c->was_connected ? -EPIPE : -ENOTCONN;
	default:
		return -EPIPE;
	}
	if (c->wr_shut)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (tcp_ring_alloc(c, &c->snd) < 0)
		return -EAGAIN;         /* at the cap (kw_tcp_send_space() says 0) */
	n = ring_write(&c->snd, buf, len);
	if (n == 0)
		return -EAGAIN;
	enter(L);
	tcp_output(c, now_ns);
	leave(L);
	return (ssize_t)n;
}

/* What recv would return when no byte is buffered: 0 (EOF), -error or
 * -EAGAIN; 1 means bytes are there. */
static ssize_t recv_empty_result(const struct kw_tcp *c)
{
	if (c->rcv.len != 0)
		return 1;
	/* The peer's FIN ends the stream even if an error came after it:
	 * Linux's tcp_recvmsg() tests SOCK_DONE before sk_err (a RST in
	 * CLOSE-WAIT reads as EOF; SO_ERROR and send report EPIPE). */
	if (c->fin_received)
		return 0;
	if (c->fatal)
		return -c->fatal;
	if (c->rd_shut)
		return 0;
	switch (c->state) {
	case KW_TCP_ESTABLISHED:
	case KW_TCP_FIN_WAIT_1:
	case KW_TCP_FIN_WAIT_2:
	case KW_TCP_SYN_SENT:
	case KW_TCP_SYN_RECEIVED:
		return -EAGAIN;
	default:
		return c->was_connected ? 0 : -ENOTCONN;
	}
}

ssize_t kw_tcp_peek(const struct kw_tcp *c, void *buf, size_t len)
{
	struct iovec iov[2];
	ssize_t n = kw_tcp_peek_iov(c, iov, len);

	for (int i = 0, off = 0; i < 2 && n > 0; off += (int)iov[i].iov_len, i++)
		if (iov[i].iov_len)
			memcpy((char *)buf + off, iov[i].iov_base, iov[i].iov_len);
	return n;
}

ssize_t kw_tcp_peek_iov(const struct kw_tcp *c, struct iovec iov[2], size_t len)
{
	ssize_t r = recv_empty_result(c);
	size_t n, first;

	iov[0].iov_len = iov[1].iov_len = 0;
	if (r <= 0 || len == 0)
		return r < 0 ? r : 0;
	n = len < c->rcv.len ? len : c->rcv.len;
	first = c->rcv.cap - c->rcv.head < n ? c->rcv.cap - c->rcv.head : n;
	iov[0].iov_base = c->rcv.buf + c->rcv.head;
	iov[0].iov_len = first;
	iov[1].iov_base = c->rcv.buf;
	iov[1].iov_len = n - first;
	return (ssize_t)n;
}

void kw_tcp_consume(struct kw_tcp *c, size_t n, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;
	uint32_t before, after;

	if (n > c->rcv.len)
		n = c->rcv.len;
	if (n == 0)
		return;
	before = (uint32_t)seq_diff(c->rcv_adv, c->rcv_nxt);
	ring_drop(&c->rcv, n);
	tcp_mem_reclaim(c);
	/* Window update when the window opened by a useful amount (RFC 9293
	 * §3.8.6.2.2, receiver-side SWS avoidance): 2 MSS, or half the
	 * buffer. (Linux waits until the window doubles from half the buffer
	 * or less; tried here, it cost the kernel senders behind a lossy
	 * link retransmission timeouts in most 64 MiB transfers at 2 %.) */
	after = (uint32_t)ring_space(&c->rcv);
	/* An ACK waiting for the batch's end will carry the window: no
	 * second frame for it. */
	if (c->ack_batched && c->delack_segs >= 2)
		return;
	if (c->state != KW_TCP_CLOSED && c->state != KW_TCP_TIME_WAIT && !c->fin_received &&
	    after > before && (after - before >= 2u * c->mss || after - before >= c->rcv.cap / 2)) {
		enter(L);
		tcp_send_ack(c, now_ns);
		leave(L);
	}
}

ssize_t kw_tcp_recv(struct kw_tcp *c, void *buf, size_t len, uint64_t now_ns)
{
	ssize_t n = kw_tcp_peek(c, buf, len);

	if (n > 0)
		kw_tcp_consume(c, (size_t)n, now_ns);
	return n;
}

size_t kw_tcp_send_space(const struct kw_tcp *c)
{
	if (c->fatal || c->wr_shut)
		return 0;
	if (c->state != KW_TCP_ESTABLISHED && c->state != KW_TCP_CLOSE_WAIT)
		return 0;
	return snd_room(c);
}

int kw_tcp_shutdown(struct kw_tcp *c, int how, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	switch (c->state) {
	case KW_TCP_CLOSED:
	case KW_TCP_LISTEN:
		if (c->fatal && c->was_connected)
			return 0;
		return -ENOTCONN;
	default:
		break;
	}
	if (how == SHUT_RD || how == SHUT_RDWR)
		c->rd_shut = true;
	if ((how == SHUT_WR || how == SHUT_RDWR) && !c->wr_shut) {
		enter(L);
		c->wr_shut = true;
		switch (c->state) {
		case KW_TCP_SYN_SENT:
			tcp_set_closed(c, 0);
			break;
		case KW_TCP_SYN_RECEIVED:
		case KW_TCP_ESTABLISHED:
			c->fin_queued = true;
			tcp_set_state(c, KW_TCP_FIN_WAIT_1);
			tcp_output(c, now_ns);
			break;
		case KW_TCP_CLOSE_WAIT:
			c->fin_queued = true;
			tcp_set_state(c, KW_TCP_LAST_ACK);
			tcp_output(c, now_ns);
			break;
		default:
			break;
		}
		leave(L);
	}
	tcp_notify(c);
	return 0;
}

static void close_listener(struct kw_tcp *l, uint64_t now_ns)
{
	tcp_table_remove(l->layer, l);
	while (l->syn_head || l->acc_head) {
		struct kw_tcp *ch = l->acc_head ? l->acc_head : l->syn_head;
		detach_from_parent(ch);
		tcp_send_rst(ch, now_ns);
		tcp_set_closed(ch, 0);
	}
	l->state = KW_TCP_CLOSED;
}

void kw_tcp_close(struct kw_tcp *c, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;

	if (!c->user_ref)
		return;
	enter(L);
	c->user_ref = false;
	c->user = NULL;
	switch (c->state) {
	case KW_TCP_LISTEN:
		close_listener(c, now_ns);
		break;
	case KW_TCP_CLOSED:
	case KW_TCP_SYN_SENT:
		tcp_set_closed(c, 0);
		break;
	case KW_TCP_SYN_RECEIVED:
	case KW_TCP_ESTABLISHED:
	case KW_TCP_CLOSE_WAIT:
		if (c->rcv.len > 0) {
			/* Unread data: reset, as Linux does (RFC 2525 §2.17). */
			tcp_send_rst(c, now_ns);
			tcp_set_closed(c, 0);
			break;
		}
		c->rd_shut = true;
		kw_tcp_shutdown(c, SHUT_WR, now_ns);
		break;
	case KW_TCP_FIN_WAIT_2:
		c->tw_at = now_ns + TCP_FIN_TIMEOUT;
		tcp_timer_update(c);
		break;
	default:
		break;
	}
	c->rd_shut = true;
	if (c->state == KW_TCP_FIN_WAIT_1 || c->state == KW_TCP_FIN_WAIT_2)
		c->orphan_fin_wait2 = true;
	tcp_maybe_free(c);
	leave(L);
}

void kw_tcp_abort(struct kw_tcp *c, uint64_t now_ns)
{
	struct kw_tcp_layer *L = c->layer;

	enter(L);
	c->user_ref = false;
	c->user = NULL;
	switch (c->state) {
	case KW_TCP_LISTEN:
		close_listener(c, now_ns);
		break;
	case KW_TCP_SYN_RECEIVED:
	case KW_TCP_ESTABLISHED:
	case KW_TCP_FIN_WAIT_1:
	case KW_TCP_FIN_WAIT_2:
	case KW_TCP_CLOSE_WAIT:
		tcp_send_rst(c, now_ns);
		/* fall through */
	default:
		tcp_set_closed(c, 0);
		break;
	}
	tcp_maybe_free(c);
	leave(L);
}

unsigned kw_tcp_events(const struct kw_tcp *c)
{
	unsigned ev = 0;

	if (c->state == KW_TCP_LISTEN)
		return c->acc_head ? KW_TCP_READABLE : 0;
	if (c->rcv.len > 0 || c->fin_received || c->fatal || c->rd_shut)
		ev |= KW_TCP_READABLE;
	if (c->fatal)
		ev |= KW_TCP_WRITABLE;
	else if ((c->state == KW_TCP_ESTABLISHED || c->state == KW_TCP_CLOSE_WAIT) &&
		 !c->wr_shut && snd_room(c) > 0)
		ev |= KW_TCP_WRITABLE;
	if (c->error)
		ev |= KW_TCP_ERROR;
	if (c->fin_received)
		ev |= KW_TCP_RDHUP;
	if ((c->state == KW_TCP_CLOSED && (c->was_connected || c->fatal)) ||
	    ((c->fin_received || c->rd_shut) && c->wr_shut))
		ev |= KW_TCP_HUP;
	return ev;
}

int kw_tcp_take_error(struct kw_tcp *c)
{
	int e = c->error;
	c->error = 0;
	return e;
}

enum kw_tcp_state kw_tcp_state(const struct kw_tcp *c)
{
	return c->state;
}

const char *kw_tcp_state_name(enum kw_tcp_state st)
{
	static const char *const names[] = {
		"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
		"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK",
		"TIME-WAIT",
	};
	if ((unsigned)st >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[st];
}

void kw_tcp_local(const struct kw_tcp *c, uint32_t *addr, uint16_t *port)
{
	*addr = c->laddr;
	*port = c->lport;
}

void kw_tcp_remote(const struct kw_tcp *c, uint32_t *addr, uint16_t *port)
{
	*addr = c->raddr;
	*port = c->rport;
}

int kw_tcp_set_keepalive(struct kw_tcp *c, bool on, const struct keepalive_config *cfg,
			 uint64_t now_ns)
{
	if (on) {
		if (cfg) {
			if (cfg->count < 1 || cfg->idle_ns == 0 || cfg->interval_ns == 0)
				return -EINVAL;
			c->ka_cfg = *cfg;
		} else if (c->ka_cfg.count == 0) {
			/* Linux defaults: 7200 s, 75 s, 9. */
			c->ka_cfg.idle_ns = 7200 * KW_NS_PER_S;
			c->ka_cfg.interval_ns = 75 * KW_NS_PER_S;
			c->ka_cfg.count = 9;
		}
		if (!c->ka_on || cfg) {
			/* Anchor at now, as Linux re-arms on setsockopt. */
			keepalive_start(&c->ka, now_ns);
		}
		c->ka_on = true;
	} else {
		if (cfg)
			c->ka_cfg = *cfg;
		c->ka_on = false;
		keepalive_close(&c->ka);
	}
	tcp_ka_update(c);
	return 0;
}

bool kw_tcp_get_keepalive(const struct kw_tcp *c, struct keepalive_config *cfg)
{
	if (cfg)
		*cfg = c->ka_cfg;
	return c->ka_on;
}

int kw_tcp_set_nodelay(struct kw_tcp *c, bool on)
{
	c->nodelay = on;
	return 0;
}

int kw_tcp_set_reuseport(struct kw_tcp *c, bool on)
{
	c->reuseport = on;
	return 0;
}

bool kw_tcp_get_reuseport(const struct kw_tcp *c)
{
	return c->reuseport;
}

int kw_tcp_set_buffers(struct kw_tcp *c, size_t sndbuf, size_t rcvbuf)
{
	if (sndbuf) {
		sndbuf = sndbuf < TCP_BUF_MIN ? TCP_BUF_MIN : sndbuf > TCP_BUF_MAX ? TCP_BUF_MAX : sndbuf;
		if (ring_resize(c, &c->snd, sndbuf) < 0)
			return -ENOMEM;
	}
	if (rcvbuf) {
		rcvbuf = rcvbuf < TCP_BUF_MIN ? TCP_BUF_MIN : rcvbuf > TCP_BUF_MAX ? TCP_BUF_MAX : rcvbuf;
		/* Never below what is buffered or already advertised. */
		if (c->state != KW_TCP_CLOSED && c->state != KW_TCP_LISTEN) {
			size_t adv = c->rcv.len + (size_t)(uint32_t)seq_diff(c->rcv_adv, c->rcv_nxt);
			if (rcvbuf < adv)
				rcvbuf = adv;
		}
		if (ring_resize(c, &c->rcv, rcvbuf) < 0)
			return -ENOMEM;
	}
	return 0;
}

void kw_tcp_set_user(struct kw_tcp *c, void *user) { c->user = user; }
void *kw_tcp_user(const struct kw_tcp *c) { return c->user; }

/* For tcp_input.c: a child for a SYN that reached a listener. */
struct kw_tcp *tcp_child_new(struct kw_tcp *l, uint32_t laddr, uint32_t raddr,
			     uint16_t rport, uint64_t now_ns)
{
	struct kw_tcp_layer *L = l->layer;
	struct kw_tcp *c;

	/* Accept queue full: drop (the SYN queue is the caller's: when it is
	 * full, a SYN is answered with a cookie, tcp_input.c). */
	if (l->n_accept >= (unsigned)l->backlog)
		return NULL;
	c = tcp_conn_new(L);
	if (!c)
		return NULL;
	c->snd.cap = l->snd.cap;
	c->rcv.cap = l->rcv.cap;
	c->nodelay = l->nodelay;
	c->ka_on = l->ka_on;
	c->ka_cfg = l->ka_cfg;
	c->user_timeout = l->user_timeout;
	c->laddr = laddr;
	c->lport = l->lport;
	c->raddr = raddr;
	c->rport = rport;
	c->bound = true;
	if (alloc_buffers(c) < 0 || tcp_table_insert(L, c) < 0) {
		free_conn(c);
		return NULL;
	}
	c->iss = tcp_isn(L, laddr, c->lport, raddr, rport, now_ns);
	c->ts_offset = tcp_ts_offset(L, laddr, c->lport, raddr, rport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->recover = c->iss;
	c->mss = L->env.mss;
	c->cwnd = 10 * (uint32_t)c->mss;
	c->ssthresh = UINT32_MAX;
	if (c->ka_on)
		keepalive_start(&c->ka, now_ns);
	c->parent = l;
	list_append(&l->syn_head, &l->syn_tail, c);
	l->n_syn++;
	c->state = KW_TCP_SYN_RECEIVED;
	return c;
}

/* ---- input batches ------------------------------------------------------- */

bool tcp_ack_batch(struct kw_tcp *c)
{
	struct kw_tcp_layer *L = c->layer;

	if (!L->batching)
		return false;
	if (c->ack_batched)
		return true;
	if (L->n_batched == sizeof(L->batched) / sizeof(L->batched[0]))
		return false;
	c->ack_batched = true;
	L->batched[L->n_batched++] = c;
	return true;
}

void kw_tcp_layer_batch_begin(struct kw_tcp_layer *L)
{
	L->batching = true;
}

void kw_tcp_layer_batch_end(struct kw_tcp_layer *L, uint64_t now_ns)
{
	enter(L);
	L->batching = false;
	for (unsigned i = 0; i < L->n_batched; i++) {
		struct kw_tcp *c = L->batched[i];

		if (c == NULL)
			continue;
		c->ack_batched = false;
		/* Not if a segment of ours carried the ACK meanwhile. */
		if (c->delack_segs >= 2 && c->state != KW_TCP_CLOSED &&
		    c->state != KW_TCP_LISTEN && c->state != KW_TCP_TIME_WAIT)
			tcp_send_ack(c, now_ns);
	}
	L->n_batched = 0;
	leave(L);
}
