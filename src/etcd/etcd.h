/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd v3 client over native gRPC (grpc.c: HTTP/2, one connection per
 * endpoint) on the daemon's loop. Every call is asynchronous: it queues the
 * request and the callback runs later from the loop, exactly once (unless
 * the client is freed first). Transport failures (connection refused/reset,
 * timeouts, GOAWAY, gRPC Unavailable) are retried inside the client on the
 * next endpoint with jittered exponential backoff, forever; callbacks only
 * see success or an answer from etcd itself (err == -EREMOTEIO with
 * grpc_code and message set).
 */
#ifndef FLANNELD_ETCD_H
#define FLANNELD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct etcd;
struct etcd_watch;

struct etcd_opts {
	const char *const *endpoints; /* "http://127.0.0.1:2379", ... */
	size_t n_endpoints;
	const char *cafile, *certfile, *keyfile; /* each may be NULL */
	const char *username, *password;	 /* NULL: no auth */
	unsigned request_timeout_ms;		 /* per attempt of a unary call; 0: 5000 */
};

/* Keys and values are NUL-terminated copies. Borrowed: valid only during the callback. */
struct etcd_kv {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_reply {
	/* 0 or -EREMOTEIO (etcd answered with an error), -ENOMEM, -EPROTO (a malformed
	 * answer), -EMSGSIZE (answer over 64 MiB) */
	int err;
	int grpc_code;		   /* when err == -EREMOTEIO, e.g. 5 NotFound, 11 OutOfRange */
	const char *message;	   /* etcd's error text, or NULL */
	int64_t revision;	   /* header.revision (0 when absent) */
	bool succeeded;		   /* txn */
	const struct etcd_kv *kvs; /* range; txn: kvs of the first response_range */
	size_t n_kvs;
	bool more;	  /* range: more keys past limit */
	int64_t count;	  /* range; delete: number of keys deleted */
	int64_t lease_id; /* lease grant */
	int64_t ttl;	  /* lease grant/keepalive/timetolive; keepalive: 0 = lease gone */
};

typedef void (*etcd_reply_cb)(void *arg, const struct etcd_reply *r);

int etcd_new(struct loop *loop, const struct etcd_opts *opts, struct etcd **ret);
/*
 * Cancels everything in flight without calling callbacks, and frees any watch
 * not stopped yet (do not etcd_watch_stop() those afterwards). NULL-safe; may
 * be called from inside a callback. A call returning < 0 never calls back.
 */
void etcd_free(struct etcd *e);

/* range_end NULL: single key. revision 0: current. limit 0: no limit. */
int etcd_range(struct etcd *e, const char *key, size_t key_len, const char *range_end,
	       size_t range_end_len, int64_t revision, int64_t limit, etcd_reply_cb cb, void *arg);
/* lease 0: no lease (a put without lease detaches any existing lease). */
int etcd_put(struct etcd *e, const char *key, size_t key_len, const char *value, size_t value_len,
	     int64_t lease, etcd_reply_cb cb, void *arg);
int etcd_delete(struct etcd *e, const char *key, size_t key_len, etcd_reply_cb cb, void *arg);

enum etcd_cmp_target { ETCD_CMP_VERSION, ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_LEASE };
enum etcd_cmp_result { ETCD_CMP_EQUAL, ETCD_CMP_GREATER, ETCD_CMP_LESS, ETCD_CMP_NOT_EQUAL };
struct etcd_cmp {
	const char *key;
	size_t key_len;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t value;
};
enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_RANGE, ETCD_OP_DELETE };
struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	size_t key_len;
	const char *value; /* PUT */
	size_t value_len;
	int64_t lease; /* PUT */
};
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, etcd_reply_cb cb, void *arg);

int etcd_lease_grant(struct etcd *e, int64_t ttl, etcd_reply_cb cb, void *arg);
/* One keep-alive round trip; reply.ttl == 0 means the lease no longer exists. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg);
/* Revoking an unknown lease answers err -EREMOTEIO, grpc_code 5. */
int etcd_lease_revoke(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg);
/* reply.ttl == -1 for no lease or an unknown one. */
int etcd_lease_timetolive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg);

struct etcd_event {
	bool is_delete;
	struct etcd_kv kv; /* DELETE: only key and mod_revision */
};

struct etcd_watch_ops {
	/* Every event of one watch message; revision is the message's header.revision. */
	void (*events)(void *arg, int64_t revision, const struct etcd_event *ev, size_t n);
	/*
	 * The start revision was compacted, or (compact_revision 0) a message
	 * was over the size cap: the watch has stopped (no connected(false) is
	 * reported); re-list, etcd_watch_stop() it and start a new one.
	 */
	void (*compacted)(void *arg, int64_t compact_revision);
	/* The watch stream is (re)established or lost, on transitions only; optional. */
	void (*connected)(void *arg, bool up);
};

/*
 * Watch [key, range_end) from start_revision (inclusive). Reconnects by itself
 * after any disconnect, resuming after the last event delivered (or the last
 * progress notification's header.revision + 1).
 */
int etcd_watch_start(struct etcd *e, const char *key, size_t key_len, const char *range_end,
		     size_t range_end_len, int64_t start_revision, const struct etcd_watch_ops *ops,
		     void *arg, struct etcd_watch **ret);
/* Stops and frees; NULL-safe; no callbacks afterwards. */
void etcd_watch_stop(struct etcd_watch *w);

struct etcd_stats {
	uint64_t requests; /* gRPC calls started, including retries */
	uint64_t errors;   /* failed attempts: transport errors and error answers */
	uint64_t watch_reconnects;
	uint64_t watch_messages;
};
void etcd_get_stats(const struct etcd *e, struct etcd_stats *ret);
/* Monotonic ms since which no request has succeeded, or 0 while etcd answers. */
uint64_t etcd_unreachable_since(const struct etcd *e);
/*
 * The most recent failure as "<endpoint>: <text>", e.g.
 * "https://10.0.0.1:2379: TLS: certificate verify failed: unable to get local
 * issuer certificate (for 10.0.0.1)", or an error answer to authenticate. "" once etcd answers
 * again. Valid until the next call into the client.
 */
const char *etcd_last_error(const struct etcd *e);

/*
 * Prefix range end, as clientv3.GetPrefixRangeEnd: the key with its last byte
 * below 0xff incremented and the rest dropped; "\0" (length 1) when there is
 * none. Returns its length, or 0 if size is too small; NUL-terminated when
 * there is room.
 */
size_t etcd_prefix_end(const char *key, size_t key_len, char *buf, size_t size);

#endif
