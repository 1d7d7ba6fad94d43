/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for nl_msg.c: request bytes, attribute sets, reply parsing, ext-ack text. */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "netlink/nl.h"

/* Expected messages are written field by field in the kernel's layout (host order). */
struct blob {
	uint8_t b[NL_MSG_MAX];
	size_t n;
};

static void b8(struct blob *x, uint8_t v)
{
	x->b[x->n++] = v;
}

static void b16(struct blob *x, uint16_t v)
{
	memcpy(x->b + x->n, &v, 2);
	x->n += 2;
}

static void b32(struct blob *x, uint32_t v)
{
	memcpy(x->b + x->n, &v, 4);
	x->n += 4;
}

static void bytes(struct blob *x, const void *p, size_t n)
{
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

static void pad(struct blob *x)
{
	while (x->n % 4)
		x->b[x->n++] = 0;
}

/* An attribute header and payload, padded. */
static void attr(struct blob *x, uint16_t type, const void *p, uint16_t len)
{
	b16(x, (uint16_t)(4 + len));
	b16(x, type);
	bytes(x, p, len);
	pad(x);
}

static void hdr(struct blob *x, uint16_t type, uint16_t flags)
{
	b32(x, 0); /* length, patched by finish() */
	b16(x, type);
	b16(x, flags);
	b32(x, 0); /* seq: set when queued */
	b32(x, 0); /* pid */
}

static void finish(struct blob *x)
{
	uint32_t len = (uint32_t)x->n;

	memcpy(x->b, &len, 4);
}

static void assert_blob(const struct nlmsghdr *nlh, const struct blob *want)
{
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_len, want->n);
	assert_memory_equal(nlh, want->b, want->n);
}

static const uint8_t MAC[6] = { 0x0a, 0x00, 0x00, 0x00, 0x00, 0x99 };

static void test_neigh_bytes(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_neigh n = {
		.family = AF_INET,
		.ifindex = 5,
		.state = NUD_PERMANENT,
		.type = RTN_UNICAST,
		.has_dst = true,
		.dst = 0x0af40700, /* 10.244.7.0 */
		.has_lladdr = true,
	};
	struct blob w = { 0 };
	static const uint8_t dst[4] = { 10, 244, 7, 0 };

	memcpy(n.lladdr, MAC, 6);
	hdr(&w, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET); /* ndm_family */
	b8(&w, 0);
	b16(&w, 0);
	b32(&w, 5);		/* ndm_ifindex */
	b16(&w, NUD_PERMANENT); /* ndm_state */
	b8(&w, 0);		/* ndm_flags */
	b8(&w, RTN_UNICAST);	/* ndm_type */
	attr(&w, NDA_DST, dst, 4);
	attr(&w, NDA_LLADDR, MAC, 6);
	finish(&w);
	assert_int_equal(w.n, 48);
	assert_blob(nl_msg_neigh(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &n), &w);
}

static void test_fdb_bytes(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_neigh n = {
		.family = AF_BRIDGE,
		.ifindex = 5,
		.state = NUD_PERMANENT,
		.flags = NTF_SELF,
		.has_dst = true,
		.dst = 0x0ac80063, /* 10.200.0.99 */
		.has_lladdr = true,
	};
	struct blob w = { 0 };
	static const uint8_t dst[4] = { 10, 200, 0, 99 };

	memcpy(n.lladdr, MAC, 6);
	hdr(&w, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_BRIDGE);
	b8(&w, 0);
	b16(&w, 0);
	b32(&w, 5);
	b16(&w, NUD_PERMANENT);
	b8(&w, NTF_SELF);
	b8(&w, 0);
	attr(&w, NDA_DST, dst, 4);
	attr(&w, NDA_LLADDR, MAC, 6);
	finish(&w);
	assert_blob(nl_msg_neigh(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &n), &w);

	/* Delete: same body, no create/replace flags. */
	w.b[6] = 0;
	w.b[7] = 0;
	w.b[4] = RTM_DELNEIGH;
	assert_blob(nl_msg_neigh(buf, RTM_DELNEIGH, 0, &n), &w);
}

static void test_route_bytes(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_route r = {
		.dst = 0x0af40700,
		.dst_len = 24,
		.gw = 0x0af40700,
		.oif = 5,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
		.flags = RTNH_F_ONLINK,
	};
	struct blob w = { 0 };
	static const uint8_t net[4] = { 10, 244, 7, 0 };
	uint32_t u;

	hdr(&w, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET);
	b8(&w, 24); /* dst_len */
	b8(&w, 0);  /* src_len */
	b8(&w, 0);  /* tos */
	b8(&w, RT_TABLE_MAIN);
	b8(&w, 158); /* our protocol */
	b8(&w, RT_SCOPE_UNIVERSE);
	b8(&w, RTN_UNICAST);
	b32(&w, RTNH_F_ONLINK);
	attr(&w, RTA_DST, net, 4);
	u = RT_TABLE_MAIN;
	attr(&w, RTA_TABLE, &u, 4);
	attr(&w, RTA_GATEWAY, net, 4);
	u = 5;
	attr(&w, RTA_OIF, &u, 4);
	finish(&w);
	assert_int_equal(w.n, 60);
	assert_blob(nl_msg_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r), &w);
}

