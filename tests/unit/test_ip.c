/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for ip.c: strict parsing, Go's text forms, CIDR math. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "ip.h"

static void assert_ip6_text(const char *in, const char *want)
{
	char buf[IP_STRLEN];
	struct ip6 a;

	assert_int_equal(ip6_parse(in, &a), 0);
	assert_string_equal(ip6_format(&a, buf), want);
}

/*
 * The formatters as they were with snprintf, kept as the reference the
 * hand-written ones must match byte for byte.
 */
static void ref_ip4(uint32_t addr, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
}

static unsigned ref_group(const struct ip6 *a, int i)
{
	return (unsigned)a->b[2 * i] << 8 | a->b[2 * i + 1];
}

static void ref_ip6(const struct ip6 *a, char *buf)
{
	int zstart = -1, zlen = 0, i, j;
	size_t off = 0;
	uint32_t v4;
	char q[16];

	if (ip6_to4(a, &v4)) {
		ref_ip4(v4, q);
		snprintf(buf, IP_STRLEN, "::ffff:%s", q);
		return;
	}
	for (i = 0; i < 8; i = j + 1) {
		for (j = i; j < 8 && ref_group(a, j) == 0; j++)
			;
		if (j - i >= 2 && j - i > zlen) {
			zstart = i;
			zlen = j - i;
		}
	}
	for (i = 0; i < 8; i++) {
		if (i == zstart) {
			off += (size_t)snprintf(buf + off, IP_STRLEN - off, "::");
			i += zlen - 1;
			continue;
		}
		off += (size_t)snprintf(buf + off, IP_STRLEN - off, "%s%x",
					(i > 0 && i != zstart + zlen) ? ":" : "", ref_group(a, i));
	}
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Addresses with zero groups, short groups and the IPv4-looking ranges likely. */
static struct ip6 random_ip6(uint64_t *s)
{
	struct ip6 a = { 0 };
	uint64_t r = rng_next(s);

	for (int i = 0; i < 8; i++) {
		unsigned g;

		switch ((r >> (3 * i)) & 7) {
		case 0:
		case 1:
		case 2:
			g = 0;
			break;
		case 3:
			g = (unsigned)rng_next(s) & 0xf;
			break;
		case 4:
			g = (unsigned)rng_next(s) & 0xff;
			break;
		default:
			g = (unsigned)rng_next(s) & 0xffff;
		}
		a.b[2 * i] = (uint8_t)(g >> 8);
		a.b[2 * i + 1] = (uint8_t)g;
	}
	if ((r >> 30) % 8 == 0) { /* IPv4-mapped */
		memset(a.b, 0, 10);
		a.b[10] = a.b[11] = 0xff;
	} else if ((r >> 30) % 8 == 1) { /* ::a.b.c.d */
		memset(a.b, 0, 12);
	}
	return a;
}

static void test_format_matches_snprintf(void **state)
{
	char got[IP_STRLEN], want[IP_STRLEN];
	uint64_t s = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int n = 0; n < 200000; n++) {
		uint32_t v4 = (uint32_t)rng_next(&s);
		struct ip6 a = random_ip6(&s);

		if (n % 4 == 0)
			v4 &= 0x0f0f0f0f; /* one-digit octets */
		ref_ip4(v4, want);
		assert_string_equal(ip4_format(v4, got), want);
		ref_ip6(&a, want);
		assert_string_equal(ip6_format(&a, got), want);
	}
	for (int i = 0; i < 8; i++) { /* every single zero run, and none */
		struct ip6 a;

		memset(a.b, 0xab, sizeof(a.b));
		a.b[2 * i] = a.b[2 * i + 1] = 0;
		ref_ip6(&a, want);
		assert_string_equal(ip6_format(&a, got), want);
	}
}

