#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# udp backend: TUN device flannel0 (MTU ext - 28, <subnet>.0/32, route to
# the Network), leases without BackendType, container-to-container traffic
# across every pair of hosts (ping, iperf3), traffic back within 1 s of a
# flanneld restart, a removed host leaving the peer tables (its traffic
# then gets ICMP net unreachable), malformed datagrams and datagrams from
# non-peers dropped and counted while forwarding goes on, and flannel0
# gone once the daemon stops. Also: start-up refused while another socket
# holds the port (even one with SO_REUSEPORT), and TCP still flowing when
# the path MTU to a peer is below the outer packet size (UDP GSO refused).
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0 :8285  flannel0  cni0 -- c1 (container)
#	 |-- h2 10.200.0.12 eth0 :8285  flannel0  cni0 -- c2
#	 `-- h3 10.200.0.13 eth0 :8285  flannel0  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v iperf3 >/dev/null || skip "iperf3 not installed (scripts/deps.sh)"

DEV=flannel0
PORT=8285
CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}'
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

topo_up 3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
etcd_start
etcd_put_config "$CONFIG"

net_of() {
	local s
	s=$(subnet_of "$1")
	ip_add "${s%/*}" -1
}
drops() { metric "$1" "flannel_udp_dropped_total{reason=\"$2\"}"; }
peers_are() { metric_eq "$1" flannel_udp_peers "$2"; }
ping_once() { container_exec "$1" ping -q -c 1 -W 1 "$(container_ip "$2")" >/dev/null 2>&1; }

# -- a bad backend option stops start-up with a message naming the field
etcd_put_config '{"Network":"10.250.0.0/16","Backend":{"Type":"udp","Port":"x"}}' /bad/network
flannel_start 1 --etcd-prefix=/bad/network
wait_until 10 proc_exited flanneld-1 || fail "flanneld with a bad Port kept running"
assert_eq "$(proc_rc flanneld-1)" 1 "exit code with a bad Port"
log_has 1 "UDP backend config" "Port" || fail "no error naming Port in the log"
host_exec 1 ip link show "$DEV" >/dev/null 2>&1 && fail "$DEV left behind after a failed start"
pass "bad Port: exit 1, message names the field, no device"

# -- the port already held by a socket with SO_REUSEPORT (a stale flanneld):
# start-up fails rather than silently sharing the flows
spawn port-holder "$(host_ns 1)" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
time.sleep(120)
' "$(host_ip 1)" "$PORT"
wait_until 5 eval 'host_exec 1 ss -Hlun "sport = :$PORT" | grep_q .' || fail "the port holder did not bind :$PORT"
flannel_start 1
wait_until 10 proc_exited flanneld-1 || fail "flanneld started while another socket held :$PORT"
assert_eq "$(proc_rc flanneld-1)" 1 "exit code with :$PORT taken"
log_has 1 "UDP port $PORT" "already in use" || fail "no error naming port $PORT in the log: $(tail -n 3 "$(inst_dir 1)/flanneld.log")"
proc_stop port-holder 5 || true
pass "port $PORT held by another SO_REUSEPORT socket: exit 1, message names the port"

# -- three hosts: device, lease, subnet.env
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do
	assert_eq "$(mtu_of "$i")" 1472 "FLANNEL_MTU of host $i"
	assert_eq "$(key_value "$(subnet_key_of "$i")")" "{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":null}" "lease value of host $i"
	d=$(host_exec "$i" ip -d link show "$DEV")
	for w in "mtu 1472" ",UP," "tun type tun pi off"; do
		grep -qF -- "$w" <<<"$d" || fail "ip -d link show $DEV on h$i lacks '$w': $d"
	done
	assert_eq "$(host_exec "$i" ip -4 -o addr show dev "$DEV" | awk '{print $4}')" "$(net_of "$i")/32" "address of $DEV on h$i"
	host_exec "$i" ip route show 10.244.0.0/16 | grep_q "dev $DEV" || fail "no route 10.244.0.0/16 dev $DEV on h$i: $(host_exec "$i" ip route)"
	host_exec "$i" ss -Hlun "sport = :$PORT" | grep_q -F "$(host_ip "$i"):$PORT" || fail "nothing bound to $(host_ip "$i"):$PORT on h$i"
	wait_until 10 peers_are "$i" 2 || fail "host $i has $(metric "$i" flannel_udp_peers) udp peers, expected 2"
