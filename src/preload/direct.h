/* Direct mode, program side: which descriptors are stack sockets, and the
 * calls that make, query and end them (the engine in src/direct/ does the
 * networking). The hooks call in here only when kw_direct_enabled; every
 * function that can "decline" returns false to let the kernel do the
 * call, or true with the call's result in *ret (and errno set). */
#ifndef KW_PRELOAD_DIRECT_H
#define KW_PRELOAD_DIRECT_H

#include "direct/proto.h"
#include "preload/libc.h"
#include "preload/runtime.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Direct mode is configured and its TAP device looked usable at start. */
extern bool kw_direct_enabled;

struct kw_direct_client {
	_Atomic int started;           /* 0: not yet, 1: running, -1: failed */
	struct kw_direct_shared *shared;
	/* KEEPWIRE_ENGINE=thread: the request pair to the stack thread, the
	 * one descriptor of ours in the program, kept at a high number and
	 * out of the program's reach (close, dup2 onto it, close_range: see
	 * kw_direct_ctl_*). -1 with the engine as a process, which the
	 * program reaches with a connection per request. */
	_Atomic int ctl_fd;
	/* KEEPWIRE_ENGINE=process: the engine whose region is mapped (its
	 * pid; 0: greet the next one). */
	_Atomic pid_t engine_pid;
	_Atomic uint32_t *fdmap;       /* KW_FD_TABLE_SIZE slot references */
	_Atomic int fd_high;           /* no stack socket was ever mapped above */
};
extern struct kw_direct_client kw_dc;

/* At initialisation (runtime.c): probe the device and switch direct mode
 * on, or report why not. Returns false when the process must exit
 * (KEEPWIRE_STRICT=1 and the device is unusable). */
bool kw_direct_init(void);

static inline uint32_t kw_direct_ref(int fd)
{
	if (!kw_direct_enabled || fd < 0 || fd >= KW_FD_TABLE_SIZE)
		return 0;
	return atomic_load_explicit(&kw_dc.fdmap[fd], memory_order_relaxed);
}

static inline void kw_direct_map(int fd, uint32_t ref)
{
	if (kw_direct_enabled && fd >= 0 && fd < KW_FD_TABLE_SIZE) {
		atomic_store_explicit(&kw_dc.fdmap[fd], ref, memory_order_relaxed);
		if (ref != 0 && fd > atomic_load_explicit(&kw_dc.fd_high, memory_order_relaxed))
			atomic_store_explicit(&kw_dc.fd_high, fd, memory_order_relaxed);
	}
}

/* A descriptor now names a stack socket (ref): map it and record its
 * inode in the slot, for an exec'd image to find (direct_adopt.c). */
void kw_direct_map_new(int fd, uint32_t ref);
/* At initialisation: map the stack sockets an exec'd image inherited. */
void kw_direct_adopt_inherited(void);
/* False in a child that shares this process's memory (vfork, or clone
 * with CLONE_VM) before it execs: the descriptor map there is its
 * parent's, while its descriptors are its own, so close/dup must leave
 * the map alone. Costs system calls only in a process other than the one
 * that last answered true (direct.c). */
bool kw_direct_own_map(void);

/* epoll registrations of sockets that may still be replaced (epoll.c):
 * made again for the new file after connect/listen replaced fd; forgotten
 * when fd becomes a new socket; dropped with an epoll set being closed. */
void kw_direct_epoll_replay(int fd);
void kw_direct_epoll_forget_fd(int fd);
void kw_direct_epoll_closing(int fd);
/* shutdown() of a stack listener, as Linux's inet_shutdown: SHUT_WR does
 * nothing; SHUT_RD/SHUT_RDWR stop the listening (the stack closes it,
 * accept() fails with EINVAL, a blocked one wakes). False when fd is not
 * a stack listener. */
bool kw_direct_shutdown_listener(int fd, int how, int *ret);
/* fd is the engine channel: the program never opened it, so close, dup
 * and the like get EBADF, as on the kernel. */
static inline bool kw_direct_is_ctl(int fd)
{
	return kw_direct_enabled && fd >= 0 && fd == atomic_load(&kw_dc.ctl_fd);
}
/* The program is about to make fd name something else (dup2 onto it):
 * move the engine channel out of its way first. */
void kw_direct_ctl_evict(int fd);
/* Descriptors [first, last] are about to be closed (close_range,
 * closefrom): forget the stack sockets among them. */
