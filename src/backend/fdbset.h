/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How many peers want each FDB entry (MAC, destination), and each MAC at
 * all: O(1) answers for the events that arrive once per peer change, where
 * a sorted index would be rebuilt each time. Pure logic, no I/O.
 */
#ifndef FLANNELD_FDBSET_H
#define FLANNELD_FDBSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip.h"
#include "lease/keyhash.h"

struct fdbset_slot;

struct fdbset {
	struct fdbset_slot *slots;
	size_t cap, used;		/* cap is 0 or a power of two */
	uint8_t seed[KEYHASH_SEED_LEN]; /* random, from the first insert on */
	uint64_t probes;		/* slots looked at by inserts and growth */
};

/* Zeroed is empty; fdbset_free() releases and empties it. */
void fdbset_free(struct fdbset *s);
/*
 * Room for that many more peers' entries without growing: a set built at
 * once is allocated once, not through every doubling (whose old and new
 * tables would both be live at the peak). 0 or -ENOMEM.
 */
int fdbset_reserve(struct fdbset *s, size_t peers);
/* One more peer wants (mac, dst): 0 or -ENOMEM. */
int fdbset_add(struct fdbset *s, const uint8_t mac[6], uint32_t dst);
/* One peer fewer wants it (no-op if none did). */
void fdbset_del(struct fdbset *s, const uint8_t mac[6], uint32_t dst);
/* Peers that want (mac, dst). */
unsigned fdbset_count(const struct fdbset *s, const uint8_t mac[6], uint32_t dst);
/* The same with an IPv6 destination (the flannel-v6 device's entries). */
int fdbset_add6(struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst);
void fdbset_del6(struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst);
unsigned fdbset_count6(const struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst);
/* Peers whose MAC is mac, whatever their destination. */
unsigned fdbset_count_mac(const struct fdbset *s, const uint8_t mac[6]);
/*
 * A mark per (mac, dst) for one pass over the kernel's entries: which of
 * the wanted ones it found, without a second set as large as this one.
 * Marks (mac, dst) if some peer wants it; returns whether it was marked.
 */
bool fdbset_mark(struct fdbset *s, const uint8_t mac[6], uint32_t dst);
bool fdbset_mark6(struct fdbset *s, const uint8_t mac[6], const struct ip6 *dst);
void fdbset_clear_marks(struct fdbset *s);

#endif
