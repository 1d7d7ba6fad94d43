/* SPDX-License-Identifier: Apache-2.0 */
/* etcd v3 client over native gRPC (grpc.c) and the daemon loop. */
#include "etcd/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd/etcd_pb.h"
#include "etcd/grpc.h"
#include "etcd/grpc_msg.h"
#include "etcd/http_url.h"
#include "log.h"
#include "loop.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define BACKOFF_MIN_MS	   100u
#define BACKOFF_MAX_MS	   5000u
/* Largest answer to a unary call; a lease list is read in pages far below it. */
#define UNARY_MAX_BYTES ((size_t)64 << 20)
/* Largest watch message, and the largest response its fragments may add up to. */
#define WATCH_MAX_BYTES	 ((size_t)16 << 20)
#define MAX_AUTH_RETRIES 3
#define ERRTEXT_MAX	 384
/*
 * etcd_pb refuses answers holding a revision that is negative or INT64_MAX,
 * so every "revision + 1" below (watch resume points, the listing's watch
 * start) stays defined.
 */
#define REVISION_RANGE_TEXT "etcd sent a revision out of range (negative or 2^63-1)"

/* gRPC status codes that the client acts on. */
#define GRPC_FAILED_PRECONDITION 9
#define GRPC_UNAVAILABLE	 14
#define GRPC_UNAUTHENTICATED	 16

enum auth_state {
	AUTH_OFF,      /* no username configured */
	AUTH_NEEDED,   /* authenticate before the next request */
	AUTH_OK,       /* token holds a token */
	AUTH_DISABLED, /* etcd said "authentication is not enabled" */
};

/* One gRPC call attempt; embedded in unary requests and watches. */
struct xfer {
	struct etcd *e;
	struct grpc_call *gc; /* in flight */
	size_t ep;	      /* endpoint index of this attempt */
	unsigned token_gen;   /* e->token_gen when it was sent */
};

enum req_state { REQ_IDLE, REQ_WAIT_AUTH, REQ_RUNNING, REQ_BACKOFF };

struct etcd_req {
	struct xfer x;
	struct etcd_req *next, *prev;
	enum etcd_pb_kind kind;
	const char *path; /* gRPC method */
	struct etcd_pb_buf body;
	etcd_reply_cb cb;
	void *arg;
	enum req_state state;
	bool doomed; /* authentication failed while it waited */
	struct etcd_pb_reply pr;
	int parse_err;		 /* the answer did not parse */
	bool answered;		 /* a message came */
	struct loop_timer timer; /* backoff */
	uint64_t backoff_ms;
	int auth_retries;
};

enum watch_state { W_WAIT_AUTH, W_RUNNING, W_BACKOFF, W_COMPACTED };

struct etcd_watch {
	struct xfer x;
	struct etcd_watch *next, *prev;
	char *key, *range_end; /* range_end NULL: single key */
	size_t key_len, range_end_len;
	int64_t next_start;
	struct etcd_watch_ops ops;
	void *arg;
	enum watch_state state;
	struct etcd_watch_msg *frags; /* fragments of one response, until its last */
	size_t n_frags, frag_bytes;
	bool up;       /* connected(true) was reported */
	unsigned busy; /* user callbacks on the stack */
	bool stopped;  /* etcd_watch_stop() while busy */
	unsigned attempts;
	uint64_t backoff_ms;
	struct loop_timer timer; /* backoff, or the deadline for "created" */
};

struct etcd {
	struct loop *loop;
	struct grpc *grpc;
	char **endpoints;
	struct http_url *urls; /* endpoints, parsed */
	size_t n_endpoints, cur_ep;
	char *username;
	unsigned timeout_ms;

	enum auth_state auth;
	char *token;
	unsigned token_gen;
	struct etcd_req authr; /* the authenticate call; never in reqs */
	bool auth_active;
	uint64_t auth_not_before;

	struct etcd_req *reqs;
	struct etcd_watch *watches;

