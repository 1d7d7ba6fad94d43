/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small gRPC client on the daemon's loop: HTTP/2 from libnghttp2 over
 * non-blocking sockets (h2c with prior knowledge, or TLS with ALPN h2), one
 * connection per endpoint carrying every call to it, HTTP/2 PING to find a
 * dead connection, GOAWAY honoured. Calls are unary (one message each way)
 * or streams (the request side stays open). No callback ever runs from
 * inside grpc_call(). The process must ignore SIGPIPE (TLS writes cannot
 * ask for MSG_NOSIGNAL).
 */
#ifndef FLANNELD_GRPC_H
#define FLANNELD_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct grpc;
struct grpc_call;
struct http_url;

struct grpc_opts {
	const char *cafile, *certfile, *keyfile; /* TLS; each may be NULL */
	unsigned connect_timeout_ms;		 /* resolve + connect + TLS; 0: 5000 */
};

struct grpc_call_ops {
	/*
	 * One whole response message, p valid for the call only. A negative
	 * return cancels the call, which then ends with done(that, ...).
	 */
	int (*message)(void *arg, const uint8_t *p, size_t n);
	/*
	 * The last callback. err 0: the server ended the call with status
	 * (0 OK) and text (grpc-message, decoded; NULL when absent). err < 0:
	 * the call failed on the way (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET
	 * for a reset or refused stream, -EPROTO for a server that breaks the
	 * protocol, -EMSGSIZE for a message over max_msg), and text says what,
	 * without the server's name. The call is freed after it returns.
	 */
	void (*done)(void *arg, int err, int status, const char *text);
};

struct grpc_call_params {
	const struct http_url *url; /* the endpoint; its path prefix is not used */
	const char *path;	    /* "/etcdserverpb.KV/Range" */
	const char *token;	    /* "token" metadata (etcd auth), or NULL */
	bool hasleader;		    /* "hasleader: true" metadata (etcd watches) */
	const void *msg;	    /* the first request message, without prefix */
	size_t len;
	bool stream;	     /* keep the request side open (a watch) */
	unsigned timeout_ms; /* the whole call, also sent as grpc-timeout; 0: none */
	size_t max_msg;	     /* largest response message accepted */
};

int grpc_new(struct loop *loop, const struct grpc_opts *opts, struct grpc **ret);
/* Cancels every call without callbacks. NULL-safe; may be called from a callback. */
void grpc_free(struct grpc *g);

int grpc_call(struct grpc *g, const struct grpc_call_params *p, const struct grpc_call_ops *ops,
	      void *arg, struct grpc_call **ret);
/* Resets the stream; no callback afterwards. NULL-safe, allowed inside the call's callbacks. */
void grpc_call_cancel(struct grpc_call *c);

#endif
