#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# wireguard backend (in a qemu guest when this kernel has no wireguard):
# key file generated once (0600, $WIREGUARD_KEY_FILE, never logged), the
# public key and port in the lease as upstream; flannel-wg with MTU 1420,
# <subnet>.0/32 and the Network route; container-to-container ping across
# every pair, iperf3; the underlay carries no inner payload; no packet lost
# across a restart (10 ms pings); key rotation (delete the key file,
# restart) re-keys the peers without disturbing other hosts; a host with a
# key nobody published cannot inject traffic; a deleted device comes back;
# a removed host's peer goes; Mode ipv6 and bad PSKs are refused; a valid
# PSK carries traffic, and peers with different PSKs exchange nothing.
#
#	sw: br0 10.200.0.1 + etcd          (captures on the ports h1, h4)
#	 |-- h1 10.200.0.11 eth0  flannel-wg  cni0 -- c1
#	 |-- h2 10.200.0.12 eth0  flannel-wg  cni0 -- c2
#	 |-- h3 10.200.0.13 eth0  flannel-wg  cni0 -- c3
#	 `-- h4 10.200.0.14 eth0  flannel-wg  (rogue: its own key, other etcd prefix)
set -euo pipefail
. "$(dirname "$0")/guest.sh"
in_guest_unless_kernel_has wireguard
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v openssl >/dev/null || skip "openssl not installed (scripts/deps.sh)"
command -v python3 >/dev/null || skip "python3 not installed (scripts/deps.sh)"

PROTO=158
CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","PersistentKeepaliveInterval":25}}'
PATTERN=666c616e6e656c642d7365637265742e # "flanneld-secret."

topo_up 4
etcd_start
etcd_put_config "$CONFIG"

