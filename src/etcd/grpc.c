/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC over HTTP/2 (libnghttp2) on the loop: connections, calls, keep-alive, TLS. */
#include "etcd/grpc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd/grpc_msg.h"
#include "etcd/http_url.h"
#include "log.h"
#include "loop.h"
#include "etcd/tls.h"

/* One read buffer for every connection: nghttp2 consumes it before the next read. */
#define RECV_SIZE (64 * 1024)
/* Frames gathered for one write. */
#define OUT_BATCH (64 * 1024)
/*
 * Windows large enough that a range over thousands of leases arrives in
 * one round trip. They cost no memory: data is consumed as it arrives.
 */
#define STREAM_WINDOW (8 << 20)
#define CONN_WINDOW   (32 << 20)
/*
 * A connection that has been silent for PING_INTERVAL_MS while calls are
 * open gets a PING; no answer within PING_TIMEOUT_MS ends it. etcd sends a
 * GOAWAY ("too_many_pings") to clients that ping more often than every 5 s,
 * so pings are never closer than PING_MIN_GAP_MS.
 */
#define PING_INTERVAL_MS 10000u
#define PING_TIMEOUT_MS	 5000u
#define PING_MIN_GAP_MS	 6000u
/* TCP keep-alive too: the kernel's probes find a vanished peer and cost etcd nothing. */
#define KEEPALIVE_IDLE_S    5
#define KEEPALIVE_INTVL_S   2
#define KEEPALIVE_CNT	    3
#define USER_TIMEOUT_MS	    11000
#define RESOLVE_POLL_MAX_MS 50
#define DEFAULT_CONNECT_MS  5000u
#define TEXT_MAX	    320
#define MESSAGE_MAX	    512 /* grpc-message kept, decoded */

enum conn_state { CS_RESOLVING, CS_CONNECTING, CS_HANDSHAKE, CS_READY, CS_CLOSED };

struct resolve;

struct conn {
	struct grpc *g;
	struct conn *next, *prev;
	enum conn_state state;
	int fd;
	unsigned events;
	bool tls_wanted;
	struct tls_conn *tls;
	bool want_write; /* TLS needs the socket writable to go on */
	char host[256], port[6];
	char authority[270];
	struct addrinfo *addrs, *cur;
	struct resolve *res;
	nghttp2_session *h2;
	bool goaway;	/* the server will take no new streams */
	bool got_bytes; /* any byte came from the server */
	uint8_t *out;	/* bytes nghttp2 produced that the socket has not taken yet */
	size_t out_len, out_off, out_cap;
	struct grpc_call *calls;   /* every call on it */
	struct grpc_call *pending; /* calls with messages or an end to deliver */
	struct loop_timer timer;   /* connect deadline, then keep-alive */
	struct loop_timer reap;	   /* a failed connection's calls are ended from the loop */
	uint64_t last_recv_ms, ping_sent_ms;
	bool ping_out;
	char our_goaway[TEXT_MAX]; /* why nghttp2 ended the session (a GOAWAY of ours) */
	int fail_err;
	char fail_text[TEXT_MAX];
};

struct grpc_call {
	struct grpc *g;
	struct conn *k;
	struct grpc_call *next, *prev; /* on k->calls */
	struct grpc_call *pnext;       /* on k->pending */
	bool queued;		       /* on k->pending */
	struct grpc_call_ops ops;
	void *arg;
	char *path, *token;
	bool hasleader, stream;
	unsigned timeout_ms;
	int32_t stream_id; /* 0 until submitted */
	uint8_t *out;	   /* framed request messages not yet handed to nghttp2 */
	size_t out_len, out_off, out_cap;
	struct grpc_reader rd;
	int http_status;
	bool grpc_content, has_status;
	int status;
	char message[MESSAGE_MAX];
	bool has_message;
	bool ended; /* no more messages: deliver what is buffered, then done() */
	int end_err;
	char end_text[TEXT_MAX];
	bool busy, cancelled;
	struct loop_timer timer; /* deadline */
	uint64_t started_ms;
};

