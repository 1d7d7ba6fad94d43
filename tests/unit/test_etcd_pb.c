/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for etcd_pb.c: requests are unpacked again with protobuf-c's
 * generated code and checked field by field, replies and watch messages are
 * built with the generated code, packed and parsed back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd/etcd_pb.h"
#include "kv.pb-c.h"
#include "rpc.pb-c.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Bytes for protobuf-c's non-const fields in messages we build. */
static ProtobufCBinaryData bytes(const char *s, size_t n)
{
	return (ProtobufCBinaryData){ .len = n, .data = (uint8_t *)(uintptr_t)s };
}

static void assert_bytes(ProtobufCBinaryData b, const char *s, size_t n)
{
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.data, s, n);
}

static void assert_kv(const struct etcd_kv *kv, const char *key, size_t key_len, const char *value,
		      size_t value_len)
{
	assert_int_equal(kv->key_len, key_len);
	assert_memory_equal(kv->key, key, key_len);
	assert_int_equal(kv->key[key_len], '\0');
	assert_int_equal(kv->value_len, value_len);
	assert_memory_equal(kv->value, value, value_len);
	assert_int_equal(kv->value[value_len], '\0');
}

/* Pack a message we built into a malloc'd buffer, as etcd would send it. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *p = malloc(protobuf_c_message_get_packed_size(m) + 1);

	assert_non_null(p);
	*len = protobuf_c_message_pack(m, p);
	return p;
}

static void parse_packed(enum etcd_pb_kind kind, const ProtobufCMessage *m, struct etcd_pb_reply *r)
{
	size_t len;
	uint8_t *p = pack(m, &len);

	assert_int_equal(etcd_pb_parse_reply(kind, p, len, r), 0);
	free(p);
}

static void watch_packed(const Etcdserverpb__WatchResponse *w, struct etcd_watch_msg *m)
{
	size_t len;
	uint8_t *p = pack(&w->base, &len);

	assert_int_equal(etcd_pb_parse_watch(p, len, m), 0);
	free(p);
}

static Etcdserverpb__ResponseHeader header(int64_t revision)
{
	Etcdserverpb__ResponseHeader h;

	etcdserverpb__response_header__init(&h);
	h.cluster_id = 2086831020734302442u;
	h.member_id = 7059799375513725458u;
	h.revision = revision;
	h.raft_term = 2;
	return h;
}

static Mvccpb__KeyValue kv(const char *key, size_t key_len, const char *value, size_t value_len,
			   int64_t rev)
{
	Mvccpb__KeyValue k;

	mvccpb__key_value__init(&k);
	k.key = bytes(key, key_len);
	k.value = bytes(value, value_len);
	k.create_revision = rev;
	k.mod_revision = rev;
	k.version = 1;
	return k;
}

/* ---- requests ---- */

