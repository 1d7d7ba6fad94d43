/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Smoke test of the etcd client (src/etcd/ over native gRPC: grpc.c,
 * grpc_msg.c, etcd_pb.c) against real loopback etcd servers it starts
 * itself, and against a scripted fake gRPC server (HTTP/2 frames written by
 * hand, in threads). Not part of the daemon. Build (after `make`, which
 * generates build-gen/; tests/integration/test_etcd_client.sh does this):
 *   cc -std=gnu11 -D_GNU_SOURCE -Isrc -Ibuild-gen -o etcd_smoke tests/etcd_smoke.c \
 *       src/etcd/*.c src/textutil.c src/loop.c src/log.c build-gen/kv.pb-c.c build-gen/rpc.pb-c.c \
 *       -lprotobuf-c -lnghttp2 -lpthread -ldl
 * Run: ./etcd_smoke [-v]   (needs /usr/bin/etcd and etcdctl 3.4, openssl for
 * the TLS part). Ports on 127.0.0.1: etcd 23791-23792 (gRPC gateway off,
 * --max-request-bytes 65536), TLS etcd 23795-23796, fake gRPC servers 23797
 * (scripted) and 23798 (never answers a PING); 23799 must be closed. Run it
 * in a network namespace of its own. Exits non-zero on any mismatch.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd/etcd.h"
#include "log.h"
#include "loop.h"
#include "rpc.pb-c.h"

extern char **environ;

#define EP	 "http://127.0.0.1:23791"
#define EP_DEAD	 "http://127.0.0.1:23799"
#define EP_TLS	 "https://127.0.0.1:23795"
#define EP_FAKE	 "http://127.0.0.1:23797"
#define EP_DEAF	 "http://127.0.0.1:23798"
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

/* ---- processes: etcd and etcdctl ---- */

/* The main etcd: no gRPC gateway (the client must not need it), small request cap. */
static const char *const main_extra[] = { "--enable-grpc-gateway=false",
					  "--max-request-bytes=65536", NULL };

static pid_t spawn_etcd(const char *name, int cport, int pport, bool tls, const char *const *extra)
{
	char dir[256], log[256], curl_[64], purl[64], cluster[128];
	const char *argv[40];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/%s.data", tmpdir, name);
	snprintf(log, sizeof(log), "%s/%s.log", tmpdir, name);
	snprintf(curl_, sizeof(curl_), "%s://127.0.0.1:%d", tls ? "https" : "http", cport);
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
	for (; extra && *extra && n < 38; extra++)
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

static void stop_etcd(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/*
 * etcdctl (API v3, from the environment) against ep, as user ("name:password")
 * if not NULL, with the NULL-terminated arguments; output goes to
 * <tmpdir>/etcdctl.log. Returns its exit status (-1: did not run or exit).
 */
static int ctl(const char *ep, const char *user, ...)
{
	const char *argv[24];
	char log[256];
	posix_spawn_file_actions_t fa;
	va_list ap;
	const char *a;
	pid_t pid;
	int n = 0, st;

	argv[n++] = "etcdctl";
	argv[n++] = "--endpoints";
	argv[n++] = ep;
	argv[n++] = "--command-timeout=10s";
	if (user) {
		argv[n++] = "--user";
		argv[n++] = user;
	}
	va_start(ap, user);
	while ((a = va_arg(ap, const char *)) && n < 23)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/etcdctl.log", tmpdir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	st = posix_spawnp(&pid, "etcdctl", &fa, NULL, (char *const *)(void *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (st) {
		fprintf(stderr, "posix_spawn etcdctl: %s\n", strerror(st));
		return -1;
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Poll a TCP connect to 127.0.0.1:port every 50 ms until it is accepted or ms pass. */
static bool port_open(int port, unsigned ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (unsigned waited = 0; waited <= ms; waited += 50) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));

		if (fd >= 0)
			close(fd);
		if (r == 0)
			return true;
		usleep(50000);
	}
	return false;
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
	struct etcd *e;			   /* set: note the last error when it goes down */
	char down_err[512];
	uint64_t up_ms, down_ms; /* when it first went up and down */
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

	if (up) {
		if (++s->ups == 1)
			s->up_ms = loop_now_ms();
	} else if (++s->downs == 1) {
		s->down_ms = loop_now_ms();
		if (s->e)
			snprintf(s->down_err, sizeof(s->down_err), "%s", etcd_last_error(s->e));
	}
	s->up = up;
	loop_stop(L);
}

static const struct etcd_watch_ops wops = { w_events, w_compacted, w_connected };

static struct etcd *client_t(const char *const *eps, size_t n, const char *user, const char *pw,
			     unsigned timeout_ms)
{
	struct etcd_opts o = { .endpoints = eps,
			       .n_endpoints = n,
			       .username = user,
			       .password = pw,
			       .request_timeout_ms = timeout_ms };
	struct etcd *e = NULL;
	int r = etcd_new(L, &o, &e);

	if (r < 0) {
		fprintf(stderr, "etcd_new: %d\n", r);
		exit(2);
	}
	return e;
}

static struct etcd *client(const char *const *eps, size_t n, const char *user, const char *pw)
{
	return client_t(eps, n, user, pw, 2000);
}

/* The port accepts, then a range through our own client is answered (retried inside). */
static void wait_etcd_up(const char *ep, int port)
{
	const char *eps[] = { ep };
	struct etcd *e;
	struct res s = { 0 };

	if (!port_open(port, WAIT_MAX)) {
		fprintf(stderr, "etcd on %d does not listen\n", port);
		exit(2);
	}
	e = client(eps, 1, NULL, NULL);
	if (etcd_range(e, "/health", 7, NULL, 0, 0, 0, on_reply, &s) < 0 ||
	    !WAIT(s.done, WAIT_MAX) || s.err) {
		fprintf(stderr, "etcd on %d did not answer: %d %s\n", port, s.err,
			etcd_last_error(e));
		exit(2);
	}
	etcd_free(e);
}

/* The gRPC gateway is off: a JSON POST to it is not answered with 200. */
static void check_no_gateway(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const char req[] = "POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Content-Type: application/json\r\nContent-Length: 2\r\n"
				  "Connection: close\r\n\r\n{}";
	char buf[64] = "";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n = -1;

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1)
		n = read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(n > 0 && !strncmp(buf, "HTTP/1.1 ", 9) && strncmp(buf, "HTTP/1.1 200", 12),
	      "the gRPC gateway answers: \"%.20s\"", buf);
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
	CHECK(s.err == -EREMOTEIO && s.grpc == 5 &&
		      !strcmp(s.msg, "etcdserver: requested lease not found"),
	      "revoke again: err %d code %d msg \"%s\"", s.err, s.grpc, s.msg);
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
	char rev[32];
	int rc;

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
	snprintf(rev, sizeof(rev), "%" PRId64, s.rev);
	rc = ctl(EP, NULL, "compact", rev, "--physical", NULL);
	CHECK(rc == 0, "etcdctl compact %s: %d", rev, rc);
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

