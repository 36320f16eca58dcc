/* libFuzzer target: keepwire's configuration (core/config.h) and the
 * parsers under it (core/duration.h, core/netaddr.h).
 *
 * Input: records separated by '\n'. A record's first byte selects a
 * variable (byte % 32; 0-18 are the variables below, '@' is 0, 'A' is 1,
 * ...; 19-31 set no variable) and the rest of the record is its value (a
 * later record for the same variable wins). kw_config_load then runs with
 * a lookup over those variables, and every value also goes through each
 * individual parser. Invariants that must hold whatever the input abort()
 * when violated:
 *  - load: the return value is diag.errors; with errors, enabled is false;
 *    without, every field is in its documented range; every message is
 *    NUL-terminated, printable ASCII; loading twice gives the same result;
 *  - parsers: a failure stores nothing and gives a printable reason, a
 *    success a value in range; durations agree with a reference parser;
 *    addresses, networks and names print back as the text parsed.
 *
 * Built with clang -fsanitize=fuzzer (make fuzz), or with any compiler
 * and fuzz/replay.c to replay files. */
#include "core/config.h"
#include "core/duration.h"
#include "core/netaddr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const VARS[] = {
	"KEEPWIRE", "KEEPWIRE_IDLE", "KEEPWIRE_INTERVAL", "KEEPWIRE_COUNT",
	"KEEPWIRE_USER_TIMEOUT", "KEEPWIRE_POLICY", "KEEPWIRE_LOG", "KEEPWIRE_STRICT",
	"KEEPWIRE_MODE", "KEEPWIRE_TAP", "KEEPWIRE_ADDRESS", "KEEPWIRE_GATEWAY",
	"KEEPWIRE_MAC", "KEEPWIRE_MTU", "KEEPWIRE_ROUTE", "KEEPWIRE_ENGINE", "KEEPALIVE", "KEEPIDLE",
	"KEEPINTVL", "KEEPCNT", "KEEPWIRE_CONGESTION", "KEEPWIRE_BUSY_POLL",
};
#define NVARS (sizeof(VARS) / sizeof(VARS[0]))

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz-config: invariant failed at %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);                             \
			abort();                                                        \
		}                                                                       \
	} while (0)

struct env {
	const char *value[NVARS];
};

static const char *lookup(void *ctx, const char *name)
{
	const struct env *e = ctx;

	for (size_t i = 0; i < NVARS; i++)
		if (strcmp(name, VARS[i]) == 0)
			return e->value[i];
	/* The loader asks only for the variables of DESIGN §2. */
	CHECK(!"lookup of an unknown variable");
	return NULL;
}

/* NUL-terminated within len, and printable ASCII before the NUL. */
static void check_text(const char *s, size_t len)
{
	size_t n = strnlen(s, len);

	CHECK(n < len);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f);
}

#define WHY_LEN 256
#define SENTINEL 0xa5

/* A failed parse: a reason, nothing stored. */
static void check_failure(const char *why, const void *out, size_t out_len)
{
	const unsigned char *p = out;

	check_text(why, WHY_LEN);
	CHECK(why[0] != '\0');
	for (size_t i = 0; i < out_len; i++)
		CHECK(p[i] == SENTINEL);
}

/* ---- durations and integers against a reference ---------------------------- */

/* ^[0-9]+(ms|s|m|h)?$ with the value fitting in 64 bits of ms. */
static bool ref_duration(const char *t, uint64_t *ms)
{
	unsigned __int128 v = 0, unit;
	const char *p = t;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT64_MAX)
			return false;
	}
	if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
		unit = 1000;
	else if (strcmp(p, "ms") == 0)
		unit = 1;
	else if (strcmp(p, "m") == 0)
		unit = 60000;
	else if (strcmp(p, "h") == 0)
		unit = 3600000;
	else
		return false;
	v *= unit;
	if (v > UINT64_MAX)
		return false;
	*ms = (uint64_t)v;
	return true;
}

static void fuzz_numbers(const char *t)
{
	uint64_t v, ref, lo, hi;
	enum kw_parse_status st;
	bool all_digits = t[0] != '\0';

	memset(&v, SENTINEL, sizeof(v));
	st = kw_parse_duration_ms(t, &v);
	CHECK(st >= KW_PARSE_OK && st <= KW_PARSE_RANGE && st != KW_PARSE_RANGE);
	check_text(kw_parse_status_text(st), 64);
	if (ref_duration(t, &ref))
		CHECK(st == KW_PARSE_OK && v == ref);
	else
		CHECK(st != KW_PARSE_OK);
	if (st != KW_PARSE_OK)
		check_failure("-", &v, sizeof(v));

	for (const char *p = t; *p; p++)
		if (*p < '0' || *p > '9')
			all_digits = false;
	/* Bounds from the text's own length, so both sides of them happen. */
	lo = strlen(t) % 7;
	hi = lo + (uint64_t)strlen(t) * 1000;
	memset(&v, SENTINEL, sizeof(v));
	st = kw_parse_uint(t, lo, hi, &v);
	CHECK(st >= KW_PARSE_OK && st <= KW_PARSE_RANGE);
	if (st == KW_PARSE_OK)
		CHECK(all_digits && v >= lo && v <= hi);
	else
		check_failure("-", &v, sizeof(v));
	if (all_digits && ref_duration(t, &ref) && ref / 1000 >= lo && ref / 1000 <= hi)
		CHECK(st == KW_PARSE_OK && v == ref / 1000);
}

