#include "config.h"
#include "direct/rendezvous.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void kw_engine_address(const char *tap, struct sockaddr_un *sun, socklen_t *len,
		       char *shown, size_t shown_len)
{
	struct stat st;
	unsigned long long ino = 0;
	int n;

	/* Two namespaces can each have a kw0: the namespace's inode tells
	 * them apart (abstract names are per network namespace already, but
	 * the name then also says which one in ss -x). */
	if (stat("/proc/self/ns/net", &st) == 0)
		ino = (unsigned long long)st.st_ino;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "keepwire/%llu/%s", ino, tap);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path) - 1)
		n = (int)strlen(sun->sun_path + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	if (shown != NULL)
		snprintf(shown, shown_len, "@%s", sun->sun_path + 1);
}
