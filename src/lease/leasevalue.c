/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A lease value (upstream's LeaseAttrs JSON) decoded in one pass: the walk
 * that validates the bytes also takes the fields out, so no tree is built
 * and nothing is read twice. It runs for every watch event.
 *
 * The field rules are Go's encoding/json as subnet.h states them; what
 * counts as valid JSON is jsonwalk.h's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "jsonwalk.h"
#include "lease/subnet.h"
#include "textutil.h"

/* Longest key that can still match a field: "BackendV6Data" with 3-byte folds (U+212A). */
#define KEY_MAX	 40
#define TYPE_MAX (sizeof(((struct lease_attrs *)0)->backend_type) - 1)

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
	struct jw_sink type_sink;
	bool has_type;
	struct span data, data6;
	const char *top_wrong; /* the document, when it is neither an object nor null */
	char hard[160];	       /* first error that ends Go-rule decoding */
	char terr[200];	       /* first Go type error */
};

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
static int take_member(struct jw *w, struct lease_dec *d, enum field f)
{
	const char *raw = w->b + w->pos;
	bool plain = true;
	size_t len;
	int r;

	if (f == F_TYPE && jw_at(w, '"')) {
		/* Decoded straight into place: a later string replaces it anyway. */
		d->type_sink = (struct jw_sink){ .buf = d->type, .cap = TYPE_MAX };
		r = jw_string(w, &d->type_sink, &plain);
		d->has_type = true;
		return r;
	}
	r = jw_value(w, 2, &plain);
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

static int walk_members(struct jw *w, struct lease_dec *d)
{
	bool plain = true;
	int r;

	w->pos++;
	jw_ws(w, &plain);
	if (jw_at(w, '}')) {
		w->pos++;
		return 0;
	}
	for (;;) {
		char key[KEY_MAX];
		struct jw_sink ks = { .buf = key, .cap = sizeof(key) };

		r = jw_key(w, &ks, &plain);
		if (r < 0)
			return r;
		r = take_member(w, d, ks.len <= ks.cap ? field_of(key, ks.len) : F_NONE);
		if (r < 0)
			return r;
		jw_ws(w, &plain);
		if (jw_at(w, '}')) {
			w->pos++;
			return 0;
		}
		if (!jw_at(w, ','))
			return jw_fail_here(w, "expected ',' or '}'");
		w->pos++;
		jw_ws(w, &plain);
	}
}

static int walk_document(struct jw *w, struct lease_dec *d)
{
	bool plain = true;
	int r;

	jw_ws(w, &plain);
	if (jw_at(w, '{')) {
		r = walk_members(w, d);
	} else {
		/* null decodes to nothing; any other kind cannot be a LeaseAttrs. */
		d->top_wrong = jw_at(w, 'n') ? NULL : w->b + w->pos;
		r = jw_value(w, 1, &plain);
	}
	if (r < 0)
		return r;
	jw_ws(w, &plain);
	if (w->pos < w->len)
		return jw_fail_here(w, "data after the value");
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
	struct jw w = { .b = json, .len = len };
	struct lease_dec d = { 0 };
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!json)
		return text_fail(err, errlen, "invalid JSON: no input");
	r = walk_document(&w, &d);
	if (r == -ENOMEM)
		return text_fail(err, errlen, "out of memory");
	if (r < 0)
		return jw_fail_text(&w, err, errlen);
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
