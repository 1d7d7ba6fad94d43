/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for config.c: upstream's config_test.go cases and the extended truth table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "config.h"
#include "jsonutil.h"

static int parse(const char *json, struct netconf *conf, char *err, size_t errlen)
{
	return netconf_parse(json, strlen(json), conf, err, errlen);
}

static void expect_ok(const char *json, struct netconf *conf)
{
	char err[256] = "";

	if (parse(json, conf, err, sizeof(err)) != 0)
		fail_msg("%s: unexpected error: %s", json, err);
}

static void expect_err(const char *json, const char *want)
{
	struct netconf conf;
	char err[256] = "";

	if (parse(json, &conf, err, sizeof(err)) != -EINVAL)
		fail_msg("%s: expected error \"%s\"", json, want);
	if (strcmp(err, want) != 0)
		fail_msg("%s: error \"%s\", want \"%s\"", json, err, want);
}

static void expect_err_prefix(const char *json, const char *want)
{
	struct netconf conf;
	char err[256] = "";

	assert_int_equal(parse(json, &conf, err, sizeof(err)), -EINVAL);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("%s: error \"%s\", want prefix \"%s\"", json, err, want);
}

static void check_str(const char *ctx, const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s is %s, want %s", ctx, what, got, want);
}

static void check_v4(const char *ctx, const struct netconf *c, const char *net, unsigned len,
		     const char *min, const char *max)
{
	char buf[IP_STRLEN];

	if (net)
		check_str(ctx, "Network", ip4net_format(&c->network, buf), net);
	if (c->subnet_len != len)
		fail_msg("%s: SubnetLen is %u, want %u", ctx, c->subnet_len, len);
	check_str(ctx, "SubnetMin", ip4_format(c->subnet_min, buf), min);
	check_str(ctx, "SubnetMax", ip4_format(c->subnet_max, buf), max);
}

static void check_v6(const char *ctx, const struct netconf *c, const char *net, unsigned len,
		     const char *min, const char *max)
{
	char buf[IP_STRLEN];

	if (net)
		check_str(ctx, "IPv6Network", ip6net_format(&c->ipv6_network, buf), net);
	if (c->ipv6_subnet_len != len)
		fail_msg("%s: IPv6SubnetLen is %u, want %u", ctx, c->ipv6_subnet_len, len);
	check_str(ctx, "IPv6SubnetMin", ip6_format(&c->ipv6_subnet_min, buf), min);
	check_str(ctx, "IPv6SubnetMax", ip6_format(&c->ipv6_subnet_max, buf), max);
}

#define assert_v4(c, ...) check_v4(__func__, c, __VA_ARGS__)
#define assert_v6(c, ...) check_v6(__func__, c, __VA_ARGS__)

/* §2.4: flannel's subnet/config_test.go */
static void test_config_defaults(void **state)
{
	struct netconf c;

	expect_ok("{ \"network\": \"10.3.0.0/16\" }", &c);
	assert_true(c.enable_ipv4);
	assert_false(c.enable_ipv6);
	assert_v4(&c, "10.3.0.0/16", 24, "10.3.1.0", "10.3.255.0");
	assert_string_equal(c.backend_type, "udp");
	assert_string_equal(c.backend_json, "{}");
	netconf_free(&c);
}

static void test_ipv6_config_defaults(void **state)
{
	struct netconf c;

	expect_ok("{ \"enableIPv6\": true, \"ipv6Network\": \"fc00::/48\", \"enableIPv4\": false }",
		  &c);
	assert_false(c.enable_ipv4);
	assert_true(c.enable_ipv6);
	assert_v6(&c, "fc00::/48", 64, "fc00:0:0:1::", "fc00:0:0:ffff::");
	netconf_free(&c);
}

static void test_config_overrides(void **state)
{
	struct netconf c;

	expect_ok("{ \"Network\": \"10.3.0.0/16\", \"SubnetMin\": \"10.3.5.0\", "
		  "\"SubnetMax\": \"10.3.8.0\", \"SubnetLen\": 28 }",
		  &c);
	assert_v4(&c, "10.3.0.0/16", 28, "10.3.5.0", "10.3.8.0");
	netconf_free(&c);
}

