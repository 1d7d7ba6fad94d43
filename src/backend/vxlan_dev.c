/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/vxlan_dev.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "backend/vxlan_conf.h"
#include "iface.h"
#include "log.h"

const char *vxlan_dev_incompatible(const struct nl_link *cur, const struct nl_vxlan *want)
{
	const struct nl_vxlan *v = &cur->vx;
	unsigned port = want->port ? want->port : VXLAN_KERNEL_PORT;

	if (!cur->is_vxlan)
		return "link type";
	if (v->vni != want->vni)
		return "vni";
	if (v->link > 0 && want->link > 0 && v->link != want->link)
		return "vtep (external) interface";
	if (want->has_local6) {
		/* LOCAL6 for the local address; an IPv4 one or a group is another device's. */
		if (v->has_local6 && !ip6_equal(&v->local6, &want->local6))
			return "vtep (external) IP";
		if (v->local || v->group)
			return "vtep (external) IP";
	} else {
		if (v->local && want->local && v->local != want->local)
			return "vtep (external) IP";
		if (v->group != want->group)
			return "group address";
	}
	if (v->l2miss != want->l2miss)
		return "l2miss";
	/* Upstream compares only explicit ports; 0 is the kernel's 8472 here. */
	if (v->port > 0 && v->port != port)
		return "port";
	if (v->gbp != want->gbp)
		return "gbp";
	return NULL;
}

int vxlan_dev_pick_mac(struct nl_vxlan *want, const uint8_t mac[6])
{
	static const uint8_t zero[6];

	if (memcmp(mac, zero, 6) != 0) {
		/* Recreated with the MAC our lease publishes, peers need no update. */
		memcpy(want->mac, mac, 6);
		return 0;
	}
	/* Random, locally administered, unicast (upstream: (b & 0xfe) | 0x02). */
	if (getrandom(want->mac, sizeof(want->mac), 0) != sizeof(want->mac))
		return -errno;
	want->mac[0] = (uint8_t)((want->mac[0] & 0xfe) | 0x02);
	return 0;
}

bool vxlan_dev_ext_moved(struct nl *nl, struct iface *ext)
{
	struct nl_link l;

	if (nl_link_get(nl, ext->name, 0, &l) < 0 || l.index == ext->index)
		return false;
	log_warnx("%s has a new index %d (was %d)", ext->name, l.index, ext->index);
	ext->index = l.index;
	return true;
}

static int create(struct nl *nl, const struct nl_vxlan *want, struct nl_link *ret)
{
	NL_MSG_BUF(buf);
	char err[256];
	const struct nlmsghdr *req = nl_msg_link_vxlan(buf, NLM_F_CREATE | NLM_F_EXCL, want);
	int r;

	if (!req)
		return -EINVAL;
	r = nl_request(nl, req, 0, NULL, NULL, err, sizeof(err));
	if (r < 0) {
		log_error("Failed to create VXLAN device %s: %s", want->name, err);
		return r;
	}
	r = nl_link_get(nl, want->name, 0, ret);
	if (r < 0)
		log_error("Created VXLAN device %s but cannot read it back: %s", want->name,
			  strerror(-r));
	return r;
}

/* The existing device, kept (1) or deleted as incompatible (0); -errno when neither works. */
static int reuse(struct nl *nl, const struct nl_vxlan *want, bool initial, struct nl_link *cur)
{
	NL_MSG_BUF(buf);
	char err[256];
	const char *why;
	int r = nl_link_get(nl, want->name, 0, cur);

	if (r == -ENODEV)
		return 0;
	if (r < 0) {
		log_error("Failed to look up %s: %s", want->name, strerror(-r));
		return r;
	}
	why = vxlan_dev_incompatible(cur, want);
	if (!why) {
		if (initial) {
			log_debug(1, "VXLAN device already exists");
			log_info("Returning existing device %s (index %d)", want->name, cur->index);
		}
		return 1;
	}
	log_warnx("\"%s\" already exists with incompatible configuration: %s; recreating device",
		  want->name, why);
	r = nl_request(nl, nl_msg_link_del(buf, cur->index), NL_OK_ENOENT, NULL, NULL, err,
		       sizeof(err));
	if (r < 0) {
		log_error("Failed to delete %s: %s", want->name, err);
		return r;
	}
	return 0;
}

int vxlan_dev_get(struct nl *nl, const struct nl_vxlan *want, bool initial, struct nl_link *cur,
		  bool *created)
{
	int r = reuse(nl, want, initial, cur);

	if (r < 0)
		return r;
	*created = r == 0;
	if (*created) {
		r = create(nl, want, cur);
		if (r < 0)
			return r;
		log_info("Created VXLAN device %s (index %d)", want->name, cur->index);
	}
	if (!cur->has_mac) {
		log_error("%s has no MAC address", want->name);
		return -EINVAL;
	}
	return 0;
}

