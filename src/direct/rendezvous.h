/* Where programs meet the engine process (KEEPWIRE_ENGINE=process): an
 * abstract SOCK_SEQPACKET Unix socket named after the TAP device and the
 * network namespace, so there is one engine per device and namespace and
 * the name vanishes with the engine (docs/direct-engine.md).
 *
 * A program connects for each request and closes the connection once it
 * has the answer (docs/direct-engine.md): between requests it holds no
 * descriptor of keepwire's. A program that has not yet mapped this
 * engine's shared region (the engine's pid, SO_PEERCRED, is not the one it
 * greeted) first sends KW_OP_HELLO and gets the hello, the region's memfd
 * attached (SCM_RIGHTS); only a peer of the engine's user or root may
 * (another gets result -EACCES). Requests are struct kw_direct_request
 * datagrams, as on the thread placement's request pair, each carrying the
 * key written in the region its sender mapped; the answer comes in a
 * reply cell of that region. */
#ifndef KW_DIRECT_RENDEZVOUS_H
#define KW_DIRECT_RENDEZVOUS_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define KW_HELLO_MAGIC 0x6b774531u     /* "kwE1" */
/* Changes whenever the request, slot or reply layout does: a library and
 * an engine from different builds refuse each other rather than misread. */
#define KW_HELLO_VERSION 3u

struct kw_direct_hello {
	uint32_t magic, version;
	int32_t result;                /* 0, or -EACCES: not the engine's user */
	uint32_t shared_size;          /* sizeof(struct kw_direct_shared) */
	uint32_t slots, cells;
};

/* The engine's address for TAP device tap in this process's network
 * namespace ("\0keepwire/<netns inode>/<tap>"); *len is the address
 * length to bind or connect with. The printable form (with '@' for the
 * leading NUL) goes to shown when it is not NULL. */
void kw_engine_address(const char *tap, struct sockaddr_un *sun, socklen_t *len,
		       char *shown, size_t shown_len);

#endif
