/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for backend/vici_msg.c: VICI packets built and parsed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/vici_msg.h"

static void test_build_exact_bytes(void **state)
{
	static const uint8_t want[] = {
		0, 0, 0,   27,		       /* length */
		0, 3, 'c', 'm', 'd',	       /* CMD_REQUEST "cmd" */
		1, 1, 's',		       /* SECTION_START "s" */
		3, 1, 'k', 0,	2,   'v', 'w', /* KEY_VALUE k=vw */
		2,			       /* SECTION_END */
		4, 1, 'l',		       /* LIST_START l */
		5, 0, 1,   'a',		       /* LIST_ITEM a */
		5, 0, 0,		       /* LIST_ITEM "" */
		6,			       /* LIST_END */
	};
	struct vici_builder b;

	vici_begin(&b, VICI_CMD_REQUEST, "cmd");
	vici_section(&b, "s");
	vici_kv(&b, "k", "vw");
	vici_end_section(&b);
	vici_list(&b, "l");
	vici_item(&b, "a");
	vici_item(&b, "");
	vici_end_list(&b);
	assert_int_equal(vici_finish(&b), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.buf, want, sizeof(want));
	vici_builder_free(&b);
}

/* Past the first allocation (256 bytes): what was built before must survive the growth. */
static void test_build_grows(void **state)
{
	struct vici_builder b;
	struct vici_packet pkt;
	char key[16], val[24], out[24];

	vici_begin(&b, VICI_CMD_REQUEST, "load-conn");
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "value-%d", i);
		vici_kv(&b, key, val);
	}
	assert_int_equal(vici_finish(&b), 0);
	assert_true(b.len > 2000);
	assert_int_equal(vici_parse(b.buf + 4, b.len - 4, &pkt), 0);
	assert_int_equal(pkt.type, VICI_CMD_REQUEST);
	assert_int_equal(pkt.name_len, 9);
	assert_memory_equal(pkt.name, "load-conn", 9);
	assert_true(vici_get(&pkt, "k0", out, sizeof(out)));
	assert_string_equal(out, "value-0");
	assert_true(vici_get(&pkt, "k199", out, sizeof(out)));
	assert_string_equal(out, "value-199");
	vici_builder_free(&b);
}

static void test_build_refuses(void **state)
{
	struct vici_builder b;
	char long_name[300];

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	vici_begin(&b, VICI_CMD_REQUEST, "cmd");
	vici_kv(&b, long_name, "v");
	assert_int_equal(vici_finish(&b), -EINVAL);
	assert_null(b.buf);
	vici_begin(&b, VICI_CMD_REQUEST, "");
	assert_int_equal(vici_finish(&b), -EINVAL);
}

static void test_result(void **state)
{
	static const uint8_t ok[] = { 1,   3,	7, 's', 'u', 'c', 'c', 'e',
				      's', 's', 0, 3,	'y', 'e', 's' };
	static const uint8_t bad[] = { 1,   3,	 7,   's', 'u', 'c',  'c', 'e', 's', 's',
				       0,   2,	 'n', 'o', 3,	6,    'e', 'r', 'r', 'm',
				       's', 'g', 0,   4,   'b', '\n', 'a', 'd' };
	static const uint8_t unknown[] = { 2 };
	struct vici_packet pkt;
	char err[64];

	assert_int_equal(vici_parse(ok, sizeof(ok), &pkt), 0);
	assert_null(pkt.name);
	assert_int_equal(vici_result(&pkt, err, sizeof(err)), 0);
	assert_int_equal(vici_parse(bad, sizeof(bad), &pkt), 0);
	assert_int_equal(vici_result(&pkt, err, sizeof(err)), -EIO);
	assert_string_equal(err, "b?ad"); /* charon's text is one line in our log */
	assert_int_equal(vici_parse(unknown, sizeof(unknown), &pkt), 0);
	assert_int_equal(vici_result(&pkt, err, sizeof(err)), -EIO);
	assert_string_equal(err, "charon does not know the command");
}

static void test_nested_iter(void **state)
{
	/* conns = [a, b] inside nothing; a section with a nested one. */
	static const uint8_t msg[] = {
		1,   4, 5, 'c', 'o', 'n', 'n', 's', 5, 0, 1,   'a', 5, 0, 1,
		'b', 6, 1, 1,	'x', 1,	  1,   'y', 3, 1, 'k', 0,   0, 2, 2
	};
	struct vici_packet pkt;
	struct vici_iter it;
	struct vici_el el;
	unsigned items = 0, max_depth = 0;

	assert_int_equal(vici_parse(msg, sizeof(msg), &pkt), 0);
	vici_iter_init(&it, &pkt);
	while (vici_next(&it, &el)) {
		items += el.type == VICI_LIST_ITEM;
		if (el.depth > max_depth)
			max_depth = el.depth;
		if (el.type == VICI_KEY_VALUE)
			assert_int_equal(el.depth, 2);
	}
	assert_int_equal(items, 2);
	assert_int_equal(max_depth, 2);
	/* A nested key is not a top-level one. */
	assert_false(vici_get(&pkt, "k", NULL, 0));
}

static void test_parse_rejects(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[8];
		size_t n;
	} cases[] = {
		{ "empty", { 0 }, 0 },
		{ "unknown packet type", { 8 }, 1 },
		{ "named type without name", { 7 }, 1 },
		{ "name past the end", { 7, 5, 'a' }, 3 },
		{ "unknown element", { 1, 9 }, 2 },
		{ "section never ends", { 1, 1, 1, 'a' }, 4 },
		{ "end without section", { 1, 2 }, 2 },
		{ "value past the end", { 1, 3, 1, 'k', 0, 5, 'v' }, 7 },
		{ "item outside a list", { 1, 5, 0, 0 }, 4 },
		{ "key inside a list", { 1, 4, 1, 'l', 3, 1, 'k', 0 }, 8 },
		{ "list never ends", { 1, 4, 1, 'l' }, 4 },
		{ "empty element name", { 1, 1, 0 }, 3 },
	};
	struct vici_packet pkt;
	uint8_t deep[1 + 3 * (VICI_MAX_DEPTH + 1) + VICI_MAX_DEPTH + 1];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (vici_parse(cases[i].b, cases[i].n, &pkt) != -EINVAL)
			fail_msg("accepted: %s", cases[i].what);
	deep[n++] = VICI_CMD_RESPONSE;
	for (int i = 0; i <= VICI_MAX_DEPTH; i++) {
		deep[n++] = VICI_SECTION_START;
		deep[n++] = 1;
		deep[n++] = 's';
	}
	for (int i = 0; i <= VICI_MAX_DEPTH; i++)
		deep[n++] = VICI_SECTION_END;
	assert_int_equal(vici_parse(deep, n, &pkt), -EINVAL);
	/* One level less is fine. */
	memmove(deep + 1, deep + 4, n - 4);
	n -= 4;
	assert_int_equal(vici_parse(deep, n, &pkt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_exact_bytes), cmocka_unit_test(test_build_grows),
		cmocka_unit_test(test_build_refuses),	  cmocka_unit_test(test_result),
		cmocka_unit_test(test_nested_iter),	  cmocka_unit_test(test_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
