/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for leasewatch.c, linked alone with the lease cache and parsers
 * and a scripted etcd (fake_etcd.c): decoded listing pages and watch events
 * in, cache contents and added/removed/page/listed calls out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "fake_etcd.h"
#include "lease/lease.h"
#include "lease/leasecache.h"
#include "lease/leasewatch.h"

#define PREFIX	"/coreos.com/network"
#define SUBNETS PREFIX "/subnets"

struct rec {
	unsigned added, removed, pages, listed;
	size_t page_leases;
	int64_t listed_rev;
	bool listed_first;
	char last_added[128], last_removed[128];
	uint32_t last_added_ip;
};

static struct rec rec;

static void on_added(void *arg, const struct lease *l)
{
	rec.added++;
	snprintf(rec.last_added, sizeof(rec.last_added), "%s", l->key);
	rec.last_added_ip = l->attrs.public_ip;
}

static void on_removed(void *arg, const struct lease *l)
{
	rec.removed++;
	snprintf(rec.last_removed, sizeof(rec.last_removed), "%s", l->key);
}

static void on_page(void *arg, const struct lease *const *l, size_t n)
{
	rec.pages++;
	rec.page_leases += n;
	for (size_t i = 0; i < n; i++)
		assert_true(l[i]->has_attrs);
}

static void on_listed(void *arg, int64_t revision, bool first)
{
	rec.listed++;
	rec.listed_rev = revision;
	rec.listed_first = first;
}

static const struct leasewatch_ops ops = {
	.added = on_added,
	.removed = on_removed,
	.page = on_page,
	.listed = on_listed,
};

/* Decoded key-values: storage for one page or one watch message. */
struct kvs {
	struct etcd_kv kv[600];
	char keys[600][64];
	char values[600][96];
	size_t n;
};

static const char *subnet_key(unsigned i, char *buf, size_t size)
{
	/* 10.<a>.<b>.0/24, then 11.x.x.0/24: 131072 distinct subnets. */
	snprintf(buf, size, SUBNETS "/%u.%u.%u.0-24", 10 + i / 65536, (i / 256) % 256, i % 256);
	return buf;
}

static const char *value_for(unsigned host, char *buf, size_t size)
{
	snprintf(buf, size, "{\"PublicIP\":\"10.200.%u.%u\",\"PublicIPv6\":null}", host / 256,
		 host % 256);
	return buf;
}

static void kvs_add(struct kvs *s, const char *key, const char *value, int64_t lease,
		    int64_t create, int64_t mod)
{
	size_t i = s->n++;

	assert_true(i < 600);
	snprintf(s->keys[i], sizeof(s->keys[i]), "%s", key);
	snprintf(s->values[i], sizeof(s->values[i]), "%s", value);
	s->kv[i] = (struct etcd_kv){ .key = s->keys[i],
				     .key_len = strlen(s->keys[i]),
				     .value = s->values[i],
				     .value_len = strlen(s->values[i]),
				     .create_revision = create,
				     .mod_revision = mod,
				     .version = 1,
				     .lease = lease };
}

/* Lease i of host i, created and last modified at revision 100 + i. */
static void kvs_add_lease(struct kvs *s, unsigned i, int64_t mod)
{
	char k[64], v[96];

	kvs_add(s, subnet_key(i, k, sizeof(k)), value_for(i, v, sizeof(v)), 0, 100 + i, mod);
}

static void answer_page(const struct fake_call *c, int64_t revision, const struct kvs *s, bool more)
{
	struct etcd_reply r = {
		.revision = revision, .kvs = s->kv, .n_kvs = s->n, .more = more, .count = 0
	};

	fake_answer(c, &r);
}

static void answer_error(const struct fake_call *c, int err, int grpc_code)
{
	struct etcd_reply r = { .err = err, .grpc_code = grpc_code, .message = "scripted error" };

	fake_answer(c, &r);
}

static struct leasewatch *new_watch(void)
{
	struct leasewatch *w = NULL;

	fake_reset();
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(leasewatch_new(NULL, NULL, PREFIX, &ops, NULL, &w), 0);
	return w;
}

