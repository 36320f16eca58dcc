/* The keepwire command: run a program with the library preloaded, or show
 * the keepalive settings of a live process's TCP sockets. */
#ifndef KW_CLI_H
#define KW_CLI_H

#include <stddef.h>
#include <sys/types.h>

/* keepwire show PID: returns the exit status. */
int kw_show_main(int argc, char **argv);
/* The stack's connections from the engine serving tap (only those made by
 * process only, unless 0), to stdout; -1 with why when none answers. */
int kw_show_engine(const char *tap, pid_t only, char *why, size_t whylen);
/* After a process's kernel sockets: its stack connections, when it runs
 * direct mode with an engine process. */
void kw_show_stack_of(pid_t pid);

/* keepwire engine ...: direct mode's engine as a process (engine_cmd.c). */
int kw_engine_main(int argc, char **argv);

/* Path of libkeepwire.so for LD_PRELOAD: the build tree's when this binary
 * runs from the build tree, else the installed one. Never NULL. */
const char *kw_find_library(char *buf, unsigned len);

#endif
