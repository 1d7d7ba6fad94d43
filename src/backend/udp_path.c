/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp backend data path. Each worker owns one TUN queue and one UDP socket
 * (SO_REUSEPORT, all bound to the same address and port) and moves packets
 * both ways in batches: TUN reads (TCP super-packets with TSO) are cut into
 * plain IP packets and sent with UDP GSO in one sendmmsg(); recvmmsg()
 * with UDP GRO brings trains of datagrams that are coalesced back into
 * super-packets for the TUN. Every datagram on the wire is one plain IPv4
 * packet, as upstream's. Workers never log and never call into the loop;
 * they count. This file owns the device, the sockets, the workers' threads
 * and the peer table's publication; the packets are udp_path_tx.c's (TUN to
 * peers) and udp_path_rx.c's (peers to TUN).
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

#include "backend/udp_path_impl.h"

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
			did = udp_path_rx_round(w, t);
			did |= pfd[0].fd >= 0 && udp_path_tx_round(w, t);
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
		udp_gro_init(&w->gro, w->gro_arena, udp_path_gro_emit, w);
	udp_path_rx_reset(w);
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
