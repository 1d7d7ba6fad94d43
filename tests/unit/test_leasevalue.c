/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-pass lease value decoder (src/leasevalue.c). Until it replaced
 * the jansson-based two-pass decoder, a differential test held the two to
 * the same verdicts, attributes and Go-rule errors (commit 8a51992); the
 * verdicts of those edge cases are kept here. Mutations of the fuzz seeds
 * and of every case must never crash, and what parses must format and
 * parse back to the same attributes.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lease/subnet.h"

#define SYNTAX "invalid JSON"

static void show(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 300; i++)
		fprintf(stderr, (v[i] >= 0x20 && v[i] < 0x7f) ? "%c" : "\\x%02x",
			(unsigned char)v[i]);
	fprintf(stderr, "\n");
}

/*
 * As upstream, a PublicIPv6 in [::100:0, ::ffff:ffff] is written as a dotted
 * quad and read back as ::ffff:a.b.c.d: not the same value, but the same text
 * from the first round on.
 */
static bool stable_v4_sized_ipv6(const struct lease_attrs *a, const struct lease_attrs *b,
				 const char *text)
{
	static const uint8_t zero[12];
	char *again;
	bool ok;

	if (!a->has_public_ipv6 || memcmp(a->public_ipv6.b, zero, 12) != 0 ||
	    a->public_ipv6.b[12] == 0)
		return false;
	again = lease_attrs_format(b);
	ok = again && strcmp(again, text) == 0;
	free(again);
	return ok;
}

/*
 * Parse v; when it parses, its formatted text parses to the same thing,
 * and BackendData is kept for the value's own type only. Returns the verdict.
 */
static int check(const char *v, size_t n, char *err, size_t errlen)
{
	struct lease_attrs a, b, c;
	char e2[256];
	char *text;
	int r = lease_attrs_parse(v, n, &a, err, errlen);

	if (r < 0)
		return r;
	text = lease_attrs_format(&a);
	assert_non_null(text);
	if (lease_attrs_parse(text, strlen(text), &b, e2, sizeof(e2)) < 0 ||
	    (!lease_attrs_equal(&a, &b) && !stable_v4_sized_ipv6(&a, &b, text))) {
		show(v, n);
		fail_msg("does not format and parse back: %s", text);
	}
	free(text);
	assert_int_equal(lease_attrs_parse_for(v, n, a.backend_type, &c, e2, sizeof(e2)), 0);
	assert_true(lease_attrs_equal(&a, &c));
	lease_attrs_free(&c);
	assert_int_equal(lease_attrs_parse_for(v, n, "no-such-type", &c, e2, sizeof(e2)), 0);
	assert_null(c.backend_data);
	assert_null(c.backend_v6_data);
	assert_string_equal(c.backend_type, a.backend_type);
	lease_attrs_free(&c);
	lease_attrs_free(&a);
	lease_attrs_free(&b);
	return 0;
}

