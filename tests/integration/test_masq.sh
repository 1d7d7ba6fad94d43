#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --ip-masq and --iptables-forward-rules, with iptables and with nftables
# (EnableNFTables): upstream's rules exactly (iptables-save form); a
# container reaching an "outside" address arrives with its host's address,
# container-to-container traffic keeps its source; rules deleted by hand
# come back within the resync period; a restart or stale rules of an older
# config leave exactly one copy; rules of others are untouched; a second
# network on the same host gets chains of its own.
#
#	sw: br0 10.200.0.1 + etcd + "outside" UDP echo server on 10.200.0.1:9000
#	 |-- h1 10.200.0.11 eth0  cni0 -- c1 (container)
#	 `-- h2 10.200.0.12 eth0  cni0 -- c2 (UDP echo server on :9000)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
require_masq_tools

NET=10.244.0.0/16
topo_up 2
etcd_start
etcd_put_config "{\"Network\":\"$NET\",\"Backend\":{\"Type\":\"host-gw\"}}"

M='-m comment --comment "flanneld masq"'
F='-m comment --comment "flanneld forward"'
pod_of() { local s; s=$(subnet_of "$1"); echo "$(ip_add "${s%/*}" -1)/${s#*/}"; }
# want_nat <host> [chain]: the nat rules upstream master installs, as iptables-save prints them.
want_nat() {
	local c=${2:-FLANNEL-POSTRTG} pod
	pod=$(pod_of "$1")
	printf '%s\n' "-A POSTROUTING $M -j $c" \
		"-A $c -m mark --mark 0x4000/0x4000 $M -j RETURN" \
		"-A $c -s $pod -d $NET $M -j RETURN" \
		"-A $c -s $NET -d $pod $M -j RETURN" \
		"-A $c ! -s $NET -d $pod $M -j RETURN" \
		"-A $c -s $NET ! -d 224.0.0.0/4 $M -j MASQUERADE --random-fully" \
		"-A $c ! -s $NET -d $NET $M -j MASQUERADE --random-fully"
}
want_fwd() {
	local c=${2:-FLANNEL-FWD}
	printf '%s\n' "-A FORWARD $F -j $c" "-A $c -s $NET $F -j ACCEPT" "-A $c -d $NET $F -j ACCEPT"
}
# have <host> <nat|filter> <chain>: the jump to chain and chain's rules now.
have() { host_exec "$1" iptables-save -t "$2" | grep -E -- "^-A ([A-Z]+ .*-j $3\$|$3 )"; }
nat_ok() { [ "$(have "$1" nat "${2:-FLANNEL-POSTRTG}")" = "$(want_nat "$1" "${2:-}")" ]; }
fwd_ok() { [ "$(have "$1" filter "${2:-FLANNEL-FWD}")" = "$(want_fwd "$1" "${2:-}")" ]; }

# -- the outside world and a container's echo server: UDP echo that records senders
cat >"$TMP/echo.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 9000))
while True:
    d, a = s.recvfrom(2048)
    with open(sys.argv[1], "a") as f:
        f.write(a[0] + "\n")
    s.sendto(d, a)
PY
# send_from <container> <addr>: one datagram, echoed back within 2 s
send_from() {
	container_exec "$1" timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"x", (sys.argv[1], 9000))
s.recvfrom(16)' "$2" 2>/dev/null
}
SEEN=$TMP/seen
: >"$SEEN"
SPAWN_LOG=$TMP/echo-sw.log spawn echo-sw "$SW_NS" python3 "$TMP/echo.py" "$SEEN" 10.200.0.1
wait_until 5 eval 'sw_exec ss -Hlun "sport = :9000" | grep_q .' || fail "outside echo server did not start"