	struct etcd_stats stats;
	uint64_t unreachable_since;
	uint64_t rng;
	unsigned depth; /* loop callbacks of ours on the stack */
	bool free_pending;
	char last_error[512];
};

static void req_start(struct etcd_req *r);
static void watch_attempt(struct etcd_watch *w);

/* ---- small helpers ---- */

static void enter(struct etcd *e)
{
	e->depth++;
}

static void destroy(struct etcd *e);

static void leave(struct etcd *e)
{
	if (--e->depth == 0 && e->free_pending)
		destroy(e);
}

static uint64_t rnd(struct etcd *e)
{
	/* xorshift64*: jitter only. */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 2685821657736338717ull;
}

/* Delay for this failure in [b/2, b]; b doubles up to BACKOFF_MAX_MS. */
static uint64_t next_backoff(struct etcd *e, uint64_t *backoff)
{
	uint64_t b = *backoff ? *backoff : BACKOFF_MIN_MS;

	*backoff = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	return b / 2 + rnd(e) % (b / 2 + 1);
}

static const char *ep_name(const struct etcd *e, const struct xfer *x)
{
	return e->endpoints[x->ep];
}

static void rotate(struct etcd *e, size_t ep)
{
	if (e->cur_ep == ep)
		e->cur_ep = (ep + 1) % e->n_endpoints;
}

/* etcd answered something: it is reachable. */
static void note_answer(struct etcd *e)
{
	e->unreachable_since = 0;
	e->last_error[0] = '\0';
}

static void note_failure(struct etcd *e, const struct xfer *x, const char *text, bool transport)
{
	e->stats.errors++;
	snprintf(e->last_error, sizeof(e->last_error), "%s: %s", ep_name(e, x), text);
	if (transport) {
		if (!e->unreachable_since) {
			uint64_t now = loop_now_ms();

			e->unreachable_since = now ? now : 1;
		}
		rotate(e, x->ep);
	}
}

static bool auth_needed(const struct etcd *e)
{
	return e->auth == AUTH_NEEDED;
}

/* The token sent with x was refused: forget it, unless a newer one exists. */
static void invalidate_token(struct etcd *e, const struct xfer *x)
{
	if (!e->username || x->token_gen != e->token_gen)
		return;
	free(e->token);
	e->token = NULL;
	e->auth = AUTH_NEEDED;
	e->token_gen++;
}

static bool is_auth_refusal(int status, const char *msg)
{
	return status == GRPC_UNAUTHENTICATED ||
	       (msg && (strstr(msg, "invalid auth token") || strstr(msg, "user name is empty")));
}

/* "UNAVAILABLE: etcdserver: no leader"; a status without text reads as its name. */
static void status_text(char *buf, size_t len, int status, const char *msg)
{
	snprintf(buf, len, "%s (gRPC status %d)%s%s", grpc_status_name(status), status,
		 msg && *msg ? ": " : "", msg ? msg : "");
}

/* ---- gRPC calls ---- */

static void xfer_stop(struct xfer *x)
{
	grpc_call_cancel(x->gc);
	x->gc = NULL;
}

/* Start one call on the current endpoint. No callback runs from here. */
static int xfer_start(struct etcd *e, struct xfer *x, const char *path,
		      const struct etcd_pb_buf *body, bool watch, const struct grpc_call_ops *ops,
		      void *arg)
{
	struct grpc_call_params p = {
		.path = path,
		.msg = body->data,
		.len = body->len,
		.stream = watch,
		.hasleader = watch,
		.timeout_ms = watch ? 0 : e->timeout_ms,
		.max_msg = watch ? WATCH_MAX_BYTES : UNARY_MAX_BYTES,
	};
	int r;

	x->ep = e->cur_ep;
	x->token_gen = e->token_gen;
	p.url = &e->urls[x->ep];
	p.token = e->token;
	r = grpc_call(e->grpc, &p, ops, arg, &x->gc);
	if (r < 0)
		return r;
	e->stats.requests++;
	return 0;
}

/* ---- authentication ---- */

static void on_req_timer(void *arg);

