/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for leasecache.c through its header: lookup, removal, iteration, marks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lease/leasecache.h"

/* Enough entries to force several rehashes of a table that starts small. */
#define MANY 5000

static struct leasecache *new_cache(void)
{
	struct leasecache *c = NULL;

	assert_int_equal(leasecache_new(&c), 0);
	assert_non_null(c);
	return c;
}

static void key_of(unsigned i, char *buf, size_t size)
{
	snprintf(buf, size, "/coreos.com/network/subnets/10.%u.%u.0-24", i / 256, i % 256);
}

static struct lease *upsert_str(struct leasecache *c, const char *key)
{
	return leasecache_upsert(c, key, strlen(key));
}

static struct lease *get_str(struct leasecache *c, const char *key)
{
	return leasecache_get(c, key, strlen(key));
}

static void test_empty(void **state)
{
	struct leasecache *c = new_cache();
	size_t pos = 0;

	assert_int_equal(leasecache_count(c), 0);
	assert_null(get_str(c, "/a"));
	assert_null(leasecache_next(c, &pos));
	leasecache_remove(c, "/a", 2); /* unknown: no effect */
	assert_int_equal(leasecache_count(c), 0);
	leasecache_free(c);
	leasecache_free(NULL);
}

static void test_upsert_get_remove(void **state)
{
	struct leasecache *c = new_cache();
	struct lease *a, *b;

	a = upsert_str(c, "/p/subnets/10.1.0.0-24");
	assert_non_null(a);
	assert_string_equal(a->key, "/p/subnets/10.1.0.0-24");
	/* A new entry is empty: no attributes, no etcd lease, no revisions. */
	assert_false(a->has_attrs);
	assert_int_equal(a->etcd_lease, 0);
	assert_int_equal(a->mod_revision, 0);
	a->etcd_lease = 42;
	assert_int_equal(leasecache_count(c), 1);

	/* The same key again is the same entry, its contents kept. */
	b = upsert_str(c, "/p/subnets/10.1.0.0-24");
	assert_ptr_equal(a, b);
	assert_int_equal(b->etcd_lease, 42);
	assert_int_equal(leasecache_count(c), 1);
	assert_ptr_equal(get_str(c, "/p/subnets/10.1.0.0-24"), a);

	leasecache_remove(c, "/p/subnets/10.1.0.0-24", strlen("/p/subnets/10.1.0.0-24"));
	assert_int_equal(leasecache_count(c), 0);
	assert_null(get_str(c, "/p/subnets/10.1.0.0-24"));

	/* Back after removal: a fresh, empty entry. */
	a = upsert_str(c, "/p/subnets/10.1.0.0-24");
	assert_int_equal(a->etcd_lease, 0);
	assert_int_equal(leasecache_count(c), 1);
	leasecache_free(c);
}

/* Keys are (pointer, length): a key need not be NUL-terminated, and a prefix is another key. */
static void test_key_length_matters(void **state)
{
	struct leasecache *c = new_cache();
	const char *buf = "/p/subnets/10.1.0.0-24XYZ";
	struct lease *a, *b;

	a = leasecache_upsert(c, buf, strlen("/p/subnets/10.1.0.0-24"));
	assert_string_equal(a->key, "/p/subnets/10.1.0.0-24");
	b = leasecache_upsert(c, buf, strlen("/p/subnets/10.1.0.0-2"));
	assert_ptr_not_equal(a, b);
	assert_string_equal(b->key, "/p/subnets/10.1.0.0-2");
	assert_int_equal(leasecache_count(c), 2);
	assert_ptr_equal(get_str(c, "/p/subnets/10.1.0.0-24"), a);
	assert_null(leasecache_get(c, buf, strlen(buf)));
	leasecache_free(c);
}

static void test_many_survive_growth(void **state)
{
	struct leasecache *c = new_cache();
	char key[96];

	for (unsigned i = 0; i < MANY; i++) {
		struct lease *l;

		key_of(i, key, sizeof(key));
		l = upsert_str(c, key);
		assert_non_null(l);
		l->create_revision = i + 1;
	}
	assert_int_equal(leasecache_count(c), MANY);
	/* Every entry is still found, with what was stored in it, after the table grew. */
	for (unsigned i = 0; i < MANY; i++) {
		struct lease *l;

		key_of(i, key, sizeof(key));
		l = get_str(c, key);
		assert_non_null(l);
		assert_string_equal(l->key, key);
		assert_int_equal(l->create_revision, i + 1);
	}
	leasecache_free(c);
}

