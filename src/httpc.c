/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 POST client on the loop: connections, keep-alive, TLS, streamed bodies. */
#include "httpc.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parse.h"
#include "log.h"
#include "loop.h"
#include "tls.h"

/* One read buffer for every connection: bodies are handed on before the next read. */
#define RECV_SIZE	(64 * 1024)
#define IDLE_MAX	8
#define IDLE_TIMEOUT_MS 60000
/*
 * A watch is idle for as long as nothing changes: a server that vanished
 * or a network that dropped us is noticed by TCP keep-alive after
 * 5 + 3 * 2 = 11 s, and data that is never acknowledged by the user
 * timeout, instead of after minutes of retransmission. The probes are the
 * kernel's: they cost etcd nothing.
 */
#define KEEPALIVE_IDLE_S  5
#define KEEPALIVE_INTVL_S 2
#define KEEPALIVE_CNT	  3
#define USER_TIMEOUT_MS	  11000
/* How often a pending name lookup is checked: from 1 ms, doubling up to this. */
#define RESOLVE_POLL_MAX_MS 50

enum conn_state { CS_RESOLVING, CS_CONNECTING, CS_HANDSHAKE, CS_SENDING, CS_RECEIVING, CS_IDLE };

struct resolve;

struct conn {
	struct httpc *c;
	struct conn *next, *prev; /* every connection of the client */
	enum conn_state state;
	int fd;
	unsigned events; /* registered with the loop for fd */
	bool tls_wanted;
	struct tls_conn *tls;
	bool want_write; /* TLS needs the socket writable to go on */
	char host[256], port[6];
	struct addrinfo *addrs, *cur; /* what to try, from getaddrinfo */
	struct resolve *res;	      /* lookup in flight */
	struct httpc_req *req;	      /* NULL when idle */
	struct loop_timer idle_timer;
};

struct httpc_req {
	struct httpc *c;
	struct httpc_req *next, *prev;
	struct conn *conn;
	struct httpc_req_ops ops;
	void *arg;
	char *out;
	size_t out_len, out_off;
	struct http_parser p;
	int status;
	char host[256], port[6];
	bool tls;
	bool reused;	/* sent on a kept-alive connection */
	bool retried;	/* already re-sent once on a fresh one */
	bool busy;	/* a callback of it is running */
	bool cancelled; /* httpc_cancel() while busy */
	unsigned connect_timeout_ms, timeout_ms;
	uint64_t started_ms;
	struct loop_timer timer; /* deadline, or a failure to report from the loop */
	int pending_err;
	char text[320];
};

/* A getaddrinfo_a() lookup; outlives its connection if that goes first. */
struct resolve {
	struct httpc *c;
	struct resolve *next;
	struct gaicb cb;
	struct addrinfo hints;
	char host[256], port[6];
	struct conn *conn; /* NULL once abandoned */
};

struct httpc {
	struct loop *loop;
	char *cafile, *certfile, *keyfile;
	struct tls_ctx *tls;
	struct conn *conns;
	struct httpc_req *reqs;
	struct resolve *resolves;
	struct loop_timer resolve_timer;
	uint64_t resolve_poll_ms;
	char *buf;
	unsigned depth;
	bool free_pending;
	bool in_post;
	struct httpc_stats stats;
};

static void destroy(struct httpc *c);
static void conn_io(int fd, unsigned events, void *arg);
static void conn_start(struct httpc *c, struct httpc_req *r);

static void enter(struct httpc *c)
{
	c->depth++;
}

static void leave(struct httpc *c)
{
	if (--c->depth == 0 && c->free_pending)
		destroy(c);
}

/* ---------------------------------------------------------------- connections */

static void conn_close_fd(struct conn *k);

static void conn_set_events(struct conn *k, unsigned events)
{
	int r;

	if (k->fd < 0 || k->events == events)
		return;
	r = loop_io_add(k->c->loop, k->fd, events, conn_io, k);
	if (r == 0) {
		k->events = events;
		return;
	}
	/* Never polled again: fail its request from the loop (we may be deep in a call). */
	log_warnx("http: cannot watch socket %d: %s", k->fd, strerror(-r));
	conn_close_fd(k);
	if (k->req) {
		k->req->pending_err = r;
		snprintf(k->req->text, sizeof(k->req->text), "cannot watch the socket: %s",
			 strerror(-r));
		loop_timer_arm(k->c->loop, &k->req->timer, 0);
	}
}