/* A nexthop object as the vxlan backend makes one, and a route naming it. */
static void test_nexthop_bytes(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_nexthop nh = {
		.id = 0x0af40700,
		.gw = 0x0af40700,
		.oif = 5,
		.protocol = NL_RTPROT_FLANNEL,
		.flags = RTNH_F_ONLINK,
	},
			  got;
	struct nl_route r = {
		.dst = 0x0af40700,
		.dst_len = 24,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
		.nhid = 0x0af40700,
	},
		       rgot;
	struct blob w = { 0 };
	static const uint8_t net[4] = { 10, 244, 7, 0 };
	const struct nlmsghdr *nlh;
	uint32_t u;

	hdr(&w, RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET);
	b8(&w, 0);   /* scope */
	b8(&w, 158); /* our protocol */
	b8(&w, 0);   /* resvd */
	b32(&w, RTNH_F_ONLINK);
	u = 0x0af40700;
	attr(&w, NHA_ID, &u, 4);
	u = 5;
	attr(&w, NHA_OIF, &u, 4);
	attr(&w, NHA_GATEWAY, net, 4);
	finish(&w);
	nlh = nl_msg_nexthop(buf, RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &nh);
	assert_blob(nlh, &w);
	assert_int_equal(nl_parse_nexthop(nlh, &got), 0);
	assert_int_equal(got.id, nh.id);
	assert_int_equal(got.gw, nh.gw);
	assert_int_equal(got.oif, 5);
	assert_int_equal(got.protocol, NL_RTPROT_FLANNEL);
	assert_int_equal(got.flags, RTNH_F_ONLINK);

	/* Deleting takes the id alone; the notification parses as the nexthop. */
	nlh = nl_msg_nexthop(buf, RTM_DELNEXTHOP, 0, &nh);
	assert_int_equal(nlh->nlmsg_len, 16 + 8 + 8);
	assert_int_equal(nl_parse_nexthop(nlh, &got), -EINVAL); /* no family in a request */

	/* The route carries RTA_NH_ID instead of a gateway and device. */
	nlh = nl_msg_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r);
	assert_int_equal(nlh->nlmsg_len, 16 + 12 + 8 + 8 + 8);
	assert_int_equal(nl_parse_route(nlh, &rgot), 0);
	assert_int_equal(rgot.nhid, 0x0af40700);
	assert_int_equal(rgot.gw, 0);
	assert_int_equal(rgot.oif, 0);

	/* A dump of the nexthops on one device. */
	nlh = nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 7);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_DUMP);
	assert_int_equal(nlh->nlmsg_len, 16 + 8 + 8);
	assert_string_equal(nl_type_name(RTM_DELNEXTHOP), "RTM_DELNEXTHOP");
}

/* Groups and blackholes are not ours to parse. */
static void test_nexthop_parse_rejects(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_nexthop nh = { .id = 9, .oif = 2, .gw = 1 }, got;
	struct nlmsghdr *nlh = nl_msg_nexthop(buf, RTM_NEWNEXTHOP, 0, &nh);
	struct nexthop_grp g = { .id = 3 };

	assert_int_equal(nl_parse_nexthop(nlh, &got), 0);
	assert_true(mnl_attr_put_check(nlh, NL_MSG_MAX, NHA_GROUP, sizeof(g), &g));
	assert_int_equal(nl_parse_nexthop(nlh, &got), -EINVAL);
	nlh = nl_msg_nexthop(buf, RTM_NEWNEXTHOP, 0, &nh);
	assert_true(mnl_attr_put_check(nlh, NL_MSG_MAX, NHA_BLACKHOLE, 0, NULL));
	assert_int_equal(nl_parse_nexthop(nlh, &got), -EINVAL);
	nlh = nl_msg_nexthop(buf, RTM_NEWNEXTHOP, 0, &nh);
	((struct nhmsg *)mnl_nlmsg_get_payload(nlh))->nh_family = AF_UNSPEC;
	assert_int_equal(nl_parse_nexthop(nlh, &got), -EINVAL);
}

