/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the watch stream: bytes split at arbitrary boundaries (the first
 * two input bytes seed the split sizes) go through the line splitter, and
 * every line through the watch message parser.
 */
#include <stdbool.h>
#include <stdint.h>

#include "etcd.h"
#include "etcd_json.h"

static void drain(struct etcd_linebuf *lb, bool final)
{
	const char *line;
	size_t n;

	while (etcd_linebuf_next(lb, final, &line, &n) > 0) {
		struct etcd_watch_msg m;

		if (etcd_json_parse_watch(line, n, &m) == 0)
			etcd_watch_msg_free(&m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_linebuf lb;
	uint32_t rng;
	size_t off = 2;

	if (size < 2)
		return 0;
	rng = (uint32_t)data[0] << 8 | data[1] | 1u;
	/* A small line limit, so that the limit is hit too. */
	etcd_linebuf_init(&lb, 2048);
	while (off < size) {
		size_t n;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		n = 1 + rng % 97;
		if (n > size - off)
			n = size - off;
		if (etcd_linebuf_append(&lb, data + off, n) < 0) {
			etcd_linebuf_reset(&lb);
		} else {
			drain(&lb, false);
		}
		off += n;
	}
	drain(&lb, true);
	etcd_linebuf_free(&lb);
	return 0;
}
