#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vxlan backend: device attributes and the per-lease neighbour/FDB/route
# entries as upstream programs them; container-to-container traffic across
# every pair of hosts (ping, iperf3); zero packet loss across a restart of
# flanneld on either end; a host removed from etcd disappears from its
# peers; a host that left while a peer was down is cleaned up (converge)
# when the peer starts, and only our own entries are touched.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flannel.1  cni0 -- c1 (container)
#	 |-- h2 10.200.0.12 eth0  flannel.1  cni0 -- c2
#	 `-- h3 10.200.0.13 eth0  flannel.1  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v iperf3 >/dev/null || skip "iperf3 not installed (scripts/deps.sh)"

PROTO=158 # NL_RTPROT_FLANNEL in src/netlink/nl.h
DEV=flannel.1
CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'

topo_up 3
require_vxlan
etcd_start
etcd_put_config "$CONFIG"

# net_of <id>: the network address of the instance's subnet (10.244.5.1/24 -> 10.244.5.0).
net_of() {
	local s
	s=$(subnet_of "$1")
	ip_add "${s%/*}" -1
}
len_of() { local s; s=$(subnet_of "$1"); echo "${s#*/}"; }
# vtep_mac <id>: VtepMAC of the instance's lease in etcd.
vtep_mac() { key_value "$(subnet_key_of "$1")" | jq -r .BackendData.VtepMAC; }
dev_mac() { host_exec "$1" cat "/sys/class/net/$DEV/address"; }

# Kernel state of a host as iproute2 prints it, without trailing blanks.
neighs() { host_exec "$1" ip neigh show dev "$DEV" | sed 's/ *$//'; }
fdbs() { host_exec "$1" bridge fdb show dev "$DEV" | sed 's/ *$//'; }
routes() { host_exec "$1" ip route show proto "$PROTO" | sed 's/ *$//'; }
kstate() { printf '%s\n' "$(neighs "$1")" "$(fdbs "$1")" "$(routes "$1")"; }

# has_peer <host> <peer-id>: host holds the three entries for peer's lease.
has_peer() {
	local h=$1 p=$2 net mac pub
	net=$(net_of "$p")
	mac=$(vtep_mac "$p")
	pub=$(host_ip "$p")
	neighs "$h" | grep_q -x "$net lladdr $mac PERMANENT" &&
		fdbs "$h" | grep_q -x "$mac dst $pub self permanent" &&
		routes "$h" | grep_q -x "$(peer_route "$net" "$(len_of "$p")" via "$net" dev "$DEV" onlink)"
}

# no_entries <host> <net> <mac>: nothing for net (neighbour, route) or mac (FDB) on host.
no_entries() {
	local h=$1 net=$2 mac=$3
	! neighs "$h" | grep_q "^$net " &&
		! fdbs "$h" | grep_q "^$mac " &&
		! routes "$h" | grep_q "^$net/"
}

count_routes() { routes "$1" | wc -l; }

# -- a bad backend option stops start-up with a message naming the field
etcd_put_config '{"Network":"10.250.0.0/16","Backend":{"Type":"vxlan","VNI":"x"}}' /bad/network
flannel_start 1 --etcd-prefix=/bad/network
wait_until 10 proc_exited flanneld-1 || fail "flanneld with a bad VNI kept running"
assert_eq "$(proc_rc flanneld-1)" 1 "exit code with a bad VNI"
log_has 1 "VXLAN backend config" "VNI" || fail "no error naming VNI in the log"
host_exec 1 ip link show "$DEV" >/dev/null 2>&1 && fail "$DEV created despite the bad config"
pass "bad VNI: exit 1, message names the field, no device"

# -- three hosts
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do
	assert_eq "$(mtu_of "$i")" 1450 "FLANNEL_MTU of host $i"
	v=$(key_value "$(subnet_key_of "$i")")
	assert_eq "$(jq -r .BackendType <<<"$v")" vxlan "BackendType of host $i"
	assert_eq "$(jq -c .BackendData <<<"$v")" "{\"VNI\":1,\"VtepMAC\":\"$(dev_mac "$i")\"}" "BackendData of host $i"
