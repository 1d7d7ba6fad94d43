/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Smoke test of src/etcd.c against real loopback etcd servers it starts itself.
 * Not part of the daemon. Build (tests/integration/test_etcd_client.sh does):
 *   gcc -std=gnu11 -D_GNU_SOURCE -Isrc -o etcd_smoke tests/etcd_smoke.c \
 *       src/etcd.c src/etcd_json.c src/httpc.c src/http_parse.c src/tls.c \
 *       src/textutil.c src/loop.c src/log.c -ljansson
 * Run: ./etcd_smoke [-v]   (needs /usr/bin/etcd, openssl for the TLS part)
 * Ports 23791-23796 on 127.0.0.1; 23799 must be closed.
 * Exits non-zero on any mismatch.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd.h"
#include "http_parse.h"
#include "log.h"
#include "loop.h"

extern char **environ;

#define EP	 "http://127.0.0.1:23791"
#define EP_DEAD	 "http://127.0.0.1:23799"
#define EP_TLS	 "https://127.0.0.1:23795"
#define EP_FAKE	 "http://127.0.0.1:23797"
#define WAIT_MAX 15000

static struct loop *L;
static int failures, checks;
static char tmpdir[] = "/tmp/etcd_smoke.XXXXXX";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* ---- loop helpers ---- */

static void on_tick(void *arg)
{
	loop_stop(L);
}

/* Run the loop until ms pass or a callback calls loop_stop(), whichever is first. */
static void run_until_stopped(uint64_t ms)
{
	struct loop_timer t;

	loop_timer_init(&t, on_tick, NULL);
	loop_timer_arm(L, &t, ms);
	loop_run(L);
	loop_timer_cancel(L, &t);
}

/* Run the loop for the whole of ms, whatever the callbacks do. */
static void run_for(uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;

	for (uint64_t now = loop_now_ms(); now < end; now = loop_now_ms())
		run_until_stopped(end - now);
}

/* Run the loop until cond holds or ms pass; callbacks call loop_stop() to wake us. */
#define WAIT(cond, ms)                                                                             \
	({                                                                                         \
		uint64_t _end = loop_now_ms() + (ms);                                              \
		while (!(cond) && loop_now_ms() < _end)                                            \
			run_until_stopped(20);                                                     \
		(cond);                                                                            \
	})

/* ---- unary calls, made synchronous for the test ---- */

struct res {
	bool done;
	int calls;
	int err, grpc;
	char msg[256];
	int64_t rev, count, lease_id, ttl;
	bool succeeded, more;
	size_t n;
	char keys[8][128];
	char vals[8][128];
	size_t vlens[8];
	int64_t leases[8];
	int64_t mods[8];
};

static void on_reply(void *arg, const struct etcd_reply *r)
{
	struct res *s = arg;

	s->calls++;
	s->done = true;
	s->err = r->err;
	s->grpc = r->grpc_code;
	snprintf(s->msg, sizeof(s->msg), "%s", r->message ? r->message : "");
	s->rev = r->revision;
	s->count = r->count;
	s->lease_id = r->lease_id;
	s->ttl = r->ttl;
	s->succeeded = r->succeeded;
	s->more = r->more;
	s->n = r->n_kvs;
	for (size_t i = 0; i < r->n_kvs && i < 8; i++) {
		snprintf(s->keys[i], sizeof(s->keys[i]), "%s", r->kvs[i].key);
		memcpy(s->vals[i], r->kvs[i].value,
		       r->kvs[i].value_len < 127 ? r->kvs[i].value_len + 1 : 127);
		s->vlens[i] = r->kvs[i].value_len;
		s->leases[i] = r->kvs[i].lease;
		s->mods[i] = r->kvs[i].mod_revision;
	}
	loop_stop(L);
}

/* Check the call queued, did not call back synchronously, then wait for it. */
static void finish(int rc, struct res *s, const char *what)
{
	CHECK(rc == 0, "%s returned %d", what, rc);
	CHECK(!s->done, "%s called back synchronously", what);
	CHECK(WAIT(s->done, WAIT_MAX), "%s: no reply", what);
	CHECK(s->calls == 1, "%s: %d callbacks", what, s->calls);
}

static struct res put(struct etcd *e, const char *k, const char *v, int64_t lease)
{
	struct res s = { 0 };

	finish(etcd_put(e, k, strlen(k), v, strlen(v), lease, on_reply, &s), &s, "put");
	return s;
}

static struct res get(struct etcd *e, const char *k, bool prefix)
{
	struct res s = { 0 };
	char end[256];
	size_t n = prefix ? etcd_prefix_end(k, strlen(k), end, sizeof(end)) : 0;

	finish(etcd_range(e, k, strlen(k), prefix ? end : NULL, n, 0, 0, on_reply, &s), &s,
	       "range");
	return s;
}

static struct res create(struct etcd *e, const char *k, const char *v, int64_t lease)
{
	struct etcd_cmp cmp = { .key = k,
				.key_len = strlen(k),
				.target = ETCD_CMP_CREATE,
				.result = ETCD_CMP_EQUAL,
				.value = 0 };
	struct etcd_op ok = { .type = ETCD_OP_PUT,
			      .key = k,
			      .key_len = strlen(k),
			      .value = v,
			      .value_len = strlen(v),
			      .lease = lease };
	struct etcd_op fail = { .type = ETCD_OP_RANGE, .key = k, .key_len = strlen(k) };
	struct res s = { 0 };

	finish(etcd_txn(e, &cmp, 1, &ok, 1, &fail, 1, on_reply, &s), &s, "txn");
	return s;
}

/* ---- blocking admin calls, test-only ---- */

struct body {
	char buf[4096];
	size_t len;
};

