#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Claims of the README and man page about the daemon itself, each checked
# on a real daemon:
#  - SIGHUP is ignored (the daemon stays ready); SIGINT exits 0 and leaves
#    the lease and subnet.env in place;
#  - without --subnet-file, subnet.env goes to /run/flannel/subnet.env
#    (the daemon runs in a private mount namespace with a tmpfs on /run, so
#    the machine's own /run is never written);
#  - vxlan's GBP and Learning options reach the kernel's device, and the
#    defaults leave them off;
#  - ipip refuses EnableIPv6 before it touches etcd or the kernel (the
#    daemon and --check-config, with the same message).
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11   signals, default paths, ipip + EnableIPv6
#	 |-- h2 10.200.0.12   vxlan VNI 7, GBP + Learning, Port 4789
#	 `-- h3 10.200.0.13   vxlan VNI 1, defaults
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"

topo_up 3
etcd_start

# -- signals
etcd_put_config "$DEFAULT_CONFIG"
flannel_start 1
wait_ready 1
key=$(subnet_key_of 1)
before=$(key_value "$key")
proc_signal flanneld-1 HUP
wait_until 10 log_has 1 "Received SIGHUP, ignoring" || fail "no sign that SIGHUP arrived"
flannel_running 1 || fail "SIGHUP stopped the daemon (rc $(proc_rc flanneld-1))"
is_ready 1 || fail "not ready after SIGHUP"
assert_eq "$(key_value "$key")" "$before" "lease after SIGHUP"
proc_signal flanneld-1 INT
wait_until 15 proc_exited flanneld-1 || fail "SIGINT did not stop the daemon"
assert_eq "$(proc_rc flanneld-1)" 0 "exit code after SIGINT"
log_has 1 "Received Interrupt, shutting down" || fail "no shutdown message for SIGINT"
assert_eq "$(key_value "$key")" "$before" "lease after SIGINT (must stay in place)"
[ -n "$(key_lease "$key")" ] && [ "$(key_lease "$key")" != 0 ] || fail "the lease lost its etcd lease on SIGINT"
[ -s "$(inst_dir 1)/subnet.env" ] || fail "subnet.env removed on SIGINT"
pass "SIGHUP ignored (still ready, lease unchanged); SIGINT exits 0 leaving lease and subnet.env"

# -- default paths: /run/flannel/subnet.env inside a private mount namespace
run_existed=0
[ -e /run/flannel ] && run_existed=1
d=$(inst_dir 1)
cat "$d/flanneld.log" >>"$d/flanneld.log.prev"
# The daemon's pid is the spawned one: ip netns exec, unshare and sh all exec.
# shellcheck disable=SC2016 # expanded by the inner sh
SPAWN_LOG=$d/flanneld.log spawn flanneld-1 "$(host_ns 1)" \
	unshare --mount --propagation private sh -c 'mount -t tmpfs flt-run /run && exec "$@"' sh \
	"$FLANNELD" --etcd-endpoints="$ETCD_CLIENT" --public-ip="$(host_ip 1)" --iface=eth0 \
	--healthz-ip=127.0.0.1 --healthz-port=$HEALTHZ_PORT -v=1
echo $HEALTHZ_PORT >"$d/port"
wait_ready 1
pid=$(flannel_pid 1)
env_file=/proc/$pid/root/run/flannel/subnet.env
[ -s "$env_file" ] || fail "no /run/flannel/subnet.env in the daemon's mount namespace"
grep -qx "FLANNEL_SUBNET=$(sed -n 's/^FLANNEL_SUBNET=//p' "$d/subnet.env")" "$env_file" ||
	fail "default subnet.env does not hold the reused subnet: $(cat "$env_file")"
grep -qx 'FLANNEL_NETWORK=10.244.0.0/16' "$env_file" || fail "default subnet.env: $(cat "$env_file")"
if [ $run_existed = 0 ] && [ -e /run/flannel ]; then
	fail "the machine's own /run/flannel was created"
fi
flannel_stop 1
pass "without --subnet-file: /run/flannel/subnet.env written (private tmpfs on /run), the subnet reused"

# -- vxlan GBP and Learning on a real device; defaults off
etcd_put_config '{"Network":"10.246.0.0/16","Backend":{"Type":"vxlan","VNI":7,"Port":4789,"GBP":true,"Learning":true}}' /gbp/network
etcd_put_config '{"Network":"10.248.0.0/16","Backend":{"Type":"vxlan"}}' /vxdef/network
flannel_start 2 --etcd-prefix=/gbp/network
flannel_start 3 --etcd-prefix=/vxdef/network
wait_ready 2
wait_ready 3
vx() { # host dev: the device's vxlan attributes as JSON
	ip -n "$(host_ns "$1")" -d -j link show dev "$2" | jq -c '.[0].linkinfo.info_data'
}
a=$(vx 2 flannel.7)
assert_eq "$(jq -r '[.id, .port, .learning, (.gbp // false)] | @tsv' <<<"$a")" "7	4789	true	true" "flannel.7 id/port/learning/gbp ($a)"
b=$(vx 3 flannel.1)
assert_eq "$(jq -r '[.id, .port, .learning, (.gbp // false)] | @tsv' <<<"$b")" "1	8472	false	false" "flannel.1 id/port/learning/gbp ($b)"
# A restart keeps the device as it is (compatible attributes).
idx=$(ip -n "$(host_ns 2)" -j link show dev flannel.7 | jq '.[0].ifindex')
flannel_stop 2
flannel_start 2 --etcd-prefix=/gbp/network
wait_ready 2
assert_eq "$(ip -n "$(host_ns 2)" -j link show dev flannel.7 | jq '.[0].ifindex')" "$idx" "flannel.7 kept across a restart"
assert_eq "$(vx 2 flannel.7)" "$a" "flannel.7 attributes after a restart"
flannel_stop_all 2 3
pass "vxlan: GBP, Learning and Port on the kernel's device (ip -d -j link), off by default, kept across a restart"

# -- ipip refuses EnableIPv6, early
etcd_put_config '{"Network":"10.247.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:7::/48","Backend":{"Type":"ipip"}}' /ipip6/network
msg="not supported yet: IPv6 (EnableIPv6) with backend ipip"
rc=0
host_exec 1 timeout 20 "$FLANNELD" --check-config --etcd-endpoints="$ETCD_CLIENT" \
	--etcd-prefix=/ipip6/network --iface=eth0 >"$TMP/cc.out" 2>"$TMP/cc.err" || rc=$?
cat "$TMP/cc.out" "$TMP/cc.err" >>"$d/flanneld.log.prev"
assert_eq "$rc" 1 "--check-config exit code for ipip + EnableIPv6"
grep -qF -- "$msg" "$TMP/cc.err" || fail "--check-config: no '$msg' in: $(cat "$TMP/cc.err")"
flannel_start 1 --etcd-prefix=/ipip6/network --public-ipv6=fd00::11
wait_until 20 proc_exited flanneld-1 || fail "flanneld with ipip + EnableIPv6 kept running"
assert_eq "$(proc_rc flanneld-1)" 1 "exit code for ipip + EnableIPv6"
log_has 1 "$msg" || fail "no '$msg' in the log"
ip -n "$(host_ns 1)" link show flannel.ipip >/dev/null 2>&1 && fail "flannel.ipip was created"
assert_eq "$(subnet_keys /ipip6/network)" "" "leases under /ipip6/network"
pass "ipip + EnableIPv6: refused before any lease or device, by the daemon (exit 1) and --check-config"
