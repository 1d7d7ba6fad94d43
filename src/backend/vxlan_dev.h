/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A vxlan device of either family (flannel.<VNI> over the external IPv4
 * address, flannel-v6.<VNI> over its IPv6 one): an existing compatible
 * device is kept, anything else is (re)created, as upstream decides; and
 * our own address on it.
 */
#ifndef FLANNELD_VXLAN_DEV_H
#define FLANNELD_VXLAN_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/kaddr.h"
#include "netlink/nl.h"

struct iface;

/* Why an existing device cannot be reused (upstream's comparison list), or NULL. */
const char *vxlan_dev_incompatible(const struct nl_link *cur, const struct nl_vxlan *want);
/* want->mac: mac (what our lease publishes) or, all zero, a new random one. */
int vxlan_dev_pick_mac(struct nl_vxlan *want, const uint8_t mac[6]);
/* The underlay deleted and added again under a new index: ext's index updated (logged). */
bool vxlan_dev_ext_moved(struct nl *nl, struct iface *ext);
/*
 * The device want describes, reused or (re)created, in *cur (with a MAC);
 * *created tells which. initial: at start-up (the outcome logged).
 * 0 or -errno (logged).
 */
int vxlan_dev_get(struct nl *nl, const struct nl_vxlan *want, bool initial, struct nl_link *cur,
		  bool *created);
/* The device's MTU from cur to mtu when they differ. */
int vxlan_dev_set_mtu(struct nl *nl, const char *dev, int ifindex, unsigned cur, unsigned mtu);

#endif
