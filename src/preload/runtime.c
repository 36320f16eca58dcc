#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kw_runtime kw_rt;
_Atomic unsigned char kw_fd_table[KW_FD_TABLE_SIZE];

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

enum kw_log_level kw_log_threshold = KW_LOG_WARN;

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void kw_log_write(enum kw_log_level level, const char *fmt, ...)
{
	char line[640];
	int saved = errno;
	int n, m;
	va_list ap;

	(void)level;
	n = snprintf(line, sizeof(line), "keepwire[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	write_all(STDERR_FILENO, line, (size_t)n);
	errno = saved;
}

static const char *env_lookup(void *ctx, const char *name)
{
	(void)ctx;
#ifdef HAVE_SECURE_GETENV
	/* In setuid/setgid programs the environment is the caller's, not to be
	 * trusted: secure_getenv returns NULL there, so defaults apply. */
	return secure_getenv(name);
#else
	return getenv(name);
#endif
}

static void describe_user_timeout(char *buf, size_t len)
{
	if (!kw_rt.values.set_user_timeout)
		snprintf(buf, len, "off");
	else
		snprintf(buf, len, "%ums", kw_rt.values.user_timeout_ms);
}

/* Set while init() runs on this thread: the hooks its own calls reach
 * (close, socket, write, ...) must not wait for it to finish. */
static __thread bool initializing;

static void init_body(void)
{
	static struct kw_diag diag;	/* static: large, and used once */
	char ut[32];
	int errors;

	kw_libc_resolve();
	errors = kw_config_load(&kw_rt.cfg, env_lookup, NULL, &diag);
	kw_log_threshold = kw_rt.cfg.log_level;
	for (int i = 0; i < diag.count; i++) {
		if (diag.item[i].level != KW_LOG_ERROR) {
			kw_log(diag.item[i].level, "%s", diag.item[i].text);
		} else if (kw_rt.cfg.strict) {
			kw_log(KW_LOG_ERROR, "%s; exiting (KEEPWIRE_STRICT=1)", diag.item[i].text);
		} else {
			kw_log(KW_LOG_ERROR, "%s; keepwire is off in this process, "
			       "keepalive left as the system set it", diag.item[i].text);
		}
	}
	if (errors > 0 && kw_rt.cfg.strict)
		_exit(2);	/* no atexit handlers: we may be inside a constructor */
	if (errors > 0 || !kw_rt.cfg.enabled) {
		kw_rt.active = false;
		if (errors == 0)
			kw_log(KW_LOG_INFO, "switched off; sockets left as they are");
		return;
	}
	kw_config_socket_values(&kw_rt.cfg, &kw_rt.values);
	kw_rt.active = true;
	if (kw_rt.cfg.mode == KW_MODE_DIRECT && !kw_direct_init())
		_exit(2);
	if (kw_direct_enabled)
		kw_direct_adopt_inherited();
	describe_user_timeout(ut, sizeof(ut));
	kw_log(KW_LOG_INFO, "socket mode: idle %ds, interval %ds, count %d, user timeout %s, policy %s",
	       kw_rt.values.idle_s, kw_rt.values.interval_s, kw_rt.values.count, ut,
	       kw_rt.cfg.policy == KW_POLICY_FORCE ? "force" : "default");
}

static void init(void)
{
	initializing = true;
	init_body();
	initializing = false;
}

void kw_init_once(void)
{
	if (!initializing)
		pthread_once(&init_once, init);
}

/* Report configuration errors (and, under KEEPWIRE_STRICT, exit) before
 * main even if the program never opens a socket. */
__attribute__((constructor)) static void kw_constructor(void)
{
	int saved = errno;
	kw_init_once();
	errno = saved;
}
