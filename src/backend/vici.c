/* SPDX-License-Identifier: Apache-2.0 */
#include "backend/vici.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"

#define CMD_NAME_MAX 32
/* Read per loop turn at most: a flood from the socket cannot hold the loop. */
#define READ_BUDGET (256 * 1024)

struct vici_req {
	uint8_t *buf; /* the whole packet, wiped when freed (load-shared carries the key) */
	size_t len, sent;
	char cmd[CMD_NAME_MAX]; /* for messages */
	uint64_t timeout_ms;
	vici_reply_cb cb;
	void *arg;
	struct vici_req *next;
};

struct vici_client {
	struct loop *loop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t timeout_ms;
	int fd;
	bool broken, want_write;
	struct vici_req *head, *tail; /* in order of sending; head awaits its answer */
	struct vici_req *to_send;     /* first one not wholly written */
	size_t npending;
	uint8_t hdr[4];
	size_t hdr_got;
	uint8_t *body; /* the packet being received, once its length is known */
	size_t body_len, body_got;
	struct loop_timer deadline; /* for the head's answer */
};

static void req_free(struct vici_req *q)
{
	if (q->buf) {
		explicit_bzero(q->buf, q->len);
		free(q->buf);
	}
	free(q);
}

static void rx_reset(struct vici_client *c)
{
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_got = c->hdr_got = 0;
}

static void disconnect(struct vici_client *c)
{
	if (c->fd >= 0) {
		loop_io_del(c->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	c->want_write = false;
	loop_timer_cancel(c->loop, &c->deadline);
	rx_reset(c);
}

/*
 * End the connection and every request on it: the head gets r and msg,
 * the others -ENOTCONN. The queue is detached first, so callbacks that
 * call again find the client broken and the queue empty.
 */
static void fail_all(struct vici_client *c, int r, const char *msg)
{
	struct vici_req *q = c->head;
	char later[320];

	disconnect(c);
	c->broken = true;
	c->head = c->tail = c->to_send = NULL;
	c->npending = 0;
	snprintf(later, sizeof(later), "dropped after an earlier request failed: %s", msg);
	for (bool first = true; q; first = false) {
		struct vici_req *next = q->next;

		q->cb(first ? r : -ENOTCONN, NULL, first ? msg : later, q->arg);
		req_free(q);
		q = next;
	}
}

static void fail_allf(struct vici_client *c, int r, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "VICI socket %s: %s", c->path, what);
	fail_all(c, r, msg);
}

static void arm_deadline(struct vici_client *c)
{
	if (c->head)
		loop_timer_arm(c->loop, &c->deadline, c->head->timeout_ms);
	else
		loop_timer_cancel(c->loop, &c->deadline);
}

static void on_deadline(void *arg)
{
	struct vici_client *c = arg;
	char what[96];

	snprintf(what, sizeof(what), "no answer to %s within %llu ms",
		 c->head ? c->head->cmd : "a request",
		 (unsigned long long)(c->head ? c->head->timeout_ms : c->timeout_ms));
	fail_allf(c, -ETIMEDOUT, what);
}

static void set_write(struct vici_client *c, bool on)
{
	if (c->want_write == on || c->fd < 0)
		return;
	c->want_write = on;
	loop_io_mod(c->loop, c->fd, LOOP_READ | (on ? LOOP_WRITE : 0));
}

/* Write what the socket takes; 0, or a negative errno after failing everything. */
static int flush(struct vici_client *c)
{
	while (c->to_send) {
		struct vici_req *q = c->to_send;
		ssize_t w = send(c->fd, q->buf + q->sent, q->len - q->sent, MSG_NOSIGNAL);

		if (w < 0) {
			char what[96];
			int r = -errno;

			if (errno == EAGAIN || errno == EINTR)
				break;
			snprintf(what, sizeof(what), "sending %s: %s", q->cmd, strerror(errno));
			fail_allf(c, r, what);
			return r;
		}
		q->sent += (size_t)w;
		if (q->sent < q->len)
			continue;
		/* Sent: the key it may carry need not stay in memory until the answer. */
		explicit_bzero(q->buf, q->len);
		free(q->buf);
		q->buf = NULL;
		c->to_send = q->next;
	}
	set_write(c, c->to_send != NULL);
	return 0;
}

/* One whole packet received: 0, or a negative errno after failing everything. */
static int dispatch(struct vici_client *c, const uint8_t *p, size_t n)
{
	struct vici_packet pkt;
	struct vici_req *q = c->head;
	char what[96];

	if (vici_parse(p, n, &pkt) < 0) {
		snprintf(what, sizeof(what), "a malformed packet in answer to %s",
			 q ? q->cmd : "nothing");
		fail_allf(c, -EPROTO, what);
		return -EPROTO;
	}
	/* We register for no events; one that comes anyway answers nothing. */
	if (pkt.type == VICI_EVENT)
		return 0;
	if (!q || q->buf || (pkt.type != VICI_CMD_RESPONSE && pkt.type != VICI_CMD_UNKNOWN)) {
		snprintf(what, sizeof(what), "an unexpected packet (type %d)%s%s", pkt.type,
			 q ? " in answer to " : " with no request pending", q ? q->cmd : "");
		fail_allf(c, -EPROTO, what);
		return -EPROTO;
	}
	c->head = q->next;
	if (!c->head)
		c->tail = NULL;
	c->npending--;
	arm_deadline(c);
	q->cb(0, &pkt, "", q->arg);
	req_free(q);
	return 0;
}

static void on_readable(struct vici_client *c)
{
	size_t budget = READ_BUDGET;

	while (c->fd >= 0 && budget) {
		uint8_t *dst;
		size_t want;
		ssize_t got;

		if (c->hdr_got < 4) {
			dst = c->hdr + c->hdr_got;
			want = 4 - c->hdr_got;
		} else {
			dst = c->body + c->body_got;
			want = c->body_len - c->body_got;
		}
		got = recv(c->fd, dst, want < budget ? want : budget, 0);
		if (got == 0 || (got < 0 && errno == ECONNRESET)) {
			fail_allf(c, -ECONNRESET, "charon closed the connection");
			return;
		}
		if (got < 0) {
			char what[96];
			int r = -errno;

			if (r == -EAGAIN || r == -EINTR)
				return;
			snprintf(what, sizeof(what), "receiving: %s", strerror(-r));
			fail_allf(c, r, what);
			return;
		}
		budget -= (size_t)got;
		if (c->hdr_got < 4) {
			c->hdr_got += (size_t)got;
			if (c->hdr_got < 4)
				continue;
			c->body_len = (size_t)c->hdr[0] << 24 | (size_t)c->hdr[1] << 16 |
				      (size_t)c->hdr[2] << 8 | c->hdr[3];
			if (c->body_len == 0 || c->body_len > VICI_MAX_PACKET) {
				char what[96];

				snprintf(what, sizeof(what), "a packet length of %zu (1 to %d)",
					 c->body_len, VICI_MAX_PACKET);
				fail_allf(c, -EPROTO, what);
				return;
			}
			c->body = malloc(c->body_len);
			if (!c->body) {
				fail_allf(c, -ENOMEM, "out of memory");
				return;
			}
			c->body_got = 0;
			continue;
		}
		c->body_got += (size_t)got;
		if (c->body_got == c->body_len) {
			uint8_t *body = c->body;
			size_t n = c->body_len;

			c->body = NULL;
			c->body_len = c->body_got = c->hdr_got = 0;
			if (dispatch(c, body, n) < 0) {
				free(body);
				return;
			}
			free(body);
		}
	}
}

static void on_io(int fd, unsigned events, void *arg)
{
	struct vici_client *c = arg;

	(void)fd;
	if (events & (LOOP_READ | LOOP_ERROR))
		on_readable(c);
	if (c->fd >= 0 && (events & LOOP_WRITE))
		flush(c);
}

static int connect_unix(const char *path, int *fd_ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix stream connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = errno == EAGAIN ? -ETIMEDOUT : -errno;

		close(fd);
		return r;
	}
	*fd_ret = fd;
	return 0;
}

