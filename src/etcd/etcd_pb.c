/* SPDX-License-Identifier: Apache-2.0 */
/* etcd gRPC messages: requests packed and replies unpacked with protobuf-c's generated code. */
#include "etcd/etcd_pb.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "rpc.pb-c.h"

/* ---- requests ---- */

/* protobuf-c's bytes and string fields are not const, but packing only reads them. */
static ProtobufCBinaryData bin(const void *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = p ? n : 0, .data = (uint8_t *)(uintptr_t)p };
}

static char *str(const char *s)
{
	return (char *)(uintptr_t)(s ? s : "");
}

static int pack(const ProtobufCMessage *m, struct etcd_pb_buf *ret)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	/* An all-default message packs to nothing; data stays non-NULL all the same. */
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		return -ENOMEM;
	ret->data = p;
	ret->len = protobuf_c_message_pack(m, p);
	return 0;
}

static void range_init(Etcdserverpb__RangeRequest *m, const char *key, size_t key_len)
{
	etcdserverpb__range_request__init(m);
	m->key = bin(key, key_len);
}

int etcd_pb_range_req(const char *key, size_t key_len, const char *range_end, size_t range_end_len,
		      int64_t revision, int64_t limit, struct etcd_pb_buf *ret)
{
	Etcdserverpb__RangeRequest m;

	range_init(&m, key, key_len);
	m.range_end = bin(range_end, range_end_len);
	m.revision = revision;
	m.limit = limit;
	return pack(&m.base, ret);
}

static void put_init(Etcdserverpb__PutRequest *m, const char *key, size_t key_len,
		     const char *value, size_t value_len, int64_t lease)
{
	etcdserverpb__put_request__init(m);
	m->key = bin(key, key_len);
	m->value = bin(value, value_len);
	m->lease = lease;
}

int etcd_pb_put_req(const char *key, size_t key_len, const char *value, size_t value_len,
		    int64_t lease, struct etcd_pb_buf *ret)
{
	Etcdserverpb__PutRequest m;

	put_init(&m, key, key_len, value, value_len, lease);
	return pack(&m.base, ret);
}

static void delete_init(Etcdserverpb__DeleteRangeRequest *m, const char *key, size_t key_len)
{
	etcdserverpb__delete_range_request__init(m);
	m->key = bin(key, key_len);
}

int etcd_pb_delete_req(const char *key, size_t key_len, struct etcd_pb_buf *ret)
{
	Etcdserverpb__DeleteRangeRequest m;

	delete_init(&m, key, key_len);
	return pack(&m.base, ret);
}

/* Our targets are in a different order from etcd's (which has VALUE before LEASE). */
static int cmp_init(Etcdserverpb__Compare *m, const struct etcd_cmp *c)
{
	etcdserverpb__compare__init(m);
	if ((unsigned)c->result > ETCD_CMP_NOT_EQUAL)
		return -EINVAL;
	m->result = (Etcdserverpb__Compare__CompareResult)c->result;
	m->key = bin(c->key, c->key_len);
	/* The oneof is sent even when the value is 0, as clientv3 does. */
	switch (c->target) {
	case ETCD_CMP_VERSION:
		m->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
		m->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
		m->version = c->value;
		return 0;
	case ETCD_CMP_CREATE:
		m->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
		m->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		m->create_revision = c->value;
		return 0;
	case ETCD_CMP_MOD:
		m->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		m->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		m->mod_revision = c->value;
		return 0;
	case ETCD_CMP_LEASE:
		m->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE;
		m->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
		m->lease = c->value;
		return 0;
	}
	return -EINVAL;
}

/* A RequestOp with room for whichever request it holds. */
struct txn_op {
	Etcdserverpb__RequestOp op;
	union {
		Etcdserverpb__RangeRequest range;
		Etcdserverpb__PutRequest put;
		Etcdserverpb__DeleteRangeRequest del;
	};
};