/*
 * Watch responses over etcd's fragment threshold: --max-request-bytes
 * (65536 here) plus its 512 KiB allowance for gRPC overhead. First a replay
 * of 100 PUT events (20 revisions, ~40 KiB each; etcd sends them as one
 * response of ~800 KiB), then one delete of the whole prefix by etcdctl: 100
 * DELETE events at one revision (8000-byte keys: ~800 KiB), which etcd cuts
 * into fragments since we ask for fragment=true (the replay may come whole:
 * etcd does not fragment events it holds until "created" is sent). Every
 * event arrives, in order, none twice, and the fragments were seen.
 */
#define FRAG_KEYS 100
#define FRAG_KLEN 8000
#define FRAG_VLEN 100
#define FRAG_TXN  5

static struct {
	int calls, n, bad;
	int64_t last_mod;
	bool up;
} fr;

static void fr_key(char *buf, int i)
{
	int n = snprintf(buf, FRAG_KLEN + 1, "/smoke/big/%03d/", i);

	memset(buf + n, 'k', (size_t)(FRAG_KLEN - n));
	buf[FRAG_KLEN] = '\0';
}

static void fr_events(void *arg, int64_t rev, const struct etcd_event *ev, size_t n)
{
	static char want[FRAG_KLEN + 1];

	fr.calls++;
	for (size_t i = 0; i < n; i++, fr.n++) {
		bool del = fr.n >= FRAG_KEYS;

		fr_key(want, fr.n % FRAG_KEYS);
		if (ev[i].is_delete != del || ev[i].kv.key_len != FRAG_KLEN ||
		    memcmp(ev[i].kv.key, want, FRAG_KLEN) ||
		    (!del &&
		     (ev[i].kv.value_len != FRAG_VLEN || ev[i].kv.value[0] != 'a' + fr.n % 26)) ||
		    ev[i].kv.mod_revision < fr.last_mod) {
			if (!fr.bad++)
				fprintf(stderr, "  fragments: event %d is %.16s (%zu bytes)\n",
					fr.n, ev[i].kv.key, ev[i].kv.value_len);
		}
		fr.last_mod = ev[i].kv.mod_revision;
	}
	loop_stop(L);
}

static void fr_compacted(void *arg, int64_t rev)
{
	fr.bad++;
	fprintf(stderr, "  fragments: compacted(%" PRId64 ")\n", rev);
}

static void fr_connected(void *arg, bool up)
{
	fr.up = up;
	loop_stop(L);
}

static void test_fragments(struct etcd *e)
{
	static const struct etcd_watch_ops ops = { fr_events, fr_compacted, fr_connected };
	static char keys[FRAG_KEYS][FRAG_KLEN + 1], vals[FRAG_KEYS][FRAG_VLEN];
	struct etcd_op op[FRAG_TXN];
	struct etcd_watch *w = NULL;
	struct etcd_stats st0, st1;
	struct res s, before;
	int calls, rc;

	before = put(e, "/smoke/bigstart", "", 0);
	for (int t = 0; t < FRAG_KEYS / FRAG_TXN; t++) {
		for (int i = 0; i < FRAG_TXN; i++) {
			int k = t * FRAG_TXN + i;

			fr_key(keys[k], k);
			memset(vals[k], 'a' + k % 26, FRAG_VLEN);
			op[i] = (struct etcd_op){ .type = ETCD_OP_PUT,
						  .key = keys[k],
						  .key_len = FRAG_KLEN,
						  .value = vals[k],
						  .value_len = FRAG_VLEN };
		}
		s = (struct res){ 0 };
		finish(etcd_txn(e, NULL, 0, op, FRAG_TXN, NULL, 0, on_reply, &s), &s,
		       "txn of puts");
		CHECK(s.err == 0 && s.succeeded, "txn %d: err %d %s", t, s.err, s.msg);
	}
	CHECK(etcd_watch_start(e, "/smoke/big/", 11, "/smoke/big0", 11, before.rev + 1, &ops, NULL,
			       &w) == 0,
	      "watch_start fragments");
	CHECK(WAIT(fr.n >= FRAG_KEYS || fr.bad, WAIT_MAX), "replay: %d events of %d", fr.n,
	      FRAG_KEYS);
	CHECK(WAIT(fr.up, WAIT_MAX), "fragments: watch not up");
	CHECK(fr.n == FRAG_KEYS && !fr.bad, "replay: %d events, %d bad", fr.n, fr.bad);

	etcd_get_stats(e, &st0);
	calls = fr.calls;
	rc = ctl(EP, NULL, "del", "--prefix", "/smoke/big/", NULL);
	CHECK(rc == 0, "etcdctl del --prefix: %d", rc);
	CHECK(WAIT(fr.n >= 2 * FRAG_KEYS || fr.bad, WAIT_MAX), "deletes: %d events of %d",
	      fr.n - FRAG_KEYS, FRAG_KEYS);
	run_for(200);
	etcd_get_stats(e, &st1);
	CHECK(fr.n == 2 * FRAG_KEYS && !fr.bad, "deletes: %d events, %d bad", fr.n - FRAG_KEYS,
	      fr.bad);
	/* One events() call for the revision, from more messages than that: fragments. */
	CHECK(fr.calls == calls + 1 && st1.watch_messages - st0.watch_messages >= 2,
	      "no fragments seen: %" PRIu64 " messages for %d events() calls",
	      st1.watch_messages - st0.watch_messages, fr.calls - calls);
	if (log_verbosity)
		printf("  fragments: 100 deletes in %d calls from %" PRIu64 " messages\n",
		       fr.calls - calls, st1.watch_messages - st0.watch_messages);
	etcd_watch_stop(w);
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
	pid = spawn_etcd("smoke", 23791, 23792, false, main_extra);
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
	struct res s;
	struct etcd *bad, *good;
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;
	struct etcd_stats st0, st1;
	int rc;

	rc = ctl(EP, NULL, "user", "add", "root:rootpw", NULL);
	CHECK(rc == 0, "etcdctl user add: %d", rc);
	rc = ctl(EP, NULL, "user", "grant-role", "root", "root", NULL);
	CHECK(rc == 0, "etcdctl user grant-role: %d", rc);
	rc = ctl(EP, NULL, "auth", "enable", NULL);
	CHECK(rc == 0, "etcdctl auth enable: %d", rc);

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

	/*
	 * Disable auth (which drops every token): the cached token is refused,
	 * authenticate answers FAILED_PRECONDITION, the client goes on without one.
	 */
	rc = ctl(EP, "root:rootpw", "auth", "disable", NULL);
	CHECK(rc == 0, "etcdctl auth disable: %d", rc);
	s = put(good, "/smoke/a", "z", 0);
	CHECK(s.err == 0, "put after auth disabled: err %d %s", s.err, s.msg);
	s = get(good, "/smoke/a", false);
	CHECK(s.n == 1 && !strcmp(s.vals[0], "z"), "range after auth disabled");

	/* Enable it again: the request without a token is refused, the client authenticates. */
	rc = ctl(EP, NULL, "auth", "enable", NULL);
	CHECK(rc == 0, "etcdctl auth enable again: %d", rc);
	etcd_get_stats(good, &st0);
	s = put(good, "/smoke/a", "w", 0);
	etcd_get_stats(good, &st1);
	CHECK(s.err == 0, "put after auth enabled again: err %d %s", s.err, s.msg);
	CHECK(st1.errors > st0.errors, "no refusal before re-authentication: errors %" PRIu64,
	      st1.errors - st0.errors);
	s = get(good, "/smoke/a", false);
	CHECK(s.n == 1 && !strcmp(s.vals[0], "w"), "range after re-authentication");
	ws = (struct wstate){ 0 };
	CHECK(etcd_watch_start(good, "/smoke/a", 8, NULL, 0, 0, &wops, &ws, &w) == 0, "watch");
	CHECK(WAIT(ws.up, WAIT_MAX), "watch after re-authentication");
	put(good, "/smoke/a", "v", 0);
	CHECK(WAIT(ws.n == 1, WAIT_MAX), "event after re-authentication");
	etcd_watch_stop(w);
	etcd_free(good);
	rc = ctl(EP, "root:rootpw", "auth", "disable", NULL);
	CHECK(rc == 0, "etcdctl auth disable at the end: %d", rc);
}

