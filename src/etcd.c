/* SPDX-License-Identifier: Apache-2.0 */
/* etcd v3 JSON gateway client over our HTTP client (httpc) and the daemon loop. */
#include "etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd_json.h"
#include "http_parse.h"
#include "httpc.h"
#include "log.h"
#include "loop.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define BACKOFF_MIN_MS	   100u
#define BACKOFF_MAX_MS	   5000u
#define UNARY_MAX_BYTES	   ((size_t)64 << 20)
#define WATCH_MAX_LINE	   ((size_t)16 << 20)
#define MAX_AUTH_RETRIES   3
#define ERRTEXT_MAX	   384

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum auth_state {
	AUTH_OFF,      /* no username configured */
	AUTH_NEEDED,   /* authenticate before the next request */
	AUTH_OK,       /* token holds a token */
	AUTH_DISABLED, /* etcd said "authentication is not enabled" */
};

/* One HTTP attempt; embedded in unary requests and watches. */
struct xfer {
	struct etcd *e;
	struct httpc_req *hr; /* in flight */
	int status;	      /* HTTP status of the finished attempt */
	size_t ep;	      /* endpoint index of this attempt */
	unsigned token_gen;   /* e->token_gen when it was sent */
	bool is_watch;
};

enum req_state { REQ_IDLE, REQ_WAIT_AUTH, REQ_RUNNING, REQ_BACKOFF };

struct etcd_req {
	struct xfer x;
	struct etcd_req *next, *prev;
	enum etcd_json_kind kind;
	const char *path;
	char *body;
	etcd_reply_cb cb;
	void *arg;
	enum req_state state;
	bool doomed; /* authentication failed while it waited */
	char *resp;
	size_t resp_len, resp_cap;
	bool resp_overflow;
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
	struct etcd_linebuf lb;
	bool overflow; /* a line went over WATCH_MAX_LINE */
	bool up;       /* connected(true) was reported */
	unsigned busy; /* user callbacks on the stack */
	bool stopped;  /* etcd_watch_stop() while busy */
	unsigned attempts;
	uint64_t backoff_ms;
	struct loop_timer timer; /* backoff, or the deadline for "created" */
};

struct etcd {
	struct loop *loop;
	struct httpc *http;
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

static bool is_auth_refusal(const char *msg)
{
	return msg && (strstr(msg, "invalid auth token") || strstr(msg, "user name is empty"));
}

/* ---- HTTP ---- */

static void req_done(struct etcd_req *r, int err, const char *text);
static void watch_done(struct etcd_watch *w, int err, const char *text);
static void watch_drain(struct etcd_watch *w, bool final);
static void watch_hold(struct etcd_watch *w);
static bool watch_release(struct etcd_watch *w);

static int xfer_status(const struct xfer *x)
{
	return x->hr ? httpc_status(x->hr) : x->status;
}

static int on_unary_body(void *arg, const char *p, size_t n)
{
	struct etcd_req *r = arg;

	if (n > UNARY_MAX_BYTES - r->resp_len) {
		r->resp_overflow = true;
		return -EMSGSIZE;
	}
	if (r->resp_len + n > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 1024;
		char *b;

		while (cap < r->resp_len + n)
			cap *= 2;
		b = realloc(r->resp, cap);
		if (!b)
			return -ENOMEM;
		r->resp = b;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, n);
	r->resp_len += n;
	return 0;
}

static void on_unary_done(void *arg, int err, const char *text)
{
	struct etcd_req *r = arg;
	struct etcd *e = r->x.e;

	r->x.status = httpc_status(r->x.hr);
	r->x.hr = NULL; /* freed by httpc when we return */
	enter(e);
	req_done(r, err, text);
	leave(e);
}

/* Messages are dispatched as they arrive: the stream never ends by itself. */
static int on_watch_body(void *arg, const char *p, size_t n)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->x.e;
	int r = etcd_linebuf_append(&w->lb, p, n);

