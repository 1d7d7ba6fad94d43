#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ipsec backend against charons that misbehave, on this kernel (nothing
# here needs ESP: only XFRM policies, which any kernel with XFRM takes).
# Three hosts side by side, each with its own "charon" (found first in
# PATH, as upstream looks) and VICI socket:
#  h1: a charon that starts but never creates its socket: a message naming
#      the socket within the start bound (30 s), the daemon serving on;
#  h2: a fake charon (python) that refuses one peer's connection and later
#      stops answering: the refusal names that connection and the other
#      peers load; the silence costs one VICI timeout (5 s), never the
#      event loop's time, is reported, and the daemon reloads what is
#      missing once charon answers again;
#  h3: the real charon with an ESPProposal it does not know: the daemon
#      says which proposal charon refused, per connection, and keeps running.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  "charon": sleeps
#	 |-- h2 10.200.0.12 eth0  "charon": fake_vici.py serving $TMP/h2/charon.vici
#	 `-- h3 10.200.0.13 eth0  /usr/lib/ipsec/charon
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "no python3"
REAL_CHARON=/usr/lib/ipsec/charon

PSK=$(printf 'flannel-ipsec-test-key-%.0s' 1 2 3 4 5) # 120 characters
BAD_ESP=aes999-sha256 # proposal syntax, but no algorithm charon knows
CONFIG="{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"ipsec\",\"PSK\":\"$PSK\",\"ESPProposal\":\"$BAD_ESP\"}}"
FAIL_HOSTS="1 2 3"

# Each host: a private /run (charon's PID file is fixed), its own
# strongswan.conf and socket, and $d/bin first in PATH when it exists.
WRAP=$TMP/hostwrap
cat >"$WRAP" <<'WEOF'
#!/bin/sh
for a; do case $a in --subnet-file=*) d=$(dirname "${a#*=}") ;; esac; done
mkdir -p "$d/run"
export STRONGSWAN_CONF="$d/strongswan.conf" FLANNELD_IPSEC_VICI_SOCKET="$d/charon.vici"
[ -d "$d/bin" ] && export PATH="$d/bin:$PATH"
exec unshare -m sh -c 'mount --bind "$0/run" /run && exec "$@"' "$d" "$@"
WEOF
chmod +x "$WRAP"
export FLANNEL_WRAP=$WRAP

# The fake charons record their PIDs: they are detached from flanneld (as a
# real charon is), so the cleanup ends them by PID.
kill_charons() {
	local i p
	for i in 1 2 3; do
		for p in $(cat "$(inst_dir "$i")/charon.pids" 2>/dev/null) $(cat "$(inst_dir "$i")/run/charon.pid" 2>/dev/null); do
			[ -d "/proc/$p" ] && grep -qE '^(sleep|charon|true)$' "/proc/$p/comm" && kill -9 "$p" 2>/dev/null
		done
	done
	return 0
}
# At the end the daemons go first (a live one would start a charon killed
# under it), then the charons. set +e: under -e, "(exit $rc)" would end the
# trap before cleanup.
end_all() {
	local i
	for i in 1 2 3; do proc_signal "flanneld-$i" KILL; done
	for i in 1 2 3; do [ ! -d "$TMP/procs/flanneld-$i" ] || wait_until 10 proc_exited "flanneld-$i"; done
	kill_charons
}
trap 'rc=$?; set +e; end_all; (exit $rc); cleanup' EXIT

topo_up 3
etcd_start
etcd_put_config "$CONFIG"
for i in 1 2 3; do mkdir -p "$(inst_dir "$i")"; done

# h1: a charon that starts and never creates its socket.
d1=$(inst_dir 1)
mkdir -p "$d1/bin"
printf '#!/bin/sh\necho $$ >>"%s/charon.pids"\nexec sleep 120\n' "$d1" >"$d1/bin/charon"
chmod +x "$d1/bin/charon"

