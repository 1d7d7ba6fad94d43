/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The self-healing every backend shares, on rtnetlink notifications: its
 * device deleted, set down or given another MTU, its address removed, the
 * external interface going down and up, and missed notifications
 * (ENOBUFS). Each runs the backend's repair (repair.h) soon. A backend
 * adds its route and nexthop handlers (the peer engine's, pe_*_event) and
 * listens with dev_heal_monitor_ops and the dev_heal as argument. What
 * each event means is decided in peer_decide.c (dev_heal_*_decide). A
 * backend with two devices (vxlan's or wireguard's IPv4 and IPv6 ones) has
 * a dev_heal for each, chained by `also` so that every notification
 * reaches both, and names the external interface in one of them only.
 */
#ifndef FLANNELD_DEV_HEAL_H
#define FLANNELD_DEV_HEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/kaddr.h"

struct nl;
struct nlmsghdr;
struct nlmon_ops;
struct repair;

struct dev_heal {
	struct nl *nl;
	struct repair *heal;
	const char *dev; /* our device's name (NULL: none, as host-gw's) */
	int ifindex;	 /* and index, kept current by the backend */
	unsigned mtu;	 /* the MTU it must have */
	bool has_mac;	 /* and the MAC (vxlan: the one our lease publishes) */
	uint8_t mac[6];
	bool want_up;	    /* it must be up (our lease is held) */
	struct kprefix own; /* the address it must hold (len 0: none) */
	int ext_index;	    /* the external interface (0: not watched here) */
	const char *ext_name;
	bool ext_up; /* as last notified */
	/* The overrun message: "Missed ... re-reading <overrun_what>". */
	const char *overrun_what;
	/* Optional: the backend's handlers of route, nexthop and address notifications. */
	void (*route_event)(void *arg, const struct nlmsghdr *nlh);
	void (*nexthop_event)(void *arg, const struct nlmsghdr *nlh);
	void (*addr_event)(void *arg, const struct nlmsghdr *nlh);
	void (*neigh_event)(void *arg, const struct nlmsghdr *nlh);
	/* Optional: every link notification too, after ours (vxlan: checksum offload). */
	void (*link_event)(void *arg, const struct nlmsghdr *nlh);
	void *arg;
	/* Another device of the same backend: gets every notification too. */
	struct dev_heal *also;
};

/* nlmon's handlers, with the (first) struct dev_heal as their argument. */
extern const struct nlmon_ops dev_heal_monitor_ops;
/* Its event handler: one rtnetlink notification. */
void dev_heal_event(struct dev_heal *d, const struct nlmsghdr *nlh);

#endif