static void test_wire_bytes(void **state)
{
	static const uint8_t range_a[] = { 0x0a, 0x01, 'a' };
	/* key "/k", range_end "\0", limit 10, revision 300 (varint ac 02) */
	static const uint8_t range_full[] = { 0x0a, 0x02, '/',	'k',  0x12, 0x01,
					      0x00, 0x18, 0x0a, 0x20, 0xac, 0x02 };
	/* key "k", value "v", lease 1 */
	static const uint8_t put[] = { 0x0a, 0x01, 'k', 0x12, 0x01, 'v', 0x18, 0x01 };
	/* WatchRequest{create_request{key "k", start_revision 5, progress_notify, fragment}} */
	static const uint8_t watch[] = { 0x0a, 0x09, 0x0a, 0x01, 'k', 0x18,
					 0x05, 0x20, 0x01, 0x40, 0x01 };
	/* ID -1: a ten-byte varint, as int64 is sign-extended */
	static const uint8_t id_minus1[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0xff, 0xff, 0xff, 0x01 };
	struct etcd_pb_buf b;

	assert_int_equal(etcd_pb_range_req("a", 1, NULL, 0, 0, 0, &b), 0);
	assert_int_equal(b.len, sizeof(range_a));
	assert_memory_equal(b.data, range_a, sizeof(range_a));
	free(b.data);

	assert_int_equal(etcd_pb_range_req("/k", 2, "", 1, 300, 10, &b), 0);
	assert_int_equal(b.len, sizeof(range_full));
	assert_memory_equal(b.data, range_full, sizeof(range_full));
	free(b.data);

	assert_int_equal(etcd_pb_put_req("k", 1, "v", 1, 1, &b), 0);
	assert_int_equal(b.len, sizeof(put));
	assert_memory_equal(b.data, put, sizeof(put));
	free(b.data);

	assert_int_equal(etcd_pb_watch_create_req("k", 1, NULL, 0, 5, true, true, &b), 0);
	assert_int_equal(b.len, sizeof(watch));
	assert_memory_equal(b.data, watch, sizeof(watch));
	free(b.data);

	assert_int_equal(etcd_pb_lease_id_req(-1, &b), 0);
	assert_int_equal(b.len, sizeof(id_minus1));
	assert_memory_equal(b.data, id_minus1, sizeof(id_minus1));
	free(b.data);

	/* All defaults: nothing on the wire, but still a buffer to free. */
	assert_int_equal(etcd_pb_lease_grant_req(0, &b), 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	free(b.data);
}

static void test_range_put_delete_req(void **state)
{
	static const char bin_key[] = { '/', 0, (char)0xff, 'x' };
	struct etcd_pb_buf b;
	Etcdserverpb__RangeRequest *rr;
	Etcdserverpb__PutRequest *pr;
	Etcdserverpb__DeleteRangeRequest *dr;

	assert_int_equal(etcd_pb_range_req("/coreos.com/network/subnets/", 28,
					   "/coreos.com/network/subnets0", 28, 42, 500, &b),
			 0);
	rr = etcdserverpb__range_request__unpack(NULL, b.len, b.data);
	assert_non_null(rr);
	assert_bytes(rr->key, "/coreos.com/network/subnets/", 28);
	assert_bytes(rr->range_end, "/coreos.com/network/subnets0", 28);
	assert_int_equal(rr->revision, 42);
	assert_int_equal(rr->limit, 500);
	etcdserverpb__range_request__free_unpacked(rr, NULL);
	free(b.data);

	assert_int_equal(etcd_pb_range_req(bin_key, sizeof(bin_key), NULL, 0, 0, 0, &b), 0);
	rr = etcdserverpb__range_request__unpack(NULL, b.len, b.data);
	assert_non_null(rr);
	assert_bytes(rr->key, bin_key, sizeof(bin_key));
	assert_int_equal(rr->range_end.len, 0);
	assert_int_equal(rr->revision, 0);
	assert_int_equal(rr->limit, 0);
	etcdserverpb__range_request__free_unpacked(rr, NULL);
	free(b.data);

	assert_int_equal(etcd_pb_put_req("/k", 2, "{\"PublicIP\":\"10.0.0.1\"}", 23,
					 INT64_C(3031663761004321819), &b),
			 0);
	pr = etcdserverpb__put_request__unpack(NULL, b.len, b.data);
	assert_non_null(pr);
	assert_bytes(pr->key, "/k", 2);
	assert_bytes(pr->value, "{\"PublicIP\":\"10.0.0.1\"}", 23);
	assert_true(pr->lease == INT64_C(3031663761004321819));
	etcdserverpb__put_request__free_unpacked(pr, NULL);
	free(b.data);

	/* No value and no lease: neither is sent. */
	assert_int_equal(etcd_pb_put_req("/k", 2, NULL, 0, 0, &b), 0);
	assert_int_equal(b.len, 4);
	pr = etcdserverpb__put_request__unpack(NULL, b.len, b.data);
	assert_non_null(pr);
	assert_int_equal(pr->value.len, 0);
	assert_int_equal(pr->lease, 0);
	etcdserverpb__put_request__free_unpacked(pr, NULL);
	free(b.data);

	assert_int_equal(etcd_pb_delete_req(bin_key, sizeof(bin_key), &b), 0);
	dr = etcdserverpb__delete_range_request__unpack(NULL, b.len, b.data);
	assert_non_null(dr);
	assert_bytes(dr->key, bin_key, sizeof(bin_key));
	assert_int_equal(dr->range_end.len, 0);
	etcdserverpb__delete_range_request__free_unpacked(dr, NULL);
	free(b.data);
}

static void test_lease_auth_req(void **state)
{
	struct etcd_pb_buf b;
	Etcdserverpb__LeaseGrantRequest *g;
	Etcdserverpb__LeaseKeepAliveRequest *k;
	Etcdserverpb__LeaseRevokeRequest *rv;
	Etcdserverpb__LeaseTimeToLiveRequest *t;
	Etcdserverpb__AuthenticateRequest *a;

	assert_int_equal(etcd_pb_lease_grant_req(86400, &b), 0);
	g = etcdserverpb__lease_grant_request__unpack(NULL, b.len, b.data);
	assert_non_null(g);
	assert_int_equal(g->ttl, 86400);
	assert_int_equal(g->id, 0);
	etcdserverpb__lease_grant_request__free_unpacked(g, NULL);
	free(b.data);

	/* One encoding serves three request types. */
	assert_int_equal(etcd_pb_lease_id_req(INT64_C(3031663761004321819), &b), 0);
	k = etcdserverpb__lease_keep_alive_request__unpack(NULL, b.len, b.data);
	assert_non_null(k);
	assert_true(k->id == INT64_C(3031663761004321819));
	etcdserverpb__lease_keep_alive_request__free_unpacked(k, NULL);
	rv = etcdserverpb__lease_revoke_request__unpack(NULL, b.len, b.data);
	assert_non_null(rv);
	assert_true(rv->id == INT64_C(3031663761004321819));
	etcdserverpb__lease_revoke_request__free_unpacked(rv, NULL);
	t = etcdserverpb__lease_time_to_live_request__unpack(NULL, b.len, b.data);
	assert_non_null(t);
	assert_true(t->id == INT64_C(3031663761004321819));
	assert_false(t->keys);
	etcdserverpb__lease_time_to_live_request__free_unpacked(t, NULL);
	free(b.data);

	assert_int_equal(etcd_pb_auth_req("flannel", "s3cret", &b), 0);
	a = etcdserverpb__authenticate_request__unpack(NULL, b.len, b.data);
	assert_non_null(a);
	assert_string_equal(a->name, "flannel");
	assert_string_equal(a->password, "s3cret");
	etcdserverpb__authenticate_request__free_unpacked(a, NULL);
	free(b.data);

	assert_int_equal(etcd_pb_auth_req("root", NULL, &b), 0);
	a = etcdserverpb__authenticate_request__unpack(NULL, b.len, b.data);
	assert_non_null(a);
	assert_string_equal(a->name, "root");
	assert_string_equal(a->password, "");
	etcdserverpb__authenticate_request__free_unpacked(a, NULL);
	free(b.data);
}

static void test_watch_req(void **state)
{
	struct etcd_pb_buf b;
	Etcdserverpb__WatchRequest *w;
	Etcdserverpb__WatchCreateRequest *c;

	assert_int_equal(etcd_pb_watch_create_req("/coreos.com/network/subnets/", 28,
						  "/coreos.com/network/subnets0", 28, 1234, true,
						  false, &b),
			 0);
	w = etcdserverpb__watch_request__unpack(NULL, b.len, b.data);
	assert_non_null(w);
	assert_int_equal(w->request_union_case,
			 ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST);
	c = w->create_request;
	assert_bytes(c->key, "/coreos.com/network/subnets/", 28);
	assert_bytes(c->range_end, "/coreos.com/network/subnets0", 28);
	assert_int_equal(c->start_revision, 1234);
	assert_true(c->progress_notify);
	assert_false(c->fragment);
	assert_false(c->prev_kv);
	assert_int_equal(c->watch_id, 0);
	etcdserverpb__watch_request__free_unpacked(w, NULL);
	free(b.data);

	/* A single key from now on, with fragments. */
	assert_int_equal(etcd_pb_watch_create_req("/k", 2, NULL, 0, 0, false, true, &b), 0);
	w = etcdserverpb__watch_request__unpack(NULL, b.len, b.data);
	assert_non_null(w);
	assert_int_equal(w->request_union_case,
			 ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST);
	c = w->create_request;
	assert_bytes(c->key, "/k", 2);
	assert_int_equal(c->range_end.len, 0);
	assert_int_equal(c->start_revision, 0);
	assert_false(c->progress_notify);
	assert_true(c->fragment);
	etcdserverpb__watch_request__free_unpacked(w, NULL);
	free(b.data);
}

static void test_txn_req(void **state)
{
	/* flannel's lease acquisition: create if absent, else read what is there. */
	const struct etcd_cmp cmp[] = {
		{ "/s/a", 4, ETCD_CMP_CREATE, ETCD_CMP_EQUAL, 0 },
		{ "/s/b", 4, ETCD_CMP_MOD, ETCD_CMP_LESS, 17 },
		{ "/s/c", 4, ETCD_CMP_VERSION, ETCD_CMP_GREATER, 2 },
		{ "/s/d", 4, ETCD_CMP_LEASE, ETCD_CMP_NOT_EQUAL, 99 },
	};
	const struct etcd_op success[] = {
		{ ETCD_OP_PUT, "/s/a", 4, "v", 1, 77 },
		{ ETCD_OP_DELETE, "/s/b", 4, NULL, 0, 0 },
	};
	const struct etcd_op failure[] = { { ETCD_OP_RANGE, "/s/a", 4, NULL, 0, 0 } };
	struct etcd_pb_buf b;
	Etcdserverpb__TxnRequest *t;
	Etcdserverpb__Compare *c;
	Etcdserverpb__RequestOp *op;

	assert_int_equal(etcd_pb_txn_req(cmp, ARRAY_SIZE(cmp), success, ARRAY_SIZE(success),
					 failure, ARRAY_SIZE(failure), &b),
			 0);
	t = etcdserverpb__txn_request__unpack(NULL, b.len, b.data);
	assert_non_null(t);
	assert_int_equal(t->n_compare, 4);
	c = t->compare[0];
	assert_bytes(c->key, "/s/a", 4);
	assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL);
	assert_int_equal(c->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE);
	/* The value 0 is sent all the same: the oneof says which field it is. */
	assert_int_equal(c->target_union_case, ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION);
	assert_int_equal(c->create_revision, 0);
	c = t->compare[1];
	assert_bytes(c->key, "/s/b", 4);
	assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS);
	assert_int_equal(c->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD);
	assert_int_equal(c->target_union_case, ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION);
	assert_int_equal(c->mod_revision, 17);
	c = t->compare[2];
	assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER);
	assert_int_equal(c->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION);
	assert_int_equal(c->target_union_case, ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION);
	assert_int_equal(c->version, 2);
	c = t->compare[3];
	assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL);
	assert_int_equal(c->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE);
	assert_int_equal(c->target, 4);
	assert_int_equal(c->target_union_case, ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE);
	assert_int_equal(c->lease, 99);
	assert_int_equal(c->range_end.len, 0);

	assert_int_equal(t->n_success, 2);
	op = t->success[0];
	assert_int_equal(op->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT);
	assert_bytes(op->request_put->key, "/s/a", 4);
	assert_bytes(op->request_put->value, "v", 1);
	assert_int_equal(op->request_put->lease, 77);
	op = t->success[1];
	assert_int_equal(op->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE);
	assert_bytes(op->request_delete_range->key, "/s/b", 4);
	assert_int_equal(t->n_failure, 1);
	op = t->failure[0];
	assert_int_equal(op->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE);
	assert_bytes(op->request_range->key, "/s/a", 4);
	assert_int_equal(op->request_range->range_end.len, 0);
	etcdserverpb__txn_request__free_unpacked(t, NULL);
	free(b.data);

	/* No compares and no failure branch. */
	assert_int_equal(etcd_pb_txn_req(NULL, 0, success, 1, NULL, 0, &b), 0);
	t = etcdserverpb__txn_request__unpack(NULL, b.len, b.data);
	assert_non_null(t);
	assert_int_equal(t->n_compare, 0);
	assert_int_equal(t->n_success, 1);
	assert_int_equal(t->n_failure, 0);
	etcdserverpb__txn_request__free_unpacked(t, NULL);
	free(b.data);

	/* Enum values out of range are the caller's bug. */
	const struct etcd_cmp bad_target[] = { { "/k", 2, (enum etcd_cmp_target)9, 0, 0 } };
	const struct etcd_cmp bad_result[] = { { "/k", 2, 0, (enum etcd_cmp_result)9, 0 } };
	const struct etcd_op bad_op[] = { { (enum etcd_op_type)9, "/k", 2, NULL, 0, 0 } };

	assert_int_equal(etcd_pb_txn_req(bad_target, 1, NULL, 0, NULL, 0, &b), -EINVAL);
	assert_int_equal(etcd_pb_txn_req(bad_result, 1, NULL, 0, NULL, 0, &b), -EINVAL);
	assert_int_equal(etcd_pb_txn_req(NULL, 0, success, 1, bad_op, 1, &b), -EINVAL);
}

