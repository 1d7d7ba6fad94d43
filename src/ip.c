/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 text forms read and written as Go's net package does, and CIDR math. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ip.h"
#include "textutil.h"

/* Go's dtoi() gives up at this value; anything that large is no prefix length. */
#define DTOI_BIG 0xFFFFFF

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One decimal octet; Go >= 1.17 rejects leading zeros ("010") as ambiguous octal. */
static int parse_octet(const char *s, size_t len, size_t *pos, uint8_t *ret)
{
	unsigned val = 0;
	size_t start = *pos;
	size_t i = start;

	while (i < len && is_digit(s[i])) {
		if (i > start && val == 0)
			return -EINVAL;
		val = val * 10 + (unsigned)(s[i] - '0');
		if (val > 255)
			return -EINVAL;
		i++;
	}
	if (i == start)
		return -EINVAL;
	*pos = i;
	*ret = (uint8_t)val;
	return 0;
}

/* Exactly "a.b.c.d" filling all of s[0..len). */
static int parse_quad(const char *s, size_t len, uint8_t out[4])
{
	size_t pos = 0;
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0) {
			if (pos >= len || s[pos] != '.')
				return -EINVAL;
			pos++;
		}
		if (parse_octet(s, len, &pos, &out[i]) < 0)
			return -EINVAL;
	}
	return pos == len ? 0 : -EINVAL;
}

int ip4_parsen(const char *s, size_t len, uint32_t *ret)
{
	uint8_t b[4];

	if (!s || parse_quad(s, len, b) < 0)
		return -EINVAL;
	*ret = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

int ip4_parse(const char *s, uint32_t *ret)
{
	return s ? ip4_parsen(s, strlen(s), ret) : -EINVAL;
}

/*
 * Text is written by hand, not with snprintf: subnet keys are formatted for
 * every watch event (leasecheck.c), where snprintf cost more than the rest
 * of the key's checks together.
 */
static char *put_dec(char *p, unsigned v)
{
	char d[10];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = d[--n];
	return p;
}

/* Lower-case hex without leading zeros, as Go prints an IPv6 group. */
static char *put_hex(char *p, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 12;

	while (shift > 0 && !(v >> shift & 0xf))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = hex[v >> shift & 0xf];
	return p;
}

/* The dotted quad at p, NUL-terminated; returns the NUL's address. */
static char *put_quad(char *p, uint32_t addr)
{
	for (int shift = 24; shift >= 0; shift -= 8) {
		p = put_dec(p, addr >> shift & 0xff);
		*p++ = shift ? '.' : '\0';
	}
	return p - 1;
}

char *ip4_format(uint32_t addr, char *buf)
{
	put_quad(buf, addr);
	return buf;
}

uint32_t ip4_mask(uint8_t len)
{
	/* A shift by 32 is undefined in C; Go defines it as 0, which /0 needs. */
	if (len == 0)
		return 0;
	if (len >= 32)
		return 0xffffffffu;
	return 0xffffffffu << (32 - len);
}

bool ip4net_contains(const struct ip4net *n, uint32_t addr)
{
	uint32_t m = ip4_mask(n->len);

	return (n->addr & m) == (addr & m);
}

bool ip4net_overlaps(const struct ip4net *a, const struct ip4net *b)
{
	uint32_t m = ip4_mask(a->len < b->len ? a->len : b->len);

	return (a->addr & m) == (b->addr & m);
}

/*
 * IPv6 as netip.ParseAddr reads it: groups of 1-4 hex digits, one "::" that
 * must stand for at least one zero group, an optional trailing dotted quad.
 */
int ip6_parsen(const char *s, size_t len, struct ip6 *ret)
{
	uint8_t ip[16] = { 0 };
	int ellipsis = -1;
	size_t i = 0, p = 0;

	if (!s)
		return -EINVAL;
	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		ellipsis = 0;
		p = 2;
		if (p == len)
			goto done;
	}
	while (i < 16) {
		uint32_t acc = 0;
		size_t off = 0;
		int h;

		while (p + off < len && (h = text_hex_digit(s[p + off])) >= 0) {
			if (off == 4)
				return -EINVAL;
			acc = acc << 4 | (uint32_t)h;
			off++;
		}
		if (off == 0)
			return -EINVAL;
		if (p + off < len && s[p + off] == '.') {
			/* An embedded IPv4 must fill the last 32 bits. */
			if ((ellipsis < 0 && i != 12) || i + 4 > 16)
				return -EINVAL;
			if (parse_quad(s + p, len - p, ip + i) < 0)
				return -EINVAL;
			i += 4;
			p = len;
			break;
		}
		ip[i] = (uint8_t)(acc >> 8);
		ip[i + 1] = (uint8_t)acc;
		i += 2;
		p += off;
		if (p == len)
			break;
		if (s[p] != ':' || p + 1 == len)
			return -EINVAL;
		p++;
		if (s[p] == ':') {
			if (ellipsis >= 0)
				return -EINVAL;
			ellipsis = (int)i;
			p++;
			if (p == len)
				break;
		}
	}
	if (p != len)
		return -EINVAL;
	if (i < 16) {
		size_t n = 16 - i;

		if (ellipsis < 0)
			return -EINVAL;
		memmove(ip + ellipsis + n, ip + ellipsis, i - (size_t)ellipsis);
		memset(ip + ellipsis, 0, n);
	} else if (ellipsis >= 0) {
		return -EINVAL;
	}
done:
	memcpy(ret->b, ip, 16);
	return 0;
}