static void conn_close_fd(struct conn *k)
{
	if (k->fd < 0)
		return;
	loop_io_del(k->c->loop, k->fd);
	tls_conn_free(k->tls);
	k->tls = NULL;
	close(k->fd);
	k->fd = -1;
	k->events = 0;
}

static void conn_free(struct conn *k)
{
	struct httpc *c;

	if (!k)
		return;
	c = k->c;
	conn_close_fd(k);
	if (k->res)
		k->res->conn = NULL;
	if (k->addrs)
		freeaddrinfo(k->addrs);
	loop_timer_cancel(c->loop, &k->idle_timer);
	if (k->prev)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	free(k);
}

static void idle_expired(void *arg)
{
	struct conn *k = arg;
	struct httpc *c = k->c;

	enter(c);
	conn_free(k);
	leave(c);
}

static struct conn *conn_new(struct httpc *c, const struct httpc_req *r)
{
	struct conn *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->c = c;
	k->fd = -1;
	k->tls_wanted = r->tls;
	memcpy(k->host, r->host, sizeof(k->host));
	memcpy(k->port, r->port, sizeof(k->port));
	loop_timer_init(&k->idle_timer, idle_expired, k);
	k->next = c->conns;
	if (c->conns)
		c->conns->prev = k;
	c->conns = k;
	return k;
}

static struct conn *conn_find_idle(struct httpc *c, const struct httpc_req *r)
{
	for (struct conn *k = c->conns; k; k = k->next)
		if (k->state == CS_IDLE && k->fd >= 0 && k->tls_wanted == r->tls &&
		    !strcmp(k->host, r->host) && !strcmp(k->port, r->port))
			return k;
	return NULL;
}

static size_t idle_count(const struct httpc *c, struct conn **oldest)
{
	size_t n = 0;

	*oldest = NULL;
	for (struct conn *k = c->conns; k; k = k->next) {
		if (k->state != CS_IDLE)
			continue;
		n++;
		*oldest = k; /* the list is newest first */
	}
	return n;
}

/* ---------------------------------------------------------------- requests */