done
pass "flannel0 on every host: mtu 1472, <subnet>.0/32, route to the Network, socket on :$PORT; leases without BackendType; 2 peers each"
# This kernel has TSO on TUN and UDP GSO/GRO (4.18 and later): the offloads
# must be on, with min(CPUs, 4) queues, and the log must say so.
off=$(metric 1 flannel_udp_offload)
q=$(metric 1 flannel_udp_queues)
assert_eq "$off" 1 "flannel_udp_offload on $(uname -r)"
ncpu=$(nproc)
assert_eq "$q" $((ncpu < 4 ? ncpu : 4)) "flannel_udp_queues (min(CPUs, 4))"
log_has 1 "$DEV: $q queues, TSO + UDP GSO/GRO offloads on" || fail "no log line saying the offloads are on"
pass "data path: $q queues, TSO + UDP GSO/GRO offloads on (metric and log)"

for i in 1 2 3; do container_up "$i"; done
ping_all_pairs 3
# Full-size packets both ways (1444 bytes of ICMP payload: a 1472-byte packet).
container_exec 1 ping -q -c 3 -i 0.2 -W 2 -M do -s 1444 "$(container_ip 2)" >/dev/null || fail "1472-byte packets do not pass"
pass "container-to-container ping across all 6 ordered pairs, full-size packets too"

# -- iperf3 for 3 s between containers 1 and 2
iperf3_run 1 2 3
rtx=$(jq -r '.end.sum_sent.retransmits // 0' "$IPERF3_JSON")
pass "iperf3 container 1 -> 2 over udp for 3 s: $IPERF3_MBPS Mbit/s ($rtx retransmits)"

# -- a locked path MTU of 1400 towards h2's PublicIP: full-size segments do
# not fit (the kernel refuses UDP GSO with them), plain datagrams are
# fragmented; a 20 MB TCP transfer must still finish in time
c2=$(container_ip 2)
host_exec 1 ip route add "$(host_ip 2)/32" dev eth0 mtu lock 1400
# What this kernel answers a UDP GSO send whose segments (1472 bytes, a full
# flannel0 packet) exceed the path MTU: EMSGSIZE (the worker sends those
# segments as plain datagrams and keeps GSO) or EINVAL (older kernels: the
# worker gives GSO up for good, and the daemon says so).
gso_err=$(host_exec 1 python3 -c '
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(17, 103, 1472)  # SOL_UDP, UDP_SEGMENT
try:
    s.sendto(b"x" * 1472 * 4, (sys.argv[1], 9))
    print("sent")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
' "$(host_ip 2)")
case $gso_err in EMSGSIZE | EINVAL) ;; *) fail "a GSO send over the locked path MTU: $gso_err, expected EMSGSIZE or EINVAL" ;; esac
io0=$(drops 1 io)
SPAWN_LOG=$TMP/iperf3-mtu-server.log spawn iperf3-mtu "$(container_ns 2)" iperf3 -s -1 -B "$c2"
wait_until 5 container_exec 2 sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
container_exec 1 timeout 20 iperf3 -c "$c2" -n 20M -J >"$TMP/iperf3-mtu.json" ||
	fail "20 MB over a path MTU of 1400 did not finish in 20 s (offload $off, io drops +$(($(drops 1 io) - io0))): $(tail -n 5 "$TMP/iperf3-mtu.json")"
host_exec 1 ip route del "$(host_ip 2)/32" dev eth0
mbps=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/iperf3-mtu.json")
off=$(metric 1 flannel_udp_offload)
if [ "$gso_err" = EMSGSIZE ]; then
	assert_eq "$off" 1 "flannel_udp_offload after EMSGSIZE (segments resent plain, GSO kept)"
	! log_has 1 "UDP GSO send failed" ||
		fail "GSO given up after EMSGSIZE: $(grep -F "UDP GSO send failed" "$(inst_dir 1)/flanneld.log")"
else
	assert_eq "$off" 0 "flannel_udp_offload after EINVAL"
	wait_until 5 log_has 1 "$DEV: a UDP GSO send failed (Invalid argument)" "workers send plain datagrams" ||
		fail "no log line saying GSO was given up after EINVAL"
