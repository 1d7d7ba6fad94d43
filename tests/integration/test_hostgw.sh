#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# host-gw backend: upstream's lease value and MTU; per peer a route to its
# subnet via its PublicIP on eth0 (through a nexthop object, or upstream's
# plain route with --nexthop-objects=false); container-to-container ping
# across every pair, iperf3; no packet lost across a restart (10 ms pings);
# routes deleted by hand come back; a peer that is not on a directly
# connected network is skipped with a warning and programmed once it is;
# a PublicIP behind NAT is refused; a host removed from etcd disappears;
# converge on start removes what left and replaces foreign routes to our
# peers, touching nothing else.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  cni0 -- c1 (container)
#	 |-- h2 10.200.0.12 eth0  cni0 -- c2
#	 `-- h3 10.200.0.13 eth0  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

PROTO=158 # NL_RTPROT_FLANNEL in src/netlink/nl.h
CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'

topo_up 3
etcd_start
etcd_put_config "$CONFIG"

net_of() {
	local s
	s=$(subnet_of "$1")
	ip_add "${s%/*}" -1
}
len_of() { local s; s=$(subnet_of "$1"); echo "${s#*/}"; }
routes() { host_exec "$1" ip route show proto "$PROTO" | sed 's/ *$//'; }
count_routes() { routes "$1" | wc -l; }
# has_peer <host> <peer-id>: host routes peer's subnet via peer's address on eth0.
has_peer() {
	routes "$1" | grep_q -x "$(peer_route "$(net_of "$2")" "$(len_of "$2")" via "$(host_ip "$2")" dev eth0)"
}
no_route() { ! routes "$1" | grep_q "^$2/"; }

# -- a PublicIP that is on no interface (NAT) cannot work with host-gw
flannel_start 1 --public-ip=10.200.0.99
wait_until 10 proc_exited flanneld-1 || fail "flanneld with a NAT PublicIP kept running"
assert_eq "$(proc_rc flanneld-1)" 1 "exit code with a PublicIP behind NAT"
log_has 1 "10.200.0.99" "probably you're on a NAT, which is not supported by host-gw backend" ||
	fail "no NAT error in the log: $(tail -n 3 "$(inst_dir 1)/flanneld.log")"
pass "PublicIP 10.200.0.99 on no interface: exit 1, upstream's NAT message"

# -- three hosts
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do
	assert_eq "$(mtu_of "$i")" 1500 "FLANNEL_MTU of host $i (the MTU of eth0)"
	assert_eq "$(key_value "$(subnet_key_of "$i")")" \
		"{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}" "lease value of host $i"
done
pass "lease value as upstream writes it, FLANNEL_MTU 1500"

for h in 1 2 3; do
	for p in 1 2 3; do
		[ "$h" = "$p" ] && continue
		wait_until 10 has_peer "$h" "$p" || fail "h$h lacks the route to host $p: $(routes "$h")"
	done
	assert_eq "$(count_routes "$h")" 2 "routes with proto $PROTO on h$h"
done
for h in 1 2 3; do
	for p in 1 2 3; do
		[ "$h" = "$p" ] && continue
		log_has "$h" "Subnet added: $(net_of "$p")/$(len_of "$p") via $(host_ip "$p")" ||
			fail "flanneld $h did not log upstream's 'Subnet added' for host $p"
	done
done
nh=$(host_exec 1 ip nexthop show id "$(ip_int "$(net_of 2)")")
grep -q "via $(host_ip 2) dev eth0" <<<"$nh" || fail "nexthop for host 2 on h1: $nh"
pass "every host routes both peers' subnets via their PublicIP on eth0 (nexthop objects, proto $PROTO)"

for i in 1 2 3; do container_up "$i"; done
ping_all_pairs 3
pass "container-to-container ping across all 6 ordered pairs"

iperf3_run 1 2 3
pass "iperf3 container 1 -> 2 over host-gw for 3 s: $IPERF3_MBPS Mbit/s"