static void done(struct leasewatch *w)
{
	leasewatch_free(w);
	assert_false(fake_watching());
	fake_reset();
}

static size_t count(struct leasewatch *w)
{
	return leasecache_count(leasewatch_cache(w));
}

static struct lease *cached(struct leasewatch *w, const char *key)
{
	return leasecache_get(leasewatch_cache(w), key, strlen(key));
}

static struct leasewatch_stats stats(struct leasewatch *w)
{
	struct leasewatch_stats s;

	leasewatch_get_stats(w, &s);
	return s;
}

/* List n leases (0..n-1, mod revision 100 + i) in one page at revision rev; start the watch. */
static struct leasewatch *listed_watch(unsigned n, int64_t rev)
{
	struct leasewatch *w = new_watch();
	struct kvs *s = calloc(1, sizeof(*s));
	struct fake_call c;

	assert_non_null(s);
	leasewatch_start_watch(w); /* asked for before the listing: starts after it */
	assert_false(fake_watching());
	leasewatch_list(w);
	c = fake_take(FAKE_RANGE);
	for (unsigned i = 0; i < n; i++)
		kvs_add_lease(s, i, 100 + i);
	answer_page(&c, rev, s, false);
	free(s);
	assert_int_equal(count(w), n);
	assert_true(fake_watching());
	assert_int_equal(fake_watch_start_rev(), rev + 1);
	memset(&rec, 0, sizeof(rec));
	return w;
}

static void test_list_in_pages_then_watch(void **state)
{
	struct leasewatch *w = new_watch();
	struct kvs *s = calloc(1, sizeof(*s));
	struct fake_call c;
	char k[64];

	assert_non_null(s);
	leasewatch_list(w);
	c = fake_take(FAKE_RANGE);
	/* The whole prefix, as upstream spells it (no trailing slash), at the current revision. */
	assert_string_equal(c.key, SUBNETS);
	assert_true(c.has_range_end);
	assert_int_equal(c.revision, 0);
	assert_int_equal(c.limit, 500);

	for (unsigned i = 0; i < 500; i++)
		kvs_add_lease(s, i, 100 + i);
	answer_page(&c, 1000, s, true);
	assert_int_equal(rec.added, 500);
	assert_int_equal(rec.pages, 1);
	assert_int_equal(rec.page_leases, 500);
	assert_int_equal(rec.listed, 0);

	/* The next page starts right after the last key, at the first page's revision. */
	c = fake_take(FAKE_RANGE);
	subnet_key(499, k, sizeof(k));
	assert_int_equal(c.key_len, strlen(k) + 1);
	assert_memory_equal(c.key, k, strlen(k) + 1);
	assert_int_equal(c.revision, 1000);

	s->n = 0;
	kvs_add_lease(s, 500, 600);
	kvs_add(s, SUBNETS "/not-a-subnet", "{}", 0, 1, 1); /* skipped, counted */
	answer_page(&c, 1001, s, false);
	assert_int_equal(rec.added, 501);
	assert_int_equal(rec.pages, 2);
	assert_int_equal(rec.page_leases, 501);
	assert_int_equal(rec.listed, 1);
	assert_true(rec.listed_first);
	assert_int_equal(rec.listed_rev, 1000); /* the revision the listing is consistent at */
	assert_int_equal(count(w), 501);
	assert_int_equal(stats(w).bad_leases, 1);
	assert_int_equal(stats(w).lists, 1);

	/* No watch until asked for; then from the listing's revision + 1. */
	assert_false(fake_watching());
	leasewatch_start_watch(w);
	assert_true(fake_watching());
	assert_int_equal(fake_watch_start_rev(), 1001);
	assert_int_equal(fake_pending(), 0);
	free(s);
	done(w);
}

static void deliver_put(const char *key, const char *value, int64_t lease, int64_t create,
			int64_t mod)
{
	struct etcd_event ev = { .is_delete = false,
				 .kv = { .key = key,
					 .key_len = strlen(key),
					 .value = value,
					 .value_len = strlen(value),
					 .create_revision = create,
					 .mod_revision = mod,
					 .lease = lease } };

	fake_watch_deliver(mod, &ev, 1);
}

