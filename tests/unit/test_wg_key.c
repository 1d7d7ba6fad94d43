/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for wg_key.c: clamping, X25519 through libcrypto, the key file. */
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

#include "backend/wg_key.h"

/* RFC 7748 6.1, Alice. */
static const uint8_t priv[32] = { 0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1,
				  0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0,
				  0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a };
static const uint8_t pub[32] = { 0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d,
				 0xdc, 0xb4, 0x3e, 0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38,
				 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a };

static void test_clamp(void **state)
{
	uint8_t k[32];

	memset(k, 0xff, 32);
	wg_key_clamp(k);
	assert_int_equal(k[0], 0xf8);
	assert_int_equal(k[31], 0x7f);
	memset(k, 0, 32);
	wg_key_clamp(k);
	assert_int_equal(k[31], 0x40);
}

static void test_public(void **state)
{
	uint8_t p[32];
	char err[256];

	assert_int_equal(wg_key_public(priv, p, err, sizeof(err)), 0);
	assert_memory_equal(p, pub, 32);
}

static void test_file(void **state)
{
	char dir[] = "/tmp/wgkeyXXXXXX", path[256], err[256];
	uint8_t a[32], b[32];
	struct stat st;
	bool created;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/wgkey", dir);
	assert_int_equal(wg_key_load_or_create(path, a, &created, err, sizeof(err)), 0);
	assert_true(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 44);
	assert_int_equal(a[0] & 7, 0); /* clamped */
	assert_int_equal(wg_key_load_or_create(path, b, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_memory_equal(a, b, 32);
	/* `wg genkey > file` adds a newline: accepted. Garbage is an error naming the file. */
	f = fopen(path, "w");
	fputs("d0sXhtOpRyPmZZM4j4e5wjqCl+UjMjl8lQ3JhtWBK08=\n", f);
	fclose(f);
	assert_int_equal(wg_key_load_or_create(path, b, &created, err, sizeof(err)), 0);
	f = fopen(path, "w");
	fputs("not a key", f);
	fclose(f);
	assert_int_equal(wg_key_load_or_create(path, b, &created, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

static void write_file(const char *path, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("d0sXhtOpRyPmZZM4j4e5wjqCl+UjMjl8lQ3JhtWBK08=\n", f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* A key file that others could read, replace or block on is refused, not used. */
static void test_file_refused(void **state)
{
	char dir[] = "/tmp/wgkeyXXXXXX", path[256], link[256], err[256];
	uint8_t k[32];
	bool created;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/wgkey", dir);
	write_file(path, 0600);
	assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)), 0);
	assert_false(created);

	write_file(path, 0644);
	assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "mode 0644"));
	write_file(path, 0640);
	assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)), -EPERM);
	write_file(path, 0620);
	assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)), -EPERM);
	if (geteuid() == 0) {
		write_file(path, 0600);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)),
				 -EPERM);
		assert_non_null(strstr(err, "owned by uid 65534"));
	}
	/* A symbolic link to a good file: refused, and nothing is written through it. */
	write_file(path, 0600);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(wg_key_load_or_create(link, k, &created, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	unlink(link);
	/* A FIFO would block a plain open() until a writer came: refused at once. */
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(path);
	/* A directory. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(wg_key_load_or_create(path, k, &created, err, sizeof(err)), -EPERM);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clamp),
		cmocka_unit_test(test_public),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
