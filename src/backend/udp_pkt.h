/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp backend, pure packet logic: validation, TTL and checksums, ICMP
 * unreachable, the peer table (longest-prefix match), TCP segmentation of
 * TUN super-packets and coalescing of received segments. No I/O.
 */
#ifndef FLANNELD_UDP_PKT_H
#define FLANNELD_UDP_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest IPv4 packet, and so the largest super-packet. */
#define UDP_PKT_IP_MAX 65535
/* IPv4 20 + UDP 8: what the outer headers take from the external MTU. */
#define UDP_OVERHEAD 28

/* Why a packet was dropped; UDP_DROP_NONE (0) when it was not. */
enum udp_drop {
	UDP_DROP_NONE,
	UDP_DROP_SHORT,	       /* shorter than an IPv4 header */
	UDP_DROP_VERSION,      /* not IPv4 */
	UDP_DROP_IHL,	       /* header length below 20 or beyond the packet */
	UDP_DROP_LENGTH,       /* total length is not the datagram's length */
	UDP_DROP_OVERSIZE,     /* larger than the TUN MTU */
	UDP_DROP_TTL,	       /* TTL ran out */
	UDP_DROP_NO_ROUTE,     /* no peer for the destination */
	UDP_DROP_UNKNOWN_PEER, /* the datagram's source is not a peer */
	UDP_DROP_FOREIGN_SRC,  /* inner source outside the sending peer's subnets */
	UDP_DROP_FOREIGN_DST,  /* inner destination outside our subnet */
	UDP_DROP_OFFLOAD,      /* a virtio-net header or super-packet we cannot handle */
	UDP_DROP_IO,	       /* a send or TUN write failed */
	UDP_DROP_MAX
};

/* The metric label for a reason: "short", "version", ... */
const char *udp_drop_name(enum udp_drop r);

/*
 * The virtio-net header in front of every TUN read and write with
 * IFF_VNET_HDR (native byte order, as the legacy format has it on
 * little-endian hosts).
 */
struct udp_vnet {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};
#define UDP_VNET_LEN	     10
#define UDP_VNET_NEEDS_CSUM  1
#define UDP_VNET_GSO_NONE    0
#define UDP_VNET_GSO_TCPV4   1
#define UDP_VNET_GSO_ECN     0x80
#define UDP_VNET_TSO_MAXSEGS 64 /* UDP_MAX_SEGMENTS: the most one UDP GSO send may carry */

/* One's complement sum of p[0..len) added to sum (unfolded). */
uint64_t udp_csum_add(uint64_t sum, const void *p, size_t len);
/* Folded and complemented: the value a checksum field holds. */
uint16_t udp_csum_fold(uint64_t sum);

/*
 * A whole IPv4 packet of exactly len bytes (total length == len), a sane
 * header, and no larger than max: UDP_DROP_NONE or the reason.
 */
enum udp_drop udp_pkt_check(const uint8_t *p, size_t len, size_t max);
/*
 * Decrement the TTL and patch the header checksum incrementally (RFC 1624
 * eqn. 3). UDP_DROP_TTL, leaving p alone, when it would reach 0.
 */
enum udp_drop udp_pkt_dec_ttl(uint8_t *p);

/*
 * ICMP net unreachable for p (checked) from src to p's source, TTL 8,
 * quoting p's header and 8 bytes: its length (at most 60 + 8 with IP
 * options; cap must hold 88), or 0 when none is due (p is ICMP or a
 * non-first fragment).
 */
size_t udp_pkt_icmp_unreach(uint8_t *out, size_t cap, const uint8_t *p, size_t len, uint32_t src);

/* The peer table: subnet -> peer address, all host byte order. */
struct udp_route {
	uint32_t net;
	uint8_t len;
	uint32_t peer;
};
struct udp_table;

/*
 * An immutable table for routes (any order; host bits are cleared; of two
 * equal subnets the later wins). malloc'd, NULL when out of memory.
 */
