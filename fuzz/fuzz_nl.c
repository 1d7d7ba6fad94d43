/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the rtnetlink parsers with whatever a netlink message might hold,
 * then build what they parsed (IPv4 and IPv6 alike) and parse that again:
 * the builders must take any parsed object, and the result must parse.
 */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netlink/nl.h"

/* A builder that gave up (the object does not fit) is fine; one whose message does not parse is
 * not. */
#define AGAIN(built, parse, out)                                                                   \
	do {                                                                                       \
		const struct nlmsghdr *m_ = (built);                                               \
		if (m_ && parse(m_, out) < 0)                                                      \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { RTM_NEWLINK,	  RTM_DELLINK,	RTM_NEWADDR,
					  RTM_DELADDR,	  RTM_NEWROUTE, RTM_DELROUTE,
					  RTM_NEWNEIGH,	  RTM_DELNEIGH, RTM_NEWNEXTHOP,
					  RTM_DELNEXTHOP, NLMSG_ERROR,	NLMSG_DONE };
	static uint64_t buf[4096 / sizeof(uint64_t)]; /* aligned, as recv() fills it */
	NL_MSG_BUF(out);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nl_nexthop nh, nh2;
	struct nl_route r, r2;
	struct nl_neigh n, n2;
	struct nl_link l;
	struct nl_addr a, a2;

	if (size < 2 || size - 2 + sizeof(*nlh) > sizeof(buf))
		return 0;
	memset(buf, 0, sizeof(buf));
	nlh->nlmsg_len = (uint32_t)(sizeof(*nlh) + size - 2);
	nlh->nlmsg_type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	nlh->nlmsg_flags = (uint16_t)(data[1] & 1 ? NLM_F_ACK_TLVS : 0) |
			   (uint16_t)(data[1] & 2 ? NLM_F_CAPPED : 0);
	memcpy(nlh + 1, data + 2, size - 2);
	if (nl_parse_link(nlh, &l) == 0 && l.is_vxlan)
		nl_msg_link_vxlan(out, 0, &l.vx);
	if (nl_parse_addr(nlh, &a) == 0)
		AGAIN(nl_msg_addr(out, RTM_NEWADDR, 0, &a), nl_parse_addr, &a2);
	if (nl_parse_route(nlh, &r) == 0)
		AGAIN(nl_msg_route(out, RTM_NEWROUTE, 0, &r), nl_parse_route, &r2);
	if (nl_parse_neigh(nlh, &n) == 0)
		AGAIN(nl_msg_neigh(out, RTM_NEWNEIGH, 0, &n), nl_parse_neigh, &n2);
	if (nl_parse_nexthop(nlh, &nh) == 0)
		AGAIN(nl_msg_nexthop(out, RTM_NEWNEXTHOP, 0, &nh), nl_parse_nexthop, &nh2);
	nl_parse_extack(nlh);
	return 0;
}
