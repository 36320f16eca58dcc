/* The stack: one device, one IPv4 address, ARP, ICMP and a TCP layer,
 * driven by the caller's frames and clock (sans-I/O, DESIGN §4.1).
 *
 * kw_stack_poll runs ARP's retries and expiry, then TCP's timers; the next
 * deadline is the earlier of ARP's next retry and TCP's next timer. */
#include "stack/stack_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct kw_stack_tcp_ops real_tcp_ops = {
	.create = kw_tcp_layer_create,
	.destroy = kw_tcp_layer_destroy,
	.input = kw_tcp_input,
	.icmp_unreachable = kw_tcp_icmp_unreachable,
	.poll = kw_tcp_layer_poll,
	.next_deadline = kw_tcp_layer_next_deadline,
	.input_csum_ok = kw_tcp_input_csum_ok,
	.icmp_frag_needed = kw_tcp_icmp_frag_needed,
};

/* A connection to our own address (a program talking to its own
 * listener): its segments go round through a queue that kw_stack_poll
 * delivers, never from inside the call that sent them. */
static void loopback(struct kw_stack *stack, const void *segment, size_t len, bool csum_ok)
{
	struct kw_loopback_seg *seg = malloc(sizeof(*seg) + len);

	if (seg == NULL) {
		stack->x.ip_no_route++;         /* lost, as a full queue loses it */
		return;
	}
	seg->next = NULL;
	seg->len = len;
	seg->csum_ok = csum_ok;
	memcpy(seg->data, segment, len);
	if (stack->lo_tail)
		stack->lo_tail->next = seg;
	else
		stack->lo_head = seg;
	stack->lo_tail = seg;
}

static void loopback_deliver(struct kw_stack *stack, uint64_t now_ns)
{
	struct kw_loopback_seg *seg = stack->lo_head;
	uint32_t a = stack->cfg.addr;

	/* Only what is queued now: answers wait for the next poll. */
	stack->lo_head = stack->lo_tail = NULL;
	while (seg != NULL) {
		struct kw_loopback_seg *next = seg->next;

		if (seg->csum_ok && stack->tcp_ops->input_csum_ok)
			stack->tcp_ops->input_csum_ok(stack->tcp, a, a, seg->data, seg->len, now_ns);
		else
			stack->tcp_ops->input(stack->tcp, a, a, seg->data, seg->len, now_ns);
		free(seg);
		seg = next;
	}
}

static void tcp_ip_output(void *ctx, uint32_t src, uint32_t dst, const void *segment,
			  size_t len, uint64_t now_ns)
{
	struct kw_stack *stack = ctx;

	/* We have one address; TCP has no business sending from another. */
	if (src != stack->cfg.addr) {
		stack->x.ip_no_route++;
		return;
	}
	if (dst == stack->cfg.addr) {
		loopback(stack, segment, len, false);
		return;
	}
	kw_ipv4_output(stack, dst, KW_IPPROTO_TCP, segment, len, now_ns);
}

/* Whether a connection to dst can be tried at all (else ENETUNREACH at
 * connect, as Linux says at once for a destination without a route). */
static bool tcp_reachable(void *ctx, uint32_t dst)
{
	struct kw_stack *stack = ctx;

	return dst == stack->cfg.addr || kw_ipv4_next_hop(stack, dst) != 0;
}

static void tcp_ip_output_offload(void *ctx, uint32_t src, uint32_t dst, const void *segment,
				  size_t len, uint16_t gso_size, uint64_t now_ns)
{
	struct kw_stack *stack = ctx;

	if (src != stack->cfg.addr) {
		stack->x.ip_no_route++;
		return;
	}
	if (dst == stack->cfg.addr) {
		loopback(stack, segment, len, true);
		return;
	}
	kw_ipv4_output_tcp_offload(stack, dst, segment, len, gso_size, now_ns);
}

/* TCP builds its segments in our frame buffer, where IP wants them. */
static uint8_t *tcp_tx_buffer(void *ctx, size_t *cap)
{
	struct kw_stack *stack = ctx;

	*cap = stack->txcap - KW_ETH_HLEN - KW_IP_HLEN;
	return kw_stack_tx_payload(stack);
}

uint32_t kw_stack_tx_offloads(const struct kw_netdev *dev)
{
	uint32_t f = dev->flags & (KW_NETDEV_TX_CSUM | KW_NETDEV_TX_TSO4);

	if (dev->ops->transmit_meta == NULL || !(f & KW_NETDEV_TX_CSUM))
		return 0;
	return f;
}

static void tcp_notify(void *ctx, struct kw_tcp *sock)
{
	struct kw_stack *stack = ctx;

	if (stack->notify)
		stack->notify(stack->notify_ctx, sock);
}

static bool config_ok(const struct kw_stack_config *cfg, const struct kw_netdev *dev)
{
	uint32_t mask;

	if (cfg == NULL || dev == NULL || dev->ops == NULL || dev->ops->transmit == NULL)
		return false;
	/* Room for an IP header and a TCP header with options: RFC 791's 68. */
	if (dev->mtu < 68)
		return false;
	if (cfg->prefix_len > 32 || cfg->addr == 0 || (cfg->addr >> 28) >= 0xe ||
	    (cfg->addr >> 24) == 127)
		return false;
	if (kw_ether_is_multicast(dev->mac) || kw_ether_is_zero(dev->mac))
		return false;
	mask = cfg->prefix_len ? 0xffffffffu << (32 - cfg->prefix_len) : 0;
	/* Our address must not be the network's broadcast address. */
	if (cfg->prefix_len < 31 && (cfg->addr | mask) == 0xffffffffu)
		return false;
	/* The gateway must be on-link, and not us. */
	if (cfg->gateway != 0 &&
	    ((cfg->gateway & mask) != (cfg->addr & mask) || cfg->gateway == cfg->addr))
		return false;
	return true;
}