/* Blocking POST to a plain http:// URL on loopback, for test set-up (Connection: close). */
static long admin(const char *url, const char *json, const char *token, struct body *out)
{
	struct http_url u;
	struct http_parser p;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *why, *path;
	char req[2048], buf[4096];
	long code = 0;
	int fd, n;

	memset(out, 0, sizeof(*out));
	path = strchr(url + 7, '/');
	if (strncmp(url, "http://", 7) || !path || http_url_parse(url, &u, &why) < 0)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons((uint16_t)atoi(u.port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	n = snprintf(req, sizeof(req),
		     "POST %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n%s%s%s"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		     path, u.host, u.port, token ? "Authorization: " : "", token ? token : "",
		     token ? "\r\n" : "", json ? strlen(json) : 0, json ? json : "");
	if (write(fd, req, (size_t)n) != n)
		goto out;
	http_parser_init(&p);
	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf));
		size_t off = 0, used, blen;
		const char *body;
		enum http_event ev;

		if (got <= 0) {
			if (http_parse_eof(&p) == HTTP_EV_DONE)
				code = p.status;
			break;
		}
		do {
			ev = http_parse(&p, buf + off, (size_t)got - off, &used, &body, &blen);
			off += used;
			if (ev == HTTP_EV_BODY) {
				size_t room = sizeof(out->buf) - 1 - out->len;

				memcpy(out->buf + out->len, body, blen < room ? blen : room);
				out->len += blen < room ? blen : room;
				out->buf[out->len] = '\0';
			}
		} while (ev == HTTP_EV_HEAD || ev == HTTP_EV_BODY);
		if (ev == HTTP_EV_DONE)
			code = p.status;
		if (ev == HTTP_EV_DONE || ev == HTTP_EV_ERROR)
			break;
	}
out:
	if (fd >= 0)
		close(fd);
	return code;
}

static pid_t spawn_etcd(const char *name, int cport, int pport, const char *const *extra)
{
	char dir[256], log[256], curl_[64], purl[64], cluster[128];
	const char *argv[40];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int n = 0;
	const char *scheme = extra ? "https" : "http";

	snprintf(dir, sizeof(dir), "%s/%s.data", tmpdir, name);
	snprintf(log, sizeof(log), "%s/%s.log", tmpdir, name);
	snprintf(curl_, sizeof(curl_), "%s://127.0.0.1:%d", scheme, cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "%s=%s", name, purl);
	argv[n++] = "etcd";
	argv[n++] = "--name";
	argv[n++] = name;
	argv[n++] = "--data-dir";
	argv[n++] = dir;
	argv[n++] = "--listen-client-urls";
	argv[n++] = curl_;
	argv[n++] = "--advertise-client-urls";
	argv[n++] = curl_;
	argv[n++] = "--listen-peer-urls";
	argv[n++] = purl;
	argv[n++] = "--initial-advertise-peer-urls";
	argv[n++] = purl;
	argv[n++] = "--initial-cluster";
	argv[n++] = cluster;
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawn(&pid, "/usr/bin/etcd", &fa, NULL, (char *const *)(void *)argv, environ)) {
		perror("posix_spawn etcd");
		exit(2);
	}
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static void wait_etcd_up(int cport)
{
	char url[128];
	struct body b;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v3/maintenance/status", cport);
	for (int i = 0; i < 150; i++) {
		if (admin(url, "{}", NULL, &b) == 200)
			return;
		usleep(100000);
	}
	fprintf(stderr, "etcd on %d did not come up\n", cport);
	exit(2);
}

