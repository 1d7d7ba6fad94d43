/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for leasecheck.c: which keys reach the cache, which subnets reach a backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "lease/leasecheck.h"

#define DIR "/coreos.com/network/subnets"

static int key_check_n(const char *key, size_t len, char *why)
{
	struct subnet_key k;

	return lease_key_check(key, len, DIR, strlen(DIR), &k, why, 200);
}

static void key_ok(const char *elem)
{
	char key[200], why[200] = "";

	snprintf(key, sizeof(key), DIR "/%s", elem);
	if (key_check_n(key, strlen(key), why) != 0)
		fail_msg("%s refused: %s", key, why);
}

static void key_bad(const char *key, size_t len, const char *want)
{
	char why[200] = "";

	if (key_check_n(key, len, why) == 0)
		fail_msg("%.*s accepted", (int)len, key);
	if (!strstr(why, want))
		fail_msg("%.*s: \"%s\" does not say \"%s\"", (int)len, key, why, want);
}

static void test_keys(void **state)
{
	static const char nul[] = DIR "/10.5.96.0-24\0junk", nl[] = DIR "/10.5.96.0-24\n";
	static const char nul_prefix[] = DIR "/\00010.5.96.0-24";

	key_ok("10.5.96.0-24");
	key_ok("10.5.96.0-24&fc00:0:0:29::-64");
	key_ok("0.0.0.0-0&fc00:0:0:29::-64");
	/* Wrong lengths and host bits are the network's business, not the key's. */
	key_ok("10.5.96.128-25");
	/* A NUL or a control byte anywhere: the key never reaches the cache. */
	key_bad(nul, sizeof(nul) - 1, "a NUL byte at offset 40");
	key_bad(nul_prefix, sizeof(nul_prefix) - 1, "a NUL byte");
	key_bad(nl, sizeof(nl) - 1, "a control byte");
	key_bad(DIR "/10.5.96.0-24\x7f", strlen(DIR) + 14, "a control byte");
	key_bad(DIR "/10.5.96.0-24\xc3\xa9", strlen(DIR) + 15, "a non-ASCII byte");
	/* Other places and other spellings. */
	key_bad("/coreos.com/network/subnetsX/10.5.96.0-24",
		strlen("/coreos.com/network/subnetsX/10.5.96.0-24"), "not under");
	key_bad("/other/subnets/10.5.96.0-24", strlen("/other/subnets/10.5.96.0-24"), "not under");
	key_bad(DIR, strlen(DIR), "not under");
	key_bad(DIR "/", strlen(DIR) + 1, "not under");
	key_bad(DIR "/junk10.5.96.0-24", strlen(DIR "/junk10.5.96.0-24"), "as flannel writes it");
	key_bad(DIR "/x/10.5.96.0-24", strlen(DIR "/x/10.5.96.0-24"), "as flannel writes it");
	key_bad(DIR "/10.5.96.0-024", strlen(DIR "/10.5.96.0-024"), "as flannel writes it");
	key_bad(DIR "/10.5.96.0-24&fc00:0:0:29:0:0:0:0-64",
		strlen(DIR "/10.5.96.0-24&fc00:0:0:29:0:0:0:0-64"), "as flannel writes it");
	key_bad(DIR "/10.5.96.0-24&::-0", strlen(DIR "/10.5.96.0-24&::-0"), "as flannel writes it");
	key_bad(DIR "/junk", strlen(DIR "/junk"), "failed to parse");
}

static void key_bad_s(const char *elem, const char *want)
{
	char key[200];

	snprintf(key, sizeof(key), DIR "/%s", elem);
	key_bad(key, strlen(key), want);
}

