#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPv6 in the vxlan and host-gw backends, end to end: three hosts per
# scenario, a container behind each, ping and ping6 across every pair.
# Dual-stack vxlan (flannel.1 + flannel-v6.1 with upstream's attributes,
# BackendV6Data in the lease), dual-stack host-gw, IPv6-only vxlan (no
# flannel.1) and IPv6-only host-gw. In every scenario each host must hold
# each other's IPv6 entries in upstream's exact form (vxlan: route,
# permanent neighbour and FDB entry with the MAC of the peer's lease;
# host-gw: route via the PublicIPv6), after start and after restarts, so
# a backend that stops programming any of them fails here. A restart
# keeps both subnets and writes nothing; deleted IPv6 entries (route,
# neighbour, FDB entry, the whole flannel-v6.1 device) come back.
#
#	sw: br0 10.200.0.1 fd00:200::1 + etcd
#	 |-- h1..h3   vxlan dual-stack         Network 10.244/16 fc00::/48
#	 |-- h4..h6   host-gw dual-stack       Network 10.245/16 fc00:1::/48
#	 |-- h7..h9   vxlan IPv6-only          fc00:2::/48
#	 `-- h10..h12 host-gw IPv6-only        fc00:3::/48
#	host n: eth0 10.200.0.(10+n)/24 fd00:200::(10+n)/64
#	        cni0 <FLANNEL_SUBNET> <FLANNEL_IPV6_SUBNET> -- container n (.2 / ::2)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

. "$(dirname "$0")/lib6.sh"

topo_up 12
v6_underlay_up $(seq 1 12)
etcd_start

has_v6_route_to() { v6_routes "$1" | grep_q "^$2 "; }

# ping_all <v4: 0|1> <hosts...>: every pair, both ways.
ping_all() {
	local v4=$1 a b
	shift
	for a in "$@"; do
		for b in "$@"; do
			[ "$a" = "$b" ] && continue
			if [ "$v4" = 1 ]; then
				wait_until 10 container_ping "$a" "$b" 1 || fail "container $a cannot ping container $b"
			fi
			wait_until 10 container_ping6 "$a" "$b" 1 ||
				fail "container $a cannot ping6 container $b ($(container6_ip "$b")); routes on $a: $(v6_routes "$a")"
		done
	done
}

# entries6_ok <backend> <host> <peer> <peer's v6 VtepMAC>: host holds, in
# upstream's form, every IPv6 entry its backend programs for peer: vxlan a
# route via the peer's subnet address on flannel-v6.1, a permanent
# neighbour with the peer's MAC and an FDB entry to its PublicIPv6;
# host-gw a route via the peer's PublicIPv6 on eth0.
entries6_ok() {
	local be=$1 h=$2 p=$3 mac=$4 n6
	n6=$(net6_of "$p")
	case $be in
	vxlan)
		v6_routes "$h" | grep_q -x "$n6 via ${n6%/64} dev flannel-v6.1 metric 1024 onlink" &&
			host_exec "$h" ip -6 neigh show dev flannel-v6.1 | sed 's/ *$//' | grep_q -x "${n6%/64} lladdr $mac PERMANENT" &&
			host_exec "$h" bridge fdb show dev flannel-v6.1 | sed 's/ *$//' | grep_q -x "$mac dst $(host_ip6 "$p") self permanent"
		;;
	host-gw)
		v6_routes "$h" | grep_q -x "$n6 via $(host_ip6 "$p") dev eth0 metric 1024"
		;;
	*) return 1 ;;
	esac
}

# all_entries6 <backend> <prefix> <hosts...>: every host holds every other's IPv6
# entries (the MACs from the peers' leases, each checked against its device).
all_entries6() {
	local be=$1 p=$2 i j leases
	shift 2
	local -A macs
	leases=$(etcdctl_sw get --prefix -w json -- "$p/subnets/" | jq -c '[.kvs[]? | .value | @base64d | fromjson]')
	for j in "$@"; do
		macs[$j]=none
		[ "$be" = vxlan ] || continue
		macs[$j]=$(jq -r --arg b "$(host_ip6 "$j")" '.[] | select(.PublicIPv6 == $b) | .BackendV6Data.VtepMAC' <<<"$leases")
		assert_eq "${macs[$j]}" "$(host_exec "$j" cat /sys/class/net/flannel-v6.1/address)" "$be: VtepMAC in host $j's BackendV6Data"
	done
	for i in "$@"; do
		for j in "$@"; do
			[ "$i" = "$j" ] && continue
			wait_until 10 entries6_ok "$be" "$i" "$j" "${macs[$j]}" ||
				fail "$be host $i lacks IPv6 entries for host $j ($(net6_of "$j")): routes $(v6_routes "$i");
neighbours $(host_exec "$i" ip -6 neigh show 2>&1); FDB $(host_exec "$i" bridge fdb show dev flannel-v6.1 2>&1)"
		done
	done
}

