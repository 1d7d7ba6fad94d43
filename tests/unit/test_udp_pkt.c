/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for backend/udp_pkt.c: checks, TTL, ICMP, LPM, TCP segmentation and coalescing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/udp_pkt.h"

/* From-scratch RFC 1071 checksum over big-endian 16-bit words. */
static uint16_t ref_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void set32(uint8_t *p, uint32_t v)
{
	set16(p, (uint16_t)(v >> 16));
	set16(p + 2, (uint16_t)v);
}

/* A header checksum verifies: the sum over the header, field included, is 0xffff. */
static bool ip_ok(const uint8_t *ip)
{
	return ref_csum(ip, (size_t)(ip[0] & 0xf) * 4, 0) == 0;
}

/* A TCP checksum verifies (pseudo-header included). */
static bool tcp_ok(const uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0xf) * 4, tl = be16(ip + 2) - ihl;
	uint32_t ps =
		be16(ip + 12) + be16(ip + 14) + be16(ip + 16) + be16(ip + 18) + 6 + (uint32_t)tl;

	return ref_csum(ip + ihl, tl, ps) == 0;
}

static void fix_ip_csum(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	set16(ip + 10, ref_csum(ip, (size_t)(ip[0] & 0xf) * 4, 0));
}

static void fix_tcp_csum(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0xf) * 4, tl = be16(ip + 2) - ihl;
	uint32_t ps =
		be16(ip + 12) + be16(ip + 14) + be16(ip + 16) + be16(ip + 18) + 6 + (uint32_t)tl;

	ip[ihl + 16] = ip[ihl + 17] = 0;
	set16(ip + ihl + 16, ref_csum(ip + ihl, tl, ps));
}

/* An IPv4/TCP packet with thl-byte TCP header and plen bytes of payload (byte i = seq + i). */
static size_t make_tcp(uint8_t *p, uint32_t seq, size_t thl, size_t plen, uint8_t flags)
{
	size_t len = 20 + thl + plen;

	memset(p, 0, 20 + thl);
	p[0] = 0x45;
	set16(p + 2, (uint16_t)len);
	set16(p + 4, 0x1234);
	set16(p + 6, 0x4000);
	p[8] = 64;
	p[9] = 6;
	set32(p + 12, 0x0af40101);
	set32(p + 16, 0x0af40202);
	set16(p + 20, 40000);
	set16(p + 22, 5201);
	set32(p + 24, seq);
	set32(p + 28, 777);
	p[32] = (uint8_t)((thl / 4) << 4);
	p[33] = flags;
	set16(p + 34, 512);
	for (size_t i = 20; i < thl; i++)
		p[20 + i] = (uint8_t)(i == 20 ? 1 : 0x5a); /* NOP, then opaque option bytes */
	for (size_t i = 0; i < plen; i++)
		p[20 + thl + i] = (uint8_t)(seq + i);
	fix_ip_csum(p);
	fix_tcp_csum(p);
	return len;
}

static size_t make_udp_ip(uint8_t *p, size_t len)
{
	memset(p, 0, len);
	p[0] = 0x45;
	set16(p + 2, (uint16_t)len);
	p[8] = 64;
	p[9] = 17;
	set32(p + 12, 0x0af40101);
	set32(p + 16, 0x0af40202);
	fix_ip_csum(p);
	return len;
}

