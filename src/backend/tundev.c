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
	int ifindex;
	struct nl_addr *v;
	size_t n, cap;
};

static int dump_addr_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct addr_list *l = arg;
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) < 0 || a.ifindex != l->ifindex)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct nl_addr *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = a;
	return 0;
}

static void reset_addrs(void *arg)
{
	((struct addr_list *)arg)->n = 0;
}

static void addr_error(void *arg, uintptr_t cookie, uint16_t type, int err, const char *extack)
{
	const char *dev = arg;

	log_warnx("Failed to %s an address on %s: %s", type == RTM_NEWADDR ? "add" : "remove", dev,
		  extack && *extack ? extack : strerror(-err));
}

int tundev_configure(struct nl *nl, int ifindex, const char *dev, const struct ip4net *network,
		     uint32_t addr, bool *changed)
{
	struct addr_list al = { .ifindex = ifindex };
	struct nl_addr want = { .ifindex = ifindex, .prefixlen = 32, .addr = addr };
	struct nl_link link;
	NL_MSG_BUF(buf);
	char a[IP_STRLEN], err[256];
	bool have = false;
	int r;

	*changed = false;
	nl_msg_dump(buf, RTM_GETADDR, AF_INET, ifindex);
	r = nl_dump(nl, (const void *)buf, dump_addr_cb, reset_addrs, &al);
	if (r < 0) {
		log_error("Failed to list the addresses of %s: %s", dev, strerror(-r));
		goto out;
	}
	nl_batch_begin(nl, addr_error, NULL, (void *)(uintptr_t)dev);
	for (size_t i = 0; i < al.n; i++) {
		struct nl_addr *x = &al.v[i];

		if (x->addr == want.addr && x->prefixlen == 32) {
			have = true;
			continue;
		}
		if (!ip4net_contains(network, x->addr))
			continue;
		log_info("Removing IP address %s/%u from %s", ip4_format(x->addr, a), x->prefixlen,
			 dev);
		if (nl_msg_addr(nl_batch_slot(nl), RTM_DELADDR, 0, x))
			nl_batch_add(nl, NL_OK_ENOENT, 0);
		*changed = true;
	}
	if (!have &&
	    nl_msg_addr(nl_batch_slot(nl), RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &want)) {
		nl_batch_add(nl, NL_OK_EEXIST, 0);
		*changed = true;
	}
	r = nl_batch_end(nl) > 0 ? -EIO : 0;
	if (r < 0)
		goto out;
	r = nl_link_get(nl, NULL, ifindex, &link);
	if (r < 0) {
		log_error("Failed to look up %s: %s", dev, strerror(-r));
		goto out;
	}
	if (!(link.flags & IFF_UP)) {
		r = nl_request(nl, nl_msg_link_set(buf, ifindex, 0, true), 0, NULL, NULL, err,
			       sizeof(err));
		if (r < 0) {
			log_error("Failed to set %s up: %s", dev, err);
			goto out;
		}
		*changed = true;
	}
	if (*changed)
		log_info("%s: address %s/32, up", dev, ip4_format(addr, a));
out:
	free(al.v);
	return r;
}
