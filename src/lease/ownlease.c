/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Our own lease. Acquisition follows upstream's order (reuse the lease that
 * carries our PublicIP, else the previous subnet, else a random free one) but
 * every write is guarded by a compare, lost races are retried, renewal is a
 * keep-alive of the same etcd lease (nothing is rewritten, nothing leaks), and
 * reservations (keys without an etcd lease) stay lease-less. Which key to
 * claim is ownlease_choose.c's.
 */
#include "lease/ownlease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "etcd/etcd.h"
#include "lease/lease.h"
#include "lease/leasecache.h"
#include "lease/leasecheck.h"
#include "lease/leasewatch.h"
#include "lease/ownlease_impl.h"
#include "log.h"
#include "loop.h"

static void publish(struct ownlease *o);

/* Upstream's test, per family: in range with the right length, or absent when disabled. */
bool ownlease_compatible(const struct ownlease *o, const struct subnet_key *k)
{
	const struct netconf *c = o->conf;
	bool v6 = k->has_v6 && k->v6.len != 0;

	if (c->enable_ipv4 && (k->v4.len != c->subnet_len || k->v4.addr < c->subnet_min ||
			       k->v4.addr > c->subnet_max))
		return false;
	if (!c->enable_ipv4 && (k->v4.addr != 0 || k->v4.len != 0))
		return false;
	if (!c->enable_ipv6)
		return !v6;
	return v6 && k->v6.len == c->ipv6_subnet_len &&
	       ip6_to_u128(&k->v6.addr) >= ip6_to_u128(&c->ipv6_subnet_min) &&
	       ip6_to_u128(&k->v6.addr) <= ip6_to_u128(&c->ipv6_subnet_max);
}

char *ownlease_describe(const struct subnet_key *k, char *buf, size_t size)
{
	struct ip6net none = { .len = 0 };
	char a[IP_STRLEN], b[IP_STRLEN];

	snprintf(buf, size, "ip: %s ipv6: %s", ip4net_format(&k->v4, a),
		 ip6net_format(k->has_v6 ? &k->v6 : &none, b));
	return buf;
}

/*
 * The address leases are matched on: PublicIP, or PublicIPv6 without IPv4
 * (upstream's IPv6-only mode compares 0.0.0.0 with 0.0.0.0, so it takes
 * over any lease).
 */
bool ownlease_is_ours(const struct ownlease *o, const struct lease_attrs *a)
{
	if (o->conf->enable_ipv4)
		return a->public_ip == o->public_ip;
	return o->has_public_ipv6 && a->has_public_ipv6 &&
	       ip6_equal(&a->public_ipv6, &o->public_ipv6);
}

/* Our address as the log names it (buf: IP_STRLEN bytes). */
static const char *our_ip(const struct ownlease *o, char *buf)
{
	if (o->conf->enable_ipv4 || !o->has_public_ipv6)
		return ip4_format(o->public_ip, buf);
	return ip6_format(&o->public_ipv6, buf);
}

void ownlease_retry_later(struct ownlease *o, const char *what, const struct etcd_reply *r)
{
	log_warnx("%s: %s, retrying in 1s", what,
		  r && r->message ? r->message
		  : r		  ? strerror(-r->err)
				  : "failed");
	o->state = ST_IDLE;
	loop_timer_arm(o->loop, &o->retry_timer, RETRY_MS);
}

static void ignore_reply(void *arg, const struct etcd_reply *r)
{
}

static void schedule_renewal(struct ownlease *o, int64_t ttl_s)
{
	int64_t delay = ttl_s > o->renew_margin_s ? ttl_s - o->renew_margin_s : ttl_s / 2;
	char when[64];
	time_t t;
	struct tm tm;

	o->expiry_wall = (int64_t)time(NULL) + ttl_s;
	t = (time_t)o->expiry_wall;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_debug(1, "Lease expires at %s; renewing in %llds", when, (long long)delay);
	loop_timer_arm(o->loop, &o->renew_timer, (uint64_t)(delay > 0 ? delay : 1) * 1000u);
}

