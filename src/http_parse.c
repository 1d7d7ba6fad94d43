/* SPDX-License-Identifier: Apache-2.0 */
/* Incremental HTTP/1.1 response parser and endpoint URL parsing (RFC 9110/9112, no I/O). */
#include "http_parse.h"
#include "textutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The limits are spelled out in the error texts. */
_Static_assert(HTTP_MAX_LINE == 8192, "update the line limit error text");
_Static_assert(HTTP_MAX_HEADER_BYTES == 65536, "update the header limit error texts");
_Static_assert(HTTP_MAX_INTERIM == 8, "update the interim limit error text");

enum {
	ST_STATUS,     /* status line of an interim or the final response */
	ST_HEADER,     /* header lines up to the empty line */
	ST_LENGTH,     /* p->remaining body bytes, then done */
	ST_CLOSE,      /* body until end of file */
	ST_CHUNK_SIZE, /* chunk-size [; ext] line */
	ST_CHUNK_DATA, /* p->remaining bytes of this chunk */
	ST_CHUNK_END,  /* the CRLF after chunk data */
	ST_TRAILER,    /* trailer lines after the last chunk */
	ST_DONE,
	ST_ERROR,
};

static const char err_incomplete[] = "connection closed before the response was complete";

void http_parser_init(struct http_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_STATUS;
}

static enum http_event fail(struct http_parser *p, const char *why)
{
	p->state = ST_ERROR;
	p->error = why;
	return HTTP_EV_ERROR;
}

/* Per-response framing, cleared again for the final response after a 1xx. */
static void reset_response(struct http_parser *p)
{
	p->status = 0;
	p->minor_version = 0;
	p->chunked = false;
	p->has_length = false;
	p->until_close = false;
	p->close = false;
	p->keep_alive = false;
	p->remaining = 0;
	p->header_bytes = 0;
	p->line_len = 0;
}

/*
 * Collect one line into p->line. Returns 1 with the line (LF and one CR before
 * it removed) in p->line[0, *ret_len), 0 when data ran out first, or -1 with
 * the parser failed. *n is the number of bytes taken. A line counts with its
 * terminator; with a section limit (header or trailer) its bytes count there
 * too. The limits are checked per byte so that errors do not depend on how
 * the input was split.
 */
static int take_line(struct http_parser *p, const char *data, size_t len, size_t *n,
		     size_t *ret_len, const char *section_err)
{
	const char *lf = memchr(data, '\n', len);
	size_t piece = lf ? (size_t)(lf - data) + 1 : len;
	size_t line_room = HTTP_MAX_LINE - p->line_len;
	size_t section_room = section_err ? HTTP_MAX_HEADER_BYTES - p->header_bytes : (size_t)-1;
	size_t text = lf ? piece - 1 : piece;

	if (piece > line_room || piece > section_room) {
		/* Consumed up to the byte over the limit. */
		*n = line_room <= section_room ? line_room : section_room;
		fail(p, line_room <= section_room ? "line longer than 8 KiB" : section_err);
		return -1;
	}
	memcpy(p->line + p->line_len, data, text);
	p->line_len += text;
	if (section_err)
		p->header_bytes += piece;
	*n = piece;
	if (!lf)
		return 0;
	if (p->line_len && p->line[p->line_len - 1] == '\r')
		p->line_len--;
	*ret_len = p->line_len;
	p->line_len = 0;
	return 1;
}

/* CR and NUL inside a line are never valid and are a smuggling vector (RFC 9110 5.5). */
static bool line_has_breaks(const char *s, size_t n)
{
	return memchr(s, '\r', n) || memchr(s, '\0', n);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool token_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && !strncasecmp(s, want, n);
}

/*
 * The next element of a comma-separated list in [*s, end), without OWS; may be
 * empty. *s becomes NULL after the last one; returns false after that.
 */
static bool next_element(const char **s, const char *end, const char **elem, size_t *elem_len)
{
	const char *b = *s, *e;

	if (!b)
		return false;
	e = memchr(b, ',', (size_t)(end - b));
	*s = e ? e + 1 : NULL;
	if (!e)
		e = end;
	while (b < e && is_ows(*b))
		b++;
	while (e > b && is_ows(e[-1]))
		e--;
	*elem = b;
	*elem_len = (size_t)(e - b);
	return true;
}

