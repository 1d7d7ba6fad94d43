/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure gRPC framing: the 5-byte message prefix (a compressed flag and a
 * big-endian length), reassembly of messages from DATA frames cut anywhere,
 * and the text of a grpc-message trailer. No I/O.
 */
#ifndef FLANNELD_GRPC_MSG_H
#define FLANNELD_GRPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX_LEN 5

/* Writes the prefix for a message of len bytes (uncompressed). */
void grpc_msg_prefix(uint8_t out[GRPC_PREFIX_LEN], size_t len);

/* Collects a stream's bytes and hands out whole messages. */
struct grpc_reader {
	uint8_t *buf;
	size_t start, len, cap; /* unconsumed bytes are buf[start, len) */
	size_t max_msg;		/* longest message accepted */
};

void grpc_reader_init(struct grpc_reader *r, size_t max_msg);
/* 0, or -ENOMEM. */
int grpc_reader_append(struct grpc_reader *r, const void *data, size_t n);
/*
 * The next whole message: 1 with *msg and *len set (valid until the next
 * append or free), 0 if none is complete yet, -EMSGSIZE when the next one
 * announces more than max_msg bytes, -EPROTO for a compressed one (we never
 * offer compression).
 */
int grpc_reader_next(struct grpc_reader *r, const uint8_t **msg, size_t *len);
/* Bytes of an unfinished message (a stream that ends with some is truncated). */
size_t grpc_reader_pending(const struct grpc_reader *r);
void grpc_reader_free(struct grpc_reader *r);

/*
 * Decode a percent-encoded grpc-message value into out (NUL-terminated,
 * truncated to size - 1). Control bytes become '?', so the text is safe
 * for one log line. Returns the decoded length.
 */
size_t grpc_percent_decode(const char *in, size_t n, char *out, size_t size);
/* "OK", "UNAVAILABLE", ... or "UNKNOWN_STATUS" for a code outside 0..16. */
const char *grpc_status_name(int code);
/* A grpc-status header value (1 to 3 digits) in *ret and 0, or -EPROTO for anything else. */
int grpc_status_parse(const char *s, size_t n, int *ret);

#endif
