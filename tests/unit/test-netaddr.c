/* Direct mode's network values: dotted quads, prefixes, networks and
 * lists of them, host-address checks, MAC addresses, MTUs and interface
 * names, each with every class of bad input and its reason. */
#include "core/netaddr.h"
#include "tests/tap.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static char why[400];

/* A value printable in a TAP description: control bytes as \xNN. */
static const char *shown(const char *text)
{
	static char out[4][256];
	static unsigned k;
	char *o = out[k++ % 4];
	size_t n = 0;

	for (; *text && n + 5 < sizeof(out[0]); text++) {
		unsigned char c = (unsigned char)*text;
		if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(o + n, sizeof(out[0]) - n, "\\x%02x", c);
		else
			o[n++] = (char)c;
	}
	o[n] = '\0';
	return o;
}

/* The reason alone: why up to its "; ". */
static const char *reason(void)
{
	static char r[400];
	const char *semi = strstr(why, "; ");
	size_t n = semi ? (size_t)(semi - why) : strlen(why);

	memcpy(r, why, n);
	r[n] = '\0';
	return r;
}

static void ipv4_ok(const char *text, uint32_t want)
{
	char desc[128];
	uint32_t got = 0xdeadbeef;

	snprintf(desc, sizeof(desc), "ipv4 \"%s\" accepted", shown(text));
	if (tap_ok(kw_parse_ipv4(text, &got, why, sizeof(why)), desc))
		tap_is_u64(got, want, "... value");
	else
		tap_diag("  %s", why);
}

static void ipv4_bad(const char *text, const char *want_reason)
{
	char desc[160];
	uint32_t got = 0xdeadbeef;

	snprintf(desc, sizeof(desc), "ipv4 \"%s\" rejected, nothing stored", shown(text));
	tap_ok(!kw_parse_ipv4(text, &got, why, sizeof(why)) && got == 0xdeadbeef, desc);
	snprintf(desc, sizeof(desc), "ipv4 \"%s\" reason", shown(text));
	tap_is_str(reason(), want_reason, desc);
}

static void test_ipv4(void)
{
	ipv4_ok("0.0.0.0", 0);
	ipv4_ok("255.255.255.255", 0xffffffffu);
	ipv4_ok("10.0.0.1", IP(10, 0, 0, 1));
	ipv4_ok("192.168.100.200", IP(192, 168, 100, 200));
	ipv4_ok("1.20.199.0", IP(1, 20, 199, 0));

	tap_ok(!kw_parse_ipv4("", NULL, why, sizeof(why)), "empty rejected");
	tap_is_str(why, "empty value; expected an IPv4 address a.b.c.d: four decimal "
		   "numbers from 0 to 255 without leading zeros", "full message with the rule");
	ipv4_bad("abc", "a part is not a decimal number");
	ipv4_bad("a.b.c.d", "a part is not a decimal number");
	ipv4_bad("localhost", "a part is not a decimal number");
	ipv4_bad("0x7f.0.0.1", "a part is not a decimal number");
	ipv4_bad("+1.2.3.4", "a part is not a decimal number");
	ipv4_bad("1.2.3.-4", "a part is not a decimal number");
	ipv4_bad(" 1.2.3.4", "a part is not a decimal number");
	ipv4_bad("1.2.3.4 ", "a part is not a decimal number");
	ipv4_bad("1.2.3.4x", "a part is not a decimal number");
	ipv4_bad("1,2,3,4", "a part is not a decimal number");
	ipv4_bad("1:2:3:4", "a part is not a decimal number");
	ipv4_bad("::1", "a part is not a decimal number");
	ipv4_bad("1.2.3.4/24", "a prefix length is not accepted here");
	ipv4_bad("1.2.3", "fewer than four parts");
	ipv4_bad("10.1", "fewer than four parts");
	ipv4_bad("16909060", "a part is greater than 255");
	ipv4_bad("1.2.3.4.5", "more than four parts");
	ipv4_bad("1.2.3.4.", "empty part");
	ipv4_bad(".1.2.3", "empty part");
	ipv4_bad("1..2.3", "empty part");
	ipv4_bad("1.2.3.", "empty part");
	ipv4_bad("...", "empty part");
	ipv4_bad(".", "empty part");
	ipv4_bad("256.0.0.1", "a part is greater than 255");
	ipv4_bad("1.2.3.300", "a part is greater than 255");
	ipv4_bad("1.2.3.99999999999999999999999", "a part is greater than 255");
	ipv4_bad("4294967296.0.0.1", "a part is greater than 255");
	ipv4_bad("010.0.0.1", "a part has a leading zero (read as octal by some tools)");
	ipv4_bad("10.0.0.01", "a part has a leading zero (read as octal by some tools)");
	ipv4_bad("10.00.0.1", "a part has a leading zero (read as octal by some tools)");
	ipv4_bad("1.2.3.4\n", "a part is not a decimal number");
}

