/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for alloc_choice.c: the free-subnet walk and the random pick. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <cmocka.h>

#include "lease/alloc_choice.h"
#include "config.h"

static void conf_from(const char *json, struct netconf *c)
{
	char err[256];

	if (netconf_parse(json, strlen(json), c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json, err);
}

static struct ip4net net4(const char *s)
{
	struct ip4net n;
	const char *slash = strchr(s, '/');
	char a[16];

	assert_non_null(slash);
	snprintf(a, sizeof(a), "%.*s", (int)(slash - s), s);
	/* Not ip4net_parse: taken leases may carry host bits. */
	assert_int_equal(ip4_parse(a, &n.addr), 0);
	n.len = (uint8_t)atoi(slash + 1);
	return n;
}

static void assert_net4(const struct ip4net *n, const char *want)
{
	char buf[IP_STRLEN];

	assert_string_equal(ip4net_format(n, buf), want);
}

static void assert_net6(const struct ip6net *n, const char *want)
{
	char buf[IP_STRLEN];

	assert_string_equal(ip6net_format(n, buf), want);
}

static void test_defaults(void **state)
{
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;
	size_t n;

	conf_from("{\"Network\":\"10.3.0.0/16\"}", &c);
	n = alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES);
	/* 255 candidates exist; upstream stops collecting at 100. */
	assert_int_equal(n, 100);
	assert_net4(&out[0], "10.3.1.0/24");
	assert_net4(&out[1], "10.3.2.0/24");
	assert_net4(&out[99], "10.3.100.0/24");
	netconf_free(&c);
}

static void test_small_network(void **state)
{
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;
	size_t n;

	conf_from("{\"Network\":\"10.3.0.0/28\"}", &c);
	n = alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 3);
	assert_net4(&out[0], "10.3.0.4/30");
	assert_net4(&out[2], "10.3.0.12/30");
	netconf_free(&c);
}

static void test_taken_skipped(void **state)
{
	struct ip4net taken[] = { net4("10.3.3.0/24"), net4("10.3.1.0/24"), net4("10.3.2.77/24") };
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;
	size_t n;

	conf_from("{\"Network\":\"10.3.0.0/16\"}", &c);
	n = alloc_free_ip4(&c, taken, 3, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 100);
	/* Host bits in a taken lease (10.3.2.77/24) do not save the subnet. */
	assert_net4(&out[0], "10.3.4.0/24");
	assert_net4(&out[99], "10.3.103.0/24");
	/* Input order is not required, and the input is left alone. */
	assert_net4(&taken[0], "10.3.3.0/24");
	netconf_free(&c);
}

static void test_mixed_lengths(void **state)
{
	struct ip4net taken[] = {
		net4("10.3.16.0/20"), /* a shorter lease blocks 10.3.16.0 .. 10.3.31.0 */
		net4("10.3.5.64/26"), /* a longer one blocks its whole /24 */
		net4("10.3.40.0/23"), /* 10.3.40.0 and 10.3.41.0 */
		net4("10.3.18.0/24"), /* nested inside the /20 */
		net4("10.3.6.0/24"),
	};
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;
	size_t n, i;

	conf_from("{\"Network\":\"10.3.0.0/16\"}", &c);
	n = alloc_free_ip4(&c, taken, sizeof(taken) / sizeof(taken[0]), out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 100);
	assert_net4(&out[0], "10.3.1.0/24");
	assert_net4(&out[3], "10.3.4.0/24");
	assert_net4(&out[4], "10.3.7.0/24");
	assert_net4(&out[12], "10.3.15.0/24");
	assert_net4(&out[13], "10.3.32.0/24");
	assert_net4(&out[20], "10.3.39.0/24");
	assert_net4(&out[21], "10.3.42.0/24");
	for (i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < sizeof(taken) / sizeof(taken[0]); j++)
			assert_false(ip4net_overlaps(&out[i], &taken[j]));
	}
	netconf_free(&c);
}

