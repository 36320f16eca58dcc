/* A network device as the stack sees it: something that transmits
 * Ethernet frames (microps-style ops table). Receiving is the driver's
 * job: whoever owns the device reads frames and hands them to
 * kw_stack_input() with the current time, or to kw_stack_input_meta()
 * with what the device says about them.
 *
 * Offloads (optional). A device that can finish frames for the stack sets
 * flags and implements transmit_meta:
 *   KW_NETDEV_TX_CSUM  it fills in a TCP checksum the stack left partial
 *                      (the field holds the folded pseudo-header sum, not
 *                      complemented; the device sums from csum_start to the
 *                      end of the frame and stores the result at
 *                      csum_start + csum_offset).
 *   KW_NETDEV_TX_TSO4  it cuts one TCP/IPv4 packet of up to 64 KiB into
 *                      segments of gso_size payload bytes (TCP segmentation
 *                      offload, as a NIC does; needs KW_NETDEV_TX_CSUM).
 *                      Every segment gets the headers of the packet with
 *                      the sequence number, IP identification, lengths and
 *                      checksums adjusted; FIN and PSH stay on the last.
 *   KW_NETDEV_RX_META  received frames may come with metadata and may be
 *                      larger than the MTU (segments coalesced, or never
 *                      cut, by the sender's side).
 * With flags 0 (the default) the stack sends only frames of at most the
 * MTU with every checksum computed, through transmit, as it always did. */
#ifndef KW_STACK_NETDEV_H
#define KW_STACK_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_ETH_ALEN 6

#define KW_NETDEV_TX_CSUM 0x1u
#define KW_NETDEV_TX_TSO4 0x2u
#define KW_NETDEV_RX_META 0x4u

/* The largest IP packet the stack hands a KW_NETDEV_TX_TSO4 device. */
#define KW_NETDEV_GSO_MAX 65535u

struct kw_netdev;

/* How the device must finish a frame (offsets from the frame's first byte). */
struct kw_netdev_tx_meta {
	bool csum_partial;               /* KW_NETDEV_TX_CSUM: see above */
	uint16_t csum_start, csum_offset;
	uint16_t gso_size;               /* 0: one frame as it is; else TCP
					    payload bytes per segment */
	uint16_t hdr_len;                /* Ethernet + IP + TCP header bytes */
};

/* What the device says about a received frame. Only a partial checksum
 * whose position matches the packet's own TCP checksum, or a checksum the
 * device verified, spares the stack its verification. */
struct kw_netdev_rx_meta {
	bool csum_partial;               /* left partial by a local sender */
	bool csum_valid;                 /* verified by the device */
	uint16_t csum_start, csum_offset;
	uint16_t gso_size;               /* non-zero: larger than one segment */
};

struct kw_netdev_ops {
	/* Send one Ethernet II frame (destination MAC first, no FCS). Copies
	 * the frame or sends it before returning. Returns 0, or a negative
	 * errno; a full device drops the frame, as a NIC would. */
	int (*transmit)(struct kw_netdev *dev, const void *frame, size_t len);
	/* The same with offload work for the device (only used when flags
	 * announce it; may be NULL otherwise). */
	int (*transmit_meta)(struct kw_netdev *dev, const void *frame, size_t len,
			     const struct kw_netdev_tx_meta *meta);
};

struct kw_netdev {
	const struct kw_netdev_ops *ops;
	void *priv;                      /* the driver's own state */
	uint8_t mac[KW_ETH_ALEN];
	uint16_t mtu;                    /* largest IP packet, e.g. 1500 */
	uint32_t flags;                  /* KW_NETDEV_*: offloads; 0: none */
};

static inline int kw_netdev_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	return dev->ops->transmit(dev, frame, len);
}

/* Send with offload work, or plainly when meta is NULL. */
static inline int kw_netdev_transmit_meta(struct kw_netdev *dev, const void *frame, size_t len,
					  const struct kw_netdev_tx_meta *meta)
{
	if (meta == NULL)
		return dev->ops->transmit(dev, frame, len);
	return dev->ops->transmit_meta(dev, frame, len, meta);
}

#endif
