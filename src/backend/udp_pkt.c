/* SPDX-License-Identifier: Apache-2.0 */
/* udp backend packet logic: every function here is pure and bounds-checked (fuzzed). */
#include "backend/udp_pkt.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define IP_HLEN	   20
#define IP_DF	   0x4000
#define IP_MF	   0x2000
#define IP_OFFMASK 0x1fff
#define PROTO_ICMP 1
#define PROTO_TCP  6

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

static const char *const drop_names[UDP_DROP_MAX] = {
	[UDP_DROP_NONE] = "none",
	[UDP_DROP_SHORT] = "short",
	[UDP_DROP_VERSION] = "version",
	[UDP_DROP_IHL] = "ihl",
	[UDP_DROP_LENGTH] = "length",
	[UDP_DROP_OVERSIZE] = "oversize",
	[UDP_DROP_TTL] = "ttl",
	[UDP_DROP_NO_ROUTE] = "no_route",
	[UDP_DROP_UNKNOWN_PEER] = "unknown_peer",
	[UDP_DROP_FOREIGN_SRC] = "foreign_source",
	[UDP_DROP_FOREIGN_DST] = "foreign_destination",
	[UDP_DROP_OFFLOAD] = "offload",
	[UDP_DROP_IO] = "io",
};

const char *udp_drop_name(enum udp_drop r)
{
	return (unsigned)r < UDP_DROP_MAX ? drop_names[r] : "unknown";
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* ------------------------------------------------------------ checksums */

/*
 * Summing native-order words and storing the folded result natively gives
 * the network-order checksum (RFC 1071 byte-order independence).
 */
uint64_t udp_csum_add(uint64_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t w[4];
	uint16_t h = 0;

	while (len >= 16) {
		memcpy(w, b, 16);
		sum += (uint64_t)w[0] + w[1] + w[2] + w[3];
		b += 16;
		len -= 16;
	}
	while (len >= 4) {
		memcpy(w, b, 4);
		sum += w[0];
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, b, 2);
		sum += h;
		b += 2;
		len -= 2;
	}
	if (len) {
		h = 0;
		memcpy(&h, b, 1);
		sum += h;
	}
	return sum;
}

static uint16_t fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t udp_csum_fold(uint64_t sum)
{
	return (uint16_t)~fold(sum);
}

static void ip_csum_set(uint8_t *ip, size_t hlen)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = udp_csum_fold(udp_csum_add(0, ip, hlen));
	memcpy(ip + 10, &c, 2);
}

/* The TCP pseudo-header (addresses from ip, protocol, length), unfolded. */
static uint64_t pseudo_sum(const uint8_t *ip, size_t tcp_len)
{
	return udp_csum_add(0, ip + 12, 8) + htons(PROTO_TCP) + htons((uint16_t)tcp_len);
}

/* ------------------------------------------------------------ checks, TTL, ICMP */

enum udp_drop udp_pkt_check(const uint8_t *p, size_t len, size_t max)
{
	size_t ihl;

	if (len < IP_HLEN)
		return UDP_DROP_SHORT;
	if (len > max)
		return UDP_DROP_OVERSIZE;
	if (p[0] >> 4 != 4)
		return UDP_DROP_VERSION;
	ihl = (size_t)(p[0] & 0xf) * 4;
	if (ihl < IP_HLEN || ihl > len)
		return UDP_DROP_IHL;
	if (get16(p + 2) != len)
		return UDP_DROP_LENGTH;
	return UDP_DROP_NONE;
}

enum udp_drop udp_pkt_dec_ttl(uint8_t *p)
{
	uint16_t old, new, hc;
	uint32_t s;

	if (p[8] <= 1)
		return UDP_DROP_TTL;
	memcpy(&old, p + 8, 2);
	p[8]--;
	memcpy(&new, p + 8, 2);
	memcpy(&hc, p + 10, 2);
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
	s = (uint32_t)(uint16_t)~hc + (uint16_t)~old + new;
	hc = (uint16_t)~fold(s);
	memcpy(p + 10, &hc, 2);
	return UDP_DROP_NONE;
}

