/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One WireGuard device of the wireguard backend: its table of remote
 * subnets, the kernel peers they make (one per public key, with every
 * subnet published under that key as allowed IPs), the converge that
 * changes only what differs, and our addresses and Network routes on it.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/routes.h"
#include "backend/sorted_vec.h"
#include "backend/tundev.h"
#include "backend/wg_impl.h"
#include "backend/wg_nl.h"
#include "netlink/nl.h"

static char *key_text(const uint8_t key[32], char buf[WG_KEY_B64LEN + 1])
{
	return wg_key_to_base64(key, buf);
}

/* ------------------------------------------------------------ peer table */

static int peer_cmp(const void *x, const void *y)
{
	const struct wgpeer *a = x, *c = y;

	return kaddr_cmp(&a->subnet.addr, &c->subnet.addr);
}

static const struct svec peer_vec = { sizeof(struct wgpeer), peer_cmp };

struct wgpeer *wgdev_find(struct wgdev *d, const struct kprefix *subnet)
{
	struct wgpeer key = { .subnet = *subnet };
	struct wgpeer *p = svec_find(&peer_vec, d->peers, d->npeers, &key);

	return p && p->subnet.len == subnet->len ? p : NULL;
}

struct wgpeer *wgdev_insert(struct wgdev *d, const struct wgpeer *p)
{
	void *v = d->peers;
	struct wgpeer *r = svec_insert(&peer_vec, &v, &d->npeers, &d->cap, p);

	d->peers = v;
	return r;
}

void wgdev_remove(struct wgdev *d, struct wgpeer *p)
{
	svec_remove(&peer_vec, d->peers, &d->npeers, p);
}

static void log_overlap(const void *elem)
{
	const struct wgpeer *p = elem;
	char sn[IP_STRLEN];

	log_warnx("Ignoring subnet %s: overlaps another lease", kprefix_format(&p->subnet, sn));
}

void wgdev_set_peers(struct wgdev *d, struct wgpeer *peers, size_t n, size_t cap)
{
	free(d->peers);
	d->peers = peers;
	d->npeers = svec_sort_unique(&peer_vec, peers, n, log_overlap);
	d->cap = cap;
}

char *wgpeer_endpoint_format(const struct wgpeer *p, uint16_t port, char *buf, size_t len)
{
	char ip[IP_STRLEN];
	bool v6 = p->endpoint.family == AF_INET6;

	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", kaddr_format(&p->endpoint, ip),
		 v6 ? "]" : "", p->port ? p->port : port);
	return buf;
}

/* ------------------------------------------------------------ kernel peers */

/*
 * The kernel peer for key as we want it: every subnet published with that
 * key (one lease, unless a host holds two for a moment). false: none.
 */
static bool want_peer(const struct wgdev *d, const uint8_t key[32], struct wg_peer *w)
{
	const struct wg_conf *cfg = &d->b->cfg;

	memset(w, 0, sizeof(*w));
	memcpy(w->key, key, 32);
	for (size_t i = 0; i < d->npeers; i++) {
		const struct wgpeer *p = &d->peers[i];

		if (memcmp(p->key, key, 32) != 0)
			continue;
		if (w->nallowed == 0) {
			w->endpoint = p->endpoint;
			w->port = p->port ? p->port : d->port;
		}
		if (w->nallowed < WG_ALLOWED_MAX)
			w->allowed[w->nallowed++] = p->subnet;
		if (p->subnet2.len && w->nallowed < WG_ALLOWED_MAX)
			w->allowed[w->nallowed++] = p->subnet2;
	}
	w->has_psk = cfg->has_psk;
	memcpy(w->psk, cfg->psk, 32);
	w->keepalive = cfg->keepalive;
	return w->nallowed > 0;
}

int wgdev_sync_peer(struct wgdev *d, const uint8_t key[32])
{
	uint64_t buf[WG_MSG_MAX / sizeof(uint64_t)];
	char err[256], k[WG_KEY_B64LEN + 1];
	struct wg_peer w;
	bool want = want_peer(d, key, &w);
	struct nlmsghdr *req = wg_msg_set_peer(buf, wg_nl_family(d->b->wg), d->name, &w,
					       want ? WG_PEER_REPLACE_ALLOWED : WG_PEER_REMOVE);
	int r;

	explicit_bzero(&w, sizeof(w));
	r = req ? wg_nl_request(d->b->wg, req, err, sizeof(err)) : -EMSGSIZE;
	explicit_bzero(buf, sizeof(buf));
	if (!req)
		snprintf(err, sizeof(err), "the request does not fit");
	if (r < 0) {
		log_warnx("Failed to %s WireGuard peer %s on %s: %s", want ? "set" : "remove",
			  key_text(key, k), d->name, err);
		repair_later(&d->b->heal);
	}
	return r;
}