# -- stale state before the first start on h1: rules of an older network in
# our chain, a second jump to it, and rules of someone else
host_exec 1 iptables -t nat -N FLANNEL-POSTRTG
host_exec 1 iptables -t nat -A FLANNEL-POSTRTG -s 10.5.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE
host_exec 1 iptables -t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
host_exec 1 iptables -t nat -A POSTROUTING -j FLANNEL-POSTRTG
host_exec 1 iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -j RETURN
host_exec 1 iptables -t filter -A FORWARD -s 192.0.2.0/24 -j ACCEPT
others() { host_exec 1 iptables-save | grep -c -- '-s 192.0.2.0/24'; }

for i in 1 2; do flannel_start "$i" --ip-masq --iptables-resync=1; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do
	nat_ok "$i" || fail "nat rules on h$i:
$(have "$i" nat FLANNEL-POSTRTG)
expected:
$(want_nat "$i")"
	# The forward rules follow readiness, without holding it up.
	wait_until 10 fwd_ok "$i" || fail "forward rules on h$i: $(have "$i" filter FLANNEL-FWD)"
	grep -qx FLANNEL_IPMASQ=true "$(inst_dir "$i")/subnet.env" || fail "FLANNEL_IPMASQ on h$i"
done
assert_eq "$(others)" 2 "rules of others on h1"
log_has 1 "Masquerade rules for network $NET, subnet $(pod_of 1) in place (iptables FLANNEL-POSTRTG)" ||
	fail "no masquerade summary in h1's log"
pass "iptables: upstream's nat and forward rules exactly, once (stale rules and a second jump replaced), others' rules kept, FLANNEL_IPMASQ=true"

for i in 1 2; do container_up "$i"; done
send_from 1 10.200.0.1 || fail "container 1 got no echo from the outside address"
assert_eq "$(tail -n 1 "$SEEN")" "$(host_ip 1)" "source address seen outside"
c2=$(container_ip 2)
SPAWN_LOG=$TMP/echo-c2.log spawn echo-c2 "$(container_ns 2)" python3 "$TMP/echo.py" "$TMP/seen-c2" "$c2"
wait_until 5 eval 'container_exec 2 ss -Hlun "sport = :9000" | grep_q .' || fail "echo server in c2 did not start"
send_from 1 "$c2" || fail "container 1 got no echo from container 2"
assert_eq "$(tail -n 1 "$TMP/seen-c2")" "$(container_ip 1)" "source address seen by container 2"
pass "masquerade: container 1 -> outside arrives from $(host_ip 1); container 1 -> container 2 keeps $(container_ip 1)"

# -- deleted by hand: back within the resync period (1 s)
host_exec 1 iptables -t nat -D FLANNEL-POSTRTG 5
host_exec 1 iptables -t filter -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
wait_until 5 nat_ok 1 || fail "nat rules not restored: $(have 1 nat FLANNEL-POSTRTG)"
wait_until 5 fwd_ok 1 || fail "forward jump not restored: $(have 1 filter FLANNEL-FWD)"
wait_until 5 log_has 1 "Some iptables rules were missing or changed; deleted and recreated them" || fail "no message about the restored rules"
host_exec 1 iptables -t nat -F FLANNEL-POSTRTG
wait_until 5 nat_ok 1 || fail "flushed chain not restored"
send_from 1 10.200.0.1 || fail "no echo after the rules came back"
pass "iptables: a deleted rule, a deleted jump and a flushed chain are back within the 1 s resync"

# -- restart: still exactly one copy; others' rules untouched
flannel_stop 1
flannel_start 1 --ip-masq --iptables-resync=1
wait_ready 1
nat_ok 1 || fail "nat rules after restart: $(have 1 nat FLANNEL-POSTRTG)"
wait_until 10 fwd_ok 1 || fail "forward rules after restart: $(have 1 filter FLANNEL-FWD)"
assert_eq "$(others)" 2 "rules of others on h1 after restart"
pass "iptables: restart leaves exactly one copy of each rule"

