/* Two complete stacks joined by the seeded in-memory link, with fake time:
 * the harness of the whole-stack tests. Every TCP segment goes through
 * Ethernet, ARP and IPv4 on both sides.
 *
 * Side 0 is 10.9.0.1/24, side 1 is 10.9.0.2/24; their MACs are the
 * link's (02:6b:77:00:00:01 and ...:02). Each stack transmits through a
 * small counting device in front of the link's device, so a test can see
 * (tap) and count every frame a stack sends, before the link decides its
 * fate. The loop advances the clock to the earliest of both stacks' and
 * the link's deadlines, delivers what is due and runs the stacks' timers;
 * the clock never goes backwards and starts at SP_T0 (not zero). */
#ifndef KW_TESTS_STACK_PAIR_H
#define KW_TESTS_STACK_PAIR_H

#include "dev/memlink.h"
#include "stack/stack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define SP_ADDR0 SP_IP4(10, 9, 0, 1)
#define SP_ADDR1 SP_IP4(10, 9, 0, 2)
#define SP_MS(x) ((uint64_t)(x) * UINT64_C(1000000))
#define SP_SEC(x) ((uint64_t)(x) * UINT64_C(1000000000))
#define SP_T0 SP_SEC(1)

struct spair;
/* Sees every frame a stack transmits (side: the sender). */
typedef void (*sp_tap_fn)(struct spair *sp, int side, const uint8_t *frame, size_t len);

struct sp_dev {
	struct kw_netdev dev;            /* what the stack transmits on */
	struct kw_netdev *inner;         /* the link's device */
	struct spair *sp;
	int side;
};

struct spair {
	struct kw_memlink *link;
	struct kw_stack *st[2];
	struct sp_dev dev[2];
	uint64_t now;
	uint64_t tx[2];                  /* frames each stack transmitted */
	uint64_t rx[2];                  /* frames the link delivered to each stack */
	uint64_t events;
	sp_tap_fn tap;
	void *arg;
};

/* The link from lc (its seed too); the stacks' secrets from seed.
 * 0, or -1 when something could not be created. */
int sp_init(struct spair *sp, const struct kw_memlink_config *lc, uint64_t seed);
void sp_fini(struct spair *sp);
struct kw_tcp_layer *sp_tcp(struct spair *sp, int side);

uint64_t sp_next_event(const struct spair *sp);
/* One event (deliveries and timers at the next event time) if it is not
 * later than limit; false when there was none. */
bool sp_step(struct spair *sp, uint64_t limit);
/* Run every event up to t; the clock ends at t. */
void sp_run_until(struct spair *sp, uint64_t t);
/* Run until cond holds (checked before and after each event) or the clock
 * would pass limit (it then ends at limit). Returns whether cond held. */
bool sp_run_while_not(struct spair *sp, bool (*cond)(struct spair *, void *), void *arg,
		      uint64_t limit);

/* A listener on side 1 (port, backlog), a client on side 0 connecting to
 * it; runs until both ends are ESTABLISHED and accepted. The listener is
 * returned, or closed when listener is NULL. 0, or -1. */
int sp_connect(struct spair *sp, uint16_t port, struct kw_tcp **client, struct kw_tcp **server,
	       struct kw_tcp **listener);

/* A frame seen on the wire, parsed as far as it goes. */
struct sp_frame {
	uint16_t ethertype;
	bool ipv4, tcp;
	uint8_t ip_proto;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	size_t dlen;
};
bool sp_parse(const uint8_t *frame, size_t len, struct sp_frame *out);

#define SP_FIN 0x01
#define SP_SYN 0x02
#define SP_RST 0x04
#define SP_PSH 0x08
#define SP_ACK 0x10

#endif
