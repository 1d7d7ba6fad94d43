/* SPDX-License-Identifier: Apache-2.0 */
/* alloc backend: holds a lease and programs nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "iface.h"
#include "lease/subnet.h"

struct backend {
	unsigned mtu;
};

static int alloc_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		      struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	/* Upstream's alloc leases carry no BackendType and no BackendData. */
	attrs->backend_type[0] = '\0';
	b->mtu = env->ext->mtu;
	*mtu = b->mtu;
	*ret = b;
	return 0;
}

static int alloc_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	*mtu = env->ext->mtu;
	snprintf(msg, msglen, "the MTU of %s", env->ext->name);
	return 0;
}

static int alloc_own_lease(struct backend *b, const struct lease *own)
{
	return 0;
}

static void alloc_lease_added(struct backend *b, const struct lease *l)
{
}

static void alloc_lease_removed(struct backend *b, const struct lease *l)
{
}

static void alloc_resync(struct backend *b, const struct lease *const *all, size_t n)
{
}

static void alloc_close(struct backend *b)
{
	free(b);
}

const struct backend_ops backend_alloc_ops = {
	.name = "alloc",
	BACKEND_OPS_COMMON(alloc),
	.ipv6 = true,
};