struct resolve {
	struct grpc *g;
	struct resolve *next;
	struct gaicb cb;
	struct addrinfo hints;
	char host[256], port[6];
	struct conn *conn; /* NULL once abandoned */
};

struct grpc {
	struct loop *loop;
	char *cafile, *certfile, *keyfile;
	unsigned connect_timeout_ms;
	struct tls_ctx *tls;
	struct conn *conns;
	struct resolve *resolves;
	struct loop_timer resolve_timer;
	uint64_t resolve_poll_ms;
	nghttp2_session_callbacks *cbs;
	uint8_t *buf;
	unsigned depth;
	bool free_pending;
};

static void destroy(struct grpc *g);
static void conn_io(int fd, unsigned events, void *arg);
static void conn_flush(struct conn *k);
static void conn_dispatch(struct conn *k);

static void enter(struct grpc *g)
{
	g->depth++;
}

static void leave(struct grpc *g)
{
	if (--g->depth == 0 && g->free_pending)
		destroy(g);
}

static uint64_t since(uint64_t then)
{
	uint64_t now = loop_now_ms();

	return now > then ? now - then : 0;
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

/* The call is over with err/text: nothing more is read; buffered messages still go out. */
static void call_end(struct grpc_call *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void call_end(struct grpc_call *c, int err, const char *fmt, ...)
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
		call_end(c, 0, "%s", c->has_message ? c->message : "");
		return;
	}
	if (c->http_status && c->http_status != 200)
		call_end(c, -EPROTO, "HTTP status %d without a gRPC status", c->http_status);
	else if (c->http_status && !c->grpc_content)
		call_end(c, -EPROTO, "the answer is not gRPC (content-type)");
	else
		call_end(c, -EPROTO, "the stream ended without a grpc-status");
}