static void prefix_ok(const char *text, uint32_t want, unsigned want_prefix)
{
	char desc[128];
	uint32_t a = 0;
	unsigned p = 99;

	snprintf(desc, sizeof(desc), "prefix \"%s\" accepted", shown(text));
	tap_ok(kw_parse_ipv4_prefix(text, &a, &p, why, sizeof(why)) && a == want &&
	       p == want_prefix, desc);
}

static void prefix_bad(const char *text, const char *want_reason)
{
	char desc[160];
	uint32_t a = 7;
	unsigned p = 99;

	snprintf(desc, sizeof(desc), "prefix \"%s\" rejected, nothing stored", shown(text));
	tap_ok(!kw_parse_ipv4_prefix(text, &a, &p, why, sizeof(why)) && a == 7 && p == 99, desc);
	snprintf(desc, sizeof(desc), "prefix \"%s\" reason", shown(text));
	tap_is_str(reason(), want_reason, desc);
}

static void test_prefix(void)
{
	prefix_ok("10.0.0.2/24", IP(10, 0, 0, 2), 24);
	prefix_ok("10.0.0.2/0", IP(10, 0, 0, 2), 0);
	prefix_ok("10.0.0.2/32", IP(10, 0, 0, 2), 32);
	prefix_ok("10.0.0.0/8", IP(10, 0, 0, 0), 8);

	prefix_bad("", "empty value");
	prefix_bad("10.0.0.2", "missing /prefix length");
	prefix_bad("10.0.0.2/", "empty prefix length");
	prefix_bad("10.0.0.2/33", "the prefix length is greater than 32");
	prefix_bad("10.0.0.2/99999999999999999999", "the prefix length is greater than 32");
	prefix_bad("10.0.0.2/024", "the prefix length has a leading zero");
	prefix_bad("10.0.0.2/00", "the prefix length has a leading zero");
	prefix_bad("10.0.0.2/-1", "the prefix length is not a decimal number");
	prefix_bad("10.0.0.2/+8", "the prefix length is not a decimal number");
	prefix_bad("10.0.0.2/24 ", "the prefix length is not a decimal number");
	prefix_bad("10.0.0.2/24/8", "the prefix length is not a decimal number");
	prefix_bad("10.0.0.2/255.255.255.0", "the prefix length is not a decimal number");
	prefix_bad("/24", "empty value");
	prefix_bad("10.0.0/24", "fewer than four parts");
	prefix_bad("10.0.0.256/24", "a part is greater than 255");
	prefix_bad("010.0.0.2/24", "a part has a leading zero (read as octal by some tools)");
	tap_ok(!kw_parse_ipv4_prefix("1.2.3.4", NULL, NULL, why, sizeof(why)), "full message");
	tap_is_str(why, "missing /prefix length; expected an IPv4 address and prefix length "
		   "a.b.c.d/n, n from 0 to 32 (10.0.0.2/24)", "... text");
}

