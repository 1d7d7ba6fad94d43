/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC over HTTP/2 (libnghttp2) on the loop, the calls' side: a call's
 * life (queue, deliver, deadline, end), the nghttp2 callbacks that feed
 * its stream, and the API. Connections are grpc_conn.c's.
 */
#include "etcd/grpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/grpc_impl.h"
#include "etcd/grpc_msg.h"
#include "etcd/http_url.h"
#include "etcd/tls.h"
#include "log.h"
#include "loop.h"

#define DEFAULT_CONNECT_MS 5000u

static void destroy(struct grpc *g);

void grpc_enter(struct grpc *g)
{
	g->depth++;
}

void grpc_leave(struct grpc *g)
{
	if (--g->depth == 0 && g->free_pending)
		destroy(g);
}

/* ---------------------------------------------------------------- calls */

static void call_unqueue(struct grpc_call *c)
{
	struct conn *k = c->k;

	if (!c->queued || !k)
		return;
	for (struct grpc_call **pp = &k->pending; *pp; pp = &(*pp)->pnext) {
		if (*pp == c) {
			*pp = c->pnext;
			break;
		}
	}
	c->pnext = NULL;
	c->queued = false;
}

/* Add c to its connection's delivery list (in order of arrival). */
static void call_queue(struct grpc_call *c)
{
	struct grpc_call **pp;

	if (c->queued)
		return;
	for (pp = &c->k->pending; *pp; pp = &(*pp)->pnext)
		;
	*pp = c;
	c->queued = true;
}

static void call_detach(struct grpc_call *c)
{
	struct conn *k = c->k;

	if (!k)
		return;
	call_unqueue(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		k->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	if (c->stream_id && k->h2)
		nghttp2_session_set_stream_user_data(k->h2, c->stream_id, NULL);
	c->k = NULL;
}

static void call_free(struct grpc_call *c)
{
	loop_timer_cancel(c->g->loop, &c->timer);
	grpc_reader_free(&c->rd);
	free(c->out);
	free(c->path);
	free(c->token);
	free(c);
}

void grpc_call_end(struct grpc_call *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->ended)
		return;
	c->ended = true;
	c->end_err = err;
	va_start(ap, fmt);
	vsnprintf(c->end_text, sizeof(c->end_text), fmt, ap);
	va_end(ap);
	if (c->k)
		call_queue(c);
}

