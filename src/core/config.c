#include "core/config.h"
#include "core/duration.h"
#include "core/why.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char KEEP_TIME_RULE[] =
	"expected a duration from 1s to 32767s: whole seconds, or a number "
	"with unit ms, s, m or h (1500ms, 90s, 5m)";
static const char USER_TIMEOUT_RULE[] =
	"expected off, auto, or a duration from 0 to 2147483647ms (whole "
	"seconds, or a number with unit ms, s, m or h)";

/* ASCII-only, locale-free case-insensitive equality. */
static bool word_is(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
		if (x != *b)
			return false;
	}
	return *a == *b;
}

static bool word_in(const char *text, const char *const *words)
{
	for (; *words; words++)
		if (word_is(text, *words))
			return true;
	return false;
}

bool kw_parse_keep_time(const char *text, uint64_t *ms, char *why, unsigned why_len)
{
	uint64_t v;
	enum kw_parse_status st = kw_parse_duration_ms(text, &v);

	if (st == KW_PARSE_OK && (v < 1 || v > (uint64_t)KW_KEEP_TIME_MAX_S * 1000))
		st = KW_PARSE_RANGE;
	if (st != KW_PARSE_OK) {
		kw_set_why(why, why_len, "%s; %s", kw_parse_status_text(st), KEEP_TIME_RULE);
		return false;
	}
	*ms = v;
	return true;
}

bool kw_parse_count(const char *text, unsigned *count, char *why, unsigned why_len)
{
	uint64_t v;
	enum kw_parse_status st = kw_parse_uint(text, 1, KW_KEEPCNT_MAX, &v);

	if (st != KW_PARSE_OK) {
		kw_set_why(why, why_len, "%s; expected a whole number from 1 to %u",
			kw_parse_status_text(st), KW_KEEPCNT_MAX);
		return false;
	}
	*count = (unsigned)v;
	return true;
}

bool kw_parse_user_timeout(const char *text, enum kw_user_timeout_mode *mode,
			   uint64_t *ms, char *why, unsigned why_len)
{
	uint64_t v;
	enum kw_parse_status st;

	if (text != NULL && word_is(text, "off")) {
		*mode = KW_UT_OFF;
		return true;
	}
	if (text != NULL && word_is(text, "auto")) {
		*mode = KW_UT_AUTO;
		return true;
	}
	st = kw_parse_duration_ms(text, &v);
	if (st == KW_PARSE_OK && v > KW_USER_TIMEOUT_MAX_MS)
		st = KW_PARSE_RANGE;
	if (st != KW_PARSE_OK) {
		kw_set_why(why, why_len, "%s; %s", kw_parse_status_text(st), USER_TIMEOUT_RULE);
		return false;
	}
	*mode = KW_UT_VALUE;
	*ms = v;
	return true;
}

bool kw_parse_policy(const char *text, enum kw_policy *policy, char *why, unsigned why_len)
{
	if (text != NULL && word_is(text, "default")) {
		*policy = KW_POLICY_DEFAULT;
		return true;
	}
	if (text != NULL && word_is(text, "force")) {
		*policy = KW_POLICY_FORCE;
		return true;
	}
	kw_set_why(why, why_len, "unknown policy; expected default or force");
	return false;
}

bool kw_parse_engine(const char *text, enum kw_engine_placement *engine, char *why,
		     unsigned why_len)
{
	if (text != NULL && word_is(text, "thread")) {
		*engine = KW_ENGINE_THREAD;
		return true;
	}
	if (text != NULL && word_is(text, "process")) {
		*engine = KW_ENGINE_PROCESS;
		return true;
	}
	kw_set_why(why, why_len, "unknown placement; expected thread or process");
	return false;
}

bool kw_parse_congestion(const char *text, enum kw_congestion *cc, char *why, unsigned why_len)
{
	if (text != NULL && word_is(text, "bbr")) {
		*cc = KW_CONGESTION_BBR;
		return true;
	}
	if (text != NULL && (word_is(text, "newreno") || word_is(text, "reno"))) {
		*cc = KW_CONGESTION_NEWRENO;
		return true;
	}
	kw_set_why(why, why_len, "unknown congestion control; expected bbr or newreno");
	return false;
}

