/* The keepwire command: run a program with the library preloaded, or show
 * the keepalive settings of a live process's TCP sockets. */
#ifndef KW_CLI_H
#define KW_CLI_H

/* keepwire show PID: returns the exit status. */
int kw_show_main(int argc, char **argv);

/* keepwire engine ...: direct mode's engine as a process (engine_cmd.c). */
int kw_engine_main(int argc, char **argv);

/* Path of libkeepwire.so for LD_PRELOAD: the build tree's when this binary
 * runs from the build tree, else the installed one. Never NULL. */
const char *kw_find_library(char *buf, unsigned len);

#endif