static void test_everything_blocked(void **state)
{
	struct ip4net wide = net4("10.0.0.0/8"), all = net4("0.0.0.0/0");
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;

	conf_from("{\"Network\":\"10.3.0.0/16\"}", &c);
	assert_int_equal(alloc_free_ip4(&c, &wide, 1, out, ALLOC_MAX_CANDIDATES), 0);
	/* As upstream: an IPv6-only lease's 0.0.0.0/0 overlaps every candidate. */
	assert_int_equal(alloc_free_ip4(&c, &all, 1, out, ALLOC_MAX_CANDIDATES), 0);
	netconf_free(&c);
}

static void test_cap(void **state)
{
	struct ip4net out[ALLOC_MAX_CANDIDATES + 1];
	struct netconf c;

	conf_from("{\"Network\":\"10.0.0.0/8\"}", &c);
	assert_int_equal(alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES), 100);
	assert_int_equal(alloc_free_ip4(&c, NULL, 0, out, 7), 7);
	assert_net4(&out[6], "10.0.7.0/24");
	assert_int_equal(alloc_free_ip4(&c, NULL, 0, out, 0), 0);
	netconf_free(&c);
}

static void test_inverted_range(void **state)
{
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;

	conf_from("{\"Network\":\"10.3.0.0/"
		  "16\",\"SubnetMin\":\"10.3.8.0\",\"SubnetMax\":\"10.3.5.0\"}",
		  &c);
	assert_int_equal(alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES), 0);
	netconf_free(&c);
	conf_from("{\"Network\":\"10.3.0.0/"
		  "16\",\"SubnetMin\":\"10.3.5.0\",\"SubnetMax\":\"10.3.5.0\"}",
		  &c);
	assert_int_equal(alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES), 1);
	assert_net4(&out[0], "10.3.5.0/24");
	netconf_free(&c);
}

static void test_last_subnet_reachable(void **state)
{
	struct ip4net taken[] = {
		net4("10.3.0.0/17"),   net4("10.3.128.0/18"), net4("10.3.192.0/19"),
		net4("10.3.224.0/20"), net4("10.3.240.0/21"), net4("10.3.248.0/22"),
		net4("10.3.252.0/23"), net4("10.3.254.0/24"),
	};
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;

	conf_from("{\"Network\":\"10.3.0.0/16\"}", &c);
	assert_int_equal(alloc_free_ip4(&c, taken, 8, out, ALLOC_MAX_CANDIDATES), 1);
	assert_net4(&out[0], "10.3.255.0/24");
	netconf_free(&c);
}

static void test_top_of_space(void **state)
{
	struct ip4net taken = net4("255.255.255.0/24");
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;
	size_t n;

	conf_from("{\"Network\":\"255.255.0.0/16\",\"SubnetMin\":\"255.255.250.0\"}", &c);
	/* Go's uint32 would wrap to 0.0.0.0 after 255.255.255.0 and go on collecting. */
	n = alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 6);
	assert_net4(&out[5], "255.255.255.0/24");
	n = alloc_free_ip4(&c, &taken, 1, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 5);
	assert_net4(&out[4], "255.255.254.0/24");
	netconf_free(&c);

	conf_from("{\"Network\":\"255.255.255.0/24\",\"SubnetLen\":30}", &c);
	n = alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 63);
	assert_net4(&out[62], "255.255.255.252/30");
	netconf_free(&c);
}

static void test_ipv4_disabled(void **state)
{
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;

	conf_from("{\"EnableIPv4\":false,\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\"}", &c);
	assert_int_equal(alloc_free_ip4(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES), 0);
	netconf_free(&c);
}

