/* SPDX-License-Identifier: Apache-2.0 */
/* vxlan IPv6: the flannel-v6 device, its address, and the peers' neighbours, FDB entries, routes.
 */
#include "backend/vxlan6.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/repair.h"
#include "backend/routes.h"
#include "backend/vxlan_conf.h"
#include "backend/vxlan_dev.h"
#include "iface.h"
#include "lease/lease.h"
#include "log.h"
#include "netlink/nl.h"
#include "lease/subnet.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

enum op { OP_NEIGH_ADD, OP_FDB_ADD, OP_ROUTE_ADD, OP_NEIGH_DEL, OP_FDB_DEL, OP_ROUTE_DEL };

static const char *const op_names[] = {
	[OP_NEIGH_ADD] = "add neighbour",  [OP_FDB_ADD] = "add FDB entry",
	[OP_ROUTE_ADD] = "add route",	   [OP_NEIGH_DEL] = "delete neighbour",
	[OP_FDB_DEL] = "delete FDB entry", [OP_ROUTE_DEL] = "delete route",
};

/* ------------------------------------------------------------ batches */

/* Cookies index the addresses queued in this batch, so an error names its subnet. */
static uintptr_t cookie(struct vx6 *x, enum op op, const struct ip6 *a)
{
	if (x->ncdst == x->capcdst) {
		size_t cap = x->capcdst ? 2 * x->capcdst : 64;
		struct ip6 *n = realloc(x->cdst, cap * sizeof(*n));

		if (!n)
			return op; /* index 0 reads as unknown */
		x->cdst = n;
		x->capcdst = cap;
	}
	x->cdst[x->ncdst++] = *a;
	return (uintptr_t)x->ncdst << 4 | op;
}

static void batch_error(void *arg, uintptr_t c, uint16_t type, int err, const char *extack)
{
	struct vx6 *x = arg;
	size_t i = (size_t)(c >> 4), op = c & 0xf;
	char a[IP_STRLEN];

	x->failed = true;
	log_warnx("Failed to %s for %s on %s: %s",
		  op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "write",
		  i && i <= x->ncdst ? ip6_format(&x->cdst[i - 1], a) : "an IPv6 entry", x->dev,
		  extack && *extack ? extack : strerror(-err));
}

static void batch_begin(struct vx6 *x)
{
	x->failed = false;
	x->ncdst = 0;
	nl_batch_begin(x->nl, batch_error, NULL, x);
}

static void batch_end(struct vx6 *x)
{
	nl_batch_end(x->nl);
	if (x->failed)
		repair_later(x->heal);
	else
		repair_done(x->heal);
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *a, const void *b)
{
	return memcmp(((const struct vx6_peer *)a)->subnet.addr.b,
		      ((const struct vx6_peer *)b)->subnet.addr.b, 16);
}

static struct vx6_peer *peer_find(struct vx6 *x, const struct ip6 *addr)
{
	struct vx6_peer key = { .subnet.addr = *addr };

	return x->npeers ? bsearch(&key, x->peers, x->npeers, sizeof(key), peer_cmp) : NULL;
}

static void fdb_count(struct vx6 *x, const struct vx6_peer *p, bool add)
{
	if (p->direct)
		return;
	if (!add)
		fdbset_del6(&x->fdbs, p->mac, &p->public_ip);
	else if (fdbset_add6(&x->fdbs, p->mac, &p->public_ip) < 0)
		log_warnx("Out of memory counting FDB entries: a shared one may be deleted");
}

static struct vx6_peer *peer_insert(struct vx6 *x, const struct vx6_peer *p)
{
	size_t lo = 0, hi = x->npeers;