static void test_ipv6_config_overrides(void **state)
{
	struct netconf c;

	expect_ok("{ \"EnableIPv6\": true, \"IPv6Network\": \"fc00::/48\", "
		  "\"IPv6SubnetMin\": \"fc00:0:0:1::\", \"IPv6SubnetMax\": \"fc00:0:0:f::\", "
		  "\"IPv6SubnetLen\": 124, \"enableIPv4\": false }",
		  &c);
	assert_v6(&c, "fc00::/48", 124, "fc00:0:0:1::", "fc00:0:0:f::");
	netconf_free(&c);
}

/* §2.5 truth table; a NULL err means the row must pass. */
struct row {
	const char *json;
	const char *err;
	unsigned len;
	const char *min, *max;
	const char *net;
};

#define V6(x) "{\"EnableIPv4\":false,\"EnableIPv6\":true," x "}"

#define OK(j, l, mn, mx, n)                                                                        \
	{                                                                                          \
		.json = (j), .len = (l), .min = (mn), .max = (mx), .net = (n)                      \
	}
#define ERR(j, e)                                                                                  \
	{                                                                                          \
		.json = (j), .err = (e)                                                            \
	}

static const struct row v4_rows[] = {
	OK("{\"Network\":\"10.0.0.0/8\"}", 24, "10.0.1.0", "10.255.255.0", NULL),
	OK("{\"Network\":\"10.3.0.0/22\"}", 24, "10.3.1.0", "10.3.3.0", NULL),
	OK("{\"Network\":\"10.3.0.0/23\"}", 25, "10.3.0.128", "10.3.1.128", NULL),
	OK("{\"Network\":\"10.3.0.0/24\"}", 26, "10.3.0.64", "10.3.0.192", NULL),
	OK("{\"Network\":\"10.3.0.0/28\"}", 30, "10.3.0.4", "10.3.0.12", NULL),
	ERR("{\"Network\":\"10.3.0.0/29\"}",
	    "network is too small. Minimum useful network prefix is /28"),
	OK("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":30}", 30, "10.3.0.4", "10.3.255.252", NULL),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":31}", "SubnetLen must be less than /31"),
	OK("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":18}", 18, "10.3.64.0", "10.3.192.0", NULL),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":17}",
	    "network must be able to accommodate at least four subnets"),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":8}",
	    "network must be able to accommodate at least four subnets"),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"10.4.0.0\"}",
	    "SubnetMin is not in the range of the Network"),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetMax\":\"10.4.0.0\"}",
	    "SubnetMax is not in the range of the Network"),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"10.3.0.128\"}",
	    "SubnetMin is not on a SubnetLen boundary: 10.3.0.128"),
	ERR("{\"Network\":\"10.3.0.0/16\",\"SubnetMax\":\"10.3.0.128\"}",
	    "SubnetMax is not on a SubnetLen boundary: 10.3.0.128"),
	OK("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"10.3.0.0\"}", 24, "10.3.0.0", "10.3.255.0",
	   NULL),
	OK("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"0.0.0.0\"}", 24, "10.3.1.0", "10.3.255.0",
	   NULL),
	OK("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"10.3.8.0\",\"SubnetMax\":\"10.3.5.0\"}",
	   24, "10.3.8.0", "10.3.5.0", NULL),
	OK("{\"Network\":\"10.3.1.5/16\"}", 24, "10.3.1.0", "10.3.255.0", "10.3.0.0/16"),
	ERR("{\"Network\":\"0.0.0.0/0\"}",
	    "please define a correct Network parameter in the flannel config"),
	ERR("{}", "please define a correct Network parameter in the flannel config"),
	ERR("{\"Network\":\"10.3.0.0\"}", "invalid CIDR address: 10.3.0.0"),
	OK("{\"NETWORK\":\"10.3.0.0/16\",\"SUBNETLEN\":26,\"bogus\":1}", 26, "10.3.0.64",
	   "10.3.255.192", "10.3.0.0/16"),
	/* Wrap-around at the top of the space is Go's uint32 arithmetic too. */
	OK("{\"Network\":\"255.255.0.0/16\"}", 24, "255.255.1.0", "255.255.255.0", NULL),
	OK("{\"Network\":\"128.0.0.0/1\"}", 24, "128.0.1.0", "255.255.255.0", NULL),
};

