/* Configuration loading from a fake environment: defaults, every
 * variable, libkeepalive fallback and precedence, every class of bad
 * input with its exact message, rounding notes and fail-open. */
#include "core/config.h"
#include "tests/tap.h"

/* A fake environment: NULL-terminated "NAME=value" strings. */
static const char *fake_lookup(void *ctx, const char *name)
{
	const char *const *env = ctx;
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static struct kw_config cfg;
static struct kw_diag diag;

static int load(const char *const *env)
{
	return kw_config_load(&cfg, fake_lookup, (void *)env, &diag);
}

#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* One bad variable: exactly one error with exactly this text, and
 * keepwire switched off. */
static void bad(const char *assignment, const char *want_text)
{
	char desc[256];
	int errors = load(ENV(assignment));

	snprintf(desc, sizeof(desc), "%s: one error, keepwire off", assignment);
	tap_ok(errors == 1 && diag.errors == 1 && diag.count == 1 && !cfg.enabled &&
	       diag.item[0].level == KW_LOG_ERROR, desc);
	snprintf(desc, sizeof(desc), "%s: message", assignment);
	tap_is_str(diag.count ? diag.item[0].text : NULL, want_text, desc);
}

#define TIME_RULE "expected a duration from 1s to 32767s: whole seconds, or a " \
	"number with unit ms, s, m or h (1500ms, 90s, 5m)"
#define UT_RULE "expected off, auto, or a duration from 0 to 2147483647ms (whole " \
	"seconds, or a number with unit ms, s, m or h)"

static void test_defaults(void)
{
	struct kw_socket_values v;

	tap_ok(load(ENV("UNRELATED=1")) == 0 && diag.count == 0, "empty environment: no messages");
	tap_ok(cfg.enabled, "enabled by default");
	tap_is_u64(cfg.idle_ms, 60000, "default idle 60 s");
	tap_is_u64(cfg.interval_ms, 10000, "default interval 10 s");
	tap_is_u64(cfg.count, 6, "default count 6");
	tap_ok(cfg.user_timeout_mode == KW_UT_OFF, "default user timeout off");
	tap_ok(cfg.policy == KW_POLICY_DEFAULT, "default policy");
	tap_ok(cfg.log_level == KW_LOG_WARN, "default log level warn");
	tap_ok(!cfg.strict, "not strict by default");
	kw_config_socket_values(&cfg, &v);
	tap_ok(v.idle_s == 60 && v.interval_s == 10 && v.count == 6 && !v.set_user_timeout,
	       "socket values 60/10/6, no user timeout");
	tap_ok(v.idle_s + v.interval_s * v.count < 240,
	       "defaults detect a dead peer before a 4-minute NAT timeout");
}

static void test_values(void)
{
	struct kw_socket_values v;

	load(ENV("KEEPWIRE_IDLE=5m", "KEEPWIRE_INTERVAL=1500ms", "KEEPWIRE_COUNT=3",
		 "KEEPWIRE_USER_TIMEOUT=auto", "KEEPWIRE_POLICY=force",
		 "KEEPWIRE_LOG=debug", "KEEPWIRE_STRICT=1"));
	tap_ok(cfg.enabled && diag.errors == 0, "all variables valid");
	tap_is_u64(cfg.idle_ms, 300000, "KEEPWIRE_IDLE=5m");
	tap_is_u64(cfg.interval_ms, 1500, "KEEPWIRE_INTERVAL=1500ms kept in ms");
	tap_is_u64(cfg.count, 3, "KEEPWIRE_COUNT=3");
	tap_ok(cfg.policy == KW_POLICY_FORCE, "KEEPWIRE_POLICY=force");
	tap_ok(cfg.log_level == KW_LOG_DEBUG, "KEEPWIRE_LOG=debug");
	tap_ok(cfg.strict, "KEEPWIRE_STRICT=1");
	kw_config_socket_values(&cfg, &v);
	tap_ok(v.idle_s == 300 && v.interval_s == 2 && v.count == 3, "socket values 300/2/3");
	tap_ok(v.set_user_timeout && v.user_timeout_ms == (300 + 2 * 3) * 1000,
	       "user timeout auto = idle + interval x count of the rounded values");
	tap_ok(diag.count == 1 && diag.item[0].level == KW_LOG_INFO, "one info note for rounding");
	tap_is_str(diag.item[0].text,
		   "KEEPWIRE_INTERVAL=1500ms: kernel keepalive timers count whole seconds; using 2s",
		   "rounding note text");

	load(ENV("KEEPWIRE_USER_TIMEOUT=30s"));
	kw_config_socket_values(&cfg, &v);
	tap_ok(v.set_user_timeout && v.user_timeout_ms == 30000, "KEEPWIRE_USER_TIMEOUT=30s");
	load(ENV("KEEPWIRE_USER_TIMEOUT=0"));
	kw_config_socket_values(&cfg, &v);
	tap_ok(cfg.enabled && v.set_user_timeout && v.user_timeout_ms == 0,
	       "KEEPWIRE_USER_TIMEOUT=0 is valid (kernel default)");
	load(ENV("KEEPWIRE_USER_TIMEOUT=2147483647ms"));
	tap_ok(cfg.enabled && cfg.user_timeout_ms == 2147483647u, "user timeout maximum");
	load(ENV("KEEPWIRE_USER_TIMEOUT=OFF"));
	tap_ok(cfg.enabled && cfg.user_timeout_mode == KW_UT_OFF, "user timeout OFF (any case)");
	load(ENV("KEEPWIRE_IDLE=32767", "KEEPWIRE_INTERVAL=32767", "KEEPWIRE_COUNT=127",
		 "KEEPWIRE_USER_TIMEOUT=auto"));
	kw_config_socket_values(&cfg, &v);
	tap_ok(cfg.enabled && v.user_timeout_ms == 2147483647u,
	       "auto user timeout clamps to the kernel maximum");
	load(ENV("KEEPWIRE_IDLE=500ms"));
	kw_config_socket_values(&cfg, &v);
	tap_ok(cfg.enabled && v.idle_s == 1, "500ms rounds up to 1 s in socket mode");
	load(ENV("KEEPWIRE_IDLE=1ms"));
	tap_ok(cfg.enabled && cfg.idle_ms == 1, "1 ms is the smallest idle");
	load(ENV("KEEPWIRE=off"));
	tap_ok(!cfg.enabled && diag.errors == 0, "KEEPWIRE=off");
	load(ENV("KEEPWIRE=ON"));
	tap_ok(cfg.enabled, "KEEPWIRE=ON");
	load(ENV("KEEPWIRE_LOG=warning"));
	tap_ok(cfg.log_level == KW_LOG_WARN && cfg.enabled, "KEEPWIRE_LOG=warning");
	load(ENV("KEEPWIRE_MODE=socket"));
	tap_ok(cfg.enabled && cfg.mode == KW_MODE_SOCKET, "KEEPWIRE_MODE=socket");
}

static void test_libkeepalive(void)
{
	load(ENV("KEEPIDLE=120", "KEEPINTVL=30", "KEEPCNT=4"));
	tap_ok(cfg.enabled && cfg.idle_ms == 120000 && cfg.interval_ms == 30000 &&
	       cfg.count == 4, "libkeepalive KEEPIDLE/KEEPINTVL/KEEPCNT honoured");
	load(ENV("KEEPIDLE=120", "KEEPWIRE_IDLE=7", "KEEPCNT=4", "KEEPWIRE_COUNT=2"));
	tap_ok(cfg.idle_ms == 7000 && cfg.count == 2, "KEEPWIRE_* wins over libkeepalive");
	load(ENV("KEEPALIVE=off"));
	tap_ok(!cfg.enabled && diag.errors == 0, "KEEPALIVE=off switches keepwire off");
	load(ENV("KEEPALIVE=skip"));
	tap_ok(!cfg.enabled && diag.errors == 0, "KEEPALIVE=skip switches keepwire off");
	load(ENV("KEEPALIVE=on"));
	tap_ok(cfg.enabled, "KEEPALIVE=on");
	load(ENV("KEEPALIVE=off", "KEEPWIRE=on"));
	tap_ok(cfg.enabled, "KEEPWIRE=on wins over KEEPALIVE=off");
	load(ENV("KEEPIDLE=90s"));
	tap_ok(!cfg.enabled && diag.errors == 1, "KEEPIDLE takes plain seconds only");
	tap_is_str(diag.item[0].text,
		   "KEEPIDLE=\"90s\": not a number; expected whole seconds from 1 to 32767",
		   "KEEPIDLE message");
	load(ENV("KEEPIDLE=bad", "KEEPWIRE_IDLE=10"));
	tap_ok(cfg.enabled && diag.errors == 0, "a bad KEEPIDLE is ignored when KEEPWIRE_IDLE is set");
}

static void test_bad_values(void)
{
	bad("KEEPWIRE_IDLE=abc", "KEEPWIRE_IDLE=\"abc\": not a number; " TIME_RULE);
	bad("KEEPWIRE_IDLE=0", "KEEPWIRE_IDLE=\"0\": out of range; " TIME_RULE);
	bad("KEEPWIRE_IDLE=0ms", "KEEPWIRE_IDLE=\"0ms\": out of range; " TIME_RULE);
	bad("KEEPWIRE_IDLE=40000", "KEEPWIRE_IDLE=\"40000\": out of range; " TIME_RULE);
	bad("KEEPWIRE_IDLE=32767001ms", "KEEPWIRE_IDLE=\"32767001ms\": out of range; " TIME_RULE);
	bad("KEEPWIRE_IDLE=-5", "KEEPWIRE_IDLE=\"-5\": negative; " TIME_RULE);
	bad("KEEPWIRE_IDLE=10x", "KEEPWIRE_IDLE=\"10x\": unknown unit; " TIME_RULE);
	bad("KEEPWIRE_IDLE=", "KEEPWIRE_IDLE=\"\": empty value; " TIME_RULE);
	bad("KEEPWIRE_IDLE=99999999999999999999",
	    "KEEPWIRE_IDLE=\"99999999999999999999\": out of range; " TIME_RULE);
	bad("KEEPWIRE_INTERVAL=1.5", "KEEPWIRE_INTERVAL=\"1.5\": not a number; " TIME_RULE);
	bad("KEEPWIRE_INTERVAL=10h", "KEEPWIRE_INTERVAL=\"10h\": out of range; " TIME_RULE);
	bad("KEEPWIRE_COUNT=0",
	    "KEEPWIRE_COUNT=\"0\": out of range; expected a whole number from 1 to 127");
	bad("KEEPWIRE_COUNT=128",
	    "KEEPWIRE_COUNT=\"128\": out of range; expected a whole number from 1 to 127");
	bad("KEEPWIRE_COUNT=-1",
	    "KEEPWIRE_COUNT=\"-1\": negative; expected a whole number from 1 to 127");
	bad("KEEPWIRE_COUNT=3s",
	    "KEEPWIRE_COUNT=\"3s\": not a number; expected a whole number from 1 to 127");
	bad("KEEPWIRE_COUNT=",
	    "KEEPWIRE_COUNT=\"\": empty value; expected a whole number from 1 to 127");
	bad("KEEPWIRE_COUNT=abc",
	    "KEEPWIRE_COUNT=\"abc\": not a number; expected a whole number from 1 to 127");
	bad("KEEPWIRE_USER_TIMEOUT=sometimes",
	    "KEEPWIRE_USER_TIMEOUT=\"sometimes\": not a number; " UT_RULE);
	bad("KEEPWIRE_USER_TIMEOUT=2147483648ms",
	    "KEEPWIRE_USER_TIMEOUT=\"2147483648ms\": out of range; " UT_RULE);
	bad("KEEPWIRE_USER_TIMEOUT=-1", "KEEPWIRE_USER_TIMEOUT=\"-1\": negative; " UT_RULE);
	bad("KEEPWIRE_POLICY=always",
	    "KEEPWIRE_POLICY=\"always\": unknown policy; expected default or force");
	bad("KEEPWIRE_LOG=loud",
	    "KEEPWIRE_LOG=\"loud\": unknown level; expected error, warn, info or debug");
	bad("KEEPWIRE=maybe", "KEEPWIRE=\"maybe\": expected on or off");
	bad("KEEPALIVE=perhaps", "KEEPALIVE=\"perhaps\": expected on, off or skip");
	bad("KEEPWIRE_STRICT=yes please",
	    "KEEPWIRE_STRICT=\"yes please\": expected 1 or 0 (on or off)");
	load(ENV("KEEPWIRE_MODE=direct"));
	tap_ok(diag.errors == 2 && !cfg.enabled &&
	       strcmp(diag.item[0].text, "KEEPWIRE_MODE=direct needs KEEPWIRE_TAP (the TAP device "
		      "the stack runs on, e.g. KEEPWIRE_TAP=kw0)") == 0 &&
	       strstr(diag.item[1].text, "needs KEEPWIRE_ADDRESS") != NULL,
	       "KEEPWIRE_MODE=direct alone: two errors, the device and the address");
	bad("KEEPWIRE_MODE=raw", "KEEPWIRE_MODE=\"raw\": unknown mode; expected socket or direct");
	bad("KEEPCNT=200", "KEEPCNT=\"200\": out of range; expected a whole number from 1 to 127");
	bad("KEEPINTVL=0", "KEEPINTVL=\"0\": out of range; expected whole seconds from 1 to 32767");
	bad("KEEPWIRE_IDLE=\x1b[31mred",
	    "KEEPWIRE_IDLE=\"\\x1b[31mred\": not a number; " TIME_RULE);
	bad("KEEPWIRE_COUNT=\"q\"",
	    "KEEPWIRE_COUNT=\"\\x22q\\x22\": not a number; expected a whole number from 1 to 127");

	/* Two bad variables: two errors, each named. */
	tap_ok(load(ENV("KEEPWIRE_IDLE=x", "KEEPWIRE_COUNT=0")) == 2 && diag.count == 2 &&
	       strncmp(diag.item[0].text, "KEEPWIRE_IDLE=", 14) == 0 &&
	       strncmp(diag.item[1].text, "KEEPWIRE_COUNT=", 15) == 0 && !cfg.enabled,
	       "two bad variables give two messages");
	/* A long value is cut in the message. */
	load(ENV("KEEPWIRE_IDLE=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	tap_ok(strstr(diag.item[0].text, "aaaa...\"") != NULL && strlen(diag.item[0].text) < 250,
	       "a long value is shortened in the message");
	/* Errors are reported with the strict flag still known. */
	load(ENV("KEEPWIRE_STRICT=1", "KEEPWIRE_IDLE=zz"));
	tap_ok(cfg.strict && !cfg.enabled && diag.errors == 1, "strict survives a bad value");
}

/* ---- direct mode ------------------------------------------------------ */

#define IFNAME_RULE "expected an interface name of 1 to 15 ASCII characters without " \
	"/, :, %, whitespace or control characters, not . or .. (tap0)"
#define HOST_RULE "expected a host address and prefix length a.b.c.d/n, n from 1 to " \
	"32 (10.0.0.2/24)"
#define IPV4_RULE "expected an IPv4 address a.b.c.d: four decimal numbers from 0 to " \
	"255 without leading zeros"
#define MAC_RULE "expected a unicast MAC address xx:xx:xx:xx:xx:xx in hex " \
	"(02:00:00:00:00:01)"
#define MTU_RULE "expected a whole number from 576 to 65535"
#define ROUTE_RULE "expected 1 to 16 comma-separated networks a.b.c.d/n with the " \
	"host bits zero, or addresses a.b.c.d, without spaces (10.0.0.0/8,192.168.1.0/24)"

/* A whole environment with exactly one error, of this text. */
static void bad_env(const char *const *env, const char *desc, const char *want_text)
{
	char d[256];

	snprintf(d, sizeof(d), "%s: one error, keepwire off", desc);
	tap_ok(load(env) == 1 && diag.count == 1 && !cfg.enabled &&
	       diag.item[0].level == KW_LOG_ERROR, d);
	snprintf(d, sizeof(d), "%s: message", desc);
	tap_is_str(diag.count ? diag.item[0].text : NULL, want_text, d);
}

static void test_direct_values(void)
{
	load(ENV("UNRELATED=1"));
	tap_ok(cfg.tap_name[0] == '\0' && cfg.address == 0 && cfg.prefix_len == 0 &&
	       cfg.gateway == 0 && !cfg.has_mac && !cfg.has_mtu && cfg.route_count == 0,
	       "direct-mode fields unset by default");

	load(ENV("KEEPWIRE_TAP=kwtap0", "KEEPWIRE_ADDRESS=10.0.0.2/24",
		 "KEEPWIRE_GATEWAY=10.0.0.1", "KEEPWIRE_MAC=02:00:5E:10:00:2a",
		 "KEEPWIRE_MTU=1400", "KEEPWIRE_ROUTE=192.168.0.0/16,203.0.113.7"));
	tap_ok(cfg.enabled && diag.errors == 0 && diag.count == 0,
	       "valid direct-mode variables: no message, keepwire on (socket mode)");
	tap_ok(cfg.mode == KW_MODE_SOCKET, "... the mode stays socket");
	tap_is_str(cfg.tap_name, "kwtap0", "KEEPWIRE_TAP");
	tap_ok(cfg.address == 0x0a000002u && cfg.prefix_len == 24, "KEEPWIRE_ADDRESS");
	tap_is_u64(cfg.gateway, 0x0a000001u, "KEEPWIRE_GATEWAY");
	tap_ok(cfg.has_mac && cfg.mac[0] == 0x02 && cfg.mac[2] == 0x5e && cfg.mac[5] == 0x2a,
	       "KEEPWIRE_MAC");
	tap_ok(cfg.has_mtu && cfg.mtu == 1400, "KEEPWIRE_MTU");
	tap_ok(cfg.route_count == 2 && cfg.routes[0].addr == 0xc0a80000u &&
	       cfg.routes[0].prefix == 16 && cfg.routes[1].addr == 0xcb007107u &&
	       cfg.routes[1].prefix == 32, "KEEPWIRE_ROUTE");

	load(ENV("KEEPWIRE_ADDRESS=10.0.0.0/31", "KEEPWIRE_GATEWAY=10.0.0.1"));
	tap_ok(cfg.enabled && cfg.gateway == 0x0a000001u, "a /31 uses both of its addresses");
	load(ENV("KEEPWIRE_ADDRESS=10.1.2.3/8", "KEEPWIRE_GATEWAY=10.255.0.1"));
	tap_ok(cfg.enabled && cfg.prefix_len == 8, "gateway anywhere in a /8");
	load(ENV("KEEPWIRE_GATEWAY=192.0.2.1"));
	tap_ok(cfg.enabled && cfg.gateway == 0xc0000201u, "a gateway without an address");
	load(ENV("KEEPWIRE_ROUTE=0.0.0.0/0"));
	tap_ok(cfg.enabled && cfg.route_count == 1 && cfg.routes[0].prefix == 0,
	       "KEEPWIRE_ROUTE=0.0.0.0/0");
	load(ENV("KEEPWIRE_MODE=direct", "KEEPWIRE_TAP=tap0", "KEEPWIRE_ADDRESS=10.0.0.2/24"));
	tap_ok(diag.errors == 0 && cfg.enabled && cfg.mode == KW_MODE_DIRECT &&
	       strcmp(cfg.tap_name, "tap0") == 0 && cfg.address == 0x0a000002u && cfg.prefix_len == 24,
	       "KEEPWIRE_MODE=direct with a device and an address");
	load(ENV("KEEPWIRE_MODE=direct", "KEEPWIRE_TAP=tap0"));
	tap_ok(diag.errors == 1 && !cfg.enabled &&
	       strcmp(diag.item[0].text, "KEEPWIRE_MODE=direct needs KEEPWIRE_ADDRESS (the stack's "
		      "own address and prefix, e.g. KEEPWIRE_ADDRESS=10.0.0.2/24)") == 0,
	       "KEEPWIRE_MODE=direct without an address: one error naming it");
	load(ENV("KEEPWIRE_MODE=direct", "KEEPWIRE_ADDRESS=10.0.0.2/24", "KEEPWIRE_IDLE=1500ms"));
	tap_ok(diag.errors == 1 && strstr(diag.item[0].text, "needs KEEPWIRE_TAP") != NULL,
	       "KEEPWIRE_MODE=direct without a device: one error naming it");
	load(ENV("KEEPWIRE_MODE=direct", "KEEPWIRE_TAP=tap0", "KEEPWIRE_ADDRESS=10.0.0.2/24",
		 "KEEPWIRE_IDLE=1500ms"));
	tap_ok(diag.count == 0 && cfg.idle_ms == 1500,
	       "direct mode keeps milliseconds and says nothing about rounding");
	load(ENV("KEEPWIRE_MODE=direct", "KEEPWIRE_TAP=tap0", "KEEPWIRE_ADDRESS=bad"));
	tap_ok(diag.errors == 1 && strstr(diag.item[0].text, "KEEPWIRE_ADDRESS=\"bad\"") != NULL,
	       "a bad address is reported once, not also as missing");
}

static void test_direct_bad(void)
{
	bad("KEEPWIRE_TAP=", "KEEPWIRE_TAP=\"\": empty value; " IFNAME_RULE);
	bad("KEEPWIRE_TAP=tap/0", "KEEPWIRE_TAP=\"tap/0\": contains '/'; " IFNAME_RULE);
	bad("KEEPWIRE_TAP=abcdefghijklmnop",
	    "KEEPWIRE_TAP=\"abcdefghijklmnop\": longer than 15 characters; " IFNAME_RULE);
	bad("KEEPWIRE_TAP=..", "KEEPWIRE_TAP=\"..\": not a name; " IFNAME_RULE);
	bad("KEEPWIRE_TAP=tap 0", "KEEPWIRE_TAP=\"tap 0\": contains whitespace; " IFNAME_RULE);
	bad("KEEPWIRE_TAP=tap%d", "KEEPWIRE_TAP=\"tap%d\": contains '%'; " IFNAME_RULE);

	bad("KEEPWIRE_ADDRESS=", "KEEPWIRE_ADDRESS=\"\": empty value; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0.2",
	    "KEEPWIRE_ADDRESS=\"10.0.0.2\": missing /prefix length; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0.2/33",
	    "KEEPWIRE_ADDRESS=\"10.0.0.2/33\": the prefix length is greater than 32; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0.2/0", "KEEPWIRE_ADDRESS=\"10.0.0.2/0\": a /0 network "
	    "would put every destination on-link; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=010.0.0.2/24", "KEEPWIRE_ADDRESS=\"010.0.0.2/24\": a part has a "
	    "leading zero (read as octal by some tools); " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0.256/24",
	    "KEEPWIRE_ADDRESS=\"10.0.0.256/24\": a part is greater than 255; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0/24",
	    "KEEPWIRE_ADDRESS=\"10.0.0/24\": fewer than four parts; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0.0/24",
	    "KEEPWIRE_ADDRESS=\"10.0.0.0/24\": the network address of 10.0.0.0/24; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=10.0.0.255/24",
	    "KEEPWIRE_ADDRESS=\"10.0.0.255/24\": the broadcast address of 10.0.0.0/24; "
	    HOST_RULE);
	bad("KEEPWIRE_ADDRESS=127.0.0.2/8",
	    "KEEPWIRE_ADDRESS=\"127.0.0.2/8\": a loopback address; " HOST_RULE);
	bad("KEEPWIRE_ADDRESS=239.1.1.1/24",
	    "KEEPWIRE_ADDRESS=\"239.1.1.1/24\": a multicast address; " HOST_RULE);

	bad("KEEPWIRE_GATEWAY=", "KEEPWIRE_GATEWAY=\"\": empty value; " IPV4_RULE);
	bad("KEEPWIRE_GATEWAY=10.0.0.1/24",
	    "KEEPWIRE_GATEWAY=\"10.0.0.1/24\": a prefix length is not accepted here; " IPV4_RULE);
	bad("KEEPWIRE_GATEWAY=router",
	    "KEEPWIRE_GATEWAY=\"router\": a part is not a decimal number; " IPV4_RULE);
	bad("KEEPWIRE_GATEWAY=0.0.0.0", "KEEPWIRE_GATEWAY=\"0.0.0.0\": not a host address "
	    "(0.0.0.0/8 is \"this network\"); expected a host address a.b.c.d");
	bad("KEEPWIRE_GATEWAY=224.0.0.1",
	    "KEEPWIRE_GATEWAY=\"224.0.0.1\": a multicast address; expected a host address a.b.c.d");

	/* Cross-checks: the gateway is on the address's network. */
	bad_env(ENV("KEEPWIRE_ADDRESS=10.0.0.2/24", "KEEPWIRE_GATEWAY=192.168.1.1"),
		"gateway off the network", "KEEPWIRE_GATEWAY=\"192.168.1.1\": outside "
		"KEEPWIRE_ADDRESS's network 10.0.0.0/24; expected a host address on "
		"10.0.0.0/24 other than 10.0.0.2");
	bad_env(ENV("KEEPWIRE_ADDRESS=10.0.0.2/24", "KEEPWIRE_GATEWAY=10.0.0.2"),
		"gateway = address", "KEEPWIRE_GATEWAY=\"10.0.0.2\": the same as "
		"KEEPWIRE_ADDRESS; expected a host address on 10.0.0.0/24 other than 10.0.0.2");
	bad_env(ENV("KEEPWIRE_ADDRESS=10.0.0.2/24", "KEEPWIRE_GATEWAY=10.0.0.255"),
		"gateway = broadcast", "KEEPWIRE_GATEWAY=\"10.0.0.255\": the broadcast "
		"address of 10.0.0.0/24; expected a host address on 10.0.0.0/24 other than "
		"10.0.0.2");
	bad_env(ENV("KEEPWIRE_ADDRESS=10.0.0.2/24", "KEEPWIRE_GATEWAY=10.0.0.0"),
		"gateway = network address", "KEEPWIRE_GATEWAY=\"10.0.0.0\": the network "
		"address of 10.0.0.0/24; expected a host address on 10.0.0.0/24 other than "
		"10.0.0.2");
	bad_env(ENV("KEEPWIRE_ADDRESS=10.0.0.2/32", "KEEPWIRE_GATEWAY=10.0.0.1"),
		"gateway with a /32 address", "KEEPWIRE_GATEWAY=\"10.0.0.1\": outside "
		"KEEPWIRE_ADDRESS's network 10.0.0.2/32; expected a host address on "
		"10.0.0.2/32 other than 10.0.0.2");
	/* A bad address is reported once; the gateway is then only checked alone. */
	bad_env(ENV("KEEPWIRE_ADDRESS=10.0.0.2", "KEEPWIRE_GATEWAY=192.168.1.1"),
		"bad address, gateway elsewhere",
		"KEEPWIRE_ADDRESS=\"10.0.0.2\": missing /prefix length; " HOST_RULE);

	bad("KEEPWIRE_MAC=", "KEEPWIRE_MAC=\"\": empty value; " MAC_RULE);
	bad("KEEPWIRE_MAC=02:00:00:00:00",
	    "KEEPWIRE_MAC=\"02:00:00:00:00\": fewer than six parts; " MAC_RULE);
	bad("KEEPWIRE_MAC=02-00-00-00-00-01",
	    "KEEPWIRE_MAC=\"02-00-00-00-00-01\": parts must be separated by ':'; " MAC_RULE);
	bad("KEEPWIRE_MAC=02:00:00:00:00:0g",
	    "KEEPWIRE_MAC=\"02:00:00:00:00:0g\": a part is not two hex digits; " MAC_RULE);
	bad("KEEPWIRE_MAC=01:00:5e:00:00:01", "KEEPWIRE_MAC=\"01:00:5e:00:00:01\": a multicast "
	    "address (lowest bit of the first byte set); " MAC_RULE);
	bad("KEEPWIRE_MAC=00:00:00:00:00:00",
	    "KEEPWIRE_MAC=\"00:00:00:00:00:00\": the all-zeros address; " MAC_RULE);

	bad("KEEPWIRE_MTU=", "KEEPWIRE_MTU=\"\": empty value; " MTU_RULE);
	bad("KEEPWIRE_MTU=575", "KEEPWIRE_MTU=\"575\": out of range; " MTU_RULE);
	bad("KEEPWIRE_MTU=65536", "KEEPWIRE_MTU=\"65536\": out of range; " MTU_RULE);
	bad("KEEPWIRE_MTU=-1", "KEEPWIRE_MTU=\"-1\": negative; " MTU_RULE);
	bad("KEEPWIRE_MTU=1500b", "KEEPWIRE_MTU=\"1500b\": not a number; " MTU_RULE);
	bad("KEEPWIRE_MTU=01500", "KEEPWIRE_MTU=\"01500\": leading zero (read as octal by "
	    "some tools); " MTU_RULE);

	bad("KEEPWIRE_ROUTE=", "KEEPWIRE_ROUTE=\"\": empty value; " ROUTE_RULE);
	bad("KEEPWIRE_ROUTE=10.0.0.1/8", "KEEPWIRE_ROUTE=\"10.0.0.1/8\": entry 1: host bits "
	    "set (the network is 10.0.0.0/8); " ROUTE_RULE);
	bad("KEEPWIRE_ROUTE=10.0.0.0/8,", "KEEPWIRE_ROUTE=\"10.0.0.0/8,\": entry 2 is empty; "
	    ROUTE_RULE);
	bad("KEEPWIRE_ROUTE=10.0.0.0/8, 10.1.0.0/16", "KEEPWIRE_ROUTE=\"10.0.0.0/8, "
	    "10.1.0.0/16\": entry 2: a part is not a decimal number; " ROUTE_RULE);
	bad("KEEPWIRE_ROUTE=1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8,6.0.0.0/8,"
	    "7.0.0.0/8,8.0.0.0/8,9.0.0.0/8,10.0.0.0/8,11.0.0.0/8,12.0.0.0/8,13.0.0.0/8,"
	    "14.0.0.0/8,15.0.0.0/8,16.0.0.0/8,17.0.0.0/8",
	    "KEEPWIRE_ROUTE=\"1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/...\": "
	    "more than 16 networks; " ROUTE_RULE);
	bad("KEEPWIRE_ROUTE=\x1b[31m", "KEEPWIRE_ROUTE=\"\\x1b[31m\": entry 1: a part is not "
	    "a decimal number; " ROUTE_RULE);

	/* Every bad direct variable is named, after the socket-mode ones. */
	tap_ok(load(ENV("KEEPWIRE_IDLE=x", "KEEPWIRE_TAP=", "KEEPWIRE_ADDRESS=x",
			"KEEPWIRE_GATEWAY=x", "KEEPWIRE_MAC=x", "KEEPWIRE_MTU=x",
			"KEEPWIRE_ROUTE=x")) == 7 && diag.count == 7 && !cfg.enabled &&
	       strncmp(diag.item[0].text, "KEEPWIRE_IDLE=", 14) == 0 &&
	       strncmp(diag.item[1].text, "KEEPWIRE_TAP=", 13) == 0 &&
	       strncmp(diag.item[6].text, "KEEPWIRE_ROUTE=", 15) == 0,
	       "seven bad variables give seven messages in order");
	tap_ok(load(ENV("KEEPWIRE_MODE=direct", "KEEPWIRE_TAP=tap0", "KEEPWIRE_ADDRESS=10.0.0.2/24",
			"KEEPWIRE_MTU=9", "KEEPWIRE_COUNT=0")) == 2 && !cfg.enabled &&
	       strncmp(diag.item[0].text, "KEEPWIRE_COUNT=", 15) == 0 &&
	       strncmp(diag.item[1].text, "KEEPWIRE_MTU=\"9\": out of range", 28) == 0,
	       "KEEPWIRE_MODE=direct with two bad variables: both reported");
	/* Where the engine runs: a thread of the program (default) or a
	 * process of its own. */
	load(ENV("UNRELATED=1"));
	tap_ok(cfg.engine == KW_ENGINE_PROCESS, "KEEPWIRE_ENGINE unset: process");
	load(ENV("KEEPWIRE_ENGINE=process"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.engine == KW_ENGINE_PROCESS,
	       "KEEPWIRE_ENGINE=process");
	load(ENV("KEEPWIRE_ENGINE=Thread"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.engine == KW_ENGINE_THREAD,
	       "KEEPWIRE_ENGINE=Thread (any case)");
	bad("KEEPWIRE_ENGINE=fork",
	    "KEEPWIRE_ENGINE=\"fork\": unknown placement; expected thread or process");
	bad("KEEPWIRE_ENGINE=", "KEEPWIRE_ENGINE=\"\": unknown placement; expected thread or process");
	/* Direct mode's congestion control: BBR unless asked otherwise. */
	load(ENV("UNRELATED=1"));
	tap_ok(cfg.congestion == KW_CONGESTION_BBR, "KEEPWIRE_CONGESTION unset: bbr");
	load(ENV("KEEPWIRE_CONGESTION=newreno"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.congestion == KW_CONGESTION_NEWRENO,
	       "KEEPWIRE_CONGESTION=newreno");
	load(ENV("KEEPWIRE_CONGESTION=Reno"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.congestion == KW_CONGESTION_NEWRENO,
	       "KEEPWIRE_CONGESTION=Reno (Linux's name, any case)");
	load(ENV("KEEPWIRE_CONGESTION=bbr"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.congestion == KW_CONGESTION_BBR,
	       "KEEPWIRE_CONGESTION=bbr");
	tap_is_str(kw_congestion_name(KW_CONGESTION_NEWRENO), "reno", "NewReno's TCP_CONGESTION name");
	bad("KEEPWIRE_CONGESTION=cubic",
	    "KEEPWIRE_CONGESTION=\"cubic\": unknown congestion control; expected bbr or newreno");
	/* Busy polling before a blocking read of a stack socket sleeps. */
	load(ENV("UNRELATED=1"));
	tap_ok(cfg.busy_poll_us == 0, "KEEPWIRE_BUSY_POLL unset: off");
	load(ENV("KEEPWIRE_BUSY_POLL=50"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.busy_poll_us == 50, "KEEPWIRE_BUSY_POLL=50");
	load(ENV("KEEPWIRE_BUSY_POLL=1000000"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.busy_poll_us == 1000000,
	       "KEEPWIRE_BUSY_POLL=1000000 (the largest)");
	load(ENV("KEEPWIRE_BUSY_POLL=Off"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.busy_poll_us == 0, "KEEPWIRE_BUSY_POLL=Off");
	load(ENV("KEEPWIRE_BUSY_POLL=0"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.busy_poll_us == 0, "KEEPWIRE_BUSY_POLL=0");
	bad("KEEPWIRE_BUSY_POLL=1000001",
	    "KEEPWIRE_BUSY_POLL=\"1000001\": out of range; expected microseconds from 0 (off) "
	    "to 1000000, as 50 or 50us");
	bad("KEEPWIRE_BUSY_POLL=50ms",
	    "KEEPWIRE_BUSY_POLL=\"50ms\": not a number; expected microseconds from 0 (off) "
	    "to 1000000, as 50 or 50us");
	load(ENV("KEEPWIRE_BUSY_POLL=50us"));
	tap_ok(cfg.enabled && diag.count == 0 && cfg.busy_poll_us == 50, "KEEPWIRE_BUSY_POLL=50us");
	load(ENV("KEEPWIRE_STRICT=1", "KEEPWIRE_MAC=x"));
	tap_ok(cfg.strict && !cfg.enabled && diag.errors == 1,
	       "strict survives a bad direct variable");
}

int main(void)
{
	test_defaults();
	test_values();
	test_libkeepalive();
	test_bad_values();
	test_direct_values();
	test_direct_bad();
	return tap_done();
}