static void test_ttl(void **state)
{
	uint8_t p[64];

	srand(7);
	for (int round = 0; round < 20000; round++) {
		for (size_t i = 0; i < 20; i++)
			p[i] = (uint8_t)rand();
		p[0] = 0x45;
		p[8] = (uint8_t)(2 + rand() % 254);
		fix_ip_csum(p);
		uint8_t ttl = p[8];
		assert_int_equal(udp_pkt_dec_ttl(p), UDP_DROP_NONE);
		assert_int_equal(p[8], ttl - 1);
		uint16_t got = be16(p + 10);
		fix_ip_csum(p);
		/* Same value as a recomputation, or its -0 twin (never produced from scratch). */
		if (got != be16(p + 10))
			assert_true((got == 0xffff && be16(p + 10) == 0) ||
				    (got == 0 && be16(p + 10) == 0xffff));
		set16(p + 10, got);
		assert_true(ip_ok(p));
	}
	p[8] = 1;
	fix_ip_csum(p);
	memcpy(p + 40, p, 20);
	assert_int_equal(udp_pkt_dec_ttl(p), UDP_DROP_TTL);
	assert_memory_equal(p, p + 40, 20); /* untouched */
	p[8] = 0;
	assert_int_equal(udp_pkt_dec_ttl(p), UDP_DROP_TTL);
}

static void test_check(void **state)
{
	uint8_t p[2000];

	make_udp_ip(p, 100);
	assert_int_equal(udp_pkt_check(p, 100, 1472), UDP_DROP_NONE);
	assert_int_equal(udp_pkt_check(p, 19, 1472), UDP_DROP_SHORT);
	assert_int_equal(udp_pkt_check(p, 0, 1472), UDP_DROP_SHORT);
	assert_int_equal(udp_pkt_check(p, 99, 1472), UDP_DROP_LENGTH);	/* truncated */
	assert_int_equal(udp_pkt_check(p, 100, 99), UDP_DROP_OVERSIZE); /* over the MTU */
	make_udp_ip(p, 1500);
	assert_int_equal(udp_pkt_check(p, 1500, 1472), UDP_DROP_OVERSIZE);
	make_udp_ip(p, 100);
	p[0] = 0x65;
	assert_int_equal(udp_pkt_check(p, 100, 1472), UDP_DROP_VERSION);
	p[0] = 0x44;
	assert_int_equal(udp_pkt_check(p, 100, 1472), UDP_DROP_IHL);
	p[0] = 0x4f; /* 60 bytes of header in a 40-byte packet */
	set16(p + 2, 40);
	assert_int_equal(udp_pkt_check(p, 40, 1472), UDP_DROP_IHL);
	p[0] = 0x45;
	set16(p + 2, 120);
	assert_int_equal(udp_pkt_check(p, 100, 1472), UDP_DROP_LENGTH);
	assert_string_equal(udp_drop_name(UDP_DROP_UNKNOWN_PEER), "unknown_peer");
}

static void test_icmp(void **state)
{
	uint8_t p[200], out[128];
	size_t n;

	make_udp_ip(p, 100);
	p[20] = 0xab;
	n = udp_pkt_icmp_unreach(out, sizeof(out), p, 100, 0x0af40300);
	assert_int_equal(n, 20 + 8 + 28);
	assert_int_equal(out[0], 0x45);
	assert_int_equal(be16(out + 2), n);
	assert_int_equal(out[8], 8); /* TTL */
	assert_int_equal(out[9], 1); /* ICMP */
	assert_int_equal(be32(out + 12), 0x0af40300);
	assert_int_equal(be32(out + 16), 0x0af40101); /* back to the sender */
	assert_true(ip_ok(out));
	assert_int_equal(out[20], 3);
	assert_int_equal(out[21], 0);
	assert_int_equal(ref_csum(out + 20, n - 20, 0), 0);
	assert_memory_equal(out + 28, p, 28); /* header + 8 bytes quoted */
	/* Short payload: quote what there is. */
	make_udp_ip(p, 24);
	assert_int_equal(udp_pkt_icmp_unreach(out, sizeof(out), p, 24, 1), 20 + 8 + 24);
	/* Not for ICMP, not for later fragments, not when it does not fit. */
	make_udp_ip(p, 100);
	p[9] = 1;
	assert_int_equal(udp_pkt_icmp_unreach(out, sizeof(out), p, 100, 1), 0);
	p[9] = 17;
	set16(p + 6, 0x2000 | 185);
	assert_int_equal(udp_pkt_icmp_unreach(out, sizeof(out), p, 100, 1), 0);
	set16(p + 6, 0x2000); /* the first fragment gets one */
	assert_int_equal(udp_pkt_icmp_unreach(out, sizeof(out), p, 100, 1), 56);
	assert_int_equal(udp_pkt_icmp_unreach(out, 40, p, 100, 1), 0);
}

