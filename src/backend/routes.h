/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The route to one remote subnet, as a backend programs it: with a gateway
 * of its own (upstream's form) or, for IPv4, naming a nexthop object whose
 * id is the subnet's address (unique on the host: two flanneld networks
 * never overlap). Builds the messages and recognises the kernel's entries,
 * for either family. Pure: no I/O.
 *
 * IPv6 routes always carry their own gateway. Nexthop ids are 32 bits, so
 * a v6 subnet cannot be its own id as a v4 one is, and a hashed id would
 * need collision handling for a gain that is small for IPv6: the kernel
 * keys IPv6 routes by prefix in a trie, not by device.
 */
#ifndef FLANNELD_ROUTES_H
#define FLANNELD_ROUTES_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/kaddr.h"
#include "netlink/nl.h"

struct route_want {
	struct kprefix dst;
	struct kaddr gw;
	int oif;
	bool onlink;
	bool nexthop; /* through nexthop object dst.addr (IPv4 only) */
};

/*
 * The metric our routes carry: none for IPv4; the kernel gives an IPv6
 * route without one 1024 (IP6_RT_PRIO_USER), which we write explicitly so
 * a replace always finds our own route.
 */
uint32_t route_metric(uint8_t family);
/* The route to write (RTM_NEWROUTE with NLM_F_REPLACE) and the nexthop it names. */
struct nl_route route_want_route(const struct route_want *w);
struct nl_nexthop route_want_nexthop(const struct route_want *w);
/* Whether the kernel's route or nexthop is exactly what w asks for. */
bool route_want_matches(const struct route_want *w, const struct nl_route *r);
bool route_want_nexthop_matches(const struct route_want *w, const struct nl_nexthop *nh);
/* Deletes our route to dst whatever its next hop (the protocol keeps it to ours). */
struct nl_route route_del_route(const struct kprefix *dst, uint32_t priority);
/* A parsed route's destination and gateway (zero: none), in its family. */
struct kaddr route_dst(const struct nl_route *r);
struct kaddr route_gw(const struct nl_route *r);

#endif
