/* SPDX-License-Identifier: Apache-2.0 */
/*
 * host-gw's IPv6 half: per remote lease with a v6 subnet a route to it via
 * the lease's PublicIPv6 on the external interface. Plain routes with
 * their own gateway (routes.h says why), converged and repaired as the
 * IPv4 routes are; hostgw.c owns the socket, the interface and the timer.
 */
#ifndef FLANNELD_HOSTGW6_H
#define FLANNELD_HOSTGW6_H

#include <stdbool.h>
#include <stddef.h>

#include "ip.h"

struct iface;
struct lease;
struct log_limit;
struct nl;
struct nlmsghdr;
struct repair;

struct hgw6_peer {
	struct ip6net subnet;
	struct ip6 public_ip;
	bool skipped; /* PublicIPv6 not directly reachable through the external interface */
};

struct hgw6 {
	struct nl *nl;		 /* borrowed, as the three below */
	const struct iface *ext; /* its index kept current by hostgw.c */
	struct repair *heal;	 /* run hgw6_converge() from it */
	struct log_limit *warn_limit;
	struct ip6net network;
	bool have_own;
	struct ip6net own;
	struct hgw6_peer *peers; /* sorted by subnet address */
	size_t npeers, cap, nskipped;
	bool failed;	  /* a write of the current batch failed */
	struct ip6 *cdst; /* what each request of the batch is for (its error names it) */
	size_t ncdst, capcdst;
};

void hgw6_free(struct hgw6 *h);
void hgw6_own_lease(struct hgw6 *h, const struct ip6net *own);
void hgw6_lease_added(struct hgw6 *h, const struct lease *l);
void hgw6_lease_removed(struct hgw6 *h, const struct lease *l);
/* The full set of leases after a (re)list; converges. */
void hgw6_resync(struct hgw6 *h, const struct lease *const *all, size_t n);
/* Make the kernel hold exactly our peers' IPv6 routes. */
void hgw6_converge(struct hgw6 *h);
/* An RTM_NEWROUTE/RTM_DELROUTE notification (any family; IPv6 ones are looked at). */
void hgw6_route_event(struct hgw6 *h, const struct nlmsghdr *nlh);

#endif
