/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for ownlease.c, the state machine of our own lease, linked with
 * the lease watch and cache and a scripted etcd (fake_etcd.c): leases listed
 * and watch events in, etcd requests, acquired()/failed() and timers out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "fake_etcd.h"
#include "lease/lease.h"
#include "lease/leasecache.h"
#include "lease/leasewatch.h"
#include "lease/ownlease.h"

#define PREFIX	"/coreos.com/network"
#define SUBNETS PREFIX "/subnets"
#define OUR_IP	"10.200.0.11"
#define OTHER	"10.200.0.12"
#define TTL	86400
#define MARGIN	3600

/* One daemon's worth of wiring: the watch's events go to the own lease, as daemon.c does. */
struct bed {
	struct netconf conf;
	struct lease_attrs attrs;
	struct leasewatch *watch;
	struct ownlease *own;
	char *value; /* our lease value, as published */
	unsigned acquired, failed;
	char acquired_key[128];
	int64_t acquired_etcd_lease;
	int64_t rev;
};

static struct bed bed;

static void on_added(void *arg, const struct lease *l)
{
	if (bed.own)
		ownlease_key_changed(bed.own, l);
}

static void on_removed(void *arg, const struct lease *l)
{
	if (bed.own)
		ownlease_key_deleted(bed.own, l);
}

static void on_listed(void *arg, int64_t revision, bool first)
{
}

static const struct leasewatch_ops watch_ops = {
	.added = on_added,
	.removed = on_removed,
	.listed = on_listed,
};

static void on_acquired(void *arg, const struct lease *own)
{
	bed.acquired++;
	snprintf(bed.acquired_key, sizeof(bed.acquired_key), "%s", own->key);
	bed.acquired_etcd_lease = own->etcd_lease;
}

static void on_failed(void *arg, const char *msg)
{
	bed.failed++;
	assert_non_null(strstr(msg, "out of subnets"));
}

static const struct ownlease_ops own_ops = {
	.acquired = on_acquired,
	.failed = on_failed,
};

static char *value_of(const char *public_ip, const char *backend)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "{\"PublicIP\":\"%s\",\"PublicIPv6\":null%s%s%s}", public_ip,
		 backend ? ",\"BackendType\":\"" : "", backend ? backend : "", backend ? "\"" : "");
	return buf;
}

/* A listed lease: key under SUBNETS, value, etcd lease, created and modified at rev. */
struct listing {
	struct etcd_kv kv[16];
	char keys[16][128];
	char values[16][256];
	size_t n;
};

static void listing_add(struct listing *s, const char *subnet, const char *value, int64_t lease)
{
	size_t i = s->n++;

	snprintf(s->keys[i], sizeof(s->keys[i]), SUBNETS "/%s", subnet);
	snprintf(s->values[i], sizeof(s->values[i]), "%s", value);
	bed.rev++;
	s->kv[i] = (struct etcd_kv){ .key = s->keys[i],
				     .key_len = strlen(s->keys[i]),
				     .value = s->values[i],
				     .value_len = strlen(s->values[i]),
				     .create_revision = bed.rev,
				     .mod_revision = bed.rev,
				     .version = 1,
				     .lease = lease };
}

/* Config, our attributes, a watch that has listed s (and watches), an own lease. */
static void setup(const char *config, const char *public_ip, const struct listing *s,
		  const char *prev_subnet)
{
	struct ownlease_params p = { .prefix = PREFIX, .ttl_s = TTL, .renew_margin_s = MARGIN };
	struct etcd_reply r = { .revision = 0 };
	char err[256];
	struct fake_call c;

	fake_reset();
	memset(&bed, 0, sizeof(bed));
	bed.rev = 100;
	if (netconf_parse(config, strlen(config), &bed.conf, err, sizeof(err)) != 0)
		fail_msg("%s: %s", config, err);
	assert_int_equal(lease_attrs_parse(value_of(public_ip, NULL),
					   strlen(value_of(public_ip, NULL)), &bed.attrs, err,
					   sizeof(err)),
			 0);
	bed.value = lease_attrs_format(&bed.attrs);
	assert_non_null(bed.value);
	assert_int_equal(leasewatch_new(NULL, NULL, PREFIX, &watch_ops, NULL, &bed.watch), 0);
	leasewatch_start_watch(bed.watch);
	leasewatch_list(bed.watch);
	c = fake_take(FAKE_RANGE);
	r.revision = bed.rev + 100;
	if (s) {
		r.kvs = s->kv;
		r.n_kvs = s->n;
	}
	fake_answer(&c, &r);
	bed.rev = r.revision;
	assert_true(fake_watching());
	p.conf = &bed.conf;
	p.attrs = &bed.attrs;
	if (prev_subnet) {
		p.has_prev_subnet = true;
		assert_int_equal(ip4net_parse(prev_subnet, &p.prev_subnet), 0);
	}
	assert_int_equal(ownlease_new(NULL, NULL, bed.watch, &p, &own_ops, NULL, &bed.own), 0);
}

