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
#include "nl.h"

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
/* 0 if the kernel has nexthop objects (Linux 5.3+), else why not (-errno). */
int route_probe_nexthops(struct nl *nl);

#endif
