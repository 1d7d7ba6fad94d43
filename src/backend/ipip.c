/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipip backend (FLANNEL_COMPAT.md 9.4): device flannel.ipip (local = the
 * external interface's address, any remote: the outer destination is each
 * route's gateway), MTU = external - 20, address <subnet>.0/32; per remote
 * lease a route to its subnet via its PublicIP, on-link through the
 * device, or with DirectRouting a plain route on the external interface
 * when the PublicIP is directly reachable. The model is host-gw's: the set
 * of routes we want, changed by lease events, converged on a resync (a
 * restart writes nothing), repaired when the kernel contradicts it, the
 * device included. The routes are the peer engine's (peer_engine.h), the
 * device's self-healing dev_heal.c's, both shared with host-gw.
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
#include "backend/tun_conf.h"
#include "backend/tundev.h"
#include "config.h"
#include "iface.h"
#include "lease/lease.h"
#include "log.h"
#include "loop.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"
#include "lease/subnet.h"

#define TYPE "ipip"
#define DEV  "flannel.ipip"

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct ip4net network;
	struct iface ext;
	struct ipip_conf cfg;
	int ifindex;  /* of flannel.ipip */
	unsigned mtu; /* flannel.ipip's, as reported at init */
	bool have_own;
	struct ip4net own;
	struct pe_table pr;
	struct log_limit warn_limit; /* for warnings about other hosts' leases */
	struct repair heal;
	struct dev_heal dh;
};

/* ------------------------------------------------------------ routes */

static struct route_want peer_route(void *arg, const struct pe_peer *p)
{
	const struct backend *b = arg;

	return (struct route_want){
		.dst = p->subnet,
		.gw = p->public_ip,
		.oif = p->direct ? p->oif : b->ifindex,
		.onlink = !p->direct,
		.nexthop = b->pr.nexthops && !p->classic,
	};
}

/* ------------------------------------------------------------ direct routing */

/* Directly reachable: the kernel's route to ip has no gateway (upstream's test). */
static bool is_direct(struct backend *b, uint32_t ip, int *oif)
{
	struct nl_route r;

	if (nl_route_lookup(b->nl, ip, &r) < 0 || r.type != RTN_UNICAST || r.gw != 0)
		return false;
	*oif = r.oif;
	return true;
}

static void set_direct(struct backend *b, struct pe_peer *p)
{
	p->oif = 0;
	p->direct = b->cfg.direct_routing && is_direct(b, p->public_ip.v4, &p->oif);
}

static int ensure_device(struct backend *b, bool initial);

/* Device, address and routes as they should be; on failure again later, backing off. */
static void heal_cb(void *arg)
{
	struct backend *b = arg;
	if (ensure_device(b, false) < 0 ||
	    (b->have_own &&
	     tundev_configure(b->nl, b->ifindex, DEV, &b->pr.network, &b->dh.own.addr, NULL) < 0)) {
		repair_later(&b->heal);
		return;
	}
	pe_converge(&b->pr);
}

/* ------------------------------------------------------------ leases */

/* 1 with *ret filled (reachability included), 0 when not ours to program. */
static int peer_from_lease(void *arg, const struct lease *l, struct pe_peer *ret)
{
	struct backend *b = arg;

	struct kprefix own = kprefix_v4(&b->own);

	if (!pe_peer_from_lease(&b->pr, l, TYPE, b->have_own ? &own : NULL, &b->warn_limit, ret))
		return 0;
	set_direct(b, ret);
	return 1;
}

static const struct pe_ops peer_ops = {
	.route = peer_route,
	.from_lease = peer_from_lease,
};

static void ipip_lease_removed(struct backend *b, const struct lease *l)
{
	pe_lease_removed(&b->pr, l);
}

static void ipip_lease_added(struct backend *b, const struct lease *l)
{
	pe_lease_added(&b->pr, l);
}

static void ipip_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	pe_resync(&b->pr, all, n);
}

static int ipip_own_lease(struct backend *b, const struct lease *own)
{
	b->own = own->subnet.v4;
	b->have_own = true;
	b->dh.want_up = true;
	b->dh.own = (struct kprefix){ kaddr_v4(b->own.addr), 32 };
	/* A subnet that was a peer's and is now ours stops being routed away. */
	pe_forget(&b->pr, &(struct kprefix){ kaddr_v4(b->own.addr), b->own.len });
	return tundev_configure(b->nl, b->ifindex, DEV, &b->pr.network, &b->dh.own.addr, NULL);
}

/* ------------------------------------------------------------ device */

/*
 * flannel.ipip with local = the external address and any remote, kept when
 * it already is so, recreated when not; a device of another kind under
 * that name is an error (upstream's rules). The MTU is only lowered.
 */
