/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp backend data path. Each worker owns one TUN queue and one UDP socket
 * (SO_REUSEPORT, all bound to the same address and port) and moves packets
 * both ways in batches: TUN reads (TCP super-packets with TSO) are cut into
 * plain IP packets and sent with UDP GSO in one sendmmsg(); recvmmsg()
 * with UDP GRO brings trains of datagrams that are coalesced back into
 * super-packets for the TUN. Every datagram on the wire is one plain IPv4
 * packet, as upstream's. Workers never log and never call into the loop;
 * they count.
 */
#include "backend/udp_path.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

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

static void cnt_add(counter *c, uint64_t n)
{
	/* One writer per counter: a relaxed load and store, no locked instruction. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void drop(struct worker *w, enum udp_drop r, uint64_t n)
{
	cnt_add(&w->c.dropped[r], n);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------ TUN side */

static int tun_write(struct worker *w, const struct udp_vnet *vh, const uint8_t *pkt, size_t len)
{
	struct udp_vnet h = *vh;
	struct iovec iov[2] = { { &h, UDP_VNET_LEN }, { (void *)(uintptr_t)pkt, len } };
	ssize_t r;

	if (w->p->vnet)
		r = writev(w->tun, iov, 2);
	else
		r = write(w->tun, pkt, len);
	return r < 0 ? -errno : 0;
}

/* Packets from peers to the TUN, counted as the segments they were on the wire. */
static void rx_deliver(struct worker *w, const struct udp_vnet *vh, const uint8_t *pkt, size_t len)
{
	uint64_t n = 1, bytes = len;

	if (vh->gso_type != UDP_VNET_GSO_NONE && vh->gso_size && len > vh->hdr_len) {
		n = (len - vh->hdr_len + vh->gso_size - 1) / vh->gso_size;
		bytes = len + (n - 1) * vh->hdr_len;
	}
	if (tun_write(w, vh, pkt, len) < 0) {
		drop(w, UDP_DROP_IO, n);
		return;
	}
	cnt_add(&w->c.rx_packets, n);
	cnt_add(&w->c.rx_bytes, bytes);
}

static void send_unreachable(struct worker *w, const uint8_t *pkt, size_t len)
{
	uint32_t src = (uint32_t)(atomic_load_explicit(&w->p->own, memory_order_relaxed) >> 32);
	uint8_t buf[128];
	size_t n;

	if (!src)
		return;
	n = udp_pkt_icmp_unreach(buf, sizeof(buf), pkt, len, src);
	if (n && tun_write(w, &(struct udp_vnet){ 0 }, buf, n) < 0)
		drop(w, UDP_DROP_IO, 1);
}

/* ------------------------------------------------------------ transmit */

static void tx_queue(struct worker *w, uint32_t peer, size_t off, size_t len, size_t seg_len,
		     unsigned nseg)
{
	unsigned i = w->ntx++;
	struct msghdr *h = &w->tmsg[i].msg_hdr;

	w->taddr[i] = (struct sockaddr_in){ .sin_family = AF_INET,
					    .sin_port = htons(w->p->conf.port),
					    .sin_addr.s_addr = htonl(peer) };
	w->tiov[i] = (struct iovec){ w->arena + off, len };
	w->tsegs[i] = (uint16_t)nseg;
	w->tseglen[i] = (uint16_t)seg_len;
	*h = (struct msghdr){ .msg_name = &w->taddr[i],
			      .msg_namelen = sizeof(w->taddr[i]),
			      .msg_iov = &w->tiov[i],
			      .msg_iovlen = 1 };
	if (nseg > 1) {
		struct cmsghdr *cm;
		uint16_t gso = (uint16_t)seg_len;

		h->msg_control = w->tcm[i].buf;
		h->msg_controllen = sizeof(w->tcm[i].buf);
		cm = CMSG_FIRSTHDR(h);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(gso));
		memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
	}
}

/*
 * Blocking: a full send buffer slows the TUN reads down instead of dropping.
 * SO_SNDTIMEO wakes it up to see a stop (then EAGAIN is returned).
 */
static int send_batch(struct worker *w, struct mmsghdr *v, unsigned n)
{
	for (;;) {
		int r = sendmmsg(w->sock, v, n, 0);

		if (r >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    atomic_load_explicit(&w->p->stopping, memory_order_relaxed))
			return r;
	}
}

