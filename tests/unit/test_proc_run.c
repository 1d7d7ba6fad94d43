/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for proc_run.c: exit status, output, stdin, missing programs, deadlines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop.h"
#include "proc_run.h"

static void test_status_and_output(void **state)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; echo more >&2; exit 3", NULL };
	char err[64], *out = NULL;

	assert_int_equal(proc_run(argv, NULL, 5000, &out, err, sizeof(err)), 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(err, "err"); /* the first line */
	free(out);
}

static void test_stdin(void **state)
{
	char *argv[] = { "cat", NULL }, err[64], *out = NULL;
	size_t n = 300000; /* more than a pipe holds: written and read at once */
	char *in = malloc(n + 1);

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	in[n] = '\0';
	assert_int_equal(proc_run(argv, in, 5000, &out, err, sizeof(err)), 0);
	assert_string_equal(out, in);
	free(out);
	free(in);
}

static void test_missing(void **state)
{
	char *argv[] = { "no-such-program-flanneld", NULL }, err[64];

	assert_int_equal(proc_run(argv, NULL, 5000, NULL, err, sizeof(err)), -ENOENT);
}

static void test_deadline(void **state)
{
	char *argv[] = { "sleep", "10", NULL }, err[64];
	uint64_t t0 = loop_now_ms();

	assert_int_equal(proc_run(argv, NULL, 200, NULL, err, sizeof(err)), -ETIMEDOUT);
	assert_true(loop_now_ms() - t0 < 5000);
	assert_non_null(strstr(err, "did not finish"));
}

/* A child that leaves a grandchild holding the pipes has still finished. */
static void test_grandchild(void **state)
{
	char *argv[] = { "sh", "-c", "sleep 30 & echo done", NULL }, err[64], *out = NULL;
	uint64_t t0 = loop_now_ms();

	assert_int_equal(proc_run(argv, NULL, 10000, &out, err, sizeof(err)), 0);
	assert_true(loop_now_ms() - t0 < 20000); /* not the grandchild's 30 s */
	assert_string_equal(out, "done\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_output), cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_missing),		  cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_grandchild),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
