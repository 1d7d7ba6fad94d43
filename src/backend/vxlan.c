/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vxlan backend: device flannel.<VNI>, and per remote lease a permanent
 * neighbour (subnet .0 -> VtepMAC), a permanent FDB entry (VtepMAC ->
 * PublicIP) and an on-link route, programmed exactly as upstream does
 * (FLANNEL_COMPAT.md 9.1). The backend keeps the set of peers it wants in
 * the kernel; events change it incrementally, a resync converges the
 * kernel to it (dump, diff, fix), and failed writes are retried by a
 * converge on a timer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "backend/backend.h"
#include "backend/vxlan_conf.h"
#include "config.h"
#include "iface.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "nl.h"
#include "subnet.h"
#include "textutil.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

/* What a request in a batch was for, packed into its cookie for error messages. */
enum op {
	OP_NEIGH_ADD = 1,
	OP_FDB_ADD,
	OP_ROUTE_ADD,
	OP_NEIGH_DEL,
	OP_FDB_DEL,
	OP_ROUTE_DEL,
	OP_ADDR_ADD,
	OP_ADDR_DEL,
};

static const char *const op_names[] = {
	[OP_NEIGH_ADD] = "add neighbour",  [OP_FDB_ADD] = "add FDB entry",
	[OP_ROUTE_ADD] = "add route",	   [OP_NEIGH_DEL] = "delete neighbour",
	[OP_FDB_DEL] = "delete FDB entry", [OP_ROUTE_DEL] = "delete route",
	[OP_ADDR_ADD] = "add address",	   [OP_ADDR_DEL] = "delete address",
};

/* A remote lease as we program it. */
struct peer {
	struct ip4net subnet;
	uint32_t public_ip;
	uint8_t mac[6];
	bool direct; /* DirectRouting: a plain route via public_ip, no neighbour/FDB */
};

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct ip4net network;
	struct iface ext;
	struct vxlan_conf cfg;
	char dev[IF_NAMESIZE];
	int ifindex;
	uint8_t mac[6];
	unsigned mtu;
	bool have_own;
	struct ip4net own;

	struct peer *peers; /* sorted by subnet address */
	size_t npeers, cap;

	struct loop_timer retry;
	uint64_t retry_ms;
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
	log_warnx("Failed to %s for %s on %s: %s", op <= OP_ADDR_DEL ? op_names[op] : "write",
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

static void q_route_add(struct backend *b, const struct peer *p)
{
	struct nl_route r = {
		.dst = p->subnet.addr,
		.dst_len = p->subnet.len,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
	};

	if (p->direct) {
		/* Upstream: "route replace <subnet> via <PublicIP>", the kernel picks the oif. */
		r.gw = p->public_ip;
	} else {
		r.gw = p->subnet.addr;
		r.oif = b->ifindex;
		r.flags = RTNH_F_ONLINK;
	}
	if (nl_msg_route(nl_batch_slot(b->nl), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r))
		nl_batch_add(b->nl, 0, cookie(OP_ROUTE_ADD, p->subnet.addr));
}

/* Delete our route to dst/len whatever its next hop: the protocol keeps it to ours. */
static void q_route_del(struct backend *b, uint32_t dst, uint8_t len, uint32_t priority)
{
	struct nl_route r = {
		.dst = dst,
		.dst_len = len,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_NOWHERE,
		.priority = priority,
	};

	if (nl_msg_route(nl_batch_slot(b->nl), RTM_DELROUTE, 0, &r))
		nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_ROUTE_DEL, dst));
}

/*
 * Another peer uses the same FDB entry: a host that re-registered under a
 * new subnet keeps its MAC and PublicIP while its old lease lives on.
 */
static bool fdb_shared(const struct backend *b, const struct peer *except, const uint8_t mac[6],
		       uint32_t ip)
{
	for (size_t i = 0; i < b->npeers; i++) {
		const struct peer *q = &b->peers[i];

		if (q != except && !q->direct && q->public_ip == ip && memcmp(q->mac, mac, 6) == 0)
			return true;
	}
	return false;
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
	if (!p->direct) {
		q_neigh(b, RTM_DELNEIGH, p);
		q_fdb_del(b, p);
	}
}

