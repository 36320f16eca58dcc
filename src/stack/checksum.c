#include "stack/checksum.h"

#include <arpa/inet.h>
#include <string.h>

uint32_t kw_checksum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0, r;
	uint32_t w;
	uint16_t h;

	/* Sum 32-bit words as they lie in memory (host order), carries
	 * collecting in the upper half of acc; fold to 16 bits and swap to
	 * network order at the end (RFC 1071 2.(B): the sum is independent
	 * of byte order). Bytes at a time, this loop was most of the stack's
	 * user-space instructions per bulk data segment. */
	while (len >= 16) {
		memcpy(&w, p, 4); acc += w;
		memcpy(&w, p + 4, 4); acc += w;
		memcpy(&w, p + 8, 4); acc += w;
		memcpy(&w, p + 12, 4); acc += w;
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* An odd last byte is the high byte of a big-endian word. */
		const uint8_t last[2] = { p[0], 0 };
		memcpy(&h, last, 2);
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffffu) + (acc >> 16);
	r = (uint64_t)sum + ntohs((uint16_t)acc);
	return (uint32_t)((r & 0xffffffffu) + (r >> 32));
}

uint16_t kw_checksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t kw_checksum(const void *data, size_t len, uint32_t initial)
{
	return kw_checksum_fold(kw_checksum_add(initial, data, len));
}

uint32_t kw_checksum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	uint64_t s = (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) +
		     proto + len;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t kw_inet_checksum(const void *data, size_t len)
{
	return kw_checksum(data, len, 0);
}
