#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# wireguard backend (in a qemu guest when this kernel has no wireguard),
# both families and every Mode upstream has.
# Mode separate, dual-stack (h1-h3): key file generated once (0600,
# $WIREGUARD_KEY_FILE, never logged); flannel-wg (IPv4, ListenPort 51820)
# and flannel-wg-v6 (IPv6, ListenPortV6 51821), MTU 1420, with their /32
# and /128 addresses and Network routes; BackendData and BackendV6Data in
# the lease as upstream; ping and ping6 across every pair, iperf3; neither
# underlay carries the inner payload; no ping or ping6 lost across a
# restart (10 ms); key rotation re-keys both devices of the peers without
# disturbing the others; a host with a key nobody published (h4) cannot
# inject traffic over either family; a deleted device comes back; a
# removed host's peers go. One device for both families: Mode auto picks
# the peers' IPv6 (the underlay's IPv4 is private, its IPv6 global: h7,
# h8), Mode ipv4 their IPv4 (h9, h10); IPv6-only networks in Mode separate
# (flannel-wg-v6 alone: h5, h6) and Mode ipv6 (h11, h12). Mode ipv6
# without EnableIPv6 and bad PSKs are refused; a valid PSK carries
# traffic, and peers with different PSKs exchange nothing.
#
#	sw: br0 10.200.0.1 2001:db8:200::1 + etcd   (captures on the port of h1, h4)
#	 `-- host n: eth0 10.200.0.(10+n)/24 2001:db8:200::(10+n)/64
#	            flannel-wg [flannel-wg-v6]  cni0 <subnets> -- container n
set -euo pipefail
. "$(dirname "$0")/guest.sh"
in_guest_unless_kernel_has wireguard
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v openssl >/dev/null || skip "openssl not installed (scripts/deps.sh)"
command -v python3 >/dev/null || skip "python3 not installed (scripts/deps.sh)"

# A global (not fc00::/7) underlay, so that Mode auto prefers IPv6 over the private IPv4.
V6_UNDERLAY=2001:db8:200:
. "$LIB_DIR/lib6.sh"
. "$LIB_DIR/lib_wg.sh"

PROTO=158
CONFIG='{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"wireguard","PersistentKeepaliveInterval":25}}'
PATTERN=666c616e6e656c642d7365637265742e # "flanneld-secret."

topo_up 12
v6_underlay_up $(seq 1 12)
etcd_start
etcd_put_config "$CONFIG"

# ping_pairs <v4: 0|1> <hosts...>: every ordered pair pings6 (and pings with v4 1).
ping_pairs() {
	local v4=$1 a b
	shift
	for a in "$@"; do
		for b in "$@"; do
			[ "$a" = "$b" ] && continue
			if [ "$v4" = 1 ]; then
				wait_until 30 container_ping "$a" "$b" || fail "container $a cannot ping container $b"
			fi
			wait_until 30 container_ping6 "$a" "$b" ||
				fail "container $a cannot ping6 container $b ($(container6_ip "$b")); on h$a: $(v6_routes "$a")"
		done
	done
}
net6_addr() {
	local n
	n=$(net6_of "$1")
	echo "${n%/*}"
}

