#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vxlan self-healing: whatever someone else does to flanneld's kernel state
# (route, its nexthop object, neighbour or FDB entry deleted or changed,
# address removed, device set down, given another MTU or MAC, or deleted;
# the underlay link flapping; notifications lost to ENOBUFS) is restored
# within 1 s and container traffic flows again. A new VTEP MAC is
# published in our lease and peers follow it.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flannel.1 (+ flannel.2, DirectRouting)  cni0 -- c1
#	 `-- h2 10.200.0.12 eth0  flannel.1 (+ flannel.2, DirectRouting)  cni0 -- c2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

PROTO=158 # NL_RTPROT_FLANNEL in src/nl.h
DEV=flannel.1
HEAL_MS=1000 # the issue's bound for every repair

topo_up 2
host_exec 1 ip link add probe0 type vxlan id 9 dstport 4789 2>/dev/null ||
	skip "no vxlan support in this kernel"
host_exec 1 ip link del probe0
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
DR=/dr/network
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan","VNI":2,"DirectRouting":true}}' "$DR"

for i in 1 2; do
	flannel_start "$i"
	flannel_start "${i}b" --etcd-prefix="$DR" --healthz-port=9912
done
for i in 1 2 1b 2b; do wait_ready "$i"; done
for i in 1 2; do container_up "$i"; done

net_of() { local s; s=$(subnet_of "$1"); ip_add "${s%/*}" -1; }
len_of() { local s; s=$(subnet_of "$1"); echo "${s#*/}"; }
vtep_mac() { key_value "$(subnet_key_of "$1")" | jq -r .BackendData.VtepMAC; }
dev_mac() { host_exec "$1" cat "/sys/class/net/$DEV/address"; }

# The entries h1 must hold for host 2, as iproute2 prints them. Read the
# kernel only: each check must be quick, the repairs are timed.
set_expected() {
	NET2=$(net_of 2)
	MAC2=$(vtep_mac 2)
	NEIGH2="$NET2 lladdr $MAC2 PERMANENT"
	FDB2="$MAC2 dst $(host_ip 2) self permanent"
	ROUTE2=$(peer_route "$NET2" "$(len_of 2)" via "$NET2" dev "$DEV" onlink)
	DRROUTE2=$(peer_route "$(net_of 2b)" "$(len_of 2b)" via "$(host_ip 2)" dev eth0)
}
neigh_ok() { host_exec 1 ip neigh show dev "$DEV" | sed 's/ *$//' | grep -qx "$NEIGH2"; }
fdb_ok() { host_exec 1 bridge fdb show dev "$DEV" | sed 's/ *$//' | grep -qx "$FDB2"; }
route_ok() { host_exec 1 ip route show proto "$PROTO" | sed 's/ *$//' | grep -qx "$ROUTE2"; }
drroute_ok() { host_exec 1 ip route show proto "$PROTO" | sed 's/ *$//' | grep -qx "$DRROUTE2"; }
peer_ok() { neigh_ok && fdb_ok && route_ok; }
addr_ok() { host_exec 1 ip -4 -o addr show dev "$DEV" | grep -q " $(net_of 1)/32 "; }
dev_ok() { host_exec 1 ip link show "$DEV" 2>/dev/null | grep -q ",UP"; }
mtu_ok() { [ "$(host_exec 1 cat /sys/class/net/$DEV/mtu 2>/dev/null)" = 1450 ]; }

# within_ms <ms> <check...>: poll check every 10 ms until it holds, at most
# ms; ELAPSED is when the passing check had returned (an upper bound, which
# includes the check's own run time).
ELAPSED=
within_ms() {
	local ms=$1 start now
	shift
	start=$(now_us)
	while :; do
		if "$@"; then
			ELAPSED=$((($(now_us) - start) / 1000))
			return 0
		fi
		now=$(now_us)
		((now - start < ms * 1000)) || return 1
		sleep 0.01
	done
}

# damage <what> <check> <command...>: break something on h1, see it repaired
# within HEAL_MS, then see container traffic flow.
damage() {
	local what=$1 check=$2
	shift 2
	"$check" || fail "before '$what': the state to break is not there"
	"$@" || fail "could not $what"
	within_ms "$HEAL_MS" "$check" || fail "'$what' was not repaired within $HEAL_MS ms"
	local took=$ELAPSED
	peer_ok && addr_ok && dev_ok || fail "after '$what': h1 lacks other entries"
	container_ping 1 2 || fail "container 1 cannot ping container 2 after '$what'"
	flannel_running 1 || fail "flanneld 1 died after '$what'"
	pass "$what: repaired in $took ms, ping works"
}

set_expected
wait_until 10 peer_ok || fail "h1 never got host 2's entries"
wait_until 10 drroute_ok || fail "h1 never got host 2's direct route"
container_ping 1 2 || fail "container 1 cannot ping container 2"
MAC1=$(dev_mac 1)

damage "delete the route" route_ok host_exec 1 ip route del "$NET2/$(len_of 2)" proto "$PROTO"
damage "replace the route with a foreign one" route_ok \
	host_exec 1 ip route replace "$NET2/$(len_of 2)" via "$SW_IP" dev eth0