static void deliver_delete(const char *key, int64_t mod)
{
	struct etcd_event ev = {
		.is_delete = true, .kv = { .key = key, .key_len = strlen(key), .mod_revision = mod }
	};

	fake_watch_deliver(mod, &ev, 1);
}

static void test_watch_events(void **state)
{
	struct leasewatch *w = listed_watch(3, 200);
	char k0[64], k1[64], k9[64], v[96];

	subnet_key(0, k0, sizeof(k0));
	subnet_key(1, k1, sizeof(k1));
	subnet_key(9, k9, sizeof(k9));

	/* A new lease. */
	deliver_put(k9, value_for(9, v, sizeof(v)), 77, 201, 201);
	assert_int_equal(rec.added, 1);
	assert_string_equal(rec.last_added, k9);
	assert_int_equal(cached(w, k9)->etcd_lease, 77);
	assert_int_equal(cached(w, k9)->create_revision, 201);
	assert_int_equal(count(w), 4);

	/* A changed value: added again, with the new attributes. */
	deliver_put(k0, value_for(50, v, sizeof(v)), 0, 100, 202);
	assert_int_equal(rec.added, 2);
	assert_int_equal(rec.last_added_ip, (10u << 24 | 200u << 16 | 50u));

	/* The same revision again (a replay): nothing. */
	deliver_put(k0, value_for(51, v, sizeof(v)), 0, 100, 202);
	assert_int_equal(rec.added, 2);
	assert_int_equal(cached(w, k0)->attrs.public_ip, (10u << 24 | 200u << 16 | 50u));

	/* A delete. */
	deliver_delete(k1, 203);
	assert_int_equal(rec.removed, 1);
	assert_string_equal(rec.last_removed, k1);
	assert_null(cached(w, k1));
	assert_int_equal(count(w), 3);

	/* A delete older than what the cache holds (the key was recreated since): ignored. */
	deliver_put(k1, value_for(1, v, sizeof(v)), 0, 210, 210);
	deliver_delete(k1, 205);
	assert_non_null(cached(w, k1));
	assert_int_equal(rec.removed, 1);

	/* A delete of a key never seen: nothing. */
	deliver_delete(SUBNETS "/10.99.0.0-24", 211);
	assert_int_equal(rec.removed, 1);

	assert_int_equal(stats(w).events, 7);
	assert_int_equal(stats(w).bad_leases, 0);
	done(w);
}

static void test_bad_input_is_skipped(void **state)
{
	struct leasewatch *w = listed_watch(2, 200);
	char k0[64], v[96], *big;
	size_t big_len = 64 * 1024 + 1;

	subnet_key(0, k0, sizeof(k0));

	/* A key that is no subnet key: not cached, counted, nothing else touched. */
	deliver_put(SUBNETS "/10.1.0.0-33", value_for(1, v, sizeof(v)), 0, 201, 201);
	deliver_put(SUBNETS "/junk", value_for(1, v, sizeof(v)), 0, 202, 202);
	assert_int_equal(count(w), 2);
	assert_int_equal(stats(w).bad_leases, 2);
	assert_int_equal(rec.added, 0);
	assert_int_equal(rec.removed, 0);

	/* A malformed value for a known lease keeps its last good value (data path unchanged). */
	deliver_put(k0, "{\"PublicIP\":", 0, 100, 203);
	assert_int_equal(stats(w).bad_leases, 3);
	assert_int_equal(rec.added, 0);
	assert_true(cached(w, k0)->has_attrs);
	assert_int_equal(cached(w, k0)->attrs.public_ip, (10u << 24 | 200u << 16));

	/* A value over the 64 KiB cap is not parsed at all. */
	big = malloc(big_len + 1);
	assert_non_null(big);
	memset(big, ' ', big_len);
	memcpy(big, value_for(60, v, sizeof(v)), strlen(v));
	big[big_len] = '\0';
	deliver_put(k0, big, 0, 100, 204);
	free(big);
	assert_int_equal(stats(w).bad_leases, 4);
	assert_int_equal(rec.added, 0);
	assert_int_equal(cached(w, k0)->attrs.public_ip, (10u << 24 | 200u << 16));

	/* A malformed value for a new key: cached without attributes, no added(). */
	deliver_put(SUBNETS "/10.9.0.0-24", "[]", 0, 205, 205);
	assert_int_equal(stats(w).bad_leases, 5);
	assert_int_equal(rec.added, 0);
	assert_false(cached(w, SUBNETS "/10.9.0.0-24")->has_attrs);
	done(w);
}