int ip6_parse(const char *s, struct ip6 *ret)
{
	return s ? ip6_parsen(s, strlen(s), ret) : -EINVAL;
}

struct ip6 ip6_from4(uint32_t addr)
{
	struct ip6 a = { { 0 } };

	a.b[10] = 0xff;
	a.b[11] = 0xff;
	a.b[12] = (uint8_t)(addr >> 24);
	a.b[13] = (uint8_t)(addr >> 16);
	a.b[14] = (uint8_t)(addr >> 8);
	a.b[15] = (uint8_t)addr;
	return a;
}

bool ip6_to4(const struct ip6 *a, uint32_t *ret)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(a->b, prefix, sizeof(prefix)) != 0)
		return false;
	if (ret)
		*ret = (uint32_t)a->b[12] << 24 | (uint32_t)a->b[13] << 16 |
		       (uint32_t)a->b[14] << 8 | a->b[15];
	return true;
}

int ip_parse_go(const char *s, size_t len, struct ip6 *ret)
{
	uint32_t v4;
	size_t i;

	if (!s)
		return -EINVAL;
	/* netip.ParseAddr picks the family by whichever of '.', ':' or '%' comes first. */
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (ip4_parsen(s, len, &v4) < 0)
				return -EINVAL;
			*ret = ip6_from4(v4);
			return 0;
		}
		if (s[i] == ':')
			return ip6_parsen(s, len, ret);
		if (s[i] == '%')
			return -EINVAL;
	}
	return -EINVAL;
}

static unsigned group_at(const struct ip6 *a, int i)
{
	return (unsigned)a->b[2 * i] << 8 | a->b[2 * i + 1];
}

char *ip6_format(const struct ip6 *a, char *buf)
{
	int zstart = -1, zlen = 0;
	uint32_t v4;
	char *p = buf;
	int i, j;

	if (ip6_to4(a, &v4)) {
		memcpy(buf, "::ffff:", 7);
		put_quad(buf + 7, v4);
		return buf;
	}
	/* The first longest run of at least two zero groups becomes "::" (RFC 5952 4.2). */
	for (i = 0; i < 8; i = j + 1) {
		for (j = i; j < 8 && group_at(a, j) == 0; j++)
			;
		if (j - i >= 2 && j - i > zlen) {
			zstart = i;
			zlen = j - i;
		}
	}
	for (i = 0; i < 8; i++) {
		if (i == zstart) {
			*p++ = ':';
			*p++ = ':';
			i += zlen - 1;
			continue;
		}
		if (i > 0 && i != zstart + zlen)
			*p++ = ':';
		p = put_hex(p, group_at(a, i));
	}
	*p = '\0';
	return buf;
}

char *ip6_format_flannel(const struct ip6 *a, char *buf)
{
	unsigned __int128 v = ip6_to_u128(a);
	uint32_t v4;

	/*
	 * big.Int.Bytes() of such a value is exactly 4 bytes long, which
	 * net.IP takes for an IPv4 address; a mapped address is printed by
	 * net.IP.String() as IPv4 too.
	 */
	if (v >= (1u << 24) && v <= 0xffffffffu)
		return ip4_format((uint32_t)v, buf);
	if (ip6_to4(a, &v4))
		return ip4_format(v4, buf);
	return ip6_format(a, buf);
}

