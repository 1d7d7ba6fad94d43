/* SPDX-License-Identifier: Apache-2.0 */
/* Lease list-and-watch: a cache that mirrors <prefix>/subnets, with events. */
#include "lease/leasewatch.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"
#include "lease/lease.h"
#include "lease/leasecache.h"
#include "lease/leasecheck.h"
#include "log.h"
#include "loop.h"
#include "textutil.h"

/*
 * Keys per range page: bounds the JSON held in memory at once (the answer
 * and its parsed tree cost about 600 bytes per key). Measured with 5000
 * vxlan leases (bench/vxlan.sh, peak RSS / exec to all routes): 2500 keys
 * 8.0 MB / 198 ms, 1000 keys 6.0 MB / 190 ms, 500 keys 5.1 MB / 198 ms.
 * Each page also goes to ops->page while etcd serves the next one.
 */
#define LIST_PAGE 500
/*
 * Values this large in one page (the answer and its parsed copy are held,
 * and the next page is on its way meanwhile) make the next pages smaller:
 * 500 values near the 64 KiB cap would be 30 MB a page.
 */
#define LIST_PAGE_BYTES (4 << 20)
#define RETRY_MS	1000
#define STR_(x)		#x
#define STR(x)		STR_(x)
/* A watch message with this many events held enough JSON to be worth a malloc_trim(). */
#define TRIM_AFTER_EVENTS 64
/*
 * Caps on what other hosts can make us hold. A lease value is a few hundred
 * bytes; 100000 leases are more subnets than a /8 of /24s and about 30 MB.
 * The cache's bytes (entries, keys, kept BackendData) stay under
 * LEASE_BYTES_MAX: room for LEASES_MAX leases with small data is kept
 * aside, and only the rest may go to data over LEASECACHE_SMALL_DATA,
 * which no backend of ours writes. So a flood of big values can never
 * crowd out a new host's lease.
 */
#define LEASE_VALUE_MAX (64 * 1024)
#define LEASES_MAX	100000
#define LEASE_BYTES_MAX ((size_t)64 << 20)
/* The longest key element lease_key_check() lets through, plus its '/'. */
#define KEY_ELEM_MAX 81
/* After leases were refused for the caps, re-list this long after one leaves. */
#define REFILL_MS 30000
/* At most this many malformed-lease warnings per window; the rest are counted. */
#define WARN_BURST     20
#define WARN_WINDOW_MS 10000

struct leasewatch {
	struct loop *loop;
	struct etcd *etcd;
	const struct leasewatch_ops *ops;
	void *arg;
	struct leasecache *cache;

	char *key; /* <prefix>/subnets (no trailing slash, as upstream) */
	size_t key_len;
	char range_end[512];
	size_t range_end_len;

	uint64_t gen;
	bool listing, listed_once, want_watch;
	int64_t list_rev;
	unsigned page;	/* keys per page: LIST_PAGE, less after an answer over the cap */
	char *page_key; /* where the next page starts; NULL: at the prefix */
	size_t page_key_len;

	struct etcd_watch *watch;
	struct loop_timer retry, relist;

	struct log_limit warn_limit, cap_limit;
	char *backend_type;  /* BackendData of other types is not kept; NULL: none is */
	size_t large_budget; /* bytes of the cache that data over the small size may use */
	bool refused;	     /* a lease was refused for a cap: re-list once room is made */
	bool refill_armed;

	struct leasewatch_stats stats;
};

static void start_list_page(struct leasewatch *w);

static void warn_bad(struct leasewatch *w, const char *key, size_t key_len, const char *why)
{
	char q[320];

	w->stats.bad_leases++;
	if (log_limit_ok(&w->warn_limit, "bad subnet nodes"))
		log_warnx("Ignoring bad subnet node \"%s\": %s", text_quote_n(key, key_len, q, 240),
			  why);
}