/* A txn's failure answer can be ahead of the watch: the older event is not applied after it. */
static void test_txn_answer_ahead_of_watch(void **state)
{
	struct leasewatch *w = listed_watch(1, 200);
	char k[64], v[96];
	struct lease *l;

	subnet_key(5, k, sizeof(k));
	l = leasewatch_apply_kv(w, k, strlen(k), value_for(5, v, sizeof(v)),
				strlen(value_for(5, v, sizeof(v))), 9, 220, 220, true);
	assert_non_null(l);
	assert_int_equal(rec.added, 1);
	deliver_put(k, value_for(6, v, sizeof(v)), 8, 210, 210);
	assert_int_equal(rec.added, 1);
	assert_int_equal(cached(w, k)->etcd_lease, 9);
	assert_null(leasewatch_apply_kv(w, "/x/y", 4, "{}", 2, 0, 1, 1, true));

	/* leasewatch_forget: known gone (a txn said so), with a removed() call. */
	leasewatch_forget(w, k, strlen(k));
	assert_int_equal(rec.removed, 1);
	assert_null(cached(w, k));
	leasewatch_forget(w, k, strlen(k));
	assert_int_equal(rec.removed, 1);
	done(w);
}

/* Relist after the watch stopped: leases 0, 2 unchanged, 1 gone, 3 changed, 4 new (rev 300). */
static void relist_and_check(struct leasewatch *w, unsigned starts_before)
{
	struct kvs *s = calloc(1, sizeof(*s));
	struct fake_call c;
	char k1[64], k3[64], k4[64], v[96];

	assert_non_null(s);
	subnet_key(1, k1, sizeof(k1));
	subnet_key(3, k3, sizeof(k3));
	subnet_key(4, k4, sizeof(k4));
	/* Re-listed from the loop, not from inside the watch callback. */
	assert_int_equal(fake_pending(), 0);
	assert_true(fake_timer_armed_within(0));
	fake_advance_ms(0);
	assert_false(fake_watching());
	c = fake_take(FAKE_RANGE);
	assert_string_equal(c.key, SUBNETS);
	assert_int_equal(c.revision, 0);

	kvs_add_lease(s, 0, 100);
	kvs_add_lease(s, 2, 102);
	kvs_add(s, k3, value_for(33, v, sizeof(v)), 0, 103, 290);
	kvs_add_lease(s, 4, 295);
	answer_page(&c, 300, s, false);
	free(s);

	assert_int_equal(rec.removed, 1);
	assert_string_equal(rec.last_removed, k1);
	assert_int_equal(rec.added, 2); /* 3 changed and 4 new; 0 and 2 unchanged */
	assert_null(cached(w, k1));
	assert_non_null(cached(w, k4));
	assert_int_equal(cached(w, k3)->attrs.public_ip, (10u << 24 | 200u << 16 | 33u));
	assert_int_equal(count(w), 4);
	assert_int_equal(rec.listed, 1);
	assert_false(rec.listed_first);
	assert_int_equal(rec.listed_rev, 300);
	/* The watch resumes right after the new listing. */
	assert_true(fake_watching());
	assert_int_equal(fake_watch_starts(), starts_before + 1);
	assert_int_equal(fake_watch_start_rev(), 301);
}

static void test_compaction_relists_and_diffs(void **state)
{
	struct leasewatch *w = listed_watch(4, 200);

	fake_watch_compacted(250);
	assert_int_equal(stats(w).resyncs, 1);
	relist_and_check(w, 1);
	done(w);
}