static void auth_kick(struct etcd *e)
{
	uint64_t now = loop_now_ms();

	if (e->auth_active)
		return;
	e->auth_active = true;
	if (e->auth_not_before > now) {
		e->authr.state = REQ_BACKOFF;
		loop_timer_arm(e->loop, &e->authr.timer, e->auth_not_before - now);
		return;
	}
	req_start(&e->authr);
}

static void kick_waiters(struct etcd *e)
{
	for (struct etcd_req *r = e->reqs; r; r = r->next)
		if (r->state == REQ_WAIT_AUTH)
			req_start(r);
	for (struct etcd_watch *w = e->watches; w; w = w->next)
		if (w->state == W_WAIT_AUTH)
			watch_attempt(w);
}

static void req_complete(struct etcd_req *r, const struct etcd_reply *reply);

/* authenticate was answered with something other than a token. */
static void auth_failed(struct etcd *e, const struct etcd_reply *reply)
{
	struct etcd_watch *w;
	struct etcd_req *r;

	e->auth_not_before = loop_now_ms() + next_backoff(e, &e->authr.backoff_ms);
	/* Watches have no error callback: they back off and authenticate again. */
	for (w = e->watches; w; w = w->next) {
		if (w->state == W_WAIT_AUTH) {
			w->state = W_BACKOFF;
			loop_timer_arm(e->loop, &w->timer, next_backoff(e, &w->backoff_ms));
		}
	}
	for (r = e->reqs; r; r = r->next)
		if (r->state == REQ_WAIT_AUTH)
			r->doomed = true;
	/* Callbacks may add or drop requests: rescan from the head each time. */
	while (!e->free_pending) {
		for (r = e->reqs; r && !r->doomed; r = r->next)
			;
		if (!r)
			break;
		req_complete(r, reply);
	}
}

static void auth_done(struct etcd *e, struct etcd_reply *reply)
{
	struct etcd_req *a = &e->authr;
	const char *msg;

	xfer_stop(&a->x);
	a->state = REQ_IDLE;
	e->auth_active = false;
	if (!reply->err && a->pr.token) {
		free(e->token);
		e->token = a->pr.token;
		a->pr.token = NULL;
		e->auth = AUTH_OK;
		e->token_gen++;
		a->backoff_ms = 0;
		e->auth_not_before = 0;
		kick_waiters(e);
		return;
	}
	if (reply->err == -EREMOTEIO && reply->grpc_code == GRPC_FAILED_PRECONDITION) {
		/* "authentication is not enabled": a stale token would be refused. */
		log_debug(1, "etcd: authentication is not enabled, continuing without a token");
		free(e->token);
		e->token = NULL;
		e->auth = AUTH_DISABLED;
		e->token_gen++;
		kick_waiters(e);
		return;
	}
	msg = reply->message ? reply->message : strerror(-reply->err);
	snprintf(e->last_error, sizeof(e->last_error), "%s: authenticate: %s", ep_name(e, &a->x),
		 msg);
	e->stats.errors++;
	log_debug(1, "etcd %s: authenticate failed: %s", ep_name(e, &a->x), msg);
	auth_failed(e, reply);
}

/* ---- unary requests ---- */

static void req_reset_answer(struct etcd_req *r)
{
	etcd_pb_reply_free(&r->pr);
	r->parse_err = 0;
	r->answered = false;
}

static void req_free(struct etcd_req *r)
{
	etcd_pb_reply_free(&r->pr);
	free(r->body.data);
	free(r);
}

