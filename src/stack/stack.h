/* keepwire's userspace TCP/IP stack: Ethernet II, ARP, IPv4, ICMP, TCP,
 * sans-I/O. The stack never reads a clock, a file or a socket: the driver
 * feeds it frames and the time (kw_stack_input), runs its timers
 * (kw_stack_poll, which returns the next deadline) and gives it a device
 * to transmit on. TCP sockets are made with the calls of stack/tcp.h on
 * kw_stack_tcp(stack).
 *
 * Addresses are IPv4 in host byte order. */
#ifndef KW_STACK_STACK_H
#define KW_STACK_STACK_H

#include "stack/netdev.h"
#include "stack/tcp.h"

#include <stdint.h>

struct kw_stack;

struct kw_stack_config {
	uint32_t addr;                /* our IPv4 address */
	uint8_t prefix_len;           /* on-link network, e.g. 24 */
	uint32_t gateway;             /* 0: only the on-link network is reachable */
	uint64_t seed;                /* secrets: ISNs, ephemeral ports, IP IDs */
	/* The secret of the timestamp offsets (0: from seed). Kept for as
	 * long as the machine runs, TSvals to a peer keep growing across
	 * stacks, so a new stack may reuse a 4-tuple the peer holds in
	 * TIME-WAIT, as a Linux client's can (RFC 6191). */
	uint64_t ts_seed;
	uint8_t congestion;           /* KW_TCP_CC_* (tcp.h): NewReno (0) or BBR */
};

/* The device's MAC and MTU are the stack's. Returns NULL on bad config or
 * no memory. */
struct kw_stack *kw_stack_create(const struct kw_stack_config *cfg, struct kw_netdev *dev);
void kw_stack_destroy(struct kw_stack *stack);

/* One received Ethernet frame. Anything malformed is counted and dropped. */
void kw_stack_input(struct kw_stack *stack, const void *frame, size_t len, uint64_t now_ns);
/* The same with what the device says about it (netdev.h; a device with
 * KW_NETDEV_RX_META): a TCP segment whose checksum was left partial by a
 * sender on this host (the partial checksum's position must be the
 * segment's own TCP checksum field) or verified by the device is taken
 * without verifying it again; every other checksum is verified as always.
 * meta NULL, or a device without KW_NETDEV_RX_META: kw_stack_input(). */
void kw_stack_input_meta(struct kw_stack *stack, const void *frame, size_t len,
			 const struct kw_netdev_rx_meta *meta, uint64_t now_ns);

/* Run every timer due at now_ns (ARP retries and expiry, TCP); returns the
 * next deadline, or KW_TIME_NEVER. */
uint64_t kw_stack_poll(struct kw_stack *stack, uint64_t now_ns);
uint64_t kw_stack_next_deadline(const struct kw_stack *stack);

struct kw_tcp_layer *kw_stack_tcp(struct kw_stack *stack);

/* The TCP layer's readiness callback (struct kw_tcp_env.notify): the stack
 * creates the layer, so the layer above registers here. NULL turns it off. */
void kw_stack_set_notify(struct kw_stack *stack, void (*notify)(void *ctx, struct kw_tcp *sock),
			 void *ctx);

/* Broadcast a gratuitous ARP request for our address (e.g. once at start,
 * so neighbours refresh a cached MAC). Returns the device's answer. */
int kw_stack_announce(struct kw_stack *stack, uint64_t now_ns);

/* frames_dropped counts every received frame that was not used, whatever
 * the layer (runts, other MACs, other EtherTypes, bad ARP, bad or
 * unwanted IP, bad ICMP); the ip_ and icmp_ counters say why. frames_out
 * counts frames the device accepted. */
struct kw_stack_stats {
	uint64_t frames_in, frames_out, frames_dropped,
		 arp_requests_in, arp_replies_in, arp_requests_out, arp_replies_out,
		 ip_in, ip_out, ip_bad, ip_fragments_dropped, ip_options_dropped,
		 icmp_echo_in, icmp_echo_out, icmp_unreach_in, icmp_bad;
};
void kw_stack_stats(const struct kw_stack *stack, struct kw_stack_stats *out);

#endif