done
d=$(host_exec 1 ip -d link show "$DEV")
for w in "mtu 1450" "vxlan id 1 local $(host_ip 1) dev eth0 " "dstport 8472 " "nolearning" "ttl auto" ",UP,"; do
	grep -qF -- "$w" <<<"$d" || fail "ip -d link show $DEV on h1 lacks '$w': $d"
done
grep -q "gbp" <<<"$d" && fail "gbp set on $DEV: $d"
mac1=$(dev_mac 1)
case $mac1 in
[0-9a-f][26ae]:*) ;;
*) fail "$DEV MAC $mac1 is not locally administered unicast" ;;
esac
assert_eq "$(host_exec 1 ip -4 -o addr show dev "$DEV" | awk '{print $4}')" "$(net_of 1)/32" "address of $DEV on h1"
pass "device: $(grep -o 'vxlan id.*dstport [0-9]*' <<<"$d"), mtu 1450, $(net_of 1)/32, MAC $mac1"

for h in 1 2 3; do
	for p in 1 2 3; do
		[ "$h" = "$p" ] && continue
		wait_until 10 has_peer "$h" "$p" || fail "h$h lacks the entries for host $p:
$(kstate "$h")"
	done
	assert_eq "$(count_routes "$h")" 2 "routes with proto $PROTO on h$h"
done
pass "every host has neighbour, FDB and on-link route (proto $PROTO) for both peers"

for i in 1 2 3; do container_up "$i"; done
ping_all_pairs 3
pass "container-to-container ping across all 6 ordered pairs"

# -- iperf3 for 3 s between containers 1 and 2
iperf3_run 1 2 3
pass "iperf3 container 1 -> 2 over vxlan for 3 s: $IPERF3_MBPS Mbit/s"

# -- continuous ping (10 ms) across a restart of flanneld on the receiving, then the sending end
ping_across_restart() { # from to restart-id
	local from=$1 to=$2 r=$3 out tx rx macb
	macb=$(dev_mac "$r")
	SPAWN_LOG=$TMP/ping-$r.log spawn "ping-$r" "$(container_ns "$from")" \
		ping -i 0.01 -c 600 -W 1 -w 30 "$(container_ip "$to")"
	sleep 1
	flannel_stop "$r"
	flannel_start "$r"
	wait_ready "$r"
	wait_until 30 proc_exited "ping-$r" || fail "ping did not finish"
	out=$(cat "$TMP/ping-$r.log")
	tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
	[ -n "$tx" ] && [ "$tx" -eq 600 ] || fail "ping: unexpected output: $out"
	assert_eq "$rx" "$tx" "ping replies across the restart of flanneld $r ($(tail -n 2 <<<"$out" | head -n 1))"
	assert_eq "$(dev_mac "$r")" "$macb" "MAC of $DEV on h$r after the restart"
	assert_eq "$(vtep_mac "$r")" "$macb" "VtepMAC of host $r after the restart"
	log_has "$r" "Returning existing device $DEV" || fail "flanneld $r did not reuse $DEV"
	pass "restart of flanneld $r during a 10 ms ping $from -> $to: $rx/$tx received, 0 lost, MAC kept"
}
ping_across_restart 1 2 2
ping_across_restart 1 3 1

