/* SPDX-License-Identifier: Apache-2.0 */
/* Network config: decode as Go's ParseConfig, then default and check as CheckNetworkConfig. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "textutil.h"
#include "jsonutil.h"

/* Returned by a field decoder for a Go type error: remembered, decoding goes on. */
#define TYPE_ERROR 1

/* Go's Config struct as json.Unmarshal leaves it, before any defaults. */
struct rawconf {
	bool enable_ipv4, enable_ipv6, enable_nftables;
	struct ip4net network;
	struct ip6net ipv6_network;
	uint32_t subnet_min, subnet_max;
	struct ip6 ipv6_subnet_min, ipv6_subnet_max; /* all zero = nil = unset */
	uint64_t subnet_len, ipv6_subnet_len;
	const char *backend; /* raw json.RawMessage; NULL when absent */
	size_t backend_len;
};

enum field_type {
	F_BOOL,
	F_UINT,
	F_IP4NET, /* ip.IP4Net */
	F_IP6NET, /* ip.IP6Net */
	F_IP4,	  /* ip.IP4 */
	F_IP6PTR, /* *ip.IP6: JSON null resets it to nil */
	F_RAW,	  /* json.RawMessage */
};

struct field {
	const char *name;
	enum field_type type;
	size_t off;
};

/* master's fields; v0.20.2's Networks/IPv6Networks are gone there, so they are ignored. */
static const struct field fields[] = {
	{ "EnableIPv4", F_BOOL, offsetof(struct rawconf, enable_ipv4) },
	{ "EnableIPv6", F_BOOL, offsetof(struct rawconf, enable_ipv6) },
	{ "EnableNFTables", F_BOOL, offsetof(struct rawconf, enable_nftables) },
	{ "Network", F_IP4NET, offsetof(struct rawconf, network) },
	{ "IPv6Network", F_IP6NET, offsetof(struct rawconf, ipv6_network) },
	{ "SubnetMin", F_IP4, offsetof(struct rawconf, subnet_min) },
	{ "SubnetMax", F_IP4, offsetof(struct rawconf, subnet_max) },
	{ "IPv6SubnetMin", F_IP6PTR, offsetof(struct rawconf, ipv6_subnet_min) },
	{ "IPv6SubnetMax", F_IP6PTR, offsetof(struct rawconf, ipv6_subnet_max) },
	{ "SubnetLen", F_UINT, offsetof(struct rawconf, subnet_len) },
	{ "IPv6SubnetLen", F_UINT, offsetof(struct rawconf, ipv6_subnet_len) },
	{ "Backend", F_RAW, offsetof(struct rawconf, backend) },
};

/* The ip package's UnmarshalJSON methods see raw bytes and bytes.Trim them of '"'. */
static void trim_quotes(const char **s, size_t *len)
{
	while (*len && **s == '"') {
		(*s)++;
		(*len)--;
	}
	while (*len && (*s)[*len - 1] == '"')
		(*len)--;
}

static int decode_ip4net(const char *t, size_t n, struct ip4net *ret, char *err, size_t errlen)
{
	struct ip6net v6;

	if (ip4net_parsen(t, n, ret) == 0)
		return 0;
	if (ip6net_parsen(t, n, &v6) == 0)
		return text_fail(err, errlen, "invalid IPv4 CIDR format");
	return text_fail(err, errlen, "invalid CIDR address: %.*s", (int)n, t);
}

/* Not checked for family upstream: an IPv4 CIDR lands IPv4-mapped with its v4 length. */
static int decode_ip6net(const char *t, size_t n, struct ip6net *ret, char *err, size_t errlen)
{
	struct ip4net v4;

	if (ip6net_parsen(t, n, ret) == 0)
		return 0;
	if (ip4net_parsen(t, n, &v4) == 0) {
		ret->addr = ip6_from4(v4.addr);
		ret->len = v4.len;
		return 0;
	}
	return text_fail(err, errlen, "invalid CIDR address: %.*s", (int)n, t);
}

static int decode_ip4(const char *t, size_t n, uint32_t *ret, char *err, size_t errlen)
{
	struct ip6 a;

	if (ip_parse_go(t, n, &a) < 0)
		return text_fail(err, errlen, "invalid IP address format");
	if (!ip6_to4(&a, ret))
		return text_fail(err, errlen, "invalid IPv4 address format");
	return 0;
}

static int decode_ip6(const char *t, size_t n, struct ip6 *ret, char *err, size_t errlen)
{
	if (ip_parse_go(t, n, ret) < 0)
		return text_fail(err, errlen, "invalid IP address format");
	return 0;
}

