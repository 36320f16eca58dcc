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

uint64_t keepalive_budget_ns(const struct keepalive_config *cfg)
{
	return add_sat(cfg->idle_ns, mul_sat(cfg->interval_ns, cfg->count));
}

static uint64_t abort_time(const struct keepalive_state *ka,
			   const struct keepalive_config *cfg)
{
	return add_sat(ka->last_rx_ns, keepalive_budget_ns(cfg));
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

uint64_t keepalive_next_deadline(const struct keepalive_state *ka,
				 const struct keepalive_config *cfg)
{
	uint64_t end;

	if (!ka->enabled || ka->closed || cfg->count == 0)
		return KW_TIME_NEVER;
	end = abort_time(ka, cfg);
	if (ka->probes_sent >= cfg->count)
		return end;
	return min_u64(probe_due(ka, cfg), end);
}

struct keepalive_decision keepalive_poll(struct keepalive_state *ka,
					 const struct keepalive_config *cfg,
					 uint64_t now_ns)
{
	struct keepalive_decision d = { KEEPALIVE_NONE, KW_TIME_NEVER };

	if (!ka->enabled || ka->closed || cfg->count == 0)
		return d;
	if (now_ns >= abort_time(ka, cfg)) {
		ka->closed = true;
		d.action = KEEPALIVE_ABORT;
		return d;
	}
	if (ka->probes_sent < cfg->count && now_ns >= probe_due(ka, cfg)) {
		ka->probes_sent++;
		ka->last_probe_ns = now_ns;
		d.action = KEEPALIVE_SEND_PROBE;
	} else {
		d.action = KEEPALIVE_WAIT;
	}
	d.deadline_ns = keepalive_next_deadline(ka, cfg);
	return d;
}
