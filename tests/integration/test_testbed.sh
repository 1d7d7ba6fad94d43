#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test bed itself (lib.sh), without flanneld: namespaces and the bridge,
# etcd start/stop/restart/compaction, process bookkeeping, the start gate,
# metric parsing, and cleanup on success, failure and SIGTERM.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11
#	 |-- h2 10.200.0.12
#	 `-- h3 10.200.0.13
# ci: once (no flanneld: the test bed itself)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
command -v python3 >/dev/null || skip "python3 not installed (scripts/deps.sh)"

# -- polling helpers are bounded
t0=$(now_us)
if wait_until 1 false; then fail "wait_until false succeeded"; fi
el=$(($(now_us) - t0))
((el >= 900000 && el < 3000000)) || fail "wait_until 1 false took ${el}us"
wait_until 1 true || fail "wait_until true failed"
pass "wait_until is bounded"

# -- topology
topo_up 3
for i in 1 2 3; do
	assert_eq "$(host_exec "$i" ip -4 -o addr show dev eth0 | awk '{print $4}')" "$(host_ip "$i")/24" "h$i eth0 address"
	assert_eq "$(host_exec "$i" ip route show default | awk '{print $3}')" "$SW_IP" "h$i default route"
done
host_exec 1 ping -c 1 -W 2 "$SW_IP" >/dev/null || fail "h1 cannot reach the switch"
host_exec 1 ping -c 1 -W 2 "$(host_ip 3)" >/dev/null || fail "h1 cannot reach h3"
pass "topology: 3 hosts reach each other through br0"

# -- etcd, reachable from the hosts through the bridge
etcd_start
etcd_put_config "$DEFAULT_CONFIG"
assert_eq "$(etcdctl_sw get --print-value-only "$ETCD_PREFIX/config")" "$DEFAULT_CONFIG" "config"
key64=$(printf '%s' "$ETCD_PREFIX/config" | base64 -w0)
got=$(host_exec 2 curl -sf -m 2 -X POST "$ETCD_CLIENT/v3/kv/range" -d "{\"key\":\"$key64\"}" |
	jq -r '.kvs[0].value' | base64 -d)
assert_eq "$got" "$DEFAULT_CONFIG" "config read by h2 through the gateway"
pass "etcd serves the hosts on $ETCD_CLIENT"

# -- lease keys, key_lease, subnet_keys
lease=$(etcd_lease_grant 600)
[ -n "$lease" ] || fail "no lease granted"
etcdctl_sw put --lease="$lease" "$ETCD_PREFIX/subnets/10.244.9.0-24" '{"PublicIP":"10.200.0.99","PublicIPv6":null}' >/dev/null
etcdctl_sw put "$ETCD_PREFIX/subnets/10.244.8.0-24" '{"PublicIP":"10.200.0.98","PublicIPv6":null}' >/dev/null
assert_eq "$(subnet_keys | wc -l)" 2 "subnet key count"
[ "$(key_lease "$ETCD_PREFIX/subnets/10.244.9.0-24")" != 0 ] || fail "leased key shows no lease"
assert_eq "$(key_lease "$ETCD_PREFIX/subnets/10.244.8.0-24")" 0 "reservation lease"
pass "lease helpers"

# -- restart keeps data; compaction
etcd_restart
assert_eq "$(etcdctl_sw get --print-value-only "$ETCD_PREFIX/config")" "$DEFAULT_CONFIG" "config after restart"
old=$(etcd_revision)
for i in 1 2 3; do etcdctl_sw put /scratch "v$i" >/dev/null; done
crev=$(etcd_compact)
((crev > old)) || fail "compaction revision $crev not after $old"
if etcdctl_sw get --rev="$old" /scratch >/dev/null 2>&1; then
	fail "revision $old still readable after compaction to $crev"
fi
pass "etcd restart keeps data; compaction to $crev"

# -- process bookkeeping and exit codes
spawn sleeper "$(host_ns 1)" sleep 60
proc_running sleeper || fail "sleeper not running"
rc=0
proc_stop sleeper 5 || rc=$?
assert_eq "$rc" 143 "exit code of sleep after SIGTERM"
spawn quick - sh -c 'exit 3'
wait_until 5 proc_exited quick || fail "quick did not exit"
assert_eq "$(proc_rc quick)" 3 "exit code of sh -c 'exit 3'"
pass "spawn/proc_stop record exit codes"

