/* SPDX-License-Identifier: Apache-2.0 */
/* Subnet lease keys and lease values, byte-compatible with flannel's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "lease/subnet.h"
#include "textutil.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The regex's [a-f\d:] class: lower-case hex and colons only. */
static bool is_v6_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || c == ':';
}

/* Start of the run of digits that ends just before end. */
static size_t digits_back(const char *k, size_t end)
{
	while (end > 0 && is_digit(k[end - 1]))
		end--;
	return end;
}

/* strconv.ParseUint(s, 10, bits): any number of digits, value below 2^bits. */
static int parse_len(const char *s, size_t n, unsigned max, uint8_t *ret)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = (uint8_t)v;
	return 0;
}

/*
 * The regex's first group, (\d+\.\d+.\d+.\d+), ending at end. Only a real
 * dotted quad can pass net.ParseIP afterwards, and the leftmost match always
 * takes the whole run of digits before the first dot, so that run plus the
 * three dotted parts is what gets parsed.
 */
static int quad_before(const char *k, size_t end, uint32_t *ret)
{
	size_t s = end;
	int i;

	for (i = 0; i < 3; i++) {
		s = digits_back(k, s);
		if (s == 0 || k[s - 1] != '.')
			return -EINVAL;
		s--;
	}
	s = digits_back(k, s);
	return ip4_parsen(k + s, end - s, ret);
}

/* "A.B.C.D-len&v6-len6": positions of the '-' (dash), '&' (amp) and the second '-' (dash6). */
static int parse_dual(const char *k, size_t len, size_t amp, size_t dash6, struct subnet_key *ret)
{
	size_t len_start = digits_back(k, amp);
	struct subnet_key sk = { 0 };

	if (len_start == amp || len_start == 0 || k[len_start - 1] != '-')
		return -EINVAL;
	if (quad_before(k, len_start - 1, &sk.v4.addr) < 0 ||
	    parse_len(k + len_start, amp - len_start, 31, &sk.v4.len) < 0)
		return -EINVAL;
	if (ip6_parsen(k + amp + 1, dash6 - amp - 1, &sk.v6.addr) < 0 ||
	    parse_len(k + dash6 + 1, len - dash6 - 1, 127, &sk.v6.len) < 0)
		return -EINVAL;
	sk.has_v6 = true;
	*ret = sk;
	return 0;
}

/*
 * Upstream matches `(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$`
 * anywhere in the key. Everything is decided from the end: the trailing
 * digits follow the last '-'; if the [a-f\d:] run before that '-' starts
 * right after an '&', the optional v6 group is what matched (its match
 * always starts further left than one without it), and otherwise the key
 * must end in "A.B.C.D-len". Host bits are kept, as upstream keeps them.
 */
int subnet_key_parse(const char *key, size_t len, struct subnet_key *ret)
{
	struct subnet_key sk = { 0 };
	size_t dash, h;

	if (!key)
		return -EINVAL;
	dash = digits_back(key, len);
	if (dash == len || dash == 0 || key[dash - 1] != '-')
		return -EINVAL;
	dash--;
	for (h = dash; h > 0 && is_v6_char(key[h - 1]); h--)
		;
	if (h < dash && h > 0 && key[h - 1] == '&')
		return parse_dual(key, len, h - 1, dash, ret);
	if (quad_before(key, dash, &sk.v4.addr) < 0 ||
	    parse_len(key + dash + 1, len - dash - 1, 31, &sk.v4.len) < 0)
		return -EINVAL;
	*ret = sk;
	return 0;
}

/* "<addr>-<len>" at p; returns the end. */
static char *put_part(char *p, const char *addr, unsigned len)
{
	size_t n = strlen(addr);

	memcpy(p, addr, n);
	p += n;
	*p++ = '-';
	if (len >= 100)
		*p++ = (char)('0' + len / 100);
	if (len >= 10)
		*p++ = (char)('0' + len / 10 % 10);
	*p++ = (char)('0' + len % 10);
	return p;
}

