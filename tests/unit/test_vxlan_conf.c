/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for backend/vxlan_conf.c: Backend options, lease BackendData, MAC text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/vxlan_conf.h"
#include "ip.h"

static struct vxlan_conf parse_ok(const char *json)
{
	struct vxlan_conf c;
	char err[256] = "";

	if (vxlan_conf_parse(json, strlen(json), &c, err, sizeof(err)) != 0)
		fail_msg("%s: unexpected error: %s", json, err);
	return c;
}

static void parse_err(const char *json, const char *want)
{
	struct vxlan_conf c;
	char err[256] = "";

	if (vxlan_conf_parse(json, strlen(json), &c, err, sizeof(err)) != -EINVAL)
		fail_msg("%s: expected an error", json);
	if (strcmp(err, want) != 0)
		fail_msg("%s: error \"%s\", want \"%s\"", json, err, want);
}

static void test_conf_defaults(void **state)
{
	struct vxlan_conf c = parse_ok("{\"Type\":\"vxlan\"}");

	assert_int_equal(c.vni, 1);
	assert_int_equal(c.port, 0);
	assert_false(c.gbp);
	assert_false(c.learning);
	assert_false(c.direct_routing);
	assert_true(c.checksum_offload);
	assert_int_equal(c.mtu, 0);
	c = parse_ok("{}");
	assert_int_equal(c.vni, 1);
}

static void test_conf_fields(void **state)
{
	struct vxlan_conf c =
		parse_ok("{\"Type\":\"vxlan\",\"VNI\":4096,\"Port\":4789,\"GBP\":true,"
			 "\"Learning\":true,\"DirectRouting\":true,\"MTU\":9000}");

	assert_int_equal(c.vni, 4096);
	assert_int_equal(c.port, 4789);
	assert_true(c.gbp);
	assert_true(c.learning);
	assert_true(c.direct_routing);
	assert_int_equal(c.mtu, 9000);
	c = parse_ok("{\"checksumoffload\":false}");
	assert_false(c.checksum_offload);
	c = parse_ok("{\"ChecksumOffload\":null}");
	assert_true(c.checksum_offload);

	/* Go matches names case-insensitively; the last duplicate wins; null keeps the default. */
	c = parse_ok("{\"vni\":7,\"PORT\":1,\"gbp\":false,\"directrouting\":true,\"Vni\":8}");
	assert_int_equal(c.vni, 8);
	assert_int_equal(c.port, 1);
	assert_true(c.direct_routing);
	c = parse_ok("{\"VNI\":null,\"Learning\":null,\"Other\":[1,{\"x\":\"y\"}]}");
	assert_int_equal(c.vni, 1);
	assert_false(c.learning);

	/* Limits. */
	c = parse_ok("{\"VNI\":0,\"Port\":65535,\"MTU\":118}");
	assert_int_equal(c.vni, 0);
	assert_int_equal(c.port, 65535);
	assert_int_equal(c.mtu, 118);
	c = parse_ok("{\"VNI\":16777215,\"MTU\":0}");
	assert_int_equal(c.vni, 16777215);
	assert_int_equal(c.mtu, 0);
}

static void test_conf_errors(void **state)
{
	parse_err("{\"VNI\":\"1\"}",
		  "json: cannot unmarshal string into Go struct field .VNI of type int");
	parse_err("{\"Port\":true}",
		  "json: cannot unmarshal bool into Go struct field .Port of type int");
	parse_err("{\"GBP\":1}",
		  "json: cannot unmarshal number into Go struct field .GBP of type bool");
	parse_err("{\"learning\":\"yes\"}",
		  "json: cannot unmarshal string into Go struct field .Learning of type bool");
	parse_err(
		"{\"ChecksumOffload\":\"no\"}",
		"json: cannot unmarshal string into Go struct field .ChecksumOffload of type bool");
	parse_err("{\"DirectRouting\":{}}",
		  "json: cannot unmarshal object into Go struct field .DirectRouting of type bool");
	parse_err("{\"VNI\":16777216}", "VNI must be an integer from 0 to 16777215, not 16777216");
	parse_err("{\"VNI\":-1}", "VNI must be an integer from 0 to 16777215, not -1");
	parse_err("{\"VNI\":1.5}", "VNI must be an integer from 0 to 16777215, not 1.5");
	parse_err("{\"Port\":65536}", "Port must be an integer from 0 to 65535, not 65536");
	parse_err("{\"MTU\":117}",
		  "MTU must be 0 (the external interface's) or from 118 to 65535, not 117");
	parse_err("{\"MTU\":-1500}",
		  "MTU must be 0 (the external interface's) or from 118 to 65535, not -1500");
	parse_err("{\"MTU\":70000}",
		  "MTU must be 0 (the external interface's) or from 118 to 65535, not 70000");
	parse_err("[1]", "Backend must be a JSON object");
}

static void lease_ok(const char *json, const char *want_mac)
{
	uint8_t mac[6];
	char err[160] = "", buf[MAC_STRLEN];

	if (vxlan_lease_data_parse(json, strlen(json), mac, err, sizeof(err)) != 0)
		fail_msg("%s: unexpected error: %s", json, err);
	assert_string_equal(mac_format(mac, buf), want_mac);
}