/* Reset the stream at the server, if it has one. */
static void call_reset(struct grpc_call *c)
{
	struct conn *k = c->k;

	if (!k || !k->h2 || !c->stream_id)
		return;
	nghttp2_submit_rst_stream(k->h2, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
	nghttp2_session_set_stream_user_data(k->h2, c->stream_id, NULL);
	c->stream_id = 0;
}

/* The server's verdict on a stream that closed without an HTTP/2 error. */
static void call_closed_cleanly(struct grpc_call *c)
{
	if (c->has_status) {
		grpc_call_end(c, 0, "%s", c->has_message ? c->message : "");
		return;
	}
	if (c->http_status && c->http_status != 200)
		grpc_call_end(c, -EPROTO, "HTTP status %d without a gRPC status", c->http_status);
	else if (c->http_status && !c->grpc_content)
		grpc_call_end(c, -EPROTO, "the answer is not gRPC (content-type)");
	else
		grpc_call_end(c, -EPROTO, "the stream ended without a grpc-status");
}

/* Deliver c's whole messages, then its end. False if the caller must stop (c is gone). */
bool grpc_call_deliver(struct grpc_call *c)
{
	struct grpc *g = c->g;
	const uint8_t *msg;
	size_t len;
	int r;

	while (!c->cancelled && !g->free_pending) {
		r = grpc_reader_next(&c->rd, &msg, &len);
		if (r == 0)
			break;
		if (r < 0) {
			call_reset(c);
			c->ended = false; /* this outranks an end already seen */
			if (r == -EMSGSIZE)
				grpc_call_end(c, r, "a message is over the %zu-byte cap",
					      c->rd.max_msg);
			else
				grpc_call_end(c, r,
					      "a compressed message (compression was not offered)");
			grpc_reader_free(&c->rd);
			break;
		}
		c->busy = true;
		r = c->ops.message(c->arg, msg, len);
		c->busy = false;
		if (c->cancelled) {
			call_free(c);
			return false;
		}
		if (r < 0) {
			call_reset(c);
			c->ended = false;
			grpc_call_end(c, r, "%s", strerror(-r));
			grpc_reader_free(&c->rd);
			break;
		}
	}
	if (g->free_pending || !c->ended)
		return true;
	if (!c->end_err && grpc_reader_pending(&c->rd)) {
		c->end_err = -EPROTO;
		snprintf(c->end_text, sizeof(c->end_text), "the stream ended inside a message");
	}
	call_detach(c);
	c->busy = true;
	if (c->end_err)
		c->ops.done(c->arg, c->end_err, 0, c->end_text);
	else
		c->ops.done(c->arg, 0, c->status, c->has_message ? c->message : NULL);
	call_free(c);
	return false;
}

static void call_deadline(void *arg)
{
	struct grpc_call *c = arg;
	struct grpc *g = c->g;
	struct conn *k = c->k;

	grpc_enter(g);
	call_reset(c);
	grpc_call_end(c, -ETIMEDOUT, "no answer within %u ms", c->timeout_ms);
	if (k) {
		/* Perhaps the server hangs: find out now instead of at the next keep-alive. */
		if (k->state == CS_READY && !k->ping_out &&
		    (!k->ping_sent_ms || grpc_since(k->ping_sent_ms) >= PING_MIN_GAP_MS)) {
			nghttp2_submit_ping(k->h2, NGHTTP2_FLAG_NONE, NULL);
			k->ping_out = true;
			k->ping_sent_ms = loop_now_ms();
			loop_timer_arm(g->loop, &k->timer, PING_TIMEOUT_MS);
		}
		grpc_conn_flush(k);
		grpc_conn_dispatch(k);
	}
	grpc_leave(g);
}

/* ---------------------------------------------------------------- nghttp2 callbacks */

static struct grpc_call *stream_call(nghttp2_session *s, int32_t id)
{
	return id ? nghttp2_session_get_stream_user_data(s, id) : NULL;
}

static ssize_t on_read_data(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
			    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct grpc_call *c = stream_call(s, id);
	size_t n;

	if (!c)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = c->out_len - c->out_off;
	if (n > length)
		n = length;
	memcpy(buf, c->out + c->out_off, n);
	c->out_off += n;
	if (c->out_off < c->out_len)
		return (ssize_t)n;
	c->out_off = c->out_len = 0;
	if (!c->stream)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	else if (!n)
		return NGHTTP2_ERR_DEFERRED;
	return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct grpc_call *c = stream_call(s, frame->hd.stream_id);
	const char *n = (const char *)name, *v = (const char *)value;

	if (!c || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 7 && !memcmp(n, ":status", 7)) {
		int st = 0;

		for (size_t i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (v[i] >= '0' && v[i] <= '9' ? v[i] - '0' : 0);
		c->http_status = st;
	} else if (namelen == 12 && !memcmp(n, "content-type", 12)) {
		c->grpc_content = valuelen >= 16 && !memcmp(v, "application/grpc", 16);
	} else if (namelen == 11 && !memcmp(n, "grpc-status", 11)) {
		if (grpc_status_parse(v, valuelen, &c->status) == 0) {
			c->has_status = true;
		} else {
			call_reset(c);
			grpc_call_end(c, -EPROTO, "a malformed grpc-status \"%.*s\"",
				      (int)(valuelen > 16 ? 16 : valuelen), v);
		}
	} else if (namelen == 12 && !memcmp(n, "grpc-message", 12)) {
		grpc_percent_decode(v, valuelen, c->message, sizeof(c->message));
		c->has_message = true;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct grpc_call *c = stream_call(s, id);

	if (!c || c->ended)
		return 0;
	/*
	 * An answer that is no gRPC (a proxy's or a broken server's error page)
	 * is never buffered: its status is all we keep.
	 */
	if (c->http_status != 200 || !c->grpc_content) {
		call_reset(c);
		if (c->http_status != 200)
			grpc_call_end(c, -EPROTO, "HTTP status %d with a body that is no gRPC",
				      c->http_status);
		else
			grpc_call_end(c, -EPROTO, "the answer is not gRPC (content-type)");
		return 0;
	}
	if (grpc_reader_append(&c->rd, data, len) < 0) {
		call_reset(c);
		grpc_call_end(c, -ENOMEM, "out of memory");
		return 0;
	}
	call_queue(c);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	struct grpc_call *c = stream_call(s, id);

	if (!c)
		return 0;
	c->stream_id = 0;
	if (error_code == NGHTTP2_REFUSED_STREAM)
		grpc_call_end(c, -ECONNRESET, "the server refused the stream (it is going away)");
	else if (error_code)
		grpc_call_end(c, -ECONNRESET, "stream reset by the server: %s",
			      nghttp2_http2_strerror(error_code));
	else
		call_closed_cleanly(c);
	return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	struct conn *k = ud;

	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		k->ping_out = false;
	} else if (frame->hd.type == NGHTTP2_GOAWAY) {
		const nghttp2_goaway *ga = &frame->goaway;
		size_t dl = ga->opaque_data_len > 64 ? 64 : ga->opaque_data_len;
		char why[80];

		k->goaway = true;
		grpc_percent_decode((const char *)ga->opaque_data, dl, why, sizeof(why));
		if (ga->error_code)
			log_warnx("etcd %s:%s sent GOAWAY: %s%s%s", k->host, k->port,
				  nghttp2_http2_strerror(ga->error_code), dl ? ": " : "", why);
		else
			log_debug(1, "etcd %s:%s sent GOAWAY%s%s", k->host, k->port, dl ? ": " : "",
				  why);
	}
	return 0;
}

/*
 * nghttp2 ends the session with a GOAWAY of its own when the server breaks
 * HTTP/2 (e.g. bytes that are no frames): keep its code and reason, so that
 * the error says so rather than only "closed (GOAWAY)".
 */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	struct conn *k = ud;
	const nghttp2_goaway *ga = &frame->goaway;

	if (frame->hd.type == NGHTTP2_GOAWAY && ga->error_code && !k->our_goaway[0])
		snprintf(k->our_goaway, sizeof(k->our_goaway), "%s%s%.*s",
			 nghttp2_http2_strerror(ga->error_code), ga->opaque_data_len ? ": " : "",
			 (int)(ga->opaque_data_len > 160 ? 160 : ga->opaque_data_len),
			 (const char *)ga->opaque_data);
	return 0;
}

/* ---------------------------------------------------------------- API */

static int call_append(struct grpc_call *c, const void *msg, size_t len)
{
	size_t need = c->out_len + GRPC_PREFIX_LEN + len;

	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 256;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	grpc_msg_prefix(c->out + c->out_len, len);
	if (len)
		memcpy(c->out + c->out_len + GRPC_PREFIX_LEN, msg, len);
	c->out_len = need;
	return 0;
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v),                          \
			NGHTTP2_NV_FLAG_NO_COPY_NAME                                               \
	}