struct kw_stack *kw_stack_create_with_ops(const struct kw_stack_config *cfg,
					  struct kw_netdev *dev,
					  const struct kw_stack_tcp_ops *ops)
{
	struct kw_stack *stack;
	struct kw_tcp_env env;
	uint32_t offloads;

	if (!config_ok(cfg, dev) || ops == NULL)
		return NULL;
	stack = calloc(1, sizeof(*stack));
	if (stack == NULL)
		return NULL;
	stack->cfg = *cfg;
	stack->netmask = cfg->prefix_len ? 0xffffffffu << (32 - cfg->prefix_len) : 0;
	stack->dev = dev;
	stack->tcp_ops = ops;
	stack->ip_id = (uint16_t)(kw_mix64(cfg->seed ^ UINT64_C(0x6970696470696421)) >> 48);
	stack->icmp_tokens = KW_ICMP_ERR_BURST;
	offloads = kw_stack_tx_offloads(dev);
	stack->txcap = KW_ETH_HLEN + (size_t)dev->mtu;
	if (offloads & KW_NETDEV_TX_TSO4)
		stack->txcap = KW_ETH_HLEN + KW_NETDEV_GSO_MAX;
	if (stack->txcap < KW_ETH_ZLEN)
		stack->txcap = KW_ETH_ZLEN;
	stack->txbuf = calloc(1, stack->txcap);
	if (stack->txbuf == NULL)
		goto fail;

	env = (struct kw_tcp_env){
		.ctx = stack,
		.ip_output = tcp_ip_output,
		.reachable = tcp_reachable,
		.local_addr = cfg->addr,
		.mss = (uint16_t)(dev->mtu - 40),
		.seed = cfg->seed,
		.ts_seed = cfg->ts_seed,
		.congestion = cfg->congestion,
		.notify = tcp_notify,
		.tx_buffer = tcp_tx_buffer,
	};
	if (offloads) {
		env.ip_output_offload = tcp_ip_output_offload;
		if (offloads & KW_NETDEV_TX_TSO4)
			env.gso_max = KW_NETDEV_GSO_MAX - KW_IP_HLEN - 60;
	}
	stack->tcp = ops->create(&env);
	if (stack->tcp == NULL)
		goto fail;
	return stack;
fail:
	free(stack->txbuf);
	free(stack);
	return NULL;
}

struct kw_stack *kw_stack_create(const struct kw_stack_config *cfg, struct kw_netdev *dev)
{
	return kw_stack_create_with_ops(cfg, dev, &real_tcp_ops);
}

void kw_stack_destroy(struct kw_stack *stack)
{
	if (stack == NULL)
		return;
	stack->tcp_ops->destroy(stack->tcp);
	while (stack->lo_head != NULL) {
		struct kw_loopback_seg *next = stack->lo_head->next;
		free(stack->lo_head);
		stack->lo_head = next;
	}
	kw_arp_clear(stack);
	free(stack->txbuf);
	free(stack);
}

void kw_stack_input(struct kw_stack *stack, const void *frame, size_t len, uint64_t now_ns)
{
	kw_ether_input(stack, frame, len, now_ns);
}

void kw_stack_input_meta(struct kw_stack *stack, const void *frame, size_t len,
			 const struct kw_netdev_rx_meta *meta, uint64_t now_ns)
{
	/* Metadata counts only from a device that announced it. */
	if (!(stack->dev->flags & KW_NETDEV_RX_META))
		meta = NULL;
	stack->rx_meta = meta;
	kw_ether_input(stack, frame, len, now_ns);
	stack->rx_meta = NULL;
}

uint64_t kw_stack_next_deadline(const struct kw_stack *stack)
{
	uint64_t arp = kw_arp_next_deadline(stack);
	uint64_t tcp = stack->tcp_ops->next_deadline(stack->tcp);

	if (stack->lo_head != NULL)
		return 0;                       /* looped-back segments wait */
	return arp < tcp ? arp : tcp;
}

uint64_t kw_stack_poll(struct kw_stack *stack, uint64_t now_ns)
{
	loopback_deliver(stack, now_ns);
	kw_arp_poll(stack, now_ns);
	stack->tcp_ops->poll(stack->tcp, now_ns);
	return kw_stack_next_deadline(stack);
}

struct kw_tcp_layer *kw_stack_tcp(struct kw_stack *stack)
{
	return stack->tcp;
}

void kw_stack_stats(const struct kw_stack *stack, struct kw_stack_stats *out)
{
	*out = stack->stats;
}

void kw_stack_set_notify(struct kw_stack *stack, void (*notify)(void *ctx, struct kw_tcp *sock),
			 void *ctx)
{
	stack->notify = notify;
	stack->notify_ctx = ctx;
}

int kw_stack_announce(struct kw_stack *stack, uint64_t now_ns)
{
	return kw_arp_announce(stack, now_ns);
}
