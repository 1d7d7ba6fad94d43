/* SPDX-License-Identifier: Apache-2.0 */
/*
 * host-gw backend: per remote lease a route to its subnet via its PublicIP
 * on the external interface (FLANNEL_COMPAT.md 9.2), tagged with our
 * protocol and, where the kernel has them, through a nexthop object. The
 * model is vxlan's: the set of routes we want, changed by lease events,
 * converged on a resync (dump, diff, fix; a restart writes nothing), and
 * repaired when the kernel contradicts it.
 *
 * A peer whose PublicIP is not on a network directly connected to the
 * external interface cannot be reached this way: it is skipped with a
 * warning naming it (upstream's route add just fails), and looked at
 * again whenever the routes on that interface change.
 *
 * IPv6 (EnableIPv6) is hostgw6.c: the same per lease with its v6 subnet
 * and PublicIPv6. With EnableIPv4 false only that half runs.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/hostgw6.h"
#include "backend/repair.h"
#include "backend/routes.h"
#include "config.h"
#include "iface.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "nl.h"
#include "nlmon.h"
#include "subnet.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

#define TYPE "host-gw"

enum op { OP_ROUTE_ADD = 1, OP_ROUTE_DEL, OP_NH_ADD, OP_NH_DEL };

static const char *const op_names[] = {
	[OP_ROUTE_ADD] = "add route",
	[OP_ROUTE_DEL] = "delete route",
	[OP_NH_ADD] = "add nexthop",
	[OP_NH_DEL] = "delete nexthop",
};

struct peer {
	struct ip4net subnet;
	uint32_t public_ip;
	bool classic; /* our nexthop id is someone else's: a route with its own gateway */
	bool skipped; /* PublicIP not directly reachable through the external interface */
};

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct ip4net network;
	bool kernel_nexthops; /* the kernel has nexthop objects */
	bool nexthops;	      /* and our routes use them (--nexthop-objects) */
	struct iface ext;
	bool ext_up; /* as last notified */
	bool have_own;
	struct ip4net own;
	struct peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	size_t nskipped;
	struct log_limit warn_limit; /* for warnings about other hosts' leases */
	struct repair heal;
	bool failed; /* a write of the current batch failed */
	bool v4, v6; /* EnableIPv4, EnableIPv6 */
	struct hgw6 six;
};

static uintptr_t cookie(enum op op, uint32_t addr)
{
	return ((uintptr_t)addr << 8) | (uintptr_t)op;
}

static void batch_error(void *arg, uintptr_t c, uint16_t type, int err, const char *extack)
{
	struct backend *b = arg;
	enum op op = (enum op)(c & 0xff);
	char a[16];

	b->failed = true;
	log_warnx("Failed to %s for %s via %s: %s",
		  op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "write",
		  ip4_format((uint32_t)(c >> 8), a), b->ext.name,
		  extack && *extack ? extack : strerror(-err));
}

static void batch_begin(struct backend *b)
{
	b->failed = false;
	nl_batch_begin(b->nl, batch_error, NULL, b);
}

static void batch_end(struct backend *b)
{
	nl_batch_end(b->nl);
	if (b->failed)
		repair_later(&b->heal);
	else
		repair_done(&b->heal);
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct peer *)x)->subnet.addr;
	uint32_t c = ((const struct peer *)y)->subnet.addr;

	return a < c ? -1 : a > c;
}

static struct peer *peer_find(struct backend *b, uint32_t addr)
{
	struct peer key = { .subnet.addr = addr };

	return b->npeers ? bsearch(&key, b->peers, b->npeers, sizeof(key), peer_cmp) : NULL;
}

static struct peer *peer_insert(struct backend *b, const struct peer *p)
{
	size_t lo = 0, hi = b->npeers;

