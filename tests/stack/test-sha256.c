/* tests/lib/sha256: the FIPS 180-4 / NIST example vectors, the padding
 * boundaries (55, 56, 63, 64, 65, 119, 120 bytes: one or two final
 * blocks; values cross-checked with sha256sum), and streaming: the same
 * digest whatever the chunk sizes. */
#include "config.h"
#include "../lib/sha256.h"
#include "../tap.h"

#include <stdlib.h>
#include <string.h>

static void hex_of(const void *p, size_t n, char out[KW_SHA256_HEX_LEN])
{
	struct kw_sha256 c;

	kw_sha256_init(&c);
	kw_sha256_update(&c, p, n);
	kw_sha256_final_hex(&c, out);
}

int main(void)
{
	static const struct { const char *msg, *hex; } nist[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
		  "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	static const struct { size_t n; const char *hex; } as[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
	};
	const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	char hex[KW_SHA256_HEX_LEN], desc[128];
	struct kw_sha256 c;
	uint8_t *buf;
	int same;

	for (size_t i = 0; i < sizeof(nist) / sizeof(nist[0]); i++) {
		hex_of(nist[i].msg, strlen(nist[i].msg), hex);
		snprintf(desc, sizeof(desc), "NIST vector: %zu-byte message", strlen(nist[i].msg));
		tap_is_str(hex, nist[i].hex, desc);
	}
	buf = malloc(1000000);
	if (buf == NULL)
		return 99;
	memset(buf, 'a', 1000000);
	for (size_t i = 0; i < sizeof(as) / sizeof(as[0]); i++) {
		hex_of(buf, as[i].n, hex);
		snprintf(desc, sizeof(desc), "padding boundary: %zu x 'a'", as[i].n);
		tap_is_str(hex, as[i].hex, desc);
	}
	hex_of(buf, 1000000, hex);
	tap_is_str(hex, million, "NIST vector: one million 'a' in one call");

	/* Streaming: chunks of 1, 2, ..., 97 bytes, then again, over the
	 * million 'a'. */
	kw_sha256_init(&c);
	for (size_t off = 0, k = 1; off < 1000000; k = k % 97 + 1) {
		size_t n = 1000000 - off < k ? 1000000 - off : k;
		kw_sha256_update(&c, buf + off, n);
		off += n;
	}
	kw_sha256_final_hex(&c, hex);
	tap_is_str(hex, million, "one million 'a' in chunks of 1..97 bytes");

	/* Every split point of a 200-byte message gives the same digest. */
	for (size_t i = 0; i < 200; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	{
		char whole[KW_SHA256_HEX_LEN];
		hex_of(buf, 200, whole);
		same = 1;
		for (size_t split = 0; split <= 200; split++) {
			kw_sha256_init(&c);
			kw_sha256_update(&c, buf, split);
			kw_sha256_update(&c, buf + split, 200 - split);
			kw_sha256_final_hex(&c, hex);
			same &= strcmp(hex, whole) == 0;
		}
		tap_ok(same, "a 200-byte message split at any point: the same digest");
	}
	free(buf);
	return tap_done();
}
