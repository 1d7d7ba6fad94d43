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

/* r: 0 once the masquerade rules are in place, or a negative errno and what failed. */
typedef void (*masq_ready_cb)(void *arg, int r, const char *err);

/*
 * Put the rules for the networks and our subnets in place (again after a
 * new subnet), then keep them there; it all runs from the loop, around
 * iptables-save and iptables-restore. ready (NULL: none) is called once
 * the masquerade rules are in place, or failed to be, before the forward
 * rules are looked at; it may be called before masq_apply returns. The
 * forward rules follow without being waited for: a failure is logged and
 * the resync keeps trying (without iptables at all, forward-only: said once, no retry).
 */
void masq_apply(struct masq *m, const struct masq_nets *n, masq_ready_cb ready, void *arg);
void masq_free(struct masq *m);

#endif
