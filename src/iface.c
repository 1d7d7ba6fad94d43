/* SPDX-License-Identifier: Apache-2.0 */
/* External interface and public IP selection (IPv4), in upstream's order and with its log lines. */
#include "iface.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "flags.h"
#include "ifset.h"
#include "ip.h"
#include "log.h"
#include "netlink/nl.h"

/* How many addresses the "has N IPv4 addresses" line names. */
#define LIST_MAX 8

struct pick {
	const struct ifset_link *link;
	uint32_t addr; /* 0: the link's first usable address */
};

static int link_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct nl_link l;

	if (nl_parse_link(nlh, &l) < 0)
		return 0;
	return ifset_add_link(arg, l.index, l.name, l.mtu);
}

static void link_reset(void *arg)
{
	ifset_free(arg);
}

static int addr_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct nl_addr a;
	int r;

	if (nl_parse_addr(nlh, &a) < 0)
		return 0;
	r = ifset_add_addr(arg, a.ifindex, a.addr, a.flags);
	return r == -ENODEV ? 0 : r; /* a link created after the link dump */
}

static void addr_reset(void *arg)
{
	ifset_clear_addrs(arg);
}

/* Every link and its IPv4 addresses, in index order (the kernel's own order of addresses). */
static int load(struct nl *nl, struct ifset *s)
{
	NL_MSG_BUF(buf);
	int r;

	r = nl_dump(nl, nl_msg_dump(buf, RTM_GETLINK, AF_UNSPEC, 0), link_cb, link_reset, s);
	if (r == 0)
		r = nl_dump(nl, nl_msg_dump(buf, RTM_GETADDR, AF_INET, 0), addr_cb, addr_reset, s);
	if (r == 0)
		ifset_sort(s);
	return r;
}

/* One --iface value: an IP (exact address match, any address) or an interface name. */
static int by_spec(const struct ifset *s, const char *spec, struct pick *p, char *why,
		   size_t whylen)
{
	uint32_t a;

	if (ip4_parse(spec, &a) == 0) {
		log_info("Searching for interface using %s", spec);
		p->link = ifset_by_addr(s, a);
		p->addr = a;
		if (!p->link) {
			snprintf(why, whylen,
				 "error looking up interface %s: no interface with given IP found",
				 spec);
			return -ENODEV;
		}
		return 0;
	}
	p->link = ifset_by_name(s, spec);
	p->addr = 0;
	if (!p->link) {
		snprintf(why, whylen, "error looking up interface %s: no such network interface",
			 spec);
		return -ENODEV;
	}
	return 0;
}

/* One --iface-regex value (POSIX extended, as regcomp(3) reads it). */
static int by_regex(const struct ifset *s, const char *pattern, struct pick *p, char *why,
		    size_t whylen)
{
	regex_t re;
	char list[1024];
	int r;

	r = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		char text[128];

		regerror(r, &re, text, sizeof(text));
		snprintf(why, whylen, "could not compile the regex '%s': %s", pattern, text);
		return -EINVAL;
	}
	p->link = ifset_match(s, &re, &p->addr);
	regfree(&re);
	if (!p->link) {
		ifset_describe(s, list, sizeof(list));
		snprintf(why, whylen,
			 "Could not match pattern %s to any of the available network interfaces "
			 "(%s)",
			 pattern, list);
		return -ENODEV;
	}
	return 0;
}

/* --iface-can-reach: the route the kernel would take there, its device and source. */
static int by_can_reach(struct nl *nl, const struct ifset *s, const char *dst, struct pick *p,
			char *why, size_t whylen)
{
	struct nl_route rt;
	uint32_t a;
	int r;

	log_info("Determining interface to use based on given ifcanreach: %s", dst);
	if (ip4_parse(dst, &a) < 0) {
		snprintf(why, whylen,
			 "failed to get ifcanreach based interface: invalid IPv4 address %s", dst);
		return -EINVAL;
	}
	r = nl_route_lookup(nl, a, &rt);
	if (r < 0) {
		snprintf(why, whylen, "failed to get ifcanreach based interface: %s", strerror(-r));
		return r;
	}
	p->link = rt.oif > 0 ? ifset_by_index(s, rt.oif) : NULL;
	p->addr = rt.prefsrc;
	if (!p->link) {
		snprintf(why, whylen,
			 "failed to get ifcanreach based interface: No interface with given IP "
			 "found");
		return -ENODEV;
	}
	return 0;
}

