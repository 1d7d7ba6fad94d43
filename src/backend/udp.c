/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp backend (FLANNEL_COMPAT.md 9.3): TUN device flannel0 with <subnet>.0/32,
 * MTU = external MTU - 28, a route <Network> dev flannel0, and a user-space
 * tunnel (udp_path) that carries each inner IPv4 packet as one UDP datagram
 * to PublicIP:Port of the lease owning its destination. Every lease counts,
 * whatever its BackendType, as upstream. Our lease has no BackendType.
 * Self-healing: rtnetlink notifications that the device, its address or
 * the route changed schedule a repair (a deleted device is created again).
 * The device goes away with the process (not persistent), as upstream's.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/udp_path.h"
#include "config.h"
#include "iface.h"
#include "jsonutil.h"
#include "lease/lease.h"
#include "log.h"
#include "loop.h"
#include "netlink/nl.h"
#include "netlink/nlmon.h"
#include "lease/subnet.h"
#include "textutil.h"

#define UDP_DEFAULT_PORT 8285
#define MAX_QUEUES_AUTO	 4
#define HEAL_DELAY_MS	 20
#define RETRY_MS	 1000
#define RECLAIM_MS	 5
#define WATCH_MS	 1000

struct udp_conf {
	uint16_t port;
	bool offload;	 /* ours: "Offload": false forces plain per-packet mode */
	unsigned queues; /* ours: "Queues": worker count, 0 = min(CPUs, 4) */
};

struct backend {
	struct loop *loop;
	struct nl *nl;
	struct nlmon *mon;
	struct udp_path *path;
	struct udp_conf cfg;
	struct ip4net network;
	struct iface ext;
	unsigned mtu;
	char dev[IF_NAMESIZE];
	int ifindex;
	bool have_own;
	struct ip4net own;

	struct udp_route *peers; /* what the data path should know, unsorted */
	size_t npeers, cap;
	struct loop_timer publish, reclaim, heal, watch;
};

/* ------------------------------------------------------------ config */

static int conf_parse(const char *json, struct udp_conf *ret, char *err, size_t errlen)
{
	struct udp_conf c = { .port = UDP_DEFAULT_PORT, .offload = true };
	size_t len = strlen(json);
	struct jsonu_iter it;
	struct jsonu_member m;
	uint64_t v;
	bool b;
	int r;

	if (jsonu_validate(json, len, err, errlen) < 0)
		return -EINVAL;
	if (jsonu_iter_init(&it, json, len) < 0)
		return text_fail(err, errlen, "Backend must be a JSON object");
	while ((r = jsonu_iter_next(&it, &m)) > 0) {
		if (jsonu_name_eq(m.key, m.key_len, "Port") ||
		    jsonu_name_eq(m.key, m.key_len, "Queues")) {
			bool port = jsonu_name_eq(m.key, m.key_len, "Port");

			r = jsonu_raw_uint(m.raw, m.raw_len, port ? 65535 : 64, &v);
			if (r < 0) {
				jsonu_iter_release(&it);
				return text_fail(err, errlen, "%s must be an integer from 0 to %u",
						 port ? "Port" : "Queues", port ? 65535 : 64);
			}
			if (r == 0 && port)
				c.port = v ? (uint16_t)v : UDP_DEFAULT_PORT; /* 0: the default */
			else if (r == 0)
				c.queues = (unsigned)v;
		} else if (jsonu_name_eq(m.key, m.key_len, "Offload")) {
			r = jsonu_raw_bool(m.raw, m.raw_len, &b);
			if (r < 0) {
				jsonu_iter_release(&it);
				return text_fail(err, errlen, "Offload must be true or false");
			}
			if (r == 0)
				c.offload = b;
		}
	}
	jsonu_iter_release(&it);
	if (r < 0)
		return text_fail(err, errlen, "%s", r == -ENOMEM ? "out of memory" : "bad JSON");
	*ret = c;
	return 0;
}

/* ------------------------------------------------------------ peers */

