/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BackendData decoders as they were, over jansson (jsonu_validate and
 * jsonu_iter), kept only as the reference the one-pass ones in
 * vxlan_conf.c and tun_conf.c must agree with (test_backend_data,
 * fuzz_backend_data).
 */
#include "backend_data_ref.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/tun_conf.h"
#include "backend/vxlan_conf.h"
#include "jsonutil.h"
#include "textutil.h"

int ref_vxlan_lease_data_parse(const char *json, size_t len, uint8_t mac[6], char *err,
			       size_t errlen)
{
	static const uint8_t zero[6];
	struct jsonu_iter it;
	struct jsonu_member m;
	char *s = NULL, *text, q[64];
	size_t slen = 0;
	uint8_t out[6];
	int r;

	if (!json || jsonu_validate(json, len, NULL, 0) < 0 || jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "BackendData is not a JSON object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		if (!jsonu_name_eq(m.key, m.key_len, "VtepMAC"))
			continue;
		free(s);
		s = NULL;
		if (jsonu_raw_kind(m.raw, m.raw_len) != JSONU_STRING) {
			jsonu_iter_release(&it);
			return text_fail(err, errlen, "VtepMAC is not a string");
		}
		r = jsonu_raw_string(m.raw, m.raw_len, &text, &slen);
		if (r < 0)
			break;
		s = text;
	}
	jsonu_iter_release(&it);
	if (r < 0 || !s) {
		free(s);
		return text_fail(err, errlen, "%s", r < 0 ? "bad BackendData" : "no VtepMAC");
	}
	r = vxlan_mac_parse(s, slen, out);
	if (r == 0 && (memcmp(out, zero, 6) == 0 || (out[0] & 1)))
		r = -EINVAL;
	if (r < 0)
		text_fail(err, errlen, "VtepMAC \"%s\" is not a unicast MAC address",
			  text_quote(s, q, sizeof(q)));
	else
		memcpy(mac, out, 6);
	free(s);
	return r;
}

static int get_uint(const struct jsonu_member *m, const char *name, uint64_t min, uint64_t max,
		    uint64_t *v, bool *isnull, char *err, size_t errlen)
{
	char what[48];
	int r = jsonu_raw_uint(m->raw, m->raw_len, max, v);

	*isnull = r == 1;
	if (r == 1)
		return 0;
	if (r < 0 && jsonu_raw_kind(m->raw, m->raw_len) != JSONU_NUMBER) {
		snprintf(what, sizeof(what), ".%s", name);
		jsonu_type_error(err, errlen, m->raw, m->raw_len, what, "int");
		return -EINVAL;
	}
	if (r < 0 || *v < min)
		return text_fail(err, errlen, "%s must be an integer from %llu to %llu, not %.*s",
				 name, (unsigned long long)min, (unsigned long long)max,
				 (int)(m->raw_len > 40 ? 40 : m->raw_len), m->raw);
	return 0;
}

int ref_wg_lease_data_parse(const char *json, size_t len, uint8_t key[WG_KEY_LEN], uint16_t *port,
			    char *err, size_t errlen)
{
	struct jsonu_member m;
	struct jsonu_iter it;
	uint8_t k[WG_KEY_LEN];
	bool have_key = false, isnull;
	uint16_t p = 0;
	uint64_t v;
	char *s;
	size_t n;
	int r;

	if (jsonu_validate(json, len, err, errlen) < 0)
		return -EINVAL;
	if (jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "BackendData is not a JSON object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		if (jsonu_name_eq(m.key, m.key_len, "PublicKey")) {
			if (jsonu_member_string(&m, "PublicKey", &s, &n, err, errlen) < 0) {
				r = -EINVAL;
				break;
			}
			have_key = s && wg_key_from_base64(s, n, k) == 0;
			free(s);
			if (!have_key) {
				r = text_fail(err, errlen,
					      "PublicKey is not a base64 WireGuard key");
				break;
			}
		} else if (jsonu_name_eq(m.key, m.key_len, "Port")) {
			if (get_uint(&m, "Port", 0, 65535, &v, &isnull, err, errlen) < 0) {
				r = -EINVAL;
				break;
			}
			if (!isnull)
				p = (uint16_t)v;
		}
	}
	jsonu_iter_release(&it);
	if (r < 0)
		return r == -ENOMEM ? text_fail(err, errlen, "out of memory") : -EINVAL;
	if (!have_key)
		return text_fail(err, errlen, "no PublicKey");
	memcpy(key, k, WG_KEY_LEN);
	*port = p;
	return 0;
}

static void disagree(const char *what, const char *buf, size_t len, const char *old,
		     const char *new)
{
	char q[256];

	fprintf(stderr, "%s: old and new disagree on \"%s\" (%zu bytes)\n  old: %s\n  new: %s\n",
		what, text_quote_n(buf, len, q, sizeof(q)), len, old, new);
	abort();
}

void backend_data_agree(const char *buf, size_t len)
{
	char e1[256] = "", e2[256] = "";
	uint8_t m1[6], m2[6], k1[32], k2[32];
	uint16_t p1, p2;
	int r1, r2;

	r1 = ref_vxlan_lease_data_parse(buf, len, m1, e1, sizeof(e1));
	r2 = vxlan_lease_data_parse(buf, len, m2, e2, sizeof(e2));
	if ((r1 == 0) != (r2 == 0) || (r1 == 0 && memcmp(m1, m2, 6) != 0) ||
	    (r1 != 0 && strcmp(e1, e2) != 0))
		disagree("vxlan", buf, len, r1 == 0 ? "ok" : e1, r2 == 0 ? "ok" : e2);
	e1[0] = e2[0] = '\0';
	r1 = ref_wg_lease_data_parse(buf, len, k1, &p1, e1, sizeof(e1));
	r2 = wg_lease_data_parse(buf, len, k2, &p2, e2, sizeof(e2));
	if ((r1 == 0) != (r2 == 0) || (r1 == 0 && (memcmp(k1, k2, 32) != 0 || p1 != p2)) ||
	    (r1 != 0 && strncmp(e1, "invalid JSON", 12) != 0 && strcmp(e1, e2) != 0) ||
	    (r1 != 0 && strncmp(e1, "invalid JSON", 12) == 0 &&
	     strncmp(e2, "invalid JSON", 12) != 0))
		disagree("wireguard", buf, len, r1 == 0 ? "ok" : e1, r2 == 0 ? "ok" : e2);
}