/* Fisher-Yates with a fixed LCG, so the order of taken[] is scrambled but stable. */
static void shuffle(struct ip4net *a, size_t n)
{
	uint64_t s = 12345;
	size_t i;

	for (i = n - 1; i > 0; i--) {
		size_t j;
		struct ip4net t;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		j = (size_t)((s >> 33) % (i + 1));
		t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

/* 65 533 taken leases, two holes: must stay fast (the naive walk is n * k). */
static void test_large(void **state)
{
	size_t n = 0, i, k;
	struct ip4net *taken = malloc(65536 * sizeof(*taken));
	struct ip4net out[ALLOC_MAX_CANDIDATES];
	struct netconf c;
	clock_t t0;

	assert_non_null(taken);
	conf_from("{\"Network\":\"10.0.0.0/8\"}", &c);
	for (i = 1; i < 65536; i++) {
		if (i == 0xc807 || i == 0xfffe)
			continue;
		taken[n].addr = 0x0a000000 | (uint32_t)i << 8;
		taken[n++].len = 24;
	}
	shuffle(taken, n);
	t0 = clock();
	k = alloc_free_ip4(&c, taken, n, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(k, 2);
	assert_net4(&out[0], "10.200.7.0/24");
	assert_net4(&out[1], "10.255.254.0/24");
	assert_true(clock() - t0 < 2 * CLOCKS_PER_SEC);
	free(taken);
	netconf_free(&c);
}

static void test_v6_walk(void **state)
{
	struct ip6net out[ALLOC_MAX_CANDIDATES], taken[3];
	struct netconf c;
	size_t n;

	conf_from("{\"EnableIPv4\":false,\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\"}", &c);
	n = alloc_free_ip6(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 100);
	assert_net6(&out[0], "fc00:0:0:1::/64");
	assert_net6(&out[99], "fc00:0:0:64::/64");

	assert_int_equal(ip6net_parse("fc00:0:0:1::/64", &taken[0]), 0);
	assert_int_equal(ip6net_parse("fc00::/56", &taken[1]), 0);
	assert_int_equal(ip6net_parse("fc00:0:0:102::/63", &taken[2]), 0);
	n = alloc_free_ip6(&c, taken, 3, out, ALLOC_MAX_CANDIDATES);
	assert_int_equal(n, 100);
	assert_net6(&out[0], "fc00:0:0:100::/64");
	assert_net6(&out[1], "fc00:0:0:101::/64");
	assert_net6(&out[2], "fc00:0:0:104::/64");
	netconf_free(&c);
}

static void test_v6_top_of_space(void **state)
{
	struct ip6net out[ALLOC_MAX_CANDIDATES], taken;
	struct netconf c;

	conf_from("{\"EnableIPv4\":false,\"EnableIPv6\":true,"
		  "\"IPv6Network\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124\"}",
		  &c);
	assert_int_equal(alloc_free_ip6(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES), 3);
	assert_net6(&out[2], "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126");
	assert_int_equal(ip6net_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff8/125", &taken), 0);
	assert_int_equal(alloc_free_ip6(&c, &taken, 1, out, ALLOC_MAX_CANDIDATES), 1);
	assert_net6(&out[0], "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff4/126");
	assert_int_equal(ip6net_parse("::/0", &taken), 0);
	assert_int_equal(alloc_free_ip6(&c, &taken, 1, out, ALLOC_MAX_CANDIDATES), 0);
	netconf_free(&c);

	conf_from("{\"Network\":\"10.3.0.0/16\"}", &c);
	assert_int_equal(alloc_free_ip6(&c, NULL, 0, out, ALLOC_MAX_CANDIDATES), 0);
	netconf_free(&c);
}

static void test_pick(void **state)
{
	unsigned counts[10] = { 0 };
	uint64_t s = 7;
	int i;

	assert_int_equal(alloc_pick(0, 123), 0);
	assert_int_equal(alloc_pick(1, UINT64_MAX), 0);
	assert_int_equal(alloc_pick(100, 0), 0);
	assert_int_equal(alloc_pick(100, UINT64_MAX), 99);
	assert_int_equal(alloc_pick(2, 1ull << 63), 1);
	assert_int_equal(alloc_pick(2, (1ull << 63) - 1), 0);
	for (i = 0; i < 100000; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		counts[alloc_pick(10, s)]++;
	}
	/* Each bucket expects 10 000; 5 % is many standard deviations. */
	for (i = 0; i < 10; i++)
		assert_in_range(counts[i], 9500, 10500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_small_network),
		cmocka_unit_test(test_taken_skipped),
		cmocka_unit_test(test_mixed_lengths),
		cmocka_unit_test(test_everything_blocked),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_inverted_range),
		cmocka_unit_test(test_last_subnet_reachable),
		cmocka_unit_test(test_top_of_space),
		cmocka_unit_test(test_ipv4_disabled),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_v6_walk),
		cmocka_unit_test(test_v6_top_of_space),
		cmocka_unit_test(test_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
