/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The routes to remote subnets a backend owns (host-gw, ipip): per remote
 * lease a route to its subnet via its PublicIP, tagged with our protocol
 * and, where the kernel has them, through a nexthop object whose id is the
 * subnet's address. A table of peers sorted by subnet address, changed by
 * lease events, converged on a resync (dump, diff, fix; a restart writes
 * nothing), and the matching that tells a kernel event needs a repair.
 * What a peer's route looks like, and whether a peer can be reached at
 * all, is the backend's: struct pr_ops.
 */
#ifndef FLANNELD_PEERROUTES_H
#define FLANNELD_PEERROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/routes.h"
#include "ip.h"

struct lease;
struct log_limit;
struct nl;
struct nl_route;
struct nlmsghdr;
struct repair;

struct pr_peer {
	struct ip4net subnet;
	uint32_t public_ip;
	bool classic; /* our nexthop id is someone else's: a route with its own gateway */
	bool skipped; /* cannot be reached (pr_ops.reach): no route */
	bool direct;  /* ipip DirectRouting: a plain route via public_ip on oif */
	int oif;      /* direct: the interface the kernel reaches public_ip through */
};

struct pr_ops {
	/* The route (and nexthop) p should have. */
	struct route_want (*route)(void *arg, const struct pr_peer *p);
	/* 1 with *ret filled, 0 when the lease is not ours to program. */
	int (*from_lease)(void *arg, const struct lease *l, struct pr_peer *ret);
	/*
	 * Optional: set p->skipped from the kernel's routes now, saying so when
	 * it changes (in_table: p is in the table, so its old value counts).
	 * With it the converge log counts skipped peers, and a resync logs
	 * its new peers.
	 */
	void (*reach)(void *arg, struct pr_peer *p, bool in_table);
};

struct pr_table {
	const struct pr_ops *ops;
	void *arg;
	struct nl *nl;
	struct repair *heal;
	struct ip4net network;
	const char *kind;      /* "host-gw": named in the out-of-memory warning */
	const char *via;       /* the interface named in the logs */
	bool kernel_nexthops;  /* the kernel has nexthop objects */
	bool nexthops;	       /* and our routes use them (--nexthop-objects) */
	struct pr_peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	size_t nskipped;
	bool failed; /* a write of the current batch failed */
};

/*
 * The common part of pr_ops.from_lease: 1 with ret's subnet and PublicIP
 * filled when l is a remote lease of type `type` with an IPv4 subnet and a
 * PublicIP (not own, when own is not NULL), else 0 (logged, rate-limited
 * by lim where it is another host's mistake).
 */
int pr_peer_from_lease(const struct lease *l, const char *type, const struct ip4net *own,
		       struct log_limit *lim, struct pr_peer *ret);
struct pr_peer *pr_find(struct pr_table *t, uint32_t addr);
/* np's route, replacing what the table had for its subnet address. */
void pr_add(struct pr_table *t, struct pr_peer *np);
/* "Subnet removed", its route deleted, p out of the table. */
void pr_drop(struct pr_table *t, struct pr_peer *p);
/* pr_drop() for the peer of l's subnet, if there is one. */
void pr_lease_removed(struct pr_table *t, const struct lease *l);
/* The subnet at addr is ours now: no longer routed away. */
void pr_forget(struct pr_table *t, uint32_t addr);
/* The table becomes the leases' peers, and the kernel is made to match. */
void pr_resync(struct pr_table *t, const struct lease *const *all, size_t n);
/* Make the kernel hold exactly our peers' routes: right ones untouched, wrong ones fixed. */
void pr_converge(struct pr_table *t);
/* A route (main table) or nexthop notification: repair if it contradicts a peer's. */
void pr_route_event(struct pr_table *t, uint16_t type, const struct nl_route *r);
void pr_nexthop_event(struct pr_table *t, const struct nlmsghdr *nlh);
void pr_free(struct pr_table *t);

#endif
