/* TCP keepalive as a pure state machine (DESIGN §4.2): no clock, no I/O.
 *
 * The caller owns the connection and tells the module what happens: a
 * segment arrived (keepalive_on_receive), time passed (keepalive_poll).
 * keepalive_poll answers with the one thing to do now — nothing yet (and
 * until when), send one probe, or abort the connection — and the caller
 * asks again at the returned deadline.
 *
 * Timing is Linux's, anchored at the last received segment R:
 *   probe k (1-based) at R + idle + (k-1)·interval,
 *   abort at R + idle + count·interval if nothing arrived.
 * A caller that polls late gets at most one probe per poll and never a
 * burst: after a probe the next one waits at least one interval. The
 * abort time does not move: a connection silent for idle + count·interval
 * is dead, however few probes a late caller managed to send.
 *
 * Keepalive must not run while sent data is unacknowledged (the
 * retransmission timer owns that case); the TCP layer simply does not poll
 * then, and calls keepalive_on_receive when the ACK arrives. */
#ifndef KW_CORE_KEEPALIVE_H
#define KW_CORE_KEEPALIVE_H

#include <stdbool.h>
#include <stdint.h>

#define KW_NS_PER_MS UINT64_C(1000000)
#define KW_NS_PER_S  UINT64_C(1000000000)
#define KW_TIME_NEVER UINT64_MAX

struct keepalive_config {
	uint64_t idle_ns;
	uint64_t interval_ns;
	unsigned count;          /* >= 1 */
};

struct keepalive_state {
	bool enabled;
	bool closed;             /* after abort or close: no further action */
	uint64_t last_rx_ns;     /* when the last segment arrived */
	uint64_t last_probe_ns;  /* when the last probe went out */
	unsigned probes_sent;    /* since last_rx_ns */
};

enum keepalive_action {
	KEEPALIVE_NONE,          /* disabled or closed: no deadline */
	KEEPALIVE_WAIT,          /* nothing to do before deadline_ns */
	KEEPALIVE_SEND_PROBE,    /* send one probe now; ask again at deadline_ns */
	KEEPALIVE_ABORT,         /* the peer is dead: RST, ETIMEDOUT */
};

struct keepalive_decision {
	enum keepalive_action action;
	uint64_t deadline_ns;    /* next time to poll; KW_TIME_NEVER if none */
};

/* Start (or restart) keepalive on a connection whose last segment arrived
 * at now_ns. */
void keepalive_start(struct keepalive_state *ka, uint64_t now_ns);

/* Stop for good (the connection closed or was reset). */
void keepalive_close(struct keepalive_state *ka);

/* Any segment received proves the peer alive. */
void keepalive_on_receive(struct keepalive_state *ka, uint64_t now_ns);

/* What to do at now_ns; updates the state when it says to probe or abort. */
struct keepalive_decision keepalive_poll(struct keepalive_state *ka,
					 const struct keepalive_config *cfg,
					 uint64_t now_ns);

/* The next deadline without changing anything (for timer scheduling). */
uint64_t keepalive_next_deadline(const struct keepalive_state *ka,
				 const struct keepalive_config *cfg);

/* Time from the last received segment until abort. */
uint64_t keepalive_budget_ns(const struct keepalive_config *cfg);

/* The same three with TCP_USER_TIMEOUT (RFC 5482) capping keepalive as
 * Linux >= 4.x does (tcp_keepalive_timer): with user_timeout_ns != 0 the
 * probe count no longer applies; probes go on every interval and the
 * connection is aborted at the first keepalive event (R + idle +
 * k·interval, k >= 1, so at least one probe went out) at which the peer
 * has been silent for user_timeout_ns. user_timeout_ns == 0 is exactly the
 * functions above. */
struct keepalive_decision keepalive_poll_ut(struct keepalive_state *ka,
					    const struct keepalive_config *cfg,
					    uint64_t user_timeout_ns, uint64_t now_ns);
uint64_t keepalive_next_deadline_ut(const struct keepalive_state *ka,
				    const struct keepalive_config *cfg,
				    uint64_t user_timeout_ns);
uint64_t keepalive_budget_ut_ns(const struct keepalive_config *cfg, uint64_t user_timeout_ns);

#endif
