/* The pure keepalive module: Linux's timing, no catch-up bursts, abort at
 * the end of the budget, reset on receive, silence after close. */
#include "core/keepalive.h"
#include "tests/tap.h"

#define S(x) ((uint64_t)(x) * KW_NS_PER_S)
#define MS(x) ((uint64_t)(x) * KW_NS_PER_MS)

struct run {
	unsigned probes;
	uint64_t probe_at[256];
	uint64_t abort_at;
	int polls;
};

/* Drive the module the way the stack does: poll at each deadline it names,
 * starting at `from`, until it aborts (or 10000 polls). */
static void drive(struct keepalive_state *ka, const struct keepalive_config *cfg,
		  uint64_t from, struct run *r)
{
	uint64_t now = from;

	memset(r, 0, sizeof(*r));
	r->abort_at = KW_TIME_NEVER;
	while (r->polls++ < 10000) {
		struct keepalive_decision d = keepalive_poll(ka, cfg, now);
		if (d.action == KEEPALIVE_ABORT) {
			r->abort_at = now;
			return;
		}
		if (d.action == KEEPALIVE_SEND_PROBE && r->probes < 256)
			r->probe_at[r->probes++] = now;
		if (d.action == KEEPALIVE_NONE || d.deadline_ns == KW_TIME_NEVER)
			return;
		if (d.deadline_ns <= now) {
			tap_diag("deadline did not advance at %llu", (unsigned long long)now);
			return;
		}
		now = d.deadline_ns;
	}
}

static void test_linux_defaults(void)
{
	struct keepalive_config cfg = { S(7200), S(75), 9 };
	struct keepalive_state ka;
	struct run r;
	int exact = 1;

	keepalive_start(&ka, 0);
	tap_is_u64(keepalive_next_deadline(&ka, &cfg), S(7200), "7200/75/9: first deadline at 7200 s");
	drive(&ka, &cfg, 0, &r);
	tap_is_u64(r.probes, 9, "7200/75/9: exactly 9 probes");
	for (unsigned k = 0; k < r.probes; k++)
		exact &= r.probe_at[k] == S(7200) + k * S(75);
	tap_ok(exact, "7200/75/9: probe k at 7200 + (k-1)*75 s");
	tap_is_u64(r.abort_at, S(7200 + 9 * 75), "7200/75/9: abort at 7200 + 9*75 s");
	tap_ok(keepalive_poll(&ka, &cfg, S(8000)).action == KEEPALIVE_NONE,
	       "after the abort nothing more happens");
	tap_is_u64(keepalive_budget_ns(&cfg), S(7875), "budget is idle + count*interval");
}

static void test_early_poll(void)
{
	struct keepalive_config cfg = { S(10), S(2), 3 };
	struct keepalive_state ka;
	struct keepalive_decision d;

	keepalive_start(&ka, S(100));
	d = keepalive_poll(&ka, &cfg, S(105));
	tap_ok(d.action == KEEPALIVE_WAIT && d.deadline_ns == S(110) && ka.probes_sent == 0,
	       "polled early: wait until last receive + idle, state unchanged");
	d = keepalive_poll(&ka, &cfg, S(110));
	tap_ok(d.action == KEEPALIVE_SEND_PROBE && d.deadline_ns == S(112),
	       "at idle: one probe, next deadline one interval later");
	d = keepalive_poll(&ka, &cfg, S(110));
	tap_ok(d.action == KEEPALIVE_WAIT && ka.probes_sent == 1,
	       "polled again at once: no second probe");
}

static void test_late_first_poll(void)
{
	struct keepalive_config cfg = { S(10), S(2), 5 };
	struct keepalive_state ka;
	struct keepalive_decision d;
	struct run r;

	keepalive_start(&ka, 0);
	d = keepalive_poll(&ka, &cfg, S(10) + 2 * S(2));
	tap_ok(d.action == KEEPALIVE_SEND_PROBE && ka.probes_sent == 1,
	       "first poll at idle + 2*interval: one probe, not a burst of three");
	tap_is_u64(d.deadline_ns, S(16), "the next probe waits a full interval");
	d = keepalive_poll(&ka, &cfg, S(14) + 1);
	tap_ok(d.action == KEEPALIVE_WAIT, "no probe before that interval has passed");
	drive(&ka, &cfg, S(16), &r);
	tap_is_u64(r.probes, 2, "the rest of the schedule sends the probes that still fit");
	tap_is_u64(r.abort_at, S(20), "the abort time does not move: idle + count*interval");
}

