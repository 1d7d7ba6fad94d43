/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for subnetenv.c: golden text, tolerant and corrupt reads, atomic write. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "subnetenv.h"

/* Tests run from the top of the tree, as `make check` does. */
#ifndef FIXTURES_DIR
#define FIXTURES_DIR "tests/fixtures"
#endif

#define MAX_WARNINGS 64

struct warnings {
	char *msg[MAX_WARNINGS];
	size_t n;
};

struct fixture {
	char dir[64]; /* private temp dir */
	struct warnings w;
};

static void collect(void *arg, const char *msg)
{
	struct warnings *w = arg;

	/* Every message is one line: it goes straight into a log line. */
	assert_null(strchr(msg, '\n'));
	assert_true(w->n < MAX_WARNINGS);
	w->msg[w->n] = strdup(msg);
	assert_non_null(w->msg[w->n]);
	w->n++;
}

static void warnings_clear(struct warnings *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->msg[i]);
	w->n = 0;
}

static bool warned(const struct warnings *w, const char *msg)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (!strcmp(w->msg[i], msg))
			return true;
	}
	return false;
}

static void assert_warned(const struct warnings *w, const char *msg)
{
	size_t i;

	if (warned(w, msg))
		return;
	for (i = 0; i < w->n; i++)
		print_message("warning %zu: %s\n", i, w->msg[i]);
	fail_msg("missing warning: %s", msg);
}

