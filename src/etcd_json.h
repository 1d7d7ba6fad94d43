/* SPDX-License-Identifier: Apache-2.0 */
/* Pure JSON side of the etcd gateway client: bodies, replies, watch lines. No I/O. */
#ifndef FLANNELD_ETCD_JSON_H
#define FLANNELD_ETCD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

/* Standard padded base64 (RFC 4648 section 4), as the gateway wants it. */
size_t etcd_b64_encoded_len(size_t n);
/* dst must hold etcd_b64_encoded_len(n) + 1 bytes; it is NUL-terminated. */
void etcd_b64_encode(const void *src, size_t n, char *dst);
/* Strict decode; dst must hold n / 4 * 3 + 1 bytes and is NUL-terminated. -EINVAL if malformed. */
int etcd_b64_decode(const char *src, size_t n, char *dst, size_t *ret_len);
/* Whole-string decimal int64 without going through double; -EINVAL or -ERANGE. */
int etcd_parse_int64(const char *s, size_t len, int64_t *ret);

/*
 * Request bodies. Each returns 0 and a malloc'd NUL-terminated JSON string in
 * *ret, or -ENOMEM. Every int64 is sent as a JSON string; zero optional
 * members are left out.
 */
int etcd_json_range_req(const char *key, size_t key_len, const char *range_end,
			size_t range_end_len, int64_t revision, int64_t limit, char **ret);
int etcd_json_put_req(const char *key, size_t key_len, const char *value, size_t value_len,
		      int64_t lease, char **ret);
int etcd_json_delete_req(const char *key, size_t key_len, char **ret);
int etcd_json_txn_req(const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *success,
		      size_t n_success, const struct etcd_op *failure, size_t n_failure,
		      char **ret);
int etcd_json_lease_grant_req(int64_t ttl, char **ret);
/* {"ID":"<id>"}: keepalive, revoke, timetolive. */
int etcd_json_lease_id_req(int64_t id, char **ret);
int etcd_json_auth_req(const char *name, const char *password, char **ret);
/* range_end NULL: a single key; start_revision 0: from now on. */
int etcd_json_watch_req(const char *key, size_t key_len, const char *range_end,
			size_t range_end_len, int64_t start_revision, char **ret);

enum etcd_json_kind {
	ETCD_JSON_RANGE,
	ETCD_JSON_PUT,
	ETCD_JSON_DELETE,
	ETCD_JSON_TXN,
	ETCD_JSON_LEASE_GRANT,
	ETCD_JSON_KEEPALIVE, /* a stream of {"result":…} / {"error":…} lines; the first counts */
	ETCD_JSON_REVOKE,
	ETCD_JSON_TIMETOLIVE,
	ETCD_JSON_AUTH,
};

/* A parsed reply; reply.kvs and reply.message point into the storage below. */
struct etcd_json_reply {
	struct etcd_reply reply;
	char *token; /* ETCD_JSON_AUTH */
	struct etcd_kv *kvs;
	char *arena;
	char *message;
};

/*
 * Parse the body of a 200 answer. Returns 0 (reply.err is 0, or -EREMOTEIO
 * for an error object inside a keepalive stream), -EPROTO if the body is not
 * what etcd sends, or -ENOMEM. Missing members read as zero.
 * ETCD_JSON_DELETE puts "deleted" in reply.count.
 */
int etcd_json_parse_reply(enum etcd_json_kind kind, const char *buf, size_t len,
			  struct etcd_json_reply *ret);
/*
 * Parse a non-200 body {"error":"…","message":"…","code":N} into
 * reply.err = -EREMOTEIO, grpc_code, message. -EPROTO if it is not one.
 */
int etcd_json_parse_error(const char *buf, size_t len, struct etcd_json_reply *ret);
/* NULL-safe; leaves *r zeroed. */
void etcd_json_reply_free(struct etcd_json_reply *r);

enum etcd_watch_msg_type {
	ETCD_WMSG_PROGRESS,  /* header only */
	ETCD_WMSG_CREATED,   /* created:true (and not canceled) */
	ETCD_WMSG_EVENTS,    /* events present */
	ETCD_WMSG_COMPACTED, /* canceled with compact_revision */
	ETCD_WMSG_CANCELED,  /* canceled otherwise (cancel_reason, e.g. auth) */
	ETCD_WMSG_ERROR,     /* {"error":{…}} object inside the stream */
};

struct etcd_watch_msg {
	enum etcd_watch_msg_type type;
	bool has_revision;
	int64_t revision; /* header.revision */
	int64_t watch_id;
	bool created; /* also set on a cancel right after creation (auth) */
	int64_t compact_revision;
	int grpc_code; /* ETCD_WMSG_ERROR */
	char *reason;  /* cancel_reason or the error message; may be NULL */
	struct etcd_event *events;
	size_t n_events;
	char *arena;
};

/* Parse one line of a watch stream. 0, -EPROTO or -ENOMEM. */
int etcd_json_parse_watch(const char *line, size_t len, struct etcd_watch_msg *ret);
/* NULL-safe; leaves *m zeroed. */
void etcd_watch_msg_free(struct etcd_watch_msg *m);

/* Splits a byte stream into '\n'-terminated lines, whatever the chunking. */
struct etcd_linebuf {
	char *buf;
	size_t start; /* first unconsumed byte */
	size_t len;   /* bytes used in buf */
	size_t cap;
	size_t tail;	 /* first byte after the last '\n' in buf */
	size_t max_line; /* longest accepted line */
};

void etcd_linebuf_init(struct etcd_linebuf *lb, size_t max_line);
/* -EMSGSIZE when the unterminated line exceeds max_line, -ENOMEM. */
int etcd_linebuf_append(struct etcd_linebuf *lb, const void *data, size_t n);
/*
 * Next line without its '\n' (and any '\r'); blank lines are skipped. With
 * final, an unterminated tail counts as a line too. Returns 1 with *line and
 * *len set (valid until the next append or reset), 0 if there is none, or
 * -EMSGSIZE for a line over max_line.
 */
int etcd_linebuf_next(struct etcd_linebuf *lb, bool final, const char **line, size_t *len);
/* Drop buffered bytes (keeps the allocation). */
void etcd_linebuf_reset(struct etcd_linebuf *lb);
void etcd_linebuf_free(struct etcd_linebuf *lb);

#endif