static int op_init(struct txn_op *t, const struct etcd_op *o)
{
	etcdserverpb__request_op__init(&t->op);
	switch (o->type) {
	case ETCD_OP_PUT:
		put_init(&t->put, o->key, o->key_len, o->value, o->value_len, o->lease);
		t->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		t->op.request_put = &t->put;
		return 0;
	case ETCD_OP_RANGE:
		range_init(&t->range, o->key, o->key_len);
		t->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
		t->op.request_range = &t->range;
		return 0;
	case ETCD_OP_DELETE:
		delete_init(&t->del, o->key, o->key_len);
		t->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		t->op.request_delete_range = &t->del;
		return 0;
	}
	return -EINVAL;
}

int etcd_pb_txn_req(const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *success,
		    size_t n_success, const struct etcd_op *failure, size_t n_failure,
		    struct etcd_pb_buf *ret)
{
	size_t n_ops = n_success + n_failure;
	/* +1: calloc(0) may return NULL, which would read as a failure. */
	Etcdserverpb__Compare *cmps = calloc(n_cmp + 1, sizeof(*cmps));
	Etcdserverpb__Compare **cmp_ptrs = calloc(n_cmp + 1, sizeof(*cmp_ptrs));
	struct txn_op *ops = calloc(n_ops + 1, sizeof(*ops));
	Etcdserverpb__RequestOp **op_ptrs = calloc(n_ops + 1, sizeof(*op_ptrs));
	Etcdserverpb__TxnRequest m;
	size_t i;
	int r = -ENOMEM;

	if (!cmps || !cmp_ptrs || !ops || !op_ptrs)
		goto out;
	for (i = 0; i < n_cmp; i++) {
		r = cmp_init(&cmps[i], &cmp[i]);
		if (r < 0)
			goto out;
		cmp_ptrs[i] = &cmps[i];
	}
	for (i = 0; i < n_ops; i++) {
		r = op_init(&ops[i], i < n_success ? &success[i] : &failure[i - n_success]);
		if (r < 0)
			goto out;
		op_ptrs[i] = &ops[i].op;
	}
	etcdserverpb__txn_request__init(&m);
	m.n_compare = n_cmp;
	m.compare = cmp_ptrs;
	m.n_success = n_success;
	m.success = op_ptrs;
	m.n_failure = n_failure;
	m.failure = op_ptrs + n_success;
	r = pack(&m.base, ret);
out:
	free(cmps);
	free(cmp_ptrs);
	free(ops);
	free(op_ptrs);
	return r;
}

int etcd_pb_lease_grant_req(int64_t ttl, struct etcd_pb_buf *ret)
{
	Etcdserverpb__LeaseGrantRequest m;

	etcdserverpb__lease_grant_request__init(&m);
	m.ttl = ttl;
	return pack(&m.base, ret);
}

int etcd_pb_lease_id_req(int64_t id, struct etcd_pb_buf *ret)
{
	/* Keep-alive, revoke and time-to-live requests all carry the ID as field 1. */
	Etcdserverpb__LeaseKeepAliveRequest m;

	etcdserverpb__lease_keep_alive_request__init(&m);
	m.id = id;
	return pack(&m.base, ret);
}

int etcd_pb_auth_req(const char *name, const char *password, struct etcd_pb_buf *ret)
{
	Etcdserverpb__AuthenticateRequest m;

	etcdserverpb__authenticate_request__init(&m);
	m.name = str(name);
	m.password = str(password);
	return pack(&m.base, ret);
}

int etcd_pb_watch_create_req(const char *key, size_t key_len, const char *range_end,
			     size_t range_end_len, int64_t start_revision, bool progress_notify,
			     bool fragment, struct etcd_pb_buf *ret)
{
	Etcdserverpb__WatchRequest m;
	Etcdserverpb__WatchCreateRequest c;

	etcdserverpb__watch_create_request__init(&c);
	c.key = bin(key, key_len);
	c.range_end = bin(range_end, range_end_len);
	c.start_revision = start_revision;
	c.progress_notify = progress_notify;
	c.fragment = fragment;
	etcdserverpb__watch_request__init(&m);
	m.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	m.create_request = &c;
	return pack(&m.base, ret);
}

/* ---- replies ---- */

/* Arena bytes for one kv: key and value, each with a NUL. A missing kv reads as empty. */
static size_t kv_size(const Mvccpb__KeyValue *kv)
{
	return (kv ? kv->key.len + kv->value.len : 0) + 2;
}