static void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path))) {
		struct dirent *e;

		while ((e = readdir(d))) {
			char sub[4096];

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_subnetenv.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	warnings_clear(&fx->w);
	rm_rf(fx->dir);
	free(fx);
	return 0;
}

static char *path_in(struct fixture *fx, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", fx->dir, name);
	return buf;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Whole file into a malloc'd, NUL terminated buffer. */
static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re");
	int c;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	{
		FILE *m = open_memstream(&buf, &len);

		assert_non_null(m);
		while ((c = fgetc(f)) != EOF)
			fputc(c, m);
		fclose(m);
	}
	fclose(f);
	return buf;
}

/* Read text given inline, collecting warnings into the fixture. */
static int read_text(struct fixture *fx, const void *text, size_t len, struct subnetenv *env)
{
	char path[128];

	path_in(fx, "in.env", path, sizeof(path));
	write_bytes(path, text, len);
	warnings_clear(&fx->w);
	return subnetenv_read(path, env, collect, &fx->w);
}

#define READ_STR(fx, s, env) read_text(fx, s, strlen(s), env)

static struct ip4net v4(const char *s)
{
	struct ip4net n;

	assert_int_equal(ip4net_parse(s, &n), 0);
	return n;
}

static struct ip6net v6(const char *s)
{
	struct ip6net n;

	assert_int_equal(ip6net_parse(s, &n), 0);
	return n;
}

static void assert_v4(const struct ip4net *got, const char *want)
{
	char buf[IP_STRLEN];

	assert_string_equal(ip4net_format(got, buf), want);
}

static void assert_v6(const struct ip6net *got, const char *want)
{
	char buf[IP_STRLEN];

	assert_string_equal(ip6net_format(got, buf), want);
}

static void assert_format_golden(const struct subnetenv *env, const char *fixture)
{
	char buf[1024], *want;
	int n;

	want = slurp(fixture);
	n = subnetenv_format(env, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
	free(want);
}

/* The struct holds the subnet; the text holds its first address. */
static struct subnetenv dualstack(void)
{
	struct subnetenv env = {
		.has_network = true,
		.has_subnet = true,
		.has_ipv6_network = true,
		.has_ipv6_subnet = true,
		.has_mtu = true,
		.has_ipmasq = true,
		.mtu = 1450,
		.ipmasq = true,
	};

	env.network = v4("10.5.0.0/16");
	env.subnet = v4("10.5.79.0/24");
	env.ipv6_network = v6("fc00::/48");
	env.ipv6_subnet = v6("fc00:0:0:29::/64");
	return env;
}

static void test_format_ipv4(void **state)
{
	struct subnetenv env = {
		.has_network = true,
		.has_subnet = true,
		.has_mtu = true,
		.has_ipmasq = true,
		.mtu = 1450,
		.ipmasq = true,
	};

	env.network = v4("10.5.0.0/16");
	env.subnet = v4("10.5.71.0/24");
	assert_format_golden(&env, FIXTURES_DIR "/subnetenv_ipv4.env");
}

static void test_format_dualstack(void **state)
{
	struct subnetenv env = dualstack();

	assert_format_golden(&env, FIXTURES_DIR "/subnetenv_dualstack.env");
}

static void test_format_ipv6only(void **state)
{
	struct subnetenv env = {
		.has_ipv6_network = true,
		.has_ipv6_subnet = true,
		.has_mtu = true,
		.has_ipmasq = true,
		.mtu = 1450,
		.ipmasq = false,
	};

	env.ipv6_network = v6("fc00::/48");
	env.ipv6_subnet = v6("fc00:0:0:29::/64");
	assert_format_golden(&env, FIXTURES_DIR "/subnetenv_ipv6only.env");
}

static void test_format_edges(void **state)
{
	struct subnetenv env = { 0 };
	char buf[256];

	assert_int_equal(subnetenv_format(&env, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	/* +1 carries across bytes and words; the length is kept as is. */
	env.has_subnet = env.has_ipv6_subnet = true;
	env.subnet.addr = 0x0a05ffffu;
	env.subnet.len = 32;
	env.ipv6_subnet = v6("fc00::ffff:ffff/128");
	assert_true(subnetenv_format(&env, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "FLANNEL_SUBNET=10.6.0.0/32\n"
				 "FLANNEL_IPV6_SUBNET=fc00::1:0:0/128\n");

	env = (struct subnetenv){ .has_mtu = true, .mtu = 65536, .has_ipmasq = true };
	assert_int_equal(subnetenv_format(&env, buf, sizeof(buf)), 39);
	assert_string_equal(buf, "FLANNEL_MTU=65536\nFLANNEL_IPMASQ=false\n");
}

static void test_format_enospc(void **state)
{
	struct subnetenv env = dualstack();
	char buf[512];
	int n;

	n = subnetenv_format(&env, buf, sizeof(buf));
	assert_true(n > 0);
	/* Room for the text and its NUL, and not one byte less. */
	assert_int_equal(subnetenv_format(&env, buf, (size_t)n + 1), n);
	assert_int_equal(subnetenv_format(&env, buf, (size_t)n), -ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(subnetenv_format(&env, buf, 10), -ENOSPC);
	assert_int_equal(subnetenv_format(&env, buf, 0), -ENOSPC);
}

/* Reading what upstream writes gives back the subnet, and formats to the same text. */
static void roundtrip(struct fixture *fx, const char *fixture, struct subnetenv *env)
{
	char buf[1024], *want = slurp(fixture);

	warnings_clear(&fx->w);
	assert_int_equal(subnetenv_read(fixture, env, collect, &fx->w), 0);
	assert_int_equal(fx->w.n, 0);
	assert_int_equal(subnetenv_format(env, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
	free(want);
}

static void test_read_golden(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;

	roundtrip(fx, FIXTURES_DIR "/subnetenv_ipv4.env", &env);
	assert_true(env.has_network && env.has_subnet && env.has_mtu && env.has_ipmasq);
	assert_false(env.has_ipv6_network || env.has_ipv6_subnet);
	assert_v4(&env.network, "10.5.0.0/16");
	assert_v4(&env.subnet, "10.5.71.0/24");
	assert_int_equal(env.mtu, 1450);
	assert_true(env.ipmasq);

	roundtrip(fx, FIXTURES_DIR "/subnetenv_dualstack.env", &env);
	assert_true(env.has_network && env.has_subnet && env.has_ipv6_network &&
		    env.has_ipv6_subnet && env.has_mtu && env.has_ipmasq);
	assert_v4(&env.subnet, "10.5.79.0/24");
	assert_v6(&env.ipv6_network, "fc00::/48");
	assert_v6(&env.ipv6_subnet, "fc00:0:0:29::/64");

	roundtrip(fx, FIXTURES_DIR "/subnetenv_ipv6only.env", &env);
	assert_false(env.has_network || env.has_subnet);
	assert_true(env.has_ipv6_network && env.has_ipv6_subnet);
	assert_v6(&env.ipv6_subnet, "fc00:0:0:29::/64");
	assert_false(env.ipmasq);
}

static void test_read_tolerant(void **state)
{
	static const char text[] = "# written by hand, dotenv style\r\n"
				   "\r\n"
				   "export FLANNEL_NETWORK = \"10.5.0.0/16\"\r\n"
				   "  FLANNEL_SUBNET='10.5.72.1/24'   # old lease\r\n"
				   "FLANNEL_IPV6_NETWORK: fc00::/48\r\n"
				   "\texport\tFLANNEL_IPV6_SUBNET=\"fc00:0:0:29::1/64\" # v6\r\n"
				   "OTHER_VAR=whatever\r\n"
				   "lowercase.key=1\r\n"
				   "   \t  \r\n"
				   "    # indented comment\r\n"
				   "FLANNEL_MTU=  1400  \r\n"
				   "FLANNEL_IPMASQ=True";
	struct fixture *fx = *state;
	struct subnetenv env;

	assert_int_equal(READ_STR(fx, text, &env), 0);
	assert_int_equal(fx->w.n, 0);
	assert_true(env.has_network && env.has_subnet && env.has_ipv6_network &&
		    env.has_ipv6_subnet && env.has_mtu && env.has_ipmasq);
	assert_v4(&env.network, "10.5.0.0/16");
	/* Host bits are masked: the file has the bridge address. */
	assert_v4(&env.subnet, "10.5.72.0/24");
	assert_v6(&env.ipv6_network, "fc00::/48");
	assert_v6(&env.ipv6_subnet, "fc00:0:0:29::/64");
	assert_int_equal(env.mtu, 1400);
	assert_true(env.ipmasq);
}

static void test_read_more_dotenv(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;

	/* Inline comment needs a blank before '#'; values in quotes keep '#'. */
	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=10.1.2.3/16#x\n", &env), 0);
	assert_false(env.has_subnet);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: invalid CIDR \"10.1.2.3/16#x\"");

	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=\"10.1.2.3/16 # x\"\n", &env), 0);
	assert_false(env.has_subnet);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: invalid CIDR \"10.1.2.3/16 # x\"");

	/* Escapes in double quotes; a trailing comment after a quoted value. */
	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=\"10.1.2.3\\/16\"\t#c\n", &env), 0);
	assert_int_equal(fx->w.n, 0);
	assert_v4(&env.subnet, "10.1.0.0/16");

	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=\"10.1.2.3/16\\n\"\n", &env), 0);
	assert_false(env.has_subnet);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: invalid CIDR \"10.1.2.3/16\\x0a\"");

	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET='10.1.2.3/16\n", &env), 0);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: unterminated quoted value");
	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=\"10.1.2.3/16\" junk\n", &env), 0);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: unexpected text after the quoted value");
	assert_false(env.has_subnet);

	/* An empty value is a value, and not a CIDR. */
	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=\n", &env), 0);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: invalid CIDR \"\"");

	assert_int_equal(READ_STR(fx, "\n\nFLANNEL_SUBNET 10.1.2.3/16\n", &env), 0);
	assert_warned(&fx->w, "line 3: not a KEY=value assignment");
	assert_int_equal(READ_STR(fx, "=10.0.0.0/8\nexport\n", &env), 0);
	assert_warned(&fx->w, "line 1: not a KEY=value assignment");
	assert_warned(&fx->w, "line 2: not a KEY=value assignment");

	/* An empty file is fine and has nothing. */
	assert_int_equal(READ_STR(fx, "", &env), 0);
	assert_int_equal(fx->w.n, 0);
	assert_false(env.has_network || env.has_subnet || env.has_ipv6_network ||
		     env.has_ipv6_subnet || env.has_mtu || env.has_ipmasq);
}