static void test_net(void)
{
	struct kw_ipv4_net n = { 1, 1 };

	tap_ok(kw_parse_ipv4_net("10.0.0.0/8", &n, why, sizeof(why)) &&
	       n.addr == IP(10, 0, 0, 0) && n.prefix == 8, "network 10.0.0.0/8");
	tap_ok(kw_parse_ipv4_net("0.0.0.0/0", &n, why, sizeof(why)) && n.addr == 0 &&
	       n.prefix == 0, "network 0.0.0.0/0 (everything)");
	tap_ok(kw_parse_ipv4_net("203.0.113.7", &n, why, sizeof(why)) &&
	       n.addr == IP(203, 0, 113, 7) && n.prefix == 32, "a bare address is a /32");
	tap_ok(kw_parse_ipv4_net("192.168.1.128/25", &n, why, sizeof(why)) &&
	       n.prefix == 25, "192.168.1.128/25");
	n.addr = 1;
	n.prefix = 1;
	tap_ok(!kw_parse_ipv4_net("10.0.0.1/8", &n, why, sizeof(why)) && n.addr == 1 &&
	       n.prefix == 1, "host bits set: rejected, nothing stored");
	tap_is_str(why, "host bits set (the network is 10.0.0.0/8); expected a network "
		   "a.b.c.d/n with the host bits zero, n from 0 to 32, or an address a.b.c.d "
		   "(10.0.0.0/8)", "... message names the network meant");
	tap_ok(!kw_parse_ipv4_net("192.168.1.1/0", &n, why, sizeof(why)), "host bits at /0");
	tap_is_str(reason(), "host bits set (the network is 0.0.0.0/0)", "... reason");
	tap_ok(!kw_parse_ipv4_net("192.168.1.129/25", &n, why, sizeof(why)), "host bits at /25");
	tap_is_str(reason(), "host bits set (the network is 192.168.1.128/25)", "... reason");
	tap_ok(!kw_parse_ipv4_net("", &n, why, sizeof(why)), "empty network");
	tap_ok(!kw_parse_ipv4_net("10.0.0.0/", &n, why, sizeof(why)), "empty prefix");
	tap_ok(!kw_parse_ipv4_net("10.0.0.0/33", &n, why, sizeof(why)), "prefix 33");
}

static void list_bad(const char *text, unsigned max, const char *want_reason)
{
	struct kw_ipv4_net nets[KW_ROUTE_MAX];
	unsigned count = 99;
	char desc[400];

	snprintf(desc, sizeof(desc), "list \"%.60s\" rejected", shown(text));
	tap_ok(!kw_parse_ipv4_net_list(text, nets, max, &count, why, sizeof(why)) &&
	       count == 99, desc);
	snprintf(desc, sizeof(desc), "list \"%.60s\" reason", shown(text));
	tap_is_str(reason(), want_reason, desc);
}

static void test_net_list(void)
{
	struct kw_ipv4_net nets[KW_ROUTE_MAX];
	unsigned count = 0;
	char many[400] = "";

	tap_ok(kw_parse_ipv4_net_list("10.0.0.0/8", nets, KW_ROUTE_MAX, &count, why,
				      sizeof(why)) && count == 1 && nets[0].prefix == 8,
	       "list of one");
	tap_ok(kw_parse_ipv4_net_list("10.0.0.0/8,192.168.1.0/24,203.0.113.7", nets,
				      KW_ROUTE_MAX, &count, why, sizeof(why)) && count == 3 &&
	       nets[1].addr == IP(192, 168, 1, 0) && nets[1].prefix == 24 &&
	       nets[2].addr == IP(203, 0, 113, 7) && nets[2].prefix == 32, "list of three");
	for (unsigned i = 0; i < KW_ROUTE_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.%u.0.0/16",
			 i ? "," : "", i);
	tap_ok(kw_parse_ipv4_net_list(many, nets, KW_ROUTE_MAX, &count, why, sizeof(why)) &&
	       count == KW_ROUTE_MAX && nets[15].addr == IP(10, 15, 0, 0),
	       "16 networks: the maximum");
	strcat(many, ",10.16.0.0/16");
	list_bad(many, KW_ROUTE_MAX, "more than 16 networks");
	list_bad("10.0.0.0/8,10.1.0.0/16", 1, "more than 1 networks");
	list_bad("", KW_ROUTE_MAX, "empty value");
	list_bad(",", KW_ROUTE_MAX, "entry 1 is empty");
	list_bad("10.0.0.0/8,", KW_ROUTE_MAX, "entry 2 is empty");
	list_bad(",10.0.0.0/8", KW_ROUTE_MAX, "entry 1 is empty");
	list_bad("10.0.0.0/8,,192.168.0.0/16", KW_ROUTE_MAX, "entry 2 is empty");
	list_bad("10.0.0.0/8, 192.168.0.0/16", KW_ROUTE_MAX,
		 "entry 2: a part is not a decimal number");
	list_bad("10.0.0.0/8;192.168.0.0/16", KW_ROUTE_MAX,
		 "entry 1: the prefix length is not a decimal number");
	list_bad("10.0.0.0/8 192.168.0.0/16", KW_ROUTE_MAX,
		 "entry 1: the prefix length is not a decimal number");
	list_bad("10.0.0.0/8,192.168.1.1/24", KW_ROUTE_MAX,
		 "entry 2: host bits set (the network is 192.168.1.0/24)");
	list_bad("10.0.0.0/40", KW_ROUTE_MAX, "entry 1: the prefix length is greater than 32");
	list_bad("010.0.0.0/8", KW_ROUTE_MAX,
		 "entry 1: a part has a leading zero (read as octal by some tools)");
	list_bad("10.0.0/8", KW_ROUTE_MAX, "entry 1: fewer than four parts");
	list_bad("junk", KW_ROUTE_MAX, "entry 1: a part is not a decimal number");
	tap_ok(!kw_parse_ipv4_net_list("x", nets, KW_ROUTE_MAX, &count, why, sizeof(why)),
	       "full list message");
	tap_is_str(why, "entry 1: a part is not a decimal number; expected 1 to 16 "
		   "comma-separated networks a.b.c.d/n with the host bits zero, or addresses "
		   "a.b.c.d, without spaces (10.0.0.0/8,192.168.1.0/24)", "... text");
}