struct udp_table *udp_table_build(const struct udp_route *r, size_t n);
void udp_table_free(struct udp_table *t);
size_t udp_table_count(const struct udp_table *t);
/* The longest prefix containing dst, or NULL. */
const struct udp_route *udp_table_lookup(const struct udp_table *t, uint32_t dst);
/* Whether ip is some route's peer. */
bool udp_table_has_peer(const struct udp_table *t, uint32_t ip);

/*
 * The inner addresses of a checked packet p that came from peer (the
 * datagram's source, host byte order): its source must lie in a subnet the
 * table sends to that very peer (UDP_DROP_FOREIGN_SRC), its destination in
 * our subnet own_net/own_mask (UDP_DROP_FOREIGN_DST; own_mask 0: no subnet
 * of our own yet, nothing is for us). An outer source can be spoofed on the
 * underlay; this keeps such a datagram from putting any packet into our
 * forwarding path, leaving only what that peer itself could send us.
 */
enum udp_drop udp_pkt_check_addrs(const struct udp_table *t, uint32_t peer, const uint8_t *p,
				  uint32_t own_net, uint32_t own_mask);

/*
 * Complete a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM
 * on a packet without GSO; a result of 0 is stored as 0xffff): UDP_DROP_NONE,
 * or UDP_DROP_OFFLOAD when the offsets do not fit.
 */
enum udp_drop udp_pkt_csum_finish(uint8_t *p, size_t len, const struct udp_vnet *vh);

/* What udp_pkt_tso() produced: n packets of seg_len bytes each back to back, the last shorter. */
struct udp_segs {
	size_t n;
	size_t seg_len;
	size_t total;
};

/*
 * Cut a TCPv4 super-packet p (GSO_TCPV4, as read from the TUN) into plain
 * IPv4 packets of at most mtu bytes each, written contiguously to out:
 * IP ids counted up, lengths and both checksums per segment, sequence
 * numbers advanced, FIN/PSH on the last segment only, CWR on the first
 * only. UDP_DROP_NONE with *ret filled, or the reason (UDP_DROP_OFFLOAD
 * for a header we cannot segment, UDP_DROP_OVERSIZE when a segment would
 * not fit mtu or cap).
 */
enum udp_drop udp_pkt_tso(const struct udp_vnet *vh, const uint8_t *p, size_t len, size_t mtu,
			  uint8_t *out, size_t cap, struct udp_segs *ret);

/*
 * Receive-side coalescing: consecutive in-order segments of one TCP flow
 * (same addresses, ports, ack, window, urgent pointer, options, TOS, TTL;
 * DF set; only ACK and a final PSH; IP and TCP checksums verified) become
 * one GSO_TCPV4 super-packet with a partial checksum, which the kernel
 * segments again or takes as is. Anything else is passed on unchanged, in
 * order within its flow.
 */
#define UDP_GRO_ITEMS 8

typedef void (*udp_gro_emit)(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len);

struct udp_gro_item {
	uint8_t *buf; /* UDP_PKT_IP_MAX bytes of the arena */
	size_t len;
	uint16_t hlen, gso_size, nseg;
	uint32_t next_seq;
	uint64_t age;
	bool used, closed;
};

struct udp_gro {
	struct udp_gro_item it[UDP_GRO_ITEMS];
	uint64_t clock;
	udp_gro_emit emit;
	void *arg;
};

/* arena: UDP_GRO_ITEMS * UDP_PKT_IP_MAX bytes owned by the caller. */
void udp_gro_init(struct udp_gro *g, uint8_t *arena, udp_gro_emit emit, void *arg);
/* p is a checked IPv4 packet (udp_pkt_check); it may be passed on before this returns. */
void udp_gro_add(struct udp_gro *g, const uint8_t *p, size_t len);
/* Pass on everything held. */
void udp_gro_flush(struct udp_gro *g);

#endif
