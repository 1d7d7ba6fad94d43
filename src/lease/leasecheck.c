/* SPDX-License-Identifier: Apache-2.0 */
/* Checks on other hosts' lease keys and subnets (see leasecheck.h). */
#include "lease/leasecheck.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "textutil.h"

/* The longest MakeSubnetKey text: "255.255.255.255-32&" and an IPv6 subnet. */
#define ELEM_MAX 80

int lease_key_check(const char *key, size_t len, const char *dir, size_t dir_len,
		    struct subnet_key *ret, char *why, size_t whylen)
{
	const char *elem = key + dir_len + 1;
	size_t elem_len = len - dir_len - 1;
	char canon[ELEM_MAX + 1];
	struct subnet_key sk;
	int n;

	if (len <= dir_len + 1 || memcmp(key, dir, dir_len) != 0 || key[dir_len] != '/')
		return text_fail(why, whylen, "not under %.*s/", (int)dir_len, dir);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c < 0x20 || c >= 0x7f)
			return text_fail(why, whylen, "%s byte at offset %zu",
					 c == 0	     ? "a NUL"
					 : c <= 0x7f ? "a control"
						     : "a non-ASCII",
					 i);
	}
	if (elem_len > ELEM_MAX || subnet_key_parse(elem, elem_len, &sk) < 0)
		return text_fail(why, whylen, "failed to parse subnet key");
	n = subnet_key_format(&sk, canon, sizeof(canon));
	if (n < 0 || (size_t)n != elem_len || memcmp(canon, elem, elem_len) != 0)
		return text_fail(why, whylen, "not a subnet key as flannel writes it (that is %s)",
				 n < 0 ? "none" : canon);
	*ret = sk;
	return 0;
}

static bool v4_present(const struct subnet_key *k)
{
	return k->v4.addr != 0 || k->v4.len != 0;
}

static bool v6_present(const struct subnet_key *k)
{
	return k->has_v6 && (k->v6.len != 0 || !ip6_is_zero(&k->v6.addr));
}

/* Checks run for every watch event: the subnet's text is made only for a refusal. */
static int check_v4(const struct netconf *conf, const struct ip4net *n, char *why, size_t whylen)
{
	char a[IP_STRLEN], b[IP_STRLEN];

	if (conf->enable_ipv4 && n->len == conf->subnet_len && !(n->addr & ~ip4_mask(n->len)) &&
	    ip4net_contains(&conf->network, n->addr))
		return 0;
	ip4net_format(n, a);
	if (!conf->enable_ipv4)
		return text_fail(why, whylen, "IPv4 subnet %s in a network without IPv4", a);
	if (n->len != conf->subnet_len)
		return text_fail(why, whylen, "%s is not a /%u (SubnetLen)", a, conf->subnet_len);
	if (n->addr & ~ip4_mask(n->len))
		return text_fail(why, whylen, "%s has host bits set", a);
	return text_fail(why, whylen, "%s is outside the network %s", a,
			 ip4net_format(&conf->network, b));
}

static bool v6_host_bits(const struct ip6net *n)
{
	unsigned __int128 host =
		n->len ? ((unsigned __int128)1 << (128 - n->len)) - 1 : ~(unsigned __int128)0;

	return (ip6_to_u128(&n->addr) & host) != 0;
}

static int check_v6(const struct netconf *conf, const struct ip6net *n, char *why, size_t whylen)
{
	char a[IP_STRLEN + 4], b[IP_STRLEN + 4];

	if (conf->enable_ipv6 && n->len == conf->ipv6_subnet_len && !v6_host_bits(n) &&
	    ip6net_contains(&conf->ipv6_network, &n->addr))
		return 0;
	ip6net_format(n, a);
	if (!conf->enable_ipv6)
		return text_fail(why, whylen, "IPv6 subnet %s in a network without IPv6", a);
	if (n->len != conf->ipv6_subnet_len)
		return text_fail(why, whylen, "%s is not a /%u (IPv6SubnetLen)", a,
				 conf->ipv6_subnet_len);
	if (v6_host_bits(n))
		return text_fail(why, whylen, "%s has host bits set", a);
	return text_fail(why, whylen, "%s is outside the network %s", a,
			 ip6net_format(&conf->ipv6_network, b));
}

int lease_subnet_check(const struct netconf *conf, const struct subnet_key *k,
		       const struct subnet_key *own, char *why, size_t whylen)
{
	bool v4 = v4_present(k), v6 = v6_present(k);
	char a[IP_STRLEN + 4];

	if (!v4 && !v6)
		return text_fail(why, whylen, "no subnet in it");
	if (v4 && check_v4(conf, &k->v4, why, whylen) < 0)
		return -EINVAL;
	if (v6 && check_v6(conf, &k->v6, why, whylen) < 0)
		return -EINVAL;
	if (!own)
		return 0;
	if (v4 && v4_present(own) && ip4net_overlaps(&k->v4, &own->v4))
		return text_fail(why, whylen, "%s overlaps our own subnet",
				 ip4net_format(&k->v4, a));
	if (v6 && v6_present(own) && ip6net_overlaps(&k->v6, &own->v6))
		return text_fail(why, whylen, "%s overlaps our own subnet",
				 ip6net_format(&k->v6, a));
	return 0;
}