static void copy_bytes(const ProtobufCBinaryData *b, char **cur, const char **ret, size_t *ret_len)
{
	size_t n = b ? b->len : 0;

	if (n)
		memcpy(*cur, b->data, n);
	(*cur)[n] = '\0';
	*ret = *cur;
	*ret_len = n;
	*cur += n + 1;
}

static void copy_kv(const Mvccpb__KeyValue *kv, struct etcd_kv *out, char **cur)
{
	memset(out, 0, sizeof(*out));
	copy_bytes(kv ? &kv->key : NULL, cur, &out->key, &out->key_len);
	copy_bytes(kv ? &kv->value : NULL, cur, &out->value, &out->value_len);
	if (!kv)
		return;
	out->create_revision = kv->create_revision;
	out->mod_revision = kv->mod_revision;
	out->version = kv->version;
	out->lease = kv->lease;
}

static int copy_kvs(Mvccpb__KeyValue *const *kvs, size_t n, struct etcd_pb_reply *ret)
{
	size_t sz = 0, i;
	char *cur;

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		sz += kv_size(kvs[i]);
	ret->kvs = calloc(n, sizeof(*ret->kvs));
	ret->arena = malloc(sz);
	if (!ret->kvs || !ret->arena)
		return -ENOMEM;
	cur = ret->arena;
	for (i = 0; i < n; i++)
		copy_kv(kvs[i], &ret->kvs[i], &cur);
	ret->reply.kvs = ret->kvs;
	ret->reply.n_kvs = n;
	return 0;
}

static int64_t revision(const Etcdserverpb__ResponseHeader *h)
{
	return h ? h->revision : 0;
}

static int dup_str(const char *s, char **ret)
{
	*ret = strdup(s ? s : "");
	return *ret ? 0 : -ENOMEM;
}

static int range_reply(const Etcdserverpb__RangeResponse *m, struct etcd_pb_reply *ret)
{
	ret->reply.more = m->more;
	ret->reply.count = m->count;
	return copy_kvs(m->kvs, m->n_kvs, ret);
}

