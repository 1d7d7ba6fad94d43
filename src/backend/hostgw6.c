/* SPDX-License-Identifier: Apache-2.0 */
/* host-gw IPv6 routes: the peer table, converge, lease events and repair triggers. */
#include "backend/hostgw6.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/repair.h"
#include "backend/routes.h"
#include "iface.h"
#include "lease/lease.h"
#include "log.h"
#include "netlink/nl.h"
#include "lease/subnet.h"

#define TYPE "host-gw"

enum op { OP_ROUTE_ADD = 1, OP_ROUTE_DEL };

/* A batch's error names the subnet: cookies index the destinations queued in it. */
static uintptr_t cookie(struct hgw6 *h, enum op op, const struct ip6 *dst)
{
	if (h->ncdst == h->capcdst) {
		size_t cap = h->capcdst ? 2 * h->capcdst : 64;
		struct ip6 *n = realloc(h->cdst, cap * sizeof(*n));

		if (!n)
			return op; /* index 0 reads as unknown */
		h->cdst = n;
		h->capcdst = cap;
	}
	h->cdst[h->ncdst++] = *dst;
	return (uintptr_t)h->ncdst << 1 | (op == OP_ROUTE_DEL);
}

static void batch_error(void *arg, uintptr_t c, uint16_t type, int err, const char *extack)
{
	struct hgw6 *h = arg;
	size_t i = (size_t)(c >> 1);
	char a[IP_STRLEN];

	h->failed = true;
	log_warnx("Failed to %s for %s via %s: %s", c & 1 ? "delete route" : "add route",
		  i && i <= h->ncdst ? ip6_format(&h->cdst[i - 1], a) : "an IPv6 subnet",
		  h->ext->name, extack && *extack ? extack : strerror(-err));
}

static void batch_begin(struct hgw6 *h)
{
	h->failed = false;
	h->ncdst = 0;
	nl_batch_begin(h->nl, batch_error, NULL, h);
}

static void batch_end(struct hgw6 *h)
{
	nl_batch_end(h->nl);
	if (h->failed)
		repair_later(h->heal);
	else
		repair_done(h->heal);
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *x, const void *y)
{
	return memcmp(((const struct hgw6_peer *)x)->subnet.addr.b,
		      ((const struct hgw6_peer *)y)->subnet.addr.b, 16);
}

static struct hgw6_peer *peer_find(struct hgw6 *h, const struct ip6 *addr)
{
	struct hgw6_peer key = { .subnet.addr = *addr };

	return h->npeers ? bsearch(&key, h->peers, h->npeers, sizeof(key), peer_cmp) : NULL;
}

static struct hgw6_peer *peer_insert(struct hgw6 *h, const struct hgw6_peer *p)
{
	size_t lo = 0, hi = h->npeers;

