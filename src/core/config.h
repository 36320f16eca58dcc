/* keepwire's configuration: the environment variables of DESIGN §2, parsed
 * and validated without I/O.
 *
 * The caller supplies the variable lookup (secure_getenv in the preload, a
 * table in the tests) and receives the configuration plus a list of
 * diagnostics to print. Any error switches keepwire off for the process
 * (fail-open): the program then runs with keepalive as the OS left it. */
#ifndef KW_CORE_CONFIG_H
#define KW_CORE_CONFIG_H

#include "core/netaddr.h"

#include <stdbool.h>
#include <stdint.h>

#define KW_DEFAULT_IDLE_MS     (60u * 1000u)
#define KW_DEFAULT_INTERVAL_MS (10u * 1000u)
#define KW_DEFAULT_COUNT       6u

/* Linux limits (net/ipv4/tcp.c: MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL,
 * MAX_TCP_KEEPCNT; TCP_USER_TIMEOUT takes a non-negative int of ms). */
#define KW_KEEP_TIME_MAX_S     32767u
#define KW_KEEPCNT_MAX         127u
#define KW_USER_TIMEOUT_MAX_MS 2147483647u
/* Direct mode's busy polling before a blocking read sleeps (µs, as
 * Linux's net.core.busy_read); a second is already far past useful. */
#define KW_BUSY_POLL_MAX_US    1000000u

enum kw_log_level { KW_LOG_ERROR = 0, KW_LOG_WARN, KW_LOG_INFO, KW_LOG_DEBUG };
enum kw_policy { KW_POLICY_DEFAULT = 0, KW_POLICY_FORCE };
enum kw_user_timeout_mode { KW_UT_OFF = 0, KW_UT_AUTO, KW_UT_VALUE };
enum kw_mode { KW_MODE_SOCKET = 0, KW_MODE_DIRECT };
/* Where direct mode's engine runs: a thread of the program (default for
 * now) or a process of its own shared by every program on the device. */
enum kw_engine_placement { KW_ENGINE_THREAD = 0, KW_ENGINE_PROCESS };
/* Direct mode's congestion control (KEEPWIRE_CONGESTION): BBR, or NewReno
 * (Linux's name for it, "reno", is accepted too). */
enum kw_congestion { KW_CONGESTION_BBR = 0, KW_CONGESTION_NEWRENO };

struct kw_config {
	bool enabled;                  /* false: keepwire touches nothing */
	uint64_t idle_ms;
	uint64_t interval_ms;
	unsigned count;
	enum kw_user_timeout_mode user_timeout_mode;
	uint64_t user_timeout_ms;      /* meaningful for KW_UT_VALUE */
	enum kw_policy policy;
	enum kw_log_level log_level;
	bool strict;
	enum kw_mode mode;
	enum kw_engine_placement engine;  /* KEEPWIRE_ENGINE */
	enum kw_congestion congestion;    /* KEEPWIRE_CONGESTION */
	unsigned busy_poll_us;            /* KEEPWIRE_BUSY_POLL, 0: off */

	/* Direct mode (KEEPWIRE_TAP ... KEEPWIRE_ROUTE). Every one that is set
	 * is validated whatever the mode, so a typo is reported even while
	 * direct mode is not available; unset ones keep these values. */
	char tap_name[KW_IFNAMSIZ];    /* "": unset */
	uint32_t address;              /* host byte order; 0: unset */
	unsigned prefix_len;           /* of address: the on-link network */
	uint32_t gateway;              /* 0: unset, only the on-link network */
	bool has_mac;                  /* false: a random locally administered one */
	uint8_t mac[6];
	bool has_mtu;                  /* false: the device's */
	unsigned mtu;
	unsigned route_count;          /* 0: every non-loopback IPv4 destination */
	struct kw_ipv4_net routes[KW_ROUTE_MAX];
};

/* What the kernel is told in socket mode: whole seconds, rounded up. */
struct kw_socket_values {
	int idle_s;
	int interval_s;
	int count;
	bool set_user_timeout;
	unsigned user_timeout_ms;
};

#define KW_DIAG_MAX 16
#define KW_DIAG_TEXT 400

/* Messages produced while loading, in the order found. Fixed-size so the
 * preload can load its configuration without allocating. */
struct kw_diag {
	int count;
	int errors;
	struct {
		enum kw_log_level level;
		char text[KW_DIAG_TEXT];
	} item[KW_DIAG_MAX];
};

typedef const char *(*kw_env_lookup_fn)(void *ctx, const char *name);

/* Fill cfg from the variables. Returns the number of errors (each one also
 * an item in diag at level KW_LOG_ERROR); with any error cfg->enabled is
 * false. Informational notes (rounding to whole seconds) are added at
 * KW_LOG_INFO. */
int kw_config_load(struct kw_config *cfg, kw_env_lookup_fn lookup, void *ctx,
		   struct kw_diag *diag);

void kw_config_defaults(struct kw_config *cfg);

/* The values socket mode gives the kernel. */
void kw_config_socket_values(const struct kw_config *cfg,
			     struct kw_socket_values *out);

/* Parsers shared with the keepwire command's options. Each returns true on
 * success, or false with a one-line reason (without the variable name) in
 * why, e.g. "not a number; expected a duration from 1s to 32767s ...". */
bool kw_parse_keep_time(const char *text, uint64_t *ms, char *why, unsigned why_len);
bool kw_parse_count(const char *text, unsigned *count, char *why, unsigned why_len);
bool kw_parse_user_timeout(const char *text, enum kw_user_timeout_mode *mode,
			   uint64_t *ms, char *why, unsigned why_len);
bool kw_parse_policy(const char *text, enum kw_policy *policy, char *why, unsigned why_len);
bool kw_parse_log_level(const char *text, enum kw_log_level *level, char *why, unsigned why_len);
bool kw_parse_congestion(const char *text, enum kw_congestion *cc, char *why, unsigned why_len);
/* "bbr" or "reno" (the name getsockopt(TCP_CONGESTION) gives). */
const char *kw_congestion_name(enum kw_congestion cc);
bool kw_parse_engine(const char *text, enum kw_engine_placement *engine, char *why,
		     unsigned why_len);
/* Microseconds, 0 to KW_BUSY_POLL_MAX_US; "off" is 0. */
bool kw_parse_busy_poll(const char *text, unsigned *us, char *why, unsigned why_len);

const char *kw_log_level_name(enum kw_log_level level);

#endif
