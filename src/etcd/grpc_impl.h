/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the gRPC client, shared by its two halves only: grpc.c (calls,
 * their streams' nghttp2 callbacks, the API) and grpc_conn.c (connections:
 * name lookup, connect, TLS, keep-alive, socket I/O). Nothing else includes it.
 */
#ifndef FLANNELD_GRPC_IMPL_H
#define FLANNELD_GRPC_IMPL_H

#include <netdb.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>

#include "etcd/grpc.h"
#include "etcd/grpc_msg.h"
#include "loop.h"

/* One read buffer for every connection: nghttp2 consumes it before the next read. */
#define RECV_SIZE (64 * 1024)
/*
 * A connection that has been silent for PING_INTERVAL_MS while calls are
 * open gets a PING; no answer within PING_TIMEOUT_MS ends it. etcd sends a
 * GOAWAY ("too_many_pings") to clients that ping more often than every 5 s,
 * so pings are never closer than PING_MIN_GAP_MS.
 */
#define PING_INTERVAL_MS 10000u
#define PING_TIMEOUT_MS	 5000u
#define PING_MIN_GAP_MS	 6000u
#define TEXT_MAX	 320
#define MESSAGE_MAX	 512 /* grpc-message kept, decoded */

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

/* grpc.c: a callback may free the client; it is destroyed when the outermost leaves. */
void grpc_enter(struct grpc *g);
void grpc_leave(struct grpc *g);
/* grpc.c: the call is over with err/text: nothing more is read; buffered messages still go out. */
void grpc_call_end(struct grpc_call *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* grpc.c: c's whole messages, then its end, to the caller; false if c is gone. */
bool grpc_call_deliver(struct grpc_call *c);
/* grpc.c: the call's HEADERS on its connection's session (which must be up). */
int grpc_call_submit(struct grpc_call *c);

/* grpc_conn.c: the connection to u's endpoint, opened (resolving) if there is none. */
struct conn *grpc_conn_for(struct grpc *g, const struct http_url *u);
/* grpc_conn.c: what nghttp2 wants to send, onto the socket as far as it takes it. */
void grpc_conn_flush(struct conn *k);
/* grpc_conn.c: delivers the pending calls' messages and ends. */
void grpc_conn_dispatch(struct conn *k);
void grpc_conn_free(struct conn *k);
/* grpc_conn.c: the resolve timer's callback; grpc_resolves_free waits out lookups (bounded). */
void grpc_resolve_poll(void *arg);
void grpc_resolves_free(struct grpc *g);

static inline uint64_t grpc_since(uint64_t then)
{
	uint64_t now = loop_now_ms();

	return now > then ? now - then : 0;
}

#endif