static void test_read_multi_cidr(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;

	assert_int_equal(READ_STR(fx,
				  "FLANNEL_NETWORK=10.5.0.0/16\n"
				  "FLANNEL_SUBNET=10.5.72.1/24,10.5.73.1/24\n"
				  "FLANNEL_IPV6_SUBNET=fc00:0:0:29::1/64,\n",
				  &env),
			 0);
	assert_true(env.has_network);
	assert_false(env.has_subnet);
	assert_false(env.has_ipv6_subnet);
	assert_warned(
		&fx->w,
		"line 2: FLANNEL_SUBNET: more than one CIDR in \"10.5.72.1/24,10.5.73.1/24\"");
	assert_warned(&fx->w,
		      "line 3: FLANNEL_IPV6_SUBNET: more than one CIDR in \"fc00:0:0:29::1/64,\"");
}

static void test_read_invalid_values(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;

	assert_int_equal(READ_STR(fx,
				  "FLANNEL_NETWORK=10.5.0.0/16\n"
				  "FLANNEL_MTU=1450\n"
				  "FLANNEL_SUBNET=zzz\n"
				  "FLANNEL_IPV6_NETWORK=10.0.0.0/8\n"
				  "FLANNEL_IPV6_SUBNET=fc00::/129\n"
				  "FLANNEL_IPMASQ=yes\n",
				  &env),
			 0);
	assert_true(env.has_network);
	assert_true(env.has_mtu);
	assert_false(env.has_subnet);
	assert_false(env.has_ipv6_network);
	assert_false(env.has_ipv6_subnet);
	assert_false(env.has_ipmasq);
	assert_int_equal(fx->w.n, 4);
	assert_warned(&fx->w, "line 3: FLANNEL_SUBNET: invalid CIDR \"zzz\"");
	assert_warned(&fx->w, "line 4: FLANNEL_IPV6_NETWORK: invalid CIDR \"10.0.0.0/8\"");
	assert_warned(&fx->w, "line 5: FLANNEL_IPV6_SUBNET: invalid CIDR \"fc00::/129\"");
	assert_warned(&fx->w, "line 6: FLANNEL_IPMASQ: invalid value \"yes\"");

	assert_int_equal(READ_STR(fx,
				  "FLANNEL_NETWORK=fc00::/48\n"
				  "FLANNEL_SUBNET=10.5.72.1/33\n"
				  "FLANNEL_MTU=-1\n"
				  "FLANNEL_MTU=4294967296\n"
				  "FLANNEL_MTU=14x\n",
				  &env),
			 0);
	assert_false(env.has_network || env.has_subnet || env.has_mtu);
	assert_warned(&fx->w, "line 1: FLANNEL_NETWORK: invalid CIDR \"fc00::/48\"");
	assert_warned(&fx->w, "line 2: FLANNEL_SUBNET: invalid CIDR \"10.5.72.1/33\"");
	assert_warned(&fx->w, "line 3: FLANNEL_MTU: invalid value \"-1\"");
	assert_warned(&fx->w, "line 4: FLANNEL_MTU: invalid value \"4294967296\"");
	assert_warned(&fx->w, "line 5: FLANNEL_MTU: invalid value \"14x\"");
}

