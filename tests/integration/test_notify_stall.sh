#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A notification receiver that stops reading (a stalled systemd) never
# stalls the daemon (issue 15, item 8): with the receiver's queue full, a
# notification is dropped with a warning instead of blocking the loop in
# sendto(), so /healthz and /readyz answer and the lease is taken.
#
# The queue is made full early by a per-namespace sysctl in host 1 only:
# net.unix.max_dgram_qlen=0 lets one datagram wait in the receiver's queue,
# and the receiver never reads it; the daemon sends several.
#
#	sw: br0 10.200.0.1 + etcd
#	 `-- h1 10.200.0.11  a unix datagram socket nobody reads <- flanneld 1
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 not installed"

topo_up 1
etcd_start
etcd_put_config "$DEFAULT_CONFIG"

machine_qlen=$(sysctl -n net.unix.max_dgram_qlen)
host_exec 1 sysctl -qw net.unix.max_dgram_qlen=0
assert_eq "$(sysctl -n net.unix.max_dgram_qlen)" "$machine_qlen" "the machine's net.unix.max_dgram_qlen"

SOCK=$TMP/notify.sock
cat >"$TMP/deaf.py" <<'PY'
import signal, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").write("bound\n")
while True:
    signal.pause()
PY
SPAWN_LOG=$TMP/deaf.log spawn deaf "$(host_ns 1)" python3 "$TMP/deaf.py" "$SOCK" "$TMP/deaf.out"
wait_until 10 grep -qx bound "$TMP/deaf.out" 2>/dev/null || fail "the receiver did not bind"

FLANNEL_WRAP="env NOTIFY_SOCKET=$SOCK" flannel_start 1
wait_ready 1
assert_eq "$(http_code 1 /healthz)" 200 "/healthz"
wait_until 5 log_has 1 "Failed to notify systemd" "Resource temporarily unavailable" ||
	fail "no warning about the dropped READY=1"
queued=$(host_exec 1 ss -Hxa src "$SOCK" | awk '{ print $3 }')
((queued > 0)) || fail "nothing waits in the receiver's queue (Recv-Q '$queued')"
pass "receiver's queue full: READY=1 dropped with a warning, /readyz and /healthz 200"
flannel_stop 1