/* ---- replies ---- */

static void test_range_reply(void **state)
{
	static const char bin_val[] = { 'a', 0, 'b', (char)0xff, 0 };
	Etcdserverpb__ResponseHeader h = header(7);
	Mvccpb__KeyValue k1 = kv("/t/a1", 5, "v1", 2, 4);
	Mvccpb__KeyValue k2 = kv("/t/\0bin", 7, bin_val, sizeof(bin_val), 5);
	Mvccpb__KeyValue k3 = kv("/t/b", 4, NULL, 0, 6);
	Mvccpb__KeyValue *kvs[] = { &k1, &k2, &k3 };
	Etcdserverpb__RangeResponse m;
	struct etcd_pb_reply r;

	k3.lease = INT64_C(3031663761004321831);
	k2.version = 3;
	etcdserverpb__range_response__init(&m);
	m.header = &h;
	m.n_kvs = ARRAY_SIZE(kvs);
	m.kvs = kvs;
	m.more = 1;
	m.count = 10;
	parse_packed(ETCD_PB_RANGE, &m.base, &r);
	assert_int_equal(r.reply.err, 0);
	assert_null(r.reply.message);
	assert_int_equal(r.reply.revision, 7);
	assert_true(r.reply.more);
	assert_int_equal(r.reply.count, 10);
	assert_int_equal(r.reply.n_kvs, 3);
	assert_ptr_equal(r.reply.kvs, r.kvs);
	assert_kv(&r.reply.kvs[0], "/t/a1", 5, "v1", 2);
	assert_int_equal(r.reply.kvs[0].create_revision, 4);
	assert_int_equal(r.reply.kvs[0].mod_revision, 4);
	assert_int_equal(r.reply.kvs[0].version, 1);
	assert_int_equal(r.reply.kvs[0].lease, 0);
	assert_kv(&r.reply.kvs[1], "/t/\0bin", 7, bin_val, sizeof(bin_val));
	assert_int_equal(r.reply.kvs[1].version, 3);
	assert_kv(&r.reply.kvs[2], "/t/b", 4, "", 0);
	assert_true(r.reply.kvs[2].lease == INT64_C(3031663761004321831));
	/* Keys and values live in the one arena. */
	for (size_t i = 0; i < 3; i++) {
		assert_true(r.reply.kvs[i].key >= r.arena);
		assert_true(r.reply.kvs[i].value > r.reply.kvs[i].key);
	}
	etcd_pb_reply_free(&r);
	assert_null(r.kvs);
	assert_null(r.arena);

	/* Nothing found: etcd sends a header only. */
	etcdserverpb__range_response__init(&m);
	m.header = &h;
	parse_packed(ETCD_PB_RANGE, &m.base, &r);
	assert_int_equal(r.reply.revision, 7);
	assert_int_equal(r.reply.n_kvs, 0);
	assert_null(r.reply.kvs);
	assert_false(r.reply.more);
	etcd_pb_reply_free(&r);
}

