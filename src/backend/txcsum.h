/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TX checksum offload of a device, through the ethtool ioctl (no ethtool
 * binary): read it, turn it off. The vxlan backend's "ChecksumOffload":
 * false uses it against the bad outer UDP checksums some kernels and
 * NATs produce (upstream issues #1279, #2152).
 */
#ifndef FLANNELD_TXCSUM_H
#define FLANNELD_TXCSUM_H

#include <stdbool.h>

/* 0 with *ret_on: whether any tx-checksum-* feature is on; or -errno. */
int txcsum_get(const char *dev, bool *ret_on);
/*
 * Turn every tx-checksum-* feature off (ETHTOOL_SFEATURES; the legacy
 * ETHTOOL_STXCSUM where the kernel has no feature strings). 0 once the
 * device reports it off, else -errno.
 */
int txcsum_off(const char *dev);

#endif