/* One spelling per subnet, the one MakeSubnetKey writes: each of its rules. */
static void test_canonical_form(void **state)
{
	(void)state;
	/* Leading zeros: in an octet no parse (Go >= 1.17), in a length or a group not canonical.
	 */
	key_bad_s("10.05.96.0-24", "failed to parse");
	key_bad_s("10.5.96.0-024", "(that is 10.5.96.0-24)");
	key_bad_s("10.5.96.0-24&fc00:0:0:29::-064", "(that is 10.5.96.0-24&fc00:0:0:29::-64)");
	key_bad_s("10.5.96.0-24&fc00:0:0:029::-64", "(that is 10.5.96.0-24&fc00:0:0:29::-64)");
	key_bad_s("10.5.96.0-24&fc00:0000:0:29::-64", "as flannel writes it");
	/* Host bits are kept as written, so a key with them is canonical (the network refuses it).
	 */
	key_ok("10.5.96.1-24");
	key_ok("10.5.96.0-24&fc00:0:0:29::1-64");
	key_ok("0.0.0.0-0&fc00::-64");
	key_ok("10.5.96.0-24&::-64");
	/* The '&' part: left out for ::/0, and where "::" goes (first longest run, not one group).
	 */
	key_bad_s("10.5.96.0-24&::-0", "(that is 10.5.96.0-24)");
	key_bad_s("0.0.0.0-0&::-0", "(that is 0.0.0.0-0)");
	key_bad_s("10.5.96.0-24&fc00::29:0:0:0:0-64", "(that is 10.5.96.0-24&fc00:0:0:29::-64)");
	/* Two runs of two zero groups: the first becomes "::". */
	key_bad_s("10.5.96.0-24&fc00:0:0:1::1:1-64", "(that is 10.5.96.0-24&fc00::1:0:0:1:1-64)");
	key_ok("10.5.96.0-24&fc00::1:0:0:1:1-64");
	key_ok("10.5.96.0-24&fc00:1::1-64");
	key_bad_s("10.5.96.0-24&fc00:0:1:2:3:4:5:6::-64", "failed to parse");
	/* Upper-case hex is not in upstream's [a-f\d:] class: no v6 part, so no key. */
	key_bad_s("10.5.96.0-24&FC00:0:0:29::-64", "failed to parse");
	key_bad_s("10.5.96.0-24&fc00:0:0:2A::-64", "failed to parse");
	/*
	 * Upstream prints a v6 part in [::100:0, ::ffff:ffff] or IPv4-mapped as
	 * a dotted quad, which its own regex cannot read back: no spelling of
	 * such a subnet is canonical.
	 */
	key_bad_s("10.5.96.0-24&::102:304-64", "(that is 10.5.96.0-24&1.2.3.4-64)");
	key_bad_s("10.5.96.0-24&::ffff:102:304-64", "(that is 10.5.96.0-24&1.2.3.4-64)");
	key_bad_s("10.5.96.0-24&1.2.3.4-64", "failed to parse");
	key_bad_s("10.5.96.0-24&1.2.3.4-24", "(that is 1.2.3.4-24)");
	key_ok("10.5.96.0-24&::ff:ffff-64"); /* below ::100:0: printed as IPv6 */
	key_ok("10.5.96.0-24&::1:0:0:0-64"); /* above ::ffff:ffff */
}

static struct netconf conf_of(const char *json)
{
	struct netconf c;
	char err[200];

	if (netconf_parse(json, strlen(json), &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json, err);
	return c;
}

static struct subnet_key key_of(const char *elem)
{
	struct subnet_key k;
	char key[200], why[200];

