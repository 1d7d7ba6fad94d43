/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the etcd gateway's unary answers: the first byte picks the call, the rest is the body. */
#include <stdint.h>

#include "etcd.h"
#include "etcd_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_json_reply r;

	if (size < 1)
		return 0;
	if (data[0] == 0xff) {
		if (etcd_json_parse_error((const char *)data + 1, size - 1, &r) == 0)
			etcd_json_reply_free(&r);
		return 0;
	}
	if (etcd_json_parse_reply((enum etcd_json_kind)(data[0] % (ETCD_JSON_AUTH + 1)),
				  (const char *)data + 1, size - 1, &r) == 0) {
		/* Every kv handed out points at memory we may read. */
		for (size_t i = 0; i < r.reply.n_kvs; i++) {
			volatile char c;

			if (r.reply.kvs[i].key_len)
				c = r.reply.kvs[i].key[r.reply.kvs[i].key_len - 1];
			if (r.reply.kvs[i].value_len)
				c = r.reply.kvs[i].value[r.reply.kvs[i].value_len - 1];
			(void)c;
		}
		etcd_json_reply_free(&r);
	}
	return 0;
}