static void test_txn_reply(void **state)
{
	Etcdserverpb__ResponseHeader h = header(11);
	Mvccpb__KeyValue k1 = kv("/t/sub/10.5.1.0-24", 18, "{\"PublicIP\":\"1.2.3.4\"}", 22, 11);
	Mvccpb__KeyValue *kvs[] = { &k1 };
	Etcdserverpb__PutResponse put;
	Etcdserverpb__RangeResponse range, range2;
	Etcdserverpb__ResponseOp op_put, op_range, op_range2;
	Etcdserverpb__ResponseOp *ops[] = { &op_put, &op_range, &op_range2 };
	Etcdserverpb__TxnResponse m;
	struct etcd_pb_reply r;

	etcdserverpb__put_response__init(&put);
	put.header = &h;
	etcdserverpb__range_response__init(&range);
	range.header = &h;
	range.n_kvs = 1;
	range.kvs = kvs;
	range.count = 1;
	etcdserverpb__range_response__init(&range2);
	range2.count = 99;
	etcdserverpb__response_op__init(&op_put);
	op_put.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
	op_put.response_put = &put;
	etcdserverpb__response_op__init(&op_range);
	op_range.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
	op_range.response_range = &range;
	etcdserverpb__response_op__init(&op_range2);
	op_range2.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
	op_range2.response_range = &range2;
	etcdserverpb__txn_response__init(&m);
	m.header = &h;
	m.n_responses = ARRAY_SIZE(ops);
	m.responses = ops;

	/* Failed compare: the kvs of the first range response. */
	parse_packed(ETCD_PB_TXN, &m.base, &r);
	assert_false(r.reply.succeeded);
	assert_int_equal(r.reply.revision, 11);
	assert_int_equal(r.reply.n_kvs, 1);
	assert_int_equal(r.reply.count, 1);
	assert_kv(&r.reply.kvs[0], "/t/sub/10.5.1.0-24", 18, "{\"PublicIP\":\"1.2.3.4\"}", 22);
	assert_int_equal(r.reply.kvs[0].mod_revision, 11);
	etcd_pb_reply_free(&r);

	/* Succeeded with a put only. */
	m.succeeded = 1;
	m.n_responses = 1;
	parse_packed(ETCD_PB_TXN, &m.base, &r);
	assert_true(r.reply.succeeded);
	assert_int_equal(r.reply.n_kvs, 0);
	assert_null(r.reply.kvs);
	etcd_pb_reply_free(&r);
}

