/* The engine's own state, shared by engine.c (thread, requests, fork) and
 * bridge.c (moving bytes between stack connections and socketpairs). */
#ifndef KW_DIRECT_ENGINE_INTERNAL_H
#define KW_DIRECT_ENGINE_INTERNAL_H

#include "core/config.h"
#include "direct/proto.h"
#include "stack/stack.h"
#include "dev/tap.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* One stack socket, engine side. Its index is its slot number. */
struct kw_conn {
	uint32_t slot;
	enum kw_slot_kind kind;
	struct kw_tcp *tcp;           /* NULL once the stack is done with it */
	int fd;                       /* the engine's end; -1 for a BOUND slot */
	int prog_fd;                  /* accepted: the program's end until handed over */
	uint32_t filler_left;         /* filler bytes still to discard */
	bool connecting;
	bool prog_eof;                /* the program shut its write side */
	bool shut_wr;                 /* we shut ours: the program sees EOF */
	bool hup;                     /* the program closed every copy of its end */
	bool closed;                  /* ... seen as a hang-up (not our EPIPE) */
	bool unread;                  /* ... with data it never read: RST */
	bool dead;                    /* ended by an error: discard its writes */
	bool err_published;           /* the stack's error is in the slot already */
	/* Dead, and our end shut both ways so the program's writes fail
	 * (EPIPE): our end hangs up by itself from then on, and whether the
	 * program still holds its end (inode peer_ino) is asked of the
	 * kernel (direct/unixpeer.c). */
	bool shut_rd;
	uint32_t peer_ino;
	bool stack_backlog;           /* stack data waits for room in the pair */
	/* The last read of our end found it empty: no read again before an
	 * epoll event says otherwise (a bulk download would otherwise cost a
	 * failing recv per frame the stack receives). */
	bool prog_drained;
	bool in_epoll;
	uint32_t events;              /* epoll interest */
	bool dirty;
	struct kw_conn *dirty_next;
	struct kw_conn *pending;      /* listener: accepted, not yet handed over */
	struct kw_direct_opts opts;   /* listener: what accepted sockets get */
	/* SO_LINGER {1,N}: a closing program waits in this reply cell until
	 * the FIN is acknowledged or linger_until (KW_CELL_NONE: nobody). */
	uint32_t linger_cell;
	uint64_t linger_until;
	struct kw_conn *linger_next;
	/* Process placement, BOUND: the inode of the program's socket; the
	 * slot goes when no process holds it any more (server.c). */
	uint64_t sock_ino;
	/* The process whose request made it (a listener's, for an accepted
	 * connection), for keepwire show; 0 where unknown. */
	pid_t pid;
};

struct kw_engine {
	pthread_mutex_t lock;         /* held while the engine works; fork waits on it */
	pthread_t thread;
	pid_t pid;                    /* the process the thread runs in */
	struct kw_tap *tap;
	struct kw_stack *stack;
	int epfd;
	int ctl_fd;                   /* the engine's end of the request pair */
	int wake_fd;                  /* eventfd: work was queued from another thread */
	bool draining;                /* the process is exiting: flush and close all */
	struct kw_direct_shared *shared;
	struct kw_conn *conn[KW_DIRECT_SLOTS];
	uint32_t free_slot[KW_DIRECT_SLOTS];
	uint32_t n_free;
	struct kw_conn *dirty_head;
	struct kw_conn *lingering;    /* connections with a closing program waiting */
	uint64_t now;
	uint8_t scratch[64 * 1024];
	uint8_t *frame;               /* kw_tap_frame_max() bytes */
	size_t frame_cap;
	/* The process placement (direct/server.c): the shared region is a
	 * memfd each client maps; the host's own descriptors are in the epoll
	 * set with ids from KW_EV_HOST, host_turn runs once per loop turn
	 * (lock held) and returns when it next wants to run; stop ends the
	 * loop. All unused (-1/NULL/false) in the thread placement. */
	int shared_fd;
	/* shared->key as the engine wrote it (a client could overwrite the
	 * shared copy); all zero: the thread placement, requests unchecked. */
	uint64_t key[2];
	void (*host_event)(struct kw_engine *E, uint64_t id, uint32_t events);
	uint64_t (*host_turn)(struct kw_engine *E);
	void *host;
	bool stop;
	/* The process placement: the process whose request is being served
	 * (SO_PEERCRED of its connection), 0: unknown. */
	pid_t requester_pid;
	/* ... and it is not of the engine's user or root: it may not greet
	 * or list, only make requests with the region's key. */
	bool requester_foreign;
	/* The process that sent the last request naming each reply cell
	 * (SCM_CREDENTIALS; 0: unknown), so the cells of requesters that died
	 * before reading their answer can be given back (reap_cells). */
	pid_t cell_pid[KW_DIRECT_CELLS];
	uint64_t cells_check_at;      /* next look at answered cells, or never */
};

