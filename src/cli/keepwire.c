/* keepwire [OPTIONS] [--] COMMAND [ARG...]
 * keepwire show PID
 *
 * Sets the KEEPWIRE_* variables from the options, puts libkeepwire.so in
 * front of LD_PRELOAD and execs the command, so its exit status and
 * signals are the command's own. */
#include "config.h"
#include "cli/cli.h"
#include "core/config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
"Usage: keepwire [OPTIONS] [--] COMMAND [ARG...]\n"
"       keepwire show PID\n"
"       keepwire show --engine IF\n"
"       keepwire engine --tap IF --address A/P [...] (see keepwire engine --help)\n"
"\n"
"Run COMMAND with TCP keepalive on every TCP socket it opens, so a dead peer\n"
"or a silently dropped connection is detected in idle + interval x count.\n"
"\n"
"Options (each sets the environment variable in brackets):\n"
"  --idle D            idle time before the first probe [KEEPWIRE_IDLE] (60s)\n"
"  --interval D        time between probes [KEEPWIRE_INTERVAL] (10s)\n"
"  --count N           unanswered probes before the connection is dropped,\n"
"                      1-127 [KEEPWIRE_COUNT] (6)\n"
"  --user-timeout T    off, auto (= idle + interval x count) or a duration:\n"
"                      TCP_USER_TIMEOUT [KEEPWIRE_USER_TIMEOUT] (off)\n"
"  --policy P          default: the program's own setsockopt wins;\n"
"                      force: keepwire's values stay [KEEPWIRE_POLICY]\n"
"  --log LEVEL         error, warn, info or debug [KEEPWIRE_LOG] (warn)\n"
"  --strict            exit with status 2 on a configuration error instead\n"
"                      of running without keepwire [KEEPWIRE_STRICT=1]\n"
"\n"
"Direct mode: TCP to routed destinations runs over keepwire's own stack on a\n"
"TAP device (keepalive with millisecond resolution) [KEEPWIRE_MODE=direct]:\n"
"  --direct            use direct mode; needs --tap and --address\n"
"  --tap IF            the TAP device (it must exist) [KEEPWIRE_TAP]\n"
"  --address A/P       the stack's address and prefix [KEEPWIRE_ADDRESS]\n"
"  --gateway G         default gateway, on A/P's network [KEEPWIRE_GATEWAY]\n"
"  --route CIDR,...    destinations that use the stack [KEEPWIRE_ROUTE]\n"
"                      (every non-loopback IPv4 address)\n"
"  --mac M             the stack's MAC [KEEPWIRE_MAC] (random, local)\n"
"  --mtu N             the stack's MTU [KEEPWIRE_MTU] (the device's)\n"
"  --congestion C      the stack's congestion control: bbr or newreno\n"
"                      [KEEPWIRE_CONGESTION] (bbr)\n"
"  --busy-poll US      a blocking read, poll or epoll_wait on stack sockets\n"
"                      polls for up to US microseconds before it sleeps\n"
"                      [KEEPWIRE_BUSY_POLL] (0)\n"
"  --engine P          where the stack runs: thread (inside the program) or\n"
"                      process (one keepwire engine per device, shared by\n"
"                      every program, started on demand) [KEEPWIRE_ENGINE]\n"
"                      (process)\n"
"\n"
"  -h, --help          show this help and exit\n"
"  -V, --version       show the version and exit\n"
"\n"
"Durations: whole seconds (90), or with a unit: 1500ms, 90s, 5m, 1h;\n"
"kernel sockets count whole seconds, so milliseconds are rounded up.\n"
"\n"
"keepwire show PID lists the TCP sockets of a running process with their\n"
"keepalive settings (needs ptrace access to the process), and in direct mode\n"
"the connections it holds on keepwire's stack, by descriptor; keepwire show\n"
"--engine IF lists every connection of the engine serving TAP device IF.\n");
}

