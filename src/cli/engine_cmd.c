/* keepwire engine --tap IF --address A/P [...]: direct mode's engine as a
 * process of its own, in the foreground (a service), or started on demand
 * by a program with --auto (direct/server.h). This binary does not load
 * libkeepwire.so: the engine's own calls go straight to the kernel. */
#include "config.h"
#include "cli/cli.h"
#include "core/config.h"
#include "direct/server.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void engine_usage(FILE *out)
{
	fprintf(out,
"Usage: keepwire engine --tap IF --address A/P [--gateway G] [--route CIDR,...]\n"
"                       [--mac M] [--mtu N] [--congestion bbr|newreno]\n"
"\n"
"Run direct mode's engine (keepwire's stack on TAP device IF) in the\n"
"foreground, serving every program run with KEEPWIRE_ENGINE=process on that\n"
"device in this network namespace, until SIGTERM or SIGINT (then what\n"
"programs wrote is still sent, for at most 10 s). Programs of the same user\n"
"(or root) may use it. A second engine for the same device is refused.\n"
"The options mean what keepwire --direct's do; --route is checked but is\n"
"the programs' choice.\n"
"\n"
"  --auto              started by a program: exit quietly if an engine is\n"
"                      already running, and exit when no program, connection\n"
"                      or unsent data is left\n"
"  -h, --help          show this help and exit\n");
}

struct vars {
	const char *name[12];
	const char *value[12];
	int n;
};

/* The engine's configuration comes from its options only, through the
 * same loader (and the same messages) as the library's variables. */
static const char *lookup_vars(void *ctx, const char *name)
{
	const struct vars *v = ctx;

	for (int i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->value[i];
	return NULL;
}

static void put(struct vars *v, const char *name, const char *value)
{
	for (int i = 0; i < v->n; i++) {
		if (strcmp(v->name[i], name) == 0) {
			v->value[i] = value;
			return;
		}
	}
	v->name[v->n] = name;
	v->value[v->n++] = value;
}

int kw_engine_main(int argc, char **argv)
{
	enum { OPT_TAP = 256, OPT_ADDRESS, OPT_GATEWAY, OPT_ROUTE, OPT_MAC, OPT_MTU,
	       OPT_CONGESTION, OPT_AUTO, OPT_REPORT_FD };
	static const struct option options[] = {
		{ "tap", required_argument, NULL, OPT_TAP },
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "gateway", required_argument, NULL, OPT_GATEWAY },
		{ "route", required_argument, NULL, OPT_ROUTE },
		{ "mac", required_argument, NULL, OPT_MAC },
		{ "mtu", required_argument, NULL, OPT_MTU },
		{ "congestion", required_argument, NULL, OPT_CONGESTION },
		{ "auto", no_argument, NULL, OPT_AUTO },
		/* Internal: where a starting program reads our setup error. */
		{ "report-fd", required_argument, NULL, OPT_REPORT_FD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct kw_config cfg;
	static struct kw_diag diag;
	struct kw_serve_options so = { .report_fd = -1 };
	struct vars v = { .n = 0 };
	int opt;

	put(&v, "KEEPWIRE_MODE", "direct");
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_TAP: put(&v, "KEEPWIRE_TAP", optarg); break;
		case OPT_ADDRESS: put(&v, "KEEPWIRE_ADDRESS", optarg); break;
		case OPT_GATEWAY: put(&v, "KEEPWIRE_GATEWAY", optarg); break;
		case OPT_ROUTE: put(&v, "KEEPWIRE_ROUTE", optarg); break;
		case OPT_MAC: put(&v, "KEEPWIRE_MAC", optarg); break;
		case OPT_MTU: put(&v, "KEEPWIRE_MTU", optarg); break;
		case OPT_CONGESTION: put(&v, "KEEPWIRE_CONGESTION", optarg); break;
		case OPT_AUTO: so.auto_exit = true; break;
		case OPT_REPORT_FD: {
			char *end;
			long fd = strtol(optarg, &end, 10);
			if (*end != '\0' || fd < 0 || fd > INT_MAX) {
				fprintf(stderr, "keepwire engine: --report-fd \"%s\": not a descriptor\n",
					optarg);
				return 2;
			}
			so.report_fd = (int)fd;
			break;
		}
		case 'h':
			engine_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "keepwire engine: unknown option or missing value: %s\n",
				argv[optind - 1]);
			engine_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "keepwire engine: unexpected argument: %s\n", argv[optind]);
		return 2;
	}
	if (lookup_vars(&v, "KEEPWIRE_TAP") == NULL || lookup_vars(&v, "KEEPWIRE_ADDRESS") == NULL) {
		fprintf(stderr, "keepwire engine: --tap IF and --address A/P are required\n");
		fprintf(stderr, "Try 'keepwire engine --help' for more information.\n");
		return 2;
	}
	if (kw_config_load(&cfg, lookup_vars, &v, &diag) != 0) {
		for (int i = 0; i < diag.count; i++)
			if (diag.item[i].level == KW_LOG_ERROR)
				fprintf(stderr, "keepwire engine: %s\n", diag.item[i].text);
		fprintf(stderr, "Try 'keepwire engine --help' for more information.\n");
		return 2;
	}
	return kw_engine_serve(&cfg, &so);
}
