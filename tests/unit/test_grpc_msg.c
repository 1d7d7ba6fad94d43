/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for grpc_msg.c: message prefix, reassembly, status and message text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd/grpc_msg.h"

static size_t frame(uint8_t *out, const char *msg)
{
	size_t n = strlen(msg);

	grpc_msg_prefix(out, n);
	memcpy(out + GRPC_PREFIX_LEN, msg, n);
	return GRPC_PREFIX_LEN + n;
}

static void test_prefix(void **state)
{
	uint8_t p[GRPC_PREFIX_LEN];

	grpc_msg_prefix(p, 0x01020304);
	assert_memory_equal(p, "\x00\x01\x02\x03\x04", 5);
	grpc_msg_prefix(p, 0);
	assert_memory_equal(p, "\x00\x00\x00\x00\x00", 5);
}

/* Two messages and an empty one, fed one byte at a time: each comes out whole, once. */
static void test_bytewise(void **state)
{
	uint8_t buf[64];
	size_t n = frame(buf, "hello");
	const uint8_t *msg;
	size_t len, got = 0;
	struct grpc_reader rd;
	const char *want[] = { "hello", "", "world!" };

	n += frame(buf + n, "");
	n += frame(buf + n, "world!");
	grpc_reader_init(&rd, 100);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(grpc_reader_append(&rd, buf + i, 1), 0);
		while (grpc_reader_next(&rd, &msg, &len) == 1) {
			assert_true(got < 3);
			assert_int_equal(len, strlen(want[got]));
			assert_memory_equal(msg, want[got], len);
			got++;
		}
	}
	assert_int_equal(got, 3);
	assert_int_equal(grpc_reader_pending(&rd), 0);
	grpc_reader_free(&rd);
}

/* A message over the cap is refused as soon as its prefix is in, before its body. */
static void test_cap(void **state)
{
	struct grpc_reader rd;
	uint8_t p[GRPC_PREFIX_LEN];
	const uint8_t *msg;
	size_t len;

	grpc_reader_init(&rd, 10);
	grpc_msg_prefix(p, 11);
	assert_int_equal(grpc_reader_append(&rd, p, sizeof(p)), 0);
	assert_int_equal(grpc_reader_next(&rd, &msg, &len), -EMSGSIZE);
	grpc_reader_free(&rd);

	grpc_reader_init(&rd, 10);
	grpc_msg_prefix(p, 10);
	assert_int_equal(grpc_reader_append(&rd, p, sizeof(p)), 0);
	assert_int_equal(grpc_reader_next(&rd, &msg, &len), 0);
	assert_int_equal(grpc_reader_pending(&rd), 5);
	grpc_reader_free(&rd);
}

static void test_compressed(void **state)
{
	struct grpc_reader rd;
	const uint8_t c[] = { 1, 0, 0, 0, 1, 'x' };
	const uint8_t *msg;
	size_t len;

	grpc_reader_init(&rd, 10);
	assert_int_equal(grpc_reader_append(&rd, c, sizeof(c)), 0);
	assert_int_equal(grpc_reader_next(&rd, &msg, &len), -EPROTO);
	grpc_reader_free(&rd);
}

static void test_percent(void **state)
{
	char out[64];

	assert_int_equal(grpc_percent_decode("etcdserver: no leader", 21, out, sizeof(out)), 21);
	assert_string_equal(out, "etcdserver: no leader");
	grpc_percent_decode("a%20b%25c", 9, out, sizeof(out));
	assert_string_equal(out, "a b%c");
	/* Broken escapes stay as they are; control bytes never reach a log line. */
	grpc_percent_decode("100%", 4, out, sizeof(out));
	assert_string_equal(out, "100%");
	grpc_percent_decode("%zz%4", 5, out, sizeof(out));
	assert_string_equal(out, "%zz%4");
	grpc_percent_decode("x%0Ay%00z\x01", 10, out, sizeof(out));
	assert_string_equal(out, "x?y?z?");
	/* Truncated to the buffer. */
	assert_int_equal(grpc_percent_decode("abcdef", 6, out, 4), 3);
	assert_string_equal(out, "abc");
}

static void test_status(void **state)
{
	int v = -1;

	assert_int_equal(grpc_status_parse("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(grpc_status_parse("14", 2, &v), 0);
	assert_int_equal(v, 14);
	assert_string_equal(grpc_status_name(14), "UNAVAILABLE");
	assert_string_equal(grpc_status_name(16), "UNAUTHENTICATED");
	assert_int_equal(grpc_status_parse("99", 2, &v), 0);
	assert_string_equal(grpc_status_name(v), "UNKNOWN_STATUS");
	assert_int_equal(grpc_status_parse("", 0, &v), -EPROTO);
	assert_int_equal(grpc_status_parse("1a", 2, &v), -EPROTO);
	assert_int_equal(grpc_status_parse("-1", 2, &v), -EPROTO);
	assert_int_equal(grpc_status_parse("1000", 4, &v), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix),	cmocka_unit_test(test_bytewise),
		cmocka_unit_test(test_cap),	cmocka_unit_test(test_compressed),
		cmocka_unit_test(test_percent), cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