static void req_unlink(struct httpc_req *r)
{
	struct httpc *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

static void req_free(struct httpc_req *r)
{
	loop_timer_cancel(r->c->loop, &r->timer);
	free(r->out);
	free(r);
}

/* The last callback, then the request is gone. */
static void finish(struct httpc_req *r, int err, const char *text)
{
	loop_timer_cancel(r->c->loop, &r->timer);
	req_unlink(r);
	r->busy = true;
	r->ops.done(r->arg, err, text);
	req_free(r);
}

/* Fail r: its connection (mid-request, so unusable) goes too. */
static void fail(struct httpc_req *r, int err, const char *text)
{
	if (err >= 0)
		err = -EIO; /* a failure is never reported as success */
	if (r->conn) {
		r->conn->req = NULL;
		conn_free(r->conn);
		r->conn = NULL;
	}
	if (r->c->in_post) {
		/* No callback from inside httpc_post(): report it from the loop. */
		r->pending_err = err;
		snprintf(r->text, sizeof(r->text), "%s", text);
		loop_timer_arm(r->c->loop, &r->timer, 0);
		return;
	}
	finish(r, err, text);
}

static void failf(struct httpc_req *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void failf(struct httpc_req *r, int err, const char *fmt, ...)
{
	char text[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fail(r, err, text);
}

static void arm_deadline(struct httpc_req *r, bool sent);

/*
 * A kept-alive connection the server had already closed: the request
 * never reached it, so it is sent once more on a fresh connection. (As
 * curl does, also when the write itself went through: a server that
 * closes an idle connection has not read what arrives after.)
 */
static bool retry_fresh(struct httpc_req *r)
{
	if (!r->reused || r->retried || r->p.got_bytes)
		return false;
	log_debug(2, "http: %s:%s closed a kept-alive connection, sending again", r->host, r->port);
	r->conn->req = NULL;
	conn_free(r->conn);
	r->conn = NULL;
	r->retried = true;
	r->reused = false;
	r->out_off = 0;
	http_parser_init(&r->p);
	/* A watch's deadline ended once it was sent: the fresh connection needs one again. */
	r->started_ms = loop_now_ms();
	arm_deadline(r, false);
	conn_start(r->c, r);
	return true;
}

static void req_timer(void *arg)
{
	struct httpc_req *r = arg;
	struct httpc *c = r->c;
	uint64_t took = loop_now_ms() - r->started_ms;

	enter(c);
	if (r->pending_err)
		fail(r, r->pending_err, r->text);
	else
		failf(r, -ETIMEDOUT, "timed out after %llu ms %s", (unsigned long long)took,
		      r->conn && r->conn->state == CS_RECEIVING ? "waiting for the answer"
								: "before the request was sent");
	leave(c);
}

/* Deadline for the current phase: sending is bounded by both timeouts, the rest by one. */
static void arm_deadline(struct httpc_req *r, bool sent)
{
	uint64_t now = loop_now_ms(), due = 0, end;

	if (!sent && r->connect_timeout_ms)
		due = r->started_ms + r->connect_timeout_ms;
	if (r->timeout_ms) {
		end = r->started_ms + r->timeout_ms;
		if (!due || end < due)
			due = end;
	}
	if (due)
		loop_timer_arm(r->c->loop, &r->timer, due > now ? due - now : 0);
	else
		loop_timer_cancel(r->c->loop, &r->timer);
}

/* ---------------------------------------------------------------- connect */

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

/* Connected: TLS handshake next, or straight to sending. */
static void conn_connected(struct conn *k)
{
	struct httpc *c = k->c;
	char err[256];
	int r;

	if (!k->tls_wanted) {
		k->state = CS_SENDING;
		conn_set_events(k, LOOP_WRITE);
		return;
	}
	if (!c->tls) {
		r = tls_ctx_new(c->cafile, c->certfile, c->keyfile, &c->tls, err, sizeof(err));
		if (r < 0) {
			fail(k->req, r, err);
			return;
		}
	}
	r = tls_conn_new(c->tls, k->fd, k->host, &k->tls, err, sizeof(err));
	if (r < 0) {
		fail(k->req, r, err);
		return;
	}
	k->state = CS_HANDSHAKE;
	conn_set_events(k, LOOP_WRITE);
}

/* Try the addresses from k->cur on; the last error names the last one tried. */
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
		k->c->stats.connects++;
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
	failf(k->req, -err, "connect: %s", strerror(err));
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
	struct httpc *c = k->c;
	struct resolve *s = calloc(1, sizeof(*s));
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };

	if (!s)
		return -ENOMEM;
	s->c = c;
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
	s->next = c->resolves;
	c->resolves = s;
	k->res = s;
	k->state = CS_RESOLVING;
	c->resolve_poll_ms = 1;
	if (!c->resolve_timer.armed)
		loop_timer_arm(c->loop, &c->resolve_timer, c->resolve_poll_ms);
	return 0;
}

static void resolved(struct resolve *s, int gai)
{
	struct conn *k = s->conn;

	if (!k)
		return;
	k->res = NULL;
	if (gai != 0) {
		failf(k->req, -EHOSTUNREACH, "cannot resolve %s: %s", k->host, gai_strerror(gai));
		return;
	}
	k->addrs = s->cb.ar_result;
	s->cb.ar_result = NULL;
	k->cur = k->addrs;
	conn_try(k);
}

static void resolve_poll(void *arg)
{
	struct httpc *c = arg;
	struct resolve **pp = &c->resolves, *s;

	enter(c);
	while ((s = *pp) && !c->free_pending) {
		int gai = gai_error(&s->cb);

		if (gai == EAI_INPROGRESS) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		resolved(s, gai);
		resolve_free(s);
	}
	if (c->resolves && !c->free_pending) {
		c->resolve_poll_ms *= 2;
		if (c->resolve_poll_ms > RESOLVE_POLL_MAX_MS)
			c->resolve_poll_ms = RESOLVE_POLL_MAX_MS;
		loop_timer_arm(c->loop, &c->resolve_timer, c->resolve_poll_ms);
	}
	leave(c);
}

/* A new connection for r: the address directly when it is one, else a lookup. */
static void conn_open(struct httpc *c, struct httpc_req *r)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct conn *k = conn_new(c, r);
	int e;

	if (!k) {
		fail(r, -ENOMEM, "out of memory");
		return;
	}
	k->req = r;
	r->conn = k;
	e = getaddrinfo(r->host, r->port, &hints, &k->addrs);
	if (e == 0) {
		k->cur = k->addrs;
		conn_try(k);
		return;
	}
	k->addrs = NULL;
	if (e != EAI_NONAME) {
		failf(r, -EINVAL, "bad address %s:%s: %s", r->host, r->port, gai_strerror(e));
		return;
	}
	e = resolve_start(k);
	if (e < 0)
		failf(r, e, "cannot resolve %s: %s", r->host, strerror(-e));
}

