/* SPDX-License-Identifier: Apache-2.0 */
/* Network config (<prefix>/config): parse, default and validate as upstream. */
#ifndef FLANNELD_CONFIG_H
#define FLANNELD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ip.h"

struct netconf {
	bool enable_ipv4; /* default true */
	bool enable_ipv6;
	bool enable_nftables;

	struct ip4net network;
	unsigned subnet_len;
	uint32_t subnet_min, subnet_max; /* host byte order */

	struct ip6net ipv6_network;
	unsigned ipv6_subnet_len;
	struct ip6 ipv6_subnet_min, ipv6_subnet_max;

	/* Backend.Type exactly as written ("" when Backend is {}), "udp" when Backend is absent. */
	char backend_type[32];
	/* The whole Backend object as compact JSON ("{}" when absent); owned. */
	char *backend_json;
};

/*
 * Parse and check a config value. On failure returns -EINVAL and writes
 * upstream's message (for example "SubnetLen must be less than /31") to err.
 * *ret is written only on success; release it with netconf_free(). A
 * Backend.Type longer than 31 bytes or containing a NUL is refused here
 * (Go would fail later with "unknown backend type").
 */
int netconf_parse(const char *json, size_t len, struct netconf *ret, char *err, size_t errlen);
void netconf_free(struct netconf *conf);

#endif
