/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for subnet.c: lease keys as upstream's regex reads them, lease values byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "lease/subnet.h"

static int key_parse(const char *s, struct subnet_key *k)
{
	return subnet_key_parse(s, strlen(s), k);
}

static void roundtrip(const char *key)
{
	struct subnet_key k;
	char buf[128];

	if (key_parse(key, &k) != 0)
		fail_msg("%s: does not parse", key);
	assert_int_equal(subnet_key_format(&k, buf, sizeof(buf)), (int)strlen(key));
	assert_string_equal(buf, key);
}

/* Parse key and check its canonical form. */
static void expect_key(const char *key, const char *want)
{
	struct subnet_key k;
	char buf[128];

	if (key_parse(key, &k) != 0)
		fail_msg("%s: does not parse", key);
	assert_true(subnet_key_format(&k, buf, sizeof(buf)) > 0);
	if (strcmp(buf, want) != 0)
		fail_msg("%s: parsed as %s, want %s", key, buf, want);
}

static void test_key_roundtrip(void **state)
{
	roundtrip("10.12.13.0-24");
	roundtrip("10.12.13.0-24&fd00:12:13::-56");
	roundtrip("10.5.71.0-24");
	roundtrip("10.5.79.0-24&fc00:0:0:29::-64");
	roundtrip("0.0.0.0-0&fc00:0:0:2f::-64");
	roundtrip("0.0.0.0-0");
	roundtrip("255.255.255.252-30");
	roundtrip("10.5.1.0-31&::-127");
}

static void test_key_values(void **state)
{
	struct subnet_key k;

	assert_int_equal(key_parse("10.12.13.0-24&fd00:12:13::-56", &k), 0);
	assert_int_equal(k.v4.addr, 0x0a0c0d00);
	assert_int_equal(k.v4.len, 24);
	assert_true(k.has_v6);
	assert_int_equal(k.v6.len, 56);
	assert_int_equal(k.v6.addr.b[0], 0xfd);
	assert_int_equal(k.v6.addr.b[5], 0x13);
	assert_int_equal(key_parse("10.12.13.0-24", &k), 0);
	assert_false(k.has_v6);
	/* Host bits are kept. */
	assert_int_equal(key_parse("10.5.1.7-24", &k), 0);
	assert_int_equal(k.v4.addr, 0x0a050107);
	expect_key("10.5.1.0-24&fc00::1-64", "10.5.1.0-24&fc00::1-64");
}

static void test_key_unanchored(void **state)
{
	expect_key("/coreos.com/network/subnets/10.5.1.0-24", "10.5.1.0-24");
	expect_key("/coreos.com/network/subnets/10.5.1.0-24&fc00:0:0:29::-64",
		   "10.5.1.0-24&fc00:0:0:29::-64");
	expect_key("foo10.5.1.0-24", "10.5.1.0-24");
	expect_key("/x/subnetsX/10.5.1.0-24", "10.5.1.0-24");
	/* The leftmost match takes the last four dotted parts. */
	expect_key("1.2.3.4.5-24", "2.3.4.5-24");
	expect_key("-10.5.1.0-24", "10.5.1.0-24");
	/* Lengths are ParseUint: leading zeros are fine. */
	expect_key("10.5.1.0-024", "10.5.1.0-24");
	expect_key("10.5.1.0-24&fc00::-0064", "10.5.1.0-24&fc00::-64");
	/* A dotted tail cannot be the v6 group, so the v4-only form matches there. */
	expect_key("9.9.9.9-8&1.2.3.4-5", "1.2.3.4-5");
	/* An empty v6 part is left out when formatting, as MakeSubnetKey does. */
	expect_key("10.5.1.0-24&::-0", "10.5.1.0-24");
}

