/* The Internet checksum (RFC 1071), for IPv4 headers, ICMP and TCP.
 *
 * Sums are of 16-bit big-endian words, so a finished checksum is a host
 * order number to be stored big-endian (e.g. with htons or byte shifts).
 * A buffer whose checksum field is filled in correctly sums to zero:
 * kw_checksum(hdr, len, 0) == 0 verifies it.
 *
 * To checksum several pieces, chain kw_checksum_add() (every piece but the
 * last must have an even length) and finish with kw_checksum_fold().
 * For TCP and UDP, start from kw_checksum_pseudo(), the IPv4 pseudo-header
 * sum:
 *     uint32_t s = kw_checksum_pseudo(src, dst, 6, tcp_len);
 *     uint16_t c = kw_checksum(tcp, tcp_len, s);   // 0 when valid
 */
#ifndef KW_STACK_CHECKSUM_H
#define KW_STACK_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add data to a running (unfolded) sum. */
uint32_t kw_checksum_add(uint32_t sum, const void *data, size_t len);
/* Fold a running sum to 16 bits and complement it: the checksum. */
uint16_t kw_checksum_fold(uint32_t sum);
/* The checksum of data, starting from a running sum `initial` (0, or a
 * pseudo-header sum). */
uint16_t kw_checksum(const void *data, size_t len, uint32_t initial);
/* The running sum of the IPv4 pseudo-header (addresses in host order). */
uint32_t kw_checksum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);
/* Same as kw_checksum(data, len, 0). */
uint16_t kw_inet_checksum(const void *data, size_t len);

#endif
