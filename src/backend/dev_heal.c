/* SPDX-License-Identifier: Apache-2.0 */
/* The shared self-healing handlers (dev_heal.h). */
#include "backend/dev_heal.h"

#include <linux/rtnetlink.h>
#include <string.h>

#include "backend/peer_decide.h"
#include "backend/repair.h"
#include "log.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"

static void link_event(struct dev_heal *d, const struct nlmsghdr *nlh)
{
	struct nl_link l, now;

	if (nl_parse_link(nlh, &l) < 0)
		return;
	switch (dev_heal_link_decide(d, nlh->nlmsg_type, &l)) {
	case DEV_HEAL_DELETED:
		log_warnx("%s was deleted; recreating it", d->dev);
		repair_soon(d->heal);
		break;
	case DEV_HEAL_CHECK:
		/* Notifications arrive late: only the state the device is in now counts. */
		if (nl_link_get(d->nl, NULL, d->ifindex, &now) < 0 || !dev_heal_link_wrong(d, &now))
			break;
		if (d->has_mac && now.has_mac && memcmp(now.mac, d->mac, 6) != 0)
			repair_soon_why(
				d->heal,
				"The MAC of %s was changed to %02x:%02x:%02x:%02x:%02x:%02x",
				d->dev, now.mac[0], now.mac[1], now.mac[2], now.mac[3], now.mac[4],
				now.mac[5]);
		else
			repair_soon_why(d->heal, "%s was set down or its MTU changed to %u", d->dev,
					now.mtu);
		break;
	case DEV_HEAL_EXT_UP:
		/* Routes through a link that went down are gone without a notification. */
		d->ext_up = true;
		repair_soon_why(d->heal, "%s is up again", d->ext_name);
		break;
	case DEV_HEAL_EXT_DOWN:
		d->ext_up = false;
		log_warnx("%s (our external interface) is down", d->ext_name);
		break;
	case DEV_HEAL_NONE:
		break;
	}
	if (d->link_event)
		d->link_event(d->arg, nlh);
}

static void addr_event(struct dev_heal *d, const struct nlmsghdr *nlh)
{
	char a[IP_STRLEN];
	struct nl_addr x;

	if (nl_parse_addr(nlh, &x) == 0 && dev_heal_addr_decide(d, nlh->nlmsg_type, &x))
		repair_soon_why(d->heal, "Address %s was removed from %s",
				kprefix_format(&d->own, a), d->dev);
	if (d->addr_event)
		d->addr_event(d->arg, nlh);
}

void dev_heal_event(struct dev_heal *d, const struct nlmsghdr *nlh)
{
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		link_event(d, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		addr_event(d, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (d->route_event)
			d->route_event(d->arg, nlh);
		break;
	case RTM_NEWNEXTHOP:
	case RTM_DELNEXTHOP:
		if (d->nexthop_event)
			d->nexthop_event(d->arg, nlh);
		break;
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		if (d->neigh_event)
			d->neigh_event(d->arg, nlh);
		break;
	}
}

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	for (struct dev_heal *d = arg; d; d = d->also)
		dev_heal_event(d, nlh);
}

static void kernel_overrun(void *arg)
{
	struct dev_heal *d = arg;

	/* Expected while we program thousands of entries (they echo back): not a warning. */
	log_info("Missed rtnetlink notifications (ENOBUFS): re-reading %s", d->overrun_what);
	repair_soon(d->heal);
}

const struct nlmon_ops dev_heal_monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};
