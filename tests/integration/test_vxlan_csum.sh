#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vxlan "ChecksumOffload": false (ours; Go flanneld ignores the key): TX
# checksum offload is off on flannel.1 (read with the ethtool ioctl, as
# `ethtool -k` shows it) while containers talk across; it is turned off
# again when someone turns it on, after the device is deleted and
# recreated, and it stays off across a restart. Without the key the
# kernel's default (on) is left alone. --check-config says which.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flannel.1  cni0 -- c1
#	 `-- h2 10.200.0.12 eth0  flannel.1  cni0 -- c2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

DEV=flannel.1
topo_up 2
require_vxlan
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","ChecksumOffload":false}}'

csum() { host_exec "$1" python3 "$LIB_DIR/txcsum.py" "$DEV" ${2:+"$2"}; }
csum_off() { [ "$(csum "$1")" = off ]; }
check_config() { host_exec 1 "$FLANNELD" --check-config --etcd-endpoints="$ETCD_CLIENT" --iface=eth0 2>&1; }

out=$(check_config) || fail "--check-config: $out"
grep -q '^ChecksumOffload: off' <<<"$out" || fail "--check-config does not show it: $out"
pass "--check-config: ChecksumOffload: off"

for i in 1 2; do flannel_start "$i"; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do csum_off "$i" || fail "h$i: TX checksum offload on $DEV is $(csum "$i")"; done
log_has 1 "TX checksum offload off on $DEV" || fail "no log line for the change"
for i in 1 2; do container_up "$i"; done
container_ping 1 2 || fail "c1 -> c2 with TX checksum offload off"
# TCP as well: its checksum is the one the offload would compute.
container_exec 2 timeout 20 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
srv=$!
wait_until 5 container_exec 2 sh -c 'ss -ltn | grep -q ":5201 "' || fail "iperf3 server did not listen"
container_exec 1 timeout 15 iperf3 -c "$(container_ip 2)" -p 5201 -t 1 >/dev/null 2>&1 ||
	fail "TCP c1 -> c2 failed with TX checksum offload off"
wait "$srv" || true
pass "TX checksum offload off on both hosts' $DEV; ping and TCP flow"

csum 1 on >/dev/null
wait_until 5 csum_off 1 || fail "turned on by hand, it stayed on"
pass "turned on by hand, it is turned off again"

old=$(host_exec 1 cat "/sys/class/net/$DEV/ifindex")
host_exec 1 ip link del "$DEV"
recreated() { local i; i=$(host_exec 1 cat "/sys/class/net/$DEV/ifindex" 2>/dev/null) && [ "$i" != "$old" ]; }
wait_until 5 recreated || fail "$DEV was not recreated"
wait_until 5 csum_off 1 || fail "after re-creation TX checksum offload is $(csum 1)"
wait_until 10 container_ping 1 2 || fail "c1 -> c2 after re-creation"
pass "after the device is deleted and recreated: off again, traffic flows"

flannel_stop 1
csum_off 1 || fail "off went away with flanneld's exit"
flannel_start 1
wait_ready 1
csum_off 1 || fail "after a restart TX checksum offload is $(csum 1)"
container_ping 1 2 || fail "c1 -> c2 after the restart"
pass "across a restart: still off"

# Without the key the kernel's default stays (a new device: VNI 2).
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":2}}'
out=$(check_config) || fail "--check-config: $out"
grep -q '^ChecksumOffload: on' <<<"$out" || fail "--check-config without the key: $out"
flannel_stop 1
flannel_start 1
wait_ready 1
DEV=flannel.2
[ "$(csum 1)" = on ] || fail "without the key, TX checksum offload on $DEV is $(csum 1)"
pass "without the key: the kernel's default (on) stays"
flannel_stop 1
flannel_stop 2
