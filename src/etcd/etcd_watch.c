/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd's watches: one gRPC stream each, resumed after the last revision
 * seen when it breaks, fragments of one response joined, compaction
 * reported, and the backoff between attempts.
 */
#include "etcd/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd/etcd_impl.h"
#include "etcd/etcd_pb.h"
#include "etcd/grpc.h"
#include "etcd/grpc_msg.h"
#include "etcd/http_url.h"
#include "log.h"
#include "loop.h"

/* ---- watches ---- */

static void watch_drop_frags(struct etcd_watch *w)
{
	for (size_t i = 0; i < w->n_frags; i++)
		etcd_watch_msg_free(&w->frags[i]);
	free(w->frags);
	w->frags = NULL;
	w->n_frags = 0;
	w->frag_bytes = 0;
}

void etcd_watch_free(struct etcd_watch *w)
{
	watch_drop_frags(w);
	free(w->key);
	free(w->range_end);
	free(w);
}

static void watch_hold(struct etcd_watch *w)
{
	w->busy++;
}

/* After user callbacks: false if w is gone or the client is being freed. */
static bool watch_release(struct etcd_watch *w)
{
	struct etcd *e = w->x.e;

	if (--w->busy == 0 && w->stopped) {
		etcd_watch_free(w);
		return false;
	}
	return !w->stopped && !e->free_pending;
}

static void watch_set_up(struct etcd_watch *w, bool up)
{
	if (w->up == up)
		return;
	w->up = up;
	if (w->ops.connected)
		w->ops.connected(w->arg, up);
}

static void watch_retry(struct etcd_watch *w, const char *why, bool transport);

static void on_watch_timer(void *arg)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->x.e;
	char why[64];

	etcd_enter(e);
	if (w->state == W_BACKOFF) {
		etcd_watch_attempt(w);
	} else if (w->state == W_RUNNING && !w->up) {
		snprintf(why, sizeof(why), "no watch confirmation within %u ms", e->timeout_ms);
		watch_hold(w);
		watch_retry(w, why, true);
		watch_release(w);
	}
	etcd_leave(e);
}

static int on_watch_message(void *arg, const uint8_t *p, size_t n);
static void on_watch_done(void *arg, int err, int status, const char *text);
static const struct grpc_call_ops watch_ops = { on_watch_message, on_watch_done };

void etcd_watch_attempt(struct etcd_watch *w)
{
	struct etcd *e = w->x.e;
	struct etcd_pb_buf body = { 0 };
	uint64_t delay;
	int err;

	if (etcd_auth_needed(e)) {
		w->state = W_WAIT_AUTH;
		etcd_auth_kick(e);
		return;
	}
	watch_drop_frags(w);
	/* Fragments keep each message under etcd's request cap, whatever the values. */
	err = etcd_pb_watch_create_req(w->key, w->key_len, w->range_end, w->range_end_len,
				       w->next_start, false, true, &body);
	if (!err) {
		if (w->attempts++)
			e->stats.watch_reconnects++;
		err = etcd_xfer_start(e, &w->x, "/etcdserverpb.Watch/Watch", &body, true,
				      &watch_ops, w);
		free(body.data);
	}
	if (err < 0) {
		delay = etcd_next_backoff(e, &w->backoff_ms);
		log_debug(1, "etcd: cannot start watch: %s; retrying in %" PRIu64 " ms",
			  strerror(-err), delay);
		w->state = W_BACKOFF;
		loop_timer_arm(e->loop, &w->timer, delay);
		return;
	}
	w->state = W_RUNNING;
	/* A stuck server would otherwise leave the watch hanging forever. */
	loop_timer_arm(e->loop, &w->timer, e->timeout_ms);
}

/*
 * End the current attempt and schedule the next one with backoff. May call
 * connected(false): the caller must hold w (watch_hold) around it.
 */
static void watch_retry(struct etcd_watch *w, const char *why, bool transport)
{
	struct etcd *e = w->x.e;
	uint64_t delay;

	etcd_note_failure(e, &w->x, why, transport);
	etcd_xfer_stop(&w->x);
	watch_drop_frags(w);
	delay = etcd_next_backoff(e, &w->backoff_ms);
	log_debug(1,
		  "etcd %s: watch failed: %s; reconnecting in %" PRIu64 " ms on %s from %" PRId64,
		  etcd_ep_name(e, &w->x), why, delay, e->endpoints[e->cur_ep], w->next_start);
	w->state = W_BACKOFF;
	loop_timer_arm(e->loop, &w->timer, delay);
	watch_set_up(w, false);
}