# -- continuous ping (10 ms) across a restart of flanneld on the receiving, then the sending end
replies() { grep -c 'bytes from' "$1" 2>/dev/null || true; }
ping_across_restart() { # from to restart-id
	local from=$1 to=$2 r=$3 out tx rx log=$TMP/ping-$3.log
	SPAWN_LOG=$log spawn "ping-$r" "$(container_ns "$from")" \
		ping -i 0.01 -c 500 -W 1 -w 30 "$(container_ip "$to")"
	wait_until 5 eval '[ "$(replies "$log")" -ge 20 ]' || fail "ping $from -> $to did not start: $(cat "$log")"
	flannel_stop "$r"
	flannel_start "$r"
	wait_ready "$r"
	wait_until 30 proc_exited "ping-$r" || fail "ping did not finish"
	out=$(cat "$log")
	tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
	[ -n "$tx" ] && [ "$tx" -eq 500 ] || fail "ping: unexpected output: $(tail -n 3 <<<"$out")"
	assert_eq "$rx" "$tx" "ping replies across the restart of flanneld $r"
	log_has "$r" "Converged routes via eth0" "added or fixed" && fail "flanneld $r rewrote routes on restart: $(grep Converged "$(inst_dir "$r")/flanneld.log")"
	pass "restart of flanneld $r during a 10 ms ping $from -> $to: $rx/$tx received, 0 lost, nothing rewritten"
}
ping_across_restart 1 2 2
ping_across_restart 1 3 1

# -- self-healing: a route, then a nexthop, deleted by hand
net2=$(net_of 2)
host_exec 1 ip route del "$net2/$(len_of 2)"
wait_until 5 has_peer 1 2 || fail "h1 did not restore the deleted route to host 2: $(routes 1)"
log_has 1 "The route to $net2/$(len_of 2) was deleted; restoring" || fail "no repair message for the route"
host_exec 1 ip nexthop del id "$(ip_int "$net2")"
wait_until 5 has_peer 1 2 || fail "h1 did not restore the deleted nexthop to host 2: $(routes 1)"
log_has 1 "The nexthop for $net2/$(len_of 2) was deleted; restoring" || fail "no repair message for the nexthop"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the repairs"
pass "a route and a nexthop deleted by hand are restored"

# -- a peer on no directly connected network is skipped, and routed once it is
mapfile -t fake < <(free_subnets 2)
knet() { local k; k=$(basename "$1"); echo "${k%-*}"; }
fnet=$(knet "${fake[0]}")
etcdctl_sw put -- "${fake[0]}" '{"PublicIP":"10.201.0.5","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
etcdctl_sw put -- "${fake[1]}" '{"PublicIP":"10.200.0.97","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:00:97"}}' >/dev/null
for h in 1 2 3; do
	wait_until 10 log_has "$h" "Skipping subnet $fnet/24: its PublicIP 10.201.0.5 is not on a network directly connected to eth0" ||
		fail "flanneld $h did not warn about the unreachable peer"
	no_route "$h" "$fnet" || fail "h$h has a route for the unreachable peer: $(routes "$h")"
	assert_eq "$(count_routes "$h")" 2 "routes on h$h (the vxlan lease and the unreachable one get none)"
	flannel_running "$h" || fail "flanneld $h died"
done
host_exec 1 ip addr add 10.201.0.1/24 dev eth0
wait_until 10 eval "routes 1 | grep_q -x '$(peer_route "$fnet" 24 via 10.201.0.5 dev eth0)'" ||
	fail "h1 did not route $fnet once 10.201.0.5 was on a connected network: $(routes 1)"
log_has 1 "Subnet $fnet/24: PublicIP 10.201.0.5 is directly reachable now" || fail "no message when the peer became reachable"
etcdctl_sw del -- "${fake[0]}" >/dev/null
etcdctl_sw del -- "${fake[1]}" >/dev/null
wait_until 10 no_route 1 "$fnet" || fail "h1 kept the route of the deleted fake peer"
host_exec 1 ip addr del 10.201.0.1/24 dev eth0
pass "unreachable peer skipped with a warning naming it, routed once reachable; a vxlan lease ignored"

# -- a lease outside the network (here: the underlay's own subnet) is never routed
bad=$ETCD_PREFIX/subnets/10.200.0.0-24
etcdctl_sw put -- "$bad" '{"PublicIP":"10.200.0.13","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
for h in 1 2; do
	wait_until 10 log_has "$h" "Ignoring lease $bad: 10.200.0.0/24 is outside the network 10.244.0.0/16" ||
		fail "flanneld $h did not refuse the lease outside the network"
	host_exec "$h" ip route show 10.200.0.0/24 | grep_q "proto kernel scope link" ||
		fail "h$h lost its connected route: $(host_exec "$h" ip route show 10.200.0.0/24)"
