/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for etcd_json.c, with gateway answers from ETCD_GATEWAY.md as fixtures. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "etcd_json.h"

/* The only parts particular to the test cluster are the header IDs. */
#define HDR(rev)                                                                                   \
	"{\"cluster_id\":\"2086831020734302442\",\"member_id\":\"7059799375513725458\","           \
	"\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

static const char range_kvs[] = "{\"header\":" HDR(
	"7") ","
	     "\"kvs\":[{\"key\":\"L3QvYTE=\",\"create_revision\":\"4\",\"mod_revision\":\"4\","
	     "\"version\":\"1\",\"value\":\"djE=\"},"
	     "{\"key\":\"L3QvYTI=\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":"
	     "\"1\","
	     "\"value\":\"djI=\"},"
	     "{\"key\":\"L3QvYTM=\",\"create_revision\":\"6\",\"mod_revision\":\"6\",\"version\":"
	     "\"1\","
	     "\"value\":\"djM=\"},"
	     "{\"key\":\"L3QvYg==\",\"create_revision\":\"7\",\"mod_revision\":\"7\",\"version\":"
	     "\"1\"}],"
	     "\"count\":\"4\"}";

static const char range_empty[] = "{\"header\":" HDR("1") "}";

static const char range_leased[] =
	"{\"header\":" HDR("8") ",\"kvs\":[{\"key\":\"L3QvbGVhc2Vk\",\"create_revision\":\"8\","
				"\"mod_revision\":\"8\",\"version\":\"1\",\"value\":\"eA==\","
				"\"lease\":\"3031663761004321831\"}],\"count\":\"1\"}";

static const char range_limit[] =
	"{\"header\":" HDR("7") ",\"kvs\":[{\"key\":\"L3QvYTE=\",\"create_revision\":\"4\","
				"\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"djE=\"},"
				"{\"key\":\"L3QvYTI=\",\"create_revision\":\"5\",\"mod_revision\":"
				"\"5\",\"version\":\"1\","
				"\"value\":\"djI=\"}],\"more\":true,\"count\":\"4\"}";

static const char txn_ok[] =
	"{\"header\":" HDR("11") ",\"succeeded\":true,\"responses\":"
				 "[{\"response_put\":{\"header\":{\"revision\":\"11\"}}}]}";

static const char txn_failed_range[] = "{\"header\":" HDR(
	"11") ",\"responses\":[{\"response_range\":{\"header\":"
	      "{\"revision\":\"11\"},\"kvs\":[{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\","
	      "\"create_revision\":\"11\",\"mod_revision\":\"11\",\"version\":\"1\","
	      "\"value\":\"djE=\"}],\"count\":\"1\"}}]}";

static const char txn_failed_bare[] = "{\"header\":" HDR("12") "}";

static const char txn_mixed[] =
	"{\"header\":" HDR("15") ",\"succeeded\":true,\"responses\":[{\"response_delete_range\":"
				 "{\"header\":{\"revision\":\"15\"},\"deleted\":\"1\",\"prev_kvs\":"
				 "[{\"key\":\"L3Qv\"}]}},"
				 "{\"response_range\":{\"header\":{\"revision\":\"15\"}}}]}";

static const char lease_grant[] =
	"{\"header\":" HDR("7") ",\"ID\":\"3031663761004321819\",\"TTL\":\"86400\"}";

static const char keepalive_ok[] =
	"{\"result\":{\"header\":" HDR("16") ",\"ID\":\"3031663761004321853\",\"TTL\":\"60\"}}\n";

static const char keepalive_gone[] = "{\"result\":{\"header\":" HDR("16") ",\"ID\":\"777\"}}\n";

static const char keepalive_err[] =
	"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is closing\","
	"\"http_status\":\"Service Unavailable\"}}";

static const char ttl_unknown[] = "{\"header\":" HDR("16") ",\"ID\":\"999\",\"TTL\":\"-1\"}";

static const char ttl_known[] = "{\"header\":" HDR("16") ",\"ID\":\"3031663761004321831\","
							 "\"TTL\":\"299\",\"grantedTTL\":\"300\"}";

static const char deleted_one[] = "{\"header\":" HDR("9") ",\"deleted\":\"1\"}";

static const char auth_ok[] = "{\"header\":" HDR("30") ",\"token\":\"yVExSSEKucIJBEmw.60\"}";

static const char err_key[] = "{\"error\":\"etcdserver: key is not provided\",\"message\":"
			      "\"etcdserver: key is not provided\",\"code\":3}";
