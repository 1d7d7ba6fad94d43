/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the peer engine: what peer_engine.c (routes, nexthops, leases)
 * and peer_l2.c (neighbours and FDB entries) share. No other file uses it.
 */
#ifndef FLANNELD_PEER_IMPL_H
#define FLANNELD_PEER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/fdbset.h"
#include "backend/peer_decide.h"
#include "backend/peer_engine.h"

/* What the dumps found: have[] by peer index, and what to delete. */
struct kstate {
	struct pe_table *t;
	uint8_t *have; /* l2: the FDB entries found are marked in t->fdbs */
	struct pe_stale *stale;
	size_t nstale, capstale;
};

/* A batch request's cookie: its error names dst. */
uintptr_t pe_cookie(struct pe_table *t, enum pe_op_kind op, const struct kaddr *dst);
int pe_add_stale(struct kstate *k, const struct pe_stale *st);
/* A dump starts over (NLM_F_DUMP_INTR): forget what its first try found. */
void pe_reset_kind(struct kstate *k, unsigned bit, enum pe_stale_kind kind);

int pe_fdb_add(struct fdbset *s, const uint8_t mac[6], const struct kaddr *dst);
/* The neighbour of dst (a subnet address) to mac; mac NULL: deleted. */
void pe_l2_neigh(struct pe_table *t, const struct kaddr *dst, const uint8_t *mac);
/* The FDB entry mac -> dst added or deleted; what: the address its error names. */
void pe_l2_fdb(struct pe_table *t, bool add, const uint8_t mac[6], const struct kaddr *dst,
	       const struct kaddr *what);
/* p's FDB entry deleted unless another peer uses it. */
void pe_l2_fdb_del(struct pe_table *t, const struct pe_peer *p);
/* The neighbour and FDB dumps into k (after the routes'). */
int pe_l2_dump(struct pe_table *t, struct kstate *k);
/* p's FDB entry counted in (or out of) the table's. */
void pe_l2_count(struct pe_table *t, const struct pe_peer *p, bool add);
/* old becomes np: what of old's l2 entries a replace does not reach, deleted. */
void pe_l2_replaced(struct pe_table *t, const struct pe_peer *old, const struct pe_peer *np);

#endif
