/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer engine's neighbours and FDB entries (an l2 table: vxlan): the
 * requests, the dumps a converge reads, the counting of shared FDB
 * entries, and the repair of a contradicting notification. What to do is
 * decided in peer_decide.c.
 */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "backend/peer_impl.h"
#include "backend/repair.h"
#include "log.h"
#include "netlink/nl.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

static struct nl_neigh neigh_msg(const struct pe_table *t, uint8_t family, const struct kaddr *dst,
				 const uint8_t *mac)
{
	struct nl_neigh n = {
		.family = family,
		.ifindex = t->ifindex,
		.state = NUD_PERMANENT,
		.type = RTN_UNICAST,
		.has_dst = true,
		.dst_is6 = dst->family == AF_INET6,
		.has_lladdr = mac != NULL,
	};

	if (family == AF_BRIDGE) {
		n.type = 0;
		n.flags = NTF_SELF;
	}
	if (n.dst_is6)
		n.dst6 = dst->v6;
	else
		n.dst = dst->v4;
	if (mac)
		memcpy(n.lladdr, mac, 6);
	return n;
}

/* The neighbour of dst (the subnet address) to mac; mac NULL: deleted. */
void pe_l2_neigh(struct pe_table *t, const struct kaddr *dst, const uint8_t *mac)
{
	struct nl_neigh n = neigh_msg(t, t->family, dst, mac);
	uint16_t type = mac ? RTM_NEWNEIGH : RTM_DELNEIGH;

	if (nl_msg_neigh(nl_batch_slot(t->nl), type, mac ? NLM_F_CREATE | NLM_F_REPLACE : 0, &n))
		nl_batch_add(t->nl, mac ? 0 : NL_OK_ENOENT,
			     pe_cookie(t, mac ? PE_OP_NEIGH_ADD : PE_OP_NEIGH_DEL, dst));
}

/* The FDB entry mac -> dst added or deleted; what: the address its error names. */
void pe_l2_fdb(struct pe_table *t, bool add, const uint8_t mac[6], const struct kaddr *dst,
	       const struct kaddr *what)
{
	struct nl_neigh n = neigh_msg(t, AF_BRIDGE, dst, mac);

	if (nl_msg_neigh(nl_batch_slot(t->nl), add ? RTM_NEWNEIGH : RTM_DELNEIGH,
			 add ? NLM_F_CREATE | NLM_F_REPLACE : 0, &n))
		nl_batch_add(t->nl, add ? 0 : NL_OK_ENOENT,
			     pe_cookie(t, add ? PE_OP_FDB_ADD : PE_OP_FDB_DEL, what));
}

/* p's FDB entry deleted unless another peer uses it (a host re-registered under a new subnet). */
void pe_l2_fdb_del(struct pe_table *t, const struct pe_peer *p)
{
	if (!pe_fdb_users(t, p, p->mac, &p->public_ip))
		pe_l2_fdb(t, false, p->mac, &p->public_ip, &p->subnet.addr);
}

static void reset_neighs(void *arg)
{
	pe_reset_kind(arg, PE_HAVE_NEIGH, PE_STALE_NEIGH);
}

static void reset_fdbs(void *arg)
{
	struct kstate *k = arg;

	fdbset_clear_marks(&k->t->fdbs);
	pe_reset_kind(k, 0, PE_STALE_FDB);
}

int pe_fdb_add(struct fdbset *s, const uint8_t mac[6], const struct kaddr *dst)
{
	return dst->family == AF_INET6 ? fdbset_add6(s, mac, &dst->v6)
				       : fdbset_add(s, mac, dst->v4);
}

/* Marks a wanted FDB entry found (or about to be added); whether it was marked already. */
static bool fdb_mark(struct fdbset *s, const uint8_t mac[6], const struct kaddr *dst)
{
	return dst->family == AF_INET6 ? fdbset_mark6(s, mac, &dst->v6)
				       : fdbset_mark(s, mac, dst->v4);
}

