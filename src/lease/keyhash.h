/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A keyed hash for the tables whose keys other hosts choose (etcd keys,
 * MACs): SipHash-1-3 under a random 128-bit key, so that nobody can pick
 * keys that land in one probe run. Pure logic, but for the seed.
 */
#ifndef FLANNELD_KEYHASH_H
#define FLANNELD_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

#define KEYHASH_SEED_LEN 16

/* SipHash-1-3 of data under seed. */
uint64_t keyhash(const uint8_t seed[KEYHASH_SEED_LEN], const void *data, size_t len);
/*
 * A fresh random seed from getrandom(2), without blocking: early in boot,
 * before the kernel's pool is ready, it falls back to a mix of clocks,
 * the PID and addresses (not secret, but still unknown to other hosts).
 */
void keyhash_seed(uint8_t seed[KEYHASH_SEED_LEN]);

#endif