static void test_ip4_parse_valid(void **state)
{
	static const struct {
		const char *in;
		uint32_t want;
	} cases[] = {
		{ "0.0.0.0", 0 },
		{ "255.255.255.255", 0xffffffff },
		{ "10.3.0.1", 0x0a030001 },
		{ "192.168.100.1", 0xc0a86401 },
		{ "1.0.10.100", 0x01000a64 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t v = 1;

		assert_int_equal(ip4_parse(cases[i].in, &v), 0);
		assert_int_equal(v, cases[i].want);
	}
}

static void test_ip4_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",	     "1.2.3",	   "1.2.3.4.5", "256.1.1.1",	  "1.2.3.4 ",
		" 1.2.3.4",  "1.2.3.-4",   "1..2.3",	"1.2.3.4x",	  "::1",
		"0x1.2.3.4", "010.1.1.1",  "1.2.3.00",	"1.2.3.4/24",	  "1.2.3.",
		".1.2.3",    "1.2.3.1000", "+1.2.3.4",	"::ffff:1.2.3.4",
	};
	size_t i;
	uint32_t v;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip4_parse(bad[i], &v), -EINVAL);
	assert_int_equal(ip4_parse(NULL, &v), -EINVAL);
	/* An embedded NUL ends nothing: the length rules. */
	assert_int_equal(ip4_parsen("1.2.3.4\0", 8, &v), -EINVAL);
	assert_int_equal(ip4_parsen("1.2.3.4xyz", 7, &v), 0);
	assert_int_equal(v, 0x01020304);
}

static void test_ip4_format(void **state)
{
	char buf[16];
	struct ip4net n = { 0x0a054700, 24 };
	char nbuf[IP_STRLEN];

	assert_string_equal(ip4_format(0, buf), "0.0.0.0");
	assert_string_equal(ip4_format(0xffffffff, buf), "255.255.255.255");
	assert_string_equal(ip4_format(0x0a054701, buf), "10.5.71.1");
	assert_string_equal(ip4net_format(&n, nbuf), "10.5.71.0/24");
}

static void test_ip4_mask(void **state)
{
	assert_int_equal(ip4_mask(0), 0);
	assert_int_equal(ip4_mask(1), 0x80000000);
	assert_int_equal(ip4_mask(24), 0xffffff00);
	assert_int_equal(ip4_mask(31), 0xfffffffe);
	assert_int_equal(ip4_mask(32), 0xffffffff);
	assert_int_equal(ip4_mask(40), 0xffffffff);
}

static void test_ip4net_parse(void **state)
{
	static const struct {
		const char *in;
		uint32_t addr;
		uint8_t len;
	} ok[] = {
		{ "10.3.1.5/16", 0x0a030000, 16 }, /* host bits masked, as net.ParseCIDR */
		{ "10.3.0.0/16", 0x0a030000, 16 },
		{ "1.2.3.4/0", 0, 0 },
		{ "1.2.3.4/32", 0x01020304, 32 },
		{ "10.3.0.0/016", 0x0a030000, 16 }, /* Go's dtoi takes leading zeros */
		{ "192.168.255.255/23", 0xc0a8fe00, 23 },
	};
	static const char *const bad[] = {
		"10.3.0.0",	 "10.3.0.0/",	 "10.3.0.0/33", "10.3.0.0/-1",
		"10.3.0.0/ 16",	 "/16",		 "fc00::/48",	"10.3.0/16",
		"10.3.0.0/16/1", "010.3.0.0/16", "10.3.0.0/+8", "10.3.0.0/99999999",
	};
	struct ip4net n;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(ip4net_parse(ok[i].in, &n), 0);
		assert_int_equal(n.addr, ok[i].addr);
		assert_int_equal(n.len, ok[i].len);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip4net_parse(bad[i], &n), -EINVAL);
}

static void test_ip4net_contains_overlaps(void **state)
{
	struct ip4net n8 = { 0x0a000000, 8 }, n16 = { 0x0a050000, 16 }, o16 = { 0x0a060000, 16 };
	struct ip4net all = { 0, 0 }, host = { 0x0a050107, 24 }, net24 = { 0x0a050100, 24 };

	assert_true(ip4net_contains(&n8, 0x0affff01));
	assert_false(ip4net_contains(&n8, 0x0b000000));
	assert_true(ip4net_contains(&all, 0xdeadbeef));
	assert_true(ip4net_overlaps(&n8, &n16));
	assert_true(ip4net_overlaps(&n16, &n8));
	assert_false(ip4net_overlaps(&n16, &o16));
	assert_true(ip4net_overlaps(&all, &o16));
	/* Host bits in a stored network do not matter under the shorter mask. */
	assert_true(ip4net_overlaps(&host, &net24));
	assert_true(ip4net_contains(&host, 0x0a0501ff));
}

