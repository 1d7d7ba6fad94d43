/* SPDX-License-Identifier: Apache-2.0 */
/* etcd endpoint URLs, as --etcd-endpoints gives them. */
#ifndef FLANNELD_HTTP_URL_H
#define FLANNELD_HTTP_URL_H

#include <stdbool.h>

/* An endpoint, "http://host[:port][/prefix]" or "https://…"; host may be "[v6]". */
struct http_url {
	bool tls;
	char host[256]; /* without brackets */
	char port[6];	/* default 80 or 443 */
	char path[256]; /* prefix without trailing '/', "" for none */
};

/* 0, or -EINVAL with *error set to a static text. */
int http_url_parse(const char *url, struct http_url *ret, const char **error);

#endif