/* Scalars: 0 stored or null, TYPE_ERROR with the message in terr. */
static int decode_scalar(const struct field *f, const char *raw, size_t len, void *dst, char *terr,
			 size_t terrlen)
{
	char name[48];
	int r;

	if (f->type == F_BOOL)
		r = jsonu_raw_bool(raw, len, dst);
	else
		r = jsonu_raw_uint(raw, len, UINT64_MAX, dst);
	if (r >= 0)
		return 0;
	snprintf(name, sizeof(name), "Config.%s", f->name);
	jsonu_type_error(terr, terrlen, raw, len, name, f->type == F_BOOL ? "bool" : "uint");
	return TYPE_ERROR;
}

static int decode_field(const struct field *f, const char *raw, size_t len, struct rawconf *c,
			char *err, size_t errlen, char *terr, size_t terrlen)
{
	void *dst = (char *)c + f->off;
	const char *t = raw;
	size_t n = len;

	switch (f->type) {
	case F_BOOL:
	case F_UINT:
		return decode_scalar(f, raw, len, dst, terr, terrlen);
	case F_RAW:
		c->backend = raw;
		c->backend_len = len;
		return 0;
	case F_IP6PTR:
		if (jsonu_raw_kind(raw, len) == JSONU_NULL) {
			memset(dst, 0, sizeof(struct ip6));
			return 0;
		}
		break;
	default:
		break;
	}
	trim_quotes(&t, &n);
	switch (f->type) {
	case F_IP4NET:
		return decode_ip4net(t, n, dst, err, errlen);
	case F_IP6NET:
		return decode_ip6net(t, n, dst, err, errlen);
	case F_IP4:
		return decode_ip4(t, n, dst, err, errlen);
	default:
		return decode_ip6(t, n, dst, err, errlen);
	}
}

static const struct field *find_field(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (jsonu_name_eq(key, len, fields[i].name))
			return &fields[i];
	return NULL;
}

/*
 * Members in document order, so the last duplicate wins. As in Go, an
 * UnmarshalJSON error stops decoding at once, while a type error is
 * remembered and reported only if nothing worse follows.
 */
static int decode_members(const char *json, size_t len, struct rawconf *c, char *err, size_t errlen)
{
	struct jsonu_iter it;
	struct jsonu_member m;
	char terr[256] = "";
	int r;

	if (jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "invalid JSON: not an object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		const struct field *f = find_field(m.key, m.key_len);
		char one[256];
		int d;

		if (!f)
			continue;
		d = decode_field(f, m.raw, m.raw_len, c, err, errlen, one, sizeof(one));
		if (d < 0) {
			jsonu_iter_release(&it);
			return d;
		}
		if (d == TYPE_ERROR && !terr[0])
			memcpy(terr, one, sizeof(terr));
	}
	jsonu_iter_release(&it);
	if (r < 0)
		return text_fail(err, errlen, "%s",
				 r == -ENOMEM ? "out of memory" : "invalid JSON");
	if (terr[0])
		return text_fail(err, errlen, "%s", terr);
	return 0;
}

static int decode_config(const char *json, size_t len, struct rawconf *c, char *err, size_t errlen)
{
	size_t p = 0;

	memset(c, 0, sizeof(*c));
	c->enable_ipv4 = true;
	if (jsonu_validate(json, len, err, errlen) < 0)
		return -EINVAL;
	while (p < len && (json[p] == ' ' || json[p] == '\t' || json[p] == '\n' || json[p] == '\r'))
		p++;
	switch (jsonu_raw_kind(json + p, len - p)) {
	case JSONU_OBJECT:
		return decode_members(json + p, len - p, c, err, errlen);
	case JSONU_NULL:
		return 0; /* Go leaves the struct alone */
	default:
		jsonu_type_error(err, errlen, json + p, len - p, NULL, "subnet.Config");
		return -EINVAL;
	}
}

#define BACKEND_ERR "error decoding Backend property of config: "

static int backend_type_check(const char *type, size_t len, char *err, size_t errlen)
{
	/*
	 * Go would accept such a name and then fail with "unknown backend
	 * type"; a NUL could make a truncated copy match a real backend.
	 */
	if (memchr(type, '\0', len))
		return text_fail(err, errlen, BACKEND_ERR "Type contains a NUL byte");
	if (len >= sizeof(((struct netconf *)0)->backend_type))
		return text_fail(err, errlen, BACKEND_ERR "Type is longer than %zu bytes",
				 sizeof(((struct netconf *)0)->backend_type) - 1);
	return 0;
}

