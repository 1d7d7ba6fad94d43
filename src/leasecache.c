/* SPDX-License-Identifier: Apache-2.0 */
/* Open-addressing hash of leases by etcd key; slots never move while iterating. */
#include "leasecache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct lease lease;
	uint64_t gen;
	uint64_t hash;
};

/* A removed slot: keeps probe chains intact until the next rehash. */
static struct entry tombstone_entry;
#define TOMBSTONE (&tombstone_entry)

struct leasecache {
	struct entry **slots;
	size_t size;	    /* power of two */
	size_t count, used; /* used = count + tombstones */
};

void lease_clear(struct lease *l)
{
	free(l->key);
	if (l->has_attrs)
		lease_attrs_free(&l->attrs);
	memset(l, 0, sizeof(*l));
}

static uint64_t hash_key(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ull;
	}
	return h;
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
	*ret = c;
	return 0;
}

void leasecache_free(struct leasecache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->size; i++) {
		if (c->slots[i] && c->slots[i] != TOMBSTONE) {
			lease_clear(&c->slots[i]->lease);
			free(c->slots[i]);
		}
	}
	free(c->slots);
	free(c);
}

static bool entry_is(const struct entry *e, uint64_t h, const char *key, size_t len)
{
	return e->hash == h && strlen(e->lease.key) == len && memcmp(e->lease.key, key, len) == 0;
}

/* Slot holding key, or the first free/tombstone slot where it would go. */
static size_t find_slot(const struct leasecache *c, uint64_t h, const char *key, size_t len,
			bool *found)
{
	size_t mask = c->size - 1, i = h & mask, free_slot = SIZE_MAX;

	for (;;) {
		struct entry *e = c->slots[i];

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
		i = (i + 1) & mask;
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
			;
		slots[j] = e;
	}
	free(c->slots);
	c->slots = slots;
	c->size = size;
	c->used = c->count;
	return 0;
}

struct lease *leasecache_get(struct leasecache *c, const char *key, size_t key_len)
{
	bool found;
	size_t i = find_slot(c, hash_key(key, key_len), key, key_len, &found);

	return found ? &c->slots[i]->lease : NULL;
}

struct lease *leasecache_upsert(struct leasecache *c, const char *key, size_t key_len)
{
	uint64_t h = hash_key(key, key_len);
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
	e->lease.key = strndup(key, key_len);
	if (!e->lease.key) {
		free(e);
		return NULL;
	}
	e->hash = h;
	if (!c->slots[i])
		c->used++;
	c->slots[i] = e;
	c->count++;
	return &e->lease;
}

void leasecache_remove(struct leasecache *c, const char *key, size_t key_len)
{
	bool found;
	size_t i = find_slot(c, hash_key(key, key_len), key, key_len, &found);

	if (!found)
		return;
	lease_clear(&c->slots[i]->lease);
	free(c->slots[i]);
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

/* The lease is the first member, so the entry is found by a cast. */
void leasecache_mark(struct leasecache *c, struct lease *l, uint64_t gen)
{
	(void)c;
	((struct entry *)(void *)l)->gen = gen;
}

uint64_t leasecache_gen(const struct leasecache *c, const struct lease *l)
{
	(void)c;
	return ((const struct entry *)(const void *)l)->gen;
}
