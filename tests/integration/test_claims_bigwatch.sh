#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What other hosts write is capped (README, "Running"): a watch message
# over 16 MiB ends the watch and the daemon re-lists instead; a listing
# page over 64 MiB makes the pages shrink; values over 64 KiB are skipped
# with a warning. Afterwards the daemon still follows ordinary leases.
#
# etcd runs with --max-request-bytes=24 MiB so that one txn of 9 values of
# 2 MiB (one revision, so one watch response of 18 MiB) is accepted; the
# txns go through etcd's JSON gateway, whose gRPC client sends any size
# (etcdctl's stops at 2 MiB). Three such txns before the daemon starts and
# one while it watches put 72 MiB under the prefix, more than one 64 MiB
# answer can carry.
#
#	sw: br0 10.200.0.1 + etcd (--max-request-bytes=25165824)
#	 `-- h1 10.200.0.11   flanneld (alloc)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 not installed"

topo_up 1
ETCD_EXTRA_ARGS="--max-request-bytes=25165824" etcd_start
etcd_put_config "$DEFAULT_CONFIG"

# big_txn <first> <n>: one txn putting n keys 10.244.<first..>.0-24, each a 2 MiB lease value.
big_txn() {
	python3 - "$1" "$2" "$ETCD_PREFIX" >"$TMP/txn.json" <<'PY'
import base64, json, sys
first, n, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pad = "x" * (2 << 20)
ops = []
for i in range(first, first + n):
    k = "%s/subnets/10.244.%d.0-24" % (prefix, i)
    v = '{"PublicIP":"10.200.1.%d","PublicIPv6":null,"Pad":"%s"}' % (i, pad)
    ops.append({"requestPut": {"key": base64.b64encode(k.encode()).decode(),
                               "value": base64.b64encode(v.encode()).decode()}})
json.dump({"success": ops}, sys.stdout)
PY
	sw_exec curl -sf -m 60 -X POST --data-binary @"$TMP/txn.json" http://127.0.0.1:2379/v3/kv/txn >"$TMP/txn.out" ||
		fail "big txn $1..$(($1 + $2 - 1)) refused by etcd: $(cat "$TMP/txn.out" 2>/dev/null)"
	grep -q '"succeeded":true' "$TMP/txn.out" || fail "big txn did not succeed: $(cat "$TMP/txn.out")"
}

# 54 MiB before the daemon starts (its first listing reads them in one page),
# then 18 MiB in one revision while it watches.
for first in 100 110 120; do
	big_txn "$first" 9
done
flannel_start 1
wait_ready 1 30
log_has 1 "Listed 27 leases" || fail "the first listing did not see the 27 big leases"
big_txn 130 9
wait_until 60 log_has 1 "a watch message is over the 16 MiB cap; re-listing instead" ||
	fail "no message about the oversized watch message"
wait_until 60 log_has 1 "re-listing and resuming" || fail "no re-list after the oversized watch message"
wait_until 60 log_has 1 "Listing leases: a page was over the answer size cap, asking for 62 keys at a time" ||
	fail "no smaller page after a 64 MiB answer"
wait_until 60 log_has 1 "asking for 7 keys at a time" || fail "pages did not shrink to 7 keys"
wait_until 30 metric_ge 1 flannel_resyncs_total 1 || fail "flannel_resyncs_total: $(metric 1 flannel_resyncs_total)"
log_has 1 "Ignoring bad subnet node \"$ETCD_PREFIX/subnets/10.244.1" "over the 64 KiB cap" ||
	fail "no warning about values over 64 KiB"
flannel_running 1 || fail "flanneld exited (rc $(proc_rc flanneld-1))"
is_ready 1 || fail "not ready after the oversized messages"
pass "a watch message of 18 MiB: re-list instead; 72 MiB of leases: pages of 500 -> 62 -> 7 keys; 2 MiB values skipped with a warning"

# Still following: an ordinary lease put now is seen through the new watch.
known=$(metric 1 flannel_leases_known)
put_lease "$ETCD_PREFIX/subnets/10.244.250.0-24" 10.200.0.99
wait_until 30 metric_eq 1 flannel_leases_known $((known + 1)) ||
	fail "an ordinary lease after the re-list was not seen (leases known $(metric 1 flannel_leases_known), was $known)"
etcdctl_sw del -- "$ETCD_PREFIX/subnets/10.244.250.0-24" >/dev/null
wait_until 10 metric_eq 1 flannel_leases_known "$known" || fail "its removal was not seen"
flannel_stop 1
pass "after the re-list the watch follows ordinary leases again (put and delete seen)"
