#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# systemd notification (Type=notify) without systemd: a python3 receiver
# bound where $NOTIFY_SOCKET points gets STATUS= lines while the config is
# missing, READY=1 only once subnet.env is on disk (the receiver checks the
# file when each datagram arrives), and STOPPING=1 on SIGTERM. Host 1 uses a
# socket path, host 2 an abstract name (bound in host 2's namespace: abstract
# unix names are per network namespace).
#
#	sw: br0 10.200.0.1 + etcd   (config put only after both daemons wait)
#	 |-- h1 10.200.0.11  notify_recv.py $TMP/notify.sock   <- flanneld 1
#	 `-- h2 10.200.0.12  notify_recv.py @<prefix>-notify   <- flanneld 2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 not installed"

topo_up 2
etcd_start

SOCK1=$TMP/notify.sock
SOCK2=@$FLT_PREFIX-notify
receiver() { # host socket
	local out=$TMP/notify.$1
	SPAWN_LOG=$TMP/notify.$1.err spawn "notify-$1" "$(host_ns "$1")" \
		python3 "$LIB_DIR/notify_recv.py" "$2" "$(inst_dir "$1")/subnet.env" "$out"
	wait_until 10 grep -qx bound "$out" 2>/dev/null || fail "receiver $1 did not bind $2"
}
got() { grep -E -- "$2" "$TMP/notify.$1" 2>/dev/null; } # host regex

receiver 1 "$SOCK1"
receiver 2 "$SOCK2"
FLANNEL_WRAP="env NOTIFY_SOCKET=$SOCK1" flannel_start 1
FLANNEL_WRAP="env NOTIFY_SOCKET=$SOCK2" flannel_start 2

# -- no config yet: STATUS says why we wait, no READY
for h in 1 2; do
	wait_until 10 got $h '^0 STATUS=Waiting for the network config: .*not found' >/dev/null ||
		fail "host $h: no 'waiting for config' STATUS: $(cat "$TMP/notify.$h")"
	got $h 'READY=1' && fail "host $h: READY=1 before there is a config"
	[ ! -e "$(inst_dir $h)/subnet.env" ] || fail "host $h: subnet.env without a config"
done
pass "STATUS= while the config is missing, no READY=1"

# -- config: READY=1 arrives after subnet.env exists, exactly once
etcd_put_config "$DEFAULT_CONFIG"
for h in 1 2; do
	wait_until 20 got $h 'READY=1' >/dev/null || fail "host $h: no READY=1: $(cat "$TMP/notify.$h")"
	line=$(got $h 'READY=1')
	[ "${line%% *}" = 1 ] || fail "host $h: READY=1 arrived before subnet.env existed: $line"
	[[ $line == *"STATUS=Running with subnet $(subnet_of $h | sed 's/\.1\//.0\//')"* ]] ||
		fail "host $h: READY line without the subnet: $line (subnet.env $(subnet_of $h))"
	assert_eq "$(got $h 'READY=1' | wc -l)" 1 "host $h: READY=1 datagrams"
	wait_ready $h
done
pass "READY=1 once each, after subnet.env was written ($(got 1 READY=1 | cut -c3-))"

# -- SIGTERM: STOPPING=1 before the exit
for h in 1 2; do
	flannel_stop $h
	wait_until 5 got $h 'STOPPING=1' >/dev/null || fail "host $h: no STOPPING=1: $(cat "$TMP/notify.$h")"
done
pass "STOPPING=1 on SIGTERM (path and abstract socket)"