static void compare(const char *v, size_t n)
{
	char err[256];

	check(v, n, err, sizeof(err));
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

/* Values the tests write into etcd, and edges of each rule the decoder enforces. */
static const struct {
	const char *value;
	const char *want; /* NULL: accepted; else how the error starts */
} cases[] = {
	{ "{\"PublicIP\":\"10.200.0.13\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}", NULL },
	{ "{\"PublicIP\":\"10.200.0.77\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
	  "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"02:aa:00:00:00:01\"}}",
	  NULL },
	{ "{\"PublicIP\":\"10.200.0.98\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
	  "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"zz:00\"}}",
	  NULL },
	{ "{\"PublicIP\":\"10.200.1.1\",\"PublicIPv6\":null,\"Pad\":\"xxxxxxxx\"}", NULL },
	{ "{\"PublicIP\":null,\"PublicIPv6\":null}",
	  "PublicIP: invalid IP address format: \"null\"" },
	{ "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00:200::11\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"fd00::1\",\"BackendType\":\"vxlan\","
	  "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"0a:00:00:00:00:01\"},"
	  "\"BackendV6Data\":{\"VNI\":1,\"VtepMAC\":\"0a:00:00:00:00:02\"}}",
	  NULL },
	/* whitespace, HTML characters and U+2028 in kept data: compacted as Go writes it */
	{ " {\"PublicIP\" : \"10.0.0.1\" ,\n\"BackendData\" : { \"a\" : [ 1 , 2 ] , \"b\" : "
	  "\"<&>\" "
	  "} } ",
	  NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\xe2\x80\xa8\xe2\x80\xa9\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\\u003c\\/\"}", NULL },
	/* case folding, escapes in keys */
	{ "{\"publicip\":\"10.0.0.1\",\"BACKENDTYPE\":\"x\"}", NULL },
	{ "{\"Publ\\u0069cIP\":\"10.0.0.1\"}", NULL },
	{ "{\"PUBLIC\xc4\xb0P\":\"10.0.0.1\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"Backend\xe2\x84\xaaype\":\"x\",\"BackendType\\u0000\":"
	  "\"y\"}",
	  SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"bac\xe2\x84\xaa\\u0065ndtype\":\"x\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"\xc5\xbf\":1}", NULL },
	/* surrogates */
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83d\\ude00\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83d\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ude00\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83d\\u0041\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\ud83dx\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\ud83d\\ude00\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\u00\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\UABCD\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\q\"}", SYNTAX },
	/* UTF-8 */
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xc0\xaf\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xed\xa0\x80\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xf4\x90\x80\x80\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xf0\x9f\x98\x80\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xe0\x9f\xbf\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\xe2\x82\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\x7f\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\x1f\"}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\"}\xef\xbb\xbf", SYNTAX },
	{ "\xef\xbb\xbf{\"PublicIP\":\"10.0.0.1\"}", SYNTAX },
	/* NUL in keys and values */
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\\u0000\":1}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":{\"\\u0000\":1}}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":\"\\u0000\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\\u0000\"}", NULL },
	/* numbers */
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1e308}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1e309}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":-1e309}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1.7976931348623157e308}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1.7976931348623159e308}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1e-400}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":0.0000001e314}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":18446744073709551616}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":-0}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":-}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":01}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1.}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":.5}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1e}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1e+}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":1E-2}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":+1}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":0x10}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":Infinity}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":NaN}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":-12.50e+3}", NULL },
	/* literals and structure */
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":tru}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":truex}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":nul}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":True}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":[1,]}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":[,1]}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":{\"a\"}}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":{\"a\":}}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":{1:2}}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":[}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"x\":{]}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\" \"x\":1}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",,\"x\":1}", SYNTAX },
	{ "{,}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\"}}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\"} {}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\"}\f", SYNTAX },
	{ "\v{\"PublicIP\":\"10.0.0.1\"}", SYNTAX },
	{ "  null  ", "PublicIP is missing" },
	{ " [1] ", "json: cannot unmarshal array into Go value of type subnet.LeaseAttrs" },
	{ " \"x\" ", "json: cannot unmarshal string into Go value of type subnet.LeaseAttrs" },
	{ " true", "json: cannot unmarshal bool into Go value of type subnet.LeaseAttrs" },
	{ " -1", "json: cannot unmarshal number into Go value of type subnet.LeaseAttrs" },
	{ "nul", SYNTAX },
	{ "", SYNTAX },
	{ "   ", SYNTAX },
	/* Go-rule precedence: syntax before fields, hard errors before type errors */
	{ "{\"PublicIP\":\"bad\",\"x\":01}", SYNTAX },
	{ "{\"BackendType\":5,\"PublicIP\":\"bad\"}",
	  "PublicIP: invalid IP address format: \"bad\"" },
	{ "{\"PublicIP\":\"bad\",\"PublicIP\":\"10.0.0.1\"}",
	  "PublicIP: invalid IP address format: \"bad\"" },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":[],\"BackendType\":\"x\"}",
	  "json: cannot unmarshal array into Go struct field LeaseAttrs.BackendType of type "
	  "string" },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890x\","
	  "\"BackendType\":\"ok\"}",
	  NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"x\\u0000\",\"BackendType\":null}",
	  "BackendType contains a NUL byte" },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890\\u0000\"}",
	  "BackendType contains a NUL byte" },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	  "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
	  "BackendType is longer than 31 bytes" },
	{ "{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	  "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9x\"}",
	  NULL },
	{ "{\"PublicIP\":\"\\\"10.0.0.1\\\"\"}",
	  "PublicIP: invalid IP address format: \"\\\"10.0.0.1\\\"" },
	{ "{\"PublicIP\":\"\\u0031\\u0030.0.0.1\"}",
	  "PublicIP: invalid IP address format: \"\\u0031\\u0030.0.0.1\"" },
	{ "{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":nul}", SYNTAX },
	{ "{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"::ffff:1.2.3.4\"}", NULL },
	{ "{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":[\"fd00::1\"]}",
	  "PublicIPv6: invalid IP address format: \"[\"fd00::1\"]\"" },
	{ "{\"PublicIP\":true}", "PublicIP: invalid IP address format: \"true\"" },
	{ "{\"PublicIP\":\"1.2.3.4\",\"BackendData\":{}}", NULL },
	{ "{\"PublicIP\":\"1.2.3.4\",\"BackendData\":[]}", NULL },
	{ "{\"PublicIP\":\"1.2.3.4\",\"BackendData\":[ ]}", NULL },
	{ "{\"PublicIP\":\"1.2.3.4\",\"BackendData\":\"\"}", NULL },
};

