/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp backend data path: the TUN queues, one SO_REUSEPORT socket and one
 * worker thread per queue, and the peer table they read. The control plane
 * publishes a new immutable table with an atomic pointer swap; old tables
 * are freed once every worker has passed a quiescent point (no locks and
 * no allocation on the packet path).
 */
#ifndef FLANNELD_UDP_PATH_H
#define FLANNELD_UDP_PATH_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/udp_pkt.h"

struct udp_path;

struct udp_path_conf {
	unsigned mtu;	    /* of the TUN device: the largest inner packet */
	uint32_t bind_addr; /* host byte order */
	uint16_t port;
	unsigned queues; /* workers wanted (1 when the kernel has no multi-queue TUN) */
	bool offload;	 /* try TSO/UDP GSO/GRO (false: plain per-packet mode) */
};

struct udp_path_stats {
	uint64_t rx_packets, rx_bytes; /* from peers, written to the TUN */
	uint64_t tx_packets, tx_bytes; /* read from the TUN, sent to peers (per segment) */
	uint64_t dropped[UDP_DROP_MAX];
};

/*
 * Create the TUN device (flannel%d) with its queues and bind the sockets;
 * no threads yet. On failure a negative errno with the reason in err.
 */
int udp_path_open(const struct udp_path_conf *c, struct udp_path **ret, char *err, size_t errlen);
const char *udp_path_ifname(const struct udp_path *p);
unsigned udp_path_queues(const struct udp_path *p);
/* Whether the offloads are on; when not, why (for one log line). */
bool udp_path_offload(const struct udp_path *p, const char **why);
/*
 * Whether some worker has turned UDP GSO off after a refused GSO send: its
 * errno the first time this sees one (and how many workers), 0 otherwise.
 */
int udp_path_gso_lost(struct udp_path *p, unsigned *nworkers);
/* Start the workers. */
int udp_path_start(struct udp_path *p);
/*
 * Our subnet (host byte order; len 0: none yet). Its address is the TUN's,
 * where ICMP errors come from; only datagrams to it are taken in.
 */
void udp_path_set_own(struct udp_path *p, uint32_t net, unsigned len);
/* Build and publish a table for routes; -ENOMEM keeps the old one. */
int udp_path_publish(struct udp_path *p, const struct udp_route *r, size_t n);
/* Free the retired tables no worker can still hold: how many remain. */
size_t udp_path_reclaim(struct udp_path *p);
size_t udp_path_peer_count(const struct udp_path *p);
/* Sum of the workers' counters (relaxed reads). */
void udp_path_get_stats(const struct udp_path *p, struct udp_path_stats *ret);
/* Stop and join the workers, close everything (the TUN device goes away); NULL-safe. */
void udp_path_close(struct udp_path *p);

#endif
