/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz etcd's gRPC messages: the first byte picks the reply kind (or, past the
 * last kind, a watch message), the rest is one protobuf message.
 */
#include <stdint.h>

#include "etcd/etcd_pb.h"

/* Every pointer handed out points at memory we may read, up to its NUL. */
static void touch_kv(const struct etcd_kv *kv)
{
	volatile char c;

	c = kv->key[kv->key_len];
	c = kv->value[kv->value_len];
	if (kv->key_len)
		c = kv->key[0];
	if (kv->value_len)
		c = kv->value[0];
	(void)c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned kind;

	if (size < 1)
		return 0;
	kind = data[0] % (ETCD_PB_AUTH + 2);
	if (kind <= ETCD_PB_AUTH) {
		struct etcd_pb_reply r;

		if (etcd_pb_parse_reply((enum etcd_pb_kind)kind, data + 1, size - 1, &r) == 0) {
			for (size_t i = 0; i < r.reply.n_kvs; i++)
				touch_kv(&r.reply.kvs[i]);
			etcd_pb_reply_free(&r);
		}
	} else {
		struct etcd_watch_msg m;

		if (etcd_pb_parse_watch(data + 1, size - 1, &m) == 0) {
			for (size_t i = 0; i < m.n_events; i++)
				touch_kv(&m.events[i].kv);
			etcd_watch_msg_free(&m);
		}
	}
	return 0;
}