	if (b->npeers == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct peer *n = realloc(b->peers, cap * sizeof(*n));

		if (!n)
			return NULL;
		b->peers = n;
		b->cap = cap;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (b->peers[mid].subnet.addr < p->subnet.addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&b->peers[lo + 1], &b->peers[lo], (b->npeers - lo) * sizeof(*p));
	b->peers[lo] = *p;
	b->npeers++;
	b->nskipped += p->skipped;
	return &b->peers[lo];
}

static void peer_remove(struct backend *b, struct peer *p)
{
	size_t i = (size_t)(p - b->peers);

	b->nskipped -= p->skipped;
	memmove(p, p + 1, (b->npeers - i - 1) * sizeof(*p));
	b->npeers--;
}

/* ------------------------------------------------------------ requests */

static struct route_want peer_route(const struct backend *b, const struct peer *p)
{
	return (struct route_want){
		.dst = p->subnet,
		.gw = p->public_ip,
		.oif = b->ext.index,
		.nexthop = b->nexthops && !p->classic,
	};
}

static void q_route_del(struct backend *b, uint32_t dst, uint8_t len, uint32_t priority)
{
	struct nl_route r = route_del_route(dst, len, priority);

	if (nl_msg_route(nl_batch_slot(b->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_ROUTE_DEL, dst));
}

static void q_nexthop_del(struct backend *b, uint32_t id)
{
	struct nl_nexthop nh = { .id = id };

	if (nl_msg_nexthop(nl_batch_slot(b->nl), RTM_DELNEXTHOP, 0, &nh))
		nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_NH_DEL, id));
}

static void q_nexthop_add(struct backend *b, const struct peer *p)
{
	struct route_want w = peer_route(b, p);
	struct nl_nexthop nh = route_want_nexthop(&w);

	if (nl_msg_nexthop(nl_batch_slot(b->nl), RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &nh))
		nl_batch_add(b->nl, 0, cookie(OP_NH_ADD, p->subnet.addr));
}

