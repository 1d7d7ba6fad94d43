/* SPDX-License-Identifier: Apache-2.0 */
/* rtnetlink request building and reply parsing; pure (no I/O), so unit tests link it alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <net/if.h> /* before linux/if_tunnel.h: glibc first, or the two clash */
#include <linux/if_tunnel.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "netlink/nl.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

static struct nlmsghdr *put_header(void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static bool put_u8(struct nlmsghdr *nlh, uint16_t type, uint8_t v)
{
	return mnl_attr_put_check(nlh, NL_MSG_MAX, type, sizeof(v), &v);
}

static bool put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t v)
{
	return mnl_attr_put_check(nlh, NL_MSG_MAX, type, sizeof(v), &v);
}

/* An IPv4 address attribute: 4 bytes in network byte order. */
static bool put_in4(struct nlmsghdr *nlh, uint16_t type, uint32_t host_order)
{
	uint32_t be = htonl(host_order);

	return mnl_attr_put_check(nlh, NL_MSG_MAX, type, sizeof(be), &be);
}

/* An IPv6 address attribute: 16 bytes, already in network order. */
static bool put_in6(struct nlmsghdr *nlh, uint16_t type, const struct ip6 *a)
{
	return mnl_attr_put_check(nlh, NL_MSG_MAX, type, sizeof(a->b), a->b);
}

/* Local, so the unit tests and the fuzzer link this file alone. */
static bool in6_zero(const struct ip6 *a)
{
	static const struct ip6 zero;

	return memcmp(a->b, zero.b, sizeof(a->b)) == 0;
}

static uint8_t family_or_inet(uint8_t family)
{
	return family ? family : AF_INET;
}

struct nlmsghdr *nl_msg_link_vxlan(void *buf, uint16_t flags, const struct nl_vxlan *v)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, flags);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct nlattr *info, *data;
	bool ok = true;

	ifm->ifi_family = AF_UNSPEC;
	ok &= mnl_attr_put_strz_check(nlh, NL_MSG_MAX, IFLA_IFNAME, v->name);
	if (v->mtu)
		ok &= put_u32(nlh, IFLA_MTU, v->mtu);
	if (v->has_mac)
		ok &= mnl_attr_put_check(nlh, NL_MSG_MAX, IFLA_ADDRESS, 6, v->mac);
	info = mnl_attr_nest_start_check(nlh, NL_MSG_MAX, IFLA_LINKINFO);
	if (!ok || !info)
		return NULL;
	ok &= mnl_attr_put_str_check(nlh, NL_MSG_MAX, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start_check(nlh, NL_MSG_MAX, IFLA_INFO_DATA);
	if (!ok || !data)
		return NULL;
	/* Upstream's attribute set and order (vishvananda/netlink addVxlanAttrs). */
	ok &= put_u32(nlh, IFLA_VXLAN_ID, v->vni);
	if (v->link > 0)
		ok &= put_u32(nlh, IFLA_VXLAN_LINK, (uint32_t)v->link);
	if (v->local)
		ok &= put_in4(nlh, IFLA_VXLAN_LOCAL, v->local);
	if (v->group)
		ok &= put_in4(nlh, IFLA_VXLAN_GROUP, v->group);
	if (v->has_local6)
		ok &= put_in6(nlh, IFLA_VXLAN_LOCAL6, &v->local6);
	ok &= put_u8(nlh, IFLA_VXLAN_TTL, v->ttl);
	ok &= put_u8(nlh, IFLA_VXLAN_TOS, v->tos);
	ok &= put_u8(nlh, IFLA_VXLAN_LEARNING, v->learning);
	ok &= put_u8(nlh, IFLA_VXLAN_PROXY, v->proxy);
	ok &= put_u8(nlh, IFLA_VXLAN_RSC, v->rsc);
	ok &= put_u8(nlh, IFLA_VXLAN_L2MISS, v->l2miss);
	ok &= put_u8(nlh, IFLA_VXLAN_L3MISS, v->l3miss);
	ok &= put_u8(nlh, IFLA_VXLAN_UDP_ZERO_CSUM6_TX, 0);
	ok &= put_u8(nlh, IFLA_VXLAN_UDP_ZERO_CSUM6_RX, 0);
	if (v->gbp)
		ok &= mnl_attr_put_check(nlh, NL_MSG_MAX, IFLA_VXLAN_GBP, 0, NULL);
	if (v->port) {
		uint16_t be = htons(v->port);

		ok &= mnl_attr_put_check(nlh, NL_MSG_MAX, IFLA_VXLAN_PORT, sizeof(be), &be);
	}
	if (!ok)
		return NULL;
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *nl_msg_link_tun(void *buf, uint16_t flags, const struct nl_tunlink *t)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, flags);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct nlattr *info, *data;
	bool ok = true;

	ifm->ifi_family = AF_UNSPEC;
	ok &= mnl_attr_put_strz_check(nlh, NL_MSG_MAX, IFLA_IFNAME, t->name);
	if (t->mtu)
		ok &= put_u32(nlh, IFLA_MTU, t->mtu);
	info = mnl_attr_nest_start_check(nlh, NL_MSG_MAX, IFLA_LINKINFO);
	if (!ok || !info)
		return NULL;
	ok &= mnl_attr_put_str_check(nlh, NL_MSG_MAX, IFLA_INFO_KIND, t->kind);
	if (ok && strcmp(t->kind, "ipip") == 0) {
		data = mnl_attr_nest_start_check(nlh, NL_MSG_MAX, IFLA_INFO_DATA);
		if (!data)
			return NULL;
		ok &= put_in4(nlh, IFLA_IPTUN_LOCAL, t->local);
		ok &= put_in4(nlh, IFLA_IPTUN_REMOTE, t->remote);
		if (ok)
			mnl_attr_nest_end(nlh, data);
	}
	if (!ok)
		return NULL;
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *nl_msg_link_get(void *buf, const char *name, int ifindex)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (name && !mnl_attr_put_strz_check(nlh, NL_MSG_MAX, IFLA_IFNAME, name))
		return NULL;
	return nlh;
}

