/* SPDX-License-Identifier: Apache-2.0 */
/* The scripted etcd and loop timers of fake_etcd.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "fake_etcd.h"
#include "loop.h"

#define MAX_CALLS  64
#define MAX_TIMERS 32

struct etcd_watch {
	const struct etcd_watch_ops *ops;
	void *arg;
	int64_t start_rev;
};

static struct fake_call calls[MAX_CALLS];
static size_t n_calls;
static struct etcd_watch *watch;
static unsigned watch_starts;
static bool watch_fail_next;
static uint64_t now_ms = 1000000;
static struct loop_timer *timers[MAX_TIMERS];

void fake_reset(void)
{
	n_calls = 0;
	free(watch);
	watch = NULL;
	watch_starts = 0;
	watch_fail_next = false;
	memset(timers, 0, sizeof(timers));
}

static struct fake_call *push(enum fake_kind kind, etcd_reply_cb cb, void *arg)
{
	struct fake_call *c;

	if (n_calls == MAX_CALLS)
		fail_msg("more than %d etcd calls queued", MAX_CALLS);
	c = &calls[n_calls++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->cb = cb;
	c->arg = arg;
	return c;
}

static void copy_key(struct fake_call *c, const char *key, size_t len)
{
	assert_true(len < sizeof(c->key));
	memcpy(c->key, key, len);
	c->key[len] = '\0';
	c->key_len = len;
}

size_t fake_pending(void)
{
	return n_calls;
}

struct fake_call fake_take(enum fake_kind kind)
{
	struct fake_call c;

	if (n_calls == 0)
		fail_msg("expected an etcd call of kind %d, none queued", kind);
	c = calls[0];
	memmove(calls, calls + 1, (n_calls - 1) * sizeof(calls[0]));
	n_calls--;
	if (c.kind != kind)
		fail_msg("expected an etcd call of kind %d, got kind %d (%s)", kind, c.kind, c.key);
	return c;
}

void fake_answer(const struct fake_call *c, const struct etcd_reply *r)
{
	c->cb(c->arg, r);
}

/* ---------------------------------------------------------------- etcd.h */

int etcd_range(struct etcd *e, const char *key, size_t key_len, const char *range_end,
	       size_t range_end_len, int64_t revision, int64_t limit, etcd_reply_cb cb, void *arg)
{
	struct fake_call *c = push(FAKE_RANGE, cb, arg);

	copy_key(c, key, key_len);
	c->has_range_end = range_end != NULL;
	c->revision = revision;
	c->limit = limit;
	return 0;
}

int etcd_put(struct etcd *e, const char *key, size_t key_len, const char *value, size_t value_len,
	     int64_t lease, etcd_reply_cb cb, void *arg)
{
	struct fake_call *c = push(FAKE_PUT, cb, arg);

	copy_key(c, key, key_len);
	snprintf(c->success.value, sizeof(c->success.value), "%.*s", (int)value_len, value);
	c->success.lease = lease;
	return 0;
}

int etcd_delete(struct etcd *e, const char *key, size_t key_len, etcd_reply_cb cb, void *arg)
{
	copy_key(push(FAKE_DELETE, cb, arg), key, key_len);
	return 0;
}

static void copy_op(struct fake_op *to, const struct etcd_op *op)
{
	to->type = op->type;
	snprintf(to->key, sizeof(to->key), "%.*s", (int)op->key_len, op->key);
	if (op->value)
		snprintf(to->value, sizeof(to->value), "%.*s", (int)op->value_len, op->value);
	to->lease = op->lease;
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, etcd_reply_cb cb, void *arg)
{
	struct fake_call *c = push(FAKE_TXN, cb, arg);

	c->n_cmp = n_cmp;
	c->n_success = n_success;
	c->n_failure = n_failure;
	if (n_cmp) {
		c->cmp = cmp[0];
		snprintf(c->cmp_key, sizeof(c->cmp_key), "%.*s", (int)cmp[0].key_len, cmp[0].key);
		c->cmp.key = c->cmp_key;
		copy_key(c, cmp[0].key, cmp[0].key_len);
	}
	if (n_success)
		copy_op(&c->success, &success[0]);
	if (n_failure)
		copy_op(&c->failure, &failure[0]);
	return 0;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl, etcd_reply_cb cb, void *arg)
{
	push(FAKE_GRANT, cb, arg)->ttl = ttl;
	return 0;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	push(FAKE_KEEPALIVE, cb, arg)->id = id;
	return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	push(FAKE_REVOKE, cb, arg)->id = id;
	return 0;
}