static void req_unlink(struct etcd *e, struct etcd_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		e->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

static int on_unary_message(void *arg, const uint8_t *p, size_t n)
{
	struct etcd_req *r = arg;

	if (r->answered)
		return 0; /* a unary answer is one message; ignore anything after it */
	r->answered = true;
	r->parse_err = etcd_pb_parse_reply(r->kind, p, n, &r->pr);
	return 0;
}

static void req_done(struct etcd_req *r, int err, int status, const char *text);

static void on_unary_done(void *arg, int err, int status, const char *text)
{
	struct etcd_req *r = arg;
	struct etcd *e = r->x.e;

	r->x.gc = NULL; /* freed by grpc when we return */
	enter(e);
	req_done(r, err, status, text);
	leave(e);
}

static const struct grpc_call_ops unary_ops = { on_unary_message, on_unary_done };

static void req_start(struct etcd_req *r)
{
	struct etcd *e = r->x.e;
	int err;

	if (r->kind != ETCD_PB_AUTH && auth_needed(e)) {
		r->state = REQ_WAIT_AUTH;
		auth_kick(e);
		return;
	}
	req_reset_answer(r);
	err = xfer_start(e, &r->x, r->path, &r->body, false, &unary_ops, r);
	if (err < 0) {
		uint64_t delay = next_backoff(e, &r->backoff_ms);

		log_debug(1, "etcd: cannot start %s: %s; retrying in %" PRIu64 " ms", r->path,
			  strerror(-err), delay);
		r->state = REQ_BACKOFF;
		loop_timer_arm(e->loop, &r->timer, delay);
		return;
	}
	r->state = REQ_RUNNING;
}

static void req_retry(struct etcd_req *r, const char *why)
{
	struct etcd *e = r->x.e;
	uint64_t delay;

	note_failure(e, &r->x, why, true);
	delay = next_backoff(e, &r->backoff_ms);
	log_debug(1, "etcd %s: %s failed: %s; retrying in %" PRIu64 " ms on %s", ep_name(e, &r->x),
		  r->path, why, delay, e->endpoints[e->cur_ep]);
	xfer_stop(&r->x);
	r->state = REQ_BACKOFF;
	loop_timer_arm(e->loop, &r->timer, delay);
}

static void on_req_timer(void *arg)
{
	struct etcd_req *r = arg;
	struct etcd *e = r->x.e;

	enter(e);
	req_start(r);
	leave(e);
}

static void req_complete(struct etcd_req *r, const struct etcd_reply *reply)
{
	struct etcd *e = r->x.e;

	xfer_stop(&r->x);
	loop_timer_cancel(e->loop, &r->timer);
	req_unlink(e, r);
	r->cb(r->arg, reply);
	req_free(r);
}

/*
 * Turn a finished call into a reply in *out. Returns false (with why filled
 * in) when the attempt failed in transport and must be retried elsewhere.
 */
static bool req_classify(struct etcd_req *r, int err, int status, const char *text,
			 struct etcd_reply *out, char *msgbuf, size_t msglen, char *why,
			 size_t whylen)
{
	memset(out, 0, sizeof(*out));
	if (err == -EMSGSIZE) {
		out->err = -EMSGSIZE;
		out->message = "etcd response larger than 64 MiB";
		return true;
	}
	if (err) {
		snprintf(why, whylen, "%s", text ? text : strerror(-err));
		return false;
	}
	if (status == GRPC_UNAVAILABLE) {
		status_text(why, whylen, status, text);
		return false;
	}
	if (status) {
		out->err = -EREMOTEIO;
		out->grpc_code = status;
		if (text && *text)
			snprintf(msgbuf, msglen, "%s", text);
		else
			status_text(msgbuf, msglen, status, NULL);
		out->message = msgbuf;
		return true;
	}
	if (r->answered && r->parse_err == -ERANGE) {
		out->err = -ERANGE;
		out->message = REVISION_RANGE_TEXT;
		return true;
	}
	if (!r->answered || r->parse_err) {
		out->err = r->parse_err == -ENOMEM ? -ENOMEM : -EPROTO;
		out->message = out->err == -EPROTO ? "malformed etcd response" : NULL;
		return true;
	}
	*out = r->pr.reply;
	return true;
}

static void req_done(struct etcd_req *r, int err, int status, const char *text)
{
	struct etcd *e = r->x.e;
	struct etcd_reply reply;
	char why[ERRTEXT_MAX], msg[ERRTEXT_MAX];

	if (!req_classify(r, err, status, text, &reply, msg, sizeof(msg), why, sizeof(why))) {
		req_retry(r, why);
		return;
	}
	note_answer(e);
	if (r == &e->authr) {
		auth_done(e, &reply);
		req_reset_answer(r);
		return;
	}
	if (reply.err == -EREMOTEIO && e->username && r->auth_retries < MAX_AUTH_RETRIES &&
	    (reply.grpc_code == GRPC_UNAUTHENTICATED ||
	     (reply.grpc_code == 3 && is_auth_refusal(0, reply.message)))) {
		log_debug(1, "etcd %s: %s: %s; authenticating again", ep_name(e, &r->x), r->path,
			  reply.message ? reply.message : "auth refused");
		e->stats.errors++;
		r->auth_retries++;
		invalidate_token(e, &r->x);
		xfer_stop(&r->x);
		req_start(r);
		return;
	}
	if (reply.err) {
		e->stats.errors++;
		log_debug(1, "etcd %s: %s: error %d: %s", ep_name(e, &r->x), r->path,
			  reply.grpc_code, reply.message ? reply.message : "");
	}
	req_complete(r, &reply);
}

static int req_submit(struct etcd *e, enum etcd_pb_kind kind, const char *path,
		      struct etcd_pb_buf body, etcd_reply_cb cb, void *arg)
{
	struct etcd_req *r = calloc(1, sizeof(*r));

	if (!r) {
		free(body.data);
		return -ENOMEM;
	}
	r->x.e = e;
	r->kind = kind;
	r->path = path;
	r->body = body;
	r->cb = cb;
	r->arg = arg;
	loop_timer_init(&r->timer, on_req_timer, r);
	r->next = e->reqs;
	if (e->reqs)
		e->reqs->prev = r;
	e->reqs = r;
	req_start(r);
	return 0;
}

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

static void watch_free(struct etcd_watch *w)
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
		watch_free(w);
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

	enter(e);
	if (w->state == W_BACKOFF) {
		watch_attempt(w);
	} else if (w->state == W_RUNNING && !w->up) {
		snprintf(why, sizeof(why), "no watch confirmation within %u ms", e->timeout_ms);
		watch_hold(w);
		watch_retry(w, why, true);
		watch_release(w);
	}
	leave(e);
}

