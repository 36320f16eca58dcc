#include "core/netaddr.h"
#include "core/duration.h"
#include "core/why.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char IPV4_RULE[] =
	"expected an IPv4 address a.b.c.d: four decimal numbers from 0 to 255 "
	"without leading zeros";
static const char PREFIX_RULE[] =
	"expected an IPv4 address and prefix length a.b.c.d/n, n from 0 to 32 "
	"(10.0.0.2/24)";
static const char NET_RULE[] =
	"expected a network a.b.c.d/n with the host bits zero, n from 0 to 32, "
	"or an address a.b.c.d (10.0.0.0/8)";
static const char HOST_RULE[] =
	"expected a host address and prefix length a.b.c.d/n, n from 1 to 32 "
	"(10.0.0.2/24)";
static const char MAC_RULE[] =
	"expected a unicast MAC address xx:xx:xx:xx:xx:xx in hex (02:00:00:00:00:01)";
static const char IFNAME_RULE[] =
	"expected an interface name of 1 to 15 ASCII characters without /, :, %, "
	"whitespace or control characters, not . or .. (tap0)";

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

void kw_ipv4_format(uint32_t addr, char *out, unsigned out_len)
{
	snprintf(out, out_len, "%u.%u.%u.%u", (unsigned)(addr >> 24),
		 (unsigned)(addr >> 16) & 255u, (unsigned)(addr >> 8) & 255u,
		 (unsigned)addr & 255u);
}

void kw_ipv4_net_format(uint32_t addr, unsigned prefix, char *out, unsigned out_len)
{
	char a[16];

	kw_ipv4_format(addr, a, sizeof(a));
	snprintf(out, out_len, "%s/%u", a, prefix);
}

/* A dotted quad in [s, e). Returns NULL and stores the address, or the
 * reason it is not one. */
static const char *parse_quad(const char *s, const char *e, uint32_t *out)
{
	uint32_t v = 0;
	unsigned parts = 0;
	const char *p = s;

	if (s == e)
		return "empty value";
	for (;;) {
		const char *start = p;
		unsigned n = 0;

		for (; p < e && is_digit(*p); p++)
			if (n <= 255)	/* stays above 255 once there: no overflow */
				n = n * 10 + (unsigned)(*p - '0');
		if (p == start && (p == e || *p == '.'))
			return "empty part";
		if (p < e && *p == '/')
			return "a prefix length is not accepted here";
		if (p < e && *p != '.')
			return "a part is not a decimal number";
		if (n > 255)
			return "a part is greater than 255";
		if (p - start > 1 && *start == '0')
			return "a part has a leading zero (read as octal by some tools)";
		v = v << 8 | n;
		parts++;
		if (p == e)
			break;
		p++;	/* the '.' */
		if (p == e)
			return "empty part";
		if (parts == 4)
			return "more than four parts";
	}
	if (parts < 4)
		return "fewer than four parts";
	*out = v;
	return NULL;
}

/* A prefix length in [s, e): decimal 0-32. */
static const char *parse_prefix_len(const char *s, const char *e, unsigned *out)
{
	unsigned n = 0;

	if (s == e)
		return "empty prefix length";
	for (const char *p = s; p < e; p++) {
		if (!is_digit(*p))
			return "the prefix length is not a decimal number";
		if (n <= 32)
			n = n * 10 + (unsigned)(*p - '0');
	}
	if (n > 32)
		return "the prefix length is greater than 32";
	if (e - s > 1 && *s == '0')
		return "the prefix length has a leading zero";
	*out = n;
	return NULL;
}

bool kw_parse_ipv4(const char *text, uint32_t *addr, char *why, unsigned why_len)
{
	const char *r;

	if (text == NULL)
		text = "";
	r = parse_quad(text, text + strlen(text), addr);
	if (r != NULL) {
		kw_set_why(why, why_len, "%s; %s", r, IPV4_RULE);
		return false;
	}
	return true;
}

/* "a.b.c.d/n" in [s, e); with bare_ok, "a.b.c.d" alone is a /32. */
static const char *parse_addr_prefix(const char *s, const char *e, bool bare_ok,
				     uint32_t *addr, unsigned *prefix)
{
	const char *slash = memchr(s, '/', (size_t)(e - s));
	const char *r;
	uint32_t a;
	unsigned n = 32;

	if (s == e)
		return "empty value";
	r = parse_quad(s, slash ? slash : e, &a);
	if (r == NULL && slash == NULL && !bare_ok)
		r = "missing /prefix length";
	if (r == NULL && slash != NULL)
		r = parse_prefix_len(slash + 1, e, &n);
	if (r != NULL)
		return r;
	*addr = a;
	*prefix = n;
	return NULL;
}

