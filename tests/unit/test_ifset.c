/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for ifset.c: address order, lookups, regex matching, the no-match listing. */
#include <errno.h>
#include <linux/if_addr.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ifset.h"

#define A(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

/* lo (1): 127.0.0.1; eth0 (2): 10.0.0.5, 169.254.1.1, 10.0.0.6; veth1 (5): 192.168.7.1; dummy0 (3):
 * none. */
static void build(struct ifset *s)
{
	memset(s, 0, sizeof(*s));
	/* Added out of order: ifset_sort() puts them in index order. */
	assert_int_equal(ifset_add_link(s, 5, "veth1", 1400), 0);
	assert_int_equal(ifset_add_link(s, 1, "lo", 65536), 0);
	assert_int_equal(ifset_add_link(s, 3, "dummy0", 1500), 0);
	assert_int_equal(ifset_add_link(s, 2, "eth0", 1500), 0);
	assert_int_equal(ifset_add_addr(s, 1, A(127, 0, 0, 1), IFA_F_PERMANENT), 0);
	assert_int_equal(ifset_add_addr(s, 2, A(169, 254, 1, 1), IFA_F_PERMANENT), 0);
	assert_int_equal(ifset_add_addr(s, 2, A(10, 0, 0, 5), IFA_F_PERMANENT), 0);
	assert_int_equal(ifset_add_addr(s, 2, A(10, 0, 0, 6), IFA_F_SECONDARY), 0);
	assert_int_equal(ifset_add_addr(s, 5, A(192, 168, 7, 1), 0), 0);
	assert_int_equal(ifset_add_addr(s, 9, A(192, 168, 9, 1), 0), -ENODEV);
	ifset_sort(s);
}

static void test_order(void **state)
{
	struct ifset s;
	uint32_t v[4];

	build(&s);
	assert_int_equal(s.links[0].index, 1);
	assert_string_equal(s.links[1].name, "eth0");
	assert_int_equal(s.links[3].index, 5);
	/* Global before link-local, the kernel's order otherwise. */
	assert_int_equal(ifset_usable(&s.links[1], v, 4), 3);
	assert_int_equal(v[0], A(10, 0, 0, 5));
	assert_int_equal(v[1], A(10, 0, 0, 6));
	assert_int_equal(v[2], A(169, 254, 1, 1));
	/* The count is the full one even when ret is short. */
	assert_int_equal(ifset_usable(&s.links[1], v, 1), 3);
	assert_int_equal(ifset_usable(&s.links[0], v, 4), 0); /* loopback never */
	assert_int_equal(ifset_usable(&s.links[2], v, 4), 0);
	ifset_free(&s);
}

static void test_skip_flags(void **state)
{
	struct ifset s = { 0 };
	uint32_t v[4];

	assert_int_equal(ifset_add_link(&s, 2, "eth0", 1500), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 1), IFA_F_DEPRECATED), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 2), IFA_F_TENTATIVE), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 3), IFA_F_DADFAILED), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(224, 0, 0, 1), 0), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 4), 0), 0);
	assert_int_equal(ifset_usable(&s.links[0], v, 4), 1);
	assert_int_equal(v[0], A(10, 0, 0, 4));
	ifset_clear_addrs(&s);
	assert_int_equal(s.links[0].naddrs, 0);
	assert_int_equal(ifset_usable(&s.links[0], v, 4), 0);
	ifset_free(&s);
	ifset_free(&s); /* idempotent */
	ifset_free(NULL);
}

