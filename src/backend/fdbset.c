/* SPDX-License-Identifier: Apache-2.0 */
/* Reference counts of FDB entries and MACs: open addressing, linear probing, no tombstones. */
#include "backend/fdbset.h"

#include "lease/keyhash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { KEY_PAIR = 1, KEY_MAC = 2 }; /* 0 marks an empty slot */

/* Destinations are 16 bytes: IPv6, or IPv4 as ::ffff:a.b.c.d. */
struct fdbset_slot {
	uint8_t mac[6];
	uint8_t kind;
	uint8_t dst[16];
	bool marked; /* fdbset_mark(): fills the byte before count, so costs nothing */
	uint32_t count;
};

static const uint8_t no_dst[16];

/* Keyed (keyhash.h): the MACs in leases are chosen by other hosts. */
static uint64_t hash(const struct fdbset *s, const uint8_t mac[6], uint8_t kind,
		     const uint8_t dst[16])
{
	uint8_t k[23];

	memcpy(k, mac, 6);
	k[6] = kind;
	memcpy(k + 7, dst, 16);
	return keyhash(s->seed, k, sizeof(k));
}

static bool is(const struct fdbset_slot *e, const uint8_t mac[6], uint8_t kind,
	       const uint8_t dst[16])
{
	return e->kind == kind && memcmp(e->dst, dst, 16) == 0 && memcmp(e->mac, mac, 6) == 0;
}

/* The slot holding the key, or the empty one where it would go; *probes += slots seen. */
static size_t find(const struct fdbset *s, const uint8_t mac[6], uint8_t kind,
		   const uint8_t dst[16], uint64_t *probes)
{
	size_t mask = s->cap - 1, i = hash(s, mac, kind, dst) & mask;
	uint64_t n = 1;

	for (; s->slots[i].kind && !is(&s->slots[i], mac, kind, dst); n++)
		i = (i + 1) & mask;
	if (probes)
		*probes += n;
	return i;
}

/*
 * At most two thirds full: probe runs stay short (the hash is keyed, so no
 * one can make them long), and 5000 or 10000 peers' keys fit in half the
 * slots that at most half full would take.
 */
static bool fits(size_t used, size_t cap)
{
	return used <= cap / 3 * 2;
}

static int resize(struct fdbset *s, size_t cap)
{
	struct fdbset_slot *old = s->slots, *n = calloc(cap, sizeof(*n));
	size_t oldcap = s->cap;

	if (!n)
		return -ENOMEM;
	if (!s->cap)
		keyhash_seed(s->seed);
	s->slots = n;
	s->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].kind)
			s->slots[find(s, old[i].mac, old[i].kind, old[i].dst, &s->probes)] = old[i];
	free(old);
	return 0;
}

static int grow(struct fdbset *s)
{
	return resize(s, s->cap ? s->cap * 2 : 64);
}

int fdbset_reserve(struct fdbset *s, size_t peers)
{
	size_t cap = s->cap ? s->cap : 64, need;

	/* Each peer a pair and a MAC. */
	if (peers > SIZE_MAX / 8 - s->used)
		return -ENOMEM;
	need = s->used + 2 * peers;
	while (!fits(need, cap)) {
		if (cap > SIZE_MAX / 2 / sizeof(struct fdbset_slot))
			return -ENOMEM;
		cap *= 2;
	}
	return cap == s->cap ? 0 : resize(s, cap);
}

static int inc(struct fdbset *s, const uint8_t mac[6], uint8_t kind, const uint8_t dst[16])
{
	struct fdbset_slot *e;

	if (!fits(s->used + 1, s->cap) && grow(s) < 0)
		return -ENOMEM;
	e = &s->slots[find(s, mac, kind, dst, &s->probes)];
	if (!e->kind) {
		memcpy(e->mac, mac, 6);
		e->kind = kind;
		memcpy(e->dst, dst, 16);
		e->marked = false;
		e->count = 0;
		s->used++;
	}
	e->count++;
	return 0;
}