static void advance(struct etcd_watch *w, int64_t next)
{
	if (next > w->next_start)
		w->next_start = next;
}

/* The watch ended for good (compaction, or an unreadable message): the owner re-lists. */
static void watch_end(struct etcd_watch *w, int64_t compact_revision)
{
	struct etcd *e = w->x.e;

	etcd_note_answer(e);
	etcd_xfer_stop(&w->x);
	watch_drop_frags(w);
	loop_timer_cancel(e->loop, &w->timer);
	w->state = W_COMPACTED;
	w->up = false;
	w->ops.compacted(w->arg, compact_revision);
}

/*
 * A message over WATCH_MAX_BYTES can never be read, and resuming would send
 * it again: end the watch the way a compaction does, so that the owner
 * re-lists (in pages) and watches on from there.
 */
static void watch_give_up(struct etcd_watch *w)
{
	log_warnx("etcd %s: a watch message is over the %zu MiB cap; re-listing instead",
		  etcd_ep_name(w->x.e, &w->x), WATCH_MAX_BYTES >> 20);
	watch_end(w, 0);
}

/* Handle one whole message (a cancel or compaction also ends the gRPC call). */
static void watch_handle_msg(struct etcd_watch *w, const struct etcd_watch_msg *m)
{
	struct etcd *e = w->x.e;
	char why[ERRTEXT_MAX];

	switch (m->type) {
	case ETCD_WMSG_CANCELED:
		if (etcd_is_auth_refusal(0, m->reason))
			etcd_invalidate_token(e, &w->x);
		snprintf(why, sizeof(why), "watch canceled: %s",
			 m->reason && *m->reason ? m->reason : "no reason given");
		watch_retry(w, why, false);
		return;
	case ETCD_WMSG_COMPACTED:
		/* Terminal: the owner re-lists and starts a new watch. */
		watch_end(w, m->compact_revision);
		return;
	case ETCD_WMSG_CREATED:
	case ETCD_WMSG_EVENTS:
	case ETCD_WMSG_PROGRESS:
		break;
	}
	etcd_note_answer(e);
	if (m->created) {
		/*
		 * A watch "from now" is now anchored. Otherwise "created" must not
		 * advance: its header is ahead of any replay still to come.
		 */
		if (!w->next_start && m->has_revision)
			w->next_start = m->revision + 1;
		w->backoff_ms = 0;
		loop_timer_cancel(e->loop, &w->timer);
		watch_set_up(w, true);
		if (w->stopped || e->free_pending)
			return;
	}
	if (m->type == ETCD_WMSG_EVENTS) {
		/*
		 * Resume after the last event, not after header.revision: during a
		 * batched replay the header already carries the current revision.
		 */
		advance(w, m->events[m->n_events - 1].kv.mod_revision + 1);
		w->ops.events(w->arg, m->revision, m->events, m->n_events);
	} else if (m->type == ETCD_WMSG_PROGRESS && m->has_revision && m->watch_id != -1) {
		advance(w, m->revision + 1);
	}
}

/* Keep a fragment; 0, or -EMSGSIZE/-ENOMEM (m is freed either way on error). */
static int watch_keep_frag(struct etcd_watch *w, struct etcd_watch_msg *m, size_t bytes)
{
	struct etcd_watch_msg *f;

	if (bytes > WATCH_MAX_BYTES - w->frag_bytes) {
		etcd_watch_msg_free(m);
		return -EMSGSIZE;
	}
	f = realloc(w->frags, (w->n_frags + 1) * sizeof(*f));
	if (!f) {
		etcd_watch_msg_free(m);
		return -ENOMEM;
	}
	w->frags = f;
	w->frags[w->n_frags++] = *m;
	w->frag_bytes += bytes;
	memset(m, 0, sizeof(*m));
	return 0;
}

/* The last fragment m joins the kept ones: one message with every event, into *out. */
static int watch_join_frags(struct etcd_watch *w, struct etcd_watch_msg *m,
			    struct etcd_watch_msg *out)
{
	size_t n = m->n_events, k = 0;
	struct etcd_event *ev;

