/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer engine (peer_engine.h): reads the kernel, writes the batches,
 * logs; what to do is decided in peer_decide.c. Used by vxlan and host-gw
 * (both families) and ipip; vxlan's neighbours and FDB entries are in
 * peer_l2.c.
 */
#include "backend/peer_engine.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/peer_decide.h"
#include "backend/peer_impl.h"
#include "backend/repair.h"
#include "lease/lease.h"
#include "log.h"
#include "netlink/nl.h"
#include "lease/subnet.h"

static const char *const op_names[] = {
	[PE_OP_ROUTE_ADD] = "add route",	[PE_OP_ROUTE_DEL] = "delete route",
	[PE_OP_NH_ADD] = "add nexthop",		[PE_OP_NH_DEL] = "delete nexthop",
	[PE_OP_NEIGH_ADD] = "add neighbour",	[PE_OP_FDB_ADD] = "add FDB entry",
	[PE_OP_NEIGH_DEL] = "delete neighbour", [PE_OP_FDB_DEL] = "delete FDB entry",
};

/* "IPv6 " in the logs of an IPv6 table, as they always read. */
static const char *fam(const struct pe_table *t)
{
	return t->family == AF_INET6 ? "IPv6 " : "";
}

/*
 * A batch's error names the subnet: a cookie numbers its request in the
 * batch, and the destinations of the last NL_BATCH_REQS (all an error can
 * be about) are kept in a ring, not one per request of a batch of 30000.
 */
uintptr_t pe_cookie(struct pe_table *t, enum pe_op_kind op, const struct kaddr *dst)
{
	if (!t->cdst && !(t->cdst = malloc(NL_BATCH_REQS * sizeof(*t->cdst))))
		return (uintptr_t)op; /* number 0 reads as unknown */
	t->cdst[t->ncdst % NL_BATCH_REQS] = *dst;
	t->ncdst++;
	return (uintptr_t)t->ncdst << 3 | (uintptr_t)op;
}

/* The destination of request number i (from 1) of the batch, if still in the ring. */
static const struct kaddr *cookie_dst(const struct pe_table *t, size_t i)
{
	if (!t->cdst || i == 0 || i > t->ncdst || t->ncdst - i >= NL_BATCH_REQS)
		return NULL;
	return &t->cdst[(i - 1) % NL_BATCH_REQS];
}

static void batch_error(void *arg, uintptr_t c, uint16_t type, int err, const char *extack)
{
	struct pe_table *t = arg;
	const struct kaddr *dst = cookie_dst(t, (size_t)(c >> 3));
	char a[IP_STRLEN];

	t->failed = true;
	log_warnx("Failed to %s for %s %s %s: %s", op_names[c & 7],
		  dst ? kaddr_format(dst, a) : "a subnet", t->l2 ? "on" : "via", t->via,
		  extack && *extack ? extack : strerror(-err));
}

static void batch_begin(struct pe_table *t)
{
	t->failed = false;
	t->ncdst = 0;
	nl_batch_begin(t->nl, batch_error, NULL, t);
}

static void batch_end(struct pe_table *t)
{
	nl_batch_end(t->nl);
	if (t->failed)
		repair_later(t->heal);
	else
		repair_done(t->heal);
}

/* ------------------------------------------------------------ requests */