	if (h->npeers == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct hgw6_peer *n = realloc(h->peers, cap * sizeof(*n));

		if (!n)
			return NULL;
		h->peers = n;
		h->cap = cap;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (peer_cmp(&h->peers[mid], p) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&h->peers[lo + 1], &h->peers[lo], (h->npeers - lo) * sizeof(*p));
	h->peers[lo] = *p;
	h->npeers++;
	h->nskipped += p->skipped;
	return &h->peers[lo];
}

static void peer_remove(struct hgw6 *h, struct hgw6_peer *p)
{
	size_t i = (size_t)(p - h->peers);

	h->nskipped -= p->skipped;
	memmove(p, p + 1, (h->npeers - i - 1) * sizeof(*p));
	h->npeers--;
}

/* ------------------------------------------------------------ requests */

static struct route_want6 peer_route(const struct hgw6 *h, const struct hgw6_peer *p)
{
	return (struct route_want6){ .dst = p->subnet, .gw = p->public_ip, .oif = h->ext->index };
}

static void q_route_del(struct hgw6 *h, const struct ip6 *dst, uint8_t len, uint32_t priority)
{
	struct nl_route r = route_del_route6(dst, len, priority);

	if (nl_msg_route(nl_batch_slot(h->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(h->nl, NL_OK_ENOENT, cookie(h, OP_ROUTE_DEL, dst));
}

/* Replaces a route to the same subnet and metric whoever made it, as upstream does. */
static void q_route_add(struct hgw6 *h, const struct hgw6_peer *p)
{
	struct route_want6 w = peer_route(h, p);
	struct nl_route r = route_want6_route(&w);

	if (p->skipped)
		return;
	if (nl_msg_route(nl_batch_slot(h->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(h->nl, 0, cookie(h, OP_ROUTE_ADD, &p->subnet.addr));
}

/* ------------------------------------------------------------ reachability */

/* As for IPv4: the kernel's route to ip has no gateway and leaves by our interface. */
static bool reachable(struct hgw6 *h, const struct ip6 *ip)
{
	struct nl_route r;

	return nl_route_lookup6(h->nl, ip, &r) == 0 && r.type == RTN_UNICAST &&
	       ip6_is_zero(&r.gw6) && r.oif == h->ext->index;
}

static void check_reach(struct hgw6 *h, struct hgw6_peer *p, bool in_table)
{
	char sn[IP_STRLEN], ip[IP_STRLEN];
	bool skip = !reachable(h, &p->public_ip);

	if (skip && (!p->skipped || !in_table) && log_limit_ok(h->warn_limit, "unreachable peers"))
		log_warnx("Skipping subnet %s: its PublicIPv6 %s is not on a network directly "
			  "connected to %s, which host-gw needs",
			  ip6net_format(&p->subnet, sn), ip6_format(&p->public_ip, ip),
			  h->ext->name);
	else if (!skip && p->skipped && in_table)
		log_info("Subnet %s: PublicIPv6 %s is directly reachable now",
			 ip6net_format(&p->subnet, sn), ip6_format(&p->public_ip, ip));
	if (in_table)
		h->nskipped += (size_t)skip - (size_t)p->skipped;
	p->skipped = skip;
}

/* ------------------------------------------------------------ converge */

struct stale {
	struct ip6 dst;
	uint8_t len;
	uint32_t priority;
};

struct kstate {
	struct hgw6 *h;
	bool *have;
	struct stale *stale;
	size_t nstale, capstale;
};

static void reset_routes(void *arg)
{
	struct kstate *k = arg;

	memset(k->have, 0, k->h->npeers ? k->h->npeers : 1);
	k->nstale = 0;
}

static int dump_route_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct hgw6 *h = k->h;
	struct hgw6_peer *p;
	struct nl_route r;

	/* Another flanneld on this host (another network) tags its routes alike. */
	if (nl_parse_route(nlh, &r) < 0 || r.family != AF_INET6 ||
	    r.protocol != NL_RTPROT_FLANNEL || r.table != RT_TABLE_MAIN ||
	    !ip6net_contains(&h->network, &r.dst6))
		return 0;
	p = peer_find(h, &r.dst6);
	if (p && !p->skipped) {
		struct route_want6 w = peer_route(h, p);

		if (route_want6_matches(&w, &r)) {
			k->have[p - h->peers] = true;
			return 0;
		}
		if (p->subnet.len == r.dst_len && r.priority == ROUTE6_METRIC)
			return 0; /* replaced in place */
	}
	if (k->nstale == k->capstale) {
		size_t cap = k->capstale ? 2 * k->capstale : 64;
		struct stale *n = realloc(k->stale, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		k->stale = n;
		k->capstale = cap;
	}
	k->stale[k->nstale++] = (struct stale){ r.dst6, r.dst_len, r.priority };
	return 0;
}

void hgw6_converge(struct hgw6 *h)
{
	struct kstate k = { .h = h };
	unsigned added = 0;
	NL_MSG_BUF(buf);
	int r = -ENOMEM;

	for (size_t i = 0; h->nskipped && i < h->npeers; i++)
		if (h->peers[i].skipped)
			check_reach(h, &h->peers[i], true);
	k.have = calloc(h->npeers ? h->npeers : 1, sizeof(*k.have));
	if (k.have)
		r = nl_msg_dump(buf, RTM_GETROUTE, AF_INET6, 0)
			    ? nl_dump(h->nl, (const void *)buf, dump_route_cb, reset_routes, &k)
			    : -EINVAL;
	if (r < 0) {
		log_warnx("Cannot read the kernel's IPv6 routes: %s", strerror(-r));
		repair_later(h->heal);
		goto out;
	}
	batch_begin(h);
	for (size_t i = 0; i < k.nstale; i++)
		q_route_del(h, &k.stale[i].dst, k.stale[i].len, k.stale[i].priority);
	for (size_t i = 0; i < h->npeers; i++) {
		if (h->peers[i].skipped || k.have[i])
			continue;
		added++;
		q_route_add(h, &h->peers[i]);
	}
	batch_end(h);
	if (added || k.nstale)
		log_info("Converged IPv6 routes via %s: %zu subnets (%zu skipped), %u added or "
			 "fixed, %zu stale entries removed%s",
			 h->ext->name, h->npeers, h->nskipped, added, k.nstale,
			 h->failed ? " (with errors)" : "");
	else
		log_debug(1, "Converged IPv6 routes via %s: %zu subnets, nothing to change",
			  h->ext->name, h->npeers);
out:
	free(k.have);
	free(k.stale);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip6net *a, const struct ip6net *b)
{
	return a->len == b->len && ip6_equal(&a->addr, &b->addr);
}

/* 1 with *ret filled (reachability not yet), 0 when not ours to program. */
static int peer_from_lease(struct hgw6 *h, const struct lease *l, struct hgw6_peer *ret)
{
	char sn[IP_STRLEN];

	if (!l->has_attrs || !l->subnet.has_v6 || l->subnet.v6.len == 0)
		return 0;
	if (h->have_own && same_subnet(&l->subnet.v6, &h->own))
		return 0;
	if (strcmp(l->attrs.backend_type, TYPE) != 0)
		return 0; /* hostgw.c logs it */
	if (!l->attrs.has_public_ipv6 || ip6_is_zero(&l->attrs.public_ipv6)) {
		if (log_limit_ok(h->warn_limit, "subnets without PublicIPv6"))
			log_warnx("Ignoring subnet %s: no PublicIPv6",
				  ip6net_format(&l->subnet.v6, sn));
		return 0;
	}
	*ret = (struct hgw6_peer){ .subnet = l->subnet.v6, .public_ip = l->attrs.public_ipv6 };
	return 1;
}

void hgw6_lease_removed(struct hgw6 *h, const struct lease *l)
{
	struct hgw6_peer *p;
	char sn[IP_STRLEN];

	if (!l->subnet.has_v6)
		return;
	p = peer_find(h, &l->subnet.v6.addr);
	if (!p || p->subnet.len != l->subnet.v6.len)
		return;
	log_info("Subnet removed: %s", ip6net_format(&p->subnet, sn));
	batch_begin(h);
	if (!p->skipped)
		q_route_del(h, &p->subnet.addr, p->subnet.len, ROUTE6_METRIC);
	peer_remove(h, p);
	batch_end(h);
}

void hgw6_lease_added(struct hgw6 *h, const struct lease *l)
{
	char sn[IP_STRLEN], ip[IP_STRLEN];
	struct hgw6_peer np, *old;

	if (peer_from_lease(h, l, &np) <= 0) {
		/* No longer a host-gw lease with a v6 part we can use: what we had goes. */
		hgw6_lease_removed(h, l);
		return;
	}
	old = peer_find(h, &np.subnet.addr);
	if (old && same_subnet(&old->subnet, &np.subnet) &&
	    ip6_equal(&old->public_ip, &np.public_ip) && !old->skipped) {
		np.skipped = false;
		log_debug(1, "Subnet %s unchanged, applying it again",
			  ip6net_format(&np.subnet, sn));
	} else {
		check_reach(h, &np, false);
		if (!np.skipped)
			log_info("Subnet added: %s via %s", ip6net_format(&np.subnet, sn),
				 ip6_format(&np.public_ip, ip));
	}
	batch_begin(h);
	if (old) {
		if (!old->skipped && (np.skipped || old->subnet.len != np.subnet.len))
			q_route_del(h, &old->subnet.addr, old->subnet.len, ROUTE6_METRIC);
		h->nskipped += (size_t)np.skipped - (size_t)old->skipped;
		*old = np;
	} else if (!peer_insert(h, &np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  ip6net_format(&np.subnet, sn));
		nl_batch_end(h->nl);
		return;
	}
	q_route_add(h, &np);
	batch_end(h);
}

/* As hostgw.c: a line per new subnet of a (re)list, a count past 100. */
static void log_new_peers(struct hgw6 *h, const struct hgw6_peer *v, size_t n)
{
	char sn[IP_STRLEN], ip[IP_STRLEN];
	size_t added = 0;

	for (size_t i = 0; i < n; i++)
		added += !v[i].skipped && !peer_find(h, &v[i].subnet.addr);
	for (size_t i = 0; i < n && added <= 100; i++)
		if (!v[i].skipped && !peer_find(h, &v[i].subnet.addr))
			log_info("Subnet added: %s via %s", ip6net_format(&v[i].subnet, sn),
				 ip6_format(&v[i].public_ip, ip));
	if (added > 100)
		log_info("Subnets added: %zu", added);
}

void hgw6_resync(struct hgw6 *h, const struct lease *const *all, size_t n)
{
	struct hgw6_peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing host-gw IPv6 routes, keeping the current ones");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct hgw6_peer *old;

		if (peer_from_lease(h, all[i], &peers[k]) <= 0)
			continue;
		/* What we knew stays known: no second warning for the same skipped peer. */
		old = peer_find(h, &peers[k].subnet.addr);
		if (old && ip6_equal(&old->public_ip, &peers[k].public_ip))
			peers[k].skipped = old->skipped;
		else
			check_reach(h, &peers[k], false);
		k++;
	}
	log_new_peers(h, peers, k);
	qsort(peers, k, sizeof(*peers), peer_cmp);
	for (size_t i = 1; i < k; i++) {
		if (peer_cmp(&peers[i], &peers[i - 1]) == 0) {
			char sn[IP_STRLEN];

			log_warnx("Ignoring subnet %s: overlaps another lease",
				  ip6net_format(&peers[i].subnet, sn));
			memmove(&peers[i], &peers[i + 1], (k - i - 1) * sizeof(*peers));
			k--;
			i--;
		}
	}
	free(h->peers);
	h->peers = peers;
	h->npeers = k;
	h->cap = n ? n : 1;
	h->nskipped = 0;
	for (size_t i = 0; i < k; i++)
		h->nskipped += peers[i].skipped;
	hgw6_converge(h);
}

void hgw6_own_lease(struct hgw6 *h, const struct ip6net *own)
{
	struct hgw6_peer *p;

	h->own = *own;
	h->have_own = true;
	/* A subnet that was a peer's and is now ours stops being routed away. */
	p = peer_find(h, &own->addr);
	if (p) {
		batch_begin(h);
		if (!p->skipped)
			q_route_del(h, &p->subnet.addr, p->subnet.len, ROUTE6_METRIC);
		peer_remove(h, p);
		batch_end(h);
	}
}

/* ------------------------------------------------------------ self-healing */

void hgw6_route_event(struct hgw6 *h, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct route_want6 w;
	struct hgw6_peer *p;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0 || r.family != AF_INET6 || r.table != RT_TABLE_MAIN)
		return;
	/*
	 * A network on our interface came or went: skipped peers may be
	 * reachable now, and routes via a gateway no longer on-link may be gone.
	 */
	if (r.protocol != NL_RTPROT_FLANNEL && r.oif == h->ext->index && ip6_is_zero(&r.gw6) &&
	    h->npeers) {
		log_debug(1, "The IPv6 routes on %s changed: converging", h->ext->name);
		repair_soon(h->heal);
		return;
	}
	if (r.priority != ROUTE6_METRIC)
		return;
	p = peer_find(h, &r.dst6);
	if (!p || p->skipped || p->subnet.len != r.dst_len)
		return;
	w = peer_route(h, p);
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		if (r.protocol == NL_RTPROT_FLANNEL)
			repair_soon_why(h->heal, "The route to %s was deleted",
					ip6net_format(&p->subnet, sn));
	} else if (r.protocol != NL_RTPROT_FLANNEL || !route_want6_matches(&w, &r)) {
		repair_soon_why(h->heal, "The route to %s was replaced",
				ip6net_format(&p->subnet, sn));
	}
}

void hgw6_free(struct hgw6 *h)
{
	free(h->peers);
	free(h->cdst);
	h->peers = NULL;
	h->cdst = NULL;
	h->ncdst = h->capcdst = 0;
	h->npeers = h->cap = h->nskipped = 0;
}