/* "HTTP/1.x NNN[ reason]" */
static enum http_event parse_status(struct http_parser *p, const char *s, size_t n)
{
	if (n < 12 || memcmp(s, "HTTP/", 5) || !is_digit(s[5]) || s[6] != '.' || !is_digit(s[7]))
		return fail(p, "malformed status line");
	if (s[5] != '1')
		return fail(p, "unsupported HTTP version");
	if (s[8] != ' ' || s[9] < '1' || s[9] > '5' || !is_digit(s[10]) || !is_digit(s[11]) ||
	    (n > 12 && s[12] != ' ') || line_has_breaks(s, n))
		return fail(p, "malformed status line");
	p->minor_version = s[7] - '0';
	p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return HTTP_EV_MORE;
}

static enum http_event parse_content_length(struct http_parser *p, const char *v, size_t n)
{
	const char *s = v, *elem;
	size_t len;

	/* RFC 9110 8.6 lets a list of identical values ("5, 5") through. */
	while (next_element(&s, v + n, &elem, &len)) {
		uint64_t val = 0;

		if (!len)
			return fail(p, "bad Content-Length");
		for (size_t i = 0; i < len; i++) {
			unsigned d = (unsigned)(elem[i] - '0');

			if (!is_digit(elem[i]) || val > (UINT64_MAX - d) / 10)
				return fail(p, "bad Content-Length");
			val = val * 10 + d;
		}
		if (p->has_length && p->remaining != val)
			return fail(p, "conflicting Content-Length values");
		p->has_length = true;
		p->remaining = val;
	}
	return HTTP_EV_MORE;
}

static enum http_event parse_transfer_encoding(struct http_parser *p, const char *v, size_t n)
{
	const char *s = v, *elem;
	size_t len;
	bool any = false;

	/* RFC 9112 6.1: a 1.0 message with Transfer-Encoding has faulty framing. */
	if (p->minor_version == 0)
		return fail(p, "Transfer-Encoding in an HTTP/1.0 response");
	/* Only chunked, once: we never ask for other codings (no TE in requests). */
	while (next_element(&s, v + n, &elem, &len)) {
		if (!len)
			continue;
		if (!token_is(elem, len, "chunked") || p->chunked)
			return fail(p, "unsupported Transfer-Encoding");
		p->chunked = true;
		any = true;
	}
	if (!any)
		return fail(p, "unsupported Transfer-Encoding");
	return HTTP_EV_MORE;
}

static void parse_connection(struct http_parser *p, const char *v, size_t n)
{
	const char *s = v, *elem;
	size_t len;

	while (next_element(&s, v + n, &elem, &len)) {
		if (token_is(elem, len, "close"))
			p->close = true;
		else if (token_is(elem, len, "keep-alive"))
			p->keep_alive = true;
	}
}

/* One "name: value" line; trailers are checked but do not change the framing. */
static enum http_event parse_field(struct http_parser *p, const char *s, size_t n, bool trailer)
{
	const char *bad = trailer ? "malformed trailer line" : "malformed header line";
	const char *colon, *v, *end = s + n;
	size_t name_len;

	if (is_ows(s[0]))
		return fail(p, "obsolete line folding in header");
	colon = memchr(s, ':', n);
	if (!colon || colon == s || line_has_breaks(s, n))
		return fail(p, bad);
	name_len = (size_t)(colon - s);
	/* No whitespace before the colon either (RFC 9112 5.1). */
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar(s[i]))
			return fail(p, bad);
	if (trailer)
		return HTTP_EV_MORE;
	v = colon + 1;
	while (v < end && is_ows(*v))
		v++;
	while (end > v && is_ows(end[-1]))
		end--;
	if (token_is(s, name_len, "content-length"))
		return parse_content_length(p, v, (size_t)(end - v));
	if (token_is(s, name_len, "transfer-encoding"))
		return parse_transfer_encoding(p, v, (size_t)(end - v));
	if (token_is(s, name_len, "connection"))
		parse_connection(p, v, (size_t)(end - v));
	return HTTP_EV_MORE;
}

/* The empty line after the headers: skip an interim response or pick the body framing. */
static enum http_event end_of_head(struct http_parser *p)
{
	if (p->status < 200) {
		/* We never ask for an upgrade, so the bytes after a 101 are not ours to read. */
		if (p->status == 101)
			return fail(p, "unexpected 101 Switching Protocols");
		if (++p->interim > HTTP_MAX_INTERIM)
			return fail(p, "more than 8 interim (1xx) responses");
		reset_response(p);
		p->state = ST_STATUS;
		return HTTP_EV_MORE;
	}
	if (p->minor_version == 0 && !p->keep_alive)
		p->close = true;
	if (p->status == 204 || p->status == 304) {
		p->remaining = 0;
		p->state = ST_LENGTH;
	} else if (p->chunked) {
		/* Chunked overrides Content-Length, but both hint at smuggling: do not reuse. */
		if (p->has_length)
			p->close = true;
		p->remaining = 0;
		p->state = ST_CHUNK_SIZE;
	} else if (p->has_length) {
		p->state = ST_LENGTH;
	} else {
		p->until_close = true;
		p->close = true;
		p->state = ST_CLOSE;
	}
	return HTTP_EV_HEAD;
}