static void test_route_roundtrip(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_route r = {
		.dst = 0x0a000000,
		.dst_len = 8,
		.gw = 0x0ac80001,
		.table = 1000,
		.priority = 7,
		.protocol = NL_RTPROT_FLANNEL,
		.type = RTN_UNICAST,
	}, got;
	const struct nlmsghdr *nlh = nl_msg_route(buf, RTM_NEWROUTE, 0, &r);

	assert_non_null(nlh);
	/* A table above 255 only fits in RTA_TABLE. */
	assert_int_equal(((const struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_table,
			 RT_TABLE_UNSPEC);
	assert_int_equal(nl_parse_route(nlh, &got), 0);
	assert_int_equal(got.dst, r.dst);
	assert_int_equal(got.dst_len, 8);
	assert_int_equal(got.gw, r.gw);
	assert_int_equal(got.oif, 0);
	assert_int_equal(got.table, 1000);
	assert_int_equal(got.priority, 7);
	assert_int_equal(got.protocol, NL_RTPROT_FLANNEL);

	/* Delete by prefix and protocol: no gateway, no oif attributes. */
	r = (struct nl_route){ .dst = 0x0af40700,
			       .dst_len = 24,
			       .table = RT_TABLE_MAIN,
			       .protocol = NL_RTPROT_FLANNEL,
			       .scope = RT_SCOPE_NOWHERE };
	nlh = nl_msg_route(buf, RTM_DELROUTE, 0, &r);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_len, 16 + 12 + 8 + 8);
	/* A deletion notification parses like the route it removed. */
	assert_int_equal(nl_parse_route(nlh, &got), 0);
	assert_int_equal(got.dst, 0x0af40700);
	assert_int_equal(got.dst_len, 24);
	assert_int_equal(got.protocol, NL_RTPROT_FLANNEL);
	nlh = nl_msg_route_get(buf, 0x0af40701);
	assert_int_equal(nl_parse_route(nlh, &got), -EINVAL); /* a request, not a route */
}

/* The attribute types inside IFLA_LINKINFO/IFLA_INFO_DATA, in order. */
struct types {
	uint16_t t[32];
	size_t n;
};

static int collect_cb(const struct nlattr *a, void *data)
{
	struct types *t = data;

	if (t->n < 32)
		t->t[t->n++] = mnl_attr_get_type(a);
	return MNL_CB_OK;
}

static const struct nlattr *find_attr(const struct nlattr *nest, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
	{
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

static void info_data_types(const struct nlmsghdr *nlh, struct types *t)
{
	const struct nlattr *a, *info = NULL, *data;

	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(a) == IFLA_LINKINFO)
			info = a;
	}
	assert_non_null(info);
	a = find_attr(info, IFLA_INFO_KIND);
	assert_non_null(a);
	/* As upstream sends it: the kind without a NUL. */
	assert_int_equal(mnl_attr_get_payload_len(a), 5);
	assert_memory_equal(mnl_attr_get_payload(a), "vxlan", 5);
	data = find_attr(info, IFLA_INFO_DATA);
	assert_non_null(data);
	t->n = 0;
	mnl_attr_parse_nested(data, collect_cb, t);
}

static void test_vxlan_link(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_vxlan v = {
		.name = "flannel.1",
		.vni = 1,
		.link = 3,
		.local = 0x0ac8000b, /* 10.200.0.11 */
		.mtu = 1450,
		.has_mac = true,
		.mac = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 },
	};
	static const uint16_t want[] = {
		IFLA_VXLAN_ID,
		IFLA_VXLAN_LINK,
		IFLA_VXLAN_LOCAL,
		IFLA_VXLAN_TTL,
		IFLA_VXLAN_TOS,
		IFLA_VXLAN_LEARNING,
		IFLA_VXLAN_PROXY,
		IFLA_VXLAN_RSC,
		IFLA_VXLAN_L2MISS,
		IFLA_VXLAN_L3MISS,
		IFLA_VXLAN_UDP_ZERO_CSUM6_TX,
		IFLA_VXLAN_UDP_ZERO_CSUM6_RX,
	};
	const struct nlmsghdr *nlh = nl_msg_link_vxlan(buf, NLM_F_CREATE | NLM_F_EXCL, &v);
	struct nl_link l;
	struct types t;

	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_CREATE | NLM_F_EXCL);
	info_data_types(nlh, &t);
	assert_int_equal(t.n, sizeof(want) / sizeof(want[0]));
	assert_memory_equal(t.t, want, sizeof(want));

	/* Read back through the parser used on the kernel's answer. */
	assert_int_equal(nl_parse_link(nlh, &l), 0);
	assert_string_equal(l.name, "flannel.1");
	assert_string_equal(l.kind, "vxlan");
	assert_true(l.is_vxlan);
	assert_int_equal(l.mtu, 1450);
	assert_true(l.has_mac);
	assert_memory_equal(l.mac, v.mac, 6);
	assert_int_equal(l.vx.vni, 1);
	assert_int_equal(l.vx.link, 3);
	assert_int_equal(l.vx.local, 0x0ac8000b);
	assert_int_equal(l.vx.port, 0);
	assert_false(l.vx.learning);
	assert_false(l.vx.gbp);

	/* Port (network byte order) and the GBP flag only when set; learning on. */
	v.port = 4789;
	v.gbp = true;
	v.learning = true;
	v.link = 0;
	v.local = 0;
	v.mtu = 0;
	v.has_mac = false;
	nlh = nl_msg_link_vxlan(buf, 0, &v);
	assert_non_null(nlh);
	info_data_types(nlh, &t);
	assert_int_equal(t.n, 12);
	assert_int_equal(t.t[0], IFLA_VXLAN_ID);
	assert_int_equal(t.t[1], IFLA_VXLAN_TTL); /* no LINK, no LOCAL */
	assert_int_equal(t.t[10], IFLA_VXLAN_GBP);
	assert_int_equal(t.t[11], IFLA_VXLAN_PORT);
	assert_int_equal(nl_parse_link(nlh, &l), 0);
	assert_int_equal(l.vx.port, 4789);
	assert_true(l.vx.gbp);
	assert_true(l.vx.learning);
	assert_false(l.has_mac);
	assert_int_equal(l.mtu, 0);
}