static int txn_reply(const Etcdserverpb__TxnResponse *m, struct etcd_pb_reply *ret)
{
	ret->reply.succeeded = m->succeeded;
	for (size_t i = 0; i < m->n_responses; i++)
		if (m->responses[i]->response_case ==
		    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
			return range_reply(m->responses[i]->response_range, ret);
	return 0;
}

static int lease_grant_reply(const Etcdserverpb__LeaseGrantResponse *m, struct etcd_pb_reply *ret)
{
	ret->reply.lease_id = m->id;
	ret->reply.ttl = m->ttl;
	if (!m->error || !m->error[0])
		return 0;
	/* An error inside an OK answer has no gRPC code of its own: 2 is Unknown. */
	ret->reply.err = -EREMOTEIO;
	ret->reply.grpc_code = 2;
	return dup_str(m->error, &ret->message);
}

static const ProtobufCMessageDescriptor *const reply_types[] = {
	[ETCD_PB_RANGE] = &etcdserverpb__range_response__descriptor,
	[ETCD_PB_PUT] = &etcdserverpb__put_response__descriptor,
	[ETCD_PB_DELETE] = &etcdserverpb__delete_range_response__descriptor,
	[ETCD_PB_TXN] = &etcdserverpb__txn_response__descriptor,
	[ETCD_PB_LEASE_GRANT] = &etcdserverpb__lease_grant_response__descriptor,
	[ETCD_PB_KEEPALIVE] = &etcdserverpb__lease_keep_alive_response__descriptor,
	[ETCD_PB_REVOKE] = &etcdserverpb__lease_revoke_response__descriptor,
	[ETCD_PB_TIMETOLIVE] = &etcdserverpb__lease_time_to_live_response__descriptor,
	[ETCD_PB_AUTH] = &etcdserverpb__authenticate_response__descriptor,
};

/* Fill ret from an unpacked message of reply_types[kind]. */
static int fill_reply(enum etcd_pb_kind kind, const ProtobufCMessage *msg,
		      struct etcd_pb_reply *ret)
{
	struct etcd_reply *r = &ret->reply;

	switch (kind) {
	case ETCD_PB_RANGE: {
		const Etcdserverpb__RangeResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		return range_reply(m, ret);
	}
	case ETCD_PB_PUT: {
		const Etcdserverpb__PutResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		return 0;
	}
	case ETCD_PB_DELETE: {
		const Etcdserverpb__DeleteRangeResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		r->count = m->deleted;
		return 0;
	}
	case ETCD_PB_TXN: {
		const Etcdserverpb__TxnResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		return txn_reply(m, ret);
	}
	case ETCD_PB_LEASE_GRANT: {
		const Etcdserverpb__LeaseGrantResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		return lease_grant_reply(m, ret);
	}
	case ETCD_PB_KEEPALIVE: {
		const Etcdserverpb__LeaseKeepAliveResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		r->lease_id = m->id;
		r->ttl = m->ttl;
		return 0;
	}
	case ETCD_PB_REVOKE: {
		const Etcdserverpb__LeaseRevokeResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		return 0;
	}
	case ETCD_PB_TIMETOLIVE: {
		/* etcd itself answers TTL -1 for a lease it does not know. */
		const Etcdserverpb__LeaseTimeToLiveResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		r->lease_id = m->id;
		r->ttl = m->ttl;
		return 0;
	}
	case ETCD_PB_AUTH: {
		const Etcdserverpb__AuthenticateResponse *m = (const void *)msg;

		r->revision = revision(m->header);
		return dup_str(m->token, &ret->token);
	}
	}
	return -EINVAL;
}

/*
 * Revisions come from the server and the client counts on from them
 * (revision + 1 to resume a watch or a listing): one that cannot be
 * counted past, or a negative one, makes the whole answer unusable.
 */
static bool revision_ok(int64_t rev)
{
	return rev >= 0 && rev < INT64_MAX;
}

static bool kv_revisions_ok(const struct etcd_kv *kv)
{
	return revision_ok(kv->mod_revision) && revision_ok(kv->create_revision);
}

static bool reply_revisions_ok(const struct etcd_reply *r)
{
	for (size_t i = 0; i < r->n_kvs; i++)
		if (!kv_revisions_ok(&r->kvs[i]))
			return false;
	return revision_ok(r->revision);
}

static bool watch_revisions_ok(const struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->n_events; i++)
		if (!kv_revisions_ok(&m->events[i].kv))
			return false;
	return revision_ok(m->revision) && revision_ok(m->compact_revision);
}

int etcd_pb_parse_reply(enum etcd_pb_kind kind, const uint8_t *buf, size_t len,
			struct etcd_pb_reply *ret)
{
	ProtobufCMessage *msg;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((unsigned)kind > ETCD_PB_AUTH)
		return -EINVAL;
	/*
	 * NULL allocator: protobuf-c's malloc/free. It gives NULL for malformed
	 * input: truncation, a wire type that does not fit the field (except for
	 * bools, which it reads from any wire type), a bad nested message.
	 */
	msg = protobuf_c_message_unpack(reply_types[kind], NULL, len, buf);
	if (!msg)
		return -EPROTO;
	r = fill_reply(kind, msg, ret);
	protobuf_c_message_free_unpacked(msg, NULL);
	if (r == 0 && !reply_revisions_ok(&ret->reply))
		r = -ERANGE;
	if (r < 0) {
		etcd_pb_reply_free(ret);
		return r;
	}
	ret->reply.message = ret->message;
	return 0;
}

void etcd_pb_reply_free(struct etcd_pb_reply *r)
{
	if (!r)
		return;
	free(r->token);
	free(r->kvs);
	free(r->arena);
	free(r->message);
	memset(r, 0, sizeof(*r));
}

/* ---- watch messages ---- */