static void test_key_invalid(void **state)
{
	static const char *const bad[] = {
		/* pkg/subnet/subnet_test.go */
		"10",
		"10.12.13.0",
		"10.12.13-24",
		"10.12.13.300-24",
		"10.12.13.0-24hi",
		"&2001::-56",
		"10.12.13.0-24&:12:13:-56",
		"10.12.13.0-24&20011::-56",
		"10.12.13.0-24&2001-56",
		"10.12.13.0-24&2001::",
		"10.12.13.0-24&2001::-56hi",
		/* ours */
		"",
		"-",
		"-24",
		"10.5.1.0-32",
		"10.5.1.0-99999999999999999999999",
		"10.5.1.0-24&fc00::-128",
		"10.5.1.0-24&FC00::-64",
		"010.5.1.0-24",
		"10.5.01.0-24",
		"10.5.1.0-",
		"10.5.1.0-24&",
		"10.5.1.0-24&-64",
		"10.5.1.0--24",
		"10.5.1.0-24\n",
		"10.5.1.0-2 4",
		"10.5.1x0-24",
		"10.5.1.0-24&fc00::-64&fc00::-64",
		"1.2.3.4-5&6-7",
		"x.2.3-5&6-7",
		"10.5.1.0/24",
		"1.2.3.4&5-6",
	};
	struct subnet_key k;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (key_parse(bad[i], &k) != -EINVAL)
			fail_msg("key \"%s\" should be rejected", bad[i]);
	assert_int_equal(subnet_key_parse(NULL, 0, &k), -EINVAL);
	/* A NUL inside the key is just another byte. */
	assert_int_equal(subnet_key_parse("10.5.1\0.0-24", 12, &k), -EINVAL);
	assert_int_equal(subnet_key_parse("x\0"
					  "10.5.1.0-24",
					  13, &k),
			 0);
	/* The length is honoured. */
	assert_int_equal(subnet_key_parse("10.5.1.0-24hi", 11, &k), 0);
}