int grpc_call_submit(struct grpc_call *c)
{
	struct conn *k = c->k;
	char timeout[24];
	nghttp2_data_provider prd = { .read_callback = on_read_data };
	nghttp2_nv nva[10] = {
		NV(":method", "POST"),
		NV(":scheme", k->tls_wanted ? "https" : "http"),
		NV(":path", c->path),
		NV(":authority", k->authority),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
	};
	size_t n = 6;
	int32_t id;

	if (c->timeout_ms) {
		snprintf(timeout, sizeof(timeout), "%um", c->timeout_ms);
		nva[n++] = (nghttp2_nv)NV("grpc-timeout", timeout);
	}
	if (c->token)
		nva[n++] = (nghttp2_nv)NV("token", c->token);
	if (c->hasleader)
		nva[n++] = (nghttp2_nv)NV("hasleader", "true");
	id = nghttp2_submit_request(k->h2, NULL, nva, n, &prd, c);
	if (id < 0)
		return -ENOMEM;
	c->stream_id = id;
	return 0;
}

int grpc_call(struct grpc *g, const struct grpc_call_params *p, const struct grpc_call_ops *ops,
	      void *arg, struct grpc_call **ret)
{
	struct grpc_call *c = calloc(1, sizeof(*c));
	struct conn *k;

	if (!c)
		return -ENOMEM;
	c->g = g;
	c->ops = *ops;
	c->arg = arg;
	c->stream = p->stream;
	c->hasleader = p->hasleader;
	c->timeout_ms = p->timeout_ms;
	c->path = strdup(p->path);
	c->token = p->token ? strdup(p->token) : NULL;
	grpc_reader_init(&c->rd, p->max_msg);
	loop_timer_init(&c->timer, call_deadline, c);
	if (!c->path || (p->token && !c->token) || call_append(c, p->msg, p->len) < 0) {
		call_free(c);
		return -ENOMEM;
	}
	k = grpc_conn_for(g, p->url);
	if (!k) {
		call_free(c);
		return -ENOMEM;
	}
	c->k = k;
	c->next = k->calls;
	if (k->calls)
		k->calls->prev = c;
	k->calls = c;
	c->started_ms = loop_now_ms();
	if (c->timeout_ms)
		loop_timer_arm(g->loop, &c->timer, c->timeout_ms);
	if (k->state == CS_CLOSED) {
		/* It failed on the way up: report from the loop. */
		grpc_call_end(c, k->fail_err, "%s", k->fail_text);
	} else if (k->state == CS_READY) {
		if (grpc_call_submit(c) < 0) {
			call_detach(c);
			call_free(c);
			return -ENOMEM;
		}
		grpc_conn_flush(k);
	}
	*ret = c;
	return 0;
}

