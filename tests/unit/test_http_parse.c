/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for http_parse.c: framing, limits, errors, split invariance and URLs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_parse.h"

/*
 * What a parse produced: the events as letters (H head, B body, D done, E
 * error; MORE is left out and consecutive bodies are merged), the body bytes
 * and how many input bytes were consumed.
 */
struct trace {
	char events[32];
	size_t nev;
	char body[16384];
	size_t body_len;
	size_t consumed;
	size_t body_events; /* before merging */
	int status;
	bool reusable;
	bool got_bytes;
	const char *error;
};

static void record(struct trace *t, char ev)
{
	if (ev == 'B' && t->nev && t->events[t->nev - 1] == 'B')
		return;
	assert_true(t->nev + 1 < sizeof(t->events));
	t->events[t->nev++] = ev;
	t->events[t->nev] = '\0';
}

/*
 * Feed one slice, copied into a buffer of exactly its size so that ASan
 * catches reads past it. Returns false once the parse has ended.
 */
static bool feed(struct http_parser *p, struct trace *t, const char *data, size_t len)
{
	char *buf = malloc(len ? len : 1);
	size_t off = 0;
	bool go_on = true;

	assert_non_null(buf);
	memcpy(buf, data, len);
	for (;;) {
		const char *body = NULL;
		size_t used = 0, body_len = 0;
		enum http_event ev = http_parse(p, buf + off, len - off, &used, &body, &body_len);

		assert_true(used <= len - off);
		off += used;
		t->consumed += used;
		if (ev == HTTP_EV_MORE) {
			assert_int_equal(off, len);
			break;
		}
		if (ev == HTTP_EV_BODY) {
			/* Body bytes are the ones just consumed, inside the slice. */
			assert_true(body_len > 0);
			assert_ptr_equal(body + body_len, buf + off);
			assert_true(t->body_len + body_len <= sizeof(t->body));
			memcpy(t->body + t->body_len, body, body_len);
			t->body_len += body_len;
			t->body_events++;
			record(t, 'B');
			continue;
		}
		if (ev == HTTP_EV_HEAD) {
			t->status = p->status;
			record(t, 'H');
			continue;
		}
		record(t, ev == HTTP_EV_DONE ? 'D' : 'E');
		go_on = false;
		break;
	}
	free(buf);
	return go_on;
}

static void finish(struct http_parser *p, struct trace *t, bool eof)
{
	if (eof && (!t->nev || (t->events[t->nev - 1] != 'D' && t->events[t->nev - 1] != 'E')))
		record(t, http_parse_eof(p) == HTTP_EV_DONE ? 'D' : 'E');
	t->reusable = http_parser_reusable(p);
	t->got_bytes = p->got_bytes;
	t->error = p->error;
}

/* Parse s in one piece, optionally followed by end of file. */
static void parse_whole(const char *s, size_t len, bool eof, struct trace *t)
{
	struct http_parser p;

	memset(t, 0, sizeof(*t));
	http_parser_init(&p);
	feed(&p, t, s, len);
	finish(&p, t, eof);
}

static void parse_str(const char *s, bool eof, struct trace *t)
{
	parse_whole(s, strlen(s), eof, t);
}

/* The error text of a response that must fail, at the latest at end of file. */
static const char *parse_error(const char *s)
{
	static struct trace t;

	parse_str(s, true, &t);
	assert_string_equal(t.events + t.nev - 1, "E");
	assert_non_null(t.error);
	return t.error;
}

static void assert_same(const struct trace *a, const struct trace *b)
{
	assert_string_equal(a->events, b->events);
	assert_int_equal(a->body_len, b->body_len);
	assert_memory_equal(a->body, b->body, a->body_len);
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->reusable, b->reusable);
	assert_ptr_equal(a->error, b->error);
}

