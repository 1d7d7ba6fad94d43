/* SPDX-License-Identifier: Apache-2.0 */
/* A one-pass JSON checker and decoder (see jsonwalk.h). */
#include "jsonwalk.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "textutil.h"

/* Without an exponent, an integer part this short cannot leave double range. */
#define NUM_FAST_DIGITS 300

/* Bytes inside a string, by what the walk must do with them. */
enum { S_PLAIN, S_QUOTE, S_ESCAPE, S_CONTROL, S_HTML, S_HIGH };

static const unsigned char str_class[256] = {
	[0x00 ... 0x1f] = S_CONTROL,
	['"'] = S_QUOTE,
	['\\'] = S_ESCAPE,
	['<'] = S_HTML,
	['>'] = S_HTML,
	['&'] = S_HTML,
	[0x80 ... 0xff] = S_HIGH,
};

static int fail(struct jw *w, size_t at, const char *what)
{
	w->bad = what;
	w->bad_at = at;
	return -EINVAL;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skip whitespace; inside a kept value, any makes it need compacting. */
void jw_ws(struct jw *w, bool *plain)
{
	size_t p = w->pos;

	while (p < w->len && is_ws(w->b[p]))
		p++;
	if (p != w->pos)
		*plain = false;
	w->pos = p;
}

bool jw_at(const struct jw *w, char c)
{
	return w->pos < w->len && w->b[w->pos] == c;
}

int jw_fail_here(struct jw *w, const char *what)
{
	if (w->pos >= w->len)
		return fail(w, w->pos, "unexpected end of input");
	if (w->b[w->pos] == '\0')
		return fail(w, w->pos, "a NUL byte");
	return fail(w, w->pos, what);
}

static void sink_add(struct jw_sink *s, const char *p, size_t n)
{
	if (s->buf && s->len < s->cap)
		memcpy(s->buf + s->len, p, n < s->cap - s->len ? n : s->cap - s->len);
	s->len += n;
}

static void sink_add_cp(struct jw_sink *s, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (cp == 0)
		s->nul = true;
	sink_add(s, u, n);
}

/* The four hex digits of a \u escape starting at i ('\\'); -1 if there are none. */
static long hex4(const struct jw *w, size_t i)
{
	long v = 0;
	size_t k;

	if (i + 6 > w->len || w->b[i] != '\\' || w->b[i + 1] != 'u')
		return -1;
	for (k = i + 2; k < i + 6; k++) {
		char c = w->b[k];

		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v << 4 | ((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/* An escape at *i (the backslash): checked, decoded into out, *i moved past it. */
static int scan_escape(struct jw *w, size_t *i, struct jw_sink *out)
{
	static const char simple[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
	const char *e;
	long hi, lo;

	if (*i + 1 >= w->len)
		return fail(w, *i, "unexpected end of input");
	e = w->b[*i + 1] ? strchr(simple, w->b[*i + 1]) : NULL;
	if (e) {
		sink_add(out, &decoded[e - simple], 1);
		*i += 2;
		return 0;
	}
	hi = hex4(w, *i);
	if (hi < 0)
		return fail(w, *i, "invalid escape");
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return fail(w, *i, "invalid Unicode escape (a lone surrogate)");
	if (hi < 0xd800 || hi > 0xdbff) {
		sink_add_cp(out, (unsigned)hi);
		*i += 6;
		return 0;
	}
	lo = hex4(w, *i + 6);
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail(w, *i, "invalid Unicode escape (a lone surrogate)");
	sink_add_cp(out, 0x10000 + (((unsigned)hi - 0xd800) << 10 | ((unsigned)lo - 0xdc00)));
	*i += 12;
	return 0;
}

/* A string at w->pos (the quote): checked and decoded into out. */
int jw_string(struct jw *w, struct jw_sink *out, bool *plain)
{
	const unsigned char *b = (const unsigned char *)w->b;
	size_t i = w->pos + 1;

	for (;;) {
		size_t run = i, n;
		unsigned cp;
		int r;

		while (i < w->len && str_class[b[i]] == S_PLAIN)
			i++;
		if (i > run)
			sink_add(out, w->b + run, i - run);
		if (i >= w->len)
			return fail(w, i, "unexpected end of input in a string");
		switch (str_class[b[i]]) {
		case S_QUOTE:
			w->pos = i + 1;
			return 0;
		case S_ESCAPE:
			r = scan_escape(w, &i, out);
			if (r < 0)
				return r;
			break;
		case S_HTML: /* json.Marshal escapes these when it writes the value back */
			*plain = false;
			sink_add(out, w->b + i, 1);
			i++;
			break;
		case S_CONTROL:
			return fail(w, i, b[i] ? "a control character in a string" : "a NUL byte");
		default:
			n = jsonu_utf8_len(b + i, w->len - i, &cp);
			if (!n)
				return fail(w, i, "invalid UTF-8");
			if (cp == 0x2028 || cp == 0x2029)
				*plain = false;
			sink_add(out, w->b + i, n);
			i += n;
		}
	}
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t skip_digits(const struct jw *w, size_t i)
{
	while (i < w->len && is_digit(w->b[i]))
		i++;
	return i;
}

/* strtod's verdict on a literal that might leave double range (jansson refused those). */
static int out_of_range(const char *s, size_t n)
{
	char small[64], *t = n < sizeof(small) ? small : malloc(n + 1);
	double v;
	int r;

	if (!t)
		return -ENOMEM;
	memcpy(t, s, n);
	t[n] = '\0';
	errno = 0;
	v = strtod(t, NULL);
	r = (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE;
	if (t != small)
		free(t);
	return r;
}

static int scan_number(struct jw *w)
{
	size_t start = w->pos, i = start, int_start;
	bool slow;
	int r;

	if (w->b[i] == '-')
		i++;
	int_start = i;
	if (i >= w->len || !is_digit(w->b[i]))
		return fail(w, i, "invalid number");
	i = w->b[i] == '0' ? i + 1 : skip_digits(w, i);
	if (i < w->len && is_digit(w->b[i]))
		return fail(w, i, "invalid number (a leading zero)");
	slow = i - int_start > NUM_FAST_DIGITS;
	if (i < w->len && w->b[i] == '.') {
		if (i + 1 >= w->len || !is_digit(w->b[i + 1]))
			return fail(w, i + 1, "invalid number");
		i = skip_digits(w, i + 1);
	}
	if (i < w->len && (w->b[i] == 'e' || w->b[i] == 'E')) {
		i++;
		if (i < w->len && (w->b[i] == '+' || w->b[i] == '-'))
			i++;
		if (i >= w->len || !is_digit(w->b[i]))
			return fail(w, i, "invalid number");
		i = skip_digits(w, i);
		slow = true;
	}
	if (slow) {
		r = out_of_range(w->b + start, i - start);
		if (r < 0)
			return r;
		if (r)
			return fail(w, start, "number out of range");
	}
	w->pos = i;
	return 0;
}

static int scan_literal(struct jw *w, const char *word, size_t n)
{
	if (w->len - w->pos < n || memcmp(w->b + w->pos, word, n) != 0)
		return jw_fail_here(w, "invalid token");
	w->pos += n;
	return 0;
}

/* A string, number or literal at w->pos. */
static int scan_scalar(struct jw *w, bool *plain)
{
	struct jw_sink count = { 0 };

	if (w->pos >= w->len)
		return jw_fail_here(w, "");
	switch (w->b[w->pos]) {
	case '"':
		return jw_string(w, &count, plain);
	case 't':
		return scan_literal(w, "true", 4);
	case 'f':
		return scan_literal(w, "false", 5);
	case 'n':
		return scan_literal(w, "null", 4);
	default:
		if (w->b[w->pos] == '-' || is_digit(w->b[w->pos]))
			return scan_number(w);
		return jw_fail_here(w, "invalid token");
	}
}

/* A member's key, into out; then the colon. jansson never took a NUL in a key. */
int jw_key(struct jw *w, struct jw_sink *out, bool *plain)
{
	size_t start = w->pos;
	int r;

	if (!jw_at(w, '"'))
		return jw_fail_here(w, "expected a string key");
	r = jw_string(w, out, plain);
	if (r < 0)
		return r;
	if (out->nul)
		return fail(w, start, "a NUL (\\u0000) in a key");
	jw_ws(w, plain);
	if (!jw_at(w, ':'))
		return jw_fail_here(w, "expected ':'");
	w->pos++;
	jw_ws(w, plain);
	return 0;
}

static void bit_set(unsigned char *bits, unsigned i, bool on)
{
	if (on)
		bits[i / 8] |= (unsigned char)(1u << i % 8);
	else
		bits[i / 8] &= (unsigned char)~(1u << i % 8);
}

static bool bit_get(const unsigned char *bits, unsigned i)
{
	return bits[i / 8] >> i % 8 & 1;
}

/*
 * Check one value of any kind at w->pos, at the given depth. Nesting is
 * kept in a bit stack, not recursion, so no input can exhaust the stack.
 */
int jw_value(struct jw *w, unsigned depth, bool *plain)
{
	unsigned char is_obj[JW_DEPTH_MAX / 8 + 1];
	const unsigned base = depth;
	int r;

	for (;;) {
		/* A value starts at w->pos. */
		if (depth > JW_DEPTH_MAX)
			return fail(w, w->pos, "nested too deep");
		if (jw_at(w, '{') || jw_at(w, '[')) {
			bool obj = jw_at(w, '{');
			struct jw_sink count = { 0 };

			w->pos++;
			jw_ws(w, plain);
			if (!jw_at(w, obj ? '}' : ']')) {
				bit_set(is_obj, depth - base, obj);
				if (obj && (r = jw_key(w, &count, plain)) < 0)
					return r;
				depth++;
				continue;
			}
			w->pos++; /* empty: complete already */
		} else if ((r = scan_scalar(w, plain)) < 0) {
			return r;
		}
		/* A value at depth is complete: close what it completes, up to the next value. */
		for (;;) {
			bool obj;

			if (depth == base)
				return 0;
			obj = bit_get(is_obj, depth - 1 - base);
			jw_ws(w, plain);
			if (jw_at(w, ',')) {
				struct jw_sink count = { 0 };

				w->pos++;
				jw_ws(w, plain);
				if (obj && (r = jw_key(w, &count, plain)) < 0)
					return r;
				break;
			}
			if (!jw_at(w, obj ? '}' : ']'))
				return jw_fail_here(w, obj ? "expected ',' or '}'"
							   : "expected ',' or ']'");
			w->pos++;
			depth--;
		}
	}
}
int jw_fail_text(const struct jw *w, char *err, size_t errlen)
{
	if (strcmp(w->bad, "a NUL byte") == 0)
		return text_fail(err, errlen, "invalid JSON: a NUL byte at offset %zu", w->bad_at);
	return text_fail(err, errlen, "invalid JSON at offset %zu: %s", w->bad_at, w->bad);
}

/* The document ends after the value: whitespace only. */
static int jw_end(struct jw *w)
{
	bool plain;

	jw_ws(w, &plain);
	if (w->pos < w->len)
		return jw_fail_here(w, "data after the value");
	return 0;
}

int jw_obj_init(struct jw_obj *o, const char *buf, size_t len)
{
	bool plain;
	int r;

	*o = (struct jw_obj){ .w = { .b = buf, .len = buf ? len : 0 } };
	if (!buf)
		return jw_fail_here(&o->w, "");
	jw_ws(&o->w, &plain);
	if (jw_at(&o->w, '{'))
		return 1;
	r = jw_value(&o->w, 1, &plain);
	if (r == 0)
		r = jw_end(&o->w);
	return r < 0 ? r : 0;
}

int jw_obj_next(struct jw_obj *o, struct jw_member *m)
{
	struct jw *w = &o->w;
	struct jw_sink ks = { .buf = m->key, .cap = sizeof(m->key) };
	bool plain;
	int r;

	if (!o->started) {
		o->started = true;
		w->pos++; /* the '{' jw_obj_init() found */
		jw_ws(w, &plain);
		if (jw_at(w, '}')) {
			w->pos++;
			return jw_end(w);
		}
	} else {
		jw_ws(w, &plain);
		if (jw_at(w, '}')) {
			w->pos++;
			return jw_end(w);
		}
		if (!jw_at(w, ','))
			return jw_fail_here(w, "expected ',' or '}'");
		w->pos++;
		jw_ws(w, &plain);
	}
	r = jw_key(w, &ks, &plain);
	if (r < 0)
		return r;
	m->key_len = ks.len;
	m->raw = w->b + w->pos;
	r = jw_value(w, 2, &plain);
	if (r < 0)
		return r;
	m->raw_len = (size_t)(w->b + w->pos - m->raw);
	return 1;
}

int jw_raw_string(const char *raw, size_t len, struct jw_sink *out)
{
	struct jw w = { .b = raw, .len = len };
	bool plain;

	if (!jw_at(&w, '"'))
		return -EINVAL;
	return jw_string(&w, out, &plain);
}
