/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vxlan's IPv6 half (EnableIPv6): device flannel-v6.<VNI> over the
 * external interface's IPv6 address, <v6 subnet>::/128 on it, and per
 * remote lease a permanent neighbour (v6 subnet address -> v6 VtepMAC),
 * an FDB entry (v6 VtepMAC -> PublicIPv6) and an on-link route, as
 * upstream programs them (FLANNEL_COMPAT.md 9.1); DirectRouting as for
 * IPv4. vxlan.c owns the socket, the external interface and the repair
 * timer and calls in here; converge and repair work as for IPv4, but
 * routes carry their own gateway (routes.h says why).
 */
#ifndef FLANNELD_VXLAN6_H
#define FLANNELD_VXLAN6_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/fdbset.h"
#include "ip.h"

struct iface;
struct lease;
struct lease_attrs;
struct log_limit;
struct nl;
struct nlmsghdr;
struct repair;
struct vxlan_conf;

/*
 * The v6 device's MTU: what the kernel derives over an IPv6 underlay
 * (outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14), as v0.20.2's
 * device had it (1430). FLANNEL_MTU stays MTU - 50 (FLANNEL_COMPAT 9.7).
 */
#define VXLAN6_OVERHEAD 70

struct vx6_peer {
	struct ip6net subnet;
	struct ip6 public_ip; /* PublicIPv6 */
	uint8_t mac[6];	      /* from BackendV6Data */
	bool direct;	      /* DirectRouting: a plain route via public_ip, no neighbour/FDB */
	int oif;	      /* direct: the interface the kernel reaches public_ip through */
};

struct vx6 {
	/* Borrowed from vxlan.c. */
	struct nl *nl;
	struct iface *ext; /* vx6 keeps its index current too */
	struct repair *heal;
	struct log_limit *warn_limit;
	const struct vxlan_conf *cfg;
	struct lease_attrs *attrs; /* our lease's: BackendV6Data */
	void (*attrs_changed)(void *arg);
	void *attrs_arg;

	struct ip6net network; /* IPv6Network */
	char dev[IF_NAMESIZE];
	int ifindex;
	uint8_t mac[6];
	unsigned mtu;
	bool have_own;
	struct ip6net own;
	struct vx6_peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	struct fdbset fdbs; /* the FDB entries the peers want, counted */
	bool failed;	    /* a write of the current batch failed */
	struct ip6 *cdst;   /* what each request of the batch is for (its error names it) */
	size_t ncdst, capcdst;
};

/* Create or adopt the device; initial: at start-up (new random MAC, log). Fills BackendV6Data. */
int vx6_ensure_device(struct vx6 *x, bool initial);
/* Our v6 subnet's ::/128 on the device and the device up. */
int vx6_configure(struct vx6 *x);
int vx6_own_lease(struct vx6 *x, const struct ip6net *own);
void vx6_lease_added(struct vx6 *x, const struct lease *l);
void vx6_lease_removed(struct vx6 *x, const struct lease *l);
/* The full set of leases after a (re)list; converges. */
void vx6_resync(struct vx6 *x, const struct lease *const *all, size_t n);
void vx6_converge(struct vx6 *x);
/* Any rtnetlink notification: what concerns the v6 device and its entries schedules a repair. */
void vx6_event(struct vx6 *x, const struct nlmsghdr *nlh);
void vx6_free(struct vx6 *x);

#endif