static void test_put_delete_reply(void **state)
{
	Etcdserverpb__ResponseHeader h = header(9);
	Etcdserverpb__PutResponse put;
	Etcdserverpb__DeleteRangeResponse del;
	struct etcd_pb_reply r;

	etcdserverpb__put_response__init(&put);
	put.header = &h;
	parse_packed(ETCD_PB_PUT, &put.base, &r);
	assert_int_equal(r.reply.revision, 9);
	etcd_pb_reply_free(&r);

	etcdserverpb__delete_range_response__init(&del);
	del.header = &h;
	del.deleted = 3;
	parse_packed(ETCD_PB_DELETE, &del.base, &r);
	assert_int_equal(r.reply.revision, 9);
	assert_int_equal(r.reply.count, 3);
	etcd_pb_reply_free(&r);
}

static void test_lease_reply(void **state)
{
	Etcdserverpb__ResponseHeader h = header(16);
	Etcdserverpb__LeaseGrantResponse g;
	Etcdserverpb__LeaseKeepAliveResponse k;
	Etcdserverpb__LeaseRevokeResponse rv;
	Etcdserverpb__LeaseTimeToLiveResponse t;
	struct etcd_pb_reply r;

	etcdserverpb__lease_grant_response__init(&g);
	g.header = &h;
	g.id = INT64_C(3031663761004321819);
	g.ttl = 86400;
	parse_packed(ETCD_PB_LEASE_GRANT, &g.base, &r);
	assert_int_equal(r.reply.err, 0);
	assert_true(r.reply.lease_id == INT64_C(3031663761004321819));
	assert_int_equal(r.reply.ttl, 86400);
	assert_int_equal(r.reply.revision, 16);
	assert_null(r.reply.message);
	etcd_pb_reply_free(&r);

	g.error = (char *)(uintptr_t) "etcdserver: too many requests";
	parse_packed(ETCD_PB_LEASE_GRANT, &g.base, &r);
	assert_int_equal(r.reply.err, -EREMOTEIO);
	assert_int_equal(r.reply.grpc_code, 2);
	assert_string_equal(r.reply.message, "etcdserver: too many requests");
	assert_ptr_equal(r.reply.message, r.message);
	etcd_pb_reply_free(&r);
	assert_null(r.message);

	etcdserverpb__lease_keep_alive_response__init(&k);
	k.header = &h;
	k.id = 777;
	k.ttl = 60;
	parse_packed(ETCD_PB_KEEPALIVE, &k.base, &r);
	assert_int_equal(r.reply.lease_id, 777);
	assert_int_equal(r.reply.ttl, 60);
	etcd_pb_reply_free(&r);
	/* A lease that is gone: TTL absent, so 0. */
	k.ttl = 0;
	parse_packed(ETCD_PB_KEEPALIVE, &k.base, &r);
	assert_int_equal(r.reply.ttl, 0);
	etcd_pb_reply_free(&r);

	etcdserverpb__lease_revoke_response__init(&rv);
	rv.header = &h;
	parse_packed(ETCD_PB_REVOKE, &rv.base, &r);
	assert_int_equal(r.reply.revision, 16);
	etcd_pb_reply_free(&r);

	etcdserverpb__lease_time_to_live_response__init(&t);
	t.header = &h;
	t.id = 999;
	t.ttl = -1;
	parse_packed(ETCD_PB_TIMETOLIVE, &t.base, &r);
	assert_int_equal(r.reply.lease_id, 999);
	assert_int_equal(r.reply.ttl, -1);
	etcd_pb_reply_free(&r);
	t.ttl = 299;
	t.grantedttl = 300;
	parse_packed(ETCD_PB_TIMETOLIVE, &t.base, &r);
	assert_int_equal(r.reply.ttl, 299);
	etcd_pb_reply_free(&r);
}

