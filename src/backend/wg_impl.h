/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wireguard backend's insides, shared by wireguard.c (modes, leases,
 * lifecycle) and wg_dev.c (one device: its peers, converge, address and
 * route). A device carries the subnets of one family (Mode separate:
 * flannel-wg for IPv4, flannel-wg-v6 for IPv6) or of both (Modes auto,
 * ipv4, ipv6: flannel-wg alone, each peer's endpoint chosen by the Mode).
 */
#ifndef FLANNELD_WG_IMPL_H
#define FLANNELD_WG_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/dev_heal.h"
#include "backend/kaddr.h"
#include "backend/repair.h"
#include "backend/tun_conf.h"
#include "iface.h"
#include "log.h"
#include "loop.h"

#define WG_DEV4 "flannel-wg"
#define WG_DEV6 "flannel-wg-v6"

struct nlmsghdr;
struct wg_device;

/* One remote lease on one device. */
struct wgpeer {
	struct kprefix subnet;	/* the table's key: its subnet of the device's first family */
	struct kprefix subnet2; /* its IPv6 subnet too, on a device of both (len 0: none) */
	struct kaddr endpoint;
	uint16_t port; /* the lease's Port; 0: the device's ListenPort */
	uint8_t key[32];
};

struct wgdev {
	struct backend *b;
	const char *name;
	uint16_t port;		   /* its ListenPort */
	bool fam[2];		   /* carries IPv4 ([0]) and IPv6 ([1]) subnets */
	struct kprefix network[2]; /* per family: routed through the device */
	struct kaddr own[2];	   /* per family: our address on it (family 0: none yet) */
	int ifindex;
	struct wgpeer *peers; /* sorted by subnet */
	size_t npeers, cap;
	struct dev_heal dh;
};

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct wg_nl *wg;
	struct iface ext;
	bool has_public_ipv6; /* ours (Mode auto's choice) */
	struct ip6 public_ipv6;
	struct wg_conf cfg;
	unsigned mtu;
	uint8_t priv[32], pub[32];
	bool have_own;
	struct wgdev dev[2];
	size_t ndev;
	struct log_limit warn_limit;
	struct repair heal;
	struct loop_timer recheck;
	char overrun_what[48];
};

/* The peer table of d. */
struct wgpeer *wgdev_find(struct wgdev *d, const struct kprefix *subnet);
struct wgpeer *wgdev_insert(struct wgdev *d, const struct wgpeer *p);
void wgdev_remove(struct wgdev *d, struct wgpeer *p);
/* The table becomes peers[0..n) (taken over, sorted, overlaps dropped and logged). */
void wgdev_set_peers(struct wgdev *d, struct wgpeer *peers, size_t n, size_t cap);
/* Write the kernel peer for key: as wanted, or removed when no subnet has it. */
int wgdev_sync_peer(struct wgdev *d, const uint8_t key[32]);
/*
 * Our key and port on the device, unless cur (what it holds; NULL:
 * unknown) has them already (setting the same key again keeps the sessions).
 */
int wgdev_set_key(struct wgdev *d, const struct wg_device *cur);
/* Our key and port on the device, then its peers exactly ours (matching ones untouched). */
int wgdev_converge(struct wgdev *d);
/* The device, created when missing, with our MTU; initial: at start-up (logged). */
int wgdev_ensure(struct wgdev *d, bool initial);
/* Our addresses on it, up, and the route to each Network through it. */
int wgdev_configure_own(struct wgdev *d);
/* dev_heal's route and address hooks (arg: the struct wgdev). */
void wgdev_route_event(void *arg, const struct nlmsghdr *nlh);
void wgdev_addr_event(void *arg, const struct nlmsghdr *nlh);
char *wgpeer_endpoint_format(const struct wgpeer *p, uint16_t port, char *buf, size_t len);

#endif