# -- configs we refuse, and every group started at once (each under its own
# etcd prefix: a daemon start costs seconds under ASan in the guest)
P_V6ONLY=/v6only/network P_AUTO=/auto/network P_IPV4=/ipv4/network P_IPV6=/ipv6/network
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","Mode":"ipv6"}}' /refuse-v6/network
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","PSK":"c2VjcmV0"}}' /refuse-psk/network
etcd_put_config '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00:1::/48","Backend":{"Type":"wireguard"}}' $P_V6ONLY
etcd_put_config '{"Network":"10.245.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:2::/48","Backend":{"Type":"wireguard","Mode":"auto"}}' $P_AUTO
etcd_put_config '{"Network":"10.246.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:3::/48","Backend":{"Type":"wireguard","Mode":"ipv4"}}' $P_IPV4
etcd_put_config '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00:4::/48","Backend":{"Type":"wireguard","Mode":"ipv6"}}' $P_IPV6
wg_start 4 --etcd-prefix=/refuse-v6/network
wg_start 6 --etcd-prefix=/refuse-psk/network
wait_until 60 proc_exited flanneld-4 || fail "flanneld ran with Mode ipv6 and no EnableIPv6"
log_has 4 "Mode ipv6 reaches peers over IPv6, but EnableIPv6 is off" || fail "no error for Mode ipv6: $(tail -n 3 "$(inst_dir 4)/flanneld.log")"
wait_until 60 proc_exited flanneld-6 || fail "flanneld ran with a bad PSK"
log_has 6 "PSK must be a base64 WireGuard key" || fail "no error for the bad PSK"
log_has 6 "c2VjcmV0" && fail "the PSK was logged"
pass "Mode ipv6 without EnableIPv6 and a malformed PSK are refused, naming the field"

for i in 1 2 3; do wg_start "$i"; done
# The Mode groups without forward rules: their checks fork iptables-save
# every 5 s, which costs an emulated guest dearly, and no ping here needs them.
NOFWD=--iptables-forward-rules=false
for i in 5 6; do wg_start "$i" --etcd-prefix=$P_V6ONLY $NOFWD; done
for i in 7 8; do wg_start "$i" --etcd-prefix=$P_AUTO $NOFWD; done
for i in 9 10; do wg_start "$i" --etcd-prefix=$P_IPV4 $NOFWD; done
for i in 11 12; do wg_start "$i" --etcd-prefix=$P_IPV6 $NOFWD; done
for i in 1 2 3 5 6 7 8 9 10 11 12; do wait_ready "$i" 120; done
declare -A PK=() # host -> public key (openssl forks: slow in the guest)
for i in 1 2 3 5 6 7 8 9 10 11 12; do PK[$i]=$(pubkey "$i"); done

# -- one device for both families, and IPv6-only networks
# mode_group <what> <v4: 0|1> <a> <b> <endpoint of b as a sees it> <device absent>
mode_group() {
	local what=$1 v4=$2 a=$3 b=$4 ep=$5 absent=$6 i
	for i in "$a" "$b"; do
		host_exec "$i" ip link show "$absent" >/dev/null 2>&1 && fail "$what: h$i has $absent"
		container_up_any "$i"
	done
	wait_until 30 log_has "$a" "via $ep, public key ${PK[$b]}" ||
		fail "$what: flanneld $a does not reach host $b at $ep: $(grep 'Subnet added' "$(inst_dir "$a")/flanneld.log")"
	ping_pairs "$v4" "$a" "$b"
}
host_exec 7 ip -o -6 addr show dev flannel-wg scope global | grep_q "inet6 $(net6_addr 7)/128" || fail "Mode auto: flannel-wg lacks its IPv6 address"
mode_group "Mode auto" 1 7 8 "[$(host_ip6 8)]:51820" flannel-wg-v6
log_has 7 "Subnet added: $(net_of 8)/24 and $(net6_of 8) via" || fail "Mode auto: one peer does not carry both subnets"
pass "Mode auto, dual-stack: one device flannel-wg with both addresses and both subnets per peer, IPv6 endpoints (private IPv4, global IPv6); ping and ping6 both ways"
mode_group "Mode ipv4" 1 9 10 "$(host_ip 10):51820" flannel-wg-v6
pass "Mode ipv4, dual-stack: one device flannel-wg, IPv4 endpoints; ping and ping6 both ways"
mode_group "IPv6-only, Mode separate" 0 5 6 "[$(host_ip6 6)]:51821" flannel-wg
l=$(lease_of 5 $P_V6ONLY)
jq -e '.BackendData == null and .BackendV6Data.Port == 51821' <<<"$l" >/dev/null || fail "IPv6-only lease of host 5: $l"
pass "IPv6-only, Mode separate: flannel-wg-v6 alone, BackendV6Data only; ping6 both ways"
mode_group "IPv6-only, Mode ipv6" 0 11 12 "[$(host_ip6 12)]:51820" flannel-wg-v6
pass "IPv6-only, Mode ipv6: one device flannel-wg on ListenPort, IPv6 endpoints; ping6 both ways"
# Done with them: the guest has the rest to itself.
flannel_stop_all 5 6 7 8 9 10 11 12