static int dump_neigh_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct kstate *k = arg;
	struct nl_neigh n;
	struct pe_peer *p;

	if (nl_parse_neigh(nlh, &n) < 0)
		return 0;
	if (n.family == AF_BRIDGE) {
		struct pe_stale st = { .kind = PE_STALE_FDB, .dst.addr = pe_neigh_dst(&n) };

		switch (pe_judge_fdb(k->t, &n)) {
		case PE_HAVE:
			fdb_mark(&k->t->fdbs, n.lladdr, &st.dst.addr);
			return 0;
		case PE_STALE:
			memcpy(st.mac, n.lladdr, 6);
			return pe_add_stale(k, &st);
		default:
			return 0;
		}
	}
	switch (pe_judge_neigh(k->t, &n, &p)) {
	case PE_HAVE:
		k->have[p - k->t->peers] |= PE_HAVE_NEIGH;
		return 0;
	case PE_STALE:
		return pe_add_stale(k, &(struct pe_stale){ .kind = PE_STALE_NEIGH,
							   .dst.addr = pe_neigh_dst(&n) });
	default:
		return 0; /* a wrong one is replaced in place */
	}
}

/*
 * Which peers' FDB entries are there (marked by the dump). Peers sharing
 * one that is missing add it once: the first marks it and counts as
 * fixed, the others as having it.
 */
static void mark_fdbs(struct kstate *k)
{
	struct pe_table *t = k->t;

	for (size_t i = 0; i < t->npeers; i++) {
		const struct pe_peer *p = &t->peers[i];

		if (pe_has_l2(t, p) && fdb_mark(&t->fdbs, p->mac, &p->public_ip))
			k->have[i] |= PE_HAVE_FDB;
	}
}

int pe_l2_dump(struct pe_table *t, struct kstate *k)
{
	NL_MSG_BUF(buf);
	int r;

	if (!nl_msg_dump(buf, RTM_GETNEIGH, t->family, t->ifindex))
		return -EINVAL;
	r = nl_dump(t->nl, (const void *)buf, dump_neigh_cb, reset_neighs, k);
	if (r < 0)
		return r;
	if (!nl_msg_dump(buf, RTM_GETNEIGH, AF_BRIDGE, t->ifindex))
		return -EINVAL;
	fdbset_clear_marks(&t->fdbs);
	r = nl_dump(t->nl, (const void *)buf, dump_neigh_cb, reset_fdbs, k);
	if (r >= 0)
		mark_fdbs(k);
	return r;
}

/* p's FDB entry counted in (or out of) the table's. */
void pe_l2_count(struct pe_table *t, const struct pe_peer *p, bool add)
{
	const struct kaddr *ip = &p->public_ip;

	if (!pe_has_l2(t, p))
		return;
	if (!add && ip->family == AF_INET6)
		fdbset_del6(&t->fdbs, p->mac, &ip->v6);
	else if (!add)
		fdbset_del(&t->fdbs, p->mac, ip->v4);
	else if (pe_fdb_add(&t->fdbs, p->mac, ip) < 0)
		log_warnx("Out of memory counting FDB entries: a shared one may be deleted");
}

/*
 * An l2 peer replaced: the neighbour (same dst) and the route are replaced
 * in place, but an FDB entry is keyed by MAC, so a new MAC or PublicIP, or
 * a switch to a direct route, leaves the old one behind unless deleted.
 */
void pe_l2_replaced(struct pe_table *t, const struct pe_peer *old, const struct pe_peer *np)
{
	if (!pe_has_l2(t, old))
		return;
	if (np->direct || memcmp(old->mac, np->mac, 6) != 0 ||
	    !kaddr_equal(&old->public_ip, &np->public_ip))
		pe_l2_fdb_del(t, old);
	if (np->direct)
		pe_l2_neigh(t, &old->subnet.addr, NULL);
}

void pe_neigh_event(struct pe_table *t, const struct nlmsghdr *nlh)
{
	char a[IP_STRLEN], mac[18];
	struct nl_neigh n;
	struct kaddr dst;

	if (nl_parse_neigh(nlh, &n) < 0)
		return;
	dst = pe_neigh_dst(&n);
	switch (pe_neigh_repair(t, nlh->nlmsg_type, &n)) {
	case PE_REPAIR_NEIGH_DELETED:
		repair_soon_why(t->heal, "The neighbour entry for %s was deleted",
				kaddr_format(&dst, a));
		break;
	case PE_REPAIR_NEIGH_CHANGED:
		repair_soon_why(t->heal, "The neighbour entry for %s was changed",
				kaddr_format(&dst, a));
		break;
	case PE_REPAIR_FDB_DELETED:
		repair_soon_why(t->heal, "The FDB entry %s dst %s was deleted",
				mac_format(n.lladdr, mac), kaddr_format(&dst, a));
		break;
	case PE_REPAIR_FDB_MOVED:
		repair_soon_why(t->heal, "The FDB entry %s was pointed at %s",
				mac_format(n.lladdr, mac), kaddr_format(&dst, a));
		break;
	default:
		break;
	}
}