struct default_ctx {
	bool found;
	int oif;
};

static int default_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct default_ctx *c = arg;
	struct nl_route rt;

	/* The first main-table route without a destination, as upstream reads it. */
	if (c->found || nl_parse_route(nlh, &rt) < 0 || rt.table != RT_TABLE_MAIN ||
	    rt.dst_len != 0)
		return 0;
	c->found = true;
	c->oif = rt.oif;
	return 0;
}

static void default_reset(void *arg)
{
	*(struct default_ctx *)arg = (struct default_ctx){ 0 };
}

static int by_default_route(struct nl *nl, const struct ifset *s, struct pick *p, char *why,
			    size_t whylen)
{
	NL_MSG_BUF(buf);
	struct default_ctx c = { 0 };
	int r;

	log_info("Determining IP address of default interface");
	r = nl_dump(nl, nl_msg_dump(buf, RTM_GETROUTE, AF_INET, 0), default_cb, default_reset, &c);
	if (r < 0) {
		snprintf(why, whylen, "failed to get default interface: %s", strerror(-r));
		return r;
	}
	if (!c.found) {
		snprintf(why, whylen,
			 "failed to get default interface: unable to find default route");
		return -ENOENT;
	}
	p->link = c.oif > 0 ? ifset_by_index(s, c.oif) : NULL;
	p->addr = 0;
	if (!p->link) {
		snprintf(why, whylen,
			 "failed to get default interface: found default route but "
			 "could not determine interface");
		return -ENODEV;
	}
	return 0;
}

/* "a, b, c" of up to LIST_MAX addresses. */
static void format_list(const uint32_t *v, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	char text[16];

	buf[0] = '\0';
	for (size_t i = 0; i < n && i < LIST_MAX && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					ip4_format(v[i], text));
	if (n > LIST_MAX && off < len)
		snprintf(buf + off, len - off, ", ...");
}

/* The pick's address (the first usable one unless one was matched) and the checks after it. */
static int finish(const struct pick *p, struct iface *ret, char *why, size_t whylen)
{
	uint32_t v[LIST_MAX];
	size_t n = ifset_usable(p->link, v, LIST_MAX);
	char list[LIST_MAX * 18], text[16];
	uint32_t addr = p->addr;

	if (!addr && n == 0) {
		snprintf(why, whylen, "failed to find IPv4 address for interface %s",
			 p->link->name);
		return -EADDRNOTAVAIL;
	}
	if (!addr)
		addr = v[0];
	if (n > 1) {
		format_list(v, n, list, sizeof(list));
		log_info("%s has %zu IPv4 addresses (%s): using %s", p->link->name, n, list,
			 ip4_format(addr, text));
	}
	log_info("Using interface with name %s and address %s", p->link->name,
		 ip4_format(addr, text));
	if (p->link->mtu == 0) {
		snprintf(why, whylen, "failed to determine MTU for %s interface", p->link->name);
		return -EINVAL;
	}
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->name, sizeof(ret->name), "%s", p->link->name);
	ret->index = p->link->index;
	ret->mtu = p->link->mtu;
	ret->addr = addr;
	return 0;
}

enum kind { BY_IFACE, BY_REGEX, BY_CAN_REACH };

static const char *const flag_names[] = { "--iface", "--iface-regex", "--iface-can-reach" };

/* What the selection flags are working through. */
struct attempts {
	struct nl *nl;
	const struct ifset *s;
	char *err; /* every failure so far, "; " between them */
	size_t errlen, off;
};

