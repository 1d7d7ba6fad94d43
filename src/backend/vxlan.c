/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vxlan backend: device flannel.<VNI>, and per remote lease a permanent
 * neighbour (subnet .0 -> VtepMAC), a permanent FDB entry (VtepMAC ->
 * PublicIP) and an on-link route, programmed exactly as upstream does
 * (FLANNEL_COMPAT.md 9.1). The backend keeps the set of peers it wants in
 * the kernel; events change it incrementally, a resync converges the
 * kernel to it (dump, diff, fix). Self-healing: rtnetlink notifications
 * that contradict that set (an entry deleted or changed by someone else,
 * the device gone or down, the underlay back up, lost notifications)
 * schedule a heal: device, address and a converge. Failed writes are
 * retried the same way, backing off.
 *
 * With EnableIPv6 the flannel-v6.<VNI> device comes along (vxlan6.c),
 * sharing the socket, the notifications and the repair timer; with
 * EnableIPv4 false it is the only device.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/backend.h"
#include "backend/fdbset.h"
#include "backend/repair.h"
#include "backend/peer_engine.h"
#include "backend/routes.h"
#include "backend/vxlan6.h"
#include "backend/txcsum.h"
#include "backend/vxlan_conf.h"
#include "backend/vxlan_dev.h"
#include "config.h"
#include "iface.h"
#include "lease/lease.h"
#include "log.h"
#include "loop.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"
#include "lease/subnet.h"
#include "textutil.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

/* What a request in a batch was for, packed into its cookie for error messages. */
enum op {
	OP_NEIGH_ADD = 1,
	OP_FDB_ADD,
	OP_ROUTE_ADD,
	OP_NEIGH_DEL,
	OP_FDB_DEL,
	OP_ROUTE_DEL,
	OP_NH_ADD,
	OP_NH_DEL,
};

static const char *const op_names[] = {
	[OP_NEIGH_ADD] = "add neighbour",  [OP_FDB_ADD] = "add FDB entry",
	[OP_ROUTE_ADD] = "add route",	   [OP_NEIGH_DEL] = "delete neighbour",
	[OP_FDB_DEL] = "delete FDB entry", [OP_ROUTE_DEL] = "delete route",
	[OP_NH_ADD] = "add nexthop",	   [OP_NH_DEL] = "delete nexthop",
};

/*
 * A remote lease as we program it. With nexthop objects, the route to a
 * peer names a nexthop whose id is the peer's subnet address: unique on
 * the host (networks of two flanneld never overlap), and what makes a
 * nexthop ours is that id inside our Network plus our protocol.
 */
struct peer {
	struct ip4net subnet;
	uint32_t public_ip;
	uint8_t mac[6];
	bool direct;  /* DirectRouting: a plain route via public_ip, no neighbour/FDB */
	bool classic; /* route with its own gateway: our nexthop id is taken */
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
	struct vxlan_conf cfg;
	char dev[IF_NAMESIZE];
	int ifindex;
	uint8_t mac[6];
	unsigned mtu;
	bool have_own;
	struct ip4net own;
	struct lease_attrs *attrs; /* our lease's, owned by the daemon */
	void (*attrs_changed)(void *arg);
	void *attrs_arg;

	struct peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	size_t *bymac; /* indices into peers sorted by MAC, rebuilt when stale (converge) */
	size_t bymac_cap;
	bool bymac_stale;
	struct fdbset fdbs;	     /* the FDB entries the peers want, counted (events) */
	struct log_limit warn_limit; /* for warnings about other hosts' leases */

	struct repair heal;
	bool failed; /* a write of the current batch failed */
	bool v4, v6; /* EnableIPv4, EnableIPv6 */
	struct vx6 six;

	/* prefill_begin(): READY from creating the device to the first page. */
	enum { PF_OFF, PF_READY, PF_ON } prefill;
	size_t prefilled;
	bool resynced; /* b->peers holds the leases */
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
	log_warnx("Failed to %s for %s on %s: %s",
		  op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "write",
		  ip4_format((uint32_t)(c >> 8), a), b->dev,
		  extack && *extack ? extack : strerror(-err));
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *x, const void *y)
{
	const struct peer *p = x, *q = y;

	return p->subnet.addr < q->subnet.addr ? -1 : p->subnet.addr > q->subnet.addr;
}

/* The peer whose subnet starts at addr, or NULL. */
static struct peer *peer_find(struct backend *b, uint32_t addr)
{
	struct peer key = { .subnet.addr = addr };

	return b->npeers ? bsearch(&key, b->peers, b->npeers, sizeof(key), peer_cmp) : NULL;
}

/* p's FDB entry counted in (or out of) b->fdbs; direct peers have none. */
static void fdb_count(struct backend *b, const struct peer *p, bool add)
{
	if (p->direct)
		return;
	if (!add)
		fdbset_del(&b->fdbs, p->mac, p->public_ip);
	else if (fdbset_add(&b->fdbs, p->mac, p->public_ip) < 0)
		log_warnx("Out of memory counting FDB entries: a shared one may be deleted");
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
	b->bymac_stale = true;
	fdb_count(b, p, true);
	return &b->peers[lo];
}

static void peer_remove(struct backend *b, struct peer *p)
{
	size_t i = (size_t)(p - b->peers);

	fdb_count(b, p, false);
	memmove(p, p + 1, (b->npeers - i - 1) * sizeof(*p));
	b->npeers--;
	b->bymac_stale = true;
}

static const struct peer *mac_sort_peers; /* qsort has no context argument */

static int bymac_cmp(const void *x, const void *y)
{
	const size_t *i = x, *j = y;

	return memcmp(mac_sort_peers[*i].mac, mac_sort_peers[*j].mac, 6);
}

/* The peers sorted by MAC (for FDB entries, which the kernel keys by MAC); NULL without memory. */
static const size_t *peers_by_mac(struct backend *b)
{
	if (!b->bymac_stale && b->bymac)
		return b->bymac;
	if (b->npeers > b->bymac_cap || !b->bymac) {
		size_t cap = b->npeers > 64 ? b->npeers : 64;
		size_t *n = realloc(b->bymac, cap * sizeof(*n));

		if (!n)
			return NULL;
		b->bymac = n;
		b->bymac_cap = cap;
	}
	for (size_t i = 0; i < b->npeers; i++)
		b->bymac[i] = i;
	mac_sort_peers = b->peers;
	qsort(b->bymac, b->npeers, sizeof(*b->bymac), bymac_cmp);
	b->bymac_stale = false;
	return b->bymac;
}