/* A cap was hit: say so (rate limited on its own, so junk does not hide it). */
static void warn_cap(struct leasewatch *w, const char *key, size_t key_len, const char *what)
{
	char q[320];

	w->stats.capped++;
	if (log_limit_ok(&w->cap_limit, "lease cache cap warnings"))
		log_warnx("Lease cache: %s for \"%s\"", what, text_quote_n(key, key_len, q, 240));
}

/* A new entry for key, unless a cap says no (then a re-list follows once room is made). */
static struct lease *new_entry(struct leasewatch *w, const char *key, size_t key_len)
{
	struct lease *l;

	/* A lease refused counts as skipped (flannel_bad_leases_total), as it always did. */
	if (leasecache_count(w->cache) >= LEASES_MAX) {
		w->stats.bad_leases++;
		warn_cap(w, key, key_len,
			 "holding the maximum of " STR(LEASES_MAX) " leases, ignoring the lease");
		w->refused = true;
		return NULL;
	}
	if (leasecache_bytes(w->cache) + leasecache_entry_bytes(key_len) > LEASE_BYTES_MAX) {
		w->stats.bad_leases++;
		warn_cap(w, key, key_len, "at its byte cap, ignoring the lease");
		w->refused = true;
		return NULL;
	}
	l = leasecache_upsert(w->cache, key, key_len);
	if (!l) {
		char q[320];

		log_warnx("Out of memory caching lease \"%s\", ignoring",
			  text_quote_n(key, key_len, q, 240));
	}
	return l;
}

/*
 * Keep only the BackendData our backend reads, and data over the small size
 * only while its share of the byte cap lasts: the lease itself stays.
 */
static void trim_data(struct leasewatch *w, const struct lease *l, struct lease_attrs *a)
{
	size_t held, add;
	char what[160];

	if (!w->backend_type || strcmp(a->backend_type, w->backend_type) != 0) {
		free(a->backend_data);
		free(a->backend_v6_data);
		a->backend_data = a->backend_v6_data = NULL;
		return;
	}
	add = leasecache_large_of(a);
	if (!add)
		return;
	held = leasecache_large_bytes(w->cache) -
	       (l->has_attrs ? leasecache_large_of(&l->attrs) : 0);
	if (held + add <= w->large_budget)
		return;
	snprintf(what, sizeof(what),
		 "dropping %zu bytes of BackendData: data over %d bytes may use only %zu KiB of "
		 "the %zu MiB cap, and that is used up",
		 add, LEASECACHE_SMALL_DATA, w->large_budget >> 10, LEASE_BYTES_MAX >> 20);
	warn_cap(w, l->key, l->key_len, what);
	free(a->backend_data);
	free(a->backend_v6_data);
	a->backend_data = a->backend_v6_data = NULL;
}

struct lease *leasewatch_apply_kv(struct leasewatch *w, const char *key, size_t key_len,
				  const char *value, size_t value_len, int64_t etcd_lease,
				  int64_t create_revision, int64_t mod_revision, bool notify)
{
	struct subnet_key sk;
	struct lease_attrs attrs;
	struct lease *l;
	char err[200];

	/* Keys with NUL or control bytes, or any other spelling, never reach the cache. */
	if (lease_key_check(key, key_len, w->key, w->key_len, &sk, err, sizeof(err)) < 0) {
		warn_bad(w, key, key_len, err);
		return NULL;
	}
	l = leasecache_get(w->cache, key, key_len);
	if (!l && !(l = new_entry(w, key, key_len)))
		return NULL;
	leasecache_mark(w->cache, l, w->gen);
	/* Seen already, or older than what we know (a txn answer can be ahead of the watch). */
	if (mod_revision != 0 && l->mod_revision >= mod_revision)
		return l;
	l->subnet = sk;
	l->etcd_lease = etcd_lease;
	l->create_revision = create_revision;
	l->mod_revision = mod_revision;
	if (value_len > LEASE_VALUE_MAX) {
		snprintf(err, sizeof(err), "value of %zu bytes is over the %d KiB cap", value_len,
			 LEASE_VALUE_MAX / 1024);
		warn_bad(w, key, key_len, err);
		return l;
	}
	/* Other backends' data is checked but never copied. */
	if (lease_attrs_parse_for(value, value_len, w->backend_type, &attrs, err, sizeof(err)) <
	    0) {
		/* Keep the last good value: the data path for it stays as it was. */
		warn_bad(w, key, key_len, err);
		return l;
	}
	trim_data(w, l, &attrs);
	leasecache_set_attrs(w->cache, l, &attrs);
	if (notify)
		w->ops->added(w->arg, l);
	return l;
}

