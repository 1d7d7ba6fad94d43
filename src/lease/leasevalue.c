/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A lease value (upstream's LeaseAttrs JSON) decoded in one pass: the walk
 * that validates the bytes also takes the fields out, so no tree is built
 * and nothing is read twice. It runs for every watch event.
 *
 * The field rules are Go's encoding/json as subnet.h states them. What
 * counts as valid JSON is what jansson 2.14 accepted when it validated
 * lease values here: strict UTF-8, no lone surrogate escape, no "\u0000"
 * in a key, no number beyond double range, values nested at most 2048
 * deep, and no raw NUL anywhere. Go accepts the first four; no Go writer
 * produces them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "lease/subnet.h"
#include "textutil.h"

#define DEPTH_MAX 2048 /* the document is at depth 1, each nesting adds one */
/* Longest key that can still match a field: "BackendV6Data" with 3-byte folds (U+212A). */
#define KEY_MAX	 40
#define TYPE_MAX (sizeof(((struct lease_attrs *)0)->backend_type) - 1)
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

struct walk {
	const char *b;
	size_t len, pos;
	const char *bad; /* first syntax error, a static text */
	size_t bad_at;
};

/*
 * Where a decoded string goes: the first cap bytes are kept, len counts
 * them all. A NULL buf only counts (a string that is checked, not kept).
 */
struct sink {
	char *buf;
	size_t cap, len;
	bool nul;
};

/* A kept json.RawMessage: where its bytes are, and if they are compact as they stand. */
struct span {
	const char *p;
	size_t len;
	bool plain, set;
};

enum field { F_NONE, F_PUBLIC_IP, F_PUBLIC_IPV6, F_TYPE, F_DATA, F_DATA6 };

struct lease_dec {
	struct lease_attrs a; /* data pointers stay NULL until the end */
	bool has_public_ip;
	char type[TYPE_MAX + 1];
	struct sink type_sink;
	bool has_type;
	struct span data, data6;
	const char *top_wrong; /* the document, when it is neither an object nor null */
	char hard[160];	       /* first error that ends Go-rule decoding */
	char terr[200];	       /* first Go type error */
};

static int fail(struct walk *w, size_t at, const char *what)
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
static void skip_ws(struct walk *w, bool *plain)
{
	size_t p = w->pos;

	while (p < w->len && is_ws(w->b[p]))
		p++;
	if (p != w->pos)
		*plain = false;
	w->pos = p;
}

static bool at(const struct walk *w, char c)
{
	return w->pos < w->len && w->b[w->pos] == c;
}

static int fail_here(struct walk *w, const char *what)
{
	if (w->pos >= w->len)
		return fail(w, w->pos, "unexpected end of input");
	if (w->b[w->pos] == '\0')
		return fail(w, w->pos, "a NUL byte");
	return fail(w, w->pos, what);
}

static void sink_add(struct sink *s, const char *p, size_t n)
{
	if (s->buf && s->len < s->cap)
		memcpy(s->buf + s->len, p, n < s->cap - s->len ? n : s->cap - s->len);
	s->len += n;
}

static void sink_add_cp(struct sink *s, unsigned cp)
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
static long hex4(const struct walk *w, size_t i)
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
static int scan_escape(struct walk *w, size_t *i, struct sink *out)
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
static int scan_string(struct walk *w, struct sink *out, bool *plain)
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

static size_t skip_digits(const struct walk *w, size_t i)
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

static int scan_number(struct walk *w)
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

static int scan_literal(struct walk *w, const char *word, size_t n)
{
	if (w->len - w->pos < n || memcmp(w->b + w->pos, word, n) != 0)
		return fail_here(w, "invalid token");
	w->pos += n;
	return 0;
}

/* A string, number or literal at w->pos. */
static int scan_scalar(struct walk *w, bool *plain)
{
	struct sink count = { 0 };

	if (w->pos >= w->len)
		return fail_here(w, "");
	switch (w->b[w->pos]) {
	case '"':
		return scan_string(w, &count, plain);
	case 't':
		return scan_literal(w, "true", 4);
	case 'f':
		return scan_literal(w, "false", 5);
	case 'n':
		return scan_literal(w, "null", 4);
	default:
		if (w->b[w->pos] == '-' || is_digit(w->b[w->pos]))
			return scan_number(w);
		return fail_here(w, "invalid token");
	}
}

/* A member's key, into out; then the colon. jansson never took a NUL in a key. */
static int scan_key(struct walk *w, struct sink *out, bool *plain)
{
	size_t start = w->pos;
	int r;

	if (!at(w, '"'))
		return fail_here(w, "expected a string key");
	r = scan_string(w, out, plain);
	if (r < 0)
		return r;
	if (out->nul)
		return fail(w, start, "a NUL (\\u0000) in a key");
	skip_ws(w, plain);
	if (!at(w, ':'))
		return fail_here(w, "expected ':'");
	w->pos++;
	skip_ws(w, plain);
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
static int skip_value(struct walk *w, unsigned depth, bool *plain)
{
	unsigned char is_obj[DEPTH_MAX / 8 + 1];
	const unsigned base = depth;
	int r;

	for (;;) {
		/* A value starts at w->pos. */
		if (depth > DEPTH_MAX)
			return fail(w, w->pos, "nested too deep");
		if (at(w, '{') || at(w, '[')) {
			bool obj = at(w, '{');
			struct sink count = { 0 };

			w->pos++;
			skip_ws(w, plain);
			if (!at(w, obj ? '}' : ']')) {
				bit_set(is_obj, depth - base, obj);
				if (obj && (r = scan_key(w, &count, plain)) < 0)
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
			skip_ws(w, plain);
			if (at(w, ',')) {
				struct sink count = { 0 };

				w->pos++;
				skip_ws(w, plain);
				if (obj && (r = scan_key(w, &count, plain)) < 0)
					return r;
				break;
			}
			if (!at(w, obj ? '}' : ']'))
				return fail_here(w, obj ? "expected ',' or '}'"
							: "expected ',' or ']'");
			w->pos++;
			depth--;
		}
	}
}

static const struct {
	const char *name; /* upper case, as ASCII keys are compared after folding */
	size_t len;
	enum field field;
} fields[] = {
	{ "PUBLICIP", 8, F_PUBLIC_IP },	  { "PUBLICIPV6", 10, F_PUBLIC_IPV6 },
	{ "BACKENDTYPE", 11, F_TYPE },	  { "BACKENDDATA", 11, F_DATA },
	{ "BACKENDV6DATA", 13, F_DATA6 },
};

/* An all-ASCII key, folded as Go folds it, against an upper-case name of its length. */
static bool ascii_key_is(const char *k, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = k[i] >= 'a' && k[i] <= 'z' ? (char)(k[i] - ('a' - 'A')) : k[i];

		if (c != name[i])
			return false;
	}
	return true;
}

static enum field field_of(const char *k, size_t n)
{
	bool ascii = true;
	size_t i;

	for (i = 0; i < n && ascii; i++)
		ascii = (unsigned char)k[i] < 0x80;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		/* ASCII folds byte for byte; only keys with U+017F, U+212A, ... need more. */
		if (ascii ? fields[i].len == n && ascii_key_is(k, n, fields[i].name)
			  : jsonu_name_eq(k, n, fields[i].name))
			return fields[i].field;
	}
	return F_NONE;
}

/* ip.IP4/ip.IP6 UnmarshalJSON: raw bytes with '"' trimmed from both ends. */
static void trim_quotes(const char **s, size_t *len)
{
	while (*len && **s == '"') {
		(*s)++;
		(*len)--;
	}
	while (*len && (*s)[*len - 1] == '"')
		(*len)--;
}

static int ip_length_shown(size_t len)
{
	return (int)(len > 64 ? 64 : len);
}

static void set_public_ip(struct lease_dec *d, const char *raw, size_t len)
{
	struct ip6 a;

	trim_quotes(&raw, &len);
	if (ip_parse_go(raw, len, &a) < 0)
		snprintf(d->hard, sizeof(d->hard), "PublicIP: invalid IP address format: \"%.*s\"",
			 ip_length_shown(len), raw);
	else if (!ip6_to4(&a, &d->a.public_ip))
		snprintf(d->hard, sizeof(d->hard),
			 "PublicIP: invalid IPv4 address format: \"%.*s\"", ip_length_shown(len),
			 raw);
	else
		d->has_public_ip = true;
}

static void set_public_ipv6(struct lease_dec *d, const char *raw, size_t len)
{
	/* A *ip.IP6 set to null is nil: no IPv6. */
	if (raw[0] == 'n') {
		d->a.has_public_ipv6 = false;
		return;
	}
	trim_quotes(&raw, &len);
	if (ip_parse_go(raw, len, &d->a.public_ipv6) < 0)
		snprintf(d->hard, sizeof(d->hard),
			 "PublicIPv6: invalid IP address format: \"%.*s\"", ip_length_shown(len),
			 raw);
	else
		d->a.has_public_ipv6 = true;
}

/* One member of the document: its value checked, and taken if it is a field. */
static int take_member(struct walk *w, struct lease_dec *d, enum field f)
{
	const char *raw = w->b + w->pos;
	bool plain = true;
	size_t len;
	int r;

	if (f == F_TYPE && at(w, '"')) {
		/* Decoded straight into place: a later string replaces it anyway. */
		d->type_sink = (struct sink){ .buf = d->type, .cap = TYPE_MAX };
		r = scan_string(w, &d->type_sink, &plain);
		d->has_type = true;
		return r;
	}
	r = skip_value(w, 2, &plain);
	if (r < 0 || d->hard[0])
		return r; /* after the first hard error, as Go, nothing else is decoded */
	len = (size_t)(w->b + w->pos - raw);
	switch (f) {
	case F_PUBLIC_IP:
		set_public_ip(d, raw, len);
		break;
	case F_PUBLIC_IPV6:
		set_public_ipv6(d, raw, len);
		break;
	case F_TYPE: /* null leaves a string alone; anything else is a type error */
		if (raw[0] != 'n' && !d->terr[0])
			jsonu_type_error(d->terr, sizeof(d->terr), raw, len,
					 "LeaseAttrs.BackendType", "string");
		break;
	case F_DATA:
		d->data = (struct span){ raw, len, plain, true };
		break;
	case F_DATA6:
		d->data6 = (struct span){ raw, len, plain, true };
		break;
	case F_NONE:
		break;
	}
	return 0;
}

static int walk_members(struct walk *w, struct lease_dec *d)
{
	bool plain = true;
	int r;

	w->pos++;
	skip_ws(w, &plain);
	if (at(w, '}')) {
		w->pos++;
		return 0;
	}
	for (;;) {
		char key[KEY_MAX];
		struct sink ks = { .buf = key, .cap = sizeof(key) };

		r = scan_key(w, &ks, &plain);
		if (r < 0)
			return r;
		r = take_member(w, d, ks.len <= ks.cap ? field_of(key, ks.len) : F_NONE);
		if (r < 0)
			return r;
		skip_ws(w, &plain);
		if (at(w, '}')) {
			w->pos++;
			return 0;
		}
		if (!at(w, ','))
			return fail_here(w, "expected ',' or '}'");
		w->pos++;
		skip_ws(w, &plain);
	}
}

static int walk_document(struct walk *w, struct lease_dec *d)
{
	bool plain = true;
	int r;

	skip_ws(w, &plain);
	if (at(w, '{')) {
		r = walk_members(w, d);
	} else {
		/* null decodes to nothing; any other kind cannot be a LeaseAttrs. */
		d->top_wrong = at(w, 'n') ? NULL : w->b + w->pos;
		r = skip_value(w, 1, &plain);
	}
	if (r < 0)
		return r;
	skip_ws(w, &plain);
	if (w->pos < w->len)
		return fail_here(w, "data after the value");
	return 0;
}

/* A kept RawMessage in Go's compact form, as json.Marshal would write it back. */
static char *span_copy(const struct span *s)
{
	char *c;

	if (!s->plain)
		return jsonu_compact(s->p, s->len);
	c = malloc(s->len + 1);
	if (c) {
		memcpy(c, s->p, s->len);
		c[s->len] = '\0';
	}
	return c;
}

/* What Go accepts but we cannot hold, or must not trust: reject with a reason. */
static int dec_finish(struct lease_dec *d, const char *raw, size_t len, bool keep_all,
		      const char *keep_type, char *err, size_t errlen)
{
	if (d->hard[0])
		return text_fail(err, errlen, "%s", d->hard);
	if (d->top_wrong) {
		jsonu_type_error(err, errlen, d->top_wrong, (size_t)(raw + len - d->top_wrong),
				 NULL, "subnet.LeaseAttrs");
		return -EINVAL;
	}
	if (d->terr[0])
		return text_fail(err, errlen, "%s", d->terr);
	/* Go would take a missing PublicIP as 0.0.0.0; every real writer sets it. */
	if (!d->has_public_ip)
		return text_fail(err, errlen, "PublicIP is missing");
	if (d->has_type) {
		if (d->type_sink.nul)
			return text_fail(err, errlen, "BackendType contains a NUL byte");
		if (d->type_sink.len > TYPE_MAX)
			return text_fail(err, errlen, "BackendType is longer than %zu bytes",
					 TYPE_MAX);
		memcpy(d->a.backend_type, d->type, d->type_sink.len);
		d->a.backend_type[d->type_sink.len] = '\0';
	}
	/* The type is final only now: a later member may have named another one. */
	if (!keep_all && !(keep_type && strcmp(d->a.backend_type, keep_type) == 0))
		return 0;
	if ((d->data.set && !(d->a.backend_data = span_copy(&d->data))) ||
	    (d->data6.set && !(d->a.backend_v6_data = span_copy(&d->data6)))) {
		lease_attrs_free(&d->a);
		return text_fail(err, errlen, "out of memory");
	}
	return 0;
}

static int parse(const char *json, size_t len, bool keep_all, const char *keep_type,
		 struct lease_attrs *ret, char *err, size_t errlen)
{
	struct walk w = { .b = json, .len = len };
	struct lease_dec d = { 0 };
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!json)
		return text_fail(err, errlen, "invalid JSON: no input");
	r = walk_document(&w, &d);
	if (r == -ENOMEM)
		return text_fail(err, errlen, "out of memory");
	if (r < 0) {
		if (strcmp(w.bad, "a NUL byte") == 0)
			return text_fail(err, errlen, "invalid JSON: a NUL byte at offset %zu",
					 w.bad_at);
		return text_fail(err, errlen, "invalid JSON at offset %zu: %s", w.bad_at, w.bad);
	}
	r = dec_finish(&d, json, len, keep_all, keep_type, err, errlen);
	if (r < 0)
		return r;
	*ret = d.a;
	return 0;
}

int lease_attrs_parse(const char *json, size_t len, struct lease_attrs *ret, char *err,
		      size_t errlen)
{
	return parse(json, len, true, NULL, ret, err, errlen);
}

int lease_attrs_parse_for(const char *json, size_t len, const char *backend_type,
			  struct lease_attrs *ret, char *err, size_t errlen)
{
	return parse(json, len, false, backend_type, ret, err, errlen);
}
