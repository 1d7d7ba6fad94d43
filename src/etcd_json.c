/* SPDX-License-Identifier: Apache-2.0 */
/* etcd gateway JSON: request bodies, reply and watch-line parsing, line splitting. */
#include "etcd_json.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 and int64 ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t etcd_b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void etcd_b64_encode(const void *src, size_t n, char *dst)
{
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		*dst++ = b64_chars[v >> 18];
		*dst++ = b64_chars[(v >> 12) & 63];
		*dst++ = b64_chars[(v >> 6) & 63];
		*dst++ = b64_chars[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;

		*dst++ = b64_chars[v >> 18];
		*dst++ = b64_chars[(v >> 12) & 63];
		*dst++ = '=';
		*dst++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;

		*dst++ = b64_chars[v >> 18];
		*dst++ = b64_chars[(v >> 12) & 63];
		*dst++ = b64_chars[(v >> 6) & 63];
		*dst++ = '=';
	}
	*dst = '\0';
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int etcd_b64_decode(const char *src, size_t n, char *dst, size_t *ret_len)
{
	size_t i, o = 0;

	if (n % 4)
		return -EINVAL;
	for (i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;

		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)src[i + j];

			if (c == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after '=' */
				return -EINVAL;
			v[j] = b64_value(c);
			if (v[j] < 0)
				return -EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];

		dst[o++] = (char)(w >> 16);
		if (pad < 2)
			dst[o++] = (char)(w >> 8);
		if (pad < 1)
			dst[o++] = (char)w;
	}
	dst[o] = '\0';
	*ret_len = o;
	return 0;
}

int etcd_parse_int64(const char *s, size_t len, int64_t *ret)
{
	bool neg = false;
	uint64_t v = 0, limit;
	size_t i = 0;

	if (len && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == len)
		return -EINVAL;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (neg)
		*ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*ret = (int64_t)v;
	return 0;
}

size_t etcd_prefix_end(const char *key, size_t key_len, char *buf, size_t size)
{
	size_t i = key_len, n;

	/* Like clientv3.GetPrefixRangeEnd: bump the last byte below 0xff, drop the rest. */
	while (i > 0 && (unsigned char)key[i - 1] == 0xff)
		i--;
	n = i ? i : 1;
	if (n > size)
		return 0;
	if (i) {
		memcpy(buf, key, i);
		buf[i - 1] = (char)((unsigned char)key[i - 1] + 1);
	} else {
		buf[0] = '\0'; /* all 0xff: no prefix end, "\0" means every key >= key */
	}
	if (n < size)
		buf[n] = '\0';
	return n;
}

/* ---- request bodies ---- */

/* Builders collect failures in *ok so each call site stays one line. */
static void set_b64(json_t *o, const char *name, const void *p, size_t n, bool *ok)
{
	size_t elen = etcd_b64_encoded_len(n);
	char *s = malloc(elen + 1);

	if (!s) {
		*ok = false;
		return;
	}
	etcd_b64_encode(p, n, s);
	if (json_object_set_new(o, name, json_stringn(s, elen)) < 0)
		*ok = false;
	free(s);
}

static void set_i64(json_t *o, const char *name, int64_t v, bool *ok)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	if (json_object_set_new(o, name, json_string(s)) < 0)
		*ok = false;
}

static void set_str(json_t *o, const char *name, const char *v, bool *ok)
{
	if (json_object_set_new(o, name, json_string(v)) < 0)
		*ok = false;
}

static void set_obj(json_t *o, const char *name, json_t *v, bool *ok)
{
	if (json_object_set_new(o, name, v) < 0)
		*ok = false;
}

static void append_obj(json_t *a, json_t *v, bool *ok)
{
	if (json_array_append_new(a, v) < 0)
		*ok = false;
}

static json_t *new_obj(bool *ok)
{
	json_t *o = json_object();

	if (!o)
		*ok = false;
	return o;
}

