#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# flanneld --check-config: reads <prefix>/config from a real etcd, prints
# the effective network, subnet range, backend, interface and MTU and
# exits 0 when valid; a missing or invalid config exits 1 and an etcd it
# cannot read exits 2, each with a message naming the problem on stderr.
# It takes no lease (no key, no etcd lease) and creates no device.
#
#	sw: br0 10.200.0.1 + etcd (auth switched on for the last part)
#	                   + etcd with TLS client certificates on :2479
#	 `-- h1 10.200.0.11 eth0 MTU 1400   flanneld --check-config ...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

topo_up 1
etcd_start
ip -n "$(host_ns 1)" link set eth0 mtu 1400
LOG=$(inst_dir 1)/flanneld.log # lib.sh's cleanup looks for sanitizer reports here

# check <flags...>: run --check-config in host 1; sets rc, out (stdout), err (stderr).
check() {
	local t0
	t0=$(now_us)
	rc=0
	host_exec 1 timeout 20 "$FLANNELD" --check-config --etcd-endpoints="$ETCD_CLIENT" "$@" \
		>"$TMP/out" 2>"$TMP/err" || rc=$?
	took_ms=$((($(now_us) - t0) / 1000))
	out=$(cat "$TMP/out")
	err=$(cat "$TMP/err")
	{
		echo "--- --check-config $* (rc $rc)"
		cat "$TMP/out" "$TMP/err"
	} >>"$LOG"
}
has_line() { grep -qxF -- "$2" <<<"$1" || fail "no line '$2' in: $1"; } # text line
expect_ok() { [ "$rc" -eq 0 ] || fail "--check-config $1: exit $rc, expected 0: $err"; }
expect_fail() { # rc what message
	[ "$rc" -eq "$1" ] || fail "--check-config $2: exit $rc, expected $1 (stdout: $out; stderr: $err)"
	grep -qF -- "$3" <<<"$err" || fail "--check-config $2: stderr lacks '$3': $err"
}

# -- no config yet
check
expect_fail 1 "without a config" "/coreos.com/network/config not found in etcd"
pass "missing config: exit 1, $err"

# -- valid configs
etcd_put_config '{"Network":"10.244.0.0/16","SubnetLen":26,"SubnetMin":"10.244.1.0","SubnetMax":"10.244.9.192","Backend":{"Type":"vxlan","VNI":7}}'
check --iface=eth0
expect_ok vxlan
has_line "$out" "Config key:  /coreos.com/network/config"
has_line "$out" "Network:     10.244.0.0/16"
has_line "$out" "SubnetLen:   26"
has_line "$out" "SubnetMin:   10.244.1.0"
has_line "$out" "SubnetMax:   10.244.9.192"
has_line "$out" "Subnets:     36 (10.244.1.0/26 to 10.244.9.192/26)"
has_line "$out" "Backend:     vxlan"
has_line "$out" "Interface:   eth0 (address $(host_ip 1), MTU 1400)"
has_line "$out" "MTU:         1350 (the MTU of eth0 (1400) minus 50 for VXLAN)"
has_line "$out" "The network config is valid."
pass "vxlan config: exit 0, MTU 1350 from eth0's 1400"

# Defaults filled in as the daemon does; the interface from the default route.
etcd_put_config "$DEFAULT_CONFIG"
check
expect_ok alloc
has_line "$out" "SubnetLen:   24"
has_line "$out" "SubnetMin:   10.244.1.0"
has_line "$out" "SubnetMax:   10.244.255.0"
has_line "$out" "Backend:     alloc"
has_line "$out" "Interface:   eth0 (address $(host_ip 1), MTU 1400)"
has_line "$out" "MTU:         1400 (the MTU of eth0)"
pass "alloc config with defaults: exit 0, default-route interface"

etcd_put_config '{"Network":"10.50.0.0/22","Backend":{"Type":"VXLAN","MTU":9000}}' /other/network
FLANNELD_ETCD_PREFIX=/other/network check --public-ip=192.0.2.7
expect_ok "under /other/network"
has_line "$out" "Config key:  /other/network/config"
has_line "$out" "SubnetLen:   24"
has_line "$out" "Subnets:     3 (10.50.1.0/24 to 10.50.3.0/24)"
has_line "$out" "PublicIP:    192.0.2.7"
has_line "$out" "MTU:         8950 (Backend.MTU 9000 minus 50 for VXLAN)"
pass "prefix from FLANNELD_ETCD_PREFIX, Backend.MTU, --public-ip"