static int bad_option(const char *opt, const char *value, const char *why)
{
	fprintf(stderr, "keepwire: %s \"%s\": %s\n", opt, value, why);
	fprintf(stderr, "Try 'keepwire --help' for more information.\n");
	return 2;
}

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0) {
		perror("keepwire: setenv");
		exit(2);
	}
}

/* Length of a sanitizer runtime at the start of LD_PRELOAD (with its
 * colon), which must stay the first object loaded; 0 if there is none. */
static size_t sanitizer_prefix(const char *preload)
{
	size_t first = strcspn(preload, ": ");
	const char *asan = strstr(preload, "libasan");
	const char *clang = strstr(preload, "libclang_rt.asan");

	if ((asan != NULL && (size_t)(asan - preload) < first) ||
	    (clang != NULL && (size_t)(clang - preload) < first))
		return preload[first] != '\0' ? first + 1 : first;
	return 0;
}

/* LD_PRELOAD=<library>[:<what was there>], unless it is there already. */
static int preload_library(void)
{
	char path[PATH_MAX];
	const char *lib = kw_find_library(path, sizeof(path));
	const char *old = getenv("LD_PRELOAD");
	char *joined;
	size_t len, keep;

	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "keepwire: cannot read %s: %s (set KEEPWIRE_LIBRARY to "
			"the path of libkeepwire.so)\n", lib, strerror(errno));
		return -1;
	}
	if (old == NULL || old[0] == '\0') {
		set_env("LD_PRELOAD", lib);
		return 0;
	}
	if (strstr(old, lib) != NULL)
		return 0;
	keep = sanitizer_prefix(old);
	len = strlen(lib) + strlen(old) + 3;
	joined = malloc(len);
	if (joined == NULL) {
		perror("keepwire");
		return -1;
	}
	if (keep > 0 && old[keep] == '\0')
		snprintf(joined, len, "%s:%s", old, lib);
	else
		snprintf(joined, len, "%.*s%s:%s", (int)keep, old, lib, old + keep);
	set_env("LD_PRELOAD", joined);
	free(joined);
	return 0;
}

