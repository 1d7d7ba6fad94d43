/* SPDX-License-Identifier: Apache-2.0 */
/* rtnetlink over libmnl: batched acked requests, dumps, typed links/addresses/routes/neighbours. */
#ifndef FLANNELD_NL_H
#define FLANNELD_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip.h"

struct nl;
struct nlmsghdr;

/*
 * The rtm_protocol our routes carry, so a converge only ever deletes our
 * own routes (and of those only the ones inside its own Network, since a
 * second flanneld for another network tags its routes alike). 158 (0x9e)
 * is in neither iproute2's rt_protos nor the kernel's RTPROT_* list;
 * `ip route show proto 158` lists them. Upstream installs its routes with
 * proto boot (3), the netlink library's default. The protocol stays in
 * this kernel's FIB and never reaches peers, so mixing C and Go hosts is
 * unaffected; a Go flanneld started after us replaces our routes in place
 * (same dst, table and metric).
 */
#define NL_RTPROT_FLANNEL 158

/* Upper bound for any request this module builds (the vxlan link is the largest). */
#define NL_MSG_MAX 1024
/* A suitably aligned buffer for one request. */
#define NL_MSG_BUF(name) uint64_t name[NL_MSG_MAX / sizeof(uint64_t)]

/* Errors a request may return and still count as done (nl_batch_add tolerate). */
#define NL_OK_EEXIST 0x1u
#define NL_OK_ENOENT 0x2u /* ENOENT, ESRCH (route), ENODEV: "already gone" */

struct nl_vxlan {
	char name[IF_NAMESIZE];
	uint32_t vni;
	int link;	 /* underlay ifindex; 0: none */
	uint32_t local;	 /* host byte order; 0: none */
	uint32_t group;	 /* host byte order; 0: none */
	bool has_local6; /* IFLA_VXLAN_LOCAL6: an IPv6 underlay (the flannel-v6 device) */
	struct ip6 local6;
	uint16_t port; /* destination port, host byte order; 0: kernel default (8472) */
	uint8_t ttl, tos;
	bool learning, proxy, rsc, l2miss, l3miss, gbp;
	unsigned mtu; /* 0: kernel default */
	bool has_mac;
	uint8_t mac[6];
};

/* A tunnel link without a vxlan's attributes: ipip (local, remote) or wireguard (none). */
struct nl_tunlink {
	char name[IF_NAMESIZE];
	const char *kind; /* "ipip", "wireguard" */
	unsigned mtu;	  /* 0: kernel default */
	uint32_t local;	  /* ipip: host byte order; 0: any */
	uint32_t remote;  /* ipip: host byte order; 0: any (NBMA) */
};

struct nl_link {
	int index;
	char name[IF_NAMESIZE];
	unsigned flags; /* IFF_* */
	unsigned mtu;
	bool has_mac;
	uint8_t mac[6];
	char kind[16]; /* IFLA_INFO_KIND, "" when none */
	bool is_vxlan;
	struct nl_vxlan vx; /* when is_vxlan; has_* of absent attributes read as 0 */
	uint32_t iptun_local, iptun_remote; /* kind "ipip": IFLA_IPTUN_LOCAL/REMOTE, host order */
};

/*
 * IPv6: the objects below carry a family (0 builds as AF_INET, so IPv4
 * callers set nothing new) and IPv6 fields next to the IPv4 ones. The
 * parsers set the family and fill the fields of that family only.
 */
struct nl_addr {
	uint8_t family; /* AF_INET (0) or AF_INET6 */
	int ifindex;
	uint8_t prefixlen;
	uint32_t addr; /* IFA_LOCAL (else IFA_ADDRESS), host byte order */
	struct ip6 addr6;
	uint32_t flags; /* IFA_F_* (IFA_FLAGS, else ifa_flags); parsed only */
};

