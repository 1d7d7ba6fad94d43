/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what other hosts write under subnets/: the key (input up to the
 * first newline) and the value (the rest), as every backend reads them.
 * Whatever parses must format and parse back to the same thing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vxlan_conf.h"
#include "lease/subnet.h"

/* A PublicIPv6 whose value fits in 32 bits but not in 24 (Go prints it as IPv4). */
static bool v4_sized_ipv6(const struct lease_attrs *a)
{
	const uint8_t *b = a->public_ipv6.b;
	static const uint8_t zero[12];

	return a->has_public_ipv6 && memcmp(b, zero, 12) == 0 && b[12] != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl = memchr(s, '\n', size);
	size_t klen = nl ? (size_t)(nl - s) : size;
	const char *val = nl ? nl + 1 : s;
	size_t vlen = nl ? size - klen - 1 : size;
	struct subnet_key k, k2;
	struct lease_attrs a, a2;
	struct vxlan_conf vc;
	uint8_t mac[6];
	char buf[128], err[256];

	if (subnet_key_parse(s, klen, &k) == 0) {
		int n = subnet_key_format(&k, buf, sizeof(buf));

		/*
		 * Host bits are kept by the parser, so the text names the same
		 * block. Except as upstream: its IP6.String() prints a v6 part
		 * in [::100:0, ::ffff:ffff] as a dotted quad, which no key
		 * parser (upstream's regex, ours) reads back.
		 */
		if (n < 0)
			abort();
		if (!strchr(strchr(buf, '&') ? strchr(buf, '&') : "", '.') &&
		    (subnet_key_parse(buf, (size_t)n, &k2) < 0 || k2.v4.addr != k.v4.addr ||
		     k2.v4.len != k.v4.len))
			abort();
	}
	if (lease_attrs_parse(val, vlen, &a, err, sizeof(err)) == 0) {
		char *text = lease_attrs_format(&a);

		if (!text || lease_attrs_parse(text, strlen(text), &a2, err, sizeof(err)) < 0)
			abort();
		/*
		 * Except as upstream again: a PublicIPv6 in [::100:0, ::ffff:ffff]
		 * is written as a dotted quad and read back as ::ffff:a.b.c.d.
		 * The text must then be stable from the first round on.
		 */
		if (!lease_attrs_equal(&a, &a2)) {
			char *again = lease_attrs_format(&a2);

			if (!again || !v4_sized_ipv6(&a) || strcmp(text, again) != 0)
				abort();
			free(again);
		}
		free(text);
		lease_attrs_free(&a2);
		lease_attrs_free(&a);
	}
	vxlan_lease_data_parse(val, vlen, mac, err, sizeof(err));
	vxlan_conf_parse(val, vlen, &vc, err, sizeof(err));
	return 0;
}
