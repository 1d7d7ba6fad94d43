/* SPDX-License-Identifier: Apache-2.0 */
/* Subnet lease keys ("10.5.71.0-24[&fc00::-64]") and lease values (JSON). No I/O. */
#ifndef FLANNELD_SUBNET_H
#define FLANNELD_SUBNET_H

#include <stdbool.h>
#include <stddef.h>

#include "ip.h"

struct subnet_key {
	struct ip4net v4; /* 0.0.0.0/0 for IPv6-only leases */
	bool has_v6;
	struct ip6net v6;
};

/*
 * Parse the last path element of a key as upstream's regex does
 * (unanchored at the start; IPv4 length 0..31; IPv6 length 0..127; lowercase v6).
 * Host bits are kept. Returns 0 or -EINVAL.
 */
int subnet_key_parse(const char *key, size_t len, struct subnet_key *ret);
/* "10.5.71.0-24" or "10.5.71.0-24&fc00:0:0:29::-64"; returns bytes written or -ENOSPC. */
int subnet_key_format(const struct subnet_key *k, char *buf, size_t size);

struct lease_attrs {
	uint32_t public_ip; /* host byte order; 0 = "0.0.0.0" */
	bool has_public_ipv6;
	struct ip6 public_ipv6;
	char backend_type[32];
	char *backend_data;    /* compact JSON or NULL; owned */
	char *backend_v6_data; /* compact JSON or NULL; owned */
};

/*
 * Parse a lease value the way Go does (case-insensitive names, unknown keys
 * ignored, PublicIP required and IPv4). Returns 0 or -EINVAL with a message in err.
 */
int lease_attrs_parse(const char *json, size_t len, struct lease_attrs *ret, char *err,
		      size_t errlen);
/* Upstream's exact compact form and field order; malloc'd string or NULL on ENOMEM. */
char *lease_attrs_format(const struct lease_attrs *a);
void lease_attrs_free(struct lease_attrs *a);
bool lease_attrs_equal(const struct lease_attrs *a, const struct lease_attrs *b);

#endif
