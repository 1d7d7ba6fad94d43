/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One address type for both families, as iproute2's inet_prefix: what
 * routes, nexthops, neighbours and FDB entries take, so that no function
 * needs a v4 and a v6 variant. IPv4 in host byte order, as in ip.h.
 */
#ifndef FLANNELD_KADDR_H
#define FLANNELD_KADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ip.h"

struct kaddr {
	uint8_t family; /* AF_INET or AF_INET6 */
	union {
		uint32_t v4;
		struct ip6 v6;
	};
};

struct kprefix {
	struct kaddr addr;
	uint8_t len;
};

struct kaddr kaddr_v4(uint32_t a);
struct kaddr kaddr_v6(const struct ip6 *a);
struct kprefix kprefix_v4(const struct ip4net *n);
struct kprefix kprefix_v6(const struct ip6net *n);
/* Orders by family, then address: the peer tables' key. */
int kaddr_cmp(const struct kaddr *a, const struct kaddr *b);
bool kaddr_equal(const struct kaddr *a, const struct kaddr *b);
bool kaddr_is_zero(const struct kaddr *a);
bool kprefix_equal(const struct kprefix *a, const struct kprefix *b);
/* a is inside n (same family). */
bool kprefix_contains(const struct kprefix *n, const struct kaddr *a);
/* Text forms into buf (at least IP_STRLEN bytes); return buf. */
char *kaddr_format(const struct kaddr *a, char *buf);
char *kprefix_format(const struct kprefix *n, char *buf);

#endif
