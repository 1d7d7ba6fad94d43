/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the peer engine's decisions about neighbours and FDB
 * entries (an l2 table, vxlan's shape; backend/peer_decide.c): what a
 * dumped entry is to the wanted set, the operations of a converge (a
 * restart, missing and stale entries, a peer moved to another PublicIP,
 * a changed VtepMAC, a directly routed peer), and the repair each
 * notification asks for; IPv4 and IPv6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include "backend/peer_decide.h"
#include "netlink/nl.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

#define DEV	  5 /* flannel.1 */
#define OTHER_DEV 6
#define EXT	  2

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 1 }, mac2[6] = { 0x02, 0, 0, 0, 0, 2 },
		     mac9[6] = { 0x02, 0, 0, 0, 0, 9 };

/* vxlan's shape: on-link via the subnet address on DEV, or via PublicIP on EXT when direct. */
static struct route_want want(void *arg, const struct pe_peer *p)
{
	struct route_want w = { .dst = p->subnet };

	if (p->direct) {
		w.gw = p->public_ip;
		w.oif = EXT;
	} else {
		w.gw = p->subnet.addr;
		w.oif = DEV;
		w.onlink = true;
	}
	return w;
}

static const struct pe_ops vxlan_ops = { .route = want };

static struct kprefix v4net(uint32_t a, uint8_t len)
{
	return (struct kprefix){ kaddr_v4(a), len };
}

static struct kaddr v6(uint8_t g, uint8_t last)
{
	struct ip6 a = { { 0xfd, 0, 0, 5, 0, g, [15] = last } };

	return kaddr_v6(&a);
}

static void count_fdb(struct pe_table *t, const struct pe_peer *p)
{
	if (!pe_has_l2(t, p))
		return;
	if (p->public_ip.family == AF_INET6)
		assert_int_equal(fdbset_add6(&t->fdbs, p->mac, &p->public_ip.v6), 0);
	else
		assert_int_equal(fdbset_add(&t->fdbs, p->mac, p->public_ip.v4), 0);
}

static void add_peer(struct pe_table *t, struct pe_peer p)
{
	assert_non_null(pe_insert(t, &p));
	count_fdb(t, &p);
}

/* 10.5.0.0/16: 10.5.1.0/24 at 192.168.0.1 (mac1), 10.5.2.0/24 at 192.168.0.2 (mac2). */
static void table4(struct pe_table *t)
{
	*t = (struct pe_table){ .ops = &vxlan_ops,
				.family = AF_INET,
				.network = v4net(0x0a050000, 16),
				.l2 = true,
				.ifindex = DEV };
	struct pe_peer a = { .subnet = v4net(0x0a050100, 24), .public_ip = kaddr_v4(0xc0a80001) };
	struct pe_peer b = { .subnet = v4net(0x0a050200, 24), .public_ip = kaddr_v4(0xc0a80002) };

	memcpy(a.mac, mac1, 6);
	memcpy(b.mac, mac2, 6);
	add_peer(t, b);
	add_peer(t, a);
}

/* fd00:5::/32: fd00:5:1::/48 at fd00:5:ff::1 (mac1). */
static void table6(struct pe_table *t)
{
	struct kaddr a = v6(1, 0);
	struct pe_peer p = { .subnet = { a, 48 }, .public_ip = v6(0xff, 1) };

	*t = (struct pe_table){ .ops = &vxlan_ops,
				.family = AF_INET6,
				.network = { v6(0, 0), 32 },
				.l2 = true,
				.ifindex = DEV };
	memcpy(p.mac, mac1, 6);
	add_peer(t, p);
}

static void free_table(struct pe_table *t)
{
	free(t->peers);
	fdbset_free(&t->fdbs);
}

/* The kernel's neighbour entry for dst to mac, as nl_parse_neigh() reports it. */
static struct nl_neigh neigh(const struct kaddr *dst, const uint8_t *mac, uint16_t state)
{
	struct nl_neigh n = { .family = dst->family,
			      .ifindex = DEV,
			      .state = state,
			      .has_dst = true,
			      .dst_is6 = dst->family == AF_INET6,
			      .has_lladdr = mac != NULL };

	if (n.dst_is6)
		n.dst6 = dst->v6;
	else
		n.dst = dst->v4;
	if (mac)
		memcpy(n.lladdr, mac, 6);
	return n;
}

static struct nl_neigh fdb(const uint8_t *mac, const struct kaddr *dst, uint16_t state)
{
	struct nl_neigh n = neigh(dst, mac, state);

	n.family = AF_BRIDGE;
	n.flags = NTF_SELF;
	return n;
}