/* subnet_key_format as it was with snprintf: the reference for the hand-written one. */
static int ref_key_format(const struct subnet_key *k, char *buf, size_t size)
{
	char a4[16], a6[IP_STRLEN];
	int n;

	ip4_format(k->v4.addr, a4);
	if (k->has_v6 && !(ip6_is_zero(&k->v6.addr) && k->v6.len == 0))
		n = snprintf(buf, size, "%s-%u&%s-%u", a4, k->v4.len,
			     ip6_format_flannel(&k->v6.addr, a6), k->v6.len);
	else
		n = snprintf(buf, size, "%s-%u", a4, k->v4.len);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_key_format_matches_snprintf(void **state)
{
	uint64_t s = 0x2545f4914f6cdd1dull;
	char got[128], want[128];

	(void)state;
	for (int n = 0; n < 100000; n++) {
		struct subnet_key k = { 0 };
		uint64_t r = rng_next(&s);
		size_t size = (r >> 40) % 4 == 0 ? (size_t)(r >> 48) % 40 : sizeof(got);
		int g, w;

		k.v4.addr = (uint32_t)rng_next(&s);
		k.v4.len = (uint8_t)(r % 3 == 0 ? r >> 8 : (r >> 8) % 33);
		k.has_v6 = r & 0x100000;
		for (int i = 0; i < 16; i++)
			k.v6.addr.b[i] = (r >> (20 + i)) & 1 ? (uint8_t)rng_next(&s) : 0;
		if ((r >> 36) % 4 == 0) /* ::/0 and ::/len */
			memset(k.v6.addr.b, 0, 16);
		k.v6.len = (uint8_t)((r >> 38) % 4 == 0 ? 0 : rng_next(&s));
		w = ref_key_format(&k, want, size);
		g = subnet_key_format(&k, got, size);
		assert_int_equal(g, w);
		if (w >= 0)
			assert_string_equal(got, want);
	}
}

static void test_key_format_nospc(void **state)
{
	struct subnet_key k;
	char buf[32];

	assert_int_equal(key_parse("10.5.79.0-24&fc00:0:0:29::-64", &k), 0);
	assert_int_equal(subnet_key_format(&k, buf, 29), -ENOSPC);
	assert_int_equal(subnet_key_format(&k, buf, 30), 29);
	assert_string_equal(buf, "10.5.79.0-24&fc00:0:0:29::-64");
	assert_int_equal(subnet_key_format(&k, buf, 0), -ENOSPC);
	/* has_v6 false hides whatever is in v6. */
	k.has_v6 = false;
	assert_int_equal(subnet_key_format(&k, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "10.5.79.0-24");
}

struct lease_case {
	const char *value;
	const char *pub4, *pub6, *type, *data, *data6;
};

/* §3.1: the exact values Go writes. */
static const struct lease_case leases[] = {
	{ "{\"PublicIP\":\"192.168.100.1\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
	  "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"aa:92:59:28:23:bb\"}}",
	  "192.168.100.1", NULL, "vxlan", "{\"VNI\":1,\"VtepMAC\":\"aa:92:59:28:23:bb\"}", NULL },
	{ "{\"PublicIP\":\"192.168.100.1\",\"PublicIPv6\":\"fd00:100::1\",\"BackendType\":"
	  "\"vxlan\","
	  "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"ea:68:76:69:45:90\"},"
	  "\"BackendV6Data\":{\"VNI\":1,\"VtepMAC\":\"ea:d7:0c:5a:60:c3\"}}",
	  "192.168.100.1", "fd00:100::1", "vxlan", "{\"VNI\":1,\"VtepMAC\":\"ea:68:76:69:45:90\"}",
	  "{\"VNI\":1,\"VtepMAC\":\"ea:d7:0c:5a:60:c3\"}" },
	{ "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00:100::1\",\"BackendType\":\"vxlan\","
	  "\"BackendV6Data\":{\"VNI\":1,\"VtepMAC\":\"4e:c3:b1:66:27:e8\"}}",
	  "0.0.0.0", "fd00:100::1", "vxlan", NULL,
	  "{\"VNI\":1,\"VtepMAC\":\"4e:c3:b1:66:27:e8\"}" },
	{ "{\"PublicIP\":\"192.168.100.1\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}",
	  "192.168.100.1", NULL, "host-gw", NULL, NULL },
	{ "{\"PublicIP\":\"192.168.100.1\",\"PublicIPv6\":null}", "192.168.100.1", NULL, "", NULL,
	  NULL },
	{ "{\"PublicIP\":\"192.0.2.2\",\"PublicIPv6\":null}", "192.0.2.2", NULL, "", NULL, NULL },
	{ "{\"PublicIP\":\"192.0.2.2\",\"PublicIPv6\":null,\"BackendType\":\"ipip\"}", "192.0.2.2",
	  NULL, "ipip", NULL, NULL },
	{ "{\"PublicIP\":\"192.0.2.2\",\"PublicIPv6\":\"fd00::2\",\"BackendType\":\"wireguard\","
	  "\"BackendData\":{\"PublicKey\":\"abc+/=\",\"Port\":51820},"
	  "\"BackendV6Data\":{\"PublicKey\":\"abc+/=\",\"Port\":51821}}",
	  "192.0.2.2", "fd00::2", "wireguard", "{\"PublicKey\":\"abc+/=\",\"Port\":51820}",
	  "{\"PublicKey\":\"abc+/=\",\"Port\":51821}" },
};

static void build_attrs(const struct lease_case *c, struct lease_attrs *a)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(ip4_parse(c->pub4, &a->public_ip), 0);
	if (c->pub6) {
		a->has_public_ipv6 = true;
		assert_int_equal(ip6_parse(c->pub6, &a->public_ipv6), 0);
	}
	strcpy(a->backend_type, c->type);
	a->backend_data = c->data ? strdup(c->data) : NULL;
	a->backend_v6_data = c->data6 ? strdup(c->data6) : NULL;
}

static void test_lease_format_exact(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(leases) / sizeof(leases[0]); i++) {
		struct lease_attrs a;
		char *s;

		build_attrs(&leases[i], &a);
		s = lease_attrs_format(&a);
		assert_non_null(s);
		assert_string_equal(s, leases[i].value);
		free(s);
		lease_attrs_free(&a);
	}
}