# The route names a nexthop object; deleting that takes the route along.
damage "delete the route's nexthop" route_ok host_exec 1 ip nexthop del id "$(ip_int "$NET2")"
damage "point the route's nexthop elsewhere" route_ok \
	host_exec 1 ip nexthop replace id "$(ip_int "$NET2")" via "$SW_IP" dev eth0 proto 158
damage "delete the neighbour entry" neigh_ok host_exec 1 ip neigh del "$NET2" dev "$DEV"
damage "point the neighbour entry at another MAC" neigh_ok \
	host_exec 1 ip neigh replace "$NET2" lladdr 02:00:00:00:00:01 dev "$DEV" nud permanent
damage "delete the FDB entry" fdb_ok host_exec 1 bridge fdb del "$MAC2" dev "$DEV" dst "$(host_ip 2)"
damage "point the FDB entry at another host" fdb_ok \
	host_exec 1 bridge fdb replace "$MAC2" dev "$DEV" dst 10.200.0.99 self permanent
damage "remove the device's address" addr_ok host_exec 1 ip addr del "$(net_of 1)/32" dev "$DEV"
damage "change the device's MTU" mtu_ok host_exec 1 ip link set "$DEV" mtu 1300
# The kernel drops the routes through a device that goes down, silently.
damage "set the device down" route_ok host_exec 1 ip link set "$DEV" down
damage "delete the device" dev_ok host_exec 1 ip link del "$DEV"
assert_eq "$(dev_mac 1)" "$MAC1" "MAC of the recreated $DEV"
assert_eq "$(vtep_mac 1)" "$MAC1" "VtepMAC of host 1 after $DEV was recreated"
log_has 1 "$DEV was deleted; recreating it" || fail "no log line for the deleted device"
container_ping 2 1 || fail "container 2 cannot ping container 1 after $DEV was recreated"
pass "recreated $DEV keeps its MAC (lease unchanged), address and every entry"

# -- a new VTEP MAC on h2 is published; h1 follows it
NEWMAC=0a:11:22:33:44:55
host_exec 2 ip link set "$DEV" address "$NEWMAC"
wait_until 5 eval '[ "$(vtep_mac 2)" = "$NEWMAC" ]' || fail "host 2's lease still has VtepMAC $(vtep_mac 2)"
log_has 2 "The MAC of $DEV changed from $(tr -d '\n' <<<"$MAC2") to $NEWMAC: publishing it in our lease" ||
	fail "no log line for the MAC change on h2"
OLDMAC2=$MAC2
set_expected
wait_until 5 peer_ok || fail "h1 did not follow host 2's new MAC: $(host_exec 1 bridge fdb show dev "$DEV")"
host_exec 1 bridge fdb show dev "$DEV" | grep -q "^$OLDMAC2 " && fail "h1 kept the FDB entry of host 2's old MAC"
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 2's MAC changed"
pass "VTEP MAC changed on h2: its lease carries $NEWMAC, h1's neighbour and FDB entries follow, ping works"

# -- the underlay flaps: routes through eth0 (DirectRouting) vanish with it
host_exec 1 ip link set eth0 down
! drroute_ok || fail "the kernel kept the direct route while eth0 was down"
host_exec 1 ip link set eth0 up
within_ms "$HEAL_MS" drroute_ok || fail "the direct route was not restored within $HEAL_MS ms of eth0 coming up"
took=$ELAPSED
host_exec 1 ip route replace default via "$SW_IP" # the test bed's, not flanneld's
log_has 1b "eth0 is up again; restoring" || fail "no log line for eth0 coming back"
host_exec 1 ping -c 1 -W 2 "$(net_of 2b)" >/dev/null || fail "h1 cannot reach host 2's $(net_of 2b) directly"
container_ping 1 2 || fail "container 1 cannot ping container 2 after eth0 flapped"
pass "eth0 down and up: direct route back in $took ms, vxlan traffic flows"

# -- lost notifications: flanneld 1 is stopped while 30000 unrelated
# neighbour changes overflow its netlink buffer, then its route is deleted
# (that notification is lost for sure); the overrun alone must repair it
host_exec 1 ip link add fill0 type veth peer name fill1
proc_signal flanneld-1 STOP
for i in $(seq 0 14999); do
	printf 'neigh add 10.77.%d.%d lladdr 02:00:00:00:%02x:%02x dev fill0 nud permanent\n' \
		$((i / 250)) $((i % 250 + 1)) $((i / 256 % 256)) $((i % 256))
done >"$TMP/fill.batch"
host_exec 1 ip -batch "$TMP/fill.batch"
host_exec 1 ip link del fill0 # 15000 deletions more
host_exec 1 ip route del "$NET2/$(len_of 2)" proto "$PROTO"
proc_signal flanneld-1 CONT
within_ms 5000 route_ok || fail "route not restored after the notification overrun"
took=$ELAPSED
log_has 1 "Missed rtnetlink notifications (ENOBUFS)" || fail "flanneld 1 did not see the overrun"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the overrun"
pass "30000 notifications overflowed the buffer while the route was deleted: ENOBUFS -> full resync, route back $took ms after SIGCONT"

flannel_stop_all 1 2 1b 2b