static bool same_allowed(const struct wg_peer *k, const struct wg_peer *w)
{
	if (k->other_allowed || k->nallowed != w->nallowed)
		return false;
	for (size_t i = 0; i < w->nallowed; i++) {
		size_t j;

		for (j = 0; j < k->nallowed; j++)
			if (kprefix_equal(&k->allowed[j], &w->allowed[i]))
				break;
		if (j == k->nallowed)
			return false;
	}
	return true;
}

static bool peer_matches(const struct wg_peer *k, const struct wg_peer *w)
{
	return !k->other_endpoint && kaddr_equal(&k->endpoint, &w->endpoint) &&
	       k->port == w->port && k->keepalive == w->keepalive && k->has_psk == w->has_psk &&
	       (!w->has_psk || memcmp(k->psk, w->psk, 32) == 0) && same_allowed(k, w);
}

int wgdev_set_key(struct wgdev *d, const struct wg_device *cur)
{
	uint64_t buf[WG_MSG_MAX / sizeof(uint64_t)];
	struct backend *b = d->b;
	char err[256];
	int r;

	if (cur && cur->has_private_key && memcmp(cur->private_key, b->priv, 32) == 0 &&
	    cur->listen_port == d->port)
		return 0;
	r = wg_nl_request(b->wg,
			  wg_msg_set_device(buf, wg_nl_family(b->wg), d->name, b->priv, d->port),
			  err, sizeof(err));
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		log_error("Failed to set the private key and ListenPort %u on %s: %s", d->port,
			  d->name, err);
	else
		log_info("%s: our private key and ListenPort %u set", d->name, d->port);
	return r;
}

int wgdev_converge(struct wgdev *d)
{
	struct wg_device cur;
	struct wg_peer w;
	bool *seen;
	unsigned fixed = 0, removed = 0;
	int r;

	r = wg_nl_get_device(d->b->wg, d->name, &cur);
	if (r < 0) {
		log_warnx("Cannot read WireGuard device %s: %s", d->name, strerror(-r));
		return r;
	}
	seen = calloc(d->npeers ? d->npeers : 1, sizeof(*seen));
	if (!seen) {
		wg_device_free(&cur);
		return -ENOMEM;
	}
	r = wgdev_set_key(d, &cur);
	for (size_t i = 0; i < cur.npeers; i++) {
		const struct wg_peer *k = &cur.peers[i];
		bool want = want_peer(d, k->key, &w);

		for (size_t j = 0; j < d->npeers; j++)
			if (memcmp(d->peers[j].key, k->key, 32) == 0)
				seen[j] = true;
		if (want && peer_matches(k, &w))
			continue;
		if (wgdev_sync_peer(d, k->key) < 0)
			r = -EIO;
		fixed += want;
		removed += !want;
	}
	for (size_t j = 0; j < d->npeers; j++) {
		if (seen[j])
			continue;
		for (size_t i = j; i < d->npeers; i++)
			if (memcmp(d->peers[i].key, d->peers[j].key, 32) == 0)
				seen[i] = true;
		if (wgdev_sync_peer(d, d->peers[j].key) < 0)
			r = -EIO;
		fixed++;
	}
	explicit_bzero(&w, sizeof(w));
	free(seen);
	wg_device_free(&cur);
	if (fixed || removed)
		log_info("Converged WireGuard peers on %s: %zu subnets, %u peers added or fixed, "
			 "%u stale peers removed%s",
			 d->name, d->npeers, fixed, removed, r < 0 ? " (with errors)" : "");
	else
		log_debug(1, "Converged WireGuard peers on %s: %zu subnets, nothing to change",
			  d->name, d->npeers);
	return r;
}

/* ------------------------------------------------------------ device */

