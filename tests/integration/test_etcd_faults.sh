#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# etcd faults under a vxlan overlay with container traffic:
#  1. etcd fully down for OUTAGE (60) seconds: 10 Hz pings between
#     containers lose nothing, /readyz turns 503 only after the grace
#     period and 200 once etcd is back, every lease and route is kept, and a
#     lease added afterwards reaches everyone.
#  2. h1 partitioned from etcd (blackhole routes between h1 and the switch's
#     address, both ways: packets of the open connections vanish, new ones
#     fail; the bridge still switches vxlan between hosts): pings flow, h1's
#     /readyz turns 503 (TCP keep-alive notices the silent watch), the others
#     stay 200; a lease added meanwhile reaches h1 after the partition heals,
#     from where its watch stopped; h1 keeps its lease.
#  3. h1 partitioned for longer than its lease's TTL (--subnet-lease-ttl):
#     etcd expires the lease and the peers drop h1's routes; once healed, h1
#     takes the same subnet again and the peers route to it again.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11  flanneld 1   c1     (partition: blackhole routes h1 <-> sw)
#	 |-- h2 10.200.0.12  flanneld 2   c2
#	 `-- h3 10.200.0.13  flanneld 3   c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

OUTAGE=${OUTAGE:-60}
GRACE=10 # the daemon's ETCD_GRACE_MS
TTL=12

topo_up 3
require_vxlan
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do container_up "$i"; done
routes_to() { host_exec "$1" ip route show proto 158 | grep -c . || true; }
all_know() { # count ids...: every daemon knows count leases and has count routes
	local want=$1 i
	shift
	for i in "$@"; do
		metric_eq "$i" flannel_leases_known "$want" && [ "$(routes_to "$i")" -eq "$want" ] || return 1
	done
}
wait_until 10 all_know 2 1 2 3 || fail "the hosts do not route to each other"

# start_pings <tag> <seconds>: 10 Hz pings c1 -> c2 and c2 -> c3 for that long
start_pings() {
	local n=$(($2 * 10))
	SPAWN_LOG=$TMP/ping-$1-a.log spawn "ping-$1-a" "$(container_ns 1)" \
		ping -q -i 0.1 -c "$n" -W 2 "$(container_ip 2)"
	SPAWN_LOG=$TMP/ping-$1-b.log spawn "ping-$1-b" "$(container_ns 2)" \
		ping -q -i 0.1 -c "$n" -W 2 "$(container_ip 3)"
}
# check_pings <tag>: both finished with every reply; prints "rx/tx rx/tx"
check_pings() {
	local p out tx rx res=""
	for p in a b; do
		wait_until $((OUTAGE + 60)) proc_exited "ping-$1-$p" || fail "ping $1-$p did not finish"
		out=$(cat "$TMP/ping-$1-$p.log")
		tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
		rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
		[ -n "$tx" ] && [ "$tx" -gt 0 ] || fail "ping $1-$p: unexpected output: $out"
		[ "$rx" = "$tx" ] || fail "ping $1-$p lost packets: $(grep -m1 transmitted <<<"$out")"
		res+="$rx/$tx "
	done
	echo "${res% }"
}
# readyz_log <ids...>: append "<id> <code> <ms>" to $TMP/readyz on every change
readyz_log() {
	local i c ms
	for i in "$@"; do
		c=$(http_code "$i" /readyz)
		ms=$((($(now_us) - T0) / 1000))
		grep -q "^$i " "$TMP/readyz.last" 2>/dev/null && [ "$(awk -v i="$i" '$1 == i { print $2 }' "$TMP/readyz.last")" = "$c" ] && continue
		sed -i "/^$i /d" "$TMP/readyz.last" 2>/dev/null || true
		echo "$i $c" >>"$TMP/readyz.last"
		echo "$i $c $ms" >>"$TMP/readyz"
		flannel_running "$i" || return 1
	done
}
history() { awk -v i="$1" '$1 == i { printf "%s%s@%sms", (n++ ? " " : ""), $2, $3 }' "$TMP/readyz"; }
first_503() { awk -v i="$1" '$1 == i && $2 == 503 { print $3; exit }' "$TMP/readyz"; }
key_and_lease() { local k; k=$(subnet_key_of 1); echo "$k $(key_lease "$k")"; }
partition() {
	host_exec 1 ip route add blackhole "$SW_IP/32"
	sw_exec ip route add blackhole "$(host_ip 1)/32"
}
heal() {
	host_exec 1 ip route del blackhole "$SW_IP/32"
	sw_exec ip route del blackhole "$(host_ip 1)/32"
}