bool vici_socket_listens(const char *path)
{
	int fd;

	if (connect_unix(path, &fd) < 0)
		return false;
	close(fd);
	return true;
}

static int open_conn(struct vici_client *c, char *err, size_t errlen)
{
	int r = connect_unix(c->path, &c->fd);

	if (r == 0)
		r = loop_io_add(c->loop, c->fd, LOOP_READ, on_io, c);
	if (r < 0) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->broken = true;
		snprintf(err, errlen, "VICI socket %s: %s", c->path,
			 r == -ETIMEDOUT ? "its backlog is full (charon does not accept)"
					 : strerror(-r));
		return r;
	}
	return 0;
}

int vici_client_call(struct vici_client *c, struct vici_builder *req, uint64_t timeout_ms,
		     vici_reply_cb cb, void *arg, char *err, size_t errlen)
{
	struct vici_req *q;
	int r;

	if (c->broken) {
		vici_builder_free(req);
		snprintf(err, errlen, "VICI socket %s: not used again until the next check",
			 c->path);
		return -ENOTCONN;
	}
	if (req->len < 6) {
		vici_builder_free(req);
		snprintf(err, errlen, "an unfinished VICI request");
		return -EINVAL;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		vici_builder_free(req);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (c->fd < 0 && (r = open_conn(c, err, errlen)) < 0) {
		vici_builder_free(req);
		free(q);
		return r;
	}
	/* The packet: length, type, name length, name. */
	snprintf(q->cmd, sizeof(q->cmd), "%.*s",
		 (int)(req->buf[5] < req->len - 6 ? req->buf[5] : req->len - 6), req->buf + 6);
	q->buf = req->buf;
	q->len = req->len;
	req->buf = NULL;
	req->len = req->cap = 0;
	q->cb = cb;
	q->arg = arg;
	q->timeout_ms = timeout_ms ? timeout_ms : c->timeout_ms;
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	if (!c->to_send)
		c->to_send = q;
	if (c->npending++ == 0)
		arm_deadline(c);
	/* Written from the loop, so that a failure reaches callbacks there, never here. */
	set_write(c, true);
	return 0;
}

int vici_client_new(struct loop *loop, const char *path, uint64_t timeout_ms,
		    struct vici_client **ret)
{
	struct vici_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	snprintf(c->path, sizeof(c->path), "%s", path);
	loop_timer_init(&c->deadline, on_deadline, c);
	*ret = c;
	return 0;
}

void vici_client_free(struct vici_client *c)
{
	struct vici_req *q;

	if (!c)
		return;
	disconnect(c);
	q = c->head;
	c->head = c->tail = c->to_send = NULL;
	c->broken = true;
	while (q) {
		struct vici_req *next = q->next;

		q->cb(-ECANCELED, NULL, "the VICI client is closed", q->arg);
		req_free(q);
		q = next;
	}
	free(c);
}

bool vici_client_broken(const struct vici_client *c)
{
	return c->broken;
}

void vici_client_reset(struct vici_client *c)
{
	if (c->fd < 0)
		c->broken = false;
}

size_t vici_client_pending(const struct vici_client *c)
{
	return c->npending;
}
