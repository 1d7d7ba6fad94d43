/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which key our lease goes to, in upstream's order: the lease that already
 * carries our PublicIP (reused, or deleted when its subnet no longer fits
 * the config), else the previous subnet if it is free, else a random free
 * one among PICK_CANDIDATES (alloc_choice.c draws it).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lease/alloc_choice.h"
#include "config.h"
#include "etcd/etcd.h"
#include "lease/lease.h"
#include "lease/leasecache.h"
#include "lease/leasecheck.h"
#include "lease/leasewatch.h"
#include "lease/ownlease_impl.h"
#include "log.h"
#include "loop.h"

static struct lease *find_ours(struct ownlease *o)
{
	struct leasecache *c = leasewatch_cache(o->watch);
	struct lease *l, *best = NULL;
	size_t pos = 0;

	while ((l = leasecache_next(c, &pos))) {
		if (!l->has_attrs || !ownlease_is_ours(o, &l->attrs))
			continue;
		/* An incompatible reservation is the administrator's: leave it. */
		if (!l->etcd_lease && !ownlease_compatible(o, &l->subnet))
			continue;
		if (!best || strcmp(l->key, best->key) < 0)
			best = l;
	}
	return best;
}

/*
 * No lease overlaps k in an enabled family. An IPv6-only lease's 0.0.0.0/0
 * is no IPv4 subnet (upstream lets it block every IPv4 one).
 */
static bool subnet_free(struct ownlease *o, const struct subnet_key *k)
{
	struct leasecache *c = leasewatch_cache(o->watch);
	struct lease *l;
	size_t pos = 0;

	while ((l = leasecache_next(c, &pos))) {
		/* A lease no host may hold (wrong length, host bits, outside) claims nothing. */
		if (lease_subnet_check(o->conf, &l->subnet, NULL, NULL, 0) < 0)
			continue;
		if (o->conf->enable_ipv4 && l->subnet.v4.len &&
		    ip4net_overlaps(&l->subnet.v4, &k->v4))
			return false;
		if (o->conf->enable_ipv6 && l->subnet.has_v6 && l->subnet.v6.len &&
		    ip6net_overlaps(&l->subnet.v6, &k->v6))
			return false;
	}
	return true;
}

/*
 * Upstream picks at random among the first ALLOC_MAX_CANDIDATES (100) free
 * subnets, so hosts that join at once all aim at the same 100 and most of
 * them lose the race (300 hosts at once: 233 lost races). Any free subnet
 * is as good for compatibility; a wider window keeps joins collision-free
 * while still filling the range from the bottom.
 */
#define PICK_CANDIDATES 4096

static uint64_t random64(void)
{
	uint64_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = loop_now_ms() * 6364136223846793005ull;
	return rnd;
}

static int pick_random4(struct ownlease *o, struct ip4net *ret)
{
	struct leasecache *c = leasewatch_cache(o->watch);
	size_t n = leasecache_count(c), k = 0, pos = 0, n_free;
	struct ip4net *taken = malloc((n ? n : 1) * sizeof(*taken));
	struct ip4net *cand = malloc(PICK_CANDIDATES * sizeof(*cand));
	char lo[16], hi[16];
	struct lease *l;

	if (!taken || !cand) {
		free(taken);
		free(cand);
		return -ENOMEM;
	}
	while ((l = leasecache_next(c, &pos)))
		if (l->subnet.v4.len)
			taken[k++] = l->subnet.v4;
	log_info("Picking subnet in range %s ... %s", ip4_format(o->conf->subnet_min, lo),
		 ip4_format(o->conf->subnet_max, hi));
	errno = 0;
	n_free = alloc_free_ip4(o->conf, taken, k, cand, PICK_CANDIDATES);
	free(taken);
	if (n_free == 0) {
		free(cand);
		return errno == ENOMEM ? -ENOMEM : -ENOSPC;
	}
	*ret = cand[alloc_pick(n_free, random64())];
	free(cand);
	return 0;
}

