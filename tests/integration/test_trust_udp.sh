#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# udp backend: a datagram from a peer's PublicIP is forwarded only when its
# inner source lies in that peer's subnet and its inner destination in ours
# (issue 15, item 7). From h2's namespace (so the outer source is h2's
# PublicIP, as a spoofer on the underlay would make it) datagrams reach
# h1:8285 carrying packets
#   - from container 3's address (h3's subnet) to container 1: not
#     delivered, counted as reason="foreign_source";
#   - from container 2 (h2's own subnet) to container 3 (not h1's subnet):
#     not forwarded, counted as reason="foreign_destination";
#   - then from container 2 to container 1: delivered, which also shows that
#     the ones before it were not merely late.
# Real traffic between the containers still flows.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 :8285 flannel0 cni0 -- c1   receiver :7777
#	 |-- h2 10.200.0.12 :8285 flannel0 cni0 -- c2   sender of the datagrams
#	 `-- h3 10.200.0.13 :8285 flannel0 cni0 -- c3   receiver :7777
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 not installed"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

topo_up 3
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}'
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
peers_are() { metric_eq "$1" flannel_udp_peers "$2"; }
for i in 1 2 3; do
	wait_until 10 peers_are "$i" 2 || fail "host $i has $(metric "$i" flannel_udp_peers) udp peers, expected 2"
	container_up "$i"
done
container_ping 1 2 || fail "container 1 cannot ping container 2"
container_ping 3 1 || fail "container 3 cannot ping container 1"
drops() { metric 1 "flannel_udp_dropped_total{reason=\"$1\"}" || echo missing; }

# receiver <n>: container n appends every UDP payload on :7777 to $TMP/got.<n>
receiver() {
	: >"$TMP/got.$1"
	SPAWN_LOG=$TMP/recv.$1.err spawn "recv-$1" "$(container_ns "$1")" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7777))
s.settimeout(60)
with open(sys.argv[1], "a", buffering=1) as f:
    f.write("bound\n")
    while True:
        f.write(s.recv(2048).decode(errors="replace") + "\n")
' "$TMP/got.$1"
	wait_until 15 grep -qx bound "$TMP/got.$1" || fail "receiver in container $1 did not bind"
}
receiver 1
receiver 3

# send <inner-src> <inner-dst> <payload> <count>: from h2's namespace to h1:8285
send() {
	host_exec 2 python3 - "$(host_ip 1)" "$@" <<'PY'
import socket, struct, sys
peer, src, dst, payload, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode(), int(sys.argv[5])
udp = struct.pack("!HHHH", 40000, 7777, 8 + len(payload), 0) + payload
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                  socket.inet_aton(src), socket.inet_aton(dst))
words = struct.unpack("!10H", hdr)
c = sum(words)
while c >> 16:
    c = (c & 0xffff) + (c >> 16)
hdr = hdr[:10] + struct.pack("!H", ~c & 0xffff) + hdr[12:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(count):
    s.sendto(hdr + udp, (peer, 8285))
PY
}

c1=$(container_ip 1)
c2=$(container_ip 2)
c3=$(container_ip 3)
fs0=$(drops foreign_source)
fd0=$(drops foreign_destination)
send "$c3" "$c1" SPOOFED-SOURCE 20
send "$c2" "$c3" SPOOFED-DESTINATION 20
send "$c2" "$c1" GENUINE 1
wait_until 10 grep -qx GENUINE "$TMP/got.1" ||
	fail "the genuine datagram from h2's subnet did not reach container 1: $(tr '\n' ' ' <"$TMP/got.1")"
grep -q SPOOFED "$TMP/got.1" && fail "container 1 got a packet with container 3's source from h2: $(grep -c SPOOFED "$TMP/got.1") of 20"
[ "$fs0" != missing ] || fail "no foreign_source drop counter in /metrics"
[ "$fd0" != missing ] || fail "no foreign_destination drop counter in /metrics"
grew() { [ "$(drops "$1")" -ge $(($2 + 20)) ]; }
wait_until 5 grew foreign_source "$fs0" || fail "foreign_source drops: $fs0 -> $(drops foreign_source)"
wait_until 5 grew foreign_destination "$fd0" || fail "foreign_destination drops: $fd0 -> $(drops foreign_destination)"
grep -q SPOOFED "$TMP/got.3" && fail "h1 forwarded h2's packets to container 3: $(grep -c SPOOFED "$TMP/got.3") of 20"
pass "spoofed inner source and foreign inner destination dropped (foreign_source +$(($(drops foreign_source) - fs0)), foreign_destination +$(($(drops foreign_destination) - fd0))), the genuine datagram after them delivered"

for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		container_ping "$a" "$b" || fail "container $a cannot ping container $b after the spoofed datagrams"
	done
done
flannel_running 1 || fail "flanneld 1 died"
pass "real traffic flows between all containers"