static int ensure_device(struct backend *b, bool initial)
{
	struct nl_tunlink want = { .name = DEV, .kind = "ipip", .local = b->ext.addr };
	unsigned target = b->ext.mtu - IPIP_OVERHEAD;
	struct nl_link cur;
	NL_MSG_BUF(buf);
	char err[256], a[16], rem[16], loc[16];
	int r;

	r = nl_link_get(b->nl, DEV, 0, &cur);
	if (r == 0 && strcmp(cur.kind, "ipip") != 0) {
		log_error("%s exists but is a %s device, not ipip: remove it or let flanneld use "
			  "another backend",
			  DEV, cur.kind[0] ? cur.kind : "non-tunnel");
		return -EEXIST;
	}
	if (r == 0 && (cur.iptun_local != want.local || cur.iptun_remote != 0)) {
		log_warnx("%s has local %s and remote %s, want local %s and any remote: "
			  "recreating it",
			  DEV, ip4_format(cur.iptun_local, a),
			  cur.iptun_remote ? ip4_format(cur.iptun_remote, rem) : "any",
			  ip4_format(want.local, loc));
		r = nl_request(b->nl, nl_msg_link_del(buf, cur.index), NL_OK_ENOENT, NULL, NULL,
			       err, sizeof(err));
		if (r < 0) {
			log_error("Failed to delete %s: %s", DEV, err);
			return r;
		}
		r = -ENODEV;
	}
	if (r == -ENODEV) {
		want.mtu = initial || !b->mtu ? target : b->mtu;
		r = nl_request(b->nl, nl_msg_link_tun(buf, NLM_F_CREATE | NLM_F_EXCL, &want), 0,
			       NULL, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to create ipip device %s: %s", DEV, err);
			return r;
		}
		r = nl_link_get(b->nl, DEV, 0, &cur);
		if (r == 0)
			log_info("Created ipip device %s (index %d, local %s)", DEV, cur.index,
				 ip4_format(want.local, a));
	} else if (r == 0 && initial) {
		log_info("Returning existing device %s (index %d)", DEV, cur.index);
	}
	if (r < 0) {
		log_error("Failed to look up %s: %s", DEV, strerror(-r));
		return r;
	}
	b->ifindex = cur.index;
	if (initial)
		b->mtu = cur.mtu < target ? cur.mtu : target;
	b->dh.ifindex = b->ifindex;
	b->dh.mtu = b->mtu;
	if (cur.mtu != b->mtu) {
		log_info("Setting the MTU of %s from %u to %u", DEV, cur.mtu, b->mtu);
		r = nl_request(b->nl, nl_msg_link_set(buf, b->ifindex, b->mtu, false), 0, NULL,
			       NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to set the MTU of %s: %s", DEV, err);
			return r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ self-healing */

static void route_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0 || r.table != RT_TABLE_MAIN)
		return;
	pe_route_event(&b->pr, nlh->nlmsg_type, &r);
}

static void nexthop_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;

	pe_nexthop_event(&b->pr, nlh);
}

/* ------------------------------------------------------------ lifecycle */

static void ipip_close(struct backend *b)
{
	if (!b)
		return;
	/* Device and routes stay: a restart disturbs nothing. */
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	pe_free(&b->pr);
	free(b);
}

/* Shared by init and --check-config: the options and the MTU (how, or why not, in msg). */
static int ipip_prepare(const struct backend_env *env, struct ipip_conf *cfg, unsigned *mtu,
			char *msg, size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";

	if (ipip_conf_parse(json, strlen(json), cfg, msg, msglen) < 0)
		return -EINVAL;
	if (env->ext->addr == 0)
		return backend_no_address(env, false, "ipip", msg, msglen);
	return backend_mtu(env, 0, IPIP_OVERHEAD, "ipip", mtu, msg, msglen);
}

static int ipip_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct ipip_conf cfg;

	return ipip_prepare(env, &cfg, mtu, msg, msglen);
}

static int ipip_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		     struct backend **ret)
{
	static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE,
					   RTNLGRP_NEXTHOP };
	struct backend *b = calloc(1, sizeof(*b));
	char msg[256];
	unsigned m;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->network = env->conf->network;
	b->ext = *env->ext;
	b->dh = (struct dev_heal){ .heal = &b->heal,
				   .dev = DEV,
				   .ext_index = b->ext.index,
				   .ext_name = b->ext.name,
				   .ext_up = true,
				   .overrun_what = DEV " and its routes",
				   .route_event = route_event,
				   .nexthop_event = nexthop_event,
				   .arg = b };
	b->warn_limit = LOG_LIMIT(20, 10000);
	b->pr = (struct pe_table){ .ops = &peer_ops,
				   .family = AF_INET,
				   .arg = b,
				   .heal = &b->heal,
				   .network = kprefix_v4(&b->network),
				   .kind = TYPE,
				   .via = DEV };
	repair_init(&b->heal, b->loop, heal_cb, b, DEV);
	r = ipip_prepare(env, &b->cfg, &m, msg, sizeof(msg));
	if (r < 0) {
		log_error("Invalid ipip backend config: %s", msg);
		goto fail;
	}
	log_info("IPIP config: DirectRouting=%s", b->cfg.direct_routing ? "true" : "false");
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	b->pr.nl = b->dh.nl = b->nl;
	r = pe_probe_nexthops(b->nl);
	b->pr.kernel_nexthops = r == 0;
	if (r < 0)
		log_info("The kernel has no nexthop objects (%s): routes carry their own gateway",
			 strerror(-r));
	b->pr.nexthops = env->nexthop_objects && b->pr.kernel_nexthops;
	/* Before the device exists, so no change after it goes unseen; nexthops last. */
	r = nlmon_open(b->loop, groups, b->pr.kernel_nexthops ? 4 : 3, &dev_heal_monitor_ops,
		       &b->dh, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	r = ensure_device(b, true);
	if (r < 0)
		goto fail;
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
	*mtu = b->mtu;
	*ret = b;
	return 0;
fail:
	ipip_close(b);
	return r;
}

const struct backend_ops backend_ipip_ops = {
	.name = TYPE,
	BACKEND_OPS_COMMON(ipip),
};