static void held(struct ownlease *o, int64_t etcd_lease, int64_t create_rev, int64_t ttl_s,
		 uint64_t ttl_at)
{
	char buf[96], pub[IP_STRLEN];
	int64_t elapsed_s = (int64_t)((loop_now_ms() - ttl_at) / 1000u);

	/* A grant kept across retries has been counting down since it was made. */
	if (etcd_lease && ttl_s > elapsed_s)
		ttl_s -= elapsed_s;

	lease_clear(&o->own);
	o->own.key = strdup(o->target_key);
	o->own.subnet = o->target;
	o->own.etcd_lease = etcd_lease;
	o->own.create_revision = create_rev;
	o->state = ST_HELD;
	o->attempts = 0;
	o->acquisitions++;
	if (o->granted && o->granted != etcd_lease) {
		/* A lease granted for a create we did not need: never leak it. */
		etcd_lease_revoke(o->etcd, o->granted, ignore_reply, o);
	}
	o->granted = 0;
	loop_timer_cancel(o->loop, &o->renew_timer);
	if (etcd_lease)
		schedule_renewal(o, ttl_s);
	else
		o->expiry_wall = 0;
	log_info("%s (%s) to current node (%s)%s", o->how,
		 ownlease_describe(&o->target, buf, sizeof(buf)), our_ip(o, pub),
		 etcd_lease ? "" : ", kept as a reservation without etcd lease");
	/* Attributes that changed while we were acquiring may not be in the key. */
	if (o->publish_pending)
		publish(o);
	o->ops->acquired(o->arg, &o->own);
}

static void set_target(struct ownlease *o, const struct subnet_key *k)
{
	char ks[96];

	o->target = *k;
	subnet_key_format(k, ks, sizeof(ks));
	snprintf(o->target_key, sizeof(o->target_key), "%s/subnets/%s", o->prefix, ks);
}

/* Failure answers of our txns carry the key's current kv: learn from it. */
static void learn_kvs(struct ownlease *o, const struct etcd_reply *r)
{
	if (r->n_kvs == 0) {
		/* The compare failed because the key is gone: do not decide on it again. */
		leasewatch_forget(o->watch, o->target_key, strlen(o->target_key));
		return;
	}
	for (size_t i = 0; i < r->n_kvs; i++) {
		const struct etcd_kv *kv = &r->kvs[i];

		leasewatch_apply_kv(o->watch, kv->key, kv->key_len, kv->value, kv->value_len,
				    kv->lease, kv->create_revision, kv->mod_revision, true);
	}
}

static void create_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;

	if (r->err) {
		if (r->grpc_code == 5)
			o->granted = 0; /* our granted lease vanished */
		ownlease_retry_later(o, "Creating the subnet lease failed", r);
		return;
	}
	if (r->succeeded) {
		held(o, o->granted, r->revision, o->granted_ttl, o->granted_at);
		return;
	}
	/* Lost a race for the key: someone else has it now. Pick again. */
	log_info("Subnet %s was taken by another host meanwhile, picking another", o->target_key);
	learn_kvs(o, r);
	o->has_pref = o->has_pref6 = false;
	ownlease_choose(o);
}

static void create_txn(struct ownlease *o)
{
	size_t kl = strlen(o->target_key);
	struct etcd_cmp cmp = { o->target_key, kl, ETCD_CMP_VERSION, ETCD_CMP_EQUAL, 0 };
	struct etcd_op put = { ETCD_OP_PUT, o->target_key, kl, o->value, o->value_len, o->granted };
	struct etcd_op get = { ETCD_OP_RANGE, o->target_key, kl, NULL, 0, 0 };

	if (etcd_txn(o->etcd, &cmp, 1, &put, 1, &get, 1, create_reply, o) < 0)
		ownlease_retry_later(o, "Creating the subnet lease failed", NULL);
}

static void grant_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;
	bool waiting = o->create_waits_grant;

	o->granting = false;
	o->create_waits_grant = false;
	if (!r->err && r->lease_id && o->state == ST_HELD) {
		/* Prepared for a create that did not happen: never leak it. */
		etcd_lease_revoke(o->etcd, r->lease_id, ignore_reply, o);
		return;
	}
	if (r->err || r->lease_id == 0) {
		if (waiting)
			ownlease_retry_later(o, "Granting an etcd lease failed", r);
		return;
	}
	o->granted = r->lease_id;
	o->granted_ttl = r->ttl > 0 ? r->ttl : o->ttl_s;
	o->granted_at = loop_now_ms();
	if (waiting)
		create_txn(o);
}

static int start_grant(struct ownlease *o)
{
	if (o->granting || o->granted)
		return 0;
	o->granting = true;
	if (etcd_lease_grant(o->etcd, o->ttl_s, grant_reply, o) < 0) {
		o->granting = false;
		return -ENOMEM;
	}
	return 0;
}

void ownlease_prepare(struct ownlease *o)
{
	/* Granting while the leases are listed saves a round trip before the create;
	 * a grant we end up not needing is revoked in held(). */
	start_grant(o);
}

