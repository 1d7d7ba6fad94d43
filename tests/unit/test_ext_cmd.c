/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for ext_cmd.c: splitting, $VAR/${VAR} expansion, the environment. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/ext_cmd.h"

static char *vars[] = { "SUBNET=10.244.3.0/24", "PUBLIC_IP=10.0.0.3", "EMPTY=", NULL };
static char *env[] = { "PATH=/bin", "PUBLIC_IP=shadowed", "HOME=/root", NULL };

/* The daemon's etcd credentials reach neither a command's words nor its environment. */
static void test_credentials_withheld(void **state)
{
	char *secret_env[] = { "PATH=/bin", "FLANNELD_ETCD_PASSWORD=s3cret",
			       "FLANNELD_ETCD_USERNAME=root", NULL };
	char **v;

	(void)state;
	assert_int_equal(extcmd_argv("echo $FLANNELD_ETCD_PASSWORD ${FLANNELD_ETCD_USERNAME}x",
				     vars, secret_env, &v),
			 0);
	assert_string_equal(v[1], "");
	assert_string_equal(v[2], "x");
	extcmd_free(v);
	assert_int_equal(extcmd_env(vars, secret_env, &v), 0);
	for (size_t i = 0; v[i]; i++)
		assert_null(strstr(v[i], "FLANNELD_ETCD_"));
	assert_string_equal(v[3], "PATH=/bin");
	assert_null(v[4]);
	extcmd_env_free(v);
}

static void test_split_expand(void **state)
{
	char **v;

	assert_int_equal(
		extcmd_argv("  ip route  replace $SUBNET via ${PUBLIC_IP}\t", vars, env, &v), 0);
	assert_string_equal(v[0], "ip");
	assert_string_equal(v[1], "route");
	assert_string_equal(v[2], "replace");
	assert_string_equal(v[3], "10.244.3.0/24");
	assert_string_equal(v[4], "via");
	assert_string_equal(v[5], "10.0.0.3");
	assert_null(v[6]);
	extcmd_free(v);

	/* Inside a word, from env, unset is empty, literal "$" and unclosed "${". */
	assert_int_equal(extcmd_argv("a=$HOME/x b$NOPE$EMPTY. $ $1x ${oops c$", vars, env, &v), 0);
	assert_string_equal(v[0], "a=/root/x");
	assert_string_equal(v[1], "b.");
	assert_string_equal(v[2], "$");
	assert_string_equal(v[3], "x"); /* $1 is a name here: unset */
	assert_string_equal(v[4], "${oops");
	assert_string_equal(v[5], "c$");
	assert_null(v[6]);
	extcmd_free(v);

	/* A value with blanks stays one argument (no word splitting after expansion). */
	{
		char *sp[] = { "X=a b", NULL };

		assert_int_equal(extcmd_argv("echo $X", sp, NULL, &v), 0);
		assert_string_equal(v[1], "a b");
		assert_null(v[2]);
		extcmd_free(v);
	}
	assert_int_equal(extcmd_argv(" \t\n", vars, env, &v), -EINVAL);
	assert_int_equal(extcmd_argv("", NULL, NULL, &v), -EINVAL);
}

static void test_env(void **state)
{
	char **e;
	size_t n = 0;

	assert_int_equal(extcmd_env(vars, env, &e), 0);
	while (e[n])
		n++;
	assert_int_equal(n, 5); /* 3 vars + PATH + HOME; env's PUBLIC_IP is shadowed */
	assert_string_equal(e[0], "SUBNET=10.244.3.0/24");
	assert_string_equal(e[3], "PATH=/bin");
	assert_string_equal(e[4], "HOME=/root");
	extcmd_env_free(e);
	extcmd_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_expand),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_credentials_withheld),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
