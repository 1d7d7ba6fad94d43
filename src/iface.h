/* SPDX-License-Identifier: Apache-2.0 */
/* External interface and public IP selection. */
#ifndef FLANNELD_IFACE_H
#define FLANNELD_IFACE_H

#include <net/if.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "ip.h"

struct options;

struct iface {
	char name[IF_NAMESIZE];
	int index;
	uint32_t addr; /* interface address, host byte order */
	unsigned mtu;
	bool has_addr6;	  /* IPv6 networks: the interface's IPv6 address */
	struct ip6 addr6; /* (global before link-local, as for IPv4) */
};

/*
 * Pick the external interface as upstream does (each --iface, each
 * --iface-regex, --iface-can-reach; with none of them the interface holding
 * --public-ip, else the default route's) and the public IP (host byte
 * order) that goes into our lease. Logs upstream's lines and one summary.
 * On failure returns a negative errno with a message in err that lists
 * every attempt and why it failed.
 */
int iface_select(const struct options *o, struct iface *ret, uint32_t *ret_public_ip, char *err,
		 size_t errlen);

/*
 * The first global unicast IPv6 address of the interface (Go's
 * IsGlobalUnicast: ULAs count, link-local, loopback and multicast do not):
 * permanent before non-permanent, non-temporary before temporary, else
 * the kernel's order. 0, or -EADDRNOTAVAIL when it has none.
 */
int iface_ipv6_addr(const char *name, struct ip6 *ret);

#endif
