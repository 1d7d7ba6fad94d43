/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 addresses and CIDR math; pure functions, no I/O. */
#ifndef FLANNELD_IP_H
#define FLANNELD_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large enough for any IPv6 text form plus "/128". */
#define IP_STRLEN  52
#define MAC_STRLEN 18

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

/* A MAC address as "aa:bb:cc:dd:ee:ff" into buf (MAC_STRLEN bytes); returns buf. */
char *mac_format(const uint8_t mac[6], char *buf);
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

/*
 * Any IPv6 text form Go's netip.ParseAddr accepts, without a zone (so not a
 * bare dotted quad; an embedded trailing IPv4 is fine): 0 or -EINVAL.
 */
int ip6_parse(const char *s, struct ip6 *ret);
/*
 * Canonical RFC 5952 text as Go's netip prints it (lowercase, the first
 * longest run of two or more zero groups becomes "::"; IPv4-mapped
 * addresses as ::ffff:a.b.c.d) into buf (at least IP_STRLEN bytes).
 */
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

/*
 * Additions beyond the original API.
 *
 * The *_parsen variants take a length, so text cut out of a larger buffer
 * (a key, a JSON value) needs no copy and an embedded NUL is rejected.
 */
int ip4_parsen(const char *s, size_t len, uint32_t *ret);
int ip6_parsen(const char *s, size_t len, struct ip6 *ret);
int ip4net_parsen(const char *s, size_t len, struct ip4net *ret);
int ip6net_parsen(const char *s, size_t len, struct ip6net *ret);
/*
 * Go's net.ParseIP: a dotted quad or any IPv6 form, no zone. An IPv4 result
 * is returned IPv4-mapped (::ffff:a.b.c.d), as Go keeps it in 16 bytes.
 */
int ip_parse_go(const char *s, size_t len, struct ip6 *ret);
/* Go's IP.To4(): true (and the address) for an IPv4-mapped address. */
bool ip6_to4(const struct ip6 *a, uint32_t *ret);
struct ip6 ip6_from4(uint32_t addr);
/* 128-bit prefix mask; len 0 gives 0 and len >= 128 all ones. */
unsigned __int128 ip6_mask(unsigned len);
/*
 * flannel's IP6.String(), used for subnet keys, lease values and
 * subnet.env: it goes through a big.Int, so an address in [::100:0,
 * ::ffff:ffff] or an IPv4-mapped one prints as a bare dotted quad.
 * Everything else prints as ip6_format() does.
 */
char *ip6_format_flannel(const struct ip6 *a, char *buf);

#endif
