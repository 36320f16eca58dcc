/* keepwire show for an engine running as a thread of a program: its
 * connections listed on the engine's rendezvous name (thread_show.c). */
#ifndef KW_DIRECT_THREAD_SHOW_H
#define KW_DIRECT_THREAD_SHOW_H

struct kw_engine;

/* Listen for listings on tap's engine name; nothing if it is taken. */
void kw_thread_show_open(struct kw_engine *E, const char *tap);
/* Close what kw_thread_show_open opened (at destroy, and in a forked
 * child, which must not hold the name of an engine it does not run). */
void kw_thread_show_close(struct kw_engine *E);

#endif