/* The range [*first, *end) of peers_by_mac() entries with this MAC; false when none. */
static bool peers_with_mac(struct backend *b, const uint8_t mac[6], size_t *first, size_t *end)
{
	const size_t *idx = peers_by_mac(b);
	size_t lo = 0, hi = b->npeers;

	if (!idx)
		return false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (memcmp(b->peers[idx[mid]].mac, mac, 6) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (hi < b->npeers && memcmp(b->peers[idx[hi]].mac, mac, 6) == 0)
		hi++;
	*end = hi;
	return hi > lo;
}

/* ------------------------------------------------------------ requests */

static void q_neigh(struct backend *b, uint16_t type, const struct peer *p)
{
	struct nl_neigh n = {
		.family = AF_INET,
		.ifindex = b->ifindex,
		.state = NUD_PERMANENT,
		.type = RTN_UNICAST,
		.has_dst = true,
		.dst = p->subnet.addr,
		.has_lladdr = true,
	};

	memcpy(n.lladdr, p->mac, 6);
	if (nl_msg_neigh(nl_batch_slot(b->nl), type,
			 type == RTM_NEWNEIGH ? NLM_F_CREATE | NLM_F_REPLACE : 0, &n))
		nl_batch_add(
			b->nl, type == RTM_NEWNEIGH ? 0 : NL_OK_ENOENT,
			cookie(type == RTM_NEWNEIGH ? OP_NEIGH_ADD : OP_NEIGH_DEL, p->subnet.addr));
}

static void q_neigh_del_dst(struct backend *b, uint32_t dst)
{
	struct nl_neigh n = {
		.family = AF_INET,
		.ifindex = b->ifindex,
		.has_dst = true,
		.dst = dst,
	};

	if (nl_msg_neigh(nl_batch_slot(b->nl), RTM_DELNEIGH, 0, &n))
		nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_NEIGH_DEL, dst));
}

static void q_fdb(struct backend *b, uint16_t type, const uint8_t mac[6], uint32_t dst,
		  uint32_t what)
{
	struct nl_neigh n = {
		.family = AF_BRIDGE,
		.ifindex = b->ifindex,
		.state = NUD_PERMANENT,
		.flags = NTF_SELF,
		.has_dst = true,
		.dst = dst,
		.has_lladdr = true,
	};

	memcpy(n.lladdr, mac, 6);
	if (nl_msg_neigh(nl_batch_slot(b->nl), type,
			 type == RTM_NEWNEIGH ? NLM_F_CREATE | NLM_F_REPLACE : 0, &n))
		nl_batch_add(b->nl, type == RTM_NEWNEIGH ? 0 : NL_OK_ENOENT,
			     cookie(type == RTM_NEWNEIGH ? OP_FDB_ADD : OP_FDB_DEL, what));
}

static bool uses_nexthop(const struct backend *b, const struct peer *p)
{
	return b->nexthops && !p->classic;
}

/* Upstream's route (or the nexthop that stands for its gateway): on-link via the
 * peer's subnet .0 on our device, or for DirectRouting via PublicIP on the underlay. */
static struct route_want peer_route(const struct backend *b, const struct peer *p)
{
	struct route_want w = { .dst = kprefix_v4(&p->subnet), .nexthop = uses_nexthop(b, p) };

	if (p->direct) {
		w.gw = kaddr_v4(p->public_ip);
		w.oif = p->oif;
	} else {
		w.gw = kaddr_v4(p->subnet.addr);
		w.oif = b->ifindex;
		w.onlink = true;
	}
	return w;
}