static void test_after_budget(void)
{
	struct keepalive_config cfg = { S(10), S(2), 3 };
	struct keepalive_state ka;
	struct keepalive_decision d;

	keepalive_start(&ka, 0);
	d = keepalive_poll(&ka, &cfg, S(16));
	tap_ok(d.action == KEEPALIVE_ABORT && ka.probes_sent == 0,
	       "first poll after the whole budget aborts at once, without probing");
	keepalive_start(&ka, 0);
	d = keepalive_poll(&ka, &cfg, S(3600));
	tap_ok(d.action == KEEPALIVE_ABORT, "an hour late: abort at once");
	keepalive_start(&ka, 0);
	d = keepalive_poll(&ka, &cfg, S(16) - 1);
	tap_ok(d.action == KEEPALIVE_SEND_PROBE && d.deadline_ns == S(16),
	       "1 ns before the budget ends: one probe, deadline at the end");
}

static void test_receive_resets(void)
{
	struct keepalive_config cfg = { S(10), S(2), 3 };
	struct keepalive_state ka;
	struct keepalive_decision d;
	struct run r;

	keepalive_start(&ka, 0);
	keepalive_poll(&ka, &cfg, S(10));
	keepalive_poll(&ka, &cfg, S(12));
	tap_is_u64(ka.probes_sent, 2, "two probes unanswered");
	keepalive_on_receive(&ka, S(13));
	tap_is_u64(ka.probes_sent, 0, "a received segment clears the probe count");
	tap_is_u64(keepalive_next_deadline(&ka, &cfg), S(23), "next probe at receive + idle");
	d = keepalive_poll(&ka, &cfg, S(14));
	tap_ok(d.action == KEEPALIVE_WAIT && d.deadline_ns == S(23), "no probe right after the answer");
	drive(&ka, &cfg, S(23), &r);
	tap_ok(r.probes == 3 && r.abort_at == S(13 + 10 + 3 * 2),
	       "a full new schedule: 3 probes, abort at receive + budget");
	keepalive_start(&ka, S(50));
	keepalive_on_receive(&ka, S(40));
	tap_is_u64(keepalive_next_deadline(&ka, &cfg), S(60), "a receive time from the past is ignored");
}

static void test_close(void)
{
	struct keepalive_config cfg = { S(1), S(1), 3 };
	struct keepalive_state ka;

	keepalive_start(&ka, 0);
	keepalive_poll(&ka, &cfg, S(1));
	keepalive_close(&ka);
	tap_ok(keepalive_poll(&ka, &cfg, S(2)).action == KEEPALIVE_NONE &&
	       keepalive_poll(&ka, &cfg, S(100)).action == KEEPALIVE_NONE,
	       "after close: no probe and no abort, ever");
	tap_is_u64(keepalive_next_deadline(&ka, &cfg), KW_TIME_NEVER, "after close: no deadline");
	keepalive_on_receive(&ka, S(3));
	tap_ok(keepalive_poll(&ka, &cfg, S(50)).action == KEEPALIVE_NONE,
	       "a segment after close does not revive the timer");
	memset(&ka, 0, sizeof(ka));
	tap_ok(keepalive_poll(&ka, &cfg, S(50)).action == KEEPALIVE_NONE &&
	       keepalive_next_deadline(&ka, &cfg) == KW_TIME_NEVER,
	       "never started (disabled): nothing happens");
}

static void test_milliseconds(void)
{
	struct keepalive_config cfg = { MS(1500), MS(250), 4 };
	struct keepalive_state ka;
	struct run r;

	keepalive_start(&ka, MS(7));
	drive(&ka, &cfg, MS(7), &r);
	tap_ok(r.probes == 4 && r.probe_at[0] == MS(1507) && r.probe_at[1] == MS(1757) &&
	       r.probe_at[2] == MS(2007) && r.probe_at[3] == MS(2257),
	       "ms resolution: probes at 1507, 1757, 2007, 2257 ms");
	tap_is_u64(r.abort_at, MS(2507), "ms resolution: abort at 2507 ms");
}

static void test_seed_scenario(void)
{
	/* The seed's end-to-end case: idle 1 s, interval 1 s, count 3. */
	struct keepalive_config cfg = { S(1), S(1), 3 };
	struct keepalive_state ka;
	struct run r;

	keepalive_start(&ka, 0);
	drive(&ka, &cfg, 0, &r);
	tap_ok(r.probes == 3 && r.probe_at[0] == S(1) && r.probe_at[2] == S(3),
	       "1/1/3: probes at 1, 2, 3 s");
	tap_is_u64(r.abort_at, S(4), "1/1/3: abort at 4 s");
}

