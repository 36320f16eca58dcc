/* The stack's insides, shared by its protocol files (ether.c, arp.c,
 * ipv4.c, icmp.c, stack.c) and by the unit tests; not a public API.
 *
 * Buffers: the stack owns one transmit buffer, txbuf, big enough for an
 * Ethernet header and an MTU-sized IP packet (a 64 KiB one when the
 * device does TCP segmentation). A frame is built in place:
 * IP writes its header at KW_TX_IP and the payload after it, ARP writes
 * the Ethernet header in front and hands the frame to the device. A
 * protocol that builds a reply may write its payload straight at
 * KW_TX_IP + 20 (kw_stack_tx_payload) and pass that pointer to
 * kw_ipv4_output, which then copies nothing. Frames received are the
 * driver's buffer and are never written to.
 *
 * All multi-byte fields on the wire are read and written with the
 * kw_get/kw_put helpers below (big-endian, no alignment assumed). */
#ifndef KW_STACK_STACK_INTERNAL_H
#define KW_STACK_STACK_INTERNAL_H

#include "stack/stack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- wire helpers -------------------------------------------------------- */

static inline uint16_t kw_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t kw_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void kw_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void kw_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- Ethernet II (ether.c) ----------------------------------------------- */

#define KW_ETH_HLEN 14
#define KW_ETH_ZLEN 60                 /* shortest frame without FCS */
#define KW_ETH_P_IP 0x0800
#define KW_ETH_P_ARP 0x0806

extern const uint8_t kw_ether_broadcast[KW_ETH_ALEN];

struct kw_ether_view {
	const uint8_t *dst, *src;
	uint16_t type;
	const uint8_t *payload;          /* after the 14-byte header */
	size_t len;                      /* payload length (may include padding) */
};

/* 0, or -EINVAL for a runt or an 802.3 length field (type < 0x600). */
int kw_ether_parse(const void *frame, size_t len, struct kw_ether_view *out);
void kw_ether_write_header(uint8_t *buf, const uint8_t dst[KW_ETH_ALEN],
			   const uint8_t src[KW_ETH_ALEN], uint16_t type);
static inline bool kw_ether_is_multicast(const uint8_t *mac) { return mac[0] & 1; }
bool kw_ether_is_broadcast(const uint8_t *mac);
bool kw_ether_is_zero(const uint8_t *mac);

/* The frame at stack->txbuf: header written for dst/type, padded to the
 * Ethernet minimum, transmitted. payload_len bytes are already at
 * txbuf + KW_ETH_HLEN. Returns the device's answer. */
int kw_ether_output(struct kw_stack *stack, const uint8_t dst[KW_ETH_ALEN], uint16_t type,
		    size_t payload_len);
/* The same with offload work for the device (meta NULL: none). */
int kw_ether_output_meta(struct kw_stack *stack, const uint8_t dst[KW_ETH_ALEN], uint16_t type,
			 size_t payload_len, const struct kw_netdev_tx_meta *meta);

/* Frame from the driver: check it, dispatch to ARP or IPv4. */
void kw_ether_input(struct kw_stack *stack, const uint8_t *frame, size_t len, uint64_t now_ns);

/* ---- ARP (arp.c) --------------------------------------------------------- */

#define KW_ARP_LEN 28                  /* Ethernet/IPv4 ARP packet */
#define KW_ARP_OP_REQUEST 1
#define KW_ARP_OP_REPLY 2

#define KW_ARP_CACHE_SIZE 64
#define KW_ARP_QUEUE_MAX 16            /* packets waiting for any address */
#define KW_ARP_QUEUE_PER_DEST 4        /* ... and for one address (oldest dropped) */
#define KW_ARP_MAX_REQUESTS 3          /* requests sent before giving up */
#define KW_ARP_RETRY_NS (1000 * UINT64_C(1000000))          /* 1 s between them */
#define KW_ARP_REACHABLE_NS (60 * UINT64_C(1000000000))     /* cache lifetime */
#define KW_ARP_REFRESH_NS (5 * UINT64_C(1000000000))         /* refresh window before expiry */

struct kw_arp_packet {
	uint16_t op;
	uint8_t sha[KW_ETH_ALEN];
	uint32_t spa;
	uint8_t tha[KW_ETH_ALEN];
	uint32_t tpa;
};

/* 0, or -EINVAL unless Ethernet/IPv4 (htype 1, ptype 0x800, 6, 4). */
int kw_arp_parse(const uint8_t *pkt, size_t len, struct kw_arp_packet *out);
void kw_arp_build(uint8_t *buf, const struct kw_arp_packet *p);

enum kw_arp_state { KW_ARP_FREE = 0, KW_ARP_INCOMPLETE, KW_ARP_REACHABLE };