static void q_route_add(struct backend *b, const struct peer *p)
{
	struct route_want w = peer_route(b, p);
	struct nl_route r = route_want_route(&w);

	if (nl_msg_route(nl_batch_slot(b->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(b->nl, 0, cookie(OP_ROUTE_ADD, p->subnet.addr));
}

static void q_nexthop_add(struct backend *b, const struct peer *p)
{
	struct route_want w = peer_route(b, p);
	struct nl_nexthop nh = route_want_nexthop(&w);

	if (nl_msg_nexthop(nl_batch_slot(b->nl), RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &nh))
		nl_batch_add(b->nl, 0, cookie(OP_NH_ADD, p->subnet.addr));
}

static void q_nexthop_del(struct backend *b, uint32_t id)
{
	struct nl_nexthop nh = { .id = id };

	if (nl_msg_nexthop(nl_batch_slot(b->nl), RTM_DELNEXTHOP, 0, &nh))
		nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_NH_DEL, id));
}

/* Delete our route to dst/len whatever its next hop: the protocol keeps it to ours. */
static void q_route_del(struct backend *b, uint32_t dst, uint8_t len, uint32_t priority)
{
	struct nl_route r = route_del_route(&(struct kprefix){ kaddr_v4(dst), len }, priority);

	if (nl_msg_route(nl_batch_slot(b->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_ROUTE_DEL, dst));
}

/*
 * Another peer uses the same FDB entry: a host that re-registered under a
 * new subnet keeps its MAC and PublicIP while its old lease lives on.
 */
static bool fdb_shared(struct backend *b, const struct peer *except, const uint8_t mac[6],
		       uint32_t ip)
{
	unsigned n = fdbset_count(&b->fdbs, mac, ip);

	if (n && except && !except->direct && except->public_ip == ip &&
	    memcmp(except->mac, mac, 6) == 0)
		n--;
	return n > 0;
}

static void q_fdb_del(struct backend *b, const struct peer *p)
{
	if (!fdb_shared(b, p, p->mac, p->public_ip))
		q_fdb(b, RTM_DELNEIGH, p->mac, p->public_ip, p->subnet.addr);
}

/* The kernel entries of p (p still in the table). */
static void q_peer_del(struct backend *b, const struct peer *p)
{
	q_route_del(b, p->subnet.addr, p->subnet.len, 0);
	if (uses_nexthop(b, p))
		q_nexthop_del(b, p->subnet.addr);
	if (!p->direct) {
		q_neigh(b, RTM_DELNEIGH, p);
		q_fdb_del(b, p);
	}
}

/* Upstream's order: neighbour, FDB, route (after the nexthop it names). */
static void q_peer_add(struct backend *b, const struct peer *p)
{
	if (!p->direct) {
		q_neigh(b, RTM_NEWNEIGH, p);
		q_fdb(b, RTM_NEWNEIGH, p->mac, p->public_ip, p->subnet.addr);
	}
	if (uses_nexthop(b, p))
		q_nexthop_add(b, p);
	q_route_add(b, p);
}

static void batch_begin(struct backend *b)
{
	b->failed = false;
	nl_batch_begin(b->nl, batch_error, NULL, b);
}

/* After a batch: on failure converge again later (backing off), else reset the backoff. */
static void batch_end(struct backend *b)
{
	nl_batch_end(b->nl);
	if (b->failed)
		repair_later(&b->heal);
	else
		repair_done(&b->heal);
}

/* ------------------------------------------------------------ converge */

#define HAVE_NEIGH   0x1u
#define HAVE_FDB     0x2u
#define HAVE_ROUTE   0x4u
#define HAVE_NEXTHOP 0x8u

enum stale_kind { STALE_ROUTE, STALE_NEIGH, STALE_FDB, STALE_NEXTHOP };

/* A kernel entry of ours that no peer wants: deleted once the dumps are read. */
struct stale {
	enum stale_kind kind;
	uint32_t addr;	   /* route dst, neighbour dst, FDB dst, nexthop id */
	uint8_t len;	   /* route */
	uint32_t priority; /* route */
	uint8_t mac[6];	   /* FDB */
};

/*
 * What the dumps found, decided entry by entry as they are read: which of
 * each peer's entries are right (have[], by peer index) and what to
 * delete. Nothing else is kept, so converging 10000 peers costs 10 kB and
 * the stale entries, not a copy of the kernel's tables.
 */
struct kstate {
	struct backend *b;
	uint8_t *have;
	struct stale *stale;
	size_t nstale, capstale;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : 64;
	p = realloc(*v, c * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int add_stale(struct kstate *k, const struct stale *st)
{
	if (grow((void **)&k->stale, &k->capstale, k->nstale, sizeof(*st)) < 0)
		return -ENOMEM;
	k->stale[k->nstale++] = *st;
	return 0;
}

/* A dump starts over (NLM_F_DUMP_INTR): forget what its first try found. */
static void reset_kind(struct kstate *k, unsigned bit, enum stale_kind kind)
{
	size_t j = 0;

	for (size_t i = 0; i < k->b->npeers; i++)
		k->have[i] &= (uint8_t)~bit;
	for (size_t i = 0; i < k->nstale; i++)
		if (k->stale[i].kind != kind)
			k->stale[j++] = k->stale[i];
	k->nstale = j;
}

static bool route_matches(const struct backend *b, const struct peer *p, const struct nl_route *r)
{
	struct route_want w = peer_route(b, p);

	return route_want_matches(&w, r);
}

static bool nexthop_matches(const struct backend *b, const struct peer *p,
			    const struct nl_nexthop *nh)
{
	struct route_want w = peer_route(b, p);

	return route_want_nexthop_matches(&w, nh);
}

/*
 * Nexthops with an id inside Network: ours if they carry our protocol. A
 * foreign one holding a peer's id makes that peer's route classic (logged);
 * this dump comes first because route_matches() depends on that.
 */
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
	if (p && uses_nexthop(b, p)) {
		if (nexthop_matches(b, p, &nh))
			k->have[p - b->peers] |= HAVE_NEXTHOP;
		return 0; /* else replaced in place */
	}
	return add_stale(k, &(struct stale){ .kind = STALE_NEXTHOP, .addr = nh.id });
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
	if (p && route_matches(b, p, &r)) {
		k->have[p - b->peers] |= HAVE_ROUTE;
		return 0;
	}
	if (p && p->subnet.len == r.dst_len && r.priority == 0)
		return 0; /* replaced in place */
	/* A replace cannot reach it (other prefix or metric): delete. */
	return add_stale(k, &(struct stale){ .kind = STALE_ROUTE,
					     .addr = r.dst,
					     .len = r.dst_len,
					     .priority = r.priority });
}

static int dump_neigh_cb(void *arg, const struct nlmsghdr *nlh)
{
	static const uint8_t zero[6];
	struct kstate *k = arg;
	struct backend *b = k->b;
	struct stale st = { .kind = STALE_FDB };
	struct nl_neigh n;
	bool wanted = false;
	size_t j, end;

	if (nl_parse_neigh(nlh, &n) < 0 || n.ifindex != b->ifindex || !n.has_dst || n.dst_is6)
		return 0;
	if (n.family == AF_INET) {
		struct peer *p = peer_find(b, n.dst);

		if (!p || p->direct)
			return add_stale(k, &(struct stale){ .kind = STALE_NEIGH, .addr = n.dst });
		if (n.has_lladdr && memcmp(n.lladdr, p->mac, 6) == 0 && (n.state & NUD_PERMANENT))
			k->have[p - b->peers] |= HAVE_NEIGH;
		return 0; /* else replaced in place */
	}
	/* FDB: learned entries age out by themselves; the all-zero MAC is the default. */
	if (n.family != AF_BRIDGE || !n.has_lladdr || !(n.state & NUD_PERMANENT) ||
	    memcmp(n.lladdr, zero, 6) == 0)
		return 0;
	if (peers_with_mac(b, n.lladdr, &j, &end)) {
		for (; j < end; j++) {
			const struct peer *p = &b->peers[b->bymac[j]];

			if (!p->direct && p->public_ip == n.dst) {
				k->have[b->bymac[j]] |= HAVE_FDB;
				wanted = true;
			}
		}
	}
	if (wanted)
		return 0;
	st.addr = n.dst;
	memcpy(st.mac, n.lladdr, 6);
	return add_stale(k, &st);
}

static void reset_nexthops(void *arg)
{
	reset_kind(arg, HAVE_NEXTHOP, STALE_NEXTHOP);
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
	reset_kind(arg, HAVE_FDB, STALE_FDB);
}

static int dump_kernel(struct backend *b, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

	/* All of them, not only our device's: DirectRouting ones are on the underlay. */
	if (b->kernel_nexthops) {
		if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
			return -EINVAL;
		r = nl_dump(b->nl, (const void *)buf, dump_nexthop_cb, reset_nexthops, k);
		if (r < 0)
			return r;
	}
	if (!nl_msg_dump(buf, RTM_GETROUTE, AF_INET, 0))
		return -EINVAL;
	r = nl_dump(b->nl, (const void *)buf, dump_route_cb, reset_routes, k);
	if (r < 0)
		return r;
	if (!nl_msg_dump(buf, RTM_GETNEIGH, AF_INET, b->ifindex))
		return -EINVAL;
	r = nl_dump(b->nl, (const void *)buf, dump_neigh_cb, reset_neighs, k);
	if (r < 0)
		return r;
	if (!nl_msg_dump(buf, RTM_GETNEIGH, AF_BRIDGE, b->ifindex))
		return -EINVAL;
	return nl_dump(b->nl, (const void *)buf, dump_neigh_cb, reset_fdbs, k);
}

static void q_stale(struct backend *b, const struct stale *st)
{
	switch (st->kind) {
	case STALE_ROUTE:
		q_route_del(b, st->addr, st->len, st->priority);
		break;
	case STALE_NEIGH:
		q_neigh_del_dst(b, st->addr);
		break;
	case STALE_FDB:
		q_fdb(b, RTM_DELNEIGH, st->mac, st->addr, st->addr);
		break;
	case STALE_NEXTHOP:
		q_nexthop_del(b, st->addr);
		break;
	}
}

/*
 * Make the kernel hold exactly b->peers on our device and in our routes:
 * entries that are right stay untouched (a restart writes nothing), wrong
 * ones are replaced, and ones no peer wants are deleted.
 */
static void converge(struct backend *b)
{
	struct kstate k = { .b = b };
	unsigned added = 0;
	size_t i;
	int r = -ENOMEM;

	k.have = calloc(b->npeers ? b->npeers : 1, 1);
	if (k.have && peers_by_mac(b))
		r = dump_kernel(b, &k);
	if (r < 0) {
		log_warnx("Cannot read the kernel's entries for %s: %s", b->dev, strerror(-r));
		repair_later(&b->heal);
		goto out;
	}

	batch_begin(b);
	for (i = 0; i < k.nstale; i++)
		if (k.stale[i].kind != STALE_NEXTHOP)
			q_stale(b, &k.stale[i]);
	for (i = 0; i < b->npeers; i++) {
		const struct peer *p = &b->peers[i];
		unsigned want = p->direct ? HAVE_ROUTE : HAVE_NEIGH | HAVE_FDB | HAVE_ROUTE;

		if (uses_nexthop(b, p))
			want |= HAVE_NEXTHOP;
		if ((k.have[i] & want) == want)
			continue;
		added++;
		if (!p->direct && !(k.have[i] & HAVE_NEIGH))
			q_neigh(b, RTM_NEWNEIGH, p);
		if (!p->direct && !(k.have[i] & HAVE_FDB))
			q_fdb(b, RTM_NEWNEIGH, p->mac, p->public_ip, p->subnet.addr);
		if (uses_nexthop(b, p) && !(k.have[i] & HAVE_NEXTHOP))
			q_nexthop_add(b, p);
		if (!(k.have[i] & HAVE_ROUTE))
			q_route_add(b, p);
	}
	/* After the routes: one that used a stale nexthop has been replaced by now. */
	for (i = 0; i < k.nstale; i++)
		if (k.stale[i].kind == STALE_NEXTHOP)
			q_stale(b, &k.stale[i]);
	batch_end(b);
	if (added || k.nstale)
		log_info(
			"Converged %s: %zu subnets, %u added or fixed, %zu stale entries removed%s",
			b->dev, b->npeers, added, k.nstale, b->failed ? " (with errors)" : "");
	else
		log_debug(1, "Converged %s: %zu subnets, nothing to change", b->dev, b->npeers);
out:
	free(k.have);
	free(k.stale);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip4net *a, const struct ip4net *b)
{
	return a->addr == b->addr && a->len == b->len;
}

/*
 * Directly reachable: the kernel's route to ip has no gateway (upstream's
 * test); *oif gets the interface it goes out of.
 */
static bool is_direct(struct backend *b, uint32_t ip, int *oif)
{
	struct nl_route r;

	if (nl_route_lookup(b->nl, ip, &r) < 0 || r.type != RTN_UNICAST || r.gw != 0)
		return false;
	*oif = r.oif;
	return true;
}

/* 1 with *ret filled, 0 when the lease is not ours to program (logged if warn). */
static int peer_from_lease(struct backend *b, const struct lease *l, struct peer *ret, bool warn)
{
	char sn[IP_STRLEN], err[160], q[48];
	const struct lease_attrs *a = &l->attrs;

	if (!l->has_attrs || l->subnet.v4.len == 0)
		return 0;
	if (b->have_own && same_subnet(&l->subnet.v4, &b->own))
		return 0;
	if (strcmp(a->backend_type, "vxlan") != 0) {
		if (warn)
			log_debug(1, "Ignoring non-vxlan subnet %s: type=\"%s\"",
				  ip4net_format(&l->subnet.v4, sn),
				  text_quote(a->backend_type, q, sizeof(q)));
		return 0;
	}
	if (!a->backend_data || vxlan_lease_data_parse(a->backend_data, strlen(a->backend_data),
						       ret->mac, err, sizeof(err)) < 0) {
		if (warn && log_limit_ok(&b->warn_limit, "subnets with bad vxlan BackendData"))
			log_warnx("Ignoring subnet %s: bad vxlan BackendData: %s",
				  ip4net_format(&l->subnet.v4, sn), a->backend_data ? err : "none");
		return 0;
	}
	ret->subnet = l->subnet.v4;
	ret->public_ip = a->public_ip;
	ret->classic = false;
	ret->oif = 0;
	ret->direct = b->cfg.direct_routing && is_direct(b, a->public_ip, &ret->oif);
	return 1;
}

static bool peer_equal(const struct peer *p, const struct peer *q)
{
	return same_subnet(&p->subnet, &q->subnet) && p->public_ip == q->public_ip &&
	       memcmp(p->mac, q->mac, 6) == 0 && p->direct == q->direct && p->oif == q->oif;
}

static void log_subnet(const char *what, const struct peer *p)
{
	char sn[IP_STRLEN], ip[16], mac[VXLAN_MAC_STRLEN];

	if (p->direct)
		log_info("%s subnet: %s PublicIP: %s (direct route)", what,
			 ip4net_format(&p->subnet, sn), ip4_format(p->public_ip, ip));
	else
		log_info("%s subnet: %s PublicIP: %s VtepMAC: %s", what,
			 ip4net_format(&p->subnet, sn), ip4_format(p->public_ip, ip),
			 vxlan_mac_format(p->mac, mac));
}

static void vxlan_lease_removed(struct backend *b, const struct lease *l)
{
	struct peer *p;

	if (b->v6)
		vx6_lease_removed(&b->six, l);
	p = b->v4 ? peer_find(b, l->subnet.v4.addr) : NULL;
	if (!p || p->subnet.len != l->subnet.v4.len)
		return;
	log_subnet("removing", p);
	batch_begin(b);
	q_peer_del(b, p);
	peer_remove(b, p);
	batch_end(b);
}

static void vxlan_lease_added(struct backend *b, const struct lease *l)
{
	struct peer np, *old;
	char sn[IP_STRLEN];

	if (b->v6)
		vx6_lease_added(&b->six, l);
	if (!b->v4)
		return;
	if (peer_from_lease(b, l, &np, true) <= 0) {
		/* Type changed away from vxlan, or unusable: what we had for it goes (v6 done). */
		old = peer_find(b, l->subnet.v4.addr);
		if (old && l->has_attrs && strcmp(l->attrs.backend_type, "vxlan") != 0) {
			log_subnet("removing", old);
			batch_begin(b);
			q_peer_del(b, old);
			peer_remove(b, old);
			batch_end(b);
		}
		return;
	}
	old = peer_find(b, np.subnet.addr);
	if (old && peer_equal(old, &np))
		log_debug(1, "Subnet %s unchanged, applying it again",
			  ip4net_format(&np.subnet, sn));
	else
		log_subnet("adding", &np);
	batch_begin(b);
	if (old) {
		/*
		 * The neighbour (same dst) and the route (same dst, length
		 * and metric) are replaced in place. An FDB entry is keyed by
		 * MAC, so a new MAC or PublicIP, or a switch to a direct
		 * route, leaves the old one behind unless deleted.
		 */
		if (!old->direct) {
			if (np.direct || memcmp(old->mac, np.mac, 6) != 0 ||
			    old->public_ip != np.public_ip)
				q_fdb_del(b, old);
			if (np.direct)
				q_neigh(b, RTM_DELNEIGH, old);
		}
		if (old->subnet.len != np.subnet.len)
			q_route_del(b, old->subnet.addr, old->subnet.len, 0);
		np.classic = old->classic; /* the nexthop id is still someone else's */
		fdb_count(b, old, false);
		*old = np;
		fdb_count(b, old, true);
		b->bymac_stale = true;
	} else if (!peer_insert(b, &np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  ip4net_format(&np.subnet, sn));
		nl_batch_end(b->nl);
		return;
	}
	q_peer_add(b, &np);
	batch_end(b);
}

/* ------------------------------------------------------------ prefill */

/*
 * The groups that echo every entry we write (4 per peer): left while we
 * prefill, so that thousands of echoes cannot overflow the monitor.
 */
static size_t echo_groups(const struct backend *b, unsigned groups[3])
{
	size_t n = 0;

	groups[n++] = RTNLGRP_NEIGH;
	groups[n++] = RTNLGRP_IPV4_ROUTE;
	if (b->kernel_nexthops)
		groups[n++] = RTNLGRP_NEXTHOP;
	return n;
}

static int nexthop_in_network_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	struct nl_nexthop nh;

	/* A nexthop id a peer could need: writing blindly could replace someone else's. */
	if (nl_parse_nexthop(nlh, &nh) == 0 && ip4net_contains(&b->network, nh.id))
		return -EEXIST;
	return 0;
}

/*
 * A device we have just created holds no neighbour or FDB entry and no
 * route goes through it, so before the first resync peers can be written
 * blindly (neighbour, FDB, nexthop, route: what converge() would write),
 * unless a nexthop id inside Network exists. The device goes up now, the
 * monitor stops hearing our echo; the resync's dump, taken after it hears
 * again, sees whatever changed meanwhile. 0 when prefilling may start.
 */
static int prefill_begin(struct backend *b)
{
	NL_MSG_BUF(buf);
	unsigned groups[3];
	char err[256];
	int r;

	if (b->kernel_nexthops) {
		if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
			return -EINVAL;
		r = nl_dump(b->nl, (const void *)buf, nexthop_in_network_cb, NULL, b);
		if (r < 0)
			return r;
	}
	r = nl_request(b->nl, nl_msg_link_set(buf, b->ifindex, 0, true), 0, NULL, NULL, err,
		       sizeof(err));
	if (r < 0) {
		log_warnx("Failed to set %s up: %s", b->dev, err);
		return r;
	}
	return nlmon_membership(b->mon, groups, echo_groups(b, groups), false);
}

/* Hear our groups again (before the dump that checks what was prefilled). */
static void prefill_end(struct backend *b)
{
	unsigned groups[3];
	int r;

	if (b->prefill != PF_ON) {
		b->prefill = PF_OFF;
		return;
	}
	b->prefill = PF_OFF;
	log_info("Programmed %zu subnets on %s while the leases were being read", b->prefilled,
		 b->dev);
	r = nlmon_membership(b->mon, groups, echo_groups(b, groups), true);
	if (r < 0)
		log_error("Cannot listen for rtnetlink notifications again: %s; entries deleted "
			  "from %s will not come back",
			  strerror(-r), b->dev);
}

static void vxlan_prefill(struct backend *b, const struct lease *const *l, size_t n)
{
	struct peer *peers;
	size_t k = 0;

	if (b->prefill == PF_READY)
		b->prefill = prefill_begin(b) == 0 ? PF_ON : PF_OFF;
	if (b->prefill != PF_ON || !(peers = malloc((n ? n : 1) * sizeof(*peers))))
		return;
	/* Out of the batch: a DirectRouting peer asks the kernel for its route. */
	for (size_t i = 0; i < n; i++)
		if (peer_from_lease(b, l[i], &peers[k], false) > 0)
			k++;
	batch_begin(b);
	for (size_t i = 0; i < k; i++)
		q_peer_add(b, &peers[i]);
	batch_end(b);
	b->prefilled += k;
	free(peers);
}

static void vxlan_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct peer *peers;
	size_t k = 0;

	if (b->v6)
		vx6_resync(&b->six, all, n);
	if (!b->v4)
		return;
	prefill_end(b);
	b->resynced = true;
	peers = malloc((n ? n : 1) * sizeof(*peers));
	if (!peers) {
		log_warnx("Out of memory resyncing %s, keeping the current entries", b->dev);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (peer_from_lease(b, all[i], &peers[k], true) > 0)
			k++;
	qsort(peers, k, sizeof(*peers), peer_cmp);
	/* Two keys with the same start address would fight over one neighbour entry. */
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
	b->bymac_stale = true;
	fdbset_free(&b->fdbs);
	for (size_t i = 0; i < k; i++)
		fdb_count(b, &b->peers[i], true);
	converge(b);
}

/* ------------------------------------------------------------ device */

/* Directly routed peers' nexthops name the interface: look it up again. */
static void refresh_direct(struct backend *b)
{
	for (size_t i = 0; i < b->npeers; i++) {
		struct peer *p = &b->peers[i];

		if (p->direct && !is_direct(b, p->public_ip, &p->oif))
			p->oif = b->ext.index;
	}
}

/* Our lease's BackendData follows the device's MAC; peers learn it through etcd. */
static void adopt_mac(struct backend *b, const uint8_t mac[6])
{
	char was[VXLAN_MAC_STRLEN], now[VXLAN_MAC_STRLEN];
	char *data;

	if (memcmp(b->mac, mac, 6) == 0)
		return;
	log_warnx("The MAC of %s changed from %s to %s: publishing it in our lease", b->dev,
		  vxlan_mac_format(b->mac, was), vxlan_mac_format(mac, now));
	memcpy(b->mac, mac, 6);
	data = vxlan_lease_data_format(b->cfg.vni, b->mac);
	if (!data) {
		log_error("Out of memory updating our lease's BackendData");
		return;
	}
	free(b->attrs->backend_data);
	b->attrs->backend_data = data;
	if (b->attrs_changed)
		b->attrs_changed(b->attrs_arg);
}

/*
 * The device with the right attributes, our MTU and (once we have one)
 * our MAC: an existing compatible device is kept, anything else is
 * (re)created. initial: at start-up (a new random MAC; log the outcome).
 */
static int ensure_device(struct backend *b, bool initial)
{
	struct nl_vxlan want = {
		.vni = b->cfg.vni,
		.port = b->cfg.port,
		.learning = b->cfg.learning,
		.gbp = b->cfg.gbp,
		.mtu = b->mtu,
		.has_mac = true,
	};
	struct nl_link cur;
	bool created;
	int r;

	/* The underlay may have been deleted and added again under a new index. */
	if (!initial && vxlan_dev_ext_moved(b->nl, &b->ext))
		refresh_direct(b);
	want.link = b->ext.index;
	want.local = b->ext.addr;
	snprintf(want.name, sizeof(want.name), "%s", b->dev);
	r = vxlan_dev_pick_mac(&want, b->mac);
	if (r == 0)
		r = vxlan_dev_get(b->nl, &want, initial, &cur, &created);
	if (r < 0)
		return r;
	if (created && initial && !b->v6)
		b->prefill = PF_READY;
	b->ifindex = cur.index;
	if (initial)
		memcpy(b->mac, cur.mac, 6);
	else
		adopt_mac(b, cur.mac);
	return vxlan_dev_set_mtu(b->nl, b->dev, b->ifindex, cur.mtu, b->mtu);
}

/* ------------------------------------------------------------ own address */

/* The device up with exactly one address inside Network: <subnet>.0/32 (others stay). */
static int configure_device(struct backend *b)
{
	struct kprefix net = kprefix_v4(&b->network);
	struct kaddr own = kaddr_v4(b->own.addr);

	return vxlan_dev_configure_addr(b->nl, b->ifindex, b->dev, &net, &own);
}

static int vxlan_own_lease(struct backend *b, const struct lease *own)
{
	struct peer *p;
	int r;

	if (b->v6 && own->subnet.has_v6) {
		r = vx6_own_lease(&b->six, &own->subnet.v6);
		if (r < 0 || !b->v4)
			return r;
	}
	if (!b->v4)
		return 0;
	b->own = own->subnet.v4;
	b->have_own = true;
	/* A subnet that was a peer's and is now ours stops being programmed as remote. */
	p = peer_find(b, b->own.addr);
	if (p) {
		batch_begin(b);
		q_peer_del(b, p);
		peer_remove(b, p);
		batch_end(b);
	}
	return configure_device(b);
}

/* ------------------------------------------------------------ checksum offload */

/*
 * "ChecksumOffload": false: TX checksum offload off on dev, checked after
 * every (re)creation and feature change. Logged when it had to be changed.
 */
static int ensure_csum_off(const struct vxlan_conf *cfg, const char *dev)
{
	bool on = true;
	int r;

	if (cfg->checksum_offload)
		return 0;
	r = txcsum_get(dev, &on);
	if (r == 0 && !on)
		return 0;
	r = txcsum_off(dev);
	if (r < 0) {
		log_error(
			"Failed to turn TX checksum offload off on %s (ChecksumOffload false): %s",
			dev, strerror(-r));
		return r;
	}
	log_info("TX checksum offload off on %s (ChecksumOffload false)", dev);
	return 0;
}

/* Whether a device that should have TX checksum offload off has it on again. */
static bool csum_came_back(const struct vxlan_conf *cfg, const char *dev)
{
	bool on = false;

	return !cfg->checksum_offload && txcsum_get(dev, &on) == 0 && on;
}

/* ------------------------------------------------------------ self-healing */

/* Device, address and entries as they should be; on failure again later, backing off. */
static void heal_cb(void *arg)
{
	struct backend *b = arg;
	bool ok4 = true, ok6 = true;

	if (b->prefill == PF_ON)
		prefill_end(b); /* the device may have changed: no more blind writes */
	if (b->v4) {
		ok4 = ensure_device(b, false) == 0 && ensure_csum_off(&b->cfg, b->dev) == 0 &&
		      (!b->have_own || configure_device(b) == 0);
	}
	if (b->v6)
		ok6 = vx6_ensure_device(&b->six, false) == 0 &&
		      ensure_csum_off(&b->cfg, b->six.dev) == 0 && vx6_configure(&b->six) == 0;
	/* Before the first resync there are no peers yet: a converge would delete them all. */
	if (ok4 && b->v4 && b->resynced)
		converge(b);
	if (ok6 && b->v6)
		vx6_converge(&b->six);
	if (!ok4 || !ok6)
		repair_later(&b->heal);
}

/* What is wrong with our device as l shows it, or NULL. */
static const char *device_wrong(const struct backend *b, const struct nl_link *l, char *buf,
				size_t len)
{
	char mac[VXLAN_MAC_STRLEN];

	if (b->have_own && !(l->flags & IFF_UP))
		snprintf(buf, len, "%s was set down", b->dev);
	else if (l->mtu != b->mtu)
		snprintf(buf, len, "The MTU of %s was changed to %u", b->dev, l->mtu);
	else if (l->has_mac && memcmp(l->mac, b->mac, 6) != 0)
		snprintf(buf, len, "The MAC of %s was changed to %s", b->dev,
			 vxlan_mac_format(l->mac, mac));
	else
		return NULL;
	return buf;
}

static void ext_changed(struct backend *b, const struct nlmsghdr *nlh, const struct nl_link *l);

static void ext_link_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_link l;

	if (nl_parse_link(nlh, &l) == 0 && l.index == b->ext.index)
		ext_changed(b, nlh, &l);
}

static void link_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_link l, now;
	char why[160];

	if (nl_parse_link(nlh, &l) < 0)
		return;
	if (l.index == b->ifindex) {
		if (nlh->nlmsg_type == RTM_DELLINK) {
			/* Said even in a burst: its entries' deletions are reported first. */
			log_warnx("%s was deleted; recreating it", b->dev);
			repair_soon(&b->heal);
			return;
		}
		/*
		 * Notifications arrive late: a device we recreated was down
		 * before we set it up. Only the state it is in now counts.
		 */
		if (device_wrong(b, &l, why, sizeof(why)) &&
		    nl_link_get(b->nl, NULL, b->ifindex, &now) == 0 &&
		    device_wrong(b, &now, why, sizeof(why)))
			repair_soon_why(&b->heal, "%s", why);
		else if (csum_came_back(&b->cfg, b->dev))
			repair_soon_why(&b->heal, "TX checksum offload on %s was turned on",
					b->dev);
		return;
	}
	if (l.index == b->ext.index)
		ext_changed(b, nlh, &l);
}

