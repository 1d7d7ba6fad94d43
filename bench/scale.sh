#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Scale: N flanneld (alloc backend) against a three-member etcd cluster, all
# on the loopback of one private network namespace. For each N: start all
# daemons at once (each with its own --public-ip label, subnet file and
# health port, its endpoints rotated so they spread over the members), then
# measure
#   - time until every daemon holds a lease (/metrics flannel_ready 1) and
#     knows every peer (flannel_leases_known N-1);
#   - per daemon: peak RSS, CPU during the join and at rest, etcd requests
#     and watch events (O(changes), not O(N) per change);
#   - etcd: requests per second during the join, each member's RSS and CPU;
#   - time for every daemon to learn that 50 hosts left at once (their keys
#     deleted in one transaction);
#   - time for a lease put after one etcd member is stopped to reach every
#     daemon (the ones that were on it fail over).
# The public IPs are labels only: no packet is sent to them.
#
#	sudo bench/scale.sh                   N = 100 300 1000, prints a table
#	NS_LIST="50" CHECK=1 bench/scale.sh    asserts instead of timing (tests/integration/test_scale.sh)
#
# Leaves nothing behind: daemons and etcd members are killed by PID, the
# namespace and the temp dir removed, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
NS_LIST=${NS_LIST:-100 300 1000}
CHECK=${CHECK:-0}
LEAVE=${LEAVE:-50}
WAIT_S=${WAIT_S:-120} # give up on any phase after this long
PORT_BASE=30000	      # health ports PORT_BASE .. PORT_BASE+N-1
ETCD_PORT=23790	      # members' client ports 23791..23793, peer ports 23801..23803

