/* SPDX-License-Identifier: Apache-2.0 */
/* vxlan backend config and lease BackendData, decoded as upstream's Go structs are. */
#include "backend/vxlan_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"
#include "jsonutil.h"
#include "jsonwalk.h"
#include "textutil.h"

#define VNI_MAX	 0xffffffu /* 24 bits on the wire */
#define MTU_MIN	 (68 + VXLAN_OVERHEAD)
#define MTU_MAX	 65535
#define PORT_MAX 65535

enum field_type { F_INT, F_BOOL };

struct field {
	const char *name;
	enum field_type type;
	uint64_t min, max; /* F_INT */
};

static const struct field fields[] = {
	{ "VNI", F_INT, 0, VNI_MAX },	     { "Port", F_INT, 0, PORT_MAX },
	{ "MTU", F_INT, 0, MTU_MAX },	     { "GBP", F_BOOL, 0, 0 },
	{ "Learning", F_BOOL, 0, 0 },	     { "DirectRouting", F_BOOL, 0, 0 },
	{ "ChecksumOffload", F_BOOL, 0, 0 },
};

/* Store one member's value; -EINVAL with a message naming the field. */
static int set_field(struct vxlan_conf *c, const struct field *f, const char *raw, size_t len,
		     char *err, size_t errlen)
{
	char what[48];
	uint64_t v = 0;
	bool b = false;
	int r;

	if (f->type == F_BOOL) {
		r = jsonu_raw_bool(raw, len, &b);
		if (r < 0) {
			snprintf(what, sizeof(what), ".%s", f->name);
			jsonu_type_error(err, errlen, raw, len, what, "bool");
			return -EINVAL;
		}
	} else {
		r = jsonu_raw_uint(raw, len, f->max, &v);
		if (r < 0 && jsonu_raw_kind(raw, len) != JSONU_NUMBER) {
			snprintf(what, sizeof(what), ".%s", f->name);
			jsonu_type_error(err, errlen, raw, len, what, "int");
			return -EINVAL;
		}
		if (r < 0 || v < f->min) {
			int n = (int)(len > 40 ? 40 : len);

			if (strcmp(f->name, "MTU") == 0)
				return text_fail(err, errlen,
						 "MTU must be 0 (the external interface's) or from "
						 "%d to %d, not %.*s",
						 MTU_MIN, MTU_MAX, n, raw);
			return text_fail(err, errlen,
					 "%s must be an integer from %llu to %llu, not %.*s",
					 f->name, (unsigned long long)f->min,
					 (unsigned long long)f->max, n, raw);
		}
	}
	if (r == 1)
		return 0; /* null: Go leaves the field alone */
	if (strcmp(f->name, "VNI") == 0)
		c->vni = (uint32_t)v;
	else if (strcmp(f->name, "Port") == 0)
		c->port = (uint16_t)v;
	else if (strcmp(f->name, "MTU") == 0)
		c->mtu = (unsigned)v;
	else if (strcmp(f->name, "GBP") == 0)
		c->gbp = b;
	else if (strcmp(f->name, "Learning") == 0)
		c->learning = b;
	else if (strcmp(f->name, "ChecksumOffload") == 0)
		c->checksum_offload = b;
	else
		c->direct_routing = b;
	return 0;
}

int vxlan_conf_parse(const char *json, size_t len, struct vxlan_conf *ret, char *err, size_t errlen)
{
	struct vxlan_conf c = { .vni = VXLAN_DEFAULT_VNI, .checksum_offload = true };
	struct jsonu_iter it;
	struct jsonu_member m;
	int r;

	if (jsonu_validate(json, len, err, errlen) < 0)
		return -EINVAL;
	if (jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "Backend must be a JSON object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (!jsonu_name_eq(m.key, m.key_len, fields[i].name))
				continue;
			r = set_field(&c, &fields[i], m.raw, m.raw_len, err, errlen);
			if (r < 0) {
				jsonu_iter_release(&it);
				return r;
			}
			break;
		}
	}
	jsonu_iter_release(&it);
	if (r < 0) {
		text_fail(err, errlen, "%s", r == -ENOMEM ? "out of memory" : "bad JSON");
		return r;
	}
	/* 0 means "the external interface's MTU" (Go would take 0 literally and fail). */
	if (c.mtu && c.mtu < MTU_MIN)
		return text_fail(
			err, errlen,
			"MTU must be 0 (the external interface's) or from %d to %d, not %u",
			MTU_MIN, MTU_MAX, c.mtu);
	*ret = c;
	return 0;
}

