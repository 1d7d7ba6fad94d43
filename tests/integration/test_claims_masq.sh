#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Masquerade claims of the README not covered by test_masq.sh, checked in
# the kernel's rules (nft list / iptables-save inside each host namespace):
#  - --ip-masq-fully-random-disable: no fully-random / --random-fully, in
#    nftables and in iptables mode (and with the default, they are there);
#  - a second network in nftables mode: table flannel-ipv4-<hash> beside
#    flannel-ipv4, neither rewriting the other across resyncs;
#  - switching a network from nftables back to iptables: iptables chains
#    with the rules, our nftables table gone;
#  - the nftables IPv6 table (ip6 flannel-ipv6...) of a dual-stack network;
#  - --ip-masq that cannot be set up (iptables failing: stand-ins over /usr/sbin) stops
#    start-up with the reason, before subnet.env.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11   nftables -> iptables, second network, fully-random
#	 |-- h2 10.200.0.12   dual-stack nftables
#	 `-- h3 10.200.0.13   iptables failing
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
require_masq_tools

NET=10.244.0.0/16
topo_up 3
etcd_start

# nft_count <host> <family> <table> <chain> <regex>: rules of a chain matching regex.
nft_count() {
	host_exec "$1" nft list chain "$2" "$3" "$4" 2>/dev/null | grep -cE -- "$5" || true
}
nft_has_table() { host_exec "$1" nft list table "$2" "$3" >/dev/null 2>&1; }
# nft_stable <host> <family> <table>: 6 postrouting and 2 forward rules.
nft_ok() {
	[ "$(nft_count "$1" "$2" "$3" postrtg '(return|masquerade( fully-random)?)$')" = 6 ] &&
		[ "$(nft_count "$1" "$2" "$3" forward 'accept$')" = 2 ]
}

# -- h1: nftables mode, masquerade without fully-random, and a second network
etcd_put_config "{\"Network\":\"$NET\",\"EnableNFTables\":true,\"Backend\":{\"Type\":\"alloc\"}}"
etcd_put_config '{"Network":"10.245.0.0/16","EnableNFTables":true,"Backend":{"Type":"alloc"}}' /second/network
flannel_start 1 --ip-masq --ip-masq-fully-random-disable --iptables-resync=1
flannel_start 1b --etcd-prefix=/second/network --ip-masq --iptables-resync=1 --healthz-port=9912
wait_ready 1
wait_ready 1b
wait_until 10 nft_ok 1 ip flannel-ipv4 || fail "nft table of the first network: $(host_exec 1 nft list table ip flannel-ipv4)"
second=$(host_exec 1 nft list tables ip | sed -nE 's/^table ip (flannel-ipv4-[0-9a-f]{8})$/\1/p')
[ -n "$second" ] || fail "no table of the second network: $(host_exec 1 nft list tables)"
wait_until 10 nft_ok 1 ip "$second" || fail "nft table of the second network: $(host_exec 1 nft list table ip "$second")"
host_exec 1 nft list chain ip "$second" postrtg | grep_q -F "ip saddr 10.245.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random" ||
	fail "second network's masquerade rule: $(host_exec 1 nft list table ip "$second")"
host_exec 1 nft list table ip flannel-ipv4 | grep_q 10.245. && fail "the first network's table holds the second's rules"
# fully-random disabled on the first: both masquerade rules plain.
assert_eq "$(nft_count 1 ip flannel-ipv4 postrtg 'masquerade$')" 2 "plain masquerade rules (--ip-masq-fully-random-disable)"
assert_eq "$(nft_count 1 ip flannel-ipv4 postrtg 'fully-random')" 0 "fully-random rules with --ip-masq-fully-random-disable"
# Several resyncs (1 s): neither daemon finds its table changed by the other.
hold_for 3 nft_ok 1 ip flannel-ipv4 || fail "the first network's table changed"
nft_ok 1 ip "$second" || fail "the second network's table changed"
log_has 1 "were missing or changed" && fail "flanneld 1 rewrote its table while the second network ran"
log_has 1b "were missing or changed" && fail "flanneld 1b rewrote its table while the first network ran"
flannel_stop 1b
pass "nftables: a second network's table $second beside flannel-ipv4, both stable over resyncs; --ip-masq-fully-random-disable leaves plain masquerade"

# -- h1: back to iptables mode for the same network
etcd_put_config "{\"Network\":\"$NET\",\"Backend\":{\"Type\":\"alloc\"}}"
flannel_stop 1
flannel_start 1 --ip-masq --ip-masq-fully-random-disable --iptables-resync=1
wait_ready 1
nat() { host_exec 1 iptables-save -t nat | grep -E -- '^-A ([A-Z]+ .*-j FLANNEL-POSTRTG$|FLANNEL-POSTRTG )' || true; }
assert_eq "$(nat | grep -c -- '-j MASQUERADE$')" 2 "iptables MASQUERADE rules without --random-fully"
assert_eq "$(nat | grep -c -- '--random-fully')" 0 "rules with --random-fully"
assert_eq "$(nat | grep -c -- '-A POSTROUTING ')" 1 "jumps to FLANNEL-POSTRTG"
wait_until 10 eval '[ "$(host_exec 1 iptables-save -t filter | grep -c -- "-A FLANNEL-FWD ")" = 2 ]' ||
	fail "iptables forward rules: $(host_exec 1 iptables-save -t filter)"