static void teardown_bed(void)
{
	ownlease_free(bed.own);
	bed.own = NULL;
	leasewatch_free(bed.watch);
	lease_attrs_free(&bed.attrs);
	netconf_free(&bed.conf);
	free(bed.value);
	fake_reset();
}

static void answer_grant(const struct fake_call *c, int64_t id, int64_t ttl)
{
	struct etcd_reply r = { .lease_id = id, .ttl = ttl };

	fake_answer(c, &r);
}

static void answer_ttl(const struct fake_call *c, int64_t ttl)
{
	struct etcd_reply r = { .ttl = ttl, .lease_id = c->id };

	fake_answer(c, &r);
}

/* A txn that succeeded; the watch then reports what it wrote, as etcd would. */
static void answer_txn_ok(const struct fake_call *c)
{
	struct etcd_reply r = { .succeeded = true, .revision = ++bed.rev };

	fake_answer(c, &r);
}

/* A txn whose compare failed; the failure branch's range found key = value (or nothing). */
static void answer_txn_failed(const struct fake_call *c, const char *value, int64_t lease)
{
	struct etcd_kv kv = { .key = c->cmp_key,
			      .key_len = strlen(c->cmp_key),
			      .value = value,
			      .value_len = value ? strlen(value) : 0,
			      .create_revision = bed.rev + 1,
			      .mod_revision = bed.rev + 1,
			      .lease = lease };
	struct etcd_reply r = { .succeeded = false, .revision = ++bed.rev };

	if (value) {
		r.kvs = &kv;
		r.n_kvs = 1;
	}
	fake_answer(c, &r);
}

static void watch_put(const char *key, const char *value, int64_t lease, int64_t create)
{
	struct etcd_event ev = { .kv = { .key = key,
					 .key_len = strlen(key),
					 .value = value,
					 .value_len = strlen(value),
					 .create_revision = create,
					 .mod_revision = ++bed.rev,
					 .lease = lease } };

	fake_watch_deliver(bed.rev, &ev, 1);
}

static void watch_delete(const char *key)
{
	struct etcd_event ev = {
		.is_delete = true,
		.kv = { .key = key, .key_len = strlen(key), .mod_revision = ++bed.rev }
	};

	fake_watch_deliver(bed.rev, &ev, 1);
}

/* The create txn of a new key: compare version == 0, put our value on lease, read it back. */
static struct fake_call take_create(int64_t lease)
{
	struct fake_call c = fake_take(FAKE_TXN);

	assert_int_equal(c.n_cmp, 1);
	assert_int_equal(c.cmp.target, ETCD_CMP_VERSION);
	assert_int_equal(c.cmp.result, ETCD_CMP_EQUAL);
	assert_int_equal(c.cmp.value, 0);
	assert_int_equal(c.success.type, ETCD_OP_PUT);
	assert_string_equal(c.success.key, c.cmp_key);
	assert_string_equal(c.success.value, bed.value);
	assert_int_equal(c.success.lease, lease);
	assert_int_equal(c.failure.type, ETCD_OP_RANGE);
	assert_string_equal(c.failure.key, c.cmp_key);
	assert_int_equal(strncmp(c.cmp_key, SUBNETS "/", strlen(SUBNETS "/")), 0);
	return c;
}

/* Acquire a fresh lease (granted id, TTL ttl) and report it through the watch; its key. */
static const char *acquire_fresh(int64_t id, int64_t ttl)
{
	static char key[512];
	struct fake_call c;
	int64_t created;

	ownlease_acquire(bed.own);
	c = fake_take(FAKE_GRANT);
	assert_int_equal(c.ttl, TTL);
	answer_grant(&c, id, ttl);
	c = take_create(id);
	snprintf(key, sizeof(key), "%s", c.cmp_key);
	answer_txn_ok(&c);
	created = bed.rev;
	assert_true(ownlease_held(bed.own));
	assert_string_equal(bed.acquired_key, key);
	watch_put(key, bed.value, id, created);
	assert_true(ownlease_held(bed.own));
	return key;
}

