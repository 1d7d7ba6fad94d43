/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for backend/ipsec_conf.c: the ipsec backend's options as upstream decodes them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/ipsec_conf.h"

/* 96 characters: the shortest key upstream takes. */
#define K24 "abcdefghijklmnopqrstuvwx"
#define PSK K24 K24 K24 K24

static int parse(const char *json, struct ipsec_conf *c, char *err, size_t errlen)
{
	return ipsec_conf_parse(json, strlen(json), c, err, errlen);
}

static void test_defaults(void **state)
{
	struct ipsec_conf c;
	char err[200];

	assert_int_equal(parse("{\"Type\":\"ipsec\",\"PSK\":\"" PSK "\"}", &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.psk, PSK);
	assert_false(c.udp_encap);
	assert_string_equal(c.esp_proposal, "aes128gcm16-sha256-prfsha256-ecp256");
	assert_string_equal(c.vici_socket, "/var/run/charon.vici");
}

static void test_fields(void **state)
{
	struct ipsec_conf c;
	char err[200];

	/* Case-insensitive names, null keeps the default, unknown names ignored. */
	assert_int_equal(parse("{\"psk\":\"" PSK "x\",\"udpencap\":true,\"ESPProposal\":"
			       "\"aes256gcm16-ecp384\",\"VICISocket\":\"unix:///run/a/c.vici\","
			       "\"Other\":[1]}",
			       &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.psk, PSK "x");
	assert_true(c.udp_encap);
	assert_string_equal(c.esp_proposal, "aes256gcm16-ecp384");
	assert_string_equal(c.vici_socket, "/run/a/c.vici");
	assert_int_equal(parse("{\"PSK\":\"" PSK "\",\"ESPProposal\":null,\"UDPEncap\":null,"
			       "\"VICISocket\":\"/x.sock\"}",
			       &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.esp_proposal, "aes128gcm16-sha256-prfsha256-ecp256");
	assert_false(c.udp_encap);
	assert_string_equal(c.vici_socket, "/x.sock");
}

static void test_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "{}", "config error, password is too short" },
		{ "{\"PSK\":\"short\"}", "config error, password is too short" },
		{ "{\"PSK\":\"" K24 K24 K24 "abcdefghijklmnopqrstuvw\"}",
		  "config error, password is too short" },
		{ "{\"PSK\":5}", "PSK" },
		{ "{\"PSK\":\"" PSK "\",\"UDPEncap\":\"yes\"}", "UDPEncap" },
		{ "{\"PSK\":\"" PSK "\",\"ESPProposal\":\"AES!\"}", "ESPProposal AES! is not" },
		{ "{\"PSK\":\"" PSK "\",\"ESPProposal\":\"\"}", "ESPProposal" },
		{ "{\"PSK\":\"" PSK "\",\"VICISocket\":\"tcp://1.2.3.4\"}", "VICISocket" },
		{ "[1]", "not a JSON object" },
	};
	struct ipsec_conf c;
	char err[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(err, 0, sizeof(err));
		if (parse(cases[i].json, &c, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted %s", cases[i].json);
		if (!strstr(err, cases[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].json, err,
				 cases[i].msg);
		/* The key itself never shows in a message. */
		assert_null(strstr(err, K24));
	}
}

static void test_socket_path(void **state)
{
	char out[IPSEC_SOCKET_MAX + 1];

	assert_int_equal(ipsec_socket_path("unix:///var/run/charon.vici", out, sizeof(out)), 0);
	assert_string_equal(out, "/var/run/charon.vici");
	assert_int_equal(ipsec_socket_path("relative.vici", out, sizeof(out)), -EINVAL);
	assert_int_equal(ipsec_socket_path("unix://", out, sizeof(out)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_socket_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
