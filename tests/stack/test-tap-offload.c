/* The TAP device's offloads against the kernel (root; skipped without
 * root, /dev/net/tun or network namespaces). In a network namespace of
 * its own (gone when the test exits, with every device in it), a TAP
 * device opened with kw_tap_options.offload carries the kernel's address
 * 10.77.0.1/24 and a static ARP entry for a stack address 10.77.0.2; the
 * kernel's non-blocking connect()s to 10.77.0.2 make it send SYNs out of
 * the device, which the test reads:
 *   - kw_tap_read_meta: the kernel left the TCP checksum partial, and the
 *     metadata says so, pointing at the TCP header's checksum field;
 *   - kw_tap_read: the same kind of frame comes back with the checksum
 *     finished (a caller that knows nothing of offloads gets whole frames);
 *   - kw_tap_frame_max covers a 64 KiB packet; the netdev announces the
 *     offloads; a plain (no offload) TAP announces none;
 *   - kw_tap_close turns the offloads off again: the same persistent
 *     device opened afterwards without offloads gets full checksums.
 * And the device's transmit queue (the frames the kernel holds for us):
 * kw_tap_open lengthens the kernel's default 1,000 frames to 10,000, so
 * that a busy engine does not make the kernel drop what its TCP senders
 * were allowed to send, keeps a length the administrator set higher, and
 * when it may not lengthen it (its owner, here root without CAP_NET_ADMIN)
 * says so.
 * A large TCP segment written with offloads, cut and taken by the kernel,
 * is tested end to end by tests/stack/kernel-tcp-offload.t. */
#define _GNU_SOURCE
#include "dev/tap.h"
#include "stack/checksum.h"
#include "tests/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEV "kwoff0"
static const uint8_t STACK_MAC[6] = { 0x02, 0x6b, 0x77, 0, 0, 0x22 };

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int inet_ioctl(unsigned long req, void *arg)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -1;
	r = ioctl(s, req, arg);
	close(s);
	return r;
}

static int txqueuelen(int set)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV);
	ifr.ifr_qlen = set;
	if (inet_ioctl(set ? SIOCSIFTXQLEN : SIOCGIFTXQLEN, &ifr) < 0)
		return -1;
	return set ? set : ifr.ifr_qlen;
}

/* This process without CAP_NET_ADMIN, still uid 0 (so it may open
 * /dev/net/tun and attach to a device it owns). */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return -1;
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].inheritable &= ~(1u << (CAP_NET_ADMIN % 32));
	return (int)syscall(SYS_capset, &h, d);
}

static int set_addr(void)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	struct arpreq ar;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.77.0.1", &sin->sin_addr);
	if (inet_ioctl(SIOCSIFADDR, &ifr) < 0)
		return -1;
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (inet_ioctl(SIOCSIFNETMASK, &ifr) < 0)
		return -1;
	memset(&ar, 0, sizeof(ar));
	sin = (struct sockaddr_in *)&ar.arp_pa;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.77.0.2", &sin->sin_addr);
	ar.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(ar.arp_ha.sa_data, STACK_MAC, 6);
	ar.arp_flags = ATF_COM | ATF_PERM;
	snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s", DEV);
	return inet_ioctl(SIOCSARP, &ar);
}

/* The kernel connects to 10.77.0.2:port: a SYN leaves through the TAP. */
static int kernel_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "10.77.0.2", &sa.sin_addr);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(s);
		return -1;
	}
	return s;
}

static uint8_t frame[70000];

/* Read frames until the kernel's SYN to port; its length, or -1. */
static ssize_t read_syn(struct kw_tap *tap, uint16_t port, bool meta_read,
			struct kw_netdev_rx_meta *meta)
{
	for (int tries = 0; tries < 50; tries++) {
		struct pollfd p = { .fd = kw_tap_fd(tap), .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = meta_read ? kw_tap_read_meta(tap, frame, sizeof(frame), meta)
			      : kw_tap_read(tap, frame, sizeof(frame));
		if (n < 14 + 20 + 20 || frame[12] != 0x08 || frame[13] != 0 || frame[23] != 6)
			continue;
		if ((frame[14 + 20 + 2] << 8 | frame[14 + 20 + 3]) == port && (frame[14 + 33] & 0x02))
			return n;
	}
	return -1;
}

static bool tcp_csum_valid(const uint8_t *f, size_t n)
{
	size_t tl = (size_t)(f[16] << 8 | f[17]) - 20;

	if (14 + 20 + tl > n)
		return false;
	return kw_checksum(f + 34, tl, kw_checksum_pseudo(be32(f + 26), be32(f + 30), 6,
							  (uint16_t)tl)) == 0;
}

int main(void)
{
	struct kw_tap_options o = { .name = DEV, .set_up = true, .mac = STACK_MAC, .offload = true };
	struct kw_netdev_rx_meta m;
	struct kw_tap *tap;
	char err[256];
	ssize_t n;
	int s1, s2, s3, s4, pfd;

	if (geteuid() != 0)
		tap_skip_all("needs root");
	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		tap_skip_all("/dev/net/tun is missing");
	if (unshare(CLONE_NEWNET) != 0)
		tap_skip_all("cannot make a network namespace");
	tap_plan(21);

	/* A persistent device, so that what one fd leaves behind shows on
	 * the next: made here, persistent until the namespace goes. */
	pfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	{
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV);
		if (pfd < 0 || ioctl(pfd, TUNSETIFF, &ifr) < 0 || ioctl(pfd, TUNSETPERSIST, 1) < 0) {
			printf("Bail out! cannot create a persistent TAP device: %s\n", strerror(errno));
			return 1;
		}
		close(pfd);
	}
	tap_diag("transmit queue before kw_tap_open: %d frames", txqueuelen(0));