/* Replaces a route to the same subnet whoever made it, as upstream does. */
static void q_route_add(struct backend *b, const struct peer *p)
{
	struct route_want w = peer_route(b, p);
	struct nl_route r = route_want_route(&w);

	if (nl_msg_route(nl_batch_slot(b->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(b->nl, 0, cookie(OP_ROUTE_ADD, p->subnet.addr));
}

static void q_peer_add(struct backend *b, const struct peer *p)
{
	if (p->skipped)
		return;
	if (peer_route(b, p).nexthop)
		q_nexthop_add(b, p);
	q_route_add(b, p);
}

static void q_peer_del(struct backend *b, const struct peer *p)
{
	q_route_del(b, p->subnet.addr, p->subnet.len, 0);
	if (peer_route(b, p).nexthop)
		q_nexthop_del(b, p->subnet.addr);
}

/* ------------------------------------------------------------ reachability */

/* Upstream's test: the kernel's route to ip has no gateway; and it leaves by our interface. */
static bool reachable(struct backend *b, uint32_t ip)
{
	struct nl_route r;

	return nl_route_lookup(b->nl, ip, &r) == 0 && r.type == RTN_UNICAST && r.gw == 0 &&
	       r.oif == b->ext.index;
}

/* Set p->skipped from the kernel's routes now; say so when it changes. */
static void check_reach(struct backend *b, struct peer *p, bool in_table)
{
	char sn[IP_STRLEN], ip[16];
	bool skip = !reachable(b, p->public_ip);

	if (skip && (!p->skipped || !in_table) && log_limit_ok(&b->warn_limit, "unreachable peers"))
		log_warnx("Skipping subnet %s: its PublicIP %s is not on a network directly "
			  "connected to %s, which host-gw needs",
			  ip4net_format(&p->subnet, sn), ip4_format(p->public_ip, ip), b->ext.name);
	else if (!skip && p->skipped && in_table)
		log_info("Subnet %s: PublicIP %s is directly reachable now",
			 ip4net_format(&p->subnet, sn), ip4_format(p->public_ip, ip));
	if (in_table)
		b->nskipped += (size_t)skip - (size_t)p->skipped;
	p->skipped = skip;
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
	struct backend *b;
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

	for (size_t i = 0; i < k->b->npeers; i++)
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
	struct backend *b = k->b;
	struct nl_nexthop nh;
	char sn[IP_STRLEN];
	struct peer *p;

	if (nl_parse_nexthop(nlh, &nh) < 0 || !ip4net_contains(&b->network, nh.id))
		return 0;
	p = peer_find(b, nh.id);
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
	if (p && !p->skipped && peer_route(b, p).nexthop) {
		struct route_want w = peer_route(b, p);

		if (route_want_nexthop_matches(&w, &nh))
			k->have[p - b->peers] |= HAVE_NEXTHOP;
		return 0; /* else replaced in place */
	}
	return add_stale(k, &(struct stale){ .nexthop = true, .addr = nh.id });
}

static int dump_route_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct backend *b = k->b;
	struct nl_route r;
	struct peer *p;

	/* Another flanneld on this host (another network) tags its routes alike. */
	if (nl_parse_route(nlh, &r) < 0 || r.protocol != NL_RTPROT_FLANNEL ||
	    r.table != RT_TABLE_MAIN || !ip4net_contains(&b->network, r.dst))
		return 0;
	p = peer_find(b, r.dst);
	if (p && !p->skipped) {
		struct route_want w = peer_route(b, p);

		if (route_want_matches(&w, &r)) {
			k->have[p - b->peers] |= HAVE_ROUTE;
			return 0;
		}
		if (p->subnet.len == r.dst_len && r.priority == 0)
			return 0; /* replaced in place */
	}
	return add_stale(
		k, &(struct stale){ .addr = r.dst, .len = r.dst_len, .priority = r.priority });
}

static int dump_kernel(struct backend *b, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

	if (b->kernel_nexthops) {
		if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
			return -EINVAL;
		r = nl_dump(b->nl, (const void *)buf, dump_nexthop_cb, reset_nexthops, k);
		if (r < 0)
			return r;
	}
	if (!nl_msg_dump(buf, RTM_GETROUTE, AF_INET, 0))
		return -EINVAL;
	return nl_dump(b->nl, (const void *)buf, dump_route_cb, reset_routes, k);
}

/* Make the kernel hold exactly our peers' routes: right ones untouched, wrong ones fixed. */
static void converge(struct backend *b)
{
	struct kstate k = { .b = b };
	unsigned added = 0;
	size_t i;
	int r = -ENOMEM;

	if (b->nskipped)
		for (i = 0; i < b->npeers; i++)
			if (b->peers[i].skipped)
				check_reach(b, &b->peers[i], true);
	k.have = calloc(b->npeers ? b->npeers : 1, 1);
	if (k.have)
		r = dump_kernel(b, &k);
	if (r < 0) {
		log_warnx("Cannot read the kernel's routes: %s", strerror(-r));
		repair_later(&b->heal);
		goto out;
	}
	batch_begin(b);
	for (i = 0; i < k.nstale; i++)
		if (!k.stale[i].nexthop)
			q_route_del(b, k.stale[i].addr, k.stale[i].len, k.stale[i].priority);
	for (i = 0; i < b->npeers; i++) {
		const struct peer *p = &b->peers[i];
		bool nh = peer_route(b, p).nexthop;
		unsigned want = nh ? HAVE_ROUTE | HAVE_NEXTHOP : HAVE_ROUTE;

		if (p->skipped || (k.have[i] & want) == want)
			continue;
		added++;
		if (nh && !(k.have[i] & HAVE_NEXTHOP))
			q_nexthop_add(b, p);
		if (!(k.have[i] & HAVE_ROUTE))
			q_route_add(b, p);
	}
	/* After the routes: one that named a stale nexthop has been replaced by now. */
	for (i = 0; i < k.nstale; i++)
		if (k.stale[i].nexthop)
			q_nexthop_del(b, k.stale[i].addr);
	batch_end(b);
	if (added || k.nstale)
		log_info("Converged routes via %s: %zu subnets (%zu skipped), %u added or fixed, "
			 "%zu stale entries removed%s",
			 b->ext.name, b->npeers, b->nskipped, added, k.nstale,
			 b->failed ? " (with errors)" : "");
	else
		log_debug(1, "Converged routes via %s: %zu subnets, nothing to change", b->ext.name,
			  b->npeers);
out:
	free(k.have);
	free(k.stale);
}

static void heal_cb(void *arg)
{
	struct backend *b = arg;

	if (b->v4)
		converge(b);
	if (b->v6)
		hgw6_converge(&b->six);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip4net *a, const struct ip4net *b)
{
	return a->addr == b->addr && a->len == b->len;
}

/* 1 with *ret filled (reachability included), 0 when not ours to program. */
static int peer_from_lease(struct backend *b, const struct lease *l, struct peer *ret)
{
	char sn[IP_STRLEN];

	if (!l->has_attrs || l->subnet.v4.len == 0)
		return 0;
	if (b->have_own && same_subnet(&l->subnet.v4, &b->own))
		return 0;
	if (strcmp(l->attrs.backend_type, TYPE) != 0) {
		log_debug(1, "Ignoring non-host-gw subnet %s: type=%s",
			  ip4net_format(&l->subnet.v4, sn), l->attrs.backend_type);
		return 0;
	}
	if (l->attrs.public_ip == 0) {
		if (log_limit_ok(&b->warn_limit, "subnets without PublicIP"))
			log_warnx("Ignoring subnet %s: no PublicIP",
				  ip4net_format(&l->subnet.v4, sn));
		return 0;
	}
	*ret = (struct peer){ .subnet = l->subnet.v4, .public_ip = l->attrs.public_ip };
	return 1;
}

static void hostgw_lease_removed(struct backend *b, const struct lease *l)
{
	struct peer *p;
	char sn[IP_STRLEN];

	if (b->v6)
		hgw6_lease_removed(&b->six, l);
	p = b->v4 ? peer_find(b, l->subnet.v4.addr) : NULL;
	if (!p || p->subnet.len != l->subnet.v4.len)
		return;
	log_info("Subnet removed: %s", ip4net_format(&p->subnet, sn));
	batch_begin(b);
	if (!p->skipped)
		q_peer_del(b, p);
	peer_remove(b, p);
	batch_end(b);
}

static void hostgw_lease_added(struct backend *b, const struct lease *l)
{
	char sn[IP_STRLEN], ip[16];
	struct peer np, *old;

	if (b->v6)
		hgw6_lease_added(&b->six, l);
	if (!b->v4)
		return;
	if (peer_from_lease(b, l, &np) <= 0) {
		/* Type changed away from host-gw: what we had for it goes (v6 done above). */
		old = peer_find(b, l->subnet.v4.addr);
		if (old && l->has_attrs && strcmp(l->attrs.backend_type, TYPE) != 0) {
			log_info("Subnet removed: %s", ip4net_format(&old->subnet, sn));
			batch_begin(b);
			if (!old->skipped)
				q_peer_del(b, old);
			peer_remove(b, old);
			batch_end(b);
		}
		return;
	}
	old = peer_find(b, np.subnet.addr);
	if (old && same_subnet(&old->subnet, &np.subnet) && old->public_ip == np.public_ip &&
	    !old->skipped) {
		log_debug(1, "Subnet %s unchanged, applying it again",
			  ip4net_format(&np.subnet, sn));
	} else {
		check_reach(b, &np, false);
		if (!np.skipped)
			log_info("Subnet added: %s via %s", ip4net_format(&np.subnet, sn),
				 ip4_format(np.public_ip, ip));
	}
	batch_begin(b);
	if (old) {
		np.classic = old->classic;
		if (!old->skipped && (np.skipped || old->subnet.len != np.subnet.len))
			q_peer_del(b, old);
		b->nskipped += (size_t)np.skipped - (size_t)old->skipped;
		*old = np;
	} else if (!peer_insert(b, &np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  ip4net_format(&np.subnet, sn));
		nl_batch_end(b->nl);
		return;
	}
	q_peer_add(b, &np);
	batch_end(b);
}

/*
 * Upstream logs "Subnet added" for every lease of its first list too; a
 * list of thousands gets a count instead of a line each.
 */
static void log_new_peers(struct backend *b, const struct peer *v, size_t n)
{
	char sn[IP_STRLEN], ip[16];
	size_t added = 0;

	for (size_t i = 0; i < n; i++)
		added += !v[i].skipped && !peer_find(b, v[i].subnet.addr);
	for (size_t i = 0; i < n && added <= 100; i++)
		if (!v[i].skipped && !peer_find(b, v[i].subnet.addr))
			log_info("Subnet added: %s via %s", ip4net_format(&v[i].subnet, sn),
				 ip4_format(v[i].public_ip, ip));
	if (added > 100)
		log_info("Subnets added: %zu", added);
}

static void hostgw_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct peer *peers;
	size_t k = 0;

	if (b->v6)
		hgw6_resync(&b->six, all, n);
	if (!b->v4)
		return;
	peers = malloc((n ? n : 1) * sizeof(*peers));
	if (!peers) {
		log_warnx("Out of memory resyncing host-gw routes, keeping the current ones");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (peer_from_lease(b, all[i], &peers[k]) <= 0)
			continue;
		/* What we knew stays known: no second warning for the same skipped peer. */
		struct peer *old = peer_find(b, peers[k].subnet.addr);

		if (old && old->public_ip == peers[k].public_ip) {
			peers[k].classic = old->classic;
			peers[k].skipped = old->skipped;
		} else {
			check_reach(b, &peers[k], false);
		}
		k++;
	}
	log_new_peers(b, peers, k);
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
	free(b->peers);
	b->peers = peers;
	b->npeers = k;
	b->cap = n ? n : 1;
	b->nskipped = 0;
	for (size_t i = 0; i < k; i++)
		b->nskipped += peers[i].skipped;
	converge(b);
}

static int hostgw_own_lease(struct backend *b, const struct lease *own)
{
	struct peer *p;

	if (b->v6 && own->subnet.has_v6)
		hgw6_own_lease(&b->six, &own->subnet.v6);
	if (!b->v4)
		return 0;
	b->own = own->subnet.v4;
	b->have_own = true;
	/* A subnet that was a peer's and is now ours stops being routed away. */
	p = peer_find(b, b->own.addr);
	if (p) {
		batch_begin(b);
		if (!p->skipped)
			q_peer_del(b, p);
		peer_remove(b, p);
		batch_end(b);
	}
	return 0;
}

/* ------------------------------------------------------------ self-healing */

static void link_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_link l;
	bool up;

	if (nl_parse_link(nlh, &l) < 0 || l.index != b->ext.index)
		return;
	/* Routes through a link that went down are gone without a notification. */
	up = nlh->nlmsg_type == RTM_NEWLINK && (l.flags & IFF_UP) && (l.flags & IFF_LOWER_UP);
	if (up && !b->ext_up)
		repair_soon_why(&b->heal, "%s is up again", b->ext.name);
	else if (!up && b->ext_up)
		log_warnx("%s (our external interface) is down", b->ext.name);
	b->ext_up = up;
}

