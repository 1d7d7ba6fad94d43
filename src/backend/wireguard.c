/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wireguard backend (FLANNEL_COMPAT.md 9.5): kernel WireGuard devices
 * configured over generic netlink (wg_nl), MTU = (MTU or the external
 * MTU) - 80. Mode separate (the default) has flannel-wg for IPv4 on
 * ListenPort and flannel-wg-v6 for IPv6 on ListenPortV6, each peer's
 * endpoint in the device's family; Modes auto, ipv4 and ipv6 have
 * flannel-wg alone for both families, each peer reached over IPv4, IPv6,
 * or (auto) whichever upstream would choose. On each device: our address
 * <subnet>.0/32 (/128 for IPv6), a route <Network> dev <device>, and per
 * remote lease a peer with its PublicKey, its endpoint PublicIP:Port
 * ([PublicIPv6]:Port; its Port, else the device's ListenPort), its
 * subnets as allowed IPs, and the PSK and keepalive when set. Our key
 * comes from wg_key; our lease publishes {"PublicKey":...,"Port":...} as
 * BackendData (IPv4) and BackendV6Data (IPv6), as upstream.
 *
 * Converged, not replayed: a resync reads the devices' peers and changes
 * only what differs, so a restart disturbs no session. WireGuard sends no
 * notifications, so the devices are also re-read every 10 s; rtnetlink
 * notifications (device, address, route) trigger a repair at once.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/wg_impl.h"
#include "backend/wg_key.h"
#include "backend/wg_nl.h"
#include "config.h"
#include "lease/lease.h"
#include "lease/subnet.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"

#define TYPE	   "wireguard"
#define RECHECK_MS 10000

static char *key_text(const uint8_t key[32], char buf[WG_KEY_B64LEN + 1])
{
	return wg_key_to_base64(key, buf);
}

#define FOR_EACH_DEV(b, d) for (struct wgdev *d = (b)->dev; d < (b)->dev + (b)->ndev; d++)

/* ------------------------------------------------------------ leases */

/* l's subnet of family i (0: IPv4, 1: IPv6); false when it has none. */
static bool lease_subnet(const struct lease *l, int i, struct kprefix *ret)
{
	if (i == 0 && l->subnet.v4.len) {
		*ret = kprefix_v4(&l->subnet.v4);
		return true;
	}
	if (i == 1 && l->subnet.has_v6 && l->subnet.v6.len) {
		*ret = kprefix_v6(&l->subnet.v6);
		return true;
	}
	return false;
}

/* The table key of l on d: its subnet of d's first family it has. */
static bool lease_key(const struct wgdev *d, const struct lease *l, struct kprefix *ret)
{
	for (int i = 0; i < 2; i++)
		if (d->fam[i] && lease_subnet(l, i, ret))
			return true;
	return false;
}

/* Which family's endpoint reaches l's host from d (0 IPv4, 1 IPv6), or -1: none. */
static int endpoint_family(const struct wgdev *d, const struct lease_attrs *a)
{
	const struct backend *b = d->b;
	bool has4 = a->public_ip != 0, has6 = a->has_public_ipv6;

	if (b->cfg.mode == WG_MODE_SEPARATE)
		return d->fam[0] ? (has4 ? 0 : -1) : (has6 ? 1 : -1);
	if (b->cfg.mode == WG_MODE_IPV4)
		return has4 ? 0 : -1;
	if (b->cfg.mode == WG_MODE_IPV6)
		return has6 ? 1 : -1;
	if (has4 != has6)
		return has4 ? 0 : 1;
	if (!has4)
		return -1;
	return wg_auto_prefers_v6(a->public_ip, &a->public_ipv6, b->ext.addr,
				  b->has_public_ipv6 ? &b->public_ipv6 : NULL);
}

static void warn_lease(struct backend *b, const struct kprefix *sn, const char *why)
{
	char s[IP_STRLEN];

	if (log_limit_ok(&b->warn_limit, "subnets with bad wireguard BackendData"))
		log_warnx("Ignoring subnet %s: %s", kprefix_format(sn, s), why);
}

/* 1 with *ret filled when l is a remote lease d must have a peer for, else 0 (logged). */
static int peer_from_lease(struct wgdev *d, const struct lease *l, struct wgpeer *ret)
{
	struct backend *b = d->b;
	const struct lease_attrs *a = &l->attrs;
	const char *data, *name;
	char sn[IP_STRLEN], err[160], why[200];
	int fam;

	memset(ret, 0, sizeof(*ret));
	if (!l->has_attrs || !lease_key(d, l, &ret->subnet))
		return 0;
	for (int i = 0; i < 2; i++)
		if (d->own[i].family && kaddr_equal(&ret->subnet.addr, &d->own[i]))
			return 0; /* our own subnet */
	if (strcmp(a->backend_type, TYPE) != 0) {
		log_debug(1, "Ignoring non-wireguard subnet %s: type=%s",
			  kprefix_format(&ret->subnet, sn), a->backend_type);
		return 0;
	}
	fam = endpoint_family(d, a);
	if (fam < 0) {
		warn_lease(b, &ret->subnet,
			   d->fam[0] && !d->fam[1] ? "no PublicIP"
			   : !d->fam[0]		   ? "no PublicIPv6"
						   : "no PublicIP or PublicIPv6 for this Mode");
		return 0;
	}
	/* The data of the endpoint's family; on a device of both, the other if it lacks it. */
	data = fam ? a->backend_v6_data : a->backend_data;
	name = fam ? "BackendV6Data" : "BackendData";
	if (!data && d->fam[0] && d->fam[1]) {
		data = fam ? a->backend_data : a->backend_v6_data;
		name = fam ? "BackendData" : "BackendV6Data";
	}
	if (!data ||
	    wg_lease_data_parse(data, strlen(data), ret->key, &ret->port, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "%s%s%s", data ? name : "no ", data ? ": " : name,
			 data ? err : "");
		warn_lease(b, &ret->subnet, why);
		return 0;
	}
	if (memcmp(ret->key, b->pub, 32) == 0) {
		log_debug(1, "Ignoring subnet %s: it carries our own public key",
			  kprefix_format(&ret->subnet, sn));
		return 0;
	}
	ret->endpoint = fam ? kaddr_v6(&a->public_ipv6) : kaddr_v4(a->public_ip);
	if (kaddr_is_zero(&ret->endpoint)) {
		warn_lease(b, &ret->subnet, "its PublicIPv6 is ::");
		return 0;
	}
	if (d->fam[0] && d->fam[1] && ret->subnet.addr.family == AF_INET)
		lease_subnet(l, 1, &ret->subnet2);
	return 1;
}

static void dev_lease_removed(struct wgdev *d, const struct lease *l)
{
	struct kprefix key;
	struct wgpeer *p;
	char sn[IP_STRLEN];
	uint8_t k[32];

	if (!lease_key(d, l, &key) || !(p = wgdev_find(d, &key)))
		return;
	log_info("Subnet removed: %s", kprefix_format(&p->subnet, sn));
	memcpy(k, p->key, 32);
	wgdev_remove(d, p);
	wgdev_sync_peer(d, k);
}

static bool same_peer(const struct wgpeer *a, const struct wgpeer *c)
{
	return kprefix_equal(&a->subnet, &c->subnet) && kprefix_equal(&a->subnet2, &c->subnet2) &&
	       kaddr_equal(&a->endpoint, &c->endpoint) && a->port == c->port &&
	       memcmp(a->key, c->key, 32) == 0;
}

/* "Subnet added: <subnet> [and <IPv6 subnet>] via <endpoint>, public key <key>" */
static void log_added(const struct wgdev *d, const struct wgpeer *p)
{
	char sn[IP_STRLEN], sn2[IP_STRLEN + 8], ep[IP_STRLEN + 10], k[WG_KEY_B64LEN + 1];

	sn2[0] = '\0';
	if (p->subnet2.len) {
		strcpy(sn2, " and ");
		kprefix_format(&p->subnet2, sn2 + 5);
	}
	log_info("Subnet added: %s%s via %s, public key %s", kprefix_format(&p->subnet, sn), sn2,
		 wgpeer_endpoint_format(p, d->port, ep, sizeof(ep)), key_text(p->key, k));
}

static void dev_lease_added(struct wgdev *d, const struct lease *l)
{
	char sn[IP_STRLEN];
	struct wgpeer np, *old;
	struct kprefix key;
	uint8_t oldkey[32];
	bool rekey = false;

	if (peer_from_lease(d, l, &np) <= 0) {
		/* A subnet that is no longer a wireguard one loses its peer. */
		if (lease_key(d, l, &key) && wgdev_find(d, &key) && l->has_attrs &&
		    strcmp(l->attrs.backend_type, TYPE) != 0)
			dev_lease_removed(d, l);
		return;
	}
	old = wgdev_find(d, &np.subnet);
	if (old && same_peer(old, &np)) {
		log_debug(1, "Subnet %s unchanged", kprefix_format(&np.subnet, sn));
		return;
	}
	log_added(d, &np);
	if (old) {
		rekey = memcmp(old->key, np.key, 32) != 0;
		memcpy(oldkey, old->key, 32);
		*old = np;
	} else if (!wgdev_insert(d, &np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  kprefix_format(&np.subnet, sn));
		return;
	}
	/* A host that rotated its key: its old peer goes (unless another subnet has it). */
	if (rekey)
		wgdev_sync_peer(d, oldkey);
	wgdev_sync_peer(d, np.key);
}

static void wg_lease_removed(struct backend *b, const struct lease *l)
{
	FOR_EACH_DEV(b, d)
	{
		dev_lease_removed(d, l);
	}
}

static void wg_lease_added(struct backend *b, const struct lease *l)
{
	FOR_EACH_DEV(b, d)
	{
		dev_lease_added(d, l);
	}
}

static void wg_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	FOR_EACH_DEV(b, d)
	{
		struct wgpeer *peers = malloc((n ? n : 1) * sizeof(*peers));
		size_t k = 0;

		if (!peers) {
			log_warnx("Out of memory resyncing WireGuard peers of %s, keeping the "
				  "current ones",
				  d->name);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			const struct wgpeer *old;

			if (peer_from_lease(d, all[i], &peers[k]) <= 0)
				continue;
			/* New or changed since the table was last right (at start: all of them). */
			old = wgdev_find(d, &peers[k].subnet);
			if (!old || !same_peer(old, &peers[k]))
				log_added(d, &peers[k]);
			k++;
		}
		wgdev_set_peers(d, peers, k, n ? n : 1);
		if (wgdev_converge(d) < 0)
			repair_later(&b->heal);
	}
}

