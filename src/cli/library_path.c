#include "config.h"
#include "cli/cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KW_LIBDIR
#define KW_LIBDIR "/usr/local/lib"
#endif

const char *kw_find_library(char *buf, unsigned len)
{
	char exe[PATH_MAX];
	const char *override = getenv("KEEPWIRE_LIBRARY");
	ssize_t n;
	char *slash;

	if (override != NULL && override[0] != '\0')
		return override;
	/* In a build tree, libtool keeps the shared object in .libs beside
	 * the program. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(buf, len, "%s/.libs/libkeepwire.so", exe);
			if (access(buf, R_OK) == 0)
				return buf;
		}
	}
	snprintf(buf, len, "%s/libkeepwire.so", KW_LIBDIR);
	return buf;
}
