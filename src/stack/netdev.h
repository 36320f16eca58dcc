/* A network device as the stack sees it: something that transmits
 * Ethernet frames (microps-style ops table). Receiving is the driver's
 * job: whoever owns the device reads frames and hands them to
 * kw_stack_input() with the current time. */
#ifndef KW_STACK_NETDEV_H
#define KW_STACK_NETDEV_H

#include <stddef.h>
#include <stdint.h>

#define KW_ETH_ALEN 6

struct kw_netdev;

struct kw_netdev_ops {
	/* Send one Ethernet II frame (destination MAC first, no FCS). Copies
	 * the frame or sends it before returning. Returns 0, or a negative
	 * errno; a full device drops the frame, as a NIC would. */
	int (*transmit)(struct kw_netdev *dev, const void *frame, size_t len);
};

struct kw_netdev {
	const struct kw_netdev_ops *ops;
	void *priv;                      /* the driver's own state */
	uint8_t mac[KW_ETH_ALEN];
	uint16_t mtu;                    /* largest IP packet, e.g. 1500 */
};

static inline int kw_netdev_transmit(struct kw_netdev *dev, const void *frame, size_t len)
{
	return dev->ops->transmit(dev, frame, len);
}

#endif
