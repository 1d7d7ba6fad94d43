/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC message reassembly (grpc_msg.c) fed a response body cut at random
 * points, as DATA frames cut it. Every whole message that comes out must be
 * exactly what the framing says, and the reader must never hand out more
 * than it was given. Also the grpc-message and grpc-status decoders.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/grpc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct grpc_reader rd;
	char text[64];
	uint32_t rng;
	size_t off = 2, given = 0, taken = 0;
	int status;

	if (size < 2)
		return 0;
	grpc_percent_decode((const char *)data, size, text, sizeof(text));
	if (grpc_status_parse((const char *)data, size < 4 ? size : 4, &status) == 0)
		(void)grpc_status_name(status);
	rng = (uint32_t)data[0] << 8 | data[1] | 1u;
	/* A small cap, so that it is hit too. */
	grpc_reader_init(&rd, 1 + data[0] * 8u);
	while (off < size) {
		const uint8_t *msg;
		size_t n, len;
		int r;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		n = 1 + rng % 97;
		if (n > size - off)
			n = size - off;
		if (grpc_reader_append(&rd, data + off, n) < 0)
			abort();
		given += n;
		off += n;
		while ((r = grpc_reader_next(&rd, &msg, &len)) == 1) {
			/* The message is the input bytes right after its prefix. */
			if (memcmp(msg, data + 2 + taken + GRPC_PREFIX_LEN, len) != 0)
				abort();
			taken += GRPC_PREFIX_LEN + len;
		}
		if (taken > given || grpc_reader_pending(&rd) != given - taken)
			abort();
		if (r < 0)
			break; /* the transport ends the call here */
	}
	grpc_reader_free(&rd);
	return 0;
}