static const char err_lease[] = "{\"error\":\"etcdserver: requested lease not found\","
				"\"message\":\"etcdserver: requested lease not found\",\"code\":5}";
static const char err_auth_off[] =
	"{\"error\":\"etcdserver: authentication is not enabled\",\"message\":"
	"\"etcdserver: authentication is not enabled\",\"code\":9}";
static const char err_token[] = "{\"error\":\"etcdserver: invalid auth token\",\"message\":"
				"\"etcdserver: invalid auth token\",\"code\":16}";

static const char w_created[] = "{\"result\":{\"header\":" HDR("18") ",\"created\":true}}";
static const char w_put[] = "{\"result\":{\"header\":" HDR(
	"19") ",\"events\":[{\"kv\":{\"key\":\"L3cvYQ==\","
	      "\"create_revision\":\"19\",\"mod_revision\":\"19\",\"version\":\"1\","
	      "\"value\":\"MQ==\"}}]}}";
static const char w_two_puts[] = "{\"result\":{\"header\":" HDR(
	"21") ",\"events\":[{\"kv\":{\"key\":\"L3cvYg==\","
	      "\"create_revision\":\"21\",\"mod_revision\":\"21\",\"version\":\"1\",\"value\":\"Mg="
	      "=\"}},"
	      "{\"kv\":{\"key\":\"L3cvYw==\",\"create_revision\":\"21\",\"mod_revision\":\"21\","
	      "\"version\":\"1\",\"value\":\"Mw==\"}}]}}";
static const char w_delete[] = "{\"result\":{\"header\":" HDR(
	"22") ",\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":"
	      "\"L3cvYQ==\",\"mod_revision\":\"22\"},\"prev_kv\":{\"key\":\"L3cvYQ==\","
	      "\"create_revision\":\"19\",\"mod_revision\":\"20\",\"version\":\"2\",\"value\":\"Mg="
	      "=\"}},"
	      "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3cvYg==\",\"mod_revision\":\"22\"}},"
	      "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3cvYw==\",\"mod_revision\":\"22\"}}]}}";
static const char w_compacted[] =
	"{\"result\":{\"header\":{\"cluster_id\":\"2086831020734302442\",\"member_id\":"
	"\"7059799375513725458\",\"raft_term\":\"2\"},\"canceled\":true,"
	"\"compact_revision\":\"22\"}}";
static const char w_auth_cancel[] = "{\"result\":{\"header\":" HDR(
	"23") ",\"watch_id\":\"-1\",\"created\":true,"
	      "\"canceled\":true,\"cancel_reason\":\"rpc error: code = InvalidArgument desc = "
	      "etcdserver: user name is empty\"}}";
static const char w_progress[] = "{\"result\":{\"header\":" HDR("31") "}}";
static const char w_progress_req[] = "{\"result\":{\"header\":" HDR("23") ",\"watch_id\":\"-1\"}}";
static const char w_error[] =
	"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is closing\","
	"\"http_status\":\"Service Unavailable\"}}";
static const char w_expired[] = "{\"result\":{\"header\":" HDR(
	"31") ",\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":"
	      "\"L3cvZXhw\",\"mod_revision\":\"31\"},\"prev_kv\":{\"key\":\"L3cvZXhw\","
	      "\"create_revision\":\"30\",\"mod_revision\":\"30\",\"version\":\"1\",\"value\":\"ZQ="
	      "=\","
	      "\"lease\":\"3031663761004321915\"}}]}}";

static void parse_ok(enum etcd_json_kind kind, const char *s, struct etcd_json_reply *jr)
{
	assert_int_equal(etcd_json_parse_reply(kind, s, strlen(s), jr), 0);
}

static void assert_kv(const struct etcd_kv *kv, const char *key, const char *value)
{
	assert_int_equal(kv->key_len, strlen(key));
	assert_memory_equal(kv->key, key, kv->key_len);
	assert_int_equal(kv->key[kv->key_len], '\0');
	assert_int_equal(kv->value_len, strlen(value));
	assert_memory_equal(kv->value, value, kv->value_len);
	assert_int_equal(kv->value[kv->value_len], '\0');
}

/* ---- base64, int64, prefix end ---- */