static void stop_etcd(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* ---- watches ---- */

struct wstate {
	int ups, downs, msgs;
	bool up;
	int n;
	struct {
		bool del;
		char key[128];
		char val[128];
		int64_t mod;
	} ev[64];
	int64_t last_rev;
	bool compacted;
	int64_t compact_rev;
	struct etcd_watch **stop_on_event; /* stop this watch from inside events() */
};

static void w_events(void *arg, int64_t rev, const struct etcd_event *ev, size_t n)
{
	struct wstate *s = arg;

	s->msgs++;
	s->last_rev = rev;
	for (size_t i = 0; i < n && s->n < 64; i++, s->n++) {
		s->ev[s->n].del = ev[i].is_delete;
		snprintf(s->ev[s->n].key, 128, "%s", ev[i].kv.key);
		snprintf(s->ev[s->n].val, 128, "%s", ev[i].kv.value ? ev[i].kv.value : "");
		s->ev[s->n].mod = ev[i].kv.mod_revision;
	}
	if (s->stop_on_event) {
		etcd_watch_stop(*s->stop_on_event);
		*s->stop_on_event = NULL;
	}
	loop_stop(L);
}

static void w_compacted(void *arg, int64_t rev)
{
	struct wstate *s = arg;

	s->compacted = true;
	s->compact_rev = rev;
	loop_stop(L);
}

static void w_connected(void *arg, bool up)
{
	struct wstate *s = arg;

	if (up)
		s->ups++;
	else
		s->downs++;
	s->up = up;
	loop_stop(L);
}

static const struct etcd_watch_ops wops = { w_events, w_compacted, w_connected };

static struct etcd *client(const char *const *eps, size_t n, const char *user, const char *pw)
{
	struct etcd_opts o = { .endpoints = eps,
			       .n_endpoints = n,
			       .username = user,
			       .password = pw,
			       .request_timeout_ms = 2000 };
	struct etcd *e = NULL;
	int r = etcd_new(L, &o, &e);

	if (r < 0) {
		fprintf(stderr, "etcd_new: %d\n", r);
		exit(2);
	}
	return e;
}

/* ---- test phases ---- */

static void test_kv(struct etcd *e)
{
	struct res s;
	const char bin[] = "a\0b\xff";

	s = put(e, "/smoke/kv/a", "v1", 0);
	CHECK(s.err == 0 && s.rev > 0, "put err %d rev %" PRId64, s.err, s.rev);
	put(e, "/smoke/kv/b", "", 0);
	s = get(e, "/smoke/kv/a", false);
	CHECK(s.err == 0 && s.n == 1 && !strcmp(s.keys[0], "/smoke/kv/a") &&
		      !strcmp(s.vals[0], "v1"),
	      "range a: n=%zu", s.n);
	s = get(e, "/smoke/kv/", true);
	CHECK(s.n == 2 && s.count == 2 && s.vlens[1] == 0, "prefix range: n=%zu count=%" PRId64,
	      s.n, s.count);
	s = get(e, "/smoke/none", false);
	CHECK(s.err == 0 && s.n == 0 && s.count == 0 && s.rev > 0, "empty range");

	/* Binary value with NUL and 0xff bytes. */
	s = (struct res){ 0 };
	finish(etcd_put(e, "/smoke/kv/bin", 13, bin, 4, 0, on_reply, &s), &s, "put bin");
	s = get(e, "/smoke/kv/bin", false);
	CHECK(s.n == 1 && s.vlens[0] == 4 && !memcmp(s.vals[0], bin, 4), "binary value");

	/* Delete. */
	s = (struct res){ 0 };
	finish(etcd_delete(e, "/smoke/kv/b", 11, on_reply, &s), &s, "delete");
	CHECK(s.err == 0 && s.count == 1, "delete count %" PRId64, s.count);
	s = (struct res){ 0 };
	finish(etcd_delete(e, "/smoke/kv/b", 11, on_reply, &s), &s, "delete again");
	CHECK(s.err == 0 && s.count == 0, "delete again count %" PRId64, s.count);

	/* Create-if-absent twice. */
	s = create(e, "/smoke/sub/10.5.1.0-24", "first", 0);
	CHECK(s.err == 0 && s.succeeded && s.n == 0, "txn 1: err %d succeeded %d", s.err,
	      s.succeeded);
	s = create(e, "/smoke/sub/10.5.1.0-24", "second", 0);
	CHECK(s.err == 0 && !s.succeeded && s.n == 1 && !strcmp(s.vals[0], "first"),
	      "txn 2: succeeded %d n %zu", s.succeeded, s.n);

	/* An etcd error answer: put with an unknown lease. */
	s = put(e, "/smoke/kv/x", "x", 999);
	CHECK(s.err == -EREMOTEIO && s.grpc == 5 && strstr(s.msg, "lease not found"),
	      "unknown lease: err %d code %d msg %s", s.err, s.grpc, s.msg);
}

static void test_lease(struct etcd *e)
{
	struct res s = { 0 };
	int64_t id;

	finish(etcd_lease_grant(e, 60, on_reply, &s), &s, "grant");
	id = s.lease_id;
	CHECK(s.err == 0 && id > 0 && s.ttl == 60, "grant: id %" PRId64 " ttl %" PRId64, id, s.ttl);
	s = put(e, "/smoke/leased", "x", id);
	s = get(e, "/smoke/leased", false);
	CHECK(s.n == 1 && s.leases[0] == id, "lease on key: %" PRId64 " vs %" PRId64, s.leases[0],
	      id);
	s = create(e, "/smoke/sub/10.5.2.0-24", "l", id);
	CHECK(s.succeeded, "txn put with lease");
	s = (struct res){ 0 };
	finish(etcd_lease_keepalive(e, id, on_reply, &s), &s, "keepalive");
	CHECK(s.err == 0 && s.ttl == 60 && s.lease_id == id, "keepalive ttl %" PRId64, s.ttl);
	s = (struct res){ 0 };
	finish(etcd_lease_timetolive(e, id, on_reply, &s), &s, "timetolive");
	CHECK(s.err == 0 && s.ttl > 0 && s.ttl <= 60, "timetolive ttl %" PRId64, s.ttl);
	s = (struct res){ 0 };
	finish(etcd_lease_revoke(e, id, on_reply, &s), &s, "revoke");
	CHECK(s.err == 0, "revoke err %d", s.err);
	s = get(e, "/smoke/leased", false);
	CHECK(s.n == 0, "key gone with its lease");
	s = (struct res){ 0 };
	finish(etcd_lease_keepalive(e, id, on_reply, &s), &s, "keepalive gone");
	CHECK(s.err == 0 && s.ttl == 0, "keepalive of revoked lease: err %d ttl %" PRId64, s.err,
	      s.ttl);
	s = (struct res){ 0 };
	finish(etcd_lease_timetolive(e, id, on_reply, &s), &s, "timetolive gone");
	CHECK(s.err == 0 && s.ttl == -1, "timetolive of revoked lease: %" PRId64, s.ttl);
	s = (struct res){ 0 };
	finish(etcd_lease_timetolive(e, 0, on_reply, &s), &s, "timetolive 0");
	CHECK(s.err == 0 && s.ttl == -1, "timetolive 0: %" PRId64, s.ttl);
	s = (struct res){ 0 };
	finish(etcd_lease_revoke(e, id, on_reply, &s), &s, "revoke again");
	CHECK(s.err == -EREMOTEIO && s.grpc == 5, "revoke again: err %d code %d", s.err, s.grpc);
}

static void test_watch(struct etcd *e)
{
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;
	struct etcd_op ops[2] = {
		{ .type = ETCD_OP_PUT,
		  .key = "/smoke/w/b",
		  .key_len = 10,
		  .value = "2",
		  .value_len = 1 },
		{ .type = ETCD_OP_PUT,
		  .key = "/smoke/w/c",
		  .key_len = 10,
		  .value = "3",
		  .value_len = 1 },
	};
	struct res s = { 0 };
	char end[64];
	size_t n = etcd_prefix_end("/smoke/w/", 9, end, sizeof(end));
	struct etcd_stats st;

	CHECK(etcd_watch_start(e, "/smoke/w/", 9, end, n, 0, &wops, &ws, &w) == 0, "watch_start");
	CHECK(WAIT(ws.up, WAIT_MAX), "watch not connected");
	put(e, "/smoke/w/a", "1", 0);
	CHECK(WAIT(ws.n >= 1, WAIT_MAX), "no PUT event");
	CHECK(!ws.ev[0].del && !strcmp(ws.ev[0].key, "/smoke/w/a") && !strcmp(ws.ev[0].val, "1"),
	      "PUT event: %s=%s", ws.ev[0].key, ws.ev[0].val);

	/* A txn with two puts: both events in one message. */
	finish(etcd_txn(e, NULL, 0, ops, 2, NULL, 0, on_reply, &s), &s, "txn 2 puts");
	CHECK(s.succeeded, "txn 2 puts succeeded");
	CHECK(WAIT(ws.n >= 3, WAIT_MAX), "txn events: have %d", ws.n);
	CHECK(ws.msgs == 2, "txn events in one message: msgs %d", ws.msgs);
	CHECK(!strcmp(ws.ev[1].key, "/smoke/w/b") && !strcmp(ws.ev[2].key, "/smoke/w/c") &&
		      ws.ev[1].mod == s.rev && ws.ev[2].mod == s.rev && ws.last_rev == s.rev,
	      "txn events keys %s %s", ws.ev[1].key, ws.ev[2].key);

	/* Delete event: only key and mod_revision. */
	s = (struct res){ 0 };
	finish(etcd_delete(e, "/smoke/w/a", 10, on_reply, &s), &s, "delete w/a");
	CHECK(WAIT(ws.n >= 4, WAIT_MAX), "no DELETE event");
	CHECK(ws.ev[3].del && !strcmp(ws.ev[3].key, "/smoke/w/a") && ws.ev[3].mod == s.rev &&
		      ws.ev[3].val[0] == '\0',
	      "DELETE event");

	/* Stop from inside the events callback: no more callbacks, no leak. */
	ws.stop_on_event = &w;
	put(e, "/smoke/w/z", "z", 0);
	CHECK(WAIT(w == NULL, WAIT_MAX), "watch not stopped from callback");
	int before = ws.n;

	put(e, "/smoke/w/zz", "z", 0);
	run_for(300);
	CHECK(ws.n == before, "events after stop");
	etcd_get_stats(e, &st);
	CHECK(st.watch_messages >= 5, "watch_messages %" PRIu64, st.watch_messages);
}

static void test_history_and_compaction(struct etcd *e)
{
	struct wstate ws = { 0 }, ws2 = { 0 };
	struct etcd_watch *w = NULL, *w2 = NULL;
	struct res s, first;
	char url[128], json[128];
	struct body b;
	long code;

	/* Replay: a watch from an old revision gets the history. */
	first = put(e, "/smoke/h/1", "a", 0);
	put(e, "/smoke/h/2", "b", 0);
	s = put(e, "/smoke/h/3", "c", 0);
	CHECK(etcd_watch_start(e, "/smoke/h/", 9, "/smoke/h0", 9, first.rev, &wops, &ws, &w) == 0,
	      "watch_start history");
	CHECK(WAIT(ws.n >= 3, WAIT_MAX), "history replay: %d events", ws.n);
	CHECK(ws.ev[0].mod == first.rev && ws.ev[2].mod == s.rev, "history revisions");
	etcd_watch_stop(w);

	/* Compact at the current revision, then watch from before it. */
	snprintf(url, sizeof(url), "%s/v3/kv/compaction", EP);
	snprintf(json, sizeof(json), "{\"revision\":\"%" PRId64 "\",\"physical\":true}", s.rev);
	code = admin(url, json, NULL, &b);
	CHECK(code == 200, "compaction: %ld %s", code, b.buf);
	CHECK(etcd_watch_start(e, "/smoke/h/", 9, "/smoke/h0", 9, first.rev, &wops, &ws2, &w2) == 0,
	      "watch_start compacted");
	CHECK(WAIT(ws2.compacted, WAIT_MAX), "no compacted callback");
	CHECK(ws2.compact_rev == s.rev, "compact_revision %" PRId64 " want %" PRId64,
	      ws2.compact_rev, s.rev);
	run_for(300);
	CHECK(ws2.n == 0, "events after compaction");
	etcd_watch_stop(w2);

	/* A range at the compacted revision is an etcd answer: code 11. */
	s = (struct res){ 0 };
	finish(etcd_range(e, "/smoke/h/1", 10, NULL, 0, first.rev, 0, on_reply, &s), &s,
	       "range compacted");
	CHECK(s.err == -EREMOTEIO && s.grpc == 11, "range at compacted rev: %d %d", s.err, s.grpc);
}

static void test_failover(void)
{
	const char *eps[] = { EP_DEAD, EP };
	struct etcd *e = client(eps, 2, NULL, NULL);
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;
	struct etcd_stats st;
	struct res s;

	s = put(e, "/smoke/fo", "x", 0);
	CHECK(s.err == 0, "put via failover: %d", s.err);
	etcd_get_stats(e, &st);
	CHECK(st.errors >= 1 && st.requests >= 2, "failover stats: errors %" PRIu64 " req %" PRIu64,
	      st.errors, st.requests);
	CHECK(etcd_unreachable_since(e) == 0, "unreachable after success");
	CHECK(etcd_last_error(e)[0] == '\0', "last error after success: %s", etcd_last_error(e));
	s = get(e, "/smoke/fo", false);
	CHECK(s.n == 1, "range via failover");
	CHECK(etcd_watch_start(e, "/smoke/fo", 9, NULL, 0, 0, &wops, &ws, &w) == 0, "watch");
	CHECK(WAIT(ws.up, WAIT_MAX), "watch via failover");
	put(e, "/smoke/fo", "y", 0);
	CHECK(WAIT(ws.n == 1, WAIT_MAX), "watch event via failover");
	etcd_watch_stop(w);
	etcd_free(e);
}

static void test_unreachable(void)
{
	const char *eps[] = { EP_DEAD };
	struct etcd *e = client(eps, 1, NULL, NULL);
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;
	struct res s = { 0 };
	struct etcd_stats st;

	CHECK(etcd_unreachable_since(e) == 0, "unreachable before any request");
	CHECK(etcd_put(e, "/x", 2, "y", 1, 0, on_reply, &s) == 0, "put");
	CHECK(etcd_watch_start(e, "/x", 2, NULL, 0, 0, &wops, &ws, &w) == 0, "watch");
	run_for(1500);
	etcd_get_stats(e, &st);
	CHECK(!s.done, "a transport failure reached the callback");
	CHECK(etcd_unreachable_since(e) != 0, "unreachable_since not set");
	CHECK(st.errors >= 4, "retries: %" PRIu64, st.errors);
	CHECK(st.watch_reconnects >= 2, "watch reconnects: %" PRIu64, st.watch_reconnects);
	CHECK(strstr(etcd_last_error(e), EP_DEAD) != NULL, "last error: %s", etcd_last_error(e));
	if (log_verbosity)
		printf("  unreachable: last error \"%s\"\n", etcd_last_error(e));
	/* Free with a request and a watch in flight: no callback, no leak (ASan). */
	etcd_free(e);
	run_for(100);
	CHECK(!s.done && ws.ups == 0, "callback after etcd_free");
}

/*
 * Host names are looked up off the loop: "localhost" (both ::1, where
 * nothing listens, and 127.0.0.1), and a name that does not resolve.
 */
static void test_names(void)
{
	const char *eps[] = { "http://localhost:23791" },
		   *bad[] = { "http://no-such-host.invalid:2379" };
	struct etcd *e = client(eps, 1, NULL, NULL);
	struct res s = { 0 };

	s = put(e, "/smoke/name", "n", 0);
	CHECK(s.err == 0, "put via localhost: %d", s.err);
	s = get(e, "/smoke/name", false);
	CHECK(s.n == 1 && !strcmp(s.vals[0], "n"), "range via localhost");
	etcd_free(e);

	e = client(bad, 1, NULL, NULL);
	s = (struct res){ 0 };
	CHECK(etcd_put(e, "/x", 2, "y", 1, 0, on_reply, &s) == 0, "put");
	CHECK(WAIT(strstr(etcd_last_error(e), "cannot resolve no-such-host.invalid") != NULL, 8000),
	      "unresolvable name: last error \"%s\"", etcd_last_error(e));
	CHECK(!s.done, "a lookup failure reached the callback");
	etcd_free(e);
}

/* etcd_free() from inside a callback, with another request in flight. */
static struct etcd *free_me;
static void on_reply_free(void *arg, const struct etcd_reply *r)
{
	on_reply(arg, r);
	etcd_free(free_me);
}

static void test_free_in_callback(void)
{
	const char *eps[] = { EP };
	struct res a = { 0 }, b = { 0 };
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;

	free_me = client(eps, 1, NULL, NULL);
	CHECK(etcd_watch_start(free_me, "/smoke/f", 8, NULL, 0, 0, &wops, &ws, &w) == 0, "watch");
	CHECK(etcd_put(free_me, "/smoke/f1", 9, "x", 1, 0, on_reply_free, &a) == 0, "put a");
	CHECK(etcd_lease_grant(free_me, 60, on_reply, &b) == 0, "grant b");
	CHECK(WAIT(a.done, WAIT_MAX), "first callback");
	run_for(300);
	CHECK(a.calls == 1 && (!b.done || b.calls == 1), "callbacks after free: a %d b %d", a.calls,
	      b.calls);
}

/* Kill etcd under an open watch; the watch reconnects and resumes. */
static pid_t restart_test(pid_t pid, struct etcd *e)
{
	struct wstate ws = { 0 }, ws2 = { 0 };
	struct etcd_watch *w = NULL, *w2 = NULL;
	struct res s = { 0 }, s2 = { 0 };

	CHECK(etcd_watch_start(e, "/smoke/r/", 9, "/smoke/r0", 9, 0, &wops, &ws, &w) == 0, "watch");
	/* A watch "from now" that sees no event before the outage. */
	CHECK(etcd_watch_start(e, "/smoke/q", 8, NULL, 0, 0, &wops, &ws2, &w2) == 0, "watch 2");
	CHECK(WAIT(ws.up && ws2.up, WAIT_MAX), "watch up");
	put(e, "/smoke/r/1", "before", 0);
	CHECK(WAIT(ws.n == 1, WAIT_MAX), "event before restart");
	stop_etcd(pid);
	CHECK(WAIT(!ws.up, WAIT_MAX), "watch did not notice etcd going away");
	/* Queued while etcd is down: retried until it is back. */
	CHECK(etcd_put(e, "/smoke/r/2", 10, "during", 6, 0, on_reply, &s) == 0, "put");
	CHECK(etcd_put(e, "/smoke/q", 8, "q", 1, 0, on_reply, &s2) == 0, "put 2");
	run_for(700);
	CHECK(!s.done, "put answered while etcd is down");
	CHECK(etcd_unreachable_since(e) != 0, "unreachable while down");
	pid = spawn_etcd("smoke", 23791, 23792, NULL);
	CHECK(WAIT(s.done, 20000), "put not retried after restart");
	CHECK(s.err == 0, "put after restart: %d", s.err);
	CHECK(WAIT(ws.n == 2, 20000), "watch did not resume: %d events", ws.n);
	CHECK(ws.ups == 2 && ws.downs == 1, "ups %d downs %d", ws.ups, ws.downs);
	CHECK(!strcmp(ws.ev[1].val, "during"), "resumed event %s", ws.ev[1].val);
	CHECK(WAIT(s2.done && ws2.n == 1, 20000), "watch from now missed the event: %d", ws2.n);
	CHECK(etcd_unreachable_since(e) == 0, "still unreachable after restart");
	etcd_watch_stop(w);
	etcd_watch_stop(w2);
	return pid;
}

static void test_auth(void)
{
	const char *eps[] = { EP };
	struct body b;
	char tok[128] = "", *p, *q;
	long code;
	struct res s;
	struct etcd *bad, *good;
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;

	admin(EP "/v3/auth/user/add", "{\"name\":\"root\",\"password\":\"rootpw\"}", NULL, &b);
	admin(EP "/v3/auth/user/grant", "{\"user\":\"root\",\"role\":\"root\"}", NULL, &b);
	code = admin(EP "/v3/auth/enable", "{}", NULL, &b);
	CHECK(code == 200, "auth enable: %ld %s", code, b.buf);

	bad = client(eps, 1, "root", "wrong");
	s = put(bad, "/smoke/a", "x", 0);
	CHECK(s.err == -EREMOTEIO && s.grpc == 3 && strstr(s.msg, "authentication failed"),
	      "wrong password: err %d code %d msg %s", s.err, s.grpc, s.msg);
	CHECK(strstr(etcd_last_error(bad), "authentication failed") != NULL, "last error: %s",
	      etcd_last_error(bad));
	etcd_free(bad);

	good = client(eps, 1, "root", "rootpw");
	s = put(good, "/smoke/a", "x", 0);
	CHECK(s.err == 0, "put with auth: err %d %s", s.err, s.msg);
	s = get(good, "/smoke/a", false);
	CHECK(s.n == 1, "range with auth");
	CHECK(etcd_watch_start(good, "/smoke/a", 8, NULL, 0, 0, &wops, &ws, &w) == 0, "watch");
	CHECK(WAIT(ws.up, WAIT_MAX), "watch with auth");
	put(good, "/smoke/a", "y", 0);
	CHECK(WAIT(ws.n == 1, WAIT_MAX), "event with auth");
	etcd_watch_stop(w);

	/* Disable auth: the cached token now gets 401, then authenticate gets 412. */
	admin(EP "/v3/auth/authenticate", "{\"name\":\"root\",\"password\":\"rootpw\"}", NULL, &b);
	p = strstr(b.buf, "\"token\":\"");
	if (p) {
		p += 9;
		q = strchr(p, '"');
		if (q && (size_t)(q - p) < sizeof(tok))
			memcpy(tok, p, (size_t)(q - p));
	}
	code = admin(EP "/v3/auth/disable", "{}", tok, &b);
	CHECK(code == 200, "auth disable: %ld %s", code, b.buf);
	s = put(good, "/smoke/a", "z", 0);
	CHECK(s.err == 0, "put after auth disabled: err %d %s", s.err, s.msg);
	s = get(good, "/smoke/a", false);
	CHECK(s.n == 1 && !strcmp(s.vals[0], "z"), "range after auth disabled");
	etcd_free(good);
}

/* ---- a scripted fake gateway (own thread, blocking I/O) ---- */

static struct {
	int lfd;
	pthread_t th;
	volatile bool quit;
	pthread_mutex_t mu;
	int watch_conns;
	char watch_bodies[8][512];
	int n_range, n_keepalive;
} fake;

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* One HTTP chunk per byte, flushed separately: splits at every boundary. */
static void send_bytewise(int fd, const char *s)
{
	char c[8];

	for (; *s; s++) {
		snprintf(c, sizeof(c), "1\r\n%c\r\n", *s);
		send_str(fd, c);
		usleep(300);
	}
}

static const char fake_created[] =
	"{\"result\":{\"header\":{\"revision\":\"10\"},\"created\":true}}\n";
static const char fake_events[] =
	"{\"result\":{\"header\":{\"revision\":\"11\"},\"events\":[{\"kv\":{\"key\":\"L2YvYQ==\","
	"\"create_revision\":\"11\",\"mod_revision\":\"11\",\"version\":\"1\",\"value\":\"MQ==\"}}]"
	"}}\n"
	"{\"result\":{\"header\":{\"revision\":\"12\"},\"events\":[{\"kv\":{\"key\":\"L2YvYg==\","
	"\"mod_revision\":\"12\",\"value\":\"Mg==\"}},{\"kv\":{\"key\":\"L2YvYw==\","
	"\"mod_revision\":\"12\",\"value\":\"Mw==\"}}]}}\n"
	"{\"result\":{\"header\":{\"revision\":\"13\"}}}\n"
	"{\"result\":{\"header\":{\"revision\":\"13\"},\"events\":[{\"type\":\"DELETE\",\"kv\":"
	"{\"key\":\"L2YvYQ==\",\"mod_revision\":\"13\"}}]}}"; /* no final '\n' */
static const char fake_compacted[] = "{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":"
				     "true,\"compact_revision\":\"5\"}}\n";

static void fake_serve(int fd)
{
	char req[8192], *hdr_end, *cl;
	size_t len = 0, want = 0;
	ssize_t n;

	for (;;) {
		n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR) && !fake.quit)
			continue;
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		hdr_end = strstr(req, "\r\n\r\n");
		if (!hdr_end)
			continue;
		cl = strcasestr(req, "Content-Length:");
		want = (size_t)(hdr_end + 4 - req) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		if (len >= want)
			break;
	}
	hdr_end += 4;
	if (!strncmp(req, "POST /v3/kv/range ", 18)) {
		static const char b[] =
			"{\"error\":\"no leader\",\"message\":\"no leader\",\"code\":14}";
		char h[256];

		pthread_mutex_lock(&fake.mu);
		fake.n_range++;
		pthread_mutex_unlock(&fake.mu);
		snprintf(h, sizeof(h),
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 strlen(b), b);
		send_str(fd, h);
	} else if (!strncmp(req, "POST /v3/lease/keepalive ", 25)) {
		pthread_mutex_lock(&fake.mu);
		fake.n_keepalive++;
		pthread_mutex_unlock(&fake.mu);
		send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
			     "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
			     "\"transport is closing\",\"http_status\":\"Service Unavailable\"}}");
	} else if (!strncmp(req, "POST /v3/watch ", 15)) {
		int k;

		pthread_mutex_lock(&fake.mu);
		k = fake.watch_conns++;
		if (k < 8)
			snprintf(fake.watch_bodies[k], sizeof(fake.watch_bodies[k]), "%s", hdr_end);
		pthread_mutex_unlock(&fake.mu);
		if (k == 1) {
			/* Say nothing: the client must give up waiting for "created". */
			while (!fake.quit) {
				char c;
				ssize_t r = recv(fd, &c, 1, 0);

				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
					break;
			}
			return;
		}
		send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: "
			     "close\r\n\r\n");
		if (k == 0) {
			send_bytewise(fd, fake_created);
			send_bytewise(fd, fake_events);
		} else {
			send_bytewise(fd, fake_created);
			send_bytewise(fd, fake_compacted);
			for (int i = 0; i < 20 && !fake.quit; i++)
				usleep(100000); /* etcd keeps the stream open after a cancel */
		}
		send_str(fd, "0\r\n\r\n");
	} else {
		send_str(fd,
			 "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\nConnection: close\r\n\r\n"
			 "404 page not found\n");
	}
}

