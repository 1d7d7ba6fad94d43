/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/tun_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonutil.h"
#include "jsonwalk.h"
#include "textutil.h"

#define WG_DEFAULT_PORT	   51820
#define WG_DEFAULT_PORT_V6 51821
#define MTU_MAX		   65535

/* ------------------------------------------------------------ base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *wg_key_to_base64(const uint8_t key[WG_KEY_LEN], char *buf)
{
	size_t o = 0;

	for (size_t i = 0; i < WG_KEY_LEN; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16;

		if (i + 1 < WG_KEY_LEN)
			v |= (uint32_t)key[i + 1] << 8;
		if (i + 2 < WG_KEY_LEN)
			v |= key[i + 2];
		buf[o++] = b64[(v >> 18) & 63];
		buf[o++] = b64[(v >> 12) & 63];
		buf[o++] = i + 1 < WG_KEY_LEN ? b64[(v >> 6) & 63] : '=';
		buf[o++] = i + 2 < WG_KEY_LEN ? b64[v & 63] : '=';
	}
	buf[o] = '\0';
	return buf;
}

/* By range, not strchr: a peer's key is decoded for every watch event. */
static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int wg_key_from_base64(const char *s, size_t len, uint8_t key[WG_KEY_LEN])
{
	uint8_t out[WG_KEY_LEN];
	size_t o = 0;

	if (len != WG_KEY_B64LEN || s[43] != '=')
		return -EINVAL;
	for (size_t i = 0; i < WG_KEY_B64LEN; i += 4) {
		bool last = i + 4 == WG_KEY_B64LEN;
		int a = b64_val(s[i]), b = b64_val(s[i + 1]), c = b64_val(s[i + 2]);
		int d = last ? 0 : b64_val(s[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || c < 0 || d < 0)
			return -EINVAL;
		/* The last group carries 16 bits: the unused low bits must be zero (canonical). */
		if (last && (c & 3))
			return -EINVAL;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		if (!last)
			out[o++] = (uint8_t)v;
	}
	memcpy(key, out, WG_KEY_LEN);
	return 0;
}

/* ------------------------------------------------------------ configs */

/* One member as an integer in [min, max] (null: *isnull); -EINVAL naming it. */
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

static int begin(struct jsonu_iter *it, const char *json, size_t len, char *err, size_t errlen)
{
	int r = jsonu_validate(json, len, err, errlen);

	if (r < 0)
		return -EINVAL;
	if (jsonu_iter_init(it, json, len) < 0)
		return text_fail(err, errlen, "the Backend config is not a JSON object");
	return 0;
}

int ipip_conf_parse(const char *json, size_t len, struct ipip_conf *ret, char *err, size_t errlen)
{
	struct ipip_conf c = { 0 };
	struct jsonu_member m;
	struct jsonu_iter it;
	bool b;
	int r;

	if (begin(&it, json, len, err, errlen) < 0)
		return -EINVAL;
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		if (!jsonu_name_eq(m.key, m.key_len, "DirectRouting"))
			continue;
		r = jsonu_raw_bool(m.raw, m.raw_len, &b);
		if (r < 0) {
			jsonu_type_error(err, errlen, m.raw, m.raw_len, ".DirectRouting", "bool");
			break;
		}
		if (r == 0)
			c.direct_routing = b;
	}
	jsonu_iter_release(&it);
	if (r < 0)
		return r == -ENOMEM ? text_fail(err, errlen, "out of memory") : -EINVAL;
	*ret = c;
	return 0;
}

static const char *const mode_names[] = {
	[WG_MODE_SEPARATE] = "separate",
	[WG_MODE_AUTO] = "auto",
	[WG_MODE_IPV4] = "ipv4",
	[WG_MODE_IPV6] = "ipv6",
};