static void route_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct route_want w;
	struct nl_route r;
	struct peer *p;

	if (b->v6)
		hgw6_route_event(&b->six, nlh);
	if (!b->v4 || nl_parse_route(nlh, &r) < 0 || r.family != AF_INET ||
	    r.table != RT_TABLE_MAIN)
		return;
	/*
	 * A network on our interface came or went: skipped peers may be
	 * reachable now, and the kernel drops routes via a gateway that is no
	 * longer on-link without telling anyone.
	 */
	if (r.protocol != NL_RTPROT_FLANNEL && r.oif == b->ext.index && r.gw == 0 && b->npeers) {
		log_debug(1, "The routes on %s changed: converging", b->ext.name);
		repair_soon(&b->heal);
		return;
	}
	if (r.priority != 0)
		return;
	/* A peer we dropped is gone from the table before its deletions come back to us. */
	p = peer_find(b, r.dst);
	if (!p || p->skipped || p->subnet.len != r.dst_len)
		return;
	w = peer_route(b, p);
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		if (r.protocol == NL_RTPROT_FLANNEL)
			repair_soon_why(&b->heal, "The route to %s was deleted",
					ip4net_format(&p->subnet, sn));
	} else if (r.protocol != NL_RTPROT_FLANNEL || !route_want_matches(&w, &r)) {
		repair_soon_why(&b->heal, "The route to %s was replaced",
				ip4net_format(&p->subnet, sn));
	}
}