/* A watch message over the size cap ends the watch as compaction does (compact revision 0). */
static void test_oversized_watch_message_relists(void **state)
{
	struct leasewatch *w = listed_watch(4, 200);

	fake_watch_compacted(0);
	assert_int_equal(stats(w).resyncs, 1);
	relist_and_check(w, 1);
	done(w);
}

/* A page answer over the size cap: ask again with 1/8 of the keys, down to one. */
static void test_oversized_page_shrinks(void **state)
{
	struct leasewatch *w = new_watch();
	struct kvs *s = calloc(1, sizeof(*s));
	struct fake_call c;
	const int64_t limits[] = { 500, 62, 7, 1 };

	assert_non_null(s);
	leasewatch_list(w);
	for (size_t i = 0; i < 4; i++) {
		c = fake_take(FAKE_RANGE);
		assert_int_equal(c.limit, limits[i]);
		assert_string_equal(c.key, SUBNETS);
		if (i < 3)
			answer_error(&c, -EMSGSIZE, 0);
	}
	/* Still too big at one key: retried a second later, not in a tight loop. */
	answer_error(&c, -EMSGSIZE, 0);
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(999);
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(1);
	c = fake_take(FAKE_RANGE);
	assert_int_equal(c.limit, 1);
	kvs_add_lease(s, 0, 100);
	answer_page(&c, 400, s, true);
	/* Later pages keep the small size. */
	c = fake_take(FAKE_RANGE);
	assert_int_equal(c.limit, 1);
	assert_int_equal(c.revision, 400);
	s->n = 0;
	answer_page(&c, 400, s, false);
	assert_int_equal(rec.listed, 1);
	assert_int_equal(count(w), 1);
	/* The next listing starts at the full page size again. */
	leasewatch_list(w);
	c = fake_take(FAKE_RANGE);
	assert_int_equal(c.limit, 500);
	answer_page(&c, 401, s, false);
	assert_int_equal(rec.removed, 1); /* lease 0 was not in that listing */
	free(s);
	done(w);
}

/* An error answer mid-listing is retried a second later from the same page and revision. */
static void test_list_error_resumes_page(void **state)
{
	struct leasewatch *w = new_watch();
	struct kvs *s = calloc(1, sizeof(*s));
	struct fake_call c;
	char k[64];

	assert_non_null(s);
	leasewatch_list(w);
	c = fake_take(FAKE_RANGE);
	for (unsigned i = 0; i < 500; i++)
		kvs_add_lease(s, i, 100 + i);
	answer_page(&c, 1000, s, true);
	c = fake_take(FAKE_RANGE);
	answer_error(&c, -EREMOTEIO, 4);
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(1000);
	c = fake_take(FAKE_RANGE);
	subnet_key(499, k, sizeof(k));
	assert_memory_equal(c.key, k, strlen(k) + 1);
	assert_int_equal(c.revision, 1000);
	s->n = 0;
	answer_page(&c, 1000, s, false);
	assert_int_equal(rec.listed, 1);
	assert_int_equal(count(w), 500);
	assert_int_equal(rec.removed, 0);
	free(s);
	done(w);
}

/* The listing's revision compacted mid-way (OutOfRange): start over, forgetting the aborted pass.
 */
static void test_list_compacted_midway_starts_over(void **state)
{
	struct leasewatch *w = listed_watch(3, 200);
	struct kvs *s = calloc(1, sizeof(*s));
	struct fake_call c;
	char k0[64];

	assert_non_null(s);
	subnet_key(0, k0, sizeof(k0));
	fake_watch_compacted(250);
	fake_advance_ms(0);
	c = fake_take(FAKE_RANGE);
	/* Page 1 of the new listing holds lease 0 only... */
	kvs_add_lease(s, 0, 100);
	answer_page(&c, 260, s, true);
	c = fake_take(FAKE_RANGE);
	assert_int_equal(c.revision, 260);
	answer_error(&c, -EREMOTEIO, 11);
	fake_advance_ms(1000);
	/* ...and the retry starts from the prefix at the current revision. */
	c = fake_take(FAKE_RANGE);
	assert_string_equal(c.key, SUBNETS);
	assert_int_equal(c.revision, 0);
	/* Lease 0 is gone by now: the mark of the aborted pass must not keep it. */
	s->n = 0;
	kvs_add_lease(s, 1, 101);
	kvs_add_lease(s, 2, 102);
	answer_page(&c, 270, s, false);
	assert_null(cached(w, k0));
	assert_int_equal(count(w), 2);
	assert_int_equal(rec.removed, 1);
	assert_string_equal(rec.last_removed, k0);
	assert_int_equal(rec.listed_rev, 270);
	assert_int_equal(fake_watch_start_rev(), 271);
	free(s);
	done(w);
}

