/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the network config (<prefix>/config from etcd) and the subnet walk over what it allows. */
#include <stddef.h>
#include <stdint.h>

#include "lease/alloc_choice.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netconf c;
	struct ip4net out4[8], taken4[2];
	struct ip6net out6[8];
	char err[256];

	if (netconf_parse((const char *)data, size, &c, err, sizeof(err)) < 0)
		return 0;
	/* Whatever a valid config says, the walk stays inside it and terminates. */
	taken4[0] = (struct ip4net){ c.subnet_min, (uint8_t)c.subnet_len };
	taken4[1] = c.network;
	alloc_free_ip4(&c, taken4, 1, out4, 8);
	alloc_free_ip4(&c, taken4 + 1, 1, out4, 8);
	alloc_free_ip6(&c, NULL, 0, out6, 8);
	netconf_free(&c);
	return 0;
}
