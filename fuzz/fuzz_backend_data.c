/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-pass vxlan and wireguard BackendData decoders against the
 * jansson-based ones they replaced (tests/unit/backend_data_ref.c): any
 * input on which they disagree aborts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../tests/unit/backend_data_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	backend_data_agree((const char *)data, size);
	return 0;
}
