/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer engine's decisions, as pure functions of its table (no I/O, no
 * logging): the sorted table itself; what a dumped route or nexthop is to
 * the wanted set; the operations a converge writes; what a notification
 * asks to repair. peer_engine.c does the reading, writing and telling.
 */
#ifndef FLANNELD_PEER_DECIDE_H
#define FLANNELD_PEER_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/dev_heal.h"
#include "backend/peer_engine.h"

struct nl_addr;
struct nl_link;
struct nl_neigh;

struct pe_peer *pe_find(const struct pe_table *t, const struct kaddr *addr);
/* A copy of p at its place; NULL when out of memory. */
struct pe_peer *pe_insert(struct pe_table *t, const struct pe_peer *p);
void pe_remove(struct pe_table *t, struct pe_peer *p);
/* Sorts v by subnet and drops the later of any two with the same address: how many remain. */
size_t pe_sort_unique(struct pe_peer *v, size_t n, void (*dropped)(const void *p));
struct route_want pe_want(const struct pe_table *t, const struct pe_peer *p);

/* What converge found in the kernel, per peer (by index) and to delete. */
#define PE_HAVE_ROUTE	0x1u
#define PE_HAVE_NEXTHOP 0x2u
#define PE_HAVE_NEIGH	0x4u
#define PE_HAVE_FDB	0x8u

/* The entries p wants (PE_HAVE_* bits). */
unsigned pe_wants(const struct pe_table *t, const struct pe_peer *p);
/* p has a neighbour and an FDB entry (an l2 table's peer not routed directly). */
bool pe_has_l2(const struct pe_table *t, const struct pe_peer *p);
/* Peers other than except (NULL: none) that want the FDB entry (mac, dst). */
unsigned pe_fdb_users(const struct pe_table *t, const struct pe_peer *except, const uint8_t mac[6],
		      const struct kaddr *dst);

enum pe_verdict {
	PE_IGNORE,  /* not ours, or not in our network */
	PE_HAVE,    /* exactly what the peer wants */
	PE_REPLACE, /* the peer's, but wrong: the add replaces it in place */
	PE_STALE,   /* ours, and nobody wants it: delete */
	PE_FOREIGN, /* a nexthop id of ours is someone else's: the peer goes classic */
};

/* A dumped route; *peer is the peer it concerns (or NULL). */
enum pe_verdict pe_judge_route(const struct pe_table *t, const struct nl_route *r,
			       struct pe_peer **peer);
/* A dumped nexthop, judged first: whether a peer's id is taken decides its route. */
enum pe_verdict pe_judge_nexthop(const struct pe_table *t, const struct nl_nexthop *nh,
				 struct pe_peer **peer);
/*
 * A dumped neighbour (ARP or ND entry) of an l2 table: PE_HAVE, PE_REPLACE
 * (the peer's, with another MAC or not permanent), PE_STALE (on our device,
 * no peer wants it) or PE_IGNORE (elsewhere; for IPv6 one the kernel runs).
 */
enum pe_verdict pe_judge_neigh(const struct pe_table *t, const struct nl_neigh *n,
			       struct pe_peer **peer);
/* A dumped FDB entry of an l2 table: PE_HAVE (a peer wants it), PE_STALE or PE_IGNORE. */
enum pe_verdict pe_judge_fdb(const struct pe_table *t, const struct nl_neigh *n);
/* An ARP/ND or FDB entry's destination, in its family. */
struct kaddr pe_neigh_dst(const struct nl_neigh *n);

enum pe_stale_kind { PE_STALE_ROUTE, PE_STALE_NEXTHOP, PE_STALE_NEIGH, PE_STALE_FDB };

struct pe_stale {
	enum pe_stale_kind kind;
	struct kprefix dst; /* route; nexthop id dst.addr.v4; neighbour or FDB dst.addr */
	uint32_t priority;  /* route */
	uint8_t mac[6];	    /* FDB */
};

enum pe_op_kind {
	PE_OP_ROUTE_DEL,
	PE_OP_NH_ADD,
	PE_OP_ROUTE_ADD,
	PE_OP_NH_DEL,
	PE_OP_NEIGH_ADD,
	PE_OP_FDB_ADD,
	PE_OP_NEIGH_DEL,
	PE_OP_FDB_DEL,
};

struct pe_op {
	enum pe_op_kind kind;
	const struct pe_peer *peer;   /* the adds */
	const struct pe_stale *stale; /* the deletes */
};

/*
 * The converge: given the table, what the dump found of each peer
 * (have[i], PE_HAVE_* bits) and the stale entries, the operations handed
 * to emit one by one in the order to write them (no array of up to
 * 4 * npeers of them): stale routes, neighbours and FDB entries deleted,
 * then per peer its missing entries in upstream's order (neighbour, FDB
 * entry, nexthop, route), then stale nexthops deleted (no route names
 * them by then). Returns how many; *added counts the peers fixed.
 */
size_t pe_plan(const struct pe_table *t, const uint8_t *have, const struct pe_stale *stale,
	       size_t nstale, void (*emit)(void *arg, const struct pe_op *op), void *arg,
	       unsigned *added);

enum pe_repair {
	PE_REPAIR_NONE,
	PE_REPAIR_CONVERGE,	  /* a network on the watched interface changed */
	PE_REPAIR_ROUTE_DELETED,  /* our route to a peer was deleted */
	PE_REPAIR_ROUTE_REPLACED, /* someone replaced it */
	PE_REPAIR_NH_DELETED,	  /* our nexthop for a peer was deleted (its routes went along) */
	PE_REPAIR_NH_CHANGED,
	PE_REPAIR_NEIGH_DELETED, /* a peer's neighbour entry was deleted */
	PE_REPAIR_NEIGH_CHANGED, /* or changed (another MAC, not permanent) */
	PE_REPAIR_FDB_DELETED,	 /* an FDB entry a peer wants was deleted */
	PE_REPAIR_FDB_MOVED,	 /* a peer's MAC was pointed at another destination */
};

/* A route notification (RTM_NEWROUTE/RTM_DELROUTE) of any family; *peer as above. */
enum pe_repair pe_route_repair(const struct pe_table *t, uint16_t type, const struct nl_route *r,
			       const struct pe_peer **peer);
enum pe_repair pe_nexthop_repair(const struct pe_table *t, uint16_t type,
				 const struct nl_nexthop *nh, const struct pe_peer **peer);
/* A neighbour or FDB notification (RTM_NEWNEIGH/RTM_DELNEIGH) of an l2 table. */
enum pe_repair pe_neigh_repair(const struct pe_table *t, uint16_t type, const struct nl_neigh *n);

enum dev_heal_link {
	DEV_HEAL_NONE,
	DEV_HEAL_DELETED,  /* our device is gone: recreate it */
	DEV_HEAL_CHECK,	   /* it may be down or have another MTU: look at it now */
	DEV_HEAL_EXT_UP,   /* the external interface is up again: converge */
	DEV_HEAL_EXT_DOWN, /* and down: say so */
};

/* A link notification (RTM_NEWLINK/RTM_DELLINK). */
enum dev_heal_link dev_heal_link_decide(const struct dev_heal *d, uint16_t type,
					const struct nl_link *l);
/* Our device, as it is now, is not as it must be (down while it must be up, another MTU or MAC). */
bool dev_heal_link_wrong(const struct dev_heal *d, const struct nl_link *now);
/* An address notification: our device's own address was removed. */
bool dev_heal_addr_decide(const struct dev_heal *d, uint16_t type, const struct nl_addr *a);

#endif