static void host_bad(uint32_t addr, unsigned prefix, const char *want, const char *desc)
{
	tap_ok(!kw_check_host_address(addr, prefix, why, sizeof(why)), desc);
	tap_is_str(why, want, "... reason");
}

static void test_host(void)
{
	uint32_t a = 0;
	unsigned p = 0;

	tap_ok(kw_check_host_address(IP(10, 0, 0, 2), 24, why, sizeof(why)), "10.0.0.2/24 is a host");
	tap_ok(kw_check_host_address(IP(10, 0, 0, 0), 31, why, sizeof(why)) &&
	       kw_check_host_address(IP(10, 0, 0, 1), 31, why, sizeof(why)),
	       "both addresses of a /31 are hosts (RFC 3021)");
	tap_ok(kw_check_host_address(IP(10, 0, 0, 0), 32, why, sizeof(why)), "a /32 is a host");
	tap_ok(kw_check_host_address(IP(10, 0, 255, 255), 8, why, sizeof(why)),
	       "x.x.255.255 inside a /8 is a host");
	host_bad(IP(0, 0, 0, 0), 24, "not a host address (0.0.0.0/8 is \"this network\")",
		 "0.0.0.0 refused");
	host_bad(IP(0, 1, 2, 3), 32, "not a host address (0.0.0.0/8 is \"this network\")",
		 "0.1.2.3 refused");
	host_bad(IP(127, 0, 0, 1), 8, "a loopback address", "127.0.0.1 refused");
	host_bad(IP(224, 0, 0, 1), 24, "a multicast address", "224.0.0.1 refused");
	host_bad(IP(239, 255, 255, 250), 32, "a multicast address", "239.255.255.250 refused");
	host_bad(IP(240, 0, 0, 1), 24, "a reserved address (240.0.0.0/4)", "240.0.0.1 refused");
	host_bad(0xffffffffu, 32, "the broadcast address", "255.255.255.255 refused");
	host_bad(IP(10, 0, 0, 0), 24, "the network address of 10.0.0.0/24",
		 "the network address of a /24 refused");
	host_bad(IP(10, 0, 0, 255), 24, "the broadcast address of 10.0.0.0/24",
		 "the broadcast address of a /24 refused");
	host_bad(IP(10, 0, 0, 3), 30, "the broadcast address of 10.0.0.0/30",
		 "the broadcast address of a /30 refused");

	tap_ok(kw_parse_host_address("10.0.0.2/24", &a, &p, why, sizeof(why)) &&
	       a == IP(10, 0, 0, 2) && p == 24, "host address 10.0.0.2/24");
	a = 5;
	p = 5;
	tap_ok(!kw_parse_host_address("10.0.0.2/0", &a, &p, why, sizeof(why)) && a == 5 &&
	       p == 5, "host address with /0 rejected, nothing stored");
	tap_is_str(why, "a /0 network would put every destination on-link; expected a host "
		   "address and prefix length a.b.c.d/n, n from 1 to 32 (10.0.0.2/24)",
		   "... message");
	tap_ok(!kw_parse_host_address("10.0.0.255/24", &a, &p, why, sizeof(why)),
	       "host address: broadcast rejected");
	tap_is_str(reason(), "the broadcast address of 10.0.0.0/24", "... reason");
	tap_ok(!kw_parse_host_address("10.0.0.2", &a, &p, why, sizeof(why)),
	       "host address without prefix rejected");
	tap_is_str(reason(), "missing /prefix length", "... reason");
}

static void mac_bad(const char *text, const char *want_reason)
{
	uint8_t m[6] = { 9, 9, 9, 9, 9, 9 };
	char desc[160];

	snprintf(desc, sizeof(desc), "mac \"%s\" rejected, nothing stored", shown(text));
	tap_ok(!kw_parse_mac(text, m, why, sizeof(why)) && m[0] == 9 && m[5] == 9, desc);
	snprintf(desc, sizeof(desc), "mac \"%s\" reason", shown(text));
	tap_is_str(reason(), want_reason, desc);
}