/* Our external interface: routes through a link that went down are gone without a notification. */
static void ext_changed(struct backend *b, const struct nlmsghdr *nlh, const struct nl_link *lp)
{
	const struct nl_link l = *lp;
	bool up;

	up = nlh->nlmsg_type == RTM_NEWLINK && (l.flags & IFF_UP) && (l.flags & IFF_LOWER_UP);
	if (up && !b->ext_up)
		repair_soon_why(&b->heal, "%s is up again", b->ext.name);
	else if (!up && b->ext_up)
		log_warnx("%s (our external interface) is down", b->ext.name);
	b->ext_up = up;
}

static void addr_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char a[IP_STRLEN];
	struct nl_addr x;

	if (nlh->nlmsg_type != RTM_DELADDR || !b->have_own || nl_parse_addr(nlh, &x) < 0 ||
	    x.family != AF_INET)
		return;
	if (x.ifindex == b->ifindex && x.addr == b->own.addr && x.prefixlen == 32)
		repair_soon_why(&b->heal, "Address %s/32 was removed from %s",
				ip4_format(x.addr, a), b->dev);
}

static void route_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct nl_route r;
	struct peer *p;

	if (nl_parse_route(nlh, &r) < 0 || r.family != AF_INET || r.table != RT_TABLE_MAIN ||
	    r.priority != 0)
		return;
	/* A peer we dropped is gone from the table before its deletions come back to us. */
	p = peer_find(b, r.dst);
	if (!p || p->subnet.len != r.dst_len)
		return;
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		if (r.protocol == NL_RTPROT_FLANNEL)
			repair_soon_why(&b->heal, "The route to %s was deleted",
					ip4net_format(&p->subnet, sn));
	} else if (r.protocol != NL_RTPROT_FLANNEL || !route_matches(b, p, &r)) {
		repair_soon_why(&b->heal, "The route to %s was replaced",
				ip4net_format(&p->subnet, sn));
	}
}

