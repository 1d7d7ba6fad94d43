/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wireguard backend (FLANNEL_COMPAT.md 9.5): kernel WireGuard device
 * flannel-wg configured over generic netlink (wg_nl), MTU = (MTU or the
 * external MTU) - 80, address <subnet>.0/32, route <Network> dev
 * flannel-wg; per remote lease a peer with its PublicKey, endpoint
 * PublicIP:Port (its Port, else our ListenPort), its subnet as allowed
 * IPs, and the PSK and keepalive when set. Our key comes from wg_key; our
 * lease publishes {"PublicKey":...,"Port":ListenPort} as upstream.
 *
 * Converged, not replayed: a resync reads the device's peers and changes
 * only what differs, so a restart disturbs no session. WireGuard sends no
 * notifications, so the device is also re-read every 10 s; rtnetlink
 * notifications (device, address, route) trigger a repair at once. IPv6
 * (flannel-wg-v6, Mode ipv6) is refused until this daemon has IPv6.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dev_heal.h"
#include "backend/repair.h"
#include "backend/sorted_vec.h"
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
#include "backend/wg_key.h"
#include "backend/wg_nl.h"

#define TYPE	   "wireguard"
#define DEV	   "flannel-wg"
#define RECHECK_MS 10000

struct peer {
	struct ip4net subnet;
	uint8_t key[32];
	uint32_t public_ip;
	uint16_t port; /* the lease's; 0: our ListenPort */
};

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct wg_nl *wg;
	struct ip4net network;
	struct iface ext;
	struct wg_conf cfg;
	int ifindex;
	unsigned mtu;
	uint8_t priv[32], pub[32];
	bool have_own;
	struct ip4net own;
	struct peer *peers; /* sorted by subnet address */
	size_t npeers, cap;
	struct log_limit warn_limit;
	struct repair heal;
	struct loop_timer recheck;
	struct dev_heal dh;
};

static char *key_text(const uint8_t key[32], char buf[WG_KEY_B64LEN + 1])
{
	return wg_key_to_base64(key, buf);
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct peer *)x)->subnet.addr;
	uint32_t c = ((const struct peer *)y)->subnet.addr;

	return a < c ? -1 : a > c;
}

static const struct svec peer_vec = { sizeof(struct peer), peer_cmp };

static struct peer *peer_find(struct backend *b, uint32_t addr)
{
	struct peer key = { .subnet.addr = addr };

	return svec_find(&peer_vec, b->peers, b->npeers, &key);
}

static struct peer *peer_insert(struct backend *b, const struct peer *p)
{
	void *v = b->peers;
	struct peer *r = svec_insert(&peer_vec, &v, &b->npeers, &b->cap, p);

	b->peers = v;
	return r;
}

static void peer_remove(struct backend *b, struct peer *p)
{
	svec_remove(&peer_vec, b->peers, &b->npeers, p);
}

static void log_overlap(const void *elem)
{
	const struct peer *p = elem;
	char sn[IP_STRLEN];

	log_warnx("Ignoring subnet %s: overlaps another lease", ip4net_format(&p->subnet, sn));
}

/*
 * The kernel peer for key as we want it: every subnet published with that
 * key (one, unless a host holds two leases for a moment). false: none.
 */
static bool want_peer(const struct backend *b, const uint8_t key[32], struct wg_peer *w)
{
	memset(w, 0, sizeof(*w));
	memcpy(w->key, key, 32);
	for (size_t i = 0; i < b->npeers; i++) {
		const struct peer *p = &b->peers[i];

		if (memcmp(p->key, key, 32) != 0)
			continue;
		if (w->nallowed == 0) {
			w->endpoint = p->public_ip;
			w->port = p->port ? p->port : b->cfg.listen_port;
		}
		if (w->nallowed < WG_ALLOWED_MAX)
			w->allowed[w->nallowed++] = p->subnet;
	}
	w->has_psk = b->cfg.has_psk;
	memcpy(w->psk, b->cfg.psk, 32);
	w->keepalive = b->cfg.keepalive;
	return w->nallowed > 0;
}

