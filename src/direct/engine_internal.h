/* The engine's own state, shared by engine.c (thread, requests, fork) and
 * bridge.c (moving bytes between stack connections and socketpairs). */
#ifndef KW_DIRECT_ENGINE_INTERNAL_H
#define KW_DIRECT_ENGINE_INTERNAL_H

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
	bool dead;                    /* ended by an error: discard its writes */
	bool err_published;           /* the stack's error is in the slot already */
	bool stack_backlog;           /* stack data waits for room in the pair */
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
};

/* epoll user data for the two fds that are not connections. */
#define KW_EV_TAP ((uint64_t)UINT32_MAX + 1)
#define KW_EV_CTL ((uint64_t)UINT32_MAX + 2)
#define KW_EV_WAKE ((uint64_t)UINT32_MAX + 3)

struct kw_conn *kw_conn_new(struct kw_engine *E, enum kw_slot_kind kind);
void kw_conn_free(struct kw_engine *E, struct kw_conn *c);
/* Publish c's addresses and options in its shared slot. */
void kw_conn_publish(struct kw_engine *E, struct kw_conn *c);
void kw_conn_oob_inline(struct kw_conn *c);
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