static void test_fresh_acquire_and_renew(void **state)
{
	const char *key;
	struct fake_call c;
	int64_t t0 = (int64_t)time(NULL);

	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, NULL);
	assert_false(ownlease_held(bed.own));
	key = acquire_fresh(7, 7200);
	assert_int_equal(bed.acquired, 1);
	assert_int_equal(bed.acquired_etcd_lease, 7);
	assert_int_equal(ownlease_acquisitions(bed.own), 1);
	assert_true(ownlease_owns_key(bed.own, key));
	assert_false(ownlease_owns_key(bed.own, SUBNETS "/10.5.255.0-24"));
	assert_in_range(ownlease_expiry(bed.own), t0 + 7200, t0 + 7202);
	assert_int_equal(fake_pending(), 0);

	/* Renewal: a keep-alive of the same etcd lease, TTL - margin later; nothing rewritten. */
	fake_advance_ms((7200 - MARGIN) * 1000ull - 1);
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(1);
	c = fake_take(FAKE_KEEPALIVE);
	assert_int_equal(c.id, 7);
	answer_ttl(&c, 7200);
	assert_int_equal(fake_pending(), 0);
	assert_true(ownlease_held(bed.own));
	assert_int_equal(bed.acquired, 1);

	/* A failed renewal is tried again 10 s later. */
	fake_advance_ms((7200 - MARGIN) * 1000ull);
	c = fake_take(FAKE_KEEPALIVE);
	{
		struct etcd_reply r = { .err = -EREMOTEIO, .grpc_code = 14, .message = "down" };

		fake_answer(&c, &r);
	}
	fake_advance_ms(9999);
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(1);
	c = fake_take(FAKE_KEEPALIVE);
	answer_ttl(&c, 7200);
	assert_true(ownlease_held(bed.own));
	teardown_bed();
}

/* The lease that carries our PublicIP is reused: a keep-alive, no write when the value matches. */
static void test_reuse_same_value(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call c;

	listing_add(&s, "10.5.3.0-24", value_of(OTHER, NULL), 5);
	listing_add(&s, "10.5.9.0-24", value_of(OUR_IP, NULL), 9);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_KEEPALIVE);
	assert_int_equal(c.id, 9);
	answer_ttl(&c, 500);
	assert_true(ownlease_held(bed.own));
	assert_string_equal(bed.acquired_key, SUBNETS "/10.5.9.0-24");
	assert_int_equal(bed.acquired_etcd_lease, 9);
	assert_int_equal(fake_pending(), 0);
	teardown_bed();
}

/* Our lease with another value: rewritten under its etcd lease, only if it is still that key. */
static void test_reuse_rewrites_value(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call c;

	listing_add(&s, "10.5.9.0-24", value_of(OUR_IP, "vxlan"), 9);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_KEEPALIVE);
	answer_ttl(&c, 500);
	c = fake_take(FAKE_TXN);
	assert_string_equal(c.cmp_key, SUBNETS "/10.5.9.0-24");
	assert_int_equal(c.cmp.target, ETCD_CMP_CREATE);
	assert_int_equal(c.cmp.value, s.kv[0].create_revision);
	assert_string_equal(c.success.value, bed.value);
	assert_int_equal(c.success.lease, 9);
	assert_false(ownlease_held(bed.own));
	answer_txn_ok(&c);
	assert_true(ownlease_held(bed.own));
	assert_int_equal(bed.acquired_etcd_lease, 9);
	teardown_bed();
}

/* Our lease whose etcd lease has expired: the same subnet is created again. */
static void test_reuse_expired_recreates(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call c;

	listing_add(&s, "10.5.9.0-24", value_of(OUR_IP, NULL), 9);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_KEEPALIVE);
	answer_ttl(&c, 0);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 12, TTL);
	c = take_create(12);
	assert_string_equal(c.cmp_key, SUBNETS "/10.5.9.0-24");
	answer_txn_ok(&c);
	assert_true(ownlease_held(bed.own));
	teardown_bed();
}