	if (r < 0) {
		w->overflow = r == -EMSGSIZE;
		return r;
	}
	enter(e);
	watch_hold(w);
	watch_drain(w, false);
	watch_release(w);
	leave(e);
	return 0;
}

static void on_watch_done(void *arg, int err, const char *text)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->x.e;

	w->x.status = httpc_status(w->x.hr);
	w->x.hr = NULL;
	enter(e);
	watch_done(w, err, text);
	leave(e);
}

static const struct httpc_req_ops unary_ops = { on_unary_body, on_unary_done };
static const struct httpc_req_ops watch_ops = { on_watch_body, on_watch_done };

static void xfer_stop(struct etcd *e, struct xfer *x)
{
	httpc_cancel(x->hr);
	x->hr = NULL;
}

/* Start one POST to the current endpoint. No callback runs from here. */
static int xfer_start(struct etcd *e, struct xfer *x, const char *path, const char *body, void *arg)
{
	struct httpc_post_params p = { 0 };
	char *auth = NULL, full[64];
	int r;

	x->ep = e->cur_ep;
	x->token_gen = e->token_gen;
	x->status = 0;
	snprintf(full, sizeof(full), "/v3/%s", path);
	if (e->token && asprintf(&auth, "Authorization: %s", e->token) < 0)
		return -ENOMEM;
	p.url = &e->urls[x->ep];
	p.path = full;
	p.header = auth;
	p.body = body;
	p.body_len = strlen(body);
	p.connect_timeout_ms = e->timeout_ms;
	p.timeout_ms = x->is_watch ? 0 : e->timeout_ms;
	r = httpc_post(e->http, &p, x->is_watch ? &watch_ops : &unary_ops, arg, &x->hr);
	free(auth);
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
static void watch_retry(struct etcd_watch *w, const char *why, bool transport);

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

static void auth_done(struct etcd *e, struct etcd_json_reply *jr)
{
	struct etcd_req *a = &e->authr;
	const char *msg;

	xfer_stop(e, &a->x);
	a->resp_len = 0;
	a->state = REQ_IDLE;
	e->auth_active = false;
	if (!jr->reply.err && jr->token) {
		free(e->token);
		e->token = jr->token;
		jr->token = NULL;
		e->auth = AUTH_OK;
		e->token_gen++;
		a->backoff_ms = 0;
		e->auth_not_before = 0;
		kick_waiters(e);
		return;
	}
	if (jr->reply.err == -EREMOTEIO && jr->reply.grpc_code == 9) {
		/* "authentication is not enabled": a stale token would get 401. */
		log_debug(1, "etcd: authentication is not enabled, continuing without a token");
		free(e->token);
		e->token = NULL;
		e->auth = AUTH_DISABLED;
		e->token_gen++;
		kick_waiters(e);
		return;
	}
	msg = jr->reply.message ? jr->reply.message : strerror(-jr->reply.err);
	snprintf(e->last_error, sizeof(e->last_error), "%s: authenticate: %s", ep_name(e, &a->x),
		 msg);
	e->stats.errors++;
	log_debug(1, "etcd %s: authenticate failed: %s", ep_name(e, &a->x), msg);
	auth_failed(e, &jr->reply);
}

/* ---- unary requests ---- */

static void req_free(struct etcd_req *r)
{
	free(r->body);
	free(r->resp);
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

static void req_start(struct etcd_req *r)
{
	struct etcd *e = r->x.e;
	int err;

	if (r->kind != ETCD_JSON_AUTH && auth_needed(e)) {
		r->state = REQ_WAIT_AUTH;
		auth_kick(e);
		return;
	}
	r->resp_len = 0;
	r->resp_overflow = false;
	err = xfer_start(e, &r->x, r->path, r->body, r);
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
	xfer_stop(e, &r->x);
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

	xfer_stop(e, &r->x);
	loop_timer_cancel(e->loop, &r->timer);
	req_unlink(e, r);
	r->cb(r->arg, reply);
	req_free(r);
}

static bool is_gateway_status(long code)
{
	return code == 502 || code == 503 || code == 504;
}

/*
 * Turn a finished transfer into a reply. Returns false (with why filled in)
 * when the attempt failed in transport and must be retried.
 */
static bool req_classify(struct etcd_req *r, int err, const char *text, struct etcd_json_reply *jr,
			 char *why, size_t whylen)
{
	long code = r->x.status;
	int p;

	memset(jr, 0, sizeof(*jr));
	if (err && r->resp_overflow) {
		jr->reply.err = -EMSGSIZE;
		jr->reply.message = "etcd response larger than 64 MiB";
		return true;
	}
	if (err) {
		snprintf(why, whylen, "%s", text ? text : strerror(-err));
		return false;
	}
	if (code == 200) {
		if (r->kind == ETCD_JSON_KEEPALIVE && r->resp_len == 0) {
			snprintf(why, whylen, "empty keepalive stream");
			return false;
		}
		p = etcd_json_parse_reply(r->kind, r->resp, r->resp_len, jr);
		if (p < 0) {
			jr->reply.err = p;
			jr->reply.message = p == -EPROTO ? "malformed etcd response" : NULL;
			return true;
		}
		if (jr->reply.err == -EREMOTEIO && jr->reply.grpc_code == 14) {
			snprintf(why, whylen, "%s", jr->message ? jr->message : "unavailable");
			etcd_json_reply_free(jr);
			return false;
		}
		return true;
	}
	p = etcd_json_parse_error(r->resp, r->resp_len, jr);
	if (p == -ENOMEM) {
		jr->reply.err = -ENOMEM;
		return true;
	}
	if (p < 0) {
		snprintf(why, whylen, "HTTP %ld", code);
		if (code >= 500 || code < 200)
			return false;
		jr->reply.err = -EREMOTEIO;
		jr->message = strdup(why);
		jr->reply.message = jr->message;
		return true;
	}
	if (is_gateway_status(code) || jr->reply.grpc_code == 14) {
		snprintf(why, whylen, "HTTP %ld: %s", code, jr->message ? jr->message : "");
		etcd_json_reply_free(jr);
		return false;
	}
	return true;
}

static void req_done(struct etcd_req *r, int err, const char *text)
{
	struct etcd *e = r->x.e;
	struct etcd_json_reply jr;
	char why[ERRTEXT_MAX];

	if (!req_classify(r, err, text, &jr, why, sizeof(why))) {
		req_retry(r, why);
		return;
	}
	note_answer(e);
	if (r == &e->authr) {
		auth_done(e, &jr);
		etcd_json_reply_free(&jr);
		return;
	}
	if (jr.reply.err == -EREMOTEIO && e->username && r->auth_retries < MAX_AUTH_RETRIES &&
	    (jr.reply.grpc_code == 16 ||
	     (jr.reply.grpc_code == 3 && is_auth_refusal(jr.message)))) {
		log_debug(1, "etcd %s: %s: %s; authenticating again", ep_name(e, &r->x), r->path,
			  jr.message ? jr.message : "auth refused");
		e->stats.errors++;
		r->auth_retries++;
		invalidate_token(e, &r->x);
		xfer_stop(e, &r->x);
		etcd_json_reply_free(&jr);
		req_start(r);
		return;
	}
	if (jr.reply.err) {
		e->stats.errors++;
		log_debug(1, "etcd %s: %s: error %d: %s", ep_name(e, &r->x), r->path,
			  jr.reply.grpc_code, jr.reply.message ? jr.reply.message : "");
	}
	req_complete(r, &jr.reply);
	etcd_json_reply_free(&jr);
}

static int req_submit(struct etcd *e, enum etcd_json_kind kind, const char *path, char *body,
		      etcd_reply_cb cb, void *arg)
{
	struct etcd_req *r = calloc(1, sizeof(*r));

	if (!r) {
		free(body);
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

static void watch_free(struct etcd_watch *w)
{
	etcd_linebuf_free(&w->lb);
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

static void watch_attempt(struct etcd_watch *w)
{
	struct etcd *e = w->x.e;
	char *body = NULL;
	uint64_t delay;
	int err;

	if (auth_needed(e)) {
		w->state = W_WAIT_AUTH;
		auth_kick(e);
		return;
	}
	etcd_linebuf_reset(&w->lb);
	w->overflow = false;
	err = etcd_json_watch_req(w->key, w->key_len, w->range_end, w->range_end_len, w->next_start,
				  &body);
	if (!err) {
		if (w->attempts++)
			e->stats.watch_reconnects++;
		err = xfer_start(e, &w->x, "watch", body, w);
		free(body);
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
	xfer_stop(e, &w->x);
	etcd_linebuf_reset(&w->lb);
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

/*
 * A message over WATCH_MAX_LINE can never be read, and resuming would send
 * it again: end the watch the way a compaction does, so that the owner
 * re-lists (in pages) and watches on from there.
 */
static void watch_give_up(struct etcd_watch *w)
{
	struct etcd *e = w->x.e;

	log_warnx("etcd %s: a watch message is over the %zu MiB cap; re-listing instead",
		  ep_name(e, &w->x), WATCH_MAX_LINE >> 20);
	note_answer(e);
	xfer_stop(e, &w->x);
	loop_timer_cancel(e->loop, &w->timer);
	w->state = W_COMPACTED;
	w->up = false;
	w->ops.compacted(w->arg, 0);
}

/* Handle one message; false when the caller must stop reading this stream. */
static bool watch_handle_msg(struct etcd_watch *w, const struct etcd_watch_msg *m)
{
	struct etcd *e = w->x.e;

	switch (m->type) {
	case ETCD_WMSG_ERROR:
		if (m->grpc_code == 16)
			invalidate_token(e, &w->x);
		watch_retry(w, m->reason ? m->reason : "error in watch stream", m->grpc_code == 14);
		return false;
	case ETCD_WMSG_CANCELED:
		if (is_auth_refusal(m->reason))
			invalidate_token(e, &w->x);
		watch_retry(w, m->reason ? m->reason : "watch canceled", false);
		return false;
	case ETCD_WMSG_COMPACTED:
		/* Terminal: the owner re-lists and starts a new watch. */
		note_answer(e);
		xfer_stop(e, &w->x);
		loop_timer_cancel(e->loop, &w->timer);
		w->state = W_COMPACTED;
		w->up = false;
		w->ops.compacted(w->arg, m->compact_revision);
		return false;
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
			return false;
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
	return !w->stopped && !e->free_pending && w->state == W_RUNNING;
}

/* Dispatch complete lines (and with final, the unterminated tail). Caller holds w. */
static void watch_drain(struct etcd_watch *w, bool final)
{
	struct etcd *e = w->x.e;

	if (xfer_status(&w->x) != 200)
		return; /* an error body: handled when the transfer ends */
	for (;;) {
		struct etcd_watch_msg m;
		const char *line;
		size_t n;
		bool more;
		int r = etcd_linebuf_next(&w->lb, final, &line, &n);

		if (r == 0)
			return;
		if (r < 0) {
			watch_give_up(w);
			return;
		}
		r = etcd_json_parse_watch(line, n, &m);
		if (r < 0) {
			watch_retry(w, r == -ENOMEM ? "out of memory" : "malformed watch message",
				    false);
			return;
		}
		e->stats.watch_messages++;
		more = watch_handle_msg(w, &m);
		etcd_watch_msg_free(&m);
		if (!more)
			return;
	}
}

static void watch_done(struct etcd_watch *w, int err, const char *text)
{
	struct etcd *e = w->x.e;
	struct etcd_json_reply jr;
	char why[ERRTEXT_MAX];
	long code = w->x.status;

	watch_hold(w);
	if (err) {
		if (w->overflow)
			watch_give_up(w);
		else
			watch_retry(w, text ? text : strerror(-err), true);
	} else if (code == 200) {
		watch_drain(w, true);
		if (!w->stopped && !e->free_pending && w->state == W_RUNNING)
			watch_retry(w, "watch stream ended", true);
	} else if (etcd_json_parse_error(w->lb.buf ? w->lb.buf + w->lb.start : "",
					 w->lb.len - w->lb.start, &jr) == 0) {
		bool transport = is_gateway_status(code) || jr.reply.grpc_code == 14;

		snprintf(why, sizeof(why), "HTTP %ld: %s", code, jr.message ? jr.message : "");
		if (jr.reply.grpc_code == 16 || is_auth_refusal(jr.message))
			invalidate_token(e, &w->x);
		etcd_json_reply_free(&jr);
		watch_retry(w, why, transport);
	} else {
		snprintf(why, sizeof(why), "HTTP %ld", code);
		watch_retry(w, why, code >= 500);
	}
	watch_release(w);
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
	struct httpc_tls_opts tls;
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
	e->authr.kind = ETCD_JSON_AUTH;
	e->authr.path = "auth/authenticate";
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
		if (ok && etcd_json_auth_req(opts->username, opts->password, &e->authr.body) < 0)
			ok = false;
	}
	if (!ok) {
		r = -ENOMEM;
		goto fail;
	}
	tls.cafile = opts->cafile;
	tls.certfile = opts->certfile;
	tls.keyfile = opts->keyfile;
	r = httpc_new(loop, &tls, &e->http);
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
		xfer_stop(e, &r->x);
		loop_timer_cancel(e->loop, &r->timer);
		req_free(r);
	}
	while (e->watches) {
		struct etcd_watch *w = e->watches;

		e->watches = w->next;
		xfer_stop(e, &w->x);
		loop_timer_cancel(e->loop, &w->timer);
		watch_free(w);
	}
	xfer_stop(e, &e->authr.x);
	loop_timer_cancel(e->loop, &e->authr.timer);
	free(e->authr.body);
	free(e->authr.resp);
	httpc_free(e->http);
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
	char *body;
	int r = etcd_json_range_req(key, key_len, range_end, range_end_len, revision, limit, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_RANGE, "kv/range", body, cb, arg);
}

int etcd_put(struct etcd *e, const char *key, size_t key_len, const char *value, size_t value_len,
	     int64_t lease, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_put_req(key, key_len, value, value_len, lease, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_PUT, "kv/put", body, cb, arg);
}

int etcd_delete(struct etcd *e, const char *key, size_t key_len, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_delete_req(key, key_len, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_DELETE, "kv/deleterange", body, cb, arg);
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_txn_req(cmp, n_cmp, success, n_success, failure, n_failure, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_TXN, "kv/txn", body, cb, arg);
}

int etcd_lease_grant(struct etcd *e, int64_t ttl, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_lease_grant_req(ttl, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_LEASE_GRANT, "lease/grant", body, cb, arg);
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_lease_id_req(id, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_KEEPALIVE, "lease/keepalive", body, cb, arg);
}

int etcd_lease_revoke(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_lease_id_req(id, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_REVOKE, "lease/revoke", body, cb, arg);
}

int etcd_lease_timetolive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	char *body;
	int r = etcd_json_lease_id_req(id, &body);

	return r < 0 ? r : req_submit(e, ETCD_JSON_TIMETOLIVE, "lease/timetolive", body, cb, arg);
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
	w->x.is_watch = true;
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
	etcd_linebuf_init(&w->lb, WATCH_MAX_LINE);
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
	xfer_stop(e, &w->x);
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
