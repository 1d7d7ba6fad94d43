/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lease value decoder as it was before src/leasevalue.c: jansson
 * validates, then the members are walked again. Kept only as the oracle
 * the one-pass decoder is compared against.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "lease_ref.h"
#include "textutil.h"

#define TYPE_ERROR 1

#define BACKEND_TYPE_MAX (sizeof(((struct lease_attrs *)0)->backend_type) - 1)

/* Decoding state: the attributes so far plus what Go would not keep in them. */
struct lease_dec {
	struct lease_attrs a;
	bool has_public_ip;
	char *type; /* BackendType as decoded, checked at the end */
	size_t type_len;
	char terr[200]; /* first Go type error */
};

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

static int dec_public_ip(struct lease_dec *d, const char *raw, size_t len, char *err, size_t errlen)
{
	struct ip6 a;

	trim_quotes(&raw, &len);
	if (ip_parse_go(raw, len, &a) < 0)
		return text_fail(err, errlen, "PublicIP: invalid IP address format: \"%.*s\"",
				 (int)(len > 64 ? 64 : len), raw);
	if (!ip6_to4(&a, &d->a.public_ip))
		return text_fail(err, errlen, "PublicIP: invalid IPv4 address format: \"%.*s\"",
				 (int)(len > 64 ? 64 : len), raw);
	d->has_public_ip = true;
	return 0;
}

static int dec_public_ipv6(struct lease_dec *d, const char *raw, size_t len, char *err,
			   size_t errlen)
{
	/* A *ip.IP6 set to null is nil: no IPv6. */
	if (jsonu_raw_kind(raw, len) == JSONU_NULL) {
		d->a.has_public_ipv6 = false;
		return 0;
	}
	trim_quotes(&raw, &len);
	if (ip_parse_go(raw, len, &d->a.public_ipv6) < 0)
		return text_fail(err, errlen, "PublicIPv6: invalid IP address format: \"%.*s\"",
				 (int)(len > 64 ? 64 : len), raw);
	d->a.has_public_ipv6 = true;
	return 0;
}

static int dec_backend_type(struct lease_dec *d, const char *raw, size_t len)
{
	char *s;
	size_t n;
	int r;

	r = jsonu_raw_string(raw, len, &s, &n);
	if (r == 1)
		return 0;
	if (r == -EINVAL) {
		if (!d->terr[0])
			jsonu_type_error(d->terr, sizeof(d->terr), raw, len,
					 "LeaseAttrs.BackendType", "string");
		return TYPE_ERROR;
	}
	if (r < 0)
		return r;
	free(d->type);
	d->type = s;
	d->type_len = n;
	return 0;
}

/* json.RawMessage keeps any value, null included; we keep it compacted. */
static int dec_raw(char **dst, const char *raw, size_t len)
{
	char *s = jsonu_compact(raw, len);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int dec_member(struct lease_dec *d, const struct jsonu_member *m, char *err, size_t errlen)
{
	if (jsonu_name_eq(m->key, m->key_len, "PublicIP"))
		return dec_public_ip(d, m->raw, m->raw_len, err, errlen);
	if (jsonu_name_eq(m->key, m->key_len, "PublicIPv6"))
		return dec_public_ipv6(d, m->raw, m->raw_len, err, errlen);
	if (jsonu_name_eq(m->key, m->key_len, "BackendType"))
		return dec_backend_type(d, m->raw, m->raw_len);
	if (jsonu_name_eq(m->key, m->key_len, "BackendData"))
		return dec_raw(&d->a.backend_data, m->raw, m->raw_len);
	if (jsonu_name_eq(m->key, m->key_len, "BackendV6Data"))
		return dec_raw(&d->a.backend_v6_data, m->raw, m->raw_len);
	return 0; /* unknown keys are ignored */
}

static int dec_members(struct lease_dec *d, const char *json, size_t len, char *err, size_t errlen)
{
	struct jsonu_iter it;
	struct jsonu_member m;
	int r, x = 0;

	if (jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "invalid JSON: not an object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		x = dec_member(d, &m, err, errlen);
		if (x < 0)
			break;
	}
	jsonu_iter_release(&it);
	if (x == -ENOMEM || r == -ENOMEM)
		return text_fail(err, errlen, "out of memory");
	if (x < 0)
		return x;
	if (r < 0)
		return text_fail(err, errlen, "invalid JSON");
	return 0;
}

static int dec_document(struct lease_dec *d, const char *json, size_t len, char *err, size_t errlen)
{
	size_t p = 0;

	if (jsonu_validate(json, len, err, errlen) < 0)
		return -EINVAL;
	while (p < len && (json[p] == ' ' || json[p] == '\t' || json[p] == '\n' || json[p] == '\r'))
		p++;
	switch (jsonu_raw_kind(json + p, len - p)) {
	case JSONU_OBJECT:
		return dec_members(d, json + p, len - p, err, errlen);
	case JSONU_NULL:
		return 0;
	default:
		jsonu_type_error(err, errlen, json + p, len - p, NULL, "subnet.LeaseAttrs");
		return -EINVAL;
	}
}

/* What Go accepts but we cannot hold, or must not trust: reject with a reason. */
static int dec_finish(struct lease_dec *d, char *err, size_t errlen)
{
	if (d->terr[0])
		return text_fail(err, errlen, "%s", d->terr);
	/* Go would take a missing PublicIP as 0.0.0.0; every real writer sets it. */
	if (!d->has_public_ip)
		return text_fail(err, errlen, "PublicIP is missing");
	if (!d->type)
		return 0;
	if (memchr(d->type, '\0', d->type_len))
		return text_fail(err, errlen, "BackendType contains a NUL byte");
	if (d->type_len > BACKEND_TYPE_MAX)
		return text_fail(err, errlen, "BackendType is longer than %zu bytes",
				 BACKEND_TYPE_MAX);
	memcpy(d->a.backend_type, d->type, d->type_len + 1);
	return 0;
}

int lease_attrs_parse_ref(const char *json, size_t len, struct lease_attrs *ret, char *err,
			  size_t errlen)
{
	struct lease_dec d = { 0 };
	int r;

	if (err && errlen)
		err[0] = '\0';
	r = dec_document(&d, json, len, err, errlen);
	if (r == 0)
		r = dec_finish(&d, err, errlen);
	free(d.type);
	if (r < 0) {
		lease_attrs_free(&d.a);
		return r;
	}
	*ret = d.a;
	return 0;
}
