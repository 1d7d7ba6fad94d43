#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --ip-blackhole-route, with no bridge route for our subnet (a CNI routing
# each container by a /32): without the flag a packet to an unused address
# of the subnet leaves by the default route (the switch holds that address
# and answers); with it the packet is dropped in h1, for IPv4 and IPv6.
# Deleted by hand, the route comes back; it stays when flanneld exits; a
# bridge route for the subnet coexists with it and wins, also when it was
# there before flanneld started.
#
#	sw: br0 10.200.0.1 + etcd, lo: <subnet>.99/32 (the "unused" address)
#	 |
#	h1: eth0 10.200.0.11, fd00:200::11  default via .1   flanneld (alloc)
#	    later cni0 <subnet>.1/24 (a bridge route for the subnet)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

METRIC=4294967295
topo_up 1
host_exec 1 ip -6 addr add fd00:200::11/64 dev eth0 nodad
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"alloc"}}'

flannel_start 1
wait_ready 1
S=$(subnet_of 1)
NET=${S%.*}.0/24
T=${S%.*}.99
S6=$(sed -n 's/^FLANNEL_IPV6_SUBNET=//p' "$(inst_dir 1)/subnet.env")
NET6=${S6%::1/64}::/64
sw_exec ip addr add "$T/32" dev lo

ping_leaves() { host_exec 1 ping -q -c 1 -W 2 "$T" >/dev/null 2>&1; }
ping_leaves || fail "without the flag, a ping to $T did not reach the switch"
host_exec 1 ip route show proto boot | grep_q blackhole && fail "a blackhole route without the flag"
pass "without --ip-blackhole-route: a packet to unused $T leaves by the default route"
flannel_stop 1

has_bh() { host_exec 1 ip route show exact "$NET" | grep -Eq "^blackhole $NET (proto boot )?metric $METRIC"; }
has_bh6() { host_exec 1 ip -6 route show exact "$NET6" | grep -Eq "^blackhole $NET6 (dev lo )?(proto boot )?metric $METRIC"; }
route_dev() { host_exec 1 ip route get "$T" 2>&1 | head -n 1; }
# The kernel answers a lookup that ends in a blackhole route with EINVAL.
blackholed() { [[ $(route_dev) == *"Invalid argument"* ]]; }

flannel_start 1 --ip-blackhole-route
wait_ready 1
assert_eq "$(subnet_of 1)" "$S" "subnet after restart"
wait_until 5 has_bh || fail "no IPv4 blackhole route: $(host_exec 1 ip route)"
wait_until 5 has_bh6 || fail "no IPv6 blackhole route: $(host_exec 1 ip -6 route)"
ping_leaves && fail "with the flag, the ping to $T still left the host"
blackholed || fail "route get $T: $(route_dev)"
pass "with --ip-blackhole-route: $NET and $NET6 are blackholed, the ping is dropped locally"

host_exec 1 ip route del blackhole "$NET" metric "$METRIC"
host_exec 1 ip -6 route del blackhole "$NET6" metric "$METRIC"
wait_until 5 has_bh || fail "the deleted IPv4 blackhole route did not come back"
wait_until 5 has_bh6 || fail "the deleted IPv6 blackhole route did not come back"
log_has 1 "Our blackhole route was deleted" || fail "no log line about the deleted route"
pass "deleted by hand, both routes come back"

# A bridge route for the subnet (metric 0) wins; ours stays under it.
host_exec 1 ip link add cni0 type bridge
host_exec 1 ip addr add "$S" dev cni0
host_exec 1 ip link set cni0 up
bridge_wins() { [[ $(route_dev) == "$T dev cni0 "* ]]; }
wait_until 5 bridge_wins || fail "route get $T with a bridge: $(route_dev)"
has_bh || fail "the blackhole route went when the bridge came"
flannel_stop 1
has_bh && has_bh6 || fail "the blackhole routes went on exit"
pass "a bridge route wins over the blackhole; flanneld's exit leaves the routes"

# Bridge route first, then flanneld: no EEXIST, both there.
host_exec 1 ip route del blackhole "$NET" metric "$METRIC"
flannel_start 1 --ip-blackhole-route
wait_ready 1
wait_until 5 has_bh || fail "no blackhole route next to the bridge route"
bridge_wins || fail "route get $T: $(route_dev)"
log_has 1 "Blackhole route for $NET and $NET6 in place" || fail "no log line for the routes"
log_has 1 "blackhole route for" "failed" && fail "adding next to the bridge route failed"
host_exec 1 ip link del cni0
wait_until 5 blackholed || fail "route get $T after the bridge went: $(route_dev)"
pass "with a bridge route there first: added without error; the bridge gone, the blackhole takes over"
flannel_stop 1