static void neigh_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char a[16], mac[VXLAN_MAC_STRLEN];
	bool del = nlh->nlmsg_type == RTM_DELNEIGH;
	struct nl_neigh n;

	if (nl_parse_neigh(nlh, &n) < 0 || n.ifindex != b->ifindex || !n.has_dst || n.dst_is6)
		return;
	if (n.family == AF_INET) {
		const struct peer *p = peer_find(b, n.dst);

		if (!p || p->direct)
			return;
		if (del)
			repair_soon_why(&b->heal, "The neighbour entry for %s was deleted",
					ip4_format(n.dst, a));
		else if (!n.has_lladdr || memcmp(n.lladdr, p->mac, 6) != 0 ||
			 !(n.state & NUD_PERMANENT))
			repair_soon_why(&b->heal, "The neighbour entry for %s was changed",
					ip4_format(n.dst, a));
		return;
	}
	/* FDB: learned entries come and go by themselves; unknown MACs are not ours. */
	if (n.family != AF_BRIDGE || !n.has_lladdr || (!del && !(n.state & NUD_PERMANENT)) ||
	    !fdbset_count_mac(&b->fdbs, n.lladdr))
		return;
	if (fdbset_count(&b->fdbs, n.lladdr, n.dst)) {
		if (del)
			repair_soon_why(&b->heal, "The FDB entry %s dst %s was deleted",
					vxlan_mac_format(n.lladdr, mac), ip4_format(n.dst, a));
		return; /* an addition that matches a peer */
	}
	if (!del)
		repair_soon_why(&b->heal, "The FDB entry %s was pointed at %s",
				vxlan_mac_format(n.lladdr, mac), ip4_format(n.dst, a));
}