/* Deliver c's whole messages, then its end. False if the caller must stop (c is gone). */
static bool call_deliver(struct grpc_call *c)
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
				call_end(c, r, "a message is over the %zu-byte cap", c->rd.max_msg);
			else
				call_end(c, r,
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
			call_end(c, r, "%s", strerror(-r));
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

	enter(g);
	call_reset(c);
	call_end(c, -ETIMEDOUT, "no answer within %u ms", c->timeout_ms);
	if (k) {
		/* Perhaps the server hangs: find out now instead of at the next keep-alive. */
		if (k->state == CS_READY && !k->ping_out &&
		    (!k->ping_sent_ms || since(k->ping_sent_ms) >= PING_MIN_GAP_MS)) {
			nghttp2_submit_ping(k->h2, NGHTTP2_FLAG_NONE, NULL);
			k->ping_out = true;
			k->ping_sent_ms = loop_now_ms();
			loop_timer_arm(g->loop, &k->timer, PING_TIMEOUT_MS);
		}
		conn_flush(k);
		conn_dispatch(k);
	}
	leave(g);
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
			call_end(c, -EPROTO, "a malformed grpc-status \"%.*s\"",
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
			call_end(c, -EPROTO, "HTTP status %d with a body that is no gRPC",
				 c->http_status);
		else
			call_end(c, -EPROTO, "the answer is not gRPC (content-type)");
		return 0;
	}
	if (grpc_reader_append(&c->rd, data, len) < 0) {
		call_reset(c);
		call_end(c, -ENOMEM, "out of memory");
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
		call_end(c, -ECONNRESET, "the server refused the stream (it is going away)");
	else if (error_code)
		call_end(c, -ECONNRESET, "stream reset by the server: %s",
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

/* ---------------------------------------------------------------- connections */

static void conn_close_fd(struct conn *k)
{
	if (k->fd < 0)
		return;
	loop_io_del(k->g->loop, k->fd);
	tls_conn_free(k->tls);
	k->tls = NULL;
	close(k->fd);
	k->fd = -1;
	k->events = 0;
}

static void conn_set_events(struct conn *k, unsigned events)
{
	int r;

	if (k->fd < 0 || k->events == events)
		return;
	r = loop_io_add(k->g->loop, k->fd, events, conn_io, k);
	if (r == 0)
		k->events = events;
	else
		log_warnx("grpc: cannot watch socket %d: %s", k->fd, strerror(-r));
}

static void conn_unlink(struct conn *k)
{
	struct grpc *g = k->g;

	if (k->prev)
		k->prev->next = k->next;
	else if (g->conns == k)
		g->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->next = k->prev = NULL;
}

static void conn_free(struct conn *k)
{
	struct grpc *g = k->g;

	conn_close_fd(k);
	if (k->res)
		k->res->conn = NULL;
	if (k->addrs)
		freeaddrinfo(k->addrs);
	if (k->h2)
		nghttp2_session_del(k->h2);
	loop_timer_cancel(g->loop, &k->timer);
	loop_timer_cancel(g->loop, &k->reap);
	conn_unlink(k);
	free(k->out);
	free(k);
}

/*
 * The connection is dead: every call on it ends with err and text. The
 * calls' callbacks run from the loop (we may be deep inside an API call).
 */
static void conn_fail(struct conn *k, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conn_fail(struct conn *k, int err, const char *fmt, ...)
{
	va_list ap;

	if (k->state == CS_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(k->fail_text, sizeof(k->fail_text), fmt, ap);
	va_end(ap);
	k->fail_err = err < 0 ? err : -EIO;
	k->state = CS_CLOSED;
	conn_close_fd(k);
	if (k->h2) {
		nghttp2_session_del(k->h2);
		k->h2 = NULL;
	}
	loop_timer_cancel(k->g->loop, &k->timer);
	for (struct grpc_call *c = k->calls; c; c = c->next) {
		c->stream_id = 0;
		call_end(c, k->fail_err, "%s", k->fail_text);
	}
	loop_timer_arm(k->g->loop, &k->reap, 0);
}

/* Deliver what the calls of k have, from the head; stops if the client is being freed. */
static void conn_dispatch(struct conn *k)
{
	struct grpc *g = k->g;
	struct grpc_call *c;

	while (!g->free_pending && (c = k->pending)) {
		k->pending = c->pnext;
		c->pnext = NULL;
		c->queued = false;
		call_deliver(c);
	}
}

static void conn_reap(void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;

	enter(g);
	conn_dispatch(k);
	if (!g->free_pending && !k->calls)
		conn_free(k);
	leave(g);
}

/*
 * A TLS 1.3 server that refuses our client certificate (or the lack of one)
 * says so in an alert after our side of the handshake is done, then closes:
 * our next write fails (EPIPE) with the alert still unread. Read it: its
 * text says why, where "Broken pipe" would not.
 */
static void tls_alert_instead(struct conn *k, char *err, size_t errlen)
{
	char why[TEXT_MAX];
	uint8_t junk[512]; /* not g->buf: it may still hold bytes being delivered */
	bool ww = false;
	ssize_t r = tls_read(k->tls, junk, sizeof(junk), &ww, why, sizeof(why));

	if (r < 0 && r != -EAGAIN && strstr(why, "alert"))
		snprintf(err, errlen, "%s", why);
}

static ssize_t conn_send(struct conn *k, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	ssize_t w;

	if (k->tls) {
		k->want_write = false;
		w = tls_write(k->tls, p, n, &k->want_write, err, errlen);
		if (w == -EAGAIN && !k->want_write)
			return 0; /* renegotiation wants a read first; the read path writes again */
		if (w < 0 && w != -EAGAIN)
			tls_alert_instead(k, err, errlen);
		return w == -EAGAIN ? 0 : w;
	}
	w = send(k->fd, p, n, MSG_NOSIGNAL);
	if (w >= 0)
		return w;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	snprintf(err, errlen, "%s", strerror(errno));
	return -errno;
}

/* Append what nghttp2 has to send to k->out, up to about OUT_BATCH bytes. */
static int conn_collect(struct conn *k)
{
	if (k->out_off) {
		memmove(k->out, k->out + k->out_off, k->out_len - k->out_off);
		k->out_len -= k->out_off;
		k->out_off = 0;
	}
	while (k->out_len < OUT_BATCH) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(k->h2, &data);

		if (n < 0) {
			conn_fail(k, -EPROTO, "HTTP/2: %s", nghttp2_strerror((int)n));
			return -EPROTO;
		}
		if (n == 0)
			break;
		if (k->out_len + (size_t)n > k->out_cap) {
			size_t cap = k->out_cap ? k->out_cap : 4096;
			uint8_t *p;

			while (cap < k->out_len + (size_t)n)
				cap *= 2;
			p = realloc(k->out, cap);
			if (!p) {
				conn_fail(k, -ENOMEM, "out of memory");
				return -ENOMEM;
			}
			k->out = p;
			k->out_cap = cap;
		}
		memcpy(k->out + k->out_len, data, (size_t)n);
		k->out_len += (size_t)n;
	}
	return 0;
}

/*
 * Hand nghttp2's output to the socket, every frame that is ready in one
 * write (nghttp2 gives them one by one); what the socket will not take yet
 * waits for LOOP_WRITE.
 */
static void conn_flush(struct conn *k)
{
	char err[TEXT_MAX];

	if (k->state != CS_READY)
		return;
	for (;;) {
		if (conn_collect(k) < 0)
			return;
		if (k->out_off == k->out_len)
			break;
		ssize_t w = conn_send(k, k->out + k->out_off, k->out_len - k->out_off, err,
				      sizeof(err));

		if (w < 0) {
			conn_fail(k, (int)w, "%s", err);
			return;
		}
		if (w == 0)
			break;
		k->out_off += (size_t)w;
		if (k->out_off == k->out_len)
			k->out_off = k->out_len = 0;
	}
	if (!nghttp2_session_want_read(k->h2) && !nghttp2_session_want_write(k->h2) &&
	    k->out_off == k->out_len) {
		if (k->our_goaway[0])
			conn_fail(k, -EPROTO, "the server broke HTTP/2: %s", k->our_goaway);
		else
			conn_fail(k, -ECONNRESET, "the connection was closed (GOAWAY)");
		return;
	}
	conn_set_events(k, LOOP_READ | (k->out_off < k->out_len || k->want_write ? LOOP_WRITE : 0));
}

static void keepalive(void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;
	uint64_t idle;

	enter(g);
	if (k->state != CS_READY) {
		leave(g);
		return;
	}
	if (k->ping_out) {
		if (since(k->ping_sent_ms) >= PING_TIMEOUT_MS)
			conn_fail(k, -ETIMEDOUT, "no answer to an HTTP/2 PING within %u ms",
				  PING_TIMEOUT_MS);
		else
			loop_timer_arm(g->loop, &k->timer,
				       PING_TIMEOUT_MS - since(k->ping_sent_ms));
		leave(g);
		return;
	}
	idle = since(k->last_recv_ms);
	if (idle >= PING_INTERVAL_MS && k->calls) {
		nghttp2_submit_ping(k->h2, NGHTTP2_FLAG_NONE, NULL);
		k->ping_out = true;
		k->ping_sent_ms = loop_now_ms();
		loop_timer_arm(g->loop, &k->timer, PING_TIMEOUT_MS);
		conn_flush(k);
	} else {
		loop_timer_arm(g->loop, &k->timer,
			       idle >= PING_INTERVAL_MS ? PING_INTERVAL_MS
							: PING_INTERVAL_MS - idle);
	}
	leave(g);
}

static void connect_expired(void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;

	enter(g);
	if (k->state == CS_READY)
		keepalive(k);
	else
		conn_fail(k, -ETIMEDOUT, "no connection within %u ms", g->connect_timeout_ms);
	leave(g);
}

static void set_sockopts(int fd)
{
	int one = 1, idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTVL_S, cnt = KEEPALIVE_CNT;
	unsigned user_timeout = USER_TIMEOUT_MS;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

static int call_submit(struct grpc_call *c);

/* Transport up: start the HTTP/2 session and every call waiting for it. */
static void conn_ready(struct conn *k)
{
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
	};
	struct grpc_call *c, *next;
	int r;

	r = nghttp2_session_client_new(&k->h2, k->g->cbs, k);
	if (r == 0)
		r = nghttp2_submit_settings(k->h2, NGHTTP2_FLAG_NONE, iv, 2);
	if (r == 0)
		r = nghttp2_session_set_local_window_size(k->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
	if (r != 0) {
		conn_fail(k, -ENOMEM, "HTTP/2: %s", nghttp2_strerror(r));
		return;
	}
	k->state = CS_READY;
	k->last_recv_ms = loop_now_ms();
	loop_timer_arm(k->g->loop, &k->timer, PING_INTERVAL_MS);
	for (c = k->calls; c; c = next) {
		next = c->next;
		if (!c->stream_id && !c->ended && call_submit(c) < 0)
			call_end(c, -ENOMEM, "cannot start the call");
	}
	conn_flush(k);
}

static void conn_connected(struct conn *k)
{
	struct grpc *g = k->g;
	char err[TEXT_MAX];
	int r;

	if (!k->tls_wanted) {
		conn_ready(k);
		return;
	}
	if (!g->tls) {
		r = tls_ctx_new(g->cafile, g->certfile, g->keyfile, &g->tls, err, sizeof(err));
		if (r < 0) {
			conn_fail(k, r, "%s", err);
			return;
		}
	}
	r = tls_conn_new(g->tls, k->fd, k->host, &k->tls, err, sizeof(err));
	if (r == 0)
		r = tls_conn_offer_h2(k->tls, err, sizeof(err));
	if (r < 0) {
		conn_fail(k, r, "%s", err);
		return;
	}
	k->state = CS_HANDSHAKE;
	conn_set_events(k, LOOP_WRITE);
}

static void conn_try(struct conn *k)
{
	int err = 0;

	for (; k->cur; k->cur = k->cur->ai_next) {
		struct addrinfo *a = k->cur;
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->ai_protocol);

		if (fd < 0) {
			err = errno;
			continue;
		}
		set_sockopts(fd);
		k->fd = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			conn_connected(k);
			return;
		}
		if (errno == EINPROGRESS) {
			k->state = CS_CONNECTING;
			conn_set_events(k, LOOP_WRITE);
			return;
		}
		err = errno;
		conn_close_fd(k);
	}
	conn_fail(k, -err, "connect: %s", strerror(err));
}

static void resolve_poll(void *arg);

static void resolve_free(struct resolve *s)
{
	if (s->cb.ar_result)
		freeaddrinfo(s->cb.ar_result);
	free(s);
}

/* A name, not an address: look it up off the loop (glibc's resolver threads). */
static int resolve_start(struct conn *k)
{
	struct grpc *g = k->g;
	struct resolve *s = calloc(1, sizeof(*s));
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };

	if (!s)
		return -ENOMEM;
	s->g = g;
	s->conn = k;
	memcpy(s->host, k->host, sizeof(s->host));
	memcpy(s->port, k->port, sizeof(s->port));
	s->hints.ai_socktype = SOCK_STREAM;
	/* No AI_ADDRCONFIG: it ignores loopback, so "localhost" would fail on a host with only lo.
	 */
	s->hints.ai_flags = AI_NUMERICSERV;
	s->cb.ar_name = s->host;
	s->cb.ar_service = s->port;
	s->cb.ar_request = &s->hints;
	list[0] = &s->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
		free(s);
		return -EAGAIN;
	}
	s->next = g->resolves;
	g->resolves = s;
	k->res = s;
	k->state = CS_RESOLVING;
	g->resolve_poll_ms = 1;
	if (!g->resolve_timer.armed)
		loop_timer_arm(g->loop, &g->resolve_timer, g->resolve_poll_ms);
	return 0;
}

static void resolved(struct resolve *s, int gai)
{
	struct conn *k = s->conn;

	if (!k)
		return;
	k->res = NULL;
	if (gai != 0) {
		conn_fail(k, -EHOSTUNREACH, "cannot resolve %s: %s", k->host, gai_strerror(gai));
		return;
	}
	k->addrs = s->cb.ar_result;
	s->cb.ar_result = NULL;
	k->cur = k->addrs;
	conn_try(k);
}

static void resolve_poll(void *arg)
{
	struct grpc *g = arg;
	struct resolve **pp = &g->resolves, *s;

	enter(g);
	while ((s = *pp) && !g->free_pending) {
		int gai = gai_error(&s->cb);

		if (gai == EAI_INPROGRESS) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		resolved(s, gai);
		resolve_free(s);
	}
	if (g->resolves && !g->free_pending) {
		g->resolve_poll_ms *= 2;
		if (g->resolve_poll_ms > RESOLVE_POLL_MAX_MS)
			g->resolve_poll_ms = RESOLVE_POLL_MAX_MS;
		loop_timer_arm(g->loop, &g->resolve_timer, g->resolve_poll_ms);
	}
	leave(g);
}

static struct conn *conn_open(struct grpc *g, const struct http_url *u)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct conn *k = calloc(1, sizeof(*k));
	int e;

	if (!k)
		return NULL;
	k->g = g;
	k->fd = -1;
	k->tls_wanted = u->tls;
	snprintf(k->host, sizeof(k->host), "%s", u->host);
	snprintf(k->port, sizeof(k->port), "%s", u->port);
	snprintf(k->authority, sizeof(k->authority), strchr(u->host, ':') ? "[%s]:%s" : "%s:%s",
		 u->host, u->port);
	loop_timer_init(&k->timer, connect_expired, k);
	loop_timer_init(&k->reap, conn_reap, k);
	k->next = g->conns;
	if (g->conns)
		g->conns->prev = k;
	g->conns = k;
	loop_timer_arm(g->loop, &k->timer, g->connect_timeout_ms);
	e = getaddrinfo(k->host, k->port, &hints, &k->addrs);
	if (e == 0) {
		k->cur = k->addrs;
		conn_try(k);
		return k;
	}
	k->addrs = NULL;
	if (e != EAI_NONAME) {
		conn_fail(k, -EINVAL, "bad address %s:%s: %s", k->host, k->port, gai_strerror(e));
		return k;
	}
	e = resolve_start(k);
	if (e < 0)
		conn_fail(k, e, "cannot resolve %s: %s", k->host, strerror(-e));
	return k;
}