static int on_watch_message(void *arg, const uint8_t *p, size_t n);
static void on_watch_done(void *arg, int err, int status, const char *text);
static const struct grpc_call_ops watch_ops = { on_watch_message, on_watch_done };

static void watch_attempt(struct etcd_watch *w)
{
	struct etcd *e = w->x.e;
	struct etcd_pb_buf body = { 0 };
	uint64_t delay;
	int err;

	if (auth_needed(e)) {
		w->state = W_WAIT_AUTH;
		auth_kick(e);
		return;
	}
	watch_drop_frags(w);
	/* Fragments keep each message under etcd's request cap, whatever the values. */
	err = etcd_pb_watch_create_req(w->key, w->key_len, w->range_end, w->range_end_len,
				       w->next_start, false, true, &body);
	if (!err) {
		if (w->attempts++)
			e->stats.watch_reconnects++;
		err = xfer_start(e, &w->x, "/etcdserverpb.Watch/Watch", &body, true, &watch_ops, w);
		free(body.data);
	}
	if (err < 0) {
		delay = next_backoff(e, &w->backoff_ms);
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

	note_failure(e, &w->x, why, transport);
	xfer_stop(&w->x);
	watch_drop_frags(w);
	delay = next_backoff(e, &w->backoff_ms);
	log_debug(1,
		  "etcd %s: watch failed: %s; reconnecting in %" PRIu64 " ms on %s from %" PRId64,
		  ep_name(e, &w->x), why, delay, e->endpoints[e->cur_ep], w->next_start);
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

	note_answer(e);
	xfer_stop(&w->x);
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
		  ep_name(w->x.e, &w->x), WATCH_MAX_BYTES >> 20);
	watch_end(w, 0);
}

