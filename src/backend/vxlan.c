/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vxlan backend: per family a device (flannel.<VNI> over the external
 * IPv4 address, with EnableIPv6 flannel-v6.<VNI> over its IPv6 one; with
 * EnableIPv4 false that is the only one), and per remote lease a permanent
 * neighbour (subnet address -> VtepMAC), a permanent FDB entry (VtepMAC ->
 * PublicIP) and an on-link route, programmed exactly as upstream does
 * (FLANNEL_COMPAT.md 9.1); DirectRouting peers get a plain route via
 * their PublicIP instead. The two families are the same code on two
 * struct vxfam: each a peer table of the peer engine (an l2 one: it owns
 * the converge, the batches and the repairs of those entries) and a
 * dev_heal for its device, sharing the socket, the notifications and the
 * repair timer. What stays here is vxlan's own: the leases' BackendData,
 * the devices and their MAC, checksum offload, nexthop objects for IPv4
 * (routes.h says why not for IPv6), and the prefill while the leases are
 * being listed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/dev_heal.h"
#include "backend/peer_engine.h"
#include "backend/repair.h"
#include "backend/routes.h"
#include "backend/txcsum.h"
#include "backend/vxlan_conf.h"
#include "backend/tundev.h"
#include "backend/vxlan_dev.h"
#include "config.h"
#include "iface.h"
#include "lease/lease.h"
#include "lease/subnet.h"
#include "log.h"
#include "loop.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"
#include "textutil.h"

/*
 * The v6 device's MTU: what the kernel derives over an IPv6 underlay
 * (outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14), as v0.20.2's
 * device had it (1430). FLANNEL_MTU stays MTU - 50 (FLANNEL_COMPAT 9.7).
 */
#define VXLAN6_OVERHEAD 70

enum { V4, V6 };

/* One family's device and the peers programmed on it. */
struct vxfam {
	struct backend *b;
	uint8_t family;
	bool on; /* EnableIPv4 / EnableIPv6 */
	char dev[IF_NAMESIZE];
	int ifindex;
	uint8_t mac[6];
	unsigned mtu;
	struct kprefix own; /* our subnet's address, /32 or /128 (len 0: no lease yet) */
	struct pe_table t;
	struct dev_heal dh;
};

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct iface ext;
	struct vxlan_conf cfg;
	struct lease_attrs *attrs; /* our lease's, owned by the daemon */
	void (*attrs_changed)(void *arg);
	void *attrs_arg;
	struct log_limit warn_limit; /* for warnings about other hosts' leases */
	struct repair heal;
	struct vxfam fam[2];
	char overrun_what[IF_NAMESIZE + 20];

	/* prefill_begin(): READY from creating the device to the first page. */
	enum { PF_OFF, PF_READY, PF_ON } prefill;
	size_t prefilled;
	bool quiet;    /* reading leases for the prefill: their warnings come with the resync */
	bool resynced; /* the tables hold the leases */
};

#define FOR_EACH_FAM(b, f)                                                                         \
	for (struct vxfam *f = &(b)->fam[0]; f <= &(b)->fam[1]; f++)                               \
		if (f->on)

/* ------------------------------------------------------------ peers */

/*
 * Upstream's route (or the nexthop that stands for its gateway): on-link
 * via the peer's subnet address on our device, or for DirectRouting via
 * PublicIP on the underlay. With nexthop objects the nexthop's id is the
 * subnet's address: unique on the host (networks of two flanneld never
 * overlap).
 */
static struct route_want peer_route(void *arg, const struct pe_peer *p)
{
	const struct vxfam *f = arg;
	struct route_want w = { .dst = p->subnet, .nexthop = f->t.nexthops && !p->classic };

	if (p->direct) {
		w.gw = p->public_ip;
		w.oif = p->oif;
	} else {
		w.gw = p->subnet.addr;
		w.oif = f->ifindex;
		w.onlink = true;
	}
	return w;
}