/* Write the kernel peer for key: as wanted, or removed when no subnet has it. */
static int sync_peer(struct backend *b, const uint8_t key[32])
{
	uint64_t buf[WG_MSG_MAX / sizeof(uint64_t)];
	char err[256], k[WG_KEY_B64LEN + 1];
	struct wg_peer w;
	bool want = want_peer(b, key, &w);
	int r;

	r = wg_nl_request(b->wg,
			  wg_msg_set_peer(buf, wg_nl_family(b->wg), DEV, &w,
					  want ? WG_PEER_REPLACE_ALLOWED : WG_PEER_REMOVE),
			  err, sizeof(err));
	explicit_bzero(&w, sizeof(w));
	if (r < 0) {
		log_warnx("Failed to %s WireGuard peer %s on %s: %s", want ? "set" : "remove",
			  key_text(key, k), DEV, err);
		repair_later(&b->heal);
	}
	return r;
}

/* ------------------------------------------------------------ converge */

static bool same_allowed(const struct wg_peer *k, const struct wg_peer *w)
{
	if (k->other_allowed || k->nallowed != w->nallowed)
		return false;
	for (size_t i = 0; i < w->nallowed; i++) {
		size_t j;

		for (j = 0; j < k->nallowed; j++)
			if (k->allowed[j].addr == w->allowed[i].addr &&
			    k->allowed[j].len == w->allowed[i].len)
				break;
		if (j == k->nallowed)
			return false;
	}
	return true;
}

static bool peer_matches(const struct wg_peer *k, const struct wg_peer *w)
{
	return !k->other_endpoint && k->endpoint == w->endpoint && k->port == w->port &&
	       k->keepalive == w->keepalive && k->has_psk == w->has_psk &&
	       (!w->has_psk || memcmp(k->psk, w->psk, 32) == 0) && same_allowed(k, w);
}

/* Our key and port on the device (setting the same key again keeps the sessions). */
static int configure_wg(struct backend *b, const struct wg_device *d)
{
	uint64_t buf[WG_MSG_MAX / sizeof(uint64_t)];
	char err[256];
	int r;

	if (d && d->has_private_key && memcmp(d->private_key, b->priv, 32) == 0 &&
	    d->listen_port == b->cfg.listen_port)
		return 0;
	r = wg_nl_request(
		b->wg,
		wg_msg_set_device(buf, wg_nl_family(b->wg), DEV, b->priv, b->cfg.listen_port), err,
		sizeof(err));
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		log_error("Failed to set the private key and ListenPort %u on %s: %s",
			  b->cfg.listen_port, DEV, err);
	else
		log_info("%s: our private key and ListenPort %u set", DEV, b->cfg.listen_port);
	return r;
}

/* Make the device's peers exactly ours: matching ones untouched. */
static int converge(struct backend *b)
{
	struct wg_device d;
	struct wg_peer w;
	bool *seen;
	unsigned fixed = 0, removed = 0;
	int r;

	r = wg_nl_get_device(b->wg, DEV, &d);
	if (r < 0) {
		log_warnx("Cannot read WireGuard device %s: %s", DEV, strerror(-r));
		return r;
	}
	seen = calloc(b->npeers ? b->npeers : 1, sizeof(*seen));
	if (!seen) {
		wg_device_free(&d);
		return -ENOMEM;
	}
	r = configure_wg(b, &d);
	for (size_t i = 0; i < d.npeers; i++) {
		const struct wg_peer *k = &d.peers[i];
		bool want = want_peer(b, k->key, &w);

		for (size_t j = 0; j < b->npeers; j++)
			if (memcmp(b->peers[j].key, k->key, 32) == 0)
				seen[j] = true;
		if (want && peer_matches(k, &w))
			continue;
		if (sync_peer(b, k->key) < 0)
			r = -EIO;
		fixed += want;
		removed += !want;
	}
	for (size_t j = 0; j < b->npeers; j++) {
		if (seen[j])
			continue;
		for (size_t i = j; i < b->npeers; i++)
			if (memcmp(b->peers[i].key, b->peers[j].key, 32) == 0)
				seen[i] = true;
		if (sync_peer(b, b->peers[j].key) < 0)
			r = -EIO;
		fixed++;
	}
	explicit_bzero(&w, sizeof(w));
	free(seen);
	wg_device_free(&d);
	if (fixed || removed)
		log_info("Converged WireGuard peers on %s: %zu subnets, %u peers added or fixed, "
			 "%u stale peers removed%s",
			 DEV, b->npeers, fixed, removed, r < 0 ? " (with errors)" : "");
	else
		log_debug(1, "Converged WireGuard peers on %s: %zu subnets, nothing to change", DEV,
			  b->npeers);
	return r;
}

