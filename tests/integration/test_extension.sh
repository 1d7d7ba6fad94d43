#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# extension backend: three hosts whose SubnetAddCommand/SubnetRemoveCommand
# install and remove real routes (host-gw by hand), so container pings work
# and break as leases come and go. PreStartupCommand's output is our
# BackendData and reaches the peers' add command on stdin;
# PostStartupCommand gets the lease in upstream's variables. A command that
# fails is logged with its stderr and retried; one that hangs is killed at
# CommandTimeout while the daemon keeps serving; one that writes to stderr
# and succeeds is logged with it. A failing Pre- or PostStartupCommand stops
# start-up with a message.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  cni0 -- c1     routes to peers: added by add.sh
#	 |-- h2 10.200.0.12 eth0  cni0 -- c2
#	 `-- h3 10.200.0.13 eth0  cni0 -- c3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

E=$TMP/ext
mkdir -p "$E"
# add.sh/del.sh SUBNET PUBLIC_IP: record the call and stdin, obey the control files.
cat >"$E/add.sh" <<EOS
#!/bin/sh
data=\$(cat)
echo "add \$1 \$2 data=\$data" >>"$E/calls"
[ -e "$E/hang" ] && { echo \$\$ >>"$E/hang.pids"; exec sleep 600; }
if [ -e "$E/fail" ]; then echo "boom: cannot add \$1" >&2; exit 3; fi
echo "note: adding \$1 via \$2" >&2
exec ip route replace "\$1" via "\$2"
EOS
cat >"$E/del.sh" <<EOS
#!/bin/sh
echo "del \$1 \$2" >>"$E/calls"
exec ip route del "\$1" via "\$2"
EOS
chmod +x "$E/add.sh" "$E/del.sh"
CONFIG=$(jq -nc --arg add "$E/add.sh \$SUBNET \${PUBLIC_IP}" --arg del "$E/del.sh \$SUBNET \$PUBLIC_IP" \
	'{Network:"10.244.0.0/16",Backend:{Type:"extension",PreStartupCommand:"echo pre-data  from-pre",
	PostStartupCommand:"printenv NETWORK SUBNET PUBLIC_IP",SubnetAddCommand:$add,SubnetRemoveCommand:$del,CommandTimeout:3}}')

topo_up 3
etcd_start
etcd_put_config "$CONFIG"
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do container_up "$i"; done

net_of() { local s; s=$(subnet_of "$1"); echo "$(ip_add "${s%/*}" -1)/${s#*/}"; }
has_route() { host_exec "$1" ip route show exact "$(net_of "$2")" | grep_q "via $(host_ip "$2")"; }
mesh() {
	container_ping 1 2 && container_ping 1 3 && container_ping 2 3 && container_ping 3 1
}
wait_until 20 mesh || fail "container pings across the three hosts failed"
assert_eq "$(key_value "$(subnet_key_of 1)" | jq -r .BackendData)" "pre-data from-pre" \
	"h1 BackendData (PreStartupCommand's output)"
grep -q "^add $(net_of 2) $(host_ip 2) data=pre-data from-pre$" "$E/calls" ||
	fail "no add call for h2 with its BackendData on stdin: $(cat "$E/calls")"
log_has 1 "Ran PostStartupCommand" || fail "PostStartupCommand did not run"
log_has 1 "Ran PostStartupCommand: printenv NETWORK SUBNET PUBLIC_IP, output: 10.244.0.0/16 | $(net_of 1) | $(host_ip 1)" ||
	fail "PostStartupCommand's environment: $(grep PostStartup "$(inst_dir 1)/flanneld.log")"
log_has 1 "Ran SubnetAddCommand for $(net_of 2)" "its stderr: note: adding" ||
	fail "a successful add's stderr is not in the log"
pass "3 hosts: routes from SubnetAddCommand, pings across; BackendData and variables as upstream; stderr logged"

# h3 leaves: the others' remove command takes its route away.
NET3=$(net_of 3)
KEY3=$(subnet_key_of 3)
flannel_stop 3
etcdctl_sw del "$KEY3" >/dev/null
no_route3() { ! has_route 1 3 && ! has_route 2 3; }
wait_until 10 no_route3 || fail "the route to h3's subnet stayed after its lease went"
container_ping 1 3 && fail "c1 still reaches c3 without a route"
grep -q "^del $NET3 $(host_ip 3)$" "$E/calls" || fail "no remove call for h3"
pass "a lease goes: SubnetRemoveCommand removes the route, the ping breaks"

# A failing add: logged with its stderr, the daemon goes on, retried until it works.
touch "$E/fail"
flannel_start 3
wait_ready 3
failed_logged() { log_has 1 "SubnetAddCommand for $NET3 exited with 3: boom: cannot add $NET3"; }
wait_until 10 failed_logged || fail "no log line for the failing add"
flannel_running 1 || fail "flanneld 1 stopped after a failing command"
has_route 1 3 && fail "a route to h3 although the add failed"
rm "$E/fail"
wait_until 30 has_route 1 3 || fail "the failed add was not retried"
wait_until 10 container_ping 1 3 || fail "c1 -> c3 after the retried add"
pass "a failing add: logged with its stderr, retried, then the ping works"

# A hanging add: killed at CommandTimeout (3 s), the daemon serves meanwhile.
flannel_stop 3
etcdctl_sw del "$KEY3" >/dev/null
wait_until 10 no_route3 || fail "the route to h3 stayed"
touch "$E/hang"
flannel_start 3
wait_ready 3
# By the PIDs the hanging commands wrote: a machine-wide pgrep also saw the
# other pass's copy of this test (CI of 9391c55).
hang_alive() { local p; for p in $(cat "$E/hang.pids" 2>/dev/null); do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
hanging() { hang_alive; }
wait_until 10 hanging || fail "the hanging add did not start"
[ "$(http_code 1 /healthz)" = 200 ] && is_ready 1 || fail "flanneld 1 does not answer while a command hangs"
timed_out() { log_has 1 "SubnetAddCommand for $NET3 failed:" "did not finish in 3000 ms"; }
wait_until 10 timed_out || fail "the hanging add was not killed at CommandTimeout"
rm "$E/hang"
wait_until 30 has_route 1 3 || fail "the timed-out add was not retried"
wait_until 10 container_ping 1 3 || fail "c1 -> c3 after the hang"
pass "a hanging add: killed after 3 s, the daemon answers meanwhile, retried"

# Failing start-up commands stop start-up with a message (another network in h1).
for which in Pre Post; do
	etcd_put_config "{\"Network\":\"10.245.0.0/16\",\"Backend\":{\"Type\":\"extension\",\"${which}StartupCommand\":\"false\"}}" /bad/network
	flannel_start 1b --etcd-prefix=/bad/network --healthz-port=9912 --subnet-file="$(inst_dir 1b)/subnet.env"
	wait_until 20 proc_exited flanneld-1b || fail "${which}StartupCommand false: flanneld kept running"
	assert_eq "$(proc_rc flanneld-1b)" 1 "exit code with a failing ${which}StartupCommand"
	log_has 1b "${which}StartupCommand failed (exit 1)" || fail "no message for the failing ${which}StartupCommand"
done
pass "a failing Pre- or PostStartupCommand stops start-up with a message"
[ -s "$E/hang.pids" ] || fail "the hanging commands recorded no PID"
hangs_gone() { ! hang_alive; }
wait_until 5 hangs_gone || fail "a killed command left its process behind"
flannel_stop_all 1 2 3
