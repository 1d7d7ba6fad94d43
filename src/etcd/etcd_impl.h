/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the etcd client, shared by its three files only: etcd.c (the
 * client: endpoints, failures, authentication, the gRPC call attempt),
 * etcd_req.c (unary requests: KV, txn and lease calls, with retries) and
 * etcd_watch.c (watches). Nothing else includes it.
 */
#ifndef FLANNELD_ETCD_IMPL_H
#define FLANNELD_ETCD_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"
#include "etcd/etcd_pb.h"
#include "etcd/grpc.h"
#include "loop.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define BACKOFF_MIN_MS	   100u
#define BACKOFF_MAX_MS	   5000u
/* Largest answer to a unary call; a lease list is read in pages far below it. */
#define UNARY_MAX_BYTES ((size_t)64 << 20)
/* Largest watch message, and the largest response its fragments may add up to. */
#define WATCH_MAX_BYTES	 ((size_t)16 << 20)
#define MAX_AUTH_RETRIES 3
#define ERRTEXT_MAX	 384
/*
 * etcd_pb refuses answers holding a revision that is negative or INT64_MAX,
 * so every "revision + 1" below (watch resume points, the listing's watch
 * start) stays defined.
 */
#define REVISION_RANGE_TEXT "etcd sent a revision out of range (negative or 2^63-1)"

/* gRPC status codes that the client acts on. */
#define GRPC_FAILED_PRECONDITION 9
#define GRPC_UNAVAILABLE	 14
#define GRPC_UNAUTHENTICATED	 16

enum auth_state {
	AUTH_OFF,      /* no username configured */
	AUTH_NEEDED,   /* authenticate before the next request */
	AUTH_OK,       /* token holds a token */
	AUTH_DISABLED, /* etcd said "authentication is not enabled" */
};

/* One gRPC call attempt; embedded in unary requests and watches. */
struct xfer {
	struct etcd *e;
	struct grpc_call *gc; /* in flight */
	size_t ep;	      /* endpoint index of this attempt */
	unsigned token_gen;   /* e->token_gen when it was sent */
};

enum req_state { REQ_IDLE, REQ_WAIT_AUTH, REQ_RUNNING, REQ_BACKOFF };

struct etcd_req {
	struct xfer x;
	struct etcd_req *next, *prev;
	enum etcd_pb_kind kind;
	const char *path; /* gRPC method */
	struct etcd_pb_buf body;
	etcd_reply_cb cb;
	void *arg;
	enum req_state state;
	bool doomed; /* authentication failed while it waited */
	struct etcd_pb_reply pr;
	int parse_err;		 /* the answer did not parse */
	bool answered;		 /* a message came */
	struct loop_timer timer; /* backoff */
	uint64_t backoff_ms;
	int auth_retries;
};

enum watch_state { W_WAIT_AUTH, W_RUNNING, W_BACKOFF, W_COMPACTED };

struct etcd_watch {
	struct xfer x;
	struct etcd_watch *next, *prev;
	char *key, *range_end; /* range_end NULL: single key */
	size_t key_len, range_end_len;
	int64_t next_start;
	struct etcd_watch_ops ops;
	void *arg;
	enum watch_state state;
	struct etcd_watch_msg *frags; /* fragments of one response, until its last */
	size_t n_frags, frag_bytes;
	bool up;       /* connected(true) was reported */
	unsigned busy; /* user callbacks on the stack */
	bool stopped;  /* etcd_watch_stop() while busy */
	unsigned attempts;
	uint64_t backoff_ms;
	struct loop_timer timer; /* backoff, or the deadline for "created" */
};

struct etcd {
	struct loop *loop;
	struct grpc *grpc;
	char **endpoints;
	struct http_url *urls; /* endpoints, parsed */
	size_t n_endpoints, cur_ep;
	char *username;
	unsigned timeout_ms;

	enum auth_state auth;
	char *token;
	unsigned token_gen;
	struct etcd_req authr; /* the authenticate call; never in reqs */
	bool auth_active;
	uint64_t auth_not_before;

	struct etcd_req *reqs;
	struct etcd_watch *watches;

	struct etcd_stats stats;
	uint64_t unreachable_since;
	uint64_t rng;
	unsigned depth; /* loop callbacks of ours on the stack */
	bool free_pending;
	char last_error[512];
};

/* etcd.c */
void etcd_enter(struct etcd *e);
void etcd_leave(struct etcd *e);
uint64_t etcd_next_backoff(struct etcd *e, uint64_t *backoff);
const char *etcd_ep_name(const struct etcd *e, const struct xfer *x);
void etcd_note_answer(struct etcd *e);
void etcd_note_failure(struct etcd *e, const struct xfer *x, const char *text, bool transport);
bool etcd_auth_needed(const struct etcd *e);
void etcd_invalidate_token(struct etcd *e, const struct xfer *x);
bool etcd_is_auth_refusal(int status, const char *msg);
void etcd_status_text(char *buf, size_t len, int status, const char *msg);
void etcd_xfer_stop(struct xfer *x);
int etcd_xfer_start(struct etcd *e, struct xfer *x, const char *path,
		    const struct etcd_pb_buf *body, bool watch, const struct grpc_call_ops *ops,
		    void *arg);
void etcd_auth_kick(struct etcd *e);
void etcd_auth_done(struct etcd *e, struct etcd_reply *reply);

/* etcd_req.c */
void etcd_req_free(struct etcd_req *r);
void etcd_req_unlink(struct etcd *e, struct etcd_req *r);
void etcd_req_start(struct etcd_req *r);
void etcd_on_req_timer(void *arg);
void etcd_req_complete(struct etcd_req *r, const struct etcd_reply *reply);

/* etcd_watch.c */
void etcd_watch_free(struct etcd_watch *w);
void etcd_watch_attempt(struct etcd_watch *w);

#endif
