/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-pass lease value decoder (src/leasevalue.c) against the
 * two-pass one it replaced (tests/unit/lease_ref.c, jansson then a member
 * walk): same verdict, same attributes, byte-equal BackendData, the same
 * Go-rule error text, over the fuzz seeds, hand-made edge cases and
 * mutations of both.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lease_ref.h"
#include "subnet.h"

static bool same_raw(const char *x, const char *y)
{
	if (!x || !y)
		return x == y;
	return strcmp(x, y) == 0;
}

static bool syntax_error(const char *err)
{
	return strncmp(err, "invalid JSON", 12) == 0;
}

static void show(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 300; i++)
		fprintf(stderr, (v[i] >= 0x20 && v[i] < 0x7f) ? "%c" : "\\x%02x",
			(unsigned char)v[i]);
	fprintf(stderr, "\n");
}

static void compare(const char *v, size_t n)
{
	struct lease_attrs a, b, c;
	char ea[256] = "", eb[256] = "", ec[256];
	int ra = lease_attrs_parse_ref(v, n, &a, ea, sizeof(ea));
	int rb = lease_attrs_parse(v, n, &b, eb, sizeof(eb));

	if (ra != rb) {
		show(v, n);
		fail_msg("verdicts differ: old %d \"%s\", new %d \"%s\"", ra, ea, rb, eb);
	}
	if (ra < 0) {
		/* Syntax errors are worded per parser; Go-rule errors must match. */
		if (syntax_error(ea) != syntax_error(eb) ||
		    (!syntax_error(ea) && strcmp(ea, eb) != 0)) {
			show(v, n);
			fail_msg("errors differ: old \"%s\", new \"%s\"", ea, eb);
		}
		return;
	}
	if (!lease_attrs_equal(&a, &b) || !same_raw(a.backend_data, b.backend_data) ||
	    !same_raw(a.backend_v6_data, b.backend_v6_data)) {
		show(v, n);
		fail_msg("attributes differ");
	}
	/* Data kept for our type only: the rest is the same. */
	assert_int_equal(lease_attrs_parse_for(v, n, b.backend_type, &c, ec, sizeof(ec)), 0);
	assert_true(lease_attrs_equal(&b, &c));
	lease_attrs_free(&c);
	assert_int_equal(lease_attrs_parse_for(v, n, "no-such-type", &c, ec, sizeof(ec)), 0);
	assert_null(c.backend_data);
	assert_null(c.backend_v6_data);
	assert_string_equal(c.backend_type, b.backend_type);
	lease_attrs_free(&c);
	lease_attrs_free(&a);
	lease_attrs_free(&b);
}

static void compare_str(const char *v)
{
	compare(v, strlen(v));
}

/* splitmix64: a fixed, portable stream for the mutation loops. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Mutations of v: replaced bytes, inserted JSON tokens, cut lengths. */
static void compare_mutations(const char *v, size_t n, uint64_t *seed, int count)
{
	static const char alphabet[] = "{}[]\":,\\ \t\n.-+eE&<>0123456789abcdefuPpublicIPv6nul"
				       "ltrx\x00\x01\x7f\x80\xbf\xc2\xe2\xed\xf0\xf4\xff";
	static const char *const tokens[] = {
		"\\u0000",
		"\\ud800",
		"\\udc00",
		"\\ud83d\\ude00",
		"\\u017f",
		"\\u212a",
		"\\u0130",
		"1e400",
		"-0.5e-400",
		"null",
		"true",
		"[[[]]]",
		"{}",
		"\"a\":1,",
		"\xe2\x80\xa8",
		"\xc5\xbf",
		"\\\"",
		"\"",
		",",
		"\"PublicIP\":",
		"\xed\xa0\x80",
		"01",
		"1.",
		"\"BackendType\":",
	};
	char buf[512];
	int iter;

	if (n > 400)
		n = 400;
	for (iter = 0; iter < count; iter++) {
		size_t len = n, i, k = 1 + next_rand(seed) % 3;

		memcpy(buf, v, n);
		for (i = 0; i < k && len; i++) {
			size_t at = next_rand(seed) % len;

			if (next_rand(seed) % 3) {
				buf[at] = alphabet[next_rand(seed) % (sizeof(alphabet) - 1)];
			} else {
				const char *t = tokens[next_rand(seed) %
						       (sizeof(tokens) / sizeof(tokens[0]))];
				size_t tl = strlen(t);

				if (len + tl > sizeof(buf))
					continue;
				memmove(buf + at + tl, buf + at, len - at);
				memcpy(buf + at, t, tl);
				len += tl;
			}
		}
		if (next_rand(seed) % 8 == 0)
			len = next_rand(seed) % (len + 1);
		compare(buf, len);
	}
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n + 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return p;
}