static void test_link_misc(void **state)
{
	NL_MSG_BUF(buf);
	const struct nlmsghdr *nlh;
	const struct ifinfomsg *ifm;
	struct nl_link l;

	nlh = nl_msg_link_set(buf, 9, 0, true);
	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(nlh->nlmsg_flags, 0); /* never creates */
	assert_int_equal(ifm->ifi_index, 9);
	assert_int_equal(ifm->ifi_change, IFF_UP);
	assert_int_equal(ifm->ifi_flags, IFF_UP);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(*ifm));
	nlh = nl_msg_link_set(buf, 9, 1400, false);
	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(ifm->ifi_change, 0);
	assert_int_equal(nl_parse_link(nlh, &l), 0);
	assert_int_equal(l.mtu, 1400);
	assert_false(l.is_vxlan);

	nlh = nl_msg_link_del(buf, 9);
	assert_int_equal(nlh->nlmsg_type, RTM_DELLINK);
	assert_int_equal(nl_parse_link(nlh, &l), 0); /* a deletion notification */
	assert_int_equal(l.index, 9);
	nlh = nl_msg_link_get(buf, "flannel.1", 0);
	assert_int_equal(nlh->nlmsg_type, RTM_GETLINK);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(*ifm) + 4 + 12); /* "flannel.1\0" padded */
	assert_int_equal(nl_parse_link(nlh, &l), -EINVAL);	      /* RTM_GETLINK */
}

static void test_addr(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_addr a = { .ifindex = 5, .prefixlen = 32, .addr = 0x0af40700 }, got;
	const struct nlmsghdr *nlh =
		nl_msg_addr(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &a);
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);

	assert_int_equal(ifa->ifa_family, AF_INET);
	assert_int_equal(ifa->ifa_prefixlen, 32);
	assert_int_equal(ifa->ifa_scope, RT_SCOPE_UNIVERSE);
	assert_int_equal(ifa->ifa_index, 5);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(*ifa) + 8 + 8); /* IFA_LOCAL + IFA_ADDRESS */
	assert_int_equal(nl_parse_addr(nlh, &got), 0);
	assert_int_equal(got.ifindex, 5);
	assert_int_equal(got.prefixlen, 32);
	assert_int_equal(got.addr, 0x0af40700);
}

/* An RTM_GETROUTE answer (ip route get): the device and the preferred source. */
static void test_route_get_reply(void **state)
{
	struct blob x = { .n = 0 };
	struct rtmsg rtm = { .rtm_family = AF_INET,
			     .rtm_dst_len = 32,
			     .rtm_table = RT_TABLE_MAIN,
			     .rtm_type = RTN_UNICAST };
	uint32_t dst = htonl(0xc0a80a05), src = htonl(0xc0a80a01), oif = 3, table = RT_TABLE_MAIN;
	struct nl_route got;

	hdr(&x, RTM_NEWROUTE, 0);
	bytes(&x, &rtm, sizeof(rtm));
	attr(&x, RTA_TABLE, &table, 4);
	attr(&x, RTA_DST, &dst, 4);
	attr(&x, RTA_OIF, &oif, 4);
	attr(&x, RTA_PREFSRC, &src, 4);
	finish(&x);
	assert_int_equal(nl_parse_route((const struct nlmsghdr *)(const void *)x.b, &got), 0);
	assert_int_equal(got.dst, 0xc0a80a05);
	assert_int_equal(got.oif, 3);
	assert_int_equal(got.prefsrc, 0xc0a80a01);
	assert_int_equal(got.gw, 0);

	/* Without RTA_PREFSRC (a route with no source): 0. */
	x.n = 0;
	hdr(&x, RTM_NEWROUTE, 0);
	bytes(&x, &rtm, sizeof(rtm));
	attr(&x, RTA_OIF, &oif, 4);
	finish(&x);
	assert_int_equal(nl_parse_route((const struct nlmsghdr *)(const void *)x.b, &got), 0);
	assert_int_equal(got.prefsrc, 0);
}

/* Address flags: IFA_FLAGS wins over the u8 in the header, which is the fallback. */
static void test_addr_flags(void **state)
{
	struct blob x = { .n = 0 };
	struct ifaddrmsg ifa = { .ifa_family = AF_INET,
				 .ifa_prefixlen = 24,
				 .ifa_flags = IFA_F_PERMANENT,
				 .ifa_index = 2 };
	uint32_t a = htonl(0x0a000005), flags = IFA_F_PERMANENT | IFA_F_NOPREFIXROUTE;
	struct nl_addr got;

	hdr(&x, RTM_NEWADDR, 0);
	bytes(&x, &ifa, sizeof(ifa));
	attr(&x, IFA_LOCAL, &a, 4);
	attr(&x, IFA_FLAGS, &flags, 4);
	finish(&x);
	assert_int_equal(nl_parse_addr((const struct nlmsghdr *)(const void *)x.b, &got), 0);
	assert_int_equal(got.addr, 0x0a000005);
	assert_int_equal(got.ifindex, 2);
	assert_int_equal(got.flags, IFA_F_PERMANENT | IFA_F_NOPREFIXROUTE);

	x.n = 0;
	ifa.ifa_flags = IFA_F_DEPRECATED;
	hdr(&x, RTM_NEWADDR, 0);
	bytes(&x, &ifa, sizeof(ifa));
	attr(&x, IFA_ADDRESS, &a, 4);
	finish(&x);
	assert_int_equal(nl_parse_addr((const struct nlmsghdr *)(const void *)x.b, &got), 0);
	assert_int_equal(got.flags, IFA_F_DEPRECATED);
}