static void test_lpm(void **state)
{
	struct udp_route r[] = {
		{ 0x0af40100, 24, 0x0ac8000b }, { 0x0af40200, 24, 0x0ac8000c },
		{ 0x0af40000, 16, 0x0ac80063 }, { 0x0af40280, 25, 0x0ac8000d },
		{ 0x0af40105, 24, 0x0ac8000e }, /* host bits cleared; replaces the first */
	};
	struct udp_table *t = udp_table_build(r, 5);
	const struct udp_route *m;

	assert_non_null(t);
	assert_int_equal(udp_table_count(t), 4);
	m = udp_table_lookup(t, 0x0af40107);
	assert_non_null(m);
	assert_int_equal(m->peer, 0x0ac8000e);
	assert_int_equal(udp_table_lookup(t, 0x0af40201)->peer, 0x0ac8000c);
	assert_int_equal(udp_table_lookup(t, 0x0af40281)->peer, 0x0ac8000d); /* longest */
	assert_int_equal(udp_table_lookup(t, 0x0af40901)->peer, 0x0ac80063);
	assert_null(udp_table_lookup(t, 0x0af50101));
	assert_true(udp_table_has_peer(t, 0x0ac8000d));
	assert_true(udp_table_has_peer(t, 0x0ac80063));
	assert_false(udp_table_has_peer(t, 0x0ac8000b)); /* its only route was replaced */
	assert_false(udp_table_has_peer(t, 0));
	udp_table_free(t);
	t = udp_table_build(NULL, 0);
	assert_non_null(t);
	assert_null(udp_table_lookup(t, 0x0af40107));
	assert_false(udp_table_has_peer(t, 1));
	udp_table_free(t);
	assert_null(udp_table_lookup(NULL, 1));
	/* Many /24s */
	struct udp_route *many = calloc(1000, sizeof(*many));
	for (unsigned i = 0; i < 1000; i++)
		many[i] = (struct udp_route){ 0x0a000000 | (i << 8), 24, 0x0b000000 | i };
	t = udp_table_build(many, 1000);
	for (unsigned i = 0; i < 1000; i++) {
		assert_int_equal(udp_table_lookup(t, 0x0a000000 | (i << 8) | 77)->peer,
				 0x0b000000 | i);
		assert_true(udp_table_has_peer(t, 0x0b000000 | i));
	}
	assert_null(udp_table_lookup(t, 0x0a000000 | (1000 << 8)));
	udp_table_free(t);
	free(many);
}

/*
 * A datagram from a peer may carry only its own subnets' traffic, and only
 * to our subnet: a spoofed outer source cannot inject anything else.
 */
