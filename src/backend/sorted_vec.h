/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A sorted array of fixed-size elements: every backend's peer table (by
 * subnet address). Lookups by bsearch, inserts in place (a lease event),
 * and a whole new table sorted at once (a resync). Pure.
 */
#ifndef FLANNELD_SORTED_VEC_H
#define FLANNELD_SORTED_VEC_H

#include <stddef.h>

typedef int (*svec_cmp)(const void *a, const void *b);

struct svec {
	size_t size; /* of an element */
	svec_cmp cmp;
};

void *svec_find(const struct svec *s, const void *v, size_t n, const void *key);
/* A copy of elem at its place in *v (growing it, *cap elements); NULL when out of memory. */
void *svec_insert(const struct svec *s, void **v, size_t *n, size_t *cap, const void *elem);
void svec_remove(const struct svec *s, void *v, size_t *n, void *elem);
/*
 * Sorts v and drops the later of two equal elements, telling dropped
 * (overlapping leases): how many remain.
 */
size_t svec_sort_unique(const struct svec *s, void *v, size_t n, void (*dropped)(const void *elem));

#endif