bool kw_parse_busy_poll(const char *text, unsigned *us, char *why, unsigned why_len)
{
	char digits[24];
	size_t n = text != NULL ? strlen(text) : 0;
	uint64_t v;
	enum kw_parse_status st;

	if (text != NULL && word_is(text, "off")) {
		*us = 0;
		return true;
	}
	/* A plain number (as Linux's busy_read) or one ending in "us". */
	if (n > 2 && n - 2 < sizeof(digits) && word_is(text + n - 2, "us")) {
		memcpy(digits, text, n - 2);
		digits[n - 2] = '\0';
		text = digits;
	}
	st = kw_parse_uint(text, 0, KW_BUSY_POLL_MAX_US, &v);
	if (st != KW_PARSE_OK) {
		kw_set_why(why, why_len, "%s; expected microseconds from 0 (off) to %u, as 50 or 50us",
			   kw_parse_status_text(st), KW_BUSY_POLL_MAX_US);
		return false;
	}
	*us = (unsigned)v;
	return true;
}

const char *kw_congestion_name(enum kw_congestion cc)
{
	return cc == KW_CONGESTION_NEWRENO ? "reno" : "bbr";
}

static const char *const LEVEL_NAMES[] = { "error", "warn", "info", "debug" };

const char *kw_log_level_name(enum kw_log_level level)
{
	return (unsigned)level < 4 ? LEVEL_NAMES[level] : "?";
}

bool kw_parse_log_level(const char *text, enum kw_log_level *level, char *why, unsigned why_len)
{
	for (unsigned i = 0; text != NULL && i < 4; i++) {
		if (word_is(text, LEVEL_NAMES[i])) {
			*level = (enum kw_log_level)i;
			return true;
		}
	}
	if (text != NULL && word_is(text, "warning")) {
		*level = KW_LOG_WARN;
		return true;
	}
	kw_set_why(why, why_len, "unknown level; expected error, warn, info or debug");
	return false;
}

static const char *const ON_WORDS[] = { "on", "1", "yes", "true", NULL };
static const char *const OFF_WORDS[] = { "off", "0", "no", "false", NULL };

/* ---- loading ---------------------------------------------------------- */

struct loader {
	struct kw_config *cfg;
	kw_env_lookup_fn lookup;
	void *ctx;
	struct kw_diag *diag;
};

/* Printable, bounded copy of a user-supplied value for a message. */
static void quote_value(const char *value, char *out, size_t len)
{
	size_t o = 0;
	const size_t limit = 48;

	for (size_t i = 0; value[i] != '\0' && o + 5 < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (i == limit) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		}
	}
	out[o] = '\0';
}

static void diag_add(struct kw_diag *diag, enum kw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void diag_add(struct kw_diag *diag, enum kw_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level == KW_LOG_ERROR)
		diag->errors++;
	if (diag->count >= KW_DIAG_MAX)
		return;
	diag->item[diag->count].level = level;
	va_start(ap, fmt);
	vsnprintf(diag->item[diag->count].text, KW_DIAG_TEXT, fmt, ap);
	va_end(ap);
	diag->count++;
}

static void bad_value(struct loader *l, const char *name, const char *value, const char *why)
{
	char shown[200];

	quote_value(value, shown, sizeof(shown));
	diag_add(l->diag, KW_LOG_ERROR, "%s=\"%s\": %s", name, shown, why);
}

/* The variable's value, or NULL when unset. */
static const char *get(struct loader *l, const char *name)
{
	return l->lookup(l->ctx, name);
}

/* A keepalive time from KEEPWIRE_x, or else libkeepalive's variable in
 * whole seconds. */
