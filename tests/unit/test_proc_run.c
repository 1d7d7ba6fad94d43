/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for proc_run.c: exit status, output, stdin, missing programs,
 * deadlines (reaped later, not waited for), cancelling, and the loop
 * serving timers while a program runs.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "loop.h"
#include "proc_run.h"

struct result {
	struct loop *loop;
	bool done;
	int status;
	char *out;
	char err[256];
};

static void on_done(void *arg, int status, char *out, const char *err)
{
	struct result *res = arg;

	res->done = true;
	res->status = status;
	res->out = out;
	snprintf(res->err, sizeof(res->err), "%s", err);
	loop_stop(res->loop);
}

/* Start argv on a loop of its own and run the loop until it is done. */
static int run(char *const argv[], const char *input, int timeout_ms, char **out, char *err)
{
	struct result res = { 0 };
	struct proc *p;
	int r;

	assert_int_equal(loop_new(&res.loop), 0);
	r = proc_start(res.loop, argv, input, timeout_ms, out != NULL, on_done, &res, &p);
	if (r == 0) {
		assert_int_equal(loop_run(res.loop), 0);
		assert_true(res.done);
		r = res.status;
		strcpy(err, res.err);
		if (out)
			*out = res.out;
		else
			assert_null(res.out);
	}
	loop_free(res.loop);
	return r;
}

static void test_status_and_output(void **state)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; echo more >&2; exit 3", NULL };
	char err[256], *out = NULL;

	assert_int_equal(run(argv, NULL, 5000, &out, err), 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(err, "err"); /* the first line */
	free(out);
}

static void test_env(void **state)
{
	char *argv[] = { "sh", "-c", "echo \"$FLT_A/${FLT_B:-unset}\"", NULL };
	char *envp[] = { "FLT_A=given", "PATH=/usr/bin:/bin", NULL };
	struct result res = { 0 };
	struct proc *p;

	assert_int_equal(loop_new(&res.loop), 0);
	assert_int_equal(proc_start_env(res.loop, argv, envp, NULL, 5000, true, on_done, &res, &p),
			 0);
	assert_int_equal(loop_run(res.loop), 0);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.out, "given/unset\n"); /* that environment only */
	free(res.out);
	loop_free(res.loop);
}

static void test_signal(void **state)
{
	char *argv[] = { "sh", "-c", "kill -9 $$", NULL }, err[256];

	assert_int_equal(run(argv, NULL, 5000, NULL, err), 128 + 9);
}

static void test_stdin(void **state)
{
	char *argv[] = { "cat", NULL }, err[256], *out = NULL;
	size_t n = 300000; /* more than a pipe holds: written and read at once */
	char *in = malloc(n + 1);

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	in[n] = '\0';
	assert_int_equal(run(argv, in, 5000, &out, err), 0);
	assert_string_equal(out, in);
	free(out);
	free(in);
}

/* A child that exits without reading its input is no error of ours. */
static void test_stdin_unread(void **state)
{
	char *argv[] = { "true", NULL }, err[256];
	char *in = calloc(1, 1000001);

	assert_non_null(in);
	memset(in, 'x', 1000000);
	assert_int_equal(run(argv, in, 5000, NULL, err), 0);
	free(in);
}

static void test_missing(void **state)
{
	char *argv[] = { "no-such-program-flanneld", NULL }, err[256];

	assert_int_equal(run(argv, NULL, 5000, NULL, err), -ENOENT);
}

static void test_deadline(void **state)
{
	char *argv[] = { "sleep", "10", NULL }, err[256];
	uint64_t t0 = loop_now_ms();

	assert_int_equal(run(argv, NULL, 200, NULL, err), -ETIMEDOUT);
	assert_true(loop_now_ms() - t0 < 5000);
	assert_non_null(strstr(err, "sleep did not finish in 200 ms"));
}

static void stop_loop(void *arg);

static void on_done_keep_running(void *arg, int status, char *out, const char *err)
{
	struct result *res = arg;

	res->done = true;
	res->status = status;
	free(out);
}

/*
 * Past its deadline a program is reported at once and reaped later by the
 * loop, without a blocking wait (one stuck in the kernel would stall it).
 * First in the list: no earlier test may leave a child behind.
 */
