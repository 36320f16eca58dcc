/* kwstack: run keepwire's stack on a TAP device for the root tests.
 *
 *   kwstack --tap NAME --address A.B.C.D/PREFIX [--gateway A.B.C.D]
 *           [--mac xx:xx:xx:xx:xx:xx] [--seconds N] [--up] [--attach] [--seed N]
 *
 * Opens (or creates) the TAP device, announces the address with a
 * gratuitous ARP, prints "ready tap=NAME mac=MAC mtu=MTU" on stdout and
 * (--attach: only attach to an existing device, never create one),
 * runs the event loop until N seconds passed (default 30) or SIGTERM /
 * SIGINT; then prints the stack's counters, one "stat NAME VALUE" line
 * each, and exits 0. Errors: one line on stderr, exit 1. */
#include "config.h"
#include "dev/loop.h"
#include "dev/tap.h"
#include "stack/stack.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_cidr(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	char *end;
	long p;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	p = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 0 || p > 32)
		return -1;
	*prefix = (uint8_t)p;
	return parse_ip(buf, addr);
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: kwstack --tap NAME --address A.B.C.D/PREFIX [--gateway A.B.C.D] "
		"[--mac MAC] [--seconds N] [--up] [--attach] [--seed N]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	struct kw_tap_options topt = { 0 };
	struct kw_stack_config cfg = { 0 };
	struct kw_stack_stats st;
	struct sigaction sa;
	struct kw_stack *stack;
	struct kw_loop *loop;
	struct kw_tap *tap;
	uint8_t mac[6];
	double seconds = 30;
	uint64_t end;
	char err[256];
	int have_addr = 0, r = 0;

	cfg.seed = 0x6b77;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--up") == 0) {
			topt.set_up = true;
			continue;
		}
		if (strcmp(a, "--attach") == 0) {
			topt.must_exist = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--tap") == 0)
			topt.name = v;
		else if (strcmp(a, "--address") == 0 && parse_cidr(v, &cfg.addr, &cfg.prefix_len) == 0)
			have_addr = 1;
		else if (strcmp(a, "--gateway") == 0 && parse_ip(v, &cfg.gateway) == 0)
			;
		else if (strcmp(a, "--mac") == 0 && parse_mac(v, mac) == 0)
			topt.mac = mac;
		else if (strcmp(a, "--seconds") == 0 && (seconds = atof(v)) > 0)
			;
		else if (strcmp(a, "--seed") == 0)
			cfg.seed = strtoull(v, NULL, 0);
		else
			usage();
	}
	if (!have_addr)
		usage();

	tap = kw_tap_open(&topt, err, sizeof(err));
	if (tap == NULL) {
		fprintf(stderr, "kwstack: %s\n", err);
		return 1;
	}
	stack = kw_stack_create(&cfg, kw_tap_netdev(tap));
	if (stack == NULL) {
		fprintf(stderr, "kwstack: cannot create the stack (bad address/gateway, or no memory)\n");
		kw_tap_close(tap);
		return 1;
	}
	loop = kw_loop_create(stack, tap);
	if (loop == NULL) {
		fprintf(stderr, "kwstack: out of memory\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	{
		const uint8_t *m = kw_tap_netdev(tap)->mac;
		printf("ready tap=%s mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u\n", kw_tap_name(tap),
		       m[0], m[1], m[2], m[3], m[4], m[5], kw_tap_netdev(tap)->mtu);
		fflush(stdout);
	}
	kw_stack_announce(stack, kw_loop_now());
	end = kw_loop_now() + (uint64_t)(seconds * 1e9);
	/* Short waits: a signal that lands just before ppoll costs at most
	 * 200 ms, not the rest of the run. */
	while (!stop && kw_loop_now() < end) {
		r = kw_loop_run_once(loop, 200 * UINT64_C(1000000));
		if (r < 0) {
			fprintf(stderr, "kwstack: device %s failed: %s\n", kw_tap_name(tap), strerror(-r));
			break;
		}
	}

	kw_stack_stats(stack, &st);
#define STAT(f) printf("stat %s %llu\n", #f, (unsigned long long)st.f)
	STAT(frames_in); STAT(frames_out); STAT(frames_dropped);
	STAT(arp_requests_in); STAT(arp_replies_in); STAT(arp_requests_out); STAT(arp_replies_out);
	STAT(ip_in); STAT(ip_out); STAT(ip_bad); STAT(ip_fragments_dropped); STAT(ip_options_dropped);
	STAT(icmp_echo_in); STAT(icmp_echo_out); STAT(icmp_unreach_in); STAT(icmp_bad);
	fflush(stdout);
	kw_loop_destroy(loop);
	kw_stack_destroy(stack);
	kw_tap_close(tap);
	return r < 0 ? 1 : 0;
}