static void test_cases(void **state)
{
	uint64_t seed = 11;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *v = cases[i].value, *want = cases[i].want;
		char err[256] = "";
		int r = check(v, strlen(v), err, sizeof(err));

		if (want ? (r != -EINVAL || strncmp(err, want, strlen(want)) != 0) : r != 0) {
			show(v, strlen(v));
			fail_msg("case %zu: got %d \"%s\", want %s", i, r, err,
				 want ? want : "success");
		}
		compare_mutations(v, strlen(v), &seed, 2000);
	}
}

static void parse_ok(const char *json, struct lease_attrs *a)
{
	char err[256] = "";

	if (lease_attrs_parse(json, strlen(json), a, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json, err);
}

/* What is kept, and how: Go's compact form, the last duplicate, the final type. */
static void test_values(void **state)
{
	static const char kelvin[] =
		"{\"PublicIP\":\"10.0.0.1\",\"bac\xe2\x84\xaa\\u0065ndtype\":\"x\"}";
	struct lease_attrs a;
	char err[128];

	parse_ok(" {\"PublicIP\" : \"10.0.0.1\" ,\n\"BackendData\" : { \"a\" : [ 1 , 2 ] , "
		 "\"b\" : \"<&>\\u003C\" } } ",
		 &a);
	assert_string_equal(a.backend_data, "{\"a\":[1,2],\"b\":\"\\u003c\\u0026\\u003e\\u003C\"}");
	lease_attrs_free(&a);
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"BackendData\":\"\xe2\x80\xa8\xe2\x80\xa9\"}", &a);
	assert_string_equal(a.backend_data, "\"\\u2028\\u2029\"");
	lease_attrs_free(&a);
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"BackendData\":{\"VNI\":1,\"x\":\"\\u00e9\"}}", &a);
	assert_string_equal(a.backend_data, "{\"VNI\":1,\"x\":\"\\u00e9\"}");
	lease_attrs_free(&a);
	parse_ok(kelvin, &a);
	assert_string_equal(a.backend_type, "x");
	lease_attrs_free(&a);
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"\\u00e9\\ud83d\\ude00\"}", &a);
	assert_string_equal(a.backend_type, "\xc3\xa9\xf0\x9f\x98\x80");
	lease_attrs_free(&a);
	parse_ok("{\"PublicIP\":\"10.0.0.1\",\"BackendType\":\"0123456789012345678901234567890x\","
		 "\"BackendType\":\"ok\"}",
		 &a);
	assert_string_equal(a.backend_type, "ok");
	lease_attrs_free(&a);

	/* Go prints an IPv6 whose value fits in 32 (not 24) bits as IPv4; so do we. */
	{
		static const char v[] =
			"{\"PublicIP\":\"10.0.0.1\",\"PublicIPv6\":\"::120.10.0.11\"}";
		char *text;

		parse_ok(v, &a);
		text = lease_attrs_format(&a);
		assert_non_null(text);
		assert_non_null(strstr(text, "\"PublicIPv6\":\"120.10.0.11\""));
		free(text);
		lease_attrs_free(&a);
	}

	/* Data for the daemon's own type only; the type may come after the data. */
	{
		static const char v[] = "{\"BackendData\":{\"VNI\":1},\"PublicIP\":\"10.0.0.1\","
					"\"BackendV6Data\":2,\"BackendType\":\"vxlan\"}";

		assert_int_equal(
			lease_attrs_parse_for(v, sizeof(v) - 1, "vxlan", &a, err, sizeof(err)), 0);
		assert_string_equal(a.backend_data, "{\"VNI\":1}");
		assert_string_equal(a.backend_v6_data, "2");
		lease_attrs_free(&a);
		assert_int_equal(
			lease_attrs_parse_for(v, sizeof(v) - 1, "host-gw", &a, err, sizeof(err)),
			0);
		assert_null(a.backend_data);
		assert_null(a.backend_v6_data);
		assert_string_equal(a.backend_type, "vxlan");
		lease_attrs_free(&a);
		assert_int_equal(
			lease_attrs_parse_for(v, sizeof(v) - 1, NULL, &a, err, sizeof(err)), 0);
		assert_null(a.backend_data);
		lease_attrs_free(&a);
		/* Skipped data is still checked. */
		{
			static const char bad[] =
				"{\"PublicIP\":\"10.0.0.1\",\"BackendData\":[1,]}";

			assert_int_equal(lease_attrs_parse_for(bad, sizeof(bad) - 1, NULL, &a, err,
							       sizeof(err)),
					 -EINVAL);
		}
	}
}

