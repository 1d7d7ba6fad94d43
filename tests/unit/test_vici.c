/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for backend/vici.c, the asynchronous VICI client: on a real
 * loop, against a fake charon on a unix socket in a temporary directory
 * that answers in order, late, never, out of bounds, with garbage, or
 * closes.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/vici.h"
#include "loop.h"

#define TIMEOUT_MS 300

struct result {
	int r;
	char success[8]; /* the reply's "success", "" when none */
	char tag[16];	 /* the reply's "tag" */
	char err[512];
};

struct fixture {
	char dir[64], path[108];
	int lfd, peer; /* the fake charon: listening, and its accepted end */
	struct loop *loop;
	struct vici_client *c;
	struct result res[16];
	int nres;
	/* A callback that calls again (must be refused while broken). */
	bool call_again;
	int again_r;
};

static void on_reply(int r, const struct vici_packet *reply, const char *err, void *arg)
{
	struct fixture *f = arg;
	struct result *res = &f->res[f->nres++];

	assert_true(f->nres <= 16);
	memset(res, 0, sizeof(*res));
	res->r = r;
	snprintf(res->err, sizeof(res->err), "%s", err);
	if (reply) {
		assert_int_equal(r, 0);
		vici_get(reply, "success", res->success, sizeof(res->success));
		vici_get(reply, "tag", res->tag, sizeof(res->tag));
	} else {
		assert_true(r < 0);
		assert_true(err[0] != '\0');
	}
	if (f->call_again) {
		struct vici_builder b;
		char e[256];

		vici_begin(&b, VICI_CMD_REQUEST, "again");
		assert_int_equal(vici_finish(&b), 0);
		f->again_r = vici_client_call(f->c, &b, 0, on_reply, f, e, sizeof(e));
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_vici.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/charon.vici", f->dir);
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	f->peer = -1;
	assert_int_equal(loop_new(&f->loop), 0);
	assert_int_equal(vici_client_new(f->loop, f->path, TIMEOUT_MS, &f->c), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vici_client_free(f->c);
	loop_free(f->loop);
	if (f->peer >= 0)
		close(f->peer);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static void stop(void *arg)
{
	loop_stop(arg);
}

/* Run the loop for about ms milliseconds. */
static void spin(struct fixture *f, unsigned ms)
{
	struct loop_timer t;

	loop_timer_init(&t, stop, f->loop);
	loop_timer_arm(f->loop, &t, ms);
	assert_int_equal(loop_run(f->loop), 0);
	loop_timer_cancel(f->loop, &t);
}

/* Run the loop in short turns until n results came in or max_ms passed. */
static void spin_until(struct fixture *f, int n, unsigned max_ms)
{
	uint64_t end = loop_now_ms() + max_ms;

	while (f->nres < n && loop_now_ms() < end)
		spin(f, 5);
}

static void call(struct fixture *f, const char *cmd)
{
	struct vici_builder b;
	char err[256];

	vici_begin(&b, VICI_CMD_REQUEST, cmd);
	vici_kv(&b, "k", "v");
	assert_int_equal(vici_finish(&b), 0);
	assert_int_equal(vici_client_call(f->c, &b, 0, on_reply, f, err, sizeof(err)), 0);
}

static void accept_peer(struct fixture *f)
{
	if (f->peer < 0)
		f->peer = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(f->peer >= 0);
}

/* The fake charon reads one request (the loop turned until it was written); returns its name. */
static void read_request(struct fixture *f, char *name, size_t n)
{
	uint8_t hdr[4], body[1024];
	struct pollfd p = { .events = POLLIN };
	size_t len, got = 0;

	accept_peer(f);
	p.fd = f->peer;
	for (int i = 0; i < 200 && poll(&p, 1, 0) == 0; i++)
		spin(f, 5);
	assert_int_equal(recv(f->peer, hdr, 4, MSG_WAITALL), 4);
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	assert_true(len >= 2 && len <= sizeof(body));
	while (got < len) {
		ssize_t r = recv(f->peer, body + got, len - got, 0);

		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_int_equal(body[0], VICI_CMD_REQUEST);
	snprintf(name, n, "%.*s", body[1], (const char *)body + 2);
}

static void send_raw(struct fixture *f, const void *p, size_t n)
{
	assert_int_equal(send(f->peer, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static size_t put_kv(uint8_t *p, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);

	p[0] = VICI_KEY_VALUE;
	p[1] = (uint8_t)kl;
	memcpy(p + 2, k, kl);
	p[2 + kl] = (uint8_t)(vl >> 8);
	p[3 + kl] = (uint8_t)vl;
	memcpy(p + 4 + kl, v, vl);
	return 4 + kl + vl;
}

/* A CMD_RESPONSE with success=yes and tag=tag; each byte sent alone when split. */
static void reply(struct fixture *f, const char *tag, bool split)
{
	uint8_t p[128];
	size_t n = 4;

	p[n++] = VICI_CMD_RESPONSE;
	n += put_kv(p + n, "success", "yes");
	n += put_kv(p + n, "tag", tag);
	p[0] = p[1] = 0;
	p[2] = (uint8_t)((n - 4) >> 8);
	p[3] = (uint8_t)(n - 4);
	if (!split) {
		send_raw(f, p, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		send_raw(f, p + i, 1);
		spin(f, 1);
	}
}

/* ------------------------------------------------------------ tests */

/* Pipelined requests are answered in order, each reply going to its own callback. */
static void test_in_order(void **state)
{
	struct fixture *f = *state;
	char name[64];

	call(f, "first");
	call(f, "second");
	call(f, "third");
	assert_int_equal(vici_client_pending(f->c), 3);
	read_request(f, name, sizeof(name));
	assert_string_equal(name, "first");
	read_request(f, name, sizeof(name));
	assert_string_equal(name, "second");
	read_request(f, name, sizeof(name));
	assert_string_equal(name, "third");
	assert_int_equal(f->nres, 0); /* nothing answered yet, nothing called */
	reply(f, "one", false);
	reply(f, "two", true); /* a byte at a time, over many turns */
	spin_until(f, 2, 2000);
	assert_int_equal(f->nres, 2);
	assert_string_equal(f->res[0].tag, "one");
	assert_string_equal(f->res[0].success, "yes");
	assert_string_equal(f->res[1].tag, "two");
	reply(f, "three", false);
	spin_until(f, 3, 2000);
	assert_int_equal(f->nres, 3);
	assert_string_equal(f->res[2].tag, "three");
	assert_int_equal(vici_client_pending(f->c), 0);
	assert_false(vici_client_broken(f->c));
}

/* An event (we never register for one) is skipped, not taken for the answer. */
static void test_event_skipped(void **state)
{
	struct fixture *f = *state;
	static const uint8_t ev[] = { 0, 0, 0, 3, VICI_EVENT, 1, 'e' };
	char name[64];

	call(f, "cmd");
	read_request(f, name, sizeof(name));
	send_raw(f, ev, sizeof(ev));
	reply(f, "answer", false);
	spin_until(f, 1, 2000);
	assert_int_equal(f->nres, 1);
	assert_int_equal(f->res[0].r, 0);
	assert_string_equal(f->res[0].tag, "answer");
}

/*
 * No answer: when the head's deadline passes every pending request fails,
 * the first naming the command and the socket, the others as dropped; the
 * client stays broken (a call from the callback is refused) until reset.
 */
static void test_late(void **state)
{
	struct fixture *f = *state;
	struct vici_builder b;
	uint64_t t0 = loop_now_ms();
	char name[64], err[256];

	call(f, "load-conn");
	call(f, "load-shared");
	read_request(f, name, sizeof(name));
	f->call_again = true;
	spin_until(f, 2, 5000);
	assert_int_equal(f->nres, 2);
	assert_true(loop_now_ms() - t0 >= TIMEOUT_MS);
	assert_int_equal(f->res[0].r, -ETIMEDOUT);
	assert_non_null(strstr(f->res[0].err, "no answer to load-conn within 300 ms"));
	assert_non_null(strstr(f->res[0].err, f->path));
	assert_int_equal(f->res[1].r, -ENOTCONN);
	assert_non_null(strstr(f->res[1].err, "dropped after an earlier request failed"));
	assert_int_equal(f->again_r, -ENOTCONN);
	assert_true(vici_client_broken(f->c));
	assert_int_equal(vici_client_pending(f->c), 0);
	f->call_again = false;

	/* Broken: refused at once, the socket untouched. */
	vici_begin(&b, VICI_CMD_REQUEST, "x");
	assert_int_equal(vici_finish(&b), 0);
	assert_int_equal(vici_client_call(f->c, &b, 0, on_reply, f, err, sizeof(err)), -ENOTCONN);

	/* A reset connects anew. */
	close(f->peer);
	f->peer = -1;
	vici_client_reset(f->c);
	call(f, "get-conns");
	read_request(f, name, sizeof(name));
	assert_string_equal(name, "get-conns");
	reply(f, "fresh", false);
	spin_until(f, 3, 2000);
	assert_int_equal(f->nres, 3);
	assert_int_equal(f->res[2].r, 0);
	assert_string_equal(f->res[2].tag, "fresh");
}

static void expect_proto_failure(struct fixture *f, const void *bytes, size_t n, const char *what)
{
	char name[64];

	call(f, "load-conn");
	call(f, "unload-conn");
	read_request(f, name, sizeof(name));
	send_raw(f, bytes, n);
	spin_until(f, 2, 2000);
	assert_int_equal(f->nres, 2);
	assert_int_equal(f->res[0].r, -EPROTO);
	if (!strstr(f->res[0].err, what))
		fail_msg("'%s' lacks '%s'", f->res[0].err, what);
	assert_int_equal(f->res[1].r, -ENOTCONN);
	assert_true(vici_client_broken(f->c));
}

/* A length over VICI_MAX_PACKET ends the connection before any allocation. */
static void test_too_long(void **state)
{
	static const uint8_t big[] = { 0x7f, 0xff, 0xff, 0xff, VICI_CMD_RESPONSE };

	expect_proto_failure(*state, big, sizeof(big), "a packet length of 2147483647");
}

static void test_zero_length(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0 };

	expect_proto_failure(*state, zero, sizeof(zero), "a packet length of 0");
}

/* A framed packet whose message is garbage (an element type 9). */
static void test_garbage(void **state)
{
	static const uint8_t junk[] = { 0, 0, 0, 4, VICI_CMD_RESPONSE, 9, 9, 9 };

	expect_proto_failure(*state, junk, sizeof(junk),
			     "a malformed packet in answer to load-conn");
}

/* A packet type that answers nothing (an event confirmation we never asked for). */
static void test_unexpected_type(void **state)
{
	static const uint8_t confirm[] = { 0, 0, 0, 1, VICI_EVENT_CONFIRM };

	expect_proto_failure(*state, confirm, sizeof(confirm), "an unexpected packet (type 5)");
}

/* charon closes the connection: everything pending fails, saying so. */
static void test_closed(void **state)
{
	struct fixture *f = *state;
	char name[64];

	call(f, "load-shared");
	call(f, "load-conn");
	read_request(f, name, sizeof(name));
	reply(f, "ok", false);
	close(f->peer);
	f->peer = -1;
	spin_until(f, 2, 2000);
	assert_int_equal(f->nres, 2);
	assert_int_equal(f->res[0].r, 0);
	assert_int_equal(f->res[1].r, -ECONNRESET);
	assert_non_null(strstr(f->res[1].err, "charon closed the connection"));
	assert_true(vici_client_broken(f->c));
}

/* An answer with nothing asked breaks the client too. */
static void test_answer_to_nothing(void **state)
{
	struct fixture *f = *state;
	char name[64];

	call(f, "get-conns");
	read_request(f, name, sizeof(name));
	reply(f, "a", false);
	reply(f, "b", false);
	spin_until(f, 1, 2000);
	spin(f, 50);
	assert_int_equal(f->nres, 1);
	assert_true(vici_client_broken(f->c));
}

/* Nothing listening: the call fails at once, with no callback, naming the socket. */
static void test_no_socket(void **state)
{
	struct fixture *f = *state;
	struct vici_client *c;
	struct vici_builder b;
	char path[160], err[256];

	snprintf(path, sizeof(path), "%s/absent.vici", f->dir);
	assert_false(vici_socket_listens(path));
	assert_true(vici_socket_listens(f->path));
	assert_int_equal(vici_client_new(f->loop, path, TIMEOUT_MS, &c), 0);
	vici_begin(&b, VICI_CMD_REQUEST, "get-conns");
	assert_int_equal(vici_finish(&b), 0);
	assert_int_equal(vici_client_call(c, &b, 0, on_reply, f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_true(vici_client_broken(c));
	spin(f, 20);
	assert_int_equal(f->nres, 0);
	vici_client_free(c);
}

/* Freeing the client with requests pending calls each back with -ECANCELED. */
static void test_free_pending(void **state)
{
	struct fixture *f = *state;

	call(f, "a");
	call(f, "b");
	vici_client_free(f->c);
	f->c = NULL;
	assert_int_equal(f->nres, 2);
	assert_int_equal(f->res[0].r, -ECANCELED);
	assert_int_equal(f->res[1].r, -ECANCELED);
}

/* The deadline is the head's: a queue answered one by one, each in time, never times out. */
static void test_deadline_per_answer(void **state)
{
	struct fixture *f = *state;
	char name[64];

	for (int i = 0; i < 4; i++)
		call(f, "cmd");
	for (int i = 0; i < 4; i++)
		read_request(f, name, sizeof(name));
	for (int i = 0; i < 4; i++) {
		spin(f, TIMEOUT_MS / 2);
		reply(f, "ok", false);
		spin_until(f, i + 1, 2000);
	}
	assert_int_equal(f->nres, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(f->res[i].r, 0);
	assert_false(vici_client_broken(f->c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unexpected_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_to_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_per_answer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