/* One selection flag value: 0 with ret filled, or the failure logged and listed. */
static int attempt(struct attempts *a, enum kind k, const char *v, struct iface *ret)
{
	char why[1536];
	struct pick p;
	int r;

	/* Upstream looks an empty --iface or --iface-regex up like no flag at all. */
	if (!*v)
		r = by_default_route(a->nl, a->s, &p, why, sizeof(why));
	else if (k == BY_IFACE)
		r = by_spec(a->s, v, &p, why, sizeof(why));
	else if (k == BY_REGEX)
		r = by_regex(a->s, v, &p, why, sizeof(why));
	else
		r = by_can_reach(a->nl, a->s, v, &p, why, sizeof(why));
	if (r == 0)
		r = finish(&p, ret, why, sizeof(why));
	if (r == 0)
		return 0;
	log_warnx("Could not find valid interface matching %s: %s", v, why);
	if (a->off < a->errlen) {
		int n = snprintf(a->err + a->off, a->errlen - a->off, "%s%s=%s: %s",
				 a->off ? "; " : "", flag_names[k], v, why);

		a->off += (size_t)n < a->errlen - a->off ? (size_t)n : a->errlen - a->off;
	}
	return r;
}

/*
 * Each --iface, then each --iface-regex, then --iface-can-reach: the first
 * that yields an interface wins. how gets "--iface=eth0" etc.
 */
static int by_flags(struct nl *nl, const struct ifset *s, const struct options *o,
		    struct iface *ret, char *how, size_t howlen, char *err, size_t errlen)
{
	struct attempts a = { nl, s, err, errlen, 0 };
	int n = snprintf(err, errlen, "no interface matches: ");

	/* The attempts are listed after the prefix. */
	if (n > 0 && (size_t)n < errlen) {
		a.err += n;
		a.errlen -= (size_t)n;
	}
	for (size_t i = 0; i < o->iface.n; i++) {
		if (attempt(&a, BY_IFACE, o->iface.v[i], ret) == 0) {
			snprintf(how, howlen, "--iface=%s", o->iface.v[i]);
			return 0;
		}
	}
	for (size_t i = 0; i < o->iface_regex.n; i++) {
		if (attempt(&a, BY_REGEX, o->iface_regex.v[i], ret) == 0) {
			snprintf(how, howlen, "--iface-regex=%s", o->iface_regex.v[i]);
			return 0;
		}
	}
	if (o->iface_can_reach && *o->iface_can_reach &&
	    attempt(&a, BY_CAN_REACH, o->iface_can_reach, ret) == 0) {
		snprintf(how, howlen, "--iface-can-reach=%s", o->iface_can_reach);
		return 0;
	}
	return -ENODEV;
}

/*
 * No selection flag: the interface holding --public-ip, else (NAT, our
 * difference from upstream, which fails) or without one the default route's.
 */
static int by_default(struct nl *nl, const struct ifset *s, const struct options *o,
		      uint32_t public_ip, struct iface *ret, char *how, size_t howlen, char *err,
		      size_t errlen)
{
	struct pick p;
	int r;

	if (public_ip) {
		log_info("Searching for interface using %s", o->public_ip);
		p.link = ifset_by_addr(s, public_ip);
		p.addr = public_ip;
		if (p.link) {
			snprintf(how, howlen, "--public-ip=%s, the interface holding it",
				 o->public_ip);
			return finish(&p, ret, err, errlen);
		}
		log_info("No interface holds %s (NAT); using the default route's interface",
			 o->public_ip);
	}
	r = by_default_route(nl, s, &p, err, errlen);
	if (r == 0)
		r = finish(&p, ret, err, errlen);
	if (r == 0)
		snprintf(how, howlen, "the default route%s%s%s", public_ip ? "; --public-ip=" : "",
			 public_ip ? o->public_ip : "", public_ip ? " is on no interface" : "");
	return r;
}