fail() {
	echo "FAIL: $*"
	exit 1
}
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# ---------------------------------------------------------------- outside
if [ "${1:-}" != --inner ]; then
	[ "$(id -u)" = 0 ] || { echo "bench/scale.sh: run as root" >&2; exit 1; }
	# NO_BUILD=1 (test_scale): the test suite built everything already, and
	# a test must not rebuild the tree under the other tests running beside it.
	if [ "${NO_BUILD:-0}" != 1 ]; then
		scripts/deps.sh
		make -s all bench
	fi
	NS=${SCALE_NS:-flsc$$}
	TMP=$(mktemp -d /tmp/flsc.XXXXXX)
	export TMP
	cleanup() {
		local pid
		set +e
		for f in "$TMP"/pids "$TMP"/etcd.pids; do
			[ -f "$f" ] || continue
			while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$f"
		done
		ip netns del "$NS" 2>/dev/null
		[ "${KEEP_TMP:-0}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"
	}
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	# The daemons' interface (loopback is never one): a veth pair inside the namespace.
	ip -n "$NS" link add sc0 type veth peer name sc1
	ip -n "$NS" addr add 10.250.0.1/24 dev sc0
	ip -n "$NS" link set sc0 up
	ip -n "$NS" link set sc1 up
	ip netns exec "$NS" bash ${TRACE:+-x} "$0" --inner
	exit $?
fi

# ---------------------------------------------------------------- inside
FLANNELD=${FLANNELD:-$REPO/build/flanneld}
BIN=$REPO/build/bench
export TZ=UTC # the daemons' log stamps are local time: make them comparable
ulimit -n 20000 # each member serves two connections per daemon
mkdir -p "$TMP/run" "$TMP/log"
: >"$TMP/pids"
: >"$TMP/etcd.pids"
ep() { echo "http://127.0.0.1:$((ETCD_PORT + $1))"; }
CLUSTER="m1=http://127.0.0.1:23801,m2=http://127.0.0.1:23802,m3=http://127.0.0.1:23803"
declare -A MEMBER_PID

member_start() {
	local i=$1
	etcd --name "m$i" --data-dir "$TMP/m$i" \
		--listen-client-urls "$(ep "$i")" --advertise-client-urls "$(ep "$i")" \
		--listen-peer-urls "http://127.0.0.1:$((23800 + i))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token flsc \
		--logger zap --log-outputs stderr >>"$TMP/m$i.log" 2>&1 &
	MEMBER_PID[$i]=$!
	echo $! >>"$TMP/etcd.pids"
}
healthy() { curl -sf -m 1 "$(ep "$1")/health" | grep -q '"health":"true"'; }
wait_healthy() {
	local i deadline=$(($(now_ms) + 30000))
	for i in "$@"; do
		until healthy "$i"; do
			[ "$(now_ms)" -lt "$deadline" ] || fail "etcd member m$i not healthy: $(tail -n 3 "$TMP/m$i.log")"
			sleep 0.05
		done
	done
}
ctl() { ETCDCTL_API=3 etcdctl --endpoints "$(ep 2),$(ep 3),$(ep 1)" "$@"; }

# etcd's own counters: gRPC requests handled (the gateway's included).
etcd_requests() {
	curl -sf -m 2 "$(ep "$1")/metrics" | awk '/^grpc_server_handled_total/ { s += $2 } END { printf "%d\n", s }'
}
# CPU time in microseconds: of a single-threaded daemon from schedstat (in
# ns), of an etcd member (many threads) from stat (utime + stime, in ticks).
cpu_us() { awk '{ printf "%d\n", $1 / 1000 }' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
TICK=$(getconf CLK_TCK)
cpu_us_threads() { awk -v hz="$TICK" '{ printf "%d\n", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
stats() { # min median max of numbers on stdin
	sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%s / %s / %s", a[1], a[int((NR + 1) / 2)], a[NR]; else print "-" }'
}
metric_of() { # port name
	curl -sf -m 2 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

for i in 1 2 3; do member_start "$i"; done
wait_healthy 1 2 3
ctl put /coreos.com/network/config '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"alloc"}}' >/dev/null
echo "flanneld: $("$FLANNELD" --version 2>&1 | head -n 1); etcd $(etcd --version | awk 'NR == 1 { print $3 }'), 3 members; $(nproc) CPUs"

declare -a PIDS
# Daemon i starts on member i % 3 + 1 and fails over to the others.
EPS=("$(ep 1),$(ep 2),$(ep 3)" "$(ep 2),$(ep 3),$(ep 1)" "$(ep 3),$(ep 1),$(ep 2)")
# --iptables-forward-rules=false: the N daemons share one network namespace,
# where a real host runs one; N of them rewriting the same FLANNEL-FWD chain
# every --iptables-resync would measure iptables, not flanneld.
start_daemons() { # n
	local n=$1 i
	PIDS=()
	for ((i = 0; i < n; i++)); do
		"$FLANNELD" --etcd-endpoints="${EPS[i % 3]}" --iface=sc0 -v=1 \
			--public-ip="10.3.$((i / 250)).$((i % 250 + 1))" \
			--subnet-file="$TMP/run/$i.env" --healthz-ip=127.0.0.1 \
			--healthz-port=$((PORT_BASE + i)) --iptables-forward-rules=false \
			>"$TMP/log/$i.log" 2>&1 &
		PIDS[i]=$!
		echo $! >>"$TMP/pids"
	done
}
# stop_daemons: SIGTERM to all; with CHECK=1 each must exit 0 (a sanitized
# build exits non-zero on a leak) and no log may hold a sanitizer report.
stop_daemons() {
	local i rc first= bad=()
	for i in "${!PIDS[@]}"; do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
	for i in "${!PIDS[@]}"; do
		rc=0
		wait "${PIDS[i]}" 2>/dev/null || rc=$?
		[ "$rc" -eq 0 ] || { bad+=("daemon $i exited with $rc"); first=${first:-$i}; }
	done
	: >"$TMP/pids"
	[ "$CHECK" = 1 ] || return 0
	[ ${#bad[@]} -eq 0 ] || fail "after SIGTERM: ${bad[*]}; daemon $first logged: $(tail -n 5 "$TMP/log/$first.log")"
	check_sanitizer
}
# check_sanitizer: every daemon's log (those killed on purpose too) is free
# of AddressSanitizer, LeakSanitizer and UBSan reports.
check_sanitizer() {
	local f
	f=$(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP"/log/*.log 2>/dev/null | head -n 1) || true
	[ -z "$f" ] || fail "sanitizer report in ${f##*/}: $(grep -E -A12 'AddressSanitizer|LeakSanitizer|runtime error:' "$f" | head -n 30)"
}
# wait_metric <count> <name> <value> [base]: every daemon reports it; prints ms.
wait_metric() {
	local out
	# Every 0.5 s: asking 1000 daemons more often would load the machine the
	# figures are about; the exact times come from the daemons' logs.
	out=$("$BIN/metrics_wait" "${4:-$PORT_BASE}" "$1" "$2" "$3" $((WAIT_S * 1000)) 500 | tail -n 1)
	case $out in
	all*) echo "${out#all }" ;;
	*) fail "not every daemon reached $2 = $3: $out; daemon 0 logged: $(tail -n 3 "$TMP/log/0.log")" ;;
	esac
}
sum_cpu_s() { # pids...: their CPU seconds together
	local pid t=0
	for pid in "$@"; do t=$((t + $(cpu_us "$pid"))); done
	awk -v t="$t" 'BEGIN { printf "%.2f", t / 1e6 }'
}
etcd_cpu_s() {
	local i t=0
	for i in 1 2 3; do t=$((t + $(cpu_us_threads "${MEMBER_PID[$i]}"))); done
	awk -v t="$t" 'BEGIN { printf "%.2f", t / 1e6 }'
}
per_daemon() { # what: one number per daemon on stdout
	local i
	for ((i = 0; i < ${#PIDS[@]}; i++)); do
		case $1 in
		hwm) status_kb "${PIDS[i]}" VmHWM ;;
		rss) status_kb "${PIDS[i]}" VmRSS ;;
		cpu_ms) awk -v u="$(cpu_us "${PIDS[i]}")" 'BEGIN { printf "%.1f\n", u / 1000 }' ;;
		esac
	done
}

# latest <pattern> first|last: over every daemon's log, the latest time of
# day (ms) at which the first (or last) line with pattern was written.
latest() {
	awk -v pat="$1" -v which="$2" '
	function fin() { if (got && cur > mx) mx = cur }
	FNR == 1 { fin(); got = 0 }
	index($0, pat) {
		split($2, t, /[:.]/)
		v = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + int(t[4] / 1000)
		if (which == "last" || !got) cur = v
		got = 1
	}
	END { fin(); printf "%d\n", mx }' "$TMP"/log/*.log
}
ms_of_day() { echo $(($1 % 86400000)); }

ROWS=()
for N in $NS_LIST; do
	ctl del --prefix /coreos.com/network/subnets/ >/dev/null
	rm -f "$TMP"/run/*.env
	req0=0
	for i in 1 2 3; do req0=$((req0 + $(etcd_requests "$i"))); done
	ecpu0=$(etcd_cpu_s)
	t0=$(now_ms)
	start_daemons "$N"
	t_last=$(now_ms)
	wait_metric "$N" flannel_ready 1 >/dev/null
	wait_metric "$N" flannel_leases_known $((N - 1)) >/dev/null
	t_join=$(now_ms)
	day_last=$(ms_of_day "$t_last")
	ready_ms=$(($(latest "Wrote subnet file" first) - day_last))
	known_ms=$(($(latest "Lease added:" last) - day_last))
	join_s=$(awk -v a="$((t_last - t0))" -v b="$known_ms" 'BEGIN { printf "%.2f", (a + b) / 1000 }')
	req1=0
	for i in 1 2 3; do req1=$((req1 + $(etcd_requests "$i"))); done
	ecpu1=$(etcd_cpu_s)
	hwm=$(per_daemon hwm | stats)
	cpu_join=$(per_daemon cpu_ms | stats)
	dcpu_join=$(sum_cpu_s "${PIDS[@]}")
	reqs=$(for ((i = 0; i < N; i++)); do metric_of $((PORT_BASE + i)) flannel_etcd_requests_total; done | stats)
	evs=$(for ((i = 0; i < N; i++)); do metric_of $((PORT_BASE + i)) flannel_watch_events_total; done | stats)
	ersses=$(for i in 1 2 3; do status_kb "${MEMBER_PID[$i]}" VmRSS; done | tr '\n' ' ')

	if [ "$CHECK" = 1 ]; then
		# every daemon its own subnet, in subnet.env and in etcd
		subnets=$(sed -n 's/^FLANNEL_SUBNET=//p' "$TMP"/run/*.env | sort)
		[ "$(wc -l <<<"$subnets")" -eq "$N" ] || fail "$(wc -l <<<"$subnets") subnet.env files for $N daemons"
		[ "$(uniq <<<"$subnets" | wc -l)" -eq "$N" ] || fail "duplicate subnets: $(uniq -d <<<"$subnets" | head -n 3)"
		keys=$(ctl get --prefix --keys-only /coreos.com/network/subnets/ | grep -c .)
		[ "$keys" -eq "$N" ] || fail "$keys lease keys in etcd for $N daemons"
		for ((i = 0; i < N; i++)); do
			kill -0 "${PIDS[i]}" 2>/dev/null || fail "daemon $i died: $(tail -n 3 "$TMP/log/$i.log")"
		done
		echo "ok: $N daemons: $N distinct subnets in subnet.env and etcd, each knows its $((N - 1)) peers"
	fi

	# at rest
	rcpu0=$(sum_cpu_s "${PIDS[@]}")
	sleep 5 # a measuring window, not synchronisation
	rcpu1=$(sum_cpu_s "${PIDS[@]}")
	rss_rest=$(per_daemon rss | stats)
	# per daemon, for a closer look with KEEP_TMP=1: index, RSS, peak RSS, watch events
	for ((i = 0; i < N; i++)); do
		echo "$i $(status_kb "${PIDS[i]}" VmRSS) $(status_kb "${PIDS[i]}" VmHWM) $(metric_of $((PORT_BASE + i)) flannel_watch_events_total)"
	done >"$TMP/daemons.$N.txt"

	# LEAVE hosts leave at once: killed, their keys deleted in one transaction
	left=$LEAVE
	((left < N)) || left=$((N / 2))
	for ((i = N - left; i < N; i++)); do kill -KILL "${PIDS[i]}" 2>/dev/null || true; done
	for ((i = N - left; i < N; i++)); do wait "${PIDS[i]}" 2>/dev/null || true; done
	{
		echo # no compares
		for ((i = N - left; i < N; i++)); do
			s=$(sed -n 's/^FLANNEL_SUBNET=//p' "$TMP/run/$i.env") # a.b.c.1/24
			echo "del /coreos.com/network/subnets/${s%.*}.0-${s#*/}"
		done
		echo # end of the success requests, and none on failure:
		echo
	} >"$TMP/leave.txn"
	PIDS=("${PIDS[@]:0:N-left}")
	t_del=$(now_ms)
	ctl txn <"$TMP/leave.txn" >/dev/null
	wait_metric $((N - left)) flannel_leases_known $((N - left - 1)) >/dev/null
	leave_ms=$(($(now_ms) - t_del))

	# an etcd member stops; a lease put afterwards must reach everyone
	kill -TERM "${MEMBER_PID[1]}"
	wait "${MEMBER_PID[1]}" 2>/dev/null || true
	t_put=$(now_ms)
	ctl put /coreos.com/network/subnets/10.255.255.0-24 '{"PublicIP":"10.4.0.1","PublicIPv6":null}' >/dev/null
	wait_metric $((N - left)) flannel_leases_known $((N - left)) >/dev/null
	failover_ms=$(($(now_ms) - t_put))
	[ "$CHECK" != 1 ] || echo "ok: $left hosts left: everyone knows; member m1 stopped: a new lease reached all $((N - left))"
	stop_daemons
	[ "$CHECK" != 1 ] || echo "ok: all $((N - left)) daemons exited 0 after SIGTERM; no sanitizer report in the $N logs"
	member_start 1
	wait_healthy 1

	ROWS+=("$N|$((t_last - t0))|$ready_ms|$known_ms|$join_s|$hwm|$cpu_join|$dcpu_join|$reqs|$evs|$(((req1 - req0) * 1000 / (t_join - t0)))|$(awk -v a="$ecpu0" -v b="$ecpu1" 'BEGIN { printf "%.1f", b - a }')|$ersses|$rss_rest|$(awk -v a="$rcpu0" -v b="$rcpu1" 'BEGIN { printf "%.2f", b - a }')|$left|$leave_ms|$failover_ms")
done

echo
echo "times in ms unless said; a / b / c = min / median / max over the daemons"
printf '%s\n' "N|launch all|last start -> all hold a lease|last start -> all know N-1 peers|first start -> all know (s)|peak RSS kB|CPU ms in join|daemons' CPU s in join|etcd requests/daemon|watch events/daemon|etcd req/s in join|etcd CPU s in join|etcd RSS kB m1 m2 m3|RSS kB at rest|daemons' CPU s in 5 s at rest|hosts leaving|-> all know|member stop -> new lease at all" "${ROWS[@]}" | column -t -s '|'