static void test_lease_parse_exact(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(leases) / sizeof(leases[0]); i++) {
		const struct lease_case *c = &leases[i];
		struct lease_attrs a, want;
		char err[256];
		char *s;

		assert_int_equal(
			lease_attrs_parse(c->value, strlen(c->value), &a, err, sizeof(err)), 0);
		build_attrs(c, &want);
		assert_true(lease_attrs_equal(&a, &want));
		if (c->data)
			assert_string_equal(a.backend_data, c->data);
		else
			assert_null(a.backend_data);
		s = lease_attrs_format(&a);
		assert_string_equal(s, c->value);
		free(s);
		lease_attrs_free(&a);
		lease_attrs_free(&want);
	}
}

static void test_lease_go_escapes(void **state)
{
	struct lease_attrs a = { 0 };
	char *s;

	a.public_ip = 0x01020304;
	strcpy(a.backend_type, "a<b>&\"\\\x01\n\x7f");
	a.backend_data = strdup("{ \"k\" : \"<&>\\u003C\\n\xe2\x80\xa8\" ,\n \"n\": 1.50 }");
	s = lease_attrs_format(&a);
	assert_string_equal(s, "{\"PublicIP\":\"1.2.3.4\",\"PublicIPv6\":null,"
			       "\"BackendType\":\"a\\u003cb\\u003e\\u0026\\\"\\\\\\u0001\\n\x7f\","
			       "\"BackendData\":{\"k\":\"\\u003c\\u0026\\u003e\\u003C\\n\\u2028\","
			       "\"n\":1.50}}");
	free(s);
	lease_attrs_free(&a);
}

static void test_lease_format_errors(void **state)
{
	struct lease_attrs a = { 0 };
	char *s;

	a.backend_data = strdup("{not json");
	errno = 0;
	assert_null(lease_attrs_format(&a));
	assert_int_equal(errno, EINVAL);
	lease_attrs_free(&a);
	lease_attrs_free(&a);
	lease_attrs_free(NULL);
	/* An empty string is "no data", like a nil RawMessage. */
	a.backend_data = strdup("");
	s = lease_attrs_format(&a);
	assert_string_equal(s, "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":null}");
	free(s);
	lease_attrs_free(&a);
}

static void parse_ok(const char *json, struct lease_attrs *a)
{
	char err[256] = "";

	if (lease_attrs_parse(json, strlen(json), a, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json, err);
}

static void parse_bad(const char *json, const char *want)
{
	struct lease_attrs a;
	char err[256] = "";

	if (lease_attrs_parse(json, strlen(json), &a, err, sizeof(err)) != -EINVAL)
		fail_msg("%s: should be rejected", json);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("%s: error \"%s\", want \"%s...\"", json, err, want);
}

static void test_lease_parse_go_rules(void **state)
{
	struct lease_attrs a;
	char buf[IP_STRLEN];

	parse_ok("{\"publicip\":\"10.0.0.1\",\"BACKENDTYPE\":\"vxlan\",\"extra\":[1,{\"a\":2}],"
		 "\"backenddata\": { \"VNI\" : 4096 , \"VtepMAC\" : \"aa:bb:cc:dd:ee:ff\" } }",
		 &a);
	assert_int_equal(a.public_ip, 0x0a000001);
	assert_false(a.has_public_ipv6);
	assert_string_equal(a.backend_type, "vxlan");
	assert_string_equal(a.backend_data, "{\"VNI\":4096,\"VtepMAC\":\"aa:bb:cc:dd:ee:ff\"}");
	assert_null(a.backend_v6_data);
	lease_attrs_free(&a);

	/* Last duplicate wins, exact duplicates included; null leaves a string alone. */
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"PublicIP\":\"10.0.0.2\",\"BackendType\":\"vxlan\","
		 "\"BackendType\":null,\"BackendData\":1,\"BackendData\":2}",
		 &a);
	assert_int_equal(a.public_ip, 0x0a000002);
	assert_string_equal(a.backend_type, "vxlan");
	assert_string_equal(a.backend_data, "2");
	lease_attrs_free(&a);

	/* PublicIPv6 null is fine; a later null clears an earlier value. */
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"fd00::1\",\"PublicIPv6\":null}", &a);
	assert_false(a.has_public_ipv6);
	lease_attrs_free(&a);
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"FD00:0::1\"}", &a);
	assert_true(a.has_public_ipv6);
	assert_string_equal(ip6_format(&a.public_ipv6, buf), "fd00::1");
	lease_attrs_free(&a);

	/* BackendData null is a RawMessage "null", written back as such. */
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"BackendData\":null}", &a);
	assert_string_equal(a.backend_data, "null");
	{
		char *s = lease_attrs_format(&a);

		assert_string_equal(s, "{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":null,"
				       "\"BackendData\":null}");
		free(s);
	}
	lease_attrs_free(&a);

	/* To4() takes the IPv4-mapped form; IPv6-only leases say 0.0.0.0. */
	parse_ok("{\"PublicIP\":\"::ffff:10.0.0.9\"}", &a);
	assert_int_equal(a.public_ip, 0x0a000009);
	lease_attrs_free(&a);
	parse_ok("{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00::1\"}", &a);
	assert_int_equal(a.public_ip, 0);
	lease_attrs_free(&a);

	/* BackendType of exactly 31 bytes fits. */
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890\"}",
		 &a);
	assert_string_equal(a.backend_type, "0123456789012345678901234567890");
	lease_attrs_free(&a);
}

