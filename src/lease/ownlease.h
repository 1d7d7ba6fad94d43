/* SPDX-License-Identifier: Apache-2.0 */
/* Our own subnet lease: acquire (reuse, previous, random), renew, re-acquire. */
#ifndef FLANNELD_OWNLEASE_H
#define FLANNELD_OWNLEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "ip.h"

struct etcd;
struct lease;
struct lease_attrs;
struct leasewatch;
struct loop;
struct netconf;
struct ownlease;

struct ownlease_ops {
	/* The lease is held (first time, or again after it was lost). */
	void (*acquired)(void *arg, const struct lease *own);
	/* Acquisition cannot succeed (out of subnets): the daemon exits. */
	void (*failed)(void *arg, const char *msg);
};

struct ownlease_params {
	const char *prefix;
	const struct netconf *conf;
	const struct lease_attrs *attrs; /* what we publish */
	bool has_prev_subnet;		 /* from the previous subnet.env */
	struct ip4net prev_subnet;
	bool has_prev_ipv6_subnet; /* FLANNEL_IPV6_SUBNET */
	struct ip6net prev_ipv6_subnet;
	int64_t ttl_s;
	int64_t renew_margin_s;
};

int ownlease_new(struct loop *loop, struct etcd *etcd, struct leasewatch *watch,
		 const struct ownlease_params *p, const struct ownlease_ops *ops, void *arg,
		 struct ownlease **ret);
void ownlease_free(struct ownlease *o);
/* Optional, before the first listing: grant the etcd lease meanwhile. */
void ownlease_prepare(struct ownlease *o);
void ownlease_acquire(struct ownlease *o);
/* True for the key we hold or are acquiring: it is not a remote lease. */
bool ownlease_owns_key(const struct ownlease *o, const char *key);
/* Before our lease is chosen: l carries our PublicIP, so acquisition may take it. */
bool ownlease_may_own(const struct ownlease *o, const struct lease *l);
/* Watch events; they return true when the event was about our own lease
 * (false, for instance, when another host has just taken our key over). */
bool ownlease_key_changed(struct ownlease *o, const struct lease *l);
bool ownlease_key_deleted(struct ownlease *o, const struct lease *l);
bool ownlease_held(const struct ownlease *o);
/* The attributes we publish changed (a backend's new VTEP MAC): write them to our key. */
int ownlease_attrs_changed(struct ownlease *o);
/* Wall-clock expiry (unix seconds) of the etcd lease; 0 for a reservation. */
int64_t ownlease_expiry(const struct ownlease *o);
uint64_t ownlease_acquisitions(const struct ownlease *o);

#endif