/* Send r on a kept-alive connection to its server, or on a new one. */
static void conn_start(struct httpc *c, struct httpc_req *r)
{
	struct conn *k = r->retried ? NULL : conn_find_idle(c, r);

	if (!k) {
		conn_open(c, r);
		return;
	}
	loop_timer_cancel(c->loop, &k->idle_timer);
	k->req = r;
	r->conn = k;
	r->reused = true;
	c->stats.reuses++;
	k->state = CS_SENDING;
	conn_set_events(k, LOOP_WRITE);
}

/* ---------------------------------------------------------------- I/O */

/* Bytes moved, -EAGAIN (events to wait for set), or another negative errno with err filled. */
static ssize_t conn_send(struct conn *k, const char *p, size_t n, char *err, size_t errlen)
{
	ssize_t w;

	if (k->tls) {
		w = tls_write(k->tls, p, n, &k->want_write, err, errlen);
		if (w == -EAGAIN)
			conn_set_events(k, k->want_write ? LOOP_WRITE : LOOP_READ);
		return w;
	}
	w = send(k->fd, p, n, MSG_NOSIGNAL);
	if (w >= 0)
		return w;
	if (errno == EAGAIN || errno == EINTR) {
		conn_set_events(k, LOOP_WRITE);
		return -EAGAIN;
	}
	snprintf(err, errlen, "%s", strerror(errno));
	return -errno;
}

static ssize_t conn_recv(struct conn *k, char *p, size_t n, char *err, size_t errlen)
{
	ssize_t got;

	if (k->tls) {
		got = tls_read(k->tls, p, n, &k->want_write, err, errlen);
		if (got == -EAGAIN)
			conn_set_events(k, k->want_write ? LOOP_WRITE : LOOP_READ);
		return got;
	}
	got = recv(k->fd, p, n, 0);
	if (got >= 0)
		return got;
	if (errno == EAGAIN || errno == EINTR) {
		conn_set_events(k, LOOP_READ);
		return -EAGAIN;
	}
	snprintf(err, errlen, "%s", strerror(errno));
	return -errno;
}

static void do_handshake(struct conn *k)
{
	char err[300];
	int r = tls_handshake(k->tls, &k->want_write, err, sizeof(err));

	if (r == -EAGAIN) {
		conn_set_events(k, k->want_write ? LOOP_WRITE : LOOP_READ);
		return;
	}
	if (r < 0) {
		fail(k->req, r, err);
		return;
	}
	k->state = CS_SENDING;
	conn_set_events(k, LOOP_WRITE);
}

static void do_send(struct conn *k)
{
	struct httpc_req *r = k->req;
	char err[256];

	while (r->out_off < r->out_len) {
		ssize_t w = conn_send(k, r->out + r->out_off, r->out_len - r->out_off, err,
				      sizeof(err));

		if (w == -EAGAIN)
			return;
		if (w < 0) {
			if (!retry_fresh(r))
				failf(r, (int)w, "sending: %s", err);
			return;
		}
		r->out_off += (size_t)w;
	}
	k->state = CS_RECEIVING;
	arm_deadline(r, true);
	conn_set_events(k, LOOP_READ);
}

