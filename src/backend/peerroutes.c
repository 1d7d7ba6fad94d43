/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The routes to remote subnets a backend owns: table, converge, repair
 * matching (peerroutes.h). Shared by host-gw and ipip.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/peerroutes.h"
#include "backend/repair.h"
#include "backend/routes.h"
#include "lease/lease.h"
#include "log.h"
#include "netlink/nl.h"
#include "lease/subnet.h"

enum op { OP_ROUTE_ADD = 1, OP_ROUTE_DEL, OP_NH_ADD, OP_NH_DEL };

static const char *const op_names[] = {
	[OP_ROUTE_ADD] = "add route",
	[OP_ROUTE_DEL] = "delete route",
	[OP_NH_ADD] = "add nexthop",
	[OP_NH_DEL] = "delete nexthop",
};

static uintptr_t cookie(enum op op, uint32_t addr)
{
	return ((uintptr_t)addr << 8) | (uintptr_t)op;
}

static void batch_error(void *arg, uintptr_t c, uint16_t type, int err, const char *extack)
{
	struct pr_table *t = arg;
	enum op op = (enum op)(c & 0xff);
	char a[16];

	t->failed = true;
	log_warnx("Failed to %s for %s via %s: %s",
		  op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "write",
		  ip4_format((uint32_t)(c >> 8), a), t->via,
		  extack && *extack ? extack : strerror(-err));
}

static void batch_begin(struct pr_table *t)
{
	t->failed = false;
	nl_batch_begin(t->nl, batch_error, NULL, t);
}

static void batch_end(struct pr_table *t)
{
	nl_batch_end(t->nl);
	if (t->failed)
		repair_later(t->heal);
	else
		repair_done(t->heal);
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct pr_peer *)x)->subnet.addr;
	uint32_t c = ((const struct pr_peer *)y)->subnet.addr;

	return a < c ? -1 : a > c;
}

struct pr_peer *pr_find(struct pr_table *t, uint32_t addr)
{
	struct pr_peer key = { .subnet.addr = addr };

	return t->npeers ? bsearch(&key, t->peers, t->npeers, sizeof(key), peer_cmp) : NULL;
}

static struct pr_peer *peer_insert(struct pr_table *t, const struct pr_peer *p)
{
	size_t lo = 0, hi = t->npeers;

	if (t->npeers == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct pr_peer *n = realloc(t->peers, cap * sizeof(*n));

		if (!n)
			return NULL;
		t->peers = n;
		t->cap = cap;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->peers[mid].subnet.addr < p->subnet.addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&t->peers[lo + 1], &t->peers[lo], (t->npeers - lo) * sizeof(*p));
	t->peers[lo] = *p;
	t->npeers++;
	t->nskipped += p->skipped;
	return &t->peers[lo];
}

static void peer_remove(struct pr_table *t, struct pr_peer *p)
{
	size_t i = (size_t)(p - t->peers);

	t->nskipped -= p->skipped;
	memmove(p, p + 1, (t->npeers - i - 1) * sizeof(*p));
	t->npeers--;
}

/* ------------------------------------------------------------ requests */

static struct route_want peer_route(const struct pr_table *t, const struct pr_peer *p)
{
	return t->ops->route(t->arg, p);
}

