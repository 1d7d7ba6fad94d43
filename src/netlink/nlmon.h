/* SPDX-License-Identifier: Apache-2.0 */
/* An rtnetlink notification socket on the loop: what changed in the kernel, or that we missed some.
 */
#ifndef FLANNELD_NLMON_H
#define FLANNELD_NLMON_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct nlmon;
struct nlmsghdr;

struct nlmon_ops {
	/* One notification (RTM_NEWLINK, RTM_DELROUTE, ...); nlh lives for the call only. */
	void (*event)(void *arg, const struct nlmsghdr *nlh);
	/*
	 * The kernel dropped notifications (ENOBUFS: our receive buffer was
	 * full): anything may have changed, so the owner re-reads everything.
	 */
	void (*overrun)(void *arg);
};

/* Subscribe to the RTNLGRP_* groups in groups[] (our own changes are reported too). */
int nlmon_open(struct loop *loop, const unsigned *groups, size_t ngroups,
	       const struct nlmon_ops *ops, void *arg, struct nlmon **ret);
/* Join (or leave) groups later; what was queued before a leave is still read. */
int nlmon_membership(struct nlmon *m, const unsigned *groups, size_t ngroups, bool join);
void nlmon_close(struct nlmon *m);

#endif
