/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/ipsec_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "textutil.h"

int ipsec_socket_path(const char *s, char *out, size_t outlen)
{
	if (strncmp(s, "unix://", 7) == 0)
		s += 7;
	if (s[0] != '/' || strlen(s) >= outlen || strlen(s) > IPSEC_SOCKET_MAX)
		return -EINVAL;
	strcpy(out, s);
	return 0;
}

/*
 * charon's proposal keywords are lower-case words joined by '-'; anything
 * else could only come back as charon's vaguer load-conn error.
 */
static bool proposal_ok(const char *s, size_t n)
{
	if (n == 0 || n > IPSEC_PROPOSAL_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return false;
	return true;
}

static int member(struct ipsec_conf *c, const struct jsonu_member *m, bool *have_psk, char *err,
		  size_t errlen)
{
	char q[64], *s = NULL;
	size_t n = 0;
	bool b;
	int r = 0;

	if (jsonu_name_eq(m->key, m->key_len, "UDPEncap")) {
		r = jsonu_raw_bool(m->raw, m->raw_len, &b);
		if (r < 0) {
			jsonu_type_error(err, errlen, m->raw, m->raw_len, ".UDPEncap", "bool");
			return -EINVAL;
		}
		if (r == 0)
			c->udp_encap = b;
		return 0;
	}
	if (jsonu_name_eq(m->key, m->key_len, "PSK")) {
		if (jsonu_member_string(m, "PSK", &s, &n, err, errlen) < 0)
			return -EINVAL;
		if (s && (n > IPSEC_PSK_MAX || strlen(s) != n))
			r = text_fail(err, errlen, "PSK must be at most %d characters, without NUL",
				      IPSEC_PSK_MAX);
		else if (s) {
			memcpy(c->psk, s, n + 1);
			*have_psk = true;
		}
	} else if (jsonu_name_eq(m->key, m->key_len, "ESPProposal")) {
		if (jsonu_member_string(m, "ESPProposal", &s, &n, err, errlen) < 0)
			return -EINVAL;
		if (s && !proposal_ok(s, n))
			r = text_fail(err, errlen,
				      "ESPProposal %s is not a strongSwan proposal (lower-case "
				      "algorithm names joined by '-', at most %d characters)",
				      text_quote(s, q, sizeof(q)), IPSEC_PROPOSAL_MAX);
		else if (s)
			memcpy(c->esp_proposal, s, n + 1);
	} else if (jsonu_name_eq(m->key, m->key_len, "VICISocket")) {
		if (jsonu_member_string(m, "VICISocket", &s, &n, err, errlen) < 0)
			return -EINVAL;
		if (s && (strlen(s) != n ||
			  ipsec_socket_path(s, c->vici_socket, sizeof(c->vici_socket)) < 0))
			r = text_fail(err, errlen,
				      "VICISocket must be an absolute path or unix:///path of at "
				      "most %d characters, not %s",
				      IPSEC_SOCKET_MAX, text_quote(s, q, sizeof(q)));
	}
	free(s);
	return r;
}

int ipsec_conf_parse(const char *json, size_t len, struct ipsec_conf *ret, char *err, size_t errlen)
{
	struct ipsec_conf *c = calloc(1, sizeof(*c));
	struct jsonu_member m;
	struct jsonu_iter it;
	bool have_psk = false;
	int r;

	if (!c)
		return text_fail(err, errlen, "out of memory");
	strcpy(c->esp_proposal, IPSEC_DEFAULT_ESP);
	strcpy(c->vici_socket, IPSEC_DEFAULT_SOCKET);
	r = jsonu_validate(json, len, err, errlen);
	if (r == 0 && jsonu_iter_init(&it, json, len) < 0)
		r = text_fail(err, errlen, "the Backend config is not a JSON object");
	else if (r == 0) {
		while ((r = jsonu_iter_next(&it, &m)) > 0)
			if (member(c, &m, &have_psk, err, errlen) < 0) {
				r = -EINVAL;
				break;
			}
		jsonu_iter_release(&it);
		if (r == -ENOMEM)
			r = text_fail(err, errlen, "out of memory");
	}
	/* Upstream's words, with the figure that it leaves out. */
	if (r == 0 && (!have_psk || strlen(c->psk) < IPSEC_PSK_MIN))
		r = text_fail(err, errlen,
			      "config error, password is too short: PSK must be at least %d "
			      "characters",
			      IPSEC_PSK_MIN);
	if (r == 0)
		*ret = *c;
	/* The key does not linger in freed memory. */
	explicit_bzero(c, sizeof(*c));
	free(c);
	return r < 0 ? -EINVAL : 0;
}