static void tx_sent(struct worker *w, uint64_t segs, uint64_t bytes)
{
	cnt_add(&w->c.tx_packets, segs);
	cnt_add(&w->c.tx_bytes, bytes);
}

/*
 * GSO message i was refused: EMSGSIZE when a segment does not fit the path
 * MTU (plain datagrams get fragmented), EIO through xfrm or without TX
 * checksumming, EINVAL on older kernels for either. Send its segments (seg_len
 * apart in the arena) one by one; on EIO and EINVAL this worker stops using GSO.
 */
static void tx_unbatch(struct worker *w, unsigned i, int err)
{
	uint8_t *base = w->tiov[i].iov_base;
	size_t len = w->tiov[i].iov_len, seg = w->tseglen[i];
	unsigned n = 0, done = 0;

	if (err != EMSGSIZE && w->gso) {
		w->gso = false;
		atomic_store_explicit(&w->gso_err, err, memory_order_relaxed);
	}
	for (size_t off = 0; off < len && n < UDP_VNET_TSO_MAXSEGS; off += seg, n++) {
		w->fiov[n] = (struct iovec){ base + off, len - off < seg ? len - off : seg };
		w->fmsg[n].msg_hdr = (struct msghdr){ .msg_name = &w->taddr[i],
						      .msg_namelen = sizeof(w->taddr[i]),
						      .msg_iov = &w->fiov[n],
						      .msg_iovlen = 1 };
	}
	while (done < n) {
		int r = send_batch(w, w->fmsg + done, n - done);

		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			drop(w, UDP_DROP_IO, n - done); /* stopping */
			return;
		}
		if (r < 0) {
			drop(w, UDP_DROP_IO, 1);
			done++;
			continue;
		}
		for (int k = 0; k < r; k++)
			tx_sent(w, 1, w->fiov[done + (unsigned)k].iov_len);
		done += (unsigned)r;
	}
}

/* Send what is queued; the arena stays (queued super-packet remainders live there). */
static void tx_send(struct worker *w)
{
	unsigned done = 0;

	while (done < w->ntx) {
		int r = send_batch(w, w->tmsg + done, w->ntx - done);
		int e = errno;

		if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
			for (; done < w->ntx; done++) /* stopping: what is left goes */
				drop(w, UDP_DROP_IO, w->tsegs[done]);
			break;
		}
		if (r < 0) {
			if (w->tsegs[done] > 1 && (e == EMSGSIZE || e == EINVAL || e == EIO))
				tx_unbatch(w, done, e);
			else /* refused (no route...): skip it */
				drop(w, UDP_DROP_IO, w->tsegs[done]);
			done++;
			continue;
		}
		for (int k = 0; k < r; k++)
			tx_sent(w, w->tsegs[done + (unsigned)k],
				w->tiov[done + (unsigned)k].iov_len);
		done += (unsigned)r;
	}
	w->ntx = 0;
}

static void tx_flush(struct worker *w)
{
	tx_send(w);
	w->arena_used = 0;
}

/* A super-packet: segment it into the arena, queue it in GSO sends of equal segments. */
static void tx_super(struct worker *w, const struct udp_vnet *vh, uint8_t *pkt, size_t len,
		     uint32_t peer)
{
	struct udp_segs s;
	size_t per, off = w->arena_used;
	enum udp_drop r;

	r = udp_pkt_tso(vh, pkt, len, w->p->conf.mtu, w->arena + off, TX_ARENA - off, &s);
	if (r == UDP_DROP_OVERSIZE && off > 0) {
		/* A tiny MSS repeats the headers often: retry in an empty arena. */
		tx_flush(w);
		off = 0;
		r = udp_pkt_tso(vh, pkt, len, w->p->conf.mtu, w->arena, TX_ARENA, &s);
	}
	if (r) {
		drop(w, r, 1);
		return;
	}
	per = w->gso ? GSO_BYTES / s.seg_len : 1;
	if (per > UDP_VNET_TSO_MAXSEGS)
		per = UDP_VNET_TSO_MAXSEGS;
	if (per < 1)
		per = 1;
	for (size_t i = 0; i < s.n; i += per) {
		size_t k = s.n - i < per ? s.n - i : per;
		size_t bytes = i + k < s.n ? k * s.seg_len : s.total - i * s.seg_len;

		if (w->ntx >= TX_MSGS)
			tx_send(w);
		tx_queue(w, peer, off, bytes, s.seg_len, (unsigned)k);
		off += bytes;
	}
	w->arena_used = off;
}