static void test_lease_parse_junk(void **state)
{
	parse_bad("notjson", "invalid JSON");
	parse_bad("", "invalid JSON");
	parse_bad("{", "invalid JSON");
	parse_bad("{\"PublicIP\":\"10.0.0.1\"", "invalid JSON");
	parse_bad("{\"PublicIP\":\"10.0.0.1\"}x", "invalid JSON");
	parse_bad("{\"PublicIP\":\"10.0.0.1\",}", "invalid JSON");
	parse_bad("[]", "json: cannot unmarshal array into Go value of type subnet.LeaseAttrs");
	parse_bad("5", "json: cannot unmarshal number into Go value of type subnet.LeaseAttrs");
	parse_bad("\"x\"", "json: cannot unmarshal string");
	parse_bad("null", "PublicIP is missing");
	parse_bad("{}", "PublicIP is missing");
	parse_bad("{\"PublicIPv6\":\"fd00::1\"}", "PublicIP is missing");
	parse_bad("{\"PublicIP\":null}", "PublicIP: invalid IP address format");
	parse_bad("{\"PublicIP\":\"\"}", "PublicIP: invalid IP address format");
	parse_bad("{\"PublicIP\":5}", "PublicIP: invalid IP address format");
	parse_bad("{\"PublicIP\":{}}", "PublicIP: invalid IP address format");
	parse_bad("{\"PublicIP\":\"fc00::1\"}", "PublicIP: invalid IPv4 address format");
	parse_bad("{\"PublicIP\":\"10.0.0.256\"}", "PublicIP: invalid IP address format");
	parse_bad("{\"PublicIP\":\"10.0.0.1\\u0000\"}", "PublicIP: invalid IP address format");
	parse_bad("{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"bogus\"}",
		  "PublicIPv6: invalid IP address format");
	parse_bad("{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":7}",
		  "PublicIPv6: invalid IP address format");
	parse_bad(
		"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":5}",
		"json: cannot unmarshal number into Go struct field LeaseAttrs.BackendType of type "
		"string");
	parse_bad("{\"BackendType\":5,\"PublicIP\":\"10.0.0.1\"}", "json: cannot unmarshal number");
	parse_bad(
		"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890x\"}",
		"BackendType is longer than 31 bytes");
	parse_bad("{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"vxlan\\u0000\"}",
		  "BackendType contains a NUL byte");
	parse_bad("{\"PublicIP\":\"10.0.0.1\",\"a\":\"\xff\"}", "invalid JSON");
}