static void nexthop_event(struct backend *b, const struct nlmsghdr *nlh)
{
	char sn[IP_STRLEN];
	struct nl_nexthop nh;
	struct peer *p;

	if (nl_parse_nexthop(nlh, &nh) < 0 || !ip4net_contains(&b->network, nh.id))
		return;
	p = peer_find(b, nh.id);
	if (!p || !uses_nexthop(b, p))
		return;
	/* The kernel takes the routes that use a deleted nexthop along, silently. */
	if (nlh->nlmsg_type == RTM_DELNEXTHOP)
		repair_soon_why(&b->heal, "The nexthop for %s was deleted",
				ip4net_format(&p->subnet, sn));
	else if (!nexthop_matches(b, p, &nh))
		repair_soon_why(&b->heal, "The nexthop for %s was changed",
				ip4net_format(&p->subnet, sn));
}

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	struct nl_link l;

	if (b->v6) {
		vx6_event(&b->six, nlh);
		/* A feature change is an RTM_NEWLINK (NETDEV_FEAT_CHANGE). */
		if (nlh->nlmsg_type == RTM_NEWLINK && nl_parse_link(nlh, &l) == 0 &&
		    l.index == b->six.ifindex && csum_came_back(&b->cfg, b->six.dev))
			repair_soon_why(&b->heal, "TX checksum offload on %s was turned on",
					b->six.dev);
	}
	if (!b->v4) {
		if (nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK)
			ext_link_event(b, nlh);
		return;
	}
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
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		neigh_event(b, nlh);
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

	/* Expected while we program thousands of entries (they echo back): not a warning. */
	log_info("Missed rtnetlink notifications (ENOBUFS): re-reading %s and its entries", b->dev);
	repair_soon(&b->heal);
}