struct nlmsghdr *nl_msg_link_del(void *buf, int ifindex)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	return nlh;
}

struct nlmsghdr *nl_msg_link_set(void *buf, int ifindex, unsigned mtu, bool set_up)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (set_up) {
		ifm->ifi_change = IFF_UP;
		ifm->ifi_flags = IFF_UP;
	}
	if (mtu && !put_u32(nlh, IFLA_MTU, mtu))
		return NULL;
	return nlh;
}

struct nlmsghdr *nl_msg_addr(void *buf, uint16_t type, uint16_t flags, const struct nl_addr *a)
{
	struct nlmsghdr *nlh = put_header(buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = family_or_inet(a->family);
	ifa->ifa_prefixlen = a->prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)a->ifindex;
	/* As iproute2 does: local and address are the same on a non-p2p link. */
	if (ifa->ifa_family == AF_INET6) {
		if (!put_in6(nlh, IFA_LOCAL, &a->addr6) || !put_in6(nlh, IFA_ADDRESS, &a->addr6))
			return NULL;
	} else if (!put_in4(nlh, IFA_LOCAL, a->addr) || !put_in4(nlh, IFA_ADDRESS, a->addr)) {
		return NULL;
	}
	return nlh;
}

struct nlmsghdr *nl_msg_route(void *buf, uint16_t type, uint16_t flags, const struct nl_route *r)
{
	struct nlmsghdr *nlh = put_header(buf, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	bool v6 = r->family == AF_INET6;
	bool ok = true;

	rtm->rtm_family = family_or_inet(r->family);
	rtm->rtm_dst_len = r->dst_len;
	rtm->rtm_table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = r->protocol;
	rtm->rtm_scope = r->scope;
	rtm->rtm_type = r->type;
	rtm->rtm_flags = r->flags;
	if (r->dst_len)
		ok &= v6 ? put_in6(nlh, RTA_DST, &r->dst6) : put_in4(nlh, RTA_DST, r->dst);
	if (r->table)
		ok &= put_u32(nlh, RTA_TABLE, r->table);
	if (v6 && !in6_zero(&r->gw6))
		ok &= put_in6(nlh, RTA_GATEWAY, &r->gw6);
	else if (!v6 && r->gw)
		ok &= put_in4(nlh, RTA_GATEWAY, r->gw);
	if (r->oif)
		ok &= put_u32(nlh, RTA_OIF, (uint32_t)r->oif);
	if (r->priority)
		ok &= put_u32(nlh, RTA_PRIORITY, r->priority);
	if (r->nhid)
		ok &= put_u32(nlh, RTA_NH_ID, r->nhid);
	return ok ? nlh : NULL;
}

struct nlmsghdr *nl_msg_route_get(void *buf, uint32_t dst)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 32;
	return put_in4(nlh, RTA_DST, dst) ? nlh : NULL;
}