/* Directly reachable: the kernel's route to ip has no gateway (upstream's test); *oif its way out.
 */
static bool is_direct(struct backend *b, const struct kaddr *ip, int *oif)
{
	struct nl_route r;
	struct kaddr gw;

	if (pe_route_lookup(b->nl, ip, &r) < 0 || r.type != RTN_UNICAST)
		return false;
	gw = route_gw(&r);
	if (!kaddr_is_zero(&gw))
		return false;
	*oif = r.oif;
	return true;
}

/*
 * 1 with *ret filled, 0 when the lease is not ours to program. IPv4 keeps
 * what it had for a lease that is still vxlan but unusable (-1); IPv6
 * drops it, as each did before they were one.
 */
static int peer_from_lease(void *arg, const struct lease *l, struct pe_peer *ret)
{
	struct vxfam *f = arg;
	struct backend *b = f->b;
	const struct lease_attrs *a = &l->attrs;
	bool v6 = f->family == AF_INET6, warn = !b->quiet;
	const char *data = v6 ? a->backend_v6_data : a->backend_data;
	int keep = v6 ? 0 : -1;
	char sn[IP_STRLEN], err[160], q[48];
	struct kprefix subnet;

	if (!l->has_attrs || !pe_lease_subnet(&f->t, l, &subnet))
		return keep;
	if (f->own.len && kaddr_equal(&subnet.addr, &f->own.addr))
		return keep;
	if (strcmp(a->backend_type, "vxlan") != 0) {
		/* Said once per lease: by the IPv4 table, which a lease with both has too. */
		if (warn && !v6)
			log_debug(1, "Ignoring non-vxlan subnet %s: type=\"%s\"",
				  kprefix_format(&subnet, sn),
				  text_quote(a->backend_type, q, sizeof(q)));
		return 0;
	}
	*ret = (struct pe_peer){ .subnet = subnet };
	if (!data || vxlan_lease_data_parse(data, strlen(data), ret->mac, err, sizeof(err)) < 0) {
		if (warn && log_limit_ok(&b->warn_limit, v6 ? "subnets with bad vxlan BackendV6Data"
							    : "subnets with bad vxlan BackendData"))
			log_warnx("Ignoring subnet %s: bad vxlan %s: %s",
				  kprefix_format(&subnet, sn), v6 ? "BackendV6Data" : "BackendData",
				  data ? err : "none");
		return keep;
	}
	if (v6 && (!a->has_public_ipv6 || ip6_is_zero(&a->public_ipv6))) {
		if (warn && log_limit_ok(&b->warn_limit, "subnets without PublicIPv6"))
			log_warnx("Ignoring subnet %s: no PublicIPv6", kprefix_format(&subnet, sn));
		return 0;
	}
	ret->public_ip = v6 ? kaddr_v6(&a->public_ipv6) : kaddr_v4(a->public_ip);
	ret->direct = b->cfg.direct_routing && is_direct(b, &ret->public_ip, &ret->oif);
	return 1;
}

static void log_peer(void *arg, const char *what, const struct pe_peer *p)
{
	const struct vxfam *f = arg;
	const char *v6 = f->family == AF_INET6 ? "v6" : "";
	char sn[IP_STRLEN], ip[IP_STRLEN], mac[MAC_STRLEN];

	if (p->direct)
		log_info("%s subnet: %s PublicIP%s: %s (direct route)", what,
			 kprefix_format(&p->subnet, sn), v6, kaddr_format(&p->public_ip, ip));
	else
		log_info("%s subnet: %s PublicIP%s: %s VtepMAC: %s", what,
			 kprefix_format(&p->subnet, sn), v6, kaddr_format(&p->public_ip, ip),
			 mac_format(p->mac, mac));
}

static const struct pe_ops peer_ops = {
	.route = peer_route,
	.from_lease = peer_from_lease,
	.log_peer = log_peer,
};