void ownlease_create(struct ownlease *o, const struct subnet_key *k, const char *how)
{
	set_target(o, k);
	o->how = how;
	o->state = ST_BUSY;
	if (o->granted) {
		create_txn(o);
		return;
	}
	o->create_waits_grant = true;
	if (start_grant(o) < 0) {
		o->create_waits_grant = false;
		ownlease_retry_later(o, "Granting an etcd lease failed", NULL);
	}
}

static void rewrite_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;

	if (r->err) {
		ownlease_retry_later(o, "Updating our subnet lease failed", r);
		return;
	}
	if (!r->succeeded) {
		/* The key changed hands between our listing and the update. */
		learn_kvs(o, r);
		ownlease_choose(o);
		return;
	}
	held(o, o->target_lease, o->target_create_rev, o->target_ttl, o->target_at);
}

/* Rewrite an existing key with our value, only if it is still the same key. */
static void rewrite(struct ownlease *o)
{
	size_t kl = strlen(o->target_key);
	struct etcd_cmp cmp = { o->target_key, kl, ETCD_CMP_CREATE, ETCD_CMP_EQUAL,
				o->target_create_rev };
	struct etcd_op put = { ETCD_OP_PUT, o->target_key, kl,
			       o->value,    o->value_len,  o->target_lease };
	struct etcd_op get = { ETCD_OP_RANGE, o->target_key, kl, NULL, 0, 0 };

	if (etcd_txn(o->etcd, &cmp, 1, &put, 1, &get, 1, rewrite_reply, o) < 0)
		ownlease_retry_later(o, "Updating our subnet lease failed", NULL);
}

static bool same_value(const struct ownlease *o, const struct lease *l)
{
	return l->has_attrs && lease_attrs_equal(&l->attrs, o->attrs);
}

static void reuse_keepalive_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;
	struct lease *l;

	if (r->err) {
		ownlease_retry_later(o, "Refreshing our existing lease failed", r);
		return;
	}
	if (r->ttl <= 0) {
		/* Its etcd lease is gone, so the key is (about to be) deleted: recreate. */
		ownlease_create(o, &o->target, "Found lease whose etcd lease expired, recreating");
		return;
	}
	o->target_ttl = r->ttl;
	o->target_at = loop_now_ms();
	l = leasecache_get(leasewatch_cache(o->watch), o->target_key, strlen(o->target_key));
	if (l && same_value(o, l))
		held(o, o->target_lease, o->target_create_rev, r->ttl, loop_now_ms());
	else
		rewrite(o);
}

void ownlease_reuse(struct ownlease *o, const struct lease *l)
{
	char buf[96], pub[IP_STRLEN];

	set_target(o, &l->subnet);
	/* Keep the key exactly as found (it may be spelt differently). */
	snprintf(o->target_key, sizeof(o->target_key), "%s", l->key);
	o->target_lease = l->etcd_lease;
	o->target_create_rev = l->create_revision;
	o->how = "Reusing lease";
	o->state = ST_BUSY;
	log_info("Found lease (%s) for current IP (%s), reusing",
		 ownlease_describe(&l->subnet, buf, sizeof(buf)), our_ip(o, pub));
	if (!l->etcd_lease) {
		o->target_ttl = 0;
		if (same_value(o, l))
			held(o, 0, l->create_revision, 0, 0);
		else
			rewrite(o);
		return;
	}
	if (etcd_lease_keepalive(o->etcd, l->etcd_lease, reuse_keepalive_reply, o) < 0)
		ownlease_retry_later(o, "Refreshing our existing lease failed", NULL);
}

static void delete_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;

	if (r->err) {
		ownlease_retry_later(o, "Deleting an incompatible lease failed", r);
		return;
	}
	if (r->succeeded || r->n_kvs == 0)
		leasewatch_forget(o->watch, o->target_key, strlen(o->target_key));
	else
		learn_kvs(o, r);
	ownlease_choose(o);
}