static void test_deadline_reaped_later(void **state)
{
	char *argv[] = { "sleep", "10", NULL };
	struct result res = { 0 };
	struct loop_timer t;
	struct proc *p;
	uint64_t t0 = loop_now_ms();

	assert_int_equal(loop_new(&res.loop), 0);
	assert_int_equal(
		proc_start(res.loop, argv, NULL, 100, false, on_done_keep_running, &res, &p), 0);
	loop_timer_init(&t, stop_loop, res.loop);
	loop_timer_arm(res.loop, &t, 1000);
	assert_int_equal(loop_run(res.loop), 0);
	assert_true(res.done);
	assert_int_equal(res.status, -ETIMEDOUT);
	assert_true(loop_now_ms() - t0 < 5000);
	/* The loop reaped it: no child of ours is left, not even a zombie. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	loop_free(res.loop);
}

/* A child that leaves a grandchild holding the pipes has still finished. */
static void test_grandchild(void **state)
{
	char *argv[] = { "sh", "-c", "sleep 30 & echo done", NULL }, err[256], *out = NULL;
	uint64_t t0 = loop_now_ms();

	assert_int_equal(run(argv, NULL, 10000, &out, err), 0);
	assert_true(loop_now_ms() - t0 < 20000); /* not the grandchild's 30 s */
	assert_string_equal(out, "done\n");
	free(out);
}

struct ticks {
	struct loop *loop;
	struct loop_timer t;
	int n;
};

static void tick(void *arg)
{
	struct ticks *k = arg;

	k->n++;
	loop_timer_arm(k->loop, &k->t, 10);
}

/* While a program runs the loop runs too: a 10 ms timer fires during a 300 ms sleep. */
static void test_loop_not_blocked(void **state)
{
	char *argv[] = { "sleep", "0.3", NULL };
	struct result res = { 0 };
	struct ticks k = { 0 };
	struct proc *p;

	assert_int_equal(loop_new(&res.loop), 0);
	k.loop = res.loop;
	loop_timer_init(&k.t, tick, &k);
	loop_timer_arm(res.loop, &k.t, 10);
	assert_int_equal(proc_start(res.loop, argv, NULL, 5000, false, on_done, &res, &p), 0);
	assert_int_equal(loop_run(res.loop), 0);
	assert_true(res.done);
	assert_int_equal(res.status, 0);
	assert_true(k.n >= 5);
	loop_timer_cancel(res.loop, &k.t);
	loop_free(res.loop);
}

static void never(void *arg, int status, char *out, const char *err)
{
	fail_msg("a cancelled program reported");
}

static void stop_loop(void *arg)
{
	loop_stop(arg);
}

/* Cancelled: killed at once, its callback never runs, nothing is left behind. */
static void test_cancel(void **state)
{
	char *argv[] = { "sleep", "10", NULL };
	struct loop_timer t;
	struct loop *loop;
	struct proc *p;
	uint64_t t0 = loop_now_ms();

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(proc_start(loop, argv, "input", 5000, true, never, NULL, &p), 0);
	proc_cancel(p);
	proc_cancel(NULL);
	loop_timer_init(&t, stop_loop, loop);
	loop_timer_arm(loop, &t, 50);
	assert_int_equal(loop_run(loop), 0);
	assert_true(loop_now_ms() - t0 < 5000);
	loop_free(loop);
}

/*
 * A helper sees a fixed PATH and nothing of ours: not the etcd password, not
 * the PATH we were started with (which cannot pick the program either).
 */
static void test_environment(void **state)
{
	char *argv[] = { "env", NULL }, err[256], *out = NULL, *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;

	assert_int_equal(setenv("FLANNELD_ETCD_PASSWORD", "s3cret", 1), 0);
	assert_int_equal(setenv("PATH", "/nonexistent", 1), 0);
	assert_int_equal(setenv("XTABLES_LOCKFILE", "/run/test.lock", 1), 0);
	assert_int_equal(run(argv, NULL, 5000, &out, err), 0);
	assert_string_equal(out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n"
				 "XTABLES_LOCKFILE=/run/test.lock\n");
	free(out);
	unsetenv("XTABLES_LOCKFILE");
	assert_int_equal(run(argv, NULL, 5000, &out, err), 0);
	assert_string_equal(out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
	free(out);
	unsetenv("FLANNELD_ETCD_PASSWORD");
	if (saved)
		setenv("PATH", saved, 1);
	free(saved);
}

/* A name with a slash is taken as it is; without one only the fixed PATH counts. */
static void test_program_path(void **state)
{
	char *abs[] = { "/bin/sh", "-c", "exit 4", NULL }, *rel[] = { "./sh", NULL }, err[256];

	assert_int_equal(run(abs, NULL, 5000, NULL, err), 4);
	assert_int_equal(run(rel, NULL, 5000, NULL, err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_reaped_later),
		cmocka_unit_test(test_status_and_output),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_stdin_unread),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_grandchild),
		cmocka_unit_test(test_loop_not_blocked),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_program_path),
	};

	/*
	 * As the daemon does (main.c): a child that exits before reading its
	 * stdin (test_stdin_unread) would otherwise kill this process.
	 */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
