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
 * mapping (MAP_NORESERVE, like the descriptor map); a lock only on the
 * path of sockets that may be replaced. */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#define REGS_PER_FD 2

struct reg {
	int epfd;                      /* 0: free (an epoll set is never fd 0 here) */
	uint32_t events;
	uint64_t data;
};

static struct reg (*regs)[REGS_PER_FD];
static unsigned char *is_epfd;        /* numbers that are epoll sets with records */
static int high = -1;                 /* no record above */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void map_tables(void)
{
	void *r = mmap(NULL, sizeof(*regs) * KW_FD_TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *e = mmap(NULL, KW_FD_TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (r == MAP_FAILED || e == MAP_FAILED) {
		if (r != MAP_FAILED)
			munmap(r, sizeof(*regs) * KW_FD_TABLE_SIZE);
		if (e != MAP_FAILED)
			munmap(e, KW_FD_TABLE_SIZE);
		return;                 /* then nothing is remembered */
	}
	regs = r;
	is_epfd = e;
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

static void remember(int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct reg *r;
	int k, free_k = -1;

	pthread_once(&once, map_tables);
	if (regs == NULL)
		return;
	pthread_mutex_lock(&lock);
	r = regs[fd];
	for (k = 0; k < REGS_PER_FD; k++) {
		if (r[k].epfd == epfd)
			break;
		if (r[k].epfd == 0 && free_k < 0)
			free_k = k;
	}
	if (op == EPOLL_CTL_DEL) {
		if (k < REGS_PER_FD)
			r[k].epfd = 0;
	} else if (ev != NULL) {
		if (k == REGS_PER_FD)
			k = free_k;
		if (k >= 0) {
			r[k].epfd = epfd;
			r[k].events = ev->events;
			r[k].data = ev->data.u64;
			is_epfd[epfd] = 1;
			if (fd > high)
				high = fd;
		}
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
	if (regs == NULL || !in_range(fd))
		return;
	pthread_mutex_lock(&lock);
	if (fd <= high)
		for (int k = 0; k < REGS_PER_FD; k++)
			regs[fd][k].epfd = 0;
	pthread_mutex_unlock(&lock);
}

void kw_direct_epoll_closing(int fd)
{
	if (regs == NULL || !in_range(fd) || !is_epfd[fd])
		return;
	/* An epoll set goes away: its number may name another one later,
	 * which must not inherit these registrations. */
	pthread_mutex_lock(&lock);
	is_epfd[fd] = 0;
	for (int i = 1; i <= high; i++)
		for (int k = 0; k < REGS_PER_FD; k++)
			if (regs[i][k].epfd == fd)
				regs[i][k].epfd = 0;
	pthread_mutex_unlock(&lock);
}

void kw_direct_epoll_replay(int fd)
{
	struct reg saved[REGS_PER_FD];

	if (regs == NULL || !in_range(fd))
		return;
	pthread_mutex_lock(&lock);
	if (fd > high) {
		pthread_mutex_unlock(&lock);
		return;
	}
	for (int k = 0; k < REGS_PER_FD; k++) {
		saved[k] = regs[fd][k];
		regs[fd][k].epfd = 0;
	}
	pthread_mutex_unlock(&lock);
	for (int k = 0; k < REGS_PER_FD; k++) {
		struct epoll_event ev = { .events = saved[k].events, .data.u64 = saved[k].data };

		if (saved[k].epfd > 0)
			(void)kw_libc.epoll_ctl(saved[k].epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}
