/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for secret_file.c: newline handling, size cap, file types, permissions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret_file.h"

static char dir[] = "/tmp/secretXXXXXX";
static char path[256];

static void put(const void *data, size_t len, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int get(char **pw, bool *others, char *err)
{
	*pw = NULL;
	return secret_file_read(path, pw, others, err, 256);
}

static void test_contents(void **state)
{
	char err[256], *pw, big[SECRET_FILE_MAX + 1];
	bool others;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	put("s3cret\n", 7, 0600);
	assert_int_equal(get(&pw, &others, err), 0);
	assert_string_equal(pw, "s3cret");
	assert_false(others);
	free(pw);
	/* Only one newline goes (and a CR before it); inner ones and spaces stay. */
	put(" a b\r\n\n", 7, 0640);
	assert_int_equal(get(&pw, &others, err), 0);
	assert_string_equal(pw, " a b\r\n");
	assert_false(others);
	free(pw);
	put("x\r\n", 3, 0644);
	assert_int_equal(get(&pw, &others, err), 0);
	assert_string_equal(pw, "x");
	assert_true(others);
	free(pw);
	put("", 0, 0600);
	assert_int_equal(get(&pw, &others, err), 0);
	assert_string_equal(pw, "");
	free(pw);
	put("a\0b", 3, 0600);
	assert_int_equal(get(&pw, &others, err), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	assert_null(pw);
	/* The cap: exactly SECRET_FILE_MAX bytes pass, one more does not. */
	memset(big, 'p', sizeof(big));
	put(big, SECRET_FILE_MAX, 0600);
	assert_int_equal(get(&pw, &others, err), 0);
	assert_int_equal(strlen(pw), SECRET_FILE_MAX);
	free(pw);
	put(big, SECRET_FILE_MAX + 1, 0600);
	assert_int_equal(get(&pw, &others, err), -EFBIG);
	assert_non_null(strstr(err, path));
	unlink(path);
}

static void test_file_types(void **state)
{
	char err[256], link[300], *pw;
	bool others;

	assert_int_equal(get(&pw, &others, err), -ENOENT);
	assert_non_null(strstr(err, path));
	/* A FIFO would block open() until a writer came: refused at once. */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(get(&pw, &others, err), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(get(&pw, &others, err), -EINVAL);
	rmdir(path);
	put("s3cret", 6, 0600);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(secret_file_read(link, &pw, &others, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	unlink(link);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contents),
		cmocka_unit_test(test_file_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
