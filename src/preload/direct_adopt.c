/* Stack sockets an exec'd image inherited (KEEPWIRE_ENGINE=process).
 *
 * Across exec the descriptors survive but this library's per-process
 * table does not: the new image would see its stack sockets as the plain
 * AF_UNIX socketpair ends they are underneath (getpeername empty,
 * SO_DOMAIN AF_UNIX, no error reporting). As OpenOnload does after exec,
 * they are recognised by what the engine side knows of them: each slot of
 * the shared region records the inode of the program's end, so at
 * initialisation every inherited AF_UNIX socket whose inode a live slot
 * names is mapped again. Only when such a descriptor exists and an engine
 * already runs (none is started for this); any failure leaves the
 * descriptors as they are. With KEEPWIRE_ENGINE=thread the engine died
 * with the image that exec'd, and nothing is left to adopt. */
#include "config.h"
#include "preload/direct.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define ADOPT_MAX 256           /* inherited AF_UNIX sockets looked at */

void kw_direct_map_new(int fd, uint32_t ref)
{
	struct kw_slot *s = kw_direct_slot(ref);
	struct stat st;

	kw_direct_map(fd, ref);
	if (s != NULL && fstat(fd, &st) == 0)
		atomic_store(&s->prog_ino, (uint64_t)st.st_ino);
}

static bool unix_socket(int fd, uint64_t *ino)
{
	struct stat st;
	int domain = 0;
	socklen_t len = sizeof(domain);

	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
		return false;
	*ino = (uint64_t)st.st_ino;
	return true;
}

void kw_direct_adopt_inherited(void)
{
	int fds[ADOPT_MAX];
	uint64_t inos[ADOPT_MAX];
	unsigned n = 0;
	struct dirent *e;
	DIR *d;

	if (kw_rt.cfg.engine != KW_ENGINE_PROCESS)
		return;
	d = opendir("/proc/self/fd");
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < ADOPT_MAX) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end != '\0' || end == e->d_name || fd == dirfd(d) || fd >= KW_FD_TABLE_SIZE)
			continue;
		if (unix_socket((int)fd, &inos[n]))
			fds[n++] = (int)fd;
	}
	closedir(d);
	if (n == 0 || !kw_direct_engine_running() || kw_direct_ensure() != 0)
		return;
	for (uint32_t i = 0; i < KW_DIRECT_SLOTS; i++) {
		struct kw_slot *s = &kw_dc.shared->slot[i];
		uint64_t ino = atomic_load(&s->prog_ino);
		uint32_t gen;

		if (ino == 0 || atomic_load(&s->kind) == KW_SLOT_FREE)
			continue;
		gen = atomic_load_explicit(&s->gen, memory_order_acquire);
		for (unsigned k = 0; k < n; k++)
			if (inos[k] == ino)
				kw_direct_map(fds[k], kw_slot_ref(i, gen));
	}
}