	for (size_t i = 0; i < w->n_frags; i++)
		n += w->frags[i].n_events;
	ev = n ? calloc(n, sizeof(*ev)) : NULL;
	if (n && !ev)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_frags; i++)
		for (size_t j = 0; j < w->frags[i].n_events; j++)
			ev[k++] = w->frags[i].events[j];
	for (size_t j = 0; j < m->n_events; j++)
		ev[k++] = m->events[j];
	*out = *m;
	out->events = ev;
	out->n_events = n;
	out->arena = NULL; /* the arenas stay with the fragments and m */
	out->reason = NULL;
	if (n)
		out->type = ETCD_WMSG_EVENTS;
	return 0;
}

static int on_watch_message(void *arg, const uint8_t *p, size_t n)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->x.e;
	struct etcd_watch_msg m, joined;
	int r;

	if (w->state != W_RUNNING)
		return 0;
	r = etcd_pb_parse_watch(p, n, &m);
	if (r < 0)
		return r == -ENOMEM || r == -ERANGE ? r : -EBADMSG;
	e->stats.watch_messages++;
	if (m.fragment)
		return watch_keep_frag(w, &m, n);
	etcd_enter(e);
	watch_hold(w);
	if (w->n_frags) {
		r = watch_join_frags(w, &m, &joined);
		if (r == 0) {
			watch_handle_msg(w, &joined);
			free(joined.events);
		}
		if (!w->stopped)
			watch_drop_frags(w);
	} else {
		watch_handle_msg(w, &m);
	}
	etcd_watch_msg_free(&m);
	watch_release(w);
	etcd_leave(e);
	return r;
}

static void on_watch_done(void *arg, int err, int status, const char *text)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->x.e;
	char why[ERRTEXT_MAX];

	w->x.gc = NULL;
	etcd_enter(e);
	watch_hold(w);
	if (err == -EMSGSIZE) {
		watch_give_up(w);
	} else if (err == -EBADMSG) {
		watch_retry(w, "malformed watch message", false);
	} else if (err == -ERANGE) {
		watch_retry(w, REVISION_RANGE_TEXT, false);
	} else if (err) {
		watch_retry(w, text ? text : strerror(-err), true);
	} else {
		if (etcd_is_auth_refusal(status, text))
			etcd_invalidate_token(e, &w->x);
		if (status)
			etcd_status_text(why, sizeof(why), status, text);
		else
			snprintf(why, sizeof(why), "watch stream ended");
		watch_retry(w, why, !status || status == GRPC_UNAVAILABLE);
	}
	watch_release(w);
	etcd_leave(e);
}

int etcd_watch_start(struct etcd *e, const char *key, size_t key_len, const char *range_end,
		     size_t range_end_len, int64_t start_revision, const struct etcd_watch_ops *ops,
		     void *arg, struct etcd_watch **ret)
{
	struct etcd_watch *w;

	if (!ops || !ops->events || !ops->compacted || start_revision < 0)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->x.e = e;
	w->key = malloc(key_len + 1);
	if (range_end)
		w->range_end = malloc(range_end_len + 1);
	if (!w->key || (range_end && !w->range_end)) {
		free(w->key);
		free(w->range_end);
		free(w);
		return -ENOMEM;
	}
	memcpy(w->key, key, key_len);
	w->key[key_len] = '\0';
	w->key_len = key_len;
	if (range_end) {
		memcpy(w->range_end, range_end, range_end_len);
		w->range_end[range_end_len] = '\0';
		w->range_end_len = range_end_len;
	}
	w->next_start = start_revision;
	w->ops = *ops;
	w->arg = arg;
	loop_timer_init(&w->timer, on_watch_timer, w);
	w->next = e->watches;
	if (e->watches)
		e->watches->prev = w;
	e->watches = w;
	etcd_watch_attempt(w);
	*ret = w;
	return 0;
}

void etcd_watch_stop(struct etcd_watch *w)
{
	struct etcd *e;

	if (!w || w->stopped)
		return;
	e = w->x.e;
	if (w->prev)
		w->prev->next = w->next;
	else
		e->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	etcd_xfer_stop(&w->x);
	loop_timer_cancel(e->loop, &w->timer);
	w->stopped = true;
	if (!w->busy)
		etcd_watch_free(w);
}