static const struct nlmon_ops monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};

static int start_monitor(struct backend *b)
{
	/* The nexthop group last: kernels without nexthop objects lack it. */
	unsigned groups[7];
	size_t n = 0;

	groups[n++] = RTNLGRP_LINK;
	groups[n++] = RTNLGRP_NEIGH;
	if (b->v4) {
		groups[n++] = RTNLGRP_IPV4_IFADDR;
		groups[n++] = RTNLGRP_IPV4_ROUTE;
	}
	if (b->v6) {
		groups[n++] = RTNLGRP_IPV6_IFADDR;
		groups[n++] = RTNLGRP_IPV6_ROUTE;
	}
	if (b->v4 && b->kernel_nexthops)
		groups[n++] = RTNLGRP_NEXTHOP;
	return nlmon_open(b->loop, groups, n, &monitor_ops, b, &b->mon);
}

/* ------------------------------------------------------------ lifecycle */

/* Nexthop objects came with Linux 5.3; older kernels refuse the dump. */
static bool kernel_has_nexthops(struct backend *b)
{
	int r = pe_probe_nexthops(b->nl);

	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	return r == 0;
}

static void vxlan_close(struct backend *b)
{
	if (!b)
		return;
	/* Device, address, routes, neighbours and FDB stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	free(b->peers);
	free(b->bymac);
	fdbset_free(&b->fdbs);
	vx6_free(&b->six);
	free(b);
}

/* Options and MTU, shared by init and --check-config; how (or why not) in msg. */
static int vxlan_prepare(const struct backend_env *env, struct vxlan_conf *cfg, unsigned *mtu,
			 char *msg, size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	unsigned base;
	int r;

	r = vxlan_conf_parse(json, strlen(json), cfg, msg, msglen);
	if (r < 0)
		return r;
	if (env->conf->enable_ipv6 && !env->ext->has_addr6) {
		snprintf(msg, msglen, "the external interface %s has no IPv6 address for VXLAN",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	if (env->conf->enable_ipv4 && env->ext->addr == 0) {
		snprintf(msg, msglen, "the external interface %s has no IPv4 address for VXLAN",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	base = cfg->mtu ? cfg->mtu : env->ext->mtu;
	/* 1280: the least an IPv6 device may have. */
	if (base < 68 + VXLAN_OVERHEAD ||
	    (env->conf->enable_ipv6 && base < 1280 + VXLAN6_OVERHEAD)) {
		snprintf(msg, msglen, "the external interface MTU %u is too small for VXLAN", base);
		return -EINVAL;
	}
	*mtu = base - VXLAN_OVERHEAD;
	if (cfg->mtu)
		snprintf(msg, msglen, "Backend.MTU %u minus %u for VXLAN", cfg->mtu,
			 VXLAN_OVERHEAD);
	else
		snprintf(msg, msglen, "the MTU of %s (%u) minus %u for VXLAN", env->ext->name,
			 env->ext->mtu, VXLAN_OVERHEAD);
	return 0;
}

static int vxlan_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct vxlan_conf cfg;
	int r = vxlan_prepare(env, &cfg, mtu, msg, msglen);

	/* --check-config's only caller: one line of ours before its MTU line. */
	if (r == 0)
		printf("ChecksumOffload: %s\n",
		       cfg.checksum_offload ? "on (the kernel's default)"
					    : "off (TX checksum offload turned off on the device)");
	return r;
}

static int vxlan_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		      struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	char err[256];
	char *data;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->network = env->conf->network;
	b->ext = *env->ext;
	b->ext_up = true;
	b->attrs = attrs;
	b->attrs_changed = env->lease_attrs_changed;
	b->attrs_arg = env->arg;
	b->warn_limit = LOG_LIMIT(20, 10000);
	b->v4 = env->conf->enable_ipv4;
	b->v6 = env->conf->enable_ipv6;
	repair_init(&b->heal, b->loop, heal_cb, b, b->dev);
	r = vxlan_prepare(env, &b->cfg, &b->mtu, err, sizeof(err));
	if (r < 0) {
		log_error("Invalid VXLAN backend config: %s", err);
		goto fail;
	}
	log_info("VXLAN config: VNI=%u Port=%u GBP=%s Learning=%s DirectRouting=%s%s", b->cfg.vni,
		 b->cfg.port, b->cfg.gbp ? "true" : "false", b->cfg.learning ? "true" : "false",
		 b->cfg.direct_routing ? "true" : "false",
		 b->cfg.checksum_offload ? "" : " ChecksumOffload=false");
	snprintf(b->dev, sizeof(b->dev), "flannel.%u", b->cfg.vni);
	b->six = (struct vx6){
		.ext = &b->ext,
		.heal = &b->heal,
		.warn_limit = &b->warn_limit,
		.cfg = &b->cfg,
		.attrs = attrs,
		.attrs_changed = env->lease_attrs_changed,
		.attrs_arg = env->arg,
		.network = env->conf->ipv6_network,
		.mtu = b->mtu + VXLAN_OVERHEAD - VXLAN6_OVERHEAD,
	};
	snprintf(b->six.dev, sizeof(b->six.dev), "flannel-v6.%u", b->cfg.vni);
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	b->six.nl = b->nl;
	b->kernel_nexthops = kernel_has_nexthops(b);
	b->nexthops = env->nexthop_objects && b->kernel_nexthops;
	log_debug(1, "Routes to peers %s",
		  b->nexthops ? "name nexthop objects (id = subnet)" : "carry their own gateway");
	/* Before the device exists, so no change after it goes unseen. */
	r = start_monitor(b);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	free(attrs->backend_v6_data);
	attrs->backend_v6_data = NULL;
	if (b->v4) {
		r = ensure_device(b, true);
		if (r == 0)
			r = ensure_csum_off(&b->cfg, b->dev);
		if (r < 0)
			goto fail;
		data = vxlan_lease_data_format(b->cfg.vni, b->mac);
		if (!data) {
			r = -ENOMEM;
			goto fail;
		}
		attrs->backend_data = data;
	}
	if (b->v6) {
		r = vx6_ensure_device(&b->six, true); /* fills BackendV6Data */
		if (r == 0)
			r = ensure_csum_off(&b->cfg, b->six.dev);
		if (r < 0)
			goto fail;
	}
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), "vxlan");
	*mtu = b->mtu;
	*ret = b;
	return 0;
fail:
	vxlan_close(b);
	return r;
}

const struct backend_ops backend_vxlan_ops = {
	.name = "vxlan",
	.init = vxlan_init,
	.ipv6 = true,
	.check = vxlan_check,
	.own_lease = vxlan_own_lease,
	.lease_added = vxlan_lease_added,
	.lease_removed = vxlan_lease_removed,
	.prefill = vxlan_prefill,
	.resync = vxlan_resync,
	.close = vxlan_close,
};