# -- a second network on h1 gets chains of its own; neither flushes the other
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"alloc"}}' /second/network
flannel_start 1b --etcd-prefix=/second/network --ip-masq --iptables-resync=1 --healthz-port=9912
wait_ready 1b
c2nd=$(host_exec 1 iptables-save -t nat | sed -nE 's/^:(FLANNEL-POSTRTG-[0-9a-f]{8}) .*/\1/p')
[ -n "$c2nd" ] || fail "no chain of the second network: $(host_exec 1 iptables-save -t nat)"
hold_for 3 nat_ok 1 || fail "the second network disturbed the first's rules"
log_has 1 "were missing or changed" && fail "flanneld 1 rewrote its rules after the second network started"
host_exec 1 iptables-save -t nat | grep_q -- "-A $c2nd -s 10.245.0.0/16 ! -d 224.0.0.0/4" || fail "second network's rules missing"
flannel_stop 1b
pass "two networks on one host: FLANNEL-POSTRTG and $c2nd side by side, stable across resyncs"
flannel_stop_all 1 2
nat_ok 1 || fail "rules removed on SIGTERM (upstream leaves them)"

# -- nftables mode
etcd_put_config "{\"Network\":\"$NET\",\"EnableNFTables\":true,\"Backend\":{\"Type\":\"host-gw\"}}"
nft_rules() { host_exec "$1" nft list chain ip flannel-ipv4 "$2" 2>/dev/null | grep -cE '(return|masquerade( fully-random)?|accept)$'; }
nft_ok() { [ "$(nft_rules "$1" postrtg)" = 6 ] && [ "$(nft_rules "$1" forward)" = 2 ]; }
for i in 1 2; do flannel_start "$i" --ip-masq --iptables-resync=1; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do nft_ok "$i" || fail "nft rules on h$i: $(host_exec "$i" nft list table ip flannel-ipv4)"; done
# nftables took over: the iptables chains of the same network are gone
for i in 1 2; do
	host_exec "$i" iptables-save | grep_q -E -- '^:FLANNEL-POSTRTG |-j FLANNEL-POSTRTG$' && fail "h$i kept the iptables masquerade chain"
	host_exec "$i" iptables-save | grep_q -E -- '^:FLANNEL-FWD |-j FLANNEL-FWD$' && fail "h$i kept the iptables forward chain"
done
assert_eq "$(others)" 2 "rules of others on h1 in nftables mode"
t=$(host_exec 1 nft list table ip flannel-ipv4)
for w in "type nat hook postrouting priority srcnat" "type filter hook forward priority filter" \
	"ip saddr $NET ip daddr != 224.0.0.0/4 masquerade fully-random" \
	"ip saddr != $NET ip daddr $(pod_of 1) return" "ip saddr $NET accept"; do
	grep -qF -- "$w" <<<"$t" || fail "nft table on h1 lacks '$w': $t"
done
: >"$SEEN"
send_from 1 10.200.0.1 || fail "nftables: container 1 got no echo from the outside address"
assert_eq "$(tail -n 1 "$SEEN")" "$(host_ip 1)" "source address seen outside (nftables)"
send_from 1 "$c2" || fail "nftables: container 1 got no echo from container 2"
assert_eq "$(tail -n 1 "$TMP/seen-c2")" "$(container_ip 1)" "source seen by container 2 (nftables)"
host_exec 1 nft flush chain ip flannel-ipv4 postrtg
wait_until 5 nft_ok 1 || fail "nft rules not restored: $(host_exec 1 nft list table ip flannel-ipv4)"
host_exec 1 nft delete table ip flannel-ipv4
wait_until 5 nft_ok 1 || fail "nft table not restored"
flannel_stop 1
flannel_start 1 --ip-masq --iptables-resync=1
wait_ready 1
nft_ok 1 || fail "nft rules after restart: $(host_exec 1 nft list table ip flannel-ipv4)"
send_from 1 10.200.0.1 || fail "nftables: no echo after restart"
pass "nftables: upstream's table, masquerade to the outside, sources kept inside, flushed chain and deleted table restored, restart keeps one copy"
