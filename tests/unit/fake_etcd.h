/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A scripted stand-in for etcd.h and the loop's timers, for unit tests of the
 * lease decisions (leasewatch, ownlease). Calls are queued with copies of
 * their arguments; a test takes them in order, checks them and answers with
 * decoded replies and watch events, so no transport is involved. Timers fire
 * only when the test moves the fake clock.
 */
#ifndef FLANNELD_FAKE_ETCD_H
#define FLANNELD_FAKE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"

enum fake_kind {
	FAKE_RANGE,
	FAKE_PUT,
	FAKE_DELETE,
	FAKE_TXN,
	FAKE_GRANT,
	FAKE_KEEPALIVE,
	FAKE_REVOKE,
	FAKE_TIMETOLIVE,
};

struct fake_op {
	enum etcd_op_type type;
	char key[512];
	char value[4096];
	int64_t lease;
};

struct fake_call {
	enum fake_kind kind;
	char key[512]; /* range/put/delete; a page's key may end in a NUL byte */
	size_t key_len;
	bool has_range_end;
	int64_t revision, limit; /* range */
	int64_t id, ttl;	 /* lease calls */
	/* txn: the compare and the first op of each branch */
	size_t n_cmp, n_success, n_failure;
	struct etcd_cmp cmp; /* key points into cmp_key */
	char cmp_key[512];
	struct fake_op success, failure;
	etcd_reply_cb cb;
	void *arg;
};

void fake_reset(void);
size_t fake_pending(void);
/* The oldest queued call, which must be of this kind (fails the test otherwise). */
struct fake_call fake_take(enum fake_kind kind);
void fake_answer(const struct fake_call *c, const struct etcd_reply *r);

/* The watch, if one is running. */
bool fake_watching(void);
int64_t fake_watch_start_rev(void);
unsigned fake_watch_starts(void);
void fake_watch_deliver(int64_t revision, const struct etcd_event *ev, size_t n);
void fake_watch_compacted(int64_t compact_revision);
/* Make the next etcd_watch_start() fail with -ENOMEM. */
void fake_watch_fail_next(void);

/* Timers: advance the fake clock, firing what falls due (in order). */
void fake_advance_ms(uint64_t ms);
bool fake_timer_armed_within(uint64_t ms);

#endif