/* Directly routed peers' routes name the interface: look it up again. */
static void refresh_direct(struct backend *b)
{
	FOR_EACH_FAM(b, f)
	{
		for (size_t i = 0; i < f->t.npeers; i++) {
			struct pe_peer *p = &f->t.peers[i];

			if (p->direct && !is_direct(b, &p->public_ip, &p->oif))
				p->oif = b->ext.index;
		}
	}
}

/* ------------------------------------------------------------ leases */

static void vxlan_lease_removed(struct backend *b, const struct lease *l)
{
	if (b->fam[V6].on)
		pe_lease_removed(&b->fam[V6].t, l);
	if (b->fam[V4].on)
		pe_lease_removed(&b->fam[V4].t, l);
}

static void vxlan_lease_added(struct backend *b, const struct lease *l)
{
	if (b->fam[V6].on)
		pe_lease_added(&b->fam[V6].t, l);
	if (b->fam[V4].on)
		pe_lease_added(&b->fam[V4].t, l);
}

/* ------------------------------------------------------------ prefill */

/*
 * The groups that echo every entry we write (4 per peer): left while we
 * prefill, so that thousands of echoes cannot overflow the monitor.
 */
static size_t echo_groups(const struct backend *b, unsigned groups[3])
{
	size_t n = 0;

	groups[n++] = RTNLGRP_NEIGH;
	groups[n++] = RTNLGRP_IPV4_ROUTE;
	if (b->fam[V4].t.kernel_nexthops)
		groups[n++] = RTNLGRP_NEXTHOP;
	return n;
}

static int nexthop_in_network_cb(void *arg, const struct nlmsghdr *nlh)
{
	const struct vxfam *f = arg;
	struct nl_nexthop nh;
	struct kaddr id;

	/* A nexthop id a peer could need: writing blindly could replace someone else's. */
	if (nl_parse_nexthop(nlh, &nh) < 0)
		return 0;
	id = kaddr_v4(nh.id);
	return kprefix_contains(&f->t.network, &id) ? -EEXIST : 0;
}

/*
 * A device we have just created holds no neighbour or FDB entry and no
 * route goes through it, so before the first resync peers can be written
 * blindly (what a converge would write), unless a nexthop id inside
 * Network exists. The device goes up now, the monitor stops hearing our
 * echo; the resync's dump, taken after it hears again, sees whatever
 * changed meanwhile. IPv4 alone only. 0 when prefilling may start.
 */
static int prefill_begin(struct backend *b)
{
	struct vxfam *f = &b->fam[V4];
	NL_MSG_BUF(buf);
	unsigned groups[3];
	char err[256];
	int r;

	if (f->t.kernel_nexthops) {
		if (!nl_msg_dump(buf, RTM_GETNEXTHOP, AF_INET, 0))
			return -EINVAL;
		r = nl_dump(b->nl, (const void *)buf, nexthop_in_network_cb, NULL, f);
		if (r < 0)
			return r;
	}
	r = nl_request(b->nl, nl_msg_link_set(buf, f->ifindex, 0, true), 0, NULL, NULL, err,
		       sizeof(err));
	if (r < 0) {
		log_warnx("Failed to set %s up: %s", f->dev, err);
		return r;
	}
	return nlmon_membership(b->mon, groups, echo_groups(b, groups), false);
}

/* Hear our groups again (before the dump that checks what was prefilled). */
static void prefill_end(struct backend *b)
{
	unsigned groups[3];
	int r;

	if (b->prefill != PF_ON) {
		b->prefill = PF_OFF;
		return;
	}
	b->prefill = PF_OFF;
	log_info("Programmed %zu subnets on %s while the leases were being read", b->prefilled,
		 b->fam[V4].dev);
	r = nlmon_membership(b->mon, groups, echo_groups(b, groups), true);
	if (r < 0)
		log_error("Cannot listen for rtnetlink notifications again: %s; entries deleted "
			  "from %s will not come back",
			  strerror(-r), b->fam[V4].dev);
}

