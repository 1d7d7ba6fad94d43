#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ipsec backend (in a qemu guest when this kernel has no ESP/XFRM): each
# host runs its own charon (own strongswan.conf through STRONGSWAN_CONF,
# own VICI socket, own /run for the PID file); upstream's lease value and
# MTU; three XFRM policies per peer with reqid 11; container ping across
# every pair; the underlay carries ESP, never the payload; no ping lost
# across a restart of flanneld (10 ms), which re-keys nothing; a killed
# charon is restarted and its connections reloaded; a host removed from
# etcd loses its connections, SAs and policies on the others; a host whose
# charon holds a wrong PSK gets no traffic through; with UDPEncap (hosts 1
# and 2 started over) the underlay carries UDP 4500, never plain ESP.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  charon  cni0 -- c1 (container)
#	 |-- h2 10.200.0.12 eth0  charon  cni0 -- c2
#	 `-- h3 10.200.0.13 eth0  charon  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/guest.sh"
in_guest_unless_kernel_has xfrm
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
CHARON=/usr/lib/ipsec/charon
[ -x "$CHARON" ] && command -v swanctl >/dev/null || skip "no charon/swanctl (scripts/deps.sh installs strongswan)"

PSK=$(printf 'flannel-ipsec-test-key-%.0s' 1 2 3 4 5) # 120 characters
CONFIG="{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"ipsec\",\"PSK\":\"$PSK\"}}"

# Each host's flanneld (and so its charon) runs with a private /run: charon's
# PID file is fixed at /var/run/charon.pid.
WRAP=$TMP/hostwrap
cat >"$WRAP" <<'WEOF'
#!/bin/sh
for a; do case $a in --subnet-file=*) d=$(dirname "${a#*=}") ;; esac; done
mkdir -p "$d/run"
export STRONGSWAN_CONF="$d/strongswan.conf" FLANNELD_IPSEC_VICI_SOCKET="$d/charon.vici"
# NO_CHARON=1: the charon binary hidden (the missing-binary check).
[ "${NO_CHARON:-0}" = 1 ] && hide=/usr/lib/ipsec/charon || hide=
exec unshare -m sh -c 'mount --bind "$0/run" /run && { [ -z "$1" ] || mount --bind /dev/null "$1"; } && shift && exec "$@"' "$d" "$hide" "$@"
WEOF
chmod +x "$WRAP"
export FLANNEL_WRAP=$WRAP

