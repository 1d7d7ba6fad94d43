/* SPDX-License-Identifier: Apache-2.0 */
/*
 * host-gw backend: per remote lease a route to its subnet via its PublicIP
 * on the external interface (FLANNEL_COMPAT.md 9.2), tagged with our
 * protocol and, where the kernel has them, through a nexthop object; with
 * EnableIPv6 the same per lease with its v6 subnet and PublicIPv6. Each
 * family is a table of the peer engine (peer_engine.h), which converges,
 * batches and repairs; what is host-gw's here is the route's shape and
 * the reachability test.
 *
 * A peer whose PublicIP is not on a network directly connected to the
 * external interface cannot be reached this way: it is skipped with a
 * warning naming it (upstream's route add just fails), and looked at
 * again whenever the routes on that interface change.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dev_heal.h"
#include "backend/peer_engine.h"
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

#define TYPE "host-gw"

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct iface ext;
	bool have_own;
	struct kprefix own[2];	   /* by table */
	struct pe_table tables[2]; /* IPv4, IPv6; only those enabled are used */
	bool enabled[2];	   /* EnableIPv4, EnableIPv6 */
	struct pe_table *live[2];  /* the enabled tables */
	size_t nlive;
	struct log_limit warn_limit; /* for warnings about other hosts' leases */
	struct repair heal;
	struct dev_heal dh;
	char overrun_what[48]; /* "the routes via eth0" */
};

/* ------------------------------------------------------------ routes */

static struct route_want peer_route(void *arg, const struct pe_peer *p)
{
	const struct backend *b = arg;

	return (struct route_want){
		.dst = p->subnet,
		.gw = p->public_ip,
		.oif = b->ext.index,
		.nexthop = p->subnet.addr.family == AF_INET && b->tables[0].nexthops && !p->classic,
	};
}

/* ------------------------------------------------------------ reachability */

/* Upstream's test: the kernel's route to ip has no gateway; and it leaves by our interface. */
static bool reachable(struct backend *b, const struct kaddr *ip)
{
	struct nl_route r;
	struct kaddr gw;

	if (pe_route_lookup(b->nl, ip, &r) < 0)
		return false;
	gw = route_gw(&r);
	return r.type == RTN_UNICAST && kaddr_is_zero(&gw) && r.oif == b->ext.index;
}

/* Set p->skipped from the kernel's routes now; say so when it changes. */
static void check_reach(void *arg, struct pe_peer *p, bool in_table)
{
	struct backend *b = arg;
	const char *v6 = p->public_ip.family == AF_INET6 ? "v6" : "";
	char sn[IP_STRLEN], ip[IP_STRLEN];
	bool skip = !reachable(b, &p->public_ip);

	if (skip && (!p->skipped || !in_table) && log_limit_ok(&b->warn_limit, "unreachable peers"))
		log_warnx("Skipping subnet %s: its PublicIP%s %s is not on a network directly "
			  "connected to %s, which host-gw needs",
			  kprefix_format(&p->subnet, sn), v6, kaddr_format(&p->public_ip, ip),
			  b->ext.name);
	else if (!skip && p->skipped && in_table)
		log_info("Subnet %s: PublicIP%s %s is directly reachable now",
			 kprefix_format(&p->subnet, sn), v6, kaddr_format(&p->public_ip, ip));
	p->skipped = skip;
}

static void heal_cb(void *arg)
{
	struct backend *b = arg;

	for (size_t i = 0; i < b->nlive; i++)
		pe_converge(b->live[i]);
}

/* ------------------------------------------------------------ leases */

/* 1 with *ret filled, 0 when not ours to program. */
static int peer_from_lease4(void *arg, const struct lease *l, struct pe_peer *ret)
{
	struct backend *b = arg;

	return pe_peer_from_lease(&b->tables[0], l, TYPE, b->have_own ? &b->own[0] : NULL,
				  &b->warn_limit, ret);
}

static int peer_from_lease6(void *arg, const struct lease *l, struct pe_peer *ret)
{
	struct backend *b = arg;

	return pe_peer_from_lease(&b->tables[1], l, TYPE,
				  b->have_own && b->own[1].len ? &b->own[1] : NULL, &b->warn_limit,
				  ret);
}

static const struct pe_ops peer_ops[2] = {
	{ .route = peer_route, .from_lease = peer_from_lease4, .reach = check_reach },
	{ .route = peer_route, .from_lease = peer_from_lease6, .reach = check_reach },
};

static void hostgw_lease_removed(struct backend *b, const struct lease *l)
{
	for (size_t i = 0; i < b->nlive; i++)
		pe_lease_removed(b->live[i], l);
}

static void hostgw_lease_added(struct backend *b, const struct lease *l)
{
	for (size_t i = 0; i < b->nlive; i++)
		pe_lease_added(b->live[i], l);
}