	snprintf(key, sizeof(key), DIR "/%s", elem);
	if (lease_key_check(key, strlen(key), DIR, strlen(DIR), &k, why, sizeof(why)) != 0)
		fail_msg("%s: %s", key, why);
	return k;
}

static void subnet_ok(const struct netconf *c, const char *elem, const char *own)
{
	struct subnet_key k = key_of(elem), o;
	char why[200] = "";

	if (own)
		o = key_of(own);
	if (lease_subnet_check(c, &k, own ? &o : NULL, why, sizeof(why)) != 0)
		fail_msg("%s refused (own %s): %s", elem, own ? own : "none", why);
}

static void subnet_bad(const struct netconf *c, const char *elem, const char *own, const char *want)
{
	struct subnet_key k = key_of(elem), o;
	char why[200] = "";

	if (own)
		o = key_of(own);
	if (lease_subnet_check(c, &k, own ? &o : NULL, why, sizeof(why)) == 0)
		fail_msg("%s accepted (own %s)", elem, own ? own : "none");
	if (!strstr(why, want))
		fail_msg("%s: \"%s\" does not say \"%s\"", elem, why, want);
}

/* The attacks of issue 15 against host 1 holding 10.5.96.0/24. */
static void test_ipv4(void **state)
{
	struct netconf c =
		conf_of("{\"Network\":\"10.5.0.0/16\",\"Backend\":{\"Type\":\"host-gw\"}}");
	const char *own = "10.5.96.0-24";

	subnet_ok(&c, "10.5.97.0-24", own);
	subnet_ok(&c, "10.5.96.0-24", NULL); /* before we hold it, it is another host's */
	subnet_bad(&c, "10.5.96.128-25", own, "is not a /24");
	subnet_bad(&c, "10.5.96.2-31", own, "is not a /24");
	subnet_bad(&c, "10.5.96.0-25", own, "is not a /24");
	subnet_bad(&c, "10.5.97.0-23", own, "is not a /24");
	subnet_bad(&c, "10.5.96.0-16", own, "is not a /24");
	subnet_bad(&c, "10.5.97.1-24", own, "host bits");
	subnet_bad(&c, "192.168.0.0-24", own, "outside the network 10.5.0.0/16");
	subnet_bad(&c, "10.5.97.0-24&fc00:0:0:1::-64", own, "network without IPv6");
	subnet_bad(&c, "0.0.0.0-0", own, "no subnet");
	netconf_free(&c);
	/* Upstream's key regex takes IPv4 lengths up to 31 only: a /32 is no key at all. */
	key_bad(DIR "/10.5.96.2-32", strlen(DIR "/10.5.96.2-32"), "failed to parse");
}

/* Each family on its own: an IPv6-only lease's 0.0.0.0-0 is no IPv4 subnet. */
static void test_dual_stack(void **state)
{
	struct netconf c =
		conf_of("{\"Network\":\"10.5.0.0/16\",\"EnableIPv6\":true,"
			"\"IPv6Network\":\"fc00::/48\",\"Backend\":{\"Type\":\"vxlan\"}}");
	const char *own = "10.5.96.0-24&fc00:0:0:29::-64";

	subnet_ok(&c, "10.5.97.0-24&fc00:0:0:30::-64", own);
	subnet_ok(&c, "0.0.0.0-0&fc00:0:0:30::-64", own);
	subnet_ok(&c, "10.5.97.0-24", own);
	subnet_bad(&c, "0.0.0.0-0&fc00:0:0:29::-64", own, "overlaps our own subnet");
	subnet_bad(&c, "10.5.97.0-24&fc00:0:0:29::-64", own, "overlaps our own subnet");
	subnet_bad(&c, "10.5.96.0-24&fc00:0:0:30::-64", own, "overlaps our own subnet");
	subnet_bad(&c, "10.5.97.0-24&fc00:0:0:29:8000::-65", own, "is not a /64");
	subnet_bad(&c, "10.5.97.0-24&fc00:0:0:30::1-64", own, "host bits");
	subnet_bad(&c, "10.5.97.0-24&fd00:0:0:30::-64", own, "outside the network fc00::/48");
	netconf_free(&c);

	c = conf_of("{\"EnableIPv4\":false,\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\","
		    "\"Backend\":{\"Type\":\"vxlan\"}}");
	subnet_ok(&c, "0.0.0.0-0&fc00:0:0:30::-64", "0.0.0.0-0&fc00:0:0:29::-64");
	subnet_bad(&c, "10.5.97.0-24&fc00:0:0:30::-64", NULL, "network without IPv4");
	subnet_bad(&c, "0.0.0.0-0&fc00:0:0:29::-64", "0.0.0.0-0&fc00:0:0:29::-64",
		   "overlaps our own subnet");
	netconf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_canonical_form),
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_dual_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