# scenario <backend> <prefix> <config> <dual: 0|1> <hosts...>
scenario() {
	local be=$1 p=$2 conf=$3 dual=$4 i
	shift 4
	local hosts=("$@")
	etcd_put_config "$conf" "$p"
	for i in "${hosts[@]}"; do
		flannel_start "$i" --etcd-prefix="$p"
	done
	for i in "${hosts[@]}"; do wait_ready "$i"; done
	for i in "${hosts[@]}"; do
		[ -n "$(subnet6_of "$i")" ] || fail "$be host $i: no FLANNEL_IPV6_SUBNET"
	done
	all_entries6 "$be" "$p" "${hosts[@]}"
	for i in "${hosts[@]}"; do container_up_any "$i"; done
	ping_all "$dual" "${hosts[@]}"
}

# ---------------------------------------------------------------- vxlan dual-stack
P1=/vx6/network
scenario vxlan "$P1" '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}' 1 1 2 3
l=$(lease_of 1 "$P1") || fail "no lease of host 1"
mac6=$(host_exec 1 cat /sys/class/net/flannel-v6.1/address)
mac4=$(host_exec 1 cat /sys/class/net/flannel.1/address)
assert_eq "$(jq -c .BackendV6Data <<<"$l")" "{\"VNI\":1,\"VtepMAC\":\"$mac6\"}" "BackendV6Data of host 1"
assert_eq "$(jq -c .BackendData <<<"$l")" "{\"VNI\":1,\"VtepMAC\":\"$mac4\"}" "BackendData of host 1"
[ "$mac4" != "$mac6" ] || fail "the two devices share a MAC"
d=$(host_exec 1 ip -d link show flannel-v6.1)
grep -q "mtu 1430 " <<<"$d" || fail "flannel-v6.1 MTU is not 1430: $d"
grep -q "vxlan id 1 local $(host_ip6 1) dev eth0 " <<<"$d" || fail "flannel-v6.1 attributes: $d"
grep -q "dstport 8472 nolearning" <<<"$d" || fail "flannel-v6.1 port/learning: $d"
assert_eq "$(host_exec 1 ip -6 -o addr show dev flannel-v6.1 scope global | awk '{print $4}')" "$(net6_of 1 | sed 's|/64$|/128|')" "address of flannel-v6.1"
assert_eq "$(mtu_of 1)" 1450 "FLANNEL_MTU of a dual-stack vxlan host"
# Host 2's entries on host 1, in upstream's form.
n2=$(net6_of 2)
m2=$(host_exec 2 cat /sys/class/net/flannel-v6.1/address)
v6_routes 1 | grep_q -x "$n2 via ${n2%/64} dev flannel-v6.1 metric 1024 onlink" || fail "route to $n2 on host 1: $(v6_routes 1)"
host_exec 1 ip -6 neigh show dev flannel-v6.1 | sed 's/ *$//' | grep_q -x "${n2%/64} lladdr $m2 PERMANENT" || fail "neighbour of $n2: $(host_exec 1 ip -6 neigh show dev flannel-v6.1)"
host_exec 1 bridge fdb show dev flannel-v6.1 | sed 's/ *$//' | grep_q -x "$m2 dst $(host_ip6 2) self permanent" || fail "FDB entry of host 2: $(host_exec 1 bridge fdb show dev flannel-v6.1)"
pass "vxlan dual-stack: flannel-v6.1 (local $(host_ip6 1), mtu 1430, $(net6_of 1 | sed 's|/64$|/128|')), BackendV6Data, upstream's route/neighbour/FDB; ping and ping6 across all pairs"

# Restart: the same subnets, nothing written.
k1=$(key6_of 1 "$P1")
flannel_stop 1
flannel_start 1 --etcd-prefix="$P1"
wait_ready 1
k1b=$(key6_of 1 "$P1")
assert_eq "$k1b" "$k1" "key of host 1 after a restart"
assert_eq "$(host_exec 1 cat /sys/class/net/flannel-v6.1/address)" "$mac6" "flannel-v6.1 MAC after a restart"
wait_until 10 log_has 1 "Converged flannel-v6.1" || wait_until 5 log_has 1 "Returning existing device flannel-v6.1" || fail "no reuse of flannel-v6.1"
log_has 1 "Converged flannel-v6.1:" "added or fixed" && fail "a restart rewrote IPv6 entries"
all_entries6 vxlan "$P1" 1 2 3
ping_all 1 1 2 3
pass "vxlan dual-stack restart: key $(basename "$k1") and MAC kept, nothing rewritten, pings still pass"

