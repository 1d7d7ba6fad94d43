/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark helper: watch rtnetlink and report when the kernel of this
 * network namespace holds a given number of flanneld vxlan entries: routes
 * with protocol 158 inside a network, permanent ARP neighbours inside it
 * on a device, and permanent FDB entries on that device.
 *
 *	nlcount NET/LEN DEV ROUTES NEIGHS FDBS TIMEOUT_MS
 *
 * Prints "ready" once subscribed, then one line per milestone:
 *	first <realtime_us> <monotonic_us>	first counted entry of any kind
 *	routes|neighs|fdbs <realtime_us> <monotonic_us>	that count reached
 *	all <realtime_us> <monotonic_us> enobufs=<n>	every count reached; exit 0
 * or "timeout routes=.. neighs=.. fdbs=.." and exit 1. Entries are kept in
 * sets, so replaced entries count once and deleted ones are taken away.
 * When the socket overflows (ENOBUFS), the sets are rebuilt from dumps
 * taken on a second socket; the milestones after that are late by the
 * time of the dump.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nlsock.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

#define RTPROT_FLANNEL 158
#define RCVBUF	       (64 * 1024 * 1024)
#define BUFSZ	       (64 * 1024)

/* Open-addressing set of non-zero 64-bit keys; deleted slots keep a tombstone. */
#define TOMB UINT64_MAX

struct set {
	uint64_t *v;
	size_t cap, n, used;
};

enum kind { K_ROUTE, K_NEIGH, K_FDB, K_MAX };
static const char *const kind_names[K_MAX] = { "routes", "neighs", "fdbs" };

static struct set sets[K_MAX];
static size_t target[K_MAX];
static bool reached[K_MAX], any_seen;
static uint32_t net_addr, net_mask;
static const char *dev;
static int dev_index;
static unsigned long enobufs;

static uint64_t hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static int set_init(struct set *s, size_t want)
{
	s->cap = 1024;
	while (s->cap < 4 * want)
		s->cap *= 2;
	s->v = calloc(s->cap, sizeof(*s->v));
	s->n = s->used = 0;
	return s->v ? 0 : -1;
}

static void set_clear(struct set *s)
{
	memset(s->v, 0, s->cap * sizeof(*s->v));
	s->n = s->used = 0;
}

/* Slot of k, or of the first empty slot where it would go. */
static size_t set_slot(const struct set *s, uint64_t k, bool *found)
{
	size_t i = hash64(k) & (s->cap - 1);

	for (;;) {
		if (s->v[i] == k) {
			*found = true;
			return i;
		}
		if (s->v[i] == 0) {
			*found = false;
			return i;
		}
		i = (i + 1) & (s->cap - 1);
	}
}

static void set_add(struct set *s, uint64_t k)
{
	bool found;
	size_t i;

	/* Keep a quarter free, so that probing always ends (no growth needed here). */
	if (s->used + 1 >= s->cap - s->cap / 4)
		return;
	i = set_slot(s, k, &found);
	if (found)
		return;
	s->v[i] = k;
	s->n++;
	s->used++;
}

static void set_del(struct set *s, uint64_t k)
{
	bool found;
	size_t i = set_slot(s, k, &found);

	if (found) {
		s->v[i] = TOMB;
		s->n--;
	}
}

static uint64_t now_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void stamp(const char *what)
{
	printf("%s %llu %llu", what, (unsigned long long)now_us(CLOCK_REALTIME),
	       (unsigned long long)now_us(CLOCK_MONOTONIC));
}

static bool in_net(uint32_t a)
{
	return (a & net_mask) == net_addr;
}

/* Whether ifindex is our device; the device appears after we start, so look it up late. */
static bool is_dev(int ifindex)
{
	if (dev_index > 0 && ifindex == dev_index)
		return true;
	dev_index = (int)if_nametoindex(dev);
	return dev_index > 0 && ifindex == dev_index;
}

static void parse_attrs(struct rtattr *rta, int len, struct rtattr **tb, int max)
{
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}

static void on_route(const struct nlmsghdr *nlh)
{
	struct rtmsg *rtm = NLMSG_DATA(nlh);
	struct rtattr *tb[RTA_MAX + 1];
	uint32_t table, dst = 0;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)) || rtm->rtm_family != AF_INET ||
	    rtm->rtm_protocol != RTPROT_FLANNEL)
		return;
	parse_attrs(RTM_RTA(rtm), (int)RTM_PAYLOAD(nlh), tb, RTA_MAX);
	table = rtm->rtm_table;
	if (tb[RTA_TABLE] && RTA_PAYLOAD(tb[RTA_TABLE]) >= 4)
		memcpy(&table, RTA_DATA(tb[RTA_TABLE]), 4);
	if (table != RT_TABLE_MAIN || !tb[RTA_DST] || RTA_PAYLOAD(tb[RTA_DST]) != 4)
		return;
	memcpy(&dst, RTA_DATA(tb[RTA_DST]), 4);
	dst = ntohl(dst);
	if (!in_net(dst))
		return;
	if (nlh->nlmsg_type == RTM_NEWROUTE)
		set_add(&sets[K_ROUTE], ((uint64_t)rtm->rtm_dst_len << 32) | dst);
	else
		set_del(&sets[K_ROUTE], ((uint64_t)rtm->rtm_dst_len << 32) | dst);
}

