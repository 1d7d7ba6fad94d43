# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# IPv6 on lib.sh's test bed: underlay addresses, the hosts' IPv6 subnets
# from subnet.env, containers with an IPv6 address, ping6. Source after
# lib.sh. V6_UNDERLAY (default fd00:200:) is the underlay's /64 without
# its last group: host n is <V6_UNDERLAY>:(10+n), the switch :1.

V6_UNDERLAY=${V6_UNDERLAY:-fd00:200:}
host_ip6() { echo "$V6_UNDERLAY:$((10 + $1))"; }

# v6_underlay_up <hosts...>: the switch and those hosts get their IPv6
# underlay address and forward IPv6.
v6_underlay_up() {
	local i
	sw_exec ip -6 addr add "$V6_UNDERLAY:1/64" dev br0 nodad 2>/dev/null || true
	for i in "$@"; do
		host_exec "$i" ip -6 addr add "$(host_ip6 "$i")/64" dev eth0 nodad
		host_exec "$i" sysctl -qw net.ipv6.conf.all.forwarding=1
	done
}

subnet6_of() { sed -n 's/^FLANNEL_IPV6_SUBNET=//p' "$(inst_dir "$1")/subnet.env" 2>/dev/null | tail -n 1; }
# container6_ip <n>: the container's IPv6 address (FLANNEL_IPV6_SUBNET's ::1 -> ::2).
container6_ip() {
	local s
	s=$(subnet6_of "$1")
	[ -n "$s" ] || return 1
	echo "${s%::1/*}::2"
}
# The v6 subnet's network address and length (fc00:0:0:5::/64).
net6_of() {
	local s
	s=$(subnet6_of "$1")
	echo "${s%::1/*}::/${s#*/}"
}

# container_up_any <n>: lib.sh's container_up for a dual-stack host, its
# IPv6-only equivalent otherwise; then the IPv6 address and route.
container_up_any() {
	local n=$1 hns cns s6 mtu
	hns=$(host_ns "$n")
	cns=$(container_ns "$n")
	s6=$(subnet6_of "$n")
	mtu=$(mtu_of "$n")
	[ -n "$s6" ] && [ -n "$mtu" ] || fail "container_up_any $n: no IPv6 subnet in subnet.env"
	if [ -n "$(subnet_of "$n")" ]; then
		container_up "$n"
	else
		_netns_add "$cns"
		ip -n "$hns" link add cni0 type bridge
		ip -n "$hns" link set cni0 mtu "$mtu" up
		ip -n "$hns" link add "vc$n" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$cns"
		ip -n "$hns" link set "vc$n" master cni0 up
		ip -n "$cns" link set eth0 up
	fi
	ip -n "$hns" addr add "$s6" dev cni0 nodad
	ip -n "$cns" addr add "$(container6_ip "$n")/${s6#*/}" dev eth0 nodad
	ip -n "$cns" -6 route add default via "${s6%/*}"
}

container_ping6() {
	container_exec "$1" ping -6 -q -c "${3:-2}" -i 0.2 -W 2 -w 10 "$(container6_ip "$2")" >/dev/null 2>&1
}

# v6_routes <host>: flanneld's IPv6 routes there, one per line.
v6_routes() { host_exec "$1" ip -6 route show proto 158 | sed "s/ pref medium//; s/ *$//" | sort; }
# _leases6 <prefix>: every lease under prefix as {"key":...,"value":{...}}, one
# etcdctl call (each costs seconds in an emulated guest).
_leases6() {
	etcdctl_sw get --prefix -w json -- "$1/subnets/" |
		jq -c '.kvs[]? | {key: (.key | @base64d), value: (.value | @base64d | fromjson)}'
}
# lease_of <host> <prefix>: the value of the host's lease, found by PublicIPv6.
lease_of() {
	local v
	v=$(_leases6 "$2" | jq -c --arg b "$(host_ip6 "$1")" 'select(.value.PublicIPv6 == $b) | .value')
	[ -n "$v" ] && echo "$v"
}
# key6_of <host> <prefix>: the host's key, found by its PublicIPv6.
key6_of() {
	_leases6 "$2" | jq -r --arg b "$(host_ip6 "$1")" 'select(.value.PublicIPv6 == $b) | .key'
}