static void test_watch_start_failure_retries(void **state)
{
	struct leasewatch *w = new_watch();
	struct kvs s = { .n = 0 };
	struct fake_call c;

	leasewatch_list(w);
	c = fake_take(FAKE_RANGE);
	leasewatch_start_watch(w); /* while listing: waits for the listing */
	assert_false(fake_watching());
	fake_watch_fail_next();
	answer_page(&c, 50, &s, false);
	assert_false(fake_watching());
	fake_advance_ms(1000);
	assert_true(fake_watching());
	assert_int_equal(fake_watch_start_rev(), 51);
	done(w);
}

/* At most 100000 leases are held: a new key beyond that is skipped, known keys still update. */
static void test_lease_cap(void **state)
{
	enum { CAP = 100000, BATCH = 1000 };
	struct leasewatch *w = new_watch();
	struct etcd_event *ev = calloc(BATCH, sizeof(*ev));
	char(*keys)[64] = calloc(BATCH, 64);
	struct kvs empty = { .n = 0 };
	struct fake_call c;
	char v[96], k0[64];
	int64_t rev = 10;

	assert_non_null(ev);
	assert_non_null(keys);
	leasewatch_start_watch(w);
	leasewatch_list(w);
	c = fake_take(FAKE_RANGE);
	answer_page(&c, rev, &empty, false);
	value_for(1, v, sizeof(v));
	for (unsigned base = 0; base <= CAP; base += BATCH) {
		size_t n = 0;

		for (unsigned i = base; i < base + BATCH && i <= CAP; i++, n++) {
			subnet_key(i, keys[n], 64);
			ev[n] = (struct etcd_event){ .kv = { .key = keys[n],
							     .key_len = strlen(keys[n]),
							     .value = v,
							     .value_len = strlen(v),
							     .create_revision = ++rev,
							     .mod_revision = rev } };
		}
		fake_watch_deliver(rev, ev, n);
	}
	assert_int_equal(count(w), CAP);
	assert_int_equal(rec.added, CAP);
	assert_int_equal(stats(w).bad_leases, 1);
	subnet_key(CAP, v, sizeof(v));
	assert_null(cached(w, v));
	/* A known lease still changes at the cap. */
	subnet_key(0, k0, sizeof(k0));
	deliver_put(k0, value_for(7, v, sizeof(v)), 0, 11, ++rev);
	assert_int_equal(rec.added, CAP + 1);
	assert_int_equal(cached(w, k0)->attrs.public_ip, (10u << 24 | 200u << 16 | 7u));
	/* After a delete there is room for one more. */
	deliver_delete(k0, ++rev);
	subnet_key(CAP, k0, sizeof(k0));
	deliver_put(k0, value_for(8, v, sizeof(v)), 0, rev + 1, rev + 1);
	assert_non_null(cached(w, k0));
	assert_int_equal(count(w), CAP);
	free(ev);
	free(keys);
	done(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_in_pages_then_watch),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_bad_input_is_skipped),
		cmocka_unit_test(test_txn_answer_ahead_of_watch),
		cmocka_unit_test(test_compaction_relists_and_diffs),
		cmocka_unit_test(test_oversized_watch_message_relists),
		cmocka_unit_test(test_oversized_page_shrinks),
		cmocka_unit_test(test_list_error_resumes_page),
		cmocka_unit_test(test_list_compacted_midway_starts_over),
		cmocka_unit_test(test_watch_start_failure_retries),
		cmocka_unit_test(test_lease_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