static void test_b64(void **state)
{
	const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char buf[64], out[64];
	size_t n;

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(etcd_b64_encoded_len(strlen(plain[i])), strlen(enc[i]));
		etcd_b64_encode(plain[i], strlen(plain[i]), buf);
		assert_string_equal(buf, enc[i]);
		assert_int_equal(etcd_b64_decode(enc[i], strlen(enc[i]), out, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(out, plain[i], n);
	}
	/* All byte values survive, including NUL and 0xff. */
	unsigned char bin[256];

	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	char big[400], back[300];

	etcd_b64_encode(bin, sizeof(bin), big);
	assert_int_equal(etcd_b64_decode(big, strlen(big), back, &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(back, bin, 256);
	/* What the gateway rejects, we reject. */
	assert_int_equal(etcd_b64_decode("L3QvYg", 6, out, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("L3Qv-_==", 8, out, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("L3=vYg==", 8, out, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("L===", 4, out, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("Zg==Zg==", 8, out, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("Zg=a", 4, out, &n), -EINVAL);
}

static void test_int64(void **state)
{
	int64_t v;

	assert_int_equal(etcd_parse_int64("3031663761004321819", 19, &v), 0);
	assert_true(v == INT64_C(3031663761004321819));
	assert_int_equal(etcd_parse_int64("9223372036854775807", 19, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(etcd_parse_int64("-9223372036854775808", 20, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(etcd_parse_int64("-1", 2, &v), 0);
	assert_true(v == -1);
	assert_int_equal(etcd_parse_int64("9223372036854775808", 19, &v), -ERANGE);
	assert_int_equal(etcd_parse_int64("", 0, &v), -EINVAL);
	assert_int_equal(etcd_parse_int64("-", 1, &v), -EINVAL);
	assert_int_equal(etcd_parse_int64("12a", 3, &v), -EINVAL);
	assert_int_equal(etcd_parse_int64("1.5", 3, &v), -EINVAL);
}

static void test_prefix_end(void **state)
{
	char buf[64];

	assert_int_equal(etcd_prefix_end("/t/", 3, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "/t0");
	assert_int_equal(etcd_prefix_end("/coreos.com/network/subnets", 27, buf, sizeof(buf)), 27);
	assert_string_equal(buf, "/coreos.com/network/subnett");
	assert_int_equal(etcd_prefix_end("a\xff\xff", 3, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "b");
	assert_int_equal(etcd_prefix_end("\xff", 1, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(etcd_prefix_end("", 0, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(etcd_prefix_end("abc", 3, buf, 3), 3); /* fits, no NUL */
	assert_memory_equal(buf, "abd", 3);
	assert_int_equal(etcd_prefix_end("abc", 3, buf, 2), 0);
}

/* ---- request bodies ---- */

static void assert_json(char *got, const char *want)
{
	json_t *a = json_loads(got, 0, NULL), *b = json_loads(want, 0, NULL);

	assert_non_null(a);
	assert_non_null(b);
	if (!json_equal(a, b))
		fail_msg("got %s, want %s", got, want);
	json_decref(a);
	json_decref(b);
	free(got);
}

static void test_requests(void **state)
{
	char *s;

	assert_int_equal(etcd_json_range_req("/t/", 3, "/t0", 3, 0, 0, &s), 0);
	assert_json(s, "{\"key\":\"L3Qv\",\"range_end\":\"L3Qw\"}");
	assert_int_equal(etcd_json_range_req("/t/", 3, "/t0", 3, 5, 2, &s), 0);
	assert_json(s,
		    "{\"key\":\"L3Qv\",\"range_end\":\"L3Qw\",\"revision\":\"5\",\"limit\":\"2\"}");
	assert_int_equal(etcd_json_range_req("\0", 1, "\0", 1, 0, 0, &s), 0);
	assert_json(s, "{\"key\":\"AA==\",\"range_end\":\"AA==\"}");
	assert_int_equal(etcd_json_put_req("/t/b", 4, "", 0, 0, &s), 0);
	assert_json(s, "{\"key\":\"L3QvYg==\",\"value\":\"\"}");
	assert_int_equal(
		etcd_json_put_req("/t/leased", 9, "x", 1, INT64_C(3031663761004321831), &s), 0);
	assert_json(s, "{\"key\":\"L3QvbGVhc2Vk\",\"value\":\"eA==\","
		       "\"lease\":\"3031663761004321831\"}");
	assert_int_equal(etcd_json_delete_req("/t/a1", 5, &s), 0);
	assert_json(s, "{\"key\":\"L3QvYTE=\"}");
	assert_int_equal(etcd_json_lease_grant_req(86400, &s), 0);
	assert_json(s, "{\"TTL\":\"86400\"}");
	assert_int_equal(etcd_json_lease_id_req(INT64_C(3031663761004321853), &s), 0);
	assert_json(s, "{\"ID\":\"3031663761004321853\"}");
	assert_int_equal(etcd_json_auth_req("root", "rootpw", &s), 0);
	assert_json(s, "{\"name\":\"root\",\"password\":\"rootpw\"}");
	assert_int_equal(etcd_json_watch_req("/w/", 3, "/w0", 3, 19, &s), 0);
	assert_json(s, "{\"create_request\":{\"key\":\"L3cv\",\"range_end\":\"L3cw\","
		       "\"start_revision\":\"19\"}}");
	assert_int_equal(etcd_json_watch_req("/idle/k", 7, NULL, 0, 0, &s), 0);
	assert_json(s, "{\"create_request\":{\"key\":\"L2lkbGUvaw==\"}}");
}

static void test_txn_request(void **state)
{
	const char *k = "/t/sub/10.5.1.0-24";
	struct etcd_cmp cmp = { .key = k,
				.key_len = strlen(k),
				.target = ETCD_CMP_CREATE,
				.result = ETCD_CMP_EQUAL,
				.value = 0 };
	struct etcd_op put = {
		.type = ETCD_OP_PUT, .key = k, .key_len = strlen(k), .value = "v1", .value_len = 2
	};
	struct etcd_op get = { .type = ETCD_OP_RANGE, .key = k, .key_len = strlen(k) };
	struct etcd_op del = { .type = ETCD_OP_DELETE, .key = "/t/a1", .key_len = 5 };
	char *s;

	assert_int_equal(etcd_json_txn_req(&cmp, 1, &put, 1, &get, 1, &s), 0);
	assert_json(s, "{\"compare\":[{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\",\"result\":\"EQUAL\","
		       "\"target\":\"CREATE\",\"create_revision\":\"0\"}],"
		       "\"success\":[{\"request_put\":{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\","
		       "\"value\":\"djE=\"}}],"
		       "\"failure\":[{\"request_range\":{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\"}}]}");
	cmp.target = ETCD_CMP_LEASE;
	cmp.result = ETCD_CMP_NOT_EQUAL;
	cmp.value = 5;
	put.lease = INT64_C(3031663761004321848);
	assert_int_equal(etcd_json_txn_req(&cmp, 1, &put, 1, &del, 1, &s), 0);
	assert_json(s, "{\"compare\":[{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\",\"result\":"
		       "\"NOT_EQUAL\",\"target\":\"LEASE\",\"lease\":\"5\"}],"
		       "\"success\":[{\"request_put\":{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\","
		       "\"value\":\"djE=\",\"lease\":\"3031663761004321848\"}}],"
		       "\"failure\":[{\"request_delete_range\":{\"key\":\"L3QvYTE=\"}}]}");
	cmp.target = ETCD_CMP_MOD;
	cmp.result = ETCD_CMP_EQUAL;
	cmp.value = 11;
	assert_int_equal(etcd_json_txn_req(&cmp, 1, NULL, 0, NULL, 0, &s), 0);
	assert_json(s, "{\"compare\":[{\"key\":\"L3Qvc3ViLzEwLjUuMS4wLTI0\",\"result\":\"EQUAL\","
		       "\"target\":\"MOD\",\"mod_revision\":\"11\"}]}");
	cmp.target = (enum etcd_cmp_target)42;
	assert_int_equal(etcd_json_txn_req(&cmp, 1, NULL, 0, NULL, 0, &s), -EINVAL);
}

/* ---- replies ---- */

static void test_range(void **state)
{
	struct etcd_json_reply jr;

	parse_ok(ETCD_JSON_RANGE, range_kvs, &jr);
	assert_int_equal(jr.reply.err, 0);
	assert_int_equal(jr.reply.revision, 7);
	assert_int_equal(jr.reply.n_kvs, 4);
	assert_int_equal(jr.reply.count, 4);
	assert_false(jr.reply.more);
	assert_kv(&jr.reply.kvs[0], "/t/a1", "v1");
	assert_int_equal(jr.reply.kvs[0].create_revision, 4);
	assert_int_equal(jr.reply.kvs[0].mod_revision, 4);
	assert_int_equal(jr.reply.kvs[0].version, 1);
	assert_int_equal(jr.reply.kvs[0].lease, 0);
	assert_kv(&jr.reply.kvs[2], "/t/a3", "v3");
	assert_kv(&jr.reply.kvs[3], "/t/b", ""); /* value omitted when empty */
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_RANGE, range_empty, &jr);
	assert_int_equal(jr.reply.revision, 1);
	assert_int_equal(jr.reply.n_kvs, 0);
	assert_null(jr.reply.kvs);
	assert_int_equal(jr.reply.count, 0);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_RANGE, range_leased, &jr);
	assert_int_equal(jr.reply.n_kvs, 1);
	assert_kv(&jr.reply.kvs[0], "/t/leased", "x");
	assert_true(jr.reply.kvs[0].lease == INT64_C(3031663761004321831));
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_RANGE, range_limit, &jr);
	assert_int_equal(jr.reply.n_kvs, 2);
	assert_true(jr.reply.more);
	assert_int_equal(jr.reply.count, 4);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_DELETE, deleted_one, &jr);
	assert_int_equal(jr.reply.count, 1);
	assert_int_equal(jr.reply.revision, 9);
	etcd_json_reply_free(&jr);
	parse_ok(ETCD_JSON_PUT, range_empty, &jr);
	assert_int_equal(jr.reply.revision, 1);
	etcd_json_reply_free(&jr);
}

static void test_txn(void **state)
{
	struct etcd_json_reply jr;

	parse_ok(ETCD_JSON_TXN, txn_ok, &jr);
	assert_true(jr.reply.succeeded);
	assert_int_equal(jr.reply.revision, 11);
	assert_int_equal(jr.reply.n_kvs, 0);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_TXN, txn_failed_range, &jr);
	assert_false(jr.reply.succeeded);
	assert_int_equal(jr.reply.n_kvs, 1);
	assert_kv(&jr.reply.kvs[0], "/t/sub/10.5.1.0-24", "v1");
	assert_int_equal(jr.reply.kvs[0].create_revision, 11);
	assert_int_equal(jr.reply.count, 1);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_TXN, txn_failed_bare, &jr);
	assert_false(jr.reply.succeeded);
	assert_int_equal(jr.reply.revision, 12);
	etcd_json_reply_free(&jr);

	/* The first response_range counts, even if empty and not first. */
	parse_ok(ETCD_JSON_TXN, txn_mixed, &jr);
	assert_true(jr.reply.succeeded);
	assert_int_equal(jr.reply.n_kvs, 0);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_TXN, "{\"header\":" HDR("3") ",\"succeeded\":true}", &jr);
	assert_true(jr.reply.succeeded);
	etcd_json_reply_free(&jr);
}

static void test_lease(void **state)
{
	struct etcd_json_reply jr;

	parse_ok(ETCD_JSON_LEASE_GRANT, lease_grant, &jr);
	assert_true(jr.reply.lease_id == INT64_C(3031663761004321819));
	assert_int_equal(jr.reply.ttl, 86400);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_KEEPALIVE, keepalive_ok, &jr);
	assert_int_equal(jr.reply.err, 0);
	assert_true(jr.reply.lease_id == INT64_C(3031663761004321853));
	assert_int_equal(jr.reply.ttl, 60);
	assert_int_equal(jr.reply.revision, 16);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_KEEPALIVE, keepalive_gone, &jr);
	assert_int_equal(jr.reply.err, 0);
	assert_int_equal(jr.reply.lease_id, 777);
	assert_int_equal(jr.reply.ttl, 0);
	etcd_json_reply_free(&jr);

	/* Two answers in one stream: the first counts. */
	char two[512];

	snprintf(two, sizeof(two), "%s%s", keepalive_ok, keepalive_gone);
	parse_ok(ETCD_JSON_KEEPALIVE, two, &jr);
	assert_int_equal(jr.reply.ttl, 60);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_KEEPALIVE, keepalive_err, &jr);
	assert_int_equal(jr.reply.err, -EREMOTEIO);
	assert_int_equal(jr.reply.grpc_code, 14);
	assert_string_equal(jr.reply.message, "transport is closing");
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_TIMETOLIVE, ttl_unknown, &jr);
	assert_int_equal(jr.reply.ttl, -1);
	assert_int_equal(jr.reply.lease_id, 999);
	etcd_json_reply_free(&jr);
	parse_ok(ETCD_JSON_TIMETOLIVE, "{\"header\":" HDR("16") ",\"TTL\":\"-1\"}", &jr);
	assert_int_equal(jr.reply.ttl, -1);
	etcd_json_reply_free(&jr);
	parse_ok(ETCD_JSON_TIMETOLIVE, ttl_known, &jr);
	assert_int_equal(jr.reply.ttl, 299);
	etcd_json_reply_free(&jr);

	parse_ok(ETCD_JSON_REVOKE, "{\"header\":" HDR("18") "}", &jr);
	assert_int_equal(jr.reply.revision, 18);
	etcd_json_reply_free(&jr);
}

static void test_auth_and_errors(void **state)
{
	struct etcd_json_reply jr;

	parse_ok(ETCD_JSON_AUTH, auth_ok, &jr);
	assert_string_equal(jr.token, "yVExSSEKucIJBEmw.60");
	etcd_json_reply_free(&jr);
	assert_int_equal(
		etcd_json_parse_reply(ETCD_JSON_AUTH, range_empty, strlen(range_empty), &jr),
		-EPROTO);

	struct {
		const char *body;
		int code;
		const char *msg;
	} cases[] = {
		{ err_key, 3, "etcdserver: key is not provided" },
		{ err_lease, 5, "etcdserver: requested lease not found" },
		{ err_auth_off, 9, "etcdserver: authentication is not enabled" },
		{ err_token, 16, "etcdserver: invalid auth token" },
		{ "{\"error\":\"illegal base64 data at input byte 0\",\"code\":2}", 2,
		  "illegal base64 data at input byte 0" },
		{ keepalive_err, 14, "transport is closing" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(etcd_json_parse_error(cases[i].body, strlen(cases[i].body), &jr),
				 0);
		assert_int_equal(jr.reply.err, -EREMOTEIO);
		assert_int_equal(jr.reply.grpc_code, cases[i].code);
		assert_string_equal(jr.reply.message, cases[i].msg);
		etcd_json_reply_free(&jr);
	}
	assert_int_equal(etcd_json_parse_error("404 page not found\n", 19, &jr), -EPROTO);
	assert_int_equal(etcd_json_parse_error("", 0, &jr), -EPROTO);
	assert_int_equal(etcd_json_parse_error("{}", 2, &jr), -EPROTO);
}

static void test_malformed(void **state)
{
	const char *bad[] = {
		"",
		"[]",
		"{\"header\":5}",
		"{\"header\":{\"revision\":\"x\"}}",
		"{\"header\":{\"revision\":1.5}}",
		"{\"kvs\":{}}",
		"{\"kvs\":[{\"key\":\"L3Qv-_==\"}]}",
		"{\"kvs\":[{\"key\":\"L3QvYg\"}]}",
		"{\"kvs\":[{\"key\":\"L3Qv\",\"value\":7}]}",
		"{\"kvs\":[5]}",
		"{\"count\":true}",
		"{\"more\":\"yes\"}",
		"{\"kvs\":[]",
	};
	struct etcd_json_reply jr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			etcd_json_parse_reply(ETCD_JSON_RANGE, bad[i], strlen(bad[i]), &jr),
			-EPROTO);
	assert_int_equal(etcd_json_parse_reply(ETCD_JSON_TXN, "{\"responses\":[1]}", 17, &jr),
			 -EPROTO);
	assert_int_equal(etcd_json_parse_reply(ETCD_JSON_KEEPALIVE, "{}", 2, &jr), -EPROTO);
	assert_int_equal(etcd_json_parse_reply(ETCD_JSON_LEASE_GRANT, "{\"ID\":{}}", 9, &jr),
			 -EPROTO);
}

/* ---- watch ---- */

static void parse_watch_ok(const char *s, struct etcd_watch_msg *m)
{
	assert_int_equal(etcd_json_parse_watch(s, strlen(s), m), 0);
}

static void test_watch_messages(void **state)
{
	struct etcd_watch_msg m;

	parse_watch_ok(w_created, &m);
	assert_int_equal(m.type, ETCD_WMSG_CREATED);
	assert_true(m.has_revision);
	assert_int_equal(m.revision, 18);
	assert_int_equal(m.watch_id, 0);
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_put, &m);
	assert_int_equal(m.type, ETCD_WMSG_EVENTS);
	assert_int_equal(m.n_events, 1);
	assert_false(m.events[0].is_delete);
	assert_kv(&m.events[0].kv, "/w/a", "1");
	assert_int_equal(m.events[0].kv.mod_revision, 19);
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_two_puts, &m);
	assert_int_equal(m.type, ETCD_WMSG_EVENTS);
	assert_int_equal(m.revision, 21);
	assert_int_equal(m.n_events, 2);
	assert_kv(&m.events[0].kv, "/w/b", "2");
	assert_kv(&m.events[1].kv, "/w/c", "3");
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_delete, &m);
	assert_int_equal(m.type, ETCD_WMSG_EVENTS);
	assert_int_equal(m.n_events, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(m.events[i].is_delete);
		assert_int_equal(m.events[i].kv.mod_revision, 22);
		assert_int_equal(m.events[i].kv.value_len, 0);
	}
	assert_kv(&m.events[0].kv, "/w/a", "");
	assert_kv(&m.events[2].kv, "/w/c", "");
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_expired, &m);
	assert_int_equal(m.n_events, 1);
	assert_true(m.events[0].is_delete);
	assert_kv(&m.events[0].kv, "/w/exp", "");
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_compacted, &m);
	assert_int_equal(m.type, ETCD_WMSG_COMPACTED);
	assert_false(m.has_revision);
	assert_int_equal(m.compact_revision, 22);
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_auth_cancel, &m);
	assert_int_equal(m.type, ETCD_WMSG_CANCELED);
	assert_true(m.created);
	assert_int_equal(m.watch_id, -1);
	assert_non_null(strstr(m.reason, "user name is empty"));
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_progress, &m);
	assert_int_equal(m.type, ETCD_WMSG_PROGRESS);
	assert_int_equal(m.revision, 31);
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_progress_req, &m);
	assert_int_equal(m.type, ETCD_WMSG_PROGRESS);
	assert_int_equal(m.watch_id, -1);
	etcd_watch_msg_free(&m);

	parse_watch_ok(w_error, &m);
	assert_int_equal(m.type, ETCD_WMSG_ERROR);
	assert_int_equal(m.grpc_code, 14);
	assert_string_equal(m.reason, "transport is closing");
	etcd_watch_msg_free(&m);

	const char *bad[] = {
		"",
		"{}",
		"[1]",
		"{\"result\":1}",
		"{\"result\":{\"events\":[{\"type\":\"BOGUS\",\"kv\":{\"key\":\"L3Qv\"}}]}}",
		"{\"result\":{\"events\":[{}]}}",
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"@@@@\"}}]}}",
		"{\"result\":{\"created\":1}}",
		"{\"error\":\"x\"}",
		"{\"result\":{}}x",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(etcd_json_parse_watch(bad[i], strlen(bad[i]), &m), -EPROTO);
}