/* "1*HEXDIG [BWS ; ext]" */
static enum http_event parse_chunk_size(struct http_parser *p, const char *s, size_t n)
{
	uint64_t size = 0;
	size_t i = 0;

	for (; i < n && text_hex_digit(s[i]) >= 0; i++) {
		if (size > UINT64_MAX >> 4)
			return fail(p, "chunk size too large");
		size = size << 4 | (uint64_t)text_hex_digit(s[i]);
	}
	if (i == 0)
		return fail(p, "bad chunk size");
	while (i < n && is_ows(s[i]))
		i++;
	if ((i < n && s[i] != ';') || line_has_breaks(s, n))
		return fail(p, "bad chunk size");
	p->remaining = size;
	if (size) {
		p->state = ST_CHUNK_DATA;
	} else {
		p->header_bytes = 0; /* now counts the trailer section */
		p->state = ST_TRAILER;
	}
	return HTTP_EV_MORE;
}

/* The line-oriented states; returns HTTP_EV_MORE to go on with the next state. */
static enum http_event line_state(struct http_parser *p, const char *s, size_t n)
{
	switch (p->state) {
	case ST_STATUS:
		if (parse_status(p, s, n) == HTTP_EV_ERROR)
			return HTTP_EV_ERROR;
		p->state = ST_HEADER;
		return HTTP_EV_MORE;
	case ST_HEADER:
		return n ? parse_field(p, s, n, false) : end_of_head(p);
	case ST_CHUNK_SIZE:
		return parse_chunk_size(p, s, n);
	case ST_TRAILER:
		if (n)
			return parse_field(p, s, n, true);
		p->state = ST_DONE;
		return HTTP_EV_DONE;
	}
	return fail(p, "internal parser error");
}

/* Body bytes from in[0, avail), which starts pos bytes into the caller's slice. */
static enum http_event take_body(struct http_parser *p, const char *in, size_t avail, size_t pos,
				 size_t *used, const char **body, size_t *body_len)
{
	size_t n = avail;

	*used = pos;
	if (!avail)
		return HTTP_EV_MORE;
	if (p->state != ST_CLOSE) {
		if (p->remaining < n)
			n = (size_t)p->remaining;
		p->remaining -= n;
		if (p->state == ST_CHUNK_DATA && !p->remaining)
			p->state = ST_CHUNK_END;
	}
	*body = in;
	*body_len = n;
	*used = pos + n;
	return HTTP_EV_BODY;
}

enum http_event http_parse(struct http_parser *p, const char *data, size_t len, size_t *used,
			   const char **body, size_t *body_len)
{
	size_t pos = 0;

	*used = 0;
	*body = NULL;
	*body_len = 0;
	if (len && p->state != ST_DONE && p->state != ST_ERROR)
		p->got_bytes = true;
	for (;;) {
		const char *in = pos ? data + pos : data; /* data may be NULL with len 0 */
		size_t avail = len - pos, n, line_len;
		const char *section = NULL;
		enum http_event ev;
		int r;

		switch (p->state) {
		case ST_DONE:
			*used = pos;
			return HTTP_EV_DONE;
		case ST_ERROR:
			*used = pos;
			return HTTP_EV_ERROR;
		case ST_LENGTH:
			if (!p->remaining) {
				p->state = ST_DONE;
				continue;
			}
			return take_body(p, in, avail, pos, used, body, body_len);
		case ST_CHUNK_DATA:
		case ST_CLOSE:
			return take_body(p, in, avail, pos, used, body, body_len);
		case ST_CHUNK_END:
			/* Checked byte by byte: only CRLF or LF may follow chunk data. */
			*used = pos;
			if (!avail)
				return HTTP_EV_MORE;
			if (in[0] == '\r' && !p->line_len) { /* line_len notes the CR */
				p->line_len = 1;
			} else if (in[0] == '\n') {
				p->line_len = 0;
				p->state = ST_CHUNK_SIZE;
			} else {
				return fail(p, "missing CRLF after chunk data");
			}
			pos++;
			continue;
		case ST_STATUS:
		case ST_HEADER:
			section = "header section larger than 64 KiB";
			break;
		case ST_TRAILER:
			section = "trailer section larger than 64 KiB";
			break;
		}
		/* The remaining states take whole lines. */
		if (!avail) {
			*used = pos;
			return HTTP_EV_MORE;
		}
		r = take_line(p, in, avail, &n, &line_len, section);
		pos += n;
		*used = pos;
		if (r < 0)
			return HTTP_EV_ERROR;
		if (r == 0)
			return HTTP_EV_MORE;
		ev = line_state(p, p->line, line_len);
		if (ev != HTTP_EV_MORE)
			return ev;
	}
}