/* The response is complete: keep the connection for the next request when allowed. */
static void complete(struct httpc_req *r, bool leftover)
{
	struct httpc *c = r->c;
	struct conn *k = r->conn, *oldest;

	k->req = NULL;
	r->conn = NULL;
	if (leftover || !http_parser_reusable(&r->p)) {
		conn_free(k);
	} else {
		/* Most recently used first, so the one dropped below is the least. */
		if (k->prev) {
			k->prev->next = k->next;
			if (k->next)
				k->next->prev = k->prev;
			k->prev = NULL;
			k->next = c->conns;
			c->conns->prev = k;
			c->conns = k;
		}
		k->state = CS_IDLE;
		conn_set_events(k, LOOP_READ);
		loop_timer_arm(c->loop, &k->idle_timer, IDLE_TIMEOUT_MS);
		if (idle_count(c, &oldest) > IDLE_MAX)
			conn_free(oldest);
	}
	finish(r, 0, NULL);
}

/*
 * Parse bytes into events for r. Returns true while r is still receiving
 * on k; false once r is done, failed or cancelled (k may be gone then).
 */
static bool feed(struct httpc_req *r, const char *data, size_t n)
{
	struct httpc *c = r->c;
	size_t off = 0;

	for (;;) {
		const char *body;
		size_t used, blen;
		enum http_event ev = http_parse(&r->p, data + off, n - off, &used, &body, &blen);
		int ret;

		off += used;
		switch (ev) {
		case HTTP_EV_MORE:
			return true;
		case HTTP_EV_HEAD:
			r->status = r->p.status;
			break;
		case HTTP_EV_BODY:
			r->busy = true;
			ret = r->ops.body(r->arg, body, blen);
			r->busy = false;
			if (c->free_pending)
				return false;
			if (r->cancelled) {
				httpc_cancel(r);
				return false;
			}
			if (ret < 0) {
				fail(r, ret, "the response was refused");
				return false;
			}
			break;
		case HTTP_EV_DONE:
			complete(r, off < n);
			return false;
		case HTTP_EV_ERROR:
			failf(r, -EPROTO, "bad HTTP response: %s", r->p.error);
			return false;
		}
	}
}

static void do_receive(struct conn *k)
{
	struct httpc_req *r = k->req;
	struct httpc *c = k->c;
	char err[256];

	for (;;) {
		ssize_t n = conn_recv(k, c->buf, RECV_SIZE, err, sizeof(err));

		if (n == -EAGAIN)
			return;
		if (n < 0) {
			if (!retry_fresh(r))
				failf(r, (int)n, "receiving: %s", err);
			return;
		}
		if (n == 0) {
			if (http_parse_eof(&r->p) == HTTP_EV_DONE)
				complete(r, false);
			else if (!retry_fresh(r))
				fail(r, -ECONNRESET, r->p.error);
			return;
		}
		if (!feed(r, c->buf, (size_t)n))
			return;
	}
}

static void conn_io(int fd, unsigned events, void *arg)
{
	struct conn *k = arg;
	struct httpc *c = k->c;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	enter(c);
	switch (k->state) {
	case CS_RESOLVING:
		break;
	case CS_CONNECTING:
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			conn_close_fd(k);
			k->cur = k->cur->ai_next;
			if (k->cur) {
				conn_try(k);
			} else {
				failf(k->req, -soerr, "connect: %s", strerror(soerr));
			}
			break;
		}
		conn_connected(k);
		break;
	case CS_HANDSHAKE:
		do_handshake(k);
		break;
	case CS_SENDING:
		do_send(k);
		break;
	case CS_RECEIVING:
		do_receive(k);
		break;
	case CS_IDLE:
		/* Nothing is due on an idle connection: this is its end (or junk). */
		conn_free(k);
		break;
	}
	leave(c);
}

/* ---------------------------------------------------------------- API */