bool kw_parse_ipv4_prefix(const char *text, uint32_t *addr, unsigned *prefix,
			  char *why, unsigned why_len)
{
	const char *r;

	if (text == NULL)
		text = "";
	r = parse_addr_prefix(text, text + strlen(text), false, addr, prefix);
	if (r != NULL) {
		kw_set_why(why, why_len, "%s; %s", r, PREFIX_RULE);
		return false;
	}
	return true;
}

/* A network in [s, e): the reason, if any, in reason. */
static bool parse_net(const char *s, const char *e, struct kw_ipv4_net *net,
		      char *reason, unsigned reason_len)
{
	uint32_t a;
	unsigned n;
	const char *r = parse_addr_prefix(s, e, true, &a, &n);
	char shown[KW_IPV4_TEXT];

	if (r != NULL) {
		kw_set_why(reason, reason_len, "%s", r);
		return false;
	}
	if ((a & ~kw_ipv4_mask(n)) != 0) {
		kw_ipv4_net_format(a & kw_ipv4_mask(n), n, shown, sizeof(shown));
		kw_set_why(reason, reason_len, "host bits set (the network is %s)", shown);
		return false;
	}
	net->addr = a;
	net->prefix = (uint8_t)n;
	return true;
}

bool kw_parse_ipv4_net(const char *text, struct kw_ipv4_net *net, char *why, unsigned why_len)
{
	char reason[96];

	if (text == NULL)
		text = "";
	if (!parse_net(text, text + strlen(text), net, reason, sizeof(reason))) {
		kw_set_why(why, why_len, "%s; %s", reason, NET_RULE);
		return false;
	}
	return true;
}

bool kw_parse_ipv4_net_list(const char *text, struct kw_ipv4_net *nets, unsigned max,
			    unsigned *count, char *why, unsigned why_len)
{
	struct kw_ipv4_net got[KW_ROUTE_MAX];
	char reason[128];
	unsigned n = 0;
	const char *p, *end;

	if (max > KW_ROUTE_MAX)
		max = KW_ROUTE_MAX;
	if (text == NULL)
		text = "";
	end = text + strlen(text);
	if (text == end) {
		kw_set_why(reason, sizeof(reason), "empty value");
		goto bad;
	}
	for (p = text;; p++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		char r[96];

		if (n == max) {
			kw_set_why(reason, sizeof(reason), "more than %u networks", max);
			goto bad;
		}
		if (p == e) {
			kw_set_why(reason, sizeof(reason), "entry %u is empty", n + 1);
			goto bad;
		}
		if (!parse_net(p, e, &got[n], r, sizeof(r))) {
			kw_set_why(reason, sizeof(reason), "entry %u: %s", n + 1, r);
			goto bad;
		}
		n++;
		if (comma == NULL)
			break;
		p = comma;
	}
	memcpy(nets, got, n * sizeof(got[0]));
	*count = n;
	return true;
bad:
	kw_set_why(why, why_len, "%s; expected 1 to %u comma-separated networks a.b.c.d/n "
		"with the host bits zero, or addresses a.b.c.d, without spaces "
		"(10.0.0.0/8,192.168.1.0/24)", reason, max);
	return false;
}

bool kw_check_host_address(uint32_t addr, unsigned prefix, char *why, unsigned why_len)
{
	uint32_t mask = kw_ipv4_mask(prefix);
	char net[KW_IPV4_TEXT];

	kw_ipv4_net_format(addr & mask, prefix, net, sizeof(net));
	if (addr >> 24 == 0)
		kw_set_why(why, why_len, "not a host address (0.0.0.0/8 is \"this network\")");
	else if (addr >> 24 == 127)
		kw_set_why(why, why_len, "a loopback address");
	else if (addr >> 28 == 0xe)
		kw_set_why(why, why_len, "a multicast address");
	else if (addr == 0xffffffffu)
		kw_set_why(why, why_len, "the broadcast address");
	else if (addr >> 28 == 0xf)
		kw_set_why(why, why_len, "a reserved address (240.0.0.0/4)");
	else if (prefix < 31 && (addr & ~mask) == 0)
		kw_set_why(why, why_len, "the network address of %s", net);
	else if (prefix < 31 && (addr & ~mask) == ~mask)
		kw_set_why(why, why_len, "the broadcast address of %s", net);
	else
		return true;
	return false;
}