static void vxlan_prefill(struct backend *b, const struct lease *const *l, size_t n)
{
	if (b->prefill == PF_READY)
		b->prefill = prefill_begin(b) == 0 ? PF_ON : PF_OFF;
	if (b->prefill != PF_ON)
		return;
	b->quiet = true;
	b->prefilled += pe_prefill(&b->fam[V4].t, l, n);
	b->quiet = false;
}

static void vxlan_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	prefill_end(b);
	b->resynced = true;
	if (b->fam[V6].on)
		pe_resync(&b->fam[V6].t, all, n);
	if (b->fam[V4].on)
		pe_resync(&b->fam[V4].t, all, n);
}

/* ------------------------------------------------------------ device */

/* master writes accept_ra=0: router advertisements have no business on this device. */
static void no_accept_ra(const char *dev)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		log_debug(1, "Cannot set %s to 0: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Our lease's BackendData (IPv4) or BackendV6Data tells peers the device's MAC. */
static int publish_mac(struct vxfam *f)
{
	struct lease_attrs *a = f->b->attrs;
	char **data = f->family == AF_INET6 ? &a->backend_v6_data : &a->backend_data;
	char *d = vxlan_lease_data_format(f->b->cfg.vni, f->mac);

	if (!d)
		return -ENOMEM;
	free(*data);
	*data = d;
	memcpy(f->dh.mac, f->mac, 6);
	return 0;
}

/* The device's MAC changed (recreated by someone else): peers learn the new one through etcd. */
static void adopt_mac(struct vxfam *f, const uint8_t mac[6])
{
	char was[MAC_STRLEN], now[MAC_STRLEN];

	if (memcmp(f->mac, mac, 6) == 0)
		return;
	log_warnx("The MAC of %s changed from %s to %s: publishing it in our lease", f->dev,
		  mac_format(f->mac, was), mac_format(mac, now));
	memcpy(f->mac, mac, 6);
	if (publish_mac(f) < 0) {
		log_error("Out of memory updating our lease's %s",
			  f->family == AF_INET6 ? "BackendV6Data" : "BackendData");
		return;
	}
	if (f->b->attrs_changed)
		f->b->attrs_changed(f->b->attrs_arg);
}

/*
 * The device with the right attributes, our MTU and (once we have one)
 * our MAC: an existing compatible device is kept, anything else is
 * (re)created. initial: at start-up (a new random MAC, published; log the
 * outcome).
 */
static int ensure_device(struct vxfam *f, bool initial)
{
	struct backend *b = f->b;
	struct nl_vxlan want = {
		.vni = b->cfg.vni,
		.link = b->ext.index,
		.port = b->cfg.port,
		.learning = b->cfg.learning,
		.gbp = b->cfg.gbp,
		.mtu = f->mtu,
		.has_mac = true,
	};
	struct nl_link cur;
	bool created;
	int r;

	if (f->family == AF_INET6) {
		want.has_local6 = true;
		want.local6 = b->ext.addr6;
	} else {
		want.local = b->ext.addr;
	}
	snprintf(want.name, sizeof(want.name), "%s", f->dev);
	r = vxlan_dev_pick_mac(&want, f->mac);
	if (r == 0)
		r = vxlan_dev_get(b->nl, &want, initial, &cur, &created);
	if (r < 0)
		return r;
	if (created && initial && f->family == AF_INET && !b->fam[V6].on)
		b->prefill = PF_READY;
	f->ifindex = f->t.ifindex = f->dh.ifindex = cur.index;
	if (f->family == AF_INET6)
		no_accept_ra(f->dev);
	if (initial) {
		memcpy(f->mac, cur.mac, 6);
		r = publish_mac(f);
		if (r < 0)
			return r;
	} else {
		adopt_mac(f, cur.mac);
	}
	return vxlan_dev_set_mtu(b->nl, f->dev, f->ifindex, cur.mtu, f->mtu);
}

/* The device up with our address on it (IPv4: the others inside Network go; IPv6: all others). */
static int configure_device(struct vxfam *f)
{
	if (!f->own.len || f->ifindex <= 0)
		return 0;
	return tundev_configure(f->b->nl, f->ifindex, f->dev, &f->t.network, &f->own.addr, NULL);
}

static int vxlan_own_lease(struct backend *b, const struct lease *own)
{
	int r = 0;

	for (int i = V6; i >= V4; i--) {
		struct vxfam *f = &b->fam[i];

		if (!f->on || !pe_lease_subnet(&f->t, own, &f->own))
			continue;
		f->own.len = f->family == AF_INET6 ? 128 : 32;
		f->dh.own = f->own;
		f->dh.want_up = true;
		/* A subnet that was a peer's and is now ours stops being programmed as remote. */
		pe_forget(&f->t, &f->own);
		r = configure_device(f);
		if (r < 0)
			return r;
	}
	return r;
}

/* ------------------------------------------------------------ checksum offload */

/*
 * "ChecksumOffload": false: TX checksum offload off on dev, checked after
 * every (re)creation and feature change. Logged when it had to be changed.
 */
static int ensure_csum_off(const struct vxlan_conf *cfg, const char *dev)
{
	bool on = true;
	int r;

	if (cfg->checksum_offload)
		return 0;
	r = txcsum_get(dev, &on);
	if (r == 0 && !on)
		return 0;
	r = txcsum_off(dev);
	if (r < 0) {
		log_error(
			"Failed to turn TX checksum offload off on %s (ChecksumOffload false): %s",
			dev, strerror(-r));
		return r;
	}
	log_info("TX checksum offload off on %s (ChecksumOffload false)", dev);
	return 0;
}

/* ------------------------------------------------------------ self-healing */

/* Devices, addresses and entries as they should be; on failure again later, backing off. */
static void heal_cb(void *arg)
{
	struct backend *b = arg;
	bool ok[2] = { true, true };

	if (b->prefill == PF_ON)
		prefill_end(b); /* the device may have changed: no more blind writes */
	/* The underlay may have been deleted and added again under a new index. */
	if (vxlan_dev_ext_moved(b->nl, &b->ext)) {
		refresh_direct(b);
		FOR_EACH_FAM(b, f)
		{
			if (f->dh.ext_index)
				f->dh.ext_index = b->ext.index;
		}
	}
	FOR_EACH_FAM(b, f)
	{
		ok[f - b->fam] = ensure_device(f, false) == 0 &&
				 ensure_csum_off(&b->cfg, f->dev) == 0 && configure_device(f) == 0;
	}
	/* Before the first resync there are no peers yet: a converge would delete them all. */
	FOR_EACH_FAM(b, f)
	{
		if (ok[f - b->fam] && b->resynced)
			pe_converge(&f->t);
	}
	if (!ok[V4] || !ok[V6])
		repair_later(&b->heal);
}

static void route_event(void *arg, const struct nlmsghdr *nlh)
{
	struct vxfam *f = arg;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) == 0)
		pe_route_event(&f->t, nlh->nlmsg_type, &r);
}