static void test_check_addrs(void **state)
{
	struct udp_route r[] = {
		{ 0x0af40100, 24, 0x0ac8000b }, /* 10.244.1.0/24 via 10.200.0.11 */
		{ 0x0af40200, 24, 0x0ac8000c }, /* 10.244.2.0/24 via 10.200.0.12 */
		{ 0x0af40280, 25, 0x0ac8000d }, /* 10.244.2.128/25 via 10.200.0.13 */
	};
	struct udp_table *t = udp_table_build(r, 3);
	const uint32_t own = 0x0af40300, mask = 0xffffff00; /* 10.244.3.0/24 */
	uint8_t p[100];

	assert_non_null(t);
	make_udp_ip(p, 100);
	set32(p + 12, 0x0af40102); /* from 10.244.1.2 */
	set32(p + 16, 0x0af40302); /* to 10.244.3.2 */
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000b, p, own, mask), UDP_DROP_NONE);
	/* The same packet from another peer: that peer does not own the source. */
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, own, mask), UDP_DROP_FOREIGN_SRC);
	/* A source in no peer's subnet, or in ours. */
	set32(p + 12, 0x08080808);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000b, p, own, mask), UDP_DROP_FOREIGN_SRC);
	set32(p + 12, 0x0af40305);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000b, p, own, mask), UDP_DROP_FOREIGN_SRC);
	/* The longest prefix decides whose the source is. */
	set32(p + 12, 0x0af40281);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, own, mask), UDP_DROP_FOREIGN_SRC);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000d, p, own, mask), UDP_DROP_NONE);
	set32(p + 12, 0x0af40201);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, own, mask), UDP_DROP_NONE);
	/* A destination outside our subnet: another peer's, anywhere else, or none of ours yet. */
	set32(p + 16, 0x0af40102);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, own, mask), UDP_DROP_FOREIGN_DST);
	set32(p + 16, 0x01010101);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, own, mask), UDP_DROP_FOREIGN_DST);
	set32(p + 16, 0x0af40300);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, own, mask), UDP_DROP_NONE);
	assert_int_equal(udp_pkt_check_addrs(t, 0x0ac8000c, p, 0, 0), UDP_DROP_FOREIGN_DST);
	/* No peers at all: nothing is anyone's. */
	assert_int_equal(udp_pkt_check_addrs(NULL, 0x0ac8000c, p, own, mask), UDP_DROP_FOREIGN_SRC);
	assert_string_equal(udp_drop_name(UDP_DROP_FOREIGN_SRC), "foreign_source");
	assert_string_equal(udp_drop_name(UDP_DROP_FOREIGN_DST), "foreign_destination");
	udp_table_free(t);
}

static void test_csum_finish(void **state)
{
	uint8_t p[300];
	struct udp_vnet vh = { UDP_VNET_NEEDS_CSUM, 0, 0, 0, 20, 16 };
	size_t len = make_tcp(p, 1000, 20, 201, 0x18);
	uint16_t want = be16(p + 36);
	uint32_t ps = be16(p + 12) + be16(p + 14) + be16(p + 16) + be16(p + 18) + 6 + 221;

	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	set16(p + 36, (uint16_t)ps); /* what the kernel leaves: the pseudo-header sum */
	assert_int_equal(udp_pkt_csum_finish(p, len, &vh), UDP_DROP_NONE);
	assert_int_equal(be16(p + 36), want);
	vh.csum_start = 300;
	assert_int_equal(udp_pkt_csum_finish(p, len, &vh), UDP_DROP_OFFLOAD);
	vh.csum_start = 20;
	vh.csum_offset = 250;
	assert_int_equal(udp_pkt_csum_finish(p, len, &vh), UDP_DROP_OFFLOAD);
	/* A sum that folds to 0 is stored as 0xffff (0 means "none" in UDP). */
	len = make_udp_ip(p, 28);
	p[20] = p[21] = 0xff;
	vh.csum_offset = 6;
	assert_int_equal(udp_pkt_csum_finish(p, len, &vh), UDP_DROP_NONE);
	assert_int_equal(be16(p + 26), 0xffff);
}

