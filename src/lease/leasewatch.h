/* SPDX-License-Identifier: Apache-2.0 */
/* List every lease under <prefix>/subnets, then watch from the list revision + 1. */
#ifndef FLANNELD_LEASEWATCH_H
#define FLANNELD_LEASEWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct etcd;
struct lease;
struct leasecache;
struct leasewatch;
struct loop;

struct leasewatch_ops {
	/* A lease appeared or its value changed (own key included). */
	void (*added)(void *arg, const struct lease *l);
	/* A lease is gone; called before it leaves the cache. */
	void (*removed)(void *arg, const struct lease *l);
	/*
	 * Optional: the leases with a usable value that one page of a listing
	 * applied (added() was called for each too), while the next page is on
	 * its way. The listing is not complete: listed() says when it is.
	 */
	void (*page)(void *arg, const struct lease *const *l, size_t n);
	/* A listing finished: the cache mirrors etcd at revision. */
	void (*listed)(void *arg, int64_t revision, bool first);
};

struct leasewatch_stats {
	uint64_t events;      /* watch events applied */
	uint64_t resyncs;     /* re-lists after compaction */
	uint64_t bad_leases;  /* keys or values skipped as malformed */
	uint64_t lists;	      /* listings done */
	uint64_t capped;      /* leases refused, or data dropped, for the cache's caps */
	uint64_t cache_bytes; /* what the cache holds now (entries, keys, BackendData) */
};

int leasewatch_new(struct loop *loop, struct etcd *etcd, const char *prefix,
		   const struct leasewatch_ops *ops, void *arg, struct leasewatch **ret);
void leasewatch_free(struct leasewatch *w);
/* List now; the watch starts by itself after the first listing when
 * leasewatch_start_watch() has been called (or immediately if it was). */
void leasewatch_list(struct leasewatch *w);
void leasewatch_start_watch(struct leasewatch *w);
struct leasecache *leasewatch_cache(struct leasewatch *w);
/* We know key is gone from etcd (a txn said so): drop it, with a removed event. */
void leasewatch_forget(struct leasewatch *w, const char *key, size_t key_len);
void leasewatch_get_stats(const struct leasewatch *w, struct leasewatch_stats *ret);
/*
 * Keep BackendData (and BackendV6Data) only in leases of this BackendType,
 * the one our backend reads (NULL: none). 0 or -ENOMEM.
 */
int leasewatch_keep_backend_data(struct leasewatch *w, const char *type);
/* Parse one kv into a cache entry (used for txn failure answers too). Returns
 * the entry, or NULL when the key is not a subnet key as flannel writes it
 * (lease_key_check()) or a cap refused it. */
struct lease *leasewatch_apply_kv(struct leasewatch *w, const char *key, size_t key_len,
				  const char *value, size_t value_len, int64_t etcd_lease,
				  int64_t create_revision, int64_t mod_revision, bool notify);

#endif