static const struct row v6_rows[] = {
	OK(V6("\"IPv6Network\":\"fc00::/62\""), 64, "fc00:0:0:1::", "fc00:0:0:3::", NULL),
	OK(V6("\"IPv6Network\":\"fc00::/63\""), 65, "fc00::8000:0:0:0", "fc00:0:0:1:8000::", NULL),
	OK(V6("\"IPv6Network\":\"fc00::/124\""), 126, "fc00::4", "fc00::c", NULL),
	ERR(V6("\"IPv6Network\":\"fc00::/125\""),
	    "IPv6Network is too small. Minimum useful network prefix is /124"),
	ERR(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetLen\":127"),
	    "SubnetLen must be less than /127"),
	ERR(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetLen\":49"),
	    "network must be able to accommodate at least four subnets"),
	ERR(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":\"fc00:0:0:1::1\""),
	    "IPv6SubnetMin is not on a SubnetLen boundary: fc00:0:0:1::1"),
	ERR(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMax\":\"fc00:0:0:1::1\""),
	    "IPv6SubnetMax is not on a SubnetLen boundary: fc00:0:0:1::1"),
	ERR(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":\"fc01::\""),
	    "IPv6SubnetMin is not in the range of the IPv6Network"),
	ERR(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMax\":\"fc01::\""),
	    "IPv6SubnetMax is not in the range of the IPv6Network"),
	OK(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":\"::\""), 64,
	   "fc00:0:0:1::", "fc00:0:0:ffff::", NULL),
	OK(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":null"), 64,
	   "fc00:0:0:1::", "fc00:0:0:ffff::", NULL),
	OK(V6("\"IPv6Network\":\"fc00::1/48\""), 64,
	   "fc00:0:0:1::", "fc00:0:0:ffff::", "fc00::/48"),
	OK(V6("\"IPv6Network\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124\""), 126,
	   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc",
	   NULL),
	ERR("{\"EnableIPv4\":false,\"EnableIPv6\":true}",
	    "please define a correct IPv6Network parameter in the flannel config"),
	ERR(V6("\"IPv6Network\":\"::/0\""),
	    "please define a correct IPv6Network parameter in the flannel config"),
};

static void run_rows(const struct row *rows, size_t n, bool v6)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct netconf c;

		if (rows[i].err) {
			expect_err(rows[i].json, rows[i].err);
			continue;
		}
		expect_ok(rows[i].json, &c);
		if (v6)
			check_v6(rows[i].json, &c, rows[i].net, rows[i].len, rows[i].min,
				 rows[i].max);
		else
			check_v4(rows[i].json, &c, rows[i].net, rows[i].len, rows[i].min,
				 rows[i].max);
		netconf_free(&c);
	}
}

static void test_truth_table_v4(void **state)
{
	run_rows(v4_rows, sizeof(v4_rows) / sizeof(v4_rows[0]), false);
}

static void test_truth_table_v6(void **state)
{
	run_rows(v6_rows, sizeof(v6_rows) / sizeof(v6_rows[0]), true);
}

static void test_both_disabled(void **state)
{
	struct netconf c;

	expect_ok("{\"EnableIPv4\":false}", &c);
	assert_false(c.enable_ipv4);
	assert_false(c.enable_ipv6);
	netconf_free(&c);
	/* Nothing is checked for a disabled family, not even a bad length. */
	expect_ok("{\"EnableIPv4\":false,\"Network\":\"10.3.0.0/30\",\"SubnetLen\":99}", &c);
	netconf_free(&c);
}