/* Like godotenv's map, the last assignment of a variable wins. */
static void test_read_last_wins(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;

	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=10.5.1.1/24\nFLANNEL_SUBNET=zzz\n", &env), 0);
	assert_false(env.has_subnet);
	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=zzz\nFLANNEL_SUBNET=10.5.2.1/24\n", &env), 0);
	assert_true(env.has_subnet);
	assert_v4(&env.subnet, "10.5.2.0/24");
	assert_int_equal(READ_STR(fx, "FLANNEL_IPMASQ=true\nFLANNEL_IPMASQ=0\n", &env), 0);
	assert_true(env.has_ipmasq);
	assert_false(env.ipmasq);
}

static void test_read_corrupt_lines(void **state)
{
	static const char nul[] = "FLANNEL_NETWORK=10.5.0.0/16\n"
				  "FLANNEL_SUBNET=10.5\0.1.1/24\n"
				  "FLANNEL_MTU=1450\x01\n"
				  "FLANNEL_IPMASQ=true\n";
	struct fixture *fx = *state;
	struct subnetenv env;
	char *big;
	size_t n;

	assert_int_equal(read_text(fx, nul, sizeof(nul) - 1, &env), 0);
	assert_true(env.has_network);
	assert_false(env.has_subnet);
	assert_false(env.has_mtu);
	assert_true(env.has_ipmasq);
	assert_warned(&fx->w, "line 2: contains a NUL byte");
	assert_warned(&fx->w, "line 3: contains control character 0x01");

	/* An overlong line is skipped, the lines around it are read. */
	big = malloc(8192);
	assert_non_null(big);
	n = (size_t)sprintf(big, "FLANNEL_MTU=1450\nFLANNEL_SUBNET=");
	memset(big + n, '1', 3000);
	n += 3000;
	n += (size_t)sprintf(big + n, "\nFLANNEL_IPMASQ=false\n");
	assert_int_equal(read_text(fx, big, n, &env), 0);
	free(big);
	assert_true(env.has_mtu);
	assert_false(env.has_subnet);
	assert_true(env.has_ipmasq);
	assert_int_equal(fx->w.n, 1);
	assert_warned(&fx->w, "line 2: longer than 1024 bytes");

	/* Control characters in a value are escaped in the message. */
	assert_int_equal(READ_STR(fx, "FLANNEL_SUBNET=\"\xff\xfe\\\"\"\n", &env), 0);
	assert_warned(&fx->w, "line 1: FLANNEL_SUBNET: invalid CIDR \"\\xff\\xfe\\\"\"");
}

