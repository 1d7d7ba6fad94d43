/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/kaddr.h"

#include <string.h>

struct kaddr kaddr_v4(uint32_t a)
{
	return (struct kaddr){ .family = AF_INET, .v4 = a };
}

struct kaddr kaddr_v6(const struct ip6 *a)
{
	return (struct kaddr){ .family = AF_INET6, .v6 = *a };
}

struct kprefix kprefix_v4(const struct ip4net *n)
{
	return (struct kprefix){ .addr = kaddr_v4(n->addr), .len = n->len };
}

struct kprefix kprefix_v6(const struct ip6net *n)
{
	return (struct kprefix){ .addr = kaddr_v6(&n->addr), .len = n->len };
}

int kaddr_cmp(const struct kaddr *a, const struct kaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET6)
		return memcmp(a->v6.b, b->v6.b, sizeof(a->v6.b));
	return a->v4 < b->v4 ? -1 : a->v4 > b->v4;
}

bool kaddr_equal(const struct kaddr *a, const struct kaddr *b)
{
	return kaddr_cmp(a, b) == 0;
}

bool kaddr_is_zero(const struct kaddr *a)
{
	return a->family == AF_INET6 ? ip6_is_zero(&a->v6) : a->v4 == 0;
}

bool kprefix_equal(const struct kprefix *a, const struct kprefix *b)
{
	return a->len == b->len && kaddr_equal(&a->addr, &b->addr);
}

bool kprefix_contains(const struct kprefix *n, const struct kaddr *a)
{
	if (n->addr.family != a->family)
		return false;
	if (a->family == AF_INET6) {
		struct ip6net n6 = { n->addr.v6, n->len };

		return ip6net_contains(&n6, &a->v6);
	}
	return ip4net_contains(&(struct ip4net){ n->addr.v4, n->len }, a->v4);
}

char *kaddr_format(const struct kaddr *a, char *buf)
{
	return a->family == AF_INET6 ? ip6_format(&a->v6, buf) : ip4_format(a->v4, buf);
}

char *kprefix_format(const struct kprefix *n, char *buf)
{
	if (n->addr.family == AF_INET6) {
		struct ip6net n6 = { n->addr.v6, n->len };

		return ip6net_format(&n6, buf);
	}
	return ip4net_format(&(struct ip4net){ n->addr.v4, n->len }, buf);
}