/* Every value in a fuzz_leasecache record stream (see fuzz/fuzz_leasecache.c). */
static int compare_records(const char *s, size_t n, uint64_t *seed)
{
	size_t p = 0;
	int found = 0;

	while (p + 2 <= n) {
		size_t klen = (unsigned char)s[p + 1], vlen;

		p += 2 + klen;
		if (p + 2 > n)
			break;
		vlen = (size_t)(unsigned char)s[p] << 8 | (unsigned char)s[p + 1];
		p += 2;
		if (vlen > n - p)
			vlen = n - p;
		compare(s + p, vlen);
		compare_mutations(s + p, vlen, seed, 500);
		p += vlen;
		found++;
	}
	return found;
}

/* The committed seeds: fuzz_lease's are "key\nvalue", fuzz_leasecache's are records. */
static void test_fuzz_seeds(void **state)
{
	static const char *const dirs[] = { "fuzz/corpus/fuzz_lease",
					    "fuzz/corpus/fuzz_leasecache" };
	uint64_t seed = 7;
	int values = 0;
	size_t d;

	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;

		assert_non_null(dir);
		while ((e = readdir(dir))) {
			char path[512];
			size_t len;
			char *s, *nl;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[d], e->d_name);
			s = read_file(path, &len);
			assert_non_null(s);
			if (d == 1) {
				values += compare_records(s, len, &seed);
			} else {
				nl = memchr(s, '\n', len);
				if (nl) {
					size_t vlen = len - (size_t)(nl + 1 - s);

					compare(nl + 1, vlen);
					compare_mutations(nl + 1, vlen, &seed, 20000);
					values++;
				}
			}
			free(s);
		}
		closedir(dir);
	}
	assert_true(values >= 10);
}

