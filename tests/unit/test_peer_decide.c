/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for backend/peer_decide.c, the peer engine's decisions: what
 * a dumped route or nexthop is to the wanted set, the operations of a
 * converge, and the repair a notification asks for; IPv4 and IPv6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include "backend/peer_decide.h"
#include "netlink/nl.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

#define OIF	  7
#define OTHER_OIF 9

/* host-gw's shape: via PublicIP on OIF, through a nexthop object unless classic. */
static struct route_want want(void *arg, const struct pe_peer *p)
{
	const bool *nexthops = arg;

	return (struct route_want){
		.dst = p->subnet,
		.gw = p->public_ip,
		.oif = OIF,
		.nexthop = p->subnet.addr.family == AF_INET && *nexthops && !p->classic,
	};
}

static const struct pe_ops hostgw_ops = { .route = want };
static bool with_nexthops, without_nexthops;

static struct kprefix v4net(uint32_t a, uint8_t len)
{
	return (struct kprefix){ kaddr_v4(a), len };
}

static struct kprefix v6net(uint16_t g1, uint16_t g2, uint8_t len)
{
	struct ip6 a = { { 0xfd, 0, (uint8_t)(g1 >> 8), (uint8_t)g1, (uint8_t)(g2 >> 8),
			   (uint8_t)g2 } };

	return (struct kprefix){ kaddr_v6(&a), len };
}

static struct kaddr v6host(uint8_t last)
{
	struct ip6 a = { { 0xfd, 0xff, [15] = last } };

	return kaddr_v6(&a);
}

/* 10.5.0.0/16 with peers 10.5.1.0/24 via 192.168.0.1 and 10.5.2.0/24 via 192.168.0.2. */
static void table4(struct pe_table *t, bool *nexthops)
{
	*t = (struct pe_table){ .ops = &hostgw_ops,
				.arg = nexthops,
				.family = AF_INET,
				.network = v4net(0x0a050000, 16),
				.watch_oif = OIF };
	/* Inserted out of order: the table sorts. */
	assert_non_null(pe_insert(t, &(struct pe_peer){ .subnet = v4net(0x0a050200, 24),
							.public_ip = kaddr_v4(0xc0a80002) }));
	assert_non_null(pe_insert(t, &(struct pe_peer){ .subnet = v4net(0x0a050100, 24),
							.public_ip = kaddr_v4(0xc0a80001) }));
}

/* fd00:5::/32 with peers fd00:5:1::/48 via fdff::1 and fd00:5:2::/48 via fdff::2. */
static void table6(struct pe_table *t)
{
	*t = (struct pe_table){ .ops = &hostgw_ops,
				.arg = &without_nexthops,
				.family = AF_INET6,
				.network = v6net(5, 0, 32),
				.watch_oif = OIF };
	assert_non_null(pe_insert(
		t, &(struct pe_peer){ .subnet = v6net(5, 2, 48), .public_ip = v6host(2) }));
	assert_non_null(pe_insert(
		t, &(struct pe_peer){ .subnet = v6net(5, 1, 48), .public_ip = v6host(1) }));
}

static void free_table(struct pe_table *t)
{
	free(t->peers);
}

/* What the kernel would hold for p, as we write it. */
static struct nl_route route_of(const struct pe_table *t, const struct pe_peer *p)
{
	struct route_want w = pe_want(t, p);
	struct nl_route r = route_want_route(&w);

	/* As nl_parse_route() reports it. */
	r.family = p->subnet.addr.family;
	return r;
}

static void test_table_sorted(void **state)
{
	struct pe_table t;
	struct kaddr a = kaddr_v4(0x0a050100), missing = kaddr_v4(0x0a050300);

	table4(&t, &with_nexthops);
	assert_int_equal(t.npeers, 2);
	assert_int_equal(t.peers[0].subnet.addr.v4, 0x0a050100);
	assert_ptr_equal(pe_find(&t, &a), &t.peers[0]);
	assert_null(pe_find(&t, &missing));
	pe_remove(&t, &t.peers[0]);
	assert_null(pe_find(&t, &a));
	assert_int_equal(t.npeers, 1);
	free_table(&t);
}

static int ndropped;

static void count_dropped(const void *p)
{
	ndropped++;
}

