/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the point-to-point tunnel backends (ipip, wireguard) share about
 * their device: exactly one address inside Network, <subnet>.0/32, and
 * the link up.
 */
#ifndef FLANNELD_TUNDEV_H
#define FLANNELD_TUNDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "ip.h"

struct nl;

/*
 * Give device ifindex (named dev in log lines) the address addr/32, remove
 * its other addresses inside network, set it up. 0 or -errno (logged);
 * *changed tells whether anything was written.
 */
int tundev_configure(struct nl *nl, int ifindex, const char *dev, const struct ip4net *network,
		     uint32_t addr, bool *changed);

#endif
