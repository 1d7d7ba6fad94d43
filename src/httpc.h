/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/1.1 client on the daemon's loop, for etcd's JSON gateway:
 * POST requests over kept-alive connections (plain or TLS), responses
 * streamed to the caller as they arrive, host names resolved without
 * blocking the loop. No callback ever runs from inside httpc_post(). The
 * process must ignore SIGPIPE (TLS writes cannot ask for MSG_NOSIGNAL).
 */
#ifndef FLANNELD_HTTPC_H
#define FLANNELD_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct httpc;
struct httpc_req;
struct http_url;

struct httpc_tls_opts {
	const char *cafile, *certfile, *keyfile; /* each may be NULL */
};

struct httpc_req_ops {
	/*
	 * Body bytes as they arrive (status known: httpc_status()); p is valid
	 * for the call only. A negative return fails the request with it.
	 */
	int (*body)(void *arg, const char *p, size_t n);
	/*
	 * The last callback: err 0 once the whole response is in, or the
	 * failure (-ETIMEDOUT, -ECONNREFUSED, -EPROTO, ...) with a text saying
	 * what failed ("connect: Connection refused"; the caller names the
	 * server). The request is freed after it returns.
	 */
	void (*done)(void *arg, int err, const char *text);
};

struct httpc_post_params {
	const struct http_url *url; /* endpoint: scheme, host, port, path prefix */
	const char *path;	    /* appended to url->path, e.g. "/v3/kv/range" */
	const char *header;	    /* one extra header line without CRLF, or NULL */
	const char *body;
	size_t body_len;
	unsigned connect_timeout_ms; /* until the request is sent (resolve, connect, TLS) */
	unsigned timeout_ms;	     /* the whole request; 0: none (watches) */
};

int httpc_new(struct loop *loop, const struct httpc_tls_opts *tls, struct httpc **ret);
/*
 * Cancels every request without callbacks. NULL-safe; may be called from
 * inside a callback (the rest is released when it returns). A host name
 * lookup still running in glibc is waited for (up to 5 s each): meant for
 * exit.
 */
void httpc_free(struct httpc *c);

int httpc_post(struct httpc *c, const struct httpc_post_params *p, const struct httpc_req_ops *ops,
	       void *arg, struct httpc_req **ret);
/* No callback afterwards; NULL-safe; allowed inside the request's own body callback. */
void httpc_cancel(struct httpc_req *r);
/* The response status, 0 before the head has arrived. */
int httpc_status(const struct httpc_req *r);

struct httpc_stats {
	unsigned long connects; /* connections opened */
	unsigned long reuses;	/* requests sent on a kept-alive connection */
};
void httpc_get_stats(const struct httpc *c, struct httpc_stats *ret);

#endif