# -- Mode separate, dual-stack: h1-h3
for i in 1 2 3; do
	assert_eq "$(stat -c %a "$(keyfile "$i")")" 600 "mode of host $i's key file"
	grep -qF -- "$(cat "$(keyfile "$i")")" "$(inst_dir "$i")/flanneld.log" && fail "host $i logged its private key"
	pk=${PK[$i]}
	assert_eq "$(lease_of "$i" "$ETCD_PREFIX")" \
		"{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":\"$(host_ip6 "$i")\",\"BackendType\":\"wireguard\",\"BackendData\":{\"PublicKey\":\"$pk\",\"Port\":51820},\"BackendV6Data\":{\"PublicKey\":\"$pk\",\"Port\":51821}}" \
		"lease value of host $i"
	assert_eq "$(mtu_of "$i")" 1420 "FLANNEL_MTU of host $i"
	for dev in flannel-wg flannel-wg-v6; do
		host_exec "$i" ip -d -o link show $dev | grep_q ' wireguard ' || fail "$dev on h$i is not wireguard"
		assert_eq "$(host_exec "$i" cat /sys/class/net/$dev/mtu)" 1420 "MTU of $dev on h$i"
	done
	host_exec "$i" ip -o addr show dev flannel-wg | grep_q "inet $(net_of "$i")/32" || fail "flannel-wg on h$i lacks its address"
	host_exec "$i" ip -o -6 addr show dev flannel-wg-v6 scope global | grep_q "inet6 $(net6_addr "$i")/128" ||
		fail "flannel-wg-v6 on h$i lacks $(net6_addr "$i")/128: $(host_exec "$i" ip -o -6 addr show dev flannel-wg-v6)"
	host_exec "$i" ip -o -6 addr show dev flannel-wg scope global | grep_q inet6 && fail "flannel-wg on h$i has an IPv6 address in Mode separate"
	host_exec "$i" ip route show proto $PROTO | grep_q -x "10.244.0.0/16 dev flannel-wg scope link *" ||
		fail "h$i lacks the IPv4 Network route: $(host_exec "$i" ip route show proto $PROTO)"
	v6_routes "$i" | grep_q -x "fc00::/48 dev flannel-wg-v6 metric 1024" || fail "h$i lacks the IPv6 Network route: $(v6_routes "$i")"
	o=$((i % 3 + 1))
	wait_until 30 log_has "$i" "Subnet added: $(net6_of "$o") via [$(host_ip6 "$o")]:51821, public key ${PK[$o]}" ||
		fail "flanneld $i did not add host $o's IPv6 subnet via its PublicIPv6 and ListenPortV6"
	wait_until 30 log_has "$i" "Subnet added: $(net_of "$o")/24 via $(host_ip "$o"):51820, public key ${PK[$o]}" ||
		fail "flanneld $i did not add host $o's IPv4 subnet via its PublicIP and ListenPort"
done
pass "Mode separate: key files 0600, never logged; lease with BackendData (Port 51820) and BackendV6Data (Port 51821) as upstream; flannel-wg (IPv4 only) and flannel-wg-v6 MTU 1420, /32 and /128 addresses, Network routes; peers at PublicIP:51820 and [PublicIPv6]:51821"

for i in 1 2 3; do container_up_any "$i"; done
ping_pairs 1 1 2 3
pass "Mode separate, dual-stack: ping and ping6 across all 6 ordered pairs"

