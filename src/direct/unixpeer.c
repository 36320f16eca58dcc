/* sock_diag for AF_UNIX (linux/unix_diag.h): one exact lookup by inode.
 * A released socket is removed from the kernel's table of AF_UNIX
 * sockets at once (unix_release_sock -> unix_remove_socket), so the
 * lookup of the program's end fails with ENOENT as soon as its last
 * descriptor is closed, whatever state our end is in. */
#include "config.h"
#include "direct/unixpeer.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ask for the socket ino (with show); the answer's attributes in *peer
 * (UNIX_DIAG_PEER, 0 if none). 1: found, 0: no such socket, -1: error. */
static int diag_exact(uint32_t ino, uint32_t show, uint32_t *peer)
{
	struct {
		struct nlmsghdr nh;
		struct unix_diag_req rq;
	} req;
	union {
		struct nlmsghdr nh;
		char buf[1024];
	} ans;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int fd, result = -1;
	ssize_t n;

	*peer = 0;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.rq.sdiag_family = AF_UNIX;
	req.rq.udiag_states = ~0u;
	req.rq.udiag_ino = ino;
	req.rq.udiag_show = show;
	req.rq.udiag_cookie[0] = req.rq.udiag_cookie[1] = ~0u;   /* no cookie */
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		goto out;
	do
		n = recv(fd, &ans, sizeof(ans), 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(struct nlmsghdr) || !NLMSG_OK(&ans.nh, (size_t)n))
		goto out;
	if (ans.nh.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&ans.nh);

		if (ans.nh.nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error == -ENOENT)
			result = 0;
		goto out;
	}
	if (ans.nh.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
	    ans.nh.nlmsg_len >= NLMSG_LENGTH(sizeof(struct unix_diag_msg))) {
		const struct unix_diag_msg *m = NLMSG_DATA(&ans.nh);
		struct rtattr *a = (struct rtattr *)(m + 1);
		int len = (int)ans.nh.nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

		for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
			if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t))
				memcpy(peer, RTA_DATA(a), sizeof(uint32_t));
		result = m->udiag_ino == ino ? 1 : -1;
	}
out:
	close(fd);
	return result;
}

uint32_t kw_unix_peer_ino(int fd)
{
	struct stat st;
	uint32_t peer;

	if (fstat(fd, &st) != 0 || diag_exact((uint32_t)st.st_ino, UDIAG_SHOW_PEER, &peer) != 1)
		return 0;
	return peer;
}

int kw_unix_ino_open(uint32_t ino)
{
	uint32_t unused;

	return diag_exact(ino, 0, &unused);
}