/*
 * ---- a scripted fake gRPC server ----
 *
 * HTTP/2 written by hand, one blocking thread per connection: frames are
 * read whole, request headers decoded with nghttp2's HPACK inflater (the
 * client's encoder is free to use Huffman and the dynamic table), response
 * headers sent as HPACK literals. What a connection does is fake.mode when
 * it was accepted (port 23797), or FM_DEAF (port 23798).
 */

enum fmode {
	FM_WATCH,   /* bytewise watch, stream reset, silent watch, compaction */
	FM_ERRORS,  /* gRPC error answers, by method; Authenticate gives tokens */
	FM_GARBAGE, /* SETTINGS, then bytes that are not HTTP/2 frames */
	FM_HTTP1,   /* "HTTP/1.1 400 Bad Request" */
	FM_BIG,	    /* a watch message announcing more than 16 MiB */
	FM_RESET,   /* TCP reset in the middle of a unary answer */
	FM_SILENT,  /* HTTP/2 up, PINGs answered, calls never answered */
	FM_DEAF,    /* a watch is created, then nothing, not even PING ACKs */
};

struct fhdrs {
	char method[16], path[96], ctype[64], te[32], hasleader[16], timeout[32], token[64];
};

struct fwatch {
	struct fhdrs h;
	char key[32], end[32];
	int64_t start;
	bool fragment, create;
};

/* What the fake saw since the last fake_set_mode(); read it with fake_rec(). */
struct frec {
	int conns;
	int watches;
	struct fwatch watch[8];
	int n_range, n_keepalive, n_revoke, n_put, n_auth, n_silent;
	struct fhdrs range, revoke, put[4], silent;
};

static struct {
	int lfd[2];
	pthread_t lth[2];
	volatile bool quit;
	pthread_mutex_t mu;
	enum fmode mode;
	pthread_t conns[256];
	int n_conns;
	struct frec rec;
} fake;

#define FRAME_HDR 9
enum { FK_DATA = 0, FK_HEADERS = 1, FK_RST = 3, FK_SETTINGS = 4, FK_PING = 6, FK_CONT = 9 };
enum { F_END_STREAM = 1, F_ACK = 1, F_END_HEADERS = 4, F_PADDED = 8, F_PRIORITY = 0x20 };

struct fstream {
	int32_t id;
	bool headers, end, taken;
	struct fhdrs h;
	uint8_t body[8192];
	size_t body_len;
};

struct fconn {
	int fd;
	enum fmode mode;
	bool slow; /* every byte in its own write (and DATA frames of one byte) */
	nghttp2_hd_inflater *inf;
	struct fstream st[8];
	unsigned n_st;
	uint8_t in[64 * 1024];
	size_t in_len;
	uint8_t frame[32 * 1024];
};

static void fake_lock(void)
{
	pthread_mutex_lock(&fake.mu);
}

static void fake_unlock(void)
{
	pthread_mutex_unlock(&fake.mu);
}

static void fake_set_mode(enum fmode m)
{
	fake_lock();
	fake.mode = m;
	memset(&fake.rec, 0, sizeof(fake.rec));
	fake_unlock();
}

static struct frec fake_rec(void)
{
	struct frec r;

	fake_lock();
	r = fake.rec;
	fake_unlock();
	return r;
}

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

static void fk_write(struct fconn *fc, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (!fc->slow) {
		send_all(fc->fd, b, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		send_all(fc->fd, b + i, 1);
		usleep(30);
	}
}

static void fk_frame(struct fconn *fc, int type, int flags, int32_t id, const void *p, size_t n)
{
	uint8_t buf[FRAME_HDR + 1024];

	if (n > sizeof(buf) - FRAME_HDR)
		abort();
	buf[0] = (uint8_t)(n >> 16);
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)n;
	buf[3] = (uint8_t)type;
	buf[4] = (uint8_t)flags;
	buf[5] = (uint8_t)((uint32_t)id >> 24 & 0x7f);
	buf[6] = (uint8_t)(id >> 16);
	buf[7] = (uint8_t)(id >> 8);
	buf[8] = (uint8_t)id;
	if (n)
		memcpy(buf + FRAME_HDR, p, n);
	fk_write(fc, buf, FRAME_HDR + n);
}

/* A HEADERS frame of "name", "value", ..., NULL as HPACK literals (never indexed). */
static void fk_headers(struct fconn *fc, int32_t id, bool end_stream, const char *const *nv)
{
	uint8_t b[1024];
	size_t n = 0;

	for (; nv[0] && nv[1]; nv += 2) {
		size_t ln = strlen(nv[0]), lv = strlen(nv[1]);

		if (ln > 126 || lv > 126 || n + ln + lv + 3 > sizeof(b))
			abort(); /* longer strings need a multi-byte length */
		b[n++] = 0x10;
		b[n++] = (uint8_t)ln;
		memcpy(b + n, nv[0], ln);
		n += ln;
		b[n++] = (uint8_t)lv;
		memcpy(b + n, nv[1], lv);
		n += lv;
	}
	fk_frame(fc, FK_HEADERS, F_END_HEADERS | (end_stream ? F_END_STREAM : 0), id, b, n);
}

static void fk_resp_headers(struct fconn *fc, int32_t id)
{
	static const char *const nv[] = { ":status", "200", "content-type", "application/grpc",
					  NULL };

	fk_headers(fc, id, false, nv);
}