static void test_content_length(void **state)
{
	struct trace t;

	parse_str("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		  "Content-Length: 13\r\n\r\n{\"count\":\"1\"}",
		  false, &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.status, 200);
	assert_int_equal(t.body_len, 13);
	assert_memory_equal(t.body, "{\"count\":\"1\"}", 13);
	assert_true(t.reusable);

	/* Names are case-insensitive, values may carry OWS, no reason phrase. */
	parse_str("HTTP/1.1 404\r\ncontent-length:\t 3 \r\nCONNECTION: Close\r\n\r\nabc", false,
		  &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.status, 404);
	assert_false(t.reusable);

	/* Content-Length: 0 completes without more input, and so does EOF then. */
	parse_str("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, &t);
	assert_string_equal(t.events, "HD");
	assert_true(t.reusable);

	/* Identical duplicates and lists of one value are fine. */
	parse_str("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok", false,
		  &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.body_len, 2);

	/* The largest value parses (its body is just never complete). */
	parse_str("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc", true, &t);
	assert_string_equal(t.events, "HBE");
	assert_string_equal(t.error, "connection closed before the response was complete");
}

static void test_events_and_leftover(void **state)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
				  "HTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nsecond";
	struct http_parser p;
	const char *body;
	size_t used, body_len, off = 0;

	http_parser_init(&p);
	assert_false(http_parser_reusable(&p));
	assert_int_equal(http_parse(&p, two, sizeof(two) - 1, &used, &body, &body_len),
			 HTTP_EV_HEAD);
	assert_int_equal(used, 38);
	assert_int_equal(p.status, 200);
	assert_int_equal(p.minor_version, 1);
	assert_true(p.has_length);
	assert_false(p.chunked);
	assert_false(http_parser_reusable(&p));
	off += used;
	assert_int_equal(http_parse(&p, two + off, sizeof(two) - 1 - off, &used, &body, &body_len),
			 HTTP_EV_BODY);
	assert_ptr_equal(body, two + off);
	assert_int_equal(body_len, 5);
	assert_int_equal(used, 5);
	off += used;
	/* DONE consumes nothing after the response, and stays DONE. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			http_parse(&p, two + off, sizeof(two) - 1 - off, &used, &body, &body_len),
			HTTP_EV_DONE);
		assert_int_equal(used, 0);
		assert_null(body);
	}
	assert_int_equal(http_parse_eof(&p), HTTP_EV_DONE);
	assert_true(http_parser_reusable(&p));

	/* The next response on the connection, with a fresh parser. */
	http_parser_init(&p);
	assert_int_equal(http_parse(&p, two + off, sizeof(two) - 1 - off, &used, &body, &body_len),
			 HTTP_EV_HEAD);
	assert_int_equal(p.status, 201);
	off += used;
	assert_int_equal(http_parse(&p, two + off, sizeof(two) - 1 - off, &used, &body, &body_len),
			 HTTP_EV_BODY);
	assert_memory_equal(body, "second", 6);
	off += used;
	assert_int_equal(off, sizeof(two) - 1);
	assert_int_equal(http_parse(&p, NULL, 0, &used, &body, &body_len), HTTP_EV_DONE);

	/* Nothing fed yet: MORE, and no bytes seen. */
	http_parser_init(&p);
	assert_int_equal(http_parse(&p, NULL, 0, &used, &body, &body_len), HTTP_EV_MORE);
	assert_false(p.got_bytes);
	assert_int_equal(http_parse(&p, "H", 1, &used, &body, &body_len), HTTP_EV_MORE);
	assert_int_equal(used, 1);
	assert_true(p.got_bytes);
}

static void test_chunked(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5\r\nhello\r\n"
				   "7;name=value;x\r\n, world\r\n"
				   "A \t; ext=\"q\"\r\n0123456789\r\n"
				   "0\r\nX-Trailer: 1\r\nGrpc-Status: 0\r\n\r\n";
	struct http_parser p;
	struct trace t;
	const char *body;
	size_t used, body_len;

	parse_str(resp, false, &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.body_len, 22);
	assert_memory_equal(t.body, "hello, world0123456789", 22);
	assert_int_equal(t.body_events, 3); /* one per chunk, even in one slice */
	assert_int_equal(t.consumed, sizeof(resp) - 1);
	assert_true(t.reusable);

	/* Only the current chunk's bytes in one event. */
	http_parser_init(&p);
	assert_int_equal(http_parse(&p, resp, sizeof(resp) - 1, &used, &body, &body_len),
			 HTTP_EV_HEAD);
	assert_true(p.chunked);
	assert_int_equal(
		http_parse(&p, resp + used, sizeof(resp) - 1 - used, &used, &body, &body_len),
		HTTP_EV_BODY);
	assert_int_equal(body_len, 5);
	assert_memory_equal(body, "hello", 5);

	/* Chunked wins over Content-Length, but such a connection is not reused. */
	parse_str("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "3\r\nabc\r\n0\r\n\r\n",
		  false, &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.body_len, 3);
	assert_false(t.reusable);

	/* Codings are case-insensitive, empty list elements are skipped, upper-case hex. */
	parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: , Chunked\r\n\r\n"
		  "00000000000000000000000000000001\r\nz\r\n0\r\n\r\n",
		  false, &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.body_len, 1);

	/* An empty chunked body. */
	parse_str("HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "0\r\n\r\n",
		  false, &t);
	assert_string_equal(t.events, "HD");
	assert_int_equal(t.status, 500);
}

