/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/routes.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

uint32_t route_metric(uint8_t family)
{
	return family == AF_INET6 ? 1024 : 0;
}

struct kaddr route_dst(const struct nl_route *r)
{
	return r->family == AF_INET6 ? kaddr_v6(&r->dst6) : kaddr_v4(r->dst);
}

struct kaddr route_gw(const struct nl_route *r)
{
	return r->family == AF_INET6 ? kaddr_v6(&r->gw6) : kaddr_v4(r->gw);
}

/* dst in the family's fields of r; family AF_INET is written as 0, as nl.h reads it. */
static void set_dst(struct nl_route *r, const struct kprefix *dst)
{
	r->dst_len = dst->len;
	if (dst->addr.family == AF_INET6) {
		r->family = AF_INET6;
		r->dst6 = dst->addr.v6;
	} else {
		r->dst = dst->addr.v4;
	}
}

struct nl_route route_want_route(const struct route_want *w)
{
	struct nl_route r = {
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
		.priority = route_metric(w->dst.addr.family),
	};

	set_dst(&r, &w->dst);
	if (w->nexthop && w->dst.addr.family == AF_INET) {
		r.nhid = w->dst.addr.v4;
		return r;
	}
	if (w->gw.family == AF_INET6)
		r.gw6 = w->gw.v6;
	else
		r.gw = w->gw.v4;
	r.oif = w->oif;
	r.flags = w->onlink ? RTNH_F_ONLINK : 0;
	return r;
}

struct nl_nexthop route_want_nexthop(const struct route_want *w)
{
	return (struct nl_nexthop){
		.id = w->dst.addr.v4,
		.gw = w->gw.v4,
		.oif = w->oif,
		.protocol = NL_RTPROT_FLANNEL,
		.flags = w->onlink ? RTNH_F_ONLINK : 0,
	};
}

static uint8_t family_of(uint8_t nl_family)
{
	return nl_family == AF_INET6 ? AF_INET6 : AF_INET;
}

bool route_want_matches(const struct route_want *w, const struct nl_route *r)
{
	struct kaddr gw = route_gw(r);

	if (family_of(r->family) != w->dst.addr.family || r->dst_len != w->dst.len ||
	    r->type != RTN_UNICAST || r->priority != route_metric(w->dst.addr.family))
		return false;
	if (w->nexthop && w->dst.addr.family == AF_INET)
		return r->nhid == w->dst.addr.v4;
	return !r->nhid && kaddr_equal(&gw, &w->gw) && r->oif == w->oif &&
	       !!(r->flags & RTNH_F_ONLINK) == w->onlink;
}

bool route_want_nexthop_matches(const struct route_want *w, const struct nl_nexthop *nh)
{
	return family_of(nh->family) == AF_INET && w->dst.addr.family == AF_INET &&
	       nh->protocol == NL_RTPROT_FLANNEL && nh->gw == w->gw.v4 && nh->oif == w->oif &&
	       !!(nh->flags & RTNH_F_ONLINK) == w->onlink;
}

struct nl_route route_del_route(const struct kprefix *dst, uint32_t priority)
{
	struct nl_route r = {
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_NOWHERE,
		.priority = priority,
	};

	set_dst(&r, dst);
	return r;
}
