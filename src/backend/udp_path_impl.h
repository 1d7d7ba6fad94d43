/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the udp data path, shared by udp_path.c (device, sockets,
 * workers, the peer table's publication), udp_path_tx.c (TUN to peers)
 * and udp_path_rx.c (peers to TUN). Nothing else includes it.
 */
#ifndef FLANNELD_UDP_PATH_IMPL_H
#define FLANNELD_UDP_PATH_IMPL_H

#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "backend/udp_path.h"
#include "backend/udp_pkt.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define MAX_QUEUES 8
#define TX_MSGS	   64
#define TX_ARENA   (512 * 1024)
/* Room for one super-packet cut into segments (each repeats the headers). */
#define TX_ROOM	    (UDP_PKT_IP_MAX + 128 * 64)
#define TX_READS    64
#define RX_GRO_MSGS 8
#define RX_MSGS	    32
/* Rounds of work between polls, so a stop or a table swap is seen soon. */
#define ROUNDS	64
#define SCRATCH (UDP_VNET_LEN + UDP_PKT_IP_MAX)
/* A GSO send carries at most 64 segments and 64 KB. */
#define GSO_BYTES 65000
#define SOCK_BUF  (4 * 1024 * 1024)
/* A blocked send gives up this often to look at the stop flag. */
#define SNDTIMEO_MS 100

typedef _Atomic uint64_t counter;

struct counters {
	counter rx_packets, rx_bytes, tx_packets, tx_bytes;
	counter dropped[UDP_DROP_MAX];
};

struct worker {
	struct udp_path *p;
	pthread_t th;
	bool running;
	int tun, sock;
	bool gso;			   /* this worker still sends with UDP GSO */
	_Atomic int gso_err;		   /* why it stopped (the loop thread logs it) */
	_Alignas(64) _Atomic uint64_t seq; /* odd while the worker holds a table */
	_Alignas(64) struct counters c;

	uint8_t *scratch; /* one TUN read */
	uint8_t *arena;	  /* packets waiting for sendmmsg() */
	size_t arena_used;
	unsigned ntx;
	struct mmsghdr tmsg[TX_MSGS];
	struct iovec tiov[TX_MSGS];
	struct sockaddr_in taddr[TX_MSGS];
	uint16_t tsegs[TX_MSGS], tseglen[TX_MSGS];
	/* One refused GSO send again as plain datagrams. */
	struct mmsghdr fmsg[UDP_VNET_TSO_MAXSEGS];
	struct iovec fiov[UDP_VNET_TSO_MAXSEGS];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} tcm[TX_MSGS];

	uint8_t *rbuf;
	size_t rslot;
	unsigned nrx;
	struct mmsghdr rmsg[RX_MSGS];
	struct iovec riov[RX_MSGS];
	struct sockaddr_in raddr[RX_MSGS];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} rcm[RX_MSGS];
	uint8_t *gro_arena;
	struct udp_gro gro;
};

struct retired {
	struct udp_table *t;
	uint64_t seq[MAX_QUEUES];
};

struct udp_path {
	struct udp_path_conf conf;
	char ifname[IF_NAMESIZE];
	unsigned nq;
	bool vnet, tso, gso, gro;
	char why[160];
	int stop_fd;
	_Atomic bool stopping;
	bool gso_reported;
	_Atomic(struct udp_table *) table;
	/* Our subnet: address << 32 | mask (0: none yet); its address is the TUN's. */
	_Atomic uint64_t own;
	size_t npeers;
	struct retired *retired;
	size_t nretired, cap_retired;
	struct worker w[MAX_QUEUES];
};

static inline void cnt_add(counter *c, uint64_t n)
{
	/* One writer per counter: a relaxed load and store, no locked instruction. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void drop(struct worker *w, enum udp_drop r, uint64_t n)
{
	cnt_add(&w->c.dropped[r], n);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* udp_path_rx.c: one packet (and its virtio-net header) into the worker's TUN queue. */
int udp_path_tun_write(struct worker *w, const struct udp_vnet *vh, const uint8_t *pkt, size_t len);
/* The GRO coalescer's output (arg: the worker). */
void udp_path_gro_emit(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len);
/* The receive batch's buffers and headers made ready for the next recvmmsg(). */
void udp_path_rx_reset(struct worker *w);
/* Peers -> TUN: true if anything arrived. */
bool udp_path_rx_round(struct worker *w, const struct udp_table *t);

/* udp_path_tx.c: TUN -> peers: true if there was anything to read. */
bool udp_path_tx_round(struct worker *w, const struct udp_table *t);

#endif