/* Consumes root. */
static int dump(json_t *root, bool ok, char **ret)
{
	char *s = NULL;

	if (ok && root)
		s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int etcd_json_range_req(const char *key, size_t key_len, const char *range_end,
			size_t range_end_len, int64_t revision, int64_t limit, char **ret)
{
	bool ok = true;
	json_t *o = new_obj(&ok);

	if (o) {
		set_b64(o, "key", key, key_len, &ok);
		if (range_end)
			set_b64(o, "range_end", range_end, range_end_len, &ok);
		if (revision)
			set_i64(o, "revision", revision, &ok);
		if (limit)
			set_i64(o, "limit", limit, &ok);
	}
	return dump(o, ok, ret);
}

static json_t *put_obj(const char *key, size_t key_len, const char *value, size_t value_len,
		       int64_t lease, bool *ok)
{
	json_t *o = new_obj(ok);

	if (o) {
		set_b64(o, "key", key, key_len, ok);
		set_b64(o, "value", value ? value : "", value ? value_len : 0, ok);
		if (lease)
			set_i64(o, "lease", lease, ok);
	}
	return o;
}

int etcd_json_put_req(const char *key, size_t key_len, const char *value, size_t value_len,
		      int64_t lease, char **ret)
{
	bool ok = true;

	return dump(put_obj(key, key_len, value, value_len, lease, &ok), ok, ret);
}

static json_t *key_obj(const char *key, size_t key_len, bool *ok)
{
	json_t *o = new_obj(ok);

	if (o)
		set_b64(o, "key", key, key_len, ok);
	return o;
}

int etcd_json_delete_req(const char *key, size_t key_len, char **ret)
{
	bool ok = true;

	return dump(key_obj(key, key_len, &ok), ok, ret);
}

static const char *const cmp_results[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };

static json_t *cmp_obj(const struct etcd_cmp *c, bool *ok)
{
	static const char *const targets[] = { "VERSION", "CREATE", "MOD", "LEASE" };
	static const char *const fields[] = { "version", "create_revision", "mod_revision",
					      "lease" };
	json_t *o;

	if ((unsigned)c->target > ETCD_CMP_LEASE || (unsigned)c->result > ETCD_CMP_NOT_EQUAL) {
		*ok = false;
		return NULL;
	}
	o = new_obj(ok);
	if (o) {
		set_b64(o, "key", c->key, c->key_len, ok);
		set_str(o, "result", cmp_results[c->result], ok);
		set_str(o, "target", targets[c->target], ok);
		set_i64(o, fields[c->target], c->value, ok);
	}
	return o;
}

static json_t *op_obj(const struct etcd_op *op, bool *ok)
{
	json_t *o = new_obj(ok);

	if (!o)
		return NULL;
	switch (op->type) {
	case ETCD_OP_PUT:
		set_obj(o, "request_put",
			put_obj(op->key, op->key_len, op->value, op->value_len, op->lease, ok), ok);
		break;
	case ETCD_OP_RANGE:
		set_obj(o, "request_range", key_obj(op->key, op->key_len, ok), ok);
		break;
	case ETCD_OP_DELETE:
		set_obj(o, "request_delete_range", key_obj(op->key, op->key_len, ok), ok);
		break;
	default:
		*ok = false;
	}
	return o;
}

static void set_ops(json_t *o, const char *name, const struct etcd_op *ops, size_t n, bool *ok)
{
	json_t *a;

	if (!n)
		return;
	a = json_array();
	if (!a) {
		*ok = false;
		return;
	}
	for (size_t i = 0; i < n; i++)
		append_obj(a, op_obj(&ops[i], ok), ok);
	set_obj(o, name, a, ok);
}

int etcd_json_txn_req(const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *success,
		      size_t n_success, const struct etcd_op *failure, size_t n_failure, char **ret)
{
	bool ok = true;
	json_t *o = new_obj(&ok);

	if (o && n_cmp) {
		json_t *a = json_array();

		if (!a)
			ok = false;
		for (size_t i = 0; a && i < n_cmp; i++)
			append_obj(a, cmp_obj(&cmp[i], &ok), &ok);
		set_obj(o, "compare", a, &ok);
	}
	if (o) {
		set_ops(o, "success", success, n_success, &ok);
		set_ops(o, "failure", failure, n_failure, &ok);
	}
	if (!ok) {
		json_decref(o);
		/* Only bad enum values and allocation failures get here. */
		for (size_t i = 0; i < n_cmp; i++)
			if ((unsigned)cmp[i].target > ETCD_CMP_LEASE ||
			    (unsigned)cmp[i].result > ETCD_CMP_NOT_EQUAL)
				return -EINVAL;
		for (size_t i = 0; i < n_success; i++)
			if ((unsigned)success[i].type > ETCD_OP_DELETE)
				return -EINVAL;
		for (size_t i = 0; i < n_failure; i++)
			if ((unsigned)failure[i].type > ETCD_OP_DELETE)
				return -EINVAL;
		return -ENOMEM;
	}
	return dump(o, ok, ret);
}

int etcd_json_lease_grant_req(int64_t ttl, char **ret)
{
	bool ok = true;
	json_t *o = new_obj(&ok);

	if (o)
		set_i64(o, "TTL", ttl, &ok);
	return dump(o, ok, ret);
}

int etcd_json_lease_id_req(int64_t id, char **ret)
{
	bool ok = true;
	json_t *o = new_obj(&ok);

	if (o)
		set_i64(o, "ID", id, &ok);
	return dump(o, ok, ret);
}

int etcd_json_auth_req(const char *name, const char *password, char **ret)
{
	bool ok = true;
	json_t *o = new_obj(&ok);

	if (o) {
		set_str(o, "name", name ? name : "", &ok);
		set_str(o, "password", password ? password : "", &ok);
	}
	return dump(o, ok, ret);
}

int etcd_json_watch_req(const char *key, size_t key_len, const char *range_end,
			size_t range_end_len, int64_t start_revision, char **ret)
{
	bool ok = true;
	json_t *o = new_obj(&ok), *c = new_obj(&ok);

	if (c) {
		set_b64(c, "key", key, key_len, &ok);
		if (range_end)
			set_b64(c, "range_end", range_end, range_end_len, &ok);
		if (start_revision)
			set_i64(c, "start_revision", start_revision, &ok);
	}
	if (o)
		set_obj(o, "create_request", c, &ok);
	else
		json_decref(c);
	return dump(o, ok, ret);
}

/* ---- reply parsing ---- */

/* Missing or null: 0. The gateway sends strings; plain numbers are accepted too. */
static int get_i64(const json_t *o, const char *name, int64_t *ret)
{
	const json_t *v = json_object_get(o, name);

	*ret = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return etcd_parse_int64(json_string_value(v), json_string_length(v), ret) ? -EPROTO
											  : 0;
	if (json_is_integer(v)) {
		*ret = (int64_t)json_integer_value(v);
		return 0;
	}
	return -EPROTO;
}

static int get_bool(const json_t *o, const char *name, bool *ret)
{
	const json_t *v = json_object_get(o, name);

	*ret = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -EPROTO;
	*ret = json_is_true(v);
	return 0;
}

/* Missing or null: NULL. */
static int get_str(const json_t *o, const char *name, const json_t **ret)
{
	const json_t *v = json_object_get(o, name);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EPROTO;
	*ret = v;
	return 0;
}

static int dup_str(const json_t *o, const char *name, char **ret)
{
	const json_t *v;
	int r = get_str(o, name, &v);

	*ret = NULL;
	if (r < 0 || !v)
		return r;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

static int get_int(const json_t *o, const char *name, int *ret)
{
	int64_t v;
	int r = get_i64(o, name, &v);

	if (r < 0)
		return r;
	if (v < INT32_MIN || v > INT32_MAX)
		return -EPROTO;
	*ret = (int)v;
	return 0;
}

static int header_revision(const json_t *o, int64_t *ret)
{
	const json_t *h = json_object_get(o, "header");

	*ret = 0;
	if (!h || json_is_null(h))
		return 0;
	if (!json_is_object(h))
		return -EPROTO;
	return get_i64(h, "revision", ret);
}

/* Bytes needed in the arena for one kv's decoded key and value. */
static int kv_size(const json_t *kv, size_t *sz)
{
	const json_t *k, *v;

	if (!json_is_object(kv) || get_str(kv, "key", &k) < 0 || get_str(kv, "value", &v) < 0)
		return -EPROTO;
	*sz += (k ? json_string_length(k) / 4 * 3 : 0) + 1;
	*sz += (v ? json_string_length(v) / 4 * 3 : 0) + 1;
	return 0;
}

static int decode_into(const json_t *s, char **cur, const char **ret, size_t *ret_len)
{
	size_t n = 0;

	*ret = *cur;
	if (!s) {
		**cur = '\0';
		*ret_len = 0;
		*cur += 1;
		return 0;
	}
	if (etcd_b64_decode(json_string_value(s), json_string_length(s), *cur, &n) < 0)
		return -EPROTO;
	*ret_len = n;
	*cur += n + 1;
	return 0;
}

static int kv_fill(const json_t *kv, struct etcd_kv *out, char **cur)
{
	const json_t *k, *v;

	get_str(kv, "key", &k);
	get_str(kv, "value", &v);
	if (decode_into(k, cur, &out->key, &out->key_len) < 0 ||
	    decode_into(v, cur, &out->value, &out->value_len) < 0 ||
	    get_i64(kv, "create_revision", &out->create_revision) < 0 ||
	    get_i64(kv, "mod_revision", &out->mod_revision) < 0 ||
	    get_i64(kv, "version", &out->version) < 0 || get_i64(kv, "lease", &out->lease) < 0)
		return -EPROTO;
	return 0;
}

static int parse_kvs(const json_t *o, struct etcd_json_reply *ret)
{
	const json_t *a = json_object_get(o, "kvs");
	size_t n, sz = 0, i;
	char *cur;

	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -EPROTO;
	n = json_array_size(a);
	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if (kv_size(json_array_get(a, i), &sz) < 0)
			return -EPROTO;
	ret->kvs = calloc(n, sizeof(*ret->kvs));
	ret->arena = malloc(sz);
	if (!ret->kvs || !ret->arena)
		return -ENOMEM;
	cur = ret->arena;
	for (i = 0; i < n; i++)
		if (kv_fill(json_array_get(a, i), &ret->kvs[i], &cur) < 0)
			return -EPROTO;
	ret->reply.kvs = ret->kvs;
	ret->reply.n_kvs = n;
	return 0;
}

static int parse_range(const json_t *o, struct etcd_json_reply *ret)
{
	if (get_i64(o, "count", &ret->reply.count) < 0 || get_bool(o, "more", &ret->reply.more) < 0)
		return -EPROTO;
	return parse_kvs(o, ret);
}

static int parse_txn(const json_t *o, struct etcd_json_reply *ret)
{
	const json_t *a = json_object_get(o, "responses");

	if (get_bool(o, "succeeded", &ret->reply.succeeded) < 0)
		return -EPROTO;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -EPROTO;
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *el = json_array_get(a, i), *rr;

		if (!json_is_object(el))
			return -EPROTO;
		rr = json_object_get(el, "response_range");
		if (!rr)
			continue;
		if (!json_is_object(rr))
			return -EPROTO;
		return parse_range(rr, ret);
	}
	return 0;
}

/* {"grpc_code":14,"http_code":503,"message":"…","http_status":"…"} inside a stream. */
static int parse_stream_error(const json_t *err, int *code, char **message)
{
	if (!json_is_object(err) || get_int(err, "grpc_code", code) < 0 ||
	    dup_str(err, "message", message) < 0)
		return -EPROTO;
	return 0;
}

static int parse_reply_obj(enum etcd_json_kind kind, const json_t *o, struct etcd_json_reply *ret)
{
	struct etcd_reply *r = &ret->reply;
	const json_t *tok;

	if (!json_is_object(o) || header_revision(o, &r->revision) < 0)
		return -EPROTO;
	switch (kind) {
	case ETCD_JSON_RANGE:
		return parse_range(o, ret);
	case ETCD_JSON_PUT:
	case ETCD_JSON_REVOKE:
		return 0;
	case ETCD_JSON_DELETE:
		return get_i64(o, "deleted", &r->count);
	case ETCD_JSON_TXN:
		return parse_txn(o, ret);
	case ETCD_JSON_LEASE_GRANT:
	case ETCD_JSON_KEEPALIVE:
	case ETCD_JSON_TIMETOLIVE:
		if (get_i64(o, "ID", &r->lease_id) < 0 || get_i64(o, "TTL", &r->ttl) < 0)
			return -EPROTO;
		return 0;
	case ETCD_JSON_AUTH:
		if (get_str(o, "token", &tok) < 0 || !tok)
			return -EPROTO;
		ret->token = strdup(json_string_value(tok));
		return ret->token ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

int etcd_json_parse_reply(enum etcd_json_kind kind, const char *buf, size_t len,
			  struct etcd_json_reply *ret)
{
	json_t *root;
	int r;

	memset(ret, 0, sizeof(*ret));
	/* A keepalive answers with lines; only the first object matters. */
	root = json_loadb(buf, len, kind == ETCD_JSON_KEEPALIVE ? JSON_DISABLE_EOF_CHECK : 0, NULL);
	if (!root)
		return -EPROTO;
	if (!json_is_object(root)) {
		r = -EPROTO;
	} else if (kind == ETCD_JSON_KEEPALIVE) {
		const json_t *res = json_object_get(root, "result");
		const json_t *err = json_object_get(root, "error");

		if (err) {
			r = parse_stream_error(err, &ret->reply.grpc_code, &ret->message);
			ret->reply.err = -EREMOTEIO;
		} else if (res) {
			r = parse_reply_obj(kind, res, ret);
		} else {
			r = -EPROTO;
		}
	} else {
		r = parse_reply_obj(kind, root, ret);
	}
	json_decref(root);
	if (r < 0) {
		etcd_json_reply_free(ret);
		return r;
	}
	ret->reply.message = ret->message;
	return 0;
}

int etcd_json_parse_error(const char *buf, size_t len, struct etcd_json_reply *ret)
{
	json_t *root, *err;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	root = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL);
	if (!root)
		return -EPROTO;
	err = json_object_get(root, "error");
	if (!json_is_object(root) || !err) {
		r = -EPROTO;
	} else if (json_is_object(err)) {
		r = parse_stream_error(err, &ret->reply.grpc_code, &ret->message);
	} else if (get_int(root, "code", &ret->reply.grpc_code) < 0 ||
		   dup_str(root, "message", &ret->message) < 0) {
		r = -EPROTO;
	} else if (!ret->message) {
		r = dup_str(root, "error", &ret->message);
	}
	json_decref(root);
	if (r < 0) {
		etcd_json_reply_free(ret);
		return r;
	}
	ret->reply.err = -EREMOTEIO;
	ret->reply.message = ret->message;
	return 0;
}

void etcd_json_reply_free(struct etcd_json_reply *r)
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

static int parse_event(const json_t *ev, struct etcd_event *out, char **cur)
{
	const json_t *type = json_object_get(ev, "type");
	const json_t *kv = json_object_get(ev, "kv");

	if (!type || json_is_null(type) ||
	    (json_is_string(type) && !strcmp(json_string_value(type), "PUT")) ||
	    (json_is_integer(type) && json_integer_value(type) == 0))
		out->is_delete = false;
	else if ((json_is_string(type) && !strcmp(json_string_value(type), "DELETE")) ||
		 (json_is_integer(type) && json_integer_value(type) == 1))
		out->is_delete = true;
	else
		return -EPROTO;
	return kv_fill(kv, &out->kv, cur);
}

static int parse_events(const json_t *res, struct etcd_watch_msg *m)
{
	const json_t *a = json_object_get(res, "events");
	size_t n, sz = 0, i;
	char *cur;

	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -EPROTO;
	n = json_array_size(a);
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		const json_t *ev = json_array_get(a, i);

		if (!json_is_object(ev) || kv_size(json_object_get(ev, "kv"), &sz) < 0)
			return -EPROTO;
	}
	m->events = calloc(n, sizeof(*m->events));
	m->arena = malloc(sz);
	if (!m->events || !m->arena)
		return -ENOMEM;
	cur = m->arena;
	for (i = 0; i < n; i++)
		if (parse_event(json_array_get(a, i), &m->events[i], &cur) < 0)
			return -EPROTO;
	m->n_events = n;
	return 0;
}

static int parse_watch_result(const json_t *res, struct etcd_watch_msg *m)
{
	bool canceled;
	int r;

	if (!json_is_object(res) || header_revision(res, &m->revision) < 0 ||
	    get_i64(res, "watch_id", &m->watch_id) < 0 ||
	    get_bool(res, "created", &m->created) < 0 || get_bool(res, "canceled", &canceled) < 0 ||
	    get_i64(res, "compact_revision", &m->compact_revision) < 0 ||
	    dup_str(res, "cancel_reason", &m->reason) < 0)
		return -EPROTO;
	m->has_revision = m->revision > 0;
	if (canceled) {
		m->type = m->compact_revision > 0 ? ETCD_WMSG_COMPACTED : ETCD_WMSG_CANCELED;
		return 0;
	}
	r = parse_events(res, m);
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

int etcd_json_parse_watch(const char *line, size_t len, struct etcd_watch_msg *ret)
{
	json_t *root, *res, *err;
	int r;

	memset(ret, 0, sizeof(*ret));
	root = json_loadb(line, len, 0, NULL);
	if (!root)
		return -EPROTO;
	res = json_object_get(root, "result");
	err = json_object_get(root, "error");
	if (!json_is_object(root)) {
		r = -EPROTO;
	} else if (err) {
		ret->type = ETCD_WMSG_ERROR;
		r = parse_stream_error(err, &ret->grpc_code, &ret->reason);
	} else if (res) {
		r = parse_watch_result(res, ret);
	} else {
		r = -EPROTO;
	}
	json_decref(root);
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

/* ---- line splitting ---- */

#define LINEBUF_KEEP (64 * 1024)

void etcd_linebuf_init(struct etcd_linebuf *lb, size_t max_line)
{
	memset(lb, 0, sizeof(*lb));
	lb->max_line = max_line;
}

int etcd_linebuf_append(struct etcd_linebuf *lb, const void *data, size_t n)
{
	const char *nl;

	if (!n)
		return 0;
	if (lb->start && lb->len + n > lb->cap) {
		memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
		lb->len -= lb->start;
		lb->tail -= lb->start;
		lb->start = 0;
	}
	if (lb->len + n > lb->cap) {
		size_t cap = lb->cap ? lb->cap : 4096;
		char *p;

		while (cap < lb->len + n)
			cap *= 2;
		p = realloc(lb->buf, cap);
		if (!p)
			return -ENOMEM;
		lb->buf = p;
		lb->cap = cap;
	}
	memcpy(lb->buf + lb->len, data, n);
	nl = memrchr(data, '\n', n);
	if (nl)
		lb->tail = lb->len + (size_t)(nl - (const char *)data) + 1;
	lb->len += n;
	if (lb->len - lb->tail > lb->max_line)
		return -EMSGSIZE;
	return 0;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int etcd_linebuf_next(struct etcd_linebuf *lb, bool final, const char **line, size_t *len)
{
	for (;;) {
		const char *s, *nl;
		size_t n;

		if (lb->start == lb->len) {
			lb->start = lb->len = lb->tail = 0;
			/* A burst of events came as one huge line: do not keep its room. */
			if (lb->cap > LINEBUF_KEEP) {
				free(lb->buf);
				lb->buf = NULL;
				lb->cap = 0;
			}
			return 0;
		}
		s = lb->buf + lb->start; /* buf is NULL while nothing was appended */
		nl = memchr(s, '\n', lb->len - lb->start);
		if (nl) {
			n = (size_t)(nl - s);
			lb->start += n + 1;
		} else if (final) {
			n = lb->len - lb->start;
			lb->start = lb->len;
		} else {
			return 0;
		}
		if (lb->tail < lb->start)
			lb->tail = lb->start;
		if (n && s[n - 1] == '\r')
			n--;
		if (blank(s, n))
			continue;
		if (n > lb->max_line)
			return -EMSGSIZE;
		*line = s;
		*len = n;
		return 1;
	}
}

void etcd_linebuf_reset(struct etcd_linebuf *lb)
{
	lb->start = lb->len = lb->tail = 0;
}

void etcd_linebuf_free(struct etcd_linebuf *lb)
{
	if (!lb)
		return;
	free(lb->buf);
	etcd_linebuf_init(lb, lb->max_line);
}
