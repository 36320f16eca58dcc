/* setsockopt(2): notes when the program sets keepalive options itself
 * (policy "default": the program wins, and keepwire will not override the
 * socket or sockets accepted from it later), or ignores those attempts on
 * sockets keepwire configured (policy "force"). */
#include "config.h"
#include "preload/runtime.h"
#include "preload/libc.h"
#include "preload/direct.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#if !defined(TCP_KEEPIDLE) && defined(TCP_KEEPALIVE)
#define TCP_KEEPIDLE TCP_KEEPALIVE
#endif

static bool is_keepalive_option(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == SO_KEEPALIVE;
	if (level != IPPROTO_TCP)
		return false;
	switch (name) {
#ifdef TCP_KEEPIDLE
	case TCP_KEEPIDLE:
#endif
#ifdef TCP_KEEPINTVL
	case TCP_KEEPINTVL:
#endif
#ifdef TCP_KEEPCNT
	case TCP_KEEPCNT:
#endif
		return true;
#ifdef TCP_USER_TIMEOUT
	case TCP_USER_TIMEOUT:
		/* Only keepwire's business when keepwire sets it. */
		return kw_rt.values.set_user_timeout;
#endif
	default:
		return false;
	}
}

static const char *option_name(int level, int name)
{
	if (level == SOL_SOCKET)
		return "SO_KEEPALIVE";
	switch (name) {
#ifdef TCP_KEEPIDLE
	case TCP_KEEPIDLE: return "TCP_KEEPIDLE";
#endif
#ifdef TCP_KEEPINTVL
	case TCP_KEEPINTVL: return "TCP_KEEPINTVL";
#endif
#ifdef TCP_KEEPCNT
	case TCP_KEEPCNT: return "TCP_KEEPCNT";
#endif
	default: return "TCP_USER_TIMEOUT";
	}
}

static int kw_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static atomic_bool warned;
	enum kw_fd_state st;
	int rc;

	if (!kw_rt.active || !is_keepalive_option(level, name))
		return kw_libc.setsockopt(fd, level, name, val, len);
	st = kw_fd_get(fd);
	if (kw_rt.cfg.policy == KW_POLICY_FORCE && st == KW_FD_APPLIED) {
		/* Say so once at warn, every time at info. */
		bool first = !atomic_exchange(&warned, true);
		kw_log(first ? KW_LOG_WARN : KW_LOG_INFO,
		       "fd %d: program's %s ignored (KEEPWIRE_POLICY=force)%s",
		       fd, option_name(level, name),
		       first ? "; further ones are logged at info" : "");
		return 0;
	}
	rc = kw_libc.setsockopt(fd, level, name, val, len);
	if (rc == 0 && st != KW_FD_OTHER)
		kw_fd_set(fd, KW_FD_PROGRAM);
	return rc;
}

KW_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int ret;

	kw_init_once();
	if (kw_direct_enabled && kw_direct_setsockopt(fd, level, name, val, len, &ret))
		return ret;
	return kw_setsockopt(fd, level, name, val, len);
}
