/* A TAP device as a kw_netdev: the stack's frames are written to the TAP
 * fd (the kernel sees them arrive on the TAP interface), frames the kernel
 * sends out of the interface are read from it.
 *
 * Opening attaches to an existing TAP device by name (allowed to its owner,
 * see `ip tuntap add dev NAME mode tap user USER`, or with CAP_NET_ADMIN) or
 * creates one when the caller has CAP_NET_ADMIN; a created device lives as
 * long as the fd. The fd is non-blocking and close-on-exec, single-queue,
 * without packet information (IFF_TAP | IFF_NO_PI).
 *
 * The device's MAC is the stack's own address on the link, not the kernel
 * interface's: by default a random locally administered unicast address.
 *
 * The device's transmit queue (frames the kernel holds until we read them)
 * is lengthened to at least 10,000 frames where we may (CAP_NET_ADMIN):
 * with the kernel's default of 1,000, a busy reader makes the kernel drop
 * frames its TCP senders were allowed to send.
 *
 * Offloads (opt-in, kw_tap_options.offload): the fd is opened with
 * IFF_VNET_HDR, so every frame either way carries a struct virtio_net_hdr
 * (<linux/virtio_net.h>) in front, and TUNSETOFFLOAD(TUN_F_CSUM |
 * TUN_F_TSO4) tells the kernel it may hand us TCP/IPv4 packets of up to
 * 64 KiB with the checksum left partial. The netdev then announces
 * KW_NETDEV_TX_CSUM | KW_NETDEV_TX_TSO4 | KW_NETDEV_RX_META: the stack
 * writes TCP segments of up to 64 KiB with a partial checksum (one write,
 * one pass through the kernel's receive path, for up to ~45 wire-sized
 * segments) and reads the kernel's large ones. kw_tap_read_meta() returns
 * what the header said; kw_tap_read() on such a device finishes a partial
 * checksum itself, so a caller that knows nothing of offloads still gets
 * whole frames (possibly larger than the MTU: size buffers with
 * kw_tap_frame_max()). The offload flags of a persistent device outlive
 * the fd: kw_tap_close() turns them off again. */
#ifndef KW_DEV_TAP_H
#define KW_DEV_TAP_H

#include "stack/netdev.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kw_tap;

struct kw_tap_options {
	const char *name;            /* NULL or "": the kernel picks tapN (creates) */
	bool must_exist;             /* attach only, never create */
	bool set_up;                 /* bring the interface up (needs CAP_NET_ADMIN) */
	const uint8_t *mac;          /* NULL: random locally administered */
	uint16_t mtu;                /* 0: the interface's MTU */
	bool offload;                /* IFF_VNET_HDR with checksum and TCP
					segmentation offload (see above) */
};

/* NULL on failure, with one clear line in err (naming the device and what
 * to do: no /dev/net/tun, permission denied, busy, not a TAP device). */
struct kw_tap *kw_tap_open(const struct kw_tap_options *opt, char *err, size_t errlen);
void kw_tap_close(struct kw_tap *tap);

/* The device's transmit queue length (frames) as kw_tap_open left it, 0
 * if unknown; short: below the 10,000 frames kw_tap_open wants (it could
 * not lengthen it: no CAP_NET_ADMIN). */
int kw_tap_txqueue_len(const struct kw_tap *tap);
bool kw_tap_txqueue_short(const struct kw_tap *tap);
struct kw_netdev *kw_tap_netdev(struct kw_tap *tap);
int kw_tap_fd(const struct kw_tap *tap);
const char *kw_tap_name(const struct kw_tap *tap);
/* The largest frame the device can hand us (14 + MTU + a VLAN tag; with
 * offloads 14 + 64 KiB + a VLAN tag). */
size_t kw_tap_frame_max(const struct kw_tap *tap);

/* Read one frame: its length, 0 when none is waiting, or a negative errno. */
ssize_t kw_tap_read(struct kw_tap *tap, void *buf, size_t cap);
/* The same with what the device says about the frame (all zero without
 * offloads), for kw_stack_input_meta(); a partial checksum is left so. */
ssize_t kw_tap_read_meta(struct kw_tap *tap, void *buf, size_t cap,
			 struct kw_netdev_rx_meta *meta);
/* Whether the device was opened with offloads. */
bool kw_tap_offload(const struct kw_tap *tap);

struct kw_tap_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_dropped;
};
void kw_tap_stats(const struct kw_tap *tap, struct kw_tap_stats *out);

/* Writes go to a thread of their own (dev/txq.h): each write runs the
 * kernel's receive path for the frame, which then no longer holds up the
 * caller. Frames keep their order. Returns 0 or -errno (then writes stay
 * inline). kw_tap_close() writes what is queued first. */
int kw_tap_tx_thread(struct kw_tap *tap);
/* A new round of work begins: its first frames are written inline while
 * nothing is queued (a lone frame is not worth a hand-over). */
void kw_tap_tx_round(struct kw_tap *tap);

#endif