/* ---- config.h parsers ---------------------------------------------------------- */

static void fuzz_config_parsers(const char *t)
{
	char why[WHY_LEN];
	uint64_t ms;
	unsigned u;
	enum kw_user_timeout_mode mode;
	enum kw_policy pol;
	enum kw_engine_placement eng;
	enum kw_log_level lvl;

	memset(&ms, SENTINEL, sizeof(ms));
	if (kw_parse_keep_time(t, &ms, why, sizeof(why)))
		CHECK(ms >= 1 && ms <= (uint64_t)KW_KEEP_TIME_MAX_S * 1000);
	else
		check_failure(why, &ms, sizeof(ms));

	memset(&u, SENTINEL, sizeof(u));
	if (kw_parse_count(t, &u, why, sizeof(why)))
		CHECK(u >= 1 && u <= KW_KEEPCNT_MAX);
	else
		check_failure(why, &u, sizeof(u));

	memset(&mode, SENTINEL, sizeof(mode));
	memset(&ms, SENTINEL, sizeof(ms));
	if (kw_parse_user_timeout(t, &mode, &ms, why, sizeof(why))) {
		CHECK(mode == KW_UT_OFF || mode == KW_UT_AUTO || mode == KW_UT_VALUE);
		if (mode == KW_UT_VALUE)
			CHECK(ms <= KW_USER_TIMEOUT_MAX_MS);
	} else {
		check_failure(why, &mode, sizeof(mode));
		check_failure(why, &ms, sizeof(ms));
	}

	memset(&u, SENTINEL, sizeof(u));
	if (kw_parse_busy_poll(t, &u, why, sizeof(why)))
		CHECK(u <= KW_BUSY_POLL_MAX_US);
	else
		check_failure(why, &u, sizeof(u));

	memset(&pol, SENTINEL, sizeof(pol));
	if (kw_parse_policy(t, &pol, why, sizeof(why)))
		CHECK(pol == KW_POLICY_DEFAULT || pol == KW_POLICY_FORCE);
	else
		check_failure(why, &pol, sizeof(pol));

	memset(&eng, SENTINEL, sizeof(eng));
	if (kw_parse_engine(t, &eng, why, sizeof(why)))
		CHECK(eng == KW_ENGINE_THREAD || eng == KW_ENGINE_PROCESS);
	else
		check_failure(why, &eng, sizeof(eng));

	memset(&lvl, SENTINEL, sizeof(lvl));
	if (kw_parse_log_level(t, &lvl, why, sizeof(why))) {
		CHECK(lvl >= KW_LOG_ERROR && lvl <= KW_LOG_DEBUG);
		check_text(kw_log_level_name(lvl), 16);
	} else {
		check_failure(why, &lvl, sizeof(lvl));
	}

	/* A short reason buffer truncates; it must still be terminated. */
	memset(why, 'x', sizeof(why));
	if (!kw_parse_keep_time(t, &ms, why, 7))
		CHECK(strnlen(why, 7) < 7);
}

/* ---- netaddr.h parsers --------------------------------------------------------- */