# -- invalid configs: exit 1, the problem named
bad() { # json message
	etcd_put_config "$1"
	check
	expect_fail 1 "$1" "$2"
	pass "$1: $(tail -n 1 <<<"$err")"
}
bad '{"Network":"10.244.0.0/33"}' "invalid network config in /coreos.com/network/config: invalid CIDR address: 10.244.0.0/33"
bad '{"Network":"10.244.0.0/16","SubnetLen":31}' "SubnetLen must be less than /31"
bad '{"Network":"10.244.0.0/16","SubnetLen":17}' "network must be able to accommodate at least four subnets"
bad '{"Network":"10.244.0.0/16","SubnetMin":"10.245.0.0"}' "SubnetMin is not in the range of the Network"
bad '{"Network":"10.244.0.0/16","SubnetMin":"10.244.9.0","SubnetMax":"10.244.2.0"}' "SubnetMin 10.244.9.0 is above SubnetMax 10.244.2.0"
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"foo"}}' 'unknown backend type: "foo"'
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"tencent-vpc"}}' 'not supported'
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}' "invalid vxlan backend config: VNI must be an integer from 0 to 16777215"
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":100}}' "MTU must be 0"
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"ipsec","PSK":"short"}}' "invalid ipsec backend config: config error, password is too short"
PSK96=$(printf '%096d' 7)
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"ipsec","PSK":"'"$PSK96"'","ESPProposal":"AES GCM"}}' "ESPProposal AES GCM is not a strongSwan proposal"
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"ipsec","PSK":"'"$PSK96"'","UDPEncap":true}}'
check
expect_ok "ipsec with UDPEncap"
has_line "$out" "MTU:         1315 (the MTU of eth0 (1400) minus 85 for IPsec with UDP encapsulation)"
grep_q "$PSK96" <<<"$out$err" && fail "--check-config printed the PSK"
pass "ipsec: PSK checked (never printed), MTU 1400 - 85 with UDPEncap"
# wireguard's Modes against the network's families (no kernel WireGuard needed here)
bad '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","Mode":"ipv6"}}' "Mode ipv6 reaches peers over IPv6, but EnableIPv6 is off"
etcd_put_config '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"wireguard","Mode":"ipv4"}}'
check --public-ipv6=fd00:200::11
expect_fail 1 "wireguard Mode ipv4, IPv6-only" "Mode ipv4 reaches peers over IPv4, but EnableIPv4 is off"
bad '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"wireguard"}}' "EnableIPv6: eth0 has no global IPv6 address and --public-ipv6 is not set"
etcd_put_config '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"wireguard","ListenPortV6":51820}}'
check --public-ipv6=fd00:200::11
expect_fail 1 "wireguard ListenPortV6 = ListenPort" "ListenPort and ListenPortV6 are both 51820: flannel-wg and flannel-wg-v6 need two"
etcd_put_config '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"wireguard","Mode":"auto"}}'
check --public-ipv6=fd00:200::11
expect_ok "wireguard dual-stack, Mode auto"
has_line "$out" "PublicIPv6:  fd00:200::11"
has_line "$out" "MTU:         1320 (the MTU of eth0 (1400) minus 80 for WireGuard)"
pass "wireguard: Mode ipv6 without EnableIPv6, Mode ipv4 without EnableIPv4, no IPv6 address and equal listen ports refused; dual-stack Mode auto accepted with --public-ipv6"
bad '{"Network":"10.244.0.0/16","EnableIPv4":false}' "none defined stack"
bad '{"Network": "10.244.0.0/16",' "invalid network config"
bad '{}' "please define a correct Network parameter"

# -- nothing was taken or created
assert_eq "$(subnet_keys)" "" "subnet keys after the checks"
assert_eq "$(subnet_keys /other/network)" "" "subnet keys under /other/network"
assert_eq "$(etcdctl_sw lease list | head -n 1)" "found 0 leases" "etcd leases after the checks"
host_exec 1 ip -o link show | grep_q flannel && fail "a flannel device appeared: $(host_exec 1 ip -o link show)"
pass "no lease key, no etcd lease, no device"

# -- etcd that cannot be read: exit 2 within the deadline
check --etcd-endpoints=http://127.0.0.1:1
expect_fail 2 "unreachable etcd" "etcd did not answer within 5 s: http://127.0.0.1:1"
((took_ms >= 4500 && took_ms < 9000)) || fail "unreachable etcd: gave up after ${took_ms} ms, expected ~5 s"
pass "unreachable etcd: exit 2 after ${took_ms} ms: $err"

etcd_put_config "$DEFAULT_CONFIG"
etcdctl_sw user add root:rootpw >/dev/null
etcdctl_sw user grant-role root root >/dev/null
etcdctl_sw auth enable >/dev/null
check --etcd-username=root --etcd-password=rootpw
expect_ok "with credentials"
has_line "$out" "Network:     10.244.0.0/16"
check --etcd-username=root --etcd-password=wrong
expect_fail 2 "wrong password" "authentication failed"
pass "etcd auth: right password exit 0, wrong one exit 2: $err"

# -- TLS with a client certificate, on a second etcd
command -v openssl >/dev/null || skip "openssl is not installed (the rest passed)"
make_test_pki
etcd_tls_start 2479
tlsctl put /coreos.com/network/config '{"Network":"10.66.0.0/16","Backend":{"Type":"alloc"}}' >/dev/null
check --etcd-endpoints="$ETCDS" --etcd-cafile="$P/ca.pem" --etcd-certfile="$P/cli.pem" --etcd-keyfile="$P/cli-key.pem"
expect_ok "TLS with a client certificate"
has_line "$out" "Network:     10.66.0.0/16"
check --etcd-endpoints="$ETCDS" --etcd-cafile="$P/other.pem" --etcd-certfile="$P/cli.pem" --etcd-keyfile="$P/cli-key.pem"
expect_fail 2 "TLS with the wrong CA" "certificate verify failed"
assert_eq "$(tlsctl get --prefix --keys-only /coreos.com/network/subnets/ | grep -c . || true)" 0 "keys in the TLS etcd"
pass "TLS: right CA and client certificate exit 0; wrong CA exit 2: $err"

# -- --version: the Makefile's number, as upstream prints it (v0.1.0), and the commit
want=$(make -s -C "$REPO_ROOT" print-version)
v=$("$FLANNELD" --version 2>&1) || fail "--version exit $?: $v"
[[ $v =~ ^v${want//./\.}( \(git [0-9a-f]+(-dirty)?\))?$ ]] || fail "--version: '$v', expected v$want [(git <commit>)]"
pass "--version prints '$v'"
