/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for nl.c against the running kernel, read-only (no root
 * needed): batches that span several sends with acks matched by sequence,
 * per-request errors and tolerated ones, GET replies, dumps.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "netlink/nl.h"

/* ifindexes this high do not exist in any test environment. */
#define NO_IFINDEX 1000000

static int setup(void **state)
{
	struct nl *nl;

	if (nl_open(&nl) < 0)
		return -1;
	*state = nl;
	return 0;
}

static int teardown(void **state)
{
	nl_close(*state);
	return 0;
}

struct seen {
	unsigned errors, replies;
	uintptr_t last_error_cookie, reply_cookie;
	int last_err;
	uint16_t last_type;
	char reply_name[IF_NAMESIZE];
	uint64_t error_cookies[1024 / 64];
};

static void on_error(void *arg, uintptr_t cookie, uint16_t type, int err, const char *extack)
{
	struct seen *s = arg;

	s->errors++;
	s->last_error_cookie = cookie;
	s->last_err = err;
	s->last_type = type;
	if (cookie < 1024)
		s->error_cookies[cookie / 64] |= 1ull << (cookie % 64);
}

static void on_data(void *arg, uintptr_t cookie, const struct nlmsghdr *nlh)
{
	struct seen *s = arg;
	struct nl_link l;

	if (nl_parse_link(nlh, &l) == 0) {
		s->replies++;
		s->reply_cookie = cookie;
		memcpy(s->reply_name, l.name, sizeof(l.name));
	}
}

/* 700 requests: three sends (256 per send), every ack matched to its request. */
static void test_batch_spans_sends(void **state)
{
	struct nl *nl = *state;
	struct seen s = { 0 };
	unsigned i;
	int failed;

	nl_batch_begin(nl, on_error, on_data, &s);
	for (i = 0; i < 700; i++) {
		/* Request 350 asks for loopback (index 1), the others for nothing. */
		int idx = i == 350 ? 1 : NO_IFINDEX + (int)i;

		assert_non_null(nl_msg_link_get(nl_batch_slot(nl), NULL, idx));
		nl_batch_add(nl, 0, i);
	}
	failed = nl_batch_end(nl);
	assert_int_equal(failed, 699);
	assert_int_equal(s.errors, 699);
	assert_int_equal(s.last_err, -ENODEV);
	assert_int_equal(s.last_type, RTM_GETLINK);
	assert_int_equal(s.last_error_cookie, 699);
	assert_int_equal(s.replies, 1);
	assert_int_equal(s.reply_cookie, 350);
	assert_string_equal(s.reply_name, "lo");
	for (i = 0; i < 700; i++)
		assert_int_equal(!!(s.error_cookies[i / 64] & (1ull << (i % 64))), i != 350);
}

static void test_batch_tolerate(void **state)
{
	struct nl *nl = *state;
	struct seen s = { 0 };

	nl_batch_begin(nl, on_error, NULL, &s);
	assert_non_null(nl_msg_link_get(nl_batch_slot(nl), NULL, NO_IFINDEX));
	nl_batch_add(nl, NL_OK_ENOENT, 1); /* ENODEV counts as "already gone" */
	assert_non_null(nl_msg_link_get(nl_batch_slot(nl), NULL, NO_IFINDEX));
	nl_batch_add(nl, NL_OK_EEXIST, 2);
	assert_int_equal(nl_batch_end(nl), 1);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.last_error_cookie, 2);

	/* An empty batch sends nothing and fails nothing. */
	nl_batch_begin(nl, on_error, NULL, &s);
	assert_int_equal(nl_batch_end(nl), 0);
}

static void test_request_and_get(void **state)
{
	struct nl *nl = *state;
	struct nl_link l;
	struct nl_route r;
	NL_MSG_BUF(buf);
	char err[128];

	assert_int_equal(nl_link_get(nl, "lo", 0, &l), 0);
	assert_int_equal(l.index, 1);
	assert_string_equal(l.name, "lo");
	assert_false(l.is_vxlan);
	assert_int_equal(nl_link_get(nl, NULL, 1, &l), 0);
	assert_string_equal(l.name, "lo");
	assert_int_equal(nl_link_get(nl, "flt-nonexistent", 0, &l), -ENODEV);

	/* A refused request gives its errno and a message (kernel text or strerror). */
	assert_int_equal(nl_request(nl, nl_msg_link_get(buf, NULL, NO_IFINDEX), 0, NULL, NULL, err,
				    sizeof(err)),
			 -ENODEV);
	assert_true(strlen(err) > 0);

	/* Loopback's own address: a local route, no gateway. */
	assert_int_equal(nl_route_lookup(nl, 0x7f000001, &r), 0);
	assert_int_equal(r.type, RTN_LOCAL);
	assert_int_equal(r.gw, 0);
}

struct count {
	unsigned links, resets;
	bool lo;
};

static int count_links(void *arg, const struct nlmsghdr *nlh)
{
	struct count *c = arg;
	struct nl_link l;

	if (nl_parse_link(nlh, &l) == 0) {
		c->links++;
		if (strcmp(l.name, "lo") == 0)
			c->lo = true;
	}
	return 0;
}

static int stop_at_first(void *arg, const struct nlmsghdr *nlh)
{
	struct count *c = arg;

	c->links++;
	return -ECANCELED;
}

static void reset(void *arg)
{
	struct count *c = arg;

	c->resets++;
	c->links = 0;
}

static void test_dump(void **state)
{
	struct nl *nl = *state;
	struct count c = { 0 };
	NL_MSG_BUF(buf);

	assert_int_equal(
		nl_dump(nl, nl_msg_dump(buf, RTM_GETLINK, AF_UNSPEC, 0), count_links, reset, &c),
		0);
	assert_true(c.links >= 1);
	assert_true(c.lo);

	/* A callback error ends the dump with that error; the socket stays usable. */
	c = (struct count){ 0 };
	assert_int_equal(
		nl_dump(nl, nl_msg_dump(buf, RTM_GETLINK, AF_UNSPEC, 0), stop_at_first, reset, &c),
		-ECANCELED);
	assert_int_equal(c.links, 1);
	c = (struct count){ 0 };
	assert_int_equal(
		nl_dump(nl, nl_msg_dump(buf, RTM_GETROUTE, AF_INET, 0), count_links, reset, &c), 0);
	assert_int_equal(c.links, 0); /* routes are not links */
	assert_int_equal(nl_link_get(nl, "lo", 0, &(struct nl_link){ 0 }), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_spans_sends),
		cmocka_unit_test(test_batch_tolerate),
		cmocka_unit_test(test_request_and_get),
		cmocka_unit_test(test_dump),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