size_t udp_pkt_icmp_unreach(uint8_t *out, size_t cap, const uint8_t *p, size_t len, uint32_t src)
{
	size_t ihl = (size_t)(p[0] & 0xf) * 4;
	size_t quote = ihl + (len - ihl < 8 ? len - ihl : 8);
	size_t total = IP_HLEN + 8 + quote;
	uint8_t *icmp = out + IP_HLEN;
	uint16_t c;

	if (p[9] == PROTO_ICMP || (get16(p + 6) & IP_OFFMASK) || cap < total)
		return 0;
	memset(out, 0, IP_HLEN + 8);
	out[0] = 0x45;
	put16(out + 2, (uint16_t)total);
	memcpy(out + 4, p + 4, 2); /* any id will do: DF off, never fragmented */
	out[8] = 8;
	out[9] = PROTO_ICMP;
	put32(out + 12, src);
	memcpy(out + 16, p + 12, 4);
	ip_csum_set(out, IP_HLEN);
	icmp[0] = 3; /* destination unreachable */
	icmp[1] = 0; /* net unreachable */
	memcpy(icmp + 8, p, quote);
	c = udp_csum_fold(udp_csum_add(0, icmp, 8 + quote));
	memcpy(icmp + 2, &c, 2);
	return total;
}

/* ------------------------------------------------------------ peer table */

struct group {
	uint32_t mask;
	size_t start, n;
};

struct udp_table {
	size_t n, ngroups, npeers;
	struct group groups[33];
	uint32_t *peers; /* sorted, unique */
	struct udp_route r[];
};

struct sort_route {
	struct udp_route r;
	size_t idx;
};

static uint32_t len_mask(unsigned len)
{
	return len ? 0xffffffffu << (32 - len) : 0;
}

