#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A flood of 10000 junk keys under subnets/ (flood.py: bad key names, values
# that are no lease, vxlan leases with bad BackendData, values over the 64
# KiB cap) written while two vxlan hosts run, then a restart that lists
# them all: the daemons stay up and ready, their routes and the container
# traffic are untouched, every junk key is counted in flannel_bad_leases_total
# and the warnings are rate limited, with the cap named in the log; RSS
# stays under the README's 10 MB.
#
#	sw: br0 10.200.0.1 + etcd  <-- flood.py: 10000 junk keys
#	 |-- h1 10.200.0.11  flanneld 1   c1
#	 `-- h2 10.200.0.12  flanneld 2   c2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 is not installed"

topo_up 2
require_vxlan
etcd_start
etcd_put_config '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan"}}'
for i in 1 2; do flannel_start "$i"; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do container_up "$i"; done
routes() { host_exec "$1" ip route show proto 158; }
wait_until 10 eval '[ -n "$(routes 1)" ] && [ -n "$(routes 2)" ]' || fail "the hosts do not route to each other"
r1=$(routes 1)
r2=$(routes 2)

sw_exec python3 "$LIB_DIR/flood.py" 127.0.0.1 2379 "$ETCD_PREFIX" >"$TMP/flood.out" || fail "flood.py failed"
info "flood: $(tr '\n' ' ' <"$TMP/flood.out")"
# Bad keys, bad values and huge values are skipped as they are read (7250);
# the 2750 vxlan leases with bad BackendData are skipped by the backend.
JUNK_IN_CACHE=3250 # the keys that parse as subnet keys but have no usable value
wait_until 60 metric_ge 1 flannel_bad_leases_total 7250 ||
	fail "flanneld 1 counted $(metric 1 flannel_bad_leases_total) bad leases, expected 7250"
for i in 1 2; do
	flannel_running "$i" || fail "flanneld $i died in the flood"
	is_ready "$i" || fail "flanneld $i not ready after the flood"
done
assert_eq "$(routes 1)" "$r1" "h1's routes after the flood"
assert_eq "$(routes 2)" "$r2" "h2's routes after the flood"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the flood"
log_has 1 "is over the 64 KiB cap" || fail "no log line naming the value cap"
wait_until 30 eval '[ "$(grep -c "bad vxlan BackendData" "$(inst_dir 1)/flanneld.log")" -ge 1 ]' ||
	fail "no warning for the leases with bad BackendData"
warnings=$(grep -cE 'Ignoring bad subnet node|Ignoring subnet' "$(inst_dir 1)/flanneld.log" || true)
((warnings <= 100)) || fail "$warnings warnings for 10000 junk keys: not rate limited"
# README: under 10 MB RSS after the flood. ASan's shadow memory and
# quarantine make the sanitized build's RSS no measure of the daemon's own.
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$(flannel_pid 1)/status")
if ldd "$FLANNELD" 2>/dev/null | grep_q libasan; then
	rsswhat="RSS $rss kB (ASan build: the README's 10 MB bound is for the plain build)"
else
	((rss < 10240)) || fail "flanneld 1 after the flood: RSS $rss kB, the README's bound is 10 MB"
	rsswhat="RSS $rss kB < 10 MB"
fi
pass "10000 junk keys while running: daemons up and ready, routes untouched, ping works, $warnings warnings (rate limited), cap named, $rsswhat"

flannel_stop 1
flannel_start 1
wait_ready 1 60
assert_eq "$(routes 1)" "$r1" "h1's routes after a restart among the junk"
metric_ge 1 flannel_bad_leases_total "$JUNK_IN_CACHE" ||
	fail "the restart counted $(metric 1 flannel_bad_leases_total) of the $JUNK_IN_CACHE junk leases it listed"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the restart"
pass "restart listing 10000 junk keys: ready, routes converged unchanged, ping works"
flannel_stop_all 1 2