/* Handle one whole message (a cancel or compaction also ends the gRPC call). */
static void watch_handle_msg(struct etcd_watch *w, const struct etcd_watch_msg *m)
{
	struct etcd *e = w->x.e;
	char why[ERRTEXT_MAX];

	switch (m->type) {
	case ETCD_WMSG_CANCELED:
		if (is_auth_refusal(0, m->reason))
			invalidate_token(e, &w->x);
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
	note_answer(e);
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
	enter(e);
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
	leave(e);
	return r;
}

static void on_watch_done(void *arg, int err, int status, const char *text)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->x.e;
	char why[ERRTEXT_MAX];

	w->x.gc = NULL;
	enter(e);
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
		if (is_auth_refusal(status, text))
			invalidate_token(e, &w->x);
		if (status)
			status_text(why, sizeof(why), status, text);
		else
			snprintf(why, sizeof(why), "watch stream ended");
		watch_retry(w, why, !status || status == GRPC_UNAVAILABLE);
	}
	watch_release(w);
	leave(e);
}

/* ---- public API ---- */

static char *dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

int etcd_new(struct loop *loop, const struct etcd_opts *opts, struct etcd **ret)
{
	struct grpc_opts go = { 0 };
	struct etcd *e;
	bool ok = true;
	int r;

	if (!opts->n_endpoints || !opts->endpoints)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->loop = loop;
	e->timeout_ms = opts->request_timeout_ms ? opts->request_timeout_ms : DEFAULT_TIMEOUT_MS;
	e->rng = (loop_now_ms() << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)e;
	if (!e->rng)
		e->rng = 1;
	e->authr.x.e = e;
	e->authr.kind = ETCD_PB_AUTH;
	e->authr.path = "/etcdserverpb.Auth/Authenticate";
	loop_timer_init(&e->authr.timer, on_req_timer, &e->authr);

	e->endpoints = calloc(opts->n_endpoints, sizeof(*e->endpoints));
	e->urls = calloc(opts->n_endpoints, sizeof(*e->urls));
	if (!e->endpoints || !e->urls)
		ok = false;
	for (size_t i = 0; ok && i < opts->n_endpoints; i++) {
		const char *why;
		size_t n;

		e->endpoints[i] = dup_or_null(opts->endpoints[i] ? opts->endpoints[i] : "", &ok);
		e->n_endpoints = i + 1;
		if (!ok)
			break;
		n = strlen(e->endpoints[i]);
		while (n && e->endpoints[i][n - 1] == '/')
			e->endpoints[i][--n] = '\0';
		if (http_url_parse(e->endpoints[i], &e->urls[i], &why) < 0) {
			log_debug(1, "etcd endpoint \"%s\": %s", e->endpoints[i], why);
			r = -EINVAL;
			goto fail;
		}
	}
	if (ok && opts->username && *opts->username) {
		e->username = dup_or_null(opts->username, &ok);
		e->auth = AUTH_NEEDED;
		if (ok && etcd_pb_auth_req(opts->username, opts->password ? opts->password : "",
					   &e->authr.body) < 0)
			ok = false;
	}
	if (!ok) {
		r = -ENOMEM;
		goto fail;
	}
	go.cafile = opts->cafile;
	go.certfile = opts->certfile;
	go.keyfile = opts->keyfile;
	go.connect_timeout_ms = e->timeout_ms;
	r = grpc_new(loop, &go, &e->grpc);
	if (r < 0)
		goto fail;
	*ret = e;
	return 0;
fail:
	destroy(e);
	return r;
}

static void destroy(struct etcd *e)
{
	while (e->reqs) {
		struct etcd_req *r = e->reqs;

		req_unlink(e, r);
		xfer_stop(&r->x);
		loop_timer_cancel(e->loop, &r->timer);
		req_free(r);
	}
	while (e->watches) {
		struct etcd_watch *w = e->watches;

		e->watches = w->next;
		xfer_stop(&w->x);
		loop_timer_cancel(e->loop, &w->timer);
		watch_free(w);
	}
	xfer_stop(&e->authr.x);
	loop_timer_cancel(e->loop, &e->authr.timer);
	free(e->authr.body.data);
	etcd_pb_reply_free(&e->authr.pr);
	grpc_free(e->grpc);
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->urls);
	free(e->username);
	free(e->token);
	free(e);
}

