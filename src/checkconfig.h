/* SPDX-License-Identifier: Apache-2.0 */
/* --check-config: read the network config from etcd, check it as the daemon would, print it. */
#ifndef FLANNELD_CHECKCONFIG_H
#define FLANNELD_CHECKCONFIG_H

struct options;

/* Exit status for a valid config; 1 when missing or invalid; 2 when etcd cannot be read. */
#define CHECK_OK	 0
#define CHECK_INVALID	 1
#define CHECK_ETCD_ERROR 2

/*
 * Read <prefix>/config (waiting at most a few seconds for etcd), parse and
 * validate it with the daemon's code, pick the interface as the daemon
 * does and print the effective values to stdout; problems go to stderr.
 * Acquires no lease and changes nothing in the kernel. Returns the exit status.
 */
int checkconfig_run(const struct options *opts);

#endif
