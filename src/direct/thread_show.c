/* keepwire show for the thread placement: the engine thread inside a
 * program also listens on the engine's rendezvous name, but only to list
 * its connections (KW_OP_DUMP). Its hello says -EBUSY: a program that
 * wants an engine process for the device learns that another program's
 * stack thread has it, and keepwire show goes on to ask for the listing.
 * Everything runs on the engine thread, as host_event (lock held). */
#include "config.h"
#include "direct/engine_internal.h"
#include "direct/fdpass.h"
#include "direct/rendezvous.h"
#include "direct/thread_show.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHOW_CLIENTS 4

struct thread_show {
	int listen_fd;
	int client[SHOW_CLIENTS];     /* -1: free */
};

static void drop(struct kw_engine *E, struct thread_show *t, int k)
{
	epoll_ctl(E->epfd, EPOLL_CTL_DEL, t->client[k], NULL);
	close(t->client[k]);
	t->client[k] = -1;
}

static void accept_one(struct kw_engine *E, struct thread_show *t)
{
	struct kw_direct_hello h = {
		.magic = KW_HELLO_MAGIC, .version = KW_HELLO_VERSION, .result = -EBUSY,
		.shared_size = sizeof(struct kw_direct_shared),
		.slots = KW_DIRECT_SLOTS, .cells = KW_DIRECT_CELLS,
	};
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), k;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    (cr.uid != geteuid() && cr.uid != 0))
		h.result = -EACCES;
	(void)send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT);
	for (k = 0; k < SHOW_CLIENTS && t->client[k] >= 0; k++)
		;
	if (h.result == -EACCES || k == SHOW_CLIENTS) {
		close(fd);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = KW_EV_HOST + 1 + (uint64_t)k };
	if (epoll_ctl(E->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		return;
	}
	t->client[k] = fd;
}

/* One request per connection: a listing, then the connection ends. */
static void serve(struct kw_engine *E, struct thread_show *t, int k)
{
	struct kw_direct_request rq;
	int fds[KW_FDPASS_MAX], nfds = 0;
	ssize_t r = kw_fd_recv(t->client[k], &rq, sizeof(rq), fds, KW_FDPASS_MAX, &nfds,
			       MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r == (ssize_t)sizeof(rq) && rq.op == KW_OP_HELLO && nfds == 0)
		return;                 /* answered at accept: the listing is next */
	if (r == (ssize_t)sizeof(rq) && rq.op == KW_OP_DUMP && nfds == 1)
		kw_engine_dump(E, fds[0], (pid_t)rq.addr, (rq.port & KW_DUMP_INODES) != 0);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	drop(E, t, k);
}

static void event(struct kw_engine *E, uint64_t id, uint32_t events)
{
	struct thread_show *t = E->host;

	(void)events;
	if (id == KW_EV_HOST)
		accept_one(E, t);
	else if (id > KW_EV_HOST && id <= KW_EV_HOST + SHOW_CLIENTS &&
		 t->client[id - KW_EV_HOST - 1] >= 0)
		serve(E, t, (int)(id - KW_EV_HOST - 1));
}

void kw_thread_show_open(struct kw_engine *E, const char *tap)
{
	struct thread_show *t = calloc(1, sizeof(*t));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = KW_EV_HOST };
	struct sockaddr_un sun;
	socklen_t len;

	if (t == NULL)
		return;
	for (int k = 0; k < SHOW_CLIENTS; k++)
		t->client[k] = -1;
	kw_engine_address(tap, &sun, &len, NULL, 0);
	t->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Taken (an engine process, which would have the device too): no
	 * listing, nothing else changes. */
	if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *)&sun, len) != 0 ||
	    listen(t->listen_fd, SHOW_CLIENTS) != 0 ||
	    epoll_ctl(E->epfd, EPOLL_CTL_ADD, t->listen_fd, &ev) != 0) {
		if (t->listen_fd >= 0)
			close(t->listen_fd);
		free(t);
		return;
	}
	E->host = t;
	E->host_event = event;
}

void kw_thread_show_close(struct kw_engine *E)
{
	struct thread_show *t = E->host;

	if (t == NULL || E->host_event != event)
		return;
	for (int k = 0; k < SHOW_CLIENTS; k++)
		if (t->client[k] >= 0)
			close(t->client[k]);
	close(t->listen_fd);
	free(t);
	E->host = NULL;
	E->host_event = NULL;
}