static void q_route_del(struct pr_table *t, uint32_t dst, uint8_t len, uint32_t priority)
{
	struct nl_route r = route_del_route(dst, len, priority);

	if (nl_msg_route(nl_batch_slot(t->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(t->nl, NL_OK_ENOENT, cookie(OP_ROUTE_DEL, dst));
}

static void q_nexthop_del(struct pr_table *t, uint32_t id)
{
	struct nl_nexthop nh = { .id = id };

	if (nl_msg_nexthop(nl_batch_slot(t->nl), RTM_DELNEXTHOP, 0, &nh))
		nl_batch_add(t->nl, NL_OK_ENOENT, cookie(OP_NH_DEL, id));
}

static void q_nexthop_add(struct pr_table *t, const struct pr_peer *p)
{
	struct route_want w = peer_route(t, p);
	struct nl_nexthop nh = route_want_nexthop(&w);

	if (nl_msg_nexthop(nl_batch_slot(t->nl), RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &nh))
		nl_batch_add(t->nl, 0, cookie(OP_NH_ADD, p->subnet.addr));
}

/* Replaces a route to the same subnet whoever made it, as upstream does. */
static void q_route_add(struct pr_table *t, const struct pr_peer *p)
{
	struct route_want w = peer_route(t, p);
	struct nl_route r = route_want_route(&w);

	if (nl_msg_route(nl_batch_slot(t->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(t->nl, 0, cookie(OP_ROUTE_ADD, p->subnet.addr));
}

static void q_peer_add(struct pr_table *t, const struct pr_peer *p)
{
	if (p->skipped)
		return;
	if (peer_route(t, p).nexthop)
		q_nexthop_add(t, p);
	q_route_add(t, p);
}

static void q_peer_del(struct pr_table *t, const struct pr_peer *p)
{
	if (p->skipped)
		return;
	q_route_del(t, p->subnet.addr, p->subnet.len, 0);
	if (peer_route(t, p).nexthop)
		q_nexthop_del(t, p->subnet.addr);
}

/* ops->reach, keeping the count of skipped peers in the table right. */
static void reach(struct pr_table *t, struct pr_peer *p, bool in_table)
{
	bool was = p->skipped;

	t->ops->reach(t->arg, p, in_table);
	if (in_table)
		t->nskipped += (size_t)p->skipped - (size_t)was;
}

/* ------------------------------------------------------------ converge */

#define HAVE_ROUTE   0x1u
#define HAVE_NEXTHOP 0x2u

struct stale {
	bool nexthop;
	uint32_t addr; /* route dst or nexthop id */
	uint8_t len;
	uint32_t priority;
};

/* What the dumps found, decided entry by entry: have[] by peer index, and what to delete. */
struct kstate {
	struct pr_table *t;
	uint8_t *have;
	struct stale *stale;
	size_t nstale, capstale;
};

static int add_stale(struct kstate *k, const struct stale *st)
{
	if (k->nstale == k->capstale) {
		size_t cap = k->capstale ? 2 * k->capstale : 64;
		struct stale *n = realloc(k->stale, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		k->stale = n;
		k->capstale = cap;
	}
	k->stale[k->nstale++] = *st;
	return 0;
}

/* A dump starts over (NLM_F_DUMP_INTR): forget what its first try found. */
static void reset_kind(struct kstate *k, unsigned bit, bool nexthop)
{
	size_t j = 0;

	for (size_t i = 0; i < k->t->npeers; i++)
		k->have[i] &= (uint8_t)~bit;
	for (size_t i = 0; i < k->nstale; i++)
		if (k->stale[i].nexthop != nexthop)
			k->stale[j++] = k->stale[i];
	k->nstale = j;
}

static void reset_nexthops(void *arg)
{
	reset_kind(arg, HAVE_NEXTHOP, true);
}

static void reset_routes(void *arg)
{
	reset_kind(arg, HAVE_ROUTE, false);
}

/* First, because whether a peer's id is taken decides what its route must look like. */
static int dump_nexthop_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct pr_table *t = k->t;
	struct nl_nexthop nh;
	char sn[IP_STRLEN];
	struct pr_peer *p;

	if (nl_parse_nexthop(nlh, &nh) < 0 || !ip4net_contains(&t->network, nh.id))
		return 0;
	p = pr_find(t, nh.id);
	if (nh.protocol != NL_RTPROT_FLANNEL) {
		if (p && !p->classic) {
			log_warnx(
				"Nexthop id %u (subnet %s) belongs to someone else (protocol %u): "
				"using a plain route for that subnet",
				nh.id, ip4net_format(&p->subnet, sn), nh.protocol);
			p->classic = true;
		}
		return 0;
	}
	if (p && !p->skipped && peer_route(t, p).nexthop) {
		struct route_want w = peer_route(t, p);

		if (route_want_nexthop_matches(&w, &nh))
			k->have[p - t->peers] |= HAVE_NEXTHOP;
		return 0; /* else replaced in place */
	}
	return add_stale(k, &(struct stale){ .nexthop = true, .addr = nh.id });
}

static int dump_route_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct pr_table *t = k->t;
	struct nl_route r;
	struct pr_peer *p;

	/* Another flanneld on this host (another network) tags its routes alike. */
	if (nl_parse_route(nlh, &r) < 0 || r.protocol != NL_RTPROT_FLANNEL ||
	    r.table != RT_TABLE_MAIN || !ip4net_contains(&t->network, r.dst))
		return 0;
	p = pr_find(t, r.dst);
	if (p && !p->skipped) {
		struct route_want w = peer_route(t, p);

		if (route_want_matches(&w, &r)) {
			k->have[p - t->peers] |= HAVE_ROUTE;
			return 0;
		}
		if (p->subnet.len == r.dst_len && r.priority == 0)
			return 0; /* replaced in place */
	}
	return add_stale(
		k, &(struct stale){ .addr = r.dst, .len = r.dst_len, .priority = r.priority });
}

static int dump_kernel(struct pr_table *t, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

	if (t->kernel_nexthops) {
		if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
			return -EINVAL;
		r = nl_dump(t->nl, (const void *)buf, dump_nexthop_cb, reset_nexthops, k);
		if (r < 0)
			return r;
	}
	if (!nl_msg_dump(buf, RTM_GETROUTE, AF_INET, 0))
		return -EINVAL;
	return nl_dump(t->nl, (const void *)buf, dump_route_cb, reset_routes, k);
}

static void log_converged(const struct pr_table *t, unsigned added, size_t nstale)
{
	const char *errs = t->failed ? " (with errors)" : "";

	if (!added && !nstale)
		log_debug(1, "Converged routes via %s: %zu subnets, nothing to change", t->via,
			  t->npeers);
	else if (t->ops->reach)
		log_info("Converged routes via %s: %zu subnets (%zu skipped), %u added or fixed, "
			 "%zu stale entries removed%s",
			 t->via, t->npeers, t->nskipped, added, nstale, errs);
	else
		log_info("Converged routes via %s: %zu subnets, %u added or fixed, "
			 "%zu stale entries removed%s",
			 t->via, t->npeers, added, nstale, errs);
}

void pr_converge(struct pr_table *t)
{
	struct kstate k = { .t = t };
	unsigned added = 0;
	size_t i;
	int r = -ENOMEM;

	if (t->nskipped)
		for (i = 0; i < t->npeers; i++)
			if (t->peers[i].skipped)
				reach(t, &t->peers[i], true);
	k.have = calloc(t->npeers ? t->npeers : 1, 1);
	if (k.have)
		r = dump_kernel(t, &k);
	if (r < 0) {
		log_warnx("Cannot read the kernel's routes: %s", strerror(-r));
		repair_later(t->heal);
		goto out;
	}
	batch_begin(t);
	for (i = 0; i < k.nstale; i++)
		if (!k.stale[i].nexthop)
			q_route_del(t, k.stale[i].addr, k.stale[i].len, k.stale[i].priority);
	for (i = 0; i < t->npeers; i++) {
		const struct pr_peer *p = &t->peers[i];
		bool nh = peer_route(t, p).nexthop;
		unsigned want = nh ? HAVE_ROUTE | HAVE_NEXTHOP : HAVE_ROUTE;

		if (p->skipped || (k.have[i] & want) == want)
			continue;
		added++;
		if (nh && !(k.have[i] & HAVE_NEXTHOP))
			q_nexthop_add(t, p);
		if (!(k.have[i] & HAVE_ROUTE))
			q_route_add(t, p);
	}
	/* After the routes: one that named a stale nexthop has been replaced by now. */
	for (i = 0; i < k.nstale; i++)
		if (k.stale[i].nexthop)
			q_nexthop_del(t, k.stale[i].addr);
	batch_end(t);
	log_converged(t, added, k.nstale);
out:
	free(k.have);
	free(k.stale);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip4net *a, const struct ip4net *b)
{
	return a->addr == b->addr && a->len == b->len;
}

int pr_peer_from_lease(const struct lease *l, const char *type, const struct ip4net *own,
		       struct log_limit *lim, struct pr_peer *ret)
{
	char sn[IP_STRLEN];

	if (!l->has_attrs || l->subnet.v4.len == 0)
		return 0;
	if (own && same_subnet(&l->subnet.v4, own))
		return 0;
	if (strcmp(l->attrs.backend_type, type) != 0) {
		log_debug(1, "Ignoring non-%s subnet %s: type=%s", type,
			  ip4net_format(&l->subnet.v4, sn), l->attrs.backend_type);
		return 0;
	}
	if (l->attrs.public_ip == 0) {
		if (log_limit_ok(lim, "subnets without PublicIP"))
			log_warnx("Ignoring subnet %s: no PublicIP",
				  ip4net_format(&l->subnet.v4, sn));
		return 0;
	}
	*ret = (struct pr_peer){ .subnet = l->subnet.v4, .public_ip = l->attrs.public_ip };
	return 1;
}

static void log_added(const struct pr_peer *p)
{
	char sn[IP_STRLEN], ip[16];

	log_info("Subnet added: %s via %s%s", ip4net_format(&p->subnet, sn),
		 ip4_format(p->public_ip, ip), p->direct ? " (direct routing)" : "");
}

void pr_drop(struct pr_table *t, struct pr_peer *p)
{
	char sn[IP_STRLEN];

	log_info("Subnet removed: %s", ip4net_format(&p->subnet, sn));
	batch_begin(t);
	q_peer_del(t, p);
	peer_remove(t, p);
	batch_end(t);
}

void pr_lease_removed(struct pr_table *t, const struct lease *l)
{
	struct pr_peer *p = pr_find(t, l->subnet.v4.addr);

	if (p && p->subnet.len == l->subnet.v4.len)
		pr_drop(t, p);
}

void pr_forget(struct pr_table *t, uint32_t addr)
{
	struct pr_peer *p = pr_find(t, addr);

	if (!p)
		return;
	batch_begin(t);
	q_peer_del(t, p);
	peer_remove(t, p);
	batch_end(t);
}

void pr_add(struct pr_table *t, struct pr_peer *np)
{
	char sn[IP_STRLEN];
	struct pr_peer *old = pr_find(t, np->subnet.addr);

	if (old && same_subnet(&old->subnet, &np->subnet) && old->public_ip == np->public_ip &&
	    !old->skipped && old->direct == np->direct && old->oif == np->oif) {
		log_debug(1, "Subnet %s unchanged, applying it again",
			  ip4net_format(&np->subnet, sn));
	} else {
		if (t->ops->reach)
			reach(t, np, false);
		if (!np->skipped)
			log_added(np);
	}
	batch_begin(t);
	if (old) {
		np->classic = old->classic;
		if (!old->skipped && (np->skipped || old->subnet.len != np->subnet.len))
			q_peer_del(t, old);
		t->nskipped += (size_t)np->skipped - (size_t)old->skipped;
		*old = *np;
	} else if (!peer_insert(t, np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  ip4net_format(&np->subnet, sn));
		nl_batch_end(t->nl);
		return;
	}
	q_peer_add(t, np);
	batch_end(t);
}

/*
 * Upstream logs "Subnet added" for every lease of its first list too; a
 * list of thousands gets a count instead of a line each.
 */
static void log_new_peers(struct pr_table *t, const struct pr_peer *v, size_t n)
{
	size_t added = 0;

	for (size_t i = 0; i < n; i++)
		added += !v[i].skipped && !pr_find(t, v[i].subnet.addr);
	for (size_t i = 0; i < n && added <= 100; i++)
		if (!v[i].skipped && !pr_find(t, v[i].subnet.addr))
			log_added(&v[i]);
	if (added > 100)
		log_info("Subnets added: %zu", added);
}

void pr_resync(struct pr_table *t, const struct lease *const *all, size_t n)
{
	struct pr_peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing %s routes, keeping the current ones", t->kind);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (t->ops->from_lease(t->arg, all[i], &peers[k]) <= 0)
			continue;
		/*
		 * What we knew stays known: a nexthop id found taken stays
		 * taken, and no second warning for the same skipped peer.
		 */
		struct pr_peer *old = pr_find(t, peers[k].subnet.addr);

		if (old && old->public_ip == peers[k].public_ip) {
			peers[k].classic = old->classic;
			peers[k].skipped = old->skipped;
		} else if (t->ops->reach) {
			reach(t, &peers[k], false);
		}
		k++;
	}
	if (t->ops->reach)
		log_new_peers(t, peers, k);
	qsort(peers, k, sizeof(*peers), peer_cmp);
	for (size_t i = 1; i < k; i++) {
		if (peers[i].subnet.addr == peers[i - 1].subnet.addr) {
			char sn[IP_STRLEN];

			log_warnx("Ignoring subnet %s: overlaps another lease",
				  ip4net_format(&peers[i].subnet, sn));
			memmove(&peers[i], &peers[i + 1], (k - i - 1) * sizeof(*peers));
			k--;
			i--;
		}
	}
	free(t->peers);
	t->peers = peers;
	t->npeers = k;
	t->cap = n ? n : 1;
	t->nskipped = 0;
	for (size_t i = 0; i < k; i++)
		t->nskipped += peers[i].skipped;
	pr_converge(t);
}

/* ------------------------------------------------------------ repair matching */

void pr_route_event(struct pr_table *t, uint16_t type, const struct nl_route *r)
{
	char sn[IP_STRLEN];
	struct route_want w;
	struct pr_peer *p;

	if (r->priority != 0)
		return;
	/* A peer we dropped is gone from the table before its deletions come back to us. */
	p = pr_find(t, r->dst);
	if (!p || p->skipped || p->subnet.len != r->dst_len)
		return;
	w = peer_route(t, p);
	if (type == RTM_DELROUTE) {
		if (r->protocol == NL_RTPROT_FLANNEL)
			repair_soon_why(t->heal, "The route to %s was deleted",
					ip4net_format(&p->subnet, sn));
	} else if (r->protocol != NL_RTPROT_FLANNEL || !route_want_matches(&w, r)) {
		repair_soon_why(t->heal, "The route to %s was replaced",
				ip4net_format(&p->subnet, sn));
	}
}

void pr_nexthop_event(struct pr_table *t, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct route_want w;
	struct nl_nexthop nh;
	struct pr_peer *p;

	if (nl_parse_nexthop(nlh, &nh) < 0 || !ip4net_contains(&t->network, nh.id))
		return;
	p = pr_find(t, nh.id);
	if (!p || p->skipped || !peer_route(t, p).nexthop)
		return;
	w = peer_route(t, p);
	/* The kernel takes the routes that use a deleted nexthop along, silently. */
	if (nlh->nlmsg_type == RTM_DELNEXTHOP)
		repair_soon_why(t->heal, "The nexthop for %s was deleted",
				ip4net_format(&p->subnet, sn));
	else if (!route_want_nexthop_matches(&w, &nh))
		repair_soon_why(t->heal, "The nexthop for %s was changed",
				ip4net_format(&p->subnet, sn));
}

void pr_free(struct pr_table *t)
{
	free(t->peers);
	t->peers = NULL;
	t->npeers = t->cap = t->nskipped = 0;
}