static void test_dump_requests(void **state)
{
	NL_MSG_BUF(buf);
	const struct nlmsghdr *nlh;

	/* FDB: an ifinfomsg whose index limits the dump to our device. */
	nlh = nl_msg_dump(buf, RTM_GETNEIGH, AF_BRIDGE, 5);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_DUMP);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(struct ifinfomsg));
	assert_int_equal(((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_family,
			 AF_BRIDGE);
	assert_int_equal(((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index, 5);

	/* ARP: an ndmsg plus NDA_IFINDEX. */
	nlh = nl_msg_dump(buf, RTM_GETNEIGH, AF_INET, 5);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(struct ndmsg) + 8);
	nlh = nl_msg_dump(buf, RTM_GETNEIGH, AF_INET, 0);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(struct ndmsg));

	nlh = nl_msg_dump(buf, RTM_GETROUTE, AF_INET, 0);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(struct rtmsg));
	nlh = nl_msg_dump(buf, RTM_GETADDR, AF_INET, 0);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(struct ifaddrmsg));
	assert_null(nl_msg_dump(buf, RTM_NEWROUTE, AF_INET, 0));
}

static void test_neigh_parse(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_neigh n = { .family = AF_BRIDGE,
			      .ifindex = 4,
			      .state = NUD_REACHABLE,
			      .flags = NTF_SELF,
			      .has_lladdr = true },
			got;
	struct nlmsghdr *nlh;

	memcpy(n.lladdr, MAC, 6);
	nlh = nl_msg_neigh(buf, RTM_NEWNEIGH, 0, &n);
	assert_int_equal(nl_parse_neigh(nlh, &got), 0);
	assert_int_equal(got.family, AF_BRIDGE);
	assert_int_equal(got.ifindex, 4);
	assert_int_equal(got.state, NUD_REACHABLE);
	assert_int_equal(got.flags, NTF_SELF);
	assert_false(got.has_dst);
	assert_true(got.has_lladdr);
	assert_memory_equal(got.lladdr, MAC, 6);

	/* A truncated message (header claims more than the ndmsg) is refused. */
	nlh->nlmsg_len = 16 + 4;
	assert_int_equal(nl_parse_neigh(nlh, &got), -EINVAL);
}

/* An NLMSG_ERROR as the kernel sends it, optionally capped, with a text TLV. */
static size_t make_error(void *buf, bool capped, bool tlvs, const char *text, size_t text_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = (capped ? NLM_F_CAPPED : 0) | (tlvs ? NLM_F_ACK_TLVS : 0);
	e->error = -EINVAL;
	e->msg.nlmsg_len = 16 + 12; /* the request: a header and an ndmsg */
	e->msg.nlmsg_type = RTM_NEWNEIGH;
	if (!capped)
		mnl_nlmsg_put_extra_header(nlh, 12); /* the echoed ndmsg */
	if (text)
		mnl_attr_put(nlh, NLMSGERR_ATTR_MSG, text_len, text);
	return nlh->nlmsg_len;
}

static void test_extack(void **state)
{
	NL_MSG_BUF(buf);
	static const char msg[] = "Nexthop has invalid gateway";
	const char *got;

	make_error(buf, true, true, msg, sizeof(msg));
	got = nl_parse_extack((void *)buf);
	assert_non_null(got);
	assert_string_equal(got, msg);

	make_error(buf, false, true, msg, sizeof(msg));
	got = nl_parse_extack((void *)buf);
	assert_non_null(got);
	assert_string_equal(got, msg);

	make_error(buf, true, false, msg, sizeof(msg));
	assert_null(nl_parse_extack((void *)buf)); /* no NLM_F_ACK_TLVS */
	make_error(buf, true, true, NULL, 0);
	assert_null(nl_parse_extack((void *)buf));
	make_error(buf, true, true, msg, sizeof(msg) - 1); /* no NUL: not trusted */
	assert_null(nl_parse_extack((void *)buf));

	/* NLMSG_DONE carries the error as a bare int, then the TLVs. */
	{
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		int *err = mnl_nlmsg_put_extra_header(nlh, sizeof(int));

		nlh->nlmsg_type = NLMSG_DONE;
		nlh->nlmsg_flags = NLM_F_MULTI | NLM_F_ACK_TLVS;
		*err = -EINVAL;
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "Invalid values in header");
		got = nl_parse_extack(nlh);
		assert_non_null(got);
		assert_string_equal(got, "Invalid values in header");
	}
}

static void test_overflow(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_vxlan v = { .vni = 1 };

	/* Every builder stays inside NL_MSG_MAX; a name too long for IFNAMSIZ cannot occur. */
	memset(v.name, 'x', sizeof(v.name) - 1);
	assert_non_null(nl_msg_link_vxlan(buf, 0, &v));
	assert_true(((struct nlmsghdr *)(void *)buf)->nlmsg_len < 256);
	assert_string_equal(nl_type_name(RTM_NEWROUTE), "RTM_NEWROUTE");
	assert_string_equal(nl_type_name(0xffff), "RTM_?");
}

/* ------------------------------------------------------------ IPv6 */

/* fc00:0:0:29:: and fd00:200::2 */
static const struct ip6 SUB6 = { { 0xfc, 0, 0, 0, 0, 0, 0, 0x29 } };
static const struct ip6 PUB6 = { { 0xfd, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 } };

