/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel WireGuard over generic netlink (no `wg` tool): the device's key
 * and port, its peers. Message building and parsing are pure (wg_nl_msg.c,
 * unit tested and fuzzed); the socket is wg_nl.c. Endpoints and allowed
 * IPs of either family.
 */
#ifndef FLANNELD_WG_NL_H
#define FLANNELD_WG_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/kaddr.h"

struct nlmsghdr;
struct wg_nl;

#define WG_ALLOWED_MAX 8 /* allowed IPs we track per peer; more reads as "other" */
#define WG_MSG_MAX     1024

struct wg_peer {
	uint8_t key[32];
	bool has_psk;
	uint8_t psk[32];
	struct kaddr endpoint; /* family 0: none */
	uint16_t port;
	uint16_t keepalive; /* seconds */
	size_t nallowed;
	struct kprefix allowed[WG_ALLOWED_MAX];
	bool other_allowed;  /* malformed, or more than WG_ALLOWED_MAX allowed IPs */
	bool other_endpoint; /* neither IPv4 nor IPv6 */
};

struct wg_device {
	bool has_private_key;
	uint8_t private_key[32];
	uint16_t listen_port;
	struct wg_peer *peers; /* owned */
	size_t npeers, cap;
};

void wg_device_free(struct wg_device *d);

/* Peer flags for wg_msg_set_peer (linux/wireguard.h WGPEER_F_*). */
#define WG_PEER_REMOVE		1u
#define WG_PEER_REPLACE_ALLOWED 2u

/*
 * Requests into buf (WG_MSG_MAX bytes) for generic netlink family fam;
 * NULL if they do not fit. set_device: private key (NULL: keep) and
 * listen port. set_peer: one peer with everything (endpoint, PSK or
 * zeros, keepalive, allowed IPs) or, with WG_PEER_REMOVE, its key only.
 */
struct nlmsghdr *wg_msg_get_device(void *buf, uint16_t fam, const char *ifname);
struct nlmsghdr *wg_msg_set_device(void *buf, uint16_t fam, const char *ifname,
				   const uint8_t *private_key, uint16_t listen_port);
struct nlmsghdr *wg_msg_set_peer(void *buf, uint16_t fam, const char *ifname,
				 const struct wg_peer *p, unsigned flags);
/* CTRL_CMD_GETFAMILY for "wireguard", and its reply's family id (0 or -EINVAL). */
struct nlmsghdr *wg_msg_get_family(void *buf);
int wg_parse_family(const struct nlmsghdr *nlh, uint16_t *fam);
/*
 * One message of a GET_DEVICE dump into d: device attributes, peers
 * appended (a peer split over messages is merged, as the kernel splits
 * them). 0, -EINVAL (malformed) or -ENOMEM.
 */
int wg_parse_device(const struct nlmsghdr *nlh, struct wg_device *d);

/* The socket: NETLINK_GENERIC, family resolved (the kernel loads the module). */
int wg_nl_open(struct wg_nl **ret);
void wg_nl_close(struct wg_nl *w);
uint16_t wg_nl_family(const struct wg_nl *w);
/* One acked request: 0 or -errno (the kernel's ext-ack text or strerror in err). */
int wg_nl_request(struct wg_nl *w, struct nlmsghdr *req, char *err, size_t errlen);
/* The device's state (a dump); release with wg_device_free. */
int wg_nl_get_device(struct wg_nl *w, const char *ifname, struct wg_device *ret);

#endif
