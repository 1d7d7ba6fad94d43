/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/txcsum.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Feature strings are few (about 70 today); more would be a broken answer. */
#define FEATURES_MAX   1024
#define FEATURE_PREFIX "tx-checksum-"

static int ethtool(const char *dev, void *cmd)
{
	struct ifreq ifr = { 0 };
	int fd, r = 0;

	if (strlen(dev) >= sizeof(ifr.ifr_name))
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = cmd;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		r = -errno;
	close(fd);
	return r;
}

int txcsum_get(const char *dev, bool *ret_on)
{
	struct ethtool_value v = { .cmd = ETHTOOL_GTXCSUM };
	int r = ethtool(dev, &v);

	if (r == 0)
		*ret_on = v.data != 0;
	return r;
}

/* How many feature strings there are (ETH_SS_FEATURES); 0 when the kernel has none. */
static int feature_count(const char *dev, uint32_t *ret)
{
	struct {
		struct ethtool_sset_info hdr;
		uint32_t len;
	} info = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES } };
	int r = ethtool(dev, &info);

	if (r < 0)
		return r;
	*ret = info.hdr.sset_mask ? info.len : 0;
	return *ret <= FEATURES_MAX ? 0 : -E2BIG;
}

/* ETHTOOL_SFEATURES clearing every feature named tx-checksum-*; -ENOENT: none named so. */
static int sfeatures_off(const char *dev)
{
	struct ethtool_gstrings *names = NULL;
	struct ethtool_sfeatures *set = NULL;
	uint32_t n = 0, blocks, hits = 0;
	int r;

	r = feature_count(dev, &n);
	if (r < 0 || n == 0)
		return r < 0 ? r : -ENOENT;
	blocks = (n + 31) / 32;
	names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
	set = calloc(1, sizeof(*set) + blocks * sizeof(set->features[0]));
	if (!names || !set) {
		r = -ENOMEM;
		goto out;
	}
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_FEATURES;
	names->len = n;
	r = ethtool(dev, names);
	if (r < 0)
		goto out;
	set->cmd = ETHTOOL_SFEATURES;
	set->size = blocks;
	for (uint32_t i = 0; i < n && i < names->len; i++) {
		const char *s = (const char *)names->data + (size_t)i * ETH_GSTRING_LEN;

		if (strncmp(s, FEATURE_PREFIX, strlen(FEATURE_PREFIX)) != 0)
			continue;
		set->features[i / 32].valid |= 1u << (i % 32);
		hits++;
	}
	if (hits == 0) {
		r = -ENOENT;
		goto out;
	}
	/* requested stays 0: off. A positive answer (ETHTOOL_F_*) is checked by reading back. */
	r = ethtool(dev, set);
out:
	free(names);
	free(set);
	return r < 0 ? r : 0;
}

int txcsum_off(const char *dev)
{
	struct ethtool_value v = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	bool on = true;
	int r;

	r = sfeatures_off(dev);
	if (r == -ENOENT || r == -EOPNOTSUPP)
		r = ethtool(dev, &v);
	if (r == 0)
		r = txcsum_get(dev, &on);
	if (r == 0 && on)
		r = -EOPNOTSUPP; /* the device keeps it on (a fixed feature) */
	return r;
}
