#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# etcd with its JSON gateway turned off (--enable-grpc-gateway=false): the
# daemon needs nothing but etcd's native gRPC. Three vxlan hosts: leases,
# subnet.env, pings across every pair, a host joining (watch), a lease
# deleted behind a daemon's back (re-acquired), an etcd restart under open
# watches (resumed), and a compaction while one daemon is frozen (re-list).
#
#	sw: br0 10.200.0.1 + etcd (gRPC only)
#	 |-- h1 10.200.0.11  flannel.1  cni0 -- c1
#	 |-- h2 10.200.0.12  flannel.1  cni0 -- c2
#	 `-- h3 10.200.0.13  flannel.1  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

ETCD_EXTRA_ARGS="--enable-grpc-gateway=false"
CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'

topo_up 3
etcd_start
# The gateway is really off: its JSON API is not served.
code=$(sw_exec curl -s -m 2 -o /dev/null -w '%{http_code}' -X POST \
	http://127.0.0.1:2379/v3/kv/range -d '{"key":"Lw=="}' || true)
[ "$code" != 200 ] || fail "etcd still serves the JSON gateway (HTTP $code)"
pass "etcd answers HTTP $code on /v3/kv/range: no JSON gateway"
etcd_put_config "$CONFIG"

all_know() { # n id...
	local want=$1 i
	shift
	for i in "$@"; do metric_eq "$i" flannel_leases_known "$want" || return 1; done
}

flannel_start 1
flannel_start 2
wait_ready 1
wait_ready 2
container_up 1
container_up 2
wait_until 10 all_know 1 1 2 || fail "hosts 1 and 2 do not see each other"
container_ping 1 2 || fail "ping c1 -> c2"
container_ping 2 1 || fail "ping c2 -> c1"
pass "two hosts over gRPC only: leases, subnet.env, pings both ways"

# A host joining is seen through the watch.
flannel_start 3
wait_ready 3
container_up 3
wait_until 10 all_know 2 1 2 3 || fail "host 3's lease not seen by all"
for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] || container_ping "$a" "$b" || fail "ping c$a -> c$b"
	done
done
pass "a third host joins: seen by the watch, pings across every pair"

# Our key deleted behind our back: the same subnet is taken again.
key=$(subnet_key_of 1)
sub=$(subnet_of 1)
etcdctl_sw del -- "$key" >/dev/null
wait_until 10 eval '[ -n "$(key_value "$key")" ]' || fail "host 1 did not re-acquire $key"
assert_eq "$(subnet_of 1)" "$sub" "host 1's subnet after its key was deleted"
pass "deleted lease re-acquired with the same subnet ($sub)"

# etcd restarts under open watches: the watches resume and see new changes.
etcd_restart
lease=$(etcd_lease_grant 3600)
mapfile -t fake < <(free_subnets 2)
put_lease "${fake[0]}" 10.200.1.250 "$lease"
wait_until 30 all_know 3 1 2 3 || fail "after an etcd restart, a new lease is not seen by all"
pass "watches resumed after an etcd restart"

# Compaction past a frozen daemon's revision: it re-lists.
resyncs0=$(metric 2 flannel_resyncs_total || echo 0)
proc_signal flanneld-2 STOP
etcd_restart
put_lease "${fake[1]}" 10.200.1.251 "$lease"
etcdctl_sw del -- "${fake[0]}" >/dev/null
rev=$(etcd_compact)
info "compacted at revision $rev"
proc_signal flanneld-2 CONT
wait_until 30 all_know 3 1 2 3 || fail "after the compaction: leases_known h2=$(metric 2 flannel_leases_known || echo '?')"
wait_until 10 metric_ge 2 flannel_resyncs_total $((${resyncs0%.*} + 1)) ||
	fail "flanneld 2 did not re-list after the compaction"
container_ping 2 3 || fail "ping c2 -> c3 after the re-list"
pass "frozen daemon re-listed after compaction, data path intact"

flannel_stop_all 1 2 3
pass "all daemons exit 0 on SIGTERM"
