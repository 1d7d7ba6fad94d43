#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vxlan backend benchmarks against a real etcd, in the test bed's network
# namespaces (tests/integration/lib.sh; nothing outside them is touched):
#
#   A. N existing leases (N = 1000 5000 10000): exec -> every route,
#      neighbour and FDB entry programmed (bench/nlcount watches rtnetlink),
#      peak RSS; then a restart with everything in place (nothing to write).
#   B. new lease -> route on a running peer, measured from etcd's
#      acknowledgement of the put (bench/route_latency).
#   C. iperf3 container to container over flanneld's vxlan, against the same
#      in-kernel vxlan set up by hand (same attributes and entries).
#   D. a burst: BURST_N leases put while flanneld runs (100 per transaction,
#      as fast as etcd takes them): time until all are programmed, and
#      flanneld's CPU time for them.
#
#	sudo bench/vxlan.sh [runs]        (default 5; prints tables, asserts nothing)
#	NS_LIST="1000 5000" bench/vxlan.sh  other sizes;  SKIP=BCD  skip parts
#	BENCH_LOGS=dir  keep flanneld's logs;  FLANNELD=path  another binary
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flanneld (A, B), container c1 (C)
#	 `-- h2 10.200.0.12 eth0  container c2 (C)
# The fake peers' PublicIPs (10.202.x.y) exist nowhere: no packet is sent.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
NS_LIST=${NS_LIST:-1000 5000 10000}
SKIP=${SKIP:-}
export TZ=UTC # flanneld's log stamps are local time: make them comparable
[ "$(id -u)" = 0 ] || { echo "bench/vxlan.sh: run as root" >&2; exit 1; }
scripts/deps.sh
make -s all bench
BENCH_BIN=$PWD/build/bench
FLT_PREFIX=flbv$$
. tests/integration/lib.sh
require_etcd
require_flanneld

