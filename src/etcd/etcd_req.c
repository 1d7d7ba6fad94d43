/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd's unary requests: KV (range, put, delete, txn) and lease (grant,
 * keep-alive, revoke, time-to-live) calls, each retried across endpoints
 * with backoff, waiting for authentication when it is due, and answered
 * exactly once.
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

/* ---- unary requests ---- */

static void req_reset_answer(struct etcd_req *r)
{
	etcd_pb_reply_free(&r->pr);
	r->parse_err = 0;
	r->answered = false;
}

void etcd_req_free(struct etcd_req *r)
{
	etcd_pb_reply_free(&r->pr);
	free(r->body.data);
	free(r);
}

void etcd_req_unlink(struct etcd *e, struct etcd_req *r)
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
	etcd_enter(e);
	req_done(r, err, status, text);
	etcd_leave(e);
}

static const struct grpc_call_ops unary_ops = { on_unary_message, on_unary_done };

void etcd_req_start(struct etcd_req *r)
{
	struct etcd *e = r->x.e;
	int err;

	if (r->kind != ETCD_PB_AUTH && etcd_auth_needed(e)) {
		r->state = REQ_WAIT_AUTH;
		etcd_auth_kick(e);
		return;
	}
	req_reset_answer(r);
	err = etcd_xfer_start(e, &r->x, r->path, &r->body, false, &unary_ops, r);
	if (err < 0) {
		uint64_t delay = etcd_next_backoff(e, &r->backoff_ms);

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

	etcd_note_failure(e, &r->x, why, true);
	delay = etcd_next_backoff(e, &r->backoff_ms);
	log_debug(1, "etcd %s: %s failed: %s; retrying in %" PRIu64 " ms on %s",
		  etcd_ep_name(e, &r->x), r->path, why, delay, e->endpoints[e->cur_ep]);
	etcd_xfer_stop(&r->x);
	r->state = REQ_BACKOFF;
	loop_timer_arm(e->loop, &r->timer, delay);
}

void etcd_on_req_timer(void *arg)
{
	struct etcd_req *r = arg;
	struct etcd *e = r->x.e;

	etcd_enter(e);
	etcd_req_start(r);
	etcd_leave(e);
}

void etcd_req_complete(struct etcd_req *r, const struct etcd_reply *reply)
{
	struct etcd *e = r->x.e;

	etcd_xfer_stop(&r->x);
	loop_timer_cancel(e->loop, &r->timer);
	etcd_req_unlink(e, r);
	r->cb(r->arg, reply);
	etcd_req_free(r);
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
		etcd_status_text(why, whylen, status, text);
		return false;
	}
	if (status) {
		out->err = -EREMOTEIO;
		out->grpc_code = status;
		if (text && *text)
			snprintf(msgbuf, msglen, "%s", text);
		else
			etcd_status_text(msgbuf, msglen, status, NULL);
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
	etcd_note_answer(e);
	if (r == &e->authr) {
		etcd_auth_done(e, &reply);
		req_reset_answer(r);
		return;
	}
	if (reply.err == -EREMOTEIO && e->username && r->auth_retries < MAX_AUTH_RETRIES &&
	    (reply.grpc_code == GRPC_UNAUTHENTICATED ||
	     (reply.grpc_code == 3 && etcd_is_auth_refusal(0, reply.message)))) {
		log_debug(1, "etcd %s: %s: %s; authenticating again", etcd_ep_name(e, &r->x),
			  r->path, reply.message ? reply.message : "auth refused");
		e->stats.errors++;
		r->auth_retries++;
		etcd_invalidate_token(e, &r->x);
		etcd_xfer_stop(&r->x);
		etcd_req_start(r);
		return;
	}
	if (reply.err) {
		e->stats.errors++;
		log_debug(1, "etcd %s: %s: error %d: %s", etcd_ep_name(e, &r->x), r->path,
			  reply.grpc_code, reply.message ? reply.message : "");
	}
	etcd_req_complete(r, &reply);
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
	loop_timer_init(&r->timer, etcd_on_req_timer, r);
	r->next = e->reqs;
	if (e->reqs)
		e->reqs->prev = r;
	e->reqs = r;
	etcd_req_start(r);
	return 0;
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
