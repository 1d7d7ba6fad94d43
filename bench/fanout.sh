#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fan-out: what one watch event costs etcd and the daemons. N flanneld watch
# one etcd (3.4, a fresh one per phase, on the loopback of a private
# namespace); M lease puts are written under <prefix>/subnets/, one per
# request and paced, so each reaches every daemon: N * M events delivered.
#
#	sudo bench/fanout.sh                   N = 200 daemons, M = 200 puts
#	sudo N=50 M=50 bench/fanout.sh         a quick one
#
# Phases, each on a fresh etcd:
#   puts    no daemons: etcd's own cost of the M puts (the writer's share);
#   ours    N of $FLANNELD (default build/flanneld), alloc backend;
#   go      N of upstream's Go flanneld ($UPSTREAM_FLANNELD, default
#           ../shared/upstream/flanneld-v0.20.2; UPSTREAM_FLANNELD=none skips
#           it). Go's alloc backend never watches (its Run only waits), so
#           it runs the extension backend with no commands: a prefix watch
#           on <prefix>/subnets/ that logs "Subnet added" per event and
#           touches no kernel device. It is started STAGGER_MS apart and any
#           that exits (a lost allocation race) is started again. Per event
#           it asks etcd for the lease's TTL and creates a watch again (see
#           the RPC columns), and it reports only some of the events etcd
#           sends it (v0.20.2 here: 65-75 %), so its put window ends when
#           all N * M are reported or no more were for 2 s.
# After all daemons of a phase hold a lease, a sentinel lease is put and
# every daemon must see it (ours: /metrics flannel_leases_known N; Go: its
# log; up to 5 sentinels for Go, see start_all), so all are watching. Then
#   idle window: IDLE_MS (the put window's expected length, at least 5 s),
#                nothing written;
#   put window:  from the first put until every daemon has seen all M
#                (ours: flannel_leases_known N + M, polled only after the
#                last put; Go: M distinct "Subnet added" lines in its log);
#                etcd's own count of events sent (etcd_debugging_mvcc_
#                events_total) must reach N * M.
# CPU: etcd utime + stime from /proc/<pid>/stat (ticks); the daemons' from
# every thread's /proc/<pid>/task/*/schedstat (ns). The idle rate times
# the put window's length is subtracted, then divided by N * M.
# The puts go through etcd's JSON gateway on one kept-alive connection
# (bench/fanout_put.py); each carries an etcd lease (TTL 1 day) and a valid
# lease value, like a host's own. PUTTER=etcdctl writes with one etcdctl
# process per put instead (no gateway needed; etcd then also serves a new
# gRPC connection per put: compare with the puts row).
# The public IPs are labels only (addresses on a veth inside the namespace,
# for Go's interface lookup): no packet is sent to them.
#
# Leaves nothing behind: daemons, etcd and the writer are killed by PID, the
# namespace and the temp dir removed, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
N=${N:-200}
M=${M:-200}
WAIT_S=${WAIT_S:-120} # give up on any wait after this long
PHASES=${PHASES:-puts ours go}
PUTTER=${PUTTER:-gateway}
STAGGER_MS=${STAGGER_MS:-20}
PORT_BASE=31000 # our daemons' health ports PORT_BASE .. PORT_BASE+N-1
ETCD_PORT=23790
PREFIX=/coreos.com/network
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

