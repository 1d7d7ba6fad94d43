/* SPDX-License-Identifier: Apache-2.0 */
/* The old jansson-based BackendData decoders: a reference for differential tests only. */
#ifndef FLANNELD_BACKEND_DATA_REF_H
#define FLANNELD_BACKEND_DATA_REF_H

#include <stddef.h>
#include <stdint.h>

int ref_vxlan_lease_data_parse(const char *json, size_t len, uint8_t mac[6], char *err,
			       size_t errlen);
int ref_wg_lease_data_parse(const char *json, size_t len, uint8_t key[32], uint16_t *port,
			    char *err, size_t errlen);
/*
 * Run old and new over buf and abort (naming the input) unless they agree:
 * the same verdict, the same MAC, key and port, and the same message
 * (for invalid JSON, both must say "invalid JSON": the texts differ).
 */
void backend_data_agree(const char *buf, size_t len);

#endif