static void test_sort_unique(void **state)
{
	struct pe_peer v[] = {
		{ .subnet = v4net(3, 32) },
		{ .subnet = v4net(1, 32) },
		{ .subnet = v4net(3, 32) },
		{ .subnet = v4net(2, 32) },
	};

	ndropped = 0;
	assert_int_equal(pe_sort_unique(v, 4, count_dropped), 3);
	assert_int_equal(ndropped, 1);
	assert_int_equal(v[0].subnet.addr.v4, 1);
	assert_int_equal(v[2].subnet.addr.v4, 3);
}

static void test_judge_route_v4(void **state)
{
	struct pe_table t;
	struct pe_peer *p;
	struct nl_route r;

	table4(&t, &without_nexthops);
	/* Our route, exactly as wanted. */
	r = route_of(&t, &t.peers[0]);
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_HAVE);
	assert_ptr_equal(p, &t.peers[0]);
	/* The peer moved to another PublicIP: the add replaces it in place. */
	r.gw = 0xc0a80009;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_REPLACE);
	/* Another length or metric for the same address is a different route: stale. */
	r = route_of(&t, &t.peers[0]);
	r.dst_len = 25;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_STALE);
	r = route_of(&t, &t.peers[0]);
	r.priority = 5;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_STALE);
	/* Ours for a subnet nobody has any more: stale. */
	r.priority = 0;
	r.dst = 0x0a050300;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_STALE);
	assert_null(p);
	/* Not ours, outside the network, another table or family: none of our business. */
	r = route_of(&t, &t.peers[0]);
	r.protocol = RTPROT_BOOT;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_IGNORE);
	r = route_of(&t, &t.peers[0]);
	r.dst = 0x0a060100;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_IGNORE);
	r = route_of(&t, &t.peers[0]);
	r.table = 100;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_IGNORE);
	r = route_of(&t, &t.peers[0]);
	r.family = AF_INET6;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_IGNORE);
	/* A skipped peer wants no route: what is there is stale. */
	r = route_of(&t, &t.peers[0]);
	t.peers[0].skipped = true;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_STALE);
	free_table(&t);
}

static void test_judge_route_nexthop(void **state)
{
	struct pe_table t;
	struct pe_peer *p;
	struct nl_route r;

	table4(&t, &with_nexthops);
	r = route_of(&t, &t.peers[1]);
	assert_int_equal(r.nhid, 0x0a050200);
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_HAVE);
	/* A classic route where a nexthop one is wanted is replaced in place. */
	r.nhid = 0;
	r.gw = 0xc0a80002;
	r.oif = OIF;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_REPLACE);
	free_table(&t);
}

static void test_judge_route_v6(void **state)
{
	struct pe_table t;
	struct pe_peer *p;
	struct nl_route r;

	table6(&t);
	r = route_of(&t, &t.peers[1]);
	assert_int_equal(r.priority, 1024);
	assert_int_equal(r.nhid, 0);
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_HAVE);
	assert_ptr_equal(p, &t.peers[1]);
	r.gw6 = v6host(9).v6;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_REPLACE);
	r = route_of(&t, &t.peers[1]);
	r.priority = 0;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_STALE);
	r = route_of(&t, &t.peers[1]);
	r.dst6 = v6net(6, 1, 48).addr.v6;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_IGNORE);
	r = route_of(&t, &t.peers[1]);
	r.family = AF_INET;
	assert_int_equal(pe_judge_route(&t, &r, &p), PE_IGNORE);
	free_table(&t);
}

static void test_judge_nexthop(void **state)
{
	struct pe_table t;
	struct pe_peer *p;
	struct route_want w;
	struct nl_nexthop nh;

	table4(&t, &with_nexthops);
	w = pe_want(&t, &t.peers[0]);
	nh = route_want_nexthop(&w);
	nh.family = AF_INET;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_HAVE);
	assert_ptr_equal(p, &t.peers[0]);
	nh.gw = 0xc0a80009;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_REPLACE);
	/* Ours, for a subnet no peer has: stale. */
	nh.id = 0x0a050300;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_STALE);
	/* Someone else's id in our network: the peer goes classic (once). */
	nh = route_want_nexthop(&w);
	nh.protocol = RTPROT_STATIC;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_FOREIGN);
	p->classic = true;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_IGNORE);
	/* A classic peer's old nexthop of ours is stale. */
	nh.protocol = NL_RTPROT_FLANNEL;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_STALE);
	/* Outside the network, or an IPv6 table: ignored. */
	nh.id = 0x0b000000;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_IGNORE);
	t.family = AF_INET6;
	nh.id = 0x0a050100;
	assert_int_equal(pe_judge_nexthop(&t, &nh, &p), PE_IGNORE);
	free_table(&t);
}