static void nexthop_event(void *arg, const struct nlmsghdr *nlh)
{
	pe_nexthop_event(&((struct vxfam *)arg)->t, nlh);
}

static void neigh_event(void *arg, const struct nlmsghdr *nlh)
{
	pe_neigh_event(&((struct vxfam *)arg)->t, nlh);
}

/* A feature change is an RTM_NEWLINK (NETDEV_FEAT_CHANGE). */
static void link_event(void *arg, const struct nlmsghdr *nlh)
{
	struct vxfam *f = arg;
	struct nl_link l;
	bool on = false;

	if (nlh->nlmsg_type == RTM_NEWLINK && !f->b->cfg.checksum_offload &&
	    nl_parse_link(nlh, &l) == 0 && l.index == f->ifindex && f->ifindex > 0 &&
	    txcsum_get(f->dev, &on) == 0 && on)
		repair_soon_why(&f->b->heal, "TX checksum offload on %s was turned on", f->dev);
}

static int start_monitor(struct backend *b)
{
	/* The nexthop group last: kernels without nexthop objects lack it. */
	unsigned groups[7];
	size_t n = 0;
	struct dev_heal *first;

	groups[n++] = RTNLGRP_LINK;
	groups[n++] = RTNLGRP_NEIGH;
	if (b->fam[V4].on) {
		groups[n++] = RTNLGRP_IPV4_IFADDR;
		groups[n++] = RTNLGRP_IPV4_ROUTE;
	}
	if (b->fam[V6].on) {
		groups[n++] = RTNLGRP_IPV6_IFADDR;
		groups[n++] = RTNLGRP_IPV6_ROUTE;
	}
	if (b->fam[V4].on && b->fam[V4].t.kernel_nexthops)
		groups[n++] = RTNLGRP_NEXTHOP;
	/* Every notification reaches both devices' dev_heal. */
	first = b->fam[V4].on ? &b->fam[V4].dh : &b->fam[V6].dh;
	first->overrun_what = b->overrun_what;
	if (b->fam[V4].on && b->fam[V6].on)
		b->fam[V4].dh.also = &b->fam[V6].dh;
	return nlmon_open(b->loop, groups, n, &dev_heal_monitor_ops, first, &b->mon);
}

