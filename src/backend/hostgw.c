/* SPDX-License-Identifier: Apache-2.0 */
/*
 * host-gw backend: per remote lease a route to its subnet via its PublicIP
 * on the external interface (FLANNEL_COMPAT.md 9.2), tagged with our
 * protocol and, where the kernel has them, through a nexthop object. The
 * model is vxlan's: the set of routes we want, changed by lease events,
 * converged on a resync (dump, diff, fix; a restart writes nothing), and
 * repaired when the kernel contradicts it: peerroutes.c, shared with ipip;
 * what is host-gw's here is the route's shape and the reachability test.
 *
 * A peer whose PublicIP is not on a network directly connected to the
 * external interface cannot be reached this way: it is skipped with a
 * warning naming it (upstream's route add just fails), and looked at
 * again whenever the routes on that interface change.
 *
 * IPv6 (EnableIPv6) is hostgw6.c: the same per lease with its v6 subnet
 * and PublicIPv6. With EnableIPv4 false only that half runs.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/hostgw6.h"
#include "backend/peerroutes.h"
#include "backend/repair.h"
#include "backend/routes.h"
#include "config.h"
#include "iface.h"
#include "lease/lease.h"
#include "log.h"
#include "loop.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"
#include "lease/subnet.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

#define TYPE "host-gw"

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct iface ext;
	bool ext_up; /* as last notified */
	bool have_own;
	struct ip4net own;
	struct pr_table pr;	     /* the v4 routes */
	struct log_limit warn_limit; /* for warnings about other hosts' leases */
	struct repair heal;
	bool v4, v6; /* EnableIPv4, EnableIPv6 */
	struct hgw6 six;
};

/* ------------------------------------------------------------ routes */

static struct route_want peer_route(void *arg, const struct pr_peer *p)
{
	const struct backend *b = arg;

	return (struct route_want){
		.dst = p->subnet,
		.gw = p->public_ip,
		.oif = b->ext.index,
		.nexthop = b->pr.nexthops && !p->classic,
	};
}

/* ------------------------------------------------------------ reachability */

/* Upstream's test: the kernel's route to ip has no gateway; and it leaves by our interface. */
static bool reachable(struct backend *b, uint32_t ip)
{
	struct nl_route r;

	return nl_route_lookup(b->nl, ip, &r) == 0 && r.type == RTN_UNICAST && r.gw == 0 &&
	       r.oif == b->ext.index;
}

/* Set p->skipped from the kernel's routes now; say so when it changes. */
static void check_reach(void *arg, struct pr_peer *p, bool in_table)
{
	struct backend *b = arg;
	char sn[IP_STRLEN], ip[16];
	bool skip = !reachable(b, p->public_ip);

	if (skip && (!p->skipped || !in_table) && log_limit_ok(&b->warn_limit, "unreachable peers"))
		log_warnx("Skipping subnet %s: its PublicIP %s is not on a network directly "
			  "connected to %s, which host-gw needs",
			  ip4net_format(&p->subnet, sn), ip4_format(p->public_ip, ip), b->ext.name);
	else if (!skip && p->skipped && in_table)
		log_info("Subnet %s: PublicIP %s is directly reachable now",
			 ip4net_format(&p->subnet, sn), ip4_format(p->public_ip, ip));
	p->skipped = skip;
}

static void heal_cb(void *arg)
{
	struct backend *b = arg;

	if (b->v4)
		pr_converge(&b->pr);
	if (b->v6)
		hgw6_converge(&b->six);
}

/* ------------------------------------------------------------ leases */

/* 1 with *ret filled, 0 when not ours to program. */
static int peer_from_lease(void *arg, const struct lease *l, struct pr_peer *ret)
{
	struct backend *b = arg;

	if (!pr_peer_from_lease(l, TYPE, b->have_own ? &b->own : NULL, &b->warn_limit, ret))
		return 0;
	return 1;
}

static const struct pr_ops peer_ops = {
	.route = peer_route,
	.from_lease = peer_from_lease,
	.reach = check_reach,
};