struct kw_arp_entry {
	uint32_t ip;
	uint8_t mac[KW_ETH_ALEN];
	uint8_t state;                   /* enum kw_arp_state */
	uint8_t requests;                /* INCOMPLETE: requests sent so far;
					    REACHABLE: 1 once a refresh was asked */
	uint64_t deadline;               /* INCOMPLETE: next retry; REACHABLE: expiry */
	uint64_t updated;                /* for eviction: least recently confirmed */
};

struct kw_arp_queued {
	uint32_t next_hop;
	uint32_t len;
	uint8_t *pkt;                    /* an IP packet, malloc'd */
	bool has_meta;                   /* offload work to pass on with it */
	struct kw_netdev_tx_meta meta;
};

struct kw_arp {
	struct kw_arp_entry cache[KW_ARP_CACHE_SIZE];
	struct kw_arp_queued queue[KW_ARP_QUEUE_MAX];   /* FIFO order */
	unsigned nqueued;
};

void kw_arp_input(struct kw_stack *stack, const uint8_t *pkt, size_t len, uint64_t now_ns);
/* Send the IP packet at txbuf + KW_ETH_HLEN (len bytes) to next_hop: at
 * once when its MAC is known, else queued while a request goes out.
 * 0 when sent or queued; negative errno when dropped. */
int kw_arp_output(struct kw_stack *stack, uint32_t next_hop, size_t len, uint64_t now_ns);
/* The same with offload work for the device (meta NULL: none), kept with
 * the packet while it waits. */
int kw_arp_output_meta(struct kw_stack *stack, uint32_t next_hop, size_t len,
		       const struct kw_netdev_tx_meta *meta, uint64_t now_ns);
/* Retries, giving up, expiry. */
void kw_arp_poll(struct kw_stack *stack, uint64_t now_ns);
uint64_t kw_arp_next_deadline(const struct kw_stack *stack);
/* The entry for ip if resolved and not expired at now_ns, else NULL. */
const struct kw_arp_entry *kw_arp_lookup(const struct kw_stack *stack, uint32_t ip,
					 uint64_t now_ns);
/* Broadcast a gratuitous ARP request announcing our address. */
int kw_arp_announce(struct kw_stack *stack, uint64_t now_ns);
void kw_arp_clear(struct kw_stack *stack);

/* ---- IPv4 (ipv4.c) ------------------------------------------------------- */

#define KW_IP_HLEN 20
#define KW_IP_TTL 64
#define KW_IPPROTO_ICMP 1
#define KW_IPPROTO_TCP 6
#define KW_IPPROTO_UDP 17

struct kw_ipv4_view {
	const uint8_t *hdr;              /* the header as received */
	size_t hlen;
	uint32_t src, dst;
	uint8_t proto, ttl;
	bool broadcast;                  /* sent to a broadcast address */
	const uint8_t *payload;
	size_t len;                      /* payload length, padding removed */
};

/* Validate; 0 with *out filled, or a negative errno (no counting). */
int kw_ipv4_parse(const uint8_t *pkt, size_t len, struct kw_ipv4_view *out);
void kw_ipv4_input(struct kw_stack *stack, const uint8_t *pkt, size_t len, uint64_t now_ns);
/* Route and send one datagram from our address. payload may point at
 * kw_stack_tx_payload(). 0 when sent or queued for ARP; negative errno:
 * -ENETUNREACH (no route), -EMSGSIZE (larger than the MTU), -ENOMEM. */
int kw_ipv4_output(struct kw_stack *stack, uint32_t dst, uint8_t proto,
		   const void *payload, size_t len, uint64_t now_ns);
/* A TCP segment whose checksum field holds the pseudo-header sum, for a
 * device with KW_NETDEV_TX_CSUM to finish; more than gso_size payload
 * bytes (gso_size not 0, a KW_NETDEV_TX_TSO4 device) for it to cut.
 * Returns as kw_ipv4_output; -EMSGSIZE when the packet is larger than the
 * device takes. */
int kw_ipv4_output_tcp_offload(struct kw_stack *stack, uint32_t dst, const void *segment,
			       size_t len, uint16_t gso_size, uint64_t now_ns);
/* The next hop for dst: dst itself on-link, the gateway otherwise, 0 when
 * there is no route. */
uint32_t kw_ipv4_next_hop(const struct kw_stack *stack, uint32_t dst);
bool kw_ipv4_is_broadcast(const struct kw_stack *stack, uint32_t addr);

/* ---- ICMP (icmp.c) ------------------------------------------------------- */

