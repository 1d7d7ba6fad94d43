/* SPDX-License-Identifier: Apache-2.0 */
/* External interface and public IP selection. */
#ifndef FLANNELD_IFACE_H
#define FLANNELD_IFACE_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

struct options;

struct iface {
	char name[IF_NAMESIZE];
	int index;
	uint32_t addr; /* interface address, host byte order */
	unsigned mtu;
};

/*
 * Pick the external interface from --iface / --public-ip / the default route
 * as upstream does, and the public IP (host byte order) that goes into our
 * lease. On failure returns a negative errno with a message in err.
 */
int iface_select(const struct options *o, struct iface *ret, uint32_t *ret_public_ip, char *err,
		 size_t errlen);

#endif
