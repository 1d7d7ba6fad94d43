/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure protobuf side of the etcd gRPC client: request messages and parsed
 * replies and watch messages, over protobuf-c code generated at build time
 * from proto/ (etcd's own package, message and field numbers). No I/O and no
 * gRPC framing: buffers hold one bare protobuf message.
 */
#ifndef FLANNELD_ETCD_PB_H
#define FLANNELD_ETCD_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"

/* A malloc'd encoded message; free(data). */
struct etcd_pb_buf {
	uint8_t *data;
	size_t len;
};

/*
 * Request messages. Each returns 0 with *ret filled, or -ENOMEM (etcd_pb_txn_req
 * also -EINVAL for a target, result or op type out of range). Zero optional
 * fields are left out, as protobuf does anyway.
 */
int etcd_pb_range_req(const char *key, size_t key_len, const char *range_end, size_t range_end_len,
		      int64_t revision, int64_t limit, struct etcd_pb_buf *ret);
int etcd_pb_put_req(const char *key, size_t key_len, const char *value, size_t value_len,
		    int64_t lease, struct etcd_pb_buf *ret);
int etcd_pb_delete_req(const char *key, size_t key_len, struct etcd_pb_buf *ret);
int etcd_pb_txn_req(const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *success,
		    size_t n_success, const struct etcd_op *failure, size_t n_failure,
		    struct etcd_pb_buf *ret);
int etcd_pb_lease_grant_req(int64_t ttl, struct etcd_pb_buf *ret);
/* {ID: id}: LeaseKeepAliveRequest, LeaseRevokeRequest and LeaseTimeToLiveRequest alike. */
int etcd_pb_lease_id_req(int64_t id, struct etcd_pb_buf *ret);
int etcd_pb_auth_req(const char *name, const char *password, struct etcd_pb_buf *ret);
/*
 * A WatchRequest holding a WatchCreateRequest. range_end NULL: a single key;
 * start_revision 0: from now on. progress_notify and fragment set as asked.
 */
int etcd_pb_watch_create_req(const char *key, size_t key_len, const char *range_end,
			     size_t range_end_len, int64_t start_revision, bool progress_notify,
			     bool fragment, struct etcd_pb_buf *ret);

enum etcd_pb_kind {
	ETCD_PB_RANGE,
	ETCD_PB_PUT,
	ETCD_PB_DELETE,
	ETCD_PB_TXN,
	ETCD_PB_LEASE_GRANT,
	ETCD_PB_KEEPALIVE,
	ETCD_PB_REVOKE,
	ETCD_PB_TIMETOLIVE,
	ETCD_PB_AUTH,
};

/*
 * A parsed reply. reply.kvs points at kvs; keys and values are copied into
 * arena, each NUL-terminated. reply.err is 0 here (errors come in the gRPC
 * status, not in the message) except for a LeaseGrantResponse whose error
 * field is set: -EREMOTEIO, grpc_code 2 (Unknown), reply.message = message.
 */
struct etcd_pb_reply {
	struct etcd_reply reply;
	char *token; /* ETCD_PB_AUTH: never NULL, "" if the answer had none */
	struct etcd_kv *kvs;
	char *arena;
	char *message;
};

/*
 * Parse one response message of that kind. 0, -EPROTO if it is not a valid
 * message of that type, or -ENOMEM. Missing fields read as zero.
 * RANGE: kvs, more, count, revision. PUT: revision. DELETE: count = deleted.
 * TXN: succeeded, and the kvs of the first response_range in responses.
 * LEASE_GRANT: lease_id, ttl (a non-empty error field is -EREMOTEIO with
 * message). KEEPALIVE, TIMETOLIVE: ttl (TIMETOLIVE: -1 for no lease).
 * AUTH: token.
 * -ERANGE when a revision in it is negative or INT64_MAX (nothing could
 * follow it: the client counts on from revisions).
 */
int etcd_pb_parse_reply(enum etcd_pb_kind kind, const uint8_t *buf, size_t len,
			struct etcd_pb_reply *ret);
/* NULL-safe; leaves *r zeroed. */
void etcd_pb_reply_free(struct etcd_pb_reply *r);

enum etcd_watch_msg_type {
	ETCD_WMSG_PROGRESS,  /* header only */
	ETCD_WMSG_CREATED,   /* created and not canceled */
	ETCD_WMSG_EVENTS,    /* events present */
	ETCD_WMSG_COMPACTED, /* canceled with compact_revision */
	ETCD_WMSG_CANCELED,  /* canceled otherwise (cancel_reason, e.g. permission denied) */
};

struct etcd_watch_msg {
	enum etcd_watch_msg_type type;
	bool has_revision;
	int64_t revision; /* header.revision */
	int64_t watch_id;
	bool created;  /* also set on a cancel right after creation */
	bool fragment; /* more events of this response follow in the next message */
	int64_t compact_revision;
	char *reason;		   /* cancel_reason; may be NULL */
	struct etcd_event *events; /* keys and values NUL-terminated, in arena */
	size_t n_events;
	char *arena;
};

/* Parse one WatchResponse. 0, -EPROTO, -ERANGE (a revision as above) or -ENOMEM. */
int etcd_pb_parse_watch(const uint8_t *buf, size_t len, struct etcd_watch_msg *ret);
/* NULL-safe; leaves *m zeroed. */
void etcd_watch_msg_free(struct etcd_watch_msg *m);

#endif
