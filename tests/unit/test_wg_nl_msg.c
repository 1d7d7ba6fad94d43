/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for wg_nl_msg.c: WireGuard generic netlink requests, parsed back. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/wg_nl.h"

#define FAM 0x1d

static struct wg_peer sample(uint8_t k)
{
	struct wg_peer p = { .port = 51820, .keepalive = 25, .nallowed = 2 };

	memset(p.key, k, 32);
	p.has_psk = true;
	memset(p.psk, 0x55, 32);
	p.endpoint = kaddr_v4(0x0ac8000c);
	p.allowed[0] = (struct kprefix){ kaddr_v4(0x0af40300), 24 };
	p.allowed[1] = (struct kprefix){ kaddr_v4(0x0af40400), 24 };
	return p;
}

/* A SET_DEVICE with a peer has the layout of a GET_DEVICE reply: parse it back. */
static void test_set_peer_roundtrip(void **state)
{
	uint64_t buf[WG_MSG_MAX / 8];
	struct wg_peer p = sample(7);
	struct nlmsghdr *nlh = wg_msg_set_peer(buf, FAM, "flannel-wg", &p, WG_PEER_REPLACE_ALLOWED);
	const struct genlmsghdr *g;
	struct wg_device d = { 0 };

	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, FAM);
	g = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(g->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(g->version, WG_GENL_VERSION);
	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_int_equal(d.npeers, 1);
	assert_memory_equal(d.peers[0].key, p.key, 32);
	assert_true(d.peers[0].has_psk);
	assert_true(kaddr_equal(&d.peers[0].endpoint, &p.endpoint));
	assert_int_equal(d.peers[0].port, 51820);
	assert_int_equal(d.peers[0].keepalive, 25);
	assert_int_equal(d.peers[0].nallowed, 2);
	assert_true(kprefix_equal(&d.peers[0].allowed[1], &p.allowed[1]));
	/* The kernel continues a long peer in the next message: merged. */
	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_int_equal(d.npeers, 1);
	assert_int_equal(d.peers[0].nallowed, 4);
	p = sample(8);
	nlh = wg_msg_set_peer(buf, FAM, "flannel-wg", &p, 0);
	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_int_equal(d.npeers, 2);
	wg_device_free(&d);
}

/* An IPv6 endpoint and allowed IPs of both families (flannel-wg in Mode auto, or -v6). */
static void test_ipv6_peer(void **state)
{
	uint64_t buf[WG_MSG_MAX / 8];
	struct wg_peer p = sample(4);
	struct ip6 ep = { { 0xfd, 0x20, [15] = 0x0c } }, sub = { { 0xfd, 0x44, [7] = 3 } };
	struct wg_device d = { 0 };
	struct nlmsghdr *nlh;

	p.endpoint = kaddr_v6(&ep);
	p.port = 51821;
	p.allowed[1] = (struct kprefix){ kaddr_v6(&sub), 64 };
	nlh = wg_msg_set_peer(buf, FAM, "flannel-wg-v6", &p, WG_PEER_REPLACE_ALLOWED);
	assert_non_null(nlh);
	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_int_equal(d.npeers, 1);
	assert_false(d.peers[0].other_endpoint);
	assert_true(kaddr_equal(&d.peers[0].endpoint, &p.endpoint));
	assert_int_equal(d.peers[0].port, 51821);
	assert_false(d.peers[0].other_allowed);
	assert_int_equal(d.peers[0].nallowed, 2);
	assert_true(kprefix_equal(&d.peers[0].allowed[0], &p.allowed[0]));
	assert_true(kprefix_equal(&d.peers[0].allowed[1], &p.allowed[1]));
	wg_device_free(&d);
	/* A v6 prefix longer than 128 is not ours: read as "other". */
	p.allowed[1].len = 129;
	nlh = wg_msg_set_peer(buf, FAM, "flannel-wg-v6", &p, WG_PEER_REPLACE_ALLOWED);
	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_true(d.peers[0].other_allowed);
	assert_int_equal(d.peers[0].nallowed, 1);
	wg_device_free(&d);
}

static void test_remove_and_device(void **state)
{
	uint64_t buf[WG_MSG_MAX / 8];
	struct wg_peer p = sample(9);
	struct wg_device d = { 0 };
	uint8_t priv[32];
	struct nlmsghdr *nlh = wg_msg_set_peer(buf, FAM, "flannel-wg", &p, WG_PEER_REMOVE);

	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_int_equal(d.npeers, 1);
	assert_int_equal(d.peers[0].nallowed, 0); /* a removal names the key only */
	assert_false(d.peers[0].has_psk);
	wg_device_free(&d);
	memset(priv, 3, 32);
	nlh = wg_msg_set_device(buf, FAM, "flannel-wg", priv, 51820);
	assert_int_equal(wg_parse_device(nlh, &d), 0);
	assert_true(d.has_private_key);
	assert_memory_equal(d.private_key, priv, 32);
	assert_int_equal(d.listen_port, 51820);
	assert_int_equal(d.npeers, 0);
	wg_device_free(&d);
}

static void test_family(void **state)
{
	uint64_t buf[WG_MSG_MAX / 8];
	struct nlmsghdr *nlh = wg_msg_get_family(buf);
	uint16_t fam = 0;

	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, GENL_ID_CTRL);
	/* A reply carries CTRL_ATTR_FAMILY_ID; the request does not. */
	assert_int_equal(wg_parse_family(nlh, &fam), -EINVAL);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x22);
	assert_int_equal(wg_parse_family(nlh, &fam), 0);
	assert_int_equal(fam, 0x22);
	nlh = wg_msg_get_device(buf, FAM, "flannel-wg");
	assert_true(nlh->nlmsg_flags & NLM_F_DUMP);
}

static void test_truncated(void **state)
{
	uint64_t buf[WG_MSG_MAX / 8];
	struct wg_peer p = sample(1);
	struct nlmsghdr *nlh = wg_msg_set_peer(buf, FAM, "flannel-wg", &p, 0);
	struct wg_device d = { 0 };
	uint32_t full = nlh->nlmsg_len;

	for (uint32_t len = 0; len < full; len += 7) {
		nlh->nlmsg_len = len;
		(void)wg_parse_device(nlh, &d); /* no crash, no over-read (ASan) */
	}
	wg_device_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_peer_roundtrip), cmocka_unit_test(test_ipv6_peer),
		cmocka_unit_test(test_remove_and_device),  cmocka_unit_test(test_family),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
