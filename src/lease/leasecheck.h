/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What another host's lease may claim. Keys and subnets in etcd are
 * written by anyone with access to it: these checks decide, before any
 * backend sees a lease, whether it is a subnet of our network that we may
 * route to. Pure logic, no I/O.
 */
#ifndef FLANNELD_LEASECHECK_H
#define FLANNELD_LEASECHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "lease/subnet.h"

/*
 * A key as flannel writes it: dir ("<prefix>/subnets"), '/', then
 * MakeSubnetKey's text for the subnet it parses to ("10.5.71.0-24",
 * "10.5.71.0-24&fc00:0:0:29::-64", "0.0.0.0-0&fc00:0:0:29::-64"), nothing
 * else: no NUL or control byte, no second spelling of one subnet. Returns 0
 * with *ret, or -EINVAL with the reason in why.
 */
int lease_key_check(const char *key, size_t len, const char *dir, size_t dir_len,
		    struct subnet_key *ret, char *why, size_t whylen);
/*
 * A lease's subnets against the network, each family on its own: a part
 * that is present (an IPv6-only lease's IPv4 part is 0.0.0.0/0, absent)
 * must be of an enabled family, have the network's SubnetLen (or
 * IPv6SubnetLen), no host bits, and lie inside Network (or IPv6Network);
 * at least one part must be present. Then, if own is given, neither part
 * may overlap our own subnet of that family. 0, or -EINVAL with why.
 */
int lease_subnet_check(const struct netconf *conf, const struct subnet_key *k,
		       const struct subnet_key *own, char *why, size_t whylen);

#endif