struct nlmsghdr *nl_msg_route_get6(void *buf, const struct ip6 *dst)
{
	struct nlmsghdr *nlh = put_header(buf, RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = 128;
	return put_in6(nlh, RTA_DST, dst) ? nlh : NULL;
}

struct nlmsghdr *nl_msg_neigh(void *buf, uint16_t type, uint16_t flags, const struct nl_neigh *n)
{
	struct nlmsghdr *nlh = put_header(buf, type, flags);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	bool ok = true;

	ndm->ndm_family = n->family;
	ndm->ndm_ifindex = n->ifindex;
	ndm->ndm_state = n->state;
	ndm->ndm_flags = n->flags;
	ndm->ndm_type = n->type;
	if (n->has_dst && (n->dst_is6 || n->family == AF_INET6))
		ok &= put_in6(nlh, NDA_DST, &n->dst6);
	else if (n->has_dst)
		ok &= put_in4(nlh, NDA_DST, n->dst);
	if (n->has_lladdr)
		ok &= mnl_attr_put_check(nlh, NL_MSG_MAX, NDA_LLADDR, 6, n->lladdr);
	return ok ? nlh : NULL;
}

struct nlmsghdr *nl_msg_nexthop(void *buf, uint16_t type, uint16_t flags,
				const struct nl_nexthop *nh)
{
	struct nlmsghdr *nlh = put_header(buf, type, flags);
	struct nhmsg *nhm = mnl_nlmsg_put_extra_header(nlh, sizeof(*nhm));
	bool ok = put_u32(nlh, NHA_ID, nh->id);

	if (type != RTM_NEWNEXTHOP)
		return ok ? nlh : NULL;
	nhm->nh_family = family_or_inet(nh->family);
	nhm->nh_protocol = nh->protocol;
	nhm->nh_flags = nh->flags;
	if (nh->oif)
		ok &= put_u32(nlh, NHA_OIF, (uint32_t)nh->oif);
	if (nhm->nh_family == AF_INET6 && !in6_zero(&nh->gw6))
		ok &= put_in6(nlh, NHA_GATEWAY, &nh->gw6);
	else if (nhm->nh_family != AF_INET6 && nh->gw)
		ok &= put_in4(nlh, NHA_GATEWAY, nh->gw);
	return ok ? nlh : NULL;
}

struct nlmsghdr *nl_msg_dump(void *buf, uint16_t type, uint8_t family, int ifindex)
{
	struct nlmsghdr *nlh = put_header(buf, type, NLM_F_DUMP);

	switch (type) {
	case RTM_GETLINK: {
		struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

		ifm->ifi_family = family;
		break;
	}
	case RTM_GETADDR: {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

		ifa->ifa_family = family;
		break;
	}
	case RTM_GETROUTE: {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

		rtm->rtm_family = family;
		break;
	}
	case RTM_GETNEXTHOP: {
		struct nhmsg *nhm = mnl_nlmsg_put_extra_header(nlh, sizeof(*nhm));

		nhm->nh_family = family;
		if (ifindex > 0 && !put_u32(nlh, NHA_OIF, (uint32_t)ifindex))
			return NULL;
		break;
	}
	case RTM_GETNEIGH:
		if (family == AF_BRIDGE) {
			/*
			 * The FDB dump reads an ifinfomsg header (ndmsg only
			 * in strict mode, which we do not turn on); its
			 * ifi_index limits the dump to that device.
			 */
			struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

			ifm->ifi_family = family;
			ifm->ifi_index = ifindex;
		} else {
			struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

			ndm->ndm_family = family;
			if (ifindex > 0 && !put_u32(nlh, NDA_IFINDEX, (uint32_t)ifindex))
				return NULL;
		}
		break;
	default:
		return NULL;
	}
	return nlh;
}

/* ------------------------------------------------------------------ parsing */

struct attrs {
	const struct nlattr **tb;
	uint16_t max;
};

/* Index attributes by type; the typed readers below check the lengths. */
static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static int parse_attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb,
		       uint16_t max)
{
	struct attrs t = { tb, max };

	memset(tb, 0, (max + 1u) * sizeof(*tb));
	if (nlh->nlmsg_len < mnl_nlmsg_size(hdrlen))
		return -EINVAL;
	return mnl_attr_parse(nlh, hdrlen, attr_cb, &t) < 0 ? -EINVAL : 0;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, uint16_t max)
{
	struct attrs t = { tb, max };

	memset(tb, 0, (max + 1u) * sizeof(*tb));
	return mnl_attr_parse_nested(nest, attr_cb, &t) < 0 ? -EINVAL : 0;
}

