/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for backend/tun_conf.c: ipip/wireguard options, wireguard BackendData, key base64. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/tun_conf.h"

/* RFC 7748 6.1: Alice's public key, and its base64. */
static const uint8_t alice_pub[32] = { 0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54,
				       0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7, 0x5a,
				       0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4,
				       0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a };
#define ALICE_B64 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="

static void test_base64(void **state)
{
	char b[WG_KEY_B64LEN + 1];
	uint8_t k[32], zero[32] = { 0 };

	assert_string_equal(wg_key_to_base64(alice_pub, b), ALICE_B64);
	assert_int_equal(wg_key_from_base64(ALICE_B64, strlen(ALICE_B64), k), 0);
	assert_memory_equal(k, alice_pub, 32);
	assert_string_equal(wg_key_to_base64(zero, b),
			    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	/* Wrong length, missing pad, non-canonical last character, bad alphabet. */
	assert_int_equal(wg_key_from_base64(ALICE_B64, 43, k), -EINVAL);
	assert_int_equal(wg_key_from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA", 44, k),
			 -EINVAL);
	assert_int_equal(wg_key_from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", 44, k),
			 -EINVAL);
	assert_int_equal(wg_key_from_base64("hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=", 44, k),
			 -EINVAL);
	/* Every byte as the first character: only the alphabet decodes, to its index. */
	for (int c = 0; c < 256; c++) {
		static const char alphabet[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *at = c ? strchr(alphabet, c) : NULL;
		char s[] = ALICE_B64;

		s[0] = (char)c;
		assert_int_equal(wg_key_from_base64(s, 44, k), at ? 0 : -EINVAL);
		if (at)
			assert_int_equal(k[0] >> 2, at - alphabet);
	}
}

static void test_lease_data(void **state)
{
	const char *want = "{\"PublicKey\":\"" ALICE_B64 "\",\"Port\":51820}";
	char *s = wg_lease_data_format(alice_pub, 51820);
	char err[160];
	uint8_t k[32];
	uint16_t port = 1;

	assert_string_equal(s, want);
	assert_int_equal(wg_lease_data_parse(s, strlen(s), k, &port, err, sizeof(err)), 0);
	assert_memory_equal(k, alice_pub, 32);
	assert_int_equal(port, 51820);
	free(s);
	/* v0.20.2 writes no Port: 0, the receiver uses its own. Names are case-insensitive. */
	s = "{\"publickey\":\"" ALICE_B64 "\",\"Extra\":[1]}";
	assert_int_equal(wg_lease_data_parse(s, strlen(s), k, &port, err, sizeof(err)), 0);
	assert_int_equal(port, 0);
	s = "{\"Port\":51820}";
	assert_int_equal(wg_lease_data_parse(s, strlen(s), k, &port, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no PublicKey");
	s = "{\"PublicKey\":\"abc\"}";
	assert_int_equal(wg_lease_data_parse(s, strlen(s), k, &port, err, sizeof(err)), -EINVAL);
	s = "{\"PublicKey\":\"" ALICE_B64 "\",\"Port\":70000}";
	assert_int_equal(wg_lease_data_parse(s, strlen(s), k, &port, err, sizeof(err)), -EINVAL);
	s = "[1]";
	assert_int_equal(wg_lease_data_parse(s, strlen(s), k, &port, err, sizeof(err)), -EINVAL);
}

static void test_wg_conf(void **state)
{
	struct wg_conf c;
	char err[256];
	const char *j = "{\"Type\":\"wireguard\"}";

	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), 0);
	assert_int_equal(c.listen_port, 51820);
	assert_int_equal(c.listen_port_v6, 51821);
	assert_int_equal(c.mode, WG_MODE_SEPARATE);
	assert_false(c.has_psk);
	assert_int_equal(c.keepalive, 0);
	assert_int_equal(c.mtu, 0);
	j = "{\"listenport\":5000,\"ListenPortV6\":5001,\"PSK\":\"" ALICE_B64
	    "\",\"PersistentKeepaliveInterval\":25,\"Mode\":\"Auto\",\"MTU\":9000}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), 0);
	assert_int_equal(c.listen_port, 5000);
	assert_int_equal(c.listen_port_v6, 5001);
	assert_true(c.has_psk);
	assert_memory_equal(c.psk, alice_pub, 32);
	assert_int_equal(c.keepalive, 25);
	assert_int_equal(c.mode, WG_MODE_AUTO);
	assert_int_equal(c.mtu, 9000);
	j = "{\"ListenPort\":0}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), 0);
	assert_int_equal(c.listen_port, 51820);
	j = "{\"Mode\":\"tunnel\"}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Mode must be separate, auto, ipv4 or ipv6, not \"tunnel\"");
	j = "{\"PSK\":\"c2VjcmV0\"}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "c2VjcmV0"));
	j = "{\"ListenPort\":\"51820\"}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ListenPort"));
	j = "{\"MTU\":100}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), -EINVAL);
	j = "{\"PersistentKeepaliveInterval\":-1}";
	assert_int_equal(wg_conf_parse(j, strlen(j), &c, err, sizeof(err)), -EINVAL);
}

/* Mode auto's endpoint: IPv4 unless it is private (or ours is missing) and both IPv6 are global. */
static void test_auto_endpoint(void **state)
{
	const struct ip6 global = { { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	const struct ip6 global2 = { { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 } };
	const struct ip6 ula = { { 0xfd, 0x20, [15] = 3 } };
	const uint32_t pub4 = 0xc6336401, priv4 = 0x0ac8000c, mine = 0x0ac8000b;

	assert_false(wg_auto_prefers_v6(pub4, &global, mine, &global2));
	assert_true(wg_auto_prefers_v6(priv4, &global, mine, &global2));
	assert_true(wg_auto_prefers_v6(0xac1f0001, &global, mine, &global2));  /* 172.31/12 */
	assert_true(wg_auto_prefers_v6(0xc0a80101, &global, mine, &global2));  /* 192.168/16 */
	assert_false(wg_auto_prefers_v6(0xac200001, &global, mine, &global2)); /* 172.32: public */
	assert_true(wg_auto_prefers_v6(pub4, &global, 0, &global2));	       /* no IPv4 of ours */
	assert_false(wg_auto_prefers_v6(priv4, &ula, mine, &global2));
	assert_false(wg_auto_prefers_v6(priv4, &global, mine, &ula));
	assert_false(wg_auto_prefers_v6(priv4, &global, mine, NULL));
}

static void test_ipip_conf(void **state)
{
	struct ipip_conf c;
	char err[256];
	const char *j = "{\"Type\":\"ipip\"}";

	assert_int_equal(ipip_conf_parse(j, strlen(j), &c, err, sizeof(err)), 0);
	assert_false(c.direct_routing);
	j = "{\"directrouting\":true}";
	assert_int_equal(ipip_conf_parse(j, strlen(j), &c, err, sizeof(err)), 0);
	assert_true(c.direct_routing);
	j = "{\"DirectRouting\":1}";
	assert_int_equal(ipip_conf_parse(j, strlen(j), &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "DirectRouting"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),	  cmocka_unit_test(test_lease_data),
		cmocka_unit_test(test_wg_conf),	  cmocka_unit_test(test_auto_endpoint),
		cmocka_unit_test(test_ipip_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
