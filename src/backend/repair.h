/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A backend's repair timer: soon after the kernel contradicts what the
 * backend wants (notifications come in bursts: a deleted device takes
 * its entries along, so gather them), later and backing off after a
 * write failed. One timer serves both; the due time only moves forward.
 */
#ifndef FLANNELD_REPAIR_H
#define FLANNELD_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct repair {
	struct loop *loop;
	struct loop_timer timer;
	uint64_t retry_ms;
	const char *what; /* named in the retry warning; outlives the repair */
};

void repair_init(struct repair *r, struct loop *loop, void (*run)(void *arg), void *arg,
		 const char *what);
/* Run in a few ms unless due sooner anyway; true if this call armed it. */
bool repair_soon(struct repair *r);
/* repair_soon() and say why: a warning for the first of a burst, debug for the rest. */
void repair_soon_why(struct repair *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A write failed: run again after the current backoff (1 s doubling to 30 s). */
void repair_later(struct repair *r);
/* Everything was written: the next failure starts the backoff over. */
void repair_done(struct repair *r);
void repair_cancel(struct repair *r);

#endif
