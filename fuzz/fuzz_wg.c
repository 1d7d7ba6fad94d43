/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what the wireguard backend reads from others: a lease's BackendData
 * (what parses must format and parse back the same), the Backend options,
 * and a GET_DEVICE reply from the kernel (as a netlink message).
 */
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/tun_conf.h"
#include "backend/wg_nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[32], key2[32];
	uint16_t port, port2;
	char err[256];
	struct wg_conf c;
	struct ipip_conf ic;

	if (wg_lease_data_parse((const char *)data, size, key, &port, err, sizeof(err)) == 0) {
		char *s = wg_lease_data_format(key, port);

		if (!s || wg_lease_data_parse(s, strlen(s), key2, &port2, err, sizeof(err)) != 0 ||
		    memcmp(key, key2, 32) != 0 || port != port2)
			abort();
		free(s);
	}
	wg_conf_parse((const char *)data, size, &c, err, sizeof(err));
	ipip_conf_parse((const char *)data, size, &ic, err, sizeof(err));
	if (size >= sizeof(struct nlmsghdr) && size <= 65536) {
		uint64_t *buf = malloc(size + 8);
		struct wg_device d = { 0 };
		struct nlmsghdr *nlh;

		if (!buf)
			return 0;
		memcpy(buf, data, size);
		nlh = (struct nlmsghdr *)buf;
		if (nlh->nlmsg_len > size)
			nlh->nlmsg_len = (uint32_t)size;
		wg_parse_device(nlh, &d);
		wg_device_free(&d);
		free(buf);
	}
	return 0;
}
