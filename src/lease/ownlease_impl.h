/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the own lease, shared by ownlease.c (claiming, renewing,
 * publishing and losing the lease) and ownlease_choose.c (which key to
 * claim). Nothing else includes it.
 */
#ifndef FLANNELD_OWNLEASE_IMPL_H
#define FLANNELD_OWNLEASE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip.h"
#include "lease/lease.h"
#include "lease/ownlease.h"
#include "loop.h"

struct etcd_reply;

#define RETRY_MS       1000
#define RENEW_RETRY_MS 10000
#define MAX_ATTEMPTS   100

enum state { ST_IDLE, ST_BUSY, ST_HELD, ST_FAILED };

struct ownlease {
	struct loop *loop;
	struct etcd *etcd;
	struct leasewatch *watch;
	const struct ownlease_ops *ops;
	void *arg;

	char *prefix;
	const struct netconf *conf;
	uint32_t public_ip;
	bool has_public_ipv6;
	struct ip6 public_ipv6;
	const struct lease_attrs *attrs;
	char *value; /* our lease value as JSON */
	size_t value_len;
	int64_t ttl_s, renew_margin_s;

	enum state state;
	unsigned attempts;
	bool has_pref;
	struct ip4net pref;
	bool has_pref6; /* the previous subnet.env's FLANNEL_IPV6_SUBNET */
	struct ip6net pref6;
	int64_t granted; /* granted for a create, not yet attached; 0: none */
	bool granting;	 /* a grant is in flight */
	bool create_waits_grant;
	int64_t granted_ttl;
	uint64_t granted_at; /* loop_now_ms() of that grant */

	/* The key being worked on. */
	char target_key[512];
	struct subnet_key target;
	int64_t target_lease, target_create_rev;
	int64_t target_ttl; /* remaining TTL of target_lease at target_at */
	uint64_t target_at;
	const char *how; /* log wording for the way it was found */

	/* Held lease. */
	struct lease own;
	int64_t expiry_wall;
	int64_t renewing;
	uint64_t acquisitions;
	bool publish_pending; /* the held key does not carry our current value yet */

	struct loop_timer retry_timer, renew_timer, publish_timer;
};

/* ownlease.c */
bool ownlease_compatible(const struct ownlease *o, const struct subnet_key *k);
char *ownlease_describe(const struct subnet_key *k, char *buf, size_t size);
bool ownlease_is_ours(const struct ownlease *o, const struct lease_attrs *a);
void ownlease_retry_later(struct ownlease *o, const char *what, const struct etcd_reply *r);
void ownlease_create(struct ownlease *o, const struct subnet_key *k, const char *how);
void ownlease_reuse(struct ownlease *o, const struct lease *l);
void ownlease_delete_incompatible(struct ownlease *o, const struct lease *l);
void ownlease_lost(struct ownlease *o, const char *why, bool prefer_same);

/* ownlease_choose.c */
void ownlease_choose(struct ownlease *o);

#endif