enum http_event http_parse_eof(struct http_parser *p)
{
	switch (p->state) {
	case ST_ERROR:
		return HTTP_EV_ERROR;
	case ST_DONE:
		return HTTP_EV_DONE;
	case ST_CLOSE:
		p->state = ST_DONE;
		return HTTP_EV_DONE;
	case ST_LENGTH:
		/* A body with nothing left (Content-Length: 0, 204) is already complete. */
		if (!p->remaining) {
			p->state = ST_DONE;
			return HTTP_EV_DONE;
		}
		break;
	}
	/* got_bytes tells a stale keep-alive connection from a broken response. */
	return fail(p, p->got_bytes ? err_incomplete : "connection closed before any response");
}

bool http_parser_reusable(const struct http_parser *p)
{
	/* close is also set for HTTP/1.0 without keep-alive and for until-close bodies. */
	return p->state == ST_DONE && !p->close;
}

/* ---- endpoint URLs ---- */

static int url_fail(const char **error, const char *why)
{
	if (error)
		*error = why;
	return -EINVAL;
}

static bool is_host_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c == '-' || c == '.' || c == '_' || c == '~';
}

int http_url_parse(const char *url, struct http_url *ret, const char **error)
{
	struct http_url u = { 0 };
	const char *s = url, *host, *host_end, *port = NULL, *port_end = NULL, *path;
	size_t host_len, path_len;

	if (!strncasecmp(s, "http://", 7)) {
		s += 7;
	} else if (!strncasecmp(s, "https://", 8)) {
		u.tls = true;
		s += 8;
	} else {
		return url_fail(error, "unsupported scheme (want http:// or https://)");
	}
	path = s + strcspn(s, "/?#");
	if (memchr(s, '@', (size_t)(path - s)))
		return url_fail(error, "user information in URL not supported");
	if (*s == '[') {
		host = s + 1;
		host_end = memchr(host, ']', (size_t)(path - host));
		if (!host_end || host_end == host)
			return url_fail(error, "bad IPv6 address");
		for (const char *c = host; c < host_end; c++)
			if (text_hex_digit(*c) < 0 && *c != ':' && *c != '.')
				return url_fail(error, "bad IPv6 address");
		if (!memchr(host, ':', (size_t)(host_end - host)))
			return url_fail(error, "bad IPv6 address");
		s = host_end + 1;
		if (s < path && *s != ':')
			return url_fail(error, "bad host");
	} else {
		host = s;
		host_end = s + strcspn(s, ":/?#");
		if (host_end == host)
			return url_fail(error, "missing host");
		for (const char *c = host; c < host_end; c++)
			if (!is_host_char(*c))
				return url_fail(error, "bad host");
		if (host_end < path && memchr(host_end + 1, ':', (size_t)(path - host_end - 1)))
			return url_fail(error, "IPv6 address must be in brackets");
		s = host_end;
	}
	if (s < path) { /* ":port" */
		port = s + 1;
		port_end = path;
	}
	host_len = (size_t)(host_end - host);
	if (host_len >= sizeof(u.host))
		return url_fail(error, "host name too long");
	memcpy(u.host, host, host_len);

	if (port) {
		unsigned long v = 0;
		size_t n = (size_t)(port_end - port);

		if (!n || n > 5)
			return url_fail(error, "bad port");
		for (size_t i = 0; i < n; i++) {
			if (!is_digit(port[i]))
				return url_fail(error, "bad port");
			v = v * 10 + (unsigned long)(port[i] - '0');
		}
		if (v < 1 || v > 65535)
			return url_fail(error, "bad port");
		snprintf(u.port, sizeof(u.port), "%lu", v);
	} else {
		strcpy(u.port, u.tls ? "443" : "80");
	}

	if (strpbrk(path, "?#"))
		return url_fail(error, "query or fragment in URL not supported");
	path_len = strlen(path);
	while (path_len && path[path_len - 1] == '/')
		path_len--;
	/* The prefix goes into request lines verbatim: no spaces or control bytes. */
	for (size_t i = 0; i < path_len; i++)
		if ((unsigned char)path[i] <= ' ' || (unsigned char)path[i] >= 0x7f)
			return url_fail(error, "bad path");
	if (path_len >= sizeof(u.path))
		return url_fail(error, "path too long");
	memcpy(u.path, path, path_len);
	*ret = u;
	return 0;
}
