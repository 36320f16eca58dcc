#include "core/keepalive.h"

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Linux tcp_keepalive_timer: with a user timeout U the abort comes at the
 * first timer event R + idle + k·interval (k >= 1: icsk_probes_out > 0)
 * whose silence idle + k·interval reaches U; without one, after count
 * probes. */
uint64_t keepalive_budget_ut_ns(const struct keepalive_config *cfg, uint64_t ut)
{
	uint64_t k = 1;

	if (ut == 0)
		return add_sat(cfg->idle_ns, mul_sat(cfg->interval_ns, cfg->count));
	if (ut > cfg->idle_ns && cfg->interval_ns > 0) {
		uint64_t rest = ut - cfg->idle_ns;
		k = rest / cfg->interval_ns + (rest % cfg->interval_ns != 0);
		if (k == 0)
			k = 1;
	}
	return add_sat(cfg->idle_ns, mul_sat(cfg->interval_ns, k));
}

uint64_t keepalive_budget_ns(const struct keepalive_config *cfg)
{
	return keepalive_budget_ut_ns(cfg, 0);
}

/* With a user timeout the abort is a timer event like the probes: never
 * sooner than one interval after the last probe (only a late caller sees
 * the difference). */
static uint64_t abort_time(const struct keepalive_state *ka,
			   const struct keepalive_config *cfg, uint64_t ut)
{
	uint64_t t = add_sat(ka->last_rx_ns, keepalive_budget_ut_ns(cfg, ut));

	if (ut != 0 && ka->probes_sent > 0)
		t = max_u64(t, add_sat(ka->last_probe_ns, cfg->interval_ns));
	return t;
}

/* How many probes may go out before the abort: count, or (user timeout)
 * as many as the schedule holds. */
static unsigned probe_cap(const struct keepalive_config *cfg, uint64_t ut)
{
	return ut == 0 ? cfg->count : UINT32_MAX;
}

/* When the next probe is due: its place in the schedule, but never less
 * than one interval after the previous probe. */
static uint64_t probe_due(const struct keepalive_state *ka,
			  const struct keepalive_config *cfg)
{
	uint64_t nominal = add_sat(add_sat(ka->last_rx_ns, cfg->idle_ns),
				   mul_sat(cfg->interval_ns, ka->probes_sent));

	if (ka->probes_sent == 0)
		return nominal;
	return max_u64(nominal, add_sat(ka->last_probe_ns, cfg->interval_ns));
}

void keepalive_start(struct keepalive_state *ka, uint64_t now_ns)
{
	ka->enabled = true;
	ka->closed = false;
	ka->last_rx_ns = now_ns;
	ka->last_probe_ns = 0;
	ka->probes_sent = 0;
}

void keepalive_close(struct keepalive_state *ka)
{
	ka->closed = true;
}

void keepalive_on_receive(struct keepalive_state *ka, uint64_t now_ns)
{
	if (ka->closed)
		return;
	if (now_ns > ka->last_rx_ns)
		ka->last_rx_ns = now_ns;
	ka->probes_sent = 0;
}

uint64_t keepalive_next_deadline_ut(const struct keepalive_state *ka,
				    const struct keepalive_config *cfg, uint64_t ut)
{
	uint64_t end;

	if (!ka->enabled || ka->closed || cfg->count == 0)
		return KW_TIME_NEVER;
	end = abort_time(ka, cfg, ut);
	if (ka->probes_sent >= probe_cap(cfg, ut))
		return end;
	return min_u64(probe_due(ka, cfg), end);
}

uint64_t keepalive_next_deadline(const struct keepalive_state *ka,
				 const struct keepalive_config *cfg)
{
	return keepalive_next_deadline_ut(ka, cfg, 0);
}

struct keepalive_decision keepalive_poll_ut(struct keepalive_state *ka,
					    const struct keepalive_config *cfg,
					    uint64_t ut, uint64_t now_ns)
{
	struct keepalive_decision d = { KEEPALIVE_NONE, KW_TIME_NEVER };

	if (!ka->enabled || ka->closed || cfg->count == 0)
		return d;
	/* Linux aborts on the user timeout only once a probe went out
	 * (icsk_probes_out > 0); a caller that polls late sends that probe
	 * first. */
	if (now_ns >= abort_time(ka, cfg, ut) && (ut == 0 || ka->probes_sent > 0)) {
		ka->closed = true;
		d.action = KEEPALIVE_ABORT;
		return d;
	}
	if (ka->probes_sent < probe_cap(cfg, ut) && now_ns >= probe_due(ka, cfg)) {
		ka->probes_sent++;
		ka->last_probe_ns = now_ns;
		d.action = KEEPALIVE_SEND_PROBE;
	} else {
		d.action = KEEPALIVE_WAIT;
	}
	d.deadline_ns = keepalive_next_deadline_ut(ka, cfg, ut);
	return d;
}

struct keepalive_decision keepalive_poll(struct keepalive_state *ka,
					 const struct keepalive_config *cfg,
					 uint64_t now_ns)
{
	return keepalive_poll_ut(ka, cfg, 0, now_ns);
}