const char *wg_mode_name(enum wg_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

static int wg_member(struct wg_conf *c, const struct jsonu_member *m, char *err, size_t errlen)
{
	uint64_t v;
	bool isnull;
	char *s;
	size_t n;
	int r = 0;

	if (jsonu_name_eq(m->key, m->key_len, "ListenPort") ||
	    jsonu_name_eq(m->key, m->key_len, "ListenPortV6")) {
		bool v6 = m->key_len == 12;
		const char *name = v6 ? "ListenPortV6" : "ListenPort";

		if (get_uint(m, name, 0, 65535, &v, &isnull, err, errlen) < 0)
			return -EINVAL;
		/* 0 would let the kernel pick a port no peer knows: the default. */
		if (!isnull && v6)
			c->listen_port_v6 = v ? (uint16_t)v : WG_DEFAULT_PORT_V6;
		else if (!isnull)
			c->listen_port = v ? (uint16_t)v : WG_DEFAULT_PORT;
	} else if (jsonu_name_eq(m->key, m->key_len, "PersistentKeepaliveInterval")) {
		if (get_uint(m, "PersistentKeepaliveInterval", 0, 65535, &v, &isnull, err, errlen) <
		    0)
			return -EINVAL;
		if (!isnull)
			c->keepalive = (uint16_t)v;
	} else if (jsonu_name_eq(m->key, m->key_len, "MTU")) {
		if (get_uint(m, "MTU", 0, MTU_MAX, &v, &isnull, err, errlen) < 0)
			return -EINVAL;
		if (v && v < 68 + WG_OVERHEAD)
			return text_fail(err, errlen,
					 "MTU must be 0 (the external interface's) or from %d to "
					 "%d, not %llu",
					 68 + WG_OVERHEAD, MTU_MAX, (unsigned long long)v);
		if (!isnull)
			c->mtu = (unsigned)v;
	} else if (jsonu_name_eq(m->key, m->key_len, "PSK")) {
		if (jsonu_member_string(m, "PSK", &s, &n, err, errlen) < 0)
			return -EINVAL;
		if (s && n == 0) {
			c->has_psk = false;
		} else if (s) {
			/* Never echo the key itself. */
			if (wg_key_from_base64(s, n, c->psk) < 0)
				r = text_fail(err, errlen,
					      "PSK must be a base64 WireGuard key (44 characters, "
					      "as `wg genpsk` prints)");
			else
				c->has_psk = true;
		}
		free(s);
	} else if (jsonu_name_eq(m->key, m->key_len, "Mode")) {
		if (jsonu_member_string(m, "Mode", &s, &n, err, errlen) < 0)
			return -EINVAL;
		if (s) {
			size_t i;

			for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
				if (strlen(mode_names[i]) == n && strcasecmp(s, mode_names[i]) == 0)
					break;
			if (i == sizeof(mode_names) / sizeof(mode_names[0]))
				r = text_fail(err, errlen,
					      "Mode must be separate, auto, ipv4 or ipv6, not "
					      "\"%.*s\"",
					      (int)(n > 20 ? 20 : n), s);
			else
				c->mode = (enum wg_mode)i;
		}
		free(s);
	}
	return r;
}

int wg_conf_parse(const char *json, size_t len, struct wg_conf *ret, char *err, size_t errlen)
{
	struct wg_conf c = {
		.listen_port = WG_DEFAULT_PORT,
		.listen_port_v6 = WG_DEFAULT_PORT_V6,
		.mode = WG_MODE_SEPARATE,
	};
	struct jsonu_member m;
	struct jsonu_iter it;
	int r;

	if (begin(&it, json, len, err, errlen) < 0)
		return -EINVAL;
	while ((r = jsonu_iter_next(&it, &m)) > 0)
		if (wg_member(&c, &m, err, errlen) < 0) {
			r = -EINVAL;
			break;
		}
	jsonu_iter_release(&it);
	if (r < 0)
		return r == -ENOMEM ? text_fail(err, errlen, "out of memory") : -EINVAL;
	*ret = c;
	return 0;
}

/* ------------------------------------------------------------ lease data */

/* PublicKey: a base64 key; null or any other text is no key. */
static int lease_public_key(const struct jw_member *m, uint8_t key[WG_KEY_LEN], char *err,
			    size_t errlen)
{
	char s[WG_KEY_B64LEN + 1];
	struct jw_sink text = { .buf = s, .cap = sizeof(s) };
	enum jsonu_kind kind = jsonu_raw_kind(m->raw, m->raw_len);

	if (kind != JSONU_STRING && kind != JSONU_NULL) {
		jsonu_type_error(err, errlen, m->raw, m->raw_len, ".PublicKey", "string");
		return -EINVAL;
	}
	/* Never echo the text: a private key pasted by mistake must not reach a log. */
	if (kind == JSONU_NULL || jw_raw_string(m->raw, m->raw_len, &text) < 0 ||
	    text.len > text.cap || wg_key_from_base64(s, text.len, key) < 0)
		return text_fail(err, errlen, "PublicKey is not a base64 WireGuard key");
	return 0;
}

/*
 * Read for every watch event, so with the one-pass walker, not jansson.
 * The document is checked in full first; then the first bad member, in
 * document order, is the error.
 */
int wg_lease_data_parse(const char *json, size_t len, uint8_t key[WG_KEY_LEN], uint16_t *port,
			char *err, size_t errlen)
{
	struct jw_member m;
	struct jw_obj o;
	uint8_t k[WG_KEY_LEN];
	bool have_key = false, bad = false, isnull;
	uint16_t p = 0;
	uint64_t v;
	int r;

	r = jw_obj_init(&o, json, len);
	if (r < 0)
		return jw_fail_text(&o.w, err, errlen);
	if (r == 0)
		return text_fail(err, errlen, "BackendData is not a JSON object");
	while ((r = jw_obj_next(&o, &m)) > 0) {
		struct jsonu_member jm = { m.key, m.key_len, m.raw, m.raw_len };

		if (bad || m.key_len > JW_KEY_MAX)
			continue;
		if (jsonu_name_eq(m.key, m.key_len, "PublicKey")) {
			bad = lease_public_key(&m, k, err, errlen) < 0;
			have_key = !bad;
		} else if (jsonu_name_eq(m.key, m.key_len, "Port")) {
			bad = get_uint(&jm, "Port", 0, 65535, &v, &isnull, err, errlen) < 0;
			if (!bad && !isnull)
				p = (uint16_t)v;
		}
	}
	if (r == -ENOMEM)
		return text_fail(err, errlen, "out of memory");
	if (r < 0)
		return jw_fail_text(&o.w, err, errlen);
	if (bad)
		return -EINVAL;
	if (!have_key)
		return text_fail(err, errlen, "no PublicKey");
	memcpy(key, k, WG_KEY_LEN);
	*port = p;
	return 0;
}

char *wg_lease_data_format(const uint8_t key[WG_KEY_LEN], uint16_t port)
{
	char k[WG_KEY_B64LEN + 1], *out;

	wg_key_to_base64(key, k);
	if (asprintf(&out, "{\"PublicKey\":\"%s\",\"Port\":%u}", k, port) < 0)
		return NULL;
	return out;
}

static bool ip4_private(uint32_t a)
{
	return (a >> 24) == 10 || (a >> 20) == ((172u << 4) | 1) ||
	       (a >> 16) == ((192u << 8) | 168);
}

static bool ip6_unique_local(const struct ip6 *a)
{
	return (a->b[0] & 0xfe) == 0xfc;
}

bool wg_auto_prefers_v6(uint32_t remote4, const struct ip6 *remote6, uint32_t local4,
			const struct ip6 *local6)
{
	if (!ip4_private(remote4) && local4 != 0)
		return false;
	return local6 && !ip6_unique_local(remote6) && !ip6_unique_local(local6);
}