/* Trailers, or (trailers_only) the whole answer in one HEADERS frame. */
static void fk_status(struct fconn *fc, int32_t id, bool trailers_only, int status, const char *msg)
{
	const char *nv[12];
	char st[16];
	int n = 0;

	snprintf(st, sizeof(st), "%d", status);
	if (trailers_only) {
		nv[n++] = ":status";
		nv[n++] = "200";
		nv[n++] = "content-type";
		nv[n++] = "application/grpc";
	}
	nv[n++] = "grpc-status";
	nv[n++] = st;
	if (msg) {
		nv[n++] = "grpc-message";
		nv[n++] = msg;
	}
	nv[n] = NULL;
	fk_headers(fc, id, true, nv);
}

/* One gRPC message (prefix and body): one DATA frame, or one per byte when slow. */
static void fk_msg(struct fconn *fc, int32_t id, const uint8_t *p, size_t n)
{
	uint8_t b[1024];

	if (n + 5 > sizeof(b))
		abort();
	b[0] = 0;
	b[1] = (uint8_t)(n >> 24);
	b[2] = (uint8_t)(n >> 16);
	b[3] = (uint8_t)(n >> 8);
	b[4] = (uint8_t)n;
	memcpy(b + 5, p, n);
	if (!fc->slow) {
		fk_frame(fc, FK_DATA, 0, id, b, n + 5);
		return;
	}
	for (size_t i = 0; i < n + 5; i++)
		fk_frame(fc, FK_DATA, 0, id, b + i, 1);
}

static void fk_pb(struct fconn *fc, int32_t id, const ProtobufCMessage *m)
{
	uint8_t b[1000];
	size_t n = protobuf_c_message_get_packed_size(m);

	if (n > sizeof(b))
		abort();
	protobuf_c_message_pack(m, b);
	fk_msg(fc, id, b, n);
}

struct fev {
	bool del;
	const char *key, *val;
	int64_t mod;
};

static void fk_watch_resp(struct fconn *fc, int32_t id, int64_t rev, bool created, int64_t compact,
			  const struct fev *ev, size_t n)
{
	Etcdserverpb__ResponseHeader h;
	Etcdserverpb__WatchResponse w;
	Mvccpb__KeyValue kv[4];
	Mvccpb__Event e[4], *ep[4];

	etcdserverpb__response_header__init(&h);
	etcdserverpb__watch_response__init(&w);
	h.revision = rev;
	h.raft_term = 2;
	w.header = &h;
	w.created = created;
	if (compact) {
		w.canceled = true;
		w.compact_revision = compact;
	}
	for (size_t i = 0; i < n && i < 4; i++) {
		mvccpb__key_value__init(&kv[i]);
		mvccpb__event__init(&e[i]);
		kv[i].key.data = (uint8_t *)(uintptr_t)ev[i].key;
		kv[i].key.len = strlen(ev[i].key);
		kv[i].mod_revision = ev[i].mod;
		if (!ev[i].del) {
			kv[i].value.data = (uint8_t *)(uintptr_t)ev[i].val;
			kv[i].value.len = strlen(ev[i].val);
			kv[i].create_revision = ev[i].mod;
			kv[i].version = 1;
		}
		e[i].type = ev[i].del ? MVCCPB__EVENT__EVENT_TYPE__DELETE
				      : MVCCPB__EVENT__EVENT_TYPE__PUT;
		e[i].kv = &kv[i];
		ep[i] = &e[i];
	}
	w.n_events = n;
	w.events = n ? ep : NULL;
	fk_pb(fc, id, &w.base);
}

/* ---- reading ---- */

/* Until in holds need bytes: 0, or -1 on EOF, error or quit. */
static int fk_fill(struct fconn *fc, size_t need)
{
	while (fc->in_len < need) {
		struct pollfd p = { .fd = fc->fd, .events = POLLIN };
		ssize_t n;

		if (fake.quit)
			return -1;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(fc->fd, fc->in + fc->in_len, sizeof(fc->in) - fc->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		fc->in_len += (size_t)n;
	}
	return 0;
}

static void fk_consume(struct fconn *fc, size_t n)
{
	memmove(fc->in, fc->in + n, fc->in_len - n);
	fc->in_len -= n;
}

/* Read until the peer closes (or quit). */
static void fk_drain(struct fconn *fc)
{
	while (fk_fill(fc, fc->in_len + 1) == 0)
		fc->in_len = 0;
}

static void fk_copy(char *dst, size_t size, const uint8_t *v, size_t n)
{
	snprintf(dst, size, "%.*s", (int)n, (const char *)v);
}

static void fk_header(struct fstream *s, const nghttp2_nv *nv)
{
	static const struct {
		const char *name;
		size_t off, size;
	} f[] = {
		{ ":method", offsetof(struct fhdrs, method), sizeof(((struct fhdrs *)0)->method) },
		{ ":path", offsetof(struct fhdrs, path), sizeof(((struct fhdrs *)0)->path) },
		{ "content-type", offsetof(struct fhdrs, ctype),
		  sizeof(((struct fhdrs *)0)->ctype) },
		{ "te", offsetof(struct fhdrs, te), sizeof(((struct fhdrs *)0)->te) },
		{ "hasleader", offsetof(struct fhdrs, hasleader),
		  sizeof(((struct fhdrs *)0)->hasleader) },
		{ "grpc-timeout", offsetof(struct fhdrs, timeout),
		  sizeof(((struct fhdrs *)0)->timeout) },
		{ "token", offsetof(struct fhdrs, token), sizeof(((struct fhdrs *)0)->token) },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (nv->namelen == strlen(f[i].name) && !memcmp(nv->name, f[i].name, nv->namelen))
			fk_copy((char *)&s->h + f[i].off, f[i].size, nv->value, nv->valuelen);
}

static int fk_decode(struct fconn *fc, struct fstream *s, const uint8_t *p, size_t n)
{
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t r = nghttp2_hd_inflate_hd2(fc->inf, &nv, &fl, p, n, 1);

		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
		if (fl & NGHTTP2_HD_INFLATE_EMIT)
			fk_header(s, &nv);
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(fc->inf);
			return 0;
		}
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && !n)
			return 0;
	}
}

static struct fstream *fk_stream(struct fconn *fc, int32_t id, bool create)
{
	struct fstream *s;

	for (unsigned i = 0; i < sizeof(fc->st) / sizeof(fc->st[0]); i++)
		if (fc->st[i].id == id)
			return &fc->st[i];
	if (!create)
		return NULL;
	s = &fc->st[fc->n_st++ % (sizeof(fc->st) / sizeof(fc->st[0]))];
	memset(s, 0, sizeof(*s));
	s->id = id;
	return s;
}

static bool fk_complete(const struct fstream *s)
{
	const uint8_t *b = s->body;

	if (!s->headers)
		return false;
	if (s->end)
		return true;
	return s->body_len >= 5 && s->body_len - 5 >= ((size_t)b[1] << 24 | (size_t)b[2] << 16 |
						       (size_t)b[3] << 8 | b[4]);
}

/*
 * The next request whose headers and first message are in, answering
 * SETTINGS and (unless deaf) PING on the way; NULL when the peer is gone.
 */
