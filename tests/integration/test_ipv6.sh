#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPv6 leases (alloc backend, so only the lease manager is under test):
# dual-stack keys in upstream's exact form (canonical RFC 5952 text),
# PublicIPv6 from the interface or --public-ipv6, subnet.env's IPv6
# variables in upstream's order, both subnets kept across a restart and
# taken back from subnet.env when the key is gone; IPv6-only leases
# (0.0.0.0-0&…, PublicIP 0.0.0.0) matched on PublicIPv6, so two IPv6-only
# hosts never take each other's lease (upstream's v6-only hijack); a
# backend without IPv6 refuses EnableIPv6 with a message.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 eth0 10.200.0.11 fd00:200::11
#	 |-- h2 eth0 10.200.0.12 fd00:200::12
#	 `-- h3 eth0 10.200.0.13 (no IPv6 address)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

topo_up 3
for i in 1 2; do host_exec "$i" ip -6 addr add "fd00:200::1$i/64" dev eth0 nodad; done
etcd_start
DUAL='{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"alloc"}}'
etcd_put_config "$DUAL"

# key_of <id> [prefix]: the instance's key in etcd, found by its PublicIP or PublicIPv6.
key_of() {
	local k p=${2:-$ETCD_PREFIX}
	for k in $(subnet_keys "$p"); do
		if key_value "$k" | jq -e --arg a "$(host_ip "$1")" --arg b "fd00:200::1$1" \
			'(.PublicIP == $a) or (.PublicIPv6 == $b and .PublicIP == "0.0.0.0")' >/dev/null; then
			echo "$k"
		fi
	done
}
env_of() { cat "$(inst_dir "$1")/subnet.env"; }

for i in 1 2; do flannel_start "$i"; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do
	k=$(key_of "$i")
	[[ $(basename "$k") =~ ^10\.244\.([0-9]+)\.0-24\&fc00:0:0:([0-9a-f]+)::-64$ ]] ||
		fail "host $i: key $k is not 10.244.X.0-24&fc00:0:0:Y::-64"
	v4=${BASH_REMATCH[1]}
	v6=${BASH_REMATCH[2]}
	assert_eq "$(key_value "$k")" "{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":\"fd00:200::1$i\"}" "lease value of host $i"
	assert_eq "$(env_of "$i")" "FLANNEL_NETWORK=10.244.0.0/16
FLANNEL_SUBNET=10.244.$v4.1/24
FLANNEL_IPV6_NETWORK=fc00::/48
FLANNEL_IPV6_SUBNET=fc00:0:0:$v6::1/64
FLANNEL_MTU=1500
FLANNEL_IPMASQ=false" "subnet.env of host $i"
	log_has "$i" "Picking ipv6 subnet in range fc00:0:0:1:: ... fc00:0:0:ffff::" || fail "no v6 picking line on host $i"
done
[ "$(key_of 1)" != "$(key_of 2)" ] || fail "hosts 1 and 2 share a key"
pass "dual-stack: keys $(basename "$(key_of 1)") and $(basename "$(key_of 2)"), PublicIPv6 from eth0, subnet.env with upstream's IPv6 lines"

# -- restart keeps both subnets; with the key gone, subnet.env brings both back
k1=$(key_of 1)
env1=$(env_of 1)
flannel_stop 1
flannel_start 1
wait_ready 1
assert_eq "$(key_of 1)" "$k1" "key of host 1 after a restart"
log_has 1 "Found lease (ip: " "ipv6: fc00:0:" "for current IP (10.200.0.11), reusing" || fail "no reuse line"
flannel_stop 1
etcdctl_sw del -- "$k1" >/dev/null
flannel_start 1
wait_ready 1
assert_eq "$(key_of 1)" "$k1" "key of host 1 from its subnet.env"
assert_eq "$(env_of 1)" "$env1" "subnet.env of host 1 after taking the subnets back"
log_has 1 "Found previously leased subnet (ip: " "ipv6: fc00:0:" || fail "no 'previously leased' line"
pass "restart keeps both subnets; with the key deleted, both come back from subnet.env"

# -- --public-ipv6 is what the lease says; no IPv6 address and no flag is an error
flannel_start 3 --public-ipv6=fd00:300::3
wait_ready 3
k3=$(key_of 3)
assert_eq "$(key_value "$k3" | jq -r .PublicIPv6)" fd00:300::3 "PublicIPv6 of host 3"
flannel_stop 3
etcdctl_sw del -- "$k3" >/dev/null
flannel_start 3
wait_until 10 proc_exited flanneld-3 || fail "flanneld 3 without an IPv6 address kept running"
assert_eq "$(proc_rc flanneld-3)" 1 "exit code without an IPv6 address"
log_has 3 "EnableIPv6: eth0 has no global IPv6 address and --public-ipv6 is not set" || fail "no message about the missing IPv6 address"
flannel_start 3 --public-ipv6=fd00::zz
wait_until 10 proc_exited flanneld-3 || fail "flanneld 3 with a bad --public-ipv6 kept running"
log_has 3 "--public-ipv6: invalid public IPv6 address: fd00::zz" || fail "no message naming --public-ipv6"
pass "--public-ipv6 published; no IPv6 address or a bad --public-ipv6: exit 1 with a message"