struct nl_route {
	uint8_t family; /* AF_INET (0) or AF_INET6 */
	uint32_t dst;	/* host byte order */
	struct ip6 dst6;
	uint8_t dst_len;
	uint32_t gw;	/* 0: none */
	struct ip6 gw6; /* :: : none */
	int oif;	/* 0: none */
	uint32_t table;
	uint32_t priority; /* metric; 0: none */
	uint8_t protocol, scope, type;
	unsigned flags;	  /* rtm_flags (RTNH_F_ONLINK) */
	uint32_t nhid;	  /* RTA_NH_ID: the route uses this nexthop object; 0: none */
	uint32_t prefsrc; /* RTA_PREFSRC, host byte order; 0: none; parsed only */
	struct ip6 prefsrc6;
};

/*
 * A nexthop object (RTM_NEWNEXTHOP, Linux 5.3+). A route that names one
 * by id costs the kernel O(1) to add, where a route with its own gateway
 * costs a scan of every route on the same device (the kernel hashes
 * route nexthops by device only): 10000 peers take 1.2 s the classic way
 * and 0.2 s with nexthop objects.
 */
struct nl_nexthop {
	uint8_t family; /* AF_INET (0) or AF_INET6 */
	uint32_t id;
	uint32_t gw; /* host byte order */
	struct ip6 gw6;
	int oif;
	uint8_t protocol;
	unsigned flags; /* nh_flags (RTNH_F_ONLINK) */
};

struct nl_neigh {
	uint8_t family; /* AF_INET (ARP), AF_INET6 (ND) or AF_BRIDGE (FDB) */
	int ifindex;
	uint16_t state; /* NUD_* */
	uint8_t flags;	/* NTF_* */
	uint8_t type;	/* RTN_* */
	bool has_dst;
	/* NDA_DST is IPv6 (dst6): always for AF_INET6, for an FDB entry an IPv6 underlay. */
	bool dst_is6;
	uint32_t dst; /* host byte order */
	struct ip6 dst6;
	bool has_lladdr;
	uint8_t lladdr[6];
};

/*
 * Pure message building and parsing (nl_msg.c; no I/O, unit tested). Each
 * builder writes one request into buf (NL_MSG_MAX bytes) and returns it, or
 * NULL if it does not fit. Sequence numbers and NLM_F_ACK are set when the
 * request is queued. Parsers take the NEW and DEL message of their kind
 * (dump replies and notifications) and return 0 or -EINVAL (wrong type
 * or truncated).
 */
struct nlmsghdr *nl_msg_link_vxlan(void *buf, uint16_t flags, const struct nl_vxlan *v);
/* RTM_NEWLINK creating a device of t->kind (with ipip's addresses). */
struct nlmsghdr *nl_msg_link_tun(void *buf, uint16_t flags, const struct nl_tunlink *t);
struct nlmsghdr *nl_msg_link_get(void *buf, const char *name, int ifindex);
struct nlmsghdr *nl_msg_link_del(void *buf, int ifindex);
/* RTM_NEWLINK changing the MTU (0: keep) and, when set_up, setting IFF_UP. */
struct nlmsghdr *nl_msg_link_set(void *buf, int ifindex, unsigned mtu, bool set_up);
struct nlmsghdr *nl_msg_addr(void *buf, uint16_t type, uint16_t flags, const struct nl_addr *a);
struct nlmsghdr *nl_msg_route(void *buf, uint16_t type, uint16_t flags, const struct nl_route *r);
struct nlmsghdr *nl_msg_route_get(void *buf, uint32_t dst);
struct nlmsghdr *nl_msg_route_get6(void *buf, const struct ip6 *dst);
struct nlmsghdr *nl_msg_neigh(void *buf, uint16_t type, uint16_t flags, const struct nl_neigh *n);
/* RTM_NEWNEXTHOP with everything; RTM_DELNEXTHOP with the id only. */
struct nlmsghdr *nl_msg_nexthop(void *buf, uint16_t type, uint16_t flags,
				const struct nl_nexthop *nh);
/*
 * A dump request (NLM_F_DUMP) of type for family; ifindex > 0 adds a
 * filter where supported (RTM_GETNEXTHOP: NHA_OIF).
 */
struct nlmsghdr *nl_msg_dump(void *buf, uint16_t type, uint8_t family, int ifindex);

