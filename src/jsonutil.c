/* SPDX-License-Identifier: Apache-2.0 */
/* Go encoding/json decoding and encoding rules, over jansson and raw JSON text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "textutil.h"

/*
 * JSON_DECODE_INT_AS_REAL only for validation: Go accepts any integer
 * literal in a field it ignores, jansson would fail on one above INT64_MAX.
 */
#define VALIDATE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)

static const char hex_digits[] = "0123456789abcdef";

int jsonu_validate(const char *buf, size_t len, char *err, size_t errlen)
{
	const char *nul;
	json_error_t e;
	json_t *v;

	if (!buf) {
		if (err && errlen)
			snprintf(err, errlen, "invalid JSON: no input");
		return -EINVAL;
	}
	/*
	 * A raw NUL byte is never valid JSON (in a string it must be \u0000),
	 * as Go says, but jansson lets one pass between tokens; and every
	 * value we keep is a C string.
	 */
	nul = memchr(buf, '\0', len);
	if (nul) {
		if (err && errlen)
			snprintf(err, errlen, "invalid JSON: a NUL byte at offset %zu",
				 (size_t)(nul - buf));
		return -EINVAL;
	}
	v = json_loadb(buf, len, VALIDATE_FLAGS, &e);
	if (!v) {
		if (err && errlen)
			snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", e.line,
				 e.column, e.text);
		return -EINVAL;
	}
	json_decref(v);
	return 0;
}

/*
 * Next character of a key folded as Go's foldName() does, or -1 for a
 * character that cannot match an ASCII name.
 */
static int fold_next(const unsigned char *k, size_t len, size_t *i)
{
	unsigned char c = k[*i];
	size_t left = len - *i;

	if (c < 0x80) {
		(*i)++;
		return (c >= 'a' && c <= 'z') ? c - ('a' - 'A') : c;
	}
	if (left >= 2 && c == 0xc5 && k[*i + 1] == 0xbf) { /* U+017F long s */
		*i += 2;
		return 'S';
	}
	if (left >= 2 && c == 0xc4 && (k[*i + 1] == 0xb0 || k[*i + 1] == 0xb1)) {
		*i += 2; /* U+0130, U+0131: upper(lower(r)) is 'I' */
		return 'I';
	}
	if (left >= 3 && c == 0xe2 && k[*i + 1] == 0x84 && k[*i + 2] == 0xaa) {
		*i += 3; /* U+212A Kelvin sign */
		return 'K';
	}
	return -1;
}

bool jsonu_name_eq(const char *key, size_t keylen, const char *name)
{
	const unsigned char *k = (const unsigned char *)key;
	size_t i = 0, j = 0;

	while (i < keylen) {
		unsigned char n = (unsigned char)name[j];
		int f;

		if (n == '\0')
			return false;
		f = fold_next(k, keylen, &i);
		if (n >= 'a' && n <= 'z')
			n = (unsigned char)(n - ('a' - 'A'));
		if (f != n)
			return false;
		j++;
	}
	return name[j] == '\0';
}

