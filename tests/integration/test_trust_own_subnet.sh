#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Leases in etcd are untrusted (issue 15, item 1). With host-gw, then with
# vxlan: an etcd writer puts leases for half of host 1's subnet, for that
# subnet's address at /25 (which holds container 1), for a /31 around
# container 1, for host 2's subnet address at /25 (which would replace
# host 2's route and nexthop), with host bits set, and outside the network,
# all pointing at host 2, and one for host 2's subnet with an IPv6 part in
# a network without IPv6. Host 1 programs none of them and says why, a
# well-formed lease put after them is programmed, and both containers keep
# reaching each other, also after host 1 restarts and lists them all.
# Deleting them all leaves host 2's route in place.
#
#	sw: br0 10.200.0.1 + etcd  <-- the bad leases (etcdctl)
#	 |-- h1 10.200.0.11  flanneld 1   c1 (10.5.X.2)
#	 `-- h2 10.200.0.12  flanneld 2   c2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

PROTO=158 # NL_RTPROT_FLANNEL in src/netlink/nl.h
topo_up 2
etcd_start

net_of() {
	local s
	s=$(subnet_of "$1")
	ip_add "${s%/*}" -1
}
routes() { host_exec "$1" ip route show proto "$PROTO"; }
# grep reads it all: with pipefail, grep -q exiting early could fail the pipe (SIGPIPE).
has_route() { routes "$1" | grep "^$2 " >/dev/null; }
key() { echo "$ETCD_PREFIX/subnets/$1"; }
CONTAINERS=0

# round <backend>: the whole scenario with one backend.
round() {
	local type=$1 n1 n2 c1 v bad=() k i
	etcd_put_config "{\"Network\":\"10.5.0.0/16\",\"Backend\":{\"Type\":\"$type\"}}"
	for i in 1 2; do flannel_start "$i"; done
	for i in 1 2; do wait_ready "$i"; done
	n1=$(net_of 1)
	n2=$(net_of 2)
	c1=$(container_ip 1)
	# The first round makes the containers; leases are reused, so they stay right.
	if [ "$CONTAINERS" = 0 ]; then
		for i in 1 2; do container_up "$i"; done
		CONTAINERS=1
	fi
	wait_until 10 has_route 1 "$n2/24" || fail "$type: h1 does not route to h2's subnet"
	wait_until 10 has_route 2 "$n1/24" || fail "$type: h2 does not route to h1's subnet"
	container_ping 1 2 || fail "$type: container 1 cannot ping container 2"

	# Host 2's own lease value: a backend would program any of these as host 2.
	v=$(key_value "$(subnet_key_of 2)")
	bad=(
		"$(ip_add "$n1" 128)-25" # half of h1's subnet
		"$n1-25"                 # h1's subnet address at another length: holds c1
		"$c1-31"                 # a /31 around container 1
		"$n2-25"                 # h2's subnet address at another length
		"$(ip_add "$n2" 1)-24"   # host bits set
		"192.168.7.0-24"         # outside the network
		"$n2-24&fc00::-64"       # h2's subnet with an IPv6 part, in a network without IPv6
	)
	for k in "${bad[@]}"; do etcdctl_sw put -- "$(key "$k")" "$v" >/dev/null; done
	# A well-formed lease put after them: once it is routed, they were all seen.
	etcdctl_sw put -- "$(key 10.5.250.0-24)" "$v" >/dev/null
	wait_until 10 has_route 1 10.5.250.0/24 || fail "$type: the well-formed lease put last is not routed"
	for k in "${bad[@]}"; do
		[[ $k == *"&"* ]] && continue # its IPv4 part is h2's subnet, routed via h2 anyway
		has_route 1 "${k/-//}" && fail "$type: h1 routes the bad lease $k: $(routes 1 | grep "^${k/-//} ")"
	done
	has_route 1 "$n2/24" || fail "$type: h1 lost its route to h2's subnet"
	log_has 1 "Ignoring lease" "$(ip_add "$n1" 128)/25 is not a /24" || fail "$type: no warning naming the half-subnet lease"
	log_has 1 "Ignoring lease" "has host bits set" || fail "$type: no warning for the lease with host bits"
	log_has 1 "Ignoring lease" "192.168.7.0/24 is outside the network 10.5.0.0/16" ||
		fail "$type: no warning for the lease outside the network"
	container_ping 2 1 || fail "$type: container 2 cannot reach container 1 ($c1) with the bad leases in etcd"
	container_ping 1 2 || fail "$type: container 1 cannot reach container 2 with the bad leases in etcd"
	pass "$type: 7 leases overlapping h1's subnet, replacing h2's or outside the network are ignored with a warning, a good one is routed, containers reach each other"

	# A restart lists them all: the same, through the listing and the converge.
	flannel_stop 1
	flannel_start 1
	wait_ready 1
	wait_until 10 has_route 1 10.5.250.0/24 || fail "$type: after a restart, the good lease is not routed"
	for k in "${bad[@]}"; do
		[[ $k == *"&"* ]] && continue
		has_route 1 "${k/-//}" && fail "$type: after a restart, h1 routes the bad lease $k"
	done
	has_route 1 "$n2/24" || fail "$type: after a restart, h1 has no route to h2's subnet"
	container_ping 2 1 || fail "$type: after a restart, container 2 cannot reach container 1"
	pass "$type: a restart that lists the bad leases programs none of them, ping works"

	# Deleting them takes nothing with them: not h2's route of the same subnet.
	for k in "${bad[@]}" 10.5.250.0-24; do etcdctl_sw del -- "$(key "$k")" >/dev/null; done
	wait_until 10 eval '! has_route 1 10.5.250.0/24' || fail "$type: the good lease's route stays after its delete"
	has_route 1 "$n2/24" || fail "$type: deleting the bad leases took h1's route to h2's subnet"
	container_ping 1 2 || fail "$type: after deleting the bad leases, container 1 cannot ping container 2"
	pass "$type: deleting the bad leases leaves h2's route and ping alone"
	flannel_stop_all 1 2
	# The next backend starts from a clean slate of routes and nexthops.
	for i in 1 2; do
		host_exec "$i" ip nexthop flush >/dev/null 2>&1 || true
		host_exec "$i" ip route flush proto "$PROTO" >/dev/null 2>&1 || true
		[ -z "$(routes "$i")" ] || fail "routes of host $i left after flushing: $(routes "$i")"
	done
}

round host-gw
host_exec 1 ip link add probe0 type vxlan id 9 dstport 4789 2>/dev/null ||
	skip "no vxlan support in this kernel (host-gw passed)"
host_exec 1 ip link del probe0
round vxlan
