/* The TAP backend (Linux tun/tap driver). See tap.h. */
#include "config.h"
#include "dev/tap.h"
#include "dev/txq.h"
#include "stack/checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"
#define TAP_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4)

struct kw_tap {
	struct kw_netdev dev;
	int fd;
	bool offload;           /* every frame has a struct virtio_net_hdr in front */
	char name[IFNAMSIZ];
	struct kw_tap_stats stats;
	struct kw_txq *txq;     /* kw_tap_tx_thread(): the writer thread */
	unsigned inline_left;   /* frames this round may still write inline */
	int txqueue_len;        /* the device's, after kw_tap_open (0: unknown) */
};

/* With a writer thread, the first frames of each round (kw_tap_tx_round)
 * are still written by the caller: a lone frame (a request, a reply) is
 * not worth a hand-over between threads; a burst is. */
#define TAP_TX_INLINE 2
/* The writer thread's queue: 64 frames of 64 KiB. */
#define TAP_TXQ_BYTES (4u * 1024u * 1024u)

/* The vnet header's fields are in the host's byte order: the tun driver's
 * default for the legacy header (no TUNSETVNETLE/BE). */

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int tap_write(struct kw_tap *tap, const void *frame, size_t len,
		     const struct virtio_net_hdr *hdr)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)frame, .iov_len = len },
	};
	ssize_t n;

	if (tap->txq != NULL) {
		if (tap->inline_left == 0 || kw_txq_busy(tap->txq)) {
			/* Queued frames go first: never overtake them. */
			n = hdr ? kw_txq_push(tap->txq, iov[0].iov_base, iov[0].iov_len, frame, len)
				: kw_txq_push(tap->txq, frame, len, NULL, 0);
			if (n < 0)
				tap->stats.tx_dropped++;
			return (int)n;
		}
		tap->inline_left--;
	}
	do
		n = hdr ? writev(tap->fd, iov, 2) : write(tap->fd, frame, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* Full queue (EAGAIN), interface down (EIO): the frame is lost,
		 * as on a NIC. */
		tap->stats.tx_dropped++;
		return -errno;
	}
	if (hdr)
		n -= (ssize_t)sizeof(*hdr);
	tap->stats.tx_frames++;
	tap->stats.tx_bytes += (uint64_t)n;
	return 0;
}

static int tap_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	struct kw_tap *tap = dev->priv;
	static const struct virtio_net_hdr none;     /* nothing to do */

	return tap_write(tap, frame, len, tap->offload ? &none : NULL);
}

static int tap_transmit_meta(struct kw_netdev *dev, const void *frame, size_t len,
			     const struct kw_netdev_tx_meta *meta)
{
	struct kw_tap *tap = dev->priv;
	struct virtio_net_hdr h;

	if (!tap->offload)
		return tap_write(tap, frame, len, NULL);
	memset(&h, 0, sizeof(h));
	if (meta->csum_partial) {
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.csum_start = meta->csum_start;
		h.csum_offset = meta->csum_offset;
	}
	if (meta->gso_size) {
		h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h.gso_size = meta->gso_size;
		h.hdr_len = meta->hdr_len;
	}
	return tap_write(tap, frame, len, &h);
}

static const struct kw_netdev_ops tap_ops = {
	.transmit = tap_transmit,
	.transmit_meta = tap_transmit_meta,
};

/* An AF_INET socket for interface ioctls (SIOCGIFMTU, SIOCSIFFLAGS). */
static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r, e;

	if (s < 0)
		return -errno;
	r = ioctl(s, req, ifr);
	e = errno;
	close(s);
	return r < 0 ? -e : 0;
}

static void random_mac(uint8_t *mac)
{
	if (getrandom(mac, KW_ETH_ALEN, 0) != KW_ETH_ALEN) {
		/* No entropy source: still distinct per process. */
		unsigned v = (unsigned)getpid() * 2654435761u;
		for (int i = 0; i < KW_ETH_ALEN; i++)
			mac[i] = (uint8_t)(v >> (i * 5));
	}
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);   /* unicast, locally administered */
}

static int exists(const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	return ifreq_ioctl(SIOCGIFINDEX, &ifr) == 0;
}

/* The kernel queues the frames it sends to us in a ring of txqueuelen
 * frames and drops what does not fit (tx_dropped). Its TCP senders see that
 * as loss: under wrk with 256 connections (1 MiB each) the default 1,000
 * frames overflowed, nginx retransmitted 28,000 segments in 6 s without any
 * loss on the path, and requests took longer. The senders are bounded by
 * the windows the stack advertises, so a longer ring only holds what they
 * were promised. Best effort: lengthening needs CAP_NET_ADMIN, and a length
 * the administrator chose above ours is kept. */
#define KW_TAP_TXQUEUE_MIN 10000