/* ------------------------------------------------------------ device */

static int ensure_device(struct backend *b, bool initial)
{
	struct nl_tunlink want = { .name = DEV, .kind = "wireguard", .mtu = b->mtu };
	struct nl_link cur;
	NL_MSG_BUF(buf);
	char err[256];
	int r;

	r = nl_link_get(b->nl, DEV, 0, &cur);
	if (r == 0 && strcmp(cur.kind, "wireguard") != 0) {
		log_error("%s exists but is a %s device, not wireguard", DEV,
			  cur.kind[0] ? cur.kind : "non-tunnel");
		return -EEXIST;
	}
	if (r == -ENODEV) {
		r = nl_request(b->nl, nl_msg_link_tun(buf, NLM_F_CREATE | NLM_F_EXCL, &want), 0,
			       NULL, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to create WireGuard device %s: %s", DEV, err);
			return r;
		}
		r = nl_link_get(b->nl, DEV, 0, &cur);
		if (r == 0)
			log_info("Created WireGuard device %s (index %d)", DEV, cur.index);
	} else if (r == 0 && initial) {
		log_info("Returning existing device %s (index %d)", DEV, cur.index);
	}
	if (r < 0) {
		log_error("Failed to look up %s: %s", DEV, strerror(-r));
		return r;
	}
	b->ifindex = b->dh.ifindex = cur.index;
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

static struct nl_route network_route(const struct backend *b)
{
	return (struct nl_route){
		.dst = b->network.addr,
		.dst_len = b->network.len,
		.oif = b->ifindex,
		.table = RT_TABLE_MAIN,
		.protocol = NL_RTPROT_FLANNEL,
		.scope = RT_SCOPE_LINK,
		.type = RTN_UNICAST,
	};
}

/* Address, up, and the route to the whole Network through the device. */
static int configure_own(struct backend *b)
{
	struct nl_route rt = network_route(b);
	NL_MSG_BUF(buf);
	char err[256], n[IP_STRLEN];
	bool changed;
	int r;

	r = tundev_configure(b->nl, b->ifindex, DEV, &b->network, b->own.addr, &changed);
	if (r < 0)
		return r;
	r = nl_request(b->nl, nl_msg_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt), 0,
		       NULL, NULL, err, sizeof(err));
	if (r < 0)
		log_error("Failed to add the route %s dev %s: %s", ip4net_format(&b->network, n),
			  DEV, err);
	return r;
}

static void heal_cb(void *arg)
{
	struct backend *b = arg;

	if (ensure_device(b, false) < 0 || (b->have_own && configure_own(b) < 0) ||
	    converge(b) < 0) {
		repair_later(&b->heal);
		return;
	}
	repair_done(&b->heal);
}

/* WireGuard has no notifications: look at the peers now and then. */
static void recheck_cb(void *arg)
{
	struct backend *b = arg;

	if (converge(b) < 0)
		repair_later(&b->heal);
	loop_timer_arm(b->loop, &b->recheck, RECHECK_MS);
}

/* ------------------------------------------------------------ leases */

static bool same_subnet(const struct ip4net *a, const struct ip4net *b)
{
	return a->addr == b->addr && a->len == b->len;
}

static int peer_from_lease(struct backend *b, const struct lease *l, struct peer *ret)
{
	char sn[IP_STRLEN], err[160];
	const struct lease_attrs *a = &l->attrs;

	if (!l->has_attrs || l->subnet.v4.len == 0)
		return 0;
	if (b->have_own && same_subnet(&l->subnet.v4, &b->own))
		return 0;
	if (strcmp(a->backend_type, TYPE) != 0) {
		log_debug(1, "Ignoring non-wireguard subnet %s: type=%s",
			  ip4net_format(&l->subnet.v4, sn), a->backend_type);
		return 0;
	}
	if (a->public_ip == 0 || !a->backend_data ||
	    wg_lease_data_parse(a->backend_data, strlen(a->backend_data), ret->key, &ret->port, err,
				sizeof(err)) < 0) {
		if (log_limit_ok(&b->warn_limit, "subnets with bad wireguard BackendData"))
			log_warnx("Ignoring subnet %s: %s", ip4net_format(&l->subnet.v4, sn),
				  a->public_ip == 0 ? "no PublicIP"
				  : a->backend_data ? err
						    : "no BackendData");
		return 0;
	}
	if (memcmp(ret->key, b->pub, 32) == 0) {
		log_debug(1, "Ignoring subnet %s: it carries our own public key",
			  ip4net_format(&l->subnet.v4, sn));
		return 0;
	}
	ret->subnet = l->subnet.v4;
	ret->public_ip = a->public_ip;
	return 1;
}