void ownlease_delete_incompatible(struct ownlease *o, const struct lease *l)
{
	char buf[96], pub[IP_STRLEN];
	size_t kl = strlen(l->key);
	struct etcd_cmp cmp = { l->key, kl, ETCD_CMP_CREATE, ETCD_CMP_EQUAL, l->create_revision };
	struct etcd_op del = { ETCD_OP_DELETE, l->key, kl, NULL, 0, 0 };
	struct etcd_op get = { ETCD_OP_RANGE, l->key, kl, NULL, 0, 0 };

	log_info("Found lease (%s) for current IP (%s) but not compatible with current config, "
		 "deleting",
		 ownlease_describe(&l->subnet, buf, sizeof(buf)), our_ip(o, pub));
	snprintf(o->target_key, sizeof(o->target_key), "%s", l->key);
	o->state = ST_BUSY;
	if (etcd_txn(o->etcd, &cmp, 1, &del, 1, &get, 1, delete_reply, o) < 0)
		ownlease_retry_later(o, "Deleting an incompatible lease failed", NULL);
}

/* The first lease in key order that carries our PublicIP. */
static void retry_now(void *arg)
{
	struct ownlease *o = arg;

	if (o->state == ST_IDLE)
		ownlease_choose(o);
}

void ownlease_acquire(struct ownlease *o)
{
	o->attempts = 0;
	ownlease_choose(o);
}

void ownlease_lost(struct ownlease *o, const char *why, bool prefer_same)
{
	char buf[IP_STRLEN];

	log_warnx("Our lease %s %s; re-acquiring (the data path is left as it is)",
		  ip4net_format(&o->own.subnet.v4, buf), why);
	loop_timer_cancel(o->loop, &o->renew_timer);
	/* The old etcd lease lost its key: release it (an expired one answers 404). */
	if (o->own.etcd_lease)
		etcd_lease_revoke(o->etcd, o->own.etcd_lease, ignore_reply, o);
	o->has_pref = prefer_same;
	o->pref = o->own.subnet.v4;
	o->has_pref6 = prefer_same && o->own.subnet.has_v6;
	o->pref6 = o->own.subnet.v6;
	o->state = ST_IDLE;
	o->attempts = 0;
	/* From the loop: the cache still holds the old key while events are delivered. */
	loop_timer_arm(o->loop, &o->retry_timer, 0);
}

static void renew_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;

	if (o->state != ST_HELD || o->own.etcd_lease != o->renewing)
		return; /* answer about a lease we no longer hold */
	if (r->err) {
		log_warnx("Error renewing lease (trying again in 10s): %s",
			  r->message ? r->message : strerror(-r->err));
		loop_timer_arm(o->loop, &o->renew_timer, RENEW_RETRY_MS);
		return;
	}
	if (r->ttl <= 0) {
		ownlease_lost(o, "expired before it could be renewed", true);
		return;
	}
	schedule_renewal(o, r->ttl);
	log_info("Lease renewed, new expiration in %llds", (long long)r->ttl);
}

static void renew_now(void *arg)
{
	struct ownlease *o = arg;

	if (o->state != ST_HELD || !o->own.etcd_lease)
		return;
	o->renewing = o->own.etcd_lease;
	if (etcd_lease_keepalive(o->etcd, o->own.etcd_lease, renew_reply, o) < 0)
		loop_timer_arm(o->loop, &o->renew_timer, RENEW_RETRY_MS);
}

static void publish_reply(void *arg, const struct etcd_reply *r)
{
	struct ownlease *o = arg;

	if (r->err) {
		log_warnx("Publishing our new lease attributes failed: %s, retrying in 1s",
			  r->message ? r->message : strerror(-r->err));
		loop_timer_arm(o->loop, &o->publish_timer, RETRY_MS);
		return;
	}
	/* Not succeeded: the key changed hands, and the watch tells us (a new one gets our value).
	 */
	if (r->succeeded)
		log_info("Published our new lease attributes");
	o->publish_pending = false;
}

/* Put our value on the held key, under the same etcd lease, if it is still the same key. */
static void publish(struct ownlease *o)
{
	size_t kl;

	if (o->state != ST_HELD || !o->own.key)
		return; /* the acquisition in progress writes (or, in held(), publishes) it */
	kl = strlen(o->own.key);
	struct etcd_cmp cmp = { o->own.key, kl, ETCD_CMP_CREATE, ETCD_CMP_EQUAL,
				o->own.create_revision };
	struct etcd_op put = { ETCD_OP_PUT, o->own.key,	  kl,
			       o->value,    o->value_len, o->own.etcd_lease };

	if (etcd_txn(o->etcd, &cmp, 1, &put, 1, NULL, 0, publish_reply, o) < 0)
		loop_timer_arm(o->loop, &o->publish_timer, RETRY_MS);
}

static void publish_now(void *arg)
{
	publish(arg);
}

int ownlease_attrs_changed(struct ownlease *o)
{
	char *v = lease_attrs_format(o->attrs);

	if (!v)
		return -ENOMEM;
	free(o->value);
	o->value = v;
	o->value_len = strlen(v);
	o->publish_pending = true;
	publish(o);
	return 0;
}