bool kw_parse_host_address(const char *text, uint32_t *addr, unsigned *prefix,
			   char *why, unsigned why_len)
{
	char reason[96];
	const char *r;
	uint32_t a;
	unsigned n;

	if (text == NULL)
		text = "";
	r = parse_addr_prefix(text, text + strlen(text), false, &a, &n);
	if (r == NULL && n == 0)
		r = "a /0 network would put every destination on-link";
	if (r != NULL)
		kw_set_why(reason, sizeof(reason), "%s", r);
	else if (kw_check_host_address(a, n, reason, sizeof(reason))) {
		*addr = a;
		*prefix = n;
		return true;
	}
	kw_set_why(why, why_len, "%s; %s", reason, HOST_RULE);
	return false;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *parse_mac_text(const char *p, uint8_t out[6])
{
	uint8_t m[6];

	if (*p == '\0')
		return "empty value";
	for (unsigned i = 0;; i++) {
		int hi = hex_value(p[0]);
		int lo = hi < 0 ? -1 : hex_value(p[1]);

		if (hi < 0 || lo < 0)
			return "a part is not two hex digits";
		m[i] = (uint8_t)(hi << 4 | lo);
		p += 2;
		if (i == 5) {
			if (*p == '\0')
				break;
			return *p == ':' ? "more than six parts" : "a part is not two hex digits";
		}
		if (*p == '\0')
			return "fewer than six parts";
		if (*p == '-' || *p == '.')
			return "parts must be separated by ':'";
		if (*p != ':')
			return "a part is not two hex digits";
		p++;
	}
	if (m[0] & 1)
		return "a multicast address (lowest bit of the first byte set)";
	if ((m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0)
		return "the all-zeros address";
	memcpy(out, m, 6);
	return NULL;
}

bool kw_parse_mac(const char *text, uint8_t mac[6], char *why, unsigned why_len)
{
	const char *r = parse_mac_text(text ? text : "", mac);

	if (r != NULL) {
		kw_set_why(why, why_len, "%s; %s", r, MAC_RULE);
		return false;
	}
	return true;
}

bool kw_parse_mtu(const char *text, unsigned *mtu, char *why, unsigned why_len)
{
	uint64_t v;
	enum kw_parse_status st = kw_parse_uint(text, KW_MTU_MIN, KW_MTU_MAX, &v);
	const char *r = kw_parse_status_text(st);

	/* "01500" is 832 to tools that read octal (ip link's strtoul base 0). */
	if ((st == KW_PARSE_OK || st == KW_PARSE_RANGE) && text[0] == '0' && text[1] != '\0')
		r = "leading zero (read as octal by some tools)";
	else if (st == KW_PARSE_OK) {
		*mtu = (unsigned)v;
		return true;
	}
	kw_set_why(why, why_len, "%s; expected a whole number from %u to %u", r, KW_MTU_MIN,
		KW_MTU_MAX);
	return false;
}

static const char *ifname_problem(const char *text)
{
	size_t len = strlen(text);

	if (len == 0)
		return "empty value";
	if (len >= KW_IFNAMSIZ)
		return "longer than 15 characters";
	if (strcmp(text, ".") == 0 || strcmp(text, "..") == 0)
		return "not a name";
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/' || c == ':' || c == '%')
			return c == '/' ? "contains '/'" : c == ':' ? "contains ':'" : "contains '%'";
		if (c == ' ' || (c >= '\t' && c <= '\r'))
			return "contains whitespace";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (c >= 0x80)
			return "contains a non-ASCII character";
	}
	return NULL;
}

bool kw_parse_ifname(const char *text, char name[KW_IFNAMSIZ], char *why, unsigned why_len)
{
	const char *r = ifname_problem(text ? text : "");

	if (r != NULL) {
		kw_set_why(why, why_len, "%s; %s", r, IFNAME_RULE);
		return false;
	}
	memcpy(name, text, strlen(text) + 1);
	return true;
}
