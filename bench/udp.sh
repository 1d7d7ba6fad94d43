#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# udp backend throughput, side by side with vxlan: two hosts of the test bed
# (tests/integration/lib.sh; nothing outside its namespaces is touched),
# iperf3 container to container for SECS seconds, one stream and -P 4, and
# the CPU time both flanneld processes used during each run (utime+stime
# from /proc/<pid>/stat; for vxlan the kernel does the work, so ~0).
#
#	sudo bench/udp.sh [runs]          (default 1; prints a table, asserts nothing)
#	BACKENDS="udp udp-plain vxlan" SECS=5 bench/udp.sh
#
# udp-plain is the udp backend with "Offload": false (per-packet mode, the
# fallback on kernels without TSO/UDP GSO/GRO on TUN).
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flanneld  cni0 -- c1 (iperf3 client)
#	 `-- h2 10.200.0.12 eth0  flanneld  cni0 -- c2 (iperf3 server)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1}
SECS=${SECS:-5}
BACKENDS=${BACKENDS:-udp udp-plain vxlan}
[ "$(id -u)" = 0 ] || { echo "bench/udp.sh: run as root" >&2; exit 1; }

if [ "${BENCH_ONE:-}" = "" ]; then
	make -s all
	printf '%-10s %-8s %12s %12s %14s\n' backend streams "Mbit/s" retransmits "flanneld CPU%"
	for be in $BACKENDS; do
		BENCH_ONE=$be bash "$0" "$RUNS"
	done
	echo "(CPU%: both flanneld processes together, in % of one core over the run;"
	echo " $(nproc) cores shared with whatever else runs on this machine: numbers are noisy)"
	exit 0
fi

be=$BENCH_ONE
FLT_PREFIX=fub$$
. tests/integration/lib.sh
require_etcd
require_flanneld
command -v iperf3 >/dev/null || skip "iperf3 not installed"
case $be in
udp) backend='{"Type":"udp"}' ;;
udp-plain) backend='{"Type":"udp","Offload":false}' ;;
vxlan) backend='{"Type":"vxlan"}' ;;
*) fail "unknown backend $be" ;;
esac

topo_up 2
etcd_start
etcd_put_config "{\"Network\":\"10.244.0.0/16\",\"Backend\":$backend}"
for i in 1 2; do flannel_start "$i" -v=0; done
for i in 1 2; do wait_ready "$i"; done
for i in 1 2; do container_up "$i"; done
wait_until 10 container_ping 1 2 || fail "no traffic between the containers"

ticks() { # pid: utime + stime in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)
c2=$(container_ip 2)
p1=$(flannel_pid 1)
p2=$(flannel_pid 2)
for ((r = 1; r <= RUNS; r++)); do
	for streams in 1 4; do
		SPAWN_LOG=$TMP/iperf3-server.log spawn iperf3-server "$(container_ns 2)" iperf3 -s -1 -B "$c2"
		wait_until 5 container_exec 2 sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
		a=$(($(ticks "$p1") + $(ticks "$p2")))
		t0=$(now_us)
		container_exec 1 timeout $((SECS + 20)) iperf3 -c "$c2" -t "$SECS" -P "$streams" -J >"$TMP/iperf3.json" ||
			fail "iperf3 failed: $(tail -n 5 "$TMP/iperf3.json")"
		t1=$(now_us)
		b=$(($(ticks "$p1") + $(ticks "$p2")))
		wait_until 5 proc_exited iperf3-server || true
		mbps=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/iperf3.json")
		rtx=$(jq -r '.end.sum_sent.retransmits // 0' "$TMP/iperf3.json")
		cpu=$(awk -v t=$((b - a)) -v hz="$hz" -v us=$((t1 - t0)) 'BEGIN { printf "%.0f", 100 * t / hz / (us / 1e6) }')
		printf '%-10s %-8s %12s %12s %14s\n' "$be" "$streams" "$mbps" "$rtx" "$cpu"
	done
done
