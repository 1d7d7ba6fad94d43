/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 addresses and CIDR math; pure functions, no I/O. */
#ifndef FLANNELD_IP_H
#define FLANNELD_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large enough for any IPv6 text form plus "/128". */
#define IP_STRLEN 52

/* IPv4 addresses are kept in host byte order so arithmetic is plain. */
struct ip4net {
	uint32_t addr;
	uint8_t len;
};

struct ip6 {
	uint8_t b[16];
};

struct ip6net {
	struct ip6 addr;
	uint8_t len;
};

/* Strict dotted quad (no leading zeros beyond "0", no trailing text): 0 or -EINVAL. */
int ip4_parse(const char *s, uint32_t *ret);
/* Writes dotted quad into buf (at least 16 bytes); returns buf. */
char *ip4_format(uint32_t addr, char *buf);
/* "a.b.c.d/len" with host bits masked off, as Go's net.ParseCIDR does. */
int ip4net_parse(const char *s, struct ip4net *ret);
/* "a.b.c.d/len" into buf (at least IP_STRLEN bytes); returns buf. */
char *ip4net_format(const struct ip4net *n, char *buf);
uint32_t ip4_mask(uint8_t len);
bool ip4net_contains(const struct ip4net *n, uint32_t addr);
/* True when the two networks share any address. */
bool ip4net_overlaps(const struct ip4net *a, const struct ip4net *b);

/* Any IPv6 text form inet_pton accepts (not IPv4): 0 or -EINVAL. */
int ip6_parse(const char *s, struct ip6 *ret);
/* Canonical RFC 5952 text (Go's form) into buf (at least IP_STRLEN bytes). */
char *ip6_format(const struct ip6 *a, char *buf);
int ip6net_parse(const char *s, struct ip6net *ret);
char *ip6net_format(const struct ip6net *n, char *buf);
bool ip6_is_zero(const struct ip6 *a);
bool ip6_equal(const struct ip6 *a, const struct ip6 *b);
bool ip6net_contains(const struct ip6net *n, const struct ip6 *a);
bool ip6net_overlaps(const struct ip6net *a, const struct ip6net *b);
/* Big-endian 128-bit helpers for subnet iteration. */
unsigned __int128 ip6_to_u128(const struct ip6 *a);
struct ip6 ip6_from_u128(unsigned __int128 v);

#endif