# -- encrypted on both underlays: a payload pattern is visible inside, never
# on the wire (h1's port of br0: the bridge device itself sees only its own
# traffic). The captures end on SIGTERM once the traffic is over; their
# bound (120 s) is only a backstop, so a slow guest cannot end one first.
SPAWN_LOG=$TMP/cap-br0.log spawn cap-br0 "$SW_NS" python3 "$LIB_DIR/capture.py" h1 120 51820,51821 "$PATTERN"
SPAWN_LOG=$TMP/cap-wg.log spawn cap-wg "$(host_ns 2)" python3 "$LIB_DIR/capture.py" flannel-wg 120 0 "$PATTERN"
SPAWN_LOG=$TMP/cap-wg6.log spawn cap-wg6 "$(host_ns 2)" python3 "$LIB_DIR/capture.py" flannel-wg-v6 120 0 "$PATTERN"
for c in cap-br0 cap-wg cap-wg6; do
	wait_until 90 grep -q ready "$TMP/$c.log" || fail "capture $c did not start"
done
container_exec 1 ping -q -c 5 -i 0.2 -s 400 -p "$PATTERN" -W 2 "$(container_ip 2)" >/dev/null || fail "patterned ping failed"
container_exec 1 ping -6 -q -c 5 -i 0.2 -s 400 -p "$PATTERN" -W 2 "$(container6_ip 2)" >/dev/null || fail "patterned ping6 failed"
# Every request and reply has passed all points once ping has its replies.
for c in cap-br0 cap-wg cap-wg6; do proc_signal $c TERM; done
for c in cap-br0 cap-wg cap-wg6; do wait_until 30 proc_exited $c || fail "capture $c did not end"; done
under=$(grep '^{' "$TMP/cap-br0.log")
n4=$(jq --arg a "$(host_ip 1)" '.udp[$a] // 0' <<<"$under")
n6=$(jq --arg a "$(host_ip6 1)" '.udp[$a] // 0' <<<"$under")
((n4 >= 5)) || fail "no WireGuard datagrams from h1 to :51820 on the wire: $under"
((n6 >= 5)) || fail "no WireGuard datagrams from h1 to :51821 on the wire: $under"
assert_eq "$(jq .pattern <<<"$under")" 0 "frames on the wire containing the pings' payload pattern"
for c in cap-wg cap-wg6; do
	[ "$(grep '^{' "$TMP/$c.log" | jq .pattern)" -ge 5 ] || fail "the pattern is not visible inside h2's device ($c): $(cat "$TMP/$c.log")"
done
pass "both underlays encrypted: $n4 datagrams from h1 to :51820 and $n6 from [$(host_ip6 1)] to :51821 on the wire, 0 with the payload pattern (seen inside flannel-wg and flannel-wg-v6)"

c2=$(container_ip 2)
SPAWN_LOG=$TMP/iperf3-server.log spawn iperf3-server "$(container_ns 2)" iperf3 -s -1 -B "$c2"
wait_until 10 container_exec 2 sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
container_exec 1 timeout 60 iperf3 -c "$c2" -t 3 -J >"$TMP/iperf3.json" || fail "iperf3 failed: $(tail -n 5 "$TMP/iperf3.json")"
mbps=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/iperf3.json")
((mbps > 0)) || fail "iperf3 measured $mbps Mbit/s"
pass "iperf3 container 1 -> 2 over WireGuard for 3 s: $mbps Mbit/s (emulated CPU when in the guest)"

# -- restart without loss, both families at once
ping_start ping-restart 1 2
ping_start ping6-restart 1 2 6
flannel_stop 2
wg_start 2
wait_ready 2 90
ping_check ping-restart "across the restart of flanneld 2"
res=$PING_RESULT
ping_check ping6-restart "(IPv6) across the restart of flanneld 2"
res6=$PING_RESULT
log_has 2 "Returning existing device flannel-wg " || fail "flanneld 2 did not keep flannel-wg"
log_has 2 "Returning existing device flannel-wg-v6" || fail "flanneld 2 did not keep flannel-wg-v6"
log_has 2 "Using the WireGuard private key" || fail "flanneld 2 did not reuse its key"
log_has 2 "peers added or fixed" && fail "flanneld 2 rewrote peers on restart: $(grep Converged "$(inst_dir 2)/flanneld.log")"
pass "restart of flanneld 2 during 10 ms pings 1 -> 2: ping $res, ping6 $res6 received, 0 lost, no peer rewritten"

