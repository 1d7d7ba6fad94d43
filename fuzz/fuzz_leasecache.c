/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the lease cache through leasewatch_apply_kv(), as etcd's answers
 * feed it: length-delimited keys and values (NUL and control bytes
 * included), puts and deletes. After every step: every key the cache
 * holds is one lease_key_check() accepts, is found again by its full
 * bytes, a delete removes it, the count matches a model of the keys put,
 * and the byte count stays under the cap. etcd and the loop are stubs:
 * only the cache path runs.
 *
 * Input: records of op (1 byte), key length (1), key, value length (2, big
 * endian), value. op & 3: 0 put under <prefix>/subnets/ + key, 1 put of
 * the key as is, 2 delete <prefix>/subnets/ + key, 3 delete the key a
 * model entry names (key[0] picks it). op & 4: notify the owner.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"
#include "lease/leasecache.h"
#include "lease/leasecheck.h"
#include "lease/leasewatch.h"
#include "log.h"
#include "loop.h"

#define PREFIX	    "/coreos.com/network"
#define DIR	    PREFIX "/subnets"
#define MODEL_MAX   256
#define KEY_MAX	    (sizeof(DIR) + 256)
#define BYTES_LIMIT ((size_t)64 << 20)

/* ---- stubs: nothing is sent, no timer fires ---- */

int etcd_range(struct etcd *e, const char *key, size_t key_len, const char *range_end,
	       size_t range_end_len, int64_t revision, int64_t limit, etcd_reply_cb cb, void *arg)
{
	return -ENOTCONN;
}

int etcd_watch_start(struct etcd *e, const char *key, size_t key_len, const char *range_end,
		     size_t range_end_len, int64_t start_revision, const struct etcd_watch_ops *ops,
		     void *arg, struct etcd_watch **ret)
{
	return -ENOTCONN;
}

void etcd_watch_stop(struct etcd_watch *w)
{
}

size_t etcd_prefix_end(const char *key, size_t key_len, char *buf, size_t size)
{
	if (!key_len || key_len > size)
		return 0;
	memcpy(buf, key, key_len);
	buf[key_len - 1]++;
	return key_len;
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
}

void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms)
{
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
}

uint64_t loop_now_ms(void)
{
	return 0;
}

/* Log lines are formatted (a bad format would show) but not printed. */
int log_verbosity = 1;

static void sink(const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
}

#define LOG_STUB(name)                                                                             \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		sink(fmt, ap);                                                                     \
		va_end(ap);                                                                        \
	}
LOG_STUB(log_info)
LOG_STUB(log_warnx)
LOG_STUB(log_error)

void log_debug_(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sink(fmt, ap);
	va_end(ap);
}

bool log_limit_ok(struct log_limit *l, const char *what)
{
	return true;
}

/* ---- the model: the keys put and not deleted since ---- */

struct key {
	char b[KEY_MAX];
	size_t n;
};

static struct key model[MODEL_MAX];
static size_t n_model;
static size_t removed_calls;

static int model_find(const char *k, size_t n)
{
	for (size_t i = 0; i < n_model; i++)
		if (model[i].n == n && memcmp(model[i].b, k, n) == 0)
			return (int)i;
	return -1;
}

static void added(void *arg, const struct lease *l)
{
}

static void removed(void *arg, const struct lease *l)
{
	removed_calls++;
}

static void listed(void *arg, int64_t revision, bool first)
{
}

static const struct leasewatch_ops ops = { .added = added, .removed = removed, .listed = listed };

static void check(struct leasewatch *w)
{
	struct leasecache *c = leasewatch_cache(w);
	struct subnet_key sk;
	struct lease *l;
	size_t pos = 0, n = 0;

	if (leasecache_count(c) != n_model || leasecache_bytes(c) > BYTES_LIMIT)
		abort();
	for (size_t i = 0; i < n_model; i++) {
		l = leasecache_get(c, model[i].b, model[i].n);
		if (!l || l->key_len != model[i].n || memcmp(l->key, model[i].b, model[i].n) != 0 ||
		    l->key[l->key_len] != '\0')
			abort();
	}
	while ((l = leasecache_next(c, &pos))) {
		n++;
		if (model_find(l->key, l->key_len) < 0 || strlen(l->key) != l->key_len ||
		    lease_key_check(l->key, l->key_len, DIR, strlen(DIR), &sk, NULL, 0) < 0)
			abort();
	}
	if (n != n_model)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct leasewatch *w;
	int64_t rev = 0;

	if (leasewatch_new(NULL, NULL, PREFIX, &ops, NULL, &w) < 0)
		return 0;
	if (leasewatch_keep_backend_data(w, size & 1 ? "vxlan" : "host-gw") < 0)
		abort();
	n_model = 0;
	while (size >= 2) {
		uint8_t op = data[0], klen = data[1];
		char key[KEY_MAX];
		size_t kn = 0, vlen;
		const char *value;

		data += 2;
		size -= 2;
		if (size < klen)
			break;
		if ((op & 3) == 0 || (op & 3) == 2) {
			memcpy(key, DIR "/", sizeof(DIR));
			kn = sizeof(DIR);
		}
		memcpy(key + kn, data, klen);
		kn += klen;
		data += klen;
		size -= klen;
		vlen = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
		if (size >= 2) {
			data += 2;
			size -= 2;
		}
		if (vlen > size)
			vlen = size;
		value = (const char *)data;
		data += vlen;
		size -= vlen;

		if ((op & 3) < 2) {
			struct lease *l;
			int m;

			rev++;
			l = leasewatch_apply_kv(w, key, kn, value, vlen, 0, rev, rev, op & 4);
			m = model_find(key, kn);

			if (l) {
				if (l->key_len != kn || memcmp(l->key, key, kn) != 0)
					abort();
				if (m < 0) {
					if (n_model == MODEL_MAX)
						break;
					memcpy(model[n_model].b, key, kn);
					model[n_model++].n = kn;
				}
			} else if (m >= 0) {
				abort(); /* a cached key refused on its next put */
			}
		} else {
			int m;

			if ((op & 3) == 3) {
				if (!n_model)
					continue;
				m = klen ? (int)((unsigned char)key[0] % n_model) : 0;
				memcpy(key, model[m].b, model[m].n);
				kn = model[m].n;
			}
			leasewatch_forget(w, key, kn);
			if (leasecache_get(leasewatch_cache(w), key, kn))
				abort(); /* a delete must remove it */
			m = model_find(key, kn);
			if (m >= 0)
				model[m] = model[--n_model];
		}
		check(w);
	}
	leasewatch_free(w);
	return 0;
}