/* Remove slot i and move later members of its probe run back into the gap. */
static void erase(struct fdbset *s, size_t i)
{
	size_t mask = s->cap - 1, j = i;

	for (;;) {
		size_t home;

		s->slots[i].kind = 0;
		do {
			j = (j + 1) & mask;
			if (!s->slots[j].kind)
				return;
			home = hash(s, s->slots[j].mac, s->slots[j].kind, s->slots[j].dst) & mask;
			/* j stays if its home lies cyclically in (i, j] */
		} while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
		s->slots[i] = s->slots[j];
		i = j;
	}
}

static void dec(struct fdbset *s, const uint8_t mac[6], uint8_t kind, const uint8_t dst[16])
{
	size_t i;

	if (!s->cap)
		return;
	i = find(s, mac, kind, dst, NULL);
	if (!s->slots[i].kind)
		return;
	if (--s->slots[i].count == 0) {
		erase(s, i);
		s->used--;
	}
}

static int add(struct fdbset *s, const uint8_t mac[6], const uint8_t dst[16])
{
	if (inc(s, mac, KEY_PAIR, dst) < 0)
		return -ENOMEM;
	if (inc(s, mac, KEY_MAC, no_dst) < 0) {
		dec(s, mac, KEY_PAIR, dst);
		return -ENOMEM;
	}
	return 0;
}

static void del(struct fdbset *s, const uint8_t mac[6], const uint8_t dst[16])
{
	size_t i;

	if (!s->cap)
		return;
	i = find(s, mac, KEY_PAIR, dst, NULL);
	if (!s->slots[i].kind)
		return; /* nobody wanted it: the MAC's count is not ours to lower */
	dec(s, mac, KEY_PAIR, dst);
	dec(s, mac, KEY_MAC, no_dst);
}

static unsigned count(const struct fdbset *s, const uint8_t mac[6], uint8_t kind,
		      const uint8_t dst[16])
{
	const struct fdbset_slot *e;

	if (!s->cap)
		return 0;
	e = &s->slots[find(s, mac, kind, dst, NULL)];
	return e->kind ? e->count : 0;
}

/* IPv4 as IPv4-mapped, so the two families never share a key. */
static void mapped(uint32_t v4, uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	out[12] = (uint8_t)(v4 >> 24);
	out[13] = (uint8_t)(v4 >> 16);
	out[14] = (uint8_t)(v4 >> 8);
	out[15] = (uint8_t)v4;
}

int fdbset_add(struct fdbset *s, const uint8_t mac[6], uint32_t dst)
{
	uint8_t d[16];

	mapped(dst, d);
	return add(s, mac, d);
}

void fdbset_del(struct fdbset *s, const uint8_t mac[6], uint32_t dst)
{
	uint8_t d[16];

	mapped(dst, d);
	del(s, mac, d);
}

unsigned fdbset_count(const struct fdbset *s, const uint8_t mac[6], uint32_t dst)
{
	uint8_t d[16];

	mapped(dst, d);
	return count(s, mac, KEY_PAIR, d);
}

int fdbset_add6(struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst)
{
	return add(s, mac, dst->b);
}

void fdbset_del6(struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst)
{
	del(s, mac, dst->b);
}

unsigned fdbset_count6(const struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst)
{
	return count(s, mac, KEY_PAIR, dst->b);
}

unsigned fdbset_count_mac(const struct fdbset *s, const uint8_t mac[6])
{
	return count(s, mac, KEY_MAC, no_dst);
}

static bool mark(struct fdbset *s, const uint8_t mac[6], const uint8_t dst[16])
{
	struct fdbset_slot *e;
	bool was;

	if (!s->cap)
		return false;
	e = &s->slots[find(s, mac, KEY_PAIR, dst, NULL)];
	was = e->marked;
	if (e->kind)
		e->marked = true;
	return was;
}

bool fdbset_mark(struct fdbset *s, const uint8_t mac[6], uint32_t dst)
{
	uint8_t d[16];

	mapped(dst, d);
	return mark(s, mac, d);
}

bool fdbset_mark6(struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst)
{
	return mark(s, mac, dst->b);
}

void fdbset_clear_marks(struct fdbset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		s->slots[i].marked = false;
}

void fdbset_free(struct fdbset *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