/* The live connection to u, or a new one. */
static struct conn *conn_for(struct grpc *g, const struct http_url *u)
{
	for (struct conn *k = g->conns; k; k = k->next)
		if (k->state != CS_CLOSED && !k->goaway && k->tls_wanted == u->tls &&
		    !strcmp(k->host, u->host) && !strcmp(k->port, u->port))
			return k;
	return conn_open(g, u);
}

/* ---------------------------------------------------------------- I/O */

static void do_handshake(struct conn *k)
{
	char err[TEXT_MAX];
	int r = tls_handshake(k->tls, &k->want_write, err, sizeof(err));

	if (r == -EAGAIN) {
		conn_set_events(k, k->want_write ? LOOP_WRITE : LOOP_READ);
		return;
	}
	if (r < 0) {
		conn_fail(k, r, "%s", err);
		return;
	}
	if (!tls_conn_is_h2(k->tls)) {
		conn_fail(k, -EPROTO, "TLS: the server did not agree to HTTP/2 (ALPN h2)");
		return;
	}
	k->want_write = false;
	conn_ready(k);
}

static void do_receive(struct conn *k)
{
	struct grpc *g = k->g;
	char err[TEXT_MAX];

	for (int rounds = 0; rounds < 16 && k->state == CS_READY; rounds++) {
		ssize_t n;

		if (k->tls) {
			k->want_write = false;
			n = tls_read(k->tls, g->buf, RECV_SIZE, &k->want_write, err, sizeof(err));
			if (n == -EAGAIN)
				break;
		} else {
			n = recv(k->fd, g->buf, RECV_SIZE, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n < 0)
				snprintf(err, sizeof(err), "%s", strerror(errno));
			if (n < 0)
				n = -errno;
		}
		if (n < 0) {
			conn_fail(k, (int)n, "%s", err);
			return;
		}
		if (n == 0) {
			conn_fail(k, -ECONNRESET, "the server closed the connection");
			return;
		}
		if (!k->got_bytes && n >= 5 && !memcmp(g->buf, "HTTP/", 5)) {
			conn_fail(k, -EPROTO,
				  "the server answered in HTTP/1.x: not an HTTP/2 (gRPC) endpoint");
			return;
		}
		k->got_bytes = true;
		k->last_recv_ms = loop_now_ms();
		ssize_t used = nghttp2_session_mem_recv(k->h2, g->buf, (size_t)n);

		if (used < 0) {
			conn_fail(k, -EPROTO, "HTTP/2: %s", nghttp2_strerror((int)used));
			return;
		}
		/* Hand out what arrived before reading more: bounds what is buffered. */
		conn_dispatch(k);
		if (g->free_pending)
			return;
		if (n < RECV_SIZE)
			break;
	}
	conn_flush(k);
}

