/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal HTTP responder: read one request head, answer, close. */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define MAX_CONNS    32
#define MAX_REQUEST  4096
#define CONN_TIMEOUT 2000 /* ms to send a request head */
#define ACCEPT_PAUSE 1000 /* ms without accepting after EMFILE and the like */

struct conn {
	struct health *h;
	int fd;
	size_t len;
	char buf[MAX_REQUEST];
	struct loop_timer timeout;
	struct conn *next;
};

struct health {
	struct loop *loop;
	int fd;
	const struct health_ops *ops;
	void *arg;
	struct conn *conns; /* newest first */
	int n_conns;
	struct loop_timer resume;
};

static void conn_close(struct conn *c)
{
	struct health *h = c->h;
	struct conn **p;

	for (p = &h->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	loop_timer_cancel(h->loop, &c->timeout);
	loop_io_del(h->loop, c->fd);
	close(c->fd);
	free(c);
	h->n_conns--;
}

static void send_all(int fd, const char *p, size_t n)
{
	/* Responses are small; a client that stops reading loses the rest. */
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void respond(struct conn *c, int status, const char *ctype, const char *body, size_t len)
{
	char head[256];
	const char *reason = status == 200   ? "OK"
			     : status == 404 ? "Not Found"
					     : "Service Unavailable";
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, reason, ctype, len);

	send_all(c->fd, head, (size_t)n);
	send_all(c->fd, body, len);
}

/* Ours, not the daemon's: how long the loop that answers this went without polling. */
static void write_loop_lag(struct health *h, FILE *out)
{
	uint64_t us = loop_lag_max_us(h->loop);

	fprintf(out,
		"# HELP flannel_loop_lag_max_seconds Longest time the event loop did not wait in "
		"epoll (callbacks and timers), over the last %d to %d s.\n"
		"# TYPE flannel_loop_lag_max_seconds gauge\n"
		"flannel_loop_lag_max_seconds %llu.%06llu\n",
		LOOP_LAG_WINDOW_MS / 1000, 2 * LOOP_LAG_WINDOW_MS / 1000,
		(unsigned long long)(us / 1000000u), (unsigned long long)(us % 1000000u));
}

static void handle_request(struct conn *c)
{
	struct health *h = c->h;
	char *sp = memchr(c->buf, ' ', c->len), *path, *end;

	if (!sp) {
		respond(c, 404, "text/plain", "bad request\n", 12);
		return;
	}
	path = sp + 1;
	end = path;
	while (end < c->buf + c->len && *end != ' ' && *end != '?' && *end != '\r' && *end != '\n')
		end++;
	*end = '\0';
	if (strcmp(path, "/healthz") == 0) {
		respond(c, 200, "text/plain", "flanneld is running", 19);
	} else if (strcmp(path, "/readyz") == 0) {
		if (h->ops->ready(h->arg))
			respond(c, 200, "text/plain", "flanneld is ready", 17);
		else
			respond(c, 503, "text/plain", "flanneld is not ready yet", 25);
	} else if (strcmp(path, "/metrics") == 0) {
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		if (!out) {
			respond(c, 503, "text/plain", "out of memory\n", 14);
			return;
		}
		h->ops->metrics(h->arg, out);
		write_loop_lag(h, out);
		fclose(out);
		respond(c, 200, "text/plain; version=0.0.4", text, len);
		free(text);
	} else {
		respond(c, 404, "text/plain", "404 page not found\n", 19);
	}
}

static void conn_readable(int fd, unsigned events, void *arg)
{
	struct conn *c = arg;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	/* The request line is all we need; answer once the head is complete. */
	if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n") || c->len == sizeof(c->buf) - 1) {
		handle_request(c);
		conn_close(c);
	}
}

static void conn_timeout(void *arg)
{
	conn_close(arg);
}

static void accept_ready(int fd, unsigned events, void *arg);

static void accept_resume(void *arg)
{
	struct health *h = arg;

	loop_io_add(h->loop, h->fd, LOOP_READ, accept_ready, h);
}

/* Idle clients must not lock probes out: the oldest connection makes room. */
static void evict_oldest(struct health *h)
{
	struct conn *c = h->conns;

	while (c && c->next)
		c = c->next;
	if (c)
		conn_close(c);
}

static void accept_ready(int fd, unsigned events, void *arg)
{
	struct health *h = arg;

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				/* Out of fds: stop polling the listener for a while
				 * rather than spinning on it. */
				log_warn("health: accept failed, pausing for 1s");
				loop_io_del(h->loop, fd);
				loop_timer_arm(h->loop, &h->resume, ACCEPT_PAUSE);
			}
			return;
		}
		if (h->n_conns >= MAX_CONNS)
			evict_oldest(h);
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->h = h;
		c->fd = cfd;
		if (loop_io_add(h->loop, cfd, LOOP_READ, conn_readable, c) < 0) {
			close(cfd);
			free(c);
			continue;
		}
		loop_timer_init(&c->timeout, conn_timeout, c);
		loop_timer_arm(h->loop, &c->timeout, CONN_TIMEOUT);
		c->next = h->conns;
		h->conns = c;
		h->n_conns++;
	}
}

int health_start(struct loop *loop, const char *ip, int port, const struct health_ops *ops,
		 void *arg, struct health **ret)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen;
	struct health *h;
	int one = 1, r;

	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		slen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*sin6);
	} else {
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->ops = ops;
	h->arg = arg;
	loop_timer_init(&h->resume, accept_resume, h);
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		r = -errno;
		free(h);
		return r;
	}
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(h->fd, (struct sockaddr *)&ss, slen) < 0 || listen(h->fd, 64) < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_io_add(loop, h->fd, LOOP_READ, accept_ready, h);
	if (r < 0)
		goto fail;
	*ret = h;
	return 0;
fail:
	close(h->fd);
	free(h);
	return r;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_close(h->conns);
	loop_timer_cancel(h->loop, &h->resume);
	loop_io_del(h->loop, h->fd);
	close(h->fd);
	free(h);
}