enum jsonu_kind jsonu_raw_kind(const char *raw, size_t len)
{
	if (!raw || len == 0)
		return JSONU_INVALID;
	switch (raw[0]) {
	case 'n':
		return JSONU_NULL;
	case 't':
	case 'f':
		return JSONU_BOOL;
	case '"':
		return JSONU_STRING;
	case '[':
		return JSONU_ARRAY;
	case '{':
		return JSONU_OBJECT;
	default:
		if (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
			return JSONU_NUMBER;
		return JSONU_INVALID;
	}
}

const char *jsonu_kind_name(enum jsonu_kind kind)
{
	static const char *const names[] = {
		[JSONU_INVALID] = "invalid", [JSONU_NULL] = "null",	[JSONU_BOOL] = "bool",
		[JSONU_NUMBER] = "number",   [JSONU_STRING] = "string", [JSONU_ARRAY] = "array",
		[JSONU_OBJECT] = "object",
	};

	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "invalid";
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *b, size_t len, size_t p)
{
	while (p < len && is_ws(b[p]))
		p++;
	return p;
}

/* *p at the opening quote; leaves *p just past the closing one. */
static int skip_string(const char *b, size_t len, size_t *p)
{
	size_t i = *p + 1;

	while (i < len) {
		if (b[i] == '\\')
			i += 2;
		else if (b[i] == '"')
			break;
		else
			i++;
	}
	if (i >= len)
		return -EINVAL;
	*p = i + 1;
	return 0;
}

/* Any value; depth is counted, not recursed, so nesting cannot blow the stack. */
static int skip_value(const char *b, size_t len, size_t *p)
{
	size_t i = *p, depth = 0;

	if (i >= len)
		return -EINVAL;
	do {
		if (i >= len)
			return -EINVAL;
		switch (b[i]) {
		case '"':
			if (skip_string(b, len, &i) < 0)
				return -EINVAL;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return -EINVAL;
			depth--;
			break;
		default:
			if (depth == 0) {
				/* A literal or a number runs to the next delimiter. */
				while (i < len && !is_ws(b[i]) && b[i] != ',' && b[i] != '}' &&
				       b[i] != ']')
					i++;
				*p = i;
				return 0;
			}
		}
		i++;
	} while (depth > 0);
	*p = i;
	return 0;
}

int jsonu_iter_init(struct jsonu_iter *it, const char *buf, size_t len)
{
	size_t p;

	memset(it, 0, sizeof(*it));
	if (!buf)
		return -EINVAL;
	p = skip_ws(buf, len, 0);
	if (p >= len || buf[p] != '{')
		return -EINVAL;
	it->buf = buf;
	it->len = len;
	it->pos = p + 1;
	return 0;
}

static int decode_key(struct jsonu_iter *it, size_t start, size_t end, struct jsonu_member *m)
{
	const char *inner = it->buf + start + 1;
	size_t inner_len = end - start - 2;
	int r;

	if (!memchr(inner, '\\', inner_len)) {
		m->key = inner;
		m->key_len = inner_len;
		return 0;
	}
	r = jsonu_raw_string(it->buf + start, end - start, &it->key_buf, &m->key_len);
	if (r != 0)
		return r < 0 ? r : -EINVAL;
	m->key = it->key_buf;
	return 0;
}

int jsonu_iter_next(struct jsonu_iter *it, struct jsonu_member *m)
{
	const char *b = it->buf;
	size_t len = it->len, p, kstart;
	int r;

	free(it->key_buf);
	it->key_buf = NULL;
	if (!b)
		return -EINVAL;
	p = skip_ws(b, len, it->pos);
	if (p < len && b[p] == '}') {
		it->pos = p;
		return 0;
	}
	if (it->started) {
		if (p >= len || b[p] != ',')
			return -EINVAL;
		p = skip_ws(b, len, p + 1);
	}
	if (p >= len || b[p] != '"')
		return -EINVAL;
	kstart = p;
	if (skip_string(b, len, &p) < 0)
		return -EINVAL;
	r = decode_key(it, kstart, p, m);
	if (r < 0)
		return r;
	p = skip_ws(b, len, p);
	if (p >= len || b[p] != ':')
		return -EINVAL;
	p = skip_ws(b, len, p + 1);
	m->raw = b + p;
	if (skip_value(b, len, &p) < 0)
		return -EINVAL;
	m->raw_len = (size_t)(b + p - m->raw);
	it->pos = p;
	it->started = true;
	return 1;
}

void jsonu_iter_release(struct jsonu_iter *it)
{
	free(it->key_buf);
	it->key_buf = NULL;
}

int jsonu_raw_bool(const char *raw, size_t len, bool *ret)
{
	switch (jsonu_raw_kind(raw, len)) {
	case JSONU_NULL:
		return 1;
	case JSONU_BOOL:
		*ret = raw[0] == 't';
		return 0;
	default:
		return -EINVAL;
	}
}

/* strconv.ParseUint(raw, 10, 64) on the literal, then the field's own range. */
int jsonu_raw_uint(const char *raw, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	switch (jsonu_raw_kind(raw, len)) {
	case JSONU_NULL:
		return 1;
	case JSONU_NUMBER:
		break;
	default:
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned d;

		if (raw[i] < '0' || raw[i] > '9')
			return -EINVAL;
		d = (unsigned)(raw[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int jsonu_raw_string(const char *raw, size_t len, char **ret, size_t *ret_len)
{
	json_error_t e;
	json_t *v;
	size_t n;
	char *s;

	switch (jsonu_raw_kind(raw, len)) {
	case JSONU_NULL:
		return 1;
	case JSONU_STRING:
		break;
	default:
		return -EINVAL;
	}
	v = json_loadb(raw, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (!v || !json_is_string(v)) {
		json_decref(v);
		return -EINVAL;
	}
	n = json_string_length(v);
	s = malloc(n + 1);
	if (!s) {
		json_decref(v);
		return -ENOMEM;
	}
	memcpy(s, json_string_value(v), n);
	s[n] = '\0';
	json_decref(v);
	*ret = s;
	*ret_len = n;
	return 0;
}

static bool type_takes_number_text(const char *type)
{
	return !strncmp(type, "int", 3) || !strncmp(type, "uint", 4) || !strncmp(type, "float", 5);
}

void jsonu_type_error(char *err, size_t errlen, const char *raw, size_t len, const char *field,
		      const char *type)
{
	enum jsonu_kind kind = jsonu_raw_kind(raw, len);
	const char *what = jsonu_kind_name(kind);
	int n;

	if (!err || !errlen)
		return;
	/* Go quotes the literal only when decoding a number into a numeric type failed. */
	if (kind == JSONU_NUMBER && type_takes_number_text(type))
		n = snprintf(err, errlen, "json: cannot unmarshal number %.*s",
			     (int)(len > 64 ? 64 : len), raw);
	else
		n = snprintf(err, errlen, "json: cannot unmarshal %s", what);
	if (n < 0 || (size_t)n >= errlen)
		return;
	if (field)
		snprintf(err + n, errlen - (size_t)n, " into Go struct field %s of type %s", field,
			 type);
	else
		snprintf(err + n, errlen - (size_t)n, " into Go value of type %s", type);
}

static bool buf_grow(struct jsonu_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void jsonu_buf_add(struct jsonu_buf *b, const char *s, size_t len)
{
	if (!buf_grow(b, len))
		return;
	if (len)
		memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void jsonu_buf_adds(struct jsonu_buf *b, const char *s)
{
	jsonu_buf_add(b, s, strlen(s));
}

static void buf_add_u00(struct jsonu_buf *b, unsigned char c)
{
	char esc[6] = { '\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xf] };

	jsonu_buf_add(b, esc, sizeof(esc));
}

/* Length of the valid UTF-8 sequence at s (utf8.DecodeRune rules), 0 if invalid. */
size_t jsonu_utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0], v;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, v = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static bool html_unsafe(unsigned char c)
{
	return c == '<' || c == '>' || c == '&';
}

static bool quote_ascii(struct jsonu_buf *b, unsigned char c)
{
	static const char short_esc[] = {
		['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'
	};

	if (c == '"' || c == '\\') {
		char esc[2] = { '\\', (char)c };

		jsonu_buf_add(b, esc, 2);
	} else if (c < sizeof(short_esc) && short_esc[c]) {
		char esc[2] = { '\\', short_esc[c] };

		jsonu_buf_add(b, esc, 2);
	} else if (c < 0x20 || html_unsafe(c)) {
		buf_add_u00(b, c);
	} else {
		return false;
	}
	return true;
}

void jsonu_buf_add_quoted(struct jsonu_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	jsonu_buf_add(b, "\"", 1);
	while (i < len) {
		unsigned cp;
		size_t n;

		if (u[i] < 0x80) {
			if (!quote_ascii(b, u[i]))
				jsonu_buf_add(b, s + i, 1);
			i++;
			continue;
		}
		n = jsonu_utf8_len(u + i, len - i, &cp);
		if (n == 0) {
			/* Go replaces each invalid byte with U+FFFD. */
			jsonu_buf_adds(b, "\\ufffd");
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			jsonu_buf_adds(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
			i += n;
		} else {
			jsonu_buf_add(b, s + i, n);
			i += n;
		}
	}
	jsonu_buf_add(b, "\"", 1);
}

char *jsonu_buf_take(struct jsonu_buf *b)
{
	char *p;

	if (!b->oom && !b->p)
		jsonu_buf_add(b, "", 0);
	p = b->oom ? NULL : b->p;
	if (b->oom)
		free(b->p);
	memset(b, 0, sizeof(*b));
	return p;
}

/*
 * Shared by jsonu_compact() and jsonu_dumps(): outside strings drop
 * whitespace; inside, escape what json.Marshal escapes. lower_hex also
 * lower-cases existing \uXXXX escapes, since jansson writes them upper-case
 * where Go's encoder would not.
 */
static char *go_compact(const char *raw, size_t len, bool lower_hex)
{
	const unsigned char *u = (const unsigned char *)raw;
	struct jsonu_buf b = { 0 };
	bool in_str = false;
	size_t i = 0;

	while (i < len) {
		unsigned char c = u[i];

		if (!in_str) {
			if (!is_ws((char)c))
				jsonu_buf_add(&b, raw + i, 1);
			in_str = c == '"';
			i++;
		} else if (c == '\\' && i + 1 < len) {
			size_t n = (u[i + 1] == 'u' && i + 6 <= len) ? 6 : 2;
			char esc[6];
			size_t k;

			memcpy(esc, raw + i, n);
			for (k = 2; lower_hex && k < n; k++)
				if (esc[k] >= 'A' && esc[k] <= 'F')
					esc[k] = (char)(esc[k] + ('a' - 'A'));
			jsonu_buf_add(&b, esc, n);
			i += n;
		} else if (html_unsafe(c)) {
			buf_add_u00(&b, c);
			i++;
		} else if (c == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
			   (u[i + 2] & ~1u) == 0xa8) {
			jsonu_buf_adds(&b, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
			i += 3;
		} else {
			jsonu_buf_add(&b, raw + i, 1);
			in_str = c != '"';
			i++;
		}
	}
	return jsonu_buf_take(&b);
}

char *jsonu_compact(const char *raw, size_t len)
{
	return go_compact(raw, len, false);
}

json_t *jsonu_get(json_t *obj, const char *name)
{
	json_t *found = NULL;
	void *it;

	if (!json_is_object(obj))
		return NULL;
	/* jansson iterates in insertion order, so the last match is Go's winner. */
	for (it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);

		if (jsonu_name_eq(key, json_object_iter_key_len(it), name))
			found = json_object_iter_value(it);
	}
	return found;
}

char *jsonu_dumps(const json_t *v)
{
	char *s, *out;

	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return NULL;
	out = go_compact(s, strlen(s), true);
	free(s);
	return out;
}

int jsonu_member_string(const struct jsonu_member *m, const char *name, char **ret, size_t *len,
			char *err, size_t errlen)
{
	char what[48];
	int r = jsonu_raw_string(m->raw, m->raw_len, ret, len);

	if (r == 1) {
		*ret = NULL;
		return 0;
	}
	if (r == -ENOMEM)
		return text_fail(err, errlen, "out of memory");
	if (r < 0) {
		snprintf(what, sizeof(what), ".%s", name);
		jsonu_type_error(err, errlen, m->raw, m->raw_len, what, "string");
		return -EINVAL;
	}
	return 0;
}