static void load_keep_time(struct loader *l, const char *name, const char *compat,
			   uint64_t *ms)
{
	char why[KW_DIAG_TEXT];
	const char *v = get(l, name);
	uint64_t secs;
	enum kw_parse_status st;

	if (v != NULL) {
		if (!kw_parse_keep_time(v, ms, why, sizeof(why)))
			bad_value(l, name, v, why);
		return;
	}
	v = get(l, compat);
	if (v == NULL)
		return;
	st = kw_parse_uint(v, 1, KW_KEEP_TIME_MAX_S, &secs);
	if (st != KW_PARSE_OK) {
		snprintf(why, sizeof(why), "%s; expected whole seconds from 1 to %u",
			 kw_parse_status_text(st), KW_KEEP_TIME_MAX_S);
		bad_value(l, compat, v, why);
		return;
	}
	*ms = secs * 1000;
}

static void load_count(struct loader *l)
{
	char why[KW_DIAG_TEXT];
	const char *name = "KEEPWIRE_COUNT";
	const char *v = get(l, name);

	if (v == NULL) {
		name = "KEEPCNT";
		v = get(l, name);
	}
	if (v != NULL && !kw_parse_count(v, &l->cfg->count, why, sizeof(why)))
		bad_value(l, name, v, why);
}

static void load_switch(struct loader *l)
{
	const char *v = get(l, "KEEPWIRE");

	if (v != NULL) {
		if (word_in(v, ON_WORDS))
			l->cfg->enabled = true;
		else if (word_in(v, OFF_WORDS))
			l->cfg->enabled = false;
		else
			bad_value(l, "KEEPWIRE", v, "expected on or off");
		return;
	}
	/* libkeepalive: KEEPALIVE=off or skip leaves sockets alone. */
	v = get(l, "KEEPALIVE");
	if (v == NULL)
		return;
	if (word_in(v, ON_WORDS))
		l->cfg->enabled = true;
	else if (word_in(v, OFF_WORDS) || word_is(v, "skip"))
		l->cfg->enabled = false;
	else
		bad_value(l, "KEEPALIVE", v, "expected on, off or skip");
}

static void load_strict(struct loader *l)
{
	const char *v = get(l, "KEEPWIRE_STRICT");

	if (v == NULL)
		return;
	if (word_in(v, ON_WORDS))
		l->cfg->strict = true;
	else if (word_in(v, OFF_WORDS))
		l->cfg->strict = false;
	else
		bad_value(l, "KEEPWIRE_STRICT", v, "expected 1 or 0 (on or off)");
}

static void load_mode(struct loader *l)
{
	const char *v = get(l, "KEEPWIRE_MODE");

	if (v == NULL || word_is(v, "socket"))
		return;
	if (word_is(v, "direct"))
		l->cfg->mode = KW_MODE_DIRECT;
	else
		bad_value(l, "KEEPWIRE_MODE", v, "unknown mode; expected socket or direct");
}

static void load_user_timeout(struct loader *l)
{
	char why[KW_DIAG_TEXT];
	const char *v = get(l, "KEEPWIRE_USER_TIMEOUT");

	if (v != NULL && !kw_parse_user_timeout(v, &l->cfg->user_timeout_mode,
						&l->cfg->user_timeout_ms, why, sizeof(why)))
		bad_value(l, "KEEPWIRE_USER_TIMEOUT", v, why);
}

/* ---- direct mode ------------------------------------------------------ */

