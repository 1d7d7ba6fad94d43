/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer engine: the routes to remote subnets a backend owns, for either
 * family (one table per family). Per remote lease a route to its subnet
 * via its PublicIP, tagged with our protocol and, for IPv4 where the
 * kernel has them, through a nexthop object whose id is the subnet's
 * address. A table of peers sorted by subnet address, changed by lease
 * events, converged on a resync (dump, diff, fix; a restart writes
 * nothing), batched with each failed request named, and repaired when a
 * kernel event contradicts it. What a peer's route looks like, and
 * whether a peer can be reached at all, is the backend's: struct pe_ops.
 * A table with l2 set (vxlan) also gives each peer that is not routed
 * directly a permanent neighbour (subnet address -> its MAC) and a
 * permanent FDB entry (its MAC -> PublicIP) on the device ifindex, and
 * converges and repairs those as it does routes.
 * The decisions themselves are pure: peer_decide.h.
 */
#ifndef FLANNELD_PEER_ENGINE_H
#define FLANNELD_PEER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/fdbset.h"
#include "backend/kaddr.h"
#include "backend/routes.h"

struct lease;
struct log_limit;
struct nl;
struct nl_route;
struct nlmsghdr;
struct repair;

struct pe_peer {
	struct kprefix subnet;
	struct kaddr public_ip;
	bool classic;	/* our nexthop id is someone else's: a route with its own gateway */
	bool skipped;	/* cannot be reached (pe_ops.reach): no route */
	bool direct;	/* ipip DirectRouting: a plain route via public_ip on oif */
	int oif;	/* direct: the interface the kernel reaches public_ip through */
	uint8_t mac[6]; /* l2: the VtepMAC its neighbour and FDB entry name */
};

struct pe_ops {
	/* The route (and nexthop) p should have. */
	struct route_want (*route)(void *arg, const struct pe_peer *p);
	/* 1 with *ret filled, 0 when the lease is not ours to program. */
	int (*from_lease)(void *arg, const struct lease *l, struct pe_peer *ret);
	/*
	 * Optional: set p->skipped from the kernel's routes now, saying so when
	 * it changes (in_table: p is in the table, so its old value counts).
	 * With it the converge log counts skipped peers, and a resync logs
	 * its new peers.
	 */
	void (*reach)(void *arg, struct pe_peer *p, bool in_table);
	/*
	 * Optional: says that p is being added or removed (what: "adding",
	 * "removing"), instead of "Subnet added: ..." and "Subnet removed: ...".
	 */
	void (*log_peer)(void *arg, const char *what, const struct pe_peer *p);
};

struct pe_table {
	const struct pe_ops *ops;
	void *arg;
	struct nl *nl;
	struct repair *heal;
	uint8_t family; /* AF_INET or AF_INET6: of every peer and route */
	struct kprefix network;
	const char *kind;      /* "host-gw": named in the out-of-memory warning */
	const char *via;       /* the interface named in the logs */
	int watch_oif;	       /* others' routes on it changing: converge (0: none) */
	bool kernel_nexthops;  /* the kernel has nexthop objects */
	bool nexthops;	       /* and our IPv4 routes use them (--nexthop-objects) */
	struct pe_peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	size_t nskipped;
	bool failed; /* a write of the current batch failed */
	/* What the last NL_BATCH_REQS requests are for (an error names it), a ring. */
	struct kaddr *cdst;
	size_t ncdst; /* requests queued in the batch */
	bool l2;      /* neighbours and FDB entries too (vxlan), and the logs name the device */
	int ifindex;  /* l2: the device they are on, kept current by the backend (0: none yet) */
	struct fdbset fdbs; /* l2: the FDB entries the peers want, counted (shared ones) */
};

/* 0 if the kernel has nexthop objects (Linux 5.3+), else why not (-errno). */
int pe_probe_nexthops(struct nl *nl);
/* The kernel's route to a (nl_route_lookup for its family). */
int pe_route_lookup(struct nl *nl, const struct kaddr *a, struct nl_route *ret);
/*
 * The common part of pe_ops.from_lease: 1 with ret's subnet and PublicIP
 * filled when l is a remote lease of type `type` with a subnet and a
 * PublicIP of t's family (not own, when own is not NULL), else 0 (logged,
 * rate-limited by lim where it is another host's mistake).
 */
int pe_peer_from_lease(const struct pe_table *t, const struct lease *l, const char *type,
		       const struct kprefix *own, struct log_limit *lim, struct pe_peer *ret);
/* l's subnet in t's family; false when l has none. */
bool pe_lease_subnet(const struct pe_table *t, const struct lease *l, struct kprefix *ret);
/*
 * A remote lease appeared or changed: its peer added, replaced or (unusable
 * now: from_lease 0) dropped; from_lease < 0 keeps what we had for it.
 */
void pe_lease_added(struct pe_table *t, const struct lease *l);
/* "Subnet removed", its route deleted, for the peer of l's subnet if there is one. */
void pe_lease_removed(struct pe_table *t, const struct lease *l);
/* The subnet is ours now: no longer routed away. */
void pe_forget(struct pe_table *t, const struct kprefix *own);
/* The kernel entries of the leases' peers written blindly (a new device holds none). */
size_t pe_prefill(struct pe_table *t, const struct lease *const *all, size_t n);
/* The table becomes the leases' peers, and the kernel is made to match. */
void pe_resync(struct pe_table *t, const struct lease *const *all, size_t n);
/* Make the kernel hold exactly our peers' routes: right ones untouched, wrong ones fixed. */
void pe_converge(struct pe_table *t);
/* A route or nexthop notification (any family): repair if it contradicts a peer's. */
void pe_route_event(struct pe_table *t, uint16_t type, const struct nl_route *r);
void pe_nexthop_event(struct pe_table *t, const struct nlmsghdr *nlh);
/* A neighbour or FDB notification: repair if it contradicts a peer's entry (l2 tables). */
void pe_neigh_event(struct pe_table *t, const struct nlmsghdr *nlh);
void pe_free(struct pe_table *t);

#endif