/* epoll user data for the two fds that are not connections. */
#define KW_EV_TAP ((uint64_t)UINT32_MAX + 1)
#define KW_EV_CTL ((uint64_t)UINT32_MAX + 2)
#define KW_EV_WAKE ((uint64_t)UINT32_MAX + 3)
#define KW_EV_HOST ((uint64_t)UINT32_MAX + 16)

/* The engine without its placement: device, stack, shared region (a memfd
 * in E->shared_fd when memfd), epoll set. NULL with one line in err. */
struct kw_engine *kw_engine_create(const struct kw_config *cfg, bool memfd, char *err,
				   size_t errlen);
void kw_engine_destroy(struct kw_engine *E);
/* The loop, until E->stop (the thread placement never stops). */
void kw_engine_run(struct kw_engine *E);
/* Requests waiting on a request channel (the pair's end, or a client's
 * connection to the engine process); KW_OP_HELLO is answered here. -1
 * when a request names another engine's region (the channel should be
 * closed: its sender greets again), else 0. */
int kw_engine_read_requests(struct kw_engine *E, int fd);
/* A request channel's engine end: requests on it carry their sender's
 * pid (SO_PASSCRED), which the reply cells' reaping needs. */
void kw_engine_channel_init(int fd);
/* Exit: every connection closes as if its program closed it (what was
 * written is still sent, then FIN); listeners and bound sockets go. */
void kw_engine_drain_begin(struct kw_engine *E);
bool kw_engine_drained(struct kw_engine *E);

struct kw_conn *kw_conn_new(struct kw_engine *E, enum kw_slot_kind kind);
void kw_conn_free(struct kw_engine *E, struct kw_conn *c);
/* Publish c's addresses and options in its shared slot. */
void kw_conn_publish(struct kw_engine *E, struct kw_conn *c);
void kw_conn_oob_inline(struct kw_conn *c);
/* KW_OP_DUMP (dump.c): the stack's connections as text into fd; only
 * those made by process only, unless it is 0. */
void kw_engine_dump(struct kw_engine *E, int fd, pid_t only, bool inodes);
void kw_engine_reply(struct kw_engine *E, uint32_t cell, int32_t result, uint32_t slot,
		     uint32_t gen);
/* KW_OP_LINGER: 1 when the reply is deferred (the conn holds the cell). */
int kw_bridge_linger(struct kw_engine *E, struct kw_conn *c, uint32_t cell);
/* Answer lingering closes whose time is up; the earliest still waiting. */
uint64_t kw_bridge_linger_expire(struct kw_engine *E);
void kw_conn_watch(struct kw_engine *E, struct kw_conn *c, uint32_t events);
void kw_conn_mark(struct kw_engine *E, struct kw_conn *c);
/* Apply options to the connection's stack socket and its slot. */
void kw_conn_apply_opts(struct kw_engine *E, struct kw_conn *c, const struct kw_direct_opts *o);

/* Work on everything marked since last time. */
void kw_bridge_run_dirty(struct kw_engine *E);
/* An epoll event on a connection's or listener's engine end. */
void kw_bridge_event(struct kw_engine *E, struct kw_conn *c, uint32_t events);

#endif