static struct fstream *fk_next(struct fconn *fc)
{
	for (;;) {
		struct fstream *s;
		size_t len, off = 0;
		int type, flags;
		int32_t id;
		uint8_t *p = fc->frame;

		for (unsigned i = 0; i < sizeof(fc->st) / sizeof(fc->st[0]); i++) {
			s = &fc->st[i];
			if (s->id && !s->taken && fk_complete(s)) {
				s->taken = true;
				return s;
			}
		}
		if (fk_fill(fc, FRAME_HDR) < 0)
			return NULL;
		len = (size_t)fc->in[0] << 16 | (size_t)fc->in[1] << 8 | fc->in[2];
		type = fc->in[3];
		flags = fc->in[4];
		id = (int32_t)((uint32_t)(fc->in[5] & 0x7f) << 24 | (uint32_t)fc->in[6] << 16 |
			       (uint32_t)fc->in[7] << 8 | fc->in[8]);
		if (len > sizeof(fc->frame) || fk_fill(fc, FRAME_HDR + len) < 0)
			return NULL;
		memcpy(p, fc->in + FRAME_HDR, len);
		fk_consume(fc, FRAME_HDR + len);
		if ((type == FK_HEADERS || type == FK_DATA) && (flags & F_PADDED) && len) {
			if (p[0] >= len)
				return NULL;
			len -= 1 + p[0];
			off = 1;
		}
		switch (type) {
		case FK_SETTINGS:
			if (!(flags & F_ACK))
				fk_frame(fc, FK_SETTINGS, F_ACK, 0, NULL, 0);
			break;
		case FK_PING:
			if (!(flags & F_ACK) && fc->mode != FM_DEAF && len == 8)
				fk_frame(fc, FK_PING, F_ACK, 0, p, 8);
			break;
		case FK_HEADERS:
			if (flags & F_PRIORITY) {
				if (len < 5)
					return NULL;
				off += 5;
				len -= 5;
			}
			if (!(flags & F_END_HEADERS))
				return NULL; /* no CONTINUATION for headers this small */
			s = fk_stream(fc, id, true);
			if (fk_decode(fc, s, p + off, len) < 0)
				return NULL;
			s->headers = true;
			s->end = flags & F_END_STREAM;
			break;
		case FK_DATA:
			s = fk_stream(fc, id, false);
			if (!s)
				break;
			if (len > sizeof(s->body) - s->body_len)
				len = sizeof(s->body) - s->body_len;
			memcpy(s->body + s->body_len, p + off, len);
			s->body_len += len;
			if (flags & F_END_STREAM)
				s->end = true;
			break;
		case FK_RST:
			s = fk_stream(fc, id, false);
			if (s)
				s->taken = true; /* cancelled: nothing to answer */
			break;
		default:
			break; /* WINDOW_UPDATE, PRIORITY, GOAWAY */
		}
	}
}

/* ---- behaviours ---- */

static bool is_path(const struct fstream *s, const char *method)
{
	return !strcmp(s->h.path, method);
}

/* Record a watch request (WatchCreateRequest decoded); its index. */
static int fk_record_watch(struct fstream *s)
{
	Etcdserverpb__WatchRequest *wr = NULL;
	struct fwatch fw = { .h = s->h, .start = -1 };
	int k;

	if (s->body_len >= 5)
		wr = etcdserverpb__watch_request__unpack(NULL, s->body_len - 5, s->body + 5);
	if (wr &&
	    wr->request_union_case == ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST) {
		Etcdserverpb__WatchCreateRequest *c = wr->create_request;

		fw.create = true;
		fw.start = c->start_revision;
		fw.fragment = c->fragment;
		fk_copy(fw.key, sizeof(fw.key), c->key.data, c->key.len);
		fk_copy(fw.end, sizeof(fw.end), c->range_end.data, c->range_end.len);
	}
	if (wr)
		etcdserverpb__watch_request__free_unpacked(wr, NULL);
	fake_lock();
	k = fake.rec.watches++;
	if (k < 8)
		fake.rec.watch[k] = fw;
	fake_unlock();
	return k;
}

static void fk_on_watch(struct fconn *fc, struct fstream *s)
{
	const struct fev e11[] = { { false, "/f/a", "1", 11 } };
	const struct fev e12[] = { { false, "/f/b", "2", 12 }, { false, "/f/c", "3", 12 } };
	const struct fev e13[] = { { true, "/f/a", NULL, 13 } };
	int k = fk_record_watch(s);

	if (!is_path(s, "/etcdserverpb.Watch/Watch"))
		return;
	if (k == 0) {
		/*
		 * Every byte its own write, every DATA frame one byte. The last
		 * message's header is ahead of its event (as in a batched
		 * replay): the resume must start after the event (14), not
		 * after the header (16).
		 */
		fc->slow = true;
		fk_resp_headers(fc, s->id);
		fk_watch_resp(fc, s->id, 10, true, 0, NULL, 0);
		fk_watch_resp(fc, s->id, 11, false, 0, e11, 1);
		fk_watch_resp(fc, s->id, 12, false, 0, e12, 2);
		fk_watch_resp(fc, s->id, 12, false, 0, NULL, 0); /* progress */
		fk_watch_resp(fc, s->id, 15, false, 0, e13, 1);
		fc->slow = false;
		usleep(50000);
		fk_frame(fc, FK_RST, 0, s->id, "\0\0\0\2", 4); /* INTERNAL_ERROR */
	} else if (k >= 2) {
		/* (k == 1 is never answered: the client must give up waiting for "created".) */
		fk_resp_headers(fc, s->id);
		fk_watch_resp(fc, s->id, 15, true, 0, NULL, 0);
		fk_watch_resp(fc, s->id, 15, false, 5, NULL, 0);
		/* etcd keeps the stream open after a cancel */
	}
}

static void fk_on_errors(struct fconn *fc, struct fstream *s)
{
	int n;

	fake_lock();
	if (is_path(s, "/etcdserverpb.Auth/Authenticate")) {
		Etcdserverpb__AuthenticateResponse a;
		char tok[32];

		n = ++fake.rec.n_auth;
		fake_unlock();
		snprintf(tok, sizeof(tok), "fake-token-%d", n);
		etcdserverpb__authenticate_response__init(&a);
		a.token = tok;
		fk_resp_headers(fc, s->id);
		fk_pb(fc, s->id, &a.base);
		fk_status(fc, s->id, false, 0, NULL);
	} else if (is_path(s, "/etcdserverpb.KV/Range")) {
		fake.rec.n_range++;
		fake.rec.range = s->h;
		fake_unlock();
		/* Trailers-Only UNAVAILABLE: the client tries the next endpoint. */
		fk_status(fc, s->id, true, 14, "etcdserver: no leader");
	} else if (is_path(s, "/etcdserverpb.Lease/LeaseKeepAlive")) {
		fake.rec.n_keepalive++;
		fake_unlock();
		/* Headers, no message, then UNAVAILABLE in the trailers: retried too. */
		fk_resp_headers(fc, s->id);
		fk_status(fc, s->id, false, 14, "transport is closing");
	} else if (is_path(s, "/etcdserverpb.Lease/LeaseRevoke")) {
		fake.rec.n_revoke++;
		fake.rec.revoke = s->h;
		fake_unlock();
		fk_status(fc, s->id, true, 5, "etcdserver:%20requested%20lease%20not%20found");
	} else if (is_path(s, "/etcdserverpb.KV/Put")) {
		n = fake.rec.n_put++;
		if (n < 4)
			fake.rec.put[n] = s->h;
		fake_unlock();
		if (n == 0) /* the token is refused once: authenticate again, retry */
			fk_status(fc, s->id, true, 16, "etcdserver:%20invalid%20auth%20token");
		else /* a status no gRPC version defines, without text */
			fk_status(fc, s->id, true, 42, NULL);
	} else {
		fake_unlock();
		fk_status(fc, s->id, true, 12, "unknown%20method");
	}
}