static void test_dual_stack(void **state)
{
	struct netconf c;

	expect_ok("{\"Network\":\"10.5.0.0/16\",\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\","
		  "\"Backend\":{\"Type\":\"vxlan\"}}",
		  &c);
	assert_v4(&c, "10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
	assert_v6(&c, "fc00::/48", 64, "fc00:0:0:1::", "fc00:0:0:ffff::");
	assert_string_equal(c.backend_type, "vxlan");
	netconf_free(&c);
}

/* §2.1 decoding rules */
static void test_last_duplicate_wins(void **state)
{
	struct netconf c;

	expect_ok("{\"Network\":\"10.1.0.0/16\",\"network\":\"10.2.0.0/16\"}", &c);
	assert_v4(&c, "10.2.0.0/16", 24, "10.2.1.0", "10.2.255.0");
	netconf_free(&c);
	/* Exact duplicates too, which jansson alone would collapse to the first position. */
	expect_ok("{\"Network\":\"10.1.0.0/16\",\"network\":\"10.2.0.0/16\","
		  "\"Network\":\"10.3.0.0/16\",\"NetWork\":\"10.4.0.0/16\",\"Network\":\"10.5.0.0/"
		  "16\"}",
		  &c);
	assert_v4(&c, "10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");
	netconf_free(&c);
	/* A later null leaves a plain field alone. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":26,\"subnetlen\":null}", &c);
	assert_int_equal(c.subnet_len, 26);
	netconf_free(&c);
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"EnableIPv4\":null}", &c);
	assert_true(c.enable_ipv4);
	netconf_free(&c);
}

static void test_case_folding(void **state)
{
	struct netconf c;

	/* Go's foldName also matches U+017F to 's' and U+212A to 'k'. */
	expect_ok("{\"networ\xe2\x84\xaa\":\"10.3.0.0/16\",\"\xc5\xbfubnetlen\":26}", &c);
	assert_v4(&c, "10.3.0.0/16", 26, "10.3.0.64", "10.3.255.192");
	netconf_free(&c);
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"\\u017fubnetLen\":25}", &c);
	assert_int_equal(c.subnet_len, 25);
	netconf_free(&c);
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"enable\xc4\xb1pv6\":false}", &c);
	netconf_free(&c);
	/* Near misses are unknown keys, so ignored. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Subnet_Len\":\"x\",\"SubnetLen \":\"x\"}", &c);
	assert_int_equal(c.subnet_len, 24);
	netconf_free(&c);
	/* BackendType is json:"-" in Go's struct. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"BackendType\":\"vxlan\"}", &c);
	assert_string_equal(c.backend_type, "udp");
	netconf_free(&c);
}

static void test_strict_types(void **state)
{
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":\"24\"}",
		"json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":-1}",
		   "json: cannot unmarshal number -1 into Go struct field Config.SubnetLen of type "
		   "uint");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":24.5}",
		   "json: cannot unmarshal number 24.5 into Go struct field Config.SubnetLen of "
		   "type uint");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":1e2}",
		   "json: cannot unmarshal number 1e2 into Go struct field Config.SubnetLen of "
		   "type uint");
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":true}",
		"json: cannot unmarshal bool into Go struct field Config.SubnetLen of type uint");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"IPv6SubnetLen\":[]}",
		   "json: cannot unmarshal array into Go struct field Config.IPv6SubnetLen of type "
		   "uint");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"EnableIPv4\":\"true\"}",
		   "json: cannot unmarshal string into Go struct field Config.EnableIPv4 of type "
		   "bool");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"EnableIPv6\":1}",
		   "json: cannot unmarshal number into Go struct field Config.EnableIPv6 of type "
		   "bool");
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"enablenftables\":{}}",
		"json: cannot unmarshal object into Go struct field Config.EnableNFTables of type "
		"bool");
	/* Too big for uint64 is a type error too, as ParseUint fails. */
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":99999999999999999999}",
		   "json: cannot unmarshal number 99999999999999999999 into Go struct field "
		   "Config.SubnetLen of type uint");
	/* Within uint64, a huge length reaches the check. */
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":18446744073709551615}",
		   "SubnetLen must be less than /31");
}

