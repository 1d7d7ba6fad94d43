/* SPDX-License-Identifier: Apache-2.0 */
/* subnet.env: read the previous one (dotenv style) and write atomically. */
#ifndef FLANNELD_SUBNETENV_H
#define FLANNELD_SUBNETENV_H

#include <stdbool.h>
#include <stddef.h>

#include "ip.h"

struct subnetenv {
	bool has_network, has_subnet, has_ipv6_network, has_ipv6_subnet, has_mtu, has_ipmasq;
	struct ip4net network, subnet; /* subnet: host bits masked */
	struct ip6net ipv6_network, ipv6_subnet;
	unsigned mtu;
	bool ipmasq;
};

/*
 * Read path. A missing file returns -ENOENT. Unparseable lines or values are
 * skipped (each reported through warn, if not NULL), never fatal; the has_*
 * flags say what was found.
 */
int subnetenv_read(const char *path, struct subnetenv *ret,
		   void (*warn)(void *arg, const char *msg), void *arg);
/* The read path on text in memory (truncated: the last line may be cut, skip it). */
void subnetenv_parse(const char *buf, size_t len, bool truncated, struct subnetenv *ret,
		     void (*warn)(void *arg, const char *msg), void *arg);
/* Format upstream's exact text (§6 order) into buf; returns length or -ENOSPC. */
int subnetenv_format(const struct subnetenv *env, char *buf, size_t size);
/* Write atomically: mkdir -p parent (0755), temp file, fsync, rename; mode 0644. */
int subnetenv_write(const char *path, const struct subnetenv *env);

#endif