static void test_auth_reply(void **state)
{
	Etcdserverpb__ResponseHeader h = header(30);
	Etcdserverpb__AuthenticateResponse a;
	struct etcd_pb_reply r;

	etcdserverpb__authenticate_response__init(&a);
	a.header = &h;
	a.token = (char *)(uintptr_t) "yVExSSEKucIJBEmw.60";
	parse_packed(ETCD_PB_AUTH, &a.base, &r);
	assert_string_equal(r.token, "yVExSSEKucIJBEmw.60");
	assert_int_equal(r.reply.revision, 30);
	etcd_pb_reply_free(&r);
	assert_null(r.token);
}

/* An empty buffer is a valid message of every type, with every field zero. */
static void test_empty_reply(void **state)
{
	struct etcd_pb_reply r, zero;

	memset(&zero, 0, sizeof(zero));
	for (int k = ETCD_PB_RANGE; k <= ETCD_PB_AUTH; k++) {
		assert_int_equal(
			etcd_pb_parse_reply((enum etcd_pb_kind)k, (const uint8_t *)"", 0, &r), 0);
		if (k == ETCD_PB_AUTH) {
			assert_string_equal(r.token, "");
			free(r.token);
			r.token = NULL;
		}
		assert_memory_equal(&r, &zero, sizeof(r));
		etcd_pb_reply_free(&r);
	}
	etcd_pb_reply_free(NULL);
	assert_int_equal(etcd_pb_parse_reply((enum etcd_pb_kind)99, (const uint8_t *)"", 0, &r),
			 -EINVAL);
}

/* ---- watch messages ---- */

static void test_watch_created_progress(void **state)
{
	Etcdserverpb__ResponseHeader h = header(18);
	Etcdserverpb__WatchResponse w;
	struct etcd_watch_msg m;

	etcdserverpb__watch_response__init(&w);
	w.header = &h;
	w.created = 1;
	w.watch_id = 0;
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_CREATED);
	assert_true(m.created);
	assert_true(m.has_revision);
	assert_int_equal(m.revision, 18);
	assert_null(m.reason);
	etcd_watch_msg_free(&m);

	etcdserverpb__watch_response__init(&w);
	w.header = &h;
	w.watch_id = 3;
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_PROGRESS);
	assert_int_equal(m.watch_id, 3);
	assert_true(m.has_revision);
	assert_int_equal(m.revision, 18);
	etcd_watch_msg_free(&m);

	/* A header with revision 0 is still a header. */
	h.revision = 0;
	watch_packed(&w, &m);
	assert_true(m.has_revision);
	assert_int_equal(m.revision, 0);
	etcd_watch_msg_free(&m);

	/* No header at all. */
	w.header = NULL;
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_PROGRESS);
	assert_false(m.has_revision);
	etcd_watch_msg_free(&m);
}

