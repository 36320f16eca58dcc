/* ARP for IPv4 over Ethernet (RFC 826), with a small cache and a small
 * queue of packets waiting for an address to resolve.
 *
 * Cache: KW_ARP_CACHE_SIZE entries, each INCOMPLETE (a request is out) or
 * REACHABLE (a MAC is known until `deadline`, KW_ARP_REACHABLE_NS after it
 * was last confirmed). A full cache evicts the entry confirmed longest
 * ago. Expiry is checked whenever an entry is used and swept at each poll;
 * it needs no timer of its own, so the only ARP deadlines are retries. An
 * entry still in use in its last KW_ARP_REFRESH_NS is refreshed with one
 * unicast request to the cached MAC (as Linux probes a STALE neighbour),
 * while packets keep using it, so a busy flow does not stall behind a
 * new resolution every KW_ARP_REACHABLE_NS.
 *
 * Resolution: the first packet for an unknown next hop broadcasts a
 * request; one more follows every KW_ARP_RETRY_NS until
 * KW_ARP_MAX_REQUESTS went unanswered, then the entry and its queued
 * packets are dropped (the next packet starts over). Up to
 * KW_ARP_QUEUE_PER_DEST packets wait per address (the oldest is dropped,
 * as Linux's unres_qlen does) and KW_ARP_QUEUE_MAX in all; they leave in
 * order as soon as the reply arrives.
 *
 * What we learn (RFC 826's merge rule, and Linux's default arp_accept=0):
 * any ARP packet from an address already in the cache refreshes its MAC
 * (this is how gratuitous ARP after a MAC change is honoured); a packet
 * whose target is our address adds its sender. Unsolicited or gratuitous
 * ARP about an address we never asked for creates nothing. Senders that
 * claim our own address (a conflict), use 0.0.0.0 (RFC 5227 probes: we
 * still answer them) or are not on-link are not cached. */
#include "stack/stack_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int kw_arp_parse(const uint8_t *pkt, size_t len, struct kw_arp_packet *out)
{
	if (len < KW_ARP_LEN)
		return -EINVAL;
	if (kw_get16(pkt) != 1 || kw_get16(pkt + 2) != KW_ETH_P_IP ||
	    pkt[4] != KW_ETH_ALEN || pkt[5] != 4)
		return -EINVAL;
	out->op = kw_get16(pkt + 6);
	memcpy(out->sha, pkt + 8, KW_ETH_ALEN);
	out->spa = kw_get32(pkt + 14);
	memcpy(out->tha, pkt + 18, KW_ETH_ALEN);
	out->tpa = kw_get32(pkt + 24);
	return 0;
}

void kw_arp_build(uint8_t *buf, const struct kw_arp_packet *p)
{
	kw_put16(buf, 1);
	kw_put16(buf + 2, KW_ETH_P_IP);
	buf[4] = KW_ETH_ALEN;
	buf[5] = 4;
	kw_put16(buf + 6, p->op);
	memcpy(buf + 8, p->sha, KW_ETH_ALEN);
	kw_put32(buf + 14, p->spa);
	memcpy(buf + 18, p->tha, KW_ETH_ALEN);
	kw_put32(buf + 24, p->tpa);
}

static struct kw_arp_entry *find(struct kw_stack *stack, uint32_t ip)
{
	for (unsigned i = 0; i < KW_ARP_CACHE_SIZE; i++) {
		struct kw_arp_entry *e = &stack->arp.cache[i];
		if (e->state != KW_ARP_FREE && e->ip == ip)
			return e;
	}
	return NULL;
}

const struct kw_arp_entry *kw_arp_lookup(const struct kw_stack *stack, uint32_t ip,
					 uint64_t now_ns)
{
	const struct kw_arp_entry *e = find((struct kw_stack *)stack, ip);

	if (e && e->state == KW_ARP_REACHABLE && now_ns < e->deadline)
		return e;
	return NULL;
}

/* ---- the queue of packets waiting for resolution ------------------------- */

static void queue_remove(struct kw_arp *arp, unsigned i)
{
	free(arp->queue[i].pkt);
	memmove(&arp->queue[i], &arp->queue[i + 1], (arp->nqueued - i - 1) * sizeof(arp->queue[0]));
	arp->nqueued--;
}

static void queue_drop_dest(struct kw_stack *stack, uint32_t ip)
{
	struct kw_arp *arp = &stack->arp;

	for (unsigned i = 0; i < arp->nqueued;) {
		if (arp->queue[i].next_hop == ip) {
			queue_remove(arp, i);
			stack->x.arp_queue_dropped++;
		} else {
			i++;
		}
	}
}

