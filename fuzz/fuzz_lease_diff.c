/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-pass lease value decoder against the two-pass one it replaced
 * (jansson, then a member walk; tests/unit/lease_ref.c): the same verdict,
 * the same attributes, byte-equal BackendData, and the same text for every
 * error that is not a syntax error. Input: one lease value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/lease_ref.h"
#include "subnet.h"

static bool same_raw(const char *x, const char *y)
{
	if (!x || !y)
		return x == y;
	return strcmp(x, y) == 0;
}

static bool syntax_error(const char *err)
{
	return strncmp(err, "invalid JSON", 12) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data;
	struct lease_attrs a, b, c;
	char ea[256] = "", eb[256] = "", ec[256];
	int ra = lease_attrs_parse_ref(v, size, &a, ea, sizeof(ea));
	int rb = lease_attrs_parse(v, size, &b, eb, sizeof(eb));

	if (ra != rb) {
		fprintf(stderr, "verdicts differ: old %d \"%s\", new %d \"%s\"\n", ra, ea, rb, eb);
		abort();
	}
	if (ra < 0) {
		if (syntax_error(ea) != syntax_error(eb) ||
		    (!syntax_error(ea) && strcmp(ea, eb) != 0)) {
			fprintf(stderr, "errors differ: old \"%s\", new \"%s\"\n", ea, eb);
			abort();
		}
		return 0;
	}
	if (!lease_attrs_equal(&a, &b) || !same_raw(a.backend_data, b.backend_data) ||
	    !same_raw(a.backend_v6_data, b.backend_v6_data))
		abort();
	if (lease_attrs_parse_for(v, size, "vxlan", &c, ec, sizeof(ec)) < 0)
		abort();
	if (strcmp(b.backend_type, "vxlan") == 0 ? !lease_attrs_equal(&b, &c)
						 : (c.backend_data || c.backend_v6_data))
		abort();
	lease_attrs_free(&a);
	lease_attrs_free(&b);
	lease_attrs_free(&c);
	return 0;
}
