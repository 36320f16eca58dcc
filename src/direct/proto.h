/* Direct mode: what the program side (the hooks, in any thread of the
 * process that runs the stack or of a child it forked) and the engine (the
 * stack thread) share.
 *
 * The design (README "Direct mode"): every stack socket the program holds
 * is a real kernel descriptor, one end of an AF_UNIX socketpair whose
 * other end the engine owns. Bytes flow through the pair; poll, select,
 * epoll, dup, fork and blocking calls work on it as the kernel made them.
 * What a socketpair cannot carry (the connection's addresses, its state,
 * the error that ended it, keepalive options) lives in a slot of a
 * MAP_SHARED region, so forked children read the same truth as the
 * parent. Requests (bind, connect, listen, option changes) travel as
 * datagrams over a SOCK_SEQPACKET pair, with descriptors attached as
 * SCM_RIGHTS; the answer comes back in a reply cell of the shared region,
 * announced with a process-shared futex. */
#ifndef KW_DIRECT_PROTO_H
#define KW_DIRECT_PROTO_H

#include "stack/tcp.h"

#include <stdatomic.h>
#include <stdint.h>

#define KW_DIRECT_SLOTS 16384u         /* stack sockets at once, per engine */
#define KW_DIRECT_CELLS 256u           /* requests in flight at once */

/* What a slot describes. */
enum kw_slot_kind {
	KW_SLOT_FREE = 0,
	KW_SLOT_BOUND,      /* bound on the stack; still a kernel socket in the program */
	KW_SLOT_LISTENER,   /* the program holds a SEQPACKET end; accepted sockets arrive on it */
	KW_SLOT_STREAM,     /* a connection; the program holds a stream end */
};

/* A connection's life as the program sees it. */
enum kw_slot_state {
	KW_SLOT_CONNECTING = 0,
	KW_SLOT_OPEN,       /* established (data may still be flowing after FINs) */
	KW_SLOT_DEAD,       /* ended by an error: refused, reset, timed out */
};

/* One stack socket. The engine writes every field; the program reads them,
 * and takes the pending error (an exchange, as SO_ERROR clears it). The
 * addresses are written before kind is published (release/acquire). */
struct kw_slot {
	_Atomic uint32_t gen;          /* changes whenever the slot is freed */
	_Atomic uint8_t kind;
	_Atomic uint8_t state;
	_Atomic uint8_t was_open;      /* reached OPEN once */
	_Atomic uint8_t keepalive;     /* SO_KEEPALIVE */
	_Atomic uint8_t nodelay;       /* TCP_NODELAY */
	/* TCP_NODELAY as the program set it while the handshake ran (1 off,
	 * 2 on; 0 none waiting). The program cannot write before the
	 * handshake ends (the filler), and the engine takes this value after
	 * each read of the program's bytes, before they enter the stack: so
	 * the set needs no request, and the engine sees it before anything
	 * the program wrote after it. */
	_Atomic uint8_t nodelay_set;
	_Atomic uint8_t peer_fin;      /* DEAD after the peer's FIN: reads end in EOF */
	_Atomic int32_t error;         /* pending error (positive errno), 0 if none */
	_Atomic uint32_t idle_ms, interval_ms, count;
	_Atomic uint32_t user_timeout_ms;
	_Atomic uint8_t linger_on;     /* SO_LINGER, as the program set it */
	_Atomic uint8_t reuseport;     /* SO_REUSEPORT */
	_Atomic int32_t linger_s;
	/* The program end's send buffer to give back once the handshake has
	 * ended (0: nothing to do). The program side sets it, on the first
	 * write or SO_ERROR/SO_SNDBUF query after: the engine holds no copy of
	 * the program's end, so the program's close() shows at once. */
	_Atomic uint32_t sndbuf;
	_Atomic uint32_t laddr, raddr; /* host byte order */
	_Atomic uint16_t lport, rport;
	/* The inode of the program's end (0: not known yet), so an exec'd
	 * image can tell which inherited descriptors are stack sockets
	 * (direct_adopt.c). Set by the program side when it maps one. */
	_Atomic uint64_t prog_ino;
};

/* A reply: free (0) -> waiting (1, the requester owns it) -> done (2,
 * written by the engine; the requester reads it and frees it). */
enum { KW_CELL_FREE = 0, KW_CELL_WAITING = 1, KW_CELL_DONE = 2 };
#define KW_CELL_NONE UINT32_MAX        /* a request that wants no reply */

struct kw_reply {
	_Atomic uint32_t state;        /* the futex word */
	int32_t result;                /* 0 or a negative errno */
	uint32_t slot, gen;
	struct kw_tcp_info info;       /* KW_OP_INFO's answer */
};