static void tun_packet(struct worker *w, const struct udp_table *t, size_t n)
{
	size_t voff = w->p->vnet ? UDP_VNET_LEN : 0;
	uint8_t *pkt = w->scratch + voff;
	struct udp_vnet vh = { 0 };
	const struct udp_route *rt;
	size_t len;
	enum udp_drop r;
	bool super;

	if (n < voff) {
		drop(w, UDP_DROP_OFFLOAD, 1);
		return;
	}
	len = n - voff;
	if (voff)
		memcpy(&vh, w->scratch, sizeof(vh));
	super = vh.gso_type != UDP_VNET_GSO_NONE;
	if (!super && (vh.flags & UDP_VNET_NEEDS_CSUM)) {
		r = udp_pkt_csum_finish(pkt, len, &vh);
		if (r) {
			drop(w, r, 1);
			return;
		}
	}
	r = udp_pkt_check(pkt, len, super ? UDP_PKT_IP_MAX : w->p->conf.mtu);
	if (r) {
		drop(w, r, 1);
		return;
	}
	rt = udp_table_lookup(t, get32(pkt + 16));
	if (!rt) {
		send_unreachable(w, pkt, len);
		drop(w, UDP_DROP_NO_ROUTE, 1);
		return;
	}
	r = udp_pkt_dec_ttl(pkt);
	if (r) {
		drop(w, r, 1);
		return;
	}
	if (super) {
		tx_super(w, &vh, pkt, len, rt->peer);
		return;
	}
	memcpy(w->arena + w->arena_used, pkt, len);
	tx_queue(w, rt->peer, w->arena_used, len, len, 1);
	w->arena_used += len;
}

/* TUN -> peers: true if there was anything to read. */
static bool tx_round(struct worker *w, const struct udp_table *t)
{
	bool did = false;

	for (int i = 0; i < TX_READS; i++) {
		ssize_t n;

		if (w->ntx >= TX_MSGS || TX_ARENA - w->arena_used < TX_ROOM)
			tx_flush(w);
		n = read(w->tun, w->scratch, SCRATCH);
		if (n < 0)
			break; /* EAGAIN; a dead queue shows up as POLLERR */
		did = true;
		tun_packet(w, t, (size_t)n);
	}
	tx_flush(w);
	return did;
}

/* ------------------------------------------------------------ receive */

static void gro_emit(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len)
{
	rx_deliver(arg, vh, p, len);
}

/* One packet from peer: well formed, from that peer's subnet, to ours. */
static void rx_datagram(struct worker *w, const struct udp_table *t, uint32_t peer, uint64_t own,
			uint8_t *d, size_t len)
{
	enum udp_drop r = udp_pkt_check(d, len, w->p->conf.mtu);

	if (!r)
		r = udp_pkt_check_addrs(t, peer, d, (uint32_t)(own >> 32), (uint32_t)own);
	if (!r)
		r = udp_pkt_dec_ttl(d);
	if (r) {
		drop(w, r, 1);
		return;
	}
	if (w->p->vnet)
		udp_gro_add(&w->gro, d, len);
	else
		rx_deliver(w, &(struct udp_vnet){ 0 }, d, len);
}

static void rx_reset(struct worker *w)
{
	for (unsigned i = 0; i < w->nrx; i++) {
		struct msghdr *h = &w->rmsg[i].msg_hdr;

		w->riov[i] = (struct iovec){ w->rbuf + i * w->rslot, w->rslot };
		*h = (struct msghdr){ .msg_name = &w->raddr[i],
				      .msg_namelen = sizeof(w->raddr[i]),
				      .msg_iov = &w->riov[i],
				      .msg_iovlen = 1,
				      .msg_control = w->p->gro ? w->rcm[i].buf : NULL,
				      .msg_controllen = w->p->gro ? sizeof(w->rcm[i].buf) : 0 };
	}
}