static void test_mac(void)
{
	uint8_t m[6];

	tap_ok(kw_parse_mac("02:00:00:00:00:01", m, why, sizeof(why)) && m[0] == 2 &&
	       m[1] == 0 && m[5] == 1, "02:00:00:00:00:01");
	tap_ok(kw_parse_mac("52:54:aB:Cd:eF:9a", m, why, sizeof(why)) && m[0] == 0x52 &&
	       m[2] == 0xab && m[3] == 0xcd && m[4] == 0xef && m[5] == 0x9a,
	       "hex digits in either case");
	tap_ok(kw_parse_mac("00:16:3e:00:00:01", m, why, sizeof(why)),
	       "a globally administered unicast MAC is accepted");

	mac_bad("", "empty value");
	mac_bad("junk", "a part is not two hex digits");
	mac_bad("02:00:00:00:00", "fewer than six parts");
	mac_bad("02:00:00:00:00:01:02", "more than six parts");
	mac_bad("02:00:00:00:00:", "a part is not two hex digits");
	mac_bad("02:00:00:00:00:01:", "more than six parts");
	mac_bad("2:0:0:0:0:1", "a part is not two hex digits");
	mac_bad("002:00:00:00:00:01", "a part is not two hex digits");
	mac_bad("02:00:00:00:00:012", "a part is not two hex digits");
	mac_bad("02:00:00:00:00:01 ", "a part is not two hex digits");
	mac_bad(" 02:00:00:00:00:01", "a part is not two hex digits");
	mac_bad("02:00:00:00:00:0g", "a part is not two hex digits");
	mac_bad("02-00-00-00-00-01", "parts must be separated by ':'");
	mac_bad("0200.0000.0001", "a part is not two hex digits");
	mac_bad("02.00.00.00.00.01", "parts must be separated by ':'");
	mac_bad("020000000001", "a part is not two hex digits");
	mac_bad("02::00:00:00:01", "a part is not two hex digits");
	mac_bad("01:00:5e:00:00:01", "a multicast address (lowest bit of the first byte set)");
	mac_bad("33:33:00:00:00:01", "a multicast address (lowest bit of the first byte set)");
	mac_bad("ff:ff:ff:ff:ff:ff", "a multicast address (lowest bit of the first byte set)");
	mac_bad("00:00:00:00:00:00", "the all-zeros address");
	tap_ok(!kw_parse_mac("03:00:00:00:00:01", m, why, sizeof(why)), "full MAC message");
	tap_is_str(why, "a multicast address (lowest bit of the first byte set); expected a "
		   "unicast MAC address xx:xx:xx:xx:xx:xx in hex (02:00:00:00:00:01)", "... text");
}

static void mtu_bad(const char *text, const char *want_reason)
{
	unsigned mtu = 7;
	char desc[160];

	snprintf(desc, sizeof(desc), "mtu \"%s\" rejected, nothing stored", shown(text));
	tap_ok(!kw_parse_mtu(text, &mtu, why, sizeof(why)) && mtu == 7, desc);
	snprintf(desc, sizeof(desc), "mtu \"%s\" reason", shown(text));
	tap_is_str(reason(), want_reason, desc);
}

static void test_mtu(void)
{
	unsigned mtu = 0;

	tap_ok(kw_parse_mtu("1500", &mtu, why, sizeof(why)) && mtu == 1500, "MTU 1500");
	tap_ok(kw_parse_mtu("576", &mtu, why, sizeof(why)) && mtu == 576, "MTU 576, the minimum");
	tap_ok(kw_parse_mtu("65535", &mtu, why, sizeof(why)) && mtu == 65535,
	       "MTU 65535, the maximum");
	tap_ok(kw_parse_mtu("9000", &mtu, why, sizeof(why)) && mtu == 9000, "MTU 9000 (jumbo)");
	mtu_bad("", "empty value");
	mtu_bad("abc", "not a number");
	mtu_bad("575", "out of range");
	mtu_bad("68", "out of range");
	mtu_bad("0", "out of range");
	mtu_bad("65536", "out of range");
	mtu_bad("99999999999999999999999", "out of range");
	mtu_bad("-1500", "negative");
	mtu_bad("+1500", "not a number");
	mtu_bad("1500 ", "not a number");
	mtu_bad("1500b", "not a number");
	mtu_bad("1.5k", "not a number");
	mtu_bad("0x5dc", "not a number");
	mtu_bad("01500", "leading zero (read as octal by some tools)");
	mtu_bad("00", "leading zero (read as octal by some tools)");
	tap_ok(!kw_parse_mtu("100000", &mtu, why, sizeof(why)), "full MTU message");
	tap_is_str(why, "out of range; expected a whole number from 576 to 65535", "... text");
}

