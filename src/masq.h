/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --ip-masq and --iptables-forward-rules: upstream's rules, through
 * iptables-restore or (EnableNFTables) libnftables, checked every
 * --iptables-resync seconds and put back when someone removed or changed
 * them. Only our chains (nftables: our table) and the jumps into them are
 * ever touched; the rules stay when flanneld exits, as upstream's do.
 */
#ifndef FLANNELD_MASQ_H
#define FLANNELD_MASQ_H

#include <stdbool.h>
#include <stddef.h>

#include "ip.h"

struct loop;
struct masq;

struct masq_config {
	bool masq;	   /* --ip-masq */
	bool forward;	   /* --iptables-forward-rules */
	bool nftables;	   /* the network config's EnableNFTables */
	bool random_fully; /* not --ip-masq-fully-random-disable */
	unsigned resync_s; /* --iptables-resync */
	const char *etcd_prefix;
	bool default_prefix;
};

int masq_new(struct loop *loop, const struct masq_config *c, struct masq **ret);
/* The network and our subnet in each family the network has. */
struct masq_nets {
	bool v4;
	struct ip4net network, subnet;
	bool v6;
	struct ip6net network6, subnet6;
};

/*
 * Put the rules for the networks and our subnets in place now (again after
 * a new subnet), then keep them there. A negative errno with err filled
 * when that failed; the resync keeps trying anyway.
 */
int masq_apply(struct masq *m, const struct masq_nets *n, char *err, size_t errlen);
void masq_free(struct masq *m);

#endif