# -- key rotation on host 3: delete the key file, restart; both devices of
# h1 and h2 take the new key; 1 <-> 2 undisturbed
old3=${PK[3]}
ping_start ping-rotate 1 2
ping_start ping6-rotate 1 2 6
flannel_stop 3
rm -f "$(keyfile 3)"
wg_start 3
wait_ready 3 90
new3=$(pubkey 3)
[ "$new3" != "$old3" ] || fail "host 3 kept its public key"
log_has 3 "Generated a new WireGuard private key" || fail "flanneld 3 did not generate a key"
wait_until 20 eval 'lease_of 3 "$ETCD_PREFIX" | jq -e --arg k "$new3" ".BackendData.PublicKey == \$k and .BackendV6Data.PublicKey == \$k" >/dev/null' ||
	fail "host 3's lease does not carry its new key in both BackendData and BackendV6Data"
for h in 1 2; do
	wait_until 20 log_has "$h" "Subnet added: $(net6_of 3) via [$(host_ip6 3)]:51821, public key $new3" ||
		fail "flanneld $h did not take host 3's new key for IPv6"
	wait_until 20 log_has "$h" "Subnet added: $(net_of 3)/24 via $(host_ip 3):51820, public key $new3" ||
		fail "flanneld $h did not take host 3's new key for IPv4"
done
ping_pairs 1 1 3
ping_pairs 1 3 2
ping_check ping-rotate "between 1 and 2 during host 3's key rotation"
res=$PING_RESULT
ping_check ping6-rotate "(IPv6) between 1 and 2 during host 3's key rotation"
res6=$PING_RESULT
pass "key rotation on host 3 (key file deleted, restart): new key in BackendData and BackendV6Data, used on both devices by h1 and h2; meanwhile ping 1 -> 2 $res, ping6 $res6"

# -- a host whose key nobody published cannot inject traffic
rogue=/rogue/network
etcd_put_config "$CONFIG" "$rogue"
for i in 1 2 3; do
	k=$(key6_of "$i" "$ETCD_PREFIX")
	etcdctl_sw put -- "$rogue/subnets/${k##*/}" "$(key_value "$k")" >/dev/null
done
wg_start 4 --etcd-prefix="$rogue"
wait_ready 4 90
wait_until 30 log_has 4 "Converged WireGuard peers on flannel-wg: 3 subnets" || fail "the rogue did not take h1-h3 as peers"
wait_until 30 log_has 4 "Converged WireGuard peers on flannel-wg-v6: 3 subnets" || fail "the rogue did not take h1-h3 as IPv6 peers"
SPAWN_LOG=$TMP/cap-rogue.log spawn cap-rogue "$SW_NS" python3 "$LIB_DIR/capture.py" h4 120 51820,51821 "$PATTERN"
wait_until 90 grep -q ready "$TMP/cap-rogue.log" || fail "capture did not start"
host_exec 4 ping -q -c 5 -i 0.5 -W 1 "$(container_ip 1)" >/dev/null 2>&1 && fail "the rogue host reached container 1"
host_exec 4 ping -6 -q -c 5 -i 0.5 -W 1 "$(container6_ip 1)" >/dev/null 2>&1 && fail "the rogue host reached container 1 over IPv6"
proc_signal cap-rogue TERM
wait_until 30 proc_exited cap-rogue || fail "capture did not end"
cap=$(grep '^{' "$TMP/cap-rogue.log")
sent=$(jq --arg a "$(host_ip 4)" '.udp[$a] // 0' <<<"$cap")
sent6=$(jq --arg a "$(host_ip6 4)" '.udp[$a] // 0' <<<"$cap")
((sent > 0 && sent6 > 0)) || fail "the rogue sent nothing to h1 over one family (the test proves nothing): $cap"
assert_eq "$(jq --arg a "$(host_ip 1)" '.udp[$a] // 0' <<<"$cap")" 0 "datagrams h1 sent back to the rogue"
assert_eq "$(jq --arg a "$(host_ip6 1)" '.udp[$a] // 0' <<<"$cap")" 0 "datagrams h1 sent back to the rogue over IPv6"
flannel_stop 4
pass "a host with an unpublished key (rogue, configured with h1 as its peer): $sent handshake datagrams to h1's :51820 and $sent6 to its :51821, none answered, no ping or ping6 through"

