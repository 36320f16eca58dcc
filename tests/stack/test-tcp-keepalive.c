/* Keepalive in the TCP layer (DESIGN §4.2) over the in-memory pair. */
#include "tests/stack/tcp-pair.h"
#include "tests/tap.h"

#include <errno.h>

static const struct keepalive_config cfg111 = { SEC(1), SEC(1), 3 };

static unsigned c_out_after;
static uint64_t abort_at;

static void tap_fn(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		   const struct seginfo *si)
{
	(void)seg; (void)len;
	if (from != 0)
		return;
	if (abort_at != KW_TIME_NEVER && p->now > abort_at)
		c_out_after++;
	if ((si->flags & F_RST) && abort_at == KW_TIME_NEVER)
		abort_at = p->now;
}

static bool has_error(struct tcp_pair *p, void *arg)
{
	(void)p;
	return (kw_tcp_events(arg) & KW_TCP_ERROR) != 0;
}

static void test_dead_link(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t t_down, t_err;
	char b[8];
	struct kw_tcp_stats st;
	uint64_t heard_before;

	pair_init(&p, 31);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "connected");
	kw_tcp_send(c, "hi", 2, p.now);
	kw_tcp_send(s, "yo", 2, p.now);
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_recv(s, b, sizeof(b), p.now);
	kw_tcp_recv(c, b, sizeof(b), p.now);
	/* The last segment the client heard arrived before this point. */
	tap_is_u64(kw_tcp_set_keepalive(c, true, &cfg111, p.now), 0, "keepalive 1 s / 1 s / 3 on the client");
	{
		struct keepalive_config got;
		tap_ok(kw_tcp_get_keepalive(c, &got) && got.count == 3, "get_keepalive reads it back");
	}
	t_down = p.now;
	p.down = true;
	abort_at = KW_TIME_NEVER;
	c_out_after = 0;
	p.tap = tap_fn;
	heard_before = p.delivered[0];
	pair_run_while_not(&p, has_error, c, p.now + SEC(30));
	t_err = p.now;
	tap_diag("ETIMEDOUT after %.3f s of fake time", (double)(t_err - t_down) / 1e9);
	tap_ok(t_err - t_down >= SEC(4) - MS(1) && t_err - t_down <= SEC(4) + MS(1),
	       "client gets the error at 4 s (idle + count*interval) +- 1 ms");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ETIMEDOUT, "SO_ERROR: ETIMEDOUT");
	tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), p.now), (uint64_t)-ETIMEDOUT,
		   "recv: -ETIMEDOUT, not EOF");
	tap_is_u64((uint64_t)kw_tcp_send(c, "x", 1, p.now), (uint64_t)-ETIMEDOUT, "send: -ETIMEDOUT");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "CLOSED");
	tap_ok((kw_tcp_events(c) & (KW_TCP_READABLE | KW_TCP_HUP)) == (KW_TCP_READABLE | KW_TCP_HUP),
	       "readable and HUP, so a poller wakes up");
	kw_tcp_layer_stats(p.l[0], &st);
	tap_is_u64(st.keepalive_probes, 3, "3 probes sent");
	tap_is_u64(st.keepalive_aborts, 1, "one keepalive abort");
	tap_ok(abort_at == t_err, "an RST goes out at the abort");
	tap_is_u64(p.delivered[0] - heard_before, 0, "the peer never heard a probe (link down)");
	tap_is_u64(kw_tcp_layer_next_deadline(p.l[0]), KW_TIME_NEVER, "no timer left on the client");
	pair_run_until(&p, p.now + SEC(120));
	tap_is_u64(c_out_after, 0, "no segment leaves the client after the abort");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(s)), "ESTABLISHED", "the silent server still thinks it is up");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

/* Probe form and timing, answered by a live peer. */
static unsigned probes_seen;
static uint64_t probe_times[64];
static struct seginfo probe_seen;
static unsigned acks_from_server;
static uint32_t server_ack;
static void probe_tap(struct tcp_pair *p, int from, const uint8_t *seg, size_t len,
		      const struct seginfo *si)
{
	(void)seg; (void)len;
	if (from == 0 && si->dlen == 0 && !(si->flags & (F_SYN | F_FIN | F_RST))) {
		if (probes_seen < 64)
			probe_times[probes_seen] = p->now;
		probes_seen++;
		probe_seen = *si;
	}
	if (from == 1) {
		acks_from_server++;
		server_ack = si->ack;
	}
}

