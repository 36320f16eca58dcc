/* keepwire's process-wide state in the preloaded library: configuration
 * loaded once, the log, and what keepwire knows about each file
 * descriptor. Everything a hook needs per call is read from here without
 * allocating, locking or looking at the environment. */
#ifndef KW_PRELOAD_RUNTIME_H
#define KW_PRELOAD_RUNTIME_H

#include "core/config.h"

#include <stdatomic.h>
#include <stdbool.h>

#define KW_EXPORT __attribute__((visibility("default")))

struct kw_runtime {
	bool active;                   /* configured, valid and switched on */
	struct kw_config cfg;
	struct kw_socket_values values;
};

extern struct kw_runtime kw_rt;

/* Loads the configuration on first use, from whichever comes first: a
 * hook called from another library's constructor, or keepwire's own
 * constructor. Cheap after the first call. */
void kw_init_once(void);

/* The configured threshold; written once during initialisation. */
extern enum kw_log_level kw_log_threshold;

void kw_log_write(enum kw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Checks the level before formatting, so a disabled debug line costs one
 * comparison on the hot path. */
#define kw_log(level, ...)                                \
	do {                                              \
		if ((level) <= kw_log_threshold)          \
			kw_log_write((level), __VA_ARGS__); \
	} while (0)

/* What keepwire knows about a descriptor number. Written by socket/accept
 * (which see every new descriptor they return) and setsockopt; numbers a
 * program reuses through other calls may hold stale knowledge, which only
 * ever makes keepwire skip a socket it could have configured. */
enum kw_fd_state {
	KW_FD_UNKNOWN = 0,  /* never seen: find out when it matters */
	KW_FD_OTHER,        /* not a TCP socket keepwire configures */
	KW_FD_APPLIED,      /* keepwire's values are set */
	KW_FD_PROGRAM,      /* the program set keepalive options itself */
};

#define KW_FD_TABLE_SIZE (1 << 20)
extern _Atomic unsigned char kw_fd_table[KW_FD_TABLE_SIZE];

static inline enum kw_fd_state kw_fd_get(int fd)
{
	if (fd < 0 || fd >= KW_FD_TABLE_SIZE)
		return KW_FD_UNKNOWN;
	return (enum kw_fd_state)atomic_load_explicit(&kw_fd_table[fd], memory_order_relaxed);
}

static inline void kw_fd_set(int fd, enum kw_fd_state st)
{
	if (fd >= 0 && fd < KW_FD_TABLE_SIZE)
		atomic_store_explicit(&kw_fd_table[fd], (unsigned char)st, memory_order_relaxed);
}

/* ---- socket configuration (apply.c) ---------------------------------- */

/* True for the socket() arguments of a TCP (or MPTCP) socket over IPv4 or
 * IPv6, whatever SOCK_NONBLOCK/SOCK_CLOEXEC flags come with the type. */
bool kw_is_tcp_socket_args(int domain, int type, int protocol);

/* Sets keepwire's keepalive values on fd. Failures are logged at debug and
 * otherwise ignored: the program's own call never fails because of them.
 * Returns the new state to record. Preserves errno. */
enum kw_fd_state kw_apply(int fd);

/* For a descriptor keepwire has not seen: configure it if it is a TCP
 * socket whose keepalive is off (or always, under the force policy) and
 * return what is now known. Preserves errno. */
enum kw_fd_state kw_adopt(int fd);

#endif