/* Go's dtoi() as ParseCIDR uses it: decimal, leading zeros fine, no sign. */
static int parse_prefix_len(const char *s, size_t len, unsigned max, uint8_t *ret)
{
	unsigned long n = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		n = n * 10 + (unsigned long)(s[i] - '0');
		if (n >= DTOI_BIG)
			return -EINVAL;
	}
	if (n > max)
		return -EINVAL;
	*ret = (uint8_t)n;
	return 0;
}

static const char *find_slash(const char *s, size_t len)
{
	return memchr(s, '/', len);
}

int ip4net_parsen(const char *s, size_t len, struct ip4net *ret)
{
	const char *slash;
	uint32_t addr;
	uint8_t plen;

	if (!s || !(slash = find_slash(s, len)))
		return -EINVAL;
	if (ip4_parsen(s, (size_t)(slash - s), &addr) < 0)
		return -EINVAL;
	if (parse_prefix_len(slash + 1, len - (size_t)(slash - s) - 1, 32, &plen) < 0)
		return -EINVAL;
	ret->addr = addr & ip4_mask(plen);
	ret->len = plen;
	return 0;
}

int ip4net_parse(const char *s, struct ip4net *ret)
{
	return s ? ip4net_parsen(s, strlen(s), ret) : -EINVAL;
}

char *ip4net_format(const struct ip4net *n, char *buf)
{
	char q[16];

	snprintf(buf, IP_STRLEN, "%s/%u", ip4_format(n->addr, q), n->len);
	return buf;
}

unsigned __int128 ip6_mask(unsigned len)
{
	if (len == 0)
		return 0;
	if (len >= 128)
		return ~(unsigned __int128)0;
	return ~(unsigned __int128)0 << (128 - len);
}

unsigned __int128 ip6_to_u128(const struct ip6 *a)
{
	unsigned __int128 v = 0;
	int i;

	for (i = 0; i < 16; i++)
		v = v << 8 | a->b[i];
	return v;
}

struct ip6 ip6_from_u128(unsigned __int128 v)
{
	struct ip6 a;
	int i;

	for (i = 15; i >= 0; i--) {
		a.b[i] = (uint8_t)v;
		v >>= 8;
	}
	return a;
}

/* An IPv6 CIDR; like Go, a mapped "::ffff:a.b.c.d/n" is IPv6 with a 128-bit mask. */
int ip6net_parsen(const char *s, size_t len, struct ip6net *ret)
{
	const char *slash;
	struct ip6 addr;
	uint8_t plen;

	if (!s || !(slash = find_slash(s, len)))
		return -EINVAL;
	if (ip6_parsen(s, (size_t)(slash - s), &addr) < 0)
		return -EINVAL;
	if (parse_prefix_len(slash + 1, len - (size_t)(slash - s) - 1, 128, &plen) < 0)
		return -EINVAL;
	ret->addr = ip6_from_u128(ip6_to_u128(&addr) & ip6_mask(plen));
	ret->len = plen;
	return 0;
}

int ip6net_parse(const char *s, struct ip6net *ret)
{
	return s ? ip6net_parsen(s, strlen(s), ret) : -EINVAL;
}

char *ip6net_format(const struct ip6net *n, char *buf)
{
	char a[IP_STRLEN];

	snprintf(buf, IP_STRLEN, "%s/%u", ip6_format(&n->addr, a), n->len);
	return buf;
}

bool ip6_is_zero(const struct ip6 *a)
{
	static const struct ip6 zero;

	return memcmp(a->b, zero.b, sizeof(zero.b)) == 0;
}

bool ip6_equal(const struct ip6 *a, const struct ip6 *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

bool ip6net_contains(const struct ip6net *n, const struct ip6 *a)
{
	unsigned __int128 m = ip6_mask(n->len);

	return (ip6_to_u128(&n->addr) & m) == (ip6_to_u128(a) & m);
}

bool ip6net_overlaps(const struct ip6net *a, const struct ip6net *b)
{
	unsigned __int128 m = ip6_mask(a->len < b->len ? a->len : b->len);

	return (ip6_to_u128(&a->addr) & m) == (ip6_to_u128(&b->addr) & m);
}

/* By hand, not snprintf: each peer's MAC is logged for every watch event. */
char *mac_format(const uint8_t mac[6], char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 6; i++) {
		buf[3 * i] = hex[mac[i] >> 4];
		buf[3 * i + 1] = hex[mac[i] & 15];
		buf[3 * i + 2] = i < 5 ? ':' : '\0';
	}
	return buf;
}
