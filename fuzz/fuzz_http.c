/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the HTTP response parser and endpoint URLs. A response is parsed
 * whole and again split at boundaries the first input byte seeds: both
 * must give the same body, status, outcome and error text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

struct outcome {
	enum http_event last; /* DONE, ERROR or MORE (ran out) */
	int status;
	const char *error;
	size_t body_len;
	uint64_t body_hash;
	bool reusable;
};

static void feed(struct http_parser *p, struct outcome *o, const char *d, size_t n)
{
	while (o->last == HTTP_EV_MORE) {
		const char *body;
		size_t used, blen;
		enum http_event ev = http_parse(p, d, n, &used, &body, &blen);

		if (used > n || (ev == HTTP_EV_BODY && (body < d || body + blen > d + n)))
			abort();
		d += used;
		n -= used;
		if (ev == HTTP_EV_BODY) {
			for (size_t i = 0; i < blen; i++)
				o->body_hash = (o->body_hash ^ (uint8_t)body[i]) * 1099511628211ull;
			o->body_len += blen;
		} else if (ev == HTTP_EV_DONE || ev == HTTP_EV_ERROR) {
			o->last = ev;
		} else if (ev == HTTP_EV_MORE) {
			return;
		}
	}
}

static void finish(struct http_parser *p, struct outcome *o)
{
	if (o->last == HTTP_EV_MORE)
		o->last = http_parse_eof(p);
	o->status = p->status;
	o->error = o->last == HTTP_EV_ERROR ? p->error : NULL;
	o->reusable = o->last == HTTP_EV_DONE && http_parser_reusable(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_parser a, b;
	struct outcome oa = { HTTP_EV_MORE, 0, NULL, 0, 0, false }, ob = oa;
	const char *d = (const char *)data + 1;
	size_t n = size ? size - 1 : 0, off = 0;
	uint32_t rng;

	if (size < 1)
		return 0;
	if (data[0] == 0) { /* a URL */
		char *url = strndup(d, n);
		struct http_url u;
		const char *why;

		if (url && http_url_parse(url, &u, &why) == 0 &&
		    (!u.host[0] || strlen(u.port) == 0 || strlen(u.port) > 5))
			abort();
		free(url);
		return 0;
	}
	http_parser_init(&a);
	feed(&a, &oa, d, n);
	finish(&a, &oa);

	http_parser_init(&b);
	rng = data[0] * 2654435761u | 1u;
	while (off < n && ob.last == HTTP_EV_MORE) {
		size_t k;
		char *piece;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		k = rng % 17; /* empty slices too */
		if (k > n - off)
			k = n - off;
		piece = malloc(k ? k : 1); /* exactly sized: ASan sees reads past it */
		memcpy(piece, d + off, k);
		feed(&b, &ob, piece, k);
		free(piece);
		off += k;
	}
	finish(&b, &ob);
	if (oa.last != ob.last || oa.status != ob.status || oa.body_len != ob.body_len ||
	    oa.body_hash != ob.body_hash || oa.reusable != ob.reusable ||
	    (oa.error != ob.error && (!oa.error || !ob.error || strcmp(oa.error, ob.error))))
		abort();
	return 0;
}