/* The v6 form of upstream's vxlan route: fc00:0:0:29::/64 via fc00:0:0:29:: dev 5 onlink. */
static void test_route6_bytes(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_route r = {
		.family = AF_INET6,
		.dst6 = SUB6,
		.dst_len = 64,
		.gw6 = SUB6,
		.oif = 5,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_UNIVERSE,
		.type = RTN_UNICAST,
		.flags = RTNH_F_ONLINK,
	},
		       got;
	struct blob w = { 0 };
	const struct nlmsghdr *nlh;
	uint32_t u;

	hdr(&w, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET6);
	b8(&w, 64);
	b8(&w, 0);
	b8(&w, 0);
	b8(&w, RT_TABLE_MAIN);
	b8(&w, 158);
	b8(&w, RT_SCOPE_UNIVERSE);
	b8(&w, RTN_UNICAST);
	b32(&w, RTNH_F_ONLINK);
	attr(&w, RTA_DST, SUB6.b, 16);
	u = RT_TABLE_MAIN;
	attr(&w, RTA_TABLE, &u, 4);
	attr(&w, RTA_GATEWAY, SUB6.b, 16);
	u = 5;
	attr(&w, RTA_OIF, &u, 4);
	finish(&w);
	assert_int_equal(w.n, 84);
	nlh = nl_msg_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &r);
	assert_blob(nlh, &w);
	assert_int_equal(nl_parse_route(nlh, &got), 0);
	assert_int_equal(got.family, AF_INET6);
	assert_memory_equal(got.dst6.b, SUB6.b, 16);
	assert_memory_equal(got.gw6.b, SUB6.b, 16);
	assert_int_equal(got.dst, 0);
	assert_int_equal(got.gw, 0);
	assert_int_equal(got.dst_len, 64);
	assert_int_equal(got.oif, 5);
	assert_int_equal(got.flags, RTNH_F_ONLINK);

	/* A deletion without a gateway, and a default route (no RTA_DST). */
	memset(&r.gw6, 0, sizeof(r.gw6));
	r.oif = 0;
	nlh = nl_msg_route(buf, RTM_DELROUTE, 0, &r);
	assert_int_equal(nlh->nlmsg_len, 16 + 12 + 20 + 8);
	assert_int_equal(nl_parse_route(nlh, &got), 0);
	assert_true(got.gw6.b[0] == 0 && got.gw6.b[15] == 0);
	r.dst_len = 0;
	nlh = nl_msg_route(buf, RTM_DELROUTE, 0, &r);
	assert_int_equal(nlh->nlmsg_len, 16 + 12 + 8);

	/* A 4-byte address in an IPv6 route is not read as one. */
	{
		struct blob x = { 0 };
		struct rtmsg rtm = { .rtm_family = AF_INET6, .rtm_dst_len = 64 };
		uint32_t four = htonl(0x0a000001);

		hdr(&x, RTM_NEWROUTE, 0);
		bytes(&x, &rtm, sizeof(rtm));
		attr(&x, RTA_DST, &four, 4);
		finish(&x);
		assert_int_equal(nl_parse_route((const void *)x.b, &got), 0);
		assert_int_equal(got.dst, 0);
		assert_true(got.dst6.b[0] == 0);
	}
}

/* ip -6 route get: the request, and the answer's device, gateway and source. */
static void test_route6_get(void **state)
{
	NL_MSG_BUF(buf);
	const struct nlmsghdr *nlh = nl_msg_route_get6(buf, &PUB6);
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct blob x = { 0 };
	struct rtmsg reply = { .rtm_family = AF_INET6,
			       .rtm_dst_len = 128,
			       .rtm_table = RT_TABLE_MAIN,
			       .rtm_type = RTN_UNICAST };
	uint32_t oif = 3;
	struct nl_route got;

	assert_int_equal(nlh->nlmsg_type, RTM_GETROUTE);
	assert_int_equal(rtm->rtm_family, AF_INET6);
	assert_int_equal(rtm->rtm_dst_len, 128);
	assert_int_equal(nlh->nlmsg_len, 16 + 12 + 20);
	assert_int_equal(nl_parse_route(nlh, &got), -EINVAL); /* a GET is no route */

	hdr(&x, RTM_NEWROUTE, 0);
	bytes(&x, &reply, sizeof(reply));
	attr(&x, RTA_DST, PUB6.b, 16);
	attr(&x, RTA_OIF, &oif, 4);
	attr(&x, RTA_GATEWAY, SUB6.b, 16);
	attr(&x, RTA_PREFSRC, PUB6.b, 16);
	finish(&x);
	assert_int_equal(nl_parse_route((const void *)x.b, &got), 0);
	assert_int_equal(got.family, AF_INET6);
	assert_memory_equal(got.dst6.b, PUB6.b, 16);
	assert_memory_equal(got.gw6.b, SUB6.b, 16);
	assert_memory_equal(got.prefsrc6.b, PUB6.b, 16);
	assert_int_equal(got.prefsrc, 0);
	assert_int_equal(got.oif, 3);
}

