/* SPDX-License-Identifier: Apache-2.0 */
/* The set of leases known from etcd, keyed by etcd key. */
#ifndef FLANNELD_LEASECACHE_H
#define FLANNELD_LEASECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lease.h"

struct leasecache;

int leasecache_new(struct leasecache **ret);
void leasecache_free(struct leasecache *c);

struct lease *leasecache_get(struct leasecache *c, const char *key, size_t key_len);
/* Insert an empty entry for key (or return the existing one). */
struct lease *leasecache_upsert(struct leasecache *c, const char *key, size_t key_len);
void leasecache_remove(struct leasecache *c, const char *key, size_t key_len);
size_t leasecache_count(const struct leasecache *c);

/* Iterate: pass *pos = 0 first; returns NULL at the end. Removal of the
 * returned entry during iteration is allowed. */
struct lease *leasecache_next(struct leasecache *c, size_t *pos);

/* Generation marks for list-and-diff: mark every entry seen in a new listing,
 * then sweep the ones not seen. */
void leasecache_mark(struct leasecache *c, struct lease *l, uint64_t gen);
uint64_t leasecache_gen(const struct leasecache *c, const struct lease *l);

#endif