static void test_read_binary_garbage(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;
	static const char alphabet[] = "FLANEL_SUBT=/.0123456789#'\"\n \r\t:";
	unsigned char *buf;
	uint32_t x = 12345;
	size_t i, round;

	buf = malloc(70000);
	assert_non_null(buf);
	for (round = 0; round < 20; round++) {
		size_t len = 1 + round * 3500;

		for (i = 0; i < len; i++) {
			/* xorshift: deterministic junk; odd rounds favour '\n', '=', '#'. */
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			if (round & 1)
				buf[i] = (unsigned char)alphabet[x % (sizeof(alphabet))];
			else
				buf[i] = (unsigned char)x;
		}
		assert_int_equal(read_text(fx, buf, len, &env), 0);
		/* Garbage produces at most a capped number of warnings. */
		assert_true(fx->w.n <= 16);
	}
	free(buf);
}

static void test_read_huge_file(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;
	char path[128], line[64];
	size_t total = 0;
	FILE *f;

	/* 10 MB: the real values first, then filler; only the start is read. */
	path_in(fx, "huge.env", path, sizeof(path));
	f = fopen(path, "we");
	assert_non_null(f);
	fputs("FLANNEL_SUBNET=10.5.9.1/24\n", f);
	snprintf(line, sizeof(line), "# %060d\n", 0);
	while (total < 10 * 1024 * 1024) {
		fputs(line, f);
		total += strlen(line);
	}
	/* Beyond the cap: would override the subnet if it were read. */
	fputs("FLANNEL_SUBNET=zzz\n", f);
	fclose(f);

	warnings_clear(&fx->w);
	assert_int_equal(subnetenv_read(path, &env, collect, &fx->w), 0);
	assert_true(env.has_subnet);
	assert_v4(&env.subnet, "10.5.9.0/24");
	assert_int_equal(fx->w.n, 1);
	assert_warned(&fx->w, "file is larger than 65536 bytes, reading only the start");
}

static void test_read_cut_last_line(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;
	char *buf;
	size_t n;

	/* The variable straddles the 64 KiB cut: its half must not be used. */
	buf = malloc(70000);
	assert_non_null(buf);
	n = 65536 - 20;
	for (size_t i = 0; i < n; i++)
		buf[i] = i % 64 == 63 ? '\n' : '#';
	buf[n - 1] = '\n';
	n += (size_t)sprintf(buf + n, "FLANNEL_MTU=1450123456789\n");
	assert_int_equal(read_text(fx, buf, n, &env), 0);
	free(buf);
	assert_false(env.has_mtu);
	assert_int_equal(fx->w.n, 1);
	assert_warned(&fx->w, "file is larger than 65536 bytes, reading only the start");

	/* Exactly 64 KiB without a final newline is not cut. */
	buf = malloc(65536);
	assert_non_null(buf);
	memset(buf, '#', 65536);
	buf[65536 - 17] = '\n';
	memcpy(buf + 65536 - 16, "FLANNEL_MTU=1450", 16);
	assert_int_equal(read_text(fx, buf, 65536, &env), 0);
	free(buf);
	assert_int_equal(fx->w.n, 1);
	assert_warned(&fx->w, "line 1: longer than 1024 bytes");
	assert_true(env.has_mtu);
	assert_int_equal(env.mtu, 1450);
}

