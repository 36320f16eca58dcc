/* Two TCP layers joined by a simulated link, with fake time.
 *
 * Endpoint 0 is 10.0.0.1, endpoint 1 is 10.0.0.2. What a layer sends goes
 * into a queue ordered by delivery time (one-way latency plus optional
 * jitter, which reorders); a seeded PRNG drops, duplicates and delays
 * segments at the configured rates; `down` drops everything. The test
 * loop advances the fake clock to the next event (a delivery or a layer's
 * deadline). A tap sees every segment as it leaves a layer (before the
 * link decides its fate); a filter may drop chosen segments. */
#ifndef KW_TESTS_TCP_PAIR_H
#define KW_TESTS_TCP_PAIR_H

#include "stack/tcp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAIR_ADDR0 0x0a000001u
#define PAIR_ADDR1 0x0a000002u
#define MS(x) ((uint64_t)(x) * KW_NS_PER_MS)
#define SEC(x) ((uint64_t)(x) * KW_NS_PER_S)

struct pair_pkt {
	uint64_t at, order;
	int to;
	uint32_t src, dst;
	size_t len;
	uint8_t *data;
};

struct seginfo {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	size_t dlen, hlen;
};

struct tcp_pair;
typedef void (*pair_tap_fn)(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			    const struct seginfo *si);
typedef bool (*pair_filter_fn)(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
			       const struct seginfo *si);

struct pair_ep {
	struct tcp_pair *pair;
	int idx;
};

struct tcp_pair {
	struct kw_tcp_layer *l[2];
	struct pair_ep ep[2];
	uint64_t now;
	/* link */
	struct pair_pkt *q;
	size_t n, cap;
	uint64_t order;
	uint64_t latency;
	uint64_t jitter;          /* extra random delay for `reorder` share */
	double loss, dup, reorder;
	bool down;
	uint64_t rng;
	/* observation */
	pair_tap_fn tap;
	pair_filter_fn filter;
	void *arg;
	uint64_t sent[2], lost[2], delivered[2];
	uint64_t events;
	size_t client_rcvbuf;     /* if set, applied before pair_connect connects */
};

void pair_init(struct tcp_pair *p, uint64_t seed);
/* The same with the layers' congestion control (KW_TCP_CC_*). */
void pair_init_cc(struct tcp_pair *p, uint64_t seed, uint8_t congestion);
void pair_fini(struct tcp_pair *p);
/* Run events up to and including time t; the clock ends at t. */
void pair_run_until(struct tcp_pair *p, uint64_t t);
/* Run events until cond(arg) holds (checked after each event) or the
 * clock would pass limit. Returns whether cond held. */
bool pair_run_while_not(struct tcp_pair *p, bool (*cond)(struct tcp_pair *, void *),
			void *arg, uint64_t limit);
/* The next event time (delivery or deadline), KW_TIME_NEVER if none. */
uint64_t pair_next_event(const struct tcp_pair *p);

/* Handshake helper: a listener on endpoint 1 port `port`, a client on
 * endpoint 0; returns 0 and the two sockets once both are ESTABLISHED. */
int pair_connect(struct tcp_pair *p, uint16_t port, struct kw_tcp **client,
		 struct kw_tcp **server, struct kw_tcp **listener);

/* Deliver a crafted segment to endpoint `to` now (checksum is filled). */
void pair_inject(struct tcp_pair *p, int to, uint16_t sport, uint16_t dport,
		 uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		 const void *data, size_t dlen);
size_t pair_build(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		  uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		  const void *data, size_t dlen);
bool pair_parse(const uint8_t *seg, size_t len, struct seginfo *si);
uint64_t pair_rand(struct tcp_pair *p);

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

#endif