done
etcdctl_sw del -- "$bad" >/dev/null
container_ping 1 2 || fail "container 1 cannot ping container 2 after the lease outside the network"
pass "a lease for the underlay's own subnet is ignored with a warning; the connected route stays"

# -- a host removed from etcd disappears from its peers
net3=$(net_of 3)
flannel_stop 3
etcdctl_sw del -- "$(subnet_key_of 3)" >/dev/null
for h in 1 2; do
	wait_until 10 no_route "$h" "$net3" || fail "h$h kept the route to removed host 3: $(routes "$h")"
	log_has "$h" "Subnet removed: $net3/" || fail "flanneld $h did not log the removal"
	assert_eq "$(count_routes "$h")" 1 "routes on h$h after host 3 left"
done
host_exec 1 ip nexthop show id "$(ip_int "$net3")" >/dev/null 2>&1 && fail "h1 kept host 3's nexthop"
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
pass "host 3 removed from etcd: its route and nexthop are gone from h1 and h2"

# -- converge on start: host 2 leaves while flanneld 1 is down; host 3
# comes back and a foreign route to its subnet is in the way; other
# routes stay
net2=$(net_of 2)
flannel_stop 1
host_exec 1 ip route add 10.99.0.0/24 via "$SW_IP" proto boot
flannel_stop 2
etcdctl_sw del -- "$(subnet_key_of 2)" >/dev/null
flannel_start 3
wait_ready 3
net3=$(net_of 3)
host_exec 1 ip route replace "$net3/$(len_of 3)" via "$SW_IP" proto boot
flannel_start 1
wait_ready 1
wait_until 10 no_route 1 "$net2" || fail "h1 kept the route of host 2 that left while it was down: $(routes 1)"
wait_until 10 has_peer 1 3 || fail "h1 did not route host 3: $(routes 1)"
assert_eq "$(host_exec 1 ip route show "$net3/$(len_of 3)" | wc -l)" 1 "routes to host 3's subnet on h1"
host_exec 1 ip route show 10.99.0.0/24 proto boot | grep_q "via $SW_IP" || fail "converge removed a proto boot route"
log_has 1 "Converged routes via eth0" "stale entries removed" || fail "no converge summary in h1's log"
container_ping 1 3 || fail "container 1 cannot ping container 3 after the converge"
pass "converge on start: stale host 2 removed, foreign route to host 3 replaced, other routes untouched"

# -- --nexthop-objects=false: upstream's route with its own gateway
flannel_stop 1
flannel_start 1 --nexthop-objects=false
wait_ready 1
wait_until 10 eval "routes 1 | grep_q -x '$net3/$(len_of 3) via $(host_ip 3) dev eth0'" ||
	fail "no upstream-style route to host 3 with --nexthop-objects=false: $(routes 1)"
wait_until 10 eval '! host_exec 1 ip nexthop show id "$(ip_int "$net3")" >/dev/null 2>&1' ||
	fail "the nexthop object stayed"
container_ping 1 3 || fail "container 1 cannot ping container 3 over plain routes"
# The kernel drops plain routes via a gateway when the address that made it
# on-link goes, without a notification: the address coming back repairs them.
host_exec 1 ip addr del "$(host_ip 1)/24" dev eth0
host_exec 1 ip addr add "$(host_ip 1)/24" dev eth0
host_exec 1 ip route replace default via "$SW_IP"
wait_until 10 eval "routes 1 | grep_q -x '$net3/$(len_of 3) via $(host_ip 3) dev eth0'" ||
	fail "the plain route to host 3 did not come back with the address: $(routes 1)"
container_ping 1 3 || fail "container 1 cannot ping container 3 after the address came back"
flannel_stop_all 1 3
has_peer 3 1 || fail "h3 lost its route to host 1 after SIGTERM"
pass "--nexthop-objects=false gives upstream's plain route, restored after the address went and came back; SIGTERM leaves routes in place"