/* ------------------------------------------------------------ lifecycle */

/* Nexthop objects came with Linux 5.3; older kernels refuse the dump. */
static bool kernel_has_nexthops(struct backend *b)
{
	int r = pe_probe_nexthops(b->nl);

	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	return r == 0;
}

static void vxlan_close(struct backend *b)
{
	if (!b)
		return;
	/* Devices, addresses, routes, neighbours and FDB stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	pe_free(&b->fam[V4].t);
	pe_free(&b->fam[V6].t);
	free(b);
}

/* Options and MTU, shared by init and --check-config; how (or why not) in msg. */
static int vxlan_prepare(const struct backend_env *env, struct vxlan_conf *cfg, unsigned *mtu,
			 char *msg, size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	unsigned base;
	int r;

	r = vxlan_conf_parse(json, strlen(json), cfg, msg, msglen);
	if (r < 0)
		return r;
	if (env->conf->enable_ipv6 && !env->ext->has_addr6)
		return backend_no_address(env, true, "VXLAN", msg, msglen);
	if (env->conf->enable_ipv4 && env->ext->addr == 0)
		return backend_no_address(env, false, "VXLAN", msg, msglen);
	base = cfg->mtu ? cfg->mtu : env->ext->mtu;
	/* 1280: the least an IPv6 device may have. */
	if (base < 68 + VXLAN_OVERHEAD ||
	    (env->conf->enable_ipv6 && base < 1280 + VXLAN6_OVERHEAD)) {
		snprintf(msg, msglen, "the external interface MTU %u is too small for VXLAN", base);
		return -EINVAL;
	}
	*mtu = base - VXLAN_OVERHEAD;
	backend_mtu_explain(env, cfg->mtu, VXLAN_OVERHEAD, "VXLAN", msg, msglen);
	return 0;
}

static int vxlan_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct vxlan_conf cfg;
	int r = vxlan_prepare(env, &cfg, mtu, msg, msglen);

	/* --check-config's only caller: one line of ours before its MTU line. */
	if (r == 0)
		printf("ChecksumOffload: %s\n",
		       cfg.checksum_offload ? "on (the kernel's default)"
					    : "off (TX checksum offload turned off on the device)");
	return r;
}