static void load_gateway(struct loader *l)
{
	struct kw_config *cfg = l->cfg;
	const char *v = get(l, "KEEPWIRE_GATEWAY");
	char why[KW_DIAG_TEXT], reason[128], net[KW_IPV4_TEXT], own[16];
	struct kw_ipv4_net on_link;
	uint32_t gw;

	if (v == NULL)
		return;
	if (!kw_parse_ipv4(v, &gw, why, sizeof(why))) {
		bad_value(l, "KEEPWIRE_GATEWAY", v, why);
		return;
	}
	if (cfg->address == 0) {
		/* Without a (valid) address only the kind of address is known. */
		if (!kw_check_host_address(gw, 32, reason, sizeof(reason))) {
			snprintf(why, sizeof(why), "%s; expected a host address a.b.c.d", reason);
			bad_value(l, "KEEPWIRE_GATEWAY", v, why);
			return;
		}
		cfg->gateway = gw;
		return;
	}
	/* The gateway is reached by ARP: it must be on the on-link network. */
	on_link.prefix = (uint8_t)cfg->prefix_len;
	on_link.addr = cfg->address & kw_ipv4_mask(cfg->prefix_len);
	kw_ipv4_net_format(on_link.addr, on_link.prefix, net, sizeof(net));
	kw_ipv4_format(cfg->address, own, sizeof(own));
	if (!kw_ipv4_net_contains(&on_link, gw))
		snprintf(reason, sizeof(reason), "outside KEEPWIRE_ADDRESS's network %s", net);
	else if (gw == cfg->address)
		snprintf(reason, sizeof(reason), "the same as KEEPWIRE_ADDRESS");
	else if (kw_check_host_address(gw, cfg->prefix_len, reason, sizeof(reason))) {
		cfg->gateway = gw;
		return;
	}
	snprintf(why, sizeof(why), "%s; expected a host address on %s other than %s",
		 reason, net, own);
	bad_value(l, "KEEPWIRE_GATEWAY", v, why);
}

/* The direct-mode variables, each validated when set (DESIGN §2). */
static void load_direct(struct loader *l)
{
	struct kw_config *cfg = l->cfg;
	char why[KW_DIAG_TEXT];
	const char *v;

	v = get(l, "KEEPWIRE_TAP");
	if (v != NULL && !kw_parse_ifname(v, cfg->tap_name, why, sizeof(why)))
		bad_value(l, "KEEPWIRE_TAP", v, why);
	v = get(l, "KEEPWIRE_ADDRESS");
	if (v != NULL && !kw_parse_host_address(v, &cfg->address, &cfg->prefix_len,
						why, sizeof(why)))
		bad_value(l, "KEEPWIRE_ADDRESS", v, why);
	load_gateway(l);
	v = get(l, "KEEPWIRE_ENGINE");
	if (v != NULL && !kw_parse_engine(v, &cfg->engine, why, sizeof(why)))
		bad_value(l, "KEEPWIRE_ENGINE", v, why);
	v = get(l, "KEEPWIRE_CONGESTION");
	if (v != NULL && !kw_parse_congestion(v, &cfg->congestion, why, sizeof(why)))
		bad_value(l, "KEEPWIRE_CONGESTION", v, why);
	v = get(l, "KEEPWIRE_BUSY_POLL");
	if (v != NULL && !kw_parse_busy_poll(v, &cfg->busy_poll_us, why, sizeof(why)))
		bad_value(l, "KEEPWIRE_BUSY_POLL", v, why);
	v = get(l, "KEEPWIRE_MAC");
	if (v != NULL) {
		cfg->has_mac = kw_parse_mac(v, cfg->mac, why, sizeof(why));
		if (!cfg->has_mac)
			bad_value(l, "KEEPWIRE_MAC", v, why);
	}
	v = get(l, "KEEPWIRE_MTU");
	if (v != NULL) {
		cfg->has_mtu = kw_parse_mtu(v, &cfg->mtu, why, sizeof(why));
		if (!cfg->has_mtu)
			bad_value(l, "KEEPWIRE_MTU", v, why);
	}
	v = get(l, "KEEPWIRE_ROUTE");
	if (v != NULL && !kw_parse_ipv4_net_list(v, cfg->routes, KW_ROUTE_MAX,
						 &cfg->route_count, why, sizeof(why)))
		bad_value(l, "KEEPWIRE_ROUTE", v, why);
}

static void note_rounding(struct loader *l, const char *name, uint64_t ms)
{
	const char *v = get(l, name);

	if (v != NULL && ms % 1000 != 0)
		diag_add(l->diag, KW_LOG_INFO,
			 "%s=%s: kernel keepalive timers count whole seconds; using %llus",
			 name, v, (unsigned long long)kw_ms_round_up_to_s(ms));
}