static void test_tso(void **state)
{
	size_t mss = 1420, thl = 32, plen = 60000, hlen = 20 + thl;
	uint8_t *p = malloc(UDP_PKT_IP_MAX), *out = malloc(80000), *re = malloc(plen);
	struct udp_vnet vh = {
		UDP_VNET_NEEDS_CSUM, UDP_VNET_GSO_TCPV4, (uint16_t)hlen, (uint16_t)mss, 20, 16
	};
	struct udp_segs s;
	size_t len = make_tcp(p, 0xfffff000, thl, plen, 0x18 | 0x01 | 0x80); /* PSH FIN CWR */

	assert_int_equal(udp_pkt_tso(&vh, p, len, 1472, out, 80000, &s), UDP_DROP_NONE);
	assert_int_equal(s.n, (plen + mss - 1) / mss);
	assert_int_equal(s.seg_len, hlen + mss);
	assert_int_equal(s.total, s.n * hlen + plen);
	for (size_t i = 0; i < s.n; i++) {
		uint8_t *o = out + i * s.seg_len;
		size_t pl = i + 1 < s.n ? mss : plen - i * mss;
		uint8_t f = o[33];

		assert_int_equal(be16(o + 2), hlen + pl);
		assert_int_equal(be16(o + 4), (uint16_t)(0x1234 + i));
		assert_true(ip_ok(o));
		assert_true(tcp_ok(o));
		assert_int_equal(be32(o + 24), (uint32_t)(0xfffff000 + i * mss)); /* wraps */
		assert_int_equal(be32(o + 28), 777);
		assert_int_equal(f & 0x10, 0x10);
		assert_int_equal(!!(f & 0x80), i == 0);
		assert_int_equal(!!(f & 0x08), i + 1 == s.n);
		assert_int_equal(!!(f & 0x01), i + 1 == s.n);
		assert_memory_equal(o + 40, p + 40, thl - 20); /* options copied */
		memcpy(re + i * mss, o + hlen, pl);
	}
	assert_memory_equal(re, p + hlen, plen);
	/* A segment over the MTU, a cap too small, a bad header. */
	assert_int_equal(udp_pkt_tso(&vh, p, len, 1400, out, 80000, &s), UDP_DROP_OVERSIZE);
	assert_int_equal(udp_pkt_tso(&vh, p, len, 1472, out, 60000, &s), UDP_DROP_OVERSIZE);
	vh.gso_type = 4; /* UDP_L4 */
	assert_int_equal(udp_pkt_tso(&vh, p, len, 1472, out, 80000, &s), UDP_DROP_OFFLOAD);
	vh.gso_type = UDP_VNET_GSO_TCPV4;
	vh.gso_size = 0;
	assert_int_equal(udp_pkt_tso(&vh, p, len, 1472, out, 80000, &s), UDP_DROP_OFFLOAD);
	vh.gso_size = (uint16_t)mss;
	assert_int_equal(udp_pkt_tso(&vh, p, len - 1, 1472, out, 80000, &s), UDP_DROP_LENGTH);
	/* Smaller than one segment: one packet, checksums complete. */
	len = make_tcp(p, 5, thl, 100, 0x10);
	p[36] = p[37] = 0;
	assert_int_equal(udp_pkt_tso(&vh, p, len, 1472, out, 80000, &s), UDP_DROP_NONE);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seg_len, len);
	assert_true(tcp_ok(out));
	free(p);
	free(out);
	free(re);
}

struct emitted {
	struct udp_vnet vh[64];
	uint8_t *pkt[64];
	size_t len[64];
	size_t n;
};

static void record(void *arg, const struct udp_vnet *vh, const uint8_t *p, size_t len)
{
	struct emitted *e = arg;

	assert_true(e->n < 64);
	e->vh[e->n] = *vh;
	e->pkt[e->n] = malloc(len);
	memcpy(e->pkt[e->n], p, len);
	e->len[e->n++] = len;
}

static void emitted_free(struct emitted *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->pkt[i]);
	e->n = 0;
}