static void nexthop_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct route_want w;
	struct nl_nexthop nh;
	struct peer *p;

	if (!b->v4 || nl_parse_nexthop(nlh, &nh) < 0 || !ip4net_contains(&b->network, nh.id))
		return;
	p = peer_find(b, nh.id);
	if (!p || p->skipped || !peer_route(b, p).nexthop)
		return;
	w = peer_route(b, p);
	/* The kernel takes the routes that use a deleted nexthop along, silently. */
	if (nlh->nlmsg_type == RTM_DELNEXTHOP)
		repair_soon_why(&b->heal, "The nexthop for %s was deleted",
				ip4net_format(&p->subnet, sn));
	else if (!route_want_nexthop_matches(&w, &nh))
		repair_soon_why(&b->heal, "The nexthop for %s was changed",
				ip4net_format(&p->subnet, sn));
}

/* An address of our interface changed: routes via gateways on it may have gone. */
static void addr_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) < 0 || a.ifindex != b->ext.index ||
	    (!b->npeers && !b->six.npeers))
		return;
	log_debug(1, "An address of %s changed: converging", b->ext.name);
	repair_soon(&b->heal);
}

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		link_event(b, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		route_event(b, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		addr_event(b, nlh);
		break;
	case RTM_NEWNEXTHOP:
	case RTM_DELNEXTHOP:
		nexthop_event(b, nlh);
		break;
	}
}