struct kw_direct_shared {
	/* The process placement: a random key the engine writes at start.
	 * Requests carry it: knowing it proves the sender has this region
	 * mapped (it greeted this engine, or descends from a process that
	 * did, perhaps under another uid since), as holding the connection
	 * did before requests had connections of their own. */
	uint64_t key[2];
	struct kw_reply cell[KW_DIRECT_CELLS];
	struct kw_slot slot[KW_DIRECT_SLOTS];
};

enum kw_direct_op {
	/* Reserve addr:port on the stack (port 0: an ephemeral one). Replies
	 * with a BOUND slot. */
	KW_OP_BIND = 1,
	/* Connect to addr:port. Attached: the engine's end of a stream pair
	 * (only: a copy of the program's end would hide the program's close
	 * while the handshake runs); `filler` bytes the program wrote into
	 * its end so it shows no POLLOUT meanwhile; `sndbuf` the program
	 * end's send buffer, kept in the slot for the program side to
	 * restore. Uses slot if it is BOUND. Replies -EINPROGRESS with a
	 * STREAM slot, or an error. */
	KW_OP_CONNECT,
	/* Listen on the BOUND slot. Attached: the engine's end of a
	 * SEQPACKET pair, on which accepted connections will be sent. */
	KW_OP_LISTEN,
	/* Set one option (level/name as setsockopt) on the slot. */
	KW_OP_SETOPT,
	/* Forget a BOUND slot the program did not use, or stop a LISTENER
	 * whose program end was shut for reading (answered when a cell is
	 * named). */
	KW_OP_RELEASE,
	/* The connection's TCP_INFO, into the reply's info. */
	KW_OP_INFO,
	/* Sent after the program closed a descriptor of a STREAM slot whose
	 * SO_LINGER is {1,N>0}: if that was the last copy, the reply comes
	 * when the FIN is acknowledged or N s have passed (close blocks that
	 * long, as on the kernel); otherwise at once. */
	KW_OP_LINGER,
	/* keepwire show: the stack's connections as text, written to the one
	 * attached descriptor (then closed); addr: only those made by that
	 * process (0: all); port KW_DUMP_INODES: each line ends with the
	 * inode of the program's end (0: none), for keepwire show PID to
	 * name the descriptors that hold it. No reply. */
	KW_OP_DUMP,
	/* The process placement's hello (direct/rendezvous.h): the engine
	 * answers with a struct kw_direct_hello on the same connection, the
	 * shared region's memfd attached. No reply cell. */
	KW_OP_HELLO,
};

#define KW_DUMP_INODES 1u

/* Options a socket carries into the stack (read from the kernel socket
 * the program configured before it connected or listened). */
struct kw_direct_opts {
	uint8_t keepalive, nodelay;
	uint32_t idle_ms, interval_ms, count;
	uint32_t user_timeout_ms;
	uint8_t linger_on;             /* SO_LINGER {1,0} resets at close */
	int32_t linger_s;
};

struct kw_direct_request {
	uint32_t op;
	uint32_t cell;                 /* KW_CELL_NONE: no reply wanted */
	uint32_t slot, gen;            /* for requests about an existing slot */
	uint32_t addr;                 /* host byte order */
	uint16_t port;
	int32_t backlog;
	uint32_t filler, sndbuf;
	int32_t level, name, value;    /* KW_OP_SETOPT (SO_LINGER: value2 the seconds) */
	int32_t value2;
	uint8_t reuseport;             /* KW_OP_BIND: SO_REUSEPORT was set */
	struct kw_direct_opts opts;
	/* The process placement: the key of the shared region the sender
	 * has mapped. An engine with another key (it is not the engine the
	 * sender greeted) ignores the request and closes the connection, and
	 * the sender greets again (direct.c). */
	uint64_t key[2];
	/* KW_OP_BIND: the inode of the program's socket, which the engine
	 * looks for in the processes' descriptor tables to learn when the
	 * last one holding it is gone (direct/server.c). */
	uint64_t sock_ino;
};

/* What the engine sends on a listener's SEQPACKET pair with each accepted
 * connection (the program's end attached as SCM_RIGHTS). */
struct kw_direct_accepted {
	uint32_t slot, gen;
};

/* A program-side descriptor maps to (slot, gen & 0xffff) packed in 32 bits;
 * 0 means "not a stack socket". */
static inline uint32_t kw_slot_ref(uint32_t slot, uint32_t gen)
{
	return ((gen & 0xffffu) << 16) | ((slot + 1) & 0xffffu);
}

static inline uint32_t kw_slot_ref_index(uint32_t ref)
{
	return (ref & 0xffffu) - 1;
}

static inline uint32_t kw_slot_ref_gen(uint32_t ref)
{
	return ref >> 16;
}

#endif
