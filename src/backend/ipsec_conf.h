/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ipsec backend's options, decoded as upstream's Go struct is (names
 * case-insensitive, last duplicate wins, null keeps the default, unknown
 * names ignored): PSK (at least 96 characters), UDPEncap, ESPProposal, and
 * ours: VICISocket, the charon VICI socket to talk to. Pure.
 */
#ifndef FLANNELD_IPSEC_CONF_H
#define FLANNELD_IPSEC_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define IPSEC_PSK_MIN		96
#define IPSEC_PSK_MAX		1024
#define IPSEC_PROPOSAL_MAX	127
#define IPSEC_SOCKET_MAX	107 /* sun_path less its NUL */
#define IPSEC_DEFAULT_ESP	"aes128gcm16-sha256-prfsha256-ecp256"
#define IPSEC_DEFAULT_SOCKET	"/var/run/charon.vici"
#define IPSEC_OVERHEAD		77 /* upstream: outer IP, ESP header, IV, pad, trailer, ICV */
#define IPSEC_UDPENCAP_OVERHEAD 8

struct ipsec_conf {
	char psk[IPSEC_PSK_MAX + 1];
	bool udp_encap;
	char esp_proposal[IPSEC_PROPOSAL_MAX + 1];
	char vici_socket[IPSEC_SOCKET_MAX + 1]; /* a path; "unix://" stripped */
};

/* 0, or -EINVAL with a message naming the field in err (never the key itself). */
int ipsec_conf_parse(const char *json, size_t len, struct ipsec_conf *ret, char *err,
		     size_t errlen);

/* A socket path from "unix:///path" or "/path" into out; -EINVAL when neither. */
int ipsec_socket_path(const char *s, char *out, size_t outlen);

#endif