/* Upstream's order: neighbour, FDB, route. */
static void q_peer_add(struct backend *b, const struct peer *p)
{
	if (!p->direct) {
		q_neigh(b, RTM_NEWNEIGH, p);
		q_fdb(b, RTM_NEWNEIGH, p->mac, p->public_ip, p->subnet.addr);
	}
	q_route_add(b, p);
}

static void batch_begin(struct backend *b)
{
	b->failed = false;
	nl_batch_begin(b->nl, batch_error, NULL, b);
}

static void converge(struct backend *b);

static void retry_cb(void *arg)
{
	struct backend *b = arg;

	log_info("Retrying to program %s: converging %zu subnets", b->dev, b->npeers);
	converge(b);
}

static void schedule_retry(struct backend *b)
{
	if (b->retry.armed)
		return;
	log_warnx("Will converge %s again in %llus", b->dev,
		  (unsigned long long)(b->retry_ms / 1000));
	loop_timer_arm(b->loop, &b->retry, b->retry_ms);
	b->retry_ms = b->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : b->retry_ms * 2;
}

/* After a batch: on failure converge again later (backing off), else reset the backoff. */
static void batch_end(struct backend *b)
{
	nl_batch_end(b->nl);
	if (b->failed)
		schedule_retry(b);
	else
		b->retry_ms = RETRY_MIN_MS;
}

/* ------------------------------------------------------------ converge */

struct kstate {
	struct backend *b;
	struct nl_route *routes;
	size_t nroutes, caproutes;
	struct nl_neigh *neighs, *fdbs;
	size_t nneighs, capneighs, nfdbs, capfdbs;
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

static int dump_route_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0 || r.protocol != NL_RTPROT_FLANNEL ||
	    r.table != RT_TABLE_MAIN)
		return 0;
	if (grow((void **)&k->routes, &k->caproutes, k->nroutes, sizeof(r)) < 0)
		return -ENOMEM;
	k->routes[k->nroutes++] = r;
	return 0;
}

static int dump_neigh_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct nl_neigh n;

	if (nl_parse_neigh(nlh, &n) < 0 || n.ifindex != k->b->ifindex || !n.has_dst)
		return 0;
	if (n.family == AF_INET) {
		if (grow((void **)&k->neighs, &k->capneighs, k->nneighs, sizeof(n)) < 0)
			return -ENOMEM;
		k->neighs[k->nneighs++] = n;
	} else if (n.family == AF_BRIDGE && n.has_lladdr) {
		if (grow((void **)&k->fdbs, &k->capfdbs, k->nfdbs, sizeof(n)) < 0)
			return -ENOMEM;
		k->fdbs[k->nfdbs++] = n;
	}
	return 0;
}

static void reset_routes(void *arg)
{
	((struct kstate *)arg)->nroutes = 0;
}

static void reset_neighs(void *arg)
{
	((struct kstate *)arg)->nneighs = 0;
}

static void reset_fdbs(void *arg)
{
	((struct kstate *)arg)->nfdbs = 0;
}