static void wg_lease_removed(struct backend *b, const struct lease *l)
{
	struct peer *p = peer_find(b, l->subnet.v4.addr);
	char sn[IP_STRLEN];
	uint8_t key[32];

	if (!p || p->subnet.len != l->subnet.v4.len)
		return;
	log_info("Subnet removed: %s", ip4net_format(&p->subnet, sn));
	memcpy(key, p->key, 32);
	peer_remove(b, p);
	sync_peer(b, key);
}

static void wg_lease_added(struct backend *b, const struct lease *l)
{
	char sn[IP_STRLEN], ip[16], k[WG_KEY_B64LEN + 1];
	struct peer np, *old;
	uint8_t oldkey[32];
	bool rekey = false;

	if (peer_from_lease(b, l, &np) <= 0) {
		if (peer_find(b, l->subnet.v4.addr) && l->has_attrs &&
		    strcmp(l->attrs.backend_type, TYPE) != 0)
			wg_lease_removed(b, l);
		return;
	}
	old = peer_find(b, np.subnet.addr);
	if (old && same_subnet(&old->subnet, &np.subnet) && old->public_ip == np.public_ip &&
	    old->port == np.port && memcmp(old->key, np.key, 32) == 0) {
		log_debug(1, "Subnet %s unchanged", ip4net_format(&np.subnet, sn));
		return;
	}
	log_info("Subnet added: %s via %s:%u, public key %s", ip4net_format(&np.subnet, sn),
		 ip4_format(np.public_ip, ip), np.port ? np.port : b->cfg.listen_port,
		 key_text(np.key, k));
	if (old) {
		rekey = memcmp(old->key, np.key, 32) != 0;
		memcpy(oldkey, old->key, 32);
		*old = np;
	} else if (!peer_insert(b, &np)) {
		log_warnx("Out of memory adding subnet %s, ignoring it",
			  ip4net_format(&np.subnet, sn));
		return;
	}
	/* A host that rotated its key: its old peer goes (unless another subnet has it). */
	if (rekey)
		sync_peer(b, oldkey);
	sync_peer(b, np.key);
}

static void wg_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct peer *peers = malloc((n ? n : 1) * sizeof(*peers));
	size_t k = 0;

	if (!peers) {
		log_warnx("Out of memory resyncing WireGuard peers, keeping the current ones");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (peer_from_lease(b, all[i], &peers[k]) > 0)
			k++;
	k = svec_sort_unique(&peer_vec, peers, k, log_overlap);
	free(b->peers);
	b->peers = peers;
	b->npeers = k;
	b->cap = n ? n : 1;
	if (converge(b) < 0)
		repair_later(&b->heal);
}

static int wg_own_lease(struct backend *b, const struct lease *own)
{
	struct peer *p;

	b->own = own->subnet.v4;
	b->have_own = true;
	b->dh.want_up = true;
	b->dh.own = (struct kprefix){ kaddr_v4(b->own.addr), 32 };
	p = peer_find(b, b->own.addr);
	if (p) {
		uint8_t key[32];

		memcpy(key, p->key, 32);
		peer_remove(b, p);
		sync_peer(b, key);
	}
	return configure_own(b);
}

/* ------------------------------------------------------------ self-healing */

static void route_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	char n[IP_STRLEN];
	struct nl_route r;

	if (!b->have_own || nl_parse_route(nlh, &r) < 0 || r.table != RT_TABLE_MAIN ||
	    r.dst != b->network.addr || r.dst_len != b->network.len || r.priority != 0)
		return;
	if (nlh->nlmsg_type == RTM_DELROUTE ? r.oif == b->ifindex : r.oif != b->ifindex)
		repair_soon_why(&b->heal, "The route to %s dev %s was %s",
				ip4net_format(&b->network, n), DEV,
				nlh->nlmsg_type == RTM_DELROUTE ? "deleted" : "replaced");
}

