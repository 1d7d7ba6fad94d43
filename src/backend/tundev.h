/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the backends with a device of their own (vxlan, ipip, wireguard)
 * share about it: exactly one address of ours on it, <subnet>.0/32 for
 * IPv4 or /128 for IPv6, and the link up.
 */
#ifndef FLANNELD_TUNDEV_H
#define FLANNELD_TUNDEV_H

#include <stdbool.h>

#include "backend/kaddr.h"

struct nl;

/*
 * Give device ifindex (named dev in log lines) the address own/32 (IPv4)
 * or own/128 (IPv6), remove the other addresses of ours (IPv4 ones inside
 * network, others stay; every IPv6 one but link-local, as upstream), set
 * it up. 0 or -errno (logged); *changed (may be NULL) tells whether
 * anything was written.
 */
int tundev_configure(struct nl *nl, int ifindex, const char *dev, const struct kprefix *network,
		     const struct kaddr *own, bool *changed);

#endif
