/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure HTTP/1.1 text handling for the etcd client: an incremental response
 * parser (status line, the framing headers, body by Content-Length, chunked
 * or until close) fed arbitrary byte slices, and endpoint URL parsing. No I/O.
 */
#ifndef FLANNELD_HTTP_PARSE_H
#define FLANNELD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest status, header, chunk-size or trailer line accepted. */
#define HTTP_MAX_LINE 8192
/* All status and header lines of one response together. */
#define HTTP_MAX_HEADER_BYTES 65536
/* Interim (1xx) responses skipped before the final one. */
#define HTTP_MAX_INTERIM 8

enum http_event {
	HTTP_EV_MORE,  /* everything consumed; feed more bytes (or call http_parse_eof) */
	HTTP_EV_HEAD,  /* the final response's status line and headers are complete */
	HTTP_EV_BODY,  /* *body_len > 0 body bytes at *body, inside the input slice */
	HTTP_EV_DONE,  /* the response is complete; bytes after it were not consumed */
	HTTP_EV_ERROR, /* malformed response; p->error says why; call no more */
};

struct http_parser {
	int state;
	int status;	   /* of the final response, from HTTP_EV_HEAD on */
	int minor_version; /* HTTP/1.<minor> */
	bool chunked;
	bool has_length;
	bool until_close;   /* body ends when the connection closes */
	bool close;	    /* the server will close the connection after this response */
	bool keep_alive;    /* HTTP/1.0 "Connection: keep-alive" */
	bool got_bytes;	    /* any byte of a response was seen */
	uint64_t remaining; /* body bytes left (Content-Length) or in this chunk */
	unsigned interim;   /* 1xx responses skipped */
	size_t header_bytes;
	size_t line_len;
	const char *error; /* static text, set with HTTP_EV_ERROR */
	char line[HTTP_MAX_LINE];
};

void http_parser_init(struct http_parser *p);
/*
 * Consume bytes from data[0, len). Returns the next event and sets *used to
 * the number of bytes consumed; for HTTP_EV_BODY, *body and *body_len point
 * into data. Call again with the rest until HTTP_EV_MORE (with len 0 too: a
 * body of length 0 completes without input). After HTTP_EV_DONE or
 * HTTP_EV_ERROR it returns the same again, consuming nothing; the next
 * response on the connection needs http_parser_init. No body is expected
 * after 1xx, 204 and 304 only (we never send HEAD).
 */
enum http_event http_parse(struct http_parser *p, const char *data, size_t len, size_t *used,
			   const char **body, size_t *body_len);
/*
 * The connection reached end of file: HTTP_EV_DONE if that ends the response,
 * else HTTP_EV_ERROR; with p->got_bytes false no byte of a response came (a
 * stale keep-alive connection, where retrying the request is safe).
 */
enum http_event http_parse_eof(struct http_parser *p);
/* After HTTP_EV_DONE: may the connection carry another request? */
bool http_parser_reusable(const struct http_parser *p);

/* An endpoint, "http://host[:port][/prefix]" or "https://…"; host may be "[v6]". */
struct http_url {
	bool tls;
	char host[256]; /* without brackets */
	char port[6];	/* default 80 or 443 */
	char path[256]; /* prefix without trailing '/', "" for none */
};

/* 0, or -EINVAL with *error set to a static text. */
int http_url_parse(const char *url, struct http_url *ret, const char **error);

#endif
