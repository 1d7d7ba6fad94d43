/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for backend/fdbset.c: counts, and deletion keeping every other key findable. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/fdbset.h"

static void test_counts(void **state)
{
	static const uint8_t a[6] = { 0x0a, 0, 0, 0, 0, 1 }, b[6] = { 0x0a, 0, 0, 0, 0, 2 };
	struct fdbset s = { 0 };

	assert_int_equal(fdbset_count(&s, a, 1), 0);
	assert_int_equal(fdbset_count_mac(&s, a), 0);
	fdbset_del(&s, a, 1); /* on an empty set */
	assert_int_equal(fdbset_add(&s, a, 1), 0);
	assert_int_equal(fdbset_add(&s, a, 1), 0); /* a host re-registered: two leases, one entry */
	assert_int_equal(fdbset_add(&s, a, 2), 0);
	assert_int_equal(fdbset_count(&s, a, 1), 2);
	assert_int_equal(fdbset_count(&s, a, 2), 1);
	assert_int_equal(fdbset_count(&s, a, 3), 0);
	assert_int_equal(fdbset_count_mac(&s, a), 3);
	assert_int_equal(fdbset_count_mac(&s, b), 0);
	/* Deleting what nobody wanted leaves the MAC's count alone. */
	fdbset_del(&s, a, 9);
	assert_int_equal(fdbset_count_mac(&s, a), 3);
	fdbset_del(&s, a, 1);
	assert_int_equal(fdbset_count(&s, a, 1), 1);
	fdbset_del(&s, a, 1);
	fdbset_del(&s, a, 2);
	assert_int_equal(fdbset_count(&s, a, 1), 0);
	assert_int_equal(fdbset_count_mac(&s, a), 0);
	assert_int_equal(s.used, 0);
	fdbset_free(&s);
	assert_null(s.slots);
}

/* Random adds and deletes against a plain array model, through several growths. */
/* IPv6 destinations count apart from IPv4 ones, and from ::ffff:0.0.0.1's cousins. */
static void test_v6(void **state)
{
	static const uint8_t a[6] = { 2, 0, 0, 0, 0, 1 };
	struct ip6 d6 = { { 0xfd, 0, 2, [15] = 2 } }, mapped1 = { { [10] = 0xff, 0xff, [15] = 1 } };
	struct fdbset s = { 0 };

	assert_int_equal(fdbset_add6(&s, a, &d6), 0);
	assert_int_equal(fdbset_add6(&s, a, &d6), 0);
	assert_int_equal(fdbset_add(&s, a, 1), 0);
	assert_int_equal(fdbset_count6(&s, a, &d6), 2);
	assert_int_equal(fdbset_count(&s, a, 1), 1);
	/* An IPv4 destination is kept IPv4-mapped: the same key, by design. */
	assert_int_equal(fdbset_count6(&s, a, &mapped1), 1);
	assert_int_equal(fdbset_count_mac(&s, a), 3);
	fdbset_del6(&s, a, &d6);
	assert_int_equal(fdbset_count6(&s, a, &d6), 1);
	fdbset_del6(&s, a, &d6);
	fdbset_del6(&s, a, &d6); /* nobody wants it any more: no-op */
	assert_int_equal(fdbset_count6(&s, a, &d6), 0);
	assert_int_equal(fdbset_count_mac(&s, a), 1);
	fdbset_free(&s);
}

static void test_model(void **state)
{
	enum { KEYS = 3000, OPS = 60000 };
	static unsigned model[KEYS];
	struct fdbset s = { 0 };
	uint64_t rng = 88172645463325252ull;

	for (int op = 0; op < OPS; op++) {
		unsigned k;
		uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0 };

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (unsigned)(rng % KEYS);
		mac[4] = (uint8_t)(k / 7 >> 8); /* several keys share a MAC */
		mac[5] = (uint8_t)(k / 7);
		if ((rng >> 32) % 3 && model[k] < 3) {
			assert_int_equal(fdbset_add(&s, mac, 0x0a000000u + k), 0);
			model[k]++;
		} else {
			fdbset_del(&s, mac, 0x0a000000u + k);
			if (model[k])
				model[k]--;
		}
		if (op % 5000 == 0 || op == OPS - 1) {
			for (unsigned j = 0; j < KEYS; j++) {
				uint8_t m[6] = {
					0x02, 0, 0, 0, (uint8_t)(j / 7 >> 8), (uint8_t)(j / 7)
				};
				unsigned want_mac = 0;

				assert_int_equal(fdbset_count(&s, m, 0x0a000000u + j), model[j]);
				for (unsigned x = j / 7 * 7; x < j / 7 * 7 + 7 && x < KEYS; x++)
					want_mac += model[x];
				assert_int_equal(fdbset_count_mac(&s, m), want_mac);
			}
		}
	}
	fdbset_free(&s);
}