static void test_ip6_parse_valid(void **state)
{
	static const char *const ok[] = {
		"::",
		"::1",
		"fc00::",
		"FC00::1",
		"1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::",
		"::2:3:4:5:6:7:8",
		"::ffff:1.2.3.4",
		"64:ff9b::1.2.3.4",
		"1:2:3:4:5:6:1.2.3.4",
		"::1.2.3.4",
		"0000:0000:0000:0000:0000:0000:0000:0001",
	};
	struct ip6 a;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(ip6_parse(ok[i], &a), 0);
	assert_int_equal(ip6_parse("1:2:3:4:5:6:1.2.3.4", &a), 0);
	assert_int_equal(a.b[12], 1);
	assert_int_equal(a.b[15], 4);
	assert_int_equal(a.b[11], 6);
}

static void test_ip6_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		":",
		":::",
		"1.2.3.4",
		"1::2::3",
		"12345::",
		"1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7::8",
		"1:2:3:4:5:6:7:8::",
		"fe80::1%eth0",
		"::1.2.3.04",
		"1:2:3:4:5:1.2.3.4",
		":1::",
		"1:",
		"1:2:3:4:5:6:7",
		"g::",
		"::1 ",
		"::1.2.3",
		"::1.2.3.4:5",
		"1:2:3:4:5:6:7:1.2.3.4",
	};
	struct ip6 a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip6_parse(bad[i], &a), -EINVAL);
	assert_int_equal(ip6_parse(NULL, &a), -EINVAL);
	assert_int_equal(ip6_parsen("::1\0", 4, &a), -EINVAL);
}