static void conn_io(int fd, unsigned events, void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	enter(g);
	switch (k->state) {
	case CS_CONNECTING:
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			conn_close_fd(k);
			k->cur = k->cur ? k->cur->ai_next : NULL;
			if (k->cur) {
				conn_try(k);
				break;
			}
			conn_fail(k, -soerr, "connect: %s", strerror(soerr));
			break;
		}
		conn_connected(k);
		break;
	case CS_HANDSHAKE:
		do_handshake(k);
		break;
	case CS_READY:
		do_receive(k);
		if (!g->free_pending && k->state == CS_READY && (events & LOOP_WRITE))
			conn_flush(k);
		break;
	default:
		break;
	}
	if (!g->free_pending)
		conn_dispatch(k);
	leave(g);
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

static int call_submit(struct grpc_call *c)
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
	k = conn_for(g, p->url);
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
		call_end(c, k->fail_err, "%s", k->fail_text);
	} else if (k->state == CS_READY) {
		if (call_submit(c) < 0) {
			call_detach(c);
			call_free(c);
			return -ENOMEM;
		}
		conn_flush(k);
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
		conn_flush(k);
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
	loop_timer_init(&g->resolve_timer, resolve_poll, g);
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
		conn_free(k);
	}
	/* glibc's lookup threads write into these: wait for them (bounded) before freeing. */
	while (g->resolves) {
		struct resolve *s = g->resolves;
		const struct gaicb *list[1] = { &s->cb };
		struct timespec ts = { 5, 0 };

		g->resolves = s->next;
		if (gai_error(&s->cb) == EAI_INPROGRESS && gai_cancel(&s->cb) != EAI_CANCELED)
			gai_suspend(list, 1, &ts);
		if (gai_error(&s->cb) == EAI_INPROGRESS)
			continue; /* leak rather than free memory a thread may still write */
		resolve_free(s);
	}
	loop_timer_cancel(g->loop, &g->resolve_timer);
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