void kw_direct_forget_range(unsigned first, unsigned last);

/* The slot a reference names, or NULL when it has been freed since. */
struct kw_slot *kw_direct_slot(uint32_t ref);

/* Out of descriptors (EMFILE) where the kernel would need none: the soft
 * RLIMIT_NOFILE is raised just past the `want` lowest free numbers above
 * it (when the hard limit allows) until kw_nofile_restore. 0, or -1 with
 * errno EMFILE. */
struct kw_nofile_raise {
	bool raised;
	struct rlimit saved;
};
int kw_nofile_raise(int want, struct kw_nofile_raise *nr);
void kw_nofile_restore(struct kw_nofile_raise *nr);

/* KEEPWIRE_ENGINE=process: a connection to the engine process for the
 * device, starting one if none runs, with its shared region mapped
 * (direct_attach.c). The descriptor (the caller closes it), or -1 with one
 * line in err; at RLIMIT_NOFILE the limit is raised into nr. */
int kw_direct_channel(struct kw_nofile_raise *nr, char *err, size_t errlen);
/* A request went unanswered: greet the engine again on the next one. */
void kw_direct_greet_again(void);
/* In a child after fork(): locks another thread may have held are free. */
void kw_direct_attach_after_fork(void);
/* The first connection (kw_direct_ensure): 0, or -1 with one line in err. */
struct kw_engine_link;
int kw_direct_attach(struct kw_engine_link *out, char *err, size_t errlen);
/* Whether an engine process listens for the device now. */
bool kw_direct_engine_running(void);

/* Start the engine on first need: 0, or -1 (the kernel stack it is). */
int kw_direct_ensure(void);
bool kw_direct_routed(uint32_t dst);
/* Send a request and wait for its answer (cell filled in here); returns
 * the result (0 or -errno) and the slot reference in *ref. */
int kw_direct_request(struct kw_direct_request *rq, const int *fds, int nfds, uint32_t *ref);
/* KW_OP_INFO for rq's slot: the connection's TCP_INFO from the engine. */
int kw_direct_info(struct kw_direct_request *rq, struct kw_tcp_info *info);
/* SO_LINGER {1,N>0} on a connection: the slot reference to wait on after
 * the descriptor is closed (0: nothing to wait for), and the wait. */
uint32_t kw_direct_linger_ref(int fd);
void kw_direct_linger_wait(uint32_t ref);

/* ---- the calls (direct_socket.c) --------------------------------------- */
bool kw_direct_connect(int fd, const struct sockaddr_in *sin, int *ret);
bool kw_direct_bind(int fd, const struct sockaddr_in *sin, socklen_t len, int *ret);
bool kw_direct_listen(int fd, int backlog, int *ret);
bool kw_direct_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags, int *ret);

/* ---- options and names (direct_options.c) ------------------------------ */
bool kw_direct_getsockopt(int fd, int level, int name, void *val, socklen_t *len, int *ret);
bool kw_direct_setsockopt(int fd, int level, int name, const void *val, socklen_t len, int *ret);
bool kw_direct_sockname(int fd, struct sockaddr *addr, socklen_t *len, bool peer, int *ret);

/* ---- data and lifetime (direct_socket.c) ------------------------------- */
/* A read on fd returned 0: the error that ended the connection (taken, as
 * the kernel reports it once), or 0 for a plain end of stream. */
int kw_direct_read_error(int fd);
/* Before a read of fd with flags: with KEEPWIRE_BUSY_POLL, a blocking read
 * of a stack socket with nothing to read polls for up to that long first
 * (busy_poll.c). Keeps errno. In socket mode one branch, as every hook. */
void kw_busy_poll_wait_readable(int fd, int flags);
static inline void kw_busy_poll_read(int fd, int flags)
{
	if (kw_direct_enabled)
		kw_busy_poll_wait_readable(fd, flags);
}
/* Before a write: 0 to go ahead, or the errno to fail with (raising
 * SIGPIPE where the kernel would, unless MSG_NOSIGNAL is in flags). */
int kw_direct_write_check(int fd, int flags);
/* Once the handshake has ended, give the program's end of a connection
 * the send buffer the filler trick took from it (the slot says which). */
void kw_direct_lift_sndbuf(int fd, struct kw_slot *s);
/* The program is letting go of fd (close) or making newfd a copy (dup). */
void kw_direct_forget(int fd);
void kw_direct_copy(int oldfd, int newfd);

#endif
