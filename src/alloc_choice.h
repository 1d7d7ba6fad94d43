/* SPDX-License-Identifier: Apache-2.0 */
/* Which subnets are free to allocate, as upstream chooses them. Pure logic. */
#ifndef FLANNELD_ALLOC_CHOICE_H
#define FLANNELD_ALLOC_CHOICE_H

#include <stddef.h>
#include <stdint.h>

#include "ip.h"

struct netconf;

/* Upstream collects at most this many free candidates before picking one. */
#define ALLOC_MAX_CANDIDATES 100

/*
 * Walk [SubnetMin, SubnetMax] in SubnetLen steps and store up to max_out
 * subnets that overlap none of taken[] (overlap uses the shorter mask, so
 * leases of other lengths block too). Returns the count. O((n + k) log n).
 */
size_t alloc_free_ip4(const struct netconf *conf, const struct ip4net *taken, size_t n_taken,
		      struct ip4net *out, size_t max_out);
/* Uniform pick in [0, n) from a caller-provided random value. */
size_t alloc_pick(size_t n, uint64_t random);

#endif