/* RFC 5952 as Go prints it. */
static void test_ip6_format(void **state)
{
	assert_ip6_text("fc00:0:0:29::", "fc00:0:0:29::");
	assert_ip6_text("fc00:0000:0000:0029:0000:0000:0000:0000", "fc00:0:0:29::");
	assert_ip6_text("::", "::");
	assert_ip6_text("::1", "::1");
	assert_ip6_text("1::", "1::");
	/* Two runs of equal length: the first one is compressed. */
	assert_ip6_text("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
	/* The longest run wins even when it comes later. */
	assert_ip6_text("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1");
	assert_ip6_text("1:0:0:2:0:0:0:3", "1:0:0:2::3");
	/* A single zero group is never compressed. */
	assert_ip6_text("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
	assert_ip6_text("2001:DB8::ABCD", "2001:db8::abcd");
	assert_ip6_text("fe80::0001", "fe80::1");
	assert_ip6_text("fd00:100::1", "fd00:100::1");
	assert_ip6_text("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8");
	assert_ip6_text("0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7");
	assert_ip6_text("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0");
	assert_ip6_text("fc00::8000:0:0:0", "fc00::8000:0:0:0");
	assert_ip6_text("::ffff:1.2.3.4", "::ffff:1.2.3.4");
	assert_ip6_text("::1.2.3.4", "::102:304");
	assert_ip6_text("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
			"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_ip6_format_flannel(void **state)
{
	char buf[IP_STRLEN];
	struct ip6 a;

	assert_int_equal(ip6_parse("fc00:0:0:29::", &a), 0);
	assert_string_equal(ip6_format_flannel(&a, buf), "fc00:0:0:29::");
	assert_int_equal(ip6_parse("::ffff:1.2.3.4", &a), 0);
	assert_string_equal(ip6_format_flannel(&a, buf), "1.2.3.4");
	/* big.Int.Bytes() is four bytes long here, so net.IP prints IPv4. */
	assert_int_equal(ip6_parse("::1.2.3.4", &a), 0);
	assert_string_equal(ip6_format_flannel(&a, buf), "1.2.3.4");
	assert_int_equal(ip6_parse("::ff:ffff", &a), 0);
	assert_string_equal(ip6_format_flannel(&a, buf), "::ff:ffff");
	assert_int_equal(ip6_parse("::1:0:0", &a), 0);
	assert_string_equal(ip6_format_flannel(&a, buf), "::1:0:0");
	assert_int_equal(ip6_parse("::", &a), 0);
	assert_string_equal(ip6_format_flannel(&a, buf), "::");
}

static void test_ip6net_parse(void **state)
{
	char buf[IP_STRLEN];
	struct ip6net n;

	assert_int_equal(ip6net_parse("fc00::1/48", &n), 0);
	assert_string_equal(ip6net_format(&n, buf), "fc00::/48");
	assert_int_equal(ip6net_parse("fc00:0:0:29:1::/64", &n), 0);
	assert_string_equal(ip6net_format(&n, buf), "fc00:0:0:29::/64");
	assert_int_equal(ip6net_parse("::/0", &n), 0);
	assert_string_equal(ip6net_format(&n, buf), "::/0");
	assert_int_equal(ip6net_parse("fc00::/128", &n), 0);
	assert_int_equal(ip6net_parse("::ffff:1.2.3.4/120", &n), 0);
	assert_string_equal(ip6net_format(&n, buf), "::ffff:1.2.3.0/120");
	assert_int_equal(ip6net_parse("fc00::/129", &n), -EINVAL);
	assert_int_equal(ip6net_parse("fc00::", &n), -EINVAL);
	assert_int_equal(ip6net_parse("10.0.0.0/8", &n), -EINVAL);
	assert_int_equal(ip6net_parse("fe80::%1/64", &n), -EINVAL);
}

static void test_ip6net_contains_overlaps(void **state)
{
	struct ip6net n48, n64, o64, all;
	struct ip6 a;

	assert_int_equal(ip6net_parse("fc00::/48", &n48), 0);
	assert_int_equal(ip6net_parse("fc00:0:0:29::/64", &n64), 0);
	assert_int_equal(ip6net_parse("fc01::/64", &o64), 0);
	assert_int_equal(ip6net_parse("::/0", &all), 0);
	assert_int_equal(ip6_parse("fc00:0:0:ffff::1", &a), 0);
	assert_true(ip6net_contains(&n48, &a));
	assert_false(ip6net_contains(&n64, &a));
	assert_true(ip6net_overlaps(&n48, &n64));
	assert_true(ip6net_overlaps(&n64, &n48));
	assert_false(ip6net_overlaps(&n48, &o64));
	assert_true(ip6net_overlaps(&all, &o64));
}

static void test_ip6_helpers(void **state)
{
	struct ip6 a, b;
	uint32_t v4;

	assert_int_equal(ip6_parse("fc00::29", &a), 0);
	b = ip6_from_u128(ip6_to_u128(&a));
	assert_true(ip6_equal(&a, &b));
	assert_true(ip6_to_u128(&a) == (((unsigned __int128)0xfc00 << 112) | 0x29));
	assert_false(ip6_is_zero(&a));
	assert_int_equal(ip6_parse("::", &a), 0);
	assert_true(ip6_is_zero(&a));
	assert_true(ip6_mask(0) == 0);
	assert_true(ip6_mask(128) == ~(unsigned __int128)0);
	assert_true(ip6_mask(64) == ((unsigned __int128)0xffffffffffffffffull << 64));

	a = ip6_from4(0x0a000001);
	assert_true(ip6_to4(&a, &v4));
	assert_int_equal(v4, 0x0a000001);
	assert_int_equal(ip6_parse("::1", &a), 0);
	assert_false(ip6_to4(&a, &v4));
}

static void test_ip_parse_go(void **state)
{
	struct ip6 a;
	uint32_t v4;

	assert_int_equal(ip_parse_go("10.3.5.0", 8, &a), 0);
	assert_true(ip6_to4(&a, &v4));
	assert_int_equal(v4, 0x0a030500);
	assert_int_equal(ip_parse_go("::ffff:10.3.5.0", 15, &a), 0);
	assert_true(ip6_to4(&a, &v4));
	assert_int_equal(ip_parse_go("fc00::1", 7, &a), 0);
	assert_false(ip6_to4(&a, &v4));
	assert_int_equal(ip_parse_go("1.2.3", 5, &a), -EINVAL);
	assert_int_equal(ip_parse_go("%1", 2, &a), -EINVAL);
	assert_int_equal(ip_parse_go("abc", 3, &a), -EINVAL);
	assert_int_equal(ip_parse_go("", 0, &a), -EINVAL);
	assert_int_equal(ip_parse_go("null", 4, &a), -EINVAL);
	assert_int_equal(ip_parse_go("1.2::3", 6, &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip4_parse_valid),
		cmocka_unit_test(test_ip4_parse_invalid),
		cmocka_unit_test(test_ip4_format),
		cmocka_unit_test(test_ip4_mask),
		cmocka_unit_test(test_ip4net_parse),
		cmocka_unit_test(test_ip4net_contains_overlaps),
		cmocka_unit_test(test_ip6_parse_valid),
		cmocka_unit_test(test_ip6_parse_invalid),
		cmocka_unit_test(test_ip6_format),
		cmocka_unit_test(test_ip6_format_flannel),
		cmocka_unit_test(test_ip6net_parse),
		cmocka_unit_test(test_ip6net_contains_overlaps),
		cmocka_unit_test(test_ip6_helpers),
		cmocka_unit_test(test_ip_parse_go),
		cmocka_unit_test(test_format_matches_snprintf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
