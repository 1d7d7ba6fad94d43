/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipip backend (FLANNEL_COMPAT.md 9.4): device flannel.ipip (local = the
 * external interface's address, any remote: the outer destination is each
 * route's gateway), MTU = external - 20, address <subnet>.0/32; per remote
 * lease a route to its subnet via its PublicIP, on-link through the
 * device, or with DirectRouting a plain route on the external interface
 * when the PublicIP is directly reachable. The model is host-gw's: the set
 * of routes we want, changed by lease events, converged on a resync (a
 * restart writes nothing), repaired when the kernel contradicts it, the
 * device included.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/repair.h"
#include "backend/routes.h"
#include "backend/tun_conf.h"
#include "backend/tundev.h"
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

#define TYPE "ipip"
#define DEV  "flannel.ipip"

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
	bool direct;  /* DirectRouting: a plain route via public_ip on oif */
	int oif;      /* direct: the interface the kernel reaches public_ip through */
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
	struct ipip_conf cfg;
	int ifindex;  /* of flannel.ipip */
	unsigned mtu; /* flannel.ipip's, as reported at init */
	bool have_own;
	struct ip4net own;
	struct peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	struct log_limit warn_limit; /* for warnings about other hosts' leases */
	struct repair heal;
	bool failed; /* a write of the current batch failed */
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
		  ip4_format((uint32_t)(c >> 8), a), DEV,
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
	return &b->peers[lo];
}

static void peer_remove(struct backend *b, struct peer *p)
{
	size_t i = (size_t)(p - b->peers);

	memmove(p, p + 1, (b->npeers - i - 1) * sizeof(*p));
	b->npeers--;
}

/* ------------------------------------------------------------ requests */

