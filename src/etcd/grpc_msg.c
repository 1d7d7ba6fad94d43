/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC message framing and trailer text: pure functions, fed from the transport. */
#include "etcd/grpc_msg.h"
#include "textutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A buffer this large after a big message is given back once it is drained. */
#define READER_KEEP (64 * 1024)

void grpc_msg_prefix(uint8_t out[GRPC_PREFIX_LEN], size_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

void grpc_reader_init(struct grpc_reader *r, size_t max_msg)
{
	memset(r, 0, sizeof(*r));
	r->max_msg = max_msg;
}

int grpc_reader_append(struct grpc_reader *r, const void *data, size_t n)
{
	if (!n)
		return 0;
	if (r->start && r->len + n > r->cap) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->start = 0;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		uint8_t *p;

		while (cap < r->len + n)
			cap *= 2;
		p = realloc(r->buf, cap);
		if (!p)
			return -ENOMEM;
		r->buf = p;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

int grpc_reader_next(struct grpc_reader *r, const uint8_t **msg, size_t *len)
{
	size_t have = r->len - r->start;
	const uint8_t *p = r->buf + r->start;
	uint32_t n;

	if (have < GRPC_PREFIX_LEN) {
		if (!have && r->cap > READER_KEEP) {
			/* A big message came and went: do not keep its buffer forever. */
			free(r->buf);
			r->buf = NULL;
			r->start = r->len = r->cap = 0;
		}
		return 0;
	}
	if (p[0] & 1)
		return -EPROTO;
	n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (n > r->max_msg)
		return -EMSGSIZE;
	if (have - GRPC_PREFIX_LEN < n)
		return 0;
	*msg = p + GRPC_PREFIX_LEN;
	*len = n;
	r->start += GRPC_PREFIX_LEN + n;
	if (r->start == r->len)
		r->start = r->len =
			0; /* the message stays valid: nothing overwrites it before append */
	return 1;
}

size_t grpc_reader_pending(const struct grpc_reader *r)
{
	return r->len - r->start;
}

void grpc_reader_free(struct grpc_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

size_t grpc_percent_decode(const char *in, size_t n, char *out, size_t size)
{
	size_t o = 0;

	if (!size)
		return 0;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];
		int hi, lo;

		if (c == '%' && i + 2 < n && (hi = text_hex_digit(in[i + 1])) >= 0 &&
		    (lo = text_hex_digit(in[i + 2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[o] = '\0';
	return o;
}

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *grpc_status_name(int code)
{
	if (code < 0 || code >= (int)(sizeof(status_names) / sizeof(status_names[0])))
		return "UNKNOWN_STATUS";
	return status_names[code];
}

int grpc_status_parse(const char *s, size_t n, int *ret)
{
	int v = 0;

	if (n < 1 || n > 3)
		return -EPROTO;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}