static int lengthen_txqueue(const char *name)
{
	struct ifreq ifr;
	int was;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ifreq_ioctl(SIOCGIFTXQLEN, &ifr) < 0)
		return 0;
	if (ifr.ifr_qlen >= KW_TAP_TXQUEUE_MIN)
		return ifr.ifr_qlen;
	was = ifr.ifr_qlen;
	ifr.ifr_qlen = KW_TAP_TXQUEUE_MIN;
	return ifreq_ioctl(SIOCSIFTXQLEN, &ifr) == 0 ? KW_TAP_TXQUEUE_MIN : was;
}

struct kw_tap *kw_tap_open(const struct kw_tap_options *opt, char *err, size_t errlen)
{
	const char *name = opt && opt->name ? opt->name : "";
	struct kw_tap *tap;
	struct ifreq ifr;
	int fd, e, existed;

	if (strlen(name) >= IFNAMSIZ) {
		say(err, errlen, "TAP device name '%s' is too long (at most %d characters)",
		    name, IFNAMSIZ - 1);
		return NULL;
	}
	existed = *name && exists(name);
	if (opt && opt->must_exist && !existed) {
		say(err, errlen, "no network device named '%s' (create one with: "
		    "ip tuntap add dev %s mode tap user $USER)", name, *name ? name : "tap0");
		return NULL;
	}
	fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			say(err, errlen, TUN_PATH " does not exist: load the tun module "
			    "(modprobe tun), or in a container pass the device in "
			    "(--device /dev/net/tun)");
		else if (e == EACCES || e == EPERM)
			say(err, errlen, "permission denied opening " TUN_PATH
			    ": run as root or make the device accessible");
		else if (e == ENODEV || e == ENXIO)
			say(err, errlen, TUN_PATH " exists but the tun driver is not available: %s",
			    strerror(e));
		else
			say(err, errlen, "cannot open " TUN_PATH ": %s", strerror(e));
		return NULL;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (opt && opt->offload)
		ifr.ifr_flags |= IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		close(fd);
		if (e == EPERM && existed)
			say(err, errlen, "not allowed to attach to TAP device %s: it belongs to "
			    "another user (ip tuntap add dev %s mode tap user USER) or "
			    "CAP_NET_ADMIN is needed", name, name);
		else if (e == EPERM)
			say(err, errlen, "not allowed to create TAP device %s: needs CAP_NET_ADMIN "
			    "(root), or create it first with: ip tuntap add dev %s mode tap "
			    "user $USER", *name ? name : "tapN", *name ? name : "tap0");
		else if (e == EBUSY)
			say(err, errlen, "TAP device %s is busy: another process has it open", name);
		else if (e == EINVAL)
			say(err, errlen, "%s exists but is not a single-queue TAP device without "
			    "packet information (a TUN device, or other flags?)", name);
		else
			say(err, errlen, "cannot attach to TAP device %s: %s", name, strerror(e));
		return NULL;
	}
	tap = calloc(1, sizeof(*tap));
	if (tap == NULL) {
		close(fd);
		say(err, errlen, "out of memory");
		return NULL;
	}
	tap->fd = fd;
	snprintf(tap->name, sizeof(tap->name), "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
	tap->dev.ops = &tap_ops;
	tap->dev.priv = tap;
	if (opt && opt->offload) {
		int hsz = (int)sizeof(struct virtio_net_hdr);

		/* The flag is in from here on: close() must turn the
		 * offloads off again, even if they are half set. */
		tap->offload = true;
		if (ioctl(fd, TUNSETVNETHDRSZ, &hsz) < 0 ||
		    ioctl(fd, TUNSETOFFLOAD, (unsigned long)TAP_OFFLOADS) < 0) {
			say(err, errlen, "cannot turn on checksum and segmentation offloads "
			    "(IFF_VNET_HDR, TUNSETOFFLOAD) on TAP device %s: %s", tap->name,
			    strerror(errno));
			kw_tap_close(tap);
			return NULL;
		}
		tap->dev.flags = KW_NETDEV_TX_CSUM | KW_NETDEV_TX_TSO4 | KW_NETDEV_RX_META;
	} else {
		/* A previous owner that died without kw_tap_close() (killed,
		 * or a process that simply exited) may have left them on: the
		 * kernel would hand us large frames with partial checksums. */
		ioctl(fd, TUNSETOFFLOAD, 0UL);
	}
	tap->txqueue_len = lengthen_txqueue(tap->name);
	if (opt && opt->mac)
		memcpy(tap->dev.mac, opt->mac, KW_ETH_ALEN);
	else
		random_mac(tap->dev.mac);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tap->name);
	if (opt && opt->mtu)
		tap->dev.mtu = opt->mtu;
	else if (ifreq_ioctl(SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0 && ifr.ifr_mtu <= 65535)
		tap->dev.mtu = (uint16_t)ifr.ifr_mtu;
	else
		tap->dev.mtu = 1500;

	if (opt && opt->set_up) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tap->name);
		if ((e = ifreq_ioctl(SIOCGIFFLAGS, &ifr)) == 0) {
			ifr.ifr_flags |= IFF_UP;
			e = ifreq_ioctl(SIOCSIFFLAGS, &ifr);
		}
		if (e < 0) {
			say(err, errlen, "cannot bring TAP device %s up: %s", tap->name, strerror(-e));
			kw_tap_close(tap);
			return NULL;
		}
	}
	return tap;
}

