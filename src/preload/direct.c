/* Direct mode, program side: start-up, the descriptor map, routing, and
 * the requests to the engine (a pair to the stack thread, or a connection
 * per request to the engine process). */
#include "config.h"
#include "preload/direct.h"
#include "direct/engine.h"
#include "direct/fdpass.h"
#include "core/keepalive.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

bool kw_direct_enabled;
struct kw_direct_client kw_dc = { .ctl_fd = -1 };

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

/* The engine process's connections of requests in flight, as fd + 1 (0:
 * free): a child forked meanwhile has copies no thread of it will close. */
#define INFLIGHT_MAX 16
static _Atomic int inflight[INFLIGHT_MAX];

static void inflight_track(int fd, bool on)
{
	for (int k = 0; k < INFLIGHT_MAX; k++) {
		int expect = on ? 0 : fd + 1;

		if (atomic_compare_exchange_strong(&inflight[k], &expect, on ? fd + 1 : 0))
			return;
	}
}

/* In a child after fork(): only the forking thread lives on. */
static void after_fork_child(void)
{
	for (int k = 0; k < INFLIGHT_MAX; k++) {
		int v = atomic_exchange(&inflight[k], 0);

		if (v != 0)
			kw_libc.close(v - 1);
	}
	pthread_mutex_init(&start_lock, NULL);
	kw_direct_attach_after_fork();
}

/* The process whose memory holds the descriptor map: it is private
 * (MAP_PRIVATE), so after fork each process has its own copy, but a vfork
 * child writes straight into its parent's. */
static _Atomic pid_t map_owner;

static void describe(char *buf, size_t len)
{
	const struct kw_config *c = &kw_rt.cfg;
	char a[KW_IPV4_TEXT], g[16] = "none", routes[96] = "every non-loopback IPv4 address";

	kw_ipv4_net_format(c->address, c->prefix_len, a, sizeof(a));
	if (c->gateway)
		kw_ipv4_format(c->gateway, g, sizeof(g));
	if (c->route_count) {
		size_t off = 0;
		routes[0] = 0;
		for (unsigned i = 0; i < c->route_count && off + 20 < sizeof(routes); i++) {
			char n[KW_IPV4_TEXT];
			kw_ipv4_net_format(c->routes[i].addr, c->routes[i].prefix, n, sizeof(n));
			off += (size_t)snprintf(routes + off, sizeof(routes) - off, "%s%s", i ? "," : "", n);
		}
	}
	snprintf(buf, len, "%s on TAP %s, gateway %s, routes %s", a, c->tap_name, g, routes);
}