static void *fake_main(void *arg)
{
	while (!fake.quit) {
		int fd = accept(fake.lfd, NULL, NULL);

		if (fd < 0)
			continue;
		fake_serve(fd);
		close(fd);
	}
	return NULL;
}

static void fake_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(23797),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	int one = 1;

	fake.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fake.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fake.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fake.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fake.lfd, 16) < 0) {
		perror("fake gateway");
		exit(2);
	}
	pthread_mutex_init(&fake.mu, NULL);
	pthread_create(&fake.th, NULL, fake_main, NULL);
}

static void fake_stop(void)
{
	fake.quit = true;
	pthread_join(fake.th, NULL);
	close(fake.lfd);
}

static void test_fake(void)
{
	const char *eps2[] = { EP_FAKE, EP };
	const char *eps1[] = { EP_FAKE };
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;
	struct etcd_stats st;
	struct etcd *e;
	struct res s;
	int64_t id;

	fake_start();
	/* 503 with gRPC Unavailable: retried on the next endpoint. */
	e = client(eps2, 2, NULL, NULL);
	s = get(e, "/smoke/kv/a", false);
	etcd_get_stats(e, &st);
	CHECK(s.err == 0 && s.n == 1 && fake.n_range == 1 && st.errors == 1,
	      "503: err %d n %zu fake %d errors %" PRIu64, s.err, s.n, fake.n_range, st.errors);
	s = (struct res){ 0 };
	finish(etcd_lease_grant(e, 60, on_reply, &s), &s, "grant");
	id = s.lease_id;
	etcd_free(e);

	/* An error object with code 14 inside a 200 keepalive stream: retried too. */
	e = client(eps2, 2, NULL, NULL);
	s = (struct res){ 0 };
	finish(etcd_lease_keepalive(e, id, on_reply, &s), &s, "keepalive");
	CHECK(s.err == 0 && s.ttl == 60 && fake.n_keepalive == 1, "keepalive: err %d ttl %" PRId64,
	      s.err, s.ttl);
	etcd_free(e);

	/*
	 * Watch: every byte in its own chunk, the last object without '\n';
	 * then a silent server (no "created"), then a compaction cancel.
	 */
	e = client(eps1, 1, NULL, NULL);
	CHECK(etcd_watch_start(e, "/f/", 3, "/f0", 3, 0, &wops, &ws, &w) == 0, "fake watch");
	CHECK(WAIT(ws.n == 4, WAIT_MAX), "fake events: %d", ws.n);
	CHECK(ws.msgs == 3 && !strcmp(ws.ev[0].key, "/f/a") && !strcmp(ws.ev[1].key, "/f/b") &&
		      !strcmp(ws.ev[2].val, "3") && ws.ev[3].del && ws.last_rev == 13,
	      "fake events content");
	CHECK(WAIT(ws.compacted, 20000), "fake: no compaction after reconnects");
	CHECK(ws.compact_rev == 5 && ws.ups == 2 && ws.downs == 1,
	      "fake: rev %" PRId64 " ups %d downs %d", ws.compact_rev, ws.ups, ws.downs);
	CHECK(fake.watch_conns == 3, "fake: %d watch connections", fake.watch_conns);
	CHECK(!strstr(fake.watch_bodies[0], "start_revision"), "first watch body %s",
	      fake.watch_bodies[0]);
	CHECK(strstr(fake.watch_bodies[1], "\"start_revision\":\"14\"") &&
		      strstr(fake.watch_bodies[2], "\"start_revision\":\"14\""),
	      "resume bodies: %s / %s", fake.watch_bodies[1], fake.watch_bodies[2]);
	etcd_get_stats(e, &st);
	CHECK(st.watch_reconnects == 2, "watch_reconnects %" PRIu64, st.watch_reconnects);
	etcd_watch_stop(w);
	etcd_free(e);
	fake_stop();
}