static void q_route_del(struct pe_table *t, const struct kprefix *dst, uint32_t priority)
{
	struct nl_route r = route_del_route(dst, priority);

	if (nl_msg_route(nl_batch_slot(t->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(t->nl, NL_OK_ENOENT, pe_cookie(t, PE_OP_ROUTE_DEL, &dst->addr));
}

static void q_nexthop_del(struct pe_table *t, uint32_t id)
{
	struct nl_nexthop nh = { .id = id };

	if (nl_msg_nexthop(nl_batch_slot(t->nl), RTM_DELNEXTHOP, 0, &nh))
		nl_batch_add(t->nl, NL_OK_ENOENT,
			     pe_cookie(t, PE_OP_NH_DEL,
				       &(struct kaddr){
					       .family = AF_INET,
					       .v4 = id,
				       }));
}

static void q_nexthop_add(struct pe_table *t, const struct pe_peer *p)
{
	struct route_want w = pe_want(t, p);
	struct nl_nexthop nh = route_want_nexthop(&w);

	if (nl_msg_nexthop(nl_batch_slot(t->nl), RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &nh))
		nl_batch_add(t->nl, 0, pe_cookie(t, PE_OP_NH_ADD, &p->subnet.addr));
}

/* Replaces a route to the same subnet (and metric) whoever made it, as upstream does. */
static void q_route_add(struct pe_table *t, const struct pe_peer *p)
{
	struct route_want w = pe_want(t, p);
	struct nl_route r = route_want_route(&w);

	if (nl_msg_route(nl_batch_slot(t->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(t->nl, 0, pe_cookie(t, PE_OP_ROUTE_ADD, &p->subnet.addr));
}

/* Upstream's order: neighbour, FDB entry, route (after the nexthop it names). */
static void q_peer_add(struct pe_table *t, const struct pe_peer *p)
{
	if (p->skipped)
		return;
	if (pe_has_l2(t, p)) {
		pe_l2_neigh(t, &p->subnet.addr, p->mac);
		pe_l2_fdb(t, true, p->mac, &p->public_ip, &p->subnet.addr);
	}
	if (pe_want(t, p).nexthop)
		q_nexthop_add(t, p);
	q_route_add(t, p);
}

/* The kernel entries of p (p still in the table). */
static void q_peer_del(struct pe_table *t, const struct pe_peer *p)
{
	if (p->skipped)
		return;
	q_route_del(t, &p->subnet, route_metric(t->family));
	if (pe_want(t, p).nexthop)
		q_nexthop_del(t, p->subnet.addr.v4);
	if (pe_has_l2(t, p)) {
		pe_l2_neigh(t, &p->subnet.addr, NULL);
		pe_l2_fdb_del(t, p);
	}
}

/* pe_plan's emit: each operation queued as it is decided. */
static void q_op(void *arg, const struct pe_op *op)
{
	struct pe_table *t = arg;

	switch (op->kind) {
	case PE_OP_ROUTE_DEL:
		q_route_del(t, &op->stale->dst, op->stale->priority);
		break;
	case PE_OP_NH_ADD:
		q_nexthop_add(t, op->peer);
		break;
	case PE_OP_ROUTE_ADD:
		q_route_add(t, op->peer);
		break;
	case PE_OP_NH_DEL:
		q_nexthop_del(t, op->stale->dst.addr.v4);
		break;
	case PE_OP_NEIGH_ADD:
		pe_l2_neigh(t, &op->peer->subnet.addr, op->peer->mac);
		break;
	case PE_OP_FDB_ADD:
		pe_l2_fdb(t, true, op->peer->mac, &op->peer->public_ip, &op->peer->subnet.addr);
		break;
	case PE_OP_NEIGH_DEL:
		pe_l2_neigh(t, &op->stale->dst.addr, NULL);
		break;
	case PE_OP_FDB_DEL:
		pe_l2_fdb(t, false, op->stale->mac, &op->stale->dst.addr, &op->stale->dst.addr);
		break;
	}
}

/* ops->reach, keeping the count of skipped peers in the table right. */
static void reach(struct pe_table *t, struct pe_peer *p, bool in_table)
{
	bool was = p->skipped;

	t->ops->reach(t->arg, p, in_table);
	if (in_table)
		t->nskipped += (size_t)p->skipped - (size_t)was;
}

/* ------------------------------------------------------------ kernel */

static int count_cb(void *arg, const struct nlmsghdr *nlh)
{
	return 0;
}

int pe_probe_nexthops(struct nl *nl)
{
	NL_MSG_BUF(buf);

	if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
		return -EINVAL;
	return nl_dump(nl, (const void *)buf, count_cb, NULL, NULL);
}

int pe_route_lookup(struct nl *nl, const struct kaddr *a, struct nl_route *ret)
{
	return a->family == AF_INET6 ? nl_route_lookup6(nl, &a->v6, ret)
				     : nl_route_lookup(nl, a->v4, ret);
}

/* ------------------------------------------------------------ converge */

int pe_add_stale(struct kstate *k, const struct pe_stale *st)
{
	if (k->nstale == k->capstale) {
		size_t cap = k->capstale ? 2 * k->capstale : 64;
		struct pe_stale *n = realloc(k->stale, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		k->stale = n;
		k->capstale = cap;
	}
	k->stale[k->nstale++] = *st;
	return 0;
}

/* A dump starts over (NLM_F_DUMP_INTR): forget what its first try found. */
void pe_reset_kind(struct kstate *k, unsigned bit, enum pe_stale_kind kind)
{
	size_t j = 0;

	for (size_t i = 0; i < k->t->npeers; i++)
		k->have[i] &= (uint8_t)~bit;
	for (size_t i = 0; i < k->nstale; i++)
		if (k->stale[i].kind != kind)
			k->stale[j++] = k->stale[i];
	k->nstale = j;
}

static void reset_nexthops(void *arg)
{
	pe_reset_kind(arg, PE_HAVE_NEXTHOP, PE_STALE_NEXTHOP);
}

static void reset_routes(void *arg)
{
	pe_reset_kind(arg, PE_HAVE_ROUTE, PE_STALE_ROUTE);
}

static int dump_nexthop_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct nl_nexthop nh;
	char sn[IP_STRLEN];
	struct pe_peer *p;

	if (nl_parse_nexthop(nlh, &nh) < 0)
		return 0;
	switch (pe_judge_nexthop(k->t, &nh, &p)) {
	case PE_FOREIGN:
		log_warnx("Nexthop id %u (subnet %s) belongs to someone else (protocol %u): "
			  "using a plain route for that subnet",
			  nh.id, kprefix_format(&p->subnet, sn), nh.protocol);
		p->classic = true;
		return 0;
	case PE_HAVE:
		k->have[p - k->t->peers] |= PE_HAVE_NEXTHOP;
		return 0;
	case PE_STALE:
		return pe_add_stale(k, &(struct pe_stale){ .kind = PE_STALE_NEXTHOP,
							   .dst.addr = kaddr_v4(nh.id) });
	default:
		return 0;
	}
}

static int dump_route_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct nl_route r;
	struct pe_peer *p;

	if (nl_parse_route(nlh, &r) < 0)
		return 0;
	switch (pe_judge_route(k->t, &r, &p)) {
	case PE_HAVE:
		k->have[p - k->t->peers] |= PE_HAVE_ROUTE;
		return 0;
	case PE_STALE:
		return pe_add_stale(k, &(struct pe_stale){
					       .dst = { .addr = route_dst(&r), .len = r.dst_len },
					       .priority = r.priority,
				       });
	default:
		return 0;
	}
}

static int dump_kernel(struct pe_table *t, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

	if (t->kernel_nexthops && t->family == AF_INET) {
		if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
			return -EINVAL;
		r = nl_dump(t->nl, (const void *)buf, dump_nexthop_cb, reset_nexthops, k);
		if (r < 0)
			return r;
	}
	if (!nl_msg_dump(buf, RTM_GETROUTE, t->family, 0))
		return -EINVAL;
	r = nl_dump(t->nl, (const void *)buf, dump_route_cb, reset_routes, k);
	return r < 0 || !t->l2 ? r : pe_l2_dump(t, k);
}

static void log_converged(const struct pe_table *t, unsigned added, size_t nstale)
{
	const char *errs = t->failed ? " (with errors)" : "";

	if (t->l2 && !added && !nstale)
		log_debug(1, "Converged %s: %zu subnets, nothing to change", t->via, t->npeers);
	else if (t->l2)
		log_info(
			"Converged %s: %zu subnets, %u added or fixed, %zu stale entries removed%s",
			t->via, t->npeers, added, nstale, errs);
	else if (!added && !nstale)
		log_debug(1, "Converged %sroutes via %s: %zu subnets, nothing to change", fam(t),
			  t->via, t->npeers);
	else if (t->ops->reach)
		log_info("Converged %sroutes via %s: %zu subnets (%zu skipped), %u added or fixed, "
			 "%zu stale entries removed%s",
			 fam(t), t->via, t->npeers, t->nskipped, added, nstale, errs);
	else
		log_info("Converged %sroutes via %s: %zu subnets, %u added or fixed, "
			 "%zu stale entries removed%s",
			 fam(t), t->via, t->npeers, added, nstale, errs);
}

void pe_converge(struct pe_table *t)
{
	struct kstate k = { .t = t };
	unsigned added = 0;
	int r = -ENOMEM;

	if (t->l2 && t->ifindex <= 0)
		return; /* no device yet */
	for (size_t i = 0; t->nskipped && i < t->npeers; i++)
		if (t->peers[i].skipped)
			reach(t, &t->peers[i], true);
	k.have = calloc(t->npeers ? t->npeers : 1, 1);
	if (k.have)
		r = dump_kernel(t, &k);
	if (r < 0 && t->l2) {
		log_warnx("Cannot read the kernel's entries for %s: %s", t->via, strerror(-r));
		repair_later(t->heal);
		goto out;
	}
	if (r < 0) {
		log_warnx("Cannot read the kernel's %sroutes: %s", fam(t), strerror(-r));
		repair_later(t->heal);
		goto out;
	}
	batch_begin(t);
	pe_plan(t, k.have, k.stale, k.nstale, q_op, t, &added);
	batch_end(t);
	log_converged(t, added, k.nstale);
out:
	free(k.have);
	free(k.stale);
}

/* ------------------------------------------------------------ leases */

bool pe_lease_subnet(const struct pe_table *t, const struct lease *l, struct kprefix *ret)
{
	if (t->family == AF_INET6) {
		if (!l->subnet.has_v6 || l->subnet.v6.len == 0)
			return false;
		*ret = kprefix_v6(&l->subnet.v6);
		return true;
	}
	if (l->subnet.v4.len == 0)
		return false;
	*ret = kprefix_v4(&l->subnet.v4);
	return true;
}

int pe_peer_from_lease(const struct pe_table *t, const struct lease *l, const char *type,
		       const struct kprefix *own, struct log_limit *lim, struct pe_peer *ret)
{
	bool v6 = t->family == AF_INET6;
	struct kprefix subnet;
	char sn[IP_STRLEN];

	if (!l->has_attrs || !pe_lease_subnet(t, l, &subnet))
		return 0;
	if (own && kprefix_equal(&subnet, own))
		return 0;
	if (strcmp(l->attrs.backend_type, type) != 0) {
		/* Said once per lease: by the IPv4 table, which a lease with both has too. */
		if (!v6)
			log_debug(1, "Ignoring non-%s subnet %s: type=%s", type,
				  kprefix_format(&subnet, sn), l->attrs.backend_type);
		return 0;
	}
	if (v6 ? !l->attrs.has_public_ipv6 || ip6_is_zero(&l->attrs.public_ipv6)
	       : l->attrs.public_ip == 0) {
		if (log_limit_ok(lim,
				 v6 ? "subnets without PublicIPv6" : "subnets without PublicIP"))
			log_warnx("Ignoring subnet %s: no PublicIP%s", kprefix_format(&subnet, sn),
				  v6 ? "v6" : "");
		return 0;
	}
	*ret = (struct pe_peer){
		.subnet = subnet,
		.public_ip = v6 ? kaddr_v6(&l->attrs.public_ipv6) : kaddr_v4(l->attrs.public_ip),
	};
	return 1;
}

static void log_added(const struct pe_peer *p)
{
	char sn[IP_STRLEN], ip[IP_STRLEN];

	log_info("Subnet added: %s via %s%s", kprefix_format(&p->subnet, sn),
		 kaddr_format(&p->public_ip, ip), p->direct ? " (direct routing)" : "");
}

/* p's route (and l2 entries) deleted and p out of the table. */
static void drop(struct pe_table *t, struct pe_peer *p)
{
	batch_begin(t);
	q_peer_del(t, p);
	pe_l2_count(t, p, false);
	pe_remove(t, p);
	batch_end(t);
}

void pe_lease_removed(struct pe_table *t, const struct lease *l)
{
	struct kprefix subnet;
	char sn[IP_STRLEN];
	struct pe_peer *p;

	if (!pe_lease_subnet(t, l, &subnet))
		return;
	p = pe_find(t, &subnet.addr);
	if (!p || p->subnet.len != subnet.len)
		return;
	if (t->ops->log_peer)
		t->ops->log_peer(t->arg, "removing", p);
	else
		log_info("Subnet removed: %s", kprefix_format(&p->subnet, sn));
	drop(t, p);
}

void pe_forget(struct pe_table *t, const struct kprefix *own)
{
	struct pe_peer *p = pe_find(t, &own->addr);

	if (p)
		drop(t, p);
}

static void add(struct pe_table *t, struct pe_peer *np)
{
	char sn[IP_STRLEN];
	struct pe_peer *old = pe_find(t, &np->subnet.addr);

	if (old && kprefix_equal(&old->subnet, &np->subnet) &&
	    kaddr_equal(&old->public_ip, &np->public_ip) && !old->skipped &&
	    old->direct == np->direct && old->oif == np->oif && memcmp(old->mac, np->mac, 6) == 0) {
		log_debug(1, "Subnet %s unchanged, applying it again",
			  kprefix_format(&np->subnet, sn));
	} else {
		if (t->ops->reach)
			reach(t, np, false);
		if (!np->skipped && t->ops->log_peer)
			t->ops->log_peer(t->arg, "adding", np);
		else if (!np->skipped)
			log_added(np);
	}
	batch_begin(t);
	if (old) {
		np->classic = old->classic;
		if (t->l2) {
			pe_l2_replaced(t, old, np);
			if (old->subnet.len != np->subnet.len)
				q_route_del(t, &old->subnet, route_metric(t->family));
		} else if (!old->skipped && (np->skipped || old->subnet.len != np->subnet.len))
			q_peer_del(t, old);
		t->nskipped += (size_t)np->skipped - (size_t)old->skipped;
		pe_l2_count(t, old, false);
		*old = *np;
		pe_l2_count(t, old, true);
	} else if (pe_insert(t, np)) {
		pe_l2_count(t, np, true);
	} else {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  kprefix_format(&np->subnet, sn));
		nl_batch_end(t->nl);
		return;
	}
	q_peer_add(t, np);
	batch_end(t);
}

void pe_lease_added(struct pe_table *t, const struct lease *l)
{
	struct pe_peer np;
	int r = t->ops->from_lease(t->arg, l, &np);

	if (r > 0)
		add(t, &np);
	else if (r == 0)
		/* No longer a lease of ours we can route to: what we had for it goes. */
		pe_lease_removed(t, l);
}

/*
 * Upstream logs "Subnet added" for every lease of its first list too; a
 * list of thousands gets a count instead of a line each.
 */
static void log_new_peers(struct pe_table *t, const struct pe_peer *v, size_t n)
{
	size_t added = 0;

	for (size_t i = 0; i < n; i++)
		added += !v[i].skipped && !pe_find(t, &v[i].subnet.addr);
	for (size_t i = 0; i < n && added <= 100; i++)
		if (!v[i].skipped && !pe_find(t, &v[i].subnet.addr))
			log_added(&v[i]);
	if (added > 100)
		log_info("Subnets added: %zu", added);
}

static void log_overlap(const void *elem)
{
	const struct pe_peer *p = elem;
	char sn[IP_STRLEN];

	log_warnx("Ignoring subnet %s: overlaps another lease", kprefix_format(&p->subnet, sn));
}

void pe_resync(struct pe_table *t, const struct lease *const *all, size_t n)
{
	struct pe_peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing %s %sroutes, keeping the current ones", t->kind,
			  fam(t));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct pe_peer *old;

		if (t->ops->from_lease(t->arg, all[i], &peers[k]) <= 0)
			continue;
		/*
		 * What we knew stays known: a nexthop id found taken stays
		 * taken, and no second warning for the same skipped peer.
		 */
		old = pe_find(t, &peers[k].subnet.addr);
		if (old && kaddr_equal(&old->public_ip, &peers[k].public_ip)) {
			peers[k].classic = old->classic;
			peers[k].skipped = old->skipped;
		} else if (t->ops->reach) {
			reach(t, &peers[k], false);
		}
		k++;
	}
	if (t->ops->reach)
		log_new_peers(t, peers, k);
	k = pe_sort_unique(peers, k, log_overlap);
	free(t->peers);
	t->peers = peers;
	t->npeers = k;
	t->cap = n ? n : 1;
	t->nskipped = 0;
	fdbset_free(&t->fdbs);
	if (t->l2)
		(void)fdbset_reserve(&t->fdbs, k); /* out of memory: pe_l2_count says so */
	for (size_t i = 0; i < k; i++) {
		t->nskipped += peers[i].skipped;
		pe_l2_count(t, &peers[i], true);
	}
	pe_converge(t);
}

size_t pe_prefill(struct pe_table *t, const struct lease *const *all, size_t n)
{
	struct pe_peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers)
		return 0;
	/* Out of the batch: from_lease may ask the kernel (a directly reachable peer). */
	for (size_t i = 0; i < n; i++)
		if (t->ops->from_lease(t->arg, all[i], &peers[k]) > 0)
			k++;
	batch_begin(t);
	for (size_t i = 0; i < k; i++)
		q_peer_add(t, &peers[i]);
	batch_end(t);
	free(peers);
	return k;
}

/* ------------------------------------------------------------ repairs */

static void repair(struct pe_table *t, enum pe_repair why, const struct pe_peer *p)
{
	static const char *const what[] = {
		[PE_REPAIR_ROUTE_DELETED] = "The route to %s was deleted",
		[PE_REPAIR_ROUTE_REPLACED] = "The route to %s was replaced",
		[PE_REPAIR_NH_DELETED] = "The nexthop for %s was deleted",
		[PE_REPAIR_NH_CHANGED] = "The nexthop for %s was changed",
	};
	char sn[IP_STRLEN];

	if (why == PE_REPAIR_NONE)
		return;
	if (why == PE_REPAIR_CONVERGE) {
		log_debug(1, "The %sroutes on %s changed: converging", fam(t), t->via);
		repair_soon(t->heal);
		return;
	}
	repair_soon_why(t->heal, what[why], kprefix_format(&p->subnet, sn));
}

void pe_route_event(struct pe_table *t, uint16_t type, const struct nl_route *r)
{
	const struct pe_peer *p;
	enum pe_repair why = pe_route_repair(t, type, r, &p);

	repair(t, why, p);
}

void pe_nexthop_event(struct pe_table *t, const struct nlmsghdr *nlh)
{
	const struct pe_peer *p;
	struct nl_nexthop nh;
	enum pe_repair why;

	if (nl_parse_nexthop(nlh, &nh) < 0)
		return;
	/* Decided first: the decision sets p. */
	why = pe_nexthop_repair(t, nlh->nlmsg_type, &nh, &p);
	repair(t, why, p);
}

void pe_free(struct pe_table *t)
{
	fdbset_free(&t->fdbs);
	free(t->peers);
	free(t->cdst);
	t->peers = NULL;
	t->cdst = NULL;
	t->npeers = t->cap = t->nskipped = t->ncdst = 0;
}
