/* SPDX-License-Identifier: Apache-2.0 */
/* The peer engine's pure decisions (peer_decide.h). */
#include "backend/peer_decide.h"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "backend/sorted_vec.h"
#include "netlink/nl.h"

/* ------------------------------------------------------------ the table */

static int peer_cmp(const void *x, const void *y)
{
	return kaddr_cmp(&((const struct pe_peer *)x)->subnet.addr,
			 &((const struct pe_peer *)y)->subnet.addr);
}

static const struct svec peers = { sizeof(struct pe_peer), peer_cmp };

struct pe_peer *pe_find(const struct pe_table *t, const struct kaddr *addr)
{
	struct pe_peer key = { .subnet.addr = *addr };

	return svec_find(&peers, t->peers, t->npeers, &key);
}

struct pe_peer *pe_insert(struct pe_table *t, const struct pe_peer *p)
{
	void *v = t->peers;
	struct pe_peer *r = svec_insert(&peers, &v, &t->npeers, &t->cap, p);

	t->peers = v;
	if (r)
		t->nskipped += p->skipped;
	return r;
}

void pe_remove(struct pe_table *t, struct pe_peer *p)
{
	t->nskipped -= p->skipped;
	svec_remove(&peers, t->peers, &t->npeers, p);
}

size_t pe_sort_unique(struct pe_peer *v, size_t n, void (*dropped)(const void *p))
{
	return svec_sort_unique(&peers, v, n, dropped);
}

struct route_want pe_want(const struct pe_table *t, const struct pe_peer *p)
{
	return t->ops->route(t->arg, p);
}

bool pe_has_l2(const struct pe_table *t, const struct pe_peer *p)
{
	return t->l2 && !p->direct && !p->skipped;
}

unsigned pe_wants(const struct pe_table *t, const struct pe_peer *p)
{
	unsigned w = PE_HAVE_ROUTE;

	if (pe_want(t, p).nexthop)
		w |= PE_HAVE_NEXTHOP;
	if (pe_has_l2(t, p))
		w |= PE_HAVE_NEIGH | PE_HAVE_FDB;
	return w;
}

static unsigned fdb_count(const struct fdbset *s, const uint8_t mac[6], const struct kaddr *dst)
{
	return dst->family == AF_INET6 ? fdbset_count6(s, mac, &dst->v6)
				       : fdbset_count(s, mac, dst->v4);
}

unsigned pe_fdb_users(const struct pe_table *t, const struct pe_peer *except, const uint8_t mac[6],
		      const struct kaddr *dst)
{
	unsigned n = fdb_count(&t->fdbs, mac, dst);

	if (n && except && pe_has_l2(t, except) && kaddr_equal(&except->public_ip, dst) &&
	    memcmp(except->mac, mac, 6) == 0)
		n--;
	return n;
}

/* ------------------------------------------------------------ converge */

static uint8_t family_of(uint8_t nl_family)
{
	return nl_family == AF_INET6 ? AF_INET6 : AF_INET;
}

/* A route of ours (or, tagged alike, of another flanneld's network) in t's network. */
static bool in_network(const struct pe_table *t, const struct nl_route *r)
{
	struct kaddr dst = route_dst(r);

	return family_of(r->family) == t->family && r->table == RT_TABLE_MAIN &&
	       kprefix_contains(&t->network, &dst);
}

enum pe_verdict pe_judge_route(const struct pe_table *t, const struct nl_route *r,
			       struct pe_peer **peer)
{
	struct kaddr dst = route_dst(r);
	struct pe_peer *p;

	*peer = NULL;
	if (r->protocol != NL_RTPROT_FLANNEL || !in_network(t, r))
		return PE_IGNORE;
	p = *peer = pe_find(t, &dst);
	if (p && !p->skipped) {
		struct route_want w = pe_want(t, p);

		if (route_want_matches(&w, r))
			return PE_HAVE;
		if (p->subnet.len == r->dst_len && r->priority == route_metric(t->family))
			return PE_REPLACE;
	}
	return PE_STALE;
}

/* The peer whose nexthop id nh's is, if any; false when nh is not in our network. */
static bool nexthop_peer(const struct pe_table *t, const struct nl_nexthop *nh,
			 struct pe_peer **peer)
{
	struct kaddr id = kaddr_v4(nh->id);

	*peer = NULL;
	if (t->family != AF_INET || family_of(nh->family) != AF_INET ||
	    !kprefix_contains(&t->network, &id))
		return false;
	*peer = pe_find(t, &id);
	return true;
}

enum pe_verdict pe_judge_nexthop(const struct pe_table *t, const struct nl_nexthop *nh,
				 struct pe_peer **peer)
{
	struct pe_peer *p;

	if (!nexthop_peer(t, nh, peer))
		return PE_IGNORE;
	p = *peer;
	if (nh->protocol != NL_RTPROT_FLANNEL)
		return p && !p->classic ? PE_FOREIGN : PE_IGNORE;
	if (p && !p->skipped && pe_want(t, p).nexthop) {
		struct route_want w = pe_want(t, p);

		return route_want_nexthop_matches(&w, nh) ? PE_HAVE : PE_REPLACE;
	}
	return PE_STALE;
}