static void test_watch_events(void **state)
{
	Etcdserverpb__ResponseHeader h = header(22);
	Mvccpb__KeyValue put_kv = kv("/w/a", 4, "1", 1, 21);
	Mvccpb__KeyValue del_kv, prev_kv = kv("/w/b", 4, "old", 3, 19);
	Mvccpb__Event e_put, e_del;
	Mvccpb__Event *evs[] = { &e_put, &e_del };
	Etcdserverpb__WatchResponse w;
	struct etcd_watch_msg m;

	mvccpb__key_value__init(&del_kv);
	del_kv.key = bytes("/w/b", 4);
	del_kv.mod_revision = 22;
	mvccpb__event__init(&e_put);
	e_put.kv = &put_kv;
	mvccpb__event__init(&e_del);
	e_del.type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
	e_del.kv = &del_kv;
	e_del.prev_kv = &prev_kv;
	etcdserverpb__watch_response__init(&w);
	w.header = &h;
	w.watch_id = 1;
	w.n_events = ARRAY_SIZE(evs);
	w.events = evs;
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_EVENTS);
	assert_int_equal(m.revision, 22);
	assert_int_equal(m.watch_id, 1);
	assert_false(m.fragment);
	assert_int_equal(m.n_events, 2);
	assert_false(m.events[0].is_delete);
	assert_kv(&m.events[0].kv, "/w/a", 4, "1", 1);
	assert_int_equal(m.events[0].kv.create_revision, 21);
	assert_int_equal(m.events[0].kv.mod_revision, 21);
	assert_true(m.events[1].is_delete);
	assert_kv(&m.events[1].kv, "/w/b", 4, "", 0);
	assert_int_equal(m.events[1].kv.mod_revision, 22);
	assert_int_equal(m.events[1].kv.create_revision, 0);
	etcd_watch_msg_free(&m);
	assert_null(m.events);

	/* The first part of a split revision. */
	w.fragment = 1;
	w.n_events = 1;
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_EVENTS);
	assert_true(m.fragment);
	assert_int_equal(m.n_events, 1);
	etcd_watch_msg_free(&m);

	/* An event type etcd does not have. */
	size_t len;
	uint8_t *p;

	w.fragment = 0;
	e_put.type = (Mvccpb__Event__EventType)2;
	p = pack(&w.base, &len);
	assert_int_equal(etcd_pb_parse_watch(p, len, &m), -EPROTO);
	assert_null(m.events);
	free(p);
}

static void test_watch_canceled(void **state)
{
	Etcdserverpb__ResponseHeader h = header(23);
	Etcdserverpb__WatchResponse w;
	struct etcd_watch_msg m;

	/* Compacted: etcd sends a header without revision. */
	h.revision = 0;
	etcdserverpb__watch_response__init(&w);
	w.header = &h;
	w.canceled = 1;
	w.compact_revision = 22;
	w.cancel_reason = (char *)(uintptr_t) "mvcc: required revision has been compacted";
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_COMPACTED);
	assert_int_equal(m.compact_revision, 22);
	assert_string_equal(m.reason, "mvcc: required revision has been compacted");
	etcd_watch_msg_free(&m);
	assert_null(m.reason);

	/* Refused at creation (auth). */
	h.revision = 23;
	etcdserverpb__watch_response__init(&w);
	w.header = &h;
	w.watch_id = -1;
	w.created = 1;
	w.canceled = 1;
	w.cancel_reason = (char *)(uintptr_t) "etcdserver: permission denied";
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_CANCELED);
	assert_true(m.created);
	assert_int_equal(m.watch_id, -1);
	assert_int_equal(m.compact_revision, 0);
	assert_string_equal(m.reason, "etcdserver: permission denied");
	etcd_watch_msg_free(&m);

	/* Canceled without a reason. */
	w.created = 0;
	w.cancel_reason = NULL;
	watch_packed(&w, &m);
	assert_int_equal(m.type, ETCD_WMSG_CANCELED);
	assert_null(m.reason);
	etcd_watch_msg_free(&m);
	etcd_watch_msg_free(NULL);
}

/* ---- malformed input ---- */

static void test_malformed(void **state)
{
	/* A valid RangeResponse to cut short and to parse as other types. */
	Etcdserverpb__ResponseHeader h = header(7);
	Mvccpb__KeyValue k1 = kv("/t/a", 4, "v", 1, 4);
	Mvccpb__KeyValue *kvs[] = { &k1 };
	Etcdserverpb__RangeResponse rr;
	size_t len;
	uint8_t *range;
	static const uint8_t bad[][12] = {
		{ 0x0a, 0x05, 0x08 },		 /* header cut short */
		{ 0x0a },			 /* length missing */
		{ 0x08, 0xff, 0xff },		 /* varint cut short */
		{ 0x08, 0x01 },			 /* header (field 1) as a varint */
		{ 0x0f },			 /* field 1 with wire type 7 */
		{ 0x0a, 0x03, 0x1a, 0x01, 'x' }, /* header.revision as a string */
		{ 0x0b, 0x0c },			 /* header as a group */
		{ 0x00 },			 /* field number 0 */
	};
	static const size_t bad_len[] = { 3, 1, 3, 2, 1, 5, 2, 1 };
	struct etcd_pb_reply r;
	struct etcd_watch_msg m;

	etcdserverpb__range_response__init(&rr);
	rr.header = &h;
	rr.n_kvs = 1;
	rr.kvs = kvs;
	rr.count = 1;
	range = pack(&rr.base, &len);

	for (int k = ETCD_PB_RANGE; k <= ETCD_PB_AUTH; k++) {
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			assert_int_equal(
				etcd_pb_parse_reply((enum etcd_pb_kind)k, bad[i], bad_len[i], &r),
				-EPROTO);
			assert_null(r.kvs);
			assert_null(r.token);
		}
		/* Every prefix of a valid message that ends inside a field. */
		for (size_t n = 1; n < len; n++) {
			if (etcd_pb_parse_reply((enum etcd_pb_kind)k, range, n, &r) == 0)
				etcd_pb_reply_free(&r);
		}
		assert_int_equal(etcd_pb_parse_reply((enum etcd_pb_kind)k, range, len - 1, &r),
				 -EPROTO);
	}
	/* kvs (field 2, a message) is not a LeaseGrantResponse's ID (a varint). */
	assert_int_equal(etcd_pb_parse_reply(ETCD_PB_LEASE_GRANT, range, len, &r), -EPROTO);
	assert_int_equal(etcd_pb_parse_reply(ETCD_PB_DELETE, range, len, &r), -EPROTO);
	assert_int_equal(etcd_pb_parse_reply(ETCD_PB_KEEPALIVE, range, len, &r), -EPROTO);
	assert_int_equal(etcd_pb_parse_reply(ETCD_PB_TIMETOLIVE, range, len, &r), -EPROTO);
	/* (Not TXN: protobuf-c reads a bool, there succeeded, from any wire type.) */

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(etcd_pb_parse_watch(bad[i], bad_len[i], &m), -EPROTO);
		assert_null(m.events);
		assert_null(m.reason);
	}
	assert_int_equal(etcd_pb_parse_watch(range, len - 1, &m), -EPROTO);
	/* watch_id (field 2) is a varint, not a message. */
	assert_int_equal(etcd_pb_parse_watch(range, len, &m), -EPROTO);
	free(range);
}