static void fuzz_netaddr(const char *t)
{
	char why[WHY_LEN], back[64];
	uint32_t addr;
	unsigned prefix, count, mtu;
	struct kw_ipv4_net net, nets[KW_ROUTE_MAX];
	uint8_t mac[6];
	char name[KW_IFNAMSIZ];

	/* Canonical forms only: what parses prints back as itself. */
	memset(&addr, SENTINEL, sizeof(addr));
	if (kw_parse_ipv4(t, &addr, why, sizeof(why))) {
		kw_ipv4_format(addr, back, sizeof(back));
		CHECK(strcmp(back, t) == 0);
	} else {
		check_failure(why, &addr, sizeof(addr));
	}

	memset(&addr, SENTINEL, sizeof(addr));
	memset(&prefix, SENTINEL, sizeof(prefix));
	if (kw_parse_ipv4_prefix(t, &addr, &prefix, why, sizeof(why))) {
		CHECK(prefix <= 32);
		kw_ipv4_net_format(addr, prefix, back, sizeof(back));
		CHECK(strcmp(back, t) == 0);
	} else {
		check_failure(why, &addr, sizeof(addr));
		check_failure(why, &prefix, sizeof(prefix));
	}

	memset(&net, SENTINEL, sizeof(net));
	if (kw_parse_ipv4_net(t, &net, why, sizeof(why))) {
		CHECK(net.prefix <= 32);
		CHECK((net.addr & ~kw_ipv4_mask(net.prefix)) == 0);
		kw_ipv4_net_format(net.addr, net.prefix, back, sizeof(back));
		if (strchr(t, '/'))
			CHECK(strcmp(back, t) == 0);
		else
			CHECK(net.prefix == 32 && strncmp(back, t, strlen(t)) == 0 &&
			      strcmp(back + strlen(t), "/32") == 0);
	} else {
		check_failure(why, &net, sizeof(net));
	}

	memset(nets, SENTINEL, sizeof(nets));
	memset(&count, SENTINEL, sizeof(count));
	{
		unsigned max = 1 + (unsigned)(strlen(t) % KW_ROUTE_MAX);
		if (kw_parse_ipv4_net_list(t, nets, max, &count, why, sizeof(why))) {
			CHECK(count >= 1 && count <= max);
			for (unsigned i = 0; i < count; i++)
				CHECK(nets[i].prefix <= 32 &&
				      (nets[i].addr & ~kw_ipv4_mask(nets[i].prefix)) == 0);
		} else {
			/* The count is not stored on failure (the entries may be:
			 * the list is parsed in place). */
			check_failure(why, &count, sizeof(count));
		}
	}

	memset(&addr, SENTINEL, sizeof(addr));
	memset(&prefix, SENTINEL, sizeof(prefix));
	if (kw_parse_host_address(t, &addr, &prefix, why, sizeof(why))) {
		CHECK(prefix >= 1 && prefix <= 32);
		CHECK(kw_check_host_address(addr, prefix, why, sizeof(why)));
		kw_ipv4_net_format(addr, prefix, back, sizeof(back));
		CHECK(strcmp(back, t) == 0);
	} else {
		check_failure(why, &addr, sizeof(addr));
		check_failure(why, &prefix, sizeof(prefix));
	}

	memset(mac, SENTINEL, sizeof(mac));
	if (kw_parse_mac(t, mac, why, sizeof(why))) {
		static const uint8_t zero[6];
		CHECK((mac[0] & 1) == 0 && memcmp(mac, zero, 6) != 0);
		snprintf(back, sizeof(back), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
			 mac[3], mac[4], mac[5]);
		CHECK(strlen(t) == 17);
		for (size_t i = 0; i < 17; i++) {
			char c = t[i];
			if (c >= 'A' && c <= 'F')
				c = (char)(c - 'A' + 'a');
			CHECK(c == back[i]);
		}
	} else {
		check_failure(why, mac, sizeof(mac));
	}

	memset(&mtu, SENTINEL, sizeof(mtu));
	if (kw_parse_mtu(t, &mtu, why, sizeof(why)))
		CHECK(mtu >= KW_MTU_MIN && mtu <= KW_MTU_MAX);
	else
		check_failure(why, &mtu, sizeof(mtu));

	memset(name, SENTINEL, sizeof(name));
	if (kw_parse_ifname(t, name, why, sizeof(why))) {
		size_t n = strnlen(name, sizeof(name));
		CHECK(n >= 1 && n < KW_IFNAMSIZ && strcmp(name, t) == 0);
		CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)name[i];
			CHECK(c > 0x20 && c < 0x7f && c != '/' && c != ':' && c != '%');
		}
	} else {
		check_failure(why, name, sizeof(name));
	}
}

/* ---- the whole configuration ------------------------------------------------------ */