/* Like an etcd watch: one chunk per JSON line, open-ended. */
static void test_watch_stream(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				   "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	struct http_parser p;
	char chunk[256], line[200];
	const char *body;
	size_t used, body_len;

	http_parser_init(&p);
	assert_int_equal(http_parse(&p, head, sizeof(head) - 1, &used, &body, &body_len),
			 HTTP_EV_HEAD);
	assert_int_equal(used, sizeof(head) - 1);
	assert_int_equal(http_parse(&p, head + used, 0, &used, &body, &body_len), HTTP_EV_MORE);
	for (int i = 0; i < 200; i++) {
		int ll = snprintf(line, sizeof(line),
				  "{\"result\":{\"header\":{\"revision\":\"%d\"},\"events\":[]}}\n",
				  i + 100);
		/* The CRLF ending the previous chunk arrives with the next one. */
		int n = snprintf(chunk, sizeof(chunk), "%s%x\r\n%s", i ? "\r\n" : "", ll, line);
		size_t off = 0;

		/* Every other line comes in two reads, split inside the data. */
		size_t split = i % 2 ? (size_t)n - 7 : (size_t)n;

		assert_int_equal(http_parse(&p, chunk, split, &used, &body, &body_len),
				 HTTP_EV_BODY);
		off += used;
		assert_int_equal(off, split);
		if (split < (size_t)n) {
			assert_int_equal(body_len, ll - 7);
			assert_int_equal(
				http_parse(&p, chunk + off, split - off, &used, &body, &body_len),
				HTTP_EV_MORE);
			assert_int_equal(http_parse(&p, chunk + off, (size_t)n - off, &used, &body,
						    &body_len),
					 HTTP_EV_BODY);
			assert_memory_equal(body, line + ll - 7, 7);
			off += used;
		} else {
			assert_int_equal(body_len, ll);
			assert_memory_equal(body, line, (size_t)ll);
		}
		assert_int_equal(off, n);
		assert_int_equal(http_parse(&p, chunk + off, 0, &used, &body, &body_len),
				 HTTP_EV_MORE);
	}
	/* The server ends the watch stream. */
	assert_int_equal(http_parse(&p, "\r\n0\r\n\r\n", 7, &used, &body, &body_len), HTTP_EV_DONE);
	assert_int_equal(used, 7);
	assert_true(http_parser_reusable(&p));

	/* A watch cut off by the server closing the connection is an error. */
	http_parser_init(&p);
	assert_int_equal(http_parse(&p, head, sizeof(head) - 1, &used, &body, &body_len),
			 HTTP_EV_HEAD);
	assert_int_equal(http_parse(&p, "3\r\nab", 5, &used, &body, &body_len), HTTP_EV_BODY);
	assert_int_equal(http_parse(&p, "", 0, &used, &body, &body_len), HTTP_EV_MORE);
	assert_int_equal(http_parse_eof(&p), HTTP_EV_ERROR);
	assert_string_equal(p.error, "connection closed before the response was complete");
	assert_true(p.got_bytes);
}

