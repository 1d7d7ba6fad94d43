/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the udp backend's packet path: arbitrary datagrams (split by 2-byte
 * length prefixes) through check, TTL, ICMP and coalescing; arbitrary TUN
 * reads (a virtio-net header, then a packet) through checksum completion
 * and segmentation; arbitrary routes through the table. Whatever passes
 * must come out as valid packets; what is coalesced must resegment into
 * exactly the packets that went in.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/udp_pkt.h"

#define MTU 1472

static uint8_t *arena;
static struct udp_gro gro;
static uint8_t out[UDP_PKT_IP_MAX + 4096];

/* What went into the coalescer, in order: each must come out exactly once. */
struct inputs {
	uint8_t *buf;
	size_t *off, *len;
	bool *done;
	size_t n;
};

/* The coalescer's flow: addresses, and ports when the packet has them. */
static bool same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t ia = (size_t)(a[0] & 0xf) * 4, ib = (size_t)(b[0] & 0xf) * 4;
	bool pa = ia + 4 <= alen, pb = ib + 4 <= blen;

	if (memcmp(a + 12, b + 12, 8) != 0 || pa != pb)
		return false;
	return !pa || memcmp(a + ia, b + ib, 4) == 0;
}

static bool csum_ok(const uint8_t *p, size_t len)
{
	uint64_t ps = udp_csum_add(0, p + 12, 8) + htons(6) + htons((uint16_t)(len - 20));

	return udp_csum_fold(udp_csum_add(0, p, 20)) == 0 &&
	       udp_csum_fold(udp_csum_add(ps, p + 20, len - 20)) == 0;
}

/*
 * o must be the oldest input of its flow not yet seen, byte for byte; a
 * resegmented one may differ only in the IP id and the (verified) checksums.
 */
static void match(struct inputs *in, const uint8_t *o, size_t len, bool seg)
{
	for (size_t i = 0; i < in->n; i++) {
		const uint8_t *p = in->buf + in->off[i];

		if (in->done[i] || !same_key(p, in->len[i], o, len))
			continue;
		if (in->len[i] != len)
			abort();
		if (!seg && memcmp(p, o, len) != 0)
			abort();
		if (seg && (len < 40 || !csum_ok(o, len) || memcmp(p, o, 4) != 0 ||
			    memcmp(p + 6, o + 6, 4) != 0 || memcmp(p + 12, o + 12, 24) != 0 ||
			    memcmp(p + 38, o + 38, len - 38) != 0))
			abort();
		in->done[i] = true;
		return;
	}
	abort();
}

static void emit(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len)
{
	struct udp_vnet v = *vh;
	struct udp_segs s;
	uint8_t *c;

	if (len > UDP_PKT_IP_MAX || len < 20)
		abort();
	if (vh->gso_type == UDP_VNET_GSO_NONE) {
		match(arg, p, len, false);
		return;
	}
	/* A super-packet must segment again into exactly the packets that went in. */
	c = malloc(len);
	memcpy(c, p, len);
	if (udp_pkt_csum_finish(c, len, &v) != UDP_DROP_NONE)
		abort();
	if (udp_pkt_tso(&v, c, len, UDP_PKT_IP_MAX, out, sizeof(out), &s) != UDP_DROP_NONE ||
	    s.n < 2)
		abort();
	for (size_t i = 0; i < s.n; i++) {
		size_t off = i * s.seg_len;

		match(arg, out + off, i + 1 < s.n ? s.seg_len : s.total - off, true);
	}
	free(c);
}

/* Make the checksums valid (so segments can coalesce). */
static void fix_csums(uint8_t *p, size_t len)
{
	size_t ihl = (size_t)(p[0] & 0xf) * 4;
	uint16_t c;

	p[10] = p[11] = 0;
	c = udp_csum_fold(udp_csum_add(0, p, ihl));
	memcpy(p + 10, &c, 2);
	if (p[9] != 6 || ihl + 20 > len)
		return;
	p[ihl + 16] = p[ihl + 17] = 0;
	c = udp_csum_fold(
		udp_csum_add(udp_csum_add(0, p + 12, 8) + htons(6) + htons((uint16_t)(len - ihl)),
			     p + ihl, len - ihl));
	memcpy(p + ihl + 16, &c, 2);
}

/* Length prefixes: the top bit asks for valid checksums, the rest % 2048 is the length. */
static void datagrams(const uint8_t *d, size_t n)
{
	uint8_t pkt[2048], icmp[128];
	struct inputs in = { malloc(n + 1), malloc((n / 2 + 1) * sizeof(size_t)),
			     malloc((n / 2 + 1) * sizeof(size_t)), calloc(n / 2 + 1, 1), 0 };
	size_t used = 0;

	udp_gro_init(&gro, arena, emit, &in);
	while (n >= 2) {
		size_t len = (size_t)((d[0] & 0x7f) << 8 | d[1]) % sizeof(pkt);
		bool fix = d[0] & 0x80;

		d += 2;
		n -= 2;
		if (len > n)
			len = n;
		memcpy(pkt, d, len);
		d += len;
		n -= len;
		if (udp_pkt_check(pkt, len, MTU) != UDP_DROP_NONE)
			continue;
		if (fix)
			fix_csums(pkt, len);
		if (udp_pkt_icmp_unreach(icmp, sizeof(icmp), pkt, len, 0x0a000001) &&
		    udp_pkt_check(icmp, (size_t)(icmp[2] << 8 | icmp[3]), 128) != UDP_DROP_NONE)
			abort();
		if (udp_pkt_dec_ttl(pkt) != UDP_DROP_NONE)
			continue;
		memcpy(in.buf + used, pkt, len);
		in.off[in.n] = used;
		in.len[in.n++] = len;
		used += len;
		udp_gro_add(&gro, pkt, len);
	}
	udp_gro_flush(&gro);
	for (size_t i = 0; i < in.n; i++)
		if (!in.done[i])
			abort();
	free(in.buf);
	free(in.off);
	free(in.len);
	free(in.done);
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