static void test_gro(void **state)
{
	uint8_t *arena = malloc((size_t)UDP_GRO_ITEMS * UDP_PKT_IP_MAX), p[2000], q[2000];
	struct udp_gro *g = malloc(sizeof(*g));
	struct emitted *e = calloc(1, sizeof(*e));
	size_t mss = 1408, thl = 32, len;
	uint32_t seq = 1000;

	udp_gro_init(g, arena, record, e);
	/* 10 full segments and a short one with PSH: one super-packet. */
	for (int i = 0; i < 11; i++) {
		len = make_tcp(p, seq, thl, i < 10 ? mss : 500, i < 10 ? 0x10 : 0x18);
		seq += (uint32_t)(len - 20 - thl);
		udp_gro_add(g, p, len);
	}
	assert_int_equal(e->n, 0);
	/* An unrelated UDP packet passes straight through. */
	len = make_udp_ip(q, 80);
	udp_gro_add(g, q, len);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->vh[0].gso_type, 0);
	udp_gro_flush(g);
	assert_int_equal(e->n, 2);
	const struct udp_vnet *vh = &e->vh[1];
	const uint8_t *s = e->pkt[1];
	assert_int_equal(vh->gso_type, UDP_VNET_GSO_TCPV4);
	assert_int_equal(vh->flags, UDP_VNET_NEEDS_CSUM);
	assert_int_equal(vh->gso_size, mss);
	assert_int_equal(vh->hdr_len, 20 + thl);
	assert_int_equal(vh->csum_start, 20);
	assert_int_equal(vh->csum_offset, 16);
	assert_int_equal(e->len[1], 20 + thl + 10 * mss + 500);
	assert_int_equal(be16(s + 2), e->len[1]);
	assert_true(ip_ok(s));
	assert_int_equal(be32(s + 24), 1000);
	assert_int_equal(s[33], 0x18); /* the last segment's PSH */
	for (size_t i = 0; i < 10 * mss + 500; i++)
		assert_int_equal(s[20 + thl + i], (uint8_t)(1000 + i));
	/* The partial checksum completed over the whole packet verifies. */
	{
		uint8_t *c = malloc(e->len[1]);
		memcpy(c, s, e->len[1]);
		struct udp_vnet fin = *vh;
		assert_int_equal(udp_pkt_csum_finish(c, e->len[1], &fin), UDP_DROP_NONE);
		assert_true(tcp_ok(c));
		free(c);
	}
	emitted_free(e);

	/* A gap in sequence, a changed ack and a SYN each end the run; order kept. */
	seq = 1;
	len = make_tcp(p, seq, 20, 1000, 0x10);
	udp_gro_add(g, p, len);
	len = make_tcp(p, seq + 1000, 20, 1000, 0x10);
	udp_gro_add(g, p, len);
	len = make_tcp(p, seq + 3000, 20, 1000, 0x10); /* gap */
	udp_gro_add(g, p, len);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->vh[0].gso_type, UDP_VNET_GSO_TCPV4);
	assert_int_equal(e->len[0], 40 + 2000);
	len = make_tcp(p, seq + 4000, 20, 1000, 0x10);
	set32(p + 28, 778);
	fix_tcp_csum(p);
	udp_gro_add(g, p, len); /* new ack */
	assert_int_equal(e->n, 2);
	assert_int_equal(e->vh[1].gso_type, 0); /* a single segment goes out as is */
	assert_true(tcp_ok(e->pkt[1]));
	len = make_tcp(p, seq + 5000, 20, 0, 0x02);
	udp_gro_add(g, p, len); /* SYN: held segment first, then the SYN */
	assert_int_equal(e->n, 4);
	assert_int_equal(be32(e->pkt[2] + 24), seq + 4000);
	assert_int_equal(e->pkt[3][33], 0x02);
	udp_gro_flush(g);
	assert_int_equal(e->n, 4);
	emitted_free(e);

	/* Two interleaved flows each coalesce; a larger segment after a smaller one does not. */
	for (int i = 0; i < 4; i++) {
		len = make_tcp(p, 100 + (uint32_t)i * 500, 20, 500, 0x10);
		udp_gro_add(g, p, len);
		len = make_tcp(q, 9000 + (uint32_t)i * 500, 20, 500, 0x10);
		set16(q + 20, 40001);
		fix_tcp_csum(q);
		udp_gro_add(g, q, len);
	}
	len = make_tcp(p, 2100, 20, 600, 0x10);
	udp_gro_add(g, p, len);
	udp_gro_flush(g);
	assert_int_equal(e->n, 3);
	assert_int_equal(e->len[0], 40 + 2000);
	assert_int_equal(e->len[1], 40 + 2000);
	assert_int_equal(be16(e->pkt[1] + 20), 40001);
	assert_int_equal(e->len[2], 40 + 600);
	emitted_free(e);

	/* More flows than items: the oldest goes out, nothing is lost. */
	for (int i = 0; i < UDP_GRO_ITEMS + 3; i++) {
		len = make_tcp(p, 1, 20, 100, 0x10);
		set16(p + 20, (uint16_t)(1000 + i));
		fix_tcp_csum(p);
		udp_gro_add(g, p, len);
	}
	assert_int_equal(e->n, 3);
	udp_gro_flush(g);
	assert_int_equal(e->n, UDP_GRO_ITEMS + 3);
	for (size_t i = 0; i < e->n; i++)
		assert_int_equal(be16(e->pkt[i] + 20), 1000 + i);
	emitted_free(e);
	free(e);
	free(g);
	free(arena);
}