static int wg_own_lease(struct backend *b, const struct lease *own)
{
	int r = 0;

	b->have_own = true;
	FOR_EACH_DEV(b, d)
	{
		struct kprefix sn;
		struct wgpeer *p;

		for (int i = 0; i < 2; i++) {
			if (!d->fam[i] || !lease_subnet(own, i, &sn))
				continue;
			d->own[i] = sn.addr;
			/* A subnet that was a peer's and is now ours stops being one. */
			p = wgdev_find(d, &sn);
			if (p) {
				uint8_t key[32];

				memcpy(key, p->key, 32);
				wgdev_remove(d, p);
				wgdev_sync_peer(d, key);
			}
		}
		d->dh.want_up = true;
		d->dh.own = d->own[0].family ? (struct kprefix){ d->own[0], 32 }
					     : (struct kprefix){ d->own[1], 128 };
		if (wgdev_configure_own(d) < 0)
			r = -EIO;
	}
	return r;
}

/* ------------------------------------------------------------ self-healing */

static void heal_cb(void *arg)
{
	struct backend *b = arg;

	FOR_EACH_DEV(b, d)
	{
		if (wgdev_ensure(d, false) < 0 || (b->have_own && wgdev_configure_own(d) < 0) ||
		    wgdev_converge(d) < 0) {
			repair_later(&b->heal);
			return;
		}
	}
	repair_done(&b->heal);
}