wait_until 10 eval '! nft_has_table 1 ip flannel-ipv4' || fail "nftables table flannel-ipv4 left behind: $(host_exec 1 nft list table ip flannel-ipv4)"
nft_ok 1 ip "$second" || fail "switching the first network to iptables touched the second's table"
# The default (fully-random on) adds it: the flag above is what removed it.
flannel_stop 1
flannel_start 1 --ip-masq --iptables-resync=1
wait_ready 1
assert_eq "$(nat | grep -c -- '-j MASQUERADE --random-fully$')" 2 "MASQUERADE --random-fully rules by default"
flannel_stop 1
pass "nftables -> iptables: iptables chains and forward rules in, table flannel-ipv4 removed, the other network's table kept; --random-fully only without the disable flag"

# -- h2: dual-stack nftables: an ip6 table too
etcd_put_config '{"Network":"10.250.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:5::/48","EnableNFTables":true,"Backend":{"Type":"alloc"}}' /v6/network
flannel_start 2 --etcd-prefix=/v6/network --public-ipv6=fd00::12 --ip-masq --iptables-resync=1
wait_ready 2
t6=$(host_exec 2 nft list tables ip6 | sed -nE 's/^table ip6 (flannel-ipv6-[0-9a-f]{8})$/\1/p')
t4=$(host_exec 2 nft list tables ip | sed -nE 's/^table ip (flannel-ipv4-[0-9a-f]{8})$/\1/p')
[ -n "$t6" ] && [ -n "$t4" ] || fail "tables on h2: $(host_exec 2 nft list tables)"
assert_eq "${t6#flannel-ipv6-}" "${t4#flannel-ipv4-}" "hash of the v4 and v6 tables of one network"
wait_until 10 nft_ok 2 ip6 "$t6" || fail "ip6 table: $(host_exec 2 nft list table ip6 "$t6")"
sub6=$(sed -n 's/^FLANNEL_IPV6_SUBNET=//p' "$(inst_dir 2)/subnet.env")
[ -n "$sub6" ] || fail "no FLANNEL_IPV6_SUBNET on h2"
pod6=$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$sub6")
tbl=$(host_exec 2 nft list table ip6 "$t6")
for w in "type nat hook postrouting priority srcnat" \
	"ip6 saddr $pod6 ip6 daddr fc00:5::/48 return" \
	"ip6 saddr fc00:5::/48 ip6 daddr != ff00::/8 masquerade fully-random" \
	"ip6 saddr != fc00:5::/48 ip6 daddr fc00:5::/48 masquerade fully-random" \
	"type filter hook forward priority filter" "ip6 daddr fc00:5::/48 accept"; do
	grep -qF -- "$w" <<<"$tbl" || fail "ip6 table lacks '$w': $tbl"
done
wait_until 10 nft_ok 2 ip "$t4" || fail "ip table of the dual-stack network: $(host_exec 2 nft list table ip "$t4")"
host_exec 2 ip6tables-save -t nat | grep_q FLANNEL && fail "nftables mode wrote ip6tables rules"
host_exec 2 nft flush chain ip6 "$t6" postrtg
wait_until 5 nft_ok 2 ip6 "$t6" || fail "flushed ip6 chain not restored"
pass "dual-stack nftables: table ip6 $t6 with upstream's IPv6 rules (ff00::/8, $pod6), restored when flushed, beside ip $t4"

# -- h3: masquerade that cannot be set up stops start-up, before subnet.env
# Helpers run from a fixed PATH: every iptables program there is replaced,
# in the daemon's own mount namespace only (fake_sbin.sh), by one that fails.
mkdir -p "$TMP/failbin"
for p in /usr/sbin/ip6tables* /usr/sbin/iptables*; do
	printf '#!/bin/sh\necho "%s: fake failure (test_claims_masq)" >&2\nexit 1\n' "${p##*/}" >"$TMP/failbin/${p##*/}"
	chmod +x "$TMP/failbin/${p##*/}"
done
etcd_put_config '{"Network":"10.251.0.0/16","Backend":{"Type":"alloc"}}' /fail/network
FLANNEL_WRAP="$LIB_DIR/fake_sbin.sh $TMP/failbin" flannel_start 3 --etcd-prefix=/fail/network --ip-masq
wait_until 20 proc_exited flanneld-3 || fail "flanneld --ip-masq with a failing iptables kept running"
assert_eq "$(proc_rc flanneld-3)" 1 "exit code when masquerade cannot be set up"
log_has 3 "Failed to set up IP masquerade:" "iptables" || fail "no reason in the log"
[ -e "$(inst_dir 3)/subnet.env" ] && fail "subnet.env written although masquerading failed"
pass "--ip-masq with a failing iptables: start-up stops (exit 1) naming iptables, no subnet.env"