#define KW_ICMP_ECHO_REPLY 0
#define KW_ICMP_DEST_UNREACH 3
#define KW_ICMP_ECHO_REQUEST 8
#define KW_ICMP_PROTO_UNREACH 2
#define KW_ICMP_PORT_UNREACH 3
#define KW_ICMP_FRAG_NEEDED 4
/* ICMP errors we send: a token bucket, like Linux's icmp_ratelimit. */
#define KW_ICMP_ERR_BURST 50
#define KW_ICMP_ERR_EVERY_NS (10 * UINT64_C(1000000))

void kw_icmp_input(struct kw_stack *stack, const struct kw_ipv4_view *ip, uint64_t now_ns);
/* Destination unreachable about a datagram we received (never about an
 * ICMP error, a broadcast, or beyond the rate limit). */
int kw_icmp_send_unreachable(struct kw_stack *stack, int code, const struct kw_ipv4_view *orig,
			     uint64_t now_ns);

/* ---- the stack (stack.c) ------------------------------------------------- */

/* The calls the stack makes into its TCP layer: normally the real ones of
 * stack/tcp.h; unit tests put a recording fake in their place. */
struct kw_loopback_seg {
	struct kw_loopback_seg *next;
	size_t len;
	bool csum_ok;                    /* checksum left partial (offload path) */
	uint8_t data[];
};

struct kw_stack_tcp_ops {
	struct kw_tcp_layer *(*create)(const struct kw_tcp_env *env);
	void (*destroy)(struct kw_tcp_layer *layer);
	void (*input)(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
		      const void *segment, size_t len, uint64_t now_ns);
	void (*icmp_unreachable)(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
				 const void *quoted_tcp, size_t len, int code, uint64_t now_ns);
	uint64_t (*poll)(struct kw_tcp_layer *layer, uint64_t now_ns);
	uint64_t (*next_deadline)(const struct kw_tcp_layer *layer);
	/* A segment whose checksum the device vouched for (optional: NULL
	 * sends it through input, which verifies). */
	void (*input_csum_ok)(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
			      const void *segment, size_t len, uint64_t now_ns);
	/* Fragmentation needed, with the next-hop MTU (optional: NULL hands
	 * it to icmp_unreachable as code 4). */
	void (*icmp_frag_needed)(struct kw_tcp_layer *layer, uint32_t src, uint32_t dst,
				 const void *quoted_tcp, size_t len, uint32_t mtu, uint64_t now_ns);
};

/* Counters beyond the public struct kw_stack_stats. */
struct kw_stack_xstats {
	uint64_t not_for_us;             /* frames/datagrams addressed elsewhere */
	uint64_t tx_errors;              /* the device refused a frame */
	uint64_t arp_bad, arp_conflicts, arp_failed, arp_queue_dropped;
	uint64_t ip_no_route, ip_unknown_proto, ip_ttl_zero;
	uint64_t icmp_echo_reply_in, icmp_unreach_out, icmp_ratelimited;
};

struct kw_stack {
	struct kw_stack_config cfg;
	uint32_t netmask;
	struct kw_netdev *dev;
	const struct kw_stack_tcp_ops *tcp_ops;
	struct kw_tcp_layer *tcp;
	/* Segments TCP sent to our own address, delivered at the next poll. */
	struct kw_loopback_seg *lo_head, *lo_tail;
	void (*notify)(void *ctx, struct kw_tcp *sock);
	void *notify_ctx;
	uint16_t ip_id;                  /* next IP identification */
	uint32_t icmp_tokens;            /* ICMP error rate limit */
	uint64_t icmp_tokens_at;
	struct kw_arp arp;
	struct kw_stack_stats stats;
	struct kw_stack_xstats x;
	uint8_t *txbuf;
	size_t txcap;                    /* KW_ETH_HLEN + mtu, at least KW_ETH_ZLEN;
					    KW_ETH_HLEN + KW_NETDEV_GSO_MAX with TSO */
	/* What the device said about the frame being input now (NULL when
	 * nothing, or not within kw_stack_input_meta). */
	const struct kw_netdev_rx_meta *rx_meta;
};

/* The device's offloads the stack uses (KW_NETDEV_TX_*; a flag without
 * transmit_meta, or TSO without checksum offload, counts as none). */
uint32_t kw_stack_tx_offloads(const struct kw_netdev *dev);

struct kw_stack *kw_stack_create_with_ops(const struct kw_stack_config *cfg,
					  struct kw_netdev *dev,
					  const struct kw_stack_tcp_ops *ops);

/* Where a protocol may build an IP payload for kw_ipv4_output. */
static inline uint8_t *kw_stack_tx_payload(struct kw_stack *stack)
{
	return stack->txbuf + KW_ETH_HLEN + KW_IP_HLEN;
}

/* splitmix64: the seed's derived secrets. */
static inline uint64_t kw_mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

#endif