static bool get_u8(const struct nlattr *a, uint8_t *ret)
{
	if (!a || mnl_attr_get_payload_len(a) < 1)
		return false;
	*ret = mnl_attr_get_u8(a);
	return true;
}

static bool get_u32(const struct nlattr *a, uint32_t *ret)
{
	if (!a || mnl_attr_get_payload_len(a) < 4)
		return false;
	*ret = mnl_attr_get_u32(a);
	return true;
}

static bool get_in4(const struct nlattr *a, uint32_t *ret)
{
	uint32_t be;

	if (!a || mnl_attr_get_payload_len(a) != 4)
		return false;
	memcpy(&be, mnl_attr_get_payload(a), 4);
	*ret = ntohl(be);
	return true;
}

static bool get_in6(const struct nlattr *a, struct ip6 *ret)
{
	if (!a || mnl_attr_get_payload_len(a) != sizeof(ret->b))
		return false;
	memcpy(ret->b, mnl_attr_get_payload(a), sizeof(ret->b));
	return true;
}

static bool get_mac(const struct nlattr *a, uint8_t *ret)
{
	if (!a || mnl_attr_get_payload_len(a) != 6)
		return false;
	memcpy(ret, mnl_attr_get_payload(a), 6);
	return true;
}

static void get_str(const struct nlattr *a, char *buf, size_t size)
{
	size_t n;

	buf[0] = '\0';
	if (!a)
		return;
	n = strnlen(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
	if (n >= size)
		n = size - 1;
	memcpy(buf, mnl_attr_get_payload(a), n);
	buf[n] = '\0';
}

static void parse_vxlan(const struct nlattr *data, struct nl_vxlan *v)
{
	const struct nlattr *tb[IFLA_VXLAN_MAX + 1];
	uint32_t u;
	uint8_t b;

	if (!data || parse_nested(data, tb, IFLA_VXLAN_MAX) < 0)
		return;
	if (get_u32(tb[IFLA_VXLAN_ID], &u))
		v->vni = u;
	if (get_u32(tb[IFLA_VXLAN_LINK], &u))
		v->link = (int)u;
	get_in4(tb[IFLA_VXLAN_LOCAL], &v->local);
	get_in4(tb[IFLA_VXLAN_GROUP], &v->group);
	v->has_local6 = get_in6(tb[IFLA_VXLAN_LOCAL6], &v->local6);
	if (tb[IFLA_VXLAN_PORT] && mnl_attr_get_payload_len(tb[IFLA_VXLAN_PORT]) == 2)
		v->port = ntohs(mnl_attr_get_u16(tb[IFLA_VXLAN_PORT]));
	get_u8(tb[IFLA_VXLAN_TTL], &v->ttl);
	get_u8(tb[IFLA_VXLAN_TOS], &v->tos);
	if (get_u8(tb[IFLA_VXLAN_LEARNING], &b))
		v->learning = b;
	if (get_u8(tb[IFLA_VXLAN_PROXY], &b))
		v->proxy = b;
	if (get_u8(tb[IFLA_VXLAN_RSC], &b))
		v->rsc = b;
	if (get_u8(tb[IFLA_VXLAN_L2MISS], &b))
		v->l2miss = b;
	if (get_u8(tb[IFLA_VXLAN_L3MISS], &b))
		v->l3miss = b;
	v->gbp = tb[IFLA_VXLAN_GBP] != NULL;
}

int nl_parse_link(const struct nlmsghdr *nlh, struct nl_link *ret)
{
	const struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	const struct ifinfomsg *ifm;
	struct nl_link l = { 0 };

	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    parse_attrs(nlh, sizeof(*ifm), tb, IFLA_MAX) < 0)
		return -EINVAL;
	ifm = mnl_nlmsg_get_payload(nlh);
	l.index = ifm->ifi_index;
	l.flags = ifm->ifi_flags;
	get_str(tb[IFLA_IFNAME], l.name, sizeof(l.name));
	get_u32(tb[IFLA_MTU], &l.mtu);
	l.has_mac = get_mac(tb[IFLA_ADDRESS], l.mac);
	if (tb[IFLA_LINKINFO] && parse_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX) == 0) {
		get_str(info[IFLA_INFO_KIND], l.kind, sizeof(l.kind));
		if (strcmp(l.kind, "vxlan") == 0) {
			l.is_vxlan = true;
			parse_vxlan(info[IFLA_INFO_DATA], &l.vx);
			memcpy(l.vx.name, l.name, sizeof(l.name));
			l.vx.mtu = l.mtu;
			l.vx.has_mac = l.has_mac;
			memcpy(l.vx.mac, l.mac, 6);
		} else if (strcmp(l.kind, "ipip") == 0 && info[IFLA_INFO_DATA]) {
			const struct nlattr *ip[IFLA_IPTUN_MAX + 1];

			if (parse_nested(info[IFLA_INFO_DATA], ip, IFLA_IPTUN_MAX) == 0) {
				get_in4(ip[IFLA_IPTUN_LOCAL], &l.iptun_local);
				get_in4(ip[IFLA_IPTUN_REMOTE], &l.iptun_remote);
			}
		}
	}
	*ret = l;
	return 0;
}