# -- a backend without IPv6
etcd_put_config '{"Network":"10.246.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:2::/48","Backend":{"Type":"udp"}}' /udp6/network
flannel_start 3 --etcd-prefix=/udp6/network --public-ipv6=fd00:300::3
wait_until 10 proc_exited flanneld-3 || fail "flanneld with udp and EnableIPv6 kept running"
log_has 3 "not supported yet: IPv6 (EnableIPv6) with backend udp" || fail "no message about udp and IPv6"
pass "udp with EnableIPv6: refused with a message"

# -- IPv6-only: keys 0.0.0.0-0&..., PublicIP 0.0.0.0, matched on PublicIPv6
V6=/v6only/network
etcd_put_config '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00:1::/48","Backend":{"Type":"alloc"}}' "$V6"
for i in 1 2; do flannel_start "${i}b" --etcd-prefix="$V6" --healthz-port=9912; done
for i in 1 2; do wait_ready "${i}b"; done
for i in 1 2; do
	k=$(key_of "$i" "$V6")
	[[ $(basename "$k") =~ ^0\.0\.0\.0-0\&fc00:1:0:([0-9a-f]+)::-64$ ]] || fail "v6-only host $i: key $k"
	assert_eq "$(key_value "$k")" "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fd00:200::1$i\"}" "v6-only lease value of host $i"
	assert_eq "$(env_of "${i}b")" "FLANNEL_IPV6_NETWORK=fc00:1::/48
FLANNEL_IPV6_SUBNET=fc00:1:0:${BASH_REMATCH[1]}::1/64
FLANNEL_MTU=1500
FLANNEL_IPMASQ=false" "v6-only subnet.env of host $i"
done
ka=$(key_of 1 "$V6")
kb=$(key_of 2 "$V6")
[ "$ka" != "$kb" ] || fail "v6-only hosts share $ka"
# Without its subnet.env only the match on PublicIPv6 can find host 2's lease.
flannel_stop 2b
rm "$(inst_dir 2b)/subnet.env"
flannel_start 2b --etcd-prefix="$V6" --healthz-port=9912
wait_ready 2b
assert_eq "$(key_of 2 "$V6")" "$kb" "v6-only host 2's key after a restart"
assert_eq "$(key_value "$ka" | jq -r .PublicIPv6)" fd00:200::11 "host 1's v6-only lease after host 2's restart"
pass "IPv6-only: keys $(basename "$ka") / $(basename "$kb"), PublicIP 0.0.0.0, upstream's subnet.env; a restart keeps its own lease and never takes the other's"
flannel_stop_all 1 2 1b 2b

# -- --ip-masq on a dual-stack network: upstream's rules for both families
flannel_start 1 --ip-masq --iptables-resync=1
wait_ready 1
s6=$(sed -n 's/^FLANNEL_IPV6_SUBNET=//p' "$(inst_dir 1)/subnet.env")
pod6="${s6%::1/64}::/64"
M='-m comment --comment "flanneld masq"'
want6=$(printf '%s\n' "-A POSTROUTING $M -j FLANNEL-POSTRTG" \
	"-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 $M -j RETURN" \
	"-A FLANNEL-POSTRTG -s $pod6 -d fc00::/48 $M -j RETURN" \
	"-A FLANNEL-POSTRTG -s fc00::/48 -d $pod6 $M -j RETURN" \
	"-A FLANNEL-POSTRTG ! -s fc00::/48 -d $pod6 $M -j RETURN" \
	"-A FLANNEL-POSTRTG -s fc00::/48 ! -d ff00::/8 $M -j MASQUERADE --random-fully" \
	"-A FLANNEL-POSTRTG ! -s fc00::/48 -d fc00::/48 $M -j MASQUERADE --random-fully")
have6() { host_exec 1 ip6tables-save -t nat | grep -E -- '^-A ([A-Z]+ .*-j FLANNEL-POSTRTG$|FLANNEL-POSTRTG )'; }
assert_eq "$(have6)" "$want6" "ip6tables nat rules on h1"
host_exec 1 iptables-save -t nat | grep_q -- "-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4" || fail "no IPv4 masquerade rule on h1"
host_exec 1 ip6tables -t nat -F FLANNEL-POSTRTG
wait_until 5 eval '[ "$(have6)" = "$want6" ]' || fail "ip6tables rules not restored: $(have6)"
flannel_stop 1
pass "--ip-masq dual-stack: ip6tables gets upstream's rules with fc00::/48, $pod6 and ff00::/8 (restored when flushed), iptables the IPv4 ones"