void kw_tap_close(struct kw_tap *tap)
{
	if (tap == NULL)
		return;
	kw_txq_stop(tap->txq);          /* what is queued is written first */
	/* The offload flags belong to the device, not the fd: a persistent
	 * device would keep handing partial checksums and 64 KiB packets to
	 * whoever attaches next without IFF_VNET_HDR. */
	if (tap->offload)
		ioctl(tap->fd, TUNSETOFFLOAD, 0UL);
	close(tap->fd);
	free(tap);
}

int kw_tap_txqueue_len(const struct kw_tap *tap)
{
	return tap->txqueue_len;
}

bool kw_tap_txqueue_short(const struct kw_tap *tap)
{
	return tap->txqueue_len > 0 && tap->txqueue_len < KW_TAP_TXQUEUE_MIN;
}

struct kw_netdev *kw_tap_netdev(struct kw_tap *tap)
{
	return &tap->dev;
}

int kw_tap_fd(const struct kw_tap *tap)
{
	return tap->fd;
}

const char *kw_tap_name(const struct kw_tap *tap)
{
	return tap->name;
}

size_t kw_tap_frame_max(const struct kw_tap *tap)
{
	if (tap->offload)
		return 14 + 4 + 65535;
	return 14 + 4 + (size_t)tap->dev.mtu;
}

bool kw_tap_offload(const struct kw_tap *tap)
{
	return tap->offload;
}

ssize_t kw_tap_read_meta(struct kw_tap *tap, void *buf, size_t cap,
			 struct kw_netdev_rx_meta *meta)
{
	struct virtio_net_hdr h;
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = buf, .iov_len = cap },
	};
	ssize_t n;

	memset(meta, 0, sizeof(*meta));
	do
		n = tap->offload ? readv(tap->fd, iov, 2) : read(tap->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (tap->offload) {
		if (n < (ssize_t)sizeof(h))
			return -EIO;            /* the driver always writes one */
		n -= (ssize_t)sizeof(h);
		meta->csum_partial = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
		meta->csum_valid = (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) != 0;
		meta->csum_start = h.csum_start;
		meta->csum_offset = h.csum_offset;
		if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
			meta->gso_size = h.gso_size;
	}
	tap->stats.rx_frames++;
	tap->stats.rx_bytes += (uint64_t)n;
	return n;
}

/* Finish a checksum the kernel left partial: sum from csum_start to the
 * end of the IP packet (not of any padding) into the field. */
static void finish_csum(uint8_t *f, size_t len, const struct kw_netdev_rx_meta *m)
{
	size_t end = len, at = (size_t)m->csum_start + m->csum_offset;

	if (len >= 14 + 20 && f[12] == 0x08 && f[13] == 0x00) {
		size_t tot = (size_t)f[16] << 8 | f[17];
		if (14 + tot < end)
			end = 14 + tot;
	}
	if (m->csum_start >= end || at + 2 > end)
		return;                 /* nonsense: leave it to be dropped */
	{
		uint16_t c = kw_checksum(f + m->csum_start, end - m->csum_start, 0);
		f[at] = (uint8_t)(c >> 8);
		f[at + 1] = (uint8_t)c;
	}
}

ssize_t kw_tap_read(struct kw_tap *tap, void *buf, size_t cap)
{
	struct kw_netdev_rx_meta m;
	ssize_t n = kw_tap_read_meta(tap, buf, cap, &m);

	if (n > 0 && m.csum_partial)
		finish_csum(buf, (size_t)n, &m);
	return n;
}

void kw_tap_stats(const struct kw_tap *tap, struct kw_tap_stats *out)
{
	*out = tap->stats;
	if (tap->txq != NULL) {
		struct kw_txq_stats q;

		kw_txq_stats(tap->txq, &q);
		out->tx_frames += q.frames;
		out->tx_bytes += q.bytes;
		out->tx_dropped += q.dropped;
	}
}

int kw_tap_tx_thread(struct kw_tap *tap)
{
	if (tap->txq != NULL)
		return 0;
	tap->txq = kw_txq_start(tap->fd, TAP_TXQ_BYTES,
				tap->offload ? sizeof(struct virtio_net_hdr) : 0);
	return tap->txq != NULL ? 0 : -errno;
}

void kw_tap_tx_round(struct kw_tap *tap)
{
	tap->inline_left = TAP_TX_INLINE;
}