bool kw_direct_init(void)
{
	char err[320], what[200];

	/* An engine process already serving the device has it: the program
	 * itself needs no access to /dev/net/tun then. */
	if (!(kw_rt.cfg.engine == KW_ENGINE_PROCESS && kw_direct_engine_running()) &&
	    kw_engine_probe(&kw_rt.cfg, err, sizeof(err)) != 0) {
		if (kw_rt.cfg.strict) {
			kw_log(KW_LOG_ERROR, "KEEPWIRE_TAP=%s: %s; exiting (KEEPWIRE_STRICT=1)",
			       kw_rt.cfg.tap_name, err);
			return false;
		}
		kw_log(KW_LOG_ERROR, "KEEPWIRE_TAP=%s: %s; direct mode is off, "
		       "TCP stays on the kernel stack (socket mode)", kw_rt.cfg.tap_name, err);
		return true;
	}
	/* 4 MiB of address space; only the pages of descriptors in use are
	 * ever touched. Private: each process has its own descriptors. */
	kw_dc.fdmap = mmap(NULL, sizeof(uint32_t) * KW_FD_TABLE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (kw_dc.fdmap == MAP_FAILED) {
		kw_dc.fdmap = NULL;
		kw_log(KW_LOG_ERROR, "direct mode: cannot map the descriptor table (%s); "
		       "TCP stays on the kernel stack (socket mode)", strerror(errno));
		return !kw_rt.cfg.strict;
	}
	pthread_atfork(NULL, NULL, after_fork_child);
	describe(what, sizeof(what));
	kw_log(KW_LOG_INFO, "direct mode: %s", what);
	atomic_store(&map_owner, (pid_t)syscall(SYS_getpid));
	kw_direct_enabled = true;
	return true;
}

/* A copy of the engine channel at the highest free number below the soft
 * descriptor limit (not avoid), as a shell keeps its script at 255: the
 * program's own descriptors keep the numbers they would have on the
 * kernel, and select()-sized tables never see it. -1 when no high number
 * is free (then the channel stays where it is). */
static int ctl_place(int fd, int avoid)
{
	struct rlimit rl;
	long top = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		top = rl.rlim_cur < (rlim_t)KW_FD_TABLE_SIZE ? (long)rl.rlim_cur : KW_FD_TABLE_SIZE;
	for (long n = top - 1; n > fd && n >= top - 64; n--) {
		int moved;

		if (n == avoid || kw_libc.fcntl((int)n, F_GETFD) >= 0 || errno != EBADF)
			continue;
		moved = kw_libc.fcntl(fd, F_DUPFD_CLOEXEC, (int)n);
		if (moved == n)
			return moved;
		if (moved < 0)
			return -1;
		kw_libc.close(moved);       /* taken meanwhile: try lower */
	}
	return -1;
}

void kw_direct_ctl_evict(int fd)
{
	int ctl = atomic_load(&kw_dc.ctl_fd), moved;

	if (fd != ctl || ctl < 0)
		return;
	moved = ctl_place(ctl, ctl);
	if (moved < 0)
		moved = kw_libc.fcntl(ctl, F_DUPFD_CLOEXEC, 3);
	if (moved >= 0) {
		atomic_store(&kw_dc.ctl_fd, moved);
		kw_libc.close(ctl);
	}
}

int kw_direct_ensure(void)
{
	struct kw_engine_link link;
	char err[320];
	int st = atomic_load_explicit(&kw_dc.started, memory_order_acquire);

	if (st != 0)
		return st > 0 ? 0 : -1;
	pthread_mutex_lock(&start_lock);
	if (atomic_load(&kw_dc.started) == 0) {
		bool process = kw_rt.cfg.engine == KW_ENGINE_PROCESS;
		int r = process ? kw_direct_attach(&link, err, sizeof(err))
				: kw_engine_start(&kw_rt.cfg, &link, err, sizeof(err));

		if (r == 0) {
			kw_dc.shared = link.shared;
			if (link.ctl_fd >= 0) {
				/* The thread placement's request pair. */
				int high = ctl_place(link.ctl_fd, -1);

				if (high >= 0) {
					kw_libc.close(link.ctl_fd);
					link.ctl_fd = high;
				}
				atomic_store(&kw_dc.ctl_fd, link.ctl_fd);
			}
			atomic_store_explicit(&kw_dc.started, 1, memory_order_release);
			kw_log(KW_LOG_DEBUG, "direct mode: %s", process ? "attached to the engine "
			       "process" : "stack thread started");
		} else {
			kw_log(KW_LOG_ERROR, "KEEPWIRE_TAP=%s: %s; TCP stays on the kernel stack "
			       "(socket mode)", kw_rt.cfg.tap_name, err);
			if (kw_rt.cfg.strict)
				_exit(2);
			atomic_store_explicit(&kw_dc.started, -1, memory_order_release);
		}
	}
	st = atomic_load(&kw_dc.started);
	pthread_mutex_unlock(&start_lock);
	return st > 0 ? 0 : -1;
}

bool kw_direct_routed(uint32_t dst)
{
	const struct kw_config *c = &kw_rt.cfg;

	/* Loopback, "this host", broadcast and multicast never go out. */
	if ((dst >> 24) == 127 || (dst >> 24) == 0 || dst == UINT32_MAX || (dst >> 28) == 0xe)
		return false;
	if (c->route_count == 0)
		return true;
	for (unsigned i = 0; i < c->route_count; i++)
		if (kw_ipv4_net_contains(&c->routes[i], dst))
			return true;
	return false;
}

bool kw_direct_own_map(void)
{
	pid_t self = (pid_t)syscall(SYS_getpid);

	if (self == atomic_load_explicit(&map_owner, memory_order_relaxed))
		return true;
	/* kcmp(KCMP_VM) 0: this process runs in its parent's address space
	 * (a vfork parent is suspended until execve/_exit, so getppid() is
	 * that parent). Anything else (another VM, or kcmp refused/missing)
	 * is taken for a forked child with its own copy of the map, which
	 * then owns it: one getpid() per call from there on. */
	if (syscall(SYS_kcmp, self, getppid(), KCMP_VM, 0, 0) == 0)
		return false;
	atomic_store_explicit(&map_owner, self, memory_order_relaxed);
	return true;
}

struct kw_slot *kw_direct_slot(uint32_t ref)
{
	uint32_t i = kw_slot_ref_index(ref);
	struct kw_slot *s;

	if (ref == 0 || i >= KW_DIRECT_SLOTS || kw_dc.shared == NULL)
		return NULL;
	s = &kw_dc.shared->slot[i];
	if ((atomic_load_explicit(&s->gen, memory_order_acquire) & 0xffffu) != kw_slot_ref_gen(ref))
		return NULL;
	return s;
}

/* At exit the engine thread dies with the process: first let it send what
 * the program wrote and close its connections, as the kernel would have
 * gone on doing after the process ended (bounded: 10 s). */
__attribute__((destructor)) static void direct_exit(void)
{
	int saved = errno;

	if (kw_direct_enabled && atomic_load(&kw_dc.started) > 0)
		kw_engine_drain(10 * KW_NS_PER_S);
	errno = saved;
}

/* ---- descriptors at the limit ------------------------------------------ */

int kw_nofile_raise(int want, struct kw_nofile_raise *nr)
{
	struct rlimit rl, more;
	rlim_t n, need = 0;
	int found = 0;

	nr->raised = false;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		goto full;
	/* Every number below the soft limit is taken; the kernel hands out
	 * the lowest free ones above it. */
	for (n = rl.rlim_cur; found < want && (rl.rlim_max == RLIM_INFINITY || n < rl.rlim_max) &&
			      n < rl.rlim_cur + 4096; n++) {
		if (kw_libc.fcntl((int)n, F_GETFD) < 0 && errno == EBADF) {
			found++;
			need = n + 1;
		}
	}
	more = rl;
	more.rlim_cur = need;
	if (found < want || setrlimit(RLIMIT_NOFILE, &more) != 0)
		goto full;
	nr->raised = true;
	nr->saved = rl;
	return 0;
full:
	errno = EMFILE;
	return -1;
}

/* Back to the program's own limit (descriptors above it stay valid). */
void kw_nofile_restore(struct kw_nofile_raise *nr)
{
	int e = errno;

	if (nr->raised)
		(void)setrlimit(RLIMIT_NOFILE, &nr->saved);
	nr->raised = false;
	errno = e;
}

/* ---- requests ---------------------------------------------------------- */

static struct kw_reply *take_cell(uint32_t *index)
{
	static _Atomic uint32_t next;

	for (;;) {
		for (uint32_t k = 0; k < KW_DIRECT_CELLS; k++) {
			uint32_t i = atomic_fetch_add(&next, 1) % KW_DIRECT_CELLS;
			uint32_t expect = KW_CELL_FREE;
			struct kw_reply *r = &kw_dc.shared->cell[i];

			if (atomic_compare_exchange_strong(&r->state, &expect, KW_CELL_WAITING)) {
				*index = i;
				return r;
			}
		}
		sched_yield();      /* 256 requests in flight: wait for one */
	}
}

static bool engine_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* Wait for the engine's answer in cell; false when the engine at the
 * other end of fd went away without one. */
static bool await_answer(struct kw_reply *cell, int fd)
{
	while (atomic_load_explicit(&cell->state, memory_order_acquire) != KW_CELL_DONE) {
		struct timespec wait = { 0, 200 * 1000 * 1000 };

		syscall(SYS_futex, &cell->state, FUTEX_WAIT, KW_CELL_WAITING, &wait, NULL, 0);
		if (atomic_load(&cell->state) != KW_CELL_DONE && engine_gone(fd))
			return false;
	}
	return true;
}

static int take_answer(struct kw_reply *cell, uint32_t *ref, struct kw_tcp_info *info)
{
	int result = cell->result;

	if (info != NULL)
		*info = cell->info;
	if (ref != NULL)
		*ref = result == 0 || result == -EINPROGRESS ? kw_slot_ref(cell->slot, cell->gen)
							     : 0;
	atomic_store_explicit(&cell->state, KW_CELL_FREE, memory_order_release);
	return result;
}

/* The thread placement: the request pair to the engine thread. A request
 * without ref wants no answer. */
static int exchange_pair(struct kw_direct_request *rq, const int *fds, int nfds, uint32_t *ref,
			 struct kw_tcp_info *info)
{
	struct kw_reply *cell;
	uint32_t index;

	if (kw_dc.shared == NULL || kw_dc.ctl_fd < 0)
		return -ENETDOWN;
	if (ref == NULL) {
		rq->cell = KW_CELL_NONE;
		return kw_fd_send(kw_dc.ctl_fd, rq, sizeof(*rq), fds, nfds, 0) ==
			       (ssize_t)sizeof(*rq) ? 0 : -ENETDOWN;
	}
	cell = take_cell(&index);
	rq->cell = index;
	if (kw_fd_send(kw_dc.ctl_fd, rq, sizeof(*rq), fds, nfds, 0) != (ssize_t)sizeof(*rq)) {
		atomic_store(&cell->state, KW_CELL_FREE);
		return -ENETDOWN;
	}
	if (!await_answer(cell, kw_dc.ctl_fd))
		return -ENETDOWN;       /* the cell stays taken: nobody answers */
	return take_answer(cell, ref, info);
}

/* The process placement: a connection to the engine process for this
 * request only, closed once the answer is in. Every request waits for
 * its answer, so one process's requests are served in the order it made
 * them, as on a single channel. A request the engine did not answer (it
 * had exited and a new one took its name, or it died) is made once more,
 * after greeting whichever engine serves the device now. */
static int exchange_process(struct kw_direct_request *rq, const int *fds, int nfds,
			    uint32_t *ref, struct kw_tcp_info *info)
{
	struct kw_nofile_raise nr = { .raised = false };
	int result = -ENETDOWN;

	for (int attempt = 0; attempt < 2; attempt++) {
		char err[320];
		struct kw_reply *cell;
		uint32_t index;
		bool answered;
		int fd = kw_direct_channel(&nr, err, sizeof(err));

		if (fd < 0) {
			kw_log(KW_LOG_DEBUG, "direct mode: no engine for a request: %s", err);
			break;
		}
		inflight_track(fd, true);
		memcpy(rq->key, kw_dc.shared->key, sizeof(rq->key));
		cell = take_cell(&index);
		rq->cell = index;
		answered = kw_fd_send(fd, rq, sizeof(*rq), fds, nfds, MSG_NOSIGNAL) ==
				   (ssize_t)sizeof(*rq) &&
			   await_answer(cell, fd);
		inflight_track(fd, false);      /* before: the number may be reused */
		kw_libc.close(fd);
		if (answered) {
			result = take_answer(cell, ref, info);
			break;
		}
		atomic_store(&cell->state, KW_CELL_FREE);
		kw_direct_greet_again();
	}
	kw_nofile_restore(&nr);
	return result;
}

/* A request, and its answer when ref is not NULL: the result, the slot it
 * names (*ref) and, with info, the TCP_INFO the engine put in the cell. */
static int exchange(struct kw_direct_request *rq, const int *fds, int nfds, uint32_t *ref,
		    struct kw_tcp_info *info)
{
	int saved = errno, result;

	if (kw_rt.cfg.engine == KW_ENGINE_PROCESS)
		result = exchange_process(rq, fds, nfds, ref, info);
	else
		result = exchange_pair(rq, fds, nfds, ref, info);
	errno = saved;
	return result;
}

int kw_direct_request(struct kw_direct_request *rq, const int *fds, int nfds, uint32_t *ref)
{
	return exchange(rq, fds, nfds, ref, NULL);
}

int kw_direct_info(struct kw_direct_request *rq, struct kw_tcp_info *info)
{
	uint32_t ref;

	rq->op = KW_OP_INFO;
	return exchange(rq, NULL, 0, &ref, info);
}