/* WireGuard has no notifications: look at the peers now and then. */
static void recheck_cb(void *arg)
{
	struct backend *b = arg;

	FOR_EACH_DEV(b, d)
	{
		if (wgdev_converge(d) < 0)
			repair_later(&b->heal);
	}
	loop_timer_arm(b->loop, &b->recheck, RECHECK_MS);
}

/* ------------------------------------------------------------ lifecycle */

static void wg_close(struct backend *b)
{
	if (!b)
		return;
	/* The devices and their peers stay: a restart disturbs no session. */
	if (b->loop)
		loop_timer_cancel(b->loop, &b->recheck);
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	wg_nl_close(b->wg);
	nl_close(b->nl);
	for (int i = 0; i < 2; i++)
		free(b->dev[i].peers);
	explicit_bzero(b, sizeof(*b));
	free(b);
}

/* What the Mode needs of the network and of us; 0, or -errno with msg. */
static int check_mode(const struct backend_env *env, const struct wg_conf *cfg, char *msg,
		      size_t msglen)
{
	const struct netconf *c = env->conf;
	const char *mode = wg_mode_name(cfg->mode);

	if (cfg->mode == WG_MODE_IPV4 && !c->enable_ipv4) {
		snprintf(msg, msglen, "Mode %s reaches peers over IPv4, but EnableIPv4 is off",
			 mode);
		return -EINVAL;
	}
	if (cfg->mode == WG_MODE_IPV6 && !c->enable_ipv6) {
		snprintf(msg, msglen, "Mode %s reaches peers over IPv6, but EnableIPv6 is off",
			 mode);
		return -EINVAL;
	}
	if (c->enable_ipv4 && cfg->mode != WG_MODE_IPV6 && env->ext->addr == 0)
		return backend_no_address(env, false, "WireGuard", msg, msglen);
	if (c->enable_ipv6 && cfg->mode != WG_MODE_IPV4 && !env->has_public_ipv6)
		return backend_no_address(env, true, "WireGuard", msg, msglen);
	if (cfg->mode == WG_MODE_SEPARATE && c->enable_ipv4 && c->enable_ipv6 &&
	    cfg->listen_port == cfg->listen_port_v6) {
		snprintf(msg, msglen, "ListenPort and ListenPortV6 are both %u: %s and %s need two",
			 cfg->listen_port, WG_DEV4, WG_DEV6);
		return -EINVAL;
	}
	return 0;
}

