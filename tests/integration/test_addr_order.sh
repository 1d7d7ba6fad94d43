#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Primary-address choice by address flags, as upstream (>= v0.28) orders
# them: permanent before non-permanent (IPv4 and IPv6), then, for IPv6,
# non-temporary before temporary; the kernel's own order (newest IPv6
# address first, IPv4 primary first) would pick the other one each time.
#
#	sw: br0 10.200.0.1 + etcd
#	 |
#	h1: eth0 10.200.0.11; wan0 192.168.5.1/24 dynamic (primary),
#	    192.168.5.2/24 permanent (secondary)           --check-config --iface=wan0
#	    eth0 2001:db8:1::1/64 dynamic mngtmpaddr + the kernel's temporary
#	h2: eth0 10.200.0.12, 2001:db8:3::9/64 permanent, then
#	    2001:db8:4::9/64 dynamic (listed first by the kernel)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

topo_up 2
etcd_start
DUAL='{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"alloc"}}'
etcd_put_config "$DUAL"

# ---- IPv4: permanent before dynamic, seen through --check-config.
host_exec 1 ip link add wan0 type veth peer name wan0p
host_exec 1 ip link set wan0p up
host_exec 1 ip link set wan0 up
host_exec 1 ip addr add 192.168.5.1/24 dev wan0 valid_lft 3000 preferred_lft 2000
host_exec 1 ip addr add 192.168.5.2/24 dev wan0
# --public-ipv6: wan0 has no IPv6 address, which the daemon (and so
# --check-config) refuses with EnableIPv6.
out=$(host_exec 1 "$FLANNELD" --check-config --etcd-endpoints="$ETCD_CLIENT" --iface=wan0 --public-ipv6=2001:db8:5::1 2>&1) ||
	fail "--check-config failed: $out"
grep -q '^Interface: *wan0 (address 192.168.5.2,' <<<"$out" || fail "IPv4 pick: $out"
pass "IPv4: the permanent secondary address wins over the dynamic primary"

# ---- IPv6: the kernel lists the temporary address before its mngtmpaddr parent.
host_exec 1 sysctl -qw net.ipv6.conf.eth0.use_tempaddr=2
host_exec 1 ip -6 addr add 2001:db8:1::1/64 dev eth0 nodad mngtmpaddr valid_lft 3000 preferred_lft 2000
has_temp() { host_exec 1 ip -6 addr show dev eth0 | grep_q 'temporary'; }
wait_until 5 has_temp || skip "this kernel made no temporary IPv6 address"
first=$(host_exec 1 ip -6 -o addr show dev eth0 scope global | awk 'NR == 1 { print $4 }')
[ "$first" != 2001:db8:1::1/64 ] || fail "the kernel lists the temporary address after its parent: test is moot"

host_exec 2 ip -6 addr add 2001:db8:3::9/64 dev eth0 nodad
host_exec 2 ip -6 addr add 2001:db8:4::9/64 dev eth0 nodad valid_lft 3000 preferred_lft 2000
first=$(host_exec 2 ip -6 -o addr show dev eth0 scope global | awk 'NR == 1 { print $4 }')
assert_eq "$first" 2001:db8:4::9/64 "the kernel's first IPv6 address on h2"

flannel_start 1
flannel_start 2
wait_ready 1
wait_ready 2
# v6_of <n>: PublicIPv6 of host n's lease (dual-stack keys carry both subnets).
v6_of() {
	etcdctl_sw get --prefix --print-value-only "$ETCD_PREFIX/subnets/" |
		jq -r --arg ip "$(host_ip "$1")" 'select(.PublicIP == $ip) | .PublicIPv6'
}
assert_eq "$(v6_of 1)" 2001:db8:1::1 "h1 PublicIPv6 (non-temporary before temporary)"
assert_eq "$(v6_of 2)" 2001:db8:3::9 "h2 PublicIPv6 (permanent before dynamic)"
log_has 1 "v6 address 2001:db8:1::1" || fail "h1 log does not name 2001:db8:1::1"
pass "IPv6: non-temporary before temporary, permanent before dynamic"
flannel_stop 1
flannel_stop 2