/* pe_plan's operations, collected in order. */
struct plan_ops {
	struct pe_op *ops;
	size_t n;
};

static void collect(void *arg, const struct pe_op *op)
{
	struct plan_ops *c = arg;

	c->ops[c->n++] = *op;
}

static size_t plan(const struct pe_table *t, const uint8_t *have, const struct pe_stale *stale,
		   size_t nstale, struct pe_op *ops, unsigned *added)
{
	struct plan_ops c = { ops, 0 };
	size_t n = pe_plan(t, have, stale, nstale, collect, &c, added);

	assert_int_equal(n, c.n);
	return n;
}

static void test_plan_restart_writes_nothing(void **state)
{
	struct pe_table t;
	uint8_t have[2] = { PE_HAVE_ROUTE | PE_HAVE_NEXTHOP, PE_HAVE_ROUTE | PE_HAVE_NEXTHOP };
	struct pe_op ops[8];
	unsigned added;

	table4(&t, &with_nexthops);
	assert_int_equal(plan(&t, have, NULL, 0, ops, &added), 0);
	assert_int_equal(added, 0);
	free_table(&t);
}

static void test_plan_order(void **state)
{
	struct pe_table t;
	/* Peer 0: its nexthop is missing; peer 1: nothing there. */
	uint8_t have[2] = { PE_HAVE_ROUTE, 0 };
	struct pe_stale stale[2] = {
		{ .kind = PE_STALE_NEXTHOP, .dst.addr = kaddr_v4(0x0a050300) },
		{ .dst = v4net(0x0a050400, 24) },
	};
	struct pe_op ops[8];
	unsigned added;
	size_t n;

	table4(&t, &with_nexthops);
	n = plan(&t, have, stale, 2, ops, &added);
	assert_int_equal(added, 2);
	assert_int_equal(n, 5);
	/* Stale routes first, then the adds (nexthop before its route), stale nexthops last. */
	assert_int_equal(ops[0].kind, PE_OP_ROUTE_DEL);
	assert_ptr_equal(ops[0].stale, &stale[1]);
	assert_int_equal(ops[1].kind, PE_OP_NH_ADD);
	assert_ptr_equal(ops[1].peer, &t.peers[0]);
	assert_int_equal(ops[2].kind, PE_OP_NH_ADD);
	assert_ptr_equal(ops[2].peer, &t.peers[1]);
	assert_int_equal(ops[3].kind, PE_OP_ROUTE_ADD);
	assert_ptr_equal(ops[3].peer, &t.peers[1]);
	assert_int_equal(ops[4].kind, PE_OP_NH_DEL);
	assert_ptr_equal(ops[4].stale, &stale[0]);
	free_table(&t);
}

static void test_plan_skipped_and_classic(void **state)
{
	struct pe_table t;
	uint8_t have[2] = { 0, PE_HAVE_ROUTE };
	struct pe_op ops[8];
	unsigned added;

	table4(&t, &with_nexthops);
	t.peers[0].skipped = true; /* unreachable: nothing to add */
	t.peers[1].classic = true; /* its route alone is all it wants */
	assert_int_equal(plan(&t, have, NULL, 0, ops, &added), 0);
	assert_int_equal(added, 0);
	free_table(&t);
}

static void test_plan_v6(void **state)
{
	struct pe_table t;
	uint8_t have[2] = { 0, PE_HAVE_ROUTE };
	struct pe_stale stale = { .dst = v6net(5, 3, 48), .priority = 1024 };
	struct pe_op ops[8];
	unsigned added;

	table6(&t);
	assert_int_equal(plan(&t, have, &stale, 1, ops, &added), 2);
	assert_int_equal(added, 1);
	assert_int_equal(ops[0].kind, PE_OP_ROUTE_DEL);
	assert_int_equal(ops[1].kind, PE_OP_ROUTE_ADD);
	assert_ptr_equal(ops[1].peer, &t.peers[0]);
	free_table(&t);
}