static int copy_events(const Etcdserverpb__WatchResponse *w, struct etcd_watch_msg *m)
{
	size_t sz = 0, i;
	char *cur;

	if (!w->n_events)
		return 0;
	for (i = 0; i < w->n_events; i++) {
		/* proto3 enums are open: anything but PUT and DELETE is not an event we know. */
		if (w->events[i]->type != MVCCPB__EVENT__EVENT_TYPE__PUT &&
		    w->events[i]->type != MVCCPB__EVENT__EVENT_TYPE__DELETE)
			return -EPROTO;
		sz += kv_size(w->events[i]->kv);
	}
	m->events = calloc(w->n_events, sizeof(*m->events));
	m->arena = malloc(sz);
	if (!m->events || !m->arena)
		return -ENOMEM;
	cur = m->arena;
	for (i = 0; i < w->n_events; i++) {
		m->events[i].is_delete = w->events[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
		copy_kv(w->events[i]->kv, &m->events[i].kv, &cur);
	}
	m->n_events = w->n_events;
	return 0;
}

static int fill_watch(const Etcdserverpb__WatchResponse *w, struct etcd_watch_msg *m)
{
	int r;

	m->has_revision = w->header != NULL;
	m->revision = revision(w->header);
	m->watch_id = w->watch_id;
	m->created = w->created;
	m->fragment = w->fragment;
	m->compact_revision = w->compact_revision;
	if (w->cancel_reason && w->cancel_reason[0]) {
		r = dup_str(w->cancel_reason, &m->reason);
		if (r < 0)
			return r;
	}
	if (w->canceled) {
		m->type = m->compact_revision > 0 ? ETCD_WMSG_COMPACTED : ETCD_WMSG_CANCELED;
		return 0;
	}
	r = copy_events(w, m);
	if (r < 0)
		return r;
	if (m->n_events)
		m->type = ETCD_WMSG_EVENTS;
	else if (m->created)
		m->type = ETCD_WMSG_CREATED;
	else
		m->type = ETCD_WMSG_PROGRESS;
	return 0;
}

/*
 * A WatchResponse lives only until fill_watch() has copied it out, so its
 * pieces come from a bump arena and go all at once: protobuf-c's malloc
 * and free per piece were a fifth of the instructions of a watch event.
 * The first chunk is on the stack (one event's message fits); larger
 * messages chain malloc'd chunks.
 */
#define ARENA_ALIGN 16
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	_Alignas(ARENA_ALIGN) unsigned char mem[];
};

struct arena {
	struct arena_chunk *cur, *heap; /* heap: the malloc'd chunks, newest first */
};

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	struct arena_chunk *c = a->cur;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

	if (need < size)
		return NULL;
	if (need > c->cap - c->used) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		if (cap > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->heap;
		a->heap = a->cur = c;
	}
	c->used += need;
	return c->mem + c->used - need;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p; /* all at once, in arena_release() */
}

static void arena_release(struct arena *a)
{
	while (a->heap) {
		struct arena_chunk *next = a->heap->next;

		free(a->heap);
		a->heap = next;
	}
}

int etcd_pb_parse_watch(const uint8_t *buf, size_t len, struct etcd_watch_msg *ret)
{
	union {
		struct arena_chunk c;
		unsigned char bytes[sizeof(struct arena_chunk) + 2048];
	} first;
	struct arena a = { .cur = &first.c };
	ProtobufCAllocator alloc = { .alloc = arena_alloc,
				     .free = arena_free,
				     .allocator_data = &a };
	Etcdserverpb__WatchResponse *w;
	int r;

	memset(ret, 0, sizeof(*ret));
	first.c.cap = sizeof(first) - sizeof(struct arena_chunk);
	first.c.used = 0;
	first.c.next = NULL;
	w = etcdserverpb__watch_response__unpack(&alloc, len, buf);
	if (!w) {
		arena_release(&a);
		return -EPROTO;
	}
	r = fill_watch(w, ret);
	arena_release(&a);
	if (r == 0 && !watch_revisions_ok(ret))
		r = -ERANGE;
	if (r < 0)
		etcd_watch_msg_free(ret);
	return r;
}

void etcd_watch_msg_free(struct etcd_watch_msg *m)
{
	if (!m)
		return;
	free(m->reason);
	free(m->events);
	free(m->arena);
	memset(m, 0, sizeof(*m));
}