static int pick_random6(struct ownlease *o, struct ip6net *ret)
{
	struct leasecache *c = leasewatch_cache(o->watch);
	size_t n = leasecache_count(c), k = 0, pos = 0, n_free;
	struct ip6net *taken = malloc((n ? n : 1) * sizeof(*taken));
	struct ip6net *cand = malloc(PICK_CANDIDATES * sizeof(*cand));
	char lo[IP_STRLEN], hi[IP_STRLEN];
	struct lease *l;

	if (!taken || !cand) {
		free(taken);
		free(cand);
		return -ENOMEM;
	}
	while ((l = leasecache_next(c, &pos)))
		if (l->subnet.has_v6 && l->subnet.v6.len)
			taken[k++] = l->subnet.v6;
	log_info("Picking ipv6 subnet in range %s ... %s",
		 ip6_format(&o->conf->ipv6_subnet_min, lo),
		 ip6_format(&o->conf->ipv6_subnet_max, hi));
	errno = 0;
	n_free = alloc_free_ip6(o->conf, taken, k, cand, PICK_CANDIDATES);
	free(taken);
	if (n_free == 0) {
		free(cand);
		return errno == ENOMEM ? -ENOMEM : -ENOSPC;
	}
	*ret = cand[alloc_pick(n_free, random64())];
	free(cand);
	return 0;
}

/* A free subnet in each enabled family. */
static int pick_random(struct ownlease *o, struct subnet_key *ret)
{
	struct subnet_key k = { 0 };
	int r = 0;

	if (o->conf->enable_ipv4)
		r = pick_random4(o, &k.v4);
	if (r == 0 && o->conf->enable_ipv6) {
		r = pick_random6(o, &k.v6);
		k.has_v6 = r == 0;
	}
	if (r == 0)
		*ret = k;
	return r;
}

/* The previous subnets (subnet.env, or the lease we lost) as a key, when there are any. */
static bool prev_key(const struct ownlease *o, struct subnet_key *k)
{
	memset(k, 0, sizeof(*k));
	if ((o->conf->enable_ipv4 && !o->has_pref) || (o->conf->enable_ipv6 && !o->has_pref6))
		return false;
	if (o->conf->enable_ipv4)
		k->v4 = o->pref;
	if (o->conf->enable_ipv6) {
		k->has_v6 = true;
		k->v6 = o->pref6;
	}
	return o->conf->enable_ipv4 || o->conf->enable_ipv6;
}

void ownlease_choose(struct ownlease *o)
{
	struct subnet_key k = { 0 };
	struct lease *l;
	int r;

	if (++o->attempts > MAX_ATTEMPTS) {
		log_error("max retries reached trying to acquire a subnet; starting over in 10s");
		o->attempts = 0;
		o->state = ST_IDLE;
		loop_timer_arm(o->loop, &o->retry_timer, 10 * RETRY_MS);
		return;
	}
	l = find_ours(o);
	if (l) {
		if (ownlease_compatible(o, &l->subnet))
			ownlease_reuse(o, l);
		else
			ownlease_delete_incompatible(o, l);
		return;
	}
	if (prev_key(o, &k)) {
		char buf[96];

		if (ownlease_compatible(o, &k) && subnet_free(o, &k)) {
			log_info("Found previously leased subnet (%s), reusing",
				 ownlease_describe(&k, buf, sizeof(buf)));
			ownlease_create(o, &k, "Allocated previously leased subnet");
			return;
		}
		if (!ownlease_compatible(o, &k))
			log_info("Found previously leased subnet (%s) that is not compatible with "
				 "the Etcd network config, ignoring",
				 ownlease_describe(&k, buf, sizeof(buf)));
		o->has_pref = o->has_pref6 = false;
	}
	r = pick_random(o, &k);
	if (r == -ENOSPC) {
		o->state = ST_FAILED;
		o->ops->failed(o->arg, "failed to acquire lease: out of subnets");
		return;
	}
	if (r < 0) {
		ownlease_retry_later(o, "Picking a subnet failed", NULL);
		return;
	}
	ownlease_create(o, &k, "Allocated lease");
}