/* A raw NUL anywhere is refused, and named. */
static void test_raw_nul(void **state)
{
	static const char v[] = "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":{\"VNI\":1}}";
	struct lease_attrs a;
	char buf[sizeof(v)], err[128];
	size_t i;

	for (i = 0; i < sizeof(v) - 1; i++) {
		memcpy(buf, v, sizeof(v));
		buf[i] = '\0';
		assert_int_equal(lease_attrs_parse(buf, sizeof(v) - 1, &a, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "NUL byte"));
	}
}

/* jansson's depth limit, kept: 2048 values nested, the document counting as one. */
static void test_depth(void **state)
{
	static const char head[] = "{\"PublicIP\":\"10.0.0.1\",\"BackendData\":";
	static const struct {
		size_t levels;
		bool scalar, ok;
	} t[] = {
		{ 2046, false, true }, { 2047, false, true }, { 2048, false, false },
		{ 2046, true, true },  { 2047, true, false }, { 100000, false, false },
	};
	char *buf = malloc(sizeof(head) + 2 * 100000 + 16), err[128];
	struct lease_attrs a;
	size_t i, k;

	assert_non_null(buf);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = sizeof(head) - 1;
		int r;

		memcpy(buf, head, n);
		for (k = 0; k < t[i].levels; k++)
			buf[n++] = '[';
		if (t[i].scalar)
			buf[n++] = '1';
		for (k = 0; k < t[i].levels; k++)
			buf[n++] = ']';
		buf[n++] = '}';
		r = lease_attrs_parse(buf, n, &a, err, sizeof(err));
		assert_int_equal(r, t[i].ok ? 0 : -EINVAL);
		if (r == 0)
			lease_attrs_free(&a);
		else
			assert_non_null(strstr(err, "nested too deep"));
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_seeds), cmocka_unit_test(test_cases),
		cmocka_unit_test(test_values),	   cmocka_unit_test(test_raw_nul),
		cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
