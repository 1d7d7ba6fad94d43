/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the rtnetlink parsers with whatever a netlink message might hold. */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>

#include "nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { RTM_NEWLINK,	  RTM_DELLINK,	RTM_NEWADDR,
					  RTM_DELADDR,	  RTM_NEWROUTE, RTM_DELROUTE,
					  RTM_NEWNEIGH,	  RTM_DELNEIGH, RTM_NEWNEXTHOP,
					  RTM_DELNEXTHOP, NLMSG_ERROR,	NLMSG_DONE };
	static uint64_t buf[4096 / sizeof(uint64_t)]; /* aligned, as recv() fills it */
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nl_nexthop nh;
	struct nl_route r;
	struct nl_neigh n;
	struct nl_link l;
	struct nl_addr a;

	if (size < 2 || size - 2 + sizeof(*nlh) > sizeof(buf))
		return 0;
	memset(buf, 0, sizeof(buf));
	nlh->nlmsg_len = (uint32_t)(sizeof(*nlh) + size - 2);
	nlh->nlmsg_type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	nlh->nlmsg_flags = (uint16_t)(data[1] & 1 ? NLM_F_ACK_TLVS : 0) |
			   (uint16_t)(data[1] & 2 ? NLM_F_CAPPED : 0);
	memcpy(nlh + 1, data + 2, size - 2);
	nl_parse_link(nlh, &l);
	nl_parse_addr(nlh, &a);
	nl_parse_route(nlh, &r);
	nl_parse_neigh(nlh, &n);
	nl_parse_nexthop(nlh, &nh);
	nl_parse_extack(nlh);
	return 0;
}