static void hostgw_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	for (size_t i = 0; i < b->nlive; i++)
		pe_resync(b->live[i], all, n);
}

static int hostgw_own_lease(struct backend *b, const struct lease *own)
{
	b->have_own = true;
	for (size_t i = 0; i < b->nlive; i++) {
		struct pe_table *t = b->live[i];
		struct kprefix *o = &b->own[t - b->tables];

		*o = (struct kprefix){ .addr.family = t->family };
		/* A subnet that was a peer's and is now ours stops being routed away. */
		if (pe_lease_subnet(t, own, o))
			pe_forget(t, o);
	}
	return 0;
}

/* ------------------------------------------------------------ self-healing */

static void route_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0)
		return;
	for (size_t i = 0; i < b->nlive; i++)
		pe_route_event(b->live[i], nlh->nlmsg_type, &r);
}

static void nexthop_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;

	for (size_t i = 0; i < b->nlive; i++)
		pe_nexthop_event(b->live[i], nlh);
}

/* An address of our interface changed: routes via gateways on it may have gone. */
static void addr_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) < 0 || a.ifindex != b->ext.index ||
	    (!b->tables[0].npeers && !b->tables[1].npeers))
		return;
	log_debug(1, "An address of %s changed: converging", b->ext.name);
	repair_soon(&b->heal);
}

/* ------------------------------------------------------------ lifecycle */

static void hostgw_close(struct backend *b)
{
	if (!b)
		return;
	/* The routes stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	pe_free(&b->tables[0]);
	pe_free(&b->tables[1]);
	free(b);
}

/* Shared by init and --check-config: no NAT, and the MTU (how, or why not, in msg). */
static int hostgw_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	char pub[16], addr[16];

	if (env->conf->enable_ipv6 && !env->has_public_ipv6)
		return backend_no_address(env, true, "host-gw", msg, msglen);
	if (!env->conf->enable_ipv4)
		goto mtu;
	if (env->ext->addr == 0)
		return backend_no_address(env, false, "host-gw", msg, msglen);
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
	snprintf(b->overrun_what, sizeof(b->overrun_what), "the routes via %s", b->ext.name);
	b->dh = (struct dev_heal){ .heal = &b->heal,
				   .ext_index = b->ext.index,
				   .ext_name = b->ext.name,
				   .ext_up = true,
				   .overrun_what = b->overrun_what,
				   .route_event = route_event,
				   .nexthop_event = nexthop_event,
				   .addr_event = addr_event,
				   .arg = b };
	b->warn_limit = LOG_LIMIT(20, 10000);
	b->enabled[0] = env->conf->enable_ipv4;
	b->enabled[1] = env->conf->enable_ipv6;
	for (int i = 0; i < 2; i++) {
		b->tables[i] = (struct pe_table){
			.ops = &peer_ops[i],
			.arg = b,
			.heal = &b->heal,
			.family = i ? AF_INET6 : AF_INET,
			.network = i ? kprefix_v6(&env->conf->ipv6_network)
				     : kprefix_v4(&env->conf->network),
			.kind = TYPE,
			.via = b->ext.name,
			.watch_oif = b->ext.index,
		};
		if (b->enabled[i])
			b->live[b->nlive++] = &b->tables[i];
	}
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
	b->tables[0].nl = b->tables[1].nl = b->nl;
	r = pe_probe_nexthops(b->nl);
	b->tables[0].kernel_nexthops = r == 0;
	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	b->tables[0].nexthops = env->nexthop_objects && b->tables[0].kernel_nexthops;
	/* The nexthop group last: kernels without nexthop objects lack it. */
	groups[ngroups++] = RTNLGRP_LINK;
	if (b->enabled[0]) {
		groups[ngroups++] = RTNLGRP_IPV4_IFADDR;
		groups[ngroups++] = RTNLGRP_IPV4_ROUTE;
	}
	if (b->enabled[1]) {
		groups[ngroups++] = RTNLGRP_IPV6_IFADDR;
		groups[ngroups++] = RTNLGRP_IPV6_ROUTE;
	}
	if (b->enabled[0] && b->tables[0].kernel_nexthops)
		groups[ngroups++] = RTNLGRP_NEXTHOP;
	r = nlmon_open(b->loop, groups, ngroups, &dev_heal_monitor_ops, &b->dh, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	log_info("host-gw: routes to other subnets via their %s on %s%s",
		 !b->enabled[1]	 ? "PublicIP"
		 : b->enabled[0] ? "PublicIP and PublicIPv6"
				 : "PublicIPv6",
		 b->ext.name,
		 b->enabled[0] && b->tables[0].nexthops ? " (through nexthop objects)" : "");
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
	BACKEND_OPS_COMMON(hostgw),
	.ipv6 = true,
};
