/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The route to one remote subnet, as a backend programs it: with a gateway
 * of its own (upstream's form) or naming a nexthop object whose id is the
 * subnet's address (unique on the host: two flanneld networks never
 * overlap). Builds the messages and recognises the kernel's entries.
 */
#ifndef FLANNELD_ROUTES_H
#define FLANNELD_ROUTES_H

#include <stdbool.h>
#include <stdint.h>

#include "ip.h"
#include "netlink/nl.h"

struct route_want {
	struct ip4net dst;
	uint32_t gw; /* host byte order */
	int oif;
	bool onlink;
	bool nexthop; /* through nexthop object dst.addr */
};

/* The route to write (RTM_NEWROUTE with NLM_F_REPLACE) and the nexthop it names. */
struct nl_route route_want_route(const struct route_want *w);
struct nl_nexthop route_want_nexthop(const struct route_want *w);
/* Whether the kernel's route or nexthop is exactly what w asks for. */
bool route_want_matches(const struct route_want *w, const struct nl_route *r);
bool route_want_nexthop_matches(const struct route_want *w, const struct nl_nexthop *nh);
/* Deletes our route to dst/len whatever its next hop (the protocol keeps it to ours). */
struct nl_route route_del_route(uint32_t dst, uint8_t len, uint32_t priority);
/*
 * IPv6: always a route with its own gateway. Nexthop ids are 32 bits, so
 * a v6 subnet cannot be its own id as a v4 one is, and a hashed id would
 * need collision handling for a gain that is small for IPv6: the kernel
 * keys IPv6 routes by prefix in a trie, not by device.
 */
struct route_want6 {
	struct ip6net dst;
	struct ip6 gw;
	int oif;
	bool onlink;
};

/*
 * The kernel gives an IPv6 route without a metric 1024 (IP6_RT_PRIO_USER);
 * we write that explicitly, so a replace always finds our own route.
 */
#define ROUTE6_METRIC 1024

struct nl_route route_want6_route(const struct route_want6 *w);
bool route_want6_matches(const struct route_want6 *w, const struct nl_route *r);
struct nl_route route_del_route6(const struct ip6 *dst, uint8_t len, uint32_t priority);

/* 0 if the kernel has nexthop objects (Linux 5.3+), else why not (-errno). */
int route_probe_nexthops(struct nl *nl);

#endif