fi
pass "path MTU 1400 to h2 (mtu lock): the kernel answers GSO with $gso_err; 20 MB TCP container 1 -> 2 at $mbps Mbit/s, offload $off as it must be (io drops +$(($(drops 1 io) - io0)))"

# -- restart: flannel0 goes with the daemon and comes back; traffic within 1 s of ready
flannel_stop 2
host_exec 2 ip link show "$DEV" >/dev/null 2>&1 && fail "$DEV still there after flanneld 2 stopped"
flannel_start 2
wait_ready 2
t0=$(now_us)
wait_until 1 ping_once 1 2 || fail "no traffic container 1 -> 2 within 1 s of flanneld 2 being ready"
t1=$(now_us)
container_ping 2 1 || fail "container 2 cannot ping container 1 after the restart"
container_ping 2 3 || fail "container 2 cannot ping container 3 after the restart"
pass "flanneld 2 restarted: $DEV recreated, traffic back $(((t1 - t0) / 1000)) ms after ready"

# -- a host removed from etcd leaves the peer tables; its traffic gets net unreachable
c3=$(container_ip 3)
flannel_stop 3
etcdctl_sw del -- "$(subnet_key_of 3)" >/dev/null
for h in 1 2; do
	wait_until 10 peers_are "$h" 1 || fail "host $h still has $(metric "$h" flannel_udp_peers) peers after host 3 left"