static int hexbyte(const char *s)
{
	int hi = text_hex_digit(s[0]), lo = text_hex_digit(s[1]);

	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int vxlan_mac_parse(const char *s, size_t len, uint8_t mac[6])
{
	uint8_t out[6];
	int b;

	if (len == 17 && (s[2] == ':' || s[2] == '-')) {
		for (int i = 0; i < 6; i++) {
			if (i < 5 && s[3 * i + 2] != s[2])
				return -EINVAL;
			b = hexbyte(s + 3 * i);
			if (b < 0)
				return -EINVAL;
			out[i] = (uint8_t)b;
		}
	} else if (len == 14 && s[4] == '.' && s[9] == '.') {
		for (int i = 0; i < 6; i++) {
			b = hexbyte(s + 5 * (i / 2) + 2 * (i % 2));
			if (b < 0)
				return -EINVAL;
			out[i] = (uint8_t)b;
		}
	} else {
		return -EINVAL;
	}
	memcpy(mac, out, 6);
	return 0;
}

/*
 * Read for every watch event, so with the one-pass walker, not jansson.
 * As before: the document is checked in full first (any syntax error makes
 * it "not a JSON object"), then the first VtepMAC that is not a string
 * is an error, and otherwise the last one wins.
 */
int vxlan_lease_data_parse(const char *json, size_t len, uint8_t mac[6], char *err, size_t errlen)
{
	static const uint8_t zero[6];
	char s[64], q[64];
	struct jw_sink text = { 0 };
	bool have = false, not_string = false;
	struct jw_member m;
	struct jw_obj o;
	uint8_t out[6];
	int r;

	if (jw_obj_init(&o, json, len) != 1)
		return text_fail(err, errlen, "BackendData is not a JSON object");
	while ((r = jw_obj_next(&o, &m)) > 0) {
		if (not_string || m.key_len > JW_KEY_MAX ||
		    !jsonu_name_eq(m.key, m.key_len, "VtepMAC"))
			continue;
		text = (struct jw_sink){ .buf = s, .cap = sizeof(s) - 1 };
		not_string = jw_raw_string(m.raw, m.raw_len, &text) < 0;
		have = true;
	}
	if (r < 0)
		return text_fail(err, errlen, "BackendData is not a JSON object");
	if (not_string)
		return text_fail(err, errlen, "VtepMAC is not a string");
	if (!have)
		return text_fail(err, errlen, "no VtepMAC");
	/* Only the start is kept: enough for a MAC and for the message's quote. */
	if (text.len > text.cap)
		text.len = text.cap;
	s[text.len] = '\0';
	r = vxlan_mac_parse(s, text.len, out);
	if (r == 0 && (memcmp(out, zero, 6) == 0 || (out[0] & 1)))
		r = -EINVAL;
	if (r < 0)
		return text_fail(err, errlen, "VtepMAC \"%s\" is not a unicast MAC address",
				 text_quote(s, q, sizeof(q)));
	memcpy(mac, out, 6);
	return 0;
}

char *vxlan_lease_data_format(uint32_t vni, const uint8_t mac[6])
{
	char m[MAC_STRLEN], *out;

	if (asprintf(&out, "{\"VNI\":%u,\"VtepMAC\":\"%s\"}", vni, mac_format(mac, m)) < 0)
		return NULL;
	return out;
}