static struct route_want peer_route(const struct backend *b, const struct peer *p)
{
	return (struct route_want){
		.dst = p->subnet,
		.gw = p->public_ip,
		.oif = p->direct ? p->oif : b->ifindex,
		.onlink = !p->direct,
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

/* ------------------------------------------------------------ direct routing */

/* Directly reachable: the kernel's route to ip has no gateway (upstream's test). */
static bool is_direct(struct backend *b, uint32_t ip, int *oif)
{
	struct nl_route r;

	if (nl_route_lookup(b->nl, ip, &r) < 0 || r.type != RTN_UNICAST || r.gw != 0)
		return false;
	*oif = r.oif;
	return true;
}

static void set_direct(struct backend *b, struct peer *p)
{
	p->oif = 0;
	p->direct = b->cfg.direct_routing && is_direct(b, p->public_ip, &p->oif);
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
	if (p && peer_route(b, p).nexthop) {
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
	if (p) {
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

		if ((k.have[i] & want) == want)
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
		log_info("Converged routes via %s: %zu subnets, %u added or fixed, "
			 "%zu stale entries removed%s",
			 DEV, b->npeers, added, k.nstale, b->failed ? " (with errors)" : "");
	else
		log_debug(1, "Converged routes via %s: %zu subnets, nothing to change", DEV,
			  b->npeers);
out:
	free(k.have);
	free(k.stale);
}

static int ensure_device(struct backend *b, bool initial);

/* Device, address and routes as they should be; on failure again later, backing off. */
static void heal_cb(void *arg)
{
	struct backend *b = arg;
	bool changed;

	if (ensure_device(b, false) < 0 ||
	    (b->have_own &&
	     tundev_configure(b->nl, b->ifindex, DEV, &b->network, b->own.addr, &changed) < 0)) {
		repair_later(&b->heal);
		return;
	}
	converge(b);
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
		log_debug(1, "Ignoring non-ipip subnet %s: type=%s",
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
	set_direct(b, ret);
	return 1;
}

static void ipip_lease_removed(struct backend *b, const struct lease *l)
{
	struct peer *p = peer_find(b, l->subnet.v4.addr);
	char sn[IP_STRLEN];

	if (!p || p->subnet.len != l->subnet.v4.len)
		return;
	log_info("Subnet removed: %s", ip4net_format(&p->subnet, sn));
	batch_begin(b);
	q_peer_del(b, p);
	peer_remove(b, p);
	batch_end(b);
}

static void ipip_lease_added(struct backend *b, const struct lease *l)
{
	char sn[IP_STRLEN], ip[16];
	struct peer np, *old;

	if (peer_from_lease(b, l, &np) <= 0) {
		/* Type changed away from ipip: what we had for it goes. */
		if (peer_find(b, l->subnet.v4.addr) && l->has_attrs &&
		    strcmp(l->attrs.backend_type, TYPE) != 0)
			ipip_lease_removed(b, l);
		return;
	}
	old = peer_find(b, np.subnet.addr);
	if (old && same_subnet(&old->subnet, &np.subnet) && old->public_ip == np.public_ip &&
	    old->direct == np.direct && old->oif == np.oif)
		log_debug(1, "Subnet %s unchanged, applying it again",
			  ip4net_format(&np.subnet, sn));
	else
		log_info("Subnet added: %s via %s%s", ip4net_format(&np.subnet, sn),
			 ip4_format(np.public_ip, ip), np.direct ? " (direct routing)" : "");
	batch_begin(b);
	if (old) {
		np.classic = old->classic;
		if (old->subnet.len != np.subnet.len)
			q_peer_del(b, old);
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

static void ipip_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing ipip routes, keeping the current ones");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (peer_from_lease(b, all[i], &peers[k]) <= 0)
			continue;
		/* A nexthop id found taken stays taken. */
		struct peer *old = peer_find(b, peers[k].subnet.addr);

		if (old && old->public_ip == peers[k].public_ip)
			peers[k].classic = old->classic;
		k++;
	}
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
	converge(b);
}

static int ipip_own_lease(struct backend *b, const struct lease *own)
{
	struct peer *p;
	bool changed;

	b->own = own->subnet.v4;
	b->have_own = true;
	/* A subnet that was a peer's and is now ours stops being routed away. */
	p = peer_find(b, b->own.addr);
	if (p) {
		batch_begin(b);
		q_peer_del(b, p);
		peer_remove(b, p);
		batch_end(b);
	}
	return tundev_configure(b->nl, b->ifindex, DEV, &b->network, b->own.addr, &changed);
}

/* ------------------------------------------------------------ device */

/*
 * flannel.ipip with local = the external address and any remote, kept when
 * it already is so, recreated when not; a device of another kind under
 * that name is an error (upstream's rules). The MTU is only lowered.
 */
static int ensure_device(struct backend *b, bool initial)
{
	struct nl_tunlink want = { .name = DEV, .kind = "ipip", .local = b->ext.addr };
	unsigned target = b->ext.mtu - IPIP_OVERHEAD;
	struct nl_link cur;
	NL_MSG_BUF(buf);
	char err[256], a[16], rem[16], loc[16];
	int r;

	r = nl_link_get(b->nl, DEV, 0, &cur);
	if (r == 0 && strcmp(cur.kind, "ipip") != 0) {
		log_error("%s exists but is a %s device, not ipip: remove it or let flanneld use "
			  "another backend",
			  DEV, cur.kind[0] ? cur.kind : "non-tunnel");
		return -EEXIST;
	}
	if (r == 0 && (cur.iptun_local != want.local || cur.iptun_remote != 0)) {
		log_warnx("%s has local %s and remote %s, want local %s and any remote: "
			  "recreating it",
			  DEV, ip4_format(cur.iptun_local, a),
			  cur.iptun_remote ? ip4_format(cur.iptun_remote, rem) : "any",
			  ip4_format(want.local, loc));
		r = nl_request(b->nl, nl_msg_link_del(buf, cur.index), NL_OK_ENOENT, NULL, NULL,
			       err, sizeof(err));
		if (r < 0) {
			log_error("Failed to delete %s: %s", DEV, err);
			return r;
		}
		r = -ENODEV;
	}
	if (r == -ENODEV) {
		want.mtu = initial || !b->mtu ? target : b->mtu;
		r = nl_request(b->nl, nl_msg_link_tun(buf, NLM_F_CREATE | NLM_F_EXCL, &want), 0,
			       NULL, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to create ipip device %s: %s", DEV, err);
			return r;
		}
		r = nl_link_get(b->nl, DEV, 0, &cur);
		if (r == 0)
			log_info("Created ipip device %s (index %d, local %s)", DEV, cur.index,
				 ip4_format(want.local, a));
	} else if (r == 0 && initial) {
		log_info("Returning existing device %s (index %d)", DEV, cur.index);
	}
	if (r < 0) {
		log_error("Failed to look up %s: %s", DEV, strerror(-r));
		return r;
	}
	b->ifindex = cur.index;
	if (initial)
		b->mtu = cur.mtu < target ? cur.mtu : target;
	if (cur.mtu != b->mtu) {
		log_info("Setting the MTU of %s from %u to %u", DEV, cur.mtu, b->mtu);
		r = nl_request(b->nl, nl_msg_link_set(buf, b->ifindex, b->mtu, false), 0, NULL,
			       NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to set the MTU of %s: %s", DEV, err);
			return r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ self-healing */

static void link_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_link l, now;
	bool up;

	if (nl_parse_link(nlh, &l) < 0)
		return;
	if (l.index == b->ifindex) {
		if (nlh->nlmsg_type == RTM_DELLINK) {
			log_warnx("%s was deleted; recreating it", DEV);
			repair_soon(&b->heal);
			return;
		}
		/* Notifications arrive late: only the state the device is in now counts. */
		if (((b->have_own && !(l.flags & IFF_UP)) || l.mtu != b->mtu) &&
		    nl_link_get(b->nl, NULL, b->ifindex, &now) == 0 &&
		    ((b->have_own && !(now.flags & IFF_UP)) || now.mtu != b->mtu))
			repair_soon_why(&b->heal, "%s was set down or its MTU changed to %u", DEV,
					now.mtu);
		return;
	}
	if (l.index != b->ext.index)
		return;
	/* Routes through a link that went down are gone without a notification. */
	up = nlh->nlmsg_type == RTM_NEWLINK && (l.flags & IFF_UP) && (l.flags & IFF_LOWER_UP);
	if (up && !b->ext_up)
		repair_soon_why(&b->heal, "%s is up again", b->ext.name);
	else if (!up && b->ext_up)
		log_warnx("%s (our external interface) is down", b->ext.name);
	b->ext_up = up;
}

static void addr_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char a[16];
	struct nl_addr x;

	if (nlh->nlmsg_type != RTM_DELADDR || !b->have_own || nl_parse_addr(nlh, &x) < 0)
		return;
	if (x.ifindex == b->ifindex && x.addr == b->own.addr && x.prefixlen == 32)
		repair_soon_why(&b->heal, "Address %s/32 was removed from %s",
				ip4_format(x.addr, a), DEV);
}

static void route_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct route_want w;
	struct nl_route r;
	struct peer *p;

	if (nl_parse_route(nlh, &r) < 0 || r.table != RT_TABLE_MAIN || r.priority != 0)
		return;
	/* A peer we dropped is gone from the table before its deletions come back to us. */
	p = peer_find(b, r.dst);
	if (!p || p->subnet.len != r.dst_len)
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

	if (nl_parse_nexthop(nlh, &nh) < 0 || !ip4net_contains(&b->network, nh.id))
		return;
	p = peer_find(b, nh.id);
	if (!p || !peer_route(b, p).nexthop)
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

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		link_event(b, nlh);
		break;
	case RTM_DELADDR:
		addr_event(b, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		route_event(b, nlh);
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

	log_info("Missed rtnetlink notifications (ENOBUFS): re-reading %s and its routes", DEV);
	repair_soon(&b->heal);
}

static const struct nlmon_ops monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};

/* ------------------------------------------------------------ lifecycle */

static void ipip_close(struct backend *b)
{
	if (!b)
		return;
	/* Device and routes stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	free(b->peers);
	free(b);
}

/* Shared by init and --check-config: the options and the MTU (how, or why not, in msg). */
static int ipip_prepare(const struct backend_env *env, struct ipip_conf *cfg, unsigned *mtu,
			char *msg, size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";

	if (ipip_conf_parse(json, strlen(json), cfg, msg, msglen) < 0)
		return -EINVAL;
	if (env->ext->addr == 0) {
		snprintf(msg, msglen, "the external interface %s has no IPv4 address for ipip",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	if (env->ext->mtu < 68 + IPIP_OVERHEAD) {
		snprintf(msg, msglen, "the MTU of %s (%u) is too small for ipip", env->ext->name,
			 env->ext->mtu);
		return -EINVAL;
	}
	*mtu = env->ext->mtu - IPIP_OVERHEAD;
	snprintf(msg, msglen, "the MTU of %s (%u) minus %u for ipip", env->ext->name, env->ext->mtu,
		 IPIP_OVERHEAD);
	return 0;
}

static int ipip_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct ipip_conf cfg;

	return ipip_prepare(env, &cfg, mtu, msg, msglen);
}

static int ipip_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		     struct backend **ret)
{
	static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE,
					   RTNLGRP_NEXTHOP };
	struct backend *b = calloc(1, sizeof(*b));
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
	repair_init(&b->heal, b->loop, heal_cb, b, DEV);
	r = ipip_prepare(env, &b->cfg, &m, msg, sizeof(msg));
	if (r < 0) {
		log_error("Invalid ipip backend config: %s", msg);
		goto fail;
	}
	log_info("IPIP config: DirectRouting=%s", b->cfg.direct_routing ? "true" : "false");
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	r = route_probe_nexthops(b->nl);
	b->kernel_nexthops = r == 0;
	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	b->nexthops = env->nexthop_objects && b->kernel_nexthops;
	/* Before the device exists, so no change after it goes unseen; nexthops last. */
	r = nlmon_open(b->loop, groups, b->kernel_nexthops ? 4 : 3, &monitor_ops, b, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	r = ensure_device(b, true);
	if (r < 0)
		goto fail;
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
	*mtu = b->mtu;
	*ret = b;
	return 0;
fail:
	ipip_close(b);
	return r;
}

const struct backend_ops backend_ipip_ops = {
	.name = TYPE,
	.init = ipip_init,
	.check = ipip_check,
	.own_lease = ipip_own_lease,
	.lease_added = ipip_lease_added,
	.lease_removed = ipip_lease_removed,
	.resync = ipip_resync,
	.close = ipip_close,
};
