#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instructions our daemon's user space spends per watch event: one
# flanneld (alloc backend, or BACKEND=vxlan|wireguard) under callgrind, on
# the integration test bed (tests/integration/lib.sh: etcd and the daemon
# in namespaces of their own).
#
#	sudo bench/event_cost.sh                 M = 500 puts
#	sudo FLANNELD=/path/flanneld M=200 bench/event_cost.sh
#	sudo BACKEND=wireguard bench/event_cost.sh
#
# Once the daemon holds its lease and watches, callgrind's counters are
# zeroed and two windows are counted, each ended by a dump:
#   idle:  nothing written, for as long as the put window took;
#   puts:  M lease puts, one request each, paced PACE_MS apart (etcd's JSON
#          gateway, one kept-alive connection), until the daemon's
#          flannel_leases_known counts all of them.
# Both windows poll /metrics once a second. Printed: Ir of each window and
# (puts - idle) / M, the instructions per event. The values are what a vxlan
# host writes (DATA=vxlan; DATA=wireguard: a wireguard host's PublicKey and
# Port), with BackendType TYPE (default BACKEND, the daemon's own, so
# BackendData is kept and, for vxlan and wireguard, decoded and programmed;
# TYPE=other makes it another backend's data); with DATA=none, BackendData
# is null (as bench/fanout.sh writes it). wireguard runs in a qemu guest
# (tests/qemu/run-in-guest.sh) when this kernel lacks it: callgrind counts
# instructions, not time, but under TCG the daemon may be too slow to
# start (GUEST_TIMEOUT bounds the guest).
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-500}
PACE_MS=${PACE_MS:-20}
BACKEND=${BACKEND:-alloc}
case $BACKEND in
alloc | vxlan | wireguard) ;;
*)
	echo "BACKEND must be alloc, vxlan or wireguard" >&2
	exit 2
	;;
esac
TYPE=${TYPE:-$BACKEND}
if [ "$BACKEND" = wireguard ]; then DATA=${DATA:-wireguard}; else DATA=${DATA:-vxlan}; fi
export FLT_PREFIX=${FLT_PREFIX:-flev$$}
# (vxlan needs no probe here: lib.sh's require_vxlan below skips without it.)
if [ "$BACKEND" = wireguard ] && [ "${FLANNELD_IN_GUEST:-0}" != 1 ] && [ "$(id -u)" -eq 0 ]; then
	. tests/integration/guest.sh
	if ! _kernel_has_kind "$BACKEND"; then
		echo "this kernel has no $BACKEND: measuring in a qemu guest"
		export M PACE_MS BACKEND TYPE DATA
		exec tests/qemu/run-in-guest.sh --timeout "${GUEST_TIMEOUT:-1800}" --env FLANNELD \
			--env FLT_PREFIX --env KEEP_TMP --env M --env PACE_MS --env BACKEND --env TYPE \
			--env DATA bash "$PWD/bench/event_cost.sh"
	fi
fi
. tests/integration/lib.sh

require_root
require_etcd
require_flanneld
command -v valgrind >/dev/null || skip "valgrind not installed"
command -v callgrind_control >/dev/null || skip "callgrind_control not installed"
((M >= 1 && M <= 30000)) || fail "M must be 1..30000"

topo_up 1
etcd_start
[ "$BACKEND" != vxlan ] || require_vxlan
etcd_put_config "{\"Network\":\"10.0.0.0/8\",\"Backend\":{\"Type\":\"$BACKEND\"}}"
wrap="valgrind --tool=callgrind --callgrind-out-file=$TMP/cg.out"
# The private key where the test bed keeps its files, not under /run/flannel.
[ "$BACKEND" != wireguard ] || wrap="env WIREGUARD_KEY_FILE=$TMP/wgkey $wrap"
FLANNEL_WRAP=$wrap flannel_start 1 -v=0
wait_ready 1 120
# Bounded retries: under callgrind in a TCG guest one /metrics answer can miss curl's 2 s.
for ((try = 0; try < 30; try++)); do
	base=$(metric 1 flannel_leases_known) && break
	base=
	sleep 1
done
[ -n "$base" ] || fail "no flannel_leases_known in /metrics"
pid=$(flannel_pid 1)

cg() { callgrind_control "$@" "$pid" >/dev/null 2>&1; }
# Ir of the newest dump.
last_ir() {
	local f
	f=$(ls -t "$TMP"/cg.out.* | head -n 1)
	awk '/^summary:/ { print $2 }' "$f"
}
# Poll once a second until cmd succeeds or timeout_s passes; both windows
# poll the same way, so the polls' own cost cancels out.
poll_1s() {
	local timeout=$1 i
	shift
	for ((i = 0; i < timeout; i++)); do
		"$@" && return 0
		sleep 1
	done
	return 1
}
never() { false; }

writer=$(
	cat <<'EOF'
import http.client, json, base64, sys, time
m, pace, btype, data = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
b64 = lambda s: base64.b64encode(s.encode()).decode()
def backend_data(i):
    if data == "vxlan":
        return {"VNI": 1, "VtepMAC": "0a:00:00:%02x:%02x:01" % (i // 256, i % 256)}
    if data == "wireguard":
        return {"PublicKey": base64.b64encode(bytes([i // 256, i % 256, 1] + [7] * 29)).decode(),
                "Port": 51820}
    return None
conn = http.client.HTTPConnection("127.0.0.1", 2379, timeout=30)
t0 = time.monotonic()
for i in range(m):
    key = "/coreos.com/network/subnets/10.%d.%d.0-24" % (128 + i // 256, i % 256)
    value = json.dumps({"PublicIP": "10.4.%d.%d" % (i // 250, i % 250 + 1), "PublicIPv6": None,
                        "BackendType": btype,
                        "BackendData": backend_data(i)},
                       separators=(",", ":"))
    delay = t0 + i * pace / 1000 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    conn.request("POST", "/v3/kv/put", json.dumps({"key": b64(key), "value": b64(value)}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or b'"error"' in body:
        sys.exit("put failed: %d %s" % (r.status, body[:200]))
EOF
)

cg -z
t0=$(now_us)
sw_exec python3 -c "$writer" "$M" "$PACE_MS" "$TYPE" "$DATA"
poll_1s $((60 + M / 10)) metric_ge 1 flannel_leases_known $((base + M)) || fail "the daemon did not see all $M puts"
cg -d
puts_ir=$(last_ir)
secs=$((($(now_us) - t0 + 999999) / 1000000))
cg -z
poll_1s "$secs" never || true
cg -d
idle_ir=$(last_ir)
echo "puts window: $puts_ir Ir ($M events, ${secs} s)"
echo "idle window: $idle_ir Ir"
awk -v p="$puts_ir" -v i="$idle_ir" -v m="$M" \
	'BEGIN { printf "per event: %.0f instructions\n", (p - i) / m }'
# The same from callgrind's own attribution: what the watch message handler
# (src/etcd/etcd_watch.c) and all it calls cost in the puts window. Free of
# the idle window's noise (in a TCG guest the windows' lengths differ).
# The puts window's dump is the first one (cg.out.1).
if command -v callgrind_annotate >/dev/null; then
	callgrind_annotate --inclusive=yes "$TMP/cg.out.1" 2>/dev/null |
		awk -v m="$M" '/:on_watch_message / { gsub(",", "", $1); printf "watch handler: %.0f instructions per event\n", $1 / m; exit }'
fi
flannel_stop 1