static int queue_add(struct kw_stack *stack, uint32_t ip, const uint8_t *pkt, size_t len,
		     const struct kw_netdev_tx_meta *meta)
{
	struct kw_arp *arp = &stack->arp;
	unsigned same = 0, oldest_same = 0;
	uint8_t *copy = malloc(len);

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, pkt, len);
	for (unsigned i = arp->nqueued; i-- > 0;) {
		if (arp->queue[i].next_hop == ip) {
			same++;
			oldest_same = i;
		}
	}
	if (same >= KW_ARP_QUEUE_PER_DEST) {
		queue_remove(arp, oldest_same);
		stack->x.arp_queue_dropped++;
	} else if (arp->nqueued == KW_ARP_QUEUE_MAX) {
		queue_remove(arp, 0);
		stack->x.arp_queue_dropped++;
	}
	arp->queue[arp->nqueued] = (struct kw_arp_queued){ .next_hop = ip, .len = (uint32_t)len,
							   .pkt = copy };
	if (meta) {
		arp->queue[arp->nqueued].has_meta = true;
		arp->queue[arp->nqueued].meta = *meta;
	}
	arp->nqueued++;
	return 0;
}

/* The MAC of ip became known: send what waited for it, in order. */
static void queue_release(struct kw_stack *stack, const struct kw_arp_entry *e)
{
	struct kw_arp *arp = &stack->arp;

	for (unsigned i = 0; i < arp->nqueued;) {
		struct kw_arp_queued *q = &arp->queue[i];
		if (q->next_hop != e->ip) {
			i++;
			continue;
		}
		memcpy(stack->txbuf + KW_ETH_HLEN, q->pkt, q->len);
		kw_ether_output_meta(stack, e->mac, KW_ETH_P_IP, q->len, q->has_meta ? &q->meta : NULL);
		queue_remove(arp, i);
	}
}

/* ---- cache --------------------------------------------------------------- */

/* Nobody answered for ip: TCP segments that waited for it tell TCP the
 * host is unreachable, as Linux turns a failed neighbour into
 * EHOSTUNREACH for a connection still opening (an established one keeps
 * retrying). The queue itself is dropped by entry_free. */
static void fail_waiting(struct kw_stack *stack, uint32_t ip, uint64_t now_ns)
{
	for (unsigned i = 0; i < stack->arp.nqueued; i++) {
		const struct kw_arp_queued *q = &stack->arp.queue[i];
		size_t hlen;

		if (q->next_hop != ip || q->len < KW_IP_HLEN)
			continue;
		hlen = (size_t)(q->pkt[0] & 0x0f) * 4;
		if (q->pkt[9] != KW_IPPROTO_TCP || hlen < KW_IP_HLEN || q->len < hlen + 8)
			continue;
		stack->tcp_ops->icmp_unreachable(stack->tcp, kw_get32(q->pkt + 12), kw_get32(q->pkt + 16),
						 q->pkt + hlen, q->len - hlen, 1, now_ns);
	}
}

static void entry_free(struct kw_stack *stack, struct kw_arp_entry *e)
{
	if (e->state == KW_ARP_INCOMPLETE)
		queue_drop_dest(stack, e->ip);
	memset(e, 0, sizeof(*e));
}

static struct kw_arp_entry *entry_alloc(struct kw_stack *stack, uint32_t ip)
{
	struct kw_arp_entry *victim = NULL;

	for (unsigned i = 0; i < KW_ARP_CACHE_SIZE; i++) {
		struct kw_arp_entry *e = &stack->arp.cache[i];
		if (e->state == KW_ARP_FREE) {
			victim = e;
			break;
		}
		/* Prefer evicting a resolved entry to abandoning a resolution. */
		if (victim == NULL ||
		    (e->state == KW_ARP_REACHABLE && victim->state == KW_ARP_INCOMPLETE) ||
		    (e->state == victim->state && e->updated < victim->updated))
			victim = e;
	}
	entry_free(stack, victim);
	victim->ip = ip;
	return victim;
}

static void entry_confirm(struct kw_stack *stack, struct kw_arp_entry *e, const uint8_t *mac,
			  uint64_t now_ns)
{
	bool was_waiting = e->state == KW_ARP_INCOMPLETE;

	memcpy(e->mac, mac, KW_ETH_ALEN);
	e->state = KW_ARP_REACHABLE;
	e->requests = 0;
	e->updated = now_ns;
	e->deadline = now_ns + KW_ARP_REACHABLE_NS;
	if (was_waiting)
		queue_release(stack, e);
}

static int send_arp(struct kw_stack *stack, uint16_t op, const uint8_t *dst_mac,
		    const uint8_t *tha, uint32_t tpa)
{
	static const uint8_t zero[KW_ETH_ALEN];
	struct kw_arp_packet p = { .op = op, .spa = stack->cfg.addr, .tpa = tpa };

	memcpy(p.sha, stack->dev->mac, KW_ETH_ALEN);
	memcpy(p.tha, tha ? tha : zero, KW_ETH_ALEN);
	kw_arp_build(stack->txbuf + KW_ETH_HLEN, &p);
	if (op == KW_ARP_OP_REQUEST)
		stack->stats.arp_requests_out++;
	else
		stack->stats.arp_replies_out++;
	return kw_ether_output(stack, dst_mac, KW_ETH_P_ARP, KW_ARP_LEN);
}

static void send_request(struct kw_stack *stack, struct kw_arp_entry *e, uint64_t now_ns)
{
	e->requests++;
	e->deadline = now_ns + KW_ARP_RETRY_NS;
	send_arp(stack, KW_ARP_OP_REQUEST, kw_ether_broadcast, NULL, e->ip);
}