	tap = kw_tap_open(&o, err, sizeof(err));
	tap_ok(tap != NULL, "kw_tap_open with offload on an existing TAP device");
	if (tap == NULL) {
		tap_diag("%s", err);
		return 1;
	}
	tap_ok(txqueuelen(0) == 10000, "... the device's transmit queue lengthened to 10000 frames");
	tap_ok(kw_tap_offload(tap) && kw_tap_netdev(tap)->flags ==
	       (KW_NETDEV_TX_CSUM | KW_NETDEV_TX_TSO4 | KW_NETDEV_RX_META),
	       "... the netdev announces checksum and segmentation offload and received metadata");
	tap_ok(kw_tap_frame_max(tap) >= 14 + 65535, "... frames of up to 64 KiB (kw_tap_frame_max)");
	tap_ok(set_addr() == 0, "kernel address 10.77.0.1/24 and a static ARP entry for 10.77.0.2");

	s1 = kernel_connect(7001);
	n = read_syn(tap, 7001, true, &m);
	tap_ok(n > 0, "kw_tap_read_meta: the kernel's SYN");
	tap_ok(m.csum_partial && m.csum_start == 34 && m.csum_offset == 16,
	       "... with metadata: checksum partial, from the TCP header, field at +16");
	if (n > 0)
		tap_diag("csum_partial %d valid %d start %u offset %u", m.csum_partial, m.csum_valid,
			 m.csum_start, m.csum_offset);
	tap_ok(n > 0 && !tcp_csum_valid(frame, (size_t)n), "... and the checksum left partial");

	s2 = kernel_connect(7002);
	n = read_syn(tap, 7002, false, NULL);
	tap_ok(n > 0, "kw_tap_read: the kernel's next SYN");
	tap_ok(n > 0 && tcp_csum_valid(frame, (size_t)n), "... with the checksum finished by kw_tap_read");

	kw_tap_close(tap);
	txqueuelen(20000);
	o.offload = false;
	tap = kw_tap_open(&o, err, sizeof(err));
	tap_ok(tap != NULL && !kw_tap_offload(tap) && kw_tap_netdev(tap)->flags == 0,
	       "the same device without offload: the netdev announces none");
	if (tap == NULL)
		return 1;
	tap_ok(txqueuelen(0) == 20000, "... a longer transmit queue set on the device is kept");
	tap_ok(kw_tap_frame_max(tap) == 14 + 4 + 1500, "... frames of at most the MTU");
	s3 = kernel_connect(7003);
	n = read_syn(tap, 7003, false, NULL);
	tap_ok(n > 0, "plain read: the kernel's SYN");
	tap_ok(n > 0 && tcp_csum_valid(frame, (size_t)n),
	       "... with a full checksum: closing the offload fd turned the offloads off");
	n = read_syn(tap, 7003, true, &m);
	tap_ok(n < 0 || (!m.csum_partial && !m.csum_valid),
	       "... and kw_tap_read_meta on a plain device reports nothing");

	/* An owner with offloads that ends without kw_tap_close() (killed,
	 * or exiting) leaves them on the device; the next plain open must
	 * turn them off, or it would read partial checksums it cannot tell. */
	kw_tap_close(tap);
	{
		/* A child attaches with offloads and exits without closing. */
		pid_t pid = fork();
		int status = -1;

		if (pid == 0) {
			o.offload = true;
			_exit(kw_tap_open(&o, err, sizeof(err)) != NULL ? 0 : 1);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "an owner with offloads attaches, then exits without kw_tap_close");
	}
	o.offload = false;
	tap = kw_tap_open(&o, err, sizeof(err));
	if (tap == NULL)
		return 1;
	s4 = kernel_connect(7004);
	n = read_syn(tap, 7004, false, NULL);
	tap_ok(n > 0 && tcp_csum_valid(frame, (size_t)n),
	       "the next plain open gets full checksums: kw_tap_open turned the leftovers off");

	/* An owner without CAP_NET_ADMIN cannot lengthen the queue: the
	 * device keeps its length and kw_tap_txqueue_short says so (the
	 * engine then warns). */
	ioctl(kw_tap_fd(tap), TUNSETOWNER, 0UL);
	kw_tap_close(tap);
	txqueuelen(500);
	{
		pid_t pid = fork();
		int status = -1;

		if (pid == 0) {
			struct kw_tap *t;

			o.set_up = false;
			if (drop_net_admin() != 0)
				_exit(3);
			t = kw_tap_open(&o, err, sizeof(err));
			if (t == NULL) {
				tap_diag("%s", err);
				fflush(stdout);
				_exit(4);
			}
			_exit(kw_tap_txqueue_short(t) && kw_tap_txqueue_len(t) == 500 ? 0 : 5);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "an owner without CAP_NET_ADMIN: the 500-frame queue is kept and reported short");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			tap_diag("child status %d", status);
	}
	tap_ok(txqueuelen(0) == 500, "... the device's queue unchanged");
	o.set_up = true;
	tap = kw_tap_open(&o, err, sizeof(err));
	tap_ok(tap != NULL && !kw_tap_txqueue_short(tap) && kw_tap_txqueue_len(tap) == 10000,
	       "root opens it again: lengthened to 10000, not short");
	if (tap == NULL)
		return 1;

	close(s1);
	close(s2);
	close(s3);
	close(s4);
	pfd = kw_tap_fd(tap);
	ioctl(pfd, TUNSETPERSIST, 0);
	kw_tap_close(tap);
	return tap_failed ? 1 : 0;
}