/* Go remembers the first type error but an UnmarshalJSON error aborts at once. */
static void test_error_precedence(void **state)
{
	expect_err("{\"SubnetLen\":\"x\",\"Network\":\"bad\"}", "invalid CIDR address: bad");
	expect_err(
		"{\"SubnetLen\":\"x\",\"EnableIPv4\":1,\"Network\":\"10.3.0.0/16\"}",
		"json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint");
	/* A type error is not undone by a later good value. */
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"SubnetLen\":\"x\",\"SubnetLen\":24}",
		"json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint");
	/* The decode error wins over a Backend error, which wins over the checks. */
	expect_err_prefix("{\"Backend\":5,\"SubnetLen\":\"x\"}", "json: cannot unmarshal string");
	expect_err_prefix("{\"Backend\":5,\"SubnetLen\":99}",
			  "error decoding Backend property of config: ");
}

static void test_null_and_bad_ip_fields(void **state)
{
	expect_err("{\"Network\":null}", "invalid CIDR address: null");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":null}", "invalid IP address format");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetMax\":null}", "invalid IP address format");
	expect_err(V6("\"IPv6Network\":null"), "invalid CIDR address: null");
	expect_err("{\"Network\":\"\"}", "invalid CIDR address: ");
	expect_err("{\"Network\":5}", "invalid CIDR address: 5");
	expect_err("{\"Network\":true}", "invalid CIDR address: true");
	/* The raw bytes are what Go parses, escapes included. */
	expect_err("{\"Network\":\"10.3.0.0\\/16\"}", "invalid CIDR address: 10.3.0.0\\/16");
	expect_err("{\"Network\":\"fc00::/48\"}", "invalid IPv4 CIDR format");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"fc00::\"}",
		   "invalid IPv4 address format");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"10.3.5\"}",
		   "invalid IP address format");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"010.3.5.0\"}",
		   "invalid IP address format");
	expect_err(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":\"fc00::g\""),
		   "invalid IP address format");
	expect_err(V6("\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":5"),
		   "invalid IP address format");
}

static void test_go_quirks(void **state)
{
	struct netconf c;

	/* net.ParseIP + To4 takes an IPv4-mapped literal as IPv4. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"SubnetMin\":\"::ffff:10.3.5.0\"}", &c);
	assert_v4(&c, NULL, 24, "10.3.5.0", "10.3.255.0");
	netconf_free(&c);
	/* A top-level null decodes to nothing, leaving the defaults. */
	expect_err("null", "please define a correct Network parameter in the flannel config");
}

static void test_document_errors(void **state)
{
	struct netconf c;
	char err[256];

	expect_err("[]", "json: cannot unmarshal array into Go value of type subnet.Config");
	expect_err("\"x\"", "json: cannot unmarshal string into Go value of type subnet.Config");
	expect_err_prefix("{\"Network\":\"10.3.0.0/16\"} x", "invalid JSON");
	expect_err_prefix("{\"Network\":\"10.3.0.0/16\"", "invalid JSON");
	expect_err_prefix("", "invalid JSON");
	expect_err_prefix("{\"Network\":\"10.3.0.0/16\",}", "invalid JSON");
	expect_err_prefix("notjson", "invalid JSON");
	assert_int_equal(netconf_parse(NULL, 0, &c, err, sizeof(err)), -EINVAL);
	/* A NULL err buffer is allowed. */
	assert_int_equal(netconf_parse("{}", 2, &c, NULL, 0), -EINVAL);
	/* Trailing whitespace is fine, and the length is honoured. */
	expect_ok(" {\"Network\":\"10.3.0.0/16\"}\n\t ", &c);
	netconf_free(&c);
	assert_int_equal(
		netconf_parse("{\"Network\":\"10.3.0.0/16\"}garbage", 25, &c, err, sizeof(err)), 0);
	netconf_free(&c);
}