static void test_flags_rank(void **state)
{
	struct ifset s = { 0 };
	uint32_t v[6];

	/* Permanent before non-permanent in each class; IPv4's SECONDARY is no "temporary". */
	assert_int_equal(ifset_add_link(&s, 2, "eth0", 1500), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(169, 254, 0, 9), 0), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 1), 0), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(169, 254, 0, 8), IFA_F_PERMANENT), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 2), IFA_F_SECONDARY), 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 3), IFA_F_PERMANENT | IFA_F_SECONDARY),
			 0);
	assert_int_equal(ifset_add_addr(&s, 2, A(10, 0, 0, 4), IFA_F_PERMANENT), 0);
	assert_int_equal(ifset_usable(&s.links[0], v, 6), 6);
	assert_int_equal(v[0], A(10, 0, 0, 3));
	assert_int_equal(v[1], A(10, 0, 0, 4));
	assert_int_equal(v[2], A(10, 0, 0, 1));
	assert_int_equal(v[3], A(10, 0, 0, 2));
	assert_int_equal(v[4], A(169, 254, 0, 8));
	assert_int_equal(v[5], A(169, 254, 0, 9));
	ifset_free(&s);
	assert_int_equal(ifset_flags_rank(IFA_F_PERMANENT, true), 0);
	assert_int_equal(ifset_flags_rank(IFA_F_PERMANENT | IFA_F_TEMPORARY, true), 1);
	assert_int_equal(ifset_flags_rank(0, true), 2);
	assert_int_equal(ifset_flags_rank(IFA_F_TEMPORARY, true), 3);
	assert_int_equal(ifset_flags_rank(IFA_F_TEMPORARY, false), 2);
}

static void test_lookups(void **state)
{
	struct ifset s;

	build(&s);
	assert_string_equal(ifset_by_name(&s, "veth1")->name, "veth1");
	assert_null(ifset_by_name(&s, "eth9"));
	assert_int_equal(ifset_by_index(&s, 3)->index, 3);
	assert_null(ifset_by_index(&s, 4));
	assert_string_equal(ifset_by_addr(&s, A(10, 0, 0, 6))->name, "eth0");
	assert_string_equal(ifset_by_addr(&s, A(127, 0, 0, 1))->name, "lo"); /* exact IP: any */
	assert_null(ifset_by_addr(&s, A(203, 0, 113, 5)));
	ifset_free(&s);
}

static const struct ifset_link *match(const struct ifset *s, const char *pattern, uint32_t *a)
{
	regex_t re;
	const struct ifset_link *l;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	*a = 0xdeadbeef;
	l = ifset_match(s, &re, a);
	regfree(&re);
	return l;
}

static void test_regex(void **state)
{
	struct ifset s;
	const struct ifset_link *l;
	uint32_t a;

	build(&s);
	/* Addresses first: the matching address is the one used, not the first. */
	l = match(&s, "^10\\.0\\.0\\.6$", &a);
	assert_string_equal(l->name, "eth0");
	assert_int_equal(a, A(10, 0, 0, 6));
	l = match(&s, "^169\\.254", &a);
	assert_string_equal(l->name, "eth0");
	assert_int_equal(a, A(169, 254, 1, 1));
	/* Any address text beats any name, whatever the index order. */
	l = match(&s, "^192\\.168|^eth", &a);
	assert_string_equal(l->name, "veth1");
	assert_int_equal(a, A(192, 168, 7, 1));
	/* Names in index order; the address is left to the caller. */
	l = match(&s, "eth", &a);
	assert_string_equal(l->name, "eth0");
	assert_int_equal(a, 0);
	l = match(&s, "^dum", &a);
	assert_string_equal(l->name, "dummy0");
	/* Loopback's address is not matched; its name is. */
	assert_null(match(&s, "^127\\.", &a));
	assert_string_equal(match(&s, "^lo$", &a)->name, "lo");
	assert_null(match(&s, "^wl", &a));
	ifset_free(&s);
}

static void test_describe(void **state)
{
	struct ifset s;
	char buf[128], small[12];

	build(&s);
	ifset_describe(&s, buf, sizeof(buf));
	assert_string_equal(buf, "lo:[], eth0:[10.0.0.5 10.0.0.6 169.254.1.1], dummy0:[], "
				 "veth1:[192.168.7.1]");
	ifset_describe(&s, small, sizeof(small));
	assert_string_equal(small, "lo:[], eth0");
	ifset_free(&s);
	ifset_describe(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),	   cmocka_unit_test(test_skip_flags),
		cmocka_unit_test(test_flags_rank), cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_regex),	   cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