# -- peers written straight into etcd: a vxlan one, a bad one, a non-vxlan
# one, and a second lease of the first one's host (same VtepMAC and
# PublicIP, as after a re-registration under a new subnet): the shared FDB
# entry stays until both leases are gone
mapfile -t fake < <(free_subnets 4)
knet() { local k; k=$(basename "$1"); echo "${k%-*}"; }
fnet=$(knet "${fake[0]}")
fnet3=$(knet "${fake[3]}")
fmac=0a:00:00:00:00:99
fval="{\"PublicIP\":\"10.200.0.99\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"$fmac\"}}"
etcdctl_sw put -- "${fake[0]}" "$fval" >/dev/null
etcdctl_sw put -- "${fake[1]}" '{"PublicIP":"10.200.0.98","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"zz:00"}}' >/dev/null
put_lease "${fake[2]}" 10.200.0.97
etcdctl_sw put -- "${fake[3]}" "$fval" >/dev/null
fake_in() { # host [net]
	local net=${2:-$fnet}
	neighs "$1" | grep_q -x "$net lladdr $fmac PERMANENT" &&
		fdbs "$1" | grep_q -x "$fmac dst 10.200.0.99 self permanent" &&
		routes "$1" | grep_q -x "$(peer_route "$net" 24 via "$net" dev "$DEV" onlink)"
}
for h in 1 2 3; do
	wait_until 10 fake_in "$h" || fail "h$h did not program the fake peer $fnet: $(kstate "$h")"
	wait_until 10 fake_in "$h" "$fnet3" || fail "h$h did not program the fake peer $fnet3: $(kstate "$h")"
	wait_until 10 log_has "$h" "bad vxlan BackendData" || fail "flanneld $h did not warn about the bad BackendData"
	assert_eq "$(count_routes "$h")" 4 "routes on h$h (the bad and the non-vxlan lease get none)"
	assert_eq "$(fdbs "$h" | grep -c "^$fmac ")" 1 "FDB entries for the shared $fmac on h$h"
	flannel_running "$h" || fail "flanneld $h died"
done
etcdctl_sw del -- "${fake[0]}" >/dev/null
for h in 1 2 3; do
	wait_until 10 eval "! routes $h | grep_q '^$fnet/'" || fail "h$h kept the route of the deleted fake peer"
	! neighs "$h" | grep_q "^$fnet " || fail "h$h kept the neighbour of the deleted fake peer"
	fake_in "$h" "$fnet3" || fail "h$h lost the shared FDB entry or $fnet3's entries: $(kstate "$h")"
done
etcdctl_sw del -- "${fake[3]}" >/dev/null
for h in 1 2 3; do
	wait_until 10 no_entries "$h" "$fnet3" "$fmac" || fail "h$h kept entries of the deleted fake peers: $(kstate "$h")"
done
etcdctl_sw del -- "${fake[1]}" >/dev/null
etcdctl_sw del -- "${fake[2]}" >/dev/null
pass "fake peers added and removed on every host (a shared FDB entry outlives one of its leases); bad and non-vxlan leases ignored"

# -- a write the kernel refuses is logged with its extended-ack text and
# retried. With flanneld 1 frozen, flannel.1 is set down and a plain UDP
# socket takes its port, so the self-healing cannot bring it up again
# (EADDRINUSE) and the nexthop for a new peer is refused (the kernel
# also drops h1's routes via flannel.1). Once the port is free, the retry
# converge restores every route.
proc_signal flanneld-1 STOP
host_exec 1 ip link set "$DEV" down
spawn port-holder "$(host_ns 1)" /usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 8472))
time.sleep(120)'
wait_until 5 eval 'host_exec 1 ss -Hlun "sport = :8472" | grep_q .' || fail "could not take UDP port 8472 on h1"
etcdctl_sw put -- "${fake[0]}" "$fval" >/dev/null
proc_signal flanneld-1 CONT
wait_until 10 log_has 1 "Failed to add nexthop for $fnet on $DEV: Nexthop device is not up" ||
	fail "no failure with the kernel's text in h1's log"
wait_until 10 log_has 1 "Will converge $DEV again" || fail "no retry announced"
proc_stop port-holder || true
wait_until 15 fake_in 1 || fail "h1 did not program the fake peer once $DEV could come up: $(kstate 1)"
for p in 2 3; do has_peer 1 "$p" || fail "h1 did not restore host $p's entries: $(kstate 1)"; done
etcdctl_sw del -- "${fake[0]}" >/dev/null
wait_until 10 no_entries 1 "$fnet" "$fmac" || fail "h1 kept the fake peer"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the retry"
pass "refused write: kernel text logged ($(grep -o 'Nexthop device is not up' "$(inst_dir 1)/flanneld.log" | head -n 1)), converge retried, all routes back"

# -- a host removed from etcd disappears from its peers
net3=$(net_of 3)
mac3=$(vtep_mac 3)
flannel_stop 3
etcdctl_sw del -- "$(subnet_key_of 3)" >/dev/null
for h in 1 2; do
	wait_until 10 no_entries "$h" "$net3" "$mac3" || fail "h$h kept entries of removed host 3:
$(kstate "$h")"
	assert_eq "$(count_routes "$h")" 1 "routes on h$h after host 3 left"
done
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
pass "host 3 removed from etcd: its neighbour, FDB entry and route are gone from h1 and h2"

# -- converge: host 2 leaves while flanneld 1 is down; entries on h1 that
# differ or are missing are fixed; other routes stay
net2=$(net_of 2)
mac2=$(vtep_mac 2)
flannel_stop 1
host_exec 1 ip route add 10.99.0.0/24 via "$SW_IP" proto boot
host_exec 1 ip route add 10.98.0.0/24 via "$SW_IP" proto static
has_peer 1 2 || fail "test setup: h1 lacks host 2's entries before host 2 leaves"
flannel_stop 2
etcdctl_sw del -- "$(subnet_key_of 2)" >/dev/null
# host 3 comes back while 1 is down, and its entries on h1 are tampered with
flannel_start 3
wait_ready 3
mac3=$(vtep_mac 3)
net3=$(net_of 3)
host_exec 1 ip neigh replace "$net3" lladdr 02:00:00:00:00:01 dev "$DEV" nud permanent
host_exec 1 ip route del "$net3/$(len_of 3)" proto "$PROTO" 2>/dev/null || true
flannel_start 1
wait_ready 1
wait_until 10 no_entries 1 "$net2" "$mac2" || fail "h1 kept the entries of host 2 that left while it was down:
$(kstate 1)"
wait_until 10 has_peer 1 3 || fail "h1 did not fix host 3's entries"
assert_eq "$(count_routes 1)" 1 "routes with proto $PROTO on h1"
host_exec 1 ip route show 10.99.0.0/24 proto boot | grep_q "via $SW_IP" || fail "converge removed a proto boot route"
host_exec 1 ip route show 10.98.0.0/24 proto static | grep_q "via $SW_IP" || fail "converge removed a proto static route"
log_has 1 "Converged $DEV" "stale entries removed" || fail "no converge summary in h1's log"
container_ping 1 3 || fail "container 1 cannot ping container 3 after the converge"
container_ping 3 1 || fail "container 3 cannot ping container 1 after the converge"
pass "converge on start: stale host 2 removed, host 3 fixed and added, other routes untouched"