static void test_backend(void **state)
{
	struct netconf c;

	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Backend\":{}}", &c);
	assert_string_equal(c.backend_type, "");
	assert_string_equal(c.backend_json, "{}");
	netconf_free(&c);

	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":\"VXLAN\",\"VNI\":2}}", &c);
	assert_string_equal(c.backend_type, "VXLAN");
	assert_string_equal(c.backend_json, "{\"Type\":\"VXLAN\",\"VNI\":2}");
	netconf_free(&c);

	/* Compacted, raw numbers kept, key order kept, Type read case-insensitively. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"backend\": { \"VNI\" : 1.50 ,\n"
		  " \"type\" : \"host-gw\", \"Port\": 1e3, \"x\":\"a b<&>\" } }",
		  &c);
	assert_string_equal(c.backend_type, "host-gw");
	assert_string_equal(c.backend_json, "{\"VNI\":1.50,\"type\":\"host-gw\",\"Port\":1e3,"
					    "\"x\":\"a b\\u003c\\u0026\\u003e\"}");
	netconf_free(&c);

	/* The last Type wins; a null Type leaves it. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":\"udp\",\"TYPE\":\"vxlan\","
		  "\"type\":null}}",
		  &c);
	assert_string_equal(c.backend_type, "vxlan");
	netconf_free(&c);

	/* null is a RawMessage of "null": no Type, no error. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Backend\":null}", &c);
	assert_string_equal(c.backend_type, "");
	assert_string_equal(c.backend_json, "null");
	netconf_free(&c);

	/* The last Backend wins. */
	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":\"udp\"},"
		  "\"backend\":{\"Type\":\"alloc\"}}",
		  &c);
	assert_string_equal(c.backend_type, "alloc");
	assert_string_equal(c.backend_json, "{\"Type\":\"alloc\"}");
	netconf_free(&c);
}

static void test_backend_errors(void **state)
{
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"Backend\":\"vxlan\"}",
		"error decoding Backend property of config: json: cannot unmarshal string into Go "
		"value of type struct { Type string }");
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"Backend\":[]}",
		"error decoding Backend property of config: json: cannot unmarshal array into Go "
		"value of type struct { Type string }");
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"Backend\":5}",
		"error decoding Backend property of config: json: cannot unmarshal number into Go "
		"value of type struct { Type string }");
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":5}}",
		"error decoding Backend property of config: json: cannot unmarshal number into Go "
		"struct field .Type of type string");
	expect_err(
		"{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":\"vxlan\",\"type\":[1]}}",
		"error decoding Backend property of config: json: cannot unmarshal array into Go "
		"struct field .Type of type string");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":"
		   "\"0123456789012345678901234567890123456789\"}}",
		   "error decoding Backend property of config: Type is longer than 31 bytes");
	expect_err("{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":\"vxlan\\u0000x\"}}",
		   "error decoding Backend property of config: Type contains a NUL byte");
}

static void test_backend_type_max(void **state)
{
	struct netconf c;

	expect_ok("{\"Network\":\"10.3.0.0/16\",\"Backend\":{\"Type\":"
		  "\"0123456789012345678901234567890\"}}",
		  &c);
	assert_string_equal(c.backend_type, "0123456789012345678901234567890");
	netconf_free(&c);
}

static void test_nftables_and_v6_family(void **state)
{
	struct netconf c;

	expect_ok("{\"Network\":\"10.3.0.0/16\",\"EnableNFTables\":true}", &c);
	assert_true(c.enable_nftables);
	netconf_free(&c);
	/* IPv6Network is not checked for family: IPv4 lands IPv4-mapped. */
	expect_ok("{\"EnableIPv4\":false,\"IPv6Network\":\"10.1.2.3/8\"}", &c);
	assert_int_equal(c.ipv6_network.len, 8);
	assert_int_equal(c.ipv6_network.addr.b[10], 0xff);
	assert_int_equal(c.ipv6_network.addr.b[12], 10);
	assert_int_equal(c.ipv6_network.addr.b[13], 0);
	netconf_free(&c);
	netconf_free(NULL);
}

