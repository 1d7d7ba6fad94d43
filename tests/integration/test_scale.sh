#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Scale, short: bench/scale.sh with 50 daemons (alloc backend) against a
# three-member etcd cluster, asserting instead of timing: 50 distinct
# subnets in subnet.env and in etcd, every daemon knows its 49 peers, 25
# hosts leaving at once reach everyone, and with one etcd member stopped a
# new lease still reaches every daemon; every daemon exits 0 on SIGTERM and
# no daemon's log (bench/scale.sh keeps them) holds a sanitizer report.
#
#	ns <prefix>-scale: lo, sc0 10.250.0.1 (the daemons' interface)
#	  etcd m1 :23791  m2 :23792  m3 :23793   50 x flanneld, health :30000..30049
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

out=$TMP/scale.out
[ -x "$REPO_ROOT/build/bench/metrics_wait" ] || fail "build/bench/metrics_wait missing: run make bench"
SCALE_NS=$FLT_PREFIX-scale NO_BUILD=1 NS_LIST=50 CHECK=1 WAIT_S=60 "$REPO_ROOT/bench/scale.sh" >"$out" 2>&1 || {
	tail -n 20 "$out"
	fail "bench/scale.sh (N=50) failed"
}
grep '^ok:' "$out"
pass "50 daemons against a 3-member etcd: unique leases, full peer knowledge, leaving hosts and a stopped member seen by all, clean exits"
