/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the udp backend's packet path: arbitrary datagrams (split by 2-byte
 * length prefixes) through check, TTL, ICMP and coalescing; arbitrary TUN
 * reads (a virtio-net header, then a packet) through checksum completion
 * and segmentation; arbitrary routes through the table. Whatever passes
 * must come out as valid packets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/udp_pkt.h"

#define MTU 1472

static uint8_t *arena;
static struct udp_gro gro;
static uint8_t out[UDP_PKT_IP_MAX + 4096];

static void emit(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len)
{
	struct udp_vnet v = *vh;
	uint8_t *c;

	if (len > UDP_PKT_IP_MAX || len < 20)
		abort();
	if (vh->gso_type == UDP_VNET_GSO_NONE)
		return;
	/* A super-packet must segment again into valid packets. */
	c = malloc(len);
	memcpy(c, p, len);
	if (udp_pkt_csum_finish(c, len, &v) != UDP_DROP_NONE)
		abort();
	if (udp_pkt_tso(&v, c, len, UDP_PKT_IP_MAX, out, sizeof(out), &(struct udp_segs){ 0 }) !=
	    UDP_DROP_NONE)
		abort();
	free(c);
}

static void datagrams(const uint8_t *d, size_t n)
{
	uint8_t pkt[2048], icmp[128];

	udp_gro_init(&gro, arena, emit, NULL);
	while (n >= 2) {
		size_t len = (size_t)(d[0] << 8 | d[1]) % sizeof(pkt);

		d += 2;
		n -= 2;
		if (len > n)
			len = n;
		memcpy(pkt, d, len);
		d += len;
		n -= len;
		if (udp_pkt_check(pkt, len, MTU) != UDP_DROP_NONE)
			continue;
		if (udp_pkt_icmp_unreach(icmp, sizeof(icmp), pkt, len, 0x0a000001) &&
		    udp_pkt_check(icmp, (size_t)(icmp[2] << 8 | icmp[3]), 128) != UDP_DROP_NONE)
			abort();
		if (udp_pkt_dec_ttl(pkt) != UDP_DROP_NONE)
			continue;
		udp_gro_add(&gro, pkt, len);
	}
	udp_gro_flush(&gro);
}

static void tun_read(const uint8_t *d, size_t n)
{
	static uint8_t pkt[UDP_PKT_IP_MAX];
	struct udp_vnet vh;
	struct udp_segs s;
	size_t len;

	if (n < UDP_VNET_LEN)
		return;
	memcpy(&vh, d, sizeof(vh));
	len = n - UDP_VNET_LEN > sizeof(pkt) ? sizeof(pkt) : n - UDP_VNET_LEN;
	memcpy(pkt, d + UDP_VNET_LEN, len);
	if (vh.gso_type == UDP_VNET_GSO_NONE) {
		if (vh.flags & UDP_VNET_NEEDS_CSUM)
			udp_pkt_csum_finish(pkt, len, &vh);
		return;
	}
	if (udp_pkt_tso(&vh, pkt, len, MTU, out, sizeof(out), &s) != UDP_DROP_NONE)
		return;
	if (s.total > sizeof(out) || s.seg_len > MTU || s.n == 0)
		abort();
	for (size_t i = 0; i < s.n; i++) {
		size_t off = i * s.seg_len, l = i + 1 < s.n ? s.seg_len : s.total - off;

		if (udp_pkt_check(out + off, l, MTU) != UDP_DROP_NONE)
			abort();
	}
}

static void routes(const uint8_t *d, size_t n)
{
	struct udp_route r[64];
	size_t k = 0;
	struct udp_table *t;

	for (; n >= 9 && k < 64; d += 9, n -= 9, k++) {
		memcpy(&r[k].net, d, 4);
		r[k].len = d[4];
		memcpy(&r[k].peer, d + 5, 4);
	}
	t = udp_table_build(r, k);
	if (!t)
		return;
	for (size_t i = 0; i < k; i++) {
		const struct udp_route *m = udp_table_lookup(t, r[i].net);

		if (!m || !udp_table_has_peer(t, m->peer))
			abort();
	}
	udp_table_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!arena)
		arena = malloc((size_t)UDP_GRO_ITEMS * UDP_PKT_IP_MAX);
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		datagrams(data + 1, size - 1);
		break;
	case 1:
		tun_read(data + 1, size - 1);
		break;
	default:
		routes(data + 1, size - 1);
	}
	return 0;
}
