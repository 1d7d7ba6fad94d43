/* SPDX-License-Identifier: Apache-2.0 */
/* etcd endpoint URLs (--etcd-endpoints): scheme, host, port, path. No I/O. */
#include "etcd/http_url.h"
#include "textutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int url_fail(const char **error, const char *why)
{
	if (error)
		*error = why;
	return -EINVAL;
}

static bool is_host_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c == '-' || c == '.' || c == '_' || c == '~';
}

int http_url_parse(const char *url, struct http_url *ret, const char **error)
{
	struct http_url u = { 0 };
	const char *s = url, *host, *host_end, *port = NULL, *port_end = NULL, *path;
	size_t host_len, path_len;

	if (!strncasecmp(s, "http://", 7)) {
		s += 7;
	} else if (!strncasecmp(s, "https://", 8)) {
		u.tls = true;
		s += 8;
	} else {
		return url_fail(error, "unsupported scheme (want http:// or https://)");
	}
	path = s + strcspn(s, "/?#");
	if (memchr(s, '@', (size_t)(path - s)))
		return url_fail(error, "user information in URL not supported");
	if (*s == '[') {
		host = s + 1;
		host_end = memchr(host, ']', (size_t)(path - host));
		if (!host_end || host_end == host)
			return url_fail(error, "bad IPv6 address");
		for (const char *c = host; c < host_end; c++)
			if (text_hex_digit(*c) < 0 && *c != ':' && *c != '.')
				return url_fail(error, "bad IPv6 address");
		if (!memchr(host, ':', (size_t)(host_end - host)))
			return url_fail(error, "bad IPv6 address");
		s = host_end + 1;
		if (s < path && *s != ':')
			return url_fail(error, "bad host");
	} else {
		host = s;
		host_end = s + strcspn(s, ":/?#");
		if (host_end == host)
			return url_fail(error, "missing host");
		for (const char *c = host; c < host_end; c++)
			if (!is_host_char(*c))
				return url_fail(error, "bad host");
		if (host_end < path && memchr(host_end + 1, ':', (size_t)(path - host_end - 1)))
			return url_fail(error, "IPv6 address must be in brackets");
		s = host_end;
	}
	if (s < path) { /* ":port" */
		port = s + 1;
		port_end = path;
	}
	host_len = (size_t)(host_end - host);
	if (host_len >= sizeof(u.host))
		return url_fail(error, "host name too long");
	memcpy(u.host, host, host_len);

	if (port) {
		unsigned long v = 0;
		size_t n = (size_t)(port_end - port);

		if (!n || n > 5)
			return url_fail(error, "bad port");
		for (size_t i = 0; i < n; i++) {
			if (!is_digit(port[i]))
				return url_fail(error, "bad port");
			v = v * 10 + (unsigned long)(port[i] - '0');
		}
		if (v < 1 || v > 65535)
			return url_fail(error, "bad port");
		snprintf(u.port, sizeof(u.port), "%lu", v);
	} else {
		strcpy(u.port, u.tls ? "443" : "80");
	}

	if (strpbrk(path, "?#"))
		return url_fail(error, "query or fragment in URL not supported");
	path_len = strlen(path);
	while (path_len && path[path_len - 1] == '/')
		path_len--;
	/* The prefix goes into request lines verbatim: no spaces or control bytes. */
	for (size_t i = 0; i < path_len; i++)
		if ((unsigned char)path[i] <= ' ' || (unsigned char)path[i] >= 0x7f)
			return url_fail(error, "bad path");
	if (path_len >= sizeof(u.path))
		return url_fail(error, "path too long");
	memcpy(u.path, path, path_len);
	*ret = u;
	return 0;
}