/* parseBackendType(): Unmarshal of the raw Backend into struct { Type string }. */
static int backend_type_members(const char *raw, size_t len, char **type, size_t *type_len,
				char *err, size_t errlen)
{
	struct jsonu_iter it;
	struct jsonu_member m;
	char terr[256] = "";
	int r;

	if (jsonu_iter_init(&it, raw, len) < 0)
		return text_fail(err, errlen, BACKEND_ERR "invalid JSON");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		char *s;
		size_t n;
		int d;

		if (!jsonu_name_eq(m.key, m.key_len, "Type"))
			continue;
		d = jsonu_raw_string(m.raw, m.raw_len, &s, &n);
		if (d == -EINVAL && !terr[0])
			jsonu_type_error(terr, sizeof(terr), m.raw, m.raw_len, ".Type", "string");
		if (d == -ENOMEM)
			r = d;
		if (d != 0)
			continue;
		free(*type);
		*type = s;
		*type_len = n;
	}
	jsonu_iter_release(&it);
	if (r < 0)
		return text_fail(err, errlen, BACKEND_ERR "%s",
				 r == -ENOMEM ? "out of memory" : "invalid JSON");
	if (terr[0])
		return text_fail(err, errlen, BACKEND_ERR "%s", terr);
	return 0;
}

static int parse_backend(const struct rawconf *c, struct netconf *conf, char *err, size_t errlen)
{
	enum jsonu_kind kind;
	char *type = NULL;
	size_t type_len = 0;
	int r = 0;

	if (!c->backend) {
		/* The code defaults to udp, whatever the docs say. */
		strcpy(conf->backend_type, "udp");
		conf->backend_json = strdup("{}");
		return conf->backend_json ? 0 : text_fail(err, errlen, "out of memory");
	}
	kind = jsonu_raw_kind(c->backend, c->backend_len);
	if (kind == JSONU_OBJECT) {
		r = backend_type_members(c->backend, c->backend_len, &type, &type_len, err, errlen);
	} else if (kind != JSONU_NULL) {
		/* null is fine: Unmarshal("null") into a struct does nothing. */
		char terr[200];

		jsonu_type_error(terr, sizeof(terr), c->backend, c->backend_len, NULL,
				 "struct { Type string }");
		r = text_fail(err, errlen, BACKEND_ERR "%s", terr);
	}
	if (r == 0 && type)
		r = backend_type_check(type, type_len, err, errlen);
	if (r == 0) {
		memcpy(conf->backend_type, type ? type : "", type_len + 1);
		conf->backend_json = jsonu_compact(c->backend, c->backend_len);
		if (!conf->backend_json)
			r = text_fail(err, errlen, "out of memory");
	}
	free(type);
	return r;
}

static int check_v4_len(struct rawconf *c, char *err, size_t errlen)
{
	if (c->subnet_len > 0) {
		/* Room for a tunnel and a bridge address on each host. */
		if (c->subnet_len > 30)
			return text_fail(err, errlen, "SubnetLen must be less than /31");
		if (c->subnet_len < (uint64_t)c->network.len + 2)
			return text_fail(
				err, errlen,
				"network must be able to accommodate at least four subnets");
		return 0;
	}
	if (c->network.len > 28)
		return text_fail(err, errlen,
				 "network is too small. Minimum useful network prefix is /28");
	c->subnet_len = c->network.len <= 22 ? 24 : c->network.len + 2u;
	return 0;
}

/* CheckNetworkConfig, IPv4 half; uint32 arithmetic wraps exactly as Go's IP4 does. */
static int check_v4(struct rawconf *c, char *err, size_t errlen)
{
	char ip[16];
	uint32_t size, next, mask;
	int r;

	if (c->network.addr == 0 && c->network.len == 0)
		return text_fail(err, errlen,
				 "please define a correct Network parameter in the flannel config");
	r = check_v4_len(c, err, errlen);
	if (r < 0)
		return r;
	size = (uint32_t)1 << (32 - c->subnet_len);
	next = c->network.addr + (uint32_t)(1ull << (32 - c->network.len));
	/* The first subnet is skipped: its address would equal the network's. */
	if (c->subnet_min == 0)
		c->subnet_min = c->network.addr + size;
	else if (!ip4net_contains(&c->network, c->subnet_min))
		return text_fail(err, errlen, "SubnetMin is not in the range of the Network");
	if (c->subnet_max == 0)
		c->subnet_max = next - size;
	else if (!ip4net_contains(&c->network, c->subnet_max))
		return text_fail(err, errlen, "SubnetMax is not in the range of the Network");
	mask = ip4_mask((uint8_t)c->subnet_len);
	if ((c->subnet_min & mask) != c->subnet_min)
		return text_fail(err, errlen, "SubnetMin is not on a SubnetLen boundary: %s",
				 ip4_format(c->subnet_min, ip));
	if ((c->subnet_max & mask) != c->subnet_max)
		return text_fail(err, errlen, "SubnetMax is not on a SubnetLen boundary: %s",
				 ip4_format(c->subnet_max, ip));
	return 0;
}