int vxlan_dev_set_mtu(struct nl *nl, const char *dev, int ifindex, unsigned cur, unsigned mtu)
{
	NL_MSG_BUF(buf);
	char err[256];
	int r;

	if (cur == mtu)
		return 0;
	log_info("Setting the MTU of %s from %u to %u", dev, cur, mtu);
	r = nl_request(nl, nl_msg_link_set(buf, ifindex, mtu, false), 0, NULL, NULL, err,
		       sizeof(err));
	if (r < 0)
		log_error("Failed to set the MTU of %s: %s", dev, err);
	return r;
}

/* ------------------------------------------------------------ own address */

struct addr_list {
	uint8_t family;
	int ifindex;
	struct nl_addr *v;
	size_t n, cap;
};

static int dump_addr_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct addr_list *l = arg;
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) < 0 || a.family != l->family || a.ifindex != l->ifindex)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct nl_addr *n = realloc(l->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = a;
	return 0;
}

static void reset_addrs(void *arg)
{
	((struct addr_list *)arg)->n = 0;
}

static struct kaddr addr_of(const struct nl_addr *a)
{
	return a->family == AF_INET6 ? kaddr_v6(&a->addr6) : kaddr_v4(a->addr);
}

static bool ours_to_remove(const struct kprefix *network, const struct kaddr *a)
{
	if (a->family == AF_INET6)
		return !(a->v6.b[0] == 0xfe && (a->v6.b[1] & 0xc0) == 0x80);
	return kprefix_contains(network, a);
}

static void addr_error(void *arg, uintptr_t cookie, uint16_t type, int err, const char *extack)
{
	log_warnx("Failed to %s an address on %s: %s", type == RTM_NEWADDR ? "add" : "remove",
		  (const char *)arg, extack && *extack ? extack : strerror(-err));
}

static int set_up(struct nl *nl, int ifindex, const char *dev, bool *changed)
{
	struct nl_link link;
	NL_MSG_BUF(buf);
	char err[256];
	int r = nl_link_get(nl, NULL, ifindex, &link);

	if (r < 0) {
		log_error("Failed to look up %s: %s", dev, strerror(-r));
		return r;
	}
	if (link.flags & IFF_UP)
		return 0;
	r = nl_request(nl, nl_msg_link_set(buf, ifindex, 0, true), 0, NULL, NULL, err, sizeof(err));
	if (r < 0) {
		log_error("Failed to set %s up: %s", dev, err);
		return r;
	}
	*changed = true;
	return 0;
}

int vxlan_dev_configure_addr(struct nl *nl, int ifindex, const char *dev,
			     const struct kprefix *network, const struct kaddr *own)
{
	struct addr_list al = { .family = own->family, .ifindex = ifindex };
	uint8_t len = own->family == AF_INET6 ? 128 : 32;
	struct nl_addr want = { .family = own->family, .ifindex = ifindex, .prefixlen = len };
	struct kprefix shown = { *own, len };
	NL_MSG_BUF(buf);
	char a[IP_STRLEN];
	bool have = false, changed = false;
	int r;

	if (own->family == AF_INET6)
		want.addr6 = own->v6;
	else
		want.addr = own->v4;
	nl_msg_dump(buf, RTM_GETADDR, own->family, ifindex);
	r = nl_dump(nl, (const void *)buf, dump_addr_cb, reset_addrs, &al);
	if (r < 0) {
		log_error("Failed to list the addresses of %s: %s", dev, strerror(-r));
		goto out;
	}
	nl_batch_begin(nl, addr_error, NULL, (void *)(uintptr_t)dev);
	for (size_t i = 0; i < al.n; i++) {
		struct kaddr x = addr_of(&al.v[i]);

		if (kaddr_equal(&x, own) && al.v[i].prefixlen == len) {
			have = true;
			continue;
		}
		if (!ours_to_remove(network, &x))
			continue;
		log_info("Removing IP address %s/%u from %s", kaddr_format(&x, a),
			 al.v[i].prefixlen, dev);
		if (nl_msg_addr(nl_batch_slot(nl), RTM_DELADDR, 0, &al.v[i]))
			nl_batch_add(nl, NL_OK_ENOENT, 0);
		changed = true;
	}
	if (!have &&
	    nl_msg_addr(nl_batch_slot(nl), RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &want)) {
		nl_batch_add(nl, NL_OK_EEXIST, 0);
		changed = true;
	}
	r = nl_batch_end(nl) > 0 ? -EIO : 0;
	if (r == 0)
		r = set_up(nl, ifindex, dev, &changed);
	if (r == 0 && changed)
		log_info("%s: address %s, up", dev, kprefix_format(&shown, a));
out:
	free(al.v);
	return r;
}