/* A reservation (no etcd lease) with our IP is taken as it is: no keep-alive, no renewal. */
static void test_reservation_kept(void **state)
{
	struct listing s = { .n = 0 };

	listing_add(&s, "10.5.200.0-24", value_of(OUR_IP, NULL), 0);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	assert_true(ownlease_held(bed.own));
	assert_string_equal(bed.acquired_key, SUBNETS "/10.5.200.0-24");
	assert_int_equal(bed.acquired_etcd_lease, 0);
	assert_int_equal(ownlease_expiry(bed.own), 0);
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(TTL * 1000ull);
	assert_int_equal(fake_pending(), 0);
	teardown_bed();
}

/* The previous subnet (subnet.env) is asked for when free; when taken, a random free one. */
static void test_previous_subnet(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call c;

	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, "10.5.42.0/24");
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 3, TTL);
	c = take_create(3);
	assert_string_equal(c.cmp_key, SUBNETS "/10.5.42.0-24");
	teardown_bed();

	listing_add(&s, "10.5.42.0-24", value_of(OTHER, NULL), 5);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, "10.5.42.0/24");
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 3, TTL);
	c = take_create(3);
	assert_string_not_equal(c.cmp_key, SUBNETS "/10.5.42.0-24");
	teardown_bed();

	/* Outside the configured network: ignored. */
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, "10.6.42.0/24");
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 3, TTL);
	c = take_create(3);
	assert_int_equal(strncmp(c.cmp_key, SUBNETS "/10.5.", strlen(SUBNETS "/10.5.")), 0);
	teardown_bed();
}

/* Our IP on a lease the config no longer allows: deleted (if still that key), then a new one. */
static void test_incompatible_lease_deleted(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call c;

	listing_add(&s, "10.6.1.0-24", value_of(OUR_IP, NULL), 4);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_TXN);
	assert_string_equal(c.cmp_key, SUBNETS "/10.6.1.0-24");
	assert_int_equal(c.cmp.target, ETCD_CMP_CREATE);
	assert_int_equal(c.cmp.value, s.kv[0].create_revision);
	assert_int_equal(c.success.type, ETCD_OP_DELETE);
	answer_txn_ok(&c);
	assert_null(leasecache_get(leasewatch_cache(bed.watch), SUBNETS "/10.6.1.0-24",
				   strlen(SUBNETS "/10.6.1.0-24")));
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 8, TTL);
	c = take_create(8);
	assert_int_equal(strncmp(c.cmp_key, SUBNETS "/10.5.", strlen(SUBNETS "/10.5.")), 0);
	teardown_bed();

	/* An incompatible reservation is the administrator's: left alone. */
	memset(&s, 0, sizeof(s));
	listing_add(&s, "10.6.1.0-24", value_of(OUR_IP, NULL), 0);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	fake_take(FAKE_GRANT);
	assert_int_equal(fake_pending(), 0);
	teardown_bed();
}

/* A lost race for a key: learn the winner from the txn answer and pick another subnet. */
static void test_lost_race_picks_another(void **state)
{
	struct fake_call c;
	char first[512];

	setup("{\"Network\":\"10.5.0.0/16\",\"SubnetMin\":\"10.5.1.0\",\"SubnetMax\":\"10.5.2.0\"}",
	      OUR_IP, NULL, NULL);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 7, TTL);
	c = take_create(7);
	snprintf(first, sizeof(first), "%s", c.cmp_key);
	answer_txn_failed(&c, value_of(OTHER, NULL), 99);
	assert_non_null(leasecache_get(leasewatch_cache(bed.watch), first, strlen(first)));
	/* The grant is kept for the next try: straight to the txn, on the other subnet. */
	c = take_create(7);
	assert_string_not_equal(c.cmp_key, first);
	answer_txn_ok(&c);
	assert_true(ownlease_held(bed.own));
	assert_int_equal(fake_pending(), 0); /* the grant was used: nothing to revoke */
	teardown_bed();
}

static void test_out_of_subnets_fails(void **state)
{
	struct listing s = { .n = 0 };

	listing_add(&s, "10.5.1.0-24", value_of(OTHER, NULL), 5);
	listing_add(&s, "10.5.2.0-24", value_of("10.200.0.13", NULL), 6);
	setup("{\"Network\":\"10.5.0.0/16\",\"SubnetMin\":\"10.5.1.0\",\"SubnetMax\":\"10.5.2.0\"}",
	      OUR_IP, &s, NULL);
	ownlease_acquire(bed.own);
	assert_int_equal(bed.failed, 1);
	assert_false(ownlease_held(bed.own));
	assert_int_equal(fake_pending(), 0);
	teardown_bed();
}

