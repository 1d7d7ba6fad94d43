/* SPDX-License-Identifier: Apache-2.0 */
/* A snapshot of the host's links and their IPv4 addresses, and the pure choices made over it. */
#ifndef FLANNELD_IFSET_H
#define FLANNELD_IFSET_H

#include <net/if.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ifset_addr {
	uint32_t addr;	/* host byte order */
	uint32_t flags; /* IFA_F_* */
};

struct ifset_link {
	int index;
	char name[IF_NAMESIZE];
	unsigned mtu;
	struct ifset_addr *addrs; /* in the kernel's order */
	size_t naddrs;
};

/* Owns its links and their addresses; zero-initialised is empty. */
struct ifset {
	struct ifset_link *links; /* by ascending index once ifset_sort() ran */
	size_t nlinks;
};

void ifset_free(struct ifset *s);
/* Forget every address (a restarted address dump). */
void ifset_clear_addrs(struct ifset *s);
int ifset_add_link(struct ifset *s, int index, const char *name, unsigned mtu);
/* -ENODEV when no link has that index (an address of a link that came later). */
int ifset_add_addr(struct ifset *s, int index, uint32_t addr, uint32_t flags);
void ifset_sort(struct ifset *s);

/*
 * An address's place by its IFA_F_* flags, as upstream (>= v0.28) orders
 * them: permanent before non-permanent, then (IPv6 only) non-temporary
 * before temporary. 0 (best) to IFSET_RANKS - 1.
 */
#define IFSET_RANKS 4
int ifset_flags_rank(uint32_t flags, bool ipv6);

/*
 * The addresses an interface can be chosen by, in pick order: global
 * unicast, then link-local (169.254/16), each by ifset_flags_rank() and
 * within a rank in the kernel's order;
 * deprecated, tentative and DAD-failed ones left out, loopback and
 * multicast never. Up to max go to ret; returns how many there are.
 */
size_t ifset_usable(const struct ifset_link *l, uint32_t *ret, size_t max);

const struct ifset_link *ifset_by_index(const struct ifset *s, int index);
const struct ifset_link *ifset_by_name(const struct ifset *s, const char *name);
/* The first link holding exactly addr, whatever its kind (127.0.0.1 too). */
const struct ifset_link *ifset_by_addr(const struct ifset *s, uint32_t addr);

/*
 * Upstream's --iface-regex: links in index order, each usable address's
 * text first (the first match wins and is the address), then link names
 * (address 0: the caller takes the first usable one). NULL: no match.
 */
const struct ifset_link *ifset_match(const struct ifset *s, const regex_t *re, uint32_t *ret_addr);

/* "lo:[], eth0:[10.0.0.5 10.0.0.6]", as upstream's no-match error lists them. */
void ifset_describe(const struct ifset *s, char *buf, size_t len);

#endif
