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
 *
 * taken[] may be in any order (a sorted copy is made) and host bits in it
 * are ignored. As upstream, a 0.0.0.0/0 entry (an IPv6-only lease) blocks
 * everything. The walk stops at SubnetMax and never wraps past
 * 255.255.255.255 (Go's uint32 does). Returns 0 when IPv4 is disabled:
 * an IPv6-only node's v4 part is 0.0.0.0/0. Returns 0 with errno ENOMEM if
 * the working copy cannot be allocated.
 */
size_t alloc_free_ip4(const struct netconf *conf, const struct ip4net *taken, size_t n_taken,
		      struct ip4net *out, size_t max_out);
/*
 * The same walk over [IPv6SubnetMin, IPv6SubnetMax] in IPv6SubnetLen steps
 * (0 when IPv6 is disabled). Pass only leases that have a v6 part: upstream
 * compares against a nil big.Int for the others and would panic.
 */
size_t alloc_free_ip6(const struct netconf *conf, const struct ip6net *taken, size_t n_taken,
		      struct ip6net *out, size_t max_out);
/* Uniform pick in [0, n) from a caller-provided random value (0 when n is 0). */
size_t alloc_pick(size_t n, uint64_t random);

#endif