static int wg_prepare(const struct backend_env *env, struct wg_conf *cfg, unsigned *mtu, char *msg,
		      size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	int r;

	if (wg_conf_parse(json, strlen(json), cfg, msg, msglen) < 0)
		return -EINVAL;
	r = check_mode(env, cfg, msg, msglen);
	if (r < 0)
		return r;
	return backend_mtu(env, cfg->mtu, WG_OVERHEAD, "WireGuard", mtu, msg, msglen);
}

static int wg_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct wg_conf cfg;
	int r = wg_prepare(env, &cfg, mtu, msg, msglen);

	explicit_bzero(&cfg, sizeof(cfg));
	return r;
}

/* The devices the Mode asks for: two in Mode separate (one per enabled family), else one. */
static void plan_devices(struct backend *b, const struct netconf *c)
{
	bool fam[2] = { c->enable_ipv4, c->enable_ipv6 };
	struct kprefix net[2] = { kprefix_v4(&c->network), kprefix_v6(&c->ipv6_network) };

	for (int i = 0; i < 2; i++) {
		struct wgdev *d;
		bool separate = b->cfg.mode == WG_MODE_SEPARATE;

		if (!fam[i] || (!separate && b->ndev))
			continue;
		d = &b->dev[b->ndev++];
		d->b = b;
		d->name = separate && i ? WG_DEV6 : WG_DEV4;
		d->port = separate && i ? b->cfg.listen_port_v6 : b->cfg.listen_port;
		d->fam[0] = separate ? i == 0 : fam[0];
		d->fam[1] = separate ? i == 1 : fam[1];
		memcpy(d->network, net, sizeof(net));
		d->dh = (struct dev_heal){ .nl = b->nl,
					   .heal = &b->heal,
					   .dev = d->name,
					   .mtu = b->mtu,
					   .overrun_what = b->overrun_what,
					   .route_event = wgdev_route_event,
					   .addr_event = wgdev_addr_event,
					   .arg = d };
	}
	/* One of them names the external interface going down and up. */
	b->dev[0].dh.ext_index = b->ext.index;
	b->dev[0].dh.ext_name = b->ext.name;
	b->dev[0].dh.ext_up = true;
	if (b->ndev > 1)
		b->dev[0].dh.also = &b->dev[1].dh;
	snprintf(b->overrun_what, sizeof(b->overrun_what), "%s%s%s", b->dev[0].name,
		 b->ndev > 1 ? " and " : "", b->ndev > 1 ? b->dev[1].name : "");
}

