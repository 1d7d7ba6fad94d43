/* SPDX-License-Identifier: Apache-2.0 */
/* Backend registry: Backend.Type → ops. */
#include "backend/backend.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>

#include "iface.h"

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

void backend_mtu_explain(const struct backend_env *env, unsigned conf_mtu, unsigned overhead,
			 const char *what, char *msg, size_t msglen)
{
	if (conf_mtu)
		snprintf(msg, msglen, "Backend.MTU %u minus %u for %s", conf_mtu, overhead, what);
	else
		snprintf(msg, msglen, "the MTU of %s (%u) minus %u for %s", env->ext->name,
			 env->ext->mtu, overhead, what);
}

int backend_mtu(const struct backend_env *env, unsigned conf_mtu, unsigned overhead,
		const char *what, unsigned *mtu, char *msg, size_t msglen)
{
	unsigned base = conf_mtu ? conf_mtu : env->ext->mtu;

	if (base < 68 + overhead) {
		snprintf(msg, msglen, "the MTU %u of %s is too small for %s", base,
			 conf_mtu ? "Backend.MTU" : env->ext->name, what);
		return -EINVAL;
	}
	*mtu = base - overhead;
	backend_mtu_explain(env, conf_mtu, overhead, what, msg, msglen);
	return 0;
}

int backend_no_address(const struct backend_env *env, bool v6, const char *what, char *msg,
		       size_t msglen)
{
	snprintf(msg, msglen, "the external interface %s has no IPv%c address for %s",
		 env->ext->name, v6 ? '6' : '4', what);
	return -EADDRNOTAVAIL;
}