NETWORK=10.0.0.0/8
DEV=flannel.1
CONFIG="{\"Network\":\"$NETWORK\",\"Backend\":{\"Type\":\"vxlan\"}}"

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
pct() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i] }'; }
row() { printf '%-58s %s\n' "$1" "$2"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# put_leases <count> [per-txn]: fake vxlan leases 10.(1 + i/256).(i%256).0/24
# for i < count, 100 (or per-txn) per transaction, under one etcd lease.
put_leases() {
	local n=$1 per=${2:-100} b id
	id=$(sw_exec curl -sf -X POST http://127.0.0.1:2379/v3/lease/grant -d '{"TTL":"7200"}' | jq -r .ID)
	for ((b = 0; b < n; b += per)); do
		jq -nc --argjson b "$b" --argjson n "$n" --argjson per "$per" --arg id "$id" --arg p "$ETCD_PREFIX" '
		    def hex2: "0123456789abcdef" as $d | $d[(. / 16 | floor):(. / 16 | floor) + 1] + $d[(. % 16):(. % 16) + 1];
		    {success: [range($b; [$b + $per, $n] | min) as $i |
		      ($i / 256 | floor) as $hi | ($i % 256) as $lo |
		      {request_put: {
		        key: ("\($p)/subnets/10.\($hi + 1).\($lo).0-24" | @base64),
		        value: ({PublicIP: "10.202.\($hi).\($lo)", PublicIPv6: null, BackendType: "vxlan",
		                 BackendData: {VNI: 1, VtepMAC: "0a:00:01:00:\($hi | hex2):\($lo | hex2)"}}
		                | tojson | @base64),
		        lease: $id}}]}' >"$TMP/txn.json"
		sw_exec curl -sf -X POST http://127.0.0.1:2379/v3/kv/txn --data-binary @"$TMP/txn.json" >/dev/null
	done
}

clear_leases() { etcdctl_sw del --prefix "$ETCD_PREFIX/subnets/" >/dev/null; }

# start_flanneld <log>: exec flanneld in h1 directly (no wrapper, so the
# time from here to exec is bash's fork + ip-netns-exec's setns); sets DPID.
start_flanneld() {
	# shellcheck disable=SC2086 # BENCH_WRAP (e.g. "valgrind --tool=massif") is split on purpose
	ip netns exec "$(host_ns 1)" ${BENCH_WRAP:-} "$FLANNELD" --etcd-endpoints="$ETCD_CLIENT" --iface=eth0 \
		--public-ip="$(host_ip 1)" --subnet-file="$TMP/h1/subnet.env" \
		-v=1 >"$1" 2>&1 &
	DPID=$!
}
stop_flanneld() {
	[ -n "${DPID:-}" ] || return 0
	kill -TERM "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=
}
# BENCH_LOGS=<dir>: keep flanneld's logs there
trap 'stop_flanneld; [ -z "${BENCH_LOGS:-}" ] || cp "$TMP"/*.log "$BENCH_LOGS"/ 2>/dev/null; cleanup' EXIT

# The monotonic-free way to compare bash's clock with nlcount's: both print
# CLOCK_REALTIME microseconds.
t_us() { echo "${EPOCHREALTIME/./}"; }

topo_up 2
host_exec 1 ip link add probe0 type vxlan id 9 dstport 4789 2>/dev/null ||
	{ echo "bench/vxlan.sh: this kernel cannot create vxlan devices" >&2; exit 1; }
host_exec 1 ip link del probe0
etcd_start
etcd_put_config "$CONFIG"
echo "flanneld $("$FLANNELD" --version 2>&1 | head -n 1); kernel $(uname -r); $(nproc) CPUs"

# ---------------------------------------------------------------- A
if [[ $SKIP != *A* ]]; then
	echo
	echo "== A. exec -> all entries programmed ($RUNS runs each; medians, min-max)"
	for n in $NS_LIST; do
		clear_leases
		put_leases "$n"
		: >"$TMP/a"
		: >"$TMP/r"
		for ((run = 1; run <= RUNS; run++)); do
			host_exec 1 ip link del "$DEV" 2>/dev/null || true
			rm -f "$TMP/h1/subnet.env"
			# a fresh start: no device, no entries
			ip netns exec "$(host_ns 1)" "$BENCH_BIN/nlcount" "$NETWORK" "$DEV" "$n" "$n" "$n" 60000 \
				>"$TMP/nlcount.out" 2>&1 &
			cpid=$!
			wait_until 10 grep -q '^ready' "$TMP/nlcount.out" || fail "nlcount did not start"
			t0=$(t_us)
			start_flanneld "$TMP/a$run.log"
			wait "$cpid" || fail "not all $n entries appeared: $(tail -n 1 "$TMP/nlcount.out")"
			tall=$(awk '$1 == "all" { print $2 }' "$TMP/nlcount.out")
			anon=$(status_kb "$DPID" RssAnon)
			enob=$(awk '$1 == "all" { sub("enobufs=", "", $4); print $4 }' "$TMP/nlcount.out")
			# the converge after the listing may come after the last entry:
			# the peak and flanneld's own overruns count once it is done
			wait_until 60 grep -q "Converged $DEV: $n subnets" "$TMP/a$run.log" ||
				fail "flanneld did not converge: $(tail -n 3 "$TMP/a$run.log")"
			sleep 0.5
			hwm=$(status_kb "$DPID" VmHWM)
			denob=$(grep -c "Missed rtnetlink notifications" "$TMP/a$run.log" || true)
			echo "$(((tall - t0) / 1000)) $hwm $anon $enob $denob" >>"$TMP/a"
			stop_flanneld
			# restart with everything in place: nothing to write
			t0=$(t_us)
			start_flanneld "$TMP/r$run.log"
			wait_until 60 grep -q "Converged $DEV: $n subnets" "$TMP/r$run.log" ||
				fail "restart did not converge: $(tail -n 3 "$TMP/r$run.log")"
			tconv=$(awk -v p="Converged $DEV" 'index($0, p) { split($2, t, /[:.]/); printf "%.0f\n", ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000000 + t[4]; exit }' "$TMP/r$run.log")
			# log stamps are time of day (UTC); t0 is epoch microseconds
			tday=$((t0 % 86400000000))
			grep -q "nothing to change" "$TMP/r$run.log" || echo "   (run $run: the restart changed entries)"
			echo "$(((tconv - tday) / 1000)) $(status_kb "$DPID" VmHWM)" >>"$TMP/r"
			stop_flanneld
			key=$(subnet_key_of 1)
			etcdctl_sw del -- "$key" >/dev/null
		done
		spread() { awk -v c="$1" '{ v = $c } NR == 1 || v < lo { lo = v } NR == 1 || v > hi { hi = v } END { print lo "-" hi }' "$2"; }
		row "N=$n: exec -> all routes+neighbours+FDB (ms)" "$(cut -d' ' -f1 "$TMP/a" | median)  ($(spread 1 "$TMP/a"))"
		row "N=$n: peak RSS (kB)" "$(cut -d' ' -f2 "$TMP/a" | median)  ($(spread 2 "$TMP/a"))"
		row "N=$n: anonymous RSS when programmed (kB)" "$(cut -d' ' -f3 "$TMP/a" | median)"
		row "N=$n: rtnetlink overruns seen by the counter" "$(cut -d' ' -f4 "$TMP/a" | median)"
		row "N=$n: flanneld's own overruns (ENOBUFS log lines, per run)" "$(cut -d' ' -f5 "$TMP/a" | tr '\n' ' ')"
		row "N=$n: restart, all in place: exec -> converged (ms)" "$(cut -d' ' -f1 "$TMP/r" | median)  ($(spread 1 "$TMP/r"))"
		row "N=$n: restart: peak RSS (kB)" "$(cut -d' ' -f2 "$TMP/r" | median)"
	done
fi

# ---------------------------------------------------------------- B
if [[ $SKIP != *B* ]]; then
	LAT_BASE=${LAT_BASE:-1000}
	LAT_COUNT=${LAT_COUNT:-200}
	echo
	echo "== B. new lease -> route on a peer ($LAT_BASE existing leases, $LAT_COUNT new ones, 20 ms apart)"
	clear_leases
	put_leases "$LAT_BASE"
	host_exec 1 ip link del "$DEV" 2>/dev/null || true
	start_flanneld "$TMP/b.log"
	wait_until 60 grep -q "Converged $DEV: $LAT_BASE subnets" "$TMP/b.log" || fail "flanneld did not converge"
	# new leases from 10.200.0.0/24 up (inside 10/8, clear of the others)
	host_exec 1 "$BENCH_BIN/route_latency" "$SW_IP" 2379 "$ETCD_PREFIX" 10.128.0.0 "$LAT_COUNT" 20 20 5000 \
		>"$TMP/lat.out" || fail "route_latency failed: $(tail -n 2 "$TMP/lat.out")"
	grep -q 'timeouts=0' "$TMP/lat.out" || echo "   ($(grep -c '^timeout' "$TMP/lat.out") leases got no route within 5 s)"
	awk '$1 == "lease" { print $5 }' "$TMP/lat.out" >"$TMP/ra"
	awk '$1 == "lease" { print $3 }' "$TMP/lat.out" >"$TMP/ack"
	awk '$1 == "lease" { print $4 }' "$TMP/lat.out" >"$TMP/rs"
	row "put -> etcd's acknowledgement (us, median / p90)" "$(median <"$TMP/ack") / $(pct 90 <"$TMP/ack")"
	row "put -> route in the kernel (us, median / p90)" "$(median <"$TMP/rs") / $(pct 90 <"$TMP/rs")"
	row "acknowledgement -> route (us, median / p90 / max)" "$(median <"$TMP/ra") / $(pct 90 <"$TMP/ra") / $(sort -n "$TMP/ra" | tail -n 1)"
	stop_flanneld
	clear_leases
fi

# ---------------------------------------------------------------- D
if [[ $SKIP != *D* ]]; then
	BURST_N=${BURST_N:-5000}
	echo
	echo "== D. $BURST_N leases put while flanneld runs, ${BURST_TXN:-100} per transaction ($RUNS runs)"
	: >"$TMP/d"
	for ((run = 1; run <= RUNS; run++)); do
		clear_leases
		host_exec 1 ip link del "$DEV" 2>/dev/null || true
		rm -f "$TMP/h1/subnet.env"
		start_flanneld "$TMP/d$run.log"
		wait_until 30 grep -q "Converged $DEV: 0 subnets" "$TMP/d$run.log" || fail "flanneld did not start"
		ip netns exec "$(host_ns 1)" "$BENCH_BIN/nlcount" "$NETWORK" "$DEV" "$BURST_N" "$BURST_N" \
			"$BURST_N" 120000 >"$TMP/nlcount.out" 2>&1 &
		cpid=$!
		wait_until 10 grep -q '^ready' "$TMP/nlcount.out" || fail "nlcount did not start"
		cpu0=$(awk '{ print $1 }' "/proc/$DPID/schedstat")
		t0=$(t_us)
		put_leases "$BURST_N" "${BURST_TXN:-100}"
		t_put=$(t_us)
		wait "$cpid" || fail "not all $BURST_N entries appeared: $(tail -n 1 "$TMP/nlcount.out")"
		tall=$(awk '$1 == "all" { print $2 }' "$TMP/nlcount.out")
		cpu1=$(awk '{ print $1 }' "/proc/$DPID/schedstat")
		echo "$(((tall - t0) / 1000)) $(((tall - t_put) / 1000)) $(((cpu1 - cpu0) / 1000000))" >>"$TMP/d"
		stop_flanneld
	done
	row "first put -> all $BURST_N programmed (ms)" "$(cut -d' ' -f1 "$TMP/d" | median)"
	row "last put acknowledged -> all programmed (ms)" "$(cut -d' ' -f2 "$TMP/d" | median)"
	row "flanneld CPU for the burst (ms)" "$(cut -d' ' -f3 "$TMP/d" | median)"
	clear_leases
fi

# ---------------------------------------------------------------- C
if [[ $SKIP != *C* ]]; then
	IPERF_S=${IPERF_S:-5}
	echo
	echo "== C. iperf3 container 1 -> container 2, one TCP stream, ${IPERF_S} s per run"
	clear_leases
	host_exec 1 ip link del "$DEV" 2>/dev/null || true
	for i in 1 2; do
		flannel_start "$i"
	done
	for i in 1 2; do wait_ready "$i"; done
	for i in 1 2; do container_up "$i"; done
	wait_until 10 container_ping 1 2 || fail "no ping over flanneld's vxlan"
	SERVER_NS=$(container_ns 2)
	spawn iperf3-server "$SERVER_NS" iperf3 -s
	wait_until 5 eval 'container_exec 2 ss -Hltn "sport = :5201" | grep -q .' || fail "iperf3 -s did not start"
	iperf() { # label file
		local k
		for ((k = 0; k < RUNS; k++)); do
			container_exec 1 iperf3 -c "$(container_ip 2)" -t "$IPERF_S" -J |
				jq '.end.sum_received.bits_per_second / 1e6 | floor' >>"$2"
		done
	}
	: >"$TMP/flannel"
	: >"$TMP/hand"
	iperf flannel "$TMP/flannel"
	# The same device and entries by hand, with flanneld gone. Values are
	# read off what flanneld made, so only the programmer differs.
	declare -A vmac vnet vaddr
	for i in 1 2; do
		vmac[$i]=$(host_exec "$i" cat "/sys/class/net/$DEV/address")
		s=$(subnet_of "$i")
		vnet[$i]=$(ip_add "${s%/*}" -1)
		vaddr[$i]=${s#*/}
	done
	flannel_stop_all 1 2
	for i in 1 2; do
		j=$((3 - i))
		host_exec "$i" ip link del "$DEV"
		host_exec "$i" ip link add "$DEV" address "${vmac[$i]}" mtu 1450 type vxlan id 1 \
			local "$(host_ip "$i")" dev eth0 dstport 8472 nolearning
		host_exec "$i" ip addr add "${vnet[$i]}/32" dev "$DEV"
		host_exec "$i" ip link set "$DEV" up
		host_exec "$i" ip neigh replace "${vnet[$j]}" lladdr "${vmac[$j]}" dev "$DEV" nud permanent
		host_exec "$i" bridge fdb append "${vmac[$j]}" dev "$DEV" dst "$(host_ip "$j")" self permanent
		host_exec "$i" ip route replace "${vnet[$j]}/${vaddr[$j]}" via "${vnet[$j]}" dev "$DEV" onlink
	done
	wait_until 10 container_ping 1 2 || fail "no ping over the hand-made vxlan"
	iperf hand "$TMP/hand"
	# and flanneld again (it keeps the hand-made device: same attributes)
	for i in 1 2; do flannel_start "$i"; done
	for i in 1 2; do wait_ready "$i"; done
	iperf flannel "$TMP/flannel"
	fl=$(median <"$TMP/flannel")
	hd=$(median <"$TMP/hand")
	row "flanneld's vxlan (Mbit/s, median of $((2 * RUNS)): $(tr '\n' ' ' <"$TMP/flannel"))" "$fl"
	row "hand-made vxlan (Mbit/s, median of $RUNS: $(tr '\n' ' ' <"$TMP/hand"))" "$hd"
	row "flanneld / hand-made" "$(awk -v a="$fl" -v b="$hd" 'BEGIN { printf "%.3f", a / b }')"
	flannel_stop_all 1 2
fi
