/* SPDX-License-Identifier: Apache-2.0 */
/* The two-pass (jansson) lease value decoder, the oracle for src/leasevalue.c. */
#ifndef FLANNELD_LEASE_REF_H
#define FLANNELD_LEASE_REF_H

#include "subnet.h"

int lease_attrs_parse_ref(const char *json, size_t len, struct lease_attrs *ret, char *err,
			  size_t errlen);

#endif