/* Leases were refused for a cap and one left: re-list a while later to take them in. */
static void maybe_refill(struct leasewatch *w)
{
	if (!w->refused || w->refill_armed)
		return;
	w->refill_armed = true;
	loop_timer_arm(w->loop, &w->relist, REFILL_MS);
}

static void remove_key(struct leasewatch *w, const char *key, size_t key_len, int64_t revision)
{
	struct lease *l = leasecache_get(w->cache, key, key_len);

	if (!l || (revision && l->mod_revision > revision))
		return; /* unknown, or recreated after this delete */
	w->ops->removed(w->arg, l);
	leasecache_remove(w->cache, key, key_len);
	maybe_refill(w);
}

static void watch_events(void *arg, int64_t revision, const struct etcd_event *ev, size_t n)
{
	struct leasewatch *w = arg;

	for (size_t i = 0; i < n; i++) {
		const struct etcd_kv *kv = &ev[i].kv;

		w->stats.events++;
		if (ev[i].is_delete)
			remove_key(w, kv->key, kv->key_len, kv->mod_revision);
		else
			leasewatch_apply_kv(w, kv->key, kv->key_len, kv->value, kv->value_len,
					    kv->lease, kv->create_revision, kv->mod_revision, true);
	}
	/* A watch that catches up gets batches of events: as after a list. */
	if (n >= TRIM_AFTER_EVENTS)
		malloc_trim(0);
}

static void relist_now(void *arg)
{
	struct leasewatch *w = arg;

	if (w->refill_armed)
		log_info("Re-listing leases: some were ignored for the cache's caps and room was "
			 "made");
	w->refill_armed = false;
	w->refused = false;
	etcd_watch_stop(w->watch);
	w->watch = NULL;
	leasewatch_list(w);
}

static void watch_compacted(void *arg, int64_t compact_revision)
{
	struct leasewatch *w = arg;

	if (compact_revision)
		log_warnx("etcd watch for %s fell behind compaction horizon (compact rev %lld), "
			  "re-listing and resuming",
			  w->key, (long long)compact_revision);
	else
		log_warnx("etcd watch for %s cannot go on, re-listing and resuming", w->key);
	w->stats.resyncs++;
	/* Not from inside the watch's own callback: stop it from the loop. */
	loop_timer_arm(w->loop, &w->relist, 0);
}

static void watch_connected(void *arg, bool up)
{
	struct leasewatch *w = arg;

	log_debug(1, "etcd watch for %s %s", w->key, up ? "established" : "lost, reconnecting");
}

static const struct etcd_watch_ops watch_ops = {
	.events = watch_events,
	.compacted = watch_compacted,
	.connected = watch_connected,
};

static void start_watch(struct leasewatch *w)
{
	int r;

	if (w->watch)
		return;
	r = etcd_watch_start(w->etcd, w->key, w->key_len, w->range_end, w->range_end_len,
			     w->list_rev + 1, &watch_ops, w, &w->watch);
	if (r < 0) {
		log_warnx("Cannot start the lease watch: %s, retrying in 1s", strerror(-r));
		loop_timer_arm(w->loop, &w->retry, RETRY_MS);
	}
}

/* Everything not seen in this listing is gone from etcd. */
static void sweep(struct leasewatch *w)
{
	struct lease *l;
	size_t pos = 0;

	while ((l = leasecache_next(w->cache, &pos))) {
		if (leasecache_gen(w->cache, l) == w->gen)
			continue;
		w->ops->removed(w->arg, l);
		leasecache_remove(w->cache, l->key, l->key_len);
		maybe_refill(w);
	}
}