static void on_neigh(const struct nlmsghdr *nlh)
{
	struct ndmsg *nd = NLMSG_DATA(nlh);
	struct rtattr *tb[NDA_MAX + 1];
	bool add = nlh->nlmsg_type == RTM_NEWNEIGH;
	uint64_t key = 0;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)) || !is_dev(nd->ndm_ifindex))
		return;
	if (add && !(nd->ndm_state & NUD_PERMANENT))
		return;
	parse_attrs((struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd))),
		    (int)(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd))), tb, NDA_MAX);
	if (nd->ndm_family == AF_INET) {
		uint32_t dst;

		if (!tb[NDA_DST] || RTA_PAYLOAD(tb[NDA_DST]) != 4)
			return;
		memcpy(&dst, RTA_DATA(tb[NDA_DST]), 4);
		dst = ntohl(dst);
		if (!in_net(dst))
			return;
		if (add)
			set_add(&sets[K_NEIGH], dst);
		else
			set_del(&sets[K_NEIGH], dst);
	} else if (nd->ndm_family == AF_BRIDGE) {
		if (!tb[NDA_LLADDR] || RTA_PAYLOAD(tb[NDA_LLADDR]) != ETH_ALEN)
			return;
		memcpy(&key, RTA_DATA(tb[NDA_LLADDR]), ETH_ALEN);
		/* The all-zero MAC is the default destination, not a peer. */
		if (key == 0)
			return;
		if (add)
			set_add(&sets[K_FDB], key);
		else
			set_del(&sets[K_FDB], key);
	}
}

/* Handle one buffer of messages; returns 1 once every target is met. */
static int handle(const char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	int left = (int)len;
	bool all = true;

	for (; NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
		switch (nlh->nlmsg_type) {
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			on_route(nlh);
			break;
		case RTM_NEWNEIGH:
		case RTM_DELNEIGH:
			on_neigh(nlh);
			break;
		}
	}
	for (int k = 0; k < K_MAX; k++) {
		if (!any_seen && sets[k].n > 0) {
			any_seen = true;
			stamp("first");
			printf("\n");
		}
		if (!reached[k] && sets[k].n >= target[k]) {
			reached[k] = true;
			stamp(kind_names[k]);
			printf("\n");
		}
		all &= reached[k];
	}
	fflush(stdout);
	return all;
}

/* Dump one table into the sets; returns 1 when every target is met, -1 on error. */
static int dump(int fd, uint16_t type, uint8_t family, char *buf)
{
	struct {
		struct nlmsghdr nlh;
		union {
			struct rtmsg rt;
			struct ndmsg nd;
		};
	} req = { 0 };
	int done = 0;

	req.nlh.nlmsg_len = NLMSG_LENGTH(type == RTM_GETROUTE ? sizeof(req.rt) : sizeof(req.nd));
	req.nlh.nlmsg_type = type;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = 1;
	if (type == RTM_GETROUTE)
		req.rt.rtm_family = family;
	else
		req.nd.ndm_family = family;
	if (send(fd, &req, req.nlh.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		ssize_t n = recv(fd, buf, BUFSZ, 0);
		const struct nlmsghdr *nlh = (const void *)buf;
		int left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done = handle(buf, (size_t)n);
		left = (int)n;
		for (; NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
			if (nlh->nlmsg_type == NLMSG_ERROR)
				return -1;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return done;
		}
	}
}

static int redump(char *buf)
{
	int fd = nlsock_open(0, RCVBUF), r = 0;

	if (fd < 0)
		return -1;
	for (int k = 0; k < K_MAX; k++)
		set_clear(&sets[k]);
	if (dump(fd, RTM_GETROUTE, AF_INET, buf) < 0 || dump(fd, RTM_GETNEIGH, AF_INET, buf) < 0 ||
	    (r = dump(fd, RTM_GETNEIGH, AF_BRIDGE, buf)) < 0)
		r = -1;
	close(fd);
	return r;
}

static int parse_net(const char *s)
{
	char a[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	long len;

	if (!slash || (size_t)(slash - s) >= sizeof(a))
		return -1;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	len = strtol(slash + 1, NULL, 10);
	if (inet_pton(AF_INET, a, &in) != 1 || len < 1 || len > 32)
		return -1;
	net_mask = (uint32_t)(0xffffffffu << (32 - len));
	net_addr = ntohl(in.s_addr) & net_mask;
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[BUFSZ];
	uint64_t deadline;
	long timeout_ms;
	int fd, k;

	if (argc != 7 || parse_net(argv[1]) < 0) {
		fprintf(stderr, "usage: nlcount NET/LEN DEV ROUTES NEIGHS FDBS TIMEOUT_MS\n");
		return 2;
	}
	dev = argv[2];
	for (k = 0; k < K_MAX; k++) {
		target[k] = strtoul(argv[3 + k], NULL, 10);
		if (set_init(&sets[k], target[k]) < 0)
			return 2;
	}
	timeout_ms = strtol(argv[6], NULL, 10);
	fd = nlsock_open(RTMGRP_IPV4_ROUTE | RTMGRP_NEIGH, RCVBUF);
	if (fd < 0) {
		perror("nlcount: netlink socket");
		return 2;
	}
	deadline = now_us(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		uint64_t now = now_us(CLOCK_MONOTONIC);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = 0;

		if (now >= deadline)
			break;
		if (poll(&p, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == ENOBUFS) {
			enobufs++;
			r = redump(buf);
		} else if (n > 0) {
			r = handle(buf, (size_t)n);
		} else if (n < 0 && errno != EINTR && errno != EAGAIN) {
			perror("nlcount: recv");
			return 2;
		}
		if (r < 0) {
			perror("nlcount: dump");
			return 2;
		}
		if (r > 0) {
			stamp("all");
			printf(" enobufs=%lu\n", enobufs);
			return 0;
		}
	}
	printf("timeout routes=%zu neighs=%zu fdbs=%zu enobufs=%lu\n", sets[K_ROUTE].n,
	       sets[K_NEIGH].n, sets[K_FDB].n, enobufs);
	return 1;
}