/* Longest prefixes first, then by address; equal subnets by input order. */
static int route_cmp(const void *x, const void *y)
{
	const struct sort_route *a = x, *b = y;

	if (a->r.len != b->r.len)
		return a->r.len > b->r.len ? -1 : 1;
	if (a->r.net != b->r.net)
		return a->r.net < b->r.net ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

struct udp_table *udp_table_build(const struct udp_route *r, size_t n)
{
	struct sort_route *s = malloc((n ? n : 1) * sizeof(*s));
	struct udp_table *t;
	size_t k = 0;

	if (!s)
		return NULL;
	t = malloc(sizeof(*t) + n * (sizeof(struct udp_route) + sizeof(uint32_t)));
	if (!t) {
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned len = r[i].len > 32 ? 32 : r[i].len;

		s[i].r = (struct udp_route){ r[i].net & len_mask(len), (uint8_t)len, r[i].peer };
		s[i].idx = i;
	}
	qsort(s, n, sizeof(*s), route_cmp);
	t->ngroups = 0;
	for (size_t i = 0; i < n; i++) {
		/* Of equal subnets the last given wins: it sorts last. */
		if (i + 1 < n && s[i + 1].r.net == s[i].r.net && s[i + 1].r.len == s[i].r.len)
			continue;
		if (!t->ngroups || t->r[k - 1].len != s[i].r.len)
			t->groups[t->ngroups++] = (struct group){ len_mask(s[i].r.len), k, 0 };
		t->groups[t->ngroups - 1].n++;
		t->r[k++] = s[i].r;
	}
	free(s);
	t->n = k;
	t->peers = (uint32_t *)(t->r + n);
	for (size_t i = 0; i < k; i++)
		t->peers[i] = t->r[i].peer;
	qsort(t->peers, k, sizeof(uint32_t), u32_cmp);
	t->npeers = 0;
	for (size_t i = 0; i < k; i++)
		if (!t->npeers || t->peers[t->npeers - 1] != t->peers[i])
			t->peers[t->npeers++] = t->peers[i];
	return t;
}

void udp_table_free(struct udp_table *t)
{
	free(t);
}

size_t udp_table_count(const struct udp_table *t)
{
	return t ? t->n : 0;
}

const struct udp_route *udp_table_lookup(const struct udp_table *t, uint32_t dst)
{
	if (!t)
		return NULL;
	for (size_t g = 0; g < t->ngroups; g++) {
		const struct group *gr = &t->groups[g];
		uint32_t key = dst & gr->mask;
		size_t lo = gr->start, hi = gr->start + gr->n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (t->r[mid].net == key)
				return &t->r[mid];
			if (t->r[mid].net < key)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

bool udp_table_has_peer(const struct udp_table *t, uint32_t ip)
{
	size_t lo = 0, hi = t ? t->npeers : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->peers[mid] == ip)
			return true;
		if (t->peers[mid] < ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

enum udp_drop udp_pkt_check_addrs(const struct udp_table *t, uint32_t peer, const uint8_t *p,
				  uint32_t own_net, uint32_t own_mask)
{
	const struct udp_route *rt = udp_table_lookup(t, get32(p + 12));

	if (!rt || rt->peer != peer)
		return UDP_DROP_FOREIGN_SRC;
	if (!own_mask || (get32(p + 16) & own_mask) != own_net)
		return UDP_DROP_FOREIGN_DST;
	return UDP_DROP_NONE;
}

/* ------------------------------------------------------------ offloads: transmit */

enum udp_drop udp_pkt_csum_finish(uint8_t *p, size_t len, const struct udp_vnet *vh)
{
	size_t start = vh->csum_start, off = start + vh->csum_offset;
	uint16_t c;

	if (start > len || off + 2 > len)
		return UDP_DROP_OFFLOAD;
	/* The field holds the pseudo-header sum: it is part of what is summed. */
	c = udp_csum_fold(udp_csum_add(0, p + start, len - start));
	/* UDP reads 0 as "no checksum"; 0xffff is the same one's complement value. */
	if (c == 0)
		c = 0xffff;
	memcpy(p + off, &c, 2);
	return UDP_DROP_NONE;
}

enum udp_drop udp_pkt_tso(const struct udp_vnet *vh, const uint8_t *p, size_t len, size_t mtu,
			  uint8_t *out, size_t cap, struct udp_segs *ret)
{
	size_t ihl, thl, hlen, mss, payload, n, seg_len, total;
	uint32_t seq0;
	uint16_t id0;
	uint8_t flags0;
	uint64_t base;
	enum udp_drop r;

	if ((vh->gso_type & ~UDP_VNET_GSO_ECN) != UDP_VNET_GSO_TCPV4)
		return UDP_DROP_OFFLOAD;
	r = udp_pkt_check(p, len, UDP_PKT_IP_MAX);
	if (r)
		return r;
	ihl = (size_t)(p[0] & 0xf) * 4;
	if (p[9] != PROTO_TCP || (get16(p + 6) & (IP_MF | IP_OFFMASK)) || ihl + 20 > len)
		return UDP_DROP_OFFLOAD;
	thl = (size_t)(p[ihl + 12] >> 4) * 4;
	hlen = ihl + thl;
	mss = vh->gso_size;
	if (thl < 20 || hlen > len || mss == 0)
		return UDP_DROP_OFFLOAD;
	payload = len - hlen;
	n = payload > mss ? (payload + mss - 1) / mss : 1;
	seg_len = n > 1 ? hlen + mss : len;
	total = n * hlen + payload;
	if (seg_len > mtu || total > cap)
		return UDP_DROP_OVERSIZE;
	id0 = get16(p + 4);
	seq0 = get32(p + ihl + 4);
	flags0 = p[ihl + 13];
	base = udp_csum_add(0, p + 12, 8) + htons(PROTO_TCP);
	for (size_t i = 0; i < n; i++) {
		uint8_t *o = out + i * seg_len, *tcp = o + ihl;
		size_t plen = i + 1 < n ? mss : payload - i * mss;
		uint8_t f = flags0;
		uint16_t c;

		memcpy(o, p, hlen);
		memcpy(o + hlen, p + hlen + i * mss, plen);
		put16(o + 2, (uint16_t)(hlen + plen));
		put16(o + 4, (uint16_t)(id0 + i));
		ip_csum_set(o, ihl);
		put32(tcp + 4, seq0 + (uint32_t)(i * mss));
		if (i + 1 < n)
			f &= (uint8_t) ~(TCP_FIN | TCP_PSH);
		if (i > 0)
			f &= (uint8_t)~TCP_CWR;
		tcp[13] = f;
		tcp[16] = tcp[17] = 0;
		c = udp_csum_fold(
			udp_csum_add(base + htons((uint16_t)(thl + plen)), tcp, thl + plen));
		memcpy(tcp + 16, &c, 2);
	}
	*ret = (struct udp_segs){ n, seg_len, total };
	return UDP_DROP_NONE;
}

/* ------------------------------------------------------------ offloads: receive */

/*
 * Both checksums verify. The super-packet goes to the kernel with a partial
 * checksum it trusts, so a corrupt segment merged into it would be laundered.
 */
static bool gro_csum_ok(const uint8_t *p, size_t len)
{
	return udp_csum_fold(udp_csum_add(0, p, IP_HLEN)) == 0 &&
	       udp_csum_fold(pseudo_sum(p, len - IP_HLEN) +
			     udp_csum_add(0, p + IP_HLEN, len - IP_HLEN)) == 0;
}

/*
 * A segment we may coalesce: plain header, DF, TCP with ACK (and PSH) only,
 * some payload, valid checksums (a bad one goes on alone for the kernel to drop).
 */
static bool gro_candidate(const uint8_t *p, size_t len, size_t *thl)
{
	uint8_t f;

	if (p[0] != 0x45 || p[9] != PROTO_TCP || (get16(p + 6) & ~IP_DF & 0xffff) != 0 ||
	    !(get16(p + 6) & IP_DF) || len < IP_HLEN + 20)
		return false;
	*thl = (size_t)(p[IP_HLEN + 12] >> 4) * 4;
	f = p[IP_HLEN + 13];
	return *thl >= 20 && IP_HLEN + *thl < len && (f & ~(TCP_ACK | TCP_PSH)) == 0 &&
	       (f & TCP_ACK) && gro_csum_ok(p, len);
}

/* Same addresses and ports (p may carry IP options; items never do). */
static bool same_flow(const struct udp_gro_item *it, const uint8_t *p, size_t len)
{
	size_t ihl = (size_t)(p[0] & 0xf) * 4;

	return ihl + 4 <= len && memcmp(it->buf + 12, p + 12, 8) == 0 &&
	       memcmp(it->buf + IP_HLEN, p + ihl, 4) == 0;
}

static bool can_append(const struct udp_gro_item *it, const uint8_t *p, size_t len, size_t thl)
{
	const uint8_t *b = it->buf;
	size_t plen = len - IP_HLEN - thl;

	/*
	 * b[32]: the whole data offset/reserved byte (AE included), not just the
	 * offset. The urgent pointer too (38): resegmenting copies the first one.
	 */
	return !it->closed && it->hlen == IP_HLEN + thl && b[1] == p[1] && b[8] == p[8] &&
	       b[32] == p[32] && get32(p + IP_HLEN + 4) == it->next_seq &&
	       memcmp(b + 28, p + 28, 4) == 0 && memcmp(b + 34, p + 34, 2) == 0 &&
	       memcmp(b + 38, p + 38, 2) == 0 && memcmp(b + 40, p + 40, thl - 20) == 0 &&
	       plen <= it->gso_size && it->len + plen <= UDP_PKT_IP_MAX;
}

static void gro_emit_item(struct udp_gro *g, struct udp_gro_item *it)
{
	struct udp_vnet vh = { 0 };
	uint8_t *b = it->buf;

	if (it->nseg > 1) {
		uint16_t c;

		put16(b + 2, (uint16_t)it->len);
		ip_csum_set(b, IP_HLEN);
		/* Partial checksum: the folded pseudo-header, not complemented. */
		c = (uint16_t)~udp_csum_fold(pseudo_sum(b, it->len - IP_HLEN));
		memcpy(b + IP_HLEN + 16, &c, 2);
		vh = (struct udp_vnet){
			UDP_VNET_NEEDS_CSUM, UDP_VNET_GSO_TCPV4, it->hlen, it->gso_size, IP_HLEN, 16
		};
	}
	g->emit(g->arg, &vh, b, it->len);
	it->used = false;
}

static void gro_start(struct udp_gro *g, struct udp_gro_item *it, const uint8_t *p, size_t len,
		      size_t thl)
{
	size_t plen = len - IP_HLEN - thl;

	memcpy(it->buf, p, len);
	it->len = len;
	it->hlen = (uint16_t)(IP_HLEN + thl);
	it->gso_size = (uint16_t)plen;
	it->nseg = 1;
	it->next_seq = get32(p + IP_HLEN + 4) + (uint32_t)plen;
	it->closed = (p[IP_HLEN + 13] & TCP_PSH) != 0;
	it->age = g->clock++;
	it->used = true;
}

void udp_gro_init(struct udp_gro *g, uint8_t *arena, udp_gro_emit emit, void *arg)
{
	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < UDP_GRO_ITEMS; i++)
		g->it[i].buf = arena + i * UDP_PKT_IP_MAX;
	g->emit = emit;
	g->arg = arg;
}

void udp_gro_add(struct udp_gro *g, const uint8_t *p, size_t len)
{
	struct udp_gro_item *it = NULL, *old = NULL;
	size_t thl = 0, plen;

	for (size_t i = 0; i < UDP_GRO_ITEMS && !it; i++)
		if (g->it[i].used && same_flow(&g->it[i], p, len))
			it = &g->it[i];
	if (!gro_candidate(p, len, &thl)) {
		/* Keep the flow in order: what was held for it goes first. */
		if (it)
			gro_emit_item(g, it);
		g->emit(g->arg, &(struct udp_vnet){ 0 }, p, len);
		return;
	}
	if (it) {
		if (can_append(it, p, len, thl)) {
			plen = len - IP_HLEN - thl;
			memcpy(it->buf + it->len, p + IP_HLEN + thl, plen);
			it->len += plen;
			it->next_seq += (uint32_t)plen;
			it->nseg++;
			if (plen < it->gso_size)
				it->closed = true;
			if (p[IP_HLEN + 13] & TCP_PSH) {
				it->buf[IP_HLEN + 13] |= TCP_PSH;
				it->closed = true;
			}
			return;
		}
		gro_emit_item(g, it);
	} else {
		for (size_t i = 0; i < UDP_GRO_ITEMS && !it; i++)
			if (!g->it[i].used)
				it = &g->it[i];
		if (!it) {
			for (size_t i = 0; i < UDP_GRO_ITEMS; i++)
				if (!old || g->it[i].age < old->age)
					old = &g->it[i];
			gro_emit_item(g, old);
			it = old;
		}
	}
	gro_start(g, it, p, len, thl);
}

void udp_gro_flush(struct udp_gro *g)
{
	/* Oldest first, so flows come out in the order they started. */
	for (;;) {
		struct udp_gro_item *old = NULL;

		for (size_t i = 0; i < UDP_GRO_ITEMS; i++)
			if (g->it[i].used && (!old || g->it[i].age < old->age))
				old = &g->it[i];
		if (!old)
			return;
		gro_emit_item(g, old);
	}
}
