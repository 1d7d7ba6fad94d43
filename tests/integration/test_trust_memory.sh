#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What other hosts write cannot make the lease cache big (issue 15, item 3).
# Two vxlan hosts; an etcd writer puts flood.py's 10000 junk keys, then
# 1000 leases of another backend type and 1000 vxlan leases, each with
# about 60 KiB of BackendData (under the 64 KiB value cap), 120 MB in all.
# BackendData of other types is not kept, big data of our type only within
# the cache's share for it: the cache stays under its 64 MiB cap, RSS stays
# small (logged as a figure, asserted under a bound far below what keeping
# it all costs), the cap is named in a warning, and a new host with a
# normal lease put after the flood is programmed. The same after a restart
# that lists it all.
#
#	sw: br0 10.200.0.1 + etcd  <-- flood.py, then the oversized leases
#	 |-- h1 10.200.0.11  flanneld 1   c1
#	 `-- h2 10.200.0.12  flanneld 2   c2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 is not installed"

# Bounds (kB). Keeping every BackendData of this flood costs over 120 MB.
# ASan's shadow memory and quarantine make RSS meaningless: with a
# sanitized daemon the figure is logged and the cache's own count asserted.
RSS_MAX_KB=48000
grep -qa __asan_init "$FLANNELD" && RSS_MAX_KB=
CACHE_MAX_BYTES=$((64 << 20))

topo_up 2
require_vxlan
etcd_start
etcd_put_config '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan"}}'
for i in 1 2; do flannel_start "$i"; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do container_up "$i"; done
routes() { host_exec "$1" ip route show proto 158; }
# grep reads it all: with pipefail, grep -q exiting early could fail the pipe (SIGPIPE).
has_route() { routes "$1" | grep "^$2 " >/dev/null; }
wait_until 10 eval '[ -n "$(routes 1)" ] && [ -n "$(routes 2)" ]' || fail "the hosts do not route to each other"
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$(flannel_pid "$1")/status"; }
info "before the flood: h1 RSS $(rss_kb 1 VmRSS) kB"

sw_exec python3 "$LIB_DIR/flood.py" 127.0.0.1 2379 "$ETCD_PREFIX" >"$TMP/flood.out" || fail "flood.py failed"
# 2000 oversized leases, 16 per transaction
# (etcd takes requests up to 1.5 MiB).
sw_exec python3 - "$ETCD_PREFIX" <<'EOF' || fail "the oversized leases could not be written"
import base64, http.client, json, sys
prefix = sys.argv[1]
conn = http.client.HTTPConnection("127.0.0.1", 2379, timeout=30)
pad = "x" * 60000
def lease(kind, i):
    data = {"VNI": 1, "VtepMAC": "02:00:00:00:%02x:%02x" % (i // 256, i % 256), "Pad": pad}
    return json.dumps({"PublicIP": "10.201.%d.%d" % (i // 256, i % 256), "PublicIPv6": None,
                       "BackendType": kind, "BackendData": data})
# Other type in 10.60-63.x.0/24, ours in 10.64-67.x.0/24.
puts = [("%s/subnets/10.%d.%d.0-24" % (prefix, base + i // 256, i % 256), lease(kind, i))
        for kind, base in (("host-gw", 60), ("vxlan", 64)) for i in range(1000)]
for n in range(0, len(puts), 16):
    body = json.dumps({"success": [{"request_put": {"key": base64.b64encode(k.encode()).decode(),
                                                    "value": base64.b64encode(v.encode()).decode()}}
                                   for k, v in puts[n:n + 16]]})
    conn.request("POST", "/v3/kv/txn", body)
    resp = conn.getresponse()
    answer = resp.read()
    if resp.status != 200 or b'"error"' in answer:
        sys.exit("txn failed: %d %s" % (resp.status, answer[:300]))
EOF

# A new host with a normal vxlan lease, put after the flood: routed once seen.
new_key=$ETCD_PREFIX/subnets/10.250.1.0-24
etcdctl_sw put -- "$new_key" \
	'{"PublicIP":"10.200.0.77","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:aa:00:00:00:01"}}' >/dev/null
wait_until 60 has_route 1 10.250.1.0/24 || fail "the new host's lease put after the flood is not routed on h1"

check() { # when
	local rss hwm bytes capped
	flannel_running 1 || fail "$1: flanneld 1 died"
	is_ready 1 || fail "$1: flanneld 1 is not ready"
	rss=$(rss_kb 1 VmRSS)
	hwm=$(rss_kb 1 VmHWM)
	bytes=$(metric 1 flannel_lease_cache_bytes || echo "(no metric)")
	capped=$(metric 1 flannel_lease_cache_capped_total || echo 0)
	info "$1: h1 RSS $rss kB (peak $hwm kB), lease cache $bytes bytes, $capped capped, $(metric 1 flannel_leases_known) leases known"
	[ -z "$RSS_MAX_KB" ] || ((rss < RSS_MAX_KB)) || fail "$1: h1's RSS is $rss kB, over $RSS_MAX_KB kB"
	((bytes < CACHE_MAX_BYTES)) || fail "$1: the lease cache holds $bytes bytes, over the cap"
	((capped > 0)) || fail "$1: no lease's BackendData was dropped for the cap"
	log_has 1 "Lease cache: dropping" "of the 64 MiB cap" || fail "$1: no warning naming the cache cap"
	container_ping 1 2 || fail "$1: container 1 cannot ping container 2"
}
check "after the flood"
pass "10000 junk keys and 2000 leases with 60 KiB BackendData: cache under its cap, RSS $(rss_kb 1 VmRSS) kB, a new host is routed, ping works"

flannel_stop 1
flannel_start 1
wait_ready 1 60
wait_until 30 has_route 1 10.250.1.0/24 || fail "after a restart, the new host's lease is not routed"
check "after a restart"
pass "a restart listing the flood: cache under its cap, RSS $(rss_kb 1 VmRSS) kB (peak $(rss_kb 1 VmHWM) kB), ping works"
flannel_stop_all 1 2
