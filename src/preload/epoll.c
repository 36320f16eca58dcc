/* epoll_ctl(2) in direct mode. connect() and listen() on a stack route
 * replace the program's socket by one end of a socketpair (dup3 onto its
 * number). An epoll set that watched the old socket loses it then: epoll
 * registrations belong to the open file, which goes away. Programs that
 * register before they connect (nginx does for every upstream
 * connection) would wait forever. So the registrations of sockets that
 * may still be replaced are remembered here and made again for the new
 * file once it is in place (kw_direct_epoll_replay).
 *
 * Memory: two registrations per descriptor number, in a lazily touched
 * mapping (MAP_NORESERVE, like the descriptor map), and a shared pool for
 * sockets that more epoll sets watch; a lock only on the path of sockets
 * that may be replaced. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#define REGS_PER_FD 2
#define SPARE_REGS 256                 /* beyond two per socket, at once */

struct reg {
	int epfd;                      /* 0: free (an epoll set is never fd 0 here) */
	uint32_t events;
	uint64_t data;
};

/* Both mapped at the first registration; published with release order
 * (closing and replay read them without the lock). */
struct tables {
	struct reg (*regs)[REGS_PER_FD];
	_Atomic unsigned char *is_epfd;   /* numbers that are epoll sets with records */
};

/* Registrations beyond a socket's two (under lock). */
static struct {
	int fd;
	struct reg r;                  /* r.epfd 0: free */
} spare[SPARE_REGS];
/* Entries from here on were never used: the scans (on every close, too)
 * stop here, and cost nothing while no socket needed the pool. */
static int spare_top;

static struct tables tables_store;
static _Atomic(struct tables *) tables;
static int high = -1;                 /* no record above (under lock) */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void map_tables(void)
{
	size_t rlen = sizeof(*tables_store.regs) * KW_FD_TABLE_SIZE;
	void *r = mmap(NULL, rlen, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *e = mmap(NULL, KW_FD_TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (r == MAP_FAILED || e == MAP_FAILED) {
		if (r != MAP_FAILED)
			munmap(r, rlen);
		if (e != MAP_FAILED)
			munmap(e, KW_FD_TABLE_SIZE);
		return;                 /* then nothing is remembered */
	}
	tables_store.regs = r;
	tables_store.is_epfd = e;
	atomic_store_explicit(&tables, &tables_store, memory_order_release);
}

static struct tables *tables_now(void)
{
	return atomic_load_explicit(&tables, memory_order_acquire);
}

static bool in_range(int fd)
{
	return fd > 0 && fd < KW_FD_TABLE_SIZE;
}

/* A socket keepwire may still replace: a TCP socket (or one keepwire has
 * not seen) that is not a stack socket's pair end yet. */
static bool replaceable(int fd)
{
	enum kw_fd_state st = kw_fd_get(fd);

	return st != KW_FD_OTHER;
}

/* The record of fd's registration in epfd, or a free one to take (NULL:
 * none); a socket's own two first, then the spare pool. */
static struct reg *find(struct tables *t, int epfd, int fd, bool take)
{
	struct reg *r = t->regs[fd], *free_r = NULL;
	int free_spare = -1;

	for (int k = 0; k < REGS_PER_FD; k++) {
		if (r[k].epfd == epfd)
			return &r[k];
		if (r[k].epfd == 0 && free_r == NULL)
			free_r = &r[k];
	}
	for (int k = 0; k < spare_top; k++) {
		if (spare[k].r.epfd == epfd && spare[k].fd == fd)
			return &spare[k].r;
		if (spare[k].r.epfd == 0 && free_spare < 0)
			free_spare = k;
	}
	if (!take)
		return NULL;
	if (free_r == NULL && free_spare < 0 && spare_top < SPARE_REGS)
		free_spare = spare_top++;
	if (free_r == NULL && free_spare >= 0) {
		spare[free_spare].fd = fd;
		free_r = &spare[free_spare].r;
	}
	return free_r;
}

static void remember(int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct tables *t;
	struct reg *r;

	pthread_once(&once, map_tables);
	t = tables_now();
	if (t == NULL)
		return;
	pthread_mutex_lock(&lock);
	r = find(t, epfd, fd, op != EPOLL_CTL_DEL && ev != NULL);
	if (op == EPOLL_CTL_DEL) {
		if (r != NULL)
			r->epfd = 0;
	} else if (ev != NULL && r != NULL) {
		r->epfd = epfd;
		r->events = ev->events;
		r->data = ev->data.u64;
		atomic_store_explicit(&t->is_epfd[epfd], 1, memory_order_relaxed);
		if (fd > high)
			high = fd;
	}
	pthread_mutex_unlock(&lock);
}

KW_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	int r;

	kw_init_once();
	r = kw_libc.epoll_ctl(epfd, op, fd, event);
	if (r == 0 && kw_direct_enabled && in_range(fd) && in_range(epfd) && replaceable(fd) &&
	    (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD || op == EPOLL_CTL_DEL))
		remember(epfd, op, fd, event);
	return r;
}

void kw_direct_epoll_forget_fd(int fd)
{
	struct tables *t = tables_now();

	if (t == NULL || !in_range(fd))
		return;
	pthread_mutex_lock(&lock);
	if (fd <= high) {
		for (int k = 0; k < REGS_PER_FD; k++)
			t->regs[fd][k].epfd = 0;
		for (int k = 0; k < spare_top; k++)
			if (spare[k].fd == fd)
				spare[k].r.epfd = 0;
	}
	pthread_mutex_unlock(&lock);
}

void kw_direct_epoll_closing(int fd)
{
	struct tables *t = tables_now();

	if (t == NULL || !in_range(fd) ||
	    !atomic_load_explicit(&t->is_epfd[fd], memory_order_relaxed))
		return;
	/* An epoll set goes away: its number may name another one later,
	 * which must not inherit these registrations. */
	pthread_mutex_lock(&lock);
	atomic_store_explicit(&t->is_epfd[fd], 0, memory_order_relaxed);
	for (int i = 1; i <= high; i++)
		for (int k = 0; k < REGS_PER_FD; k++)
			if (t->regs[i][k].epfd == fd)
				t->regs[i][k].epfd = 0;
	for (int k = 0; k < spare_top; k++)
		if (spare[k].r.epfd == fd)
			spare[k].r.epfd = 0;
	pthread_mutex_unlock(&lock);
}

void kw_direct_epoll_replay(int fd)
{
	struct tables *t = tables_now();
	struct reg saved[REGS_PER_FD + SPARE_REGS];
	int n = 0;

	if (t == NULL || !in_range(fd))
		return;
	pthread_mutex_lock(&lock);
	if (fd > high) {
		pthread_mutex_unlock(&lock);
		return;
	}
	for (int k = 0; k < REGS_PER_FD; k++) {
		if (t->regs[fd][k].epfd > 0)
			saved[n++] = t->regs[fd][k];
		t->regs[fd][k].epfd = 0;
	}
	for (int k = 0; k < spare_top; k++) {
		if (spare[k].r.epfd > 0 && spare[k].fd == fd) {
			saved[n++] = spare[k].r;
			spare[k].r.epfd = 0;
		}
	}
	pthread_mutex_unlock(&lock);
	for (int k = 0; k < n; k++) {
		struct epoll_event ev = { .events = saved[k].events, .data.u64 = saved[k].data };

		(void)kw_libc.epoll_ctl(saved[k].epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}