/* Our key deleted (or expired) while held: revoke the old etcd lease, take the same subnet again.
 */
static void test_deleted_while_held_reacquires_same(void **state)
{
	char key[512];
	struct fake_call c;

	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, NULL);
	snprintf(key, sizeof(key), "%s", acquire_fresh(7, TTL));
	watch_delete(key);
	assert_false(ownlease_held(bed.own));
	c = fake_take(FAKE_REVOKE);
	assert_int_equal(c.id, 7);
	/* Re-acquired from the loop, not inside the watch callback. */
	assert_int_equal(fake_pending(), 0);
	fake_advance_ms(0);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 8, TTL);
	c = take_create(8);
	assert_string_equal(c.cmp_key, key);
	answer_txn_ok(&c);
	assert_true(ownlease_held(bed.own));
	assert_int_equal(bed.acquired, 2);
	assert_int_equal(ownlease_acquisitions(bed.own), 2);
	teardown_bed();
}

/* An old incarnation's delete (before our create) does not count as losing the lease. */
static void test_stale_delete_ignored(void **state)
{
	char key[512];
	struct lease *l;

	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, NULL);
	snprintf(key, sizeof(key), "%s", acquire_fresh(7, TTL));
	l = leasecache_get(leasewatch_cache(bed.watch), key, strlen(key));
	assert_non_null(l);
	/* What the watch calls on a delete, for a lease of an older create revision. */
	{
		struct lease old = *l;

		old.create_revision = l->create_revision - 1;
		assert_true(ownlease_key_deleted(bed.own, &old)); /* our key... */
	}
	assert_true(ownlease_held(bed.own)); /* ...but not the incarnation we hold */
	assert_int_equal(fake_pending(), 0);
	teardown_bed();
}

/* Another host wrote our key: lost, and not taken back (no revoke of the lease it rides on). */
static void test_taken_over(void **state)
{
	char key[512];
	struct fake_call c;
	struct lease *l;

	setup("{\"Network\":\"10.5.0.0/16\",\"SubnetMin\":\"10.5.1.0\",\"SubnetMax\":\"10.5.2.0\"}",
	      OUR_IP, NULL, NULL);
	snprintf(key, sizeof(key), "%s", acquire_fresh(7, TTL));
	l = leasecache_get(leasewatch_cache(bed.watch), key, strlen(key));
	watch_put(key, value_of(OTHER, NULL), 7, l->create_revision);
	assert_false(ownlease_held(bed.own));
	assert_int_equal(fake_pending(), 0); /* revoking lease 7 would delete their key */
	fake_advance_ms(0);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 8, TTL);
	c = take_create(8);
	assert_string_not_equal(c.cmp_key, key);
	teardown_bed();
}

/* A keep-alive that finds the etcd lease gone: re-acquire the same subnet. */
static void test_renewal_finds_lease_gone(void **state)
{
	char key[512];
	struct fake_call c;

	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, NULL);
	snprintf(key, sizeof(key), "%s", acquire_fresh(7, 2 * MARGIN));
	fake_advance_ms(MARGIN * 1000ull);
	c = fake_take(FAKE_KEEPALIVE);
	answer_ttl(&c, 0);
	assert_false(ownlease_held(bed.own));
	c = fake_take(FAKE_REVOKE);
	assert_int_equal(c.id, 7);
	fake_advance_ms(0);
	/* The key is still listed with our IP until etcd deletes it: asked about, found gone. */
	c = fake_take(FAKE_KEEPALIVE);
	assert_int_equal(c.id, 7);
	answer_ttl(&c, 0);
	c = fake_take(FAKE_GRANT);
	answer_grant(&c, 9, TTL);
	c = take_create(9);
	assert_string_equal(c.cmp_key, key);
	teardown_bed();
}

/* A grant prepared during the listing, then not needed (our lease was reused): revoked. */
static void test_prepared_grant_not_leaked(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call grant, c;

	listing_add(&s, "10.5.9.0-24", value_of(OUR_IP, NULL), 9);
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_prepare(bed.own);
	grant = fake_take(FAKE_GRANT);
	answer_grant(&grant, 11, TTL);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_KEEPALIVE);
	answer_ttl(&c, 500);
	assert_true(ownlease_held(bed.own));
	c = fake_take(FAKE_REVOKE);
	assert_int_equal(c.id, 11);

	/* A grant answered after the lease is held is revoked as well. */
	teardown_bed();
	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, &s, NULL);
	ownlease_prepare(bed.own);
	grant = fake_take(FAKE_GRANT);
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_KEEPALIVE);
	answer_ttl(&c, 500);
	answer_grant(&grant, 12, TTL);
	c = fake_take(FAKE_REVOKE);
	assert_int_equal(c.id, 12);
	teardown_bed();
}