int nl_parse_addr(const struct nlmsghdr *nlh, struct nl_addr *ret)
{
	const struct nlattr *tb[IFA_MAX + 1];
	const struct ifaddrmsg *ifa;
	struct nl_addr a = { 0 };

	if ((nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR) ||
	    parse_attrs(nlh, sizeof(*ifa), tb, IFA_MAX) < 0)
		return -EINVAL;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return -EINVAL;
	a.family = ifa->ifa_family;
	a.ifindex = (int)ifa->ifa_index;
	a.prefixlen = ifa->ifa_prefixlen;
	/* IFA_FLAGS carries the flags that do not fit in the u8 (Linux 3.14+). */
	if (!get_u32(tb[IFA_FLAGS], &a.flags))
		a.flags = ifa->ifa_flags;
	if (a.family == AF_INET6) {
		if (!get_in6(tb[IFA_LOCAL], &a.addr6) && !get_in6(tb[IFA_ADDRESS], &a.addr6))
			return -EINVAL;
	} else if (!get_in4(tb[IFA_LOCAL], &a.addr) && !get_in4(tb[IFA_ADDRESS], &a.addr)) {
		return -EINVAL;
	}
	*ret = a;
	return 0;
}

int nl_parse_route(const struct nlmsghdr *nlh, struct nl_route *ret)
{
	const struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm;
	struct nl_route r = { 0 };
	uint32_t u;

	if ((nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE) ||
	    parse_attrs(nlh, sizeof(*rtm), tb, RTA_MAX) < 0)
		return -EINVAL;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return -EINVAL;
	r.family = rtm->rtm_family;
	r.dst_len = rtm->rtm_dst_len;
	r.table = rtm->rtm_table;
	r.protocol = rtm->rtm_protocol;
	r.scope = rtm->rtm_scope;
	r.type = rtm->rtm_type;
	r.flags = rtm->rtm_flags;
	if (r.family == AF_INET6) {
		get_in6(tb[RTA_DST], &r.dst6);
		get_in6(tb[RTA_GATEWAY], &r.gw6);
		get_in6(tb[RTA_PREFSRC], &r.prefsrc6);
	} else {
		get_in4(tb[RTA_DST], &r.dst);
		get_in4(tb[RTA_GATEWAY], &r.gw);
		get_in4(tb[RTA_PREFSRC], &r.prefsrc);
	}
	if (get_u32(tb[RTA_OIF], &u))
		r.oif = (int)u;
	get_u32(tb[RTA_TABLE], &r.table);
	get_u32(tb[RTA_PRIORITY], &r.priority);
	get_u32(tb[RTA_NH_ID], &r.nhid);
	*ret = r;
	return 0;
}