int etcd_lease_timetolive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	push(FAKE_TIMETOLIVE, cb, arg)->id = id;
	return 0;
}

int etcd_watch_start(struct etcd *e, const char *key, size_t key_len, const char *range_end,
		     size_t range_end_len, int64_t start_revision, const struct etcd_watch_ops *ops,
		     void *arg, struct etcd_watch **ret)
{
	if (watch_fail_next) {
		watch_fail_next = false;
		return -ENOMEM;
	}
	if (watch)
		fail_msg("a second watch started while one runs");
	watch = calloc(1, sizeof(*watch));
	assert_non_null(watch);
	watch->ops = ops;
	watch->arg = arg;
	watch->start_rev = start_revision;
	watch_starts++;
	*ret = watch;
	return 0;
}

void etcd_watch_stop(struct etcd_watch *w)
{
	if (!w)
		return;
	assert_ptr_equal(w, watch);
	free(watch);
	watch = NULL;
}

size_t etcd_prefix_end(const char *key, size_t key_len, char *buf, size_t size)
{
	if (key_len + 1 > size || key_len == 0)
		return 0;
	memcpy(buf, key, key_len);
	buf[key_len - 1]++;
	buf[key_len] = '\0';
	return key_len;
}

bool fake_watching(void)
{
	return watch != NULL;
}

int64_t fake_watch_start_rev(void)
{
	assert_non_null(watch);
	return watch->start_rev;
}

unsigned fake_watch_starts(void)
{
	return watch_starts;
}

void fake_watch_deliver(int64_t revision, const struct etcd_event *ev, size_t n)
{
	assert_non_null(watch);
	watch->ops->events(watch->arg, revision, ev, n);
}

void fake_watch_compacted(int64_t compact_revision)
{
	assert_non_null(watch);
	watch->ops->compacted(watch->arg, compact_revision);
}

void fake_watch_fail_next(void)
{
	watch_fail_next = true;
}

/* ---------------------------------------------------------------- loop.h timers */

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
	for (size_t i = 0; i < MAX_TIMERS; i++)
		if (timers[i] == t)
			timers[i] = NULL;
	t->armed = false;
}

void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms)
{
	size_t i;

	loop_timer_cancel(loop, t);
	for (i = 0; i < MAX_TIMERS && timers[i]; i++)
		;
	if (i == MAX_TIMERS)
		fail_msg("more than %d timers armed", MAX_TIMERS);
	t->due_ms = now_ms + delay_ms;
	t->armed = true;
	timers[i] = t;
}

uint64_t loop_now_ms(void)
{
	return now_ms;
}

static struct loop_timer *earliest_due(uint64_t until)
{
	struct loop_timer *best = NULL;

	for (size_t i = 0; i < MAX_TIMERS; i++)
		if (timers[i] && timers[i]->due_ms <= until &&
		    (!best || timers[i]->due_ms < best->due_ms))
			best = timers[i];
	return best;
}

void fake_advance_ms(uint64_t ms)
{
	uint64_t until = now_ms + ms;
	struct loop_timer *t;
	unsigned fired = 0;

	while ((t = earliest_due(until))) {
		if (++fired > 1000)
			fail_msg("timers keep re-arming within the window");
		if (t->due_ms > now_ms)
			now_ms = t->due_ms;
		loop_timer_cancel(NULL, t);
		t->cb(t->arg);
	}
	now_ms = until;
}

bool fake_timer_armed_within(uint64_t ms)
{
	return earliest_due(now_ms + ms) != NULL;
}