/* Our key: the one held, or the one being acquired. */
bool ownlease_owns_key(const struct ownlease *o, const char *key)
{
	if (o->state == ST_HELD)
		return o->own.key && strcmp(o->own.key, key) == 0;
	return o->state == ST_BUSY && strcmp(o->target_key, key) == 0;
}

bool ownlease_may_own(const struct ownlease *o, const struct lease *l)
{
	return ownlease_owns_key(o, l->key) || (l->has_attrs && ownlease_is_ours(o, &l->attrs));
}

/* The held key in its current incarnation (not an older, deleted one). */
static bool is_held(const struct ownlease *o, const struct lease *l)
{
	return o->state == ST_HELD && o->own.key && strcmp(o->own.key, l->key) == 0 &&
	       l->create_revision == o->own.create_revision;
}

bool ownlease_key_changed(struct ownlease *o, const struct lease *l)
{
	char pub[IP_STRLEN];

	if (!ownlease_owns_key(o, l->key))
		return false;
	if (!l->has_attrs || o->state != ST_HELD)
		return true;
	if (!ownlease_is_ours(o, &l->attrs)) {
		log_error("Our lease %s was taken over by %s", l->key,
			  o->conf->enable_ipv4 || !l->attrs.has_public_ipv6
				  ? ip4_format(l->attrs.public_ip, pub)
				  : ip6_format(&l->attrs.public_ipv6, pub));
		/* Its key may still ride on our etcd lease: revoking it would delete it. */
		if (l->etcd_lease == o->own.etcd_lease)
			o->own.etcd_lease = 0;
		ownlease_lost(o, "belongs to another host now", false);
		return false;
	}
	/* Rewritten by us (or by another daemon with our IP): follow its etcd lease. */
	if (l->etcd_lease != o->own.etcd_lease) {
		o->own.etcd_lease = l->etcd_lease;
		if (l->etcd_lease)
			loop_timer_arm(o->loop, &o->renew_timer, 0);
	}
	o->own.create_revision = l->create_revision;
	return true;
}

bool ownlease_key_deleted(struct ownlease *o, const struct lease *l)
{
	if (is_held(o, l)) {
		ownlease_lost(o, "was deleted or has expired", true);
		return true;
	}
	return ownlease_owns_key(o, l->key);
}

int ownlease_new(struct loop *loop, struct etcd *etcd, struct leasewatch *watch,
		 const struct ownlease_params *p, const struct ownlease_ops *ops, void *arg,
		 struct ownlease **ret)
{
	struct ownlease *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->loop = loop;
	o->etcd = etcd;
	o->watch = watch;
	o->ops = ops;
	o->arg = arg;
	o->conf = p->conf;
	o->attrs = p->attrs;
	o->public_ip = p->attrs->public_ip;
	o->has_public_ipv6 = p->attrs->has_public_ipv6;
	o->public_ipv6 = p->attrs->public_ipv6;
	o->ttl_s = p->ttl_s;
	o->renew_margin_s = p->renew_margin_s;
	o->has_pref = p->has_prev_subnet;
	o->pref = p->prev_subnet;
	o->has_pref6 = p->has_prev_ipv6_subnet;
	o->pref6 = p->prev_ipv6_subnet;
	o->prefix = strdup(p->prefix);
	o->value = lease_attrs_format(p->attrs);
	if (!o->prefix || !o->value) {
		ownlease_free(o);
		return -ENOMEM;
	}
	o->value_len = strlen(o->value);
	loop_timer_init(&o->retry_timer, retry_now, o);
	loop_timer_init(&o->renew_timer, renew_now, o);
	loop_timer_init(&o->publish_timer, publish_now, o);
	*ret = o;
	return 0;
}

void ownlease_free(struct ownlease *o)
{
	if (!o)
		return;
	loop_timer_cancel(o->loop, &o->retry_timer);
	loop_timer_cancel(o->loop, &o->renew_timer);
	loop_timer_cancel(o->loop, &o->publish_timer);
	lease_clear(&o->own);
	free(o->prefix);
	free(o->value);
	free(o);
}

bool ownlease_held(const struct ownlease *o)
{
	return o->state == ST_HELD;
}

int64_t ownlease_expiry(const struct ownlease *o)
{
	return o->expiry_wall;
}

uint64_t ownlease_acquisitions(const struct ownlease *o)
{
	return o->acquisitions;
}