static void test_until_close(void **state)
{
	struct trace t;

	parse_str("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of this", true, &t);
	assert_string_equal(t.events, "HBD");
	assert_memory_equal(t.body, "all of this", 11);
	assert_false(t.reusable);

	/* HTTP/1.1 without a length too, even with keep-alive asked for. */
	parse_str("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nxyz", false, &t);
	assert_string_equal(t.events, "HB");
	parse_str("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nxyz", true, &t);
	assert_string_equal(t.events, "HBD");
	assert_false(t.reusable);

	/* An empty body until close. */
	parse_str("HTTP/1.1 200 OK\r\n\r\n", true, &t);
	assert_string_equal(t.events, "HD");
	assert_false(t.reusable);
}

static void test_no_body(void **state)
{
	struct trace t;

	/* 204 and 304 end with the head, whatever the framing headers say. */
	parse_str("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nHTTP/1.1", false, &t);
	assert_string_equal(t.events, "HD");
	assert_int_equal(t.status, 204);
	assert_int_equal(t.consumed, 47);
	assert_true(t.reusable);
	parse_str("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, &t);
	assert_string_equal(t.events, "HD");
	assert_true(t.reusable);
	/* And EOF right after the head completes them too. */
	parse_str("HTTP/1.1 204 No Content\r\n\r\n", true, &t);
	assert_string_equal(t.events, "HD");
}

static void test_interim(void **state)
{
	struct trace t;
	char buf[1024];
	size_t n = 0;

	parse_str("HTTP/1.1 100 Continue\r\n\r\n"
		  "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\nConnection: close\r\n\r\n"
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		  false, &t);
	assert_string_equal(t.events, "HBD");
	assert_int_equal(t.status, 200);
	assert_memory_equal(t.body, "ok", 2);
	assert_true(t.reusable); /* the interim response's headers do not count */

	/* HTTP_MAX_INTERIM of them are skipped, one more is an error. */
	for (int i = 0; i < HTTP_MAX_INTERIM; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "HTTP/1.1 100 Continue\r\n\r\n");
	snprintf(buf + n, sizeof(buf) - n, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	parse_str(buf, false, &t);
	assert_string_equal(t.events, "HD");
	snprintf(buf + n, sizeof(buf) - n, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_string_equal(parse_error(buf), "more than 8 interim (1xx) responses");

	assert_string_equal(parse_error("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
			    "unexpected 101 Switching Protocols");
	/* EOF after an interim response is not a clean EOF. */
	parse_str("HTTP/1.1 100 Continue\r\n\r\n", true, &t);
	assert_string_equal(t.events, "E");
	assert_true(t.got_bytes);
	assert_string_equal(t.error, "connection closed before the response was complete");
}

static void test_connection(void **state)
{
	static const struct {
		const char *resp;
		bool reusable;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false },
		{ "HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n",
		  false },
		{ "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
		  "Content-Length: 0\r\n\r\n",
		  false },
		{ "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Length: 0\r\n\r\n", true },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false },
		{ "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
		  true },
		{ "HTTP/1.0 200 OK\r\nConnection: te, keep-alive\r\nContent-Length: 0\r\n\r\n",
		  true },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
		  false },
		{ "HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n", true },
		{ "HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct trace t;

		parse_str(cases[i].resp, false, &t);
		assert_int_equal(t.events[t.nev - 1], 'D');
		if (t.reusable != cases[i].reusable)
			fail_msg("case %zu: reusable %d", i, t.reusable);
	}
}

static void test_bare_lf(void **state)
{
	struct trace t;

	parse_str("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, &t);
	assert_string_equal(t.events, "HBD");
	parse_str("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\r\n\n2;x\nok\n0\nA: b\n\n", false,
		  &t);
	assert_string_equal(t.events, "HBD");
	assert_memory_equal(t.body, "ok", 2);
	assert_true(t.reusable);
}

static void test_errors(void **state)
{
	static const struct {
		const char *resp;
		const char *error;
	} cases[] = {
		/* status line */
		{ "HTTP/1.1 20 OK\r\n\r\n", "malformed status line" },
		{ "HTTP/1.1 200OK\r\n\r\n", "malformed status line" },
		{ "HTTP/1.1  200 OK\r\n\r\n", "malformed status line" },
		{ "HTTP/1.1 2x0 OK\r\n\r\n", "malformed status line" },
		{ "HTTP/1.1 600 Nope\r\n\r\n", "malformed status line" },
		{ "HTTP/1.1 099 Low\r\n\r\n", "malformed status line" },
		{ "http/1.1 200 OK\r\n\r\n", "malformed status line" },
		{ "HTTP/1.10 200 OK\r\n\r\n", "malformed status line" },
		{ "HTTP/11 200 OK\r\n\r\n", "malformed status line" },
		{ "HTTP/1.1 200 O\rK\r\n\r\n", "malformed status line" },
		{ "\r\nHTTP/1.1 200 OK\r\n\r\n", "malformed status line" },
		{ "SSH-2.0-OpenSSH_9.2\r\n", "malformed status line" },
		{ "HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version" },
		{ "HTTP/0.9 200 OK\r\n\r\n", "unsupported HTTP version" },
		/* header lines */
		{ "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line" },
		{ "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "malformed header line" },
		{ "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", "malformed header line" },
		{ "HTTP/1.1 200 OK\r\nX(y): 1\r\n\r\n", "malformed header line" },
		{ "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "malformed header line" },
		{ "HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n", "malformed header line" },
		{ "HTTP/1.1 200 OK\r\n X: first\r\n\r\n", "obsolete line folding in header" },
		{ "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", "obsolete line folding in header" },
		/* Content-Length */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1,\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
		  "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		  "bad Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
		  "conflicting Content-Length values" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n",
		  "conflicting Content-Length values" },
		/* Transfer-Encoding */
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
		  "\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
		  "unsupported Transfer-Encoding" },
		{ "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "Transfer-Encoding in an HTTP/1.0 response" },
		/* chunks */
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\n", "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n",
		  "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\n",
		  "bad chunk size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
		  "chunk size too large" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",
		  "missing CRLF after chunk data" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\r\n",
		  "missing CRLF after chunk data" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
		  "malformed trailer line" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\n b\r\n\r\n",
		  "obsolete line folding in header" },
		/* end of file */
		{ "", "connection closed before any response" },
		{ "HTTP/1.1 200", "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\n", "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",
		  "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab",
		  "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc",
		  "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r",
		  "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		  "connection closed before the response was complete" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n",
		  "connection closed before the response was complete" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct trace t;

		parse_str(cases[i].resp, true, &t);
		if (t.events[t.nev - 1] != 'E' || strcmp(t.error, cases[i].error))
			fail_msg("case %zu: events %s, error \"%s\"", i, t.events,
				 t.error ? t.error : "(none)");
		/* got_bytes is what tells a stale keep-alive connection apart. */
		assert_int_equal(t.got_bytes, cases[i].resp[0] != '\0');
	}
}

static void test_after_error(void **state)
{
	struct http_parser p;
	const char *body;
	size_t used, body_len;

	http_parser_init(&p);
	assert_int_equal(http_parse(&p, "HTTP/1.1 999 X\r\nmore", 20, &used, &body, &body_len),
			 HTTP_EV_ERROR);
	assert_int_equal(used, 16);
	assert_string_equal(p.error, "malformed status line");
	assert_int_equal(http_parse(&p, "x", 1, &used, &body, &body_len), HTTP_EV_ERROR);
	assert_int_equal(used, 0);
	assert_int_equal(http_parse_eof(&p), HTTP_EV_ERROR);
	assert_false(http_parser_reusable(&p));
	assert_string_equal(p.error, "malformed status line");
}

/* Two pieces split every step bytes (and around each limit) parse like one. */
static void assert_split2(const char *s, size_t len, bool eof, size_t step)
{
	static struct trace ref, t;

	parse_whole(s, len, eof, &ref);
	for (size_t i = 0; i <= len; i++) {
		struct http_parser p;

		if (i % step && (i + 2) % HTTP_MAX_LINE > 4 && (i + 2) % HTTP_MAX_HEADER_BYTES > 4)
			continue;
		memset(&t, 0, sizeof(t));
		http_parser_init(&p);
		if (feed(&p, &t, s, i))
			feed(&p, &t, s + i, len - i);
		finish(&p, &t, eof);
		assert_same(&ref, &t);
	}
}

/* A response whose header line is n bytes with its CRLF, then Content-Length: 0. */
static char *long_header(size_t n)
{
	static const char status[] = "HTTP/1.1 200 OK\r\n";
	static const char tail[] = "Content-Length: 0\r\n\r\n";
	char *s = malloc(sizeof(status) + n + sizeof(tail));

	assert_non_null(s);
	strcpy(s, status);
	memcpy(s + strlen(s), "X: ", 3);
	memset(s + strlen(status) + 3, 'a', n - 5);
	memcpy(s + strlen(status) + n - 2, "\r\n", 2);
	strcpy(s + strlen(status) + n, tail);
	return s;
}

static void test_limits(void **state)
{
	struct trace t;
	char *s;
	size_t n;

	/* A line may be HTTP_MAX_LINE bytes with its CRLF, or with a bare LF. */
	s = long_header(HTTP_MAX_LINE);
	parse_str(s, false, &t);
	assert_string_equal(t.events, "HD");
	free(s);
	s = long_header(HTTP_MAX_LINE + 1);
	assert_string_equal(parse_error(s), "line longer than 8 KiB");
	/* Without its CR the same text fits. */
	n = strlen("HTTP/1.1 200 OK\r\n") + HTTP_MAX_LINE - 1;
	memmove(s + n, s + n + 1, strlen(s + n + 1) + 1);
	parse_str(s, false, &t);
	assert_string_equal(t.events, "HD");
	free(s);

	/* The limit holds for a line that never ends, and for chunk-size lines. */
	s = malloc(HTTP_MAX_LINE + 128);
	assert_non_null(s);
	memset(s, 'a', HTTP_MAX_LINE + 63);
	s[HTTP_MAX_LINE + 63] = '\0';
	memcpy(s, "HTTP/1.1 200 OK", 15);
	parse_str(s, false, &t);
	assert_string_equal(t.events, "E");
	assert_string_equal(t.error, "line longer than 8 KiB");
	assert_int_equal(t.consumed, HTTP_MAX_LINE);
	assert_split2(s, strlen(s), true, 1);
	n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	memset(s + n, '0', HTTP_MAX_LINE);
	strcpy(s + n + HTTP_MAX_LINE - 2, "1\r\n");
	assert_string_equal(parse_error(s), "line longer than 8 KiB");
	strcpy(s + n + HTTP_MAX_LINE - 3, "1\r\nx\r\n0\r\n\r\n");
	parse_str(s, false, &t);
	assert_string_equal(t.events, "HBD");
	free(s);

	/* The header section: exactly HTTP_MAX_HEADER_BYTES is fine, one more is not. */
	s = malloc(HTTP_MAX_HEADER_BYTES + 8192);
	assert_non_null(s);
	n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
	while (n + 1000 + 2 <= HTTP_MAX_HEADER_BYTES) {
		memset(s + n, 'b', 1000);
		memcpy(s + n, "X-Pad: ", 7);
		memcpy(s + n + 998, "\r\n", 2);
		n += 1000;
	}
	/* One last header filling the section up to its final CRLF. */
	size_t last = HTTP_MAX_HEADER_BYTES - 2 - n;

	memcpy(s + n, "Y:", 2);
	memset(s + n + 2, 'c', last - 4);
	memcpy(s + n + last - 2, "\r\n\r\n", 5);
	assert_int_equal(strlen(s), HTTP_MAX_HEADER_BYTES);
	parse_str(s, false, &t);
	assert_string_equal(t.events, "HD");
	memcpy(s + n + last - 2, "c\r\n\r\n", 6);
	assert_string_equal(parse_error(s), "header section larger than 64 KiB");
	assert_split2(s, strlen(s), true, 101);

	/* Trailers count on their own. */
	n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < 70; i++) {
		memset(s + n, 'd', 1000);
		memcpy(s + n, "T: ", 3);
		memcpy(s + n + 998, "\r\n", 2);
		n += 1000;
	}
	strcpy(s + n, "\r\n");
	assert_string_equal(parse_error(s), "trailer section larger than 64 KiB");
	assert_split2(s, strlen(s), true, 101);
	strcpy(s + n - 10 * 1000, "\r\n");
	parse_str(s, false, &t);
	assert_string_equal(t.events, "HD");
	free(s);
}

/*
 * The samples for the split test: all framings, interim responses, bare LFs,
 * an open-ended stream, trailing bytes of a next response and errors.
 */
static const struct sample {
	const char *s;
	bool eof;
} samples[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n"
	  "{\"header\":{\"revision\":\"7\"}}HTTP/1.1 200 OK\r\n",
	  false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5;a=b\r\nhello\r\n1\r\n \r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	  "0;last\r\nGrpc-Status: 0\r\nX-T: y\r\n\r\nHTTP",
	  false },
	{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "3\r\nabc\r\n0\r\n\r\n",
	  false },
	{ "HTTP/1.0 200 OK\r\nServer: test\r\n\r\nbody until the connection closes", true },
	{ "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\nHTTP/1.1 204", false },
	{ "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4\nwxyz\n0\n\n", false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "1c\r\n{\"result\":{\"created\":true}}\n\r\n"
	  "2a\r\n{\"result\":{\"events\":[{\"kv\":{\"k\":\"a\"}}]}}\n\r\n"
	  "1e\r\n{\"result\":{\"canceled\":true}}\n\r\n",
	  false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "1c\r\n{\"result\":{\"created\":true}}\n\r\n2",
	  true },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", true },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", true },
	{ "HTTP/1.1 200 OK\r\nX: y\r\n  folded\r\n\r\n", true },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true },
};