static void list_done(struct leasewatch *w)
{
	bool first = !w->listed_once;

	w->listing = false;
	w->listed_once = true;
	w->stats.lists++;
	free(w->page_key);
	w->page_key = NULL;
	sweep(w);
	log_debug(1, "Listed %zu leases at revision %lld", leasecache_count(w->cache),
		  (long long)w->list_rev);
	w->ops->listed(w->arg, w->list_rev, first);
	if (w->want_watch)
		start_watch(w);
	/*
	 * The pages' JSON and the converge that follows were freed in between
	 * long-lived leases, where free() cannot give them back: return them
	 * to the kernel now (about 1 MB with 1000 leases).
	 */
	malloc_trim(0);
}

/* Request the page after last; 0, or -ENOMEM with a retry armed. */
static int next_page(struct leasewatch *w, const struct etcd_kv *last)
{
	char *next = malloc(last->key_len + 1);

	if (!next) {
		loop_timer_arm(w->loop, &w->retry, RETRY_MS);
		return -ENOMEM;
	}
	/* The smallest key after the last one: append a NUL byte. */
	memcpy(next, last->key, last->key_len);
	next[last->key_len] = '\0';
	free(w->page_key);
	w->page_key = next;
	w->page_key_len = last->key_len + 1;
	start_list_page(w);
	return 0;
}

/* Fewer keys per page after a page whose values were over LIST_PAGE_BYTES. */
static void shrink_page(struct leasewatch *w, const struct etcd_reply *r)
{
	size_t bytes = 0;
	unsigned n;

	for (size_t i = 0; i < r->n_kvs; i++)
		bytes += r->kvs[i].key_len + r->kvs[i].value_len;
	if (bytes <= LIST_PAGE_BYTES || r->n_kvs == 0)
		return;
	n = (unsigned)((size_t)LIST_PAGE_BYTES * r->n_kvs / bytes);
	n = n ? n : 1;
	if (n < w->page) {
		log_debug(1,
			  "Listing leases: a page of %zu keys held %zu bytes, asking for %u at a "
			  "time",
			  r->n_kvs, bytes, n);
		w->page = n;
	}
}

static void list_reply(void *arg, const struct etcd_reply *r)
{
	struct leasewatch *w = arg;
	struct lease **page;
	size_t n = 0;

	if (r->err == -EMSGSIZE && w->page > 1) {
		/* Huge values: ask for fewer keys per page, down to one. */
		w->page = w->page / 8 ? w->page / 8 : 1;
		log_warnx("Listing leases: a page was over the answer size cap, asking for %u keys "
			  "at a time",
			  w->page);
		start_list_page(w);
		return;
	}
	if (r->err) {
		if (r->grpc_code == 11) {
			/* The page's revision was compacted mid-listing: start over, and
			 * forget the marks of the aborted pass. */
			w->gen++;
			w->list_rev = 0;
			free(w->page_key);
			w->page_key = NULL;
		}
		log_warnx("Listing leases failed: %s, retrying in 1s",
			  r->message ? r->message : strerror(-r->err));
		loop_timer_arm(w->loop, &w->retry, RETRY_MS);
		return;
	}
	if (!w->list_rev)
		w->list_rev = r->revision;
	shrink_page(w, r);
	page = w->ops->page ? calloc(r->n_kvs ? r->n_kvs : 1, sizeof(*page)) : NULL;
	for (size_t i = 0; i < r->n_kvs; i++) {
		const struct etcd_kv *kv = &r->kvs[i];
		struct lease *l =
			leasewatch_apply_kv(w, kv->key, kv->key_len, kv->value, kv->value_len,
					    kv->lease, kv->create_revision, kv->mod_revision, true);

		if (page && l && l->has_attrs)
			page[n++] = l;
	}
	if (r->more && r->n_kvs > 0) {
		/* Ask for the next page first: etcd serves it while this one is used. */
		if (next_page(w, &r->kvs[r->n_kvs - 1]) == 0 && page)
			w->ops->page(w->arg, (const struct lease *const *)page, n);
		free(page);
		return;
	}
	if (page)
		w->ops->page(w->arg, (const struct lease *const *)page, n);
	free(page);
	list_done(w);
}