static int dump_kernel(struct backend *b, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

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

static int mac_cmp(const void *x, const void *y)
{
	const struct peer *const *p = x, *const *q = y;

	return memcmp((*p)->mac, (*q)->mac, 6);
}

#define HAVE_NEIGH 0x1u
#define HAVE_FDB   0x2u
#define HAVE_ROUTE 0x4u

static bool route_matches(const struct backend *b, const struct peer *p, const struct nl_route *r)
{
	if (r->dst_len != p->subnet.len || r->type != RTN_UNICAST || r->priority != 0)
		return false;
	if (p->direct)
		return r->gw == p->public_ip;
	return r->gw == p->subnet.addr && r->oif == b->ifindex && (r->flags & RTNH_F_ONLINK);
}

/*
 * Make the kernel hold exactly b->peers on our device and in our routes:
 * entries that are right stay untouched (a restart writes nothing), wrong
 * ones are replaced, and ones no peer wants are deleted.
 */
static void converge(struct backend *b)
{
	static const uint8_t zero[6];
	struct kstate k = { .b = b };
	struct peer **bymac = NULL;
	uint8_t *have = NULL;
	unsigned added = 0, removed = 0;
	size_t i;
	int r;

	loop_timer_cancel(b->loop, &b->retry);
	r = dump_kernel(b, &k);
	have = calloc(b->npeers ? b->npeers : 1, 1);
	bymac = malloc((b->npeers ? b->npeers : 1) * sizeof(*bymac));
	if (r < 0 || !have || !bymac) {
		log_warnx("Cannot read the kernel's entries for %s: %s", b->dev,
			  strerror(r < 0 ? -r : ENOMEM));
		schedule_retry(b);
		goto out;
	}
	for (i = 0; i < b->npeers; i++)
		bymac[i] = &b->peers[i];
	qsort(bymac, b->npeers, sizeof(*bymac), mac_cmp);

	batch_begin(b);
	for (i = 0; i < k.nroutes; i++) {
		const struct nl_route *rt = &k.routes[i];
		struct peer *p = peer_find(b, rt->dst);

		/* Another flanneld on this host (another network) tags its routes alike. */
		if (!ip4net_contains(&b->network, rt->dst))
			continue;
		if (p && route_matches(b, p, rt)) {
			have[p - b->peers] |= HAVE_ROUTE;
		} else if (!p || p->subnet.len != rt->dst_len || rt->priority != 0) {
			/* A replace cannot reach it (other prefix or metric): delete. */
			q_route_del(b, rt->dst, rt->dst_len, rt->priority);
			removed++;
		}
	}
	for (i = 0; i < k.nneighs; i++) {
		const struct nl_neigh *n = &k.neighs[i];
		struct peer *p = peer_find(b, n->dst);

		if (p && !p->direct) {
			if (n->has_lladdr && memcmp(n->lladdr, p->mac, 6) == 0 &&
			    (n->state & NUD_PERMANENT))
				have[p - b->peers] |= HAVE_NEIGH;
		} else {
			q_neigh_del_dst(b, n->dst);
			removed++;
		}
	}
	for (i = 0; i < k.nfdbs; i++) {
		const struct nl_neigh *f = &k.fdbs[i];
		struct peer key, *kp = &key, **m;
		bool wanted = false;

		/* Learned entries age out by themselves; the all-zero MAC is the default. */
		if (!(f->state & NUD_PERMANENT) || memcmp(f->lladdr, zero, 6) == 0)
			continue;
		memcpy(key.mac, f->lladdr, 6);
		m = b->npeers ? bsearch(&kp, bymac, b->npeers, sizeof(*bymac), mac_cmp) : NULL;
		while (m && m > bymac && memcmp(m[-1]->mac, f->lladdr, 6) == 0)
			m--;
		for (; m && m < bymac + b->npeers && memcmp((*m)->mac, f->lladdr, 6) == 0; m++) {
			if (!(*m)->direct && (*m)->public_ip == f->dst) {
				have[*m - b->peers] |= HAVE_FDB;
				wanted = true;
			}
		}
		if (!wanted) {
			q_fdb(b, RTM_DELNEIGH, f->lladdr, f->dst, f->dst);
			removed++;
		}
	}
	for (i = 0; i < b->npeers; i++) {
		const struct peer *p = &b->peers[i];
		unsigned want = p->direct ? HAVE_ROUTE : HAVE_NEIGH | HAVE_FDB | HAVE_ROUTE;

		if ((have[i] & want) == want)
			continue;
		added++;
		if (!p->direct && !(have[i] & HAVE_NEIGH))
			q_neigh(b, RTM_NEWNEIGH, p);
		if (!p->direct && !(have[i] & HAVE_FDB))
			q_fdb(b, RTM_NEWNEIGH, p->mac, p->public_ip, p->subnet.addr);
		if (!(have[i] & HAVE_ROUTE))
			q_route_add(b, p);
	}
	batch_end(b);
	if (added || removed)
		log_info("Converged %s: %zu subnets, %u added or fixed, %u stale entries removed%s",
			 b->dev, b->npeers, added, removed, b->failed ? " (with errors)" : "");
	else
		log_debug(1, "Converged %s: %zu subnets, nothing to change", b->dev, b->npeers);
out:
	free(have);
	free(bymac);
	free(k.routes);
	free(k.neighs);
	free(k.fdbs);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip4net *a, const struct ip4net *b)
{
	return a->addr == b->addr && a->len == b->len;
}

/* Directly reachable: the kernel's route to ip has no gateway (upstream's test). */
static bool is_direct(struct backend *b, uint32_t ip)
{
	struct nl_route r;

	return nl_route_lookup(b->nl, ip, &r) == 0 && r.type == RTN_UNICAST && r.gw == 0;
}

/* 1 with *ret filled, 0 when the lease is not ours to program (logged). */
static int peer_from_lease(struct backend *b, const struct lease *l, struct peer *ret)
{
	char sn[IP_STRLEN], err[160], q[48];
	const struct lease_attrs *a = &l->attrs;

	if (!l->has_attrs || l->subnet.v4.len == 0)
		return 0;
	if (b->have_own && same_subnet(&l->subnet.v4, &b->own))
		return 0;
	if (strcmp(a->backend_type, "vxlan") != 0) {
		log_debug(1, "Ignoring non-vxlan subnet %s: type=\"%s\"",
			  ip4net_format(&l->subnet.v4, sn),
			  text_quote(a->backend_type, q, sizeof(q)));
		return 0;
	}
	if (!a->backend_data || vxlan_lease_data_parse(a->backend_data, strlen(a->backend_data),
						       ret->mac, err, sizeof(err)) < 0) {
		log_warnx("Ignoring subnet %s: bad vxlan BackendData: %s",
			  ip4net_format(&l->subnet.v4, sn), a->backend_data ? err : "none");
		return 0;
	}
	ret->subnet = l->subnet.v4;
	ret->public_ip = a->public_ip;
	ret->direct = b->cfg.direct_routing && is_direct(b, a->public_ip);
	return 1;
}

static bool peer_equal(const struct peer *p, const struct peer *q)
{
	return same_subnet(&p->subnet, &q->subnet) && p->public_ip == q->public_ip &&
	       memcmp(p->mac, q->mac, 6) == 0 && p->direct == q->direct;
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
	struct peer *p = peer_find(b, l->subnet.v4.addr);

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

	if (peer_from_lease(b, l, &np) <= 0) {
		/* Type changed away from vxlan, or unusable: what we had for it goes. */
		old = peer_find(b, l->subnet.v4.addr);
		if (old && l->has_attrs && strcmp(l->attrs.backend_type, "vxlan") != 0)
			vxlan_lease_removed(b, l);
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

static void vxlan_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing %s, keeping the current entries", b->dev);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (peer_from_lease(b, all[i], &peers[k]) > 0)
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
	converge(b);
}

/* ------------------------------------------------------------ device */

/* Why an existing device cannot be reused (upstream's comparison list), or NULL. */
static const char *incompatible(const struct nl_link *cur, const struct nl_vxlan *want)
{
	const struct nl_vxlan *v = &cur->vx;
	unsigned port = want->port ? want->port : VXLAN_KERNEL_PORT;

	if (!cur->is_vxlan)
		return "link type";
	if (v->vni != want->vni)
		return "vni";
	if (v->link > 0 && want->link > 0 && v->link != want->link)
		return "vtep (external) interface";
	if (v->local && want->local && v->local != want->local)
		return "vtep (external) IP";
	if (v->group != want->group)
		return "group address";
	if (v->l2miss != want->l2miss)
		return "l2miss";
	/* Upstream compares only explicit ports; 0 is the kernel's 8472 here. */
	if (v->port > 0 && v->port != port)
		return "port";
	if (v->gbp != want->gbp)
		return "gbp";
	return NULL;
}

static int create_device(struct backend *b, const struct nl_vxlan *want, struct nl_link *ret)
{
	NL_MSG_BUF(buf);
	char err[256];
	const struct nlmsghdr *req = nl_msg_link_vxlan(buf, NLM_F_CREATE | NLM_F_EXCL, want);
	int r;

	if (!req)
		return -EINVAL;
	r = nl_request(b->nl, req, 0, NULL, NULL, err, sizeof(err));
	if (r < 0) {
		log_error("Failed to create VXLAN device %s: %s", want->name, err);
		return r;
	}
	r = nl_link_get(b->nl, want->name, 0, ret);
	if (r < 0)
		log_error("Created VXLAN device %s but cannot read it back: %s", want->name,
			  strerror(-r));
	return r;
}

static int ensure_device(struct backend *b)
{
	struct nl_vxlan want = {
		.vni = b->cfg.vni,
		.link = b->ext.index,
		.local = b->ext.addr,
		.port = b->cfg.port,
		.learning = b->cfg.learning,
		.gbp = b->cfg.gbp,
		.mtu = b->mtu,
		.has_mac = true,
	};
	struct nl_link cur;
	NL_MSG_BUF(buf);
	char err[256];
	const char *why;
	int r;

	snprintf(want.name, sizeof(want.name), "%s", b->dev);
	/* Random, locally administered, unicast (upstream: (b & 0xfe) | 0x02). */
	if (getrandom(want.mac, sizeof(want.mac), 0) != sizeof(want.mac))
		return -errno;
	want.mac[0] = (uint8_t)((want.mac[0] & 0xfe) | 0x02);

	r = nl_link_get(b->nl, b->dev, 0, &cur);
	if (r == 0) {
		why = incompatible(&cur, &want);
		if (!why) {
			log_debug(1, "VXLAN device already exists");
			log_info("Returning existing device %s (index %d)", b->dev, cur.index);
			goto have;
		}
		log_warnx("\"%s\" already exists with incompatible configuration: %s; "
			  "recreating device",
			  b->dev, why);
		r = nl_request(b->nl, nl_msg_link_del(buf, cur.index), NL_OK_ENOENT, NULL, NULL,
			       err, sizeof(err));
		if (r < 0) {
			log_error("Failed to delete %s: %s", b->dev, err);
			return r;
		}
	} else if (r != -ENODEV) {
		log_error("Failed to look up %s: %s", b->dev, strerror(-r));
		return r;
	}
	r = create_device(b, &want, &cur);
	if (r < 0)
		return r;
	log_info("Created VXLAN device %s (index %d)", b->dev, cur.index);
have:
	if (!cur.has_mac) {
		log_error("%s has no MAC address", b->dev);
		return -EINVAL;
	}
	b->ifindex = cur.index;
	memcpy(b->mac, cur.mac, 6);
	if (cur.mtu != b->mtu) {
		log_info("Setting the MTU of %s from %u to %u", b->dev, cur.mtu, b->mtu);
		r = nl_request(b->nl, nl_msg_link_set(buf, b->ifindex, b->mtu, false), 0, NULL,
			       NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to set the MTU of %s: %s", b->dev, err);
			return r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ own lease */

struct addr_list {
	int ifindex;
	struct nl_addr *v;
	size_t n, cap;
};

static int dump_addr_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct addr_list *l = arg;
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) < 0 || a.ifindex != l->ifindex)
		return 0;
	if (grow((void **)&l->v, &l->cap, l->n, sizeof(a)) < 0)
		return -ENOMEM;
	l->v[l->n++] = a;
	return 0;
}

static void reset_addrs(void *arg)
{
	((struct addr_list *)arg)->n = 0;
}

static int vxlan_own_lease(struct backend *b, const struct lease *own)
{
	struct addr_list al = { .ifindex = b->ifindex };
	struct nl_addr want = { b->ifindex, 32, own->subnet.v4.addr };
	struct nl_link link;
	struct peer *p;
	NL_MSG_BUF(buf);
	char a[IP_STRLEN], err[256];
	bool have = false;
	int r;

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

	/* Exactly one address inside Network: <subnet>.0/32 (others outside it stay). */
	nl_msg_dump(buf, RTM_GETADDR, AF_INET, b->ifindex);
	r = nl_dump(b->nl, (const void *)buf, dump_addr_cb, reset_addrs, &al);
	if (r < 0) {
		log_error("Failed to list the addresses of %s: %s", b->dev, strerror(-r));
		goto out;
	}
	batch_begin(b);
	for (size_t i = 0; i < al.n; i++) {
		struct nl_addr *x = &al.v[i];

		if (x->addr == want.addr && x->prefixlen == 32) {
			have = true;
			continue;
		}
		if (!ip4net_contains(&b->network, x->addr))
			continue;
		log_info("Removing IP address %s/%u from %s", ip4_format(x->addr, a), x->prefixlen,
			 b->dev);
		if (nl_msg_addr(nl_batch_slot(b->nl), RTM_DELADDR, 0, x))
			nl_batch_add(b->nl, NL_OK_ENOENT, cookie(OP_ADDR_DEL, x->addr));
	}
	if (!have &&
	    nl_msg_addr(nl_batch_slot(b->nl), RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &want))
		nl_batch_add(b->nl, NL_OK_EEXIST, cookie(OP_ADDR_ADD, want.addr));
	r = nl_batch_end(b->nl) > 0 ? -EIO : 0;
	if (r < 0)
		goto out;
	r = nl_link_get(b->nl, NULL, b->ifindex, &link);
	if (r < 0) {
		log_error("Failed to look up %s: %s", b->dev, strerror(-r));
		goto out;
	}
	if (!(link.flags & IFF_UP)) {
		r = nl_request(b->nl, nl_msg_link_set(buf, b->ifindex, 0, true), 0, NULL, NULL, err,
			       sizeof(err));
		if (r < 0) {
			log_error("Failed to set %s up: %s", b->dev, err);
			goto out;
		}
	}
	log_info("%s: address %s, up", b->dev, ip4net_format(&(struct ip4net){ want.addr, 32 }, a));
out:
	free(al.v);
	return r;
}

/* ------------------------------------------------------------ lifecycle */

static void vxlan_close(struct backend *b)
{
	if (!b)
		return;
	/* Device, address, routes, neighbours and FDB stay: a restart disturbs nothing. */
	loop_timer_cancel(b->loop, &b->retry);
	nl_close(b->nl);
	free(b->peers);
	free(b);
}

static int vxlan_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		      struct backend **ret)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	struct backend *b = calloc(1, sizeof(*b));
	char err[256];
	char *data;
	unsigned base;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->network = env->conf->network;
	b->ext = *env->ext;
	b->retry_ms = RETRY_MIN_MS;
	loop_timer_init(&b->retry, retry_cb, b);
	r = vxlan_conf_parse(json, strlen(json), &b->cfg, err, sizeof(err));
	if (r < 0) {
		log_error("Invalid VXLAN backend config: %s", err);
		goto fail;
	}
	log_info("VXLAN config: VNI=%u Port=%u GBP=%s Learning=%s DirectRouting=%s", b->cfg.vni,
		 b->cfg.port, b->cfg.gbp ? "true" : "false", b->cfg.learning ? "true" : "false",
		 b->cfg.direct_routing ? "true" : "false");
	if (b->ext.addr == 0) {
		log_error("The external interface %s has no IPv4 address for VXLAN", b->ext.name);
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	base = b->cfg.mtu ? b->cfg.mtu : b->ext.mtu;
	if (base < 68 + VXLAN_OVERHEAD) {
		log_error("The external interface MTU %u is too small for VXLAN", base);
		r = -EINVAL;
		goto fail;
	}
	b->mtu = base - VXLAN_OVERHEAD;
	snprintf(b->dev, sizeof(b->dev), "flannel.%u", b->cfg.vni);
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	r = ensure_device(b);
	if (r < 0)
		goto fail;
	data = vxlan_lease_data_format(b->cfg.vni, b->mac);
	if (!data) {
		r = -ENOMEM;
		goto fail;
	}
	free(attrs->backend_data);
	attrs->backend_data = data;
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
	.own_lease = vxlan_own_lease,
	.lease_added = vxlan_lease_added,
	.lease_removed = vxlan_lease_removed,
	.resync = vxlan_resync,
	.close = vxlan_close,
};
