/* SPDX-License-Identifier: Apache-2.0 */
/* Interface snapshot: address ordering, lookups and regex matching; pure (no I/O). */
#include "ifset.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"

void ifset_free(struct ifset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlinks; i++)
		free(s->links[i].addrs);
	free(s->links);
	s->links = NULL;
	s->nlinks = 0;
}

void ifset_clear_addrs(struct ifset *s)
{
	for (size_t i = 0; i < s->nlinks; i++) {
		free(s->links[i].addrs);
		s->links[i].addrs = NULL;
		s->links[i].naddrs = 0;
	}
}

int ifset_add_link(struct ifset *s, int index, const char *name, unsigned mtu)
{
	struct ifset_link *v = realloc(s->links, (s->nlinks + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	s->links = v;
	v = &s->links[s->nlinks++];
	memset(v, 0, sizeof(*v));
	v->index = index;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->mtu = mtu;
	return 0;
}

int ifset_add_addr(struct ifset *s, int index, uint32_t addr, uint32_t flags)
{
	struct ifset_link *l = NULL;
	struct ifset_addr *v;

	for (size_t i = 0; i < s->nlinks && !l; i++)
		if (s->links[i].index == index)
			l = &s->links[i];
	if (!l)
		return -ENODEV;
	v = realloc(l->addrs, (l->naddrs + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->addrs = v;
	l->addrs[l->naddrs++] = (struct ifset_addr){ addr, flags };
	return 0;
}

static int cmp_index(const void *a, const void *b)
{
	const struct ifset_link *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

void ifset_sort(struct ifset *s)
{
	if (s->nlinks > 1)
		qsort(s->links, s->nlinks, sizeof(*s->links), cmp_index);
}

static bool is_link_local(uint32_t a)
{
	return (a >> 16) == 0xa9fe; /* 169.254.0.0/16 */
}

/* Go's IsGlobalUnicast or IsLinkLocalUnicast, as upstream filters. */
static bool is_unicast(uint32_t a)
{
	return a != 0 && (a >> 24) != 127 && (a >> 28) != 0xe && a != 0xffffffffu;
}

static bool is_usable(const struct ifset_addr *a)
{
	return is_unicast(a->addr) &&
	       !(a->flags & (IFA_F_DEPRECATED | IFA_F_TENTATIVE | IFA_F_DADFAILED));
}

int ifset_flags_rank(uint32_t flags, bool ipv6)
{
	/* IFA_F_TEMPORARY shares its bit with IPv4's IFA_F_SECONDARY. */
	return (flags & IFA_F_PERMANENT ? 0 : 2) + (ipv6 && (flags & IFA_F_TEMPORARY) ? 1 : 0);
}

size_t ifset_usable(const struct ifset_link *l, uint32_t *ret, size_t max)
{
	size_t n = 0;

	/*
	 * One pass per (class, rank) keeps the kernel's order within each:
	 * global before link-local, permanent before non-permanent.
	 */
	for (int pass = 0; pass < 2 * IFSET_RANKS; pass++) {
		for (size_t i = 0; i < l->naddrs; i++) {
			const struct ifset_addr *a = &l->addrs[i];

			if (!is_usable(a) || is_link_local(a->addr) != (pass / IFSET_RANKS == 1) ||
			    ifset_flags_rank(a->flags, false) != pass % IFSET_RANKS)
				continue;
			if (n < max)
				ret[n] = a->addr;
			n++;
		}
	}
	return n;
}

const struct ifset_link *ifset_by_index(const struct ifset *s, int index)
{
	for (size_t i = 0; i < s->nlinks; i++)
		if (s->links[i].index == index)
			return &s->links[i];
	return NULL;
}

const struct ifset_link *ifset_by_name(const struct ifset *s, const char *name)
{
	for (size_t i = 0; i < s->nlinks; i++)
		if (strcmp(s->links[i].name, name) == 0)
			return &s->links[i];
	return NULL;
}

const struct ifset_link *ifset_by_addr(const struct ifset *s, uint32_t addr)
{
	for (size_t i = 0; i < s->nlinks; i++)
		for (size_t j = 0; j < s->links[i].naddrs; j++)
			if (s->links[i].addrs[j].addr == addr)
				return &s->links[i];
	return NULL;
}

/* Whether one of l's usable addresses matches; the first that does goes to ret. */
static bool match_addrs(const struct ifset_link *l, const regex_t *re, uint32_t *ret)
{
	size_t n = ifset_usable(l, NULL, 0);
	uint32_t *v;
	bool hit = false;

	if (n == 0)
		return false;
	v = calloc(n, sizeof(*v));
	if (!v)
		return false;
	ifset_usable(l, v, n);
	for (size_t i = 0; i < n && !hit; i++) {
		char text[16];

		if (regexec(re, ip4_format(v[i], text), 0, NULL, 0) == 0) {
			*ret = v[i];
			hit = true;
		}
	}
	free(v);
	return hit;
}

const struct ifset_link *ifset_match(const struct ifset *s, const regex_t *re, uint32_t *ret_addr)
{
	uint32_t a;

	for (size_t i = 0; i < s->nlinks; i++) {
		if (match_addrs(&s->links[i], re, &a)) {
			*ret_addr = a;
			return &s->links[i];
		}
	}
	for (size_t i = 0; i < s->nlinks; i++) {
		if (regexec(re, s->links[i].name, 0, NULL, 0) == 0) {
			*ret_addr = 0;
			return &s->links[i];
		}
	}
	return NULL;
}

/* Append to buf as snprintf would, never past len; keeps *off at most len. */
static void append(char *buf, size_t len, size_t *off, const char *s)
{
	int n;

	if (*off >= len)
		return;
	n = snprintf(buf + *off, len - *off, "%s", s);
	*off += (size_t)n < len - *off ? (size_t)n : len - *off;
}

void ifset_describe(const struct ifset *s, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < s->nlinks; i++) {
		const struct ifset_link *l = &s->links[i];
		uint32_t v[8];
		size_t n = ifset_usable(l, v, 8);
		char text[16];

		if (i > 0)
			append(buf, len, &off, ", ");
		append(buf, len, &off, l->name);
		append(buf, len, &off, ":[");
		for (size_t j = 0; j < n && j < 8; j++) {
			if (j > 0)
				append(buf, len, &off, " ");
			append(buf, len, &off, ip4_format(v[j], text));
		}
		if (n > 8)
			append(buf, len, &off, " ...");
		append(buf, len, &off, "]");
	}
}
