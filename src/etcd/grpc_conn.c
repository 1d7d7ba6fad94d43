/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC's connections, one per endpoint: name lookup (getaddrinfo_a), a
 * non-blocking connect over the addresses, TLS, the HTTP/2 session's
 * settings, keep-alive (PING and TCP), socket reads and writes, and a
 * failed connection's calls ended from the loop. Calls are grpc.c's.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd/grpc_impl.h"
#include "etcd/http_url.h"
#include "etcd/tls.h"
#include "log.h"
#include "loop.h"

/* Frames gathered for one write. */
#define OUT_BATCH (64 * 1024)
/*
 * Windows large enough that a range over thousands of leases arrives in
 * one round trip. They cost no memory: data is consumed as it arrives.
 */
#define STREAM_WINDOW (8 << 20)
#define CONN_WINDOW   (32 << 20)
/* TCP keep-alive too: the kernel's probes find a vanished peer and cost etcd nothing. */
#define KEEPALIVE_IDLE_S    5
#define KEEPALIVE_INTVL_S   2
#define KEEPALIVE_CNT	    3
#define USER_TIMEOUT_MS	    11000
#define RESOLVE_POLL_MAX_MS 50

static void conn_io(int fd, unsigned events, void *arg);

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

void grpc_conn_free(struct conn *k)
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
		grpc_call_end(c, k->fail_err, "%s", k->fail_text);
	}
	loop_timer_arm(k->g->loop, &k->reap, 0);
}

/* Deliver what the calls of k have, from the head; stops if the client is being freed. */
void grpc_conn_dispatch(struct conn *k)
{
	struct grpc *g = k->g;
	struct grpc_call *c;

	while (!g->free_pending && (c = k->pending)) {
		k->pending = c->pnext;
		c->pnext = NULL;
		c->queued = false;
		grpc_call_deliver(c);
	}
}

static void conn_reap(void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;

	grpc_enter(g);
	grpc_conn_dispatch(k);
	if (!g->free_pending && !k->calls)
		grpc_conn_free(k);
	grpc_leave(g);
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
void grpc_conn_flush(struct conn *k)
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

	grpc_enter(g);
	if (k->state != CS_READY) {
		grpc_leave(g);
		return;
	}
	if (k->ping_out) {
		if (grpc_since(k->ping_sent_ms) >= PING_TIMEOUT_MS)
			conn_fail(k, -ETIMEDOUT, "no answer to an HTTP/2 PING within %u ms",
				  PING_TIMEOUT_MS);
		else
			loop_timer_arm(g->loop, &k->timer,
				       PING_TIMEOUT_MS - grpc_since(k->ping_sent_ms));
		grpc_leave(g);
		return;
	}
	idle = grpc_since(k->last_recv_ms);
	if (idle >= PING_INTERVAL_MS && k->calls) {
		nghttp2_submit_ping(k->h2, NGHTTP2_FLAG_NONE, NULL);
		k->ping_out = true;
		k->ping_sent_ms = loop_now_ms();
		loop_timer_arm(g->loop, &k->timer, PING_TIMEOUT_MS);
		grpc_conn_flush(k);
	} else {
		loop_timer_arm(g->loop, &k->timer,
			       idle >= PING_INTERVAL_MS ? PING_INTERVAL_MS
							: PING_INTERVAL_MS - idle);
	}
	grpc_leave(g);
}

static void connect_expired(void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;

	grpc_enter(g);
	if (k->state == CS_READY)
		keepalive(k);
	else
		conn_fail(k, -ETIMEDOUT, "no connection within %u ms", g->connect_timeout_ms);
	grpc_leave(g);
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
		if (!c->stream_id && !c->ended && grpc_call_submit(c) < 0)
			grpc_call_end(c, -ENOMEM, "cannot start the call");
	}
	grpc_conn_flush(k);
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

void grpc_resolve_poll(void *arg);

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

void grpc_resolve_poll(void *arg)
{
	struct grpc *g = arg;
	struct resolve **pp = &g->resolves, *s;

	grpc_enter(g);
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
	grpc_leave(g);
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
struct conn *grpc_conn_for(struct grpc *g, const struct http_url *u)
{
	for (struct conn *k = g->conns; k; k = k->next)
		if (k->state != CS_CLOSED && !k->goaway && k->tls_wanted == u->tls &&
		    !strcmp(k->host, u->host) && !strcmp(k->port, u->port))
			return k;
	return conn_open(g, u);
}

/* glibc's lookup threads write into these: wait for them (bounded) before freeing. */
void grpc_resolves_free(struct grpc *g)
{
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
		grpc_conn_dispatch(k);
		if (g->free_pending)
			return;
		if (n < RECV_SIZE)
			break;
	}
	grpc_conn_flush(k);
}

static void conn_io(int fd, unsigned events, void *arg)
{
	struct conn *k = arg;
	struct grpc *g = k->g;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	grpc_enter(g);
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
			grpc_conn_flush(k);
		break;
	default:
		break;
	}
	if (!g->free_pending)
		grpc_conn_dispatch(k);
	grpc_leave(g);
}
