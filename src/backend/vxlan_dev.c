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
