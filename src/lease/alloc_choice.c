/* SPDX-License-Identifier: Apache-2.0 */
/* Free-subnet candidates as upstream's allocateSubnet walks them, in O((n + k) log n). */
#include <errno.h>
#include <stdlib.h>

#include "lease/alloc_choice.h"
#include "config.h"

typedef unsigned __int128 u128;

/* An address block [lo, hi], both ends inclusive. */
struct span {
	u128 lo, hi;
};

/* The walk is the same for both families once addresses are 128-bit numbers. */
struct walk {
	u128 min, max; /* candidate range, both inclusive */
	u128 size;     /* one subnet */
	u128 mask;     /* subnet prefix mask */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* Sort and merge in place, so one forward pointer can follow the walk. */
static size_t merge_spans(struct span *s, size_t n)
{
	size_t i, m = 0;

	if (n == 0)
		return 0;
	qsort(s, n, sizeof(*s), span_cmp);
	for (i = 1; i < n; i++) {
		if (s[i].lo <= s[m].hi) {
			if (s[i].hi > s[m].hi)
				s[m].hi = s[i].hi;
		} else {
			s[++m] = s[i];
		}
	}
	return m + 1;
}

typedef void (*emit_fn)(void *out, size_t i, u128 addr, unsigned len);

/*
 * Candidates go from min in steps of size up to max. Taken blocks are
 * aligned prefixes, so "overlaps using the shorter mask" is exactly "the
 * two blocks intersect". A blocked candidate jumps past the whole taken
 * span, so the walk costs O(n + k) after the sort. It stops at max rather
 * than wrapping past the top of the address space as Go's uint32 does.
 */
static size_t walk(const struct walk *w, const struct span *s, size_t n, emit_fn emit, void *out,
		   unsigned len, size_t max_out)
{
	u128 c = w->min;
	size_t j = 0, count = 0;

	while (c <= w->max && count < max_out) {
		u128 lo = c & w->mask, hi = lo | ~w->mask, steps;

		while (j < n && s[j].hi < lo)
			j++;
		if (j < n && s[j].lo <= hi) {
			if (s[j].hi == ~(u128)0)
				break;
			steps = (s[j].hi + 1 - lo) / w->size + ((s[j].hi + 1 - lo) % w->size != 0);
		} else {
			emit(out, count++, c, len);
			steps = 1;
		}
		if (steps > (w->max - c) / w->size)
			break;
		c += steps * w->size;
	}
	return count;
}

/* Sort, merge and walk; takes ownership of s. */
static size_t run(const struct walk *w, struct span *s, size_t n, emit_fn emit, void *out,
		  unsigned len, size_t max_out)
{
	size_t k;

	n = merge_spans(s, n);
	k = walk(w, s, n, emit, out, len, max_out);
	free(s);
	return k;
}

static struct span *alloc_spans(size_t n)
{
	struct span *s = malloc((n ? n : 1) * sizeof(*s));

	if (!s)
		errno = ENOMEM;
	return s;
}

static struct span prefix_span(u128 addr, unsigned len)
{
	u128 m = ip6_mask(len);
	struct span s = { addr & m, (addr & m) | ~m };

	return s;
}

/*
 * IPv4 rides in the top 32 bits of a 128-bit number, so that masks, block
 * ends and the top-of-space check are the IPv6 ones unchanged.
 */
static u128 v4_to_u128(uint32_t a)
{
	return (u128)a << 96;
}

static void emit_v4(void *out, size_t i, u128 addr, unsigned len)
{
	struct ip4net *o = out;

	o[i].addr = (uint32_t)(addr >> 96);
	o[i].len = (uint8_t)len;
}

static void emit_v6(void *out, size_t i, u128 addr, unsigned len)
{
	struct ip6net *o = out;

	o[i].addr = ip6_from_u128(addr);
	o[i].len = (uint8_t)len;
}

size_t alloc_free_ip4(const struct netconf *conf, const struct ip4net *taken, size_t n_taken,
		      struct ip4net *out, size_t max_out)
{
	unsigned len = conf->subnet_len;
	struct span *s;
	struct walk w;
	size_t i;

	if (!conf->enable_ipv4 || len == 0 || len > 32 || max_out == 0)
		return 0;
	w.min = v4_to_u128(conf->subnet_min);
	w.max = v4_to_u128(conf->subnet_max);
	w.size = (u128)1 << (128 - len);
	w.mask = ip6_mask(len);
	s = alloc_spans(n_taken);
	if (!s)
		return 0;
	for (i = 0; i < n_taken; i++)
		s[i] = prefix_span(v4_to_u128(taken[i].addr),
				   taken[i].len > 32 ? 32 : taken[i].len);
	return run(&w, s, n_taken, emit_v4, out, len, max_out);
}

size_t alloc_free_ip6(const struct netconf *conf, const struct ip6net *taken, size_t n_taken,
		      struct ip6net *out, size_t max_out)
{
	unsigned len = conf->ipv6_subnet_len;
	struct span *s;
	struct walk w;
	size_t i;

	if (!conf->enable_ipv6 || len == 0 || len > 128 || max_out == 0)
		return 0;
	w.min = ip6_to_u128(&conf->ipv6_subnet_min);
	w.max = ip6_to_u128(&conf->ipv6_subnet_max);
	w.size = (u128)1 << (128 - len);
	w.mask = ip6_mask(len);
	s = alloc_spans(n_taken);
	if (!s)
		return 0;
	for (i = 0; i < n_taken; i++)
		s[i] = prefix_span(ip6_to_u128(&taken[i].addr), taken[i].len);
	return run(&w, s, n_taken, emit_v6, out, len, max_out);
}

/* Lemire's multiply-shift: bias at most n / 2^64, far below anything observable. */
size_t alloc_pick(size_t n, uint64_t random)
{
	if (n == 0)
		return 0;
	return (size_t)(((u128)random * n) >> 64);
}
