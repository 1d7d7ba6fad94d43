/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/routes.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

struct nl_route route_want_route(const struct route_want *w)
{
	struct nl_route r = {
		.dst = w->dst.addr,
		.dst_len = w->dst.len,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
	};

	if (w->nexthop) {
		r.nhid = w->dst.addr;
	} else {
		r.gw = w->gw;
		r.oif = w->oif;
		r.flags = w->onlink ? RTNH_F_ONLINK : 0;
	}
	return r;
}

struct nl_nexthop route_want_nexthop(const struct route_want *w)
{
	return (struct nl_nexthop){
		.id = w->dst.addr,
		.gw = w->gw,
		.oif = w->oif,
		.protocol = NL_RTPROT_FLANNEL,
		.flags = w->onlink ? RTNH_F_ONLINK : 0,
	};
}

bool route_want_matches(const struct route_want *w, const struct nl_route *r)
{
	if (r->family != AF_INET || r->dst_len != w->dst.len || r->type != RTN_UNICAST ||
	    r->priority != 0)
		return false;
	if (w->nexthop)
		return r->nhid == w->dst.addr;
	return !r->nhid && r->gw == w->gw && r->oif == w->oif &&
	       !!(r->flags & RTNH_F_ONLINK) == w->onlink;
}

bool route_want_nexthop_matches(const struct route_want *w, const struct nl_nexthop *nh)
{
	return nh->family == AF_INET && nh->protocol == NL_RTPROT_FLANNEL && nh->gw == w->gw &&
	       nh->oif == w->oif && !!(nh->flags & RTNH_F_ONLINK) == w->onlink;
}

struct nl_route route_del_route(uint32_t dst, uint8_t len, uint32_t priority)
{
	return (struct nl_route){
		.dst = dst,
		.dst_len = len,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_NOWHERE,
		.priority = priority,
	};
}

struct nl_route route_want6_route(const struct route_want6 *w)
{
	return (struct nl_route){
		.family = AF_INET6,
		.dst6 = w->dst.addr,
		.dst_len = w->dst.len,
		.gw6 = w->gw,
		.oif = w->oif,
		.table = RT_TABLE_MAIN,
		.priority = ROUTE6_METRIC,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
		.flags = w->onlink ? RTNH_F_ONLINK : 0,
	};
}

bool route_want6_matches(const struct route_want6 *w, const struct nl_route *r)
{
	return r->family == AF_INET6 && r->dst_len == w->dst.len && r->type == RTN_UNICAST &&
	       r->priority == ROUTE6_METRIC && !r->nhid && ip6_equal(&r->gw6, &w->gw) &&
	       r->oif == w->oif && !!(r->flags & RTNH_F_ONLINK) == w->onlink;
}

struct nl_route route_del_route6(const struct ip6 *dst, uint8_t len, uint32_t priority)
{
	return (struct nl_route){
		.family = AF_INET6,
		.dst6 = *dst,
		.dst_len = len,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_NOWHERE,
		.priority = priority,
	};
}

static int count_cb(void *arg, const struct nlmsghdr *nlh)
{
	return 0;
}

int route_probe_nexthops(struct nl *nl)
{
	NL_MSG_BUF(buf);

	if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
		return -EINVAL;
	return nl_dump(nl, (const void *)buf, count_cb, NULL, NULL);
}