# -- start gate: nothing runs before the release, everything after
gate_open
for i in 1 2 3; do
	SPAWN_GATE=$GATE spawn "gated$i" "$(host_ns "$i")" sh -c "echo \$\$ >'$TMP/started.$i'; sleep 60"
done
for i in 1 2 3; do
	proc_running "gated$i" || fail "gated$i died before the release"
	[ ! -e "$TMP/started.$i" ] || fail "gated$i ran before the release"
done
wait_until 5 gate_blocked gated1 gated2 gated3 || fail "gated processes not blocked on the gate"
gate_release
for i in 1 2 3; do
	wait_until 5 test -s "$TMP/started.$i" || fail "gated$i did not start after the release"
	assert_eq "$(cat "$TMP/started.$i")" "$(proc_pid "gated$i")" "gated$i PID is the exec'd process"
done
gate_close
pass "start gate releases all waiters"

# -- metric / readiness parsing against a fake health server
mkdir -p "$TMP/www" "$TMP/h1"
printf '# HELP flannel_leases_known x\nflannel_leases_known 19\nflannel_ready 1\nflannel_resyncs_total{reason="compacted"} 2\n' >"$TMP/www/metrics"
echo ok >"$TMP/www/readyz"
echo "$HEALTHZ_PORT" >"$TMP/h1/port"
spawn fakehttp "$(host_ns 1)" python3 -m http.server --bind 127.0.0.1 --directory "$TMP/www" "$HEALTHZ_PORT"
wait_until 10 is_ready 1 || fail "fake health server not ready"
assert_eq "$(metric 1 flannel_leases_known)" 19 "flannel_leases_known"
metric_eq 1 flannel_ready 1 || fail "metric_eq flannel_ready"
metric_ge 1 flannel_resyncs_total 1 || fail "metric_ge with labels"
if metric 1 flannel_nope >/dev/null; then fail "absent metric found"; fi
pass "metric parsing"

# -- cleanup on failure and on SIGTERM, in child runs with their own prefix
# shellcheck disable=SC2016
CHILD='. "$1/lib.sh"
	topo_up 2
	etcd_start
	spawn sleeper "$(host_ns 1)" sleep 60
	{ proc_pid sleeper; proc_pid etcd; echo "$TMP"; } >"$2.tmp"
	mv "$2.tmp" "$2.pid"
	[ "$3" = fail ] && fail "deliberate"
	wait_until 60 false'
leftovers() { # prefix
	local p
	ip netns list | awk '{print $1}' | grep_q "^$1-" && return 0
	while read -r p; do
		[ -e "$p" ] && return 0
		kill -0 "$p" 2>/dev/null && return 0
	done <"$TMP/$1.pid"
	return 1
}
rc=0
pf=${FLT_PREFIX}f
FLT_PREFIX=$pf bash -c "$CHILD" child "$LIB_DIR" "$TMP/$pf" fail >"$TMP/child1.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit code of a failing test"
grep -q 'FAIL: deliberate' "$TMP/child1.out" || fail "fail() message missing"
if leftovers "$pf"; then fail "a failing test left namespaces or processes behind"; fi
pass "cleanup after fail()"

# a sanitizer report in a daemon log fails an otherwise passing test
rc=0
bash -c '. "$1/lib.sh"; mkdir -p "$TMP/h1"
	echo "==1==ERROR: AddressSanitizer: heap-use-after-free" >"$TMP/h1/flanneld.log"' \
	child "$LIB_DIR" >"$TMP/child3.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit code of a passing test with a sanitizer report"
rc=0
bash -c '. "$1/lib.sh"; mkdir -p "$TMP/h1"
	echo "src/x.c:1:2: runtime error: signed integer overflow" >"$TMP/h1/flanneld.log"
	skip "deliberate"' child "$LIB_DIR" >"$TMP/child4.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit code of a skipping test with a sanitizer report"
pass "sanitizer reports fail the test, a skipping one too"

pt=${FLT_PREFIX}t
FLT_PREFIX=$pt bash -c "$CHILD" child "$LIB_DIR" "$TMP/$pt" wait >"$TMP/child2.out" 2>&1 &
cpid=$!
wait_until 30 test -s "$TMP/$pt.pid" || fail "child did not set up"
kill -TERM "$cpid"
rc=0
wait "$cpid" || rc=$?
assert_eq "$rc" 143 "exit code of a test stopped by SIGTERM"
if leftovers "$pt"; then fail "a test stopped by SIGTERM left namespaces or processes behind"; fi
pass "cleanup after SIGTERM"