/* Answer one request; false to close the connection with a TCP reset. */
static bool fk_answer(struct fconn *fc, struct fstream *s)
{
	static const uint8_t part[] = { 0, 0, 0, 0, 100, 10, 4, 't', 'r', 'u', 'n', 'c' };
	static const uint8_t big[] = { 0, 0x01, 0x10, 0, 0, 0x0a, 0x00 }; /* 17 MiB announced */
	const struct fev ev[] = { { false, "/d/a", "x", 2 } };

	switch (fc->mode) {
	case FM_WATCH:
		fk_on_watch(fc, s);
		break;
	case FM_ERRORS:
		fk_on_errors(fc, s);
		break;
	case FM_BIG:
		if (fk_record_watch(s) == 0) {
			fk_resp_headers(fc, s->id);
			fk_watch_resp(fc, s->id, 20, true, 0, NULL, 0);
			fk_frame(fc, FK_DATA, 0, s->id, big, sizeof(big));
		}
		break;
	case FM_RESET:
		fake_lock();
		fake.rec.n_range++;
		fake_unlock();
		fk_resp_headers(fc, s->id);
		fk_frame(fc, FK_DATA, 0, s->id, part, sizeof(part));
		usleep(20000);
		return false;
	case FM_SILENT:
		fake_lock();
		fake.rec.n_silent++;
		fake.rec.silent = s->h;
		fake_unlock();
		break;
	case FM_DEAF:
		if (is_path(s, "/etcdserverpb.Watch/Watch")) {
			fk_resp_headers(fc, s->id);
			fk_watch_resp(fc, s->id, 2, true, 0, NULL, 0);
			fk_watch_resp(fc, s->id, 2, false, 0, ev, 1);
		}
		break;
	default:
		break;
	}
	return true;
}

static void *fake_conn_main(void *arg)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const char http1[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
				    "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
	static const char garbage[] = "garbage, not HTTP/2 frames\r\n";
	struct fconn *fc = arg;
	struct linger lg = { 1, 0 };
	struct fstream *s;

	if (fk_fill(fc, 24) < 0)
		goto out;
	if (fc->mode == FM_HTTP1) {
		send_all(fc->fd, http1, strlen(http1));
		shutdown(fc->fd, SHUT_WR);
		fk_drain(fc);
		goto out;
	}
	if (memcmp(fc->in, preface, 24))
		goto out;
	fk_consume(fc, 24);
	fk_frame(fc, FK_SETTINGS, 0, 0, NULL, 0);
	if (fc->mode == FM_GARBAGE) {
		send_all(fc->fd, garbage, strlen(garbage));
		fk_drain(fc);
		goto out;
	}
	while ((s = fk_next(fc))) {
		if (!fk_answer(fc, s)) {
			setsockopt(fc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			break;
		}
	}
out:
	nghttp2_hd_inflate_del(fc->inf);
	close(fc->fd);
	free(fc);
	return NULL;
}

static void *fake_main(void *arg)
{
	int i = (int)(intptr_t)arg;

	while (!fake.quit) {
		struct pollfd p = { .fd = fake.lfd[i], .events = POLLIN };
		struct fconn *fc;
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept4(fake.lfd[i], NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		fc = calloc(1, sizeof(*fc));
		if (!fc || nghttp2_hd_inflate_new(&fc->inf) != 0) {
			free(fc);
			close(fd);
			continue;
		}
		fc->fd = fd;
		fake_lock();
		fc->mode = i ? FM_DEAF : fake.mode;
		if (!i)
			fake.rec.conns++;
		if (fake.n_conns < (int)(sizeof(fake.conns) / sizeof(fake.conns[0])) &&
		    pthread_create(&fake.conns[fake.n_conns], NULL, fake_conn_main, fc) == 0) {
			fake.n_conns++;
		} else {
			nghttp2_hd_inflate_del(fc->inf);
			close(fd);
			free(fc);
		}
		fake_unlock();
	}
	return NULL;
}

static void fake_start(void)
{
	int one = 1;

	pthread_mutex_init(&fake.mu, NULL);
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)(23797 + i)),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		fake.lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(fake.lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fake.lfd[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(fake.lfd[i], 16) < 0) {
			perror("fake gRPC server");
			exit(2);
		}
		pthread_create(&fake.lth[i], NULL, fake_main, (void *)(intptr_t)i);
	}
}

static void fake_stop(void)
{
	fake.quit = true;
	for (int i = 0; i < 2; i++) {
		pthread_join(fake.lth[i], NULL);
		close(fake.lfd[i]);
	}
	for (int i = 0; i < fake.n_conns; i++)
		pthread_join(fake.conns[i], NULL);
}

/* A request that must not complete: its last error names the problem; still retrying. */
static void expect_failing(enum fmode mode, const char *want, const char *what)
{
	const char *eps1[] = { EP_FAKE }, *eps2[] = { EP_FAKE, EP };
	struct etcd *e;
	struct etcd_stats st;
	struct res s = { 0 };

	fake_set_mode(mode);
	e = client(eps1, 1, NULL, NULL);
	CHECK(etcd_range(e, "/smoke/kv/a", 11, NULL, 0, 0, 0, on_reply, &s) == 0, "range");
	CHECK(WAIT(strstr(etcd_last_error(e), want) != NULL, 5000),
	      "%s: last error \"%s\" does not say \"%s\"", what, etcd_last_error(e), want);
	/* Still retrying: a second attempt on a second connection (the backoff is jittered). */
	CHECK(WAIT((etcd_get_stats(e, &st), st.errors >= 2 && fake_rec().conns >= 2), 5000),
	      "%s: no second attempt", what);
	etcd_get_stats(e, &st);
	CHECK(!s.done && st.errors >= 2 && fake_rec().conns >= 2,
	      "%s: done %d errors %" PRIu64 " connections %d", what, s.done, st.errors,
	      fake_rec().conns);
	CHECK(!strchr(etcd_last_error(e), '\n'), "%s: not one line", what);
	printf("  %s: \"%s\"\n", what, etcd_last_error(e));
	etcd_free(e);

	/* With a good endpoint listed too, the request succeeds there. */
	e = client(eps2, 2, NULL, NULL);
	s = get(e, "/smoke/kv/a", false);
	CHECK(s.err == 0 && s.n == 1 && !strcmp(s.vals[0], "v1"), "%s, then etcd: err %d n %zu",
	      what, s.err, s.n);
	etcd_free(e);
}