# -- 200 leases at once: programmed by one converge (several netlink
# sends) on a starting host and by watch events on a running one, then removed
bulk_body() { # put|del key...: an etcd txn body (JSON gateway, base64 keys and values)
	local op=$1 k x v
	shift
	for k in "$@"; do
		x=${k##*/10.244.}
		x=${x%%.*}
		if [ "$op" = put ]; then
			v=$(printf '{"PublicIP":"10.200.1.%d","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:01:00:%02x"}}' "$x" "$x")
			printf '{"requestPut":{"key":"%s","value":"%s"}}\n' "$(printf %s "$k" | base64 -w0)" "$(printf %s "$v" | base64 -w0)"
		else
			printf '{"requestDeleteRange":{"key":"%s"}}\n' "$(printf %s "$k" | base64 -w0)"
		fi
	done | jq -cs '{success: .}'
}
bulk() { # put|del: all of $bulk, 100 per txn (etcd allows 128 operations)
	local i
	for ((i = 0; i < ${#bulk[@]}; i += 100)); do
		bulk_body "$1" "${bulk[@]:i:100}" | sw_exec curl -sf -m 10 -X POST "http://127.0.0.1:2379/v3/kv/txn" -d @- >/dev/null ||
			fail "etcd txn ($1) failed"
	done
}
counts_are() { # host n: n routes, neighbours and FDB entries
	[ "$(count_routes "$1")" -eq "$2" ] && [ "$(neighs "$1" | wc -l)" -eq "$2" ] && [ "$(fdbs "$1" | wc -l)" -eq "$2" ]
}
mapfile -t bulk < <(free_subnets 200)
assert_eq "${#bulk[@]}" 200 "free subnets for the bulk leases"
flannel_stop 1
bulk put
flannel_start 1
wait_ready 1
wait_until 20 counts_are 1 201 || fail "h1: $(count_routes 1) routes, $(neighs 1 | wc -l) neighbours, $(fdbs 1 | wc -l) FDB entries; expected 201 each"
wait_until 20 counts_are 3 201 || fail "h3: $(count_routes 3) routes, $(neighs 3 | wc -l) neighbours, $(fdbs 3 | wc -l) FDB entries; expected 201 each"
log_has 1 "Converged $DEV: 201 subnets, 200 added" || fail "h1 did not program the 200 leases in one converge"
x=${bulk[0]##*/10.244.}
x=${x%%.*}
grep -qx "$(peer_route "10.244.$x.0" 24 via "10.244.$x.0" dev "$DEV" onlink)" <<<"$(routes 1)" || fail "h1 lacks the route for 10.244.$x.0/24"
printf -v m '0a:00:00:01:00:%02x' "$x"
grep -qx "$m dst 10.200.1.$x self permanent" <<<"$(fdbs 3)" || fail "h3 lacks the FDB entry $m dst 10.200.1.$x"
container_ping 1 3 || fail "container 1 cannot ping container 3 with 200 more leases"
# -- the same from a fresh device: the pages are programmed as they are
# read, the converge after the whole list finds nothing left to write
flannel_stop 1
host_exec 1 ip link del "$DEV"
flannel_start 1
wait_ready 1
wait_until 20 counts_are 1 201 || fail "h1 from a fresh device: $(count_routes 1) routes, $(neighs 1 | wc -l) neighbours, $(fdbs 1 | wc -l) FDB entries; expected 201 each"
wait_until 10 log_has 1 "Converged $DEV: 201 subnets" || fail "no converge on h1"
log_has 1 "Programmed 201 subnets on $DEV while the leases were being read" ||
	fail "h1 did not program the leases while listing: $(grep -E 'Programmed|Converged' "$(inst_dir 1)/flanneld.log")"
log_has 1 "Converged $DEV: 201 subnets, nothing to change" ||
	fail "the converge after the listing rewrote entries: $(grep Converged "$(inst_dir 1)/flanneld.log")"
log_has 1 "Missed rtnetlink notifications" && fail "h1's monitor overflowed programming 201 subnets"
wait_until 10 container_ping 1 3 || fail "container 1 cannot ping container 3 after a fresh start"
pass "fresh device, 201 leases: programmed while listing, nothing left for the converge"
bulk del
wait_until 20 counts_are 1 1 || fail "h1 kept bulk entries: $(count_routes 1) routes"
wait_until 20 counts_are 3 1 || fail "h3 kept bulk entries: $(count_routes 3) routes"
flannel_running 1 && flannel_running 3 || fail "a flanneld died during the bulk test"
pass "200 leases: one converge on start (h1), watch events (h3); all removed again"

# -- a second network on the same hosts: VNI 2 with DirectRouting. The
# peers share eth0's segment, so they get plain routes via their PublicIP
# and no neighbour or FDB entries; the two daemons on a host leave each
# other's routes alone although both carry proto $PROTO.
DR=/dr/network
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan","VNI":2,"DirectRouting":true}}' "$DR"
# flannel.2 exists already: on h1 compatible (kept with its MAC, MTU fixed),
# on h3 with another port (recreated)
host_exec 1 ip link add flannel.2 address 02:00:00:00:02:01 mtu 1400 type vxlan id 2 dev eth0 local "$(host_ip 1)" dstport 8472
host_exec 3 ip link add flannel.2 address 02:00:00:00:02:03 type vxlan id 2 dev eth0 local "$(host_ip 3)" dstport 4789
for i in 1 3; do flannel_start "${i}b" --etcd-prefix="$DR" --healthz-port=9912; done
for i in 1 3; do wait_ready "${i}b"; done
assert_eq "$(host_exec 1 cat /sys/class/net/flannel.2/address)" 02:00:00:00:02:01 "MAC of the kept flannel.2 on h1"
assert_eq "$(host_exec 1 cat /sys/class/net/flannel.2/mtu)" 1450 "MTU of the kept flannel.2 on h1"
log_has 1b "Returning existing device flannel.2" || fail "flanneld 1b did not keep flannel.2"
log_has 3b '"flannel.2" already exists with incompatible configuration: port; recreating device' ||
	fail "flanneld 3b did not say why it recreated flannel.2"
[ "$(host_exec 3 cat /sys/class/net/flannel.2/address)" != 02:00:00:00:02:03 ] || fail "flannel.2 on h3 not recreated"
host_exec 3 ip -d link show flannel.2 | grep_q "dstport 8472 " || fail "recreated flannel.2 on h3 has the wrong port"
dr_route() { # host peer-id: the direct route to the peer's second-network subnet
	routes "$1" | grep_q -x "$(peer_route "$(net_of "${2}b")" "$(len_of "${2}b")" via "$(host_ip "$2")" dev eth0)"
}
wait_until 10 dr_route 1 3 || fail "h1 lacks the direct route to host 3's $(subnet_of 3b): $(routes 1)"
wait_until 10 dr_route 3 1 || fail "h3 lacks the direct route to host 1's $(subnet_of 1b): $(routes 3)"
[ -z "$(host_exec 1 ip neigh show dev flannel.2)$(host_exec 1 bridge fdb show dev flannel.2)" ] ||
	fail "neighbour or FDB entries on flannel.2 with DirectRouting"
host_exec 1 ip -d link show flannel.2 | grep_q "vxlan id 2 " || fail "flannel.2 is not VNI 2"
host_exec 1 ping -c 1 -W 2 "$(net_of 3b)" >/dev/null || fail "h1 cannot reach $(net_of 3b) on h3 directly"
flannel_stop 1
flannel_start 1
wait_ready 1
has_peer 1 3 || fail "h1 lost host 3's entries after a restart"
dr_route 1 3 || fail "flanneld 1 (10.244/16) deleted the route of the 10.245/16 network: $(routes 1)"
flannel_stop 1b
flannel_start 1b --etcd-prefix="$DR" --healthz-port=9912
wait_ready 1b
has_peer 1 3 || fail "flanneld 1b (10.245/16) deleted routes of the 10.244/16 network: $(routes 1)"
pass "DirectRouting: plain routes via the peer, no neighbour/FDB; two networks on one host coexist; existing device kept (MAC, MTU fixed) or recreated (other port)"

flannel_stop_all 1 3 1b 3b
host_exec 1 ip link show "$DEV" >/dev/null || fail "$DEV gone after SIGTERM"
has_peer 1 3 || fail "h1 lost host 3's entries after SIGTERM"
dr_route 1 3 || fail "h1 lost the direct route after SIGTERM"
pass "SIGTERM leaves devices and routes in place"

# -- --nexthop-objects=false: upstream's routes, each with its own gateway
# and no nexthop object; switching either way is converged in place
classic_route() { # host peer-id
	local net
	net=$(net_of "$2")
	routes "$1" | grep_q -x "$net/$(len_of "$2") via $net dev $DEV onlink"
}
nexthops_on() { host_exec "$1" ip nexthop show dev "$DEV" 2>/dev/null | grep -c . || true; }
assert_eq "$(nexthops_on 1)" 1 "nexthop objects on h1's $DEV (host 3's)"
flannel_start 1 --nexthop-objects=false
wait_ready 1
wait_until 10 classic_route 1 3 || fail "no upstream-style route to host 3 with --nexthop-objects=false: $(routes 1)"
wait_until 10 eval '[ "$(nexthops_on 1)" = 0 ]' || fail "the nexthop objects stayed: $(host_exec 1 ip nexthop show)"
container_ping 1 3 || fail "container 1 cannot ping container 3 over plain routes"
flannel_stop 1
flannel_start 1
wait_ready 1
wait_until 10 has_peer 1 3 || fail "h1 did not switch back to a nexthop route: $(routes 1)"
container_ping 1 3 || fail "container 1 cannot ping container 3 after switching back"
flannel_stop 1
pass "--nexthop-objects=false gives upstream's plain on-link routes; switching both ways converges, ping works"