static void test_judge_neigh(void **state)
{
	struct pe_table t;
	struct pe_peer *p;
	struct kaddr d1 = kaddr_v4(0x0a050100), d3 = kaddr_v4(0x0a050300);
	struct nl_neigh n;

	table4(&t);
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_HAVE);
	assert_ptr_equal(p, &t.peers[0]);
	/* A changed VtepMAC: the entry is replaced in place. */
	n = neigh(&d1, mac9, NUD_PERMANENT);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_REPLACE);
	/* Right MAC, but one the kernel would expire. */
	n = neigh(&d1, mac1, NUD_REACHABLE);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_REPLACE);
	/* Nobody's subnet: stale. */
	n = neigh(&d3, mac1, NUD_PERMANENT);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_STALE);
	assert_null(p);
	/* On another device: not ours. */
	n = neigh(&d1, mac1, NUD_PERMANENT);
	n.ifindex = OTHER_DEV;
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_IGNORE);
	/* A peer routed directly has no neighbour: its old one is stale. */
	t.peers[0].direct = true;
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_STALE);
	/* A table without l2 entries (host-gw) judges none. */
	t.l2 = false;
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_IGNORE);
	free_table(&t);
}

static void test_judge_neigh_v6(void **state)
{
	struct pe_table t;
	struct pe_peer *p;
	struct kaddr d1 = v6(1, 0);
	struct nl_neigh n;

	table6(&t);
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_HAVE);
	/* The kernel runs ND's own entries (link-local routers and the like). */
	n = neigh(&d1, mac9, NUD_STALE);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_IGNORE);
	/* An IPv4 entry is not the IPv6 table's. */
	d1 = kaddr_v4(0x0a050100);
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_judge_neigh(&t, &n, &p), PE_IGNORE);
	free_table(&t);
}

static void test_judge_fdb(void **state)
{
	static const uint8_t zero[6];
	struct pe_table t;
	struct kaddr ip1 = kaddr_v4(0xc0a80001), ip9 = kaddr_v4(0xc0a80009), v6ip = v6(0xff, 1);
	struct nl_neigh n;

	table4(&t);
	n = fdb(mac1, &ip1, NUD_PERMANENT);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_HAVE);
	/* A peer moved to another PublicIP: the entry to the old one is stale. */
	n = fdb(mac1, &ip9, NUD_PERMANENT);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_STALE);
	/* A changed VtepMAC: the old MAC's entry is stale. */
	n = fdb(mac9, &ip1, NUD_PERMANENT);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_STALE);
	/* Learned entries age out by themselves; all-zero is the default destination. */
	n = fdb(mac9, &ip1, NUD_REACHABLE);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_IGNORE);
	n = fdb(zero, &ip1, NUD_PERMANENT);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_IGNORE);
	/* Another device's, or an IPv6 destination on the IPv4 device. */
	n = fdb(mac1, &ip1, NUD_PERMANENT);
	n.ifindex = OTHER_DEV;
	assert_int_equal(pe_judge_fdb(&t, &n), PE_IGNORE);
	n = fdb(mac1, &v6ip, NUD_PERMANENT);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_IGNORE);
	/* An ARP entry is not an FDB entry. */
	n = neigh(&ip1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_judge_fdb(&t, &n), PE_IGNORE);
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
	uint8_t all = PE_HAVE_ROUTE | PE_HAVE_NEIGH | PE_HAVE_FDB, have[2] = { all, all };
	struct pe_op ops[16];
	unsigned added;

	table4(&t);
	assert_int_equal(pe_wants(&t, &t.peers[0]), all);
	assert_int_equal(plan(&t, have, NULL, 0, ops, &added), 0);
	assert_int_equal(added, 0);
	free_table(&t);
}

static void test_plan_l2_order(void **state)
{
	struct pe_table t;
	/* Peer 0 moved to another PublicIP: its FDB entry is missing; peer 1: nothing there. */
	uint8_t have[2] = { PE_HAVE_ROUTE | PE_HAVE_NEIGH, 0 };
	struct pe_stale stale[3] = {
		{ .kind = PE_STALE_FDB,
		  .dst.addr = kaddr_v4(0xc0a80009),
		  .mac = { 0x02, 0, 0, 0, 0, 1 } },
		{ .kind = PE_STALE_NEIGH, .dst.addr = kaddr_v4(0x0a050300) },
		{ .kind = PE_STALE_ROUTE, .dst = v4net(0x0a050300, 24) },
	};
	struct pe_op ops[16];
	unsigned added;
	size_t n;

	table4(&t);
	n = plan(&t, have, stale, 3, ops, &added);
	assert_int_equal(added, 2);
	assert_int_equal(n, 7);
	/* Stale entries first, in the order found. */
	assert_int_equal(ops[0].kind, PE_OP_FDB_DEL);
	assert_int_equal(ops[1].kind, PE_OP_NEIGH_DEL);
	assert_int_equal(ops[2].kind, PE_OP_ROUTE_DEL);
	/* Then the missing entries, in upstream's order: neighbour, FDB entry, route. */
	assert_int_equal(ops[3].kind, PE_OP_FDB_ADD);
	assert_ptr_equal(ops[3].peer, &t.peers[0]);
	assert_int_equal(ops[4].kind, PE_OP_NEIGH_ADD);
	assert_ptr_equal(ops[4].peer, &t.peers[1]);
	assert_int_equal(ops[5].kind, PE_OP_FDB_ADD);
	assert_int_equal(ops[6].kind, PE_OP_ROUTE_ADD);
	assert_ptr_equal(ops[6].peer, &t.peers[1]);
	free_table(&t);
}