static void publish_cb(void *arg)
{
	struct backend *b = arg;

	if (!b->path)
		return; /* open_path() publishes the peers */
	if (udp_path_publish(b->path, b->peers, b->npeers) < 0) {
		log_warnx("Out of memory publishing %zu udp peers, retrying", b->npeers);
		loop_timer_arm(b->loop, &b->publish, RETRY_MS);
		return;
	}
	if (udp_path_reclaim(b->path) && !b->reclaim.armed)
		loop_timer_arm(b->loop, &b->reclaim, RECLAIM_MS);
}

static void reclaim_cb(void *arg)
{
	struct backend *b = arg;

	if (b->path && udp_path_reclaim(b->path))
		loop_timer_arm(b->loop, &b->reclaim, RECLAIM_MS);
}

/* Events come in bursts: publish once per loop turn. */
static void publish_soon(struct backend *b)
{
	if (!b->publish.armed)
		loop_timer_arm(b->loop, &b->publish, 0);
}

static struct udp_route *peer_find(struct backend *b, const struct ip4net *n)
{
	for (size_t i = 0; i < b->npeers; i++)
		if (b->peers[i].net == n->addr && b->peers[i].len == n->len)
			return &b->peers[i];
	return NULL;
}

static bool usable(const struct backend *b, const struct lease *l)
{
	const struct ip4net *n = &l->subnet.v4;

	return l->has_attrs && n->len > 0 && l->attrs.public_ip != 0 &&
	       !(b->have_own && n->addr == b->own.addr && n->len == b->own.len);
}

static void log_peer(const char *what, const struct ip4net *n, uint32_t ip)
{
	char sn[IP_STRLEN], a[16];

	log_info("%s subnet: %s PublicIP: %s", what, ip4net_format(n, sn), ip4_format(ip, a));
}

static void udp_lease_removed(struct backend *b, const struct lease *l)
{
	struct udp_route *p = peer_find(b, &l->subnet.v4);

	if (!p)
		return;
	log_peer("removing", &l->subnet.v4, p->peer);
	*p = b->peers[--b->npeers];
	publish_soon(b);
}

static void udp_lease_added(struct backend *b, const struct lease *l)
{
	struct udp_route *p;

	if (!usable(b, l)) {
		udp_lease_removed(b, l);
		return;
	}
	p = peer_find(b, &l->subnet.v4);
	if (p && p->peer == l->attrs.public_ip)
		return;
	if (!p) {
		if (b->npeers == b->cap) {
			size_t cap = b->cap ? 2 * b->cap : 16;
			struct udp_route *v = realloc(b->peers, cap * sizeof(*v));

			if (!v) {
				log_warnx("Out of memory adding a udp peer, ignoring it");
				return;
			}
			b->peers = v;
			b->cap = cap;
		}
		p = &b->peers[b->npeers++];
	}
	*p = (struct udp_route){ l->subnet.v4.addr, l->subnet.v4.len, l->attrs.public_ip };
	log_peer("adding", &l->subnet.v4, p->peer);
	publish_soon(b);
}