int nl_parse_neigh(const struct nlmsghdr *nlh, struct nl_neigh *ret)
{
	const struct nlattr *tb[NDA_MAX + 1];
	const struct ndmsg *ndm;
	struct nl_neigh n = { 0 };

	if ((nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH) ||
	    parse_attrs(nlh, sizeof(*ndm), tb, NDA_MAX) < 0)
		return -EINVAL;
	ndm = mnl_nlmsg_get_payload(nlh);
	n.family = ndm->ndm_family;
	n.ifindex = ndm->ndm_ifindex;
	n.state = ndm->ndm_state;
	n.flags = ndm->ndm_flags;
	n.type = ndm->ndm_type;
	n.has_dst = get_in4(tb[NDA_DST], &n.dst);
	if (!n.has_dst)
		n.has_dst = n.dst_is6 = get_in6(tb[NDA_DST], &n.dst6);
	n.has_lladdr = get_mac(tb[NDA_LLADDR], n.lladdr);
	*ret = n;
	return 0;
}

int nl_parse_nexthop(const struct nlmsghdr *nlh, struct nl_nexthop *ret)
{
	const struct nlattr *tb[NHA_MAX + 1];
	const struct nhmsg *nhm;
	struct nl_nexthop nh = { 0 };
	uint32_t u;

	if ((nlh->nlmsg_type != RTM_NEWNEXTHOP && nlh->nlmsg_type != RTM_DELNEXTHOP) ||
	    parse_attrs(nlh, sizeof(*nhm), tb, NHA_MAX) < 0)
		return -EINVAL;
	nhm = mnl_nlmsg_get_payload(nlh);
	if ((nhm->nh_family != AF_INET && nhm->nh_family != AF_INET6) || tb[NHA_GROUP] ||
	    tb[NHA_BLACKHOLE] || !get_u32(tb[NHA_ID], &nh.id))
		return -EINVAL;
	nh.family = nhm->nh_family;
	nh.protocol = nhm->nh_protocol;
	nh.flags = nhm->nh_flags;
	if (nh.family == AF_INET6)
		get_in6(tb[NHA_GATEWAY], &nh.gw6);
	else
		get_in4(tb[NHA_GATEWAY], &nh.gw);
	if (get_u32(tb[NHA_OIF], &u))
		nh.oif = (int)u;
	*ret = nh;
	return 0;
}

static int extack_cb(const struct nlattr *a, void *data)
{
	const char **msg = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_get_payload_len(a) > 0 &&
	    memchr(mnl_attr_get_payload(a), '\0', mnl_attr_get_payload_len(a)))
		*msg = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

const char *nl_parse_extack(const struct nlmsghdr *nlh)
{
	const char *payload = mnl_nlmsg_get_payload(nlh), *msg = NULL;
	size_t len = mnl_nlmsg_get_payload_len(nlh), off;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = (const void *)payload;

		if (len < sizeof(*e))
			return NULL;
		/* Without NETLINK_CAP_ACK the whole request is echoed before the TLVs. */
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(e->msg);
	} else if (nlh->nlmsg_type == NLMSG_DONE) {
		off = sizeof(int);
	} else {
		return NULL;
	}
	if (off >= len)
		return NULL;
	mnl_attr_parse_payload(payload + off, len - off, extack_cb, &msg);
	return msg;
}

const char *nl_type_name(uint16_t type)
{
	switch (type) {
	case RTM_NEWLINK:
		return "RTM_NEWLINK";
	case RTM_DELLINK:
		return "RTM_DELLINK";
	case RTM_GETLINK:
		return "RTM_GETLINK";
	case RTM_NEWADDR:
		return "RTM_NEWADDR";
	case RTM_DELADDR:
		return "RTM_DELADDR";
	case RTM_GETADDR:
		return "RTM_GETADDR";
	case RTM_NEWROUTE:
		return "RTM_NEWROUTE";
	case RTM_DELROUTE:
		return "RTM_DELROUTE";
	case RTM_GETROUTE:
		return "RTM_GETROUTE";
	case RTM_NEWNEIGH:
		return "RTM_NEWNEIGH";
	case RTM_DELNEIGH:
		return "RTM_DELNEIGH";
	case RTM_GETNEIGH:
		return "RTM_GETNEIGH";
	case RTM_NEWNEXTHOP:
		return "RTM_NEWNEXTHOP";
	case RTM_DELNEXTHOP:
		return "RTM_DELNEXTHOP";
	case RTM_GETNEXTHOP:
		return "RTM_GETNEXTHOP";
	default:
		return "RTM_?";
	}
}
