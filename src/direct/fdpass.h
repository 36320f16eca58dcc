/* One datagram with descriptors attached (SCM_RIGHTS), both ways: how
 * direct mode's requests carry socketpair ends to the engine, and how
 * accepted connections reach the program. */
#ifndef KW_DIRECT_FDPASS_H
#define KW_DIRECT_FDPASS_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

#define KW_FDPASS_MAX 2

/* sendmsg() of len bytes with nfds (0..KW_FDPASS_MAX) descriptors; flags
 * as sendmsg's (MSG_NOSIGNAL is added). Retries on EINTR. */
ssize_t kw_fd_send(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags);

/* recvmsg() into buf; the descriptors that came (at most max, others
 * closed) are stored in fds and counted in *nfds. flags as recvmsg's
 * (MSG_CMSG_CLOEXEC, MSG_DONTWAIT). A datagram whose descriptors did not
 * all fit (MSG_CTRUNC) has the ones that came closed and fails with
 * EPROTO. */
ssize_t kw_fd_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfds, int flags);

/* kw_fd_recv, and the sending process in *pid (0 if the datagram carries
 * no credentials: the receiving socket needs SO_PASSCRED set before the
 * datagram was sent). With lost != NULL, a message whose descriptors did
 * not all arrive (no free descriptor number) is returned all the same,
 * without descriptors and with *lost set, so that it can be answered. */
ssize_t kw_fd_recv_pid(int sock, void *buf, size_t len, int *fds, int max, int *nfds,
		       int flags, pid_t *pid, bool *lost);

#endif
