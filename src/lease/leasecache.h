/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The set of leases known from etcd, keyed by the etcd key's full bytes.
 * The hash is keyed with a random seed per cache, so that keys chosen by
 * other hosts cannot pile up in one probe run.
 */
#ifndef FLANNELD_LEASECACHE_H
#define FLANNELD_LEASECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lease/lease.h"

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

/* Replace l's attributes with *a (taken over; a is emptied), keeping the byte count. */
void leasecache_set_attrs(struct leasecache *c, struct lease *l, struct lease_attrs *a);
/* What an entry costs without its BackendData: struct, key and slot. */
size_t leasecache_entry_bytes(size_t key_len);
/* Bytes held: every entry's cost plus its BackendData and BackendV6Data. */
size_t leasecache_bytes(const struct leasecache *c);
/*
 * BackendData (or BackendV6Data) up to this size is small: the data of
 * our backends is under 80 bytes (vxlan's VNI and VtepMAC, WireGuard's key).
 */
#define LEASECACHE_SMALL_DATA 128
/* The part of leasecache_bytes() that is data over LEASECACHE_SMALL_DATA. */
size_t leasecache_large_bytes(const struct leasecache *c);
/* What a's data adds to leasecache_large_bytes(). */
size_t leasecache_large_of(const struct lease_attrs *a);
/* Slots looked at by every lookup and insert so far (a measure of the hash's spread). */
uint64_t leasecache_probes(const struct leasecache *c);

#endif
