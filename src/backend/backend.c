/* SPDX-License-Identifier: Apache-2.0 */
/* Backend registry: Backend.Type → ops. */
#include "backend/backend.h"

#include <stddef.h>
#include <strings.h>

static const struct backend_ops *const backends[] = {
	&backend_alloc_ops, &backend_hostgw_ops,    &backend_vxlan_ops,	    &backend_udp_ops,
	&backend_ipip_ops,  &backend_wireguard_ops, &backend_extension_ops, &backend_ipsec_ops,
};

/* Upstream's other types; they land in later changes. */
static const char *const missing[] = { "tencent-vpc", "gce", "aws-vpc", "ali-vpc" };

const struct backend_ops *backend_find(const char *type)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcasecmp(backends[i]->name, type) == 0)
			return backends[i];
	return NULL;
}

bool backend_known_but_missing(const char *type)
{
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
		if (strcasecmp(missing[i], type) == 0)
			return true;
	return false;
}