int nl_parse_link(const struct nlmsghdr *nlh, struct nl_link *ret);
int nl_parse_addr(const struct nlmsghdr *nlh, struct nl_addr *ret);
int nl_parse_route(const struct nlmsghdr *nlh, struct nl_route *ret);
int nl_parse_neigh(const struct nlmsghdr *nlh, struct nl_neigh *ret);
/* Nexthops with one gateway (or none); groups and blackholes are -EINVAL. */
int nl_parse_nexthop(const struct nlmsghdr *nlh, struct nl_nexthop *ret);
/* The kernel's extended-ack text from an NLMSG_ERROR/NLMSG_DONE message, or NULL. */
const char *nl_parse_extack(const struct nlmsghdr *nlh);
/* "RTM_NEWROUTE" etc. for log lines. */
const char *nl_type_name(uint16_t type);

/*
 * The socket (nl.c): NETLINK_ROUTE, SOCK_CLOEXEC|SOCK_NONBLOCK, extended
 * acks on, acks capped. Use is synchronous: a request to the local kernel
 * is answered while sendmsg() runs, so waiting for the acks never blocks
 * on anything but the kernel (bounded by a timeout all the same).
 */
int nl_open(struct nl **ret);
void nl_close(struct nl *nl);

/*
 * One send carries at most this many requests, and its errors are reported
 * before the next is queued: an error is about one of the last
 * NL_BATCH_REQS requests queued, so a ring of that many can name them.
 */
#define NL_BATCH_REQS 256

/*
 * Batches. Between begin and end, each request is built into the slot
 * nl_batch_slot() returns and queued with nl_batch_add(); the batch goes out
 * in one sendmsg() (several when it is large), every request with NLM_F_ACK
 * and its own sequence number, and the acks are matched back by sequence.
 * Each failed request (its error not in tolerate) is reported to the error
 * callback with its cookie, its errno (negative) and the kernel's ext-ack
 * text (NULL when none). Replies that carry data (a GET) go to the data
 * callback. -ENOBUFS means acks were lost: the outcome is unknown.
 */
typedef void (*nl_error_cb)(void *arg, uintptr_t cookie, uint16_t type, int err,
			    const char *extack);
typedef void (*nl_data_cb)(void *arg, uintptr_t cookie, const struct nlmsghdr *nlh);

void nl_batch_begin(struct nl *nl, nl_error_cb on_error, nl_data_cb on_data, void *arg);
/* NL_MSG_MAX zeroed bytes to build the next request in (may send what is queued first). */
void *nl_batch_slot(struct nl *nl);
/* Queue the request built in the slot. */
void nl_batch_add(struct nl *nl, unsigned tolerate, uintptr_t cookie);
/* Send what is left and wait for every ack: the number of failed requests. */
int nl_batch_end(struct nl *nl);

/*
 * One request, acked: 0 or its negative errno; the kernel's text (or
 * strerror) goes to err when given. A GET's reply goes to on_data.
 */
int nl_request(struct nl *nl, const struct nlmsghdr *req, unsigned tolerate, nl_data_cb on_data,
	       void *arg, char *err, size_t errlen);

/*
 * A dump: cb sees every message. When the kernel flags the dump as
 * interrupted (NLM_F_DUMP_INTR: the table changed under it) reset is
 * called and the dump starts over, a few times at most (-EINTR then).
 */
typedef int (*nl_dump_cb)(void *arg, const struct nlmsghdr *nlh);
int nl_dump(struct nl *nl, const struct nlmsghdr *req, nl_dump_cb cb, void (*reset)(void *arg),
	    void *arg);

/* Typed conveniences over the above. */
int nl_link_get(struct nl *nl, const char *name, int ifindex, struct nl_link *ret);
/* The route the kernel would use to reach dst (RTM_GETROUTE). */
int nl_route_lookup(struct nl *nl, uint32_t dst, struct nl_route *ret);
int nl_route_lookup6(struct nl *nl, const struct ip6 *dst, struct nl_route *ret);

#endif
