/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for keyhash.c and the tables keyed with it: SipHash-1-3 itself,
 * a fresh seed per table, and, with keys chosen to collide under the hashes
 * the lease cache and the FDB set had before (unkeyed FNV-1a and a fixed
 * mixer), a re-list that still costs a few probes per key instead of one
 * probe per key already in the table. Probes are counted, not timed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/fdbset.h"
#include "lease/keyhash.h"
#include "lease/leasecache.h"

/* Keys colliding in the low COLLIDE_BITS bits collide in every table up to 2^COLLIDE_BITS slots. */
#define COLLIDE_BITS 12
#define N_KEYS	     2000

static const char prefix[] = "/coreos.com/network/subnets/";

/* The lease cache's hash before it was keyed: FNV-1a, 64 bits. */
static uint64_t fnv_step(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The FDB set's hash before it was keyed. */
static uint64_t old_fdb_hash(const uint8_t mac[6], uint8_t kind, const uint8_t dst[16])
{
	uint64_t x = 0, lo, hi;

	memcpy(&x, mac, 6);
	memcpy(&hi, dst, 8);
	memcpy(&lo, dst + 8, 8);
	x ^= (uint64_t)kind << 48 ^ lo << 16 ^ (lo >> 48) ^ hi * 0x9e3779b97f4a7c15ull;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * N_KEYS subnet keys "<prefix>A.B.C.0-24" whose old hash has the same low
 * bits: all of them started their probe runs at one slot.
 */
static char (*colliding_keys(void))[64]
{
	char(*keys)[64] = calloc(N_KEYS, sizeof(*keys));
	const uint64_t mask = (1u << COLLIDE_BITS) - 1;
	uint64_t h0 = fnv_step(1469598103934665603ull, prefix, strlen(prefix)), want = 0;
	size_t n = 0;
	bool have_want = false;

	assert_non_null(keys);
	for (unsigned a = 1; a < 256 && n < N_KEYS; a++) {
		char sa[8], sb[8], sc[16];
		uint64_t ha = fnv_step(h0, sa, (size_t)snprintf(sa, sizeof(sa), "%u.", a));

		for (unsigned b = 0; b < 256 && n < N_KEYS; b++) {
			uint64_t hb = fnv_step(ha, sb, (size_t)snprintf(sb, sizeof(sb), "%u.", b));

			for (unsigned c = 0; c < 256 && n < N_KEYS; c++) {
				uint64_t h = fnv_step(
					hb, sc, (size_t)snprintf(sc, sizeof(sc), "%u.0-24", c));

				if (!have_want) {
					want = h & mask;
					have_want = true;
				}
				if ((h & mask) != want)
					continue;
				snprintf(keys[n++], sizeof(keys[0]), "%s%u.%u.%u.0-24", prefix, a,
					 b, c);
			}
		}
	}
	assert_int_equal(n, N_KEYS);
	/* They do collide under the old hash. */
	for (size_t i = 0; i < N_KEYS; i++)
		assert_int_equal(fnv_step(1469598103934665603ull, keys[i], strlen(keys[i])) & mask,
				 want);
	return keys;
}

/*
 * SipHash-1-3 of 0, 1, 8 and 15 bytes 00 01 02 ... under the key 00..0f.
 * With 2 and 4 rounds the same code gives the reference SipHash-2-4
 * vectors (726fdb47dd0e0e31 for 0 bytes, a129ca6149be45e5 for 15); these
 * values pin the 1-3 variant.
 */
static void test_siphash(void **state)
{
	uint8_t seed[KEYHASH_SEED_LEN], msg[64], other[KEYHASH_SEED_LEN];

	for (int i = 0; i < 16; i++)
		seed[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	assert_true(keyhash(seed, msg, 0) == 0xabac0158050fc4dcull);
	assert_true(keyhash(seed, msg, 1) == 0xc9f49bf37d57ca93ull);
	assert_true(keyhash(seed, msg, 8) == 0x369095118d299a8eull);
	assert_true(keyhash(seed, msg, 15) == 0xd320d86d2a519956ull);
	/* Several whole blocks, as a lease key has (pinned before loads became one memcpy). */
	assert_true(keyhash(seed, msg, 40) == 0xc1d2363299e41531ull);
	assert_true(keyhash(seed, msg, 63) == 0x9d199062b7bbb3a8ull);
	/* The same input and seed, the same hash; every length is its own. */
	assert_true(keyhash(seed, msg, 15) == keyhash(seed, msg, 15));
	for (size_t n = 0; n < 63; n++)
		assert_true(keyhash(seed, msg, n) != keyhash(seed, msg, n + 1));
	/* Another seed, another hash. */
	memcpy(other, seed, sizeof(other));
	other[15] ^= 1;
	assert_true(keyhash(seed, msg, 15) != keyhash(other, msg, 15));
	/* Two fresh seeds differ (getrandom, or the fallback's mix). */
	keyhash_seed(seed);
	keyhash_seed(other);
	assert_memory_not_equal(seed, other, sizeof(seed));
}

/* Two caches hash the same key to different slots (a seed per cache). */
static void test_cache_seeded(void **state)
{
	struct leasecache *a, *b;
	uint64_t pa, pb;
	size_t differ = 0;
	char key[64];

	assert_int_equal(leasecache_new(&a), 0);
	assert_int_equal(leasecache_new(&b), 0);
	/* Insert the same 40 keys in both; the probe counts (placement) must differ somewhere. */
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "%s10.5.%d.0-24", prefix, i);
		pa = leasecache_probes(a);
		pb = leasecache_probes(b);
		leasecache_upsert(a, key, strlen(key));
		leasecache_upsert(b, key, strlen(key));
		differ += leasecache_probes(a) - pa != leasecache_probes(b) - pb;
	}
	/* With 40 keys in 64 slots, identical probe runs in both would be a hash without seed. */
	assert_true(differ > 0);
	leasecache_free(a);
	leasecache_free(b);
}

/*
 * A listing of N keys that collided under the old hash, then a re-list of
 * them all (each key looked up and found again): both linear in N. Under
 * the old hash the re-list alone took N*N/2 = 2 million probes.
 */
static void test_cache_relist_linear(void **state)
{
	char(*keys)[64] = colliding_keys();
	struct leasecache *c;
	uint64_t first, relist;

	assert_int_equal(leasecache_new(&c), 0);
	for (size_t i = 0; i < N_KEYS; i++)
		assert_non_null(leasecache_upsert(c, keys[i], strlen(keys[i])));
	first = leasecache_probes(c);
	for (size_t i = 0; i < N_KEYS; i++)
		assert_non_null(leasecache_upsert(c, keys[i], strlen(keys[i])));
	relist = leasecache_probes(c) - first;
	print_message("lease cache, %d keys colliding under FNV-1a: listing %llu probes, "
		      "re-list %llu probes\n",
		      N_KEYS, (unsigned long long)first, (unsigned long long)relist);
	assert_int_equal(leasecache_count(c), N_KEYS);
	assert_true(first <= 8 * N_KEYS);
	assert_true(relist <= 4 * N_KEYS);
	leasecache_free(c);
	free(keys);
}

/*
 * N MACs whose (MAC, destination) entries collided under the old FDB hash,
 * added (a listing), then added again (a resync): linear in N.
 */
static void test_fdbset_relist_linear(void **state)
{
	const uint64_t mask = (1u << COLLIDE_BITS) - 1;
	uint8_t(*macs)[6] = calloc(N_KEYS, sizeof(*macs)), dst[16] = { 0 };
	struct fdbset s = { 0 };
	uint64_t want = 0, first, again;
	size_t n = 0;

	assert_non_null(macs);
	dst[10] = dst[11] = 0xff;
	dst[12] = 10; /* ::ffff:10.0.0.1, as fdbset_add(.., 0x0a000001) stores it */
	dst[15] = 1;
	for (uint32_t x = 0; n < N_KEYS; x++) {
		uint8_t m[6] = {
			0x02,	   0x42, (uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8),
			(uint8_t)x
		};
		uint64_t h = old_fdb_hash(m, 1, dst) & mask;

		if (x == 0)
			want = h;
		if (h == want)
			memcpy(macs[n++], m, 6);
	}
	for (size_t i = 0; i < N_KEYS; i++)
		assert_int_equal(fdbset_add(&s, macs[i], 0x0a000001u), 0);
	first = s.probes;
	for (size_t i = 0; i < N_KEYS; i++)
		assert_int_equal(fdbset_add(&s, macs[i], 0x0a000001u), 0);
	again = s.probes - first;
	print_message("FDB set, %d MACs colliding under the old hash: listing %llu probes, "
		      "resync %llu probes\n",
		      N_KEYS, (unsigned long long)first, (unsigned long long)again);
	for (size_t i = 0; i < N_KEYS; i++)
		assert_int_equal(fdbset_count(&s, macs[i], 0x0a000001u), 2);
	/* Two entries per add: the (MAC, destination) pair and the MAC's own count. */
	assert_true(first <= 2 * 8 * N_KEYS);
	assert_true(again <= 2 * 4 * N_KEYS);
	fdbset_free(&s);
	free(macs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash),
		cmocka_unit_test(test_cache_seeded),
		cmocka_unit_test(test_cache_relist_linear),
		cmocka_unit_test(test_fdbset_relist_linear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
