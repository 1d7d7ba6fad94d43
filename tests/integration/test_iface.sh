#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interface and public IP selection (alloc backend, so no kernel devices):
# each of --iface (name, IP, repeated), --iface-regex (address, name,
# repeated), --iface-can-reach, the default route, --public-ip on an
# interface and behind NAT picks the expected interface and address, as the
# lease's PublicIP in etcd, FLANNEL_MTU in subnet.env and the log show;
# several addresses on one interface are picked in a fixed order; nothing
# matching is one error listing every attempt, exit 1.
#
#	sw: br0 10.200.0.1 + etcd
#	 |
#	h1: eth0  10.200.0.11/24, 10.200.0.51/24 (secondary)   default via .1, MTU 1500
#	    wan0  169.254.7.7/16, then 192.168.77.1/24           MTU 1400
#	     `- wan0p (its veth peer, in h1, no address)
#	    198.51.100.0/24 via 192.168.77.2 dev wan0             (src 192.168.77.1)
#	    198.18.0.0/24 dev wan0 src 169.254.7.7
#	    unreachable 192.0.2.0/24
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

H1=$(host_ip 1)
SECOND=10.200.0.51
WAN=192.168.77.1
WAN_LL=169.254.7.7
NAT_IP=203.0.113.5

topo_up 1
host_exec 1 ip addr add "$SECOND/24" dev eth0
host_exec 1 ip link add wan0 mtu 1400 type veth peer name wan0p
host_exec 1 ip addr add "$WAN_LL/16" dev wan0
host_exec 1 ip addr add "$WAN/24" dev wan0
host_exec 1 ip link set wan0p up
host_exec 1 ip link set wan0 up
host_exec 1 ip route add 198.51.100.0/24 via 192.168.77.2 dev wan0
host_exec 1 ip route add 198.18.0.0/24 dev wan0 src "$WAN_LL"
host_exec 1 ip route add unreachable 192.0.2.0/24
etcd_start
etcd_put_config "$DEFAULT_CONFIG"

# lease_public_ip: PublicIP of the only lease in etcd.
lease_public_ip() {
	local keys
	keys=$(subnet_keys)
	[ "$(wc -l <<<"$keys")" = 1 ] || fail "expected one lease, have: $keys"
	key_value "$keys" | jq -r .PublicIP
}

# start1 flags...: flanneld in h1 with only the flags given beyond etcd,
# subnet file and health port (flannel_start's --iface and --public-ip
# defaults would decide the choice).
start1() {
	local d
	d=$(inst_dir 1)
	echo "$HEALTHZ_PORT" >"$d/port"
	[ -s "$d/flanneld.log" ] && cat "$d/flanneld.log" >>"$d/flanneld.log.prev"
	SPAWN_LOG=$d/flanneld.log spawn flanneld-1 "$(host_ns 1)" "$FLANNELD" \
		--etcd-endpoints="$ETCD_CLIENT" --subnet-file="$d/subnet.env" \
		--healthz-ip=127.0.0.1 --healthz-port="$HEALTHZ_PORT" --iptables-forward-rules=false \
		-v=1 "$@"
}

# fresh: no lease and no subnet.env left from the case before.
fresh() {
	etcdctl_sw del --prefix "$ETCD_PREFIX/subnets/" >/dev/null
	rm -f "$(inst_dir 1)/subnet.env"
}

# pick <what> <iface> <addr> <public-ip> <mtu> <from> flags...: flanneld 1
# started with flags becomes ready with that choice.
pick() {
	local what=$1 ifc=$2 addr=$3 pub=$4 mtu=$5 from=$6
	shift 6
	fresh
	start1 "$@"
	wait_ready 1
	assert_eq "$(lease_public_ip)" "$pub" "$what: lease PublicIP"
	assert_eq "$(mtu_of 1)" "$mtu" "$what: FLANNEL_MTU"
	log_has 1 "Using interface with name $ifc and address $addr" ||
		fail "$what: no 'Using interface with name $ifc and address $addr'"
	log_has 1 "Using interface $ifc (index " "MTU $mtu), address $addr, public IP $pub (from $from)" ||
		fail "$what: no summary line for $ifc $addr $pub from $from"
	flannel_stop 1
	pass "$what: $ifc $addr, public IP $pub"
}

# refuse <what> <error-part>... flags...: flanneld 1 exits 1 and its log
# has one line with every part (parts end at "--").
refuse() {
	local what=$1 parts=()
	shift
	while [ "$1" != -- ]; do
		parts+=("$1")
		shift
	done
	shift
	fresh
	start1 "$@"
	wait_until 10 proc_exited flanneld-1 || fail "$what: flanneld still runs"
	assert_eq "$(proc_rc flanneld-1)" 1 "$what: exit code"
	log_has 1 "${parts[@]}" || fail "$what: no line with: ${parts[*]}"
	[ -z "$(subnet_keys)" ] || fail "$what: a lease was taken"
	pass "$what: refused"
}

# -- the default route (eth0), with several addresses on it
pick "default route" eth0 "$H1" "$H1" 1500 "the default route"
log_has 1 "Determining IP address of default interface" || fail "no default-interface line"
log_has 1 "Defaulting external address to interface address ($H1)" || fail "no defaulting line"
log_has 1 "eth0 has 2 IPv4 addresses ($H1, $SECOND): using $H1" || fail "no several-addresses line for eth0"