# -- self-healing: the device deleted by hand comes back, with its peers
host_exec 1 ip link del flannel-wg
wait_until 30 log_has 1 "flannel-wg was deleted; recreating it" || fail "no message for the deleted device"
wait_until 30 container_ping 1 2 || fail "container 1 cannot ping container 2 after flannel-wg was recreated"
host_exec 1 ip route show proto $PROTO | grep_q "10.244.0.0/16 dev flannel-wg" || fail "the Network route did not come back"
pass "flannel-wg deleted by hand on h1: recreated with its key, address, route and peers"

# -- a host removed from etcd loses its peers on the others, both families
flannel_stop 3
etcdctl_sw del -- "$(key6_of 3 "$ETCD_PREFIX")" >/dev/null
for h in 1 2; do
	wait_until 20 log_has "$h" "Subnet removed: $(net_of 3)/" || fail "flanneld $h did not log the removal"
	wait_until 20 log_has "$h" "Subnet removed: $(net6_of 3)" || fail "flanneld $h did not log the IPv6 removal"
done
container_ping 1 3 && fail "container 1 still reaches host 3's container after its lease was deleted"
container_ping6 1 3 && fail "container 1 still reaches host 3's container over IPv6 after its lease was deleted"
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
container_ping6 1 2 || fail "container 1 cannot ping6 container 2 after host 3 left"
flannel_stop_all 1 2
host_exec 1 ip link show flannel-wg >/dev/null || fail "SIGTERM removed flannel-wg"
host_exec 1 ip link show flannel-wg-v6 >/dev/null || fail "SIGTERM removed flannel-wg-v6"
pass "host 3 removed from etcd: its peers are gone on h1 and h2, both families; SIGTERM keeps the devices"


# -- a valid PSK: traffic flows with it, and a peer with another PSK gets nothing through
psk_a=$(head -c 32 /dev/urandom | base64)
psk_b=$(head -c 32 /dev/urandom | base64)
psk_config() { echo "{\"Network\":\"10.244.0.0/16\",\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\",\"Backend\":{\"Type\":\"wireguard\",\"PersistentKeepaliveInterval\":25,\"PSK\":\"$1\"}}"; }
# psk_restart <id>...: a fresh device (no session left from before), then
# flanneld; the daemons start side by side.
psk_restart() {
	local id
	for id in "$@"; do
		proc_running "flanneld-$id" && flannel_stop "$id"
		host_exec "$id" ip link del flannel-wg 2>/dev/null || true
		host_exec "$id" ip link del flannel-wg-v6 2>/dev/null || true
		wg_start "$id"
	done
	for id in "$@"; do
		wait_ready "$id" 90
		log_has "$id" "WireGuard config:" "PSK=set" || fail "flanneld $id runs without the PSK"
	done
}
etcd_put_config "$(psk_config "$psk_a")"
psk_restart 1 2
wait_until 30 container_ping 1 2 || fail "PSK: container 1 cannot ping container 2"
wait_until 30 container_ping 2 1 || fail "PSK: container 2 cannot ping container 1"
for i in 1 2; do
	grep -qF -- "$psk_a" "$(inst_dir "$i")/flanneld.log" && fail "host $i logged the PSK"
done
# h2 alone takes another PSK: no handshake can succeed between them.
etcd_put_config "$(psk_config "$psk_b")"
psk_restart 2
container_ping 1 2 && fail "PSK: traffic passed between hosts with different PSKs (is the PSK applied?)"
psk_restart 1
wait_until 30 container_ping 1 2 || fail "PSK: no traffic once both hosts have the new PSK"
flannel_stop_all 1 2
pass "PSK: containers ping both ways over peers with a shared PSK (never logged); with different PSKs nothing passes, with the same again it does"
