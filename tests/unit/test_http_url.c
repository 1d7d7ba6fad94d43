/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for http_url.c: etcd endpoint URLs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd/http_url.h"

static void url_ok(const char *s, bool tls, const char *host, const char *port, const char *path)
{
	struct http_url u;
	const char *error = NULL;

	if (http_url_parse(s, &u, &error))
		fail_msg("%s: %s", s, error);
	assert_int_equal(u.tls, tls);
	assert_string_equal(u.host, host);
	assert_string_equal(u.port, port);
	assert_string_equal(u.path, path);
}

static const char *url_error(const char *s)
{
	struct http_url u;
	const char *error = NULL;

	assert_int_equal(http_url_parse(s, &u, &error), -EINVAL);
	assert_non_null(error);
	return error;
}

static void test_url(void **state)
{
	char buf[600], want[300];

	url_ok("http://127.0.0.1:2379", false, "127.0.0.1", "2379", "");
	url_ok("https://etcd.example:2379/prefix", true, "etcd.example", "2379", "/prefix");
	url_ok("http://[fd00::1]:2379", false, "fd00::1", "2379", "");
	url_ok("http://[::ffff:10.0.0.1]/", false, "::ffff:10.0.0.1", "80", "");
	url_ok("http://host", false, "host", "80", "");
	url_ok("https://host", true, "host", "443", "");
	url_ok("HTTPS://Etcd-1.Example/", true, "Etcd-1.Example", "443", "");
	url_ok("Http://h:1/a/b///", false, "h", "1", "/a/b");
	url_ok("http://h:65535/a%20b/c", false, "h", "65535", "/a%20b/c");
	url_ok("http://h:02379", false, "h", "2379", "");
	url_ok("http://under_score.local:80//", false, "under_score.local", "80", "");

	assert_string_equal(url_error("ftp://host"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("127.0.0.1:2379"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("http:/host"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("httpx://host"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("unix:///run/etcd.sock"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error(""), "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("http://"), "missing host");
	assert_string_equal(url_error("http://:2379"), "missing host");
	assert_string_equal(url_error("https:///path"), "missing host");
	assert_string_equal(url_error("http://ho st"), "bad host");
	assert_string_equal(url_error("http://host%41"), "bad host");
	assert_string_equal(url_error("http://[fd00::1]x"), "bad host");
	assert_string_equal(url_error("http://fd00::1:2379"), "IPv6 address must be in brackets");
	assert_string_equal(url_error("http://[fd00::1"), "bad IPv6 address");
	assert_string_equal(url_error("http://[fd00::1/]"), "bad IPv6 address");
	assert_string_equal(url_error("http://[]:2379"), "bad IPv6 address");
	assert_string_equal(url_error("http://[10.0.0.1]"), "bad IPv6 address");
	assert_string_equal(url_error("http://[fe80::1%25eth0]"), "bad IPv6 address");
	assert_string_equal(url_error("http://[zz::1]"), "bad IPv6 address");
	assert_string_equal(url_error("http://host:"), "bad port");
	assert_string_equal(url_error("http://[::1]:"), "bad port");
	assert_string_equal(url_error("http://host:0"), "bad port");
	assert_string_equal(url_error("http://host:65536"), "bad port");
	assert_string_equal(url_error("http://host:123456"), "bad port");
	assert_string_equal(url_error("http://host:12a"), "bad port");
	assert_string_equal(url_error("http://host:-1"), "bad port");
	assert_string_equal(url_error("http://host: 80"), "bad port");
	assert_string_equal(url_error("http://user:pw@host"),
			    "user information in URL not supported");
	assert_string_equal(url_error("http://@host"), "user information in URL not supported");
	assert_string_equal(url_error("http://host?x=1"), "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host/p?x"), "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host#f"), "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host:80/p#f"),
			    "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host/a b"), "bad path");
	assert_string_equal(url_error("http://host/a\r\nX: y"), "bad path");
	assert_string_equal(url_error("http://host/\x7f"), "bad path");

	/* Sizes: 255 host bytes and 255 path bytes fit, one more does not. */
	memcpy(buf, "http://", 7);
	memset(buf + 7, 'h', 255);
	strcpy(buf + 7 + 255, ":1");
	{
		struct http_url u;
		const char *error;

		assert_int_equal(http_url_parse(buf, &u, &error), 0);
		assert_int_equal(strlen(u.host), 255);
	}
	memset(buf + 7, 'h', 256);
	strcpy(buf + 7 + 256, ":1");
	assert_string_equal(url_error(buf), "host name too long");
	strcpy(buf, "http://h/");
	memset(buf + 9, 'p', 254);
	strcpy(buf + 9 + 254, "///");
	want[0] = '/';
	memset(want + 1, 'p', 254);
	want[255] = '\0';
	url_ok(buf, false, "h", "80", want);
	strcpy(buf + 9 + 254, "p");
	assert_string_equal(url_error(buf), "path too long");

	/* NULL error pointer is allowed; the result is untouched on failure. */
	{
		struct http_url u = { .port = "7" };

		assert_int_equal(http_url_parse("gopher://x", &u, NULL), -EINVAL);
		assert_string_equal(u.port, "7");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
