#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ipip backend (in a qemu guest when this kernel has no ipip): upstream's
# lease value; flannel.ipip with local = the interface address and any
# remote, MTU 1480; per peer a route via its PublicIP on-link through the
# device; container-to-container ping across every pair, iperf3; no packet
# lost across a restart (10 ms pings); a deleted device and route come back;
# a removed host disappears; a device with the wrong local is recreated, a
# non-ipip device with the name is an error; DirectRouting routes on eth0.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flannel.ipip  cni0 -- c1 (container)
#	 |-- h2 10.200.0.12 eth0  flannel.ipip  cni0 -- c2
#	 `-- h3 10.200.0.13 eth0  flannel.ipip  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/guest.sh"
in_guest_unless_kernel_has ipip
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

PROTO=158 # NL_RTPROT_FLANNEL in src/netlink/nl.h
CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}}'

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
# has_peer <host> <peer-id>: host routes peer's subnet via peer's address on-link through flannel.ipip.
has_peer() {
	routes "$1" | grep_q -x "$(peer_route "$(net_of "$2")" "$(len_of "$2")" via "$(host_ip "$2")" dev flannel.ipip onlink)"
}
no_route() { ! routes "$1" | grep_q "^$2/"; }
dev_ok() { # host: flannel.ipip as upstream makes it
	host_exec "$1" ip -d -o link show flannel.ipip 2>/dev/null | grep_q "ipip remote any local $(host_ip "$1") "
}

for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i" 60; done
for i in 1 2 3; do
	assert_eq "$(mtu_of "$i")" 1480 "FLANNEL_MTU of host $i (eth0's 1500 minus 20)"
	assert_eq "$(key_value "$(subnet_key_of "$i")")" \
		"{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":null,\"BackendType\":\"ipip\"}" "lease value of host $i"
	dev_ok "$i" || fail "flannel.ipip on h$i: $(host_exec "$i" ip -d link show flannel.ipip)"
	assert_eq "$(host_exec "$i" cat /sys/class/net/flannel.ipip/mtu)" 1480 "MTU of flannel.ipip on h$i"
	host_exec "$i" ip -o addr show dev flannel.ipip | grep_q "inet $(net_of "$i")/32" ||
		fail "flannel.ipip on h$i lacks $(net_of "$i")/32"
done
pass "lease value as upstream writes it; flannel.ipip: remote any, local = eth0's address, MTU 1480, <subnet>.0/32"

for h in 1 2 3; do
	for p in 1 2 3; do
		[ "$h" = "$p" ] && continue
		wait_until 20 has_peer "$h" "$p" || fail "h$h lacks the route to host $p: $(routes "$h")"
	done
	assert_eq "$(count_routes "$h")" 2 "routes with proto $PROTO on h$h"
done
pass "every host routes both peers' subnets via their PublicIP, on-link through flannel.ipip"

for i in 1 2 3; do container_up "$i"; done
for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		container_ping "$a" "$b" || fail "container $a cannot ping container $b ($(container_ip "$b"))"
	done
done
pass "container-to-container ping across all 6 ordered pairs"

c2=$(container_ip 2)
SPAWN_LOG=$TMP/iperf3-server.log spawn iperf3-server "$(container_ns 2)" iperf3 -s -1 -B "$c2"
wait_until 10 container_exec 2 sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
container_exec 1 timeout 60 iperf3 -c "$c2" -t 3 -J >"$TMP/iperf3.json" || fail "iperf3 failed: $(tail -n 5 "$TMP/iperf3.json")"
mbps=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/iperf3.json")
((mbps > 0)) || fail "iperf3 measured $mbps Mbit/s"
pass "iperf3 container 1 -> 2 over ipip for 3 s: $mbps Mbit/s (emulated CPU when in the guest)"