	if (x->npeers == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct vx6_peer *n = realloc(x->peers, cap * sizeof(*n));

		if (!n)
			return NULL;
		x->peers = n;
		x->cap = cap;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (peer_cmp(&x->peers[mid], p) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&x->peers[lo + 1], &x->peers[lo], (x->npeers - lo) * sizeof(*p));
	x->peers[lo] = *p;
	x->npeers++;
	fdb_count(x, p, true);
	return &x->peers[lo];
}

static void peer_remove(struct vx6 *x, struct vx6_peer *p)
{
	size_t i = (size_t)(p - x->peers);

	fdb_count(x, p, false);
	memmove(p, p + 1, (x->npeers - i - 1) * sizeof(*p));
	x->npeers--;
}

/* ------------------------------------------------------------ requests */

static void q_neigh(struct vx6 *x, uint16_t type, const struct ip6 *dst, const uint8_t *mac)
{
	struct nl_neigh n = {
		.family = AF_INET6,
		.ifindex = x->ifindex,
		.state = NUD_PERMANENT,
		.type = RTN_UNICAST,
		.has_dst = true,
		.dst_is6 = true,
		.dst6 = *dst,
		.has_lladdr = mac != NULL,
	};
	bool add = type == RTM_NEWNEIGH;

	if (mac)
		memcpy(n.lladdr, mac, 6);
	if (nl_msg_neigh(nl_batch_slot(x->nl), type, add ? NLM_F_CREATE | NLM_F_REPLACE : 0, &n))
		nl_batch_add(x->nl, add ? 0 : NL_OK_ENOENT,
			     cookie(x, add ? OP_NEIGH_ADD : OP_NEIGH_DEL, dst));
}

static void q_fdb(struct vx6 *x, uint16_t type, const uint8_t mac[6], const struct ip6 *dst)
{
	struct nl_neigh n = {
		.family = AF_BRIDGE,
		.ifindex = x->ifindex,
		.state = NUD_PERMANENT,
		.flags = NTF_SELF,
		.has_dst = true,
		.dst_is6 = true,
		.dst6 = *dst,
		.has_lladdr = true,
	};
	bool add = type == RTM_NEWNEIGH;

	memcpy(n.lladdr, mac, 6);
	if (nl_msg_neigh(nl_batch_slot(x->nl), type, add ? NLM_F_CREATE | NLM_F_REPLACE : 0, &n))
		nl_batch_add(x->nl, add ? 0 : NL_OK_ENOENT,
			     cookie(x, add ? OP_FDB_ADD : OP_FDB_DEL, dst));
}

/* Upstream's route: on-link via the peer's subnet address on our device, or via PublicIPv6. */
static struct route_want peer_route(const struct vx6 *x, const struct vx6_peer *p)
{
	struct route_want w = { .dst = kprefix_v6(&p->subnet) };

