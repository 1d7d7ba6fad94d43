/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp data path, TUN to peers: a worker's TUN reads (TCP super-packets
 * with TSO) looked up in the peer table, cut into plain IPv4 packets and
 * sent in batches with UDP GSO in one sendmmsg(), a refused GSO send again
 * as plain datagrams; no route: ICMP unreachable back into the TUN.
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

static void send_unreachable(struct worker *w, const uint8_t *pkt, size_t len)
{
	uint32_t src = (uint32_t)(atomic_load_explicit(&w->p->own, memory_order_relaxed) >> 32);
	uint8_t buf[128];
	size_t n;

	if (!src)
		return;
	n = udp_pkt_icmp_unreach(buf, sizeof(buf), pkt, len, src);
	if (n && udp_path_tun_write(w, &(struct udp_vnet){ 0 }, buf, n) < 0)
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
bool udp_path_tx_round(struct worker *w, const struct udp_table *t)
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