charon_conf() { # id
	local d
	d=$(inst_dir "$1")
	mkdir -p "$d"
	cat >"$d/strongswan.conf" <<-CEOF
		charon {
			load = random nonce aes sha1 sha2 hmac gcm gmp openssl kdf pem pkcs1 pubkey x509 kernel-netlink socket-default vici
			install_routes = no
			install_virtual_ip = no
			plugins {
				vici { socket = unix://$d/charon.vici }
			}
			filelog {
				log { path = $d/charon.log
				      default = 1 }
			}
		}
	CEOF
}
charon_pid() { cat "$(inst_dir "$1")/run/charon.pid" 2>/dev/null; }
kill_charons() {
	local i p
	for i in 1 2 3 4; do
		p=$(charon_pid "$i") || continue
		[ -n "$p" ] && [ -d "/proc/$p" ] && grep -q charon "/proc/$p/comm" && kill -9 "$p" 2>/dev/null
	done
	return 0
}
# charon outlives flanneld by design: end ours (by PID) before lib.sh's cleanup, keeping the status.
# At the end the daemons go first (a live one would start a charon killed
# under it), then the charons. set +e: under -e, "(exit $rc)" would end the
# trap before cleanup.
end_all() {
	local i
	for i in 1 2 3 4; do proc_signal "flanneld-$i" KILL; done
	for i in 1 2 3 4; do [ ! -d "$TMP/procs/flanneld-$i" ] || wait_until 10 proc_exited "flanneld-$i"; done
	kill_charons
}
trap 'rc=$?; set +e; end_all; (exit $rc); cleanup' EXIT
swan() { # id command args...: swanctl against host id's charon
	local n=$1 cmd=$2
	shift 2
	host_exec "$n" swanctl "$cmd" --uri "unix://$(inst_dir "$n")/charon.vici" "$@" 2>/dev/null # its plugin-loading noise
}

topo_up 3
etcd_start
etcd_put_config "$CONFIG"
for i in 1 2 3; do charon_conf "$i"; done

net_of() { # the subnet as a.b.c.0/len (FLANNEL_SUBNET holds .1)
	local s
	s=$(subnet_of "$1")
	echo "$(ip_add "${s%/*}" -1)/${s#*/}"
}
policies() { host_exec "$1" ip xfrm policy | grep -c "reqid 11 mode tunnel" || true; }

# -- no charon binary and nothing on the VICI socket: start-up stops, saying so
NO_CHARON=1 flannel_start 1
wait_until 60 proc_exited flanneld-1 || fail "flanneld ran without a charon"
[ "$(proc_rc flanneld-1)" -ne 0 ] || fail "flanneld exited 0 without a charon"
log_has 1 "No valid charon executable found at paths" "none answers on" || fail "no message naming the missing charon"
pass "no charon executable: flanneld stops (exit $(proc_rc flanneld-1)) naming the paths it tried"

for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i" 90 || fail "flanneld $i not ready: $(tail -n 20 "$(inst_dir "$i")/flanneld.log")"; done
for i in 1 2 3; do
	assert_eq "$(mtu_of "$i")" 1423 "FLANNEL_MTU of host $i (eth0's 1500 minus 77)"
	want="{\"PublicIP\":\"$(host_ip "$i")\",\"PublicIPv6\":null,\"BackendType\":\"ipsec\"}"
	# Polled: etcdctl itself can time out against an etcd slowed by the emulated guest.
	wait_until 30 eval '[ "$(key_value "$(subnet_key_of '"$i"')")" = "$want" ]' ||
		assert_eq "$(key_value "$(subnet_key_of "$i")")" "$want" "lease value of host $i"
done
pass "lease value as upstream writes it (BackendType ipsec, no BackendData); MTU 1500 - 77"

for h in 1 2 3; do
	wait_until 30 eval '[ "$(policies '"$h"')" -eq 6 ]' ||
		fail "h$h: expected 6 policies (out/in/fwd x 2 peers): $(host_exec "$h" ip xfrm policy)"
	for p in 1 2 3; do
		[ "$h" = "$p" ] && continue
		host_exec "$h" ip xfrm policy list src "$(net_of "$h")" dst "$(net_of "$p")" dir out |
			grep_q "tmpl src $(host_ip "$h") dst $(host_ip "$p")" ||
			fail "h$h: no out policy to host $p"
		name="$(host_ip "$h")-$(net_of "$h")-$(net_of "$p")-$(host_ip "$p")"
		wait_until 30 eval "swan $h --list-conns | grep -q -- '^$name:'" ||
			fail "h$h: charon lacks connection $name: $(swan "$h" --list-conns)"
	done
done
pass "every host: upstream's connection names in its own charon, out/in/fwd policies with reqid 11"

for i in 1 2 3; do container_up "$i"; done
for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		wait_until 60 container_ping "$a" "$b" || fail "container $a cannot ping container $b: $(swan "$a" --list-sas)"
	done
done
pass "container-to-container ping across all 6 ordered pairs through IKEv2/ESP"

# -- the underlay (h2's port on the switch: the wire, not eth0 where the
# decrypted packet shows again) carries ESP, never the payload
PATTERN=$(printf 'flannel-ipsec-pl' | od -An -tx1 | tr -d ' \n') # ping -p takes 16 bytes
cat >"$TMP/cap.py" <<'PEOF'
import json, signal, socket, sys, time
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((sys.argv[3], 0))
s.settimeout(0.2)
out = {"esp": 0, "icmp": 0, "payload": 0, "udp4500": 0}
open(sys.argv[1] + ".ready", "w").close()
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end and not stopped:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if f[12:14] != b"\x08\x00":
        continue
    proto = f[14 + 9]
    out["esp"] += proto == 50
    out["icmp"] += proto == 1
    out["payload"] += b"flannel-ipsec-pl" in f
    if proto == 17:
        l4 = 14 + (f[14] & 0x0F) * 4
        out["udp4500"] += 4500 in (int.from_bytes(f[l4:l4 + 2], "big"), int.from_bytes(f[l4 + 2:l4 + 4], "big"))
json.dump(out, open(sys.argv[1], "w"))
PEOF
# SIGTERM ends the capture once ping has its replies; 120 s is only a
# backstop, so a slow guest cannot end it before the ping starts.
SPAWN_LOG=$TMP/cap.log spawn capture "$SW_NS" python3 "$TMP/cap.py" "$TMP/cap.json" 120 h2
wait_until 90 test -e "$TMP/cap.json.ready" || fail "capture did not start: $(cat "$TMP/cap.log")"
container_exec 1 ping -q -c 5 -i 0.2 -p "$PATTERN" -s 64 "$(container_ip 2)" >/dev/null || fail "patterned ping failed"
proc_signal capture TERM
wait_until 40 proc_exited capture || fail "capture did not end"
res=$(cat "$TMP/cap.json")
esp=$(jq .esp <<<"$res")
((esp >= 10)) || fail "capture on the wire to h2 saw too few ESP packets: $res"
assert_eq "$(jq .payload <<<"$res")" 0 "frames with the ping payload in clear on the underlay ($res)"
assert_eq "$(jq .icmp <<<"$res")" 0 "plain ICMP frames on the underlay ($res)"
pass "the underlay carries ESP ($esp packets), never the payload"

# -- continuous ping (10 ms) across a restart of flanneld
replies() { grep -c 'bytes from' "$1" 2>/dev/null || true; }
log=$TMP/ping-restart.log
SPAWN_LOG=$log spawn ping-restart "$(container_ns 1)" ping -i 0.01 -c 300 -W 2 -w 90 "$(container_ip 2)"
wait_until 10 eval '[ "$(replies "$log")" -ge 10 ]' || fail "ping did not start: $(cat "$log")"
sas_before=$(swan 2 --list-sas | grep -c ESTABLISHED || true)
flannel_stop 2
flannel_start 2
wait_ready 2 90
wait_until 100 proc_exited ping-restart || fail "ping did not finish"
out=$(cat "$log")
tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")
rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")
assert_eq "$tx" 300 "pings sent"
assert_eq "$rx" "$tx" "ping replies across the restart of flanneld 2"
log_has 2 "Loaded connection" && fail "flanneld 2 reloaded connections charon already held"
log_has 2 "Charon daemon started" && fail "flanneld 2 started a second charon"
pass "restart of flanneld 2 during a 10 ms ping: $rx/$tx received; charon and its $sas_before IKE SAs kept, nothing reloaded"

# -- a killed charon is restarted and its connections reloaded
old=$(charon_pid 1)
kill -9 "$old"
wait_until 30 eval '[ -n "$(charon_pid 1)" ] && [ "$(charon_pid 1)" != "'"$old"'" ] && [ -d /proc/$(charon_pid 1) ]' ||
	fail "no new charon on h1: $(tail -n 5 "$(inst_dir 1)/flanneld.log")"
wait_until 30 eval "[ \$(swan 1 --list-conns | grep -c '^$(host_ip 1)-') -eq 2 ]" ||
	fail "the new charon on h1 lacks its connections: $(swan 1 --list-conns)"
log_has 1 "charon does not answer" "restarting it" || fail "no message for the killed charon"
wait_until 60 container_ping 1 2 || fail "container 1 cannot ping container 2 after charon's restart"
wait_until 60 container_ping 3 1 || fail "container 3 cannot ping container 1 after charon's restart"
pass "charon killed on h1: restarted, both connections reloaded, traffic flows again"

# -- a host removed from etcd disappears from its peers
net3=$(net_of 3)
flannel_stop 3
# The host is gone: its charon too (else it would keep initiating).
kill -9 "$(charon_pid 3)"
etcdctl_sw del -- "$(subnet_key_of 3)" >/dev/null
for h in 1 2; do
	wait_until 20 eval '[ "$(policies '"$h"')" -eq 3 ]' || fail "h$h kept policies for host 3: $(host_exec "$h" ip xfrm policy)"
	wait_until 20 eval "! swan $h --list-conns | grep -q -- '-$(host_ip 3):'" || fail "h$h kept the connection to host 3"
	wait_until 30 eval "! host_exec $h ip xfrm state | grep -q '$(host_ip 3)'" ||
		fail "h$h kept SAs with host 3: $(host_exec "$h" ip xfrm state); charon: $(swan "$h" --list-sas)"
	log_has "$h" "Subnet removed: $net3" || fail "flanneld $h did not log the removal"
done
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 3 left"
pass "host 3 removed from etcd: its connection, SAs and policies are gone from h1 and h2"

# -- a host whose charon holds a wrong PSK gets nothing through. The config
# in etcd is shared, so host 4's flanneld talks to its charon through a
# proxy that swaps the key for another of the same length.
topo_up 4
charon_conf 4
d4=$(inst_dir 4)
cat >"$TMP/psk_proxy.py" <<'PEOF'
import os, socket, sys, threading
listen, target, psk = sys.argv[1], sys.argv[2], sys.argv[3].encode()
wrong = psk[::-1] if psk[::-1] != psk else b"x" * len(psk)
def pump(src, dst, swap):
    try:
        while True:
            hdr = b""
            while len(hdr) < 4:
                c = src.recv(4 - len(hdr))
                if not c:
                    return
                hdr += c
            n = int.from_bytes(hdr, "big")
            body = b""
            while len(body) < n:
                c = src.recv(n - len(body))
                if not c:
                    return
                body += c
            dst.sendall(hdr + (body.replace(psk, wrong) if swap else body))
    except OSError:
        pass
    finally:
        dst.close()
def serve(c):
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(target)
    except OSError:
        c.close()
        return
    threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
    pump(u, c, False)
if os.path.exists(listen):
    os.unlink(listen)
s = socket.socket(socket.AF_UNIX)
s.bind(listen)
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PEOF
SPAWN_LOG=$TMP/proxy.log spawn psk-proxy "$(host_ns 4)" python3 "$TMP/psk_proxy.py" "$d4/proxy.vici" "$d4/charon.vici" "$PSK"
wait_until 90 grep -q ready "$TMP/proxy.log" || fail "the PSK proxy did not start: $(cat "$TMP/proxy.log")"
# Its own wrapper sets the socket charon serves; flanneld gets the proxy's.
sed -i 's|^exec unshare|[ "$d" = "'"$d4"'" ] \&\& export FLANNELD_IPSEC_VICI_SOCKET="$d/proxy.vici"\nexec unshare|' "$WRAP"
flannel_start 4
wait_ready 4 90
container_up 4
wait_until 30 eval "swan 4 --list-conns | grep -q -- '-$(host_ip 1):'" || fail "h4's charon lacks its connection to host 1"
wait_until 30 eval "[ \"\$(policies 1)\" -eq 6 ]" || fail "h1 has no policies for host 4: $(host_exec 1 ip xfrm policy)"
container_ping 4 1 5 && fail "container 4 (wrong PSK) reached container 1"
container_ping 1 4 5 && fail "container 1 reached container 4 (wrong PSK)"
swan 1 --list-sas | grep -q -- "-$(host_ip 4): #[0-9]*, ESTABLISHED" &&
	fail "h1 established an IKE SA with host 4: $(swan 1 --list-sas)"
# (An SPI of 0 is the kernel's placeholder while it asks charon for an SA.)
sas4=$({ host_exec 1 ip xfrm state list src "$(host_ip 4)"; host_exec 1 ip xfrm state list dst "$(host_ip 4)"; } |
	grep "proto esp spi" | grep -v "spi 0x00000000" || true)
[ -z "$sas4" ] || fail "h1 has SAs with host 4: $sas4"
container_ping 1 2 || fail "container 1 cannot ping container 2 beside the wrong-PSK host"
pass "a host whose charon holds a wrong PSK: no IKE SA, no ESP SA, no ping either way; the others unaffected"

# -- UDPEncap: hosts 1 and 2 start over (fresh charons: a restart keeps the
# connections charon holds) and the underlay carries ESP in UDP 4500.
phase_start=$SECONDS
flannel_stop_all 4 1 2
kill_charons
# The killed charons' SAs stay in the kernels and would carry on in plain ESP.
for h in 1 2; do host_exec "$h" ip xfrm state flush; done
etcd_put_config "{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"ipsec\",\"PSK\":\"$PSK\",\"UDPEncap\":true}}"
etcdctl_sw del -- "$(subnet_key_of 4)" >/dev/null
flannel_start 1
flannel_start 2
for i in 1 2; do wait_ready "$i" 90 || fail "flanneld $i not ready with UDPEncap"; done
assert_eq "$(mtu_of 1)" 1415 "FLANNEL_MTU with UDPEncap (1500 minus 85)"
wait_until 60 container_ping 1 2 || fail "no ping from container 1 to 2 with UDPEncap: $(swan 1 --list-sas)"
rm -f "$TMP/cap.json" "$TMP/cap.json.ready"
SPAWN_LOG=$TMP/cap2.log spawn capture2 "$SW_NS" python3 "$TMP/cap.py" "$TMP/cap.json" 120 h2
wait_until 90 test -e "$TMP/cap.json.ready" || fail "capture did not start: $(cat "$TMP/cap2.log")"
container_exec 1 ping -q -c 5 -i 0.2 -p "$PATTERN" -s 64 "$(container_ip 2)" >/dev/null || fail "patterned ping failed with UDPEncap"
proc_signal capture2 TERM
wait_until 40 proc_exited capture2 || fail "capture did not end"
res=$(cat "$TMP/cap.json")
udp=$(jq .udp4500 <<<"$res")
((udp >= 10)) || fail "capture on the wire to h2 saw too few UDP 4500 packets with UDPEncap: $res"
assert_eq "$(jq .esp <<<"$res")" 0 "plain ESP frames on the underlay with UDPEncap ($res)"
assert_eq "$(jq .payload <<<"$res")" 0 "frames with the ping payload in clear on the underlay ($res)"
assert_eq "$(jq .icmp <<<"$res")" 0 "plain ICMP frames on the underlay ($res)"
pass "UDPEncap: MTU 1500 - 85, ping through, the underlay carries UDP 4500 ($udp packets), no plain ESP, never the payload ($((SECONDS - phase_start)) s)"