	if (p->direct) {
		w.gw = kaddr_v6(&p->public_ip);
		w.oif = p->oif;
	} else {
		w.gw = kaddr_v6(&p->subnet.addr);
		w.oif = x->ifindex;
		w.onlink = true;
	}
	return w;
}

static void q_route_add(struct vx6 *x, const struct vx6_peer *p)
{
	struct route_want w = peer_route(x, p);
	struct nl_route r = route_want_route(&w);

	if (nl_msg_route(nl_batch_slot(x->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(x->nl, 0, cookie(x, OP_ROUTE_ADD, &p->subnet.addr));
}

static void q_route_del(struct vx6 *x, const struct ip6 *dst, uint8_t len, uint32_t priority)
{
	struct nl_route r = route_del_route(&(struct kprefix){ kaddr_v6(dst), len }, priority);

	if (nl_msg_route(nl_batch_slot(x->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(x->nl, NL_OK_ENOENT, cookie(x, OP_ROUTE_DEL, dst));
}

/* Another peer uses the same FDB entry (a host re-registered under a new subnet). */
static bool fdb_shared(struct vx6 *x, const struct vx6_peer *except)
{
	unsigned n = fdbset_count6(&x->fdbs, except->mac, &except->public_ip);

	return n > 1;
}

static void q_peer_del(struct vx6 *x, const struct vx6_peer *p)
{
	q_route_del(x, &p->subnet.addr, p->subnet.len, route_metric(AF_INET6));
	if (p->direct)
		return;
	q_neigh(x, RTM_DELNEIGH, &p->subnet.addr, p->mac);
	if (!fdb_shared(x, p))
		q_fdb(x, RTM_DELNEIGH, p->mac, &p->public_ip);
}

/* Upstream's order: neighbour, FDB, route. */
static void q_peer_add(struct vx6 *x, const struct vx6_peer *p)
{
	if (!p->direct) {
		q_neigh(x, RTM_NEWNEIGH, &p->subnet.addr, p->mac);
		q_fdb(x, RTM_NEWNEIGH, p->mac, &p->public_ip);
	}
	q_route_add(x, p);
}

/* ------------------------------------------------------------ converge */

#define HAVE_NEIGH 0x1u
#define HAVE_ROUTE 0x2u

enum stale_kind { STALE_ROUTE, STALE_NEIGH, STALE_FDB };

struct stale {
	enum stale_kind kind;
	struct ip6 addr;   /* route dst, neighbour dst, FDB dst */
	uint8_t len;	   /* route */
	uint32_t priority; /* route */
	uint8_t mac[6];	   /* FDB */
};

/* What the dumps found: per peer, and the FDB entries present that peers want. */
struct kstate {
	struct vx6 *x;
	uint8_t *have;
	struct fdbset fdb_seen;
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

static void reset_kind(struct kstate *k, unsigned bit, enum stale_kind kind)
{
	size_t j = 0;

	for (size_t i = 0; i < k->x->npeers; i++)
		k->have[i] &= (uint8_t)~bit;
	for (size_t i = 0; i < k->nstale; i++)
		if (k->stale[i].kind != kind)
			k->stale[j++] = k->stale[i];
	k->nstale = j;
}

static void reset_routes(void *arg)
{
	reset_kind(arg, HAVE_ROUTE, STALE_ROUTE);
}

static void reset_neighs(void *arg)
{
	reset_kind(arg, HAVE_NEIGH, STALE_NEIGH);
}

static void reset_fdbs(void *arg)
{
	struct kstate *k = arg;

	fdbset_free(&k->fdb_seen);
	reset_kind(k, 0, STALE_FDB);
}

static int dump_route_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct vx6 *x = k->x;
	struct vx6_peer *p;
	struct route_want w;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0 || r.family != AF_INET6 ||
	    r.protocol != NL_RTPROT_FLANNEL || r.table != RT_TABLE_MAIN ||
	    !ip6net_contains(&x->network, &r.dst6))
		return 0;
	p = peer_find(x, &r.dst6);
	if (p) {
		w = peer_route(x, p);
		if (route_want_matches(&w, &r)) {
			k->have[p - x->peers] |= HAVE_ROUTE;
			return 0;
		}
		if (p->subnet.len == r.dst_len && r.priority == route_metric(AF_INET6))
			return 0; /* replaced in place */
	}
	return add_stale(k, &(struct stale){ .kind = STALE_ROUTE,
					     .addr = r.dst6,
					     .len = r.dst_len,
					     .priority = r.priority });
}

static int dump_neigh_cb(void *arg, const struct nlmsghdr *nlh)
{
	static const uint8_t zero[6];
	struct kstate *k = arg;
	struct vx6 *x = k->x;
	struct stale st = { .kind = STALE_FDB };
	struct nl_neigh n;

	if (nl_parse_neigh(nlh, &n) < 0 || n.ifindex != x->ifindex || !n.has_dst || !n.dst_is6)
		return 0;
	if (n.family == AF_INET6) {
		struct vx6_peer *p = peer_find(x, &n.dst6);

		/* Only permanent entries can be ours; the kernel runs the rest (ND). */
		if (!(n.state & NUD_PERMANENT))
			return 0;
		if (!p || p->direct)
			return add_stale(k, &(struct stale){ .kind = STALE_NEIGH, .addr = n.dst6 });
		if (n.has_lladdr && memcmp(n.lladdr, p->mac, 6) == 0)
			k->have[p - x->peers] |= HAVE_NEIGH;
		return 0; /* else replaced in place */
	}
	if (n.family != AF_BRIDGE || !n.has_lladdr || !(n.state & NUD_PERMANENT) ||
	    memcmp(n.lladdr, zero, 6) == 0)
		return 0;
	if (fdbset_count6(&x->fdbs, n.lladdr, &n.dst6))
		return fdbset_add6(&k->fdb_seen, n.lladdr, &n.dst6);
	st.addr = n.dst6;
	memcpy(st.mac, n.lladdr, 6);
	return add_stale(k, &st);
}

static int dump_kernel(struct vx6 *x, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

	if (!nl_msg_dump(buf, RTM_GETROUTE, AF_INET6, 0))
		return -EINVAL;
	r = nl_dump(x->nl, (const void *)buf, dump_route_cb, reset_routes, k);
	if (r < 0)
		return r;
	if (!nl_msg_dump(buf, RTM_GETNEIGH, AF_INET6, x->ifindex))
		return -EINVAL;
	r = nl_dump(x->nl, (const void *)buf, dump_neigh_cb, reset_neighs, k);
	if (r < 0)
		return r;
	if (!nl_msg_dump(buf, RTM_GETNEIGH, AF_BRIDGE, x->ifindex))
		return -EINVAL;
	return nl_dump(x->nl, (const void *)buf, dump_neigh_cb, reset_fdbs, k);
}

void vx6_converge(struct vx6 *x)
{
	struct kstate k = { .x = x };
	unsigned added = 0;
	int r = -ENOMEM;

	if (x->ifindex <= 0)
		return;
	k.have = calloc(x->npeers ? x->npeers : 1, 1);
	if (k.have)
		r = dump_kernel(x, &k);
	if (r < 0) {
		log_warnx("Cannot read the kernel's entries for %s: %s", x->dev, strerror(-r));
		repair_later(x->heal);
		goto out;
	}
	batch_begin(x);
	for (size_t i = 0; i < k.nstale; i++) {
		const struct stale *st = &k.stale[i];

		if (st->kind == STALE_ROUTE)
			q_route_del(x, &st->addr, st->len, st->priority);
		else if (st->kind == STALE_NEIGH)
			q_neigh(x, RTM_DELNEIGH, &st->addr, NULL);
		else
			q_fdb(x, RTM_DELNEIGH, st->mac, &st->addr);
	}
	for (size_t i = 0; i < x->npeers; i++) {
		const struct vx6_peer *p = &x->peers[i];
		bool fdb = p->direct || fdbset_count6(&k.fdb_seen, p->mac, &p->public_ip);
		unsigned want = p->direct ? HAVE_ROUTE : HAVE_NEIGH | HAVE_ROUTE;

		if ((k.have[i] & want) == want && fdb)
			continue;
		added++;
		if (!p->direct && !(k.have[i] & HAVE_NEIGH))
			q_neigh(x, RTM_NEWNEIGH, &p->subnet.addr, p->mac);
		if (!fdb) {
			q_fdb(x, RTM_NEWNEIGH, p->mac, &p->public_ip);
			/* Once for peers sharing the entry. */
			fdbset_add6(&k.fdb_seen, p->mac, &p->public_ip);
		}
		if (!(k.have[i] & HAVE_ROUTE))
			q_route_add(x, p);
	}
	batch_end(x);
	if (added || k.nstale)
		log_info(
			"Converged %s: %zu subnets, %u added or fixed, %zu stale entries removed%s",
			x->dev, x->npeers, added, k.nstale, x->failed ? " (with errors)" : "");
	else
		log_debug(1, "Converged %s: %zu subnets, nothing to change", x->dev, x->npeers);
out:
	fdbset_free(&k.fdb_seen);
	free(k.have);
	free(k.stale);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip6net *a, const struct ip6net *b)
{
	return a->len == b->len && ip6_equal(&a->addr, &b->addr);
}

static bool is_direct(struct vx6 *x, const struct ip6 *ip, int *oif)
{
	struct nl_route r;

	if (nl_route_lookup6(x->nl, ip, &r) < 0 || r.type != RTN_UNICAST || !ip6_is_zero(&r.gw6))
		return false;
	*oif = r.oif;
	return true;
}

/* 1 with *ret filled, 0 when the lease has nothing for our v6 device (logged when odd). */
static int peer_from_lease(struct vx6 *x, const struct lease *l, struct vx6_peer *ret)
{
	const struct lease_attrs *a = &l->attrs;
	char sn[IP_STRLEN], err[160];

	if (!l->has_attrs || !l->subnet.has_v6 || l->subnet.v6.len == 0)
		return 0;
	if (x->have_own && same_subnet(&l->subnet.v6, &x->own))
		return 0;
	if (strcmp(a->backend_type, "vxlan") != 0)
		return 0; /* vxlan.c logs it */
	if (!a->backend_v6_data ||
	    vxlan_lease_data_parse(a->backend_v6_data, strlen(a->backend_v6_data), ret->mac, err,
				   sizeof(err)) < 0) {
		if (log_limit_ok(x->warn_limit, "subnets with bad vxlan BackendV6Data"))
			log_warnx("Ignoring subnet %s: bad vxlan BackendV6Data: %s",
				  ip6net_format(&l->subnet.v6, sn),
				  a->backend_v6_data ? err : "none");
		return 0;
	}
	if (!a->has_public_ipv6 || ip6_is_zero(&a->public_ipv6)) {
		if (log_limit_ok(x->warn_limit, "subnets without PublicIPv6"))
			log_warnx("Ignoring subnet %s: no PublicIPv6",
				  ip6net_format(&l->subnet.v6, sn));
		return 0;
	}
	ret->subnet = l->subnet.v6;
	ret->public_ip = a->public_ipv6;
	ret->oif = 0;
	ret->direct = x->cfg->direct_routing && is_direct(x, &a->public_ipv6, &ret->oif);
	return 1;
}

static bool peer_equal(const struct vx6_peer *p, const struct vx6_peer *q)
{
	return same_subnet(&p->subnet, &q->subnet) && ip6_equal(&p->public_ip, &q->public_ip) &&
	       memcmp(p->mac, q->mac, 6) == 0 && p->direct == q->direct && p->oif == q->oif;
}

static void log_subnet(const char *what, const struct vx6_peer *p)
{
	char sn[IP_STRLEN], ip[IP_STRLEN], mac[VXLAN_MAC_STRLEN];

	if (p->direct)
		log_info("%s subnet: %s PublicIPv6: %s (direct route)", what,
			 ip6net_format(&p->subnet, sn), ip6_format(&p->public_ip, ip));
	else
		log_info("%s subnet: %s PublicIPv6: %s VtepMAC: %s", what,
			 ip6net_format(&p->subnet, sn), ip6_format(&p->public_ip, ip),
			 vxlan_mac_format(p->mac, mac));
}

void vx6_lease_removed(struct vx6 *x, const struct lease *l)
{
	struct vx6_peer *p;

	if (!l->subnet.has_v6)
		return;
	p = peer_find(x, &l->subnet.v6.addr);
	if (!p || p->subnet.len != l->subnet.v6.len)
		return;
	log_subnet("removing", p);
	batch_begin(x);
	q_peer_del(x, p);
	peer_remove(x, p);
	batch_end(x);
}

void vx6_lease_added(struct vx6 *x, const struct lease *l)
{
	struct vx6_peer np, *old;
	char sn[IP_STRLEN];

	if (peer_from_lease(x, l, &np) <= 0) {
		/* No longer a vxlan lease we can program: what we had for it goes. */
		vx6_lease_removed(x, l);
		return;
	}
	old = peer_find(x, &np.subnet.addr);
	if (old && peer_equal(old, &np))
		log_debug(1, "Subnet %s unchanged, applying it again",
			  ip6net_format(&np.subnet, sn));
	else
		log_subnet("adding", &np);
	batch_begin(x);
	if (old) {
		/* The neighbour and route are replaced in place; an FDB entry is keyed by MAC. */
		if (!old->direct) {
			if ((np.direct || memcmp(old->mac, np.mac, 6) != 0 ||
			     !ip6_equal(&old->public_ip, &np.public_ip)) &&
			    !fdb_shared(x, old))
				q_fdb(x, RTM_DELNEIGH, old->mac, &old->public_ip);
			if (np.direct)
				q_neigh(x, RTM_DELNEIGH, &old->subnet.addr, old->mac);
		}
		if (old->subnet.len != np.subnet.len)
			q_route_del(x, &old->subnet.addr, old->subnet.len, route_metric(AF_INET6));
		fdb_count(x, old, false);
		*old = np;
		fdb_count(x, old, true);
	} else if (!peer_insert(x, &np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  ip6net_format(&np.subnet, sn));
		nl_batch_end(x->nl);
		return;
	}
	q_peer_add(x, &np);
	batch_end(x);
}

void vx6_resync(struct vx6 *x, const struct lease *const *all, size_t n)
{
	struct vx6_peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing %s, keeping the current entries", x->dev);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (peer_from_lease(x, all[i], &peers[k]) > 0)
			k++;
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
	free(x->peers);
	x->peers = peers;
	x->npeers = k;
	x->cap = n ? n : 1;
	fdbset_free(&x->fdbs);
	for (size_t i = 0; i < k; i++)
		fdb_count(x, &x->peers[i], true);
	vx6_converge(x);
}

/* ------------------------------------------------------------ device */

/* master writes accept_ra=0: router advertisements have no business on this device. */
static void no_accept_ra(const struct vx6 *x)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", x->dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		log_debug(1, "Cannot set %s to 0: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void adopt_mac(struct vx6 *x, const uint8_t mac[6])
{
	char was[VXLAN_MAC_STRLEN], now[VXLAN_MAC_STRLEN];
	char *data;

	if (memcmp(x->mac, mac, 6) == 0)
		return;
	log_warnx("The MAC of %s changed from %s to %s: publishing it in our lease", x->dev,
		  vxlan_mac_format(x->mac, was), vxlan_mac_format(mac, now));
	memcpy(x->mac, mac, 6);
	data = vxlan_lease_data_format(x->cfg->vni, x->mac);
	if (!data) {
		log_error("Out of memory updating our lease's BackendV6Data");
		return;
	}
	free(x->attrs->backend_v6_data);
	x->attrs->backend_v6_data = data;
	if (x->attrs_changed)
		x->attrs_changed(x->attrs_arg);
}

int vx6_ensure_device(struct vx6 *x, bool initial)
{
	struct nl_vxlan want = {
		.vni = x->cfg->vni,
		.has_local6 = true,
		.port = x->cfg->port,
		.learning = x->cfg->learning,
		.gbp = x->cfg->gbp,
		.mtu = x->mtu,
		.has_mac = true,
	};
	struct nl_link cur;
	bool created;
	int r;

	if (!initial)
		vxlan_dev_ext_moved(x->nl, x->ext);
	want.link = x->ext->index;
	want.local6 = x->ext->addr6;
	snprintf(want.name, sizeof(want.name), "%s", x->dev);
	r = vxlan_dev_pick_mac(&want, x->mac);
	if (r == 0)
		r = vxlan_dev_get(x->nl, &want, initial, &cur, &created);
	if (r < 0)
		return r;
	x->ifindex = cur.index;
	no_accept_ra(x);
	if (initial) {
		char *data;

		memcpy(x->mac, cur.mac, 6);
		data = vxlan_lease_data_format(x->cfg->vni, x->mac);
		if (!data)
			return -ENOMEM;
		free(x->attrs->backend_v6_data);
		x->attrs->backend_v6_data = data;
	} else {
		adopt_mac(x, cur.mac);
	}
	return vxlan_dev_set_mtu(x->nl, x->dev, x->ifindex, cur.mtu, x->mtu);
}

/* ------------------------------------------------------------ own address */

/* Upstream: exactly <v6 subnet>/128, every other non-link-local IPv6 address removed. */
int vx6_configure(struct vx6 *x)
{
	struct kaddr own = kaddr_v6(&x->own.addr);

	if (!x->have_own || x->ifindex <= 0)
		return 0;
	return vxlan_dev_configure_addr(x->nl, x->ifindex, x->dev, NULL, &own);
}

int vx6_own_lease(struct vx6 *x, const struct ip6net *own)
{
	struct vx6_peer *p;

	x->own = *own;
	x->have_own = true;
	p = peer_find(x, &own->addr);
	if (p) {
		batch_begin(x);
		q_peer_del(x, p);
		peer_remove(x, p);
		batch_end(x);
	}
	return vx6_configure(x);
}

/* ------------------------------------------------------------ self-healing */

static const char *device_wrong(const struct vx6 *x, const struct nl_link *l, char *buf, size_t len)
{
	char mac[VXLAN_MAC_STRLEN];

	if (x->have_own && !(l->flags & IFF_UP))
		snprintf(buf, len, "%s was set down", x->dev);
	else if (l->mtu != x->mtu)
		snprintf(buf, len, "The MTU of %s was changed to %u", x->dev, l->mtu);
	else if (l->has_mac && memcmp(l->mac, x->mac, 6) != 0)
		snprintf(buf, len, "The MAC of %s was changed to %s", x->dev,
			 vxlan_mac_format(l->mac, mac));
	else
		return NULL;
	return buf;
}

static void link_event(struct vx6 *x, const struct nlmsghdr *nlh)
{
	struct nl_link l, now;
	char why[160];

	if (nl_parse_link(nlh, &l) < 0 || l.index != x->ifindex)
		return;
	if (nlh->nlmsg_type == RTM_DELLINK) {
		log_warnx("%s was deleted; recreating it", x->dev);
		repair_soon(x->heal);
		return;
	}
	if (device_wrong(x, &l, why, sizeof(why)) &&
	    nl_link_get(x->nl, NULL, x->ifindex, &now) == 0 &&
	    device_wrong(x, &now, why, sizeof(why)))
		repair_soon_why(x->heal, "%s", why);
}

static void addr_event(struct vx6 *x, const struct nlmsghdr *nlh)
{
	char a[IP_STRLEN];
	struct nl_addr v;

	if (nlh->nlmsg_type != RTM_DELADDR || !x->have_own || nl_parse_addr(nlh, &v) < 0 ||
	    v.family != AF_INET6)
		return;
	if (v.ifindex == x->ifindex && ip6_equal(&v.addr6, &x->own.addr) && v.prefixlen == 128)
		repair_soon_why(x->heal, "Address %s/128 was removed from %s",
				ip6_format(&v.addr6, a), x->dev);
}

static void route_event(struct vx6 *x, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct route_want w;
	struct vx6_peer *p;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0 || r.family != AF_INET6 || r.table != RT_TABLE_MAIN ||
	    r.priority != route_metric(AF_INET6))
		return;
	p = peer_find(x, &r.dst6);
	if (!p || p->subnet.len != r.dst_len)
		return;
	w = peer_route(x, p);
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		if (r.protocol == NL_RTPROT_FLANNEL)
			repair_soon_why(x->heal, "The route to %s was deleted",
					ip6net_format(&p->subnet, sn));
	} else if (r.protocol != NL_RTPROT_FLANNEL || !route_want_matches(&w, &r)) {
		repair_soon_why(x->heal, "The route to %s was replaced",
				ip6net_format(&p->subnet, sn));
	}
}

static void neigh_event(struct vx6 *x, const struct nlmsghdr *nlh)
{
	char a[IP_STRLEN], mac[VXLAN_MAC_STRLEN];
	bool del = nlh->nlmsg_type == RTM_DELNEIGH;
	struct nl_neigh n;

	if (nl_parse_neigh(nlh, &n) < 0 || n.ifindex != x->ifindex || !n.has_dst || !n.dst_is6)
		return;
	if (n.family == AF_INET6) {
		const struct vx6_peer *p = peer_find(x, &n.dst6);

		if (!p || p->direct)
			return;
		if (del)
			repair_soon_why(x->heal, "The neighbour entry for %s was deleted",
					ip6_format(&n.dst6, a));
		else if (!n.has_lladdr || memcmp(n.lladdr, p->mac, 6) != 0 ||
			 !(n.state & NUD_PERMANENT))
			repair_soon_why(x->heal, "The neighbour entry for %s was changed",
					ip6_format(&n.dst6, a));
		return;
	}
	if (n.family != AF_BRIDGE || !n.has_lladdr || (!del && !(n.state & NUD_PERMANENT)) ||
	    !fdbset_count_mac(&x->fdbs, n.lladdr))
		return;
	if (fdbset_count6(&x->fdbs, n.lladdr, &n.dst6)) {
		if (del)
			repair_soon_why(x->heal, "The FDB entry %s dst %s was deleted",
					vxlan_mac_format(n.lladdr, mac), ip6_format(&n.dst6, a));
		return;
	}
	if (!del)
		repair_soon_why(x->heal, "The FDB entry %s was pointed at %s",
				vxlan_mac_format(n.lladdr, mac), ip6_format(&n.dst6, a));
}

void vx6_event(struct vx6 *x, const struct nlmsghdr *nlh)
{
	if (x->ifindex <= 0)
		return;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		link_event(x, nlh);
		break;
	case RTM_DELADDR:
		addr_event(x, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		route_event(x, nlh);
		break;
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		neigh_event(x, nlh);
		break;
	}
}

void vx6_free(struct vx6 *x)
{
	free(x->peers);
	free(x->cdst);
	fdbset_free(&x->fdbs);
	x->peers = NULL;
	x->cdst = NULL;
	x->npeers = x->cap = x->ncdst = x->capcdst = 0;
}