static void kernel_overrun(void *arg)
{
	struct backend *b = arg;

	log_info("Missed rtnetlink notifications (ENOBUFS): re-reading the routes via %s",
		 b->ext.name);
	repair_soon(&b->heal);
}

static const struct nlmon_ops monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};

/* ------------------------------------------------------------ lifecycle */

static void hostgw_close(struct backend *b)
{
	if (!b)
		return;
	/* The routes stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	free(b->peers);
	hgw6_free(&b->six);
	free(b);
}

/* Shared by init and --check-config: no NAT, and the MTU (how, or why not, in msg). */
static int hostgw_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	char pub[16], addr[16];

	if (env->conf->enable_ipv6 && !env->has_public_ipv6) {
		snprintf(msg, msglen, "The external interface %s has no IPv6 address for host-gw",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	if (!env->conf->enable_ipv4)
		goto mtu;
	if (env->ext->addr == 0) {
		snprintf(msg, msglen, "The external interface %s has no IPv4 address for host-gw",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	if (env->public_ip != env->ext->addr) {
		snprintf(msg, msglen,
			 "Your PublicIP %s differs from the address %s of %s, meaning that "
			 "probably you're on a NAT, which is not supported by host-gw backend",
			 ip4_format(env->public_ip, pub), ip4_format(env->ext->addr, addr),
			 env->ext->name);
		return -EINVAL;
	}
mtu:
	*mtu = env->ext->mtu;
	snprintf(msg, msglen, "the MTU of %s", env->ext->name);
	return 0;
}

static int hostgw_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		       struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	unsigned groups[6], ngroups = 0;
	char msg[256];
	unsigned m;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->network = env->conf->network;
	b->ext = *env->ext;
	b->ext_up = true;
	b->warn_limit = LOG_LIMIT(20, 10000);
	b->v4 = env->conf->enable_ipv4;
	b->v6 = env->conf->enable_ipv6;
	b->six = (struct hgw6){ .ext = &b->ext,
				.heal = &b->heal,
				.warn_limit = &b->warn_limit,
				.network = env->conf->ipv6_network };
	repair_init(&b->heal, b->loop, heal_cb, b, "the host-gw routes");
	r = hostgw_check(env, &m, msg, sizeof(msg));
	if (r < 0) {
		log_error("%s", msg);
		goto fail;
	}
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	b->six.nl = b->nl;
	r = route_probe_nexthops(b->nl);
	b->kernel_nexthops = r == 0;
	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	b->nexthops = env->nexthop_objects && b->kernel_nexthops;
	/* The nexthop group last: kernels without nexthop objects lack it. */
	groups[ngroups++] = RTNLGRP_LINK;
	if (b->v4) {
		groups[ngroups++] = RTNLGRP_IPV4_IFADDR;
		groups[ngroups++] = RTNLGRP_IPV4_ROUTE;
	}
	if (b->v6) {
		groups[ngroups++] = RTNLGRP_IPV6_IFADDR;
		groups[ngroups++] = RTNLGRP_IPV6_ROUTE;
	}
	if (b->v4 && b->kernel_nexthops)
		groups[ngroups++] = RTNLGRP_NEXTHOP;
	r = nlmon_open(b->loop, groups, ngroups, &monitor_ops, b, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	log_info("host-gw: routes to other subnets via their %s on %s%s",
		 !b->v6	 ? "PublicIP"
		 : b->v4 ? "PublicIP and PublicIPv6"
			 : "PublicIPv6",
		 b->ext.name, b->v4 && b->nexthops ? " (through nexthop objects)" : "");
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
	*mtu = m;
	*ret = b;
	return 0;
fail:
	hostgw_close(b);
	return r;
}

const struct backend_ops backend_hostgw_ops = {
	.name = TYPE,
	.init = hostgw_init,
	.ipv6 = true,
	.check = hostgw_check,
	.own_lease = hostgw_own_lease,
	.lease_added = hostgw_lease_added,
	.lease_removed = hostgw_lease_removed,
	.resync = hostgw_resync,
	.close = hostgw_close,
};
