/* Network values of direct mode's configuration (DESIGN §2): IPv4
 * addresses, prefixes and CIDR lists, MAC addresses, MTUs and interface
 * names.
 *
 * Pure functions: no I/O, no allocation, no locale, no libc address
 * parsers (inet_aton/inet_pton each accept forms we do not want). Each
 * parser returns true and stores its result, or returns false with a
 * one-line reason (without the variable name) in why, shaped like the
 * kw_parse_* functions of core/config.h: "<what is wrong>; <what is
 * accepted>". Nothing is stored on failure.
 *
 * IPv4 addresses are uint32_t in host byte order, as in stack/stack.h.
 *
 * Decisions, each with its reason:
 *  - Dotted quads are exactly four decimal parts 0-255 with nothing
 *    around them: no '+', no spaces, no empty part, no hex, no shortened
 *    forms ("10.1"). A leading zero ("010.0.0.1") is REJECTED: inet_aton
 *    and therefore ping, ssh and older tools read it as octal (010 = 8),
 *    so accepting it as decimal would let two tools disagree about one
 *    address. "0" alone is fine.
 *  - Prefix lengths are decimal 0-32, also without leading zeros ("/08").
 *  - A network in KEEPWIRE_ROUTE must have its host bits zero
 *    ("10.0.0.1/8" is rejected, naming 10.0.0.0/8), as `ip route` does:
 *    masking silently would turn a mistyped prefix into a far wider or
 *    narrower route than meant. A bare address is a /32 host route.
 *  - MTU 576-65535: 576 is the datagram size every IPv4 host must accept
 *    (RFC 791/1122) and keeps the default TCP MSS of 536 possible without
 *    fragmentation, which the stack does not do; 65535 is the largest IPv4
 *    total length. (Linux allows 68 on a TAP device; that small an MTU is
 *    a mistake for a TCP stack.)
 *  - The stack's own MAC must be unicast (lowest bit of the first byte
 *    clear) and not all zeros.
 *  - Interface names follow the kernel's dev_valid_name(): 1 to 15 bytes
 *    (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or
 *    whitespace; keepwire also refuses '%' (the kernel would treat
 *    "tap%d" as a template and create a new, unconfigured device),
 *    control characters and non-ASCII bytes (so a name is always safe to
 *    print). */
#ifndef KW_CORE_NETADDR_H
#define KW_CORE_NETADDR_H

#include <stdbool.h>
#include <stdint.h>

#define KW_IFNAMSIZ   16u      /* Linux IFNAMSIZ: 15 characters and a NUL */
#define KW_ROUTE_MAX  16u      /* networks in KEEPWIRE_ROUTE */
#define KW_MTU_MIN    576u
#define KW_MTU_MAX    65535u
#define KW_IPV4_TEXT  19u      /* "255.255.255.255/32" and a NUL */

struct kw_ipv4_net {
	uint32_t addr;             /* host byte order, host bits zero */
	uint8_t prefix;            /* 0-32 */
};

/* The netmask of a prefix length (0-32) in host byte order. */
static inline uint32_t kw_ipv4_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

static inline bool kw_ipv4_net_contains(const struct kw_ipv4_net *net, uint32_t addr)
{
	return ((addr ^ net->addr) & kw_ipv4_mask(net->prefix)) == 0;
}

/* "a.b.c.d" (out needs 16 bytes) and "a.b.c.d/n" (KW_IPV4_TEXT bytes). */
void kw_ipv4_format(uint32_t addr, char *out, unsigned out_len);
void kw_ipv4_net_format(uint32_t addr, unsigned prefix, char *out, unsigned out_len);

/* "a.b.c.d": any of the 2^32 values, 0.0.0.0 and 255.255.255.255 included;
 * use kw_check_host_address for "may a host have this address". */
bool kw_parse_ipv4(const char *text, uint32_t *addr, char *why, unsigned why_len);

/* "a.b.c.d/n" with n 0-32, the prefix required; host bits may be set
 * (an interface address such as 10.0.0.2/24). */
bool kw_parse_ipv4_prefix(const char *text, uint32_t *addr, unsigned *prefix,
			  char *why, unsigned why_len);

/* A network "a.b.c.d/n" with its host bits zero, or a bare "a.b.c.d"
 * meaning a /32. */
bool kw_parse_ipv4_net(const char *text, struct kw_ipv4_net *net, char *why, unsigned why_len);

/* Comma-separated networks as kw_parse_ipv4_net, 1 to max of them
 * (max at most KW_ROUTE_MAX), no spaces, no empty entries. The reason
 * names the entry by position ("entry 2: ..."). */
bool kw_parse_ipv4_net_list(const char *text, struct kw_ipv4_net *nets, unsigned max,
			    unsigned *count, char *why, unsigned why_len);

/* May a host on the network addr/prefix use addr as its own (or as its
 * gateway's) address? Refuses 0.0.0.0/8, 127.0.0.0/8 (loopback),
 * 224.0.0.0/4 (multicast), 240.0.0.0/4 (reserved, and 255.255.255.255),
 * and, for prefixes shorter than 31, the network's own network and
 * broadcast addresses (RFC 3021 lets /31 use both; /32 is one host).
 * On false, why holds the reason alone ("a loopback address"), without a
 * rule: the caller knows what it accepts. */
bool kw_check_host_address(uint32_t addr, unsigned prefix, char *why, unsigned why_len);

/* The stack's own address "a.b.c.d/n": n from 1 to 32 (a /0 would make
 * every destination on-link) and addr a host address of that network by
 * kw_check_host_address. */
bool kw_parse_host_address(const char *text, uint32_t *addr, unsigned *prefix,
			   char *why, unsigned why_len);

/* "xx:xx:xx:xx:xx:xx", two hex digits per byte in either case, unicast
 * and not all zeros. */
bool kw_parse_mac(const char *text, uint8_t mac[6], char *why, unsigned why_len);

/* A whole number from KW_MTU_MIN to KW_MTU_MAX. */
bool kw_parse_mtu(const char *text, unsigned *mtu, char *why, unsigned why_len);

/* A Linux interface name; copied NUL-terminated into name. */
bool kw_parse_ifname(const char *text, char name[KW_IFNAMSIZ], char *why, unsigned why_len);

#endif
