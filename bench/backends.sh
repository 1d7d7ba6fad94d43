#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Data-path throughput of the backends side by side, in one run, in the test
# bed's network namespaces (tests/integration/lib.sh; nothing outside them
# is touched): iperf3 container 1 -> container 2, one TCP stream and four,
# over vxlan, host-gw and udp (a backend this build lacks is reported as
# such), with the CPU time both flanneld processes used meanwhile; and
# plain routing (host-gw's routes set by hand, no flanneld) as host-gw's
# reference.
#
#	sudo bench/backends.sh [runs]     (default 3 runs of IPERF_S=5 s each; prints a table)
#	BACKENDS="host-gw udp" bench/backends.sh
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flanneld, cni0 -- c1 (iperf3 client)
#	 `-- h2 10.200.0.12 eth0  flanneld, cni0 -- c2 (iperf3 server)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
IPERF_S=${IPERF_S:-5}
BACKENDS=${BACKENDS:-vxlan host-gw udp}
[ "$(id -u)" = 0 ] || {
	echo "bench/backends.sh: run as root" >&2
	exit 1
}
scripts/deps.sh
make -s all
FLT_PREFIX=flbb$$
. tests/integration/lib.sh
require_etcd
require_flanneld

NETWORK=10.244.0.0/16
HZ=$(getconf CLK_TCK)

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
row() { printf '%-34s %12s %12s %14s %14s\n' "$@"; }
cpu_ticks() { # pid...: utime + stime of the processes, in clock ticks
	local p t=0
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}

# set_mtu <n> <mtu>: the container path of host n follows FLANNEL_MTU.
set_mtu() {
	ip -n "$(host_ns "$1")" link set cni0 mtu "$2"
	ip -n "$(host_ns "$1")" link set "vc$1" mtu "$2"
	ip -n "$(container_ns "$1")" link set eth0 mtu "$2"
}

# measure <label> <pid...>: RUNS runs of -P 1 and of -P 4; prints a table row.
measure() {
	local label=$1 k t0 t1 w0 w1 one=() four=() cpu1=() cpu4=() p
	shift
	for p in 1 4; do
		for ((k = 0; k < RUNS; k++)); do
			w0=$(now_us)
			t0=$(cpu_ticks "$@")
			bps=$(container_exec 1 iperf3 -c "$(container_ip 2)" -t "$IPERF_S" -P "$p" -J |
				jq '.end.sum_received.bits_per_second / 1e6 | floor')
			t1=$(cpu_ticks "$@")
			w1=$(now_us)
			cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v us="$((w1 - w0))" 'BEGIN { printf "%.0f", 100 * t / hz / (us / 1e6) }')
			if [ "$p" = 1 ]; then
				one+=("$bps")
				cpu1+=("$cpu")
			else
				four+=("$bps")
				cpu4+=("$cpu")
			fi
		done
	done
	row "$label" "$(printf '%s\n' "${one[@]}" | median)" "$(printf '%s\n' "${four[@]}" | median)" \
		"$(printf '%s\n' "${cpu1[@]}" | median)" "$(printf '%s\n' "${cpu4[@]}" | median)"
	echo "$label: -P1 ${one[*]}; -P4 ${four[*]}; CPU% ${cpu1[*]} / ${cpu4[*]}" >>"$TMP/raw"
}

topo_up 2
etcd_start
containers=0
echo "== iperf3 container 1 -> container 2, $RUNS runs of ${IPERF_S} s each (medians)"
row "" "1 stream" "4 streams" "flanneld CPU%" "flanneld CPU%"
row "" "(Mbit/s)" "(Mbit/s)" "(1 stream)" "(4 streams)"
for be in $BACKENDS; do
	etcd_put_config "{\"Network\":\"$NETWORK\",\"Backend\":{\"Type\":\"$be\"}}"
	for i in 1 2; do flannel_start "$i"; done
	if wait_until 10 proc_exited flanneld-1; then
		printf '%-34s %s\n' "$be" "$(grep -o 'not supported yet.*' "$(inst_dir 1)/flanneld.log" | head -n 1)"
		wait_until 10 proc_exited flanneld-2 || flannel_stop_all 2
		continue
	fi
	for i in 1 2; do wait_ready "$i"; done
	if [ "$containers" = 0 ]; then
		for i in 1 2; do container_up "$i"; done
		SPAWN_LOG=$TMP/iperf3-server.log spawn iperf3-server "$(container_ns 2)" iperf3 -s
		wait_until 5 eval 'container_exec 2 ss -Hltn "sport = :5201" | grep -q .' || fail "iperf3 -s did not start"
		containers=1
	fi
	for i in 1 2; do set_mtu "$i" "$(mtu_of "$i")"; done
	wait_until 10 container_ping 1 2 || fail "no ping over $be"
	measure "flanneld $be (MTU $(mtu_of 1))" "$(flannel_pid 1)" "$(flannel_pid 2)"
	if [ "$be" = host-gw ]; then
		# The same routes by hand (upstream's form), flanneld gone.
		flannel_stop_all 1 2
		for i in 1 2; do
			j=$((3 - i))
			s=$(subnet_of "$j")
			host_exec "$i" ip route del "$(ip_add "${s%/*}" -1)/${s#*/}"
			host_exec "$i" ip route add "$(ip_add "${s%/*}" -1)/${s#*/}" via "$(host_ip "$j")" dev eth0
		done
		wait_until 10 container_ping 1 2 || fail "no ping over hand-made routes"
		measure "plain routes by hand (MTU 1500)"
		for i in 1 2; do
			j=$((3 - i))
			s=$(subnet_of "$j")
			host_exec "$i" ip route del "$(ip_add "${s%/*}" -1)/${s#*/}"
		done
		continue
	fi
	flannel_stop_all 1 2
	# What this backend left in the kernel must not carry the next one's traffic.
	for i in 1 2; do
		host_exec "$i" ip link del flannel.1 2>/dev/null || true
		host_exec "$i" ip route flush proto 158 2>/dev/null || true
	done
done
echo
cat "$TMP/raw"