static void test_split_everywhere(void **state)
{
	static struct trace ref, t;

	for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
		const char *s = samples[k].s;
		size_t len = strlen(s);
		struct http_parser p;

		parse_whole(s, len, samples[k].eof, &ref);
		assert_true(ref.nev > 0);

		/* Two pieces, at every boundary (including empty ones). */
		for (size_t i = 0; i <= len; i++) {
			memset(&t, 0, sizeof(t));
			http_parser_init(&p);
			if (feed(&p, &t, s, i))
				feed(&p, &t, s + i, len - i);
			finish(&p, &t, samples[k].eof);
			assert_same(&ref, &t);
		}
		/* Three pieces, at every pair of boundaries. */
		for (size_t i = 0; i <= len; i++) {
			for (size_t j = i; j <= len; j++) {
				memset(&t, 0, sizeof(t));
				http_parser_init(&p);
				if (feed(&p, &t, s, i) && feed(&p, &t, s + i, j - i))
					feed(&p, &t, s + j, len - j);
				finish(&p, &t, samples[k].eof);
				assert_same(&ref, &t);
			}
		}
		/* One byte at a time, with empty reads in between. */
		memset(&t, 0, sizeof(t));
		http_parser_init(&p);
		for (size_t i = 0; i < len; i++)
			if (!feed(&p, &t, s + i, 1) || !feed(&p, &t, s + i, 0))
				break;
		finish(&p, &t, samples[k].eof);
		assert_same(&ref, &t);
	}
}

