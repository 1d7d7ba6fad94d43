#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Text that another etcd writer controls never adds a line of its own to
# what we send systemd or print (issue 15, item 5):
#   - a network config whose backend Type is "x\nREADY=1": the daemon stops
#     (unknown backend type) and its STATUS= datagram carries the type with
#     the newline escaped (\x0a), never a line READY=1;
#   - a lease key holding a newline, a carriage return and an escape byte:
#     the warning about it stays on one log line (\x0a, \x0d, \x1b), and no
#     line of the log starts with the text forged after the newline.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11  notify_recv.py $TMP/notify.sock <- flanneld 1 (prefix /bad)
#	 `-- h2 10.200.0.12  flanneld 2 (the default network)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 not installed"

topo_up 2
etcd_start
etcd_put_config "$DEFAULT_CONFIG"

# -- 1. "Type":"x\nREADY=1" reaches sd_notify only escaped
etcd_put_config '{"Network":"10.250.0.0/16","Backend":{"Type":"x\nREADY=1"}}' /bad/network
SOCK=$TMP/notify.sock
OUT=$TMP/notify.1
SPAWN_LOG=$TMP/notify.err spawn notify-1 "$(host_ns 1)" \
	python3 "$LIB_DIR/notify_recv.py" "$SOCK" "$(inst_dir 1)/subnet.env" "$OUT"
wait_until 10 grep -qx bound "$OUT" 2>/dev/null || fail "the notify receiver did not bind $SOCK"
FLANNEL_WRAP="env NOTIFY_SOCKET=$SOCK" flannel_start 1 --etcd-prefix=/bad/network
wait_until 15 proc_exited flanneld-1 || fail "flanneld 1 kept running with backend type x\\nREADY=1"
assert_eq "$(proc_rc flanneld-1)" 1 "exit code with an unknown backend type"
wait_until 5 grep -qF 'STATUS=Failed: ' "$OUT" || fail "no STATUS=Failed datagram: $(cat "$OUT")"
# notify_recv.py shows a datagram's newlines as '|': a READY=1 line would be "|READY=1".
grep -E '(^[01] |\|)READY=1(\||$)' "$OUT" && fail "READY=1 sent for a config that never worked: $(cat "$OUT")"
grep -F 'STATUS=Failed: ' "$OUT" | grep_q -F 'x\x0aREADY=1' ||
	fail "the STATUS does not show the type escaped: $(grep -F STATUS=Failed "$OUT")"
grep -q '^READY=1' "$(inst_dir 1)/flanneld.log" && fail "a log line starts with READY=1"
log_has 1 'x\x0aREADY=1' || fail "the log does not show the type escaped: $(tail -n 3 "$(inst_dir 1)/flanneld.log")"
pass "backend type \"x\\nREADY=1\": exit 1, STATUS=Failed with the type escaped, no READY=1 ($(grep -F STATUS=Failed "$OUT" | cut -c3-))"

# -- 2. a lease key with a newline cannot forge a log line
flannel_start 2
wait_ready 2
FORGED='E0101 00:00:00.000000 1] forged'
KEY=$(printf '%s/subnets/10.244.77.0-24\n%s\r\033[2J' "$ETCD_PREFIX" "$FORGED")
etcdctl_sw put -- "$KEY" "$(lease_value 10.200.0.99)" >/dev/null
wait_until 10 log_has 2 'x0aE0101 00:00:00.000000 1] forged\x0d\x1b[2J' ||
	fail "the key with a newline was not logged escaped: $(tail -n 5 "$(inst_dir 2)/flanneld.log")"
grep -q "^$FORGED" "$(inst_dir 2)/flanneld.log" && fail "a forged line in the log: $(grep -n "^$FORGED" "$(inst_dir 2)/flanneld.log")"
grep -q $'\033' "$(inst_dir 2)/flanneld.log" && fail "an escape byte reached the log"
is_ready 2 || fail "flanneld 2 is no longer ready after the bad key"
etcdctl_sw del -- "$KEY" >/dev/null
flannel_stop 2
pass "a lease key with \\n, \\r and ESC: one log line, escaped ($(grep -m1 -o 'Ignoring bad subnet node.\{0,70\}' "$(inst_dir 2)/flanneld.log" || true))"