static void test_route_repair(void **state)
{
	const struct pe_peer *p;
	struct pe_table t;
	struct nl_route r;

	table4(&t, &without_nexthops);
	r = route_of(&t, &t.peers[0]);
	/* Our own add coming back: nothing to do. */
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_ROUTE_DELETED);
	assert_ptr_equal(p, &t.peers[0]);
	r.gw = 0xc0a80009;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_ROUTE_REPLACED);
	/* Someone else's route replaced ours; its later deletion is not ours to mourn. */
	r = route_of(&t, &t.peers[0]);
	r.protocol = RTPROT_STATIC;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_ROUTE_REPLACED);
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_NONE);
	/* Another metric, length or peer we do not have: a different route. */
	r = route_of(&t, &t.peers[0]);
	r.priority = 10;
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_NONE);
	r.priority = 0;
	r.dst_len = 23;
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_NONE);
	r.dst_len = 24;
	r.dst = 0x0a050700;
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_NONE);
	/* A skipped peer has no route to lose. */
	r = route_of(&t, &t.peers[0]);
	t.peers[0].skipped = true;
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_NONE);
	free_table(&t);
}

static void test_route_repair_watched_link(void **state)
{
	const struct pe_peer *p;
	struct pe_table t;
	/* A connected route on the external interface came or went. */
	struct nl_route r = { .family = AF_INET,
			      .dst = 0xc0a80000,
			      .dst_len = 24,
			      .oif = OIF,
			      .table = RT_TABLE_MAIN,
			      .protocol = RTPROT_KERNEL };

	table4(&t, &without_nexthops);
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_CONVERGE);
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_CONVERGE);
	/* Via a gateway, on another link, in another table or family: no. */
	r.gw = 0xc0a80001;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	r.gw = 0;
	r.oif = OTHER_OIF;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	r.oif = OIF;
	r.table = 200;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	r.table = RT_TABLE_MAIN;
	r.family = AF_INET6;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	/* Without peers there is nothing to converge; without a watched link neither. */
	r.family = AF_INET;
	t.watch_oif = 0;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	t.watch_oif = OIF;
	t.npeers = 0;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	free_table(&t);
}

static void test_route_repair_v6(void **state)
{
	const struct pe_peer *p;
	struct pe_table t;
	struct nl_route r;

	table6(&t);
	r = route_of(&t, &t.peers[0]);
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_NONE);
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_ROUTE_DELETED);
	r.oif = OTHER_OIF;
	assert_int_equal(pe_route_repair(&t, RTM_NEWROUTE, &r, &p), PE_REPAIR_ROUTE_REPLACED);
	/* The IPv4 table does not see it. */
	t.family = AF_INET;
	assert_int_equal(pe_route_repair(&t, RTM_DELROUTE, &r, &p), PE_REPAIR_NONE);
	free_table(&t);
}

static void test_nexthop_repair(void **state)
{
	const struct pe_peer *p;
	struct pe_table t;
	struct route_want w;
	struct nl_nexthop nh;

	table4(&t, &with_nexthops);
	w = pe_want(&t, &t.peers[1]);
	nh = route_want_nexthop(&w);
	nh.family = AF_INET;
	assert_int_equal(pe_nexthop_repair(&t, RTM_NEWNEXTHOP, &nh, &p), PE_REPAIR_NONE);
	assert_int_equal(pe_nexthop_repair(&t, RTM_DELNEXTHOP, &nh, &p), PE_REPAIR_NH_DELETED);
	assert_ptr_equal(p, &t.peers[1]);
	nh.oif = OTHER_OIF;
	assert_int_equal(pe_nexthop_repair(&t, RTM_NEWNEXTHOP, &nh, &p), PE_REPAIR_NH_CHANGED);
	/* A classic peer has no nexthop to repair. */
	t.peers[1].classic = true;
	assert_int_equal(pe_nexthop_repair(&t, RTM_DELNEXTHOP, &nh, &p), PE_REPAIR_NONE);
	free_table(&t);
	/* Without nexthop objects, none. */
	table4(&t, &without_nexthops);
	assert_int_equal(pe_nexthop_repair(&t, RTM_DELNEXTHOP, &nh, &p), PE_REPAIR_NONE);
	free_table(&t);
}