# -- continuous ping (10 ms) across a restart of flanneld on the receiving end
replies() { grep -c 'bytes from' "$1" 2>/dev/null || true; }
ping_across_restart() { # from to restart-id
	local from=$1 to=$2 r=$3 out tx rx log=$TMP/ping-$3.log
	SPAWN_LOG=$log spawn "ping-$r" "$(container_ns "$from")" \
		ping -i 0.01 -c 300 -W 2 -w 90 "$(container_ip "$to")"
	wait_until 10 eval '[ "$(replies "$log")" -ge 10 ]' || fail "ping $from -> $to did not start: $(cat "$log")"
	flannel_stop "$r"
	flannel_start "$r"
	wait_ready "$r" 60
	wait_until 100 proc_exited "ping-$r" || fail "ping did not finish"
	out=$(cat "$log")
	tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
	[ -n "$tx" ] && [ "$tx" -eq 300 ] || fail "ping: unexpected output: $(tail -n 3 <<<"$out")"
	assert_eq "$rx" "$tx" "ping replies across the restart of flanneld $r"
	log_has "$r" "Converged routes via flannel.ipip" "added or fixed" &&
		fail "flanneld $r rewrote routes on restart: $(grep Converged "$(inst_dir "$r")/flanneld.log")"
	log_has "$r" "Returning existing device flannel.ipip" || fail "flanneld $r did not keep its device"
	pass "restart of flanneld $r during a 10 ms ping $from -> $to: $rx/$tx received, 0 lost, nothing rewritten"
}
ping_across_restart 1 2 2

# -- self-healing: a route, then the device, deleted by hand
net2=$(net_of 2)
host_exec 1 ip route del "$net2/$(len_of 2)"
wait_until 10 has_peer 1 2 || fail "h1 did not restore the deleted route to host 2: $(routes 1)"
log_has 1 "The route to $net2/$(len_of 2) was deleted; restoring" || fail "no repair message for the route"
host_exec 1 ip link del flannel.ipip
wait_until 20 has_peer 1 2 || fail "h1 did not restore flannel.ipip and its routes: $(routes 1)"
wait_until 10 has_peer 1 3 || fail "h1 did not restore the route to host 3: $(routes 1)"
dev_ok 1 || fail "recreated flannel.ipip: $(host_exec 1 ip -d link show flannel.ipip)"
log_has 1 "flannel.ipip was deleted; recreating it" || fail "no message for the deleted device"
wait_until 20 container_ping 1 2 || fail "container 1 cannot ping container 2 after the repairs"
pass "a route and the device deleted by hand are restored"

# -- a host removed from etcd disappears from its peers
net3=$(net_of 3)
flannel_stop 3
etcdctl_sw del -- "$(subnet_key_of 3)" >/dev/null
for h in 1 2; do
	wait_until 20 no_route "$h" "$net3" || fail "h$h kept the route to removed host 3: $(routes "$h")"
	log_has "$h" "Subnet removed: $net3/" || fail "flanneld $h did not log the removal"
	assert_eq "$(count_routes "$h")" 1 "routes on h$h after host 3 left"
done
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
pass "host 3 removed from etcd: its route is gone from h1 and h2"

# -- the device as found: wrong local is recreated, another kind is an error
host_exec 3 ip link del flannel.ipip
host_exec 3 ip link add flannel.ipip type dummy
flannel_start 3
wait_until 30 proc_exited flanneld-3 || fail "flanneld 3 ran with a dummy flannel.ipip"
assert_eq "$(proc_rc flanneld-3)" 1 "exit code with a non-ipip flannel.ipip"
log_has 3 "flannel.ipip exists but is a dummy device, not ipip" || fail "no error naming the dummy device"
host_exec 3 ip link del flannel.ipip
host_exec 3 ip link add flannel.ipip type ipip local 10.200.0.99
flannel_start 3
wait_ready 3 60
dev_ok 3 || fail "flanneld 3 kept a flannel.ipip with local 10.200.0.99"
log_has 3 "flannel.ipip has local 10.200.0.99 and remote any" "recreating it" || fail "no message for the recreated device"
wait_until 20 has_peer 1 3 || fail "h1 did not route host 3 again: $(routes 1)"
pass "a non-ipip flannel.ipip is an error (exit 1); one with the wrong local is recreated"

# -- DirectRouting: peers on eth0's network get a plain route on eth0
flannel_stop_all 1 2 3
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"ipip","DirectRouting":true}}'
for i in 1 2; do flannel_start "$i"; done
for i in 1 2; do wait_ready "$i" 60; done
wait_until 20 eval "routes 1 | grep_q -x '$(peer_route "$(net_of 2)" "$(len_of 2)" via "$(host_ip 2)" dev eth0)'" ||
	fail "h1 lacks the direct route to host 2: $(routes 1)"
log_has 1 "IPIP config: DirectRouting=true" || fail "no config line"
wait_until 20 container_ping 1 2 || fail "container 1 cannot ping container 2 with DirectRouting"
flannel_stop_all 1 2
has_peer 3 1 || routes 3 | grep_q "^$(net_of 1)/" || fail "h3 lost its routes after SIGTERM"
pass "DirectRouting: a plain route via the peer on eth0; SIGTERM leaves routes in place"
