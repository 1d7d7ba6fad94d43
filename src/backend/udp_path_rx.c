/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp data path, peers to TUN: a worker's recvmmsg() with UDP GRO, each
 * datagram checked against the peer table and our subnet, trains
 * coalesced back into super-packets, and the writes to the TUN.
 */

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

/* ------------------------------------------------------------ TUN side */

int udp_path_tun_write(struct worker *w, const struct udp_vnet *vh, const uint8_t *pkt, size_t len)
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
	if (udp_path_tun_write(w, vh, pkt, len) < 0) {
		drop(w, UDP_DROP_IO, n);
		return;
	}
	cnt_add(&w->c.rx_packets, n);
	cnt_add(&w->c.rx_bytes, bytes);
}

/* ------------------------------------------------------------ receive */

void udp_path_gro_emit(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len)
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

void udp_path_rx_reset(struct worker *w)
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
bool udp_path_rx_round(struct worker *w, const struct udp_table *t)
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
	udp_path_rx_reset(w);
	return true;
}
