/* SPDX-License-Identifier: Apache-2.0 */
/* The --ip-blackhole-route routes: written once the lease is held, rewritten when they go. */
#include "blackhole.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/repair.h"
#include "ip.h"
#include "log.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"
#include "lease/subnet.h"

struct blackhole {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct repair heal;
	bool has4, has6;
	struct ip4net v4;
	struct ip6net v6;
	bool logged; /* the "Added" line, once per subnet */
};

/*
 * Upstream's form (protocol boot, the netlink library's default), with
 * our metric: not NL_RTPROT_FLANNEL, whose routes inside the Network a
 * backend's converge deletes as stale peer routes.
 */
static struct nl_route route4(const struct ip4net *n)
{
	return (struct nl_route){ .family = AF_INET,
				  .dst = n->addr,
				  .dst_len = n->len,
				  .table = RT_TABLE_MAIN,
				  .protocol = RTPROT_BOOT,
				  .scope = RT_SCOPE_UNIVERSE,
				  .type = RTN_BLACKHOLE,
				  .priority = BLACKHOLE_METRIC };
}

static struct nl_route route6(const struct ip6net *n)
{
	return (struct nl_route){ .family = AF_INET6,
				  .dst6 = n->addr,
				  .dst_len = n->len,
				  .table = RT_TABLE_MAIN,
				  .protocol = RTPROT_BOOT,
				  .scope = RT_SCOPE_UNIVERSE,
				  .type = RTN_BLACKHOLE,
				  .priority = BLACKHOLE_METRIC };
}

/* 0 or -errno; the kernel's text in err. A replace at our metric touches no other route. */
static int write_route(struct blackhole *b, uint16_t type, const struct nl_route *r, char *err,
		       size_t errlen)
{
	NL_MSG_BUF(buf);
	uint16_t flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0;
	const struct nlmsghdr *req = nl_msg_route(buf, type, flags, r);

	if (!req)
		return -EINVAL;
	return nl_request(b->nl, req, type == RTM_DELROUTE ? NL_OK_ENOENT : 0, NULL, NULL, err,
			  errlen);
}

static void converge(void *arg)
{
	struct blackhole *b = arg;
	char err[256], a[IP_STRLEN], c[IP_STRLEN];
	struct nl_route r;
	int failed = 0;

	if (b->has4) {
		r = route4(&b->v4);
		if (write_route(b, RTM_NEWROUTE, &r, err, sizeof(err)) < 0) {
			log_warnx("Adding the blackhole route for %s failed: %s",
				  ip4net_format(&b->v4, a), err);
			failed++;
		}
	}
	if (b->has6) {
		r = route6(&b->v6);
		if (write_route(b, RTM_NEWROUTE, &r, err, sizeof(err)) < 0) {
			log_warnx("Adding the blackhole route for %s failed: %s",
				  ip6net_format(&b->v6, c), err);
			failed++;
		}
	}
	if (failed) {
		repair_later(&b->heal);
		return;
	}
	repair_done(&b->heal);
	if (!b->logged) {
		log_info("Blackhole route for %s%s%s in place (metric %u)",
			 b->has4 ? ip4net_format(&b->v4, a) : "", b->has4 && b->has6 ? " and " : "",
			 b->has6 ? ip6net_format(&b->v6, c) : "", BLACKHOLE_METRIC);
		b->logged = true;
	}
}

/* A notification about one of our routes' slots: main table, our prefix and metric. */
static bool is_our_slot(const struct blackhole *b, const struct nl_route *r)
{
	if (r->table != RT_TABLE_MAIN || r->priority != BLACKHOLE_METRIC)
		return false;
	if (r->family == AF_INET6)
		return b->has6 && r->dst_len == b->v6.len && ip6_equal(&r->dst6, &b->v6.addr);
	return b->has4 && r->dst_len == b->v4.len && r->dst == b->v4.addr;
}

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	struct blackhole *b = arg;
	struct nl_route r;

	if (nl_parse_route(nlh, &r) < 0 || !is_our_slot(b, &r))
		return;
	if (nlh->nlmsg_type == RTM_DELROUTE)
		repair_soon_why(&b->heal, "Our blackhole route was deleted");
	else if (r.type != RTN_BLACKHOLE)
		repair_soon_why(&b->heal, "Our blackhole route was replaced by another type");
}

static void kernel_overrun(void *arg)
{
	struct blackhole *b = arg;

	log_info("Missed rtnetlink notifications (ENOBUFS): rewriting the blackhole routes");
	repair_soon(&b->heal);
}

static const struct nlmon_ops monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};

int blackhole_new(struct loop *loop, struct blackhole **ret)
{
	static const unsigned groups[] = { RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE };
	struct blackhole *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = loop;
	repair_init(&b->heal, loop, converge, b, "the blackhole routes");
	r = nl_open(&b->nl);
	if (r == 0)
		r = nlmon_open(loop, groups, 2, &monitor_ops, b, &b->mon);
	if (r < 0) {
		blackhole_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

void blackhole_set(struct blackhole *b, const struct subnet_key *own)
{
	bool has4 = own->v4.len != 0 || own->v4.addr != 0;
	char err[256];
	struct nl_route r;

	/* A moved subnet: the old routes are ours and would drop a peer's traffic. */
	if (b->has4 && (!has4 || b->v4.addr != own->v4.addr || b->v4.len != own->v4.len)) {
		r = route4(&b->v4);
		b->has4 = false;
		if (write_route(b, RTM_DELROUTE, &r, err, sizeof(err)) < 0)
			log_warnx("Removing the old blackhole route failed: %s", err);
		b->logged = false;
	}
	if (b->has6 &&
	    (!own->has_v6 || b->v6.len != own->v6.len || !ip6_equal(&b->v6.addr, &own->v6.addr))) {
		r = route6(&b->v6);
		b->has6 = false;
		if (write_route(b, RTM_DELROUTE, &r, err, sizeof(err)) < 0)
			log_warnx("Removing the old IPv6 blackhole route failed: %s", err);
		b->logged = false;
	}
	b->has4 = has4;
	b->v4 = own->v4;
	b->has6 = own->has_v6;
	b->v6 = own->v6;
	repair_cancel(&b->heal);
	converge(b);
}

void blackhole_free(struct blackhole *b)
{
	if (!b)
		return;
	repair_cancel(&b->heal);
	nlmon_close(b->mon);
	nl_close(b->nl);
	free(b);
}