static void check_loaded(const struct kw_config *cfg, const struct kw_diag *d, int ret)
{
	int errors = 0;

	CHECK(ret == d->errors && ret >= 0);
	CHECK(d->count >= 0 && d->count <= KW_DIAG_MAX);
	for (int i = 0; i < d->count; i++) {
		CHECK(d->item[i].level >= KW_LOG_ERROR && d->item[i].level <= KW_LOG_DEBUG);
		check_text(d->item[i].text, KW_DIAG_TEXT);
		CHECK(d->item[i].text[0] != '\0');
		errors += d->item[i].level == KW_LOG_ERROR;
	}
	if (d->count < KW_DIAG_MAX)
		CHECK(errors == d->errors);
	else
		CHECK(errors <= d->errors);
	if (ret > 0) {
		CHECK(!cfg->enabled);
		return;
	}

	CHECK(cfg->idle_ms >= 1 && cfg->idle_ms <= (uint64_t)KW_KEEP_TIME_MAX_S * 1000);
	CHECK(cfg->interval_ms >= 1 && cfg->interval_ms <= (uint64_t)KW_KEEP_TIME_MAX_S * 1000);
	CHECK(cfg->count >= 1 && cfg->count <= KW_KEEPCNT_MAX);
	CHECK(cfg->user_timeout_mode == KW_UT_OFF || cfg->user_timeout_mode == KW_UT_AUTO ||
	      cfg->user_timeout_mode == KW_UT_VALUE);
	if (cfg->user_timeout_mode == KW_UT_VALUE)
		CHECK(cfg->user_timeout_ms <= KW_USER_TIMEOUT_MAX_MS);
	CHECK(cfg->policy == KW_POLICY_DEFAULT || cfg->policy == KW_POLICY_FORCE);
	CHECK(cfg->log_level >= KW_LOG_ERROR && cfg->log_level <= KW_LOG_DEBUG);
	CHECK(cfg->mode == KW_MODE_SOCKET);
	CHECK(strnlen(cfg->tap_name, KW_IFNAMSIZ) < KW_IFNAMSIZ);
	if (cfg->address != 0) {
		struct kw_ipv4_net on_link;
		char why[WHY_LEN];

		CHECK(cfg->prefix_len >= 1 && cfg->prefix_len <= 32);
		CHECK(kw_check_host_address(cfg->address, cfg->prefix_len, why, sizeof(why)));
		if (cfg->gateway != 0) {
			on_link.prefix = (uint8_t)cfg->prefix_len;
			on_link.addr = cfg->address & kw_ipv4_mask(cfg->prefix_len);
			CHECK(kw_ipv4_net_contains(&on_link, cfg->gateway));
			CHECK(cfg->gateway != cfg->address);
		}
	}
	if (cfg->has_mac)
		CHECK((cfg->mac[0] & 1) == 0);
	if (cfg->has_mtu)
		CHECK(cfg->mtu >= KW_MTU_MIN && cfg->mtu <= KW_MTU_MAX);
	CHECK(cfg->route_count <= KW_ROUTE_MAX);
	for (unsigned i = 0; i < cfg->route_count; i++)
		CHECK(cfg->routes[i].prefix <= 32 &&
		      (cfg->routes[i].addr & ~kw_ipv4_mask(cfg->routes[i].prefix)) == 0);

	{
		struct kw_socket_values sv;

		kw_config_socket_values(cfg, &sv);
		CHECK(sv.idle_s >= 1 && sv.idle_s <= (int)KW_KEEP_TIME_MAX_S);
		CHECK(sv.interval_s >= 1 && sv.interval_s <= (int)KW_KEEP_TIME_MAX_S);
		CHECK(sv.count >= 1 && sv.count <= (int)KW_KEEPCNT_MAX);
		CHECK(sv.set_user_timeout == (cfg->user_timeout_mode != KW_UT_OFF));
		CHECK(sv.user_timeout_ms <= KW_USER_TIMEOUT_MAX_MS);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Values live in one copy of the input, each record's '\n' made a NUL. */
	char *buf = malloc(size + 1);
	struct env env;
	size_t at = 0;

	if (!buf)
		return 0;
	memset(&env, 0, sizeof(env));
	if (size)
		memcpy(buf, data, size);
	buf[size] = '\0';
	while (at < size) {
		size_t end = at;
		unsigned sel = (unsigned char)buf[at] % 32u;
		const char *value;

		while (end < size && buf[end] != '\n')
			end++;
		buf[end] = '\0';
		value = buf + at + 1 <= buf + end ? buf + at + 1 : buf + end;
		if (sel < NVARS)
			env.value[sel] = value;
		fuzz_numbers(value);
		fuzz_config_parsers(value);
		fuzz_netaddr(value);
		at = end + 1;
	}

	{
		struct kw_config *cfg = malloc(2 * sizeof(*cfg));
		struct kw_diag *diag = malloc(2 * sizeof(*diag));
		int r1, r2;

		if (cfg && diag) {
			/* Whatever was there before must not matter. */
			memset(&cfg[0], 0x5a, sizeof(cfg[0]));
			memset(&diag[0], 0x5a, sizeof(diag[0]));
			memset(&cfg[1], 0, sizeof(cfg[1]));
			memset(&diag[1], 0, sizeof(diag[1]));
			r1 = kw_config_load(&cfg[0], lookup, &env, &diag[0]);
			check_loaded(&cfg[0], &diag[0], r1);
			r2 = kw_config_load(&cfg[1], lookup, &env, &diag[1]);
			CHECK(r1 == r2);
			CHECK(memcmp(&cfg[0], &cfg[1], sizeof(cfg[0])) == 0);
			CHECK(diag[0].count == diag[1].count && diag[0].errors == diag[1].errors);
			for (int i = 0; i < diag[0].count; i++)
				CHECK(strcmp(diag[0].item[i].text, diag[1].item[i].text) == 0);
		}
		free(cfg);
		free(diag);
	}
	free(buf);
	return 0;
}