/* Removal leaves the others reachable (probe chains intact), and churn does not grow the count. */
static void test_remove_keeps_others_and_churn(void **state)
{
	struct leasecache *c = new_cache();
	char key[96];

	for (unsigned i = 0; i < MANY; i++) {
		key_of(i, key, sizeof(key));
		assert_non_null(upsert_str(c, key));
	}
	for (unsigned i = 0; i < MANY; i += 2) {
		key_of(i, key, sizeof(key));
		leasecache_remove(c, key, strlen(key));
	}
	assert_int_equal(leasecache_count(c), MANY / 2);
	for (unsigned i = 0; i < MANY; i++) {
		key_of(i, key, sizeof(key));
		if (i % 2)
			assert_non_null(get_str(c, key));
		else
			assert_null(get_str(c, key));
	}
	/* Many rounds of add-and-remove of new keys: only the live ones count. */
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < 500; i++) {
			snprintf(key, sizeof(key), "/churn/%u/%u", round, i);
			assert_non_null(upsert_str(c, key));
		}
		for (unsigned i = 0; i < 500; i++) {
			snprintf(key, sizeof(key), "/churn/%u/%u", round, i);
			leasecache_remove(c, key, strlen(key));
		}
	}
	assert_int_equal(leasecache_count(c), MANY / 2);
	leasecache_free(c);
}

static void test_iterate_each_once(void **state)
{
	struct leasecache *c = new_cache();
	unsigned char *seen = calloc(MANY, 1);
	struct lease *l;
	size_t pos = 0, n = 0;
	char key[96];

	assert_non_null(seen);
	for (unsigned i = 0; i < MANY; i++) {
		key_of(i, key, sizeof(key));
		upsert_str(c, key)->create_revision = i;
	}
	while ((l = leasecache_next(c, &pos))) {
		assert_in_range(l->create_revision, 0, MANY - 1);
		assert_int_equal(seen[l->create_revision], 0);
		seen[l->create_revision] = 1;
		n++;
	}
	assert_int_equal(n, MANY);
	/* The end stays the end. */
	assert_null(leasecache_next(c, &pos));
	free(seen);
	leasecache_free(c);
}

/* The header allows removing the returned entry while iterating: the sweep after a re-list. */
static void test_remove_while_iterating(void **state)
{
	struct leasecache *c = new_cache();
	struct lease *l;
	size_t pos = 0, visited = 0;
	char key[96];

	for (unsigned i = 0; i < MANY; i++) {
		key_of(i, key, sizeof(key));
		upsert_str(c, key)->create_revision = i;
	}
	while ((l = leasecache_next(c, &pos))) {
		visited++;
		if (l->create_revision % 3 == 0) {
			snprintf(key, sizeof(key), "%s", l->key);
			leasecache_remove(c, key, strlen(key));
		}
	}
	assert_int_equal(visited, MANY);
	assert_int_equal(leasecache_count(c), MANY - (MANY + 2) / 3);
	pos = 0;
	while ((l = leasecache_next(c, &pos)))
		assert_int_not_equal(l->create_revision % 3, 0);
	leasecache_free(c);
}

/* List-and-diff: entries marked with the new generation survive, the others are swept. */
static void test_marks(void **state)
{
	struct leasecache *c = new_cache();
	struct lease *l;
	size_t pos = 0;
	char key[96];

	for (unsigned i = 0; i < 100; i++) {
		key_of(i, key, sizeof(key));
		l = upsert_str(c, key);
		assert_int_equal(leasecache_gen(c, l), 0); /* unmarked when new */
		leasecache_mark(c, l, 1);
		assert_int_equal(leasecache_gen(c, l), 1);
	}
	/* A second listing sees the even ones only. */
	for (unsigned i = 0; i < 100; i += 2) {
		key_of(i, key, sizeof(key));
		leasecache_mark(c, get_str(c, key), 2);
	}
	while ((l = leasecache_next(c, &pos)))
		if (leasecache_gen(c, l) != 2)
			leasecache_remove(c, l->key, strlen(l->key));
	assert_int_equal(leasecache_count(c), 50);
	for (unsigned i = 0; i < 100; i++) {
		key_of(i, key, sizeof(key));
		l = get_str(c, key);
		if (i % 2) {
			assert_null(l);
		} else {
			assert_non_null(l);
			assert_int_equal(leasecache_gen(c, l), 2);
		}
	}
	/* Marks survive the table's growth. */
	for (unsigned i = 1000; i < 1000 + MANY; i++) {
		key_of(i, key, sizeof(key));
		upsert_str(c, key);
	}
	key_of(0, key, sizeof(key));
	assert_int_equal(leasecache_gen(c, get_str(c, key)), 2);
	leasecache_free(c);
}

/* Entries own what they point to; freeing the cache frees them (ASan's leak check sees it). */
static void test_free_with_attrs(void **state)
{
	struct leasecache *c = new_cache();
	struct lease *l = upsert_str(c, "/p/subnets/10.1.0.0-24");

	l->has_attrs = true;
	l->attrs.backend_data = strdup("{\"VNI\":1}");
	assert_non_null(l->attrs.backend_data);
	l = upsert_str(c, "/p/subnets/10.2.0.0-24");
	l->has_attrs = true;
	l->attrs.backend_v6_data = strdup("null");
	leasecache_remove(c, "/p/subnets/10.2.0.0-24", strlen("/p/subnets/10.2.0.0-24"));
	leasecache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_upsert_get_remove),
		cmocka_unit_test(test_key_length_matters),
		cmocka_unit_test(test_many_survive_growth),
		cmocka_unit_test(test_remove_keeps_others_and_churn),
		cmocka_unit_test(test_iterate_each_once),
		cmocka_unit_test(test_remove_while_iterating),
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_free_with_attrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