/* ------------------------------------------------------------ lifecycle */

static void wg_close(struct backend *b)
{
	if (!b)
		return;
	/* The device and its peers stay: a restart disturbs no session. */
	if (b->loop)
		loop_timer_cancel(b->loop, &b->recheck);
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	wg_nl_close(b->wg);
	nl_close(b->nl);
	free(b->peers);
	explicit_bzero(b, sizeof(*b));
	free(b);
}

static int wg_prepare(const struct backend_env *env, struct wg_conf *cfg, unsigned *mtu, char *msg,
		      size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	unsigned base;

	if (wg_conf_parse(json, strlen(json), cfg, msg, msglen) < 0)
		return -EINVAL;
	if (cfg->mode == WG_MODE_IPV6 || env->conf->enable_ipv6) {
		snprintf(msg, msglen,
			 "Mode %s needs IPv6 (flannel-wg-v6), which this flanneld does not "
			 "support yet",
			 wg_mode_name(cfg->mode));
		return -EOPNOTSUPP;
	}
	if (env->ext->addr == 0) {
		snprintf(msg, msglen, "the external interface %s has no IPv4 address for WireGuard",
			 env->ext->name);
		return -EADDRNOTAVAIL;
	}
	base = cfg->mtu ? cfg->mtu : env->ext->mtu;
	if (base < 68 + WG_OVERHEAD) {
		snprintf(msg, msglen, "the MTU %u is too small for WireGuard", base);
		return -EINVAL;
	}
	*mtu = base - WG_OVERHEAD;
	if (cfg->mtu)
		snprintf(msg, msglen, "Backend.MTU %u minus %u for WireGuard", cfg->mtu,
			 WG_OVERHEAD);
	else
		snprintf(msg, msglen, "the MTU of %s (%u) minus %u for WireGuard", env->ext->name,
			 env->ext->mtu, WG_OVERHEAD);
	return 0;
}

static int wg_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct wg_conf cfg;
	int r = wg_prepare(env, &cfg, mtu, msg, msglen);

	explicit_bzero(&cfg, sizeof(cfg));
	return r;
}

static int wg_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		   struct backend **ret)
{
	static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE };
	struct backend *b = calloc(1, sizeof(*b));
	const char *path = wg_key_file();
	char msg[256], k[WG_KEY_B64LEN + 1];
	bool created;
	char *data;
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
				   .overrun_what = DEV,
				   .route_event = route_event,
				   .arg = b };
	b->warn_limit = LOG_LIMIT(20, 10000);
	repair_init(&b->heal, b->loop, heal_cb, b, DEV);
	loop_timer_init(&b->recheck, recheck_cb, b);
	r = wg_prepare(env, &b->cfg, &b->mtu, msg, sizeof(msg));
	if (r < 0) {
		log_error("Invalid wireguard backend config: %s", msg);
		goto fail;
	}
	log_info("WireGuard config: ListenPort=%u Mode=%s PersistentKeepaliveInterval=%u PSK=%s",
		 b->cfg.listen_port, wg_mode_name(b->cfg.mode), b->cfg.keepalive,
		 b->cfg.has_psk ? "set" : "none");
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
	b->dh.nl = b->nl;
	b->dh.mtu = b->mtu;
	r = nlmon_open(b->loop, groups, 3, &dev_heal_monitor_ops, &b->dh, &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	r = ensure_device(b, true);
	if (r < 0)
		goto fail;
	r = wg_nl_open(&b->wg);
	if (r < 0) {
		log_error("Cannot reach kernel WireGuard over generic netlink: %s", strerror(-r));
		goto fail;
	}
	r = configure_wg(b, NULL);
	if (r < 0)
		goto fail;
	data = wg_lease_data_format(b->pub, b->cfg.listen_port);
	if (!data) {
		r = -ENOMEM;
		goto fail;
	}
	free(attrs->backend_data);
	attrs->backend_data = data;
	snprintf(attrs->backend_type, sizeof(attrs->backend_type), TYPE);
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
	.init = wg_init,
	.check = wg_check,
	.own_lease = wg_own_lease,
	.lease_added = wg_lease_added,
	.lease_removed = wg_lease_removed,
	.resync = wg_resync,
	.close = wg_close,
};