static void hostgw_lease_removed(struct backend *b, const struct lease *l)
{
	if (b->v6)
		hgw6_lease_removed(&b->six, l);
	if (b->v4)
		pr_lease_removed(&b->pr, l);
}

static void hostgw_lease_added(struct backend *b, const struct lease *l)
{
	struct pr_peer np, *old;

	if (b->v6)
		hgw6_lease_added(&b->six, l);
	if (!b->v4)
		return;
	if (peer_from_lease(b, l, &np) <= 0) {
		/* Type changed away from host-gw: what we had for it goes (v6 done above). */
		old = pr_find(&b->pr, l->subnet.v4.addr);
		if (old && l->has_attrs && strcmp(l->attrs.backend_type, TYPE) != 0)
			pr_drop(&b->pr, old);
		return;
	}
	pr_add(&b->pr, &np);
}

static void hostgw_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	if (b->v6)
		hgw6_resync(&b->six, all, n);
	if (b->v4)
		pr_resync(&b->pr, all, n);
}

static int hostgw_own_lease(struct backend *b, const struct lease *own)
{
	if (b->v6 && own->subnet.has_v6)
		hgw6_own_lease(&b->six, &own->subnet.v6);
	if (!b->v4)
		return 0;
	b->own = own->subnet.v4;
	b->have_own = true;
	/* A subnet that was a peer's and is now ours stops being routed away. */
	pr_forget(&b->pr, b->own.addr);
	return 0;
}

/* ------------------------------------------------------------ self-healing */

static void link_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_link l;
	bool up;

	if (nl_parse_link(nlh, &l) < 0 || l.index != b->ext.index)
		return;
	/* Routes through a link that went down are gone without a notification. */
	up = nlh->nlmsg_type == RTM_NEWLINK && (l.flags & IFF_UP) && (l.flags & IFF_LOWER_UP);
	if (up && !b->ext_up)
		repair_soon_why(&b->heal, "%s is up again", b->ext.name);
	else if (!up && b->ext_up)
		log_warnx("%s (our external interface) is down", b->ext.name);
	b->ext_up = up;
}

static void route_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_route r;

	if (b->v6)
		hgw6_route_event(&b->six, nlh);
	if (!b->v4 || nl_parse_route(nlh, &r) < 0 || r.family != AF_INET ||
	    r.table != RT_TABLE_MAIN)
		return;
	/*
	 * A network on our interface came or went: skipped peers may be
	 * reachable now, and the kernel drops routes via a gateway that is no
	 * longer on-link without telling anyone.
	 */
	if (r.protocol != NL_RTPROT_FLANNEL && r.oif == b->ext.index && r.gw == 0 && b->pr.npeers) {
		log_debug(1, "The routes on %s changed: converging", b->ext.name);
		repair_soon(&b->heal);
		return;
	}
	pr_route_event(&b->pr, nlh->nlmsg_type, &r);
}

static void nexthop_event(struct backend *b, const struct nlmsghdr *nlh)
{
	if (b->v4)
		pr_nexthop_event(&b->pr, nlh);
}

/* An address of our interface changed: routes via gateways on it may have gone. */
static void addr_event(struct backend *b, const struct nlmsghdr *nlh)
{
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) < 0 || a.ifindex != b->ext.index ||
	    (!b->pr.npeers && !b->six.npeers))
		return;
	log_debug(1, "An address of %s changed: converging", b->ext.name);
	repair_soon(&b->heal);
}

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		link_event(b, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		route_event(b, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		addr_event(b, nlh);
		break;
	case RTM_NEWNEXTHOP:
	case RTM_DELNEXTHOP:
		nexthop_event(b, nlh);
		break;
	}
}

static void kernel_overrun(void *arg)
{
	struct backend *b = arg;

	log_info("Missed rtnetlink notifications (ENOBUFS): re-reading the routes via %s",
		 b->ext.name);
	repair_soon(&b->heal);
}

static const struct nlmon_ops monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};

/* ------------------------------------------------------------ lifecycle */