done
nr0=$(drops 1 no_route)
# The error comes from flannel0's own address, which the kernel takes as a
# martian unless accept_local is on (so with upstream too): on for the check.
host_exec 1 sysctl -qw "net.ipv4.conf.$DEV.accept_local=1"
# Not for ICMP (upstream's rule): a UDP datagram, on a connected socket
# that reports soft errors.
out=$(container_exec 1 "$PY" -c '
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR: net unreachable is a soft error
s.connect((sys.argv[1], 9))
s.settimeout(3)
for _ in range(3):
    s.send(b"x")
    try:
        s.recv(10)
    except socket.timeout:
        continue
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
        break
' "$c3" 2>&1 || true)
assert_eq "$out" ENETUNREACH "error for a datagram to removed host 3"
wait_until 5 eval '[ "$(drops 1 no_route)" -gt "$nr0" ]' || fail "no_route drops did not increase"
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
pass "host 3 removed: gone from h1's and h2's tables; a datagram to it gets ICMP net unreachable"

# -- malformed datagrams at h1's port: from peer h2 (garbage, truncated
# header, bad version, length mismatch, oversize) and from non-peer h3
send_junk() { # host kind count
	host_exec "$1" "$PY" - "$(host_ip 1)" "$PORT" "$2" "$3" <<'EOF'
import os, socket, struct, sys
dst, port, kind, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def ip(total, ver=4, ihl=5, length=None):
    h = struct.pack('!BBHHHBBH4s4s', ver << 4 | ihl, 0, total if length is None else length,
                    1, 0, 64, 17, 0, socket.inet_aton('10.244.250.1'), socket.inet_aton('10.244.250.2'))
    return h + bytes(total - 20)
pkts = {
    'garbage': lambda: bytes([0]) + os.urandom(99),
    'short': lambda: ip(20)[:12],
    'version': lambda: ip(60, ver=6),
    'ihl': lambda: ip(60, ihl=3),
    'length': lambda: ip(60, length=80),
    'oversize': lambda: ip(1600),
    'valid': lambda: ip(60),
}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(count):
    s.sendto(pkts[kind](), (dst, port))
EOF
}
declare -A before
for r in version short ihl length oversize unknown_peer; do before[$r]=$(drops 1 "$r"); done
send_junk 2 garbage 50
send_junk 2 short 50
send_junk 2 version 50
send_junk 2 ihl 50
send_junk 2 length 50
send_junk 2 oversize 50
send_junk 3 valid 50
send_junk 3 garbage 50
grew() { [ "$(drops 1 "$1")" -ge $((before[$1] + $2)) ]; }
wait_until 5 grew version 100 || fail "version drops: ${before[version]} -> $(drops 1 version)"
for r in short ihl length oversize; do
	wait_until 5 grew "$r" 50 || fail "$r drops: ${before[$r]} -> $(drops 1 "$r")"
done
wait_until 5 grew unknown_peer 100 || fail "unknown_peer drops: ${before[unknown_peer]} -> $(drops 1 unknown_peer)"
flannel_running 1 || fail "flanneld 1 died from malformed datagrams"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the malformed datagrams"
container_ping 2 1 || fail "container 2 cannot ping container 1 after the malformed datagrams"
pass "malformed datagrams dropped and counted ($(for r in version short ihl length oversize unknown_peer; do printf '%s +%s ' "$r" $(($(drops 1 "$r") - before[$r])); done)); forwarding goes on"

# -- self-healing: the address, the route and the link state come back
host_exec 1 ip addr del "$(net_of 1)/32" dev "$DEV"
wait_until 5 eval 'host_exec 1 ip -4 -o addr show dev $DEV | grep_q "$(net_of 1)/32"' || fail "h1 did not restore the address of $DEV"
host_exec 1 ip route del 10.244.0.0/16 dev "$DEV"
wait_until 5 eval 'host_exec 1 ip route show 10.244.0.0/16 | grep_q "dev $DEV"' || fail "h1 did not restore the route"
host_exec 1 ip link set "$DEV" down
wait_until 5 eval 'host_exec 1 ip route show 10.244.0.0/16 | grep_q "dev $DEV" && host_exec 1 ip link show $DEV | grep_q ",UP"' ||
	fail "h1 did not bring $DEV back up with its route"
wait_until 5 ping_once 1 2 || fail "container 1 cannot ping container 2 after the repairs"
if host_exec 1 ip link del "$DEV" 2>/dev/null; then
	dev_back() {
		host_exec 1 ip -4 -o addr show dev "$DEV" 2>/dev/null | grep_q "$(net_of 1)/32" &&
			host_exec 1 ip route show 10.244.0.0/16 | grep_q "dev $DEV"
	}
	wait_until 5 dev_back || fail "h1 did not recreate $DEV: $(host_exec 1 ip -o link)"
	wait_until 5 ping_once 1 2 || fail "container 1 cannot ping container 2 after $DEV was recreated"
	deleted=", and the device itself after a delete"
fi
pass "address, route and link state of $DEV restored after tampering${deleted:-}"

# -- a second network in plain per-packet mode ("Offload": false, our
# extension; Go ignores it) on another port, next to the first: flannel1
P=/plain/network
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"udp","Port":8286,"Offload":false,"Queues":1}}' "$P"
for i in 1 2; do flannel_start "${i}b" --etcd-prefix="$P" --healthz-port=9912; done
for i in 1 2; do wait_ready "${i}b"; done
wait_until 10 peers_are 1b 1 || fail "flanneld 1b has no peer"
assert_eq "$(metric 1b flannel_udp_offload)" 0 "offload of the plain-mode daemon"
assert_eq "$(metric 1b flannel_udp_queues)" 1 "queues of the plain-mode daemon"
log_has 1b "plain per-packet mode" || fail "no log line for the plain mode"
host_exec 1 ip -d link show flannel1 | grep_q -F "mtu 1472" || fail "flannel1 on h1: $(host_exec 1 ip -d link show flannel1)"
b2=$(net_of 2b)
host_exec 1 ping -q -c 3 -i 0.2 -W 2 -M do -s 1444 "$b2" >/dev/null || fail "h1 cannot ping $b2 (h2's flannel1) in plain mode"
SPAWN_LOG=$TMP/iperf3-plain.log spawn iperf3-plain "$(host_ns 2)" iperf3 -s -1 -B "$b2" -p 5202
wait_until 5 host_exec 2 sh -c "ss -ltn | grep -q ':5202 '" || fail "iperf3 server did not start"
host_exec 1 timeout 20 iperf3 -c "$b2" -p 5202 -t 1 -J >"$TMP/iperf3-plain.json" || fail "iperf3 in plain mode failed"
pm=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/iperf3-plain.json")
ping_once 1 2 || fail "the first network stopped working next to the second"
pass "plain mode (no offloads, 1 queue) on flannel1 next to flannel0: full-size ping, iperf3 ${pm:-?} Mbit/s"

flannel_stop_all 1 2 1b 2b
for h in 1 2; do
	for dev in "$DEV" flannel1; do
		host_exec "$h" ip link show "$dev" >/dev/null 2>&1 && fail "$dev still there on h$h after SIGTERM"
	done
done
pass "SIGTERM: exit 0, $DEV gone with the daemon (not persistent, as upstream)"
