/* SPDX-License-Identifier: Apache-2.0 */
/* Open-addressing hash of leases by etcd key; slots never move while iterating. */
#include "lease/leasecache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lease/keyhash.h"

struct entry {
	struct lease lease;
	uint64_t gen;
	uint64_t hash;
	size_t data_bytes; /* BackendData + BackendV6Data, as counted */
	size_t large_bytes;
};

/* A removed slot: keeps probe chains intact until the next rehash. */
static struct entry tombstone_entry;
#define TOMBSTONE (&tombstone_entry)

struct leasecache {
	struct entry **slots;
	size_t size;	    /* power of two */
	size_t count, used; /* used = count + tombstones */
	size_t bytes, large_bytes;
	uint64_t probes;
	uint8_t seed[KEYHASH_SEED_LEN];
};

void lease_clear(struct lease *l)
{
	free(l->key);
	if (l->has_attrs)
		lease_attrs_free(&l->attrs);
	memset(l, 0, sizeof(*l));
}

size_t leasecache_entry_bytes(size_t key_len)
{
	/* The slot pointer, and a tombstone's worth of headroom at 70% load. */
	return sizeof(struct entry) + key_len + 1 + 2 * sizeof(struct entry *);
}

static size_t data_len(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static size_t large_len(const char *s)
{
	size_t n = data_len(s);

	return n > LEASECACHE_SMALL_DATA ? n : 0;
}

int leasecache_new(struct leasecache **ret)
{
	struct leasecache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->size = 64;
	c->slots = calloc(c->size, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return -ENOMEM;
	}
	keyhash_seed(c->seed);
	*ret = c;
	return 0;
}

static void entry_free(struct entry *e)
{
	lease_clear(&e->lease);
	free(e);
}

void leasecache_free(struct leasecache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->size; i++)
		if (c->slots[i] && c->slots[i] != TOMBSTONE)
			entry_free(c->slots[i]);
	free(c->slots);
	free(c);
}

/* Keys are compared as bytes, whatever they hold: the length is the stored one. */
static bool entry_is(const struct entry *e, uint64_t h, const char *key, size_t len)
{
	return e->hash == h && e->lease.key_len == len && memcmp(e->lease.key, key, len) == 0;
}

/* Slot holding key, or the first free/tombstone slot where it would go. */
static size_t find_slot(struct leasecache *c, uint64_t h, const char *key, size_t len, bool *found)
{
	size_t mask = c->size - 1, i = h & mask, free_slot = SIZE_MAX;

	for (;; i = (i + 1) & mask) {
		struct entry *e = c->slots[i];

		c->probes++;
		if (!e) {
			*found = false;
			return free_slot != SIZE_MAX ? free_slot : i;
		}
		if (e == TOMBSTONE) {
			if (free_slot == SIZE_MAX)
				free_slot = i;
		} else if (entry_is(e, h, key, len)) {
			*found = true;
			return i;
		}
	}
}

static int rehash(struct leasecache *c, size_t size)
{
	struct entry **slots = calloc(size, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < c->size; i++) {
		struct entry *e = c->slots[i];
		size_t j;

		if (!e || e == TOMBSTONE)
			continue;
		for (j = e->hash & (size - 1); slots[j]; j = (j + 1) & (size - 1))
			c->probes++;
		c->probes++;
		slots[j] = e;
	}
	free(c->slots);
	c->slots = slots;
	c->size = size;
	c->used = c->count;
	return 0;
}

static uint64_t hash_key(const struct leasecache *c, const char *key, size_t len)
{
	return keyhash(c->seed, key, len);
}

struct lease *leasecache_get(struct leasecache *c, const char *key, size_t key_len)
{
	bool found;
	size_t i = find_slot(c, hash_key(c, key, key_len), key, key_len, &found);

	return found ? &c->slots[i]->lease : NULL;
}

struct lease *leasecache_upsert(struct leasecache *c, const char *key, size_t key_len)
{
	uint64_t h = hash_key(c, key, key_len);
	struct entry *e;
	bool found;
	size_t i;

	/* Keep the load (tombstones included) under 70%. */
	if ((c->used + 1) * 10 > c->size * 7) {
		size_t size = c->count * 2 * 10 > c->size * 7 ? c->size * 2 : c->size;

		if (rehash(c, size) < 0)
			return NULL;
	}
	i = find_slot(c, h, key, key_len, &found);
	if (found)
		return &c->slots[i]->lease;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	/* The whole key, NUL bytes included, with a NUL after it. */
	e->lease.key = malloc(key_len + 1);
	if (!e->lease.key) {
		free(e);
		return NULL;
	}
	memcpy(e->lease.key, key, key_len);
	e->lease.key[key_len] = '\0';
	e->lease.key_len = key_len;
	e->hash = h;
	if (!c->slots[i])
		c->used++;
	c->slots[i] = e;
	c->count++;
	c->bytes += leasecache_entry_bytes(key_len);
	return &e->lease;
}

/* The lease is the first member, so the entry is found by a cast. */
static struct entry *entry_of(struct lease *l)
{
	return (struct entry *)(void *)l;
}

void leasecache_remove(struct leasecache *c, const char *key, size_t key_len)
{
	bool found;
	size_t i = find_slot(c, hash_key(c, key, key_len), key, key_len, &found);
	struct entry *e;

	if (!found)
		return;
	e = c->slots[i];
	c->bytes -= leasecache_entry_bytes(e->lease.key_len) + e->data_bytes;
	c->large_bytes -= e->large_bytes;
	entry_free(e);
	c->slots[i] = TOMBSTONE;
	c->count--;
}

size_t leasecache_count(const struct leasecache *c)
{
	return c->count;
}

struct lease *leasecache_next(struct leasecache *c, size_t *pos)
{
	while (*pos < c->size) {
		struct entry *e = c->slots[(*pos)++];

		if (e && e != TOMBSTONE)
			return &e->lease;
	}
	return NULL;
}

void leasecache_mark(struct leasecache *c, struct lease *l, uint64_t gen)
{
	(void)c;
	entry_of(l)->gen = gen;
}

uint64_t leasecache_gen(const struct leasecache *c, const struct lease *l)
{
	(void)c;
	return ((const struct entry *)(const void *)l)->gen;
}

void leasecache_set_attrs(struct leasecache *c, struct lease *l, struct lease_attrs *a)
{
	struct entry *e = entry_of(l);

	if (l->has_attrs)
		lease_attrs_free(&l->attrs);
	l->attrs = *a;
	l->has_attrs = true;
	memset(a, 0, sizeof(*a));
	c->bytes -= e->data_bytes;
	c->large_bytes -= e->large_bytes;
	e->data_bytes = data_len(l->attrs.backend_data) + data_len(l->attrs.backend_v6_data);
	e->large_bytes = leasecache_large_of(&l->attrs);
	c->bytes += e->data_bytes;
	c->large_bytes += e->large_bytes;
}

size_t leasecache_large_of(const struct lease_attrs *a)
{
	return large_len(a->backend_data) + large_len(a->backend_v6_data);
}

size_t leasecache_bytes(const struct leasecache *c)
{
	return c->bytes;
}

size_t leasecache_large_bytes(const struct leasecache *c)
{
	return c->large_bytes;
}

uint64_t leasecache_probes(const struct leasecache *c)
{
	return c->probes;
}
