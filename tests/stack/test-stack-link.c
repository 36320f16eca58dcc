/* Two stacks joined by the in-memory link, driven by a fake clock: ARP
 * resolution end to end, ping across a clean, a lossy and a dead link,
 * and determinism of a whole run from the seeds. */
#include "fixture.h"
#include "dev/memlink.h"

#define A_IP IP4(10, 9, 0, 1)
#define B_IP IP4(10, 9, 0, 2)

struct world {
	struct kw_memlink *link;
	struct kw_stack *st[2];
	uint64_t now;
};

static void to_stack(void *ctx, int side, const void *frame, size_t len)
{
	struct world *w = ctx;
	kw_stack_input(w->st[side], frame, len, w->now);
}

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a < b ? a : b;
	return m < c ? m : c;
}

/* Run every event up to `end`, then set the clock to it. */
static void run_until(struct world *w, uint64_t end)
{
	for (;;) {
		uint64_t t = min3(kw_memlink_next_deadline(w->link), kw_stack_next_deadline(w->st[0]),
				  kw_stack_next_deadline(w->st[1]));
		if (t == KW_TIME_NEVER || t > end)
			break;
		if (t > w->now)
			w->now = t;
		kw_memlink_deliver(w->link, w->now, to_stack, w);
		kw_stack_poll(w->st[0], w->now);
		kw_stack_poll(w->st[1], w->now);
	}
	w->now = end;
	kw_memlink_set_now(w->link, end);
}

static void world_init(struct world *w, const struct kw_memlink_config *lc)
{
	struct kw_stack_config a = { A_IP, 24, 0, 1, KW_TCP_CC_NEWRENO }, b = { B_IP, 24, 0, 2, KW_TCP_CC_NEWRENO };

	memset(w, 0, sizeof(*w));
	w->link = kw_memlink_create(lc);
	w->st[0] = kw_stack_create_with_ops(&a, kw_memlink_dev(w->link, 0), &fake_tcp_ops);
	w->st[1] = kw_stack_create_with_ops(&b, kw_memlink_dev(w->link, 1), &fake_tcp_ops);
}

static void world_free(struct world *w)
{
	kw_stack_destroy(w->st[0]);
	kw_stack_destroy(w->st[1]);
	kw_memlink_destroy(w->link);
}

/* A sends one echo request to B. */
static int ping(struct world *w, uint16_t seq)
{
	uint8_t m[16] = { KW_ICMP_ECHO_REQUEST, 0, 0, 0, 0x4b, 0x57 };

	kw_put16(m + 6, seq);
	kw_put16(m + 2, kw_checksum(m, sizeof(m), 0));
	kw_memlink_set_now(w->link, w->now);
	return kw_ipv4_output(w->st[0], B_IP, KW_IPPROTO_ICMP, m, sizeof(m), w->now);
}

static uint64_t pings(struct world *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ping(w, (uint16_t)i);
		run_until(w, w->now + MS(10));
	}
	run_until(w, w->now + SEC(5));
	return w->st[0]->x.icmp_echo_reply_in;
}

int main(void)
{
	struct kw_memlink_config clean = { .seed = 1, .delay_ns = MS(1) };
	struct kw_memlink_config lossy = { .seed = 77, .delay_ns = MS(1), .jitter_ns = MS(1), .loss = 0.2 };
	struct world w;
	uint64_t got, again;

	world_init(&w, &clean);
	tap_ok(w.st[0] && w.st[1], "two stacks on the two sides of a link");
	tap_ok(ping(&w, 1) == 0, "A pings B (queued behind ARP)");
	run_until(&w, MS(50));
	tap_is_u64(w.st[0]->x.icmp_echo_reply_in, 1, "A gets the echo reply");
	tap_ok(w.st[0]->stats.arp_requests_out == 1 && w.st[1]->stats.arp_replies_out == 1 &&
	       w.st[1]->stats.arp_requests_out == 0,
	       "one ARP exchange: B learnt A from A's request and needed no request of its own");
	tap_ok(kw_arp_lookup(w.st[0], B_IP, w.now) != NULL && kw_arp_lookup(w.st[1], A_IP, w.now) != NULL,
	       "both caches hold the other side");
	tap_is_u64(pings(&w, 100), 101, "100 more pings on a clean link: 100 more replies");
	tap_is_u64(w.st[0]->stats.arp_requests_out, 1, "... with no further ARP while the entry lives");

	/* A dead link: pings vanish; after the entry expires, ARP gives up. */
	kw_memlink_set_drop_all(w.link, true);
	tap_is_u64(pings(&w, 10), 101, "drop-all: no more replies");
	run_until(&w, w.now + KW_ARP_REACHABLE_NS);
	ping(&w, 1000);
	run_until(&w, w.now + SEC(10));
	tap_ok(w.st[0]->x.arp_failed == 1 &&
	       w.st[0]->stats.arp_requests_out == 1 + KW_ARP_MAX_REQUESTS &&
	       kw_stack_next_deadline(w.st[0]) == KW_TIME_NEVER,
	       "after expiry on a dead link: KW_ARP_MAX_REQUESTS requests, then give up, no deadline left");
	kw_memlink_set_drop_all(w.link, false);
	ping(&w, 1001);
	run_until(&w, w.now + SEC(1));
	tap_is_u64(w.st[0]->x.icmp_echo_reply_in, 102, "the link comes back: ARP again, ping works again");
	world_free(&w);

	world_init(&w, &lossy);
	got = pings(&w, 300);
	tap_ok(got > 120 && got < 260, "20% loss each way: some pings answered, some not");
	tap_diag("lossy link: %llu of 300 answered; A sent %llu ARP requests",
		 (unsigned long long)got, (unsigned long long)w.st[0]->stats.arp_requests_out);
	world_free(&w);
	world_init(&w, &lossy);
	again = pings(&w, 300);
	tap_is_u64(again, got, "the same seeds give exactly the same run");
	world_free(&w);
	return tap_done();
}