static void test_lease_parse_length(void **state)
{
	const char *v = "{\"PublicIP\":\"10.0.0.1\"}trailing";
	struct lease_attrs a;
	char err[64];

	assert_int_equal(lease_attrs_parse(v, 23, &a, err, sizeof(err)), 0);
	lease_attrs_free(&a);
	assert_int_equal(lease_attrs_parse(v, 22, &a, err, sizeof(err)), -EINVAL);
	assert_int_equal(lease_attrs_parse(NULL, 0, &a, err, sizeof(err)), -EINVAL);
	/*
	 * Found by fuzz_lease: a raw NUL between tokens passed jansson and cut
	 * the kept BackendData short (Go refuses any raw NUL).
	 */
	{
		static const char nul[] =
			"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"vxlan\","
			"\"BackendData\":{\"VNI\":1\0,\"VtepMAC\":\"0a:00:00:00:00:01\"}}";
		char e2[128];

		assert_int_equal(lease_attrs_parse(nul, sizeof(nul) - 1, &a, e2, sizeof(e2)),
				 -EINVAL);
		assert_non_null(strstr(e2, "NUL byte"));
	}
	assert_int_equal(lease_attrs_parse("{}", 2, &a, NULL, 0), -EINVAL);
	/* A tiny err buffer truncates, it does not overflow. */
	assert_int_equal(lease_attrs_parse("{}", 2, &a, err, 4), -EINVAL);
	assert_int_equal(strlen(err), 3);
}

static void test_lease_equal(void **state)
{
	struct lease_attrs a, b;

	build_attrs(&leases[1], &a);
	build_attrs(&leases[1], &b);
	assert_true(lease_attrs_equal(&a, &b));
	b.public_ipv6.b[15] ^= 1;
	assert_false(lease_attrs_equal(&a, &b));
	b.public_ipv6.b[15] ^= 1;
	b.backend_type[0] = 'X';
	assert_false(lease_attrs_equal(&a, &b));
	b.backend_type[0] = 'v';
	free(b.backend_v6_data);
	b.backend_v6_data = NULL;
	assert_false(lease_attrs_equal(&a, &b));
	b.backend_v6_data = strdup("");
	assert_false(lease_attrs_equal(&a, &b));
	free(a.backend_v6_data);
	a.backend_v6_data = NULL;
	/* NULL and "" both mean "absent". */
	assert_true(lease_attrs_equal(&a, &b));
	b.public_ip++;
	assert_false(lease_attrs_equal(&a, &b));
	lease_attrs_free(&a);
	lease_attrs_free(&b);
}

/* splitmix64: a fixed, portable stream for the robustness loops. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Mutated real values and keys must never crash (ASan/UBSan watch this). */
static void test_never_crash(void **state)
{
	static const char alphabet[] = "{}[]\":,\\ .-&0123456789abcdefPublicIPv6nulltruex\x00\xff";
	uint64_t seed = 42;
	char buf[256];
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		const char *base = leases[iter % (sizeof(leases) / sizeof(leases[0]))].value;
		size_t len = strlen(base), i, n;
		struct lease_attrs a;
		struct subnet_key k;
		char err[128];

		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, base, len);
		n = 1 + next_rand(&seed) % 4;
		for (i = 0; i < n; i++)
			buf[next_rand(&seed) % len] =
				alphabet[next_rand(&seed) % (sizeof(alphabet) - 1)];
		n = next_rand(&seed) % (len + 1);
		if (lease_attrs_parse(buf, n, &a, err, sizeof(err)) == 0) {
			char *s = lease_attrs_format(&a);

			free(s);
			lease_attrs_free(&a);
		}
		if (subnet_key_parse(buf, n, &k) == 0) {
			char kb[128];

			assert_true(subnet_key_format(&k, kb, sizeof(kb)) > 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_key_values),
		cmocka_unit_test(test_key_unanchored),
		cmocka_unit_test(test_key_invalid),
		cmocka_unit_test(test_key_format_nospc),
		cmocka_unit_test(test_key_format_matches_snprintf),
		cmocka_unit_test(test_lease_format_exact),
		cmocka_unit_test(test_lease_parse_exact),
		cmocka_unit_test(test_lease_go_escapes),
		cmocka_unit_test(test_lease_format_errors),
		cmocka_unit_test(test_lease_parse_go_rules),
		cmocka_unit_test(test_lease_parse_junk),
		cmocka_unit_test(test_lease_parse_length),
		cmocka_unit_test(test_lease_equal),
		cmocka_unit_test(test_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