static void test_nexthop6(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_nexthop nh = {
		.family = AF_INET6,
		.id = 0x80000029,
		.gw6 = PUB6,
		.oif = 4,
		.protocol = NL_RTPROT_FLANNEL,
	},
			  got;
	struct blob w = { 0 };
	const struct nlmsghdr *nlh;
	uint32_t u;

	hdr(&w, RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET6);
	b8(&w, 0);
	b8(&w, 158);
	b8(&w, 0);
	b32(&w, 0);
	u = 0x80000029;
	attr(&w, NHA_ID, &u, 4);
	u = 4;
	attr(&w, NHA_OIF, &u, 4);
	attr(&w, NHA_GATEWAY, PUB6.b, 16);
	finish(&w);
	nlh = nl_msg_nexthop(buf, RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &nh);
	assert_blob(nlh, &w);
	assert_int_equal(nl_parse_nexthop(nlh, &got), 0);
	assert_int_equal(got.family, AF_INET6);
	assert_int_equal(got.id, 0x80000029);
	assert_memory_equal(got.gw6.b, PUB6.b, 16);
	assert_int_equal(got.gw, 0);
	assert_int_equal(got.oif, 4);

	/* A device-only IPv6 nexthop: no gateway attribute at all. */
	memset(&nh.gw6, 0, sizeof(nh.gw6));
	nlh = nl_msg_nexthop(buf, RTM_NEWNEXTHOP, 0, &nh);
	assert_int_equal(nlh->nlmsg_len, 16 + 8 + 8 + 8);
	assert_int_equal(nl_parse_nexthop(nlh, &got), 0);
	assert_true(got.gw6.b[0] == 0 && got.gw6.b[15] == 0);
}

/* The v6 device's neighbour: fc00:0:0:29:: lladdr MAC PERMANENT. */
static void test_neigh6(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_neigh n = {
		.family = AF_INET6,
		.ifindex = 6,
		.state = NUD_PERMANENT,
		.type = RTN_UNICAST,
		.has_dst = true,
		.dst6 = SUB6,
		.has_lladdr = true,
	},
			got;
	struct blob w = { 0 };
	const struct nlmsghdr *nlh;

	memcpy(n.lladdr, MAC, 6);
	hdr(&w, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET6);
	b8(&w, 0);
	b16(&w, 0);
	b32(&w, 6);
	b16(&w, NUD_PERMANENT);
	b8(&w, 0);
	b8(&w, RTN_UNICAST);
	attr(&w, NDA_DST, SUB6.b, 16);
	attr(&w, NDA_LLADDR, MAC, 6);
	finish(&w);
	assert_int_equal(w.n, 60);
	nlh = nl_msg_neigh(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &n);
	assert_blob(nlh, &w);
	assert_int_equal(nl_parse_neigh(nlh, &got), 0);
	assert_int_equal(got.family, AF_INET6);
	assert_true(got.has_dst);
	assert_true(got.dst_is6);
	assert_memory_equal(got.dst6.b, SUB6.b, 16);
	assert_int_equal(got.dst, 0);
	assert_true(got.has_lladdr);
	assert_memory_equal(got.lladdr, MAC, 6);
}

/* An FDB entry whose destination is an IPv6 underlay address. */
static void test_fdb6(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_neigh n = {
		.family = AF_BRIDGE,
		.ifindex = 6,
		.state = NUD_PERMANENT,
		.flags = NTF_SELF,
		.has_dst = true,
		.dst_is6 = true,
		.dst6 = PUB6,
		.has_lladdr = true,
	},
			got;
	struct blob w = { 0 };
	const struct nlmsghdr *nlh;

	memcpy(n.lladdr, MAC, 6);
	hdr(&w, RTM_DELNEIGH, 0);
	b8(&w, AF_BRIDGE);
	b8(&w, 0);
	b16(&w, 0);
	b32(&w, 6);
	b16(&w, NUD_PERMANENT);
	b8(&w, NTF_SELF);
	b8(&w, 0);
	attr(&w, NDA_DST, PUB6.b, 16);
	attr(&w, NDA_LLADDR, MAC, 6);
	finish(&w);
	nlh = nl_msg_neigh(buf, RTM_DELNEIGH, 0, &n);
	assert_blob(nlh, &w);
	assert_int_equal(nl_parse_neigh(nlh, &got), 0);
	assert_int_equal(got.family, AF_BRIDGE);
	assert_true(got.dst_is6);
	assert_memory_equal(got.dst6.b, PUB6.b, 16);
	assert_int_equal(got.flags, NTF_SELF);

	/* The same entry with an IPv4 destination parses as one. */
	n.dst_is6 = false;
	n.dst = 0x0ac80002;
	nlh = nl_msg_neigh(buf, RTM_NEWNEIGH, 0, &n);
	assert_int_equal(nl_parse_neigh(nlh, &got), 0);
	assert_false(got.dst_is6);
	assert_int_equal(got.dst, 0x0ac80002);
}