static size_t gro_size(struct msghdr *h)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		int v;

		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(v))) {
			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

/* Peers -> TUN: true if anything arrived. */
static bool rx_round(struct worker *w, const struct udp_table *t)
{
	int n = recvmmsg(w->sock, w->rmsg, w->nrx, MSG_DONTWAIT, NULL);
	uint64_t own;

	if (n <= 0)
		return false;
	own = atomic_load_explicit(&w->p->own, memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &w->rmsg[i].msg_hdr;
		size_t len = w->rmsg[i].msg_len, step = gro_size(h);
		size_t count = step ? (len + step - 1) / step : 1;
		uint8_t *b = w->rbuf + (size_t)i * w->rslot;
		uint32_t src = ntohl(w->raddr[i].sin_addr.s_addr);

		if (h->msg_flags & MSG_TRUNC) {
			drop(w, UDP_DROP_OVERSIZE, count);
			continue;
		}
		if (h->msg_namelen < sizeof(struct sockaddr_in) ||
		    w->raddr[i].sin_family != AF_INET || !udp_table_has_peer(t, src)) {
			drop(w, UDP_DROP_UNKNOWN_PEER, count);
			continue;
		}
		if (len == 0) {
			drop(w, UDP_DROP_SHORT, 1);
			continue;
		}
		if (!step)
			step = len;
		for (size_t off = 0; off < len; off += step)
			rx_datagram(w, t, src, own, b + off, len - off < step ? len - off : step);
	}
	if (w->p->vnet)
		udp_gro_flush(&w->gro);
	rx_reset(w);
	return true;
}

/* ------------------------------------------------------------ workers */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct udp_path *p = w->p;
	struct pollfd pfd[3] = { { w->tun, POLLIN, 0 },
				 { w->sock, POLLIN, 0 },
				 { p->stop_fd, POLLIN, 0 } };

	while (!atomic_load_explicit(&p->stopping, memory_order_relaxed)) {
		if (poll(pfd, 3, -1) < 0) {
			/* Leaving would blackhole this queue: only a stop ends the loop. */
			if (errno != EINTR)
				nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
			continue;
		}
		if (pfd[2].revents)
			break;
		/* A queue whose device was deleted stays in error: stop watching it. */
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			pfd[0].fd = -1;
		for (int round = 0; round < ROUNDS; round++) {
			const struct udp_table *t;
			bool did;

			/* Odd: holding a table. seq_cst orders this before the load below. */
			atomic_fetch_add(&w->seq, 1);
			t = atomic_load(&p->table);
			did = rx_round(w, t);
			did |= pfd[0].fd >= 0 && tx_round(w, t);
			atomic_fetch_add_explicit(&w->seq, 1, memory_order_release);
			if (!did || atomic_load_explicit(&p->stopping, memory_order_relaxed))
				break;
		}
	}
	return NULL;
}

static int tun_open(const char *name, short flags, char *ret_name)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (ret_name)
		snprintf(ret_name, IF_NAMESIZE, "%s", ifr.ifr_name);
	return fd;
}

static void sock_buffers(int fd)
{
	int v = SOCK_BUF;

	/* FORCE needs CAP_NET_ADMIN, which we have; otherwise what rmem_max allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int sock_open(struct udp_path *p, bool first, char *err, size_t errlen)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(p->conf.port),
				 .sin_addr.s_addr = htonl(p->conf.bind_addr) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, zero = 0, r;
	struct timeval tmo = { 0, SNDTIMEO_MS * 1000 };
	char ip[INET_ADDRSTRLEN];

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create a UDP socket: %s", strerror(-r));
		return r;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot bind UDP %s:%u: %s",
			 inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip)), p->conf.port,
			 strerror(-r));
		close(fd);
		return r;
	}
	sock_buffers(fd);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	if (first && p->vnet) {
		/* Probes: UDP_SEGMENT 0 is valid and changes nothing. */
		p->gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0;
		if (!p->gso)
			snprintf(p->why, sizeof(p->why), "UDP_SEGMENT: %s", strerror(errno));
	}
	if (p->vnet && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0)
		p->gro = true;
	else if (first && p->vnet)
		snprintf(p->why, sizeof(p->why), "UDP_GRO: %s", strerror(errno));
	return fd;
}

/*
 * SO_REUSEPORT would let a second flanneld share the port and take half the
 * flows: a bind without it fails if anyone holds the port.
 */
static int port_probe(struct udp_path *p, char *err, size_t errlen)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(p->conf.port),
				 .sin_addr.s_addr = htonl(p->conf.bind_addr) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;
	char ip[INET_ADDRSTRLEN];

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create a UDP socket: %s", strerror(-r));
		return r;
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EADDRINUSE) {
		r = -EADDRINUSE;
		snprintf(err, errlen,
			 "UDP port %u on %s is already in use (another flanneld running?)",
			 p->conf.port, inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip)));
	}
	close(fd);
	return r;
}