# h2: starting "charon" does nothing; fake_vici.py serves the socket.
d2=$(inst_dir 2)
mkdir -p "$d2/bin"
printf '#!/bin/sh\necho started >>"%s/charon.starts"\n' "$d2" >"$d2/bin/charon"
chmod +x "$d2/bin/charon"
cat >"$TMP/fake_vici.py" <<'PEOF'
# A VICI server: answers in order, holds the connections it was given,
# refuses load-conn for a name containing argv[2], and answers nothing
# while the file argv[3] exists. Logs each request to argv[4].
import os, socket, sys, threading
path, refuse, hang, log = sys.argv[1:5]
conns, lock = [], threading.Lock()

def el_kv(k, v):
    return bytes([3, len(k)]) + k + len(v).to_bytes(2, "big") + v

def reply(c, body):
    c.sendall(len(body).to_bytes(4, "big") + body)

def first_section(msg):  # load-conn's message: a section named after the connection
    return msg[2:2 + msg[1]] if msg and msg[0] == 1 else b""

def kv(msg, key):
    i = 0
    while i < len(msg):
        t = msg[i]
        if t == 3:
            n = msg[i + 1]
            k = msg[i + 2:i + 2 + n]
            vl = int.from_bytes(msg[i + 2 + n:i + 4 + n], "big")
            v = msg[i + 4 + n:i + 4 + n + vl]
            if k == key:
                return v
            i += 4 + n + vl
        else:
            return b""
    return b""

def serve(c):
    try:
        while True:
            hdr = c.recv(4, socket.MSG_WAITALL)
            if len(hdr) < 4:
                return
            body = c.recv(int.from_bytes(hdr, "big"), socket.MSG_WAITALL)
            cmd = body[2:2 + body[1]].decode()
            msg = body[2 + body[1]:]
            with open(log, "a") as f:
                f.write(cmd + "\n")
            if os.path.exists(hang):
                continue
            ok = el_kv(b"success", b"yes")
            if cmd == "get-conns":
                with lock:
                    items = b"".join(bytes([5]) + len(n).to_bytes(2, "big") + n for n in conns)
                reply(c, bytes([1, 4, 5]) + b"conns" + items + bytes([6]))
            elif cmd == "load-conn":
                name = first_section(msg)
                if refuse.encode() in name:
                    reply(c, bytes([1]) + el_kv(b"success", b"no") +
                          el_kv(b"errmsg", b"fake charon refuses " + name))
                    continue
                with lock:
                    if name not in conns:
                        conns.append(name)
                reply(c, bytes([1]) + ok)
            elif cmd == "unload-conn":
                with lock:
                    n = kv(msg, b"name")
                    if n in conns:
                        conns.remove(n)
                reply(c, bytes([1]) + ok)
            else:
                reply(c, bytes([1]) + ok)
    except OSError:
        pass
    finally:
        c.close()

s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PEOF

# Two peers that run no daemon (keys from free_subnets): their leases only (one refused by h2's charon).
subs=$(free_subnets 2)
s_ok=$(sed -n 1p <<<"$subs")
s_refused=$(sed -n 2p <<<"$subs")
peer_value() { printf '{"PublicIP":"%s","PublicIPv6":null,"BackendType":"ipsec"}' "$1"; }
etcdctl_sw put "$s_ok" "$(peer_value 10.200.0.51)" >/dev/null
etcdctl_sw put "$s_refused" "$(peer_value 10.200.0.52)" >/dev/null
SPAWN_LOG=$TMP/fake_vici.log spawn fake-vici - python3 "$TMP/fake_vici.py" "$d2/charon.vici" \
	"-10.200.0.52" "$d2/hang" "$d2/requests"
wait_until 60 grep -q ready "$TMP/fake_vici.log" || fail "fake charon did not start: $(cat "$TMP/fake_vici.log")"