/* New attributes (a backend's new MAC) are written to the held key, guarded by its create revision.
 */
static void test_attrs_changed_publishes(void **state)
{
	char key[512];
	struct fake_call c;
	struct lease *l;

	setup("{\"Network\":\"10.5.0.0/16\"}", OUR_IP, NULL, NULL);
	snprintf(key, sizeof(key), "%s", acquire_fresh(7, TTL));
	l = leasecache_get(leasewatch_cache(bed.watch), key, strlen(key));
	snprintf(bed.attrs.backend_type, sizeof(bed.attrs.backend_type), "vxlan");
	assert_int_equal(ownlease_attrs_changed(bed.own), 0);
	c = fake_take(FAKE_TXN);
	assert_string_equal(c.cmp_key, key);
	assert_int_equal(c.cmp.target, ETCD_CMP_CREATE);
	assert_int_equal(c.cmp.value, l->create_revision);
	assert_int_equal(c.success.lease, 7);
	assert_non_null(strstr(c.success.value, "\"BackendType\":\"vxlan\""));
	assert_int_equal(c.n_failure, 0);
	teardown_bed();
}

/* IPv6-only: our lease is found by PublicIPv6; another host's 0.0.0.0 PublicIP is not ours. */
static void test_ipv6_only_matches_public_ipv6(void **state)
{
	struct listing s = { .n = 0 };
	struct fake_call c;
	char err[128];

	listing_add(&s, "0.0.0.0-0&fc00:0:0:1::-64",
		    "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00::12\"}", 5);
	setup("{\"EnableIPv4\":false,\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\"}", "0.0.0.0",
	      &s, NULL);
	/* Our attributes carry a PublicIPv6: rebuild the own lease with them. */
	ownlease_free(bed.own);
	bed.own = NULL;
	lease_attrs_free(&bed.attrs);
	free(bed.value);
	{
		const char *v = "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00::11\"}";
		struct ownlease_params p = { .prefix = PREFIX,
					     .ttl_s = TTL,
					     .renew_margin_s = MARGIN,
					     .conf = &bed.conf,
					     .attrs = &bed.attrs };

		assert_int_equal(lease_attrs_parse(v, strlen(v), &bed.attrs, err, sizeof(err)), 0);
		bed.value = lease_attrs_format(&bed.attrs);
		assert_int_equal(ownlease_new(NULL, NULL, bed.watch, &p, &own_ops, NULL, &bed.own),
				 0);
	}
	ownlease_acquire(bed.own);
	c = fake_take(FAKE_GRANT); /* not a keep-alive of the other host's lease 5 */
	answer_grant(&c, 7, TTL);
	c = take_create(7);
	assert_int_equal(strncmp(c.cmp_key, SUBNETS "/0.0.0.0-0&fc00:0:0:", strlen(SUBNETS) + 20),
			 0);
	assert_string_not_equal(c.cmp_key, SUBNETS "/0.0.0.0-0&fc00:0:0:1::-64");
	teardown_bed();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_acquire_and_renew),
		cmocka_unit_test(test_reuse_same_value),
		cmocka_unit_test(test_reuse_rewrites_value),
		cmocka_unit_test(test_reuse_expired_recreates),
		cmocka_unit_test(test_reservation_kept),
		cmocka_unit_test(test_previous_subnet),
		cmocka_unit_test(test_incompatible_lease_deleted),
		cmocka_unit_test(test_lost_race_picks_another),
		cmocka_unit_test(test_out_of_subnets_fails),
		cmocka_unit_test(test_deleted_while_held_reacquires_same),
		cmocka_unit_test(test_stale_delete_ignored),
		cmocka_unit_test(test_taken_over),
		cmocka_unit_test(test_renewal_finds_lease_gone),
		cmocka_unit_test(test_prepared_grant_not_leaked),
		cmocka_unit_test(test_attrs_changed_publishes),
		cmocka_unit_test(test_ipv6_only_matches_public_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