/* Feed a stream in pieces; collect (type, first key) per message. */
struct seen {
	int n;
	int types[16];
	char keys[16][16];
	int n_events[16];
};

static void drain(struct etcd_linebuf *lb, bool final, struct seen *s)
{
	const char *line;
	size_t len;
	int r;

	while ((r = etcd_linebuf_next(lb, final, &line, &len)) == 1) {
		struct etcd_watch_msg m;

		assert_int_equal(etcd_json_parse_watch(line, len, &m), 0);
		assert_true(s->n < 16);
		s->types[s->n] = m.type;
		s->n_events[s->n] = (int)m.n_events;
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s",
			 m.n_events ? m.events[0].kv.key : "");
		s->n++;
		etcd_watch_msg_free(&m);
	}
	assert_int_equal(r, 0);
}

static char *stream_text(bool trailing_newline)
{
	const char *msgs[] = { w_created, w_put, w_two_puts, w_delete, w_progress, w_compacted };
	size_t total = 0;
	char *s;

	for (size_t i = 0; i < 6; i++)
		total += strlen(msgs[i]) + 1;
	s = malloc(total + 1);
	assert_non_null(s);
	s[0] = '\0';
	for (size_t i = 0; i < 6; i++) {
		strcat(s, msgs[i]);
		if (i < 5 || trailing_newline)
			strcat(s, "\n");
	}
	return s;
}

