/* SHA-256 (FIPS 180-4), for the test tools: a checksum of the bytes a
 * connection carried that matches `sha256sum` on the other side.
 *
 * Written for keepwire from the standard's description (section 6.2):
 * big-endian words, the 64 round constants K (fractional parts of the cube
 * roots of the first 64 primes), the initial hash H0 (fractional parts of
 * the square roots of the first 8 primes), padding with 0x80, zeros and
 * the 64-bit big-endian bit length. Streaming: feed any number of chunks
 * of any size. Not constant-time and not meant for secrets.
 *
 * Checked against the FIPS 180-4 / NIST example vectors by
 * tests/stack/test-sha256. */
#ifndef KW_TESTS_SHA256_H
#define KW_TESTS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define KW_SHA256_DIGEST_LEN 32
#define KW_SHA256_HEX_LEN 65     /* 64 hex digits and a NUL */

struct kw_sha256 {
	uint32_t h[8];
	uint64_t total;          /* bytes hashed so far */
	uint8_t block[64];
	size_t fill;             /* bytes waiting in block */
};

void kw_sha256_init(struct kw_sha256 *c);
void kw_sha256_update(struct kw_sha256 *c, const void *data, size_t len);
/* Writes the digest; the context must be initialised again before reuse. */
void kw_sha256_final(struct kw_sha256 *c, uint8_t out[KW_SHA256_DIGEST_LEN]);
/* final, as 64 lowercase hex digits (what sha256sum prints). */
void kw_sha256_final_hex(struct kw_sha256 *c, char out[KW_SHA256_HEX_LEN]);

#endif
