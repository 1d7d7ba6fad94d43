/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd v3 client over native gRPC (grpc.c) and the daemon loop: the client
 * itself (endpoints, rotation on failure, error state, authentication and
 * its token), one gRPC call attempt, creation and teardown. Unary requests
 * are etcd_req.c's, watches etcd_watch.c's.
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

/* ---- small helpers ---- */

void etcd_enter(struct etcd *e)
{
	e->depth++;
}

static void destroy(struct etcd *e);

void etcd_leave(struct etcd *e)
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
uint64_t etcd_next_backoff(struct etcd *e, uint64_t *backoff)
{
	uint64_t b = *backoff ? *backoff : BACKOFF_MIN_MS;

	*backoff = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	return b / 2 + rnd(e) % (b / 2 + 1);
}

const char *etcd_ep_name(const struct etcd *e, const struct xfer *x)
{
	return e->endpoints[x->ep];
}

static void rotate(struct etcd *e, size_t ep)
{
	if (e->cur_ep == ep)
		e->cur_ep = (ep + 1) % e->n_endpoints;
}

/* etcd answered something: it is reachable. */
void etcd_note_answer(struct etcd *e)
{
	e->unreachable_since = 0;
	e->last_error[0] = '\0';
}

void etcd_note_failure(struct etcd *e, const struct xfer *x, const char *text, bool transport)
{
	e->stats.errors++;
	snprintf(e->last_error, sizeof(e->last_error), "%s: %s", etcd_ep_name(e, x), text);
	if (transport) {
		if (!e->unreachable_since) {
			uint64_t now = loop_now_ms();

			e->unreachable_since = now ? now : 1;
		}
		rotate(e, x->ep);
	}
}

bool etcd_auth_needed(const struct etcd *e)
{
	return e->auth == AUTH_NEEDED;
}

/* The token sent with x was refused: forget it, unless a newer one exists. */
void etcd_invalidate_token(struct etcd *e, const struct xfer *x)
{
	if (!e->username || x->token_gen != e->token_gen)
		return;
	free(e->token);
	e->token = NULL;
	e->auth = AUTH_NEEDED;
	e->token_gen++;
}

bool etcd_is_auth_refusal(int status, const char *msg)
{
	return status == GRPC_UNAUTHENTICATED ||
	       (msg && (strstr(msg, "invalid auth token") || strstr(msg, "user name is empty")));
}

/* "UNAVAILABLE: etcdserver: no leader"; a status without text reads as its name. */
void etcd_status_text(char *buf, size_t len, int status, const char *msg)
{
	snprintf(buf, len, "%s (gRPC status %d)%s%s", grpc_status_name(status), status,
		 msg && *msg ? ": " : "", msg ? msg : "");
}

/* ---- gRPC calls ---- */

void etcd_xfer_stop(struct xfer *x)
{
	grpc_call_cancel(x->gc);
	x->gc = NULL;
}

/* Start one call on the current endpoint. No callback runs from here. */
int etcd_xfer_start(struct etcd *e, struct xfer *x, const char *path,
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

void etcd_auth_kick(struct etcd *e)
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
	etcd_req_start(&e->authr);
}

static void kick_waiters(struct etcd *e)
{
	for (struct etcd_req *r = e->reqs; r; r = r->next)
		if (r->state == REQ_WAIT_AUTH)
			etcd_req_start(r);
	for (struct etcd_watch *w = e->watches; w; w = w->next)
		if (w->state == W_WAIT_AUTH)
			etcd_watch_attempt(w);
}

/* authenticate was answered with something other than a token. */
static void auth_failed(struct etcd *e, const struct etcd_reply *reply)
{
	struct etcd_watch *w;
	struct etcd_req *r;

	e->auth_not_before = loop_now_ms() + etcd_next_backoff(e, &e->authr.backoff_ms);
	/* Watches have no error callback: they back off and authenticate again. */
	for (w = e->watches; w; w = w->next) {
		if (w->state == W_WAIT_AUTH) {
			w->state = W_BACKOFF;
			loop_timer_arm(e->loop, &w->timer, etcd_next_backoff(e, &w->backoff_ms));
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
		etcd_req_complete(r, reply);
	}
}

void etcd_auth_done(struct etcd *e, struct etcd_reply *reply)
{
	struct etcd_req *a = &e->authr;
	const char *msg;

	etcd_xfer_stop(&a->x);
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
	snprintf(e->last_error, sizeof(e->last_error), "%s: authenticate: %s",
		 etcd_ep_name(e, &a->x), msg);
	e->stats.errors++;
	log_debug(1, "etcd %s: authenticate failed: %s", etcd_ep_name(e, &a->x), msg);
	auth_failed(e, reply);
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
	loop_timer_init(&e->authr.timer, etcd_on_req_timer, &e->authr);

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

		etcd_req_unlink(e, r);
		etcd_xfer_stop(&r->x);
		loop_timer_cancel(e->loop, &r->timer);
		etcd_req_free(r);
	}
	while (e->watches) {
		struct etcd_watch *w = e->watches;

		e->watches = w->next;
		etcd_xfer_stop(&w->x);
		loop_timer_cancel(e->loop, &w->timer);
		etcd_watch_free(w);
	}
	etcd_xfer_stop(&e->authr.x);
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