/* A corrupt segment among three never ends up inside a super-packet (whose checksum is fresh). */
static void test_gro_corrupt(void **state)
{
	uint8_t *arena = malloc((size_t)UDP_GRO_ITEMS * UDP_PKT_IP_MAX), p[2000], bad[2000];
	struct udp_gro *g = malloc(sizeof(*g));
	struct emitted *e = calloc(1, sizeof(*e));
	size_t mss = 1000, len = 0;

	udp_gro_init(g, arena, record, e);
	for (int kind = 0; kind < 2; kind++) {
		for (uint32_t pos = 0; pos < 3; pos++) {
			size_t payload = 0;
			bool found = false;

			for (uint32_t i = 0; i < 3; i++) {
				len = make_tcp(p, 5000 + i * (uint32_t)mss, 20, mss, 0x10);
				if (i == pos) {
					if (kind == 0)
						p[40 + 7] ^= 0x40; /* a payload bit flipped */
					else
						p[10] ^= 0x01; /* a bad IP header checksum */
					memcpy(bad, p, len);
				}
				udp_gro_add(g, p, len);
			}
			udp_gro_flush(g);
			for (size_t k = 0; k < e->n; k++) {
				uint32_t seq = be32(e->pkt[k] + 24);

				payload += e->len[k] - 40;
				if (e->vh[k].gso_type == 0 && e->len[k] == len &&
				    memcmp(e->pkt[k], bad, len) == 0)
					found = true;
				if (e->vh[k].gso_type != 0)
					/* Its run must not cover the corrupt segment's sequence
					 * numbers. */
					assert_true(5000 + pos * mss < seq ||
						    5000 + pos * mss >= seq + e->len[k] - 40);
			}
			assert_true(found);
			assert_int_equal(payload, 3 * mss);
			emitted_free(e);
		}
	}
	/* A different reserved/AE nibble in byte 12 of the TCP header: no merge. */
	len = make_tcp(p, 1, 20, 500, 0x10);
	udp_gro_add(g, p, len);
	len = make_tcp(p, 501, 20, 500, 0x10);
	p[32] |= 0x01;
	fix_tcp_csum(p);
	udp_gro_add(g, p, len);
	udp_gro_flush(g);
	assert_int_equal(e->n, 2);
	assert_int_equal(e->vh[0].gso_type, 0);
	emitted_free(e);
	free(e);
	free(g);
	free(arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl),	    cmocka_unit_test(test_check),
		cmocka_unit_test(test_icmp),	    cmocka_unit_test(test_lpm),
		cmocka_unit_test(test_check_addrs), cmocka_unit_test(test_csum_finish),
		cmocka_unit_test(test_tso),	    cmocka_unit_test(test_gro),
		cmocka_unit_test(test_gro_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