static void url_ok(const char *s, bool tls, const char *host, const char *port, const char *path)
{
	struct http_url u;
	const char *error = NULL;

	if (http_url_parse(s, &u, &error))
		fail_msg("%s: %s", s, error);
	assert_int_equal(u.tls, tls);
	assert_string_equal(u.host, host);
	assert_string_equal(u.port, port);
	assert_string_equal(u.path, path);
}

static const char *url_error(const char *s)
{
	struct http_url u;
	const char *error = NULL;

	assert_int_equal(http_url_parse(s, &u, &error), -EINVAL);
	assert_non_null(error);
	return error;
}

static void test_url(void **state)
{
	char buf[600], want[300];

	url_ok("http://127.0.0.1:2379", false, "127.0.0.1", "2379", "");
	url_ok("https://etcd.example:2379/prefix", true, "etcd.example", "2379", "/prefix");
	url_ok("http://[fd00::1]:2379", false, "fd00::1", "2379", "");
	url_ok("http://[::ffff:10.0.0.1]/", false, "::ffff:10.0.0.1", "80", "");
	url_ok("http://host", false, "host", "80", "");
	url_ok("https://host", true, "host", "443", "");
	url_ok("HTTPS://Etcd-1.Example/", true, "Etcd-1.Example", "443", "");
	url_ok("Http://h:1/a/b///", false, "h", "1", "/a/b");
	url_ok("http://h:65535/a%20b/c", false, "h", "65535", "/a%20b/c");
	url_ok("http://h:02379", false, "h", "2379", "");
	url_ok("http://under_score.local:80//", false, "under_score.local", "80", "");

	assert_string_equal(url_error("ftp://host"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("127.0.0.1:2379"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("http:/host"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("httpx://host"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("unix:///run/etcd.sock"),
			    "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error(""), "unsupported scheme (want http:// or https://)");
	assert_string_equal(url_error("http://"), "missing host");
	assert_string_equal(url_error("http://:2379"), "missing host");
	assert_string_equal(url_error("https:///path"), "missing host");
	assert_string_equal(url_error("http://ho st"), "bad host");
	assert_string_equal(url_error("http://host%41"), "bad host");
	assert_string_equal(url_error("http://[fd00::1]x"), "bad host");
	assert_string_equal(url_error("http://fd00::1:2379"), "IPv6 address must be in brackets");
	assert_string_equal(url_error("http://[fd00::1"), "bad IPv6 address");
	assert_string_equal(url_error("http://[fd00::1/]"), "bad IPv6 address");
	assert_string_equal(url_error("http://[]:2379"), "bad IPv6 address");
	assert_string_equal(url_error("http://[10.0.0.1]"), "bad IPv6 address");
	assert_string_equal(url_error("http://[fe80::1%25eth0]"), "bad IPv6 address");
	assert_string_equal(url_error("http://[zz::1]"), "bad IPv6 address");
	assert_string_equal(url_error("http://host:"), "bad port");
	assert_string_equal(url_error("http://[::1]:"), "bad port");
	assert_string_equal(url_error("http://host:0"), "bad port");
	assert_string_equal(url_error("http://host:65536"), "bad port");
	assert_string_equal(url_error("http://host:123456"), "bad port");
	assert_string_equal(url_error("http://host:12a"), "bad port");
	assert_string_equal(url_error("http://host:-1"), "bad port");
	assert_string_equal(url_error("http://host: 80"), "bad port");
	assert_string_equal(url_error("http://user:pw@host"),
			    "user information in URL not supported");
	assert_string_equal(url_error("http://@host"), "user information in URL not supported");
	assert_string_equal(url_error("http://host?x=1"), "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host/p?x"), "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host#f"), "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host:80/p#f"),
			    "query or fragment in URL not supported");
	assert_string_equal(url_error("http://host/a b"), "bad path");
	assert_string_equal(url_error("http://host/a\r\nX: y"), "bad path");
	assert_string_equal(url_error("http://host/\x7f"), "bad path");

	/* Sizes: 255 host bytes and 255 path bytes fit, one more does not. */
	memcpy(buf, "http://", 7);
	memset(buf + 7, 'h', 255);
	strcpy(buf + 7 + 255, ":1");
	{
		struct http_url u;
		const char *error;

		assert_int_equal(http_url_parse(buf, &u, &error), 0);
		assert_int_equal(strlen(u.host), 255);
	}
	memset(buf + 7, 'h', 256);
	strcpy(buf + 7 + 256, ":1");
	assert_string_equal(url_error(buf), "host name too long");
	strcpy(buf, "http://h/");
	memset(buf + 9, 'p', 254);
	strcpy(buf + 9 + 254, "///");
	want[0] = '/';
	memset(want + 1, 'p', 254);
	want[255] = '\0';
	url_ok(buf, false, "h", "80", want);
	strcpy(buf + 9 + 254, "p");
	assert_string_equal(url_error(buf), "path too long");

	/* NULL error pointer is allowed; the result is untouched on failure. */
	{
		struct http_url u = { .port = "7" };

		assert_int_equal(http_url_parse("gopher://x", &u, NULL), -EINVAL);
		assert_string_equal(u.port, "7");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),	 cmocka_unit_test(test_events_and_leftover),
		cmocka_unit_test(test_chunked),		 cmocka_unit_test(test_watch_stream),
		cmocka_unit_test(test_until_close),	 cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_interim),		 cmocka_unit_test(test_connection),
		cmocka_unit_test(test_bare_lf),		 cmocka_unit_test(test_errors),
		cmocka_unit_test(test_after_error),	 cmocka_unit_test(test_limits),
		cmocka_unit_test(test_split_everywhere), cmocka_unit_test(test_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