static void test_read_errors(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env;
	char path[128];

	memset(&env, 0x5a, sizeof(env));
	assert_int_equal(subnetenv_read(path_in(fx, "missing.env", path, sizeof(path)), &env,
					collect, &fx->w),
			 -ENOENT);
	/* Cleared on failure, so a caller may look at has_* regardless. */
	assert_false(env.has_subnet);
	assert_int_equal(subnetenv_read(fx->dir, &env, collect, &fx->w), -EISDIR);
	/* A FIFO must not block start-up. */
	assert_int_equal(mkfifo(path_in(fx, "fifo.env", path, sizeof(path)), 0600), 0);
	assert_int_equal(subnetenv_read(path, &env, collect, &fx->w), -EINVAL);
	/* A NULL warn callback is allowed. */
	path_in(fx, "bad.env", path, sizeof(path));
	write_bytes(path, "FLANNEL_SUBNET=zzz\n\0\0\0", 22);
	assert_int_equal(subnetenv_read(path, &env, NULL, NULL), 0);
	assert_false(env.has_subnet);
}

static void test_write(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env = dualstack(), back;
	char path[256], want[512], *got;
	struct stat st;
	mode_t old;
	DIR *d;
	struct dirent *e;

	/* Nested missing parents, and umask 077 must not make the file 0600. */
	old = umask(077);
	path_in(fx, "a/b/c/subnet.env", path, sizeof(path));
	assert_int_equal(subnetenv_write(path, &env), 0);
	umask(old);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	got = slurp(path);
	assert_true(subnetenv_format(&env, want, sizeof(want)) > 0);
	assert_string_equal(got, want);
	free(got);

	/* mkdir -p obeys the umask like Go's os.MkdirAll(dir, 0755). */
	path_in(fx, "a/b", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	/* Overwrite in place with new content; no temp files are left. */
	env.has_ipv6_network = env.has_ipv6_subnet = false;
	env.mtu = 1400;
	path_in(fx, "a/b/c/subnet.env", path, sizeof(path));
	assert_int_equal(subnetenv_write(path, &env), 0);
	assert_int_equal(subnetenv_read(path, &back, collect, &fx->w), 0);
	assert_true(back.has_subnet);
	assert_false(back.has_ipv6_subnet);
	assert_int_equal(back.mtu, 1400);
	assert_v4(&back.subnet, "10.5.79.0/24");

	path_in(fx, "a/b/c", path, sizeof(path));
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			assert_string_equal(e->d_name, "subnet.env");
	}
	closedir(d);
}

static void test_write_umask022(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env = dualstack();
	char path[256];
	struct stat st;
	mode_t old;

	old = umask(022);
	assert_int_equal(subnetenv_write(path_in(fx, "x/y/subnet.env", path, sizeof(path)), &env),
			 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(stat(path_in(fx, "x", path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(path_in(fx, "x/y", path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* Existing parent, relative path with "//": still fine. */
	assert_int_equal(subnetenv_write(path_in(fx, "x//y/second.env", path, sizeof(path)), &env),
			 0);
	assert_int_equal(stat(path_in(fx, "x/y/second.env", path, sizeof(path)), &st), 0);
}

static void test_write_errors(void **state)
{
	struct fixture *fx = *state;
	struct subnetenv env = dualstack();
	char path[256];
	struct dirent *e;
	DIR *d;
	int n = 0;

	/* A parent that is a file. */
	write_bytes(path_in(fx, "file", path, sizeof(path)), "x", 1);
	assert_int_equal(
		subnetenv_write(path_in(fx, "file/sub/subnet.env", path, sizeof(path)), &env),
		-ENOTDIR);
	assert_int_equal(subnetenv_write(path_in(fx, "file/subnet.env", path, sizeof(path)), &env),
			 -ENOTDIR);

	/* The target is a directory: rename fails, and the temp file is removed. */
	assert_int_equal(mkdir(path_in(fx, "d", path, sizeof(path)), 0755), 0);
	assert_int_equal(mkdir(path_in(fx, "d/subnet.env", path, sizeof(path)), 0755), 0);
	assert_int_equal(subnetenv_write(path, &env), -EISDIR);
	d = opendir(path_in(fx, "d", path, sizeof(path)));
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	}
	closedir(d);
	assert_int_equal(n, 1);

	/* No file name. */
	assert_int_equal(subnetenv_write(path_in(fx, "d/", path, sizeof(path)), &env), -EISDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_ipv4),
		cmocka_unit_test(test_format_dualstack),
		cmocka_unit_test(test_format_ipv6only),
		cmocka_unit_test(test_format_edges),
		cmocka_unit_test(test_format_enospc),
		cmocka_unit_test_setup_teardown(test_read_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_tolerant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_more_dotenv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_multi_cidr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_invalid_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_last_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_corrupt_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_binary_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_huge_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cut_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_umask022, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