/*
 * A revision the client could not count past (INT64_MAX) or a negative one,
 * anywhere in an answer, is -ERANGE: the client resumes at revision + 1.
 */
static int range_rev(int64_t header_rev, int64_t kv_rev)
{
	Etcdserverpb__ResponseHeader h = header(header_rev);
	Mvccpb__KeyValue k = kv("/t/a", 4, "v", 1, kv_rev);
	Mvccpb__KeyValue *kvs[] = { &k };
	Etcdserverpb__RangeResponse m;
	struct etcd_pb_reply r;
	size_t len;
	uint8_t *p;
	int ret;

	etcdserverpb__range_response__init(&m);
	m.header = &h;
	m.n_kvs = 1;
	m.kvs = kvs;
	p = pack(&m.base, &len);
	ret = etcd_pb_parse_reply(ETCD_PB_RANGE, p, len, &r);
	free(p);
	etcd_pb_reply_free(&r);
	return ret;
}

static int watch_rev(int64_t header_rev, int64_t kv_rev, int64_t compact)
{
	Etcdserverpb__ResponseHeader h = header(header_rev);
	Mvccpb__KeyValue k = kv("/w/a", 4, "1", 1, kv_rev);
	Mvccpb__Event e;
	Mvccpb__Event *evs[] = { &e };
	Etcdserverpb__WatchResponse w;
	struct etcd_watch_msg m;
	size_t len;
	uint8_t *p;
	int ret;

	mvccpb__event__init(&e);
	e.kv = &k;
	etcdserverpb__watch_response__init(&w);
	w.header = &h;
	w.n_events = 1;
	w.events = evs;
	w.compact_revision = compact;
	p = pack(&w.base, &len);
	ret = etcd_pb_parse_watch(p, len, &m);
	free(p);
	if (ret == 0)
		etcd_watch_msg_free(&m);
	else
		assert_null(m.events);
	return ret;
}

static void test_revision_range(void **state)
{
	assert_int_equal(range_rev(INT64_MAX - 1, INT64_MAX - 1), 0);
	assert_int_equal(range_rev(INT64_MAX, 5), -ERANGE);
	assert_int_equal(range_rev(7, INT64_MAX), -ERANGE);
	assert_int_equal(range_rev(-1, 5), -ERANGE);
	assert_int_equal(range_rev(7, INT64_MIN), -ERANGE);
	assert_int_equal(watch_rev(INT64_MAX - 1, INT64_MAX - 1, 0), 0);
	assert_int_equal(watch_rev(INT64_MAX, 5, 0), -ERANGE);
	assert_int_equal(watch_rev(7, INT64_MAX, 0), -ERANGE);
	assert_int_equal(watch_rev(7, 5, INT64_MAX), -ERANGE);
	assert_int_equal(watch_rev(7, -3, 0), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_bytes),
		cmocka_unit_test(test_range_put_delete_req),
		cmocka_unit_test(test_lease_auth_req),
		cmocka_unit_test(test_watch_req),
		cmocka_unit_test(test_txn_req),
		cmocka_unit_test(test_range_reply),
		cmocka_unit_test(test_txn_reply),
		cmocka_unit_test(test_put_delete_reply),
		cmocka_unit_test(test_lease_reply),
		cmocka_unit_test(test_auth_reply),
		cmocka_unit_test(test_empty_reply),
		cmocka_unit_test(test_watch_created_progress),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_watch_canceled),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_revision_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