static void lease_err(const char *json, const char *want)
{
	uint8_t mac[6];
	char err[160] = "";

	if (vxlan_lease_data_parse(json, strlen(json), mac, err, sizeof(err)) != -EINVAL)
		fail_msg("%s: expected an error", json);
	if (strcmp(err, want) != 0)
		fail_msg("%s: error \"%s\", want \"%s\"", json, err, want);
}

static void test_lease_data(void **state)
{
	lease_ok("{\"VNI\":1,\"VtepMAC\":\"aa:92:59:28:23:bb\"}", "aa:92:59:28:23:bb");
	lease_ok("{\"VtepMAC\":\"AA:92:59:28:23:BB\"}", "aa:92:59:28:23:bb");
	lease_ok("{\"vtepmac\":\"02-00-00-00-00-01\",\"VNI\":\"ignored\"}", "02:00:00:00:00:01");
	lease_ok("{\"VtepMAC\":\"0200.0000.0a0b\"}", "02:00:00:00:0a:0b");
	lease_ok("{\"VtepMAC\":\"02:00:00:00:00:01\",\"VTEPMAC\":\"02:00:00:00:00:02\"}",
		 "02:00:00:00:00:02");

	lease_err("{\"VNI\":1}", "no VtepMAC");
	lease_err("null", "BackendData is not a JSON object");
	lease_err("{\"VtepMAC\":null}", "VtepMAC is not a string");
	lease_err("{\"VtepMAC\":5}", "VtepMAC is not a string");
	lease_err("{\"VtepMAC\":\"zz:00\"}", "VtepMAC \"zz:00\" is not a unicast MAC address");
	lease_err("{\"VtepMAC\":\"00:00:00:00:00:00\"}",
		  "VtepMAC \"00:00:00:00:00:00\" is not a unicast MAC address");
	lease_err("{\"VtepMAC\":\"01:00:5e:00:00:01\"}",
		  "VtepMAC \"01:00:5e:00:00:01\" is not a unicast MAC address");
	lease_err("{\"VtepMAC\":\"aa:bb:cc:dd:ee:ff:00:11\"}",
		  "VtepMAC \"aa:bb:cc:dd:ee:ff:00:11\" is not a unicast MAC address");
	lease_err("{\"VtepMAC\":\"aa:bb-cc:dd:ee:ff\"}",
		  "VtepMAC \"aa:bb-cc:dd:ee:ff\" is not a unicast MAC address");
	/* Remote text reaches the log quoted, on one line. */
	lease_err("{\"VtepMAC\":\"a\\n\\\"b\"}",
		  "VtepMAC \"a\\x0a\\\"b\" is not a unicast MAC address");
	lease_err("{\"VtepMAC\":\"aa:b:ccc:dd:ee:ff\"}",
		  "VtepMAC \"aa:b:ccc:dd:ee:ff\" is not a unicast MAC address");
}

static void test_lease_data_format(void **state)
{
	static const uint8_t mac[6] = { 0xAA, 0x92, 0x59, 0x28, 0x23, 0xBB };
	char *s = vxlan_lease_data_format(1, mac);

	/* Upstream's json.Marshal of vxlanLeaseAttrs: VNI first, lowercase MAC. */
	assert_string_equal(s, "{\"VNI\":1,\"VtepMAC\":\"aa:92:59:28:23:bb\"}");
	free(s);
	s = vxlan_lease_data_format(4096, mac);
	assert_string_equal(s, "{\"VNI\":4096,\"VtepMAC\":\"aa:92:59:28:23:bb\"}");
	free(s);
}

static void test_mac_parse(void **state)
{
	uint8_t mac[6];

	assert_int_equal(vxlan_mac_parse("0a:0B:0c:0D:0e:0F", 17, mac), 0);
	assert_memory_equal(mac, "\x0a\x0b\x0c\x0d\x0e\x0f", 6);
	assert_int_equal(vxlan_mac_parse("0a:0b:0c:0d:0e:0f", 16, mac), -EINVAL);
	assert_int_equal(vxlan_mac_parse("0a:0b:0c:0d:0e:0g", 17, mac), -EINVAL);
	assert_int_equal(vxlan_mac_parse("0a0b.0c0d.0e0f", 14, mac), 0);
	assert_int_equal(vxlan_mac_parse("0a0b-0c0d-0e0f", 14, mac), -EINVAL);
	assert_int_equal(vxlan_mac_parse("", 0, mac), -EINVAL);
}

/* The hand-written formatter against snprintf, for every value of each byte. */
static void test_mac_format(void **state)
{
	char got[MAC_STRLEN], want[MAC_STRLEN];

	(void)state;
	for (int v = 0; v < 256; v++) {
		const uint8_t mac[6] = {
			(uint8_t)v,	     (uint8_t)(255 - v), (uint8_t)(v * 7),
			(uint8_t)(v ^ 0x5a), (uint8_t)(v + 1),	 (uint8_t)(v * 13)
		};

		snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
			 mac[2], mac[3], mac[4], mac[5]);
		assert_string_equal(mac_format(mac, got), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_defaults),	  cmocka_unit_test(test_conf_fields),
		cmocka_unit_test(test_conf_errors),	  cmocka_unit_test(test_lease_data),
		cmocka_unit_test(test_lease_data_format), cmocka_unit_test(test_mac_parse),
		cmocka_unit_test(test_mac_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