static void test_answered(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	uint64_t t0;
	int spacing = 1;
	char b[4];

	pair_init(&p, 32);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "answered: connected");
	kw_tcp_send(s, "ab", 2, p.now);       /* gives the client a SND.UNA to check */
	pair_run_until(&p, p.now + MS(100));
	kw_tcp_recv(c, b, sizeof(b), p.now);
	kw_tcp_set_keepalive(c, true, &cfg111, p.now);
	t0 = p.now;
	p.tap = probe_tap;
	probes_seen = acks_from_server = 0;
	pair_run_until(&p, p.now + SEC(20));
	tap_ok(probes_seen >= 18 && probes_seen <= 20, "a probe about every idle period (1 s + RTT)");
	tap_diag("%u probes in 20 s", probes_seen);
	tap_is_u64(probe_times[0] - t0, SEC(1), "first probe exactly idle (1 s) after the last segment");
	for (unsigned i = 1; i < probes_seen && i < 64; i++)
		spacing &= probe_times[i] - probe_times[i - 1] == SEC(1) + MS(10);
	tap_ok(spacing, "each answer (after one RTT) resets the timer: probes 1.010 s apart");
	tap_ok(acks_from_server == probes_seen, "the peer answers every probe with an ACK");
	tap_ok(probe_seen.flags == F_ACK && probe_seen.dlen == 0, "probe: a bare ACK with no data");
	tap_is_u64(probe_seen.seq, (uint32_t)(server_ack - 1),
		   "probe SEQ = SND.UNA - 1 (the peer's RCV.NXT minus one)");
	{
		tap_ok(kw_tcp_state(c) == KW_TCP_ESTABLISHED && kw_tcp_state(s) == KW_TCP_ESTABLISHED,
		       "both still ESTABLISHED after 20 s");
	}
	/* Data unacknowledged: keepalive suspended, the RTO owns it. */
	p.down = true;
	probes_seen = 0;
	kw_tcp_send(c, "zz", 2, p.now);
	pair_run_until(&p, p.now + SEC(10));
	tap_is_u64(probes_seen, 0, "no keepalive probe while data is unacknowledged");
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "ESTABLISHED",
		   "no keepalive abort at 4 s while the RTO owns the connection");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

static void test_probe_gets_rst(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	char b[4];

	pair_init(&p, 33);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "rst: connected");
	kw_tcp_set_keepalive(c, true, &cfg111, p.now);
	/* The server's side vanishes without a word (reboot). */
	p.down = true;
	kw_tcp_abort(s, p.now);
	p.down = false;
	pair_run_until(&p, p.now + SEC(3));
	tap_is_str(kw_tcp_state_name(kw_tcp_state(c)), "CLOSED", "the probe drew a RST: CLOSED");
	tap_is_u64((uint64_t)kw_tcp_take_error(c), ECONNRESET, "ECONNRESET");
	tap_is_u64((uint64_t)kw_tcp_recv(c, b, sizeof(b), p.now), (uint64_t)-ECONNRESET, "recv: -ECONNRESET");
	tap_is_u64(kw_tcp_layer_next_deadline(p.l[0]), KW_TIME_NEVER, "keepalive timer cancelled");
	kw_tcp_close(c, p.now);
	pair_fini(&p);
}

static void test_off_and_close(void)
{
	struct tcp_pair p;
	struct kw_tcp *c, *s;
	struct kw_tcp_stats st;

	pair_init(&p, 34);
	tap_ok(pair_connect(&p, 80, &c, &s, NULL) == 0, "off: connected");
	tap_ok(!kw_tcp_get_keepalive(c, NULL), "keepalive off by default");
	kw_tcp_set_keepalive(c, true, &cfg111, p.now);
	kw_tcp_set_keepalive(c, false, NULL, p.now);
	p.down = true;
	pair_run_until(&p, p.now + SEC(30));
	kw_tcp_layer_stats(p.l[0], &st);
	tap_ok(st.keepalive_probes == 0 && kw_tcp_state(c) == KW_TCP_ESTABLISHED,
	       "turned off: no probes, no abort");
	tap_is_u64((uint64_t)kw_tcp_set_keepalive(c, true, &(struct keepalive_config){ SEC(1), SEC(1), 0 }, p.now),
		   (uint64_t)-EINVAL, "count 0 is refused");
	kw_tcp_close(c, p.now);
	kw_tcp_close(s, p.now);
	pair_fini(&p);
}

int main(void)
{
	test_dead_link();
	test_answered();
	test_probe_gets_rst();
	test_off_and_close();
	return tap_done();
}