/* A family's device name, table and self-healing; ext: it watches the external interface. */
static void fam_init(struct backend *b, struct vxfam *f, uint8_t family, bool on, bool ext,
		     bool nexthops)
{
	f->b = b;
	f->family = family;
	f->on = on;
	snprintf(f->dev, sizeof(f->dev), family == AF_INET6 ? "flannel-v6.%u" : "flannel.%u",
		 b->cfg.vni);
	f->t = (struct pe_table){ .ops = &peer_ops,
				  .arg = f,
				  .nl = b->nl,
				  .heal = &b->heal,
				  .family = family,
				  .kind = "vxlan",
				  .via = f->dev,
				  .kernel_nexthops = family == AF_INET && nexthops,
				  .l2 = true };
	f->dh = (struct dev_heal){ .nl = b->nl,
				   .heal = &b->heal,
				   .dev = f->dev,
				   .mtu = f->mtu,
				   .has_mac = true,
				   .ext_index = ext ? b->ext.index : 0,
				   .ext_name = b->ext.name,
				   .ext_up = true,
				   .route_event = route_event,
				   .nexthop_event = family == AF_INET ? nexthop_event : NULL,
				   .neigh_event = neigh_event,
				   .link_event = link_event,
				   .arg = f };
}

static int vxlan_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		      struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	bool v4 = env->conf->enable_ipv4, v6 = env->conf->enable_ipv6, nexthops;
	char err[256];
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->ext = *env->ext;
	b->attrs = attrs;
	b->attrs_changed = env->lease_attrs_changed;
	b->attrs_arg = env->arg;
	b->warn_limit = LOG_LIMIT(20, 10000);
	repair_init(&b->heal, b->loop, heal_cb, b, b->fam[v4 ? V4 : V6].dev);
	r = vxlan_prepare(env, &b->cfg, &b->fam[V4].mtu, err, sizeof(err));
	if (r < 0) {
		log_error("Invalid VXLAN backend config: %s", err);
		goto fail;
	}
	log_info("VXLAN config: VNI=%u Port=%u GBP=%s Learning=%s DirectRouting=%s%s", b->cfg.vni,
		 b->cfg.port, b->cfg.gbp ? "true" : "false", b->cfg.learning ? "true" : "false",
		 b->cfg.direct_routing ? "true" : "false",
		 b->cfg.checksum_offload ? "" : " ChecksumOffload=false");
	b->fam[V6].mtu = b->fam[V4].mtu + VXLAN_OVERHEAD - VXLAN6_OVERHEAD;
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	nexthops = kernel_has_nexthops(b);
	fam_init(b, &b->fam[V4], AF_INET, v4, v4, nexthops);
	fam_init(b, &b->fam[V6], AF_INET6, v6, !v4, false);
	b->fam[V4].t.network = kprefix_v4(&env->conf->network);
	b->fam[V6].t.network = kprefix_v6(&env->conf->ipv6_network);
	b->fam[V4].t.nexthops = env->nexthop_objects && nexthops;
	snprintf(b->overrun_what, sizeof(b->overrun_what), "%s and its entries",
		 b->fam[v4 ? V4 : V6].dev);
	log_debug(1, "Routes to peers %s",
		  b->fam[V4].t.nexthops ? "name nexthop objects (id = subnet)"
					: "carry their own gateway");
	/* Before the devices exist, so no change after they go unseen. */
	r = start_monitor(b);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	free(attrs->backend_v6_data);
	attrs->backend_v6_data = NULL;
	FOR_EACH_FAM(b, f)
	{
		r = ensure_device(f, true);
		if (r == 0)
			r = ensure_csum_off(&b->cfg, f->dev);
		if (r < 0)
			goto fail;
	}
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), "vxlan");
	*mtu = b->fam[V4].mtu;
	*ret = b;
	return 0;
fail:
	vxlan_close(b);
	return r;
}

const struct backend_ops backend_vxlan_ops = {
	.name = "vxlan",
	BACKEND_OPS_COMMON(vxlan),
	.ipv6 = true,
	.prefill = vxlan_prefill,
};
