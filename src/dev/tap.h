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
 * interface's: by default a random locally administered unicast address. */
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
};

/* NULL on failure, with one clear line in err (naming the device and what
 * to do: no /dev/net/tun, permission denied, busy, not a TAP device). */
struct kw_tap *kw_tap_open(const struct kw_tap_options *opt, char *err, size_t errlen);
void kw_tap_close(struct kw_tap *tap);

struct kw_netdev *kw_tap_netdev(struct kw_tap *tap);
int kw_tap_fd(const struct kw_tap *tap);
const char *kw_tap_name(const struct kw_tap *tap);
/* The largest frame the device can hand us (14 + MTU + a VLAN tag). */
size_t kw_tap_frame_max(const struct kw_tap *tap);

/* Read one frame: its length, 0 when none is waiting, or a negative errno. */
ssize_t kw_tap_read(struct kw_tap *tap, void *buf, size_t cap);

struct kw_tap_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_dropped;
};
void kw_tap_stats(const struct kw_tap *tap, struct kw_tap_stats *out);

#endif
