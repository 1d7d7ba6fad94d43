/* SPDX-License-Identifier: Apache-2.0 */
/* WireGuard generic netlink requests and replies; pure (no I/O). */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/wg_nl.h"

void wg_device_free(struct wg_device *d)
{
	if (!d)
		return;
	if (d->peers)
		explicit_bzero(d->peers, d->cap * sizeof(*d->peers));
	free(d->peers);
	explicit_bzero(d, sizeof(*d));
}

static struct nlmsghdr *put_genl(void *buf, uint16_t fam, uint8_t cmd, uint8_t version,
				 uint16_t flags)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	memset(buf, 0, WG_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = fam;
	nlh->nlmsg_flags = flags;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

struct nlmsghdr *wg_msg_get_family(void *buf)
{
	struct nlmsghdr *nlh = put_genl(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST);

	return mnl_attr_put_strz_check(nlh, WG_MSG_MAX, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME) ? nlh
											     : NULL;
}

struct nlmsghdr *wg_msg_get_device(void *buf, uint16_t fam, const char *ifname)
{
	struct nlmsghdr *nlh =
		put_genl(buf, fam, WG_CMD_GET_DEVICE, WG_GENL_VERSION, NLM_F_REQUEST | NLM_F_DUMP);

	return mnl_attr_put_strz_check(nlh, WG_MSG_MAX, WGDEVICE_A_IFNAME, ifname) ? nlh : NULL;
}

struct nlmsghdr *wg_msg_set_device(void *buf, uint16_t fam, const char *ifname,
				   const uint8_t *private_key, uint16_t listen_port)
{
	struct nlmsghdr *nlh =
		put_genl(buf, fam, WG_CMD_SET_DEVICE, WG_GENL_VERSION, NLM_F_REQUEST);
	bool ok = mnl_attr_put_strz_check(nlh, WG_MSG_MAX, WGDEVICE_A_IFNAME, ifname);

	if (private_key)
		ok &= mnl_attr_put_check(nlh, WG_MSG_MAX, WGDEVICE_A_PRIVATE_KEY, 32, private_key);
	ok &= mnl_attr_put_u16_check(nlh, WG_MSG_MAX, WGDEVICE_A_LISTEN_PORT, listen_port);
	return ok ? nlh : NULL;
}

static bool put_allowed(struct nlmsghdr *nlh, const struct kprefix *n)
{
	struct nlattr *a = mnl_attr_nest_start_check(nlh, WG_MSG_MAX, 0);
	uint32_t be = htonl(n->addr.v4);
	bool v6 = n->addr.family == AF_INET6;
	bool ok;

	if (!a)
		return false;
	ok = mnl_attr_put_u16_check(nlh, WG_MSG_MAX, WGALLOWEDIP_A_FAMILY, n->addr.family) &&
	     mnl_attr_put_check(nlh, WG_MSG_MAX, WGALLOWEDIP_A_IPADDR, v6 ? 16 : 4,
				v6 ? (const void *)n->addr.v6.b : &be) &&
	     mnl_attr_put_u8_check(nlh, WG_MSG_MAX, WGALLOWEDIP_A_CIDR_MASK, n->len);
	mnl_attr_nest_end(nlh, a);
	return ok;
}

/* The peer's endpoint as the kernel takes it: a sockaddr_in or sockaddr_in6. */
static bool put_endpoint(struct nlmsghdr *nlh, const struct kaddr *a, uint16_t port)
{
	if (a->family == AF_INET6) {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

		memcpy(sin6.sin6_addr.s6_addr, a->v6.b, 16);
		return mnl_attr_put_check(nlh, WG_MSG_MAX, WGPEER_A_ENDPOINT, sizeof(sin6), &sin6);
	} else {
		struct sockaddr_in sin = {
			.sin_family = AF_INET,
			.sin_port = htons(port),
			.sin_addr.s_addr = htonl(a->v4),
		};

		return mnl_attr_put_check(nlh, WG_MSG_MAX, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
	}
}

struct nlmsghdr *wg_msg_set_peer(void *buf, uint16_t fam, const char *ifname,
				 const struct wg_peer *p, unsigned flags)
{
	static const uint8_t zero[32];
	struct nlmsghdr *nlh =
		put_genl(buf, fam, WG_CMD_SET_DEVICE, WG_GENL_VERSION, NLM_F_REQUEST);
	struct nlattr *peers, *peer, *allowed;
	uint32_t kflags = 0;
	bool ok = mnl_attr_put_strz_check(nlh, WG_MSG_MAX, WGDEVICE_A_IFNAME, ifname);

	peers = ok ? mnl_attr_nest_start_check(nlh, WG_MSG_MAX, WGDEVICE_A_PEERS) : NULL;
	peer = peers ? mnl_attr_nest_start_check(nlh, WG_MSG_MAX, 0) : NULL;
	if (!peer)
		return NULL;
	if (flags & WG_PEER_REMOVE)
		kflags |= WGPEER_F_REMOVE_ME;
	if (flags & WG_PEER_REPLACE_ALLOWED)
		kflags |= WGPEER_F_REPLACE_ALLOWEDIPS;
	ok &= mnl_attr_put_check(nlh, WG_MSG_MAX, WGPEER_A_PUBLIC_KEY, 32, p->key);
	ok &= mnl_attr_put_u32_check(nlh, WG_MSG_MAX, WGPEER_A_FLAGS, kflags);
	if (!(flags & WG_PEER_REMOVE)) {
		ok &= mnl_attr_put_check(nlh, WG_MSG_MAX, WGPEER_A_PRESHARED_KEY, 32,
					 p->has_psk ? p->psk : zero);
		if (p->endpoint.family == AF_INET || p->endpoint.family == AF_INET6)
			ok &= put_endpoint(nlh, &p->endpoint, p->port);
		ok &= mnl_attr_put_u16_check(nlh, WG_MSG_MAX,
					     WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->keepalive);
		allowed =
			ok ? mnl_attr_nest_start_check(nlh, WG_MSG_MAX, WGPEER_A_ALLOWEDIPS) : NULL;
		if (!allowed)
			return NULL;
		for (size_t i = 0; i < p->nallowed && i < WG_ALLOWED_MAX; i++)
			ok &= put_allowed(nlh, &p->allowed[i]);
		mnl_attr_nest_end(nlh, allowed);
	}
	if (!ok)
		return NULL;
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

/* ------------------------------------------------------------ parsing */

struct tb {
	const struct nlattr **v;
	uint16_t max;
};

static int tb_cb(const struct nlattr *a, void *data)
{
	struct tb *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->v[type] = a;
	return MNL_CB_OK;
}

static int nested(const struct nlattr *nest, const struct nlattr **v, uint16_t max)
{
	struct tb t = { v, max };

	memset(v, 0, (max + 1u) * sizeof(*v));
	return mnl_attr_parse_nested(nest, tb_cb, &t) < 0 ? -EINVAL : 0;
}

static bool key_attr(const struct nlattr *a, uint8_t out[32])
{
	if (!a || mnl_attr_get_payload_len(a) != 32)
		return false;
	memcpy(out, mnl_attr_get_payload(a), 32);
	return true;
}

static bool u16_attr(const struct nlattr *a, uint16_t *out)
{
	if (!a || mnl_attr_get_payload_len(a) < 2)
		return false;
	*out = mnl_attr_get_u16(a);
	return true;
}

int wg_parse_family(const struct nlmsghdr *nlh, uint16_t *fam)
{
	const struct nlattr *v[CTRL_ATTR_MAX + 1] = { 0 };
	struct tb t = { v, CTRL_ATTR_MAX };

	if (nlh->nlmsg_len < mnl_nlmsg_size(GENL_HDRLEN) ||
	    mnl_attr_parse(nlh, GENL_HDRLEN, tb_cb, &t) < 0 ||
	    !u16_attr(v[CTRL_ATTR_FAMILY_ID], fam))
		return -EINVAL;
	return 0;
}

/* One allowed IP of either family; false when it is malformed or of another family. */
static bool parse_one_allowed(const struct nlattr *const *v, struct kprefix *ret)
{
	uint16_t family = 0;
	const struct nlattr *ip = v[WGALLOWEDIP_A_IPADDR], *mask = v[WGALLOWEDIP_A_CIDR_MASK];
	size_t alen;

	u16_attr(v[WGALLOWEDIP_A_FAMILY], &family);
	if (family != AF_INET && family != AF_INET6)
		return false;
	alen = family == AF_INET6 ? 16 : 4;
	if (!ip || mnl_attr_get_payload_len(ip) != alen || !mask ||
	    mnl_attr_get_payload_len(mask) < 1 || mnl_attr_get_u8(mask) > alen * 8)
		return false;
	memset(ret, 0, sizeof(*ret));
	ret->addr.family = (uint8_t)family;
	if (family == AF_INET6) {
		memcpy(ret->addr.v6.b, mnl_attr_get_payload(ip), 16);
	} else {
		uint32_t be;

		memcpy(&be, mnl_attr_get_payload(ip), 4);
		ret->addr.v4 = ntohl(be);
	}
	ret->len = mnl_attr_get_u8(mask);
	return true;
}

static int parse_allowed(const struct nlattr *list, struct wg_peer *p)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, list)
	{
		const struct nlattr *v[WGALLOWEDIP_A_MAX + 1];

		if (nested(a, v, WGALLOWEDIP_A_MAX) < 0)
			return -EINVAL;
		if (p->nallowed == WG_ALLOWED_MAX ||
		    !parse_one_allowed(v, &p->allowed[p->nallowed]))
			p->other_allowed = true;
		else
			p->nallowed++;
	}
	return 0;
}

static int parse_peer(const struct nlattr *nest, struct wg_device *d)
{
	const struct nlattr *v[WGPEER_A_MAX + 1];
	struct wg_peer *p;
	uint8_t key[32];

	if (nested(nest, v, WGPEER_A_MAX) < 0 || !key_attr(v[WGPEER_A_PUBLIC_KEY], key))
		return -EINVAL;
	/* The kernel continues a peer with many allowed IPs in the next message. */
	if (d->npeers && memcmp(d->peers[d->npeers - 1].key, key, 32) == 0) {
		p = &d->peers[d->npeers - 1];
	} else {
		if (d->npeers == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 16;
			struct wg_peer *n = realloc(d->peers, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			d->peers = n;
			d->cap = cap;
		}
		p = &d->peers[d->npeers++];
		memset(p, 0, sizeof(*p));
		memcpy(p->key, key, 32);
	}
	if (key_attr(v[WGPEER_A_PRESHARED_KEY], p->psk)) {
		static const uint8_t zero[32];

		p->has_psk = memcmp(p->psk, zero, 32) != 0;
	}
	if (v[WGPEER_A_ENDPOINT]) {
		const struct sockaddr_in *sin = mnl_attr_get_payload(v[WGPEER_A_ENDPOINT]);
		size_t len = mnl_attr_get_payload_len(v[WGPEER_A_ENDPOINT]);

		if (len >= sizeof(*sin) && sin->sin_family == AF_INET) {
			p->endpoint = kaddr_v4(ntohl(sin->sin_addr.s_addr));
			p->port = ntohs(sin->sin_port);
		} else if (len >= sizeof(struct sockaddr_in6) && sin->sin_family == AF_INET6) {
			struct sockaddr_in6 sin6;

			memcpy(&sin6, sin, sizeof(sin6));
			memset(&p->endpoint, 0, sizeof(p->endpoint));
			p->endpoint.family = AF_INET6;
			memcpy(p->endpoint.v6.b, sin6.sin6_addr.s6_addr, 16);
			p->port = ntohs(sin6.sin6_port);
		} else if (len >= sizeof(sa_family_t)) {
			p->other_endpoint = true;
		}
	}
	u16_attr(v[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL], &p->keepalive);
	if (v[WGPEER_A_ALLOWEDIPS])
		return parse_allowed(v[WGPEER_A_ALLOWEDIPS], p);
	return 0;
}

int wg_parse_device(const struct nlmsghdr *nlh, struct wg_device *d)
{
	const struct nlattr *v[WGDEVICE_A_MAX + 1] = { 0 };
	struct tb t = { v, WGDEVICE_A_MAX };
	const struct nlattr *a;
	int r;

	if (nlh->nlmsg_len < mnl_nlmsg_size(GENL_HDRLEN) ||
	    mnl_attr_parse(nlh, GENL_HDRLEN, tb_cb, &t) < 0)
		return -EINVAL;
	if (key_attr(v[WGDEVICE_A_PRIVATE_KEY], d->private_key))
		d->has_private_key = true;
	u16_attr(v[WGDEVICE_A_LISTEN_PORT], &d->listen_port);
	if (!v[WGDEVICE_A_PEERS])
		return 0;
	mnl_attr_for_each_nested(a, v[WGDEVICE_A_PEERS])
	{
		r = parse_peer(a, d);
		if (r < 0)
			return r;
	}
	return 0;
}