static const char *lookup_env(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static bool config_ok(void)
{
	static struct kw_config cfg;
	static struct kw_diag diag;

	if (kw_config_load(&cfg, lookup_env, NULL, &diag) == 0)
		return true;
	for (int i = 0; i < diag.count; i++)
		if (diag.item[i].level == KW_LOG_ERROR)
			fprintf(stderr, "keepwire: %s\n", diag.item[i].text);
	fprintf(stderr, "Try 'keepwire --help' for more information.\n");
	return false;
}

int main(int argc, char **argv)
{
	enum { OPT_IDLE = 256, OPT_INTERVAL, OPT_COUNT, OPT_USER_TIMEOUT,
	       OPT_POLICY, OPT_LOG, OPT_STRICT, OPT_DIRECT, OPT_TAP, OPT_ADDRESS,
	       OPT_GATEWAY, OPT_ROUTE, OPT_MAC, OPT_MTU, OPT_ENGINE, OPT_CONGESTION,
	       OPT_BUSY_POLL };
	static const struct option options[] = {
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "user-timeout", required_argument, NULL, OPT_USER_TIMEOUT },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "tap", required_argument, NULL, OPT_TAP },
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "gateway", required_argument, NULL, OPT_GATEWAY },
		{ "route", required_argument, NULL, OPT_ROUTE },
		{ "mac", required_argument, NULL, OPT_MAC },
		{ "mtu", required_argument, NULL, OPT_MTU },
		{ "congestion", required_argument, NULL, OPT_CONGESTION },
		{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char why[KW_DIAG_TEXT];
	uint64_t ms;
	unsigned count;
	enum kw_user_timeout_mode ut;
	enum kw_policy policy;
	enum kw_log_level level;
	enum kw_engine_placement placement;
	bool direct = false;
	int opt;

	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return kw_show_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "engine") == 0)
		return kw_engine_main(argc - 1, argv + 1);

	opterr = 0;
	/* '+': stop at the first operand, which is the command. */
	while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
		switch (opt) {
		case OPT_IDLE:
			if (!kw_parse_keep_time(optarg, &ms, why, sizeof(why)))
				return bad_option("--idle", optarg, why);
			set_env("KEEPWIRE_IDLE", optarg);
			break;
		case OPT_INTERVAL:
			if (!kw_parse_keep_time(optarg, &ms, why, sizeof(why)))
				return bad_option("--interval", optarg, why);
			set_env("KEEPWIRE_INTERVAL", optarg);
			break;
		case OPT_COUNT:
			if (!kw_parse_count(optarg, &count, why, sizeof(why)))
				return bad_option("--count", optarg, why);
			set_env("KEEPWIRE_COUNT", optarg);
			break;
		case OPT_USER_TIMEOUT:
			if (!kw_parse_user_timeout(optarg, &ut, &ms, why, sizeof(why)))
				return bad_option("--user-timeout", optarg, why);
			set_env("KEEPWIRE_USER_TIMEOUT", optarg);
			break;
		case OPT_POLICY:
			if (!kw_parse_policy(optarg, &policy, why, sizeof(why)))
				return bad_option("--policy", optarg, why);
			set_env("KEEPWIRE_POLICY", optarg);
			break;
		case OPT_LOG:
			if (!kw_parse_log_level(optarg, &level, why, sizeof(why)))
				return bad_option("--log", optarg, why);
			set_env("KEEPWIRE_LOG", optarg);
			break;
		case OPT_STRICT:
			set_env("KEEPWIRE_STRICT", "1");
			break;
		case OPT_DIRECT:
			set_env("KEEPWIRE_MODE", "direct");
			direct = true;
			break;
		case OPT_TAP:
			set_env("KEEPWIRE_TAP", optarg);
			break;
		case OPT_ADDRESS:
			set_env("KEEPWIRE_ADDRESS", optarg);
			break;
		case OPT_GATEWAY:
			set_env("KEEPWIRE_GATEWAY", optarg);
			break;
		case OPT_ROUTE:
			set_env("KEEPWIRE_ROUTE", optarg);
			break;
		case OPT_MAC:
			set_env("KEEPWIRE_MAC", optarg);
			break;
		case OPT_MTU:
			set_env("KEEPWIRE_MTU", optarg);
			break;
		case OPT_CONGESTION: {
			enum kw_congestion cc;
			if (!kw_parse_congestion(optarg, &cc, why, sizeof(why)))
				return bad_option("--congestion", optarg, why);
			set_env("KEEPWIRE_CONGESTION", optarg);
			break;
		}
		case OPT_BUSY_POLL: {
			unsigned us;
			if (!kw_parse_busy_poll(optarg, &us, why, sizeof(why)))
				return bad_option("--busy-poll", optarg, why);
			set_env("KEEPWIRE_BUSY_POLL", optarg);
			break;
		}
		case OPT_ENGINE:
			if (!kw_parse_engine(optarg, &placement, why, sizeof(why)))
				return bad_option("--engine", optarg, why);
			set_env("KEEPWIRE_ENGINE", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("keepwire %s\n", PACKAGE_VERSION);
			return 0;
		default:
			if (optopt != 0)
				fprintf(stderr, "keepwire: option -%c: unknown or missing its value\n",
					optopt);
			else
				fprintf(stderr, "keepwire: unknown option or missing value: %s\n",
					argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	/* Direct mode's values depend on each other (the gateway on the
	 * address's network, a device and an address both given): check the
	 * whole configuration the program will see, with the library's words. */
	if (direct && !config_ok())
		return 2;
	if (optind >= argc) {
		fprintf(stderr, "keepwire: no command given\n");
		usage(stderr);
		return 2;
	}
	if (preload_library() != 0)
		return 1;
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "keepwire: cannot run %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