void etcd_free(struct etcd *e)
{
	if (!e)
		return;
	if (e->depth) {
		/* Called from one of our callbacks: finish unwinding first. */
		e->free_pending = true;
		return;
	}
	destroy(e);
}

int etcd_range(struct etcd *e, const char *key, size_t key_len, const char *range_end,
	       size_t range_end_len, int64_t revision, int64_t limit, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_range_req(key, key_len, range_end, range_end_len, revision, limit, &b);

	return r < 0 ? r : req_submit(e, ETCD_PB_RANGE, "/etcdserverpb.KV/Range", b, cb, arg);
}

int etcd_put(struct etcd *e, const char *key, size_t key_len, const char *value, size_t value_len,
	     int64_t lease, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_put_req(key, key_len, value, value_len, lease, &b);

	return r < 0 ? r : req_submit(e, ETCD_PB_PUT, "/etcdserverpb.KV/Put", b, cb, arg);
}

int etcd_delete(struct etcd *e, const char *key, size_t key_len, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_delete_req(key, key_len, &b);

	return r < 0 ? r
		     : req_submit(e, ETCD_PB_DELETE, "/etcdserverpb.KV/DeleteRange", b, cb, arg);
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_txn_req(cmp, n_cmp, success, n_success, failure, n_failure, &b);

	return r < 0 ? r : req_submit(e, ETCD_PB_TXN, "/etcdserverpb.KV/Txn", b, cb, arg);
}

int etcd_lease_grant(struct etcd *e, int64_t ttl, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_lease_grant_req(ttl, &b);

	return r < 0 ? r
		     : req_submit(e, ETCD_PB_LEASE_GRANT, "/etcdserverpb.Lease/LeaseGrant", b, cb,
				  arg);
}

/*
 * LeaseKeepAlive is a stream; one request that half-closes it is answered
 * by one response before etcd ends the stream, which makes it a unary call.
 */
int etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_lease_id_req(id, &b);

	return r < 0 ? r
		     : req_submit(e, ETCD_PB_KEEPALIVE, "/etcdserverpb.Lease/LeaseKeepAlive", b, cb,
				  arg);
}

int etcd_lease_revoke(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_lease_id_req(id, &b);

	return r < 0 ? r
		     : req_submit(e, ETCD_PB_REVOKE, "/etcdserverpb.Lease/LeaseRevoke", b, cb, arg);
}

int etcd_lease_timetolive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	struct etcd_pb_buf b;
	int r = etcd_pb_lease_id_req(id, &b);

	return r < 0 ? r
		     : req_submit(e, ETCD_PB_TIMETOLIVE, "/etcdserverpb.Lease/LeaseTimeToLive", b,
				  cb, arg);
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
	watch_attempt(w);
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
	xfer_stop(&w->x);
	loop_timer_cancel(e->loop, &w->timer);
	w->stopped = true;
	if (!w->busy)
		watch_free(w);
}

void etcd_get_stats(const struct etcd *e, struct etcd_stats *ret)
{
	*ret = e->stats;
}

uint64_t etcd_unreachable_since(const struct etcd *e)
{
	return e->unreachable_since;
}

const char *etcd_last_error(const struct etcd *e)
{
	return e->last_error;
}

size_t etcd_prefix_end(const char *key, size_t key_len, char *buf, size_t size)
{
	size_t i = key_len, n;

	/* Like clientv3.GetPrefixRangeEnd: bump the last byte below 0xff, drop the rest. */
	while (i > 0 && (unsigned char)key[i - 1] == 0xff)
		i--;
	n = i ? i : 1;
	if (n > size)
		return 0;
	if (i) {
		memcpy(buf, key, i);
		buf[i - 1] = (char)((unsigned char)key[i - 1] + 1);
	} else {
		buf[0] = '\0'; /* all 0xff: no prefix end, "\0" means every key >= key */
	}
	if (n < size)
		buf[n] = '\0';
	return n;
}
