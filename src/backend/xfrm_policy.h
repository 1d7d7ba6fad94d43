/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The XFRM policies of the ipsec backend, as upstream installs them: for a
 * peer, out (our subnet -> its subnet) and in and fwd (its subnet -> ours),
 * each with one ESP tunnel-mode template between the two public addresses
 * and upstream's reqid, over NETLINK_XFRM. charon installs only the SAs.
 */
#ifndef FLANNELD_XFRM_POLICY_H
#define FLANNELD_XFRM_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "ip.h"

#define IPSEC_REQID 11

struct xfrm_pair {
	struct ip4net local, remote;  /* subnets */
	uint32_t local_ip, remote_ip; /* public addresses, host byte order */
};

/* Add or update all three; 0 or a negative errno (what failed in err). */
int xfrm_pair_install(const struct xfrm_pair *p, char *err, size_t errlen);
/* Delete all three; a policy already gone is no error. */
int xfrm_pair_remove(const struct xfrm_pair *p, char *err, size_t errlen);
/*
 * Every out policy with our reqid, an ESP tunnel template from local_ip
 * and a selector inside network: fn gets the pair it belongs to. 0 or a
 * negative errno.
 */
int xfrm_pair_dump(uint32_t local_ip, const struct ip4net *network,
		   void (*fn)(const struct xfrm_pair *p, void *arg), void *arg);

#endif