int kw_arp_announce(struct kw_stack *stack, uint64_t now_ns)
{
	(void)now_ns;
	return send_arp(stack, KW_ARP_OP_REQUEST, kw_ether_broadcast, NULL, stack->cfg.addr);
}

static bool on_link(const struct kw_stack *stack, uint32_t ip)
{
	return (ip & stack->netmask) == (stack->cfg.addr & stack->netmask) &&
	       !kw_ipv4_is_broadcast(stack, ip) && ip != 0;
}

void kw_arp_input(struct kw_stack *stack, const uint8_t *pkt, size_t len, uint64_t now_ns)
{
	struct kw_arp_packet p;
	struct kw_arp_entry *e;
	bool merged = false, learnable;

	if (kw_arp_parse(pkt, len, &p) < 0 ||
	    (p.op != KW_ARP_OP_REQUEST && p.op != KW_ARP_OP_REPLY) ||
	    kw_ether_is_multicast(p.sha) || kw_ether_is_zero(p.sha)) {
		stack->x.arp_bad++;
		stack->stats.frames_dropped++;
		return;
	}
	if (p.op == KW_ARP_OP_REQUEST)
		stack->stats.arp_requests_in++;
	else
		stack->stats.arp_replies_in++;

	if (p.spa == stack->cfg.addr) {
		/* Someone else uses our address (or our own frame came back). */
		if (memcmp(p.sha, stack->dev->mac, KW_ETH_ALEN) != 0)
			stack->x.arp_conflicts++;
		return;
	}
	learnable = on_link(stack, p.spa);
	if (learnable && (e = find(stack, p.spa)) != NULL) {
		entry_confirm(stack, e, p.sha, now_ns);
		merged = true;
	}
	if (p.tpa != stack->cfg.addr)
		return;                  /* gratuitous, or a question for another host */
	if (learnable && !merged) {
		e = entry_alloc(stack, p.spa);
		entry_confirm(stack, e, p.sha, now_ns);
	}
	if (p.op == KW_ARP_OP_REQUEST)
		send_arp(stack, KW_ARP_OP_REPLY, p.sha, p.sha, p.spa);
}

int kw_arp_output(struct kw_stack *stack, uint32_t next_hop, size_t len, uint64_t now_ns)
{
	return kw_arp_output_meta(stack, next_hop, len, NULL, now_ns);
}

int kw_arp_output_meta(struct kw_stack *stack, uint32_t next_hop, size_t len,
		       const struct kw_netdev_tx_meta *meta, uint64_t now_ns)
{
	struct kw_arp_entry *e = find(stack, next_hop);
	int r;

	if (e && e->state == KW_ARP_REACHABLE) {
		if (now_ns < e->deadline) {
			r = kw_ether_output_meta(stack, e->mac, KW_ETH_P_IP, len, meta);
			if (e->requests == 0 && e->deadline - now_ns <= KW_ARP_REFRESH_NS) {
				/* The frame is out: txbuf is free for the request. */
				e->requests = 1;
				send_arp(stack, KW_ARP_OP_REQUEST, e->mac, NULL, e->ip);
			}
			return r < 0 ? r : 0;
		}
		/* Expired: resolve again before sending. */
		e->state = KW_ARP_INCOMPLETE;
		e->requests = 0;
	}
	if (e == NULL) {
		e = entry_alloc(stack, next_hop);
		e->state = KW_ARP_INCOMPLETE;
		e->requests = 0;
		e->updated = now_ns;
	}
	r = queue_add(stack, next_hop, stack->txbuf + KW_ETH_HLEN, len, meta);
	if (e->requests == 0)
		send_request(stack, e, now_ns);   /* reuses txbuf: after the copy */
	return r;
}

void kw_arp_poll(struct kw_stack *stack, uint64_t now_ns)
{
	for (unsigned i = 0; i < KW_ARP_CACHE_SIZE; i++) {
		struct kw_arp_entry *e = &stack->arp.cache[i];

		if (e->state == KW_ARP_FREE || now_ns < e->deadline)
			continue;
		if (e->state == KW_ARP_REACHABLE) {
			entry_free(stack, e);          /* expired */
		} else if (e->requests >= KW_ARP_MAX_REQUESTS) {
			stack->x.arp_failed++;         /* nobody answered: give up */
			fail_waiting(stack, e->ip, now_ns);
			entry_free(stack, e);
		} else {
			send_request(stack, e, now_ns);
		}
	}
}

uint64_t kw_arp_next_deadline(const struct kw_stack *stack)
{
	uint64_t next = KW_TIME_NEVER;

	for (unsigned i = 0; i < KW_ARP_CACHE_SIZE; i++) {
		const struct kw_arp_entry *e = &stack->arp.cache[i];
		if (e->state == KW_ARP_INCOMPLETE && e->deadline < next)
			next = e->deadline;
	}
	return next;
}

void kw_arp_clear(struct kw_stack *stack)
{
	while (stack->arp.nqueued > 0)
		queue_remove(&stack->arp, stack->arp.nqueued - 1);
	memset(stack->arp.cache, 0, sizeof(stack->arp.cache));
}
