/* The engine as a process of its own (`keepwire engine`, KEEPWIRE_ENGINE=
 * process): the same engine loop, bridges and stack as the thread
 * placement, serving every program that connects to its socket
 * (direct/rendezvous.h). */
#ifndef KW_DIRECT_SERVER_H
#define KW_DIRECT_SERVER_H

#include "core/config.h"

#include <stdbool.h>

struct kw_serve_options {
	/* Started on demand by a program: exit quietly when another engine
	 * already serves the device, and exit once nothing is left to do (no
	 * client, no connection, nothing to send, no TIME-WAIT). */
	bool auto_exit;
	/* Setup errors are written here as one line, and the descriptor is
	 * closed once the engine listens (-1: none; errors go to stderr). */
	int report_fd;
};

/* Runs until SIGTERM/SIGINT (then drains) or, with auto_exit, until idle.
 * Returns the exit status: 0, or 1 when the engine could not start (one
 * line on stderr / the report descriptor says why). */
int kw_engine_serve(const struct kw_config *cfg, const struct kw_serve_options *o);

#endif
