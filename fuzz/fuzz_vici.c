/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what the ipsec backend reads: a VICI reply from charon (parsed, then
 * walked, its result and values read) and the Backend options.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ipsec_conf.h"
#include "backend/vici_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_item(const char *value, size_t len, void *arg)
{
	(void)value;
	*(size_t *)arg += len + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vici_packet pkt;
	struct ipsec_conf c;
	char err[256], v[64];

	if (vici_parse(data, size, &pkt) == 0) {
		struct vici_iter it;
		struct vici_el el;
		size_t n = 0;

		vici_iter_init(&it, &pkt);
		while (vici_next(&it, &el))
			if (++n > size)
				abort(); /* every element takes a byte at least */
		vici_result(&pkt, err, sizeof(err));
		vici_get(&pkt, "success", v, sizeof(v));
		n = 0;
		vici_each_item(&pkt, "conns", count_item, &n);
		if (n > size)
			abort(); /* every item lies inside the packet */
	}
	ipsec_conf_parse((const char *)data, size, &c, err, sizeof(err));
	return 0;
}