void kw_config_defaults(struct kw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->enabled = true;
	cfg->idle_ms = KW_DEFAULT_IDLE_MS;
	cfg->interval_ms = KW_DEFAULT_INTERVAL_MS;
	cfg->count = KW_DEFAULT_COUNT;
	cfg->user_timeout_mode = KW_UT_OFF;
	cfg->policy = KW_POLICY_DEFAULT;
	cfg->log_level = KW_LOG_WARN;
	cfg->mode = KW_MODE_SOCKET;
	/* Direct mode's engine is a process of its own, shared by every
	 * program on the device, unless KEEPWIRE_ENGINE=thread (issue 9). */
	cfg->engine = KW_ENGINE_PROCESS;
}

int kw_config_load(struct kw_config *cfg, kw_env_lookup_fn lookup, void *ctx,
		   struct kw_diag *diag)
{
	struct loader l = { cfg, lookup, ctx, diag };
	char why[KW_DIAG_TEXT];
	const char *v;

	kw_config_defaults(cfg);
	memset(diag, 0, sizeof(*diag));

	v = get(&l, "KEEPWIRE_LOG");
	if (v != NULL && !kw_parse_log_level(v, &cfg->log_level, why, sizeof(why)))
		bad_value(&l, "KEEPWIRE_LOG", v, why);
	load_strict(&l);
	load_switch(&l);
	load_mode(&l);
	load_keep_time(&l, "KEEPWIRE_IDLE", "KEEPIDLE", &cfg->idle_ms);
	load_keep_time(&l, "KEEPWIRE_INTERVAL", "KEEPINTVL", &cfg->interval_ms);
	load_count(&l);
	load_user_timeout(&l);
	v = get(&l, "KEEPWIRE_POLICY");
	if (v != NULL && !kw_parse_policy(v, &cfg->policy, why, sizeof(why)))
		bad_value(&l, "KEEPWIRE_POLICY", v, why);
	load_direct(&l);
	if (cfg->mode == KW_MODE_DIRECT && diag->errors == 0) {
		/* Direct mode needs a device and an address of its own. */
		if (cfg->tap_name[0] == 0)
			diag_add(diag, KW_LOG_ERROR, "KEEPWIRE_MODE=direct needs KEEPWIRE_TAP "
				 "(the TAP device the stack runs on, e.g. KEEPWIRE_TAP=kw0)");
		if (cfg->address == 0)
			diag_add(diag, KW_LOG_ERROR, "KEEPWIRE_MODE=direct needs KEEPWIRE_ADDRESS "
				 "(the stack's own address and prefix, e.g. KEEPWIRE_ADDRESS=10.0.0.2/24)");
	}

	if (diag->errors > 0) {
		cfg->enabled = false;
		return diag->errors;
	}
	if (cfg->mode == KW_MODE_SOCKET) {
		note_rounding(&l, "KEEPWIRE_IDLE", cfg->idle_ms);
		note_rounding(&l, "KEEPWIRE_INTERVAL", cfg->interval_ms);
	}
	return 0;
}

void kw_config_socket_values(const struct kw_config *cfg, struct kw_socket_values *out)
{
	uint64_t total_ms;

	out->idle_s = (int)kw_ms_round_up_to_s(cfg->idle_ms);
	out->interval_s = (int)kw_ms_round_up_to_s(cfg->interval_ms);
	out->count = (int)cfg->count;
	out->set_user_timeout = cfg->user_timeout_mode != KW_UT_OFF;
	switch (cfg->user_timeout_mode) {
	case KW_UT_OFF:
		out->user_timeout_ms = 0;
		break;
	case KW_UT_AUTO:
		/* As long as keepalive takes to give up on an idle peer; the
		 * largest settings (32767 + 127 * 32767 s) exceed an int of ms. */
		total_ms = ((uint64_t)out->idle_s + (uint64_t)out->interval_s * cfg->count) * 1000;
		out->user_timeout_ms = total_ms > KW_USER_TIMEOUT_MAX_MS
			? KW_USER_TIMEOUT_MAX_MS : (unsigned)total_ms;
		break;
	case KW_UT_VALUE:
		out->user_timeout_ms = (unsigned)cfg->user_timeout_ms;
		break;
	}
}
