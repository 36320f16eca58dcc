/* The direct-mode engine: keepwire's stack on a TAP device, run by one
 * thread of the program's process, serving the program's stack sockets
 * through socketpairs (see direct/proto.h for the design).
 *
 * The program side (src/preload/direct*.c) starts it on first need and
 * then only talks to it through the shared region and the request pair,
 * which also work from children the process forks. */
#ifndef KW_DIRECT_ENGINE_H
#define KW_DIRECT_ENGINE_H

#include "core/config.h"
#include "direct/proto.h"

#include <stddef.h>

struct kw_engine_link {
	struct kw_direct_shared *shared;
	int ctl_fd;                    /* the program's end of the request pair
					* (the thread placement; -1 for the
					* process placement's connections) */
};

/* Attach the TAP device, create the stack and start the thread. 0, or -1
 * with one line in err (naming the device and what went wrong). */
int kw_engine_start(const struct kw_config *cfg, struct kw_engine_link *out,
		    char *err, size_t errlen);

/* Whether the TAP device can be attached now (done at startup so a bad
 * setup is reported before main, and KEEPWIRE_STRICT can stop there). */
int kw_engine_probe(const struct kw_config *cfg, char *err, size_t errlen);

/* The process is exiting (called from keepwire's destructor): what the
 * program wrote is sent, connections are closed with FIN, and this waits
 * until they are done or timeout_ns passed. The engine thread dies with
 * the process; without this, unsent data would be lost silently. */
void kw_engine_drain(uint64_t timeout_ns);

#endif