static int check_v6_len(struct rawconf *c, char *err, size_t errlen)
{
	if (c->ipv6_subnet_len > 0) {
		if (c->ipv6_subnet_len > 126)
			return text_fail(err, errlen, "SubnetLen must be less than /127");
		if (c->ipv6_subnet_len < (uint64_t)c->ipv6_network.len + 2)
			return text_fail(
				err, errlen,
				"network must be able to accommodate at least four subnets");
		return 0;
	}
	if (c->ipv6_network.len > 124)
		return text_fail(err, errlen,
				 "IPv6Network is too small. Minimum useful network prefix is /124");
	c->ipv6_subnet_len = c->ipv6_network.len <= 62 ? 64 : c->ipv6_network.len + 2u;
	return 0;
}

static int check_v6_bound(const struct ip6 *a, unsigned __int128 mask, const char *what, char *err,
			  size_t errlen)
{
	char ip[IP_STRLEN];

	if ((ip6_to_u128(a) & mask) == ip6_to_u128(a))
		return 0;
	return text_fail(err, errlen, "%s is not on a SubnetLen boundary: %s", what,
			 ip6_format_flannel(a, ip));
}

/*
 * IPv6 half. Go uses big.Int; modulo-2^128 arithmetic gives the same
 * results because every value that is kept fits in 128 bits.
 */
static int check_v6(struct rawconf *c, char *err, size_t errlen)
{
	unsigned __int128 net, size, block, mask;
	int r;

	if (ip6_is_zero(&c->ipv6_network.addr) && c->ipv6_network.len == 0)
		return text_fail(
			err, errlen,
			"please define a correct IPv6Network parameter in the flannel config");
	r = check_v6_len(c, err, errlen);
	if (r < 0)
		return r;
	net = ip6_to_u128(&c->ipv6_network.addr);
	size = (unsigned __int128)1 << (128 - c->ipv6_subnet_len);
	block = c->ipv6_network.len ? (unsigned __int128)1 << (128 - c->ipv6_network.len) : 0;
	if (ip6_is_zero(&c->ipv6_subnet_min))
		c->ipv6_subnet_min = ip6_from_u128(net + size);
	else if (!ip6net_contains(&c->ipv6_network, &c->ipv6_subnet_min))
		return text_fail(err, errlen,
				 "IPv6SubnetMin is not in the range of the IPv6Network");
	if (ip6_is_zero(&c->ipv6_subnet_max))
		c->ipv6_subnet_max = ip6_from_u128(net + block - size);
	else if (!ip6net_contains(&c->ipv6_network, &c->ipv6_subnet_max))
		return text_fail(err, errlen,
				 "IPv6SubnetMax is not in the range of the IPv6Network");
	mask = ip6_mask((unsigned)c->ipv6_subnet_len);
	r = check_v6_bound(&c->ipv6_subnet_min, mask, "IPv6SubnetMin", err, errlen);
	if (r < 0)
		return r;
	return check_v6_bound(&c->ipv6_subnet_max, mask, "IPv6SubnetMax", err, errlen);
}

static unsigned clamp_len(uint64_t v)
{
	return v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

static void fill_netconf(const struct rawconf *c, struct netconf *conf)
{
	conf->enable_ipv4 = c->enable_ipv4;
	conf->enable_ipv6 = c->enable_ipv6;
	conf->enable_nftables = c->enable_nftables;
	conf->network = c->network;
	conf->subnet_len = clamp_len(c->subnet_len);
	conf->subnet_min = c->subnet_min;
	conf->subnet_max = c->subnet_max;
	conf->ipv6_network = c->ipv6_network;
	conf->ipv6_subnet_len = clamp_len(c->ipv6_subnet_len);
	conf->ipv6_subnet_min = c->ipv6_subnet_min;
	conf->ipv6_subnet_max = c->ipv6_subnet_max;
}

int netconf_parse(const char *json, size_t len, struct netconf *ret, char *err, size_t errlen)
{
	struct netconf conf = { 0 };
	struct rawconf c;
	int r;

	if (err && errlen)
		err[0] = '\0';
	r = decode_config(json, len, &c, err, errlen);
	if (r == 0)
		r = parse_backend(&c, &conf, err, errlen);
	/* Both families off passes; the daemon reports "none defined stack" itself. */
	if (r == 0 && c.enable_ipv4)
		r = check_v4(&c, err, errlen);
	if (r == 0 && c.enable_ipv6)
		r = check_v6(&c, err, errlen);
	if (r < 0) {
		netconf_free(&conf);
		return r;
	}
	fill_netconf(&c, &conf);
	*ret = conf;
	return 0;
}

void netconf_free(struct netconf *conf)
{
	if (!conf)
		return;
	free(conf->backend_json);
	conf->backend_json = NULL;
}
