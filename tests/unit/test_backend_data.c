/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential test of the BackendData decoders read on every watch event
 * (vxlan_lease_data_parse, wg_lease_data_parse, one-pass since issue 14)
 * against the jansson-based ones they replaced (backend_data_ref.c): the
 * fuzz corpora, hand-made edge cases, and every prefix and one-byte change
 * of each. BACKEND_DATA_CORPUS (directories, ':'-separated) adds inputs,
 * e.g. build-fuzz/corpus/fuzz_lease after a long fuzz run.
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

#include "backend_data_ref.h"
#include "lease/subnet.h"

static size_t inputs;

/* The input, and what a watch event would hand the decoders from it. */
static void agree_one(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	struct lease_attrs a;
	char err[256];

	backend_data_agree(buf, len);
	inputs++;
	if (nl)
		backend_data_agree(nl + 1, len - (size_t)(nl + 1 - buf));
	if (lease_attrs_parse(nl ? nl + 1 : buf, nl ? len - (size_t)(nl + 1 - buf) : len, &a, err,
			      sizeof(err)) == 0) {
		if (a.backend_data)
			backend_data_agree(a.backend_data, strlen(a.backend_data));
		if (a.backend_v6_data)
			backend_data_agree(a.backend_v6_data, strlen(a.backend_v6_data));
		lease_attrs_free(&a);
	}
}

/* The input, each prefix of it, and each byte replaced by a few that matter to JSON. */
static void agree_mutated(const char *buf, size_t len)
{
	static const char subst[] = { '"', '\\', '{', '}',  ',',    ':',
				      'x', '0',	 ' ', '\0', '\x80', 'n' };
	char *m;

	agree_one(buf, len);
	if (len > 4096)
		return;
	m = malloc(len ? len : 1);
	assert_non_null(m);
	for (size_t i = 0; i < len; i++)
		agree_one(buf, i);
	for (size_t i = 0; i < len; i++) {
		memcpy(m, buf, len);
		for (size_t s = 0; s < sizeof(subst); s++) {
			m[i] = subst[s];
			backend_data_agree(m, len);
			inputs++;
		}
	}
	free(m);
}

static void agree_dir(const char *dir, bool required)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d) {
		if (required)
			fail_msg("%s: cannot open (run from the repository root)", dir);
		return;
	}
	while ((e = readdir(d))) {
		char path[4096], *buf;
		size_t len;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		buf = malloc(1 << 16);
		assert_non_null(buf);
		len = fread(buf, 1, 1 << 16, f);
		fclose(f);
		agree_mutated(buf, len);
		free(buf);
	}
	closedir(d);
}

static void test_corpora(void **state)
{
	const char *extra = getenv("BACKEND_DATA_CORPUS");

	(void)state;
	agree_dir("fuzz/corpus/fuzz_lease", true);
	agree_dir("fuzz/corpus/fuzz_wg", true);
	if (extra) {
		char *list = strdup(extra), *save = NULL;

		assert_non_null(list);
		for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
			agree_dir(d, true);
		free(list);
	}
}

static void test_edge_cases(void **state)
{
	static const char *const cases[] = {
		"{\"VNI\":1,\"VtepMAC\":\"0a:00:00:00:00:01\"}",
		"{\"VtepMAC\":\"0a-00-00-00-00-01\"}",
		"{\"VtepMAC\":\"0a00.0000.0001\"}",
		"{\"vtepmac\":\"0a:00:00:00:00:01\",\"VTEPMAC\":\"0a:00:00:00:00:02\"}",
		"{\"VtepMAC\":\"0a:00:00:00:00:01\",\"VtepMAC\":null}",
		"{\"VtepMAC\":null,\"VtepMAC\":\"0a:00:00:00:00:01\"}",
		"{\"VtepMAC\":7}",
		"{\"VtepMAC\":[\"0a:00:00:00:00:01\"]}",
		"{\"VtepMAC\":\"01:00:00:00:00:01\"}",
		"{\"VtepMAC\":\"00:00:00:00:00:00\"}",
		"{\"VtepMAC\":\"0a:00:00:00:00:0\\u0031\"}",
		"{\"VtepMAC\":\"0a:00:00:00:00:01\\u0000\"}",
		"{\"VtepMAC\":\"0a:00:00\\u0000:00:01\"}",
		"{\"VtepMAC\":\"\\\"quoted\\\"\\n\\t<&>\"}",
		"{\"VtepMAC\":\"\\ud83d\\ude00 and more text than a MAC address could ever hold, "
		"really much more than sixty-four bytes of it\"}",
		"{\"VtepMAC\":"
		"\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
		"{\"VtepMAC\":\"\\ud83d\"}",
		"{\"VtepMAC\":\"\xc3\xa9\"}",
		"{\"VtepMAC\":\"\xc3\"}",
		"{\"VtepMAC\":\"\xed\xa0\x80\"}",
		"{\"Vtep\xe2\x84\xaaMAC\":\"0a:00:00:00:00:01\"}", /* no k in VtepMAC: no match */
		"{\"VtepMA\\u0043\":\"0a:00:00:00:00:01\"}",
		"{\"\\u0000\":1,\"VtepMAC\":\"0a:00:00:00:00:01\"}",
		" \t\r\n{ \"VtepMAC\" : \"0a:00:00:00:00:01\" } \n",
		"{\"VtepMAC\":\"0a:00:00:00:00:01\"} x",
		"{\"VtepMAC\":\"0a:00:00:00:00:01\",}",
		"{\"VtepMAC\":\"0a:00:00:00:00:01\"",
		"{\"a\":1e400,\"VtepMAC\":\"0a:00:00:00:00:01\"}",
		"{\"a\":-0.5e-3,\"b\":[{},[],{\"c\":[null,true,false]}],\"VtepMAC\":\"0a:00:00:00:"
		"00:01\"}",
		"{\"a\":01}",
		"[]",
		"null",
		"\"VtepMAC\"",
		"",
		"   ",
		"{}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\",\"Port\":51820}",
		"{\"publickey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\"}",
		"{\"Publicke\xe2\x84\xaay\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\"}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\",\"Port\":null}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\",\"Port\":65536}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\",\"Port\":-1}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\",\"Port\":1.5}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\",\"Port\":\"1\"}",
		"{\"Port\":\"1\",\"PublicKey\":7}",
		"{\"PublicKey\":7,\"Port\":\"1\"}",
		"{\"PublicKey\":null}",
		"{\"PublicKey\":\"\"}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=\"}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\\u0000\"}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2\\/Og0mOBr066SpjqqbTmo=\"}",
		"{\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/"
		"Og0mOBr066SpjqqbTmo=\",\"PublicKey\":\"x\"}",
		"{\"PublicKey\":\"x\",\"PublicKey\":\"hSDwCYkwp1R0i33ctD73Wg2/"
		"Og0mOBr066SpjqqbTmo=\"}",
		"{\"Port\":1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		agree_mutated(cases[i], strlen(cases[i]));
	backend_data_agree(NULL, 0);
	print_message("%zu inputs agree\n", inputs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_corpora),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