static void test_fake_watch(void)
{
	const char *eps1[] = { EP_FAKE };
	struct wstate ws = { 0 };
	struct etcd_watch *w = NULL;
	struct etcd_stats st;
	struct etcd *e;
	struct frec r;

	/*
	 * Watch: every byte in its own write and DATA frame; a stream reset by
	 * the server; a silent stream (no "created"); then a compaction cancel.
	 */
	fake_set_mode(FM_WATCH);
	e = client_t(eps1, 1, NULL, NULL, 1000);
	CHECK(etcd_watch_start(e, "/f/", 3, "/f0", 3, 0, &wops, &ws, &w) == 0, "fake watch");
	CHECK(WAIT(ws.n == 4, WAIT_MAX), "fake events: %d", ws.n);
	CHECK(ws.msgs == 3 && !strcmp(ws.ev[0].key, "/f/a") && !strcmp(ws.ev[0].val, "1") &&
		      ws.ev[0].mod == 11 && !strcmp(ws.ev[1].key, "/f/b") &&
		      !strcmp(ws.ev[2].val, "3") && ws.ev[2].mod == 12 && ws.ev[3].del &&
		      !strcmp(ws.ev[3].key, "/f/a") && ws.ev[3].mod == 13 && ws.last_rev == 15,
	      "fake events content: msgs %d", ws.msgs);
	CHECK(WAIT(ws.compacted, WAIT_MAX), "fake: no compaction after reconnects");
	r = fake_rec();
	CHECK(ws.compact_rev == 5 && ws.ups == 2 && ws.downs == 1,
	      "fake: rev %" PRId64 " ups %d downs %d", ws.compact_rev, ws.ups, ws.downs);
	CHECK(r.watches == 3, "fake: %d watch streams", r.watches);
	CHECK(r.watch[0].create && r.watch[0].start == 0 && r.watch[0].fragment &&
		      !strcmp(r.watch[0].key, "/f/") && !strcmp(r.watch[0].end, "/f0"),
	      "first WatchCreateRequest: start %" PRId64 " fragment %d key %s end %s",
	      r.watch[0].start, r.watch[0].fragment, r.watch[0].key, r.watch[0].end);
	CHECK(r.watch[1].start == 14 && r.watch[2].start == 14,
	      "resumed from %" PRId64 " and %" PRId64 ", want 14", r.watch[1].start,
	      r.watch[2].start);
	CHECK(!strcmp(r.watch[0].h.method, "POST") &&
		      !strcmp(r.watch[0].h.path, "/etcdserverpb.Watch/Watch") &&
		      !strcmp(r.watch[0].h.ctype, "application/grpc") &&
		      !strcmp(r.watch[0].h.te, "trailers") &&
		      !strcmp(r.watch[0].h.hasleader, "true") && !r.watch[0].h.timeout[0] &&
		      !r.watch[0].h.token[0],
	      "watch headers: method %s path %s content-type %s te %s hasleader %s timeout %s",
	      r.watch[0].h.method, r.watch[0].h.path, r.watch[0].h.ctype, r.watch[0].h.te,
	      r.watch[0].h.hasleader, r.watch[0].h.timeout);
	CHECK(r.conns == 1, "fake watch: %d connections (streams share one)", r.conns);
	etcd_get_stats(e, &st);
	CHECK(st.watch_reconnects == 2, "watch_reconnects %" PRIu64, st.watch_reconnects);
	run_for(200);
	CHECK(fake_rec().watches == 3 && ws.n == 4, "activity after compaction");
	etcd_watch_stop(w);
	etcd_free(e);

	/* A message announcing more than the 16 MiB cap: the watch ends with compacted(0). */
	fake_set_mode(FM_BIG);
	ws = (struct wstate){ 0 };
	e = client(eps1, 1, NULL, NULL);
	CHECK(etcd_watch_start(e, "/big", 4, NULL, 0, 0, &wops, &ws, &w) == 0, "big watch");
	CHECK(WAIT(ws.compacted, WAIT_MAX), "over the cap: no compacted()");
	CHECK(ws.compact_rev == 0 && ws.n == 0, "over the cap: compacted(%" PRId64 "), %d events",
	      ws.compact_rev, ws.n);
	run_for(500);
	CHECK(fake_rec().watches == 1, "over the cap: watched again (%d streams)",
	      fake_rec().watches);
	etcd_watch_stop(w);
	etcd_free(e);
}