static void hostgw_close(struct backend *b)
{
	if (!b)
		return;
	/* The routes stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	pr_free(&b->pr);
	hgw6_free(&b->six);
	free(b);
}

/* Shared by init and --check-config: no NAT, and the MTU (how, or why not, in msg). */
static int hostgw_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	char pub[16], addr[16];

	if (env->conf->enable_ipv6 && !env->has_public_ipv6) {
		snprintf(msg, msglen, "The external interface %s has no IPv6 address for host-gw",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	if (!env->conf->enable_ipv4)
		goto mtu;
	if (env->ext->addr == 0) {
		snprintf(msg, msglen, "The external interface %s has no IPv4 address for host-gw",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	if (env->public_ip != env->ext->addr) {
		snprintf(msg, msglen,
			 "Your PublicIP %s differs from the address %s of %s, meaning that "
			 "probably you're on a NAT, which is not supported by host-gw backend",
			 ip4_format(env->public_ip, pub), ip4_format(env->ext->addr, addr),
			 env->ext->name);
		return -EINVAL;
	}
mtu:
	*mtu = env->ext->mtu;
	snprintf(msg, msglen, "the MTU of %s", env->ext->name);
	return 0;
}

static int hostgw_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		       struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	unsigned groups[6], ngroups = 0;
	char msg[256];
	unsigned m;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->ext = *env->ext;
	b->ext_up = true;
	b->warn_limit = LOG_LIMIT(20, 10000);
	b->v4 = env->conf->enable_ipv4;
	b->v6 = env->conf->enable_ipv6;
	b->pr = (struct pr_table){ .ops = &peer_ops,
				   .arg = b,
				   .heal = &b->heal,
				   .network = env->conf->network,
				   .kind = TYPE,
				   .via = b->ext.name };
	b->six = (struct hgw6){ .ext = &b->ext,
				.heal = &b->heal,
				.warn_limit = &b->warn_limit,
				.network = env->conf->ipv6_network };
	repair_init(&b->heal, b->loop, heal_cb, b, "the host-gw routes");
	r = hostgw_check(env, &m, msg, sizeof(msg));
	if (r < 0) {
		log_error("%s", msg);
		goto fail;
	}
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	b->six.nl = b->nl;
	b->pr.nl = b->nl;
	r = route_probe_nexthops(b->nl);
	b->pr.kernel_nexthops = r == 0;
	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	b->pr.nexthops = env->nexthop_objects && b->pr.kernel_nexthops;
	/* The nexthop group last: kernels without nexthop objects lack it. */
	groups[ngroups++] = RTNLGRP_LINK;
	if (b->v4) {
		groups[ngroups++] = RTNLGRP_IPV4_IFADDR;
		groups[ngroups++] = RTNLGRP_IPV4_ROUTE;
	}
	if (b->v6) {
		groups[ngroups++] = RTNLGRP_IPV6_IFADDR;
		groups[ngroups++] = RTNLGRP_IPV6_ROUTE;
	}
	if (b->v4 && b->pr.kernel_nexthops)
		groups[ngroups++] = RTNLGRP_NEXTHOP;
	r = nlmon_open(b->loop, groups, ngroups, &monitor_ops, b, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	log_info("host-gw: routes to other subnets via their %s on %s%s",
		 !b->v6	 ? "PublicIP"
		 : b->v4 ? "PublicIP and PublicIPv6"
			 : "PublicIPv6",
		 b->ext.name, b->v4 && b->pr.nexthops ? " (through nexthop objects)" : "");
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
	*mtu = m;
	*ret = b;
	return 0;
fail:
	hostgw_close(b);
	return r;
}

const struct backend_ops backend_hostgw_ops = {
	.name = TYPE,
	.init = hostgw_init,
	.ipv6 = true,
	.check = hostgw_check,
	.own_lease = hostgw_own_lease,
	.lease_added = hostgw_lease_added,
	.lease_removed = hostgw_lease_removed,
	.resync = hostgw_resync,
	.close = hostgw_close,
};
