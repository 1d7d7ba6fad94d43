/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subnet lease keys ("10.5.71.0-24[&fc00::-64]") and lease values (JSON;
 * decoded in leasevalue.c). No I/O.
 */
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
 * Host bits are kept. Returns 0 or -EINVAL. key need not be NUL-terminated.
 */
int subnet_key_parse(const char *key, size_t len, struct subnet_key *ret);
/*
 * "10.5.71.0-24" or "10.5.71.0-24&fc00:0:0:29::-64" (the v6 part is left
 * out when has_v6 is false or it is ::/0, as MakeSubnetKey does); returns
 * the length written (without the NUL) or -ENOSPC.
 */
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
 * Parse a lease value the way Go does (case-insensitive names, last
 * duplicate wins, unknown keys ignored, strict types). PublicIP must be
 * present and IPv4 (Go would read a missing one as 0.0.0.0); an
 * IPv4-mapped form is accepted as Go's To4() does. BackendData and
 * BackendV6Data are kept compacted, JSON null as "null". A BackendType
 * over 31 bytes or with a NUL is refused. Returns 0 or -EINVAL with a
 * message in err; *ret is written only on success and must later go to
 * lease_attrs_free().
 */
int lease_attrs_parse(const char *json, size_t len, struct lease_attrs *ret, char *err,
		      size_t errlen);
/*
 * The same, keeping BackendData and BackendV6Data only when BackendType
 * is backend_type (NULL: never); otherwise they are only checked, not
 * copied. What the watch uses: other backends' data is never looked at.
 */
int lease_attrs_parse_for(const char *json, size_t len, const char *backend_type,
			  struct lease_attrs *ret, char *err, size_t errlen);
/*
 * Upstream's exact compact form and field order (json.Marshal, so <, > and
 * & in strings are \u-escaped); malloc'd string, or NULL with errno ENOMEM,
 * or EINVAL when backend_data/backend_v6_data is not valid JSON.
 */
char *lease_attrs_format(const struct lease_attrs *a);
void lease_attrs_free(struct lease_attrs *a);
bool lease_attrs_equal(const struct lease_attrs *a, const struct lease_attrs *b);

#endif