# h3: the real charon, if installed.
have_charon=0
if [ -x "$REAL_CHARON" ]; then
	have_charon=1
	d3=$(inst_dir 3)
	cat >"$d3/strongswan.conf" <<-CEOF
		charon {
			load = random nonce aes sha1 sha2 hmac gcm gmp openssl kdf pem pkcs1 pubkey x509 kernel-netlink socket-default vici
			install_routes = no
			install_virtual_ip = no
			plugins {
				vici { socket = unix://$d3/charon.vici }
			}
			filelog {
				log { path = $d3/charon.log
				      default = 1 }
			}
		}
	CEOF
fi

T0=$(date +%s)
flannel_start 1
flannel_start 2
[ $have_charon = 1 ] && flannel_start 3
for i in 1 2; do wait_ready "$i" 60 || fail "flanneld $i not ready"; done

# -- h2: one peer refused, the other loaded
wait_until 30 log_has 2 "Loaded connection: 10.200.0.12-" "-10.200.0.51" ||
	fail "h2 did not load the connection to 10.200.0.51"
wait_until 30 log_has 2 "Failed to load connection 10.200.0.12-" "-10.200.0.52 into charon: fake charon refuses" ||
	fail "h2 did not report the refused connection"
flannel_running 2 || fail "flanneld 2 stopped"
pass "a connection charon refuses is reported with charon's errmsg, naming it; the other peer loads"

# -- h3: the real charon refuses the ESP proposal, and the daemon says which
if [ $have_charon = 1 ]; then
	wait_ready 3 60 || fail "flanneld 3 not ready"
	wait_until 30 log_has 3 "charon refused connection 10.200.0.13-" "ESPProposal \"$BAD_ESP\"" ||
		fail "h3 did not name the ESP proposal charon refused"
	log_has 3 "Loaded connection" && fail "h3 loaded a connection with an ESP proposal charon refuses"
	flannel_running 3 || fail "flanneld 3 stopped"
	assert_eq "$(http_code 3 /healthz)" 200 "h3's /healthz"
	pass "an unknown ESPProposal: charon refuses each connection, the daemon names the proposal and serves on"
else
	info "no $REAL_CHARON: the unknown-ESPProposal case needs the real charon (scripts/deps.sh installs strongswan)"
fi

# -- h2: charon stops answering. The event loop goes on while the request
# waits (a new peer is taken in at once), the timeout is reported, and the
# missing connection is loaded once charon answers again.
touch "$d2/hang"
: >"$d2/requests"
wait_until 20 grep -q get-conns "$d2/requests" || fail "h2 sent no get-conns to the silent charon"
s_new=$(free_subnets 1)
etcdctl_sw put "$s_new" "$(peer_value 10.200.0.53)" >/dev/null
s_new=${s_new##*/}
wait_until 20 log_has 2 "Subnet added: ${s_new%-*}/" || fail "h2 did not take the new peer in"
wait_until 30 log_has 2 "charon does not answer (VICI socket $d2/charon.vici: no answer to get-conns within 5000 ms)" ||
	fail "h2 did not report the silent charon"
# A synchronous client would have held the loop for the whole 5 s VICI timeout.
lag=$(metric 2 flannel_loop_lag_max_seconds) || fail "no loop lag metric"
awk -v l="$lag" 'BEGIN { exit !(l < 5) }' || fail "the loop was held ${lag}s while charon was silent"
assert_eq "$(http_code 2 /healthz)" 200 "h2's /healthz while charon is silent"
# A second charon would take the socket from the silent one and then exit.
[ ! -e "$d2/charon.starts" ] || fail "h2 started a charon beside the silent one"
rm -f "$d2/hang"
wait_until 30 log_has 2 "Loaded connection: 10.200.0.12-" "-10.200.0.53" ||
	fail "h2 did not load the new peer once charon answered again"
wait_until 30 log_has 2 "charon answers on $d2/charon.vici" || fail "no message for charon answering again"
pass "a silent charon: reported after the 5 s VICI timeout, not replaced, the loop never held (lag ${lag}s), the new peer loaded when it answers again"

# -- h1: the socket never appears
wait_until $((T0 + 60 - $(date +%s))) log_has 1 "The VICI socket $d1/charon.vici did not appear within 30 s of starting $d1/bin/charon" ||
	fail "h1: no message naming the socket that never appeared"
flannel_running 1 || fail "flanneld 1 stopped"
assert_eq "$(http_code 1 /healthz)" 200 "h1's /healthz"
pass "a charon that never creates its socket: the socket and the binary named within the 30 s start bound; the daemon serves on"
