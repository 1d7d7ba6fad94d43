/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz address and CIDR text; what parses must print canonically and parse back equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char buf[IP_STRLEN], buf2[IP_STRLEN];
	struct ip6net n6, m6;
	struct ip4net n4, m4;
	struct ip6 a6, b6;
	uint32_t a4, b4;

	if (ip4_parsen(s, size, &a4) == 0 &&
	    (ip4_parsen(ip4_format(a4, buf), strlen(buf), &b4) < 0 || a4 != b4))
		abort();
	if (ip6_parsen(s, size, &a6) == 0) {
		ip6_format(&a6, buf);
		if (ip6_parsen(buf, strlen(buf), &b6) < 0 || !ip6_equal(&a6, &b6))
			abort();
		/* canonical: printing the parsed text again gives the same text */
		if (strcmp(ip6_format(&b6, buf2), buf))
			abort();
	}
	if (ip4net_parsen(s, size, &n4) == 0) {
		ip4net_format(&n4, buf);
		if (ip4net_parsen(buf, strlen(buf), &m4) < 0 || m4.addr != n4.addr ||
		    m4.len != n4.len)
			abort();
	}
	if (ip6net_parsen(s, size, &n6) == 0) {
		ip6net_format(&n6, buf);
		if (ip6net_parsen(buf, strlen(buf), &m6) < 0 || !ip6_equal(&m6.addr, &n6.addr) ||
		    m6.len != n6.len)
			abort();
	}
	ip_parse_go(s, size, &a6);
	return 0;
}
