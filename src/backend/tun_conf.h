/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipip and wireguard backend configs, and wireguard's lease BackendData,
 * decoded as upstream's Go structs are (names case-insensitive, last
 * duplicate wins, null keeps the default, unknown names ignored). Pure.
 */
#ifndef FLANNELD_TUN_CONF_H
#define FLANNELD_TUN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip.h"

#define IPIP_OVERHEAD 20 /* the outer IPv4 header */
#define WG_OVERHEAD   80 /* upstream's figure: outer IPv6 40 + UDP 8 + WireGuard 32 */
#ifndef WG_KEY_LEN
#define WG_KEY_LEN 32 /* as linux/wireguard.h */
#endif
#define WG_KEY_B64LEN 44 /* base64 of 32 bytes, with its one '=' */

struct ipip_conf {
	bool direct_routing;
};

enum wg_mode { WG_MODE_SEPARATE, WG_MODE_AUTO, WG_MODE_IPV4, WG_MODE_IPV6 };

struct wg_conf {
	uint16_t listen_port;	 /* default 51820 */
	uint16_t listen_port_v6; /* default 51821 */
	bool has_psk;
	uint8_t psk[WG_KEY_LEN];
	uint16_t keepalive; /* PersistentKeepaliveInterval, seconds; 0: off */
	enum wg_mode mode;
	unsigned mtu; /* underlay MTU to subtract from; 0: the external interface's */
};

/* 0, or -EINVAL with a message naming the field in err. */
int ipip_conf_parse(const char *json, size_t len, struct ipip_conf *ret, char *err, size_t errlen);
int wg_conf_parse(const char *json, size_t len, struct wg_conf *ret, char *err, size_t errlen);
const char *wg_mode_name(enum wg_mode m);

/*
 * A remote lease's BackendData {"PublicKey":"<base64>","Port":51820}: the
 * key (32 bytes) and the port (0 when absent: the receiver uses its own
 * listen port, as upstream). 0 or -EINVAL with a message in err.
 */
int wg_lease_data_parse(const char *json, size_t len, uint8_t key[WG_KEY_LEN], uint16_t *port,
			char *err, size_t errlen);
/* Our BackendData exactly as upstream (v0.26.6+) marshals it; malloc'd or NULL. */
char *wg_lease_data_format(const uint8_t key[WG_KEY_LEN], uint16_t port);

/*
 * Mode auto's choice for a peer that has both a PublicIP and a PublicIPv6
 * (upstream's): its IPv6 when its IPv4 is private (RFC 1918) or we have
 * none (local4 0), and both its IPv6 and ours (local6 NULL: none) are
 * global, not unique local (fc00::/7). Else its IPv4.
 */
bool wg_auto_prefers_v6(uint32_t remote4, const struct ip6 *remote6, uint32_t local4,
			const struct ip6 *local6);

/* Standard base64 of a 32-byte key into buf (WG_KEY_B64LEN + 1 bytes); returns buf. */
char *wg_key_to_base64(const uint8_t key[WG_KEY_LEN], char *buf);
/* The inverse; exactly 44 characters with the '=' pad. 0 or -EINVAL. */
int wg_key_from_base64(const char *s, size_t len, uint8_t key[WG_KEY_LEN]);

#endif
