/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/tundev.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "netlink/nl.h"

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

int tundev_configure(struct nl *nl, int ifindex, const char *dev, const struct kprefix *network,
		     const struct kaddr *own, bool *changed_ret)
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
	if (changed_ret)
		*changed_ret = changed;
	return r;
}
