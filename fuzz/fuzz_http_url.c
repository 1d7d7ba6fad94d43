/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz etcd endpoint URLs (--etcd-endpoints): a parsed URL always has a host and a port. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/http_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = strndup((const char *)data, size);
	struct http_url u;
	const char *why;

	if (url && http_url_parse(url, &u, &why) == 0 &&
	    (!u.host[0] || strlen(u.port) == 0 || strlen(u.port) > 5 ||
	     strlen(u.host) >= sizeof(u.host) || strlen(u.path) >= sizeof(u.path)))
		abort();
	free(url);
	return 0;
}