/* fc00:0:0:29::/128 on the v6 device, as upstream assigns it. */
static void test_addr6(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_addr a = { .family = AF_INET6, .ifindex = 6, .prefixlen = 128, .addr6 = SUB6 },
		       got;
	struct blob w = { 0 };
	const struct nlmsghdr *nlh;

	hdr(&w, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	b8(&w, AF_INET6);
	b8(&w, 128);
	b8(&w, 0); /* flags */
	b8(&w, RT_SCOPE_UNIVERSE);
	b32(&w, 6);
	attr(&w, IFA_LOCAL, SUB6.b, 16);
	attr(&w, IFA_ADDRESS, SUB6.b, 16);
	finish(&w);
	nlh = nl_msg_addr(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &a);
	assert_blob(nlh, &w);
	assert_int_equal(nl_parse_addr(nlh, &got), 0);
	assert_int_equal(got.family, AF_INET6);
	assert_int_equal(got.ifindex, 6);
	assert_int_equal(got.prefixlen, 128);
	assert_memory_equal(got.addr6.b, SUB6.b, 16);
	assert_int_equal(got.addr, 0);

	/* The kernel's link-local notification carries IFA_ADDRESS only. */
	{
		struct blob x = { 0 };
		struct ifaddrmsg ifa = { .ifa_family = AF_INET6,
					 .ifa_prefixlen = 64,
					 .ifa_scope = RT_SCOPE_LINK,
					 .ifa_index = 6 };
		static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 1 };

		hdr(&x, RTM_DELADDR, 0);
		bytes(&x, &ifa, sizeof(ifa));
		attr(&x, IFA_ADDRESS, ll, 16);
		finish(&x);
		assert_int_equal(nl_parse_addr((const void *)x.b, &got), 0);
		assert_memory_equal(got.addr6.b, ll, 16);
		/* Other families stay refused. */
		((struct ifaddrmsg *)(void *)(x.b + 16))->ifa_family = AF_BRIDGE;
		assert_int_equal(nl_parse_addr((const void *)x.b, &got), -EINVAL);
	}
}

/* flannel-v6.1: LOCAL6 in place of LOCAL, in upstream's position. */
static void test_vxlan6_link(void **state)
{
	NL_MSG_BUF(buf);
	struct nl_vxlan v = {
		.name = "flannel-v6.1",
		.vni = 1,
		.link = 3,
		.has_local6 = true,
		.local6 = PUB6,
		.mtu = 1430,
	};
	const struct nlmsghdr *nlh = nl_msg_link_vxlan(buf, NLM_F_CREATE | NLM_F_EXCL, &v);
	const struct nlattr *a, *info = NULL;
	struct nl_link l;
	struct types t;

	assert_non_null(nlh);
	info_data_types(nlh, &t);
	assert_int_equal(t.n, 12);
	assert_int_equal(t.t[0], IFLA_VXLAN_ID);
	assert_int_equal(t.t[1], IFLA_VXLAN_LINK);
	assert_int_equal(t.t[2], IFLA_VXLAN_LOCAL6);
	assert_int_equal(t.t[3], IFLA_VXLAN_TTL);
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(a) == IFLA_LINKINFO)
			info = a;
	}
	a = find_attr(find_attr(info, IFLA_INFO_DATA), IFLA_VXLAN_LOCAL6);
	assert_int_equal(mnl_attr_get_payload_len(a), 16);
	assert_int_equal(nl_parse_link(nlh, &l), 0);
	assert_string_equal(l.name, "flannel-v6.1");
	assert_true(l.vx.has_local6);
	assert_memory_equal(l.vx.local6.b, PUB6.b, 16);
	assert_int_equal(l.vx.local, 0);
	assert_int_equal(l.mtu, 1430);

	/* An IPv4 device has no LOCAL6. */
	v.has_local6 = false;
	v.local = 0x0ac8000b;
	assert_int_equal(nl_parse_link(nl_msg_link_vxlan(buf, 0, &v), &l), 0);
	assert_false(l.vx.has_local6);
	assert_int_equal(l.vx.local, 0x0ac8000b);
}

/* Dumps of the IPv6 tables the backends read. */
static void test_dump6(void **state)
{
	NL_MSG_BUF(buf);
	const struct nlmsghdr *nlh;

	nlh = nl_msg_dump(buf, RTM_GETNEIGH, AF_INET6, 6);
	assert_int_equal(nlh->nlmsg_len, 16 + sizeof(struct ndmsg) + 8);
	assert_int_equal(((const struct ndmsg *)mnl_nlmsg_get_payload(nlh))->ndm_family, AF_INET6);
	nlh = nl_msg_dump(buf, RTM_GETROUTE, AF_INET6, 0);
	assert_int_equal(((const struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_family, AF_INET6);
	nlh = nl_msg_dump(buf, RTM_GETADDR, AF_INET6, 0);
	assert_int_equal(((const struct ifaddrmsg *)mnl_nlmsg_get_payload(nlh))->ifa_family,
			 AF_INET6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neigh_bytes),
		cmocka_unit_test(test_fdb_bytes),
		cmocka_unit_test(test_route_bytes),
		cmocka_unit_test(test_route_roundtrip),
		cmocka_unit_test(test_vxlan_link),
		cmocka_unit_test(test_link_misc),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_addr_flags),
		cmocka_unit_test(test_route_get_reply),
		cmocka_unit_test(test_dump_requests),
		cmocka_unit_test(test_neigh_parse),
		cmocka_unit_test(test_extack),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_nexthop_bytes),
		cmocka_unit_test(test_nexthop_parse_rejects),
		cmocka_unit_test(test_route6_bytes),
		cmocka_unit_test(test_route6_get),
		cmocka_unit_test(test_nexthop6),
		cmocka_unit_test(test_neigh6),
		cmocka_unit_test(test_fdb6),
		cmocka_unit_test(test_addr6),
		cmocka_unit_test(test_vxlan6_link),
		cmocka_unit_test(test_dump6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
