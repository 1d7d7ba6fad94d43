#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A burst of leases in one etcd revision: 50 lease keys written by a single
# transaction must all reach the running daemon (one watch response carries
# all 50 events).
#
#	sw: br0 10.200.0.1 + etcd  <-- etcdctl txn: 50 puts, one revision
#	 `-- h1 10.200.0.11  flanneld 1
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

COUNT=${COUNT:-50}

topo_up 1
etcd_start
etcd_put_config "$DEFAULT_CONFIG"
flannel_start 1
wait_ready 1
wait_until 10 metric_eq 1 flannel_leases_known 0 || fail "leases_known not 0 with no peers"
events0=$(metric 1 flannel_watch_events_total) || fail "no flannel_watch_events_total"
msgs0=$(metric 1 flannel_etcd_watch_messages_total) || fail "no flannel_etcd_watch_messages_total"

lease=$(etcd_lease_grant 3600)
mapfile -t keys < <(free_subnets "$COUNT")
assert_eq "${#keys[@]}" "$COUNT" "free subnets found"
# etcdctl txn reads: compares, blank line, success ops, blank line,
# failure ops, blank line.
{
	echo
	for i in "${!keys[@]}"; do
		printf 'put --lease=%s %s %s\n' "$lease" "${keys[$i]}" \
			"$(lease_value "10.200.$((1 + i / 200)).$((1 + i % 200))")"
	done
	echo
	echo
} >"$TMP/txn"
rev0=$(etcd_revision)
out=$(etcdctl_sw txn <"$TMP/txn") || fail "txn failed: $out"
head -n 1 <<<"$out" | grep_q -x SUCCESS || fail "txn did not succeed: $(head -n 3 <<<"$out")"
assert_eq "$(etcd_revision)" $((rev0 + 1)) "revision after the txn (all puts in one revision)"
assert_eq "$(subnet_keys | wc -l)" $((COUNT + 1)) "keys in etcd"

wait_until 20 metric_eq 1 flannel_leases_known "$COUNT" ||
	fail "leases_known $(metric 1 flannel_leases_known || echo '?'), expected $COUNT"
flannel_running 1 || fail "flanneld 1 exited"
# The daemon saw them as one watch response carrying all the events, not as
# a re-list or one message per key.
events1=$(metric 1 flannel_watch_events_total)
msgs1=$(metric 1 flannel_etcd_watch_messages_total)
assert_eq "$((events1 - events0))" "$COUNT" "watch events applied for the transaction"
assert_eq "$((msgs1 - msgs0))" 1 "watch messages that carried them"
assert_eq "$(metric 1 flannel_resyncs_total)" 0 "re-lists"
pass "$COUNT leases from one transaction all known, from one watch message of $COUNT events"

# A second daemon lists them at start-up instead of watching them arrive.
topo_up 2
flannel_start 2
wait_ready 2
wait_until 20 metric_eq 2 flannel_leases_known $((COUNT + 1)) ||
	fail "flanneld 2: leases_known $(metric 2 flannel_leases_known || echo '?'), expected $((COUNT + 1))"
wait_until 10 metric_eq 1 flannel_leases_known $((COUNT + 1)) ||
	fail "flanneld 1 did not see flanneld 2"
pass "a new daemon lists $((COUNT + 1)) peers"

flannel_stop_all 1 2