static void ifname_bad(const char *text, const char *want_reason)
{
	char name[KW_IFNAMSIZ] = "keep";
	char desc[160];

	snprintf(desc, sizeof(desc), "ifname \"%s\" rejected, nothing stored", shown(text));
	tap_ok(!kw_parse_ifname(text, name, why, sizeof(why)) && strcmp(name, "keep") == 0, desc);
	snprintf(desc, sizeof(desc), "ifname \"%s\" reason", shown(text));
	tap_is_str(reason(), want_reason, desc);
}

static void test_ifname(void)
{
	char name[KW_IFNAMSIZ];

	tap_ok(kw_parse_ifname("tap0", name, why, sizeof(why)) && strcmp(name, "tap0") == 0,
	       "tap0");
	tap_ok(kw_parse_ifname("a", name, why, sizeof(why)) && strcmp(name, "a") == 0,
	       "one character");
	tap_ok(kw_parse_ifname("kw-tap.0_x@y", name, why, sizeof(why)),
	       "dots, dashes, underscores and @ are allowed");
	tap_ok(kw_parse_ifname("abcdefghijklmno", name, why, sizeof(why)) &&
	       strcmp(name, "abcdefghijklmno") == 0, "15 characters: the maximum");
	tap_ok(kw_parse_ifname("...", name, why, sizeof(why)), "\"...\" is a valid name");
	ifname_bad("", "empty value");
	ifname_bad("abcdefghijklmnop", "longer than 15 characters");
	ifname_bad("a-very-long-interface-name", "longer than 15 characters");
	ifname_bad(".", "not a name");
	ifname_bad("..", "not a name");
	ifname_bad("tap/0", "contains '/'");
	ifname_bad("eth0:1", "contains ':'");
	ifname_bad("tap%d", "contains '%'");
	ifname_bad("tap 0", "contains whitespace");
	ifname_bad("tap0 ", "contains whitespace");
	ifname_bad("tap\t0", "contains whitespace");
	ifname_bad("tap0\n", "contains whitespace");
	ifname_bad("tap\x1b", "contains a control character");
	ifname_bad("tap\x7f", "contains a control character");
	ifname_bad("t\xc3\xa4p", "contains a non-ASCII character");
	tap_ok(!kw_parse_ifname("..", name, why, sizeof(why)), "full name message");
	tap_is_str(why, "not a name; expected an interface name of 1 to 15 ASCII characters "
		   "without /, :, %, whitespace or control characters, not . or .. (tap0)",
		   "... text");
}

static void test_helpers(void)
{
	char text[KW_IPV4_TEXT];
	struct kw_ipv4_net n = { IP(10, 0, 0, 0), 8 };

	tap_is_u64(kw_ipv4_mask(0), 0, "mask /0");
	tap_is_u64(kw_ipv4_mask(1), 0x80000000u, "mask /1");
	tap_is_u64(kw_ipv4_mask(24), 0xffffff00u, "mask /24");
	tap_is_u64(kw_ipv4_mask(32), 0xffffffffu, "mask /32");
	kw_ipv4_net_format(0xffffffffu, 32, text, sizeof(text));
	tap_is_str(text, "255.255.255.255/32", "the longest text fits KW_IPV4_TEXT");
	kw_ipv4_format(IP(10, 1, 2, 3), text, sizeof(text));
	tap_is_str(text, "10.1.2.3", "format");
	tap_ok(kw_ipv4_net_contains(&n, IP(10, 255, 0, 1)) &&
	       !kw_ipv4_net_contains(&n, IP(11, 0, 0, 0)), "contains");
	n.prefix = 0;
	n.addr = 0;
	tap_ok(kw_ipv4_net_contains(&n, 0xffffffffu), "/0 contains everything");
}

int main(void)
{
	test_ipv4();
	test_prefix();
	test_net();
	test_net_list();
	test_host();
	test_mac();
	test_mtu();
	test_ifname();
	test_helpers();
	return tap_done();
}