# -- 1. etcd down for OUTAGE s
mine=$(key_and_lease)
: >"$TMP/readyz"
: >"$TMP/readyz.last"
start_pings outage $((OUTAGE + 5))
T0=$(now_us)
etcd_stop
hold_for "$OUTAGE" readyz_log 1 2 3 || fail "a daemon died while etcd was down"
SPAWN_LOG_APPEND=1 etcd_start
for i in 1 2 3; do wait_ready "$i" 30; done
readyz_log 1 2 3
for i in 1 2 3; do
	h=$(history "$i")
	t=$(first_503 "$i")
	[ -n "$t" ] || fail "flanneld $i never answered 503 during the ${OUTAGE}s outage: $h"
	((t >= GRACE * 1000)) || fail "flanneld $i answered 503 after ${t}ms, within the grace period: $h"
	[ "$(awk -v i="$i" '$1 == i { c = $2 } END { print c }' "$TMP/readyz")" = 200 ] ||
		fail "flanneld $i not ready again: $h"
done
pings=$(check_pings outage)
all_know 2 1 2 3 || fail "leases or routes lost in the outage"
assert_eq "$(key_and_lease)" "$mine" "h1's key and etcd lease after the outage"
mapfile -t fake < <(free_subnets 2)
etcdctl_sw put -- "${fake[0]}" '{"PublicIP":"10.200.0.99","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:00:99"}}' >/dev/null
wait_until 15 all_know 3 1 2 3 || fail "a lease added after the outage did not reach everyone"
pass "etcd down ${OUTAGE}s: pings $pings lost none; /readyz $(history 1); leases, routes and h1's lease kept; a new lease reached all"

# -- 2. h1 partitioned from etcd
: >"$TMP/readyz"
: >"$TMP/readyz.last"
PART=30
start_pings part $((PART + 5))
T0=$(now_us)
partition
hold_for 3 readyz_log 1 2 3 || fail "a daemon died"
etcdctl_sw put -- "${fake[1]}" '{"PublicIP":"10.200.0.98","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:00:98"}}' >/dev/null
wait_until 10 all_know 4 2 3 || fail "the lease added during the partition did not reach h2 and h3"
hold_for $((PART - 3)) readyz_log 1 2 3 || fail "a daemon died during the partition"
[ "$(routes_to 1)" -eq 3 ] || fail "h1 saw the lease added while it was cut off from etcd (or lost routes): $(routes_to 1) routes"
heal
wait_ready 1 40
readyz_log 1 2 3
t=$(first_503 1)
[ -n "$t" ] || fail "h1 stayed ready while cut off from etcd: $(history 1)"
for i in 2 3; do [ -z "$(first_503 "$i")" ] || fail "flanneld $i was not ready during h1's partition: $(history "$i")"; done
wait_until 30 all_know 4 1 2 3 || fail "h1 did not catch up with the lease added during its partition"
pings=$(check_pings part)
assert_eq "$(key_and_lease)" "$mine" "h1's key and etcd lease after the partition"
pass "h1 cut off from etcd ${PART}s: pings $pings lost none; h1 /readyz $(history 1), h2 and h3 stayed 200; h1 caught up; lease kept"

# -- 3. a partition longer than the lease's TTL
etcdctl_sw del -- "${fake[0]}" >/dev/null
etcdctl_sw del -- "${fake[1]}" >/dev/null
wait_until 15 all_know 2 1 2 3 || fail "fake leases not removed everywhere"
flannel_stop 1
# A key that exists keeps its etcd lease: drop it, so the restart grants a
# short one for the same subnet (the previous one, from subnet.env).
etcdctl_sw del -- "$(subnet_key_of 1)" >/dev/null
flannel_start 1 --subnet-lease-ttl=$TTL
wait_ready 1
ttl=$(etcdctl_sw lease timetolive "$(printf '%x' "$(key_lease "$(subnet_key_of 1)")")" | grep -oE 'remaining\(([0-9]+)s\)' | grep -oE '[0-9]+')
((ttl > 0 && ttl <= TTL)) || fail "h1's new lease has TTL '$ttl', expected at most $TTL"
subnet=$(subnet_of 1)
key=$(subnet_key_of 1)
partition
wait_until $((TTL * 3)) eval '[ -z "$(key_value "$key")" ]' || fail "etcd did not expire h1's lease ($TTL s) during the partition"
wait_until 15 eval '[ "$(routes_to 2)" -eq 1 ] && [ "$(routes_to 3)" -eq 1 ]' || fail "the peers kept routes to h1 after its lease expired"
heal
wait_until 60 eval '[ -n "$(key_value "$key")" ]' || fail "h1 did not take a lease again after the partition"
wait_ready 1 30
assert_eq "$(subnet_of 1)" "$subnet" "h1's subnet after its lease expired during the partition"
log_has 1 "re-acquiring" || fail "no re-acquisition in h1's log"
wait_until 15 all_know 2 1 2 3 || fail "the peers did not route to h1 again"
container_ping 2 1 || fail "container 2 cannot ping container 1 after h1 came back"
pass "partition longer than the ${TTL}s TTL: lease expired, peers dropped h1; after healing h1 took $subnet again and is routed to"

flannel_stop_all 1 2 3