static bool has_selection(const struct options *o)
{
	return o->iface.n || o->iface_regex.n || (o->iface_can_reach && *o->iface_can_reach);
}

int iface_select(const struct options *o, struct iface *ret, uint32_t *ret_public_ip, char *err,
		 size_t errlen)
{
	struct ifset s = { 0 };
	struct nl *nl = NULL;
	struct iface ifc;
	struct ip6 v6;
	uint32_t public_ip = 0;
	char how[320], a[16], b[16];
	int r;

	if (o->public_ip && *o->public_ip && ip4_parse(o->public_ip, &public_ip) < 0) {
		snprintf(err, errlen, "--public-ip: invalid public IP address: %s", o->public_ip);
		return -EINVAL;
	}
	if (o->public_ipv6 && *o->public_ipv6 && ip6_parse(o->public_ipv6, &v6) < 0) {
		snprintf(err, errlen, "--public-ipv6: invalid public IPv6 address: %s",
			 o->public_ipv6);
		return -EINVAL;
	}
	r = nl_open(&nl);
	if (r == 0)
		r = load(nl, &s);
	if (r < 0) {
		snprintf(err, errlen, "error listing all interfaces: %s", strerror(-r));
		goto out;
	}
	if (has_selection(o))
		r = by_flags(nl, &s, o, &ifc, how, sizeof(how), err, errlen);
	else
		r = by_default(nl, &s, o, public_ip, &ifc, how, sizeof(how), err, errlen);
	if (r < 0)
		goto out;
	if (public_ip) {
		log_info("Using %s as external address", o->public_ip);
	} else {
		public_ip = ifc.addr;
		log_info("Defaulting external address to interface address (%s)",
			 ip4_format(ifc.addr, a));
	}
	log_info("Using interface %s (index %d, MTU %u), address %s, public IP %s (from %s)",
		 ifc.name, ifc.index, ifc.mtu, ip4_format(ifc.addr, a), ip4_format(public_ip, b),
		 how);
	*ret = ifc;
	*ret_public_ip = public_ip;
out:
	ifset_free(&s);
	nl_close(nl);
	return r;
}

static bool is_global6(const struct ip6 *a)
{
	static const struct ip6 loopback = { .b = { [15] = 1 } };

	if (ip6_is_zero(a) || ip6_equal(a, &loopback) || a->b[0] == 0xff)
		return false;
	return !(a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80); /* fe80::/10 */
}

struct addr6_ctx {
	int ifindex;
	int rank; /* of best; IFSET_RANKS: none yet */
	struct ip6 best;
};

static int addr6_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct addr6_ctx *c = arg;
	struct nl_addr a;
	int rank;

	if (nl_parse_addr(nlh, &a) < 0 || a.family != AF_INET6 || a.ifindex != c->ifindex ||
	    !is_global6(&a.addr6))
		return 0;
	/* The first of the best rank, in the kernel's order. */
	rank = ifset_flags_rank(a.flags, true);
	if (rank < c->rank) {
		c->rank = rank;
		c->best = a.addr6;
	}
	return 0;
}

static void addr6_reset(void *arg)
{
	struct addr6_ctx *c = arg;

	c->rank = IFSET_RANKS;
}

int iface_ipv6_addr(const char *name, struct ip6 *ret)
{
	NL_MSG_BUF(buf);
	struct addr6_ctx c = { .rank = IFSET_RANKS };
	struct nl *nl = NULL;
	int r;

	c.ifindex = (int)if_nametoindex(name);
	if (c.ifindex == 0)
		return -errno;
	r = nl_open(&nl);
	if (r == 0)
		r = nl_dump(nl, nl_msg_dump(buf, RTM_GETADDR, AF_INET6, 0), addr6_cb, addr6_reset,
			    &c);
	nl_close(nl);
	if (r < 0)
		return r;
	if (c.rank == IFSET_RANKS)
		return -EADDRNOTAVAIL;
	*ret = c.best;
	return 0;
}