static void test_plan_direct(void **state)
{
	struct pe_table t;
	uint8_t have[2] = { PE_HAVE_ROUTE, PE_HAVE_ROUTE | PE_HAVE_NEIGH | PE_HAVE_FDB };
	struct pe_op ops[16];
	unsigned added;

	table4(&t);
	/* Directly routed: a route via PublicIP is all it wants. */
	t.peers[0].direct = true;
	assert_int_equal(pe_wants(&t, &t.peers[0]), PE_HAVE_ROUTE);
	assert_int_equal(plan(&t, have, NULL, 0, ops, &added), 0);
	free_table(&t);
}

static void test_fdb_users(void **state)
{
	struct pe_table t;
	struct pe_peer twin;
	struct kaddr ip1 = kaddr_v4(0xc0a80001);

	table4(&t);
	assert_int_equal(pe_fdb_users(&t, NULL, mac1, &ip1), 1);
	assert_int_equal(pe_fdb_users(&t, &t.peers[0], mac1, &ip1), 0);
	/* A host re-registered under a new subnet keeps its MAC and PublicIP: shared. */
	twin = t.peers[0];
	twin.subnet = v4net(0x0a050700, 24);
	add_peer(&t, twin);
	assert_int_equal(pe_fdb_users(&t, &t.peers[0], mac1, &ip1), 1);
	free_table(&t);
}

static void test_neigh_repair(void **state)
{
	struct pe_table t;
	struct kaddr d1 = kaddr_v4(0x0a050100), d3 = kaddr_v4(0x0a050300);
	struct kaddr ip1 = kaddr_v4(0xc0a80001), ip9 = kaddr_v4(0xc0a80009);
	struct nl_neigh n;

	table4(&t);
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NONE);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_NEIGH_DELETED);
	n = neigh(&d1, mac9, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NEIGH_CHANGED);
	n = neigh(&d1, mac1, NUD_STALE);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NEIGH_CHANGED);
	/* Nobody's subnet, or another device: none of ours. */
	n = neigh(&d3, mac1, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_NONE);
	n = neigh(&d1, mac1, NUD_PERMANENT);
	n.ifindex = OTHER_DEV;
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_NONE);

	n = fdb(mac1, &ip1, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NONE);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_FDB_DELETED);
	/* A peer's MAC pointed elsewhere; its deletion there is fine. */
	n = fdb(mac1, &ip9, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_FDB_MOVED);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_NONE);
	/* Learned entries come and go; unknown MACs are not ours. */
	n = fdb(mac1, &ip9, NUD_REACHABLE);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NONE);
	n = fdb(mac9, &ip9, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NONE);
	/* A directly routed peer has neither. */
	t.peers[0].direct = true;
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_NONE);
	free_table(&t);
}

static void test_neigh_repair_v6(void **state)
{
	struct pe_table t;
	struct kaddr d1 = v6(1, 0), ip1 = v6(0xff, 1), ip4 = kaddr_v4(0xc0a80001);
	struct nl_neigh n;

	table6(&t);
	n = neigh(&d1, mac1, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_NEIGH_DELETED);
	n = fdb(mac1, &ip1, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_DELNEIGH, &n), PE_REPAIR_FDB_DELETED);
	/* An IPv4 destination is the other device's business. */
	n = fdb(mac1, &ip4, NUD_PERMANENT);
	assert_int_equal(pe_neigh_repair(&t, RTM_NEWNEIGH, &n), PE_REPAIR_NONE);
	free_table(&t);
}

/* vxlan's device must also keep the MAC our lease publishes. */
static void test_link_mac(void **state)
{
	struct dev_heal d = {
		.dev = "flannel.1", .ifindex = DEV, .mtu = 1450, .want_up = true, .has_mac = true
	};
	struct nl_link l = { .index = DEV, .flags = IFF_UP, .mtu = 1450, .has_mac = true };

	memcpy(d.mac, mac1, 6);
	memcpy(l.mac, mac1, 6);
	assert_false(dev_heal_link_wrong(&d, &l));
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_NONE);
	memcpy(l.mac, mac9, 6);
	assert_true(dev_heal_link_wrong(&d, &l));
	assert_int_equal(dev_heal_link_decide(&d, RTM_NEWLINK, &l), DEV_HEAL_CHECK);
	/* Others' devices (ipip) have no MAC to keep. */
	d.has_mac = false;
	assert_false(dev_heal_link_wrong(&d, &l));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge_neigh),
		cmocka_unit_test(test_judge_neigh_v6),
		cmocka_unit_test(test_judge_fdb),
		cmocka_unit_test(test_plan_restart_writes_nothing),
		cmocka_unit_test(test_plan_l2_order),
		cmocka_unit_test(test_plan_direct),
		cmocka_unit_test(test_fdb_users),
		cmocka_unit_test(test_neigh_repair),
		cmocka_unit_test(test_neigh_repair_v6),
		cmocka_unit_test(test_link_mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
