/* SPDX-License-Identifier: Apache-2.0 */
/* A subnet lease as read from or written to etcd. */
#ifndef FLANNELD_LEASE_H
#define FLANNELD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "lease/subnet.h"

struct lease {
	char *key; /* full etcd key, NUL-terminated; owned */
	size_t key_len;
	struct subnet_key subnet;
	struct lease_attrs attrs; /* valid only when has_attrs */
	bool has_attrs;
	int64_t etcd_lease; /* 0: no etcd lease (a reservation) */
	int64_t create_revision, mod_revision;
};

void lease_clear(struct lease *l);

#endif