void grpc_call_cancel(struct grpc_call *c)
{
	struct conn *k;

	if (!c || c->cancelled)
		return;
	k = c->k;
	call_reset(c);
	call_detach(c);
	if (k && k->state == CS_READY)
		grpc_conn_flush(k);
	if (c->busy) {
		c->cancelled = true; /* freed when its callback returns */
		return;
	}
	call_free(c);
}

int grpc_new(struct loop *loop, const struct grpc_opts *opts, struct grpc **ret)
{
	struct grpc *g = calloc(1, sizeof(*g));
	nghttp2_session_callbacks *cbs;

	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->connect_timeout_ms =
		opts && opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
	loop_timer_init(&g->resolve_timer, grpc_resolve_poll, g);
	g->buf = malloc(RECV_SIZE);
	if (!g->buf || nghttp2_session_callbacks_new(&cbs) != 0)
		goto fail;
	g->cbs = cbs;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	if (opts && ((opts->cafile && !(g->cafile = strdup(opts->cafile))) ||
		     (opts->certfile && !(g->certfile = strdup(opts->certfile))) ||
		     (opts->keyfile && !(g->keyfile = strdup(opts->keyfile)))))
		goto fail;
	*ret = g;
	return 0;
fail:
	destroy(g);
	return -ENOMEM;
}

static void destroy(struct grpc *g)
{
	while (g->conns) {
		struct conn *k = g->conns;

		while (k->calls) {
			struct grpc_call *c = k->calls;

			call_detach(c);
			if (c->busy)
				c->cancelled = true;
			else
				call_free(c);
		}
		grpc_conn_free(k);
	}
	grpc_resolves_free(g);
	if (g->cbs)
		nghttp2_session_callbacks_del(g->cbs);
	tls_ctx_free(g->tls);
	free(g->buf);
	free(g->cafile);
	free(g->certfile);
	free(g->keyfile);
	free(g);
}

void grpc_free(struct grpc *g)
{
	if (!g)
		return;
	if (g->depth) {
		g->free_pending = true;
		return;
	}
	destroy(g);
}