/* Values the tests write into etcd, and edges of each rule either parser enforces. */
static const char *const cases[] = {
	"{\"PublicIP\":\"10.200.0.13\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}",
	"{\"PublicIP\":\"10.200.0.77\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
	"\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"02:aa:00:00:00:01\"}}",
	"{\"PublicIP\":\"10.200.0.98\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
	"\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"zz:00\"}}",
	"{\"PublicIP\":\"10.200.1.1\",\"PublicIPv6\":null,\"Pad\":\"xxxxxxxx\"}",
	"{\"PublicIP\":null,\"PublicIPv6\":null}",
	"{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00:200::11\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"fd00::1\",\"BackendType\":\"vxlan\","
	"\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"0a:00:00:00:00:01\"},"
	"\"BackendV6Data\":{\"VNI\":1,\"VtepMAC\":\"0a:00:00:00:00:02\"}}",
	/* whitespace, HTML characters and U+2028 in kept data: compacted as Go writes it */
	" {\"PublicIP\" : \"10.0.0.1\" ,\n\"BackendData\" : { \"a\" : [ 1 , 2 ] , \"b\" : \"<&>\" "
	"} } ",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\xe2\x80\xa8\xe2\x80\xa9\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\\u003c\\/\"}",
	/* case folding, escapes in keys */
	"{\"publicip\":\"10.0.0.1\",\"BACKENDTYPE\":\"x\"}",
	"{\"Publ\\u0069cIP\":\"10.0.0.1\"}",
	"{\"PUBLIC\xc4\xb0P\":\"10.0.0.1\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"Backend\xe2\x84\xaaype\":\"x\",\"BackendType\\u0000\":\"y\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"bac\xe2\x84\xaa\\u0065ndtype\":\"x\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"\xc5\xbf\":1}",
	/* surrogates */
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83d\\ude00\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83d\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ude00\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83d\\u0041\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83dx\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\ud83d\\ude00\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\u00\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\UABCD\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\q\"}",
	/* UTF-8 */
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xc0\xaf\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xed\xa0\x80\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xf4\x90\x80\x80\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xf0\x9f\x98\x80\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xe0\x9f\xbf\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xe2\x82\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\x7f\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\x1f\"}",
	"{\"PublicIP\":\"10.0.0.1\"}\xef\xbb\xbf",
	"\xef\xbb\xbf{\"PublicIP\":\"10.0.0.1\"}",
	/* NUL in keys and values */
	"{\"PublicIP\":\"10.0.0.1\",\"x\\u0000\":1}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":{\"\\u0000\":1}}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\u0000\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\\u0000\"}",
	/* numbers */
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1e308}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1e309}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":-1e309}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1.7976931348623157e308}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1.7976931348623159e308}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1e-400}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":0.0000001e314}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":18446744073709551616}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":-0}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":-}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":01}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1.}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":.5}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1e}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1e+}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":1E-2}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":+1}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":0x10}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":Infinity}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":NaN}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendData\":-12.50e+3}",
	/* literals and structure */
	"{\"PublicIP\":\"10.0.0.1\",\"x\":tru}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":truex}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":nul}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":True}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":[1,]}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":[,1]}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":{\"a\"}}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":{\"a\":}}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":{1:2}}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":[}",
	"{\"PublicIP\":\"10.0.0.1\",\"x\":{]}",
	"{\"PublicIP\":\"10.0.0.1\" \"x\":1}",
	"{\"PublicIP\":\"10.0.0.1\",,\"x\":1}",
	"{,}",
	"{\"PublicIP\":\"10.0.0.1\"}}",
	"{\"PublicIP\":\"10.0.0.1\"} {}",
	"{\"PublicIP\":\"10.0.0.1\"}\f",
	"\v{\"PublicIP\":\"10.0.0.1\"}",
	"  null  ",
	" [1] ",
	" \"x\" ",
	" true",
	" -1",
	"nul",
	"",
	"   ",
	/* Go-rule precedence: syntax before fields, hard errors before type errors */
	"{\"PublicIP\":\"bad\",\"x\":01}",
	"{\"BackendType\":5,\"PublicIP\":\"bad\"}",
	"{\"PublicIP\":\"bad\",\"PublicIP\":\"10.0.0.1\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":[],\"BackendType\":\"x\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890x\","
	"\"BackendType\":\"ok\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"x\\u0000\",\"BackendType\":null}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890\\u0000\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9x\"}",
	"{\"PublicIP\":\"\\\"10.0.0.1\\\"\"}",
	"{\"PublicIP\":\"\\u0031\\u0030.0.0.1\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":nul}",
	"{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"::ffff:1.2.3.4\"}",
	"{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":[\"fd00::1\"]}",
	"{\"PublicIP\":true}",
	"{\"PublicIP\":\"1.2.3.4\",\"BackendData\":{}}",
	"{\"PublicIP\":\"1.2.3.4\",\"BackendData\":[]}",
	"{\"PublicIP\":\"1.2.3.4\",\"BackendData\":[ ]}",
	"{\"PublicIP\":\"1.2.3.4\",\"BackendData\":\"\"}",
};

static void test_edge_cases(void **state)
{
	uint64_t seed = 11;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		compare_str(cases[i]);
		compare_mutations(cases[i], strlen(cases[i]), &seed, 2000);
	}
}

/* A raw NUL between tokens and inside strings (the strings above cannot hold one). */
static void test_raw_nul(void **state)
{
	static const char v[] = "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":{\"VNI\":1}}";
	char buf[sizeof(v)];
	size_t i;

	for (i = 0; i < sizeof(v) - 1; i++) {
		memcpy(buf, v, sizeof(v));
		buf[i] = '\0';
		compare(buf, sizeof(v) - 1);
	}
}

/* jansson's depth limit: 2048 values nested, the document counting as one. */
static void test_depth(void **state)
{
	static const char head[] = "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":";
	size_t d, extra[] = { 2040, 2045, 2046, 2047, 2048, 5000 };
	char *buf = malloc(sizeof(head) + 6 * 5000 + 16);

	assert_non_null(buf);
	for (d = 0; d < sizeof(extra) / sizeof(extra[0]); d++) {
		size_t n = sizeof(head) - 1, k;

		memcpy(buf, head, n);
		for (k = 0; k < extra[d]; k++)
			buf[n++] = '[';
		for (k = 0; k < extra[d]; k++)
			buf[n++] = ']';
		buf[n++] = '}';
		compare(buf, n);
		/* The same with a scalar innermost, and with objects. */
		n = sizeof(head) - 1;
		for (k = 0; k < extra[d]; k++) {
			memcpy(buf + n, "{\"a\":", 5);
			n += 5;
		}
		buf[n++] = '1';
		for (k = 0; k < extra[d]; k++)
			buf[n++] = '}';
		buf[n++] = '}';
		compare(buf, n);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_seeds),
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_raw_nul),
		cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