/* By hand, not snprintf: leasecheck.c formats a key for every watch event. */
int subnet_key_format(const struct subnet_key *k, char *buf, size_t size)
{
	char a[IP_STRLEN], out[2 * IP_STRLEN + 10], *p;
	size_t n;

	p = put_part(out, ip4_format(k->v4.addr, a), k->v4.len);
	/* MakeSubnetKey leaves out an empty (::/0) v6 part. */
	if (k->has_v6 && !(ip6_is_zero(&k->v6.addr) && k->v6.len == 0)) {
		*p++ = '&';
		p = put_part(p, ip6_format_flannel(&k->v6.addr, a), k->v6.len);
	}
	n = (size_t)(p - out);
	if (n >= size)
		return -ENOSPC;
	memcpy(buf, out, n);
	buf[n] = '\0';
	return (int)n;
}

static bool raw_present(const char *s)
{
	return s && s[0];
}

/* A json.RawMessage field: Marshal fails on invalid JSON, so do we. */
static int add_raw_field(struct jsonu_buf *b, const char *name, const char *raw)
{
	char *c;

	if (!raw_present(raw))
		return 0;
	if (jsonu_validate(raw, strlen(raw), NULL, 0) < 0)
		return -EINVAL;
	c = jsonu_compact(raw, strlen(raw));
	if (!c)
		return -ENOMEM;
	jsonu_buf_adds(b, name);
	jsonu_buf_adds(b, c);
	free(c);
	return 0;
}

/* json.Marshal(LeaseAttrs): fixed field order, omitempty on the last three. */
char *lease_attrs_format(const struct lease_attrs *a)
{
	struct jsonu_buf b = { 0 };
	char ip[IP_STRLEN];
	size_t tlen = strnlen(a->backend_type, sizeof(a->backend_type));
	int r;

	jsonu_buf_adds(&b, "{\"PublicIP\":\"");
	jsonu_buf_adds(&b, ip4_format(a->public_ip, ip));
	jsonu_buf_adds(&b, "\",\"PublicIPv6\":");
	if (a->has_public_ipv6) {
		jsonu_buf_adds(&b, "\"");
		jsonu_buf_adds(&b, ip6_format_flannel(&a->public_ipv6, ip));
		jsonu_buf_adds(&b, "\"");
	} else {
		jsonu_buf_adds(&b, "null");
	}
	if (tlen) {
		jsonu_buf_adds(&b, ",\"BackendType\":");
		jsonu_buf_add_quoted(&b, a->backend_type, tlen);
	}
	r = add_raw_field(&b, ",\"BackendData\":", a->backend_data);
	if (r == 0)
		r = add_raw_field(&b, ",\"BackendV6Data\":", a->backend_v6_data);
	jsonu_buf_adds(&b, "}");
	if (r < 0) {
		free(jsonu_buf_take(&b));
		errno = -r;
		return NULL;
	}
	return jsonu_buf_take(&b);
}

void lease_attrs_free(struct lease_attrs *a)
{
	if (!a)
		return;
	free(a->backend_data);
	free(a->backend_v6_data);
	a->backend_data = NULL;
	a->backend_v6_data = NULL;
}

static bool raw_equal(const char *x, const char *y)
{
	if (!raw_present(x) || !raw_present(y))
		return raw_present(x) == raw_present(y);
	return strcmp(x, y) == 0;
}

bool lease_attrs_equal(const struct lease_attrs *a, const struct lease_attrs *b)
{
	if (a->public_ip != b->public_ip || a->has_public_ipv6 != b->has_public_ipv6)
		return false;
	if (a->has_public_ipv6 && !ip6_equal(&a->public_ipv6, &b->public_ipv6))
		return false;
	if (strncmp(a->backend_type, b->backend_type, sizeof(a->backend_type)) != 0)
		return false;
	return raw_equal(a->backend_data, b->backend_data) &&
	       raw_equal(a->backend_v6_data, b->backend_v6_data);
}
