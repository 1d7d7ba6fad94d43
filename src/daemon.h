/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon: start-up order and the wiring between etcd, leases and backend. */
#ifndef FLANNELD_DAEMON_H
#define FLANNELD_DAEMON_H

#include <stdint.h>

struct daemon;
struct loop;
struct options;
struct iface;
struct etcd_opts;

/* Start the daemon on loop (asynchronous); negative errno on a setup error. */
int daemon_start(struct loop *loop, const struct options *opts, const struct iface *ext,
		 uint32_t public_ip, struct daemon **ret);
/* Exit status to use once the loop has stopped (0 unless a fatal error). */
int daemon_exit_code(const struct daemon *d);
void daemon_free(struct daemon *d);

/* The etcd client options the flags ask for (pointers borrowed from opts). */
void daemon_etcd_opts(const struct options *opts, struct etcd_opts *ret);

/* Go's path.Clean of prefix, with "/" and "" both meaning the root. */
char *daemon_clean_prefix(const char *prefix);

#endif
