#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon (as built, not the sanitized one) under valgrind memcheck: a
# vxlan start against a real etcd, a peer's lease programmed, the peer's
# lease changed and removed, then SIGTERM. Exit 0 with no memory error and
# no leak of any kind.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11  flanneld under valgrind
#	 `-- h2 10.200.0.12  flanneld
# ci: once (always the plain build, under valgrind)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
command -v valgrind >/dev/null || skip "valgrind is not installed"
FLANNELD=$REPO_ROOT/build/flanneld # valgrind and ASan do not mix
require_flanneld

topo_up 2
require_vxlan
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
flannel_start 2
wait_ready 2
VG_LOG=$TMP/valgrind.log
FLANNEL_WRAP="valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99 --log-file=$VG_LOG" \
	flannel_start 1
wait_ready 1 120
peer_route() { host_exec 1 ip route show proto 158 | grep -c . || true; }
wait_until 60 eval '[ "$(peer_route)" -ge 1 ]' || fail "the daemon under valgrind did not program host 2"
# a changed and a removed lease go through the event paths too
key=$(subnet_key_of 2)
etcdctl_sw put -- "${key%/*}/10.244.250.0-24" '{"PublicIP":"10.200.0.99","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:00:99"}}' >/dev/null
wait_until 60 eval '[ "$(peer_route)" -ge 2 ]' || fail "no route for the added lease"
etcdctl_sw del -- "${key%/*}/10.244.250.0-24" >/dev/null
wait_until 60 eval '[ "$(peer_route)" -eq 1 ]' || fail "the removed lease's route stayed"
rc=0
proc_stop flanneld-1 120 || rc=$?
[ "$rc" -eq 0 ] || { cat "$VG_LOG"; fail "flanneld under valgrind exited with $rc (99: valgrind found errors or leaks)"; }
grep -q "ERROR SUMMARY: 0 errors" "$VG_LOG" || { cat "$VG_LOG"; fail "valgrind found errors"; }
grep -q "All heap blocks were freed -- no leaks are possible" "$VG_LOG" ||
	{ cat "$VG_LOG"; fail "valgrind found memory still allocated at exit"; }
pass "vxlan start, events and SIGTERM under valgrind: exit 0, no errors, no leaks"
flannel_stop 2