static void test_fake_errors(void)
{
	const char *eps1[] = { EP_FAKE }, *eps2[] = { EP_FAKE, EP };
	struct etcd_stats st;
	struct etcd *e;
	struct res s;
	struct frec r;
	int64_t id;
	uint64_t t0;

	/* Trailers-Only UNAVAILABLE: retried on the next endpoint, counted. */
	fake_set_mode(FM_ERRORS);
	e = client(eps2, 2, NULL, NULL);
	s = get(e, "/smoke/kv/a", false);
	etcd_get_stats(e, &st);
	r = fake_rec();
	CHECK(s.err == 0 && s.n == 1 && r.n_range == 1 && st.errors == 1 && st.requests == 2,
	      "UNAVAILABLE: err %d n %zu fake %d errors %" PRIu64 " requests %" PRIu64, s.err, s.n,
	      r.n_range, st.errors, st.requests);
	CHECK(!strcmp(r.range.ctype, "application/grpc") && !strcmp(r.range.te, "trailers") &&
		      !strcmp(r.range.timeout, "2000m") && !r.range.hasleader[0],
	      "range headers: content-type %s te %s grpc-timeout %s hasleader %s", r.range.ctype,
	      r.range.te, r.range.timeout, r.range.hasleader);
	s = (struct res){ 0 };
	finish(etcd_lease_grant(e, 60, on_reply, &s), &s, "grant");
	id = s.lease_id;
	etcd_free(e);

	/* UNAVAILABLE in the trailers after the headers: retried too. */
	e = client(eps2, 2, NULL, NULL);
	s = (struct res){ 0 };
	finish(etcd_lease_keepalive(e, id, on_reply, &s), &s, "keepalive");
	CHECK(s.err == 0 && s.ttl == 60 && fake_rec().n_keepalive == 1,
	      "keepalive: err %d ttl %" PRId64 " fake %d", s.err, s.ttl, fake_rec().n_keepalive);
	etcd_free(e);

	/*
	 * Only the fake, with a user: Authenticate gives a token; NOT_FOUND
	 * with a percent-encoded text; a refused token makes the client
	 * authenticate again; then a grpc-status no gRPC defines (42).
	 */
	e = client(eps1, 1, "u", "p");
	s = (struct res){ 0 };
	finish(etcd_lease_revoke(e, 12345, on_reply, &s), &s, "fake revoke");
	r = fake_rec();
	CHECK(s.err == -EREMOTEIO && s.grpc == 5 &&
		      !strcmp(s.msg, "etcdserver: requested lease not found"),
	      "percent-encoded message: err %d code %d msg \"%s\"", s.err, s.grpc, s.msg);
	CHECK(r.n_auth == 1 && !strcmp(r.revoke.token, "fake-token-1"),
	      "token metadata: auth %d token \"%s\"", r.n_auth, r.revoke.token);
	s = put(e, "/x", "y", 0);
	r = fake_rec();
	CHECK(s.err == -EREMOTEIO && s.grpc == 42 && strstr(s.msg, "42") && !strchr(s.msg, '\n'),
	      "unknown status: err %d code %d msg \"%s\"", s.err, s.grpc, s.msg);
	printf("  grpc-status 42 reads \"%s\"\n", s.msg);
	CHECK(r.n_put == 2 && r.n_auth == 2 && !strcmp(r.put[0].token, "fake-token-1") &&
		      !strcmp(r.put[1].token, "fake-token-2"),
	      "re-authentication: puts %d auths %d tokens \"%s\" \"%s\"", r.n_put, r.n_auth,
	      r.put[0].token, r.put[1].token);
	etcd_free(e);

	/* A TCP reset in the middle of an answer: retried on the next endpoint. */
	fake_set_mode(FM_RESET);
	e = client(eps2, 2, NULL, NULL);
	s = get(e, "/smoke/kv/a", false);
	etcd_get_stats(e, &st);
	CHECK(s.err == 0 && s.n == 1 && !strcmp(s.vals[0], "v1") && fake_rec().n_range == 1 &&
		      st.errors == 1,
	      "reset: err %d n %zu fake %d errors %" PRIu64, s.err, s.n, fake_rec().n_range,
	      st.errors);
	etcd_free(e);

	/* A server that never answers: the call's deadline, then the next endpoint. */
	fake_set_mode(FM_SILENT);
	e = client_t(eps2, 2, NULL, NULL, 500);
	t0 = loop_now_ms();
	s = get(e, "/smoke/kv/a", false);
	etcd_get_stats(e, &st);
	r = fake_rec();
	CHECK(s.err == 0 && s.n == 1 && r.n_silent == 1 && st.errors == 1 &&
		      loop_now_ms() - t0 >= 450,
	      "silent: err %d fake %d errors %" PRIu64 " after %" PRIu64 " ms", s.err, r.n_silent,
	      st.errors, loop_now_ms() - t0);
	CHECK(!strcmp(r.silent.timeout, "500m"), "grpc-timeout \"%s\"", r.silent.timeout);
	etcd_free(e);

	/* Not HTTP/2: garbage after the SETTINGS frame; an HTTP/1.1 server. */
	expect_failing(FM_GARBAGE, "HTTP/2", "garbage after SETTINGS");
	expect_failing(FM_HTTP1, "HTTP/1.x", "an HTTP/1.1 server");
}

/*
 * A server that stops answering HTTP/2 PINGs under an open watch (port
 * 23798): dropped after 10 s idle + 5 s without a PING ACK. Started first,
 * checked at the end, so that it costs no time of its own.
 */
static struct {
	struct etcd *e;
	struct etcd_watch *w;
	struct wstate ws;
} deaf;

static void deaf_start(void)
{
	const char *eps[] = { EP_DEAF };

	deaf.e = client(eps, 1, NULL, NULL);
	deaf.ws.e = deaf.e;
	CHECK(etcd_watch_start(deaf.e, "/d/", 3, "/d0", 3, 0, &wops, &deaf.ws, &deaf.w) == 0,
	      "deaf watch");
	CHECK(WAIT(deaf.ws.up && deaf.ws.n == 1, WAIT_MAX), "deaf watch not up");
}

static void deaf_check(void)
{
	uint64_t lived;

	CHECK(WAIT(deaf.ws.downs >= 1, 30000), "a server without PING ACKs was not dropped");
	lived = deaf.ws.down_ms - deaf.ws.up_ms;
	CHECK(deaf.ws.downs >= 1 && lived >= 14000 && strstr(deaf.ws.down_err, "PING"),
	      "PING timeout: after %" PRIu64 " ms: \"%s\"", lived, deaf.ws.down_err);
	printf("  no PING ACK: dropped after %" PRIu64 " ms: \"%s\"\n", lived, deaf.ws.down_err);
	etcd_watch_stop(deaf.w);
	etcd_free(deaf.e);
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
	pid = spawn_etcd("tls", 23795, 23796, true, extra);
	CHECK(port_open(23795, WAIT_MAX), "TLS etcd does not listen");
	/* The first answer over TLS (ALPN h2, client certificate) may take a few retries. */
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
	uint64_t t0;
	pid_t pid;

	log_init("etcd_smoke");
	if (argc > 1 && !strcmp(argv[1], "-v"))
		log_verbosity = 1;
	signal(SIGPIPE, SIG_IGN);
	setenv("ETCDCTL_API", "3", 1);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	if (loop_new(&L) < 0)
		return 2;
	t0 = loop_now_ms();
	fake_start();
	printf("PING keep-alive (checked at the end)\n");
	deaf_start();
	pid = spawn_etcd("smoke", 23791, 23792, false, main_extra);
	wait_etcd_up(EP, 23791);
	check_no_gateway(23791);

	/* Username set while auth is off: authenticate answers FAILED_PRECONDITION, we go on. */
	e = client(eps, 1, "root", "rootpw");
	printf("kv\n");
	test_kv(e);
	printf("lease\n");
	test_lease(e);
	printf("watch\n");
	test_watch(e);
	printf("history and compaction\n");
	test_history_and_compaction(e);
	printf("watch fragments\n");
	test_fragments(e);
	printf("failover\n");
	test_failover();
	printf("unreachable\n");
	test_unreachable();
	printf("host names\n");
	test_names();
	printf("free in callback\n");
	test_free_in_callback();
	printf("fake gRPC server: watch\n");
	test_fake_watch();
	printf("fake gRPC server: errors\n");
	test_fake_errors();
	printf("restart\n");
	pid = restart_test(pid, e);
	etcd_free(e);
	printf("auth\n");
	test_auth();
	stop_etcd(pid);
	printf("PING keep-alive\n");
	deaf_check();
	printf("tls\n");
	test_tls();
	fake_stop();

	loop_free(L);
	if (!failures)
		sh("rm -rf %s", tmpdir);
	printf("%d checks, %d failures in %" PRIu64 " s%s%s\n", checks, failures,
	       (loop_now_ms() - t0) / 1000, failures ? "; logs in " : "", failures ? tmpdir : "");
	return failures ? 1 : 0;
}