static void start_list_page(struct leasewatch *w)
{
	const char *k = w->page_key ? w->page_key : w->key;
	size_t kl = w->page_key ? w->page_key_len : w->key_len;
	int r = etcd_range(w->etcd, k, kl, w->range_end, w->range_end_len, w->list_rev, w->page,
			   list_reply, w);

	if (r < 0) {
		log_warnx("Listing leases failed: %s, retrying in 1s", strerror(-r));
		loop_timer_arm(w->loop, &w->retry, RETRY_MS);
	}
}

static void retry_now(void *arg)
{
	struct leasewatch *w = arg;

	if (w->listing)
		start_list_page(w);
	else if (w->want_watch)
		start_watch(w);
}

void leasewatch_list(struct leasewatch *w)
{
	if (w->listing)
		return;
	w->listing = true;
	w->page = LIST_PAGE;
	w->gen++;
	w->list_rev = 0;
	free(w->page_key);
	w->page_key = NULL;
	start_list_page(w);
}

void leasewatch_start_watch(struct leasewatch *w)
{
	w->want_watch = true;
	if (w->listed_once && !w->listing)
		start_watch(w);
}

int leasewatch_new(struct loop *loop, struct etcd *etcd, const char *prefix,
		   const struct leasewatch_ops *ops, void *arg, struct leasewatch **ret)
{
	struct leasewatch *w = calloc(1, sizeof(*w));
	size_t reserve;
	int r;

	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->etcd = etcd;
	w->warn_limit = LOG_LIMIT(WARN_BURST, WARN_WINDOW_MS);
	w->cap_limit = LOG_LIMIT(WARN_BURST, WARN_WINDOW_MS);
	w->ops = ops;
	w->arg = arg;
	if (asprintf(&w->key, "%s/subnets", prefix) < 0) {
		free(w);
		return -ENOMEM;
	}
	w->key_len = strlen(w->key);
	reserve = LEASES_MAX *
		  (leasecache_entry_bytes(w->key_len + KEY_ELEM_MAX) + 2 * LEASECACHE_SMALL_DATA);
	w->large_budget = LEASE_BYTES_MAX > reserve ? LEASE_BYTES_MAX - reserve : 0;
	w->range_end_len = etcd_prefix_end(w->key, w->key_len, w->range_end, sizeof(w->range_end));
	r = leasecache_new(&w->cache);
	if (r < 0) {
		free(w->key);
		free(w);
		return r;
	}
	loop_timer_init(&w->retry, retry_now, w);
	loop_timer_init(&w->relist, relist_now, w);
	*ret = w;
	return 0;
}

void leasewatch_free(struct leasewatch *w)
{
	if (!w)
		return;
	loop_timer_cancel(w->loop, &w->retry);
	loop_timer_cancel(w->loop, &w->relist);
	etcd_watch_stop(w->watch);
	leasecache_free(w->cache);
	free(w->page_key);
	free(w->backend_type);
	free(w->key);
	free(w);
}

int leasewatch_keep_backend_data(struct leasewatch *w, const char *type)
{
	char *t = type ? strdup(type) : NULL;

	if (type && !t)
		return -ENOMEM;
	free(w->backend_type);
	w->backend_type = t;
	return 0;
}

void leasewatch_forget(struct leasewatch *w, const char *key, size_t key_len)
{
	remove_key(w, key, key_len, 0);
}

struct leasecache *leasewatch_cache(struct leasewatch *w)
{
	return w->cache;
}

void leasewatch_get_stats(const struct leasewatch *w, struct leasewatch_stats *ret)
{
	*ret = w->stats;
	ret->cache_bytes = leasecache_bytes(w->cache);
}