static void test_kaddr(void **state)
{
	struct kaddr a = kaddr_v4(0x0a000001), b = v6host(1);
	struct kprefix n6 = v6net(5, 0, 32), inside = v6net(5, 9, 48);
	char buf[IP_STRLEN];

	/* Families order apart, whatever the bytes. */
	assert_true(kaddr_cmp(&a, &b) < 0);
	assert_false(kaddr_equal(&a, &b));
	assert_string_equal(kaddr_format(&a, buf), "10.0.0.1");
	assert_string_equal(kaddr_format(&b, buf), "fdff::1");
	assert_string_equal(kprefix_format(&n6, buf), "fd00:5::/32");
	assert_false(kprefix_contains(&n6, &a));
	assert_true(kprefix_contains(&n6, &inside.addr));
}

static struct dev_heal ipip_dev(void)
{
	return (struct dev_heal){ .dev = "flannel.ipip",
				  .ifindex = 20,
				  .mtu = 1480,
				  .want_up = true,
				  .own = v4net(0x0a050100, 32),
				  .ext_index = OIF,
				  .ext_name = "eth0",
				  .ext_up = true };
}

static void test_link_events(void **state)
{
	struct dev_heal d = ipip_dev();
	struct nl_link l = { .index = 20, .flags = IFF_UP | IFF_LOWER_UP, .mtu = 1480 };

	/* Our device as it should be; deleted; down; another MTU. */
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_NONE);
	assert_int_equal(dev_heal_link_decide(&d, RTM_DELLINK, &l), DEV_HEAL_DELETED);
	l.flags = 0;
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_CHECK);
	assert_true(dev_heal_link_wrong(&d, &l));
	/* Down is fine before our lease is held (nothing configured it up yet). */
	d.want_up = false;
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_NONE);
	l.mtu = 9000;
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_CHECK);
	/* Another device: none of our business. */
	l.index = 33;
	assert_int_equal(dev_heal_link_decide(&d, RTM_DELLINK, &l), DEV_HEAL_NONE);
	/* The external interface: down, said once; up again, converge. */
	l = (struct nl_link){ .index = OIF, .flags = IFF_UP };
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_EXT_DOWN);
	d.ext_up = false;
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_NONE);
	l.flags = IFF_UP | IFF_LOWER_UP;
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_EXT_UP);
	d.ext_up = true;
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_NONE);
	assert_int_equal(dev_heal_link_decide(&d, RTM_DELLINK, &l), DEV_HEAL_EXT_DOWN);
	/* host-gw has no device of its own: index 0 is never ours. */
	d.dev = NULL;
	d.ifindex = 0;
	l = (struct nl_link){ .index = 0 };
	assert_int_equal(dev_heal_link_decide(&d, RTM_DELLINK, &l), DEV_HEAL_NONE);
}

static void test_addr_events(void **state)
{
	struct dev_heal d = ipip_dev();
	struct nl_addr a = {
		.family = AF_INET, .ifindex = 20, .prefixlen = 32, .addr = 0x0a050100
	};

	assert_true(dev_heal_addr_decide(&d, RTM_DELADDR, &a));
	assert_false(dev_heal_addr_decide(&d, RTM_NEWADDR, &a));
	a.prefixlen = 24;
	assert_false(dev_heal_addr_decide(&d, RTM_DELADDR, &a));
	a.prefixlen = 32;
	a.ifindex = OIF;
	assert_false(dev_heal_addr_decide(&d, RTM_DELADDR, &a));
	a.ifindex = 20;
	a.addr = 0x0a050101;
	assert_false(dev_heal_addr_decide(&d, RTM_DELADDR, &a));
	/* No own address yet (no lease held): nothing to lose. */
	a.addr = 0x0a050100;
	d.own.len = 0;
	assert_false(dev_heal_addr_decide(&d, RTM_DELADDR, &a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_sorted),
		cmocka_unit_test(test_sort_unique),
		cmocka_unit_test(test_judge_route_v4),
		cmocka_unit_test(test_judge_route_nexthop),
		cmocka_unit_test(test_judge_route_v6),
		cmocka_unit_test(test_judge_nexthop),
		cmocka_unit_test(test_plan_restart_writes_nothing),
		cmocka_unit_test(test_plan_order),
		cmocka_unit_test(test_plan_skipped_and_classic),
		cmocka_unit_test(test_plan_v6),
		cmocka_unit_test(test_route_repair),
		cmocka_unit_test(test_route_repair_watched_link),
		cmocka_unit_test(test_route_repair_v6),
		cmocka_unit_test(test_nexthop_repair),
		cmocka_unit_test(test_kaddr),
		cmocka_unit_test(test_link_events),
		cmocka_unit_test(test_addr_events),
	};

	with_nexthops = true;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