keyfile() { echo "$TMP/h$1/wgkey"; }
wg_start() { # id [flags]: flanneld with its own key file
	local id=$1
	shift
	FLANNEL_WRAP="env WIREGUARD_KEY_FILE=$(keyfile "$id")" flannel_start "$id" "$@"
}
# pubkey <id>: the X25519 public key of host id's key file, by openssl.
pubkey() {
	# The PKCS#8 DER header of a raw X25519 private key, then the key.
	{ printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x6e\x04\x22\x04\x20'; base64 -d <"$(keyfile "$1")"; } |
		openssl pkey -inform DER -pubout -outform DER | tail -c 32 | base64
}
net_of() {
	local s
	s=$(subnet_of "$1")
	ip_add "${s%/*}" -1
}

# -- configs we refuse (side by side, each under its own etcd prefix: a
# daemon start costs seconds under ASan in the guest)
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","Mode":"ipv6"}}' /refuse-v6/network
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","PSK":"c2VjcmV0"}}' /refuse-psk/network
wg_start 1 --etcd-prefix=/refuse-v6/network
wg_start 2 --etcd-prefix=/refuse-psk/network
wait_until 30 proc_exited flanneld-1 || fail "flanneld ran with Mode ipv6"
log_has 1 "Mode ipv6 needs IPv6" || fail "no error for Mode ipv6: $(tail -n 3 "$(inst_dir 1)/flanneld.log")"
wait_until 30 proc_exited flanneld-2 || fail "flanneld ran with a bad PSK"
log_has 2 "PSK must be a base64 WireGuard key" || fail "no error for the bad PSK"
log_has 2 "c2VjcmV0" && fail "the PSK was logged"
pass "Mode ipv6 and a malformed PSK are refused, naming the field"

for i in 1 2 3; do wg_start "$i"; done
for i in 1 2 3; do wait_ready "$i" 60; done
for i in 1 2 3; do
	assert_eq "$(stat -c %a "$(keyfile "$i")")" 600 "mode of host $i's key file"
	pk=$(pubkey "$i")
	assert_eq "$(key_value "$(subnet_key_of "$i")")" \
		"{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":null,\"BackendType\":\"wireguard\",\"BackendData\":{\"PublicKey\":\"$pk\",\"Port\":51820}}" \
		"lease value of host $i"
	grep -qF -- "$(cat "$(keyfile "$i")")" "$(inst_dir "$i")/flanneld.log" && fail "host $i logged its private key"
	assert_eq "$(mtu_of "$i")" 1420 "FLANNEL_MTU of host $i"
	host_exec "$i" ip -d -o link show flannel-wg | grep_q ' wireguard ' || fail "flannel-wg on h$i is not wireguard"
	assert_eq "$(host_exec "$i" cat /sys/class/net/flannel-wg/mtu)" 1420 "MTU of flannel-wg on h$i"
	host_exec "$i" ip -o addr show dev flannel-wg | grep_q "inet $(net_of "$i")/32" || fail "flannel-wg on h$i lacks its address"
	host_exec "$i" ip route show proto $PROTO | grep_q -x "10.244.0.0/16 dev flannel-wg scope link *" ||
		fail "h$i lacks the Network route: $(host_exec "$i" ip route show proto $PROTO)"
done
pass "key files 0600, never logged; lease value with the public key and Port as upstream; flannel-wg MTU 1420, address, Network route"

for i in 1 2 3; do container_up "$i"; done
for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		wait_until 30 container_ping "$a" "$b" || fail "container $a cannot ping container $b"
	done
done
pass "container-to-container ping across all 6 ordered pairs"

# -- encrypted on the underlay: a payload pattern is visible inside, never on
# the wire (h1's port of br0: the bridge device itself sees only its own traffic).
# The captures end on SIGTERM once the traffic is over; their bound (120 s)
# is only a backstop, so a slow guest cannot end one before the ping starts.
SPAWN_LOG=$TMP/cap-br0.log spawn cap-br0 "$SW_NS" python3 "$LIB_DIR/capture.py" h1 120 51820 "$PATTERN"
SPAWN_LOG=$TMP/cap-wg.log spawn cap-wg "$(host_ns 2)" python3 "$LIB_DIR/capture.py" flannel-wg 120 0 "$PATTERN"
wait_until 90 grep -q ready "$TMP/cap-br0.log" || fail "capture on br0 did not start"
wait_until 90 grep -q ready "$TMP/cap-wg.log" || fail "capture on flannel-wg did not start"
container_exec 1 ping -q -c 5 -i 0.2 -s 400 -p "$PATTERN" -W 2 "$(container_ip 2)" >/dev/null || fail "patterned ping failed"
# Every request and reply has passed both points once ping has its replies.
proc_signal cap-br0 TERM
proc_signal cap-wg TERM
wait_until 30 proc_exited cap-br0 || fail "capture did not end"
wait_until 30 proc_exited cap-wg || fail "capture did not end"
under=$(grep '^{' "$TMP/cap-br0.log")
inner=$(grep '^{' "$TMP/cap-wg.log")
[ "$(jq '.udp["10.200.0.11"] // 0' <<<"$under")" -ge 5 ] || fail "no WireGuard datagrams from h1 on the wire: $under"
assert_eq "$(jq .pattern <<<"$under")" 0 "frames on the wire containing the ping's payload pattern"
[ "$(jq .pattern <<<"$inner")" -ge 5 ] || fail "the pattern is not visible inside flannel-wg on h2: $inner"
pass "underlay encrypted: $(jq '.udp["10.200.0.11"]' <<<"$under") datagrams from h1 to :51820 on the wire, 0 with the payload pattern (seen in $(jq .pattern <<<"$inner") packets inside flannel-wg)"

c2=$(container_ip 2)
SPAWN_LOG=$TMP/iperf3-server.log spawn iperf3-server "$(container_ns 2)" iperf3 -s -1 -B "$c2"
wait_until 10 container_exec 2 sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
container_exec 1 timeout 60 iperf3 -c "$c2" -t 3 -J >"$TMP/iperf3.json" || fail "iperf3 failed: $(tail -n 5 "$TMP/iperf3.json")"
mbps=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/iperf3.json")
((mbps > 0)) || fail "iperf3 measured $mbps Mbit/s"
pass "iperf3 container 1 -> 2 over WireGuard for 3 s: $mbps Mbit/s (emulated CPU when in the guest)"

# -- a 10 ms ping that must lose nothing while flanneld <id> does <action>
replies() { grep -c 'bytes from' "$1" 2>/dev/null || true; }
ping_start() { # name from to
	local log=$TMP/$1.log
	SPAWN_LOG=$log spawn "$1" "$(container_ns "$2")" stdbuf -oL ping -i 0.01 -c 300 -W 2 -w 90 "$(container_ip "$3")"
	wait_until 20 eval '[ "$(replies "$log")" -ge 10 ]' || fail "ping $2 -> $3 did not start: $(tail -n 5 "$log")"
}
# ping_check <name> <what>: the ping lost nothing; "rx/tx" in PING_RESULT.
# Not called in $(...): a fail there would only end the subshell, its
# message captured and lost.
ping_check() {
	local out tx rx missing
	wait_until 100 proc_exited "$1" || fail "ping did not finish"
	out=$(cat "$TMP/$1.log")
	tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
	[ -n "$tx" ] && [ "$tx" -eq 300 ] || fail "ping $2: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
	if [ "$rx" != "$tx" ]; then
		# Which replies are missing tells a gap at the restart from scattered loss.
		missing=$(sed -nE 's/.*icmp_seq=([0-9]+) .*/\1/p' <<<"$out" | sort -n |
			awk -v n="$tx" '{ seen[$1] = 1 } END { for (i = 1; i <= n; i++) if (!(i in seen)) printf "%d ", i }')
		fail "ping replies $2: $rx of $tx; icmp_seq missing: ${missing:0:300}"
	fi
	PING_RESULT=$rx/$tx
}

ping_start ping-restart 1 2
flannel_stop 2
wg_start 2
wait_ready 2 60
ping_check ping-restart "across the restart of flanneld 2"
res=$PING_RESULT
log_has 2 "Returning existing device flannel-wg" || fail "flanneld 2 did not keep its device"
log_has 2 "Using the WireGuard private key" || fail "flanneld 2 did not reuse its key"
log_has 2 "peers added or fixed" && fail "flanneld 2 rewrote peers on restart: $(grep Converged "$(inst_dir 2)/flanneld.log")"
pass "restart of flanneld 2 during a 10 ms ping 1 -> 2: $res received, 0 lost, no peer rewritten"

# -- key rotation on host 3: delete the key file, restart; 1 <-> 2 undisturbed
old3=$(pubkey 3)
ping_start ping-rotate 1 2
flannel_stop 3
rm -f "$(keyfile 3)"
wg_start 3
wait_ready 3 60
new3=$(pubkey 3)
[ "$new3" != "$old3" ] || fail "host 3 kept its public key"
log_has 3 "Generated a new WireGuard private key" || fail "flanneld 3 did not generate a key"
wait_until 20 eval 'key_value "$(subnet_key_of 3)" | grep_q -F "$new3"' || fail "host 3's lease does not carry its new key"
for h in 1 2; do
	wait_until 20 log_has "$h" "Subnet added: $(net_of 3)/24" "$new3" || fail "flanneld $h did not take host 3's new key"
done
wait_until 30 container_ping 1 3 || fail "container 1 cannot ping container 3 after the key rotation"
wait_until 30 container_ping 3 2 || fail "container 3 cannot ping container 2 after the key rotation"
ping_check ping-rotate "between 1 and 2 during host 3's key rotation"
res=$PING_RESULT
pass "key rotation on host 3 (key file deleted, restart): new key published and used by h1, h2; ping 1 -> 2 meanwhile $res"

# -- a host whose key nobody published cannot inject traffic
rogue=/rogue/network
etcd_put_config "$CONFIG" "$rogue"
for i in 1 2 3; do
	etcdctl_sw put -- "$rogue/subnets/$(basename "$(subnet_key_of "$i")")" "$(key_value "$(subnet_key_of "$i")")" >/dev/null
done
wg_start 4 --etcd-prefix="$rogue"
wait_ready 4 60
wait_until 20 log_has 4 "Converged WireGuard peers on flannel-wg: 3 subnets" || fail "the rogue did not take h1-h3 as peers"
SPAWN_LOG=$TMP/cap-rogue.log spawn cap-rogue "$SW_NS" python3 "$LIB_DIR/capture.py" h4 120 51820 "$PATTERN"
wait_until 90 grep -q ready "$TMP/cap-rogue.log" || fail "capture did not start"
host_exec 4 ping -q -c 5 -i 0.5 -W 1 "$(container_ip 1)" >/dev/null 2>&1 && fail "the rogue host reached container 1"
proc_signal cap-rogue TERM
wait_until 30 proc_exited cap-rogue || fail "capture did not end"
sent=$(grep '^{' "$TMP/cap-rogue.log" | jq '.udp["10.200.0.14"] // 0')
((sent > 0)) || fail "the rogue sent nothing to h1 (the test proves nothing): $(cat "$TMP/cap-rogue.log")"
assert_eq "$(grep '^{' "$TMP/cap-rogue.log" | jq '.udp["10.200.0.11"] // 0')" 0 "datagrams h1 sent back to the rogue"
flannel_stop 4
pass "a host with an unpublished key (rogue, configured with h1 as its peer): $sent handshake datagrams to h1, none answered, no ping through"

# -- self-healing: the device deleted by hand comes back, with its peers
host_exec 1 ip link del flannel-wg
wait_until 30 log_has 1 "flannel-wg was deleted; recreating it" || fail "no message for the deleted device"
wait_until 30 container_ping 1 2 || fail "container 1 cannot ping container 2 after flannel-wg was recreated"
host_exec 1 ip route show proto $PROTO | grep_q "10.244.0.0/16 dev flannel-wg" || fail "the Network route did not come back"
pass "flannel-wg deleted by hand on h1: recreated with its key, address, route and peers"

# -- a host removed from etcd loses its peer on the others
flannel_stop 3
etcdctl_sw del -- "$(subnet_key_of 3)" >/dev/null
for h in 1 2; do
	wait_until 20 log_has "$h" "Subnet removed: $(net_of 3)/" || fail "flanneld $h did not log the removal"
done
container_ping 1 3 && fail "container 1 still reaches host 3's container after its lease was deleted"
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
flannel_stop_all 1 2
host_exec 1 ip link show flannel-wg >/dev/null || fail "SIGTERM removed flannel-wg"
pass "host 3 removed from etcd: its peer is gone on h1 and h2 (no route through WireGuard); SIGTERM keeps the device"

# -- a valid PSK: traffic flows with it, and a peer with another PSK gets nothing through
psk_a=$(head -c 32 /dev/urandom | base64)
psk_b=$(head -c 32 /dev/urandom | base64)
psk_config() { echo "{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"wireguard\",\"PersistentKeepaliveInterval\":25,\"PSK\":\"$1\"}}"; }
# psk_restart <id>...: a fresh device (no session left from before), then
# flanneld; the daemons start side by side.
psk_restart() {
	local id
	for id in "$@"; do
		proc_running "flanneld-$id" && flannel_stop "$id"
		host_exec "$id" ip link del flannel-wg 2>/dev/null || true
		wg_start "$id"
	done
	for id in "$@"; do
		wait_ready "$id" 60
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