int httpc_new(struct loop *loop, const struct httpc_tls_opts *tls, struct httpc **ret)
{
	struct httpc *c = calloc(1, sizeof(*c));
	bool ok = true;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	loop_timer_init(&c->resolve_timer, resolve_poll, c);
	c->buf = malloc(RECV_SIZE);
	if (tls && tls->cafile)
		ok &= (c->cafile = strdup(tls->cafile)) != NULL;
	if (tls && tls->certfile)
		ok &= (c->certfile = strdup(tls->certfile)) != NULL;
	if (tls && tls->keyfile)
		ok &= (c->keyfile = strdup(tls->keyfile)) != NULL;
	if (!ok || !c->buf) {
		destroy(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

static void destroy(struct httpc *c)
{
	while (c->reqs) {
		struct httpc_req *r = c->reqs;

		req_unlink(r);
		req_free(r);
	}
	while (c->conns)
		conn_free(c->conns);
	while (c->resolves) {
		struct resolve *s = c->resolves;

		c->resolves = s->next;
		/* glibc may still be using it: wait for the lookup (only ever at exit). */
		if (gai_cancel(&s->cb) == EAI_NOTCANCELED) {
			const struct gaicb *list[1] = { &s->cb };
			struct timespec ts = { 5, 0 };

			if (gai_suspend(list, 1, &ts) != 0 && gai_error(&s->cb) == EAI_INPROGRESS)
				continue; /* leaked rather than freed under glibc */
		}
		resolve_free(s);
	}
	loop_timer_cancel(c->loop, &c->resolve_timer);
	tls_ctx_free(c->tls);
	free(c->cafile);
	free(c->certfile);
	free(c->keyfile);
	free(c->buf);
	free(c);
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	if (c->depth) {
		c->free_pending = true;
		return;
	}
	destroy(c);
}

/* "POST <prefix><path> HTTP/1.1" and headers; a bracketed Host for IPv6. */
static char *format_request(const struct httpc_post_params *p, size_t *len)
{
	const struct http_url *u = p->url;
	bool v6 = strchr(u->host, ':') != NULL;
	char *out = NULL;
	int hlen;

	hlen = asprintf(&out,
			"POST %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
			"Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s\r\n",
			u->path, p->path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
			p->body_len, p->header ? p->header : "", p->header ? "\r\n" : "");
	if (hlen < 0)
		return NULL;
	if (p->body_len) {
		char *all = realloc(out, (size_t)hlen + p->body_len);

		if (!all) {
			free(out);
			return NULL;
		}
		out = all;
		memcpy(out + hlen, p->body, p->body_len);
	}
	*len = (size_t)hlen + p->body_len;
	return out;
}

int httpc_post(struct httpc *c, const struct httpc_post_params *p, const struct httpc_req_ops *ops,
	       void *arg, struct httpc_req **ret)
{
	struct httpc_req *r;

	if (!ops || !ops->body || !ops->done || c->free_pending)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->out = format_request(p, &r->out_len);
	if (!r->out) {
		free(r);
		return -ENOMEM;
	}
	r->c = c;
	r->ops = *ops;
	r->arg = arg;
	r->tls = p->url->tls;
	snprintf(r->host, sizeof(r->host), "%s", p->url->host);
	snprintf(r->port, sizeof(r->port), "%s", p->url->port);
	r->connect_timeout_ms = p->connect_timeout_ms;
	r->timeout_ms = p->timeout_ms;
	r->started_ms = loop_now_ms();
	http_parser_init(&r->p);
	loop_timer_init(&r->timer, req_timer, r);
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	arm_deadline(r, false);
	c->in_post = true;
	conn_start(c, r);
	c->in_post = false;
	*ret = r;
	return 0;
}

void httpc_cancel(struct httpc_req *r)
{
	if (!r)
		return;
	if (r->busy) {
		r->cancelled = true; /* the code running its callback finishes the job */
		return;
	}
	if (r->conn) {
		r->conn->req = NULL;
		conn_free(r->conn);
	}
	req_unlink(r);
	req_free(r);
}

int httpc_status(const struct httpc_req *r)
{
	return r->status;
}

void httpc_get_stats(const struct httpc *c, struct httpc_stats *ret)
{
	*ret = c->stats;
}