fail() {
	echo "FAIL: $*"
	exit 1
}
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# ---------------------------------------------------------------- outside
if [ "${1:-}" != --inner ]; then
	[ "$(id -u)" = 0 ] || { echo "bench/fanout.sh: run as root" >&2; exit 1; }
	[ "$N" -ge 1 ] && [ "$N" -le 4000 ] || { echo "N must be 1..4000" >&2; exit 1; }
	[ "$M" -ge 1 ] && [ "$M" -le 32000 ] || { echo "M must be 1..32000" >&2; exit 1; }
	scripts/deps.sh
	make -s all bench
	NS=${FANOUT_NS:-flfo$$}
	TMP=$(mktemp -d /tmp/flfo.XXXXXX)
	export TMP
	cleanup() {
		local pid f
		set +e
		[ -z "${INNER:-}" ] || kill -KILL "$INNER" 2>/dev/null
		for f in "$TMP"/pids "$TMP"/etcd.pids "$TMP"/writer.pids; do
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
	# The daemons' interface: a veth pair inside the namespace, holding
	# every daemon's --public-ip (Go looks its interface up by that address).
	ip -n "$NS" link add fo0 type veth peer name fo1
	ip -n "$NS" link set fo0 up
	ip -n "$NS" link set fo1 up
	for ((i = 0; i < N; i++)); do
		echo "addr add 10.3.$((i / 250)).$((i % 250 + 1))/32 dev fo0"
	done | ip -n "$NS" -batch -
	ip netns exec "$NS" bash ${TRACE:+-x} "$0" --inner &
	INNER=$!
	rc=0
	wait "$INNER" || rc=$?
	INNER=
	exit "$rc"
fi

# ---------------------------------------------------------------- inside
FLANNELD=${FLANNELD:-$REPO/build/flanneld}
UPSTREAM=${UPSTREAM_FLANNELD:-$REPO/../shared/upstream/flanneld-v0.20.2}
BIN=$REPO/build/bench
EP=http://127.0.0.1:$ETCD_PORT
TICK=$(getconf CLK_TCK)
STAGGER_S=$(awk -v ms="$STAGGER_MS" 'BEGIN { print ms / 1000 }')
PACE_MS=${PACE_MS:-$((N / 8 > 10 ? N / 8 : 10))} # between puts: room for N deliveries each
IDLE_MS=${IDLE_MS:-$((M * PACE_MS + 1000 > 5000 ? M * PACE_MS + 1000 : 5000))}
export TZ=UTC
ulimit -n 20000
mkdir -p "$TMP/run" "$TMP/log"
: >"$TMP/pids"
: >"$TMP/etcd.pids"
: >"$TMP/writer.pids"
ETCD_PID=
PIDS=()

ctl() { ETCDCTL_API=3 timeout 30 etcdctl --endpoints "$EP" "$@"; }
etcd_start() { # phase
	rm -rf "$TMP/etcd"
	etcd --name fo --data-dir "$TMP/etcd" \
		--listen-client-urls "$EP" --advertise-client-urls "$EP" \
		--listen-peer-urls http://127.0.0.1:$((ETCD_PORT + 10)) \
		--initial-advertise-peer-urls http://127.0.0.1:$((ETCD_PORT + 10)) \
		--initial-cluster fo=http://127.0.0.1:$((ETCD_PORT + 10)) \
		--logger zap --log-outputs stderr >"$TMP/etcd.$1.log" 2>&1 &
	ETCD_PID=$!
	echo "$ETCD_PID" >"$TMP/etcd.pids"
	local deadline=$(($(now_ms) + 30000))
	until curl -sf -m 1 "$EP/health" | grep -q '"health":"true"'; do
		[ "$(now_ms)" -lt "$deadline" ] || fail "etcd not healthy: $(tail -n 3 "$TMP/etcd.$1.log")"
		sleep 0.05
	done
}
stop_pid() { # pid: TERM, then KILL after 10 s
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
etcd_stop() {
	[ -n "$ETCD_PID" ] || return 0
	stop_pid "$ETCD_PID"
	ETCD_PID=
	: >"$TMP/etcd.pids"
}
stop_daemons() { # KILL: Go's flanneld panics on TERM, and no phase needs a clean exit
	local pid
	for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
	: >"$TMP/pids"
}

etcd_cpu_us() { awk -v hz="$TICK" '{ printf "%d\n", ($14 + $15) * 1e6 / hz }' "/proc/$ETCD_PID/stat"; }
daemons_cpu_us() { # every thread of every daemon, in µs
	local pid files=()
	[ ${#PIDS[@]} -gt 0 ] || { echo 0; return; }
	for pid in "${PIDS[@]}"; do files+=("/proc/$pid/task/"*/schedstat); done
	cat "${files[@]}" 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s / 1000 }'
}
etcd_rpcs() { # "<unary requests handled> <watch requests received>" (create, cancel; the gateway's included)
	curl -sf -m 5 "$EP/metrics" | awk '
	/^grpc_server_handled_total/ && /grpc_type="unary"/ { u += $2 }
	/^grpc_server_msg_received_total/ && /grpc_method="Watch"/ && /etcdserverpb/ { w += $2 }
	END { printf "%d %d\n", u, w }'
}
etcd_events() { # watch events etcd has sent to its watchers (the gateway's included)
	curl -sf -m 5 "$EP/metrics" | awk '$1 == "etcd_debugging_mvcc_events_total" { printf "%d\n", $2 }'
}
alive() {
	local pid n=0
	for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
	echo "$n"
}

public_ip() { echo "10.3.$(($1 / 250)).$(($1 % 250 + 1))"; }
# --iptables-forward-rules=false for both, as in scale.sh: N daemons in one
# namespace would all rewrite the same FLANNEL-FWD chain every 5 s, and the
# bench would measure iptables instead of the watch.
launch() { # kind index: start daemon <index>, log appended
	local ip
	ip=$(public_ip "$2")
	case $1 in
	ours)
		"$FLANNELD" --etcd-endpoints="$EP" --etcd-prefix="$PREFIX" --iface=fo0 --public-ip="$ip" \
			--subnet-file="$TMP/run/$2.env" --healthz-ip=127.0.0.1 \
			--healthz-port=$((PORT_BASE + $2)) --iptables-forward-rules=false \
			>>"$TMP/log/$2.log" 2>&1 &
		;;
	go)
		"$UPSTREAM" --etcd-endpoints="$EP" --etcd-prefix="$PREFIX" --iface="$ip" --public-ip="$ip" \
			--subnet-file="$TMP/run/$2.env" --healthz-port=0 --iptables-forward-rules=false \
			>>"$TMP/log/$2.log" 2>&1 &
		;;
	esac
	PIDS[$2]=$!
	echo $! >>"$TMP/pids"
}

# Go: per log, how many distinct put subnets (10.128.0.0/24 and up, not the
# sentinels, 10.255.x.0/24) it reported added; prints "<done> <min> <sum>": daemons with all
# M, the fewest any daemon has, the sum over all.
GO_ADDED=
go_progress() {
	awk -v m="$M" -v n="$N" '
	FNR == 1 { f++ }
	{ p = index($0, "Subnet added: ") }
	p {
		s = substr($0, p + 14)
		sub(/ .*/, "", s)
		split(s, a, ".")
		if (a[2] >= 128 && a[2] < 255 && !((f, s) in seen)) { seen[f, s] = 1; c[f]++ }
	}
	END {
		mn = -1
		for (i = 1; i <= n; i++) { if (c[i] + 0 >= m) d++; if (mn < 0 || c[i] + 0 < mn) mn = c[i] + 0 }
		for (k in c) t += c[k]
		printf "%d %d %d\n", d, mn, t
	}' "${GO_LOGS[@]}"
}

# All N daemons hold a lease and watch: started, then a sentinel lease put
# that every one must report.
start_all() { # kind
	local kind=$1 i deadline restarts=0 out
	rm -f "$TMP"/run/*.env "$TMP"/log/*.log
	PIDS=()
	for ((i = 0; i < N; i++)); do
		launch "$kind" "$i"
		sleep "$STAGGER_S"
	done
	deadline=$(($(now_ms) + WAIT_S * 1000))
	if [ "$kind" = ours ]; then
		out=$("$BIN/metrics_wait" "$PORT_BASE" "$N" flannel_ready 1 $((WAIT_S * 1000)) 200 | tail -n 1)
		[[ $out == all* ]] || fail "not every daemon ready: $out; $(alive) of $N alive; daemon 0: $(tail -n 3 "$TMP/log/0.log")"
	else
		# Ready: the extension network runs its watch. One that exited
		# (a lost allocation race) is started again.
		local -A ready=()
		while [ ${#ready[@]} -lt "$N" ]; do
			for ((i = 0; i < N; i++)); do
				[ -z "${ready[$i]:-}" ] || continue
				if grep -q "Watching for new subnet leases" "$TMP/log/$i.log"; then
					ready[$i]=1
				elif ! kill -0 "${PIDS[i]}" 2>/dev/null; then
					wait "${PIDS[i]}" 2>/dev/null || true
					restarts=$((restarts + 1))
					launch go "$i"
				fi
			done
			[ "$(now_ms)" -lt "$deadline" ] || fail "${#ready[@]} of $N upstream daemons ready after ${WAIT_S}s ($restarts restarts)"
			sleep 0.2
		done
		RESTARTS=$restarts
	fi
	# The sentinel: 10.255.255.0/24, outside the puts' subnets. Go's daemon
	# misses some events (a few of 200 missed a lone sentinel put right after
	# the last start), so for Go up to 5 sentinels, 10 s apart: each daemon
	# must report one of them.
	local k=0 seen=0
	while :; do
		ctl put "$PREFIX/subnets/10.255.$((255 - k)).0-24" '{"PublicIP":"10.4.255.'$((255 - k))'","PublicIPv6":null,"BackendType":"'"$BTYPE"'","BackendData":null}' >/dev/null
		k=$((k + 1))
		if [ "$kind" = ours ]; then
			out=$("$BIN/metrics_wait" "$PORT_BASE" "$N" flannel_leases_known "$N" $((WAIT_S * 1000)) 200 | tail -n 1)
			[[ $out == all* ]] || fail "not every daemon saw the sentinel: $out"
			break
		fi
		local t_k=$(($(now_ms) + 10000))
		while seen=$(grep -l "Subnet added: 10\.255\." "${GO_LOGS[@]}" | wc -l) && [ "$seen" -lt "$N" ] && [ "$(now_ms)" -lt "$t_k" ]; do
			sleep 0.2
		done
		[ "$seen" -lt "$N" ] || break
		[ "$k" -lt 5 ] && [ "$(now_ms)" -lt "$deadline" ] || fail "$seen of $N upstream daemons saw one of $k sentinels"
	done
	SENTINELS=$k
	[ "$(alive)" -eq "$N" ] || fail "$(alive) of $N daemons alive after the start"
}

put_all() { # type: M puts
	if [ "$PUTTER" = etcdctl ]; then
		local i t0 dl
		t0=$(now_ms)
		for ((i = 0; i < M; i++)); do
			dl=$((t0 + i * PACE_MS - $(now_ms)))
			[ "$dl" -le 0 ] || sleep "$(awk -v ms="$dl" 'BEGIN { print ms / 1000 }')"
			ctl put --lease="$(printf %x "$LEASE")" "$PREFIX/subnets/10.$((128 + i / 256)).$((i % 256)).0-24" \
				'{"PublicIP":"10.4.'$((i / 256))'.'$((i % 256 + 1))'","PublicIPv6":null,"BackendType":"'"$1"'","BackendData":null}' >/dev/null
		done
	else
		timeout $((WAIT_S + M * PACE_MS / 1000)) "$PY" "$REPO/bench/fanout_put.py" put 127.0.0.1 "$ETCD_PORT" "$PREFIX" "$M" "$PACE_MS" "$LEASE" "$1" >"$TMP/put.out" &
		echo $! >"$TMP/writer.pids"
		wait $! || fail "the writer failed: $(cat "$TMP/put.out")"
		: >"$TMP/writer.pids"
	fi
}

f1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
f2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
ROWS=()
RESTARTS=0 SENTINELS=0
echo "flanneld: $FLANNELD ($("$FLANNELD" --version 2>&1 | head -n 1))"
if [ "$UPSTREAM" != none ] && [ -x "$UPSTREAM" ]; then
	echo "upstream: $UPSTREAM"
else
	[ "$UPSTREAM" = none ] || echo "upstream: $UPSTREAM not found, its phase skipped"
	PHASES=${PHASES//go/}
fi
echo "etcd $(etcd --version | awk 'NR == 1 { print $3 }'); $(nproc) CPUs; N=$N M=$M, a put every $PACE_MS ms via $PUTTER, idle window $IDLE_MS ms"

for phase in $PHASES; do
	case $phase in
	puts) BTYPE=alloc; n=0; name="(puts only)" ;;
	ours) BTYPE=alloc; n=$N; name="ours ($(basename "$FLANNELD"))" ;;
	go) BTYPE=extension; n=$N; name="upstream v0.20.2 (extension)" ;;
	*) fail "unknown phase $phase" ;;
	esac
	etcd_start "$phase"
	ctl put "$PREFIX/config" '{"Network":"10.0.0.0/8","SubnetLen":24,"SubnetMax":"10.127.255.0","Backend":{"Type":"'"$BTYPE"'"}}' >/dev/null
	GO_LOGS=()
	for ((i = 0; i < N; i++)); do GO_LOGS+=("$TMP/log/$i.log"); done
	RESTARTS=0
	t=$(now_ms)
	[ "$phase" = puts ] || start_all "$phase"
	start_s=$(awk -v ms="$(($(now_ms) - t))" 'BEGIN { printf "%.1f", ms / 1000 }')
	LEASE=$(timeout 30 "$PY" "$REPO/bench/fanout_put.py" grant 127.0.0.1 "$ETCD_PORT" 86400)
	sleep 1 # let the start settle; the idle window shows what remains
	read -r u0 w0 < <(etcd_rpcs)
	v0=$(etcd_events)

	# idle window
	t0=$(now_ms) e0=$(etcd_cpu_us) d0=$(daemons_cpu_us)
	sleep "$(awk -v ms="$IDLE_MS" 'BEGIN { print ms / 1000 }')"
	t1=$(now_ms) e1=$(etcd_cpu_us) d1=$(daemons_cpu_us)

	# put window
	put_all "$BTYPE"
	t_last=$(now_ms)
	got=$((n * M)) note=
	case $phase in
	ours)
		sleep 0.3 # most are there by now: a poll round asks each daemon once
		out=$("$BIN/metrics_wait" "$PORT_BASE" "$N" flannel_leases_known $((N + M)) $((WAIT_S * 1000)) 200 | tail -n 1)
		[[ $out == all* ]] || note="not all delivered: $out"
		;;
	go)
		# Until all N * M are reported, or the count has stood still for
		# 2 s: Go's daemon drops some events that etcd delivers (see above).
		deadline=$(($(now_ms) + WAIT_S * 1000))
		last=-1 still=0
		while :; do
			read -r done_n min_n seen_n < <(go_progress)
			[ "$done_n" -lt "$N" ] || break
			if [ "$seen_n" = "$last" ]; then
				still=$((still + 1))
				[ "$still" -lt 10 ] || { note="$done_n of $N daemons reported all $M (fewest: $min_n)"; break; }
			else
				last=$seen_n still=0
			fi
			[ "$(now_ms)" -lt "$deadline" ] || { note="timeout: $done_n of $N daemons reported all $M (fewest: $min_n)"; break; }
			sleep 0.2
		done
		;;
	esac
	t2=$(now_ms) e2=$(etcd_cpu_us) d2=$(daemons_cpu_us)
	read -r u1 w1 < <(etcd_rpcs)
	sent=$(($(etcd_events) - v0))
	if [ "$phase" = go ]; then
		read -r _ _ got < <(go_progress)
	elif [ "$phase" = ours ] && [ -n "$note" ]; then
		got=$(for ((i = 0; i < N; i++)); do curl -sf -m 2 "http://127.0.0.1:$((PORT_BASE + i))/metrics" | awk -v n="$N" '$1 == "flannel_leases_known" { print $2 - n }'; done | awk '{ s += $1 } END { print s + 0 }')
	fi
	[ "$phase" = puts ] || [ "$(alive)" -eq "$N" ] || note="$note; $(alive) of $N daemons alive at the end"

	idle_s=$((t1 - t0))
	win=$((t2 - t1))
	e_put=$(awk -v a="$((e2 - e1))" -v i="$((e1 - e0))" -v w="$win" -v iw="$idle_s" 'BEGIN { printf "%d", a - i * w / iw }')
	d_put=$(awk -v a="$((d2 - d1))" -v i="$((d1 - d0))" -v w="$win" -v iw="$idle_s" 'BEGIN { printf "%d", a - i * w / iw }')
	idle_rate=$(f1 "$(awk -v c="$((e1 - e0))" -v w="$idle_s" 'BEGIN { print c / w }')") # µs per ms = ms per s
	d_idle_rate=$(f1 "$(awk -v c="$((d1 - d0))" -v w="$idle_s" 'BEGIN { print c / w }')")
	ev=$((n * M))
	if [ "$phase" = puts ]; then
		PUTS_E=$e_put
		per_ev="$(f1 "$(awk -v e="$e_put" -v m="$M" 'BEGIN { print e / m }')") per put"
		net=- dper=- wrq=-
		rpc="$(f2 "$(awk -v u="$((u1 - u0))" -v m="$M" 'BEGIN { print u / m }')") per put"
	else
		per_ev=$(f1 "$(awk -v e="$e_put" -v g="$ev" 'BEGIN { print e / g }')")
		net=-
		[ -z "${PUTS_E:-}" ] || net=$(f1 "$(awk -v e="$e_put" -v p="$PUTS_E" -v g="$ev" 'BEGIN { print (e - p) / g }')")
		dper=$(f1 "$(awk -v e="$d_put" -v g="$ev" 'BEGIN { print e / g }')")
		rpc=$(f2 "$(awk -v u="$((u1 - u0))" -v g="$ev" 'BEGIN { print u / g }')")
		wrq=$(f2 "$(awk -v u="$((w1 - w0))" -v g="$ev" 'BEGIN { print u / g }')")
		[ "$sent" -ge "$ev" ] || note="${note:+$note; }etcd sent $sent of $ev events"
	fi
	[ "$phase" != go ] || [ "$RESTARTS" -eq 0 ] || note="${note:+$note; }$RESTARTS restarts after lost races"
	[ "$phase" != go ] || [ "$SENTINELS" -le 1 ] || note="${note:+$note; }$SENTINELS sentinels needed"
	ROWS+=("$name|$n|$M|$sent|$got|$start_s|$idle_rate|$d_idle_rate|$(f2 "$(awk -v w="$win" 'BEGIN { print w / 1000 }')")|$(f2 "$(awk -v e="$e_put" 'BEGIN { print e / 1e6 }')")|$per_ev|$net|$(f2 "$(awk -v e="$d_put" 'BEGIN { print e / 1e6 }')")|$dper|$rpc|$wrq|${note:--}")
	echo "phase $phase done: ${ROWS[-1]}"
	stop_daemons
	etcd_stop
done

echo
echo "CPU is net of the idle rate; per event = over the N * M events etcd must deliver;"
echo "'net of puts' also subtracts the puts row's etcd CPU (the writer's share);"
echo "the puts row: etcd per put with no watcher. Events seen: ours /metrics, Go its log."
printf '%s\n' "daemon|N|M|events sent by etcd|events seen by daemons|start s|etcd idle ms/s|daemons idle ms/s|put window s|etcd CPU s|etcd µs/event|net of puts|daemons CPU s|daemons µs/event|etcd unary RPCs/event|watch requests/event|note" "${ROWS[@]}" | column -t -s '|'
