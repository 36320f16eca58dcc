/* KW_OP_DUMP: every connection of the engine's stack as text, for
 * `keepwire show` (an `ss -ti` for keepwire's stack). The text is built in
 * memory, then written to the descriptor the request brought, with a
 * bounded wait: a reader that stops reading cannot stall the engine. */
#include "config.h"
#include "direct/engine_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DUMP_WRITE_MS 2000

struct dump {
	FILE *f;
	pid_t only;                    /* 0: every connection */
	bool inodes;                   /* end each line with the program end's inode */
	const struct kw_direct_shared *shared;
	uint64_t now;
};

static void endpoint(char *out, size_t len, uint32_t addr, uint16_t port)
{
	struct in_addr a = { .s_addr = htonl(addr) };
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, host, sizeof(host));
	snprintf(out, len, "%s:%u", addr ? host : "0.0.0.0", port);
}

/* A duration in ms as the kernel's ss prints timers: 1.5s, 75ms, 2h. */
static void duration(char *out, size_t len, uint32_t ms)
{
	if (ms >= 7200000u && ms % 3600000u == 0)
		snprintf(out, len, "%uh", ms / 3600000u);
	else if (ms >= 1000u && ms % 1000u == 0)
		snprintf(out, len, "%us", ms / 1000u);
	else if (ms >= 1000u)
		snprintf(out, len, "%.1fs", ms / 1000.0);
	else
		snprintf(out, len, "%ums", ms);
}

static void one(struct kw_tcp *t, void *arg)
{
	struct dump *d = arg;
	struct kw_conn *c = kw_tcp_user(t);
	struct kw_tcp_info i;
	char local[32], peer[32], ka[48], next[24], rtt[24], idle[16], intvl[16], owner[40];
	uint32_t a;
	uint16_t p;
	pid_t pid = c != NULL ? c->pid : 0;

	if (d->only != 0 && pid != d->only)
		return;
	kw_tcp_info(t, &i, d->now);
	kw_tcp_local(t, &a, &p);
	endpoint(local, sizeof(local), a, p);
	kw_tcp_remote(t, &a, &p);
	if (i.state == KW_TCP_LISTEN)
		snprintf(peer, sizeof(peer), "*");
	else
		endpoint(peer, sizeof(peer), a, p);
	if (i.ka_on) {
		duration(idle, sizeof(idle), i.ka_idle_ms);
		duration(intvl, sizeof(intvl), i.ka_interval_ms);
		snprintf(ka, sizeof(ka), "%s/%s/%u", idle, intvl, i.ka_count);
	} else {
		snprintf(ka, sizeof(ka), "off");
	}
	snprintf(next, sizeof(next), "-");
	if (i.ka_next_ms != UINT32_MAX)
		duration(next, sizeof(next), i.ka_next_ms);
	snprintf(rtt, sizeof(rtt), "%.3fms", i.rtt_us / 1000.0);
	if (c == NULL)
		snprintf(owner, sizeof(owner), "- (closed by its program)");
	else if (pid == 0)
		snprintf(owner, sizeof(owner), "-");
	else
		snprintf(owner, sizeof(owner), "%d", (int)pid);
	fprintf(d->f, "%-12s %-21s %-21s %-14s %6u %8s %10s %6u %6u %7u %s",
		kw_tcp_state_name(i.state), local, peer, ka, i.ka_probes, next, rtt, i.snd_cwnd,
		i.unacked, i.total_retrans, owner);
	if (d->inodes)
		fprintf(d->f, " %llu", c != NULL && c->slot < KW_DIRECT_SLOTS ?
			(unsigned long long)atomic_load(&d->shared->slot[c->slot].prog_ino) : 0ull);
	fputc('\n', d->f);
}

void kw_engine_dump(struct kw_engine *E, int fd, pid_t only, bool inodes)
{
	struct dump d = { .only = only, .inodes = inodes, .shared = E->shared, .now = E->now };
	char *buf = NULL;
	size_t len = 0, off = 0;

	d.f = open_memstream(&buf, &len);
	if (d.f == NULL)
		return;
	fprintf(d.f, "%-12s %-21s %-21s %-14s %6s %8s %10s %6s %6s %7s %s%s\n", "STATE", "LOCAL",
		"PEER", "KEEPALIVE", "PROBES", "NEXT", "RTT", "CWND", "UNACK", "RETRANS", "PID",
		inodes ? " INODE" : "");
	kw_tcp_layer_foreach(kw_stack_tcp(E->stack), one, &d);
	if (fclose(d.f) != 0)
		return;
	while (off < len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		if (poll(&p, 1, DUMP_WRITE_MS) != 1)
			break;
		w = write(fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(buf);
}