static void check_seen(const struct seen *s)
{
	static const int want[] = { ETCD_WMSG_CREATED, ETCD_WMSG_EVENTS,   ETCD_WMSG_EVENTS,
				    ETCD_WMSG_EVENTS,  ETCD_WMSG_PROGRESS, ETCD_WMSG_COMPACTED };

	assert_int_equal(s->n, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(s->types[i], want[i]);
	assert_string_equal(s->keys[1], "/w/a");
	assert_string_equal(s->keys[2], "/w/b");
	assert_int_equal(s->n_events[2], 2);
	assert_int_equal(s->n_events[3], 3);
}

static void test_stream_split(void **state)
{
	for (int nl = 0; nl < 2; nl++) {
		char *text = stream_text(nl);
		size_t len = strlen(text);

		/* Two pieces, split at every byte boundary. */
		for (size_t cut = 0; cut <= len; cut++) {
			struct etcd_linebuf lb;
			struct seen s = { 0 };

			etcd_linebuf_init(&lb, 1 << 20);
			assert_int_equal(etcd_linebuf_append(&lb, text, cut), 0);
			drain(&lb, false, &s);
			assert_int_equal(etcd_linebuf_append(&lb, text + cut, len - cut), 0);
			drain(&lb, false, &s);
			drain(&lb, true, &s);
			check_seen(&s);
			etcd_linebuf_free(&lb);
		}
		/* One byte at a time, and in chunks of 7 with a drain after each. */
		for (size_t step = 1; step <= 7; step += 6) {
			struct etcd_linebuf lb;
			struct seen s = { 0 };

			etcd_linebuf_init(&lb, 1 << 20);
			for (size_t i = 0; i < len; i += step) {
				size_t n = len - i < step ? len - i : step;

				assert_int_equal(etcd_linebuf_append(&lb, text + i, n), 0);
				drain(&lb, false, &s);
			}
			/* Without '\n' the last object waits for the end of the transfer. */
			assert_int_equal(s.n, nl ? 6 : 5);
			drain(&lb, true, &s);
			check_seen(&s);
			etcd_linebuf_free(&lb);
		}
		free(text);
	}
}

/* Found by fuzz_watch_stream: asking an untouched buffer for a line (its buf is NULL). */
static void test_linebuf_empty(void **state)
{
	struct etcd_linebuf lb;
	const char *line;
	size_t n;

	etcd_linebuf_init(&lb, 64);
	assert_int_equal(etcd_linebuf_next(&lb, false, &line, &n), 0);
	assert_int_equal(etcd_linebuf_next(&lb, true, &line, &n), 0);
	/* A huge line's room is given back once it is consumed. */
	{
		static char big[200000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\n';
		etcd_linebuf_free(&lb);
		etcd_linebuf_init(&lb, sizeof(big));
		assert_int_equal(etcd_linebuf_append(&lb, big, sizeof(big)), 0);
		assert_int_equal(etcd_linebuf_next(&lb, false, &line, &n), 1);
		assert_int_equal(n, sizeof(big) - 1);
		assert_int_equal(etcd_linebuf_next(&lb, false, &line, &n), 0);
		assert_null(lb.buf);
		assert_int_equal(etcd_linebuf_append(&lb, "{}\n", 3), 0);
		assert_int_equal(etcd_linebuf_next(&lb, false, &line, &n), 1);
		assert_int_equal(n, 2);
	}
	etcd_linebuf_free(&lb);
}

static void test_linebuf_limits(void **state)
{
	struct etcd_linebuf lb;
	const char *line;
	size_t len;
	char big[100];

	memset(big, 'x', sizeof(big));
	etcd_linebuf_init(&lb, 64);
	assert_int_equal(etcd_linebuf_append(&lb, "\r\n\n  \n{}\r\n", 10), 0);
	assert_int_equal(etcd_linebuf_next(&lb, false, &line, &len), 1);
	assert_int_equal(len, 2);
	assert_memory_equal(line, "{}", 2);
	assert_int_equal(etcd_linebuf_next(&lb, true, &line, &len), 0);
	/* An unterminated line over the limit fails at append time. */
	assert_int_equal(etcd_linebuf_append(&lb, big, 50), 0);
	assert_int_equal(etcd_linebuf_append(&lb, big, 50), -EMSGSIZE);
	etcd_linebuf_reset(&lb);
	/* A terminated one arriving in one piece fails when read. */
	char term[101];

	memcpy(term, big, 100);
	term[100] = '\n';
	assert_int_equal(etcd_linebuf_append(&lb, term, 101), 0);
	assert_int_equal(etcd_linebuf_next(&lb, false, &line, &len), -EMSGSIZE);
	etcd_linebuf_reset(&lb);
	/* Many short lines in total over the limit are fine. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(etcd_linebuf_append(&lb, "{\"a\":1}\n", 8), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(etcd_linebuf_next(&lb, false, &line, &len), 1);
	assert_int_equal(etcd_linebuf_next(&lb, true, &line, &len), 0);
	etcd_linebuf_free(&lb);
	etcd_linebuf_free(NULL);
	etcd_json_reply_free(NULL);
	etcd_watch_msg_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_int64),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_txn_request),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_txn),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_auth_and_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_watch_messages),
		cmocka_unit_test(test_stream_split),
		cmocka_unit_test(test_linebuf_limits),
		cmocka_unit_test(test_linebuf_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
