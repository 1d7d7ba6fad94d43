#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A three-member etcd cluster with every daemon given all endpoints (each
# starting on another member). First the member h1's daemon talks to is
# stopped, then (with it back) the leader: each time every daemon keeps its
# lease (same key, same etcd lease), keeps watching (a lease added after the
# failover reaches every host's routes), stays ready, and containers keep
# reaching each other.
#
#	sw: br0 10.200.0.1   etcd m1 :2379  m2 :12379  m3 :22379 (peers on 127.0.0.1)
#	 |-- h1 10.200.0.11  flanneld (m1, m2, m3)   c1
#	 |-- h2 10.200.0.12  flanneld (m2, m3, m1)   c2
#	 `-- h3 10.200.0.13  flanneld (m3, m1, m2)   c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

cport() { echo $((2379 + ($1 - 1) * 10000)); }
pport() { echo $((2380 + ($1 - 1) * 10000)); }
curl_of() { echo "http://$SW_IP:$(cport "$1")"; }
CLUSTER="m1=http://127.0.0.1:$(pport 1),m2=http://127.0.0.1:$(pport 2),m3=http://127.0.0.1:$(pport 3)"
member_start() {
	local i=$1
	mkdir -p "$TMP/m$i.data"
	chmod 700 "$TMP/m$i.data"
	SPAWN_LOG=$TMP/m$i.log SPAWN_LOG_APPEND=1 spawn "etcd-m$i" "$SW_NS" etcd --name "m$i" \
		--data-dir "$TMP/m$i.data" \
		--listen-client-urls "$(curl_of "$i")" --advertise-client-urls "$(curl_of "$i")" \
		--listen-peer-urls "http://127.0.0.1:$(pport "$i")" \
		--initial-advertise-peer-urls "http://127.0.0.1:$(pport "$i")" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token flt \
		--logger zap --log-outputs stderr
}
member_healthy() { sw_exec curl -sf -m 1 "$(curl_of "$1")/health" | grep_q '"health":"true"'; }
ALL_EPS="$(curl_of 1),$(curl_of 2),$(curl_of 3)"
ctl() { sw_exec env ETCDCTL_API=3 etcdctl --endpoints "$ALL_EPS" "$@"; }
# leader: the member that says it leads
leader() {
	local i
	for i in 1 2 3; do
		proc_running "etcd-m$i" || continue
		sw_exec env ETCDCTL_API=3 etcdctl --endpoints "$(curl_of "$i")" endpoint status -w json 2>/dev/null |
			jq -e '.[0].Status.leader == .[0].Status.header.member_id' >/dev/null && { echo "$i"; return 0; }
	done
	return 1
}

topo_up 3
require_vxlan
for i in 1 2 3; do member_start "$i"; done
for i in 1 2 3; do wait_until 30 member_healthy "$i" || fail "etcd member m$i not healthy: $(tail -n 3 "$TMP/m$i.log")"; done
ctl put /coreos.com/network/config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}' >/dev/null
flannel_start 1 --etcd-endpoints="$(curl_of 1),$(curl_of 2),$(curl_of 3)"
flannel_start 2 --etcd-endpoints="$(curl_of 2),$(curl_of 3),$(curl_of 1)"
flannel_start 3 --etcd-endpoints="$(curl_of 3),$(curl_of 1),$(curl_of 2)"
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do container_up "$i"; done
routes_to() { host_exec "$1" ip route show proto 158 | grep -c . || true; }
all_route() { local i; for i in 1 2 3; do [ "$(routes_to "$i")" -eq "$1" ] || return 1; done; }
wait_until 10 all_route 2 || fail "the hosts do not route to each other"
keys_and_leases() {
	local i k
	for i in 1 2 3; do
		k=$(subnet_key_of "$i")
		printf '%s=%s ' "$k" "$(ctl get -w fields -- "$k" | awk -F' : ' '$1 == "\"Lease\"" { print $2 }')"
	done
}
before=$(keys_and_leases)
# Two subnets none of the hosts holds (theirs are picked at random).
taken=" $(for i in 1 2 3; do s=$(subnet_of "$i"); s=${s#10.244.}; echo "${s%%.*}"; done | tr '\n' ' ') "
mapfile -t fake < <(for x in $(seq 200 254); do [[ $taken == *" $x "* ]] || echo "/coreos.com/network/subnets/10.244.$x.0-24"; done | head -n 2)
fake_value() { printf '{"PublicIP":"10.200.1.%s","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:01:00:%02x"}}' "$1" "$1"; }

# failover_check <what> <n-fake>: after a member stopped
failover_check() {
	local what=$1 n=$2 i
	ctl put -- "${fake[n - 1]}" "$(fake_value $((250 + n)))" >/dev/null
	wait_until 30 all_route $((2 + n)) ||
		fail "after $what: the lease added did not reach every host ($(for i in 1 2 3; do printf 'h%s=%s ' "$i" "$(routes_to "$i")"; done))"
	for i in 1 2 3; do
		flannel_running "$i" || fail "flanneld $i died after $what"
		is_ready "$i" || fail "flanneld $i not ready after $what"
	done
	assert_eq "$(keys_and_leases)" "$before" "keys and etcd leases after $what"
	container_ping 1 2 && container_ping 3 1 || fail "containers cannot reach each other after $what"
}

# -- the member h1 talks to
rec0=$(metric 1 flannel_etcd_watch_reconnects_total)
proc_stop etcd-m1 15 || true
failover_check "m1 (h1's member) stopped" 1
metric_ge 1 flannel_etcd_watch_reconnects_total $((rec0 + 1)) || fail "h1's watch did not reconnect"
pass "m1 stopped: h1's watch moved on (reconnects $rec0 -> $(metric 1 flannel_etcd_watch_reconnects_total)); every lease kept; a new lease reached all; containers reach each other"
member_start 1
wait_until 30 member_healthy 1 || fail "m1 did not come back"

# -- the leader
wait_until 15 leader >/dev/null || fail "no leader"
l=$(leader)
proc_stop "etcd-m$l" 15 || true
failover_check "the leader m$l stopped" 2
pass "the leader m$l stopped: every lease kept; a new lease reached all; containers reach each other"
member_start "$l"
wait_until 30 member_healthy "$l" || fail "m$l did not come back"

flannel_stop_all 1 2 3