static void test_extremes(void)
{
	struct keepalive_config cfg = { UINT64_MAX / 2, UINT64_MAX / 2, 127 };
	struct keepalive_state ka;
	struct keepalive_decision d;

	keepalive_start(&ka, UINT64_MAX - S(1));
	d = keepalive_poll(&ka, &cfg, UINT64_MAX - S(1));
	tap_ok(d.action == KEEPALIVE_WAIT && d.deadline_ns == UINT64_MAX,
	       "huge values saturate instead of wrapping");
	cfg = (struct keepalive_config){ S(1), S(1), 0 };
	keepalive_start(&ka, 0);
	tap_ok(keepalive_poll(&ka, &cfg, S(10)).action == KEEPALIVE_NONE,
	       "count 0 is treated as disabled, not as an instant abort");
}

/* drive() with a user timeout. */
static void drive_ut(struct keepalive_state *ka, const struct keepalive_config *cfg,
		     uint64_t ut, uint64_t from, struct run *r)
{
	uint64_t now = from;

	memset(r, 0, sizeof(*r));
	r->abort_at = KW_TIME_NEVER;
	while (r->polls++ < 10000) {
		struct keepalive_decision d = keepalive_poll_ut(ka, cfg, ut, now);
		if (d.action == KEEPALIVE_ABORT) {
			r->abort_at = now;
			return;
		}
		if (d.action == KEEPALIVE_SEND_PROBE && r->probes < 256)
			r->probe_at[r->probes++] = now;
		if (d.action == KEEPALIVE_NONE || d.deadline_ns <= now)
			return;
		now = d.deadline_ns;
	}
}

/* Linux tcp_keepalive_timer with TCP_USER_TIMEOUT U: the count no longer
 * applies; abort at the first event R + idle + k*interval (k >= 1) with
 * idle + k*interval >= U. Config 10/5/3 (abort at 25 s without U). */
static void test_user_timeout(void)
{
	struct keepalive_config cfg = { S(10), S(5), 3 };
	struct keepalive_state ka;
	struct run r;
	int exact = 1;

	keepalive_start(&ka, 0);
	drive_ut(&ka, &cfg, S(40), 0, &r);
	tap_is_u64(r.probes, 6, "U 40 s: probes go on past the count (10, 15, ... 35 s)");
	for (unsigned k = 0; k < r.probes; k++)
		exact &= r.probe_at[k] == S(10) + k * S(5);
	tap_ok(exact, "U 40 s: probe k at 10 + (k-1)*5 s");
	tap_is_u64(r.abort_at, S(40), "U 40 s: abort at 40 s, not 25 s");

	keepalive_start(&ka, 0);
	drive_ut(&ka, &cfg, S(12), 0, &r);
	tap_ok(r.probes == 1 && r.abort_at == S(15),
	       "U 12 s: one probe at 10 s, abort at the next event, 15 s");

	keepalive_start(&ka, 0);
	drive_ut(&ka, &cfg, S(3), 0, &r);
	tap_ok(r.probes == 1 && r.probe_at[0] == S(10) && r.abort_at == S(15),
	       "U 3 s < idle: a probe is still sent first (probes_out > 0), abort at 15 s");

	keepalive_start(&ka, 0);
	drive_ut(&ka, &cfg, S(21), 0, &r);
	tap_is_u64(r.abort_at, S(25), "U 21 s: abort at the first event at or after 21 s (25 s)");
	tap_is_u64(keepalive_budget_ut_ns(&cfg, S(21)), S(25), "budget with U 21 s is 25 s");
	tap_is_u64(keepalive_budget_ut_ns(&cfg, 0), S(25), "budget with U 0 is idle + count*interval");

	keepalive_start(&ka, 0);
	(void)keepalive_poll_ut(&ka, &cfg, S(40), S(10));
	keepalive_on_receive(&ka, S(30));
	drive_ut(&ka, &cfg, S(40), S(30), &r);
	tap_is_u64(r.abort_at, S(70), "U 40 s: a receive restarts the silence (abort 40 s after it)");

	keepalive_start(&ka, 0);
	tap_ok(keepalive_poll_ut(&ka, &cfg, S(12), S(100)).action == KEEPALIVE_SEND_PROBE,
	       "late caller, U passed but no probe yet: probe first (as Linux)");
	tap_is_u64(keepalive_next_deadline_ut(&ka, &cfg, S(12)), S(105),
		   "then the abort one interval later");
	tap_ok(keepalive_poll_ut(&ka, &cfg, S(12), S(105)).action == KEEPALIVE_ABORT,
	       "and it aborts there");
}

int main(void)
{
	test_user_timeout();
	test_linux_defaults();
	test_early_poll();
	test_late_first_poll();
	test_after_budget();
	test_receive_resets();
	test_close();
	test_milliseconds();
	test_seed_scenario();
	test_extremes();
	return tap_done();
}