/* Our BackendData (IPv4) and BackendV6Data (IPv6): the key, and the port of that family's device.
 */
static int publish(struct backend *b, const struct netconf *c, struct lease_attrs *attrs)
{
	char *data[2] = { NULL, NULL };
	bool fam[2] = { c->enable_ipv4, c->enable_ipv6 };

	for (int i = 0; i < 2; i++) {
		const struct wgdev *d = b->ndev > 1 && i ? &b->dev[1] : &b->dev[0];

		if (fam[i] && !(data[i] = wg_lease_data_format(b->pub, d->port))) {
			free(data[0]);
			return -ENOMEM;
		}
	}
	free(attrs->backend_data);
	free(attrs->backend_v6_data);
	attrs->backend_data = data[0];
	attrs->backend_v6_data = data[1];
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
	return 0;
}

static int open_devices(struct backend *b)
{
	static const unsigned groups_v4[] = { RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE };
	static const unsigned groups_v6[] = { RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE };
	unsigned groups[5] = { RTNLGRP_LINK };
	size_t ng = 1;
	bool fam[2] = { false, false };
	int r;

	FOR_EACH_DEV(b, d)
	{
		fam[0] |= d->fam[0];
		fam[1] |= d->fam[1];
	}
	for (int i = 0; i < 2; i++)
		if (fam[i]) {
			memcpy(groups + ng, i ? groups_v6 : groups_v4, sizeof(groups_v4));
			ng += 2;
		}
	r = nlmon_open(b->loop, groups, ng, &dev_heal_monitor_ops, &b->dev[0].dh, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		return r;
	}
	FOR_EACH_DEV(b, d)
	{
		r = wgdev_ensure(d, true);
		if (r < 0)
			return r;
	}
	r = wg_nl_open(&b->wg);
	if (r < 0) {
		log_error("Cannot reach kernel WireGuard over generic netlink: %s", strerror(-r));
		return r;
	}
	/* Only our key and port now: the peers wait for the leases (a restart keeps them). */
	FOR_EACH_DEV(b, d)
	{
		r = wgdev_set_key(d, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

static int wg_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		   struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	const char *path = wg_key_file();
	char msg[256], k[WG_KEY_B64LEN + 1];
	bool created;
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->ext = *env->ext;
	b->has_public_ipv6 = env->has_public_ipv6;
	b->public_ipv6 = env->public_ipv6;
	b->warn_limit = LOG_LIMIT(20, 10000);
	repair_init(&b->heal, b->loop, heal_cb, b, "the WireGuard devices");
	loop_timer_init(&b->recheck, recheck_cb, b);
	r = wg_prepare(env, &b->cfg, &b->mtu, msg, sizeof(msg));
	if (r < 0) {
		log_error("Invalid wireguard backend config: %s", msg);
		goto fail;
	}
	log_info("WireGuard config: ListenPort=%u ListenPortV6=%u Mode=%s "
		 "PersistentKeepaliveInterval=%u PSK=%s",
		 b->cfg.listen_port, b->cfg.listen_port_v6, wg_mode_name(b->cfg.mode),
		 b->cfg.keepalive, b->cfg.has_psk ? "set" : "none");
	r = wg_key_load_or_create(path, b->priv, &created, msg, sizeof(msg));
	if (r == 0)
		r = wg_key_public(b->priv, b->pub, msg, sizeof(msg));
	if (r < 0) {
		log_error("WireGuard private key: %s", msg);
		goto fail;
	}
	log_info("%s WireGuard private key %s; public key %s",
		 created ? "Generated a new" : "Using the", path, key_text(b->pub, k));
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	plan_devices(b, env->conf);
	r = open_devices(b);
	if (r < 0)
		goto fail;
	r = publish(b, env->conf, attrs);
	if (r < 0)
		goto fail;
	loop_timer_arm(b->loop, &b->recheck, RECHECK_MS);
	*mtu = b->mtu;
	*ret = b;
	return 0;
fail:
	wg_close(b);
	return r;
}

const struct backend_ops backend_wireguard_ops = {
	.name = TYPE,
	BACKEND_OPS_COMMON(wg),
	.ipv6 = true,
};