size_t pe_plan(const struct pe_table *t, const uint8_t *have, const struct pe_stale *stale,
	       size_t nstale, void (*emit)(void *arg, const struct pe_op *op), void *arg,
	       unsigned *added)
{
	static const enum pe_op_kind del[] = {
		[PE_STALE_ROUTE] = PE_OP_ROUTE_DEL,
		[PE_STALE_NEIGH] = PE_OP_NEIGH_DEL,
		[PE_STALE_FDB] = PE_OP_FDB_DEL,
	};
	/* Upstream's order: neighbour, FDB entry, then the nexthop before the route naming it. */
	static const struct {
		unsigned bit;
		enum pe_op_kind op;
	} add[] = {
		{ PE_HAVE_NEIGH, PE_OP_NEIGH_ADD },
		{ PE_HAVE_FDB, PE_OP_FDB_ADD },
		{ PE_HAVE_NEXTHOP, PE_OP_NH_ADD },
		{ PE_HAVE_ROUTE, PE_OP_ROUTE_ADD },
	};
	size_t n = 0;

	*added = 0;
	for (size_t i = 0; i < nstale; i++)
		if (stale[i].kind != PE_STALE_NEXTHOP) {
			emit(arg,
			     &(struct pe_op){ .kind = del[stale[i].kind], .stale = &stale[i] });
			n++;
		}
	for (size_t i = 0; i < t->npeers; i++) {
		const struct pe_peer *p = &t->peers[i];
		unsigned want = pe_wants(t, p);

		if (p->skipped || (have[i] & want) == want)
			continue;
		++*added;
		for (size_t j = 0; j < sizeof(add) / sizeof(add[0]); j++)
			if ((want & add[j].bit) && !(have[i] & add[j].bit)) {
				emit(arg, &(struct pe_op){ .kind = add[j].op, .peer = p });
				n++;
			}
	}
	/* After the routes: one that named a stale nexthop has been replaced by now. */
	for (size_t i = 0; i < nstale; i++)
		if (stale[i].kind == PE_STALE_NEXTHOP) {
			emit(arg, &(struct pe_op){ .kind = PE_OP_NH_DEL, .stale = &stale[i] });
			n++;
		}
	return n;
}

/* ------------------------------------------------------------ neighbours and FDB entries */

struct kaddr pe_neigh_dst(const struct nl_neigh *n)
{
	return n->dst_is6 ? kaddr_v6(&n->dst6) : kaddr_v4(n->dst);
}

/* On an l2 table's device, with a destination of its family. */
static bool on_device(const struct pe_table *t, const struct nl_neigh *n)
{
	return t->l2 && t->ifindex > 0 && n->ifindex == t->ifindex && n->has_dst &&
	       (n->dst_is6 ? AF_INET6 : AF_INET) == t->family;
}

enum pe_verdict pe_judge_neigh(const struct pe_table *t, const struct nl_neigh *n,
			       struct pe_peer **peer)
{
	struct kaddr dst = pe_neigh_dst(n);
	struct pe_peer *p;

	*peer = NULL;
	if (!on_device(t, n) || n->family != t->family)
		return PE_IGNORE;
	/* IPv6: only permanent entries can be ours; the kernel runs the rest (ND). */
	if (t->family == AF_INET6 && !(n->state & NUD_PERMANENT))
		return PE_IGNORE;
	p = *peer = pe_find(t, &dst);
	if (!p || !pe_has_l2(t, p))
		return PE_STALE;
	if (n->has_lladdr && memcmp(n->lladdr, p->mac, 6) == 0 && (n->state & NUD_PERMANENT))
		return PE_HAVE;
	return PE_REPLACE;
}

enum pe_verdict pe_judge_fdb(const struct pe_table *t, const struct nl_neigh *n)
{
	static const uint8_t zero[6];
	struct kaddr dst = pe_neigh_dst(n);

	/* Learned entries age out by themselves; the all-zero MAC is the default. */
	if (n->family != AF_BRIDGE || !on_device(t, n) || !n->has_lladdr ||
	    !(n->state & NUD_PERMANENT) || memcmp(n->lladdr, zero, 6) == 0)
		return PE_IGNORE;
	return fdb_count(&t->fdbs, n->lladdr, &dst) ? PE_HAVE : PE_STALE;
}

/* ------------------------------------------------------------ repairs */