/* jsonutil.c is only reachable through config.c and subnet.c, so its own checks live here. */
static void test_jsonu_name_eq(void **state)
{
	assert_true(jsonu_name_eq("subnetlen", 9, "SubnetLen"));
	assert_true(jsonu_name_eq("SUBNETLEN", 9, "SubnetLen"));
	assert_true(jsonu_name_eq("\xc5\xbfubnetLen", 10, "SubnetLen"));
	assert_true(jsonu_name_eq("Bac\xe2\x84\xaa"
				  "end",
				  9, "Backend"));
	assert_true(jsonu_name_eq("\xc4\xb0Pv6Network", 12, "IPv6Network"));
	assert_false(jsonu_name_eq("SubnetLe", 8, "SubnetLen"));
	assert_false(jsonu_name_eq("SubnetLenX", 10, "SubnetLen"));
	assert_false(jsonu_name_eq("Subnet\xc5", 7, "SubnetS"));
	assert_false(jsonu_name_eq("", 0, "X"));
	assert_true(jsonu_name_eq("", 0, ""));
	assert_false(jsonu_name_eq("Type\0", 5, "Type"));
}

static void test_jsonu_iter(void **state)
{
	const char *doc =
		" { \"a\\u0041\" : [1, {\"x\": \"}\"}], \"b\":\"q\\\"}\" ,\"a\":null,\"n\":-1.5e3}";
	struct jsonu_iter it;
	struct jsonu_member m;

	assert_int_equal(jsonu_validate(doc, strlen(doc), NULL, 0), 0);
	assert_int_equal(jsonu_iter_init(&it, doc, strlen(doc)), 0);
	assert_int_equal(jsonu_iter_next(&it, &m), 1);
	assert_int_equal(m.key_len, 2);
	assert_memory_equal(m.key, "aA", 2);
	assert_int_equal(m.raw_len, strlen("[1, {\"x\": \"}\"}]"));
	assert_int_equal(jsonu_raw_kind(m.raw, m.raw_len), JSONU_ARRAY);
	assert_int_equal(jsonu_iter_next(&it, &m), 1);
	assert_memory_equal(m.raw, "\"q\\\"}\"", m.raw_len);
	assert_int_equal(jsonu_iter_next(&it, &m), 1);
	assert_int_equal(jsonu_raw_kind(m.raw, m.raw_len), JSONU_NULL);
	assert_int_equal(jsonu_iter_next(&it, &m), 1);
	assert_memory_equal(m.raw, "-1.5e3", m.raw_len);
	assert_int_equal(jsonu_iter_next(&it, &m), 0);
	assert_int_equal(jsonu_iter_next(&it, &m), 0);
	jsonu_iter_release(&it);
	assert_int_equal(jsonu_iter_init(&it, "[]", 2), -EINVAL);
	assert_int_equal(jsonu_iter_init(&it, "{}", 2), 0);
	assert_int_equal(jsonu_iter_next(&it, &m), 0);
	jsonu_iter_release(&it);
	/* Unvalidated garbage is refused, never overrun. */
	assert_int_equal(jsonu_iter_init(&it, "{\"a\":\"", 6), 0);
	assert_int_equal(jsonu_iter_next(&it, &m), -EINVAL);
	jsonu_iter_release(&it);
}