# Self-healing: route, neighbour, FDB entry, the device itself.
host_exec 1 ip -6 route del "$n2" dev flannel-v6.1
wait_until 10 has_v6_route_to 1 "$n2" || fail "deleted IPv6 route not restored"
host_exec 1 ip -6 neigh del "${n2%/64}" dev flannel-v6.1
wait_until 10 eval 'host_exec 1 ip -6 neigh show dev flannel-v6.1 | grep_q "^${n2%/64} lladdr"' || fail "deleted neighbour not restored"
host_exec 1 bridge fdb del "$m2" dev flannel-v6.1 dst "$(host_ip6 2)"
wait_until 10 eval 'host_exec 1 bridge fdb show dev flannel-v6.1 | grep_q "^$m2 dst"' || fail "deleted FDB entry not restored"
host_exec 1 ip link del flannel-v6.1
wait_until 10 has_v6_route_to 1 "$n2" || fail "flannel-v6.1 not recreated with its routes"
assert_eq "$(host_exec 1 cat /sys/class/net/flannel-v6.1/address)" "$mac6" "MAC of the recreated flannel-v6.1"
all_entries6 vxlan "$P1" 1 2 3
ping_all 1 1 2 3
pass "vxlan IPv6 self-healing: route, neighbour, FDB entry and flannel-v6.1 itself come back (same MAC)"
flannel_stop_all 1 2 3

# ---------------------------------------------------------------- host-gw dual-stack
P2=/hg6/network
scenario host-gw "$P2" '{"Network":"10.245.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:1::/48","Backend":{"Type":"host-gw"}}' 1 4 5 6
n5=$(net6_of 5)
v6_routes 4 | grep_q -x "$n5 via $(host_ip6 5) dev eth0 metric 1024" || fail "host-gw route to $n5: $(v6_routes 4)"
l=$(lease_of 4 "$P2") || fail "no lease of host 4"
assert_eq "$l" "{\"PublicIP\":\"$(host_ip 4)\",\"PublicIPv6\":\"$(host_ip6 4)\",\"BackendType\":\"host-gw\"}" "host-gw lease of host 4"
host_exec 4 ip -6 route del "$n5"
wait_until 10 has_v6_route_to 4 "$n5" || fail "deleted host-gw IPv6 route not restored"
flannel_stop 4
flannel_start 4 --etcd-prefix="$P2"
wait_ready 4
all_entries6 host-gw "$P2" 4 5 6
ping_all 1 4 5 6
pass "host-gw dual-stack: $n5 via $(host_ip6 5) dev eth0, repaired when deleted; ping and ping6 across all pairs, also after a restart"
flannel_stop_all 4 5 6

# ---------------------------------------------------------------- IPv6-only
P3=/vx6only/network
scenario vxlan "$P3" '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00:2::/48","Backend":{"Type":"vxlan"}}' 0 7 8 9
host_exec 7 ip link show flannel.1 >/dev/null 2>&1 && fail "IPv6-only vxlan created flannel.1"
l=$(lease_of 7 "$P3") || fail "no lease of host 7"
assert_eq "$(jq -r '.PublicIP, (.BackendData // "none"), .BackendV6Data.VNI' <<<"$l" | tr '\n' ' ')" "0.0.0.0 none 1 " "IPv6-only vxlan lease of host 7"
flannel_stop 7
flannel_start 7 --etcd-prefix="$P3"
wait_ready 7
all_entries6 vxlan "$P3" 7 8 9
ping_all 0 7 8 9
pass "vxlan IPv6-only: no flannel.1, PublicIP 0.0.0.0 and only BackendV6Data; ping6 across all pairs, also after a restart"
flannel_stop_all 7 8 9

P4=/hg6only/network
scenario host-gw "$P4" '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00:3::/48","Backend":{"Type":"host-gw"}}' 0 10 11 12
[ -z "$(host_exec 10 ip route show proto 158)" ] || fail "IPv6-only host-gw wrote IPv4 routes"
flannel_stop 10
flannel_start 10 --etcd-prefix="$P4"
wait_ready 10
all_entries6 host-gw "$P4" 10 11 12
ping_all 0 10 11 12
pass "host-gw IPv6-only: IPv6 routes only; ping6 across all pairs, also after a restart"
flannel_stop_all 10 11 12