static int worker_alloc(struct udp_path *p, struct worker *w)
{
	w->p = p;
	w->gso = p->gso;
	w->nrx = p->gro ? RX_GRO_MSGS : RX_MSGS;
	w->rslot = p->gro ? 65536 : ((p->conf.mtu + 64 + 63) & ~(size_t)63);
	w->scratch = malloc(SCRATCH);
	w->arena = malloc(TX_ARENA);
	w->rbuf = malloc(w->nrx * w->rslot);
	if (p->vnet)
		w->gro_arena = malloc((size_t)UDP_GRO_ITEMS * UDP_PKT_IP_MAX);
	if (!w->scratch || !w->arena || !w->rbuf || (p->vnet && !w->gro_arena))
		return -ENOMEM;
	if (p->vnet)
		udp_gro_init(&w->gro, w->gro_arena, gro_emit, w);
	rx_reset(w);
	return 0;
}

int udp_path_open(const struct udp_path_conf *c, struct udp_path **ret, char *err, size_t errlen)
{
	struct udp_path *p;
	void *mem;
	short base = IFF_TUN | IFF_NO_PI, flags;
	unsigned off = TUN_F_CSUM | TUN_F_TSO4;
	int r, fd;

	/* The workers' counters sit on their own cache lines (_Alignas(64)). */
	if (posix_memalign(&mem, 64, sizeof(*p)) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p = memset(mem, 0, sizeof(*p));
	for (unsigned i = 0; i < MAX_QUEUES; i++)
		p->w[i].tun = p->w[i].sock = -1;
	p->conf = *c;
	p->nq = c->queues < 1 ? 1 : c->queues > MAX_QUEUES ? MAX_QUEUES : c->queues;
	p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&p->table, udp_table_build(NULL, 0));
	if (p->stop_fd < 0 || !atomic_load(&p->table)) {
		r = p->stop_fd < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "%s", strerror(-r));
		goto fail;
	}
	flags = base | (c->offload ? IFF_VNET_HDR : 0) | (p->nq > 1 ? IFF_MULTI_QUEUE : 0);
	fd = tun_open("flannel%d", flags, p->ifname);
	if (fd < 0 && flags != base) {
		snprintf(p->why, sizeof(p->why), "TUNSETIFF with IFF_VNET_HDR|IFF_MULTI_QUEUE: %s",
			 strerror(-fd));
		flags = base;
		p->nq = 1;
		fd = tun_open("flannel%d", flags, p->ifname);
	}
	if (fd < 0) {
		r = fd;
		snprintf(err, errlen, "cannot create the TUN device: %s", strerror(-r));
		goto fail;
	}
	p->w[0].tun = fd;
	p->vnet = flags & IFF_VNET_HDR;
	for (unsigned q = 1; q < p->nq; q++) {
		fd = tun_open(p->ifname, flags, NULL);
		if (fd < 0) {
			p->nq = q; /* fewer queues, still working */
			break;
		}
		p->w[q].tun = fd;
	}
	if (p->vnet) {
		p->tso = true;
		for (unsigned q = 0; q < p->nq; q++)
			if (ioctl(p->w[q].tun, TUNSETOFFLOAD, off) < 0)
				p->tso = false;
		if (!p->tso)
			snprintf(p->why, sizeof(p->why), "TUNSETOFFLOAD: %s", strerror(errno));
	}
	r = port_probe(p, err, errlen);
	if (r < 0)
		goto fail;
	for (unsigned q = 0; q < p->nq; q++) {
		fd = sock_open(p, q == 0, err, errlen);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		p->w[q].sock = fd;
	}
	for (unsigned q = 0; q < p->nq; q++) {
		r = worker_alloc(p, &p->w[q]);
		if (r < 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	*ret = p;
	return 0;
fail:
	udp_path_close(p);
	return r;
}

const char *udp_path_ifname(const struct udp_path *p)
{
	return p->ifname;
}

unsigned udp_path_queues(const struct udp_path *p)
{
	return p->nq;
}

bool udp_path_offload(const struct udp_path *p, const char **why)
{
	bool on = p->vnet && p->tso && p->gso && p->gro;

	*why = on ? "" : p->why[0] ? p->why : "disabled";
	for (unsigned q = 0; q < p->nq && on; q++)
		if (atomic_load_explicit(&p->w[q].gso_err, memory_order_relaxed)) {
			*why = "a UDP GSO send failed";
			on = false;
		}
	return on;
}

int udp_path_gso_lost(struct udp_path *p, unsigned *nworkers)
{
	int err = 0;

	*nworkers = 0;
	for (unsigned q = 0; q < p->nq; q++) {
		int e = atomic_load_explicit(&p->w[q].gso_err, memory_order_relaxed);

		if (e) {
			err = e;
			++*nworkers;
		}
	}
	if (!err || p->gso_reported)
		return 0;
	p->gso_reported = true;
	return err;
}

int udp_path_start(struct udp_path *p)
{
	sigset_t all, old;
	int r = 0;

	/* Signals stay with the loop thread (signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned q = 0; q < p->nq && r == 0; q++) {
		char name[16];

		r = -pthread_create(&p->w[q].th, NULL, worker_main, &p->w[q]);
		if (r == 0) {
			p->w[q].running = true;
			snprintf(name, sizeof(name), "flannel-udp%u", q % 10);
			pthread_setname_np(p->w[q].th, name);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

void udp_path_set_own(struct udp_path *p, uint32_t net, unsigned len)
{
	uint32_t mask = len ? 0xffffffffu << (32 - (len > 32 ? 32 : len)) : 0;

	atomic_store_explicit(&p->own, (uint64_t)(net & mask) << 32 | mask, memory_order_relaxed);
}

int udp_path_publish(struct udp_path *p, const struct udp_route *r, size_t n)
{
	struct udp_table *t = udp_table_build(r, n), *old;
	struct retired *x;

	if (!t)
		return -ENOMEM;
	if (p->nretired == p->cap_retired) {
		size_t cap = p->cap_retired ? 2 * p->cap_retired : 4;
		struct retired *v = realloc(p->retired, cap * sizeof(*v));

		if (!v) {
			udp_table_free(t);
			return -ENOMEM;
		}
		p->retired = v;
		p->cap_retired = cap;
	}
	old = atomic_exchange(&p->table, t);
	x = &p->retired[p->nretired++];
	x->t = old;
	/* After the swap (seq_cst): a worker seen quiescent here takes the new table. */
	for (unsigned q = 0; q < p->nq; q++)
		x->seq[q] = atomic_load(&p->w[q].seq);
	p->npeers = udp_table_count(t);
	udp_path_reclaim(p);
	return 0;
}

size_t udp_path_reclaim(struct udp_path *p)
{
	size_t k = 0;

	for (size_t i = 0; i < p->nretired; i++) {
		struct retired *x = &p->retired[i];
		bool safe = true;

		for (unsigned q = 0; q < p->nq && safe; q++)
			safe = !(x->seq[q] & 1) || atomic_load(&p->w[q].seq) != x->seq[q];
		if (safe)
			udp_table_free(x->t);
		else
			p->retired[k++] = *x;
	}
	p->nretired = k;
	return k;
}

size_t udp_path_peer_count(const struct udp_path *p)
{
	return p->npeers;
}

void udp_path_get_stats(const struct udp_path *p, struct udp_path_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned q = 0; q < p->nq; q++) {
		const struct counters *c = &p->w[q].c;

		ret->rx_packets += atomic_load_explicit(&c->rx_packets, memory_order_relaxed);
		ret->rx_bytes += atomic_load_explicit(&c->rx_bytes, memory_order_relaxed);
		ret->tx_packets += atomic_load_explicit(&c->tx_packets, memory_order_relaxed);
		ret->tx_bytes += atomic_load_explicit(&c->tx_bytes, memory_order_relaxed);
		for (int r = 0; r < UDP_DROP_MAX; r++)
			ret->dropped[r] +=
				atomic_load_explicit(&c->dropped[r], memory_order_relaxed);
	}
}

void udp_path_close(struct udp_path *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	atomic_store(&p->stopping, true);
	/* Should the write fail, the flag stops them at their next round. */
	if (p->stop_fd >= 0 && write(p->stop_fd, &one, sizeof(one)) < 0)
		one = 0;
	for (unsigned q = 0; q < MAX_QUEUES; q++) {
		struct worker *w = &p->w[q];

		if (w->running)
			pthread_join(w->th, NULL);
		if (w->tun >= 0)
			close(w->tun);
		if (w->sock >= 0)
			close(w->sock);
		free(w->scratch);
		free(w->arena);
		free(w->rbuf);
		free(w->gro_arena);
	}
	for (size_t i = 0; i < p->nretired; i++)
		udp_table_free(p->retired[i].t);
	free(p->retired);
	udp_table_free(atomic_load(&p->table));
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	free(p);
}