static void udp_resync(struct backend *b, const struct lease *const *all, size_t n)
{
	struct udp_route *v = malloc((n ? n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v) {
		log_warnx("Out of memory resyncing the udp peers, keeping the current ones");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (usable(b, all[i]))
			v[k++] = (struct udp_route){ all[i]->subnet.v4.addr, all[i]->subnet.v4.len,
						     all[i]->attrs.public_ip };
	free(b->peers);
	b->peers = v;
	b->npeers = k;
	b->cap = n ? n : 1;
	log_info("udp: %zu peers", k);
	publish_soon(b);
}

/* ------------------------------------------------------------ device */

struct addr_list {
	int ifindex;
	struct nl_addr v[16];
	size_t n;
};

static int dump_addr_cb(void *arg, const struct nlmsghdr *nlh)
{
	struct addr_list *l = arg;
	struct nl_addr a;

	if (nl_parse_addr(nlh, &a) == 0 && a.ifindex == l->ifindex &&
	    l->n < sizeof(l->v) / sizeof(l->v[0]))
		l->v[l->n++] = a;
	return 0;
}

static void reset_addrs(void *arg)
{
	((struct addr_list *)arg)->n = 0;
}

/* MTU and up; with our lease also <subnet>.0/32 (other addresses in Network go) and the route. */
static int configure_device(struct backend *b)
{
	struct nl_route rt = { .dst = b->network.addr,
			       .dst_len = (uint8_t)b->network.len,
			       .oif = b->ifindex,
			       .table = RT_TABLE_MAIN,
			       .protocol = NL_RTPROT_FLANNEL,
			       .scope = RT_SCOPE_UNIVERSE,
			       .type = RTN_UNICAST };
	struct addr_list al = { .ifindex = b->ifindex };
	struct nl_addr want = { .ifindex = b->ifindex, .prefixlen = 32, .addr = b->own.addr };
	char err[256], a[IP_STRLEN];
	bool have = false;
	NL_MSG_BUF(buf);
	int r;

	r = nl_request(b->nl, nl_msg_link_set(buf, b->ifindex, b->mtu, true), 0, NULL, NULL, err,
		       sizeof(err));
	if (r < 0) {
		log_error("Failed to set %s up with MTU %u: %s", b->dev, b->mtu, err);
		return r;
	}
	if (!b->have_own)
		return 0;
	nl_msg_dump(buf, RTM_GETADDR, AF_INET, b->ifindex);
	r = nl_dump(b->nl, (const void *)buf, dump_addr_cb, reset_addrs, &al);
	if (r < 0) {
		log_error("Failed to list the addresses of %s: %s", b->dev, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < al.n; i++) {
		if (al.v[i].addr == want.addr && al.v[i].prefixlen == 32) {
			have = true;
			continue;
		}
		if (!ip4net_contains(&b->network, al.v[i].addr))
			continue;
		log_info("Removing IP address %s/%u from %s", ip4_format(al.v[i].addr, a),
			 al.v[i].prefixlen, b->dev);
		nl_request(b->nl, nl_msg_addr(buf, RTM_DELADDR, 0, &al.v[i]), NL_OK_ENOENT, NULL,
			   NULL, err, sizeof(err));
	}
	if (!have) {
		r = nl_request(b->nl,
			       nl_msg_addr(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &want),
			       NL_OK_EEXIST, NULL, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("Failed to add %s/32 to %s: %s", ip4_format(want.addr, a), b->dev,
				  err);
			return r;
		}
	}
	/* Replace rather than tolerate EEXIST: a stale route to Network elsewhere is fixed too. */
	r = nl_request(b->nl, nl_msg_route(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt),
		       NL_OK_EEXIST, NULL, NULL, err, sizeof(err));
	if (r < 0) {
		log_error("Failed to add the route %s dev %s: %s", ip4net_format(&b->network, a),
			  b->dev, err);
		return r;
	}
	if (!have)
		log_info("%s: address %s/32, mtu %u, route %s, up", b->dev,
			 ip4_format(want.addr, a), b->mtu, ip4net_format(&b->network, err));
	return 0;
}

static unsigned auto_queues(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_QUEUES_AUTO ? MAX_QUEUES_AUTO : (unsigned)n;
}

/* The TUN device, its sockets and workers; the table and TUN address as they were. */
static int open_path(struct backend *b)
{
	struct udp_path_conf pc = {
		.mtu = b->mtu,
		.bind_addr = b->ext.addr,
		.port = b->cfg.port,
		.queues = b->cfg.queues ? b->cfg.queues : auto_queues(),
		.offload = b->cfg.offload,
	};
	const char *why;
	char err[256], a[16];
	int r;

	r = udp_path_open(&pc, &b->path, err, sizeof(err));
	if (r < 0) {
		log_error("udp backend: %s", err);
		return r;
	}
	snprintf(b->dev, sizeof(b->dev), "%s", udp_path_ifname(b->path));
	b->ifindex = (int)if_nametoindex(b->dev);
	if (!b->ifindex) {
		r = -errno;
		log_error("Cannot find %s: %s", b->dev, strerror(errno));
		return r;
	}
	if (udp_path_offload(b->path, &why))
		log_info("%s: %u queues, TSO + UDP GSO/GRO offloads on", b->dev,
			 udp_path_queues(b->path));
	else
		log_warnx("%s: %u queues, plain per-packet mode (offloads off: %s)", b->dev,
			  udp_path_queues(b->path), why);
	if (b->have_own)
		udp_path_set_own(b->path, b->own.addr, b->own.len);
	r = udp_path_publish(b->path, b->peers, b->npeers);
	if (r == 0)
		r = udp_path_start(b->path);
	if (r < 0) {
		log_error("Failed to start the udp workers: %s", strerror(-r));
		return r;
	}
	log_info("udp: listening on %s:%u", ip4_format(b->ext.addr, a), b->cfg.port);
	return 0;
}

static int udp_own_lease(struct backend *b, const struct lease *own)
{
	struct udp_route *p;

	b->own = own->subnet.v4;
	b->have_own = true;
	/* A subnet that was a peer's and is now ours is no longer sent anywhere. */
	p = peer_find(b, &b->own);
	if (p) {
		*p = b->peers[--b->npeers];
		publish_soon(b);
	}
	if (!b->path)
		return 0; /* being recreated: the repair configures it */
	udp_path_set_own(b->path, b->own.addr, b->own.len);
	return configure_device(b);
}

/* ------------------------------------------------------------ self-healing */

static void heal_cb(void *arg)
{
	struct backend *b = arg;
	struct nl_link l;
	int r = nl_link_get(b->nl, NULL, b->ifindex, &l);

	if (r < 0 && r != -ENODEV) {
		log_warnx("Cannot look up %s: %s; retrying in 1s", b->dev, strerror(-r));
		loop_timer_arm(b->loop, &b->heal, RETRY_MS);
		return;
	}
	if (r == -ENODEV) {
		/* Deleted: a new device, new queues, new sockets. */
		udp_path_close(b->path);
		b->path = NULL;
		loop_timer_cancel(b->loop, &b->reclaim);
		if (open_path(b) < 0) {
			udp_path_close(b->path);
			b->path = NULL;
			log_warnx("Recreating the udp device failed, retrying in 1s");
			loop_timer_arm(b->loop, &b->heal, RETRY_MS);
			return;
		}
	}
	if (configure_device(b) < 0) {
		log_warnx("Will configure %s again in 1s", b->dev);
		loop_timer_arm(b->loop, &b->heal, RETRY_MS);
	}
}

static void heal_soon(struct backend *b, const char *why)
{
	if (b->heal.armed && b->heal.due_ms <= loop_now_ms() + HEAL_DELAY_MS) {
		log_debug(1, "%s (a repair is already due)", why);
		return;
	}
	log_warnx("%s; restoring", why);
	loop_timer_arm(b->loop, &b->heal, HEAL_DELAY_MS);
}

static bool link_wrong(const struct backend *b, const struct nl_link *l, char *why, size_t len)
{
	if (!(l->flags & IFF_UP))
		snprintf(why, len, "%s was set down", b->dev);
	else if (l->mtu != b->mtu)
		snprintf(why, len, "The MTU of %s was changed to %u", b->dev, l->mtu);
	else
		return false;
	return true;
}

static void kernel_event(void *arg, const struct nlmsghdr *nlh)
{
	struct backend *b = arg;
	char why[160], a[IP_STRLEN];
	struct nl_link l;
	struct nl_addr x;
	struct nl_route r;

	if (!b->path)
		return; /* a repair is under way */
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		if (nl_parse_link(nlh, &l) < 0 || l.index != b->ifindex)
			return;
		if (nlh->nlmsg_type == RTM_DELLINK) {
			snprintf(why, sizeof(why), "%s was deleted", b->dev);
			heal_soon(b, why);
			return;
		}
		/* Notifications arrive late (it was down before we set it up): only now counts. */
		if (link_wrong(b, &l, why, sizeof(why)) &&
		    nl_link_get(b->nl, NULL, b->ifindex, &l) == 0 &&
		    link_wrong(b, &l, why, sizeof(why)))
			heal_soon(b, why);
		break;
	case RTM_DELADDR:
		if (b->have_own && nl_parse_addr(nlh, &x) == 0 && x.ifindex == b->ifindex &&
		    x.addr == b->own.addr && x.prefixlen == 32) {
			snprintf(why, sizeof(why), "Address %s/32 was removed from %s",
				 ip4_format(x.addr, a), b->dev);
			heal_soon(b, why);
		}
		break;
	case RTM_DELROUTE:
		if (b->have_own && nl_parse_route(nlh, &r) == 0 && r.table == RT_TABLE_MAIN &&
		    r.dst == b->network.addr && r.dst_len == b->network.len &&
		    r.oif == b->ifindex) {
			snprintf(why, sizeof(why), "The route %s dev %s was deleted",
				 ip4net_format(&b->network, a), b->dev);
			heal_soon(b, why);
		}
		break;
	}
}

static void kernel_overrun(void *arg)
{
	struct backend *b = arg;

	log_info("Missed rtnetlink notifications (ENOBUFS): checking %s again", b->dev);
	if (!b->heal.armed)
		loop_timer_arm(b->loop, &b->heal, HEAL_DELAY_MS);
}

static const struct nlmon_ops monitor_ops = {
	.event = kernel_event,
	.overrun = kernel_overrun,
};

/* ------------------------------------------------------------ metrics, lifecycle */

/* Workers never log: what they flag is logged from here. */
static void watch_cb(void *arg)
{
	struct backend *b = arg;
	unsigned n;
	int e = b->path ? udp_path_gso_lost(b->path, &n) : 0;

	if (e)
		log_warnx("%s: a UDP GSO send failed (%s): %u of %u workers send plain datagrams "
			  "from now on",
			  b->dev, strerror(e), n, udp_path_queues(b->path));
	loop_timer_arm(b->loop, &b->watch, WATCH_MS);
}

static void udp_metrics(struct backend *b, FILE *out)
{
	struct udp_path_stats s = { 0 };
	const char *why;

	if (b->path)
		udp_path_get_stats(b->path, &s);
	fprintf(out,
		"# HELP flannel_udp_rx_packets_total Packets received from peers and written to "
		"the TUN device.\n# TYPE flannel_udp_rx_packets_total counter\n"
		"flannel_udp_rx_packets_total %llu\n",
		(unsigned long long)s.rx_packets);
	fprintf(out,
		"# HELP flannel_udp_rx_bytes_total Bytes of those packets.\n"
		"# TYPE flannel_udp_rx_bytes_total counter\nflannel_udp_rx_bytes_total %llu\n",
		(unsigned long long)s.rx_bytes);
	fprintf(out,
		"# HELP flannel_udp_tx_packets_total Packets (segments) sent to peers.\n"
		"# TYPE flannel_udp_tx_packets_total counter\nflannel_udp_tx_packets_total %llu\n",
		(unsigned long long)s.tx_packets);
	fprintf(out,
		"# HELP flannel_udp_tx_bytes_total Bytes sent to peers (UDP payload).\n"
		"# TYPE flannel_udp_tx_bytes_total counter\nflannel_udp_tx_bytes_total %llu\n",
		(unsigned long long)s.tx_bytes);
	fprintf(out, "# HELP flannel_udp_dropped_total Packets dropped by the udp data path, "
		     "by reason.\n# TYPE flannel_udp_dropped_total counter\n");
	for (int r = UDP_DROP_NONE + 1; r < UDP_DROP_MAX; r++)
		fprintf(out, "flannel_udp_dropped_total{reason=\"%s\"} %llu\n",
			udp_drop_name((enum udp_drop)r), (unsigned long long)s.dropped[r]);
	fprintf(out,
		"# HELP flannel_udp_peers Subnets the udp data path sends to.\n"
		"# TYPE flannel_udp_peers gauge\nflannel_udp_peers %zu\n",
		b->path ? udp_path_peer_count(b->path) : 0);
	fprintf(out,
		"# HELP flannel_udp_queues TUN queues (worker threads).\n"
		"# TYPE flannel_udp_queues gauge\nflannel_udp_queues %u\n",
		b->path ? udp_path_queues(b->path) : 0);
	fprintf(out,
		"# HELP flannel_udp_offload 1 when TSO and UDP GSO/GRO are in use.\n"
		"# TYPE flannel_udp_offload gauge\nflannel_udp_offload %d\n",
		b->path ? udp_path_offload(b->path, &why) : 0);
}

static void udp_close(struct backend *b)
{
	if (!b)
		return;
	loop_timer_cancel(b->loop, &b->publish);
	loop_timer_cancel(b->loop, &b->reclaim);
	loop_timer_cancel(b->loop, &b->heal);
	loop_timer_cancel(b->loop, &b->watch);
	/* Joins the workers; closing the last queue removes flannel0 (not persistent). */
	udp_path_close(b->path);
	nlmon_close(b->mon);
	nl_close(b->nl);
	free(b->peers);
	free(b);
}

/* Options and MTU, shared by init and --check-config; how (or why not) in msg. */
static int udp_prepare(const struct backend_env *env, struct udp_conf *cfg, unsigned *mtu,
		       char *msg, size_t msglen)
{
	const char *json = env->conf->backend_json ? env->conf->backend_json : "{}";
	char err[200];

	if (conf_parse(json, cfg, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "Invalid UDP backend config: %s", err);
		return -EINVAL;
	}
	if (env->ext->addr == 0)
		return backend_no_address(env, false, "UDP", msg, msglen);
	return backend_mtu(env, 0, UDP_OVERHEAD, "UDP", mtu, msg, msglen);
}

static int udp_check(const struct backend_env *env, unsigned *mtu, char *msg, size_t msglen)
{
	struct udp_conf cfg;

	return udp_prepare(env, &cfg, mtu, msg, msglen);
}

static int udp_init(const struct backend_env *env, struct lease_attrs *attrs, unsigned *mtu,
		    struct backend **ret)
{
	static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE };
	struct backend *b = calloc(1, sizeof(*b));
	char err[256];
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = env->loop;
	b->network = env->conf->network;
	b->ext = *env->ext;
	loop_timer_init(&b->publish, publish_cb, b);
	loop_timer_init(&b->reclaim, reclaim_cb, b);
	loop_timer_init(&b->heal, heal_cb, b);
	loop_timer_init(&b->watch, watch_cb, b);
	r = udp_prepare(env, &b->cfg, &b->mtu, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		goto fail;
	}
	log_info("UDP config: Port=%u", b->cfg.port);
	r = nl_open(&b->nl);
	if (r < 0) {
		log_error("Failed to open a netlink socket: %s", strerror(-r));
		goto fail;
	}
	r = nlmon_open(b->loop, groups, sizeof(groups) / sizeof(groups[0]), &monitor_ops, b,
		       &b->mon);
	if (r < 0) {
		log_error("Failed to listen for rtnetlink notifications: %s", strerror(-r));
		goto fail;
	}
	r = open_path(b);
	if (r < 0)
		goto fail;
	r = configure_device(b);
	if (r < 0)
		goto fail;
	/* Upstream's udp leases carry no BackendType and no BackendData. */
	loop_timer_arm(b->loop, &b->watch, WATCH_MS);
	attrs->backend_type[0] = '\0';
	free(attrs->backend_data);
	attrs->backend_data = NULL;
	*mtu = b->mtu;
	*ret = b;
	return 0;
fail:
	udp_close(b);
	return r;
}

const struct backend_ops backend_udp_ops = {
	.name = "udp",
	BACKEND_OPS_COMMON(udp),
	.metrics = udp_metrics,
};
