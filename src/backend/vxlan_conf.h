/* SPDX-License-Identifier: Apache-2.0 */
/* vxlan backend: its Backend config, its lease BackendData. Pure, no I/O. */
#ifndef FLANNELD_VXLAN_CONF_H
#define FLANNELD_VXLAN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXLAN_DEFAULT_VNI 1
#define VXLAN_KERNEL_PORT 8472 /* what the kernel uses when no port is given */
#define VXLAN_OVERHEAD	  50   /* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */

struct vxlan_conf {
	uint32_t vni;  /* default 1 */
	uint16_t port; /* 0: the kernel's default, 8472 */
	bool gbp, learning, direct_routing;
	bool checksum_offload; /* ours, default true: false turns TX checksum offload off */
	unsigned mtu;	       /* underlay MTU to subtract from; 0: the external interface's */
};

/*
 * Parse the Backend object (names case-insensitive, last duplicate wins,
 * null leaves the default, unknown names ignored, as Go decodes it). A
 * wrong type or an out-of-range value gives -EINVAL and a message naming
 * the field in err.
 */
int vxlan_conf_parse(const char *json, size_t len, struct vxlan_conf *ret, char *err,
		     size_t errlen);

/*
 * A remote lease's BackendData {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}:
 * the VtepMAC, which must be a unicast, non-zero 6-byte address (a zero MAC
 * would become the device's default destination). VNI is not checked, as
 * upstream. 0 or -EINVAL with a message in err.
 */
int vxlan_lease_data_parse(const char *json, size_t len, uint8_t mac[6], char *err, size_t errlen);
/* Our BackendData exactly as upstream marshals it; malloc'd or NULL. */
char *vxlan_lease_data_format(uint32_t vni, const uint8_t mac[6]);

/* Go's net.ParseMAC for 6-byte addresses: aa:bb:.., aa-bb-.. or aabb.ccdd.eeff. */
int vxlan_mac_parse(const char *s, size_t len, uint8_t mac[6]);

#endif