# -- --iface by name, by IP (the second address of eth0), repeated
pick "--iface by name" wan0 "$WAN" "$WAN" 1400 "--iface=wan0" --iface=wan0
# Global before link-local, although the kernel lists 169.254.7.7 first.
log_has 1 "wan0 has 2 IPv4 addresses ($WAN, $WAN_LL): using $WAN" ||
	fail "no several-addresses line for wan0"
pick "--iface by IP" eth0 "$SECOND" "$SECOND" 1500 "--iface=$SECOND" --iface="$SECOND"
log_has 1 "Searching for interface using $SECOND" || fail "no 'Searching for interface' line"
log_has 1 "eth0 has 2 IPv4 addresses ($H1, $SECOND): using $SECOND" ||
	fail "the several-addresses line does not name $SECOND"
pick "--iface repeated" wan0 "$WAN" "$WAN" 1400 "--iface=$WAN" \
	--iface=eth9 --iface=10.9.9.9 --iface="$WAN" --iface=eth0
log_has 1 "Could not find valid interface matching eth9: error looking up interface eth9" ||
	fail "no failure line for eth9"
log_has 1 "Could not find valid interface matching 10.9.9.9: " "no interface with given IP found" ||
	fail "no failure line for 10.9.9.9"

# -- --iface-regex by address, by name, repeated; after every --iface
pick "--iface-regex by address" wan0 "$WAN" "$WAN" 1400 '--iface-regex=^192\.168\.' \
	'--iface-regex=^192\.168\.'
pick "--iface-regex by the second address" eth0 "$SECOND" "$SECOND" 1500 \
	'--iface-regex=\.51$' '--iface-regex=\.51$'
pick "--iface-regex by name" wan0 "$WAN" "$WAN" 1400 '--iface-regex=^wan0$' '--iface-regex=^wan0$'
pick "--iface-regex repeated" eth0 "$H1" "$H1" 1500 '--iface-regex=^eth' \
	'--iface-regex=^wl' '--iface-regex=^eth'
log_has 1 "Could not find valid interface matching ^wl: Could not match pattern ^wl to any of the available network interfaces (" \
	"eth0:[$H1 $SECOND]" "wan0:[$WAN $WAN_LL]" || fail "no listing for ^wl"
pick "--iface before --iface-regex" wan0 "$WAN" "$WAN" 1400 "--iface=wan0" \
	'--iface-regex=^eth' --iface=wan0

# -- --iface-can-reach: the route's device and its preferred source
pick "--iface-can-reach" wan0 "$WAN" "$WAN" 1400 "--iface-can-reach=198.51.100.7" \
	--iface-can-reach=198.51.100.7
log_has 1 "Determining interface to use based on given ifcanreach: 198.51.100.7" ||
	fail "no ifcanreach line"
pick "--iface-can-reach, route with src" wan0 "$WAN_LL" "$WAN_LL" 1400 \
	"--iface-can-reach=198.18.0.9" --iface-can-reach=198.18.0.9
pick "--iface-can-reach via the default route" eth0 "$H1" "$H1" 1500 \
	"--iface-can-reach=10.200.0.1" --iface-can-reach=10.200.0.1
pick "--iface-regex before --iface-can-reach" eth0 "$H1" "$H1" 1500 '--iface-regex=^eth' \
	--iface-can-reach=198.51.100.7 '--iface-regex=^eth'

# -- --public-ip alone: the interface holding it; behind NAT the default route's
pick "--public-ip on wan0" wan0 "$WAN" "$WAN" 1400 "--public-ip=$WAN, the interface holding it" \
	--public-ip="$WAN"
pick "--public-ip behind NAT" eth0 "$H1" "$NAT_IP" 1500 \
	"the default route; --public-ip=$NAT_IP is on no interface" --public-ip="$NAT_IP"
log_has 1 "Using $NAT_IP as external address" || fail "no 'as external address' line"
pick "--iface with a NAT --public-ip" wan0 "$WAN" "$NAT_IP" 1400 "--iface=wan0" \
	--iface=wan0 --public-ip="$NAT_IP"

# -- an empty --iface is the default route, as upstream
pick "empty --iface" eth0 "$H1" "$H1" 1500 "--iface=" --iface= --iface=wan0

# -- nothing matches: one error naming every attempt. wan0p (the veth peer,
# created first, so before wan0 in index order) has no address: upstream's
# name pass takes the first name that matches, and so fails for ^wan.
refuse "no match" "Failed to find any valid interface to use: no interface matches: " \
	"--iface=eth9: error looking up interface eth9: no such network interface" \
	"; --iface=lo: failed to find IPv4 address for interface lo" \
	"; --iface-regex=^wl: Could not match pattern ^wl to any of the available network interfaces (" \
	"; --iface-regex=^wan: failed to find IPv4 address for interface wan0p" \
	"; --iface-regex=(: could not compile the regex" \
	"; --iface-can-reach=192.0.2.1: failed to get ifcanreach based interface: No route to host" \
	-- --iface=eth9 --iface=lo '--iface-regex=^wl' '--iface-regex=^wan' '--iface-regex=(' --iface-can-reach=192.0.2.1
refuse "invalid --public-ip" "--public-ip: invalid public IP address: 10.1.2" -- --public-ip=10.1.2
refuse "invalid --public-ipv6" "--public-ipv6: invalid public IPv6 address: fd00::zz" -- \
	--iface=eth0 --public-ipv6=fd00::zz
host_exec 1 ip route del default
refuse "no default route" "failed to get default interface: unable to find default route" --
