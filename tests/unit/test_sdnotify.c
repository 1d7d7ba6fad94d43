/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for sdnotify.c: datagrams to a path and an abstract socket, bad addresses. */
#include <errno.h>
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

#include "sdnotify.h"

/* Bind a datagram socket at name ('@' = abstract) and point NOTIFY_SOCKET at it. */
static int bind_notify(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sun.sun_path, name, len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
			 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[2048];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
	char dir[] = "/tmp/sdnotify.XXXXXX", path[64];
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_notify(path);
	assert_int_equal(sd_notify_send("READY=1"), 1);
	expect_datagram(fd, "READY=1");
	assert_int_equal(sd_notify_status("READY=1", "Running with subnet %s", "10.5.1.0/24"), 1);
	expect_datagram(fd, "READY=1\nSTATUS=Running with subnet 10.5.1.0/24");
	close(fd);
	unlink(path);
	rmdir(dir);
	/* Nobody listening any more: the error comes back, nothing blocks. */
	assert_int_equal(sd_notify_send("STOPPING=1"), -ENOENT);
	unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@flanneld-unit-%d", (int)getpid());
	fd = bind_notify(name);
	assert_int_equal(sd_notify_send("STOPPING=1\nSTATUS=Shutting down"), 1);
	expect_datagram(fd, "STOPPING=1\nSTATUS=Shutting down");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_unset_and_bad(void **state)
{
	char longname[200];

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sd_notify_send("READY=1"), 0);
	assert_int_equal(sd_notify_status(NULL, "%d", 1), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sd_notify_send("READY=1"), 0);
	/* Relative paths are not systemd's; a name too long for sun_path fails. */
	setenv("NOTIFY_SOCKET", "run/notify", 1);
	assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

/* A state longer than the format buffer is cut, not overflowed. */
static void test_long_status(void **state)
{
	char name[64], big[3000], buf[4096];
	ssize_t n;
	int fd;

	snprintf(name, sizeof(name), "@flanneld-unit-long-%d", (int)getpid());
	fd = bind_notify(name);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sd_notify_status(NULL, "%s", big), 1);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_true(n > 1000 && n < 1100);
	assert_memory_equal(buf, "STATUS=xxx", 10);
	assert_memory_equal(buf + n - 4, "x...", 4);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

/* Text from etcd in a status cannot add a line of its own (READY=1 before we are). */
static void test_status_escaped(void **state)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@flanneld-unit-esc-%d", (int)getpid());
	fd = bind_notify(name);
	assert_int_equal(sd_notify_status(NULL, "Failed: backend type %s", "x\nREADY=1\r\x1b[2J"),
			 1);
	expect_datagram(fd, "STATUS=Failed: backend type x\\x0aREADY=1\\x0d\\x1b[2J");
	assert_int_equal(sd_notify_status("READY=1", "é %s", "ok"), 1);
	expect_datagram(fd, "READY=1\nSTATUS=é ok");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),    cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_unset_and_bad),  cmocka_unit_test(test_long_status),
		cmocka_unit_test(test_status_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