/* ---- TLS ---- */

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void test_tls(void)
{
	char ca[256], ca2[256], srv[256], srvkey[256], cli[256], clikey[256], both[256];
	const char *extra[10];
	const char *eps[] = { EP_TLS };
	struct etcd_opts o = { .endpoints = eps, .n_endpoints = 1, .request_timeout_ms = 2000 };
	struct etcd *e;
	struct res s;
	pid_t pid;

	if (sh("(cd %s && "
	       "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 1 "
	       "-subj /CN=smoke-ca && "
	       "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2-key.pem -out ca2.pem -days 1 "
	       "-subj /CN=other-ca && "
	       "openssl req -newkey rsa:2048 -nodes -keyout srv-key.pem -out srv.csr "
	       "-subj /CN=127.0.0.1 && "
	       "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' "
	       "> srv.ext && "
	       "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
	       "-out srv.pem -days 1 -extfile srv.ext && "
	       "openssl req -newkey rsa:2048 -nodes -keyout cli-key.pem -out cli.csr "
	       "-subj /CN=client && "
	       "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext && "
	       "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
	       "-out cli.pem -days 1 -extfile cli.ext && "
	       "cat cli.pem cli-key.pem > cli-both.pem) >%s/openssl.log 2>&1",
	       tmpdir, tmpdir)) {
		printf("  TLS: openssl failed, skipped\n");
		return;
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", tmpdir);
	snprintf(ca2, sizeof(ca2), "%s/ca2.pem", tmpdir);
	snprintf(srv, sizeof(srv), "%s/srv.pem", tmpdir);
	snprintf(srvkey, sizeof(srvkey), "%s/srv-key.pem", tmpdir);
	snprintf(cli, sizeof(cli), "%s/cli.pem", tmpdir);
	snprintf(clikey, sizeof(clikey), "%s/cli-key.pem", tmpdir);
	snprintf(both, sizeof(both), "%s/cli-both.pem", tmpdir);
	extra[0] = "--cert-file";
	extra[1] = srv;
	extra[2] = "--key-file";
	extra[3] = srvkey;
	extra[4] = "--trusted-ca-file";
	extra[5] = ca;
	extra[6] = "--client-cert-auth";
	extra[7] = NULL;
	pid = spawn_etcd("tls", 23795, 23796, extra);
	/* Wait for the TLS port with a full client. */
	o.cafile = ca;
	o.certfile = cli;
	o.keyfile = clikey;
	etcd_new(L, &o, &e);
	s = put(e, "/smoke/tls", "t", 0);
	CHECK(s.err == 0, "put over TLS: %d", s.err);
	s = get(e, "/smoke/tls", false);
	CHECK(s.n == 1 && !strcmp(s.vals[0], "t"), "range over TLS");
	etcd_free(e);

	/* Key in the same PEM as the certificate. */
	o.certfile = both;
	o.keyfile = NULL;
	etcd_new(L, &o, &e);
	s = get(e, "/smoke/tls", false);
	CHECK(s.n == 1, "range with cert+key in one file");
	etcd_free(e);

	/* No client certificate: rejected by the server, retried, reported. */
	o.certfile = NULL;
	etcd_new(L, &o, &e);
	s = (struct res){ 0 };
	etcd_range(e, "/smoke/tls", 10, NULL, 0, 0, 0, on_reply, &s);
	run_for(1500);
	CHECK(!s.done && etcd_unreachable_since(e) != 0, "no client cert: done %d", s.done);
	CHECK(strstr(etcd_last_error(e), "client certificate") != NULL,
	      "no client cert: the text does not say so: \"%s\"", etcd_last_error(e));
	printf("  TLS without client cert: \"%s\"\n", etcd_last_error(e));
	etcd_free(e);

	/* Wrong CA: server verification fails. */
	o.cafile = ca2;
	o.certfile = cli;
	o.keyfile = clikey;
	etcd_new(L, &o, &e);
	s = (struct res){ 0 };
	etcd_range(e, "/smoke/tls", 10, NULL, 0, 0, 0, on_reply, &s);
	run_for(1000);
	CHECK(!s.done && strstr(etcd_last_error(e), "certificate verify failed"),
	      "wrong CA: \"%s\"", etcd_last_error(e));
	printf("  TLS with the wrong CA: \"%s\"\n", etcd_last_error(e));
	etcd_free(e);

	/* Missing CA file. */
	o.cafile = "/nonexistent/ca.pem";
	etcd_new(L, &o, &e);
	s = (struct res){ 0 };
	etcd_range(e, "/smoke/tls", 10, NULL, 0, 0, 0, on_reply, &s);
	run_for(500);
	CHECK(!s.done && strstr(etcd_last_error(e), "cannot read the CA file /nonexistent/ca.pem"),
	      "missing CA file: \"%s\"", etcd_last_error(e));
	printf("  TLS with a missing CA file: \"%s\"\n", etcd_last_error(e));
	etcd_free(e);
	stop_etcd(pid);
}

int main(int argc, char **argv)
{
	const char *eps[] = { EP };
	struct etcd *e;
	pid_t pid;

	log_init("etcd_smoke");
	if (argc > 1 && !strcmp(argv[1], "-v"))
		log_verbosity = 1;
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	if (loop_new(&L) < 0)
		return 2;
	pid = spawn_etcd("smoke", 23791, 23792, NULL);
	wait_etcd_up(23791);

	/* Username set while auth is off: authenticate answers 412, we go on without. */
	e = client(eps, 1, "root", "rootpw");
	printf("kv\n");
	test_kv(e);
	printf("lease\n");
	test_lease(e);
	printf("watch\n");
	test_watch(e);
	printf("history and compaction\n");
	test_history_and_compaction(e);
	printf("failover\n");
	test_failover();
	printf("unreachable\n");
	test_unreachable();
	printf("host names\n");
	test_names();
	printf("free in callback\n");
	test_free_in_callback();
	printf("fake gateway\n");
	test_fake();
	printf("restart\n");
	pid = restart_test(pid, e);
	etcd_free(e);
	printf("auth\n");
	test_auth();
	stop_etcd(pid);
	printf("tls\n");
	test_tls();

	loop_free(L);
	if (!failures)
		sh("rm -rf %s", tmpdir);
	printf("%d checks, %d failures%s%s\n", checks, failures, failures ? "; logs in " : "",
	       failures ? tmpdir : "");
	return failures ? 1 : 0;
}