enum pe_repair pe_route_repair(const struct pe_table *t, uint16_t type, const struct nl_route *r,
			       const struct pe_peer **peer)
{
	struct kaddr dst = route_dst(r), gw = route_gw(r);
	struct route_want w;
	const struct pe_peer *p;

	*peer = NULL;
	if (family_of(r->family) != t->family || r->table != RT_TABLE_MAIN)
		return PE_REPAIR_NONE;
	/*
	 * A network on the watched interface came or went: skipped peers may
	 * be reachable now, and the kernel drops routes via a gateway that is
	 * no longer on-link without telling anyone.
	 */
	if (t->watch_oif && r->protocol != NL_RTPROT_FLANNEL && r->oif == t->watch_oif &&
	    kaddr_is_zero(&gw) && t->npeers)
		return PE_REPAIR_CONVERGE;
	if (r->priority != route_metric(t->family))
		return PE_REPAIR_NONE;
	/* A peer we dropped is gone from the table before its deletions come back to us. */
	p = *peer = pe_find(t, &dst);
	if (!p || p->skipped || p->subnet.len != r->dst_len)
		return PE_REPAIR_NONE;
	w = pe_want(t, p);
	if (type == RTM_DELROUTE)
		return r->protocol == NL_RTPROT_FLANNEL ? PE_REPAIR_ROUTE_DELETED : PE_REPAIR_NONE;
	if (r->protocol != NL_RTPROT_FLANNEL || !route_want_matches(&w, r))
		return PE_REPAIR_ROUTE_REPLACED;
	return PE_REPAIR_NONE;
}

enum pe_repair pe_nexthop_repair(const struct pe_table *t, uint16_t type,
				 const struct nl_nexthop *nh, const struct pe_peer **peer)
{
	struct pe_peer *p;
	struct route_want w;

	*peer = NULL;
	if (!nexthop_peer(t, nh, &p) || !p || p->skipped || !pe_want(t, p).nexthop)
		return PE_REPAIR_NONE;
	*peer = p;
	w = pe_want(t, p);
	/* The kernel takes the routes that use a deleted nexthop along, silently. */
	if (type == RTM_DELNEXTHOP)
		return PE_REPAIR_NH_DELETED;
	return route_want_nexthop_matches(&w, nh) ? PE_REPAIR_NONE : PE_REPAIR_NH_CHANGED;
}

enum pe_repair pe_neigh_repair(const struct pe_table *t, uint16_t type, const struct nl_neigh *n)
{
	bool del = type == RTM_DELNEIGH;
	struct kaddr dst = pe_neigh_dst(n);
	const struct pe_peer *p;

	if (!on_device(t, n))
		return PE_REPAIR_NONE;
	if (n->family == t->family) {
		p = pe_find(t, &dst);
		if (!p || !pe_has_l2(t, p))
			return PE_REPAIR_NONE;
		if (del)
			return PE_REPAIR_NEIGH_DELETED;
		if (!n->has_lladdr || memcmp(n->lladdr, p->mac, 6) != 0 ||
		    !(n->state & NUD_PERMANENT))
			return PE_REPAIR_NEIGH_CHANGED;
		return PE_REPAIR_NONE;
	}
	/* FDB: learned entries come and go by themselves; unknown MACs are not ours. */
	if (n->family != AF_BRIDGE || !n->has_lladdr || (!del && !(n->state & NUD_PERMANENT)) ||
	    !fdbset_count_mac(&t->fdbs, n->lladdr))
		return PE_REPAIR_NONE;
	if (fdb_count(&t->fdbs, n->lladdr, &dst))
		return del ? PE_REPAIR_FDB_DELETED : PE_REPAIR_NONE;
	return del ? PE_REPAIR_NONE : PE_REPAIR_FDB_MOVED;
}

/* ------------------------------------------------------------ device events */

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

bool dev_heal_link_wrong(const struct dev_heal *d, const struct nl_link *now)
{
	return (d->want_up && !(now->flags & IFF_UP)) || now->mtu != d->mtu ||
	       (d->has_mac && now->has_mac && memcmp(now->mac, d->mac, 6) != 0);
}

enum dev_heal_link dev_heal_link_decide(const struct dev_heal *d, uint16_t type,
					const struct nl_link *l)
{
	bool up;

	if (d->dev && d->ifindex && l->index == d->ifindex) {
		if (type == RTM_DELLINK)
			return DEV_HEAL_DELETED;
		return dev_heal_link_wrong(d, l) ? DEV_HEAL_CHECK : DEV_HEAL_NONE;
	}
	if (l->index != d->ext_index)
		return DEV_HEAL_NONE;
	up = type == RTM_NEWLINK && (l->flags & IFF_UP) && (l->flags & IFF_LOWER_UP);
	if (up && !d->ext_up)
		return DEV_HEAL_EXT_UP;
	if (!up && d->ext_up)
		return DEV_HEAL_EXT_DOWN;
	return DEV_HEAL_NONE;
}

bool dev_heal_addr_decide(const struct dev_heal *d, uint16_t type, const struct nl_addr *a)
{
	struct kaddr x = family_of(a->family) == AF_INET6 ? kaddr_v6(&a->addr6) : kaddr_v4(a->addr);

	return type == RTM_DELADDR && d->dev && d->own.len && a->ifindex == d->ifindex &&
	       a->prefixlen == d->own.len && kaddr_equal(&x, &d->own.addr);
}