static void test_jsonu_scalars(void **state)
{
	uint64_t u = 7;
	bool b = false;
	char *s;
	size_t n;

	assert_int_equal(jsonu_raw_uint("24", 2, UINT64_MAX, &u), 0);
	assert_int_equal(u, 24);
	assert_int_equal(jsonu_raw_uint("null", 4, UINT64_MAX, &u), 1);
	assert_int_equal(u, 24);
	assert_int_equal(jsonu_raw_uint("65536", 5, 65535, &u), -EINVAL);
	assert_int_equal(jsonu_raw_uint("18446744073709551615", 20, UINT64_MAX, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(jsonu_raw_uint("18446744073709551616", 20, UINT64_MAX, &u), -EINVAL);
	assert_int_equal(jsonu_raw_uint("-0", 2, UINT64_MAX, &u), -EINVAL);
	assert_int_equal(jsonu_raw_uint("\"1\"", 3, UINT64_MAX, &u), -EINVAL);
	assert_int_equal(jsonu_raw_bool("true", 4, &b), 0);
	assert_true(b);
	assert_int_equal(jsonu_raw_bool("null", 4, &b), 1);
	assert_true(b);
	assert_int_equal(jsonu_raw_bool("0", 1, &b), -EINVAL);
	assert_int_equal(jsonu_raw_string("\"a\\u0000b\"", 10, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "a\0b", 4);
	free(s);
	assert_int_equal(jsonu_raw_string("1", 1, &s, &n), -EINVAL);
}

static void test_jsonu_encode(void **state)
{
	json_error_t e;
	json_t *v = json_loads("{\"b\":1,\"a\":\"<x>&\\u001f\\u2028\",\"B\":3,\"b\":4}", 0, &e);
	struct jsonu_buf b = { 0 };
	char *s;

	assert_non_null(v);
	/* jansson keeps the first position of a duplicate but the last value. */
	assert_int_equal(json_integer_value(jsonu_get(v, "b")), 3);
	assert_null(jsonu_get(v, "c"));
	s = jsonu_dumps(v);
	assert_string_equal(s, "{\"b\":4,\"a\":\"\\u003cx\\u003e\\u0026\\u001f\\u2028\",\"B\":3}");
	free(s);
	json_decref(v);

	s = jsonu_compact(" [ 1 , \"a b\" , { } ]\n", 21);
	assert_string_equal(s, "[1,\"a b\",{}]");
	free(s);

	jsonu_buf_add_quoted(&b, "\xff\xe2\x80\xa9\xc3\xa9\x08\x0c\t", 9);
	s = jsonu_buf_take(&b);
	assert_string_equal(s, "\"\\ufffd\\u2029\xc3\xa9\\b\\f\\t\"");
	free(s);
	s = jsonu_buf_take(&b);
	assert_string_equal(s, "");
	free(s);
}

/* splitmix64 */
static uint64_t next_rand(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Mutated configs must never crash and never leak (ASan watches). */
static void test_never_crash(void **state)
{
	static const char *const seeds[] = {
		"{\"Network\":\"10.3.0.0/"
		"16\",\"SubnetLen\":26,\"Backend\":{\"Type\":\"vxlan\",\"VNI\":1}}",
		"{\"EnableIPv4\":false,\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\","
		"\"IPv6SubnetMin\":\"fc00:0:0:1::\",\"IPv6SubnetLen\":64}",
		"{\"network\":\"10.3.0.0/"
		"16\",\"subnetmin\":\"10.3.5.0\",\"subnetmax\":\"10.3.8.0\"}",
	};
	static const char alphabet[] = "{}[]\":,\\ ./-0123456789abcfnultrue\x00\xc5\xbf";
	uint64_t st = 1;
	char buf[256];
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		const char *seed = seeds[iter % 3];
		size_t len = strlen(seed), i, n;
		struct netconf c;
		char err[128];

		memcpy(buf, seed, len);
		n = 1 + next_rand(&st) % 3;
		for (i = 0; i < n; i++)
			buf[next_rand(&st) % len] =
				alphabet[next_rand(&st) % (sizeof(alphabet) - 1)];
		if (netconf_parse(buf, next_rand(&st) % (len + 1), &c, err, sizeof(err)) == 0)
			netconf_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_ipv6_config_defaults),
		cmocka_unit_test(test_config_overrides),
		cmocka_unit_test(test_ipv6_config_overrides),
		cmocka_unit_test(test_truth_table_v4),
		cmocka_unit_test(test_truth_table_v6),
		cmocka_unit_test(test_both_disabled),
		cmocka_unit_test(test_dual_stack),
		cmocka_unit_test(test_last_duplicate_wins),
		cmocka_unit_test(test_case_folding),
		cmocka_unit_test(test_strict_types),
		cmocka_unit_test(test_error_precedence),
		cmocka_unit_test(test_null_and_bad_ip_fields),
		cmocka_unit_test(test_go_quirks),
		cmocka_unit_test(test_document_errors),
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_backend_errors),
		cmocka_unit_test(test_backend_type_max),
		cmocka_unit_test(test_nftables_and_v6_family),
		cmocka_unit_test(test_jsonu_name_eq),
		cmocka_unit_test(test_jsonu_iter),
		cmocka_unit_test(test_jsonu_scalars),
		cmocka_unit_test(test_jsonu_encode),
		cmocka_unit_test(test_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