/* Marks: only on wanted entries, reported once, kept through growth and deletion, cleared. */
static void test_marks(void **state)
{
	static const uint8_t a[6] = { 0x0a, 0, 0, 0, 0, 1 };
	struct ip6 d6 = { { 0xfd, 0, 2, [15] = 2 } };
	struct fdbset s = { 0 };

	assert_false(fdbset_mark(&s, a, 1)); /* on an empty set */
	assert_int_equal(fdbset_add(&s, a, 1), 0);
	assert_int_equal(fdbset_add(&s, a, 2), 0);
	assert_int_equal(fdbset_add6(&s, a, &d6), 0);
	assert_false(fdbset_mark(&s, a, 3)); /* nobody wants it: not marked, not added */
	assert_false(fdbset_mark(&s, a, 3));
	assert_int_equal(fdbset_count(&s, a, 3), 0);
	assert_false(fdbset_mark(&s, a, 1));
	assert_true(fdbset_mark(&s, a, 1));
	assert_false(fdbset_mark(&s, a, 2));
	assert_false(fdbset_mark6(&s, a, &d6));
	assert_true(fdbset_mark6(&s, a, &d6));
	/* Through growth and the moves of a deletion. */
	for (uint32_t d = 100; d < 300; d++)
		assert_int_equal(fdbset_add(&s, a, d), 0);
	for (uint32_t d = 100; d < 300; d += 2)
		fdbset_del(&s, a, d);
	assert_true(fdbset_mark(&s, a, 1));
	assert_true(fdbset_mark(&s, a, 2));
	assert_false(fdbset_mark(&s, a, 101));
	assert_true(fdbset_mark(&s, a, 101));
	/* Counts are untouched by marks; an entry deleted and added again comes back unmarked. */
	assert_int_equal(fdbset_count(&s, a, 1), 1);
	fdbset_del(&s, a, 2);
	assert_int_equal(fdbset_add(&s, a, 2), 0);
	assert_false(fdbset_mark(&s, a, 2));
	fdbset_clear_marks(&s);
	assert_false(fdbset_mark(&s, a, 1));
	assert_false(fdbset_mark(&s, a, 101));
	assert_false(fdbset_mark6(&s, a, &d6));
	fdbset_free(&s);
}

/* A reserved set takes that many peers without growing, and keeps what it held. */
static void test_reserve(void **state)
{
	uint8_t mac[6] = { 0x0a };
	struct fdbset s = { 0 };
	size_t cap;

	assert_int_equal(fdbset_add(&s, mac, 7), 0);
	assert_int_equal(fdbset_reserve(&s, 1000), 0);
	cap = s.cap;
	assert_true(cap / 3 * 2 >= s.used + 2 * 1000);
	assert_true(cap < 2 * 3 * (s.used + 2 * 1000)); /* no more than growing would make */
	for (uint32_t i = 0; i < 1000; i++) {
		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		assert_int_equal(fdbset_add(&s, mac, i), 0);
	}
	assert_int_equal(s.cap, cap);
	assert_int_equal(fdbset_reserve(&s, 0), 0);
	assert_int_equal(s.cap, cap);
	mac[4] = mac[5] = 0;
	assert_int_equal(fdbset_count(&s, mac, 7), 1);
	assert_int_equal(fdbset_reserve(&s, SIZE_MAX / 4), -ENOMEM);
	assert_int_equal(fdbset_count(&s, mac, 7), 1);
	fdbset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),	cmocka_unit_test(test_model),
		cmocka_unit_test(test_v6),	cmocka_unit_test(test_marks),
		cmocka_unit_test(test_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