int wgdev_ensure(struct wgdev *d, bool initial)
{
	struct backend *b = d->b;
	struct nl_tunlink want = { .kind = "wireguard", .mtu = b->mtu };
	struct nl_link cur;
	NL_MSG_BUF(buf);
	char err[256];
	int r;

	snprintf(want.name, sizeof(want.name), "%s", d->name);
	r = nl_link_get(b->nl, d->name, 0, &cur);
	if (r == 0 && strcmp(cur.kind, "wireguard") != 0) {
		log_error("%s exists but is a %s device, not wireguard", d->name,
			  cur.kind[0] ? cur.kind : "non-tunnel");
		return -EEXIST;
	}
	if (r == -ENODEV) {
		r = nl_request(b->nl, nl_msg_link_tun(buf, NLM_F_CREATE | NLM_F_EXCL, &want), 0,
			       NULL, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to create WireGuard device %s: %s", d->name, err);
			return r;
		}
		r = nl_link_get(b->nl, d->name, 0, &cur);
		if (r == 0)
			log_info("Created WireGuard device %s (index %d)", d->name, cur.index);
	} else if (r == 0 && initial) {
		log_info("Returning existing device %s (index %d)", d->name, cur.index);
	}
	if (r < 0) {
		log_error("Failed to look up %s: %s", d->name, strerror(-r));
		return r;
	}
	d->ifindex = d->dh.ifindex = cur.index;
	if (cur.mtu != b->mtu) {
		log_info("Setting the MTU of %s from %u to %u", d->name, cur.mtu, b->mtu);
		r = nl_request(b->nl, nl_msg_link_set(buf, d->ifindex, b->mtu, false), 0, NULL,
			       NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to set the MTU of %s: %s", d->name, err);
			return r;
		}
	}
	return 0;
}

/* The route to Network (family i) through the device; link scope for IPv4, as upstream. */
static struct nl_route network_route(const struct wgdev *d, int i)
{
	struct route_want w = { .dst = d->network[i], .oif = d->ifindex };
	struct nl_route r;

	w.gw.family = d->network[i].addr.family;
	r = route_want_route(&w);
	if (i == 0)
		r.scope = RT_SCOPE_LINK;
	return r;
}

int wgdev_configure_own(struct wgdev *d)
{
	struct backend *b = d->b;
	NL_MSG_BUF(buf);
	char err[256], n[IP_STRLEN];
	int r;

	for (int i = 0; i < 2; i++) {
		struct nl_route rt;

		if (!d->fam[i] || !d->own[i].family)
			continue;
		r = tundev_configure(b->nl, d->ifindex, d->name, &d->network[i], &d->own[i], NULL);
		if (r < 0)
			return r;
		rt = network_route(d, i);
		r = nl_request(b->nl,
			       nl_msg_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt),
			       0, NULL, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to add the route %s dev %s: %s",
				  kprefix_format(&d->network[i], n), d->name, err);
			return r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ self-healing */

void wgdev_route_event(void *arg, const struct nlmsghdr *nlh)
{
	struct wgdev *d = arg;
	char n[IP_STRLEN];
	struct nl_route r;
	struct kaddr dst;
	int i;

	if (!d->b->have_own || nl_parse_route(nlh, &r) < 0 || r.table != RT_TABLE_MAIN)
		return;
	i = r.family == AF_INET6;
	dst = route_dst(&r);
	if (!d->fam[i] || !kaddr_equal(&dst, &d->network[i].addr) ||
	    r.dst_len != d->network[i].len || r.priority != route_metric(dst.family))
		return;
	if (nlh->nlmsg_type == RTM_DELROUTE ? r.oif == d->ifindex : r.oif != d->ifindex)
		repair_soon_why(&d->b->heal, "The route to %s dev %s was %s",
				kprefix_format(&d->network[i], n), d->name,
				nlh->nlmsg_type == RTM_DELROUTE ? "deleted" : "replaced");
}

/* dev_heal watches the address of the device's first family; this one, its IPv6 one too. */
void wgdev_addr_event(void *arg, const struct nlmsghdr *nlh)
{
	struct wgdev *d = arg;
	struct dev_heal v6;

	if (!d->fam[0] || !d->fam[1] || !d->own[1].family)
		return;
	v6 = d->dh;
	v6.own = (struct kprefix){ d->own[1], 128 };
	v6.addr_event = NULL;
	v6.route_event = NULL;
	dev_heal_event(&v6, nlh);
}
