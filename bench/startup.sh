#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Start-up latency and memory of flanneld against a real etcd, inside a
# private network namespace (loopback only):
#   A. empty cluster: exec -> subnet.env, first etcd answer -> subnet.env, RSS;
#      the same for upstream's Go flanneld when its binary is there
#   B. 5000 existing leases: exec -> all leases known, peak RSS
# Default flags (--iptables-forward-rules is on, as everywhere).
# Usage: sudo bench/startup.sh [runs]   (prints a table; nothing is asserted)
#   UPSTREAM_FLANNELD=path   upstream's binary (default ../shared/upstream/flanneld-v0.20.2;
#                            absent: its figures are left out)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
LEASES=${LEASES:-5000}

[ "$(id -u)" = 0 ] || { echo "bench/startup.sh: run as root" >&2; exit 1; }
scripts/deps.sh
make -s
FLANNELD=${FLANNELD:-$PWD/build/flanneld}
UPSTREAM_FLANNELD=${UPSTREAM_FLANNELD:-$PWD/../shared/upstream/flanneld-v0.20.2}

NS=flbench-$$
TMP=$(mktemp -d /tmp/flbench.XXXXXX)
# subnet.env lives on tmpfs, as /run/flannel does in production.
RUN=$(mktemp -d /dev/shm/flbench.XXXXXX)
ETCD_PID=
DPID=
cleanup() {
  set +e
  if [ -n "$DPID" ]; then kill "$DPID"; wait "$DPID"; fi 2>/dev/null
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID"; wait "$ETCD_PID"; fi 2>/dev/null
  ip netns del "$NS" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP" "$RUN"
  true
}
trap cleanup EXIT

nsx() { ip netns exec "$NS" "$@"; }
E=http://127.0.0.1:2379
gw() { nsx curl -sf -X POST "$E/v3/$1" -d "$2"; }
b64() { printf '%s' "$1" | base64 -w0; }

# Poll (no sleeps as synchronisation): up to $1 seconds for "$2..." to succeed.
wait_until() {
  local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.005
  done
}

ip netns add "$NS"
ip -n "$NS" link set lo up
# Upstream wants an interface holding --public-ip: the public IPs live on a veth
# (this kernel may lack the dummy module).
ip -n "$NS" link add pub0 type veth peer name pub1
ip -n "$NS" link set pub0 up
ip netns exec "$NS" etcd --name bench --data-dir "$TMP/etcd" \
  --listen-client-urls $E --advertise-client-urls $E \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster bench=http://127.0.0.1:2380 >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!
wait_until 20 nsx curl -sf $E/health

put_config() {
  gw kv/put "{\"key\":\"$(b64 /coreos.com/network/config)\",\"value\":\"$(b64 "$1")\"}" >/dev/null
}
clear_leases() {
  gw kv/deleterange "{\"key\":\"$(b64 /coreos.com/network/subnets)\",\"range_end\":\"$(b64 /coreos.com/network/subnett)\"}" >/dev/null
}

# Microseconds of day from a log line's "hh:mm:ss.uuuuuu" stamp.
stamp_us() {
  awk -v pat="$1" 'index($0, pat) { split($2, t, /[:.]/); printf "%.0f\n", ((t[1]*60+t[2])*60+t[3])*1000000+t[4]; exit }' "$2"
}
now_us() { local s; s=$(date +%H:%M:%S.%N); awk -v t="$s" 'BEGIN{split(t,a,/[:.]/); printf "%.0f\n", ((a[1]*60+a[2])*60+a[3])*1000000+substr(a[4],1,6)}'; }
rss_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
smaps_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/smaps_rollup"; }

# Start one daemon ($BIN, default ours); wait for log pattern $1; sets DPID, T0, LOG.
run_daemon() {
  local pat=$1 n=$2 pub
  pub="10.255.$((n / 256)).$((n % 256))"
  LOG=$TMP/d$n.log
  rm -f "$RUN/s$n.env"
  ip -n "$NS" addr replace "$pub/32" dev pub0
  T0=$(now_us)
  ip netns exec "$NS" "${BIN:-$FLANNELD}" --etcd-endpoints $E --iface 127.0.0.1 --public-ip "$pub" \
    --subnet-file "$RUN/s$n.env" -v 1 2>"$LOG" &
  DPID=$!
  wait_until 30 grep -q "$pat" "$LOG" || { echo "daemon did not log '$pat':" >&2; tail "$LOG" >&2; exit 1; }
}
stop_daemon() { kill "$DPID"; wait "$DPID" || true; DPID=; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A: $1 names the daemon; $BIN is its binary. Idle RSS: once the forward
# rules are in place (ours) or a second after subnet.env (upstream).
empty_cluster() {
  : >"$TMP/a.$1"
  for i in $(seq 1 "$RUNS"); do
    clear_leases
    run_daemon "Wrote subnet file" "$i"
    wait_until 5 grep -q "Running backend" "$LOG"
    tw=$(stamp_us "Wrote subnet file" "$LOG"); tc=$(stamp_us "Found network config" "$LOG")
    if [ -z "${BIN:-}" ]; then wait_until 5 grep -q "Forward rules for network" "$LOG"; else sleep 1; fi
    echo "$((tw - T0)) $((tw - tc)) $(rss_kb "$DPID" VmRSS) $(smaps_kb "$DPID" Pss) $(rss_kb "$DPID" RssAnon)" >>"$TMP/a.$1"
    stop_daemon
  done
  printf '%-52s %s\n' "$1: exec -> subnet.env written (us, median)" "$(cut -d' ' -f1 "$TMP/a.$1" | median)"
  printf '%-52s %s\n' "$1: config answer -> subnet.env written (us)" "$(cut -d' ' -f2 "$TMP/a.$1" | median)"
  printf '%-52s %s\n' "$1: RSS, idle after ready (kB, median)" "$(cut -d' ' -f3 "$TMP/a.$1" | median)"
  printf '%-52s %s\n' "$1: PSS, idle after ready (kB, median)" "$(cut -d' ' -f4 "$TMP/a.$1" | median)"
  printf '%-52s %s\n' "$1: anonymous RSS, idle after ready (kB, median)" "$(cut -d' ' -f5 "$TMP/a.$1" | median)"
}

echo "== A. empty cluster, $RUNS runs =="
put_config '{"Network":"10.0.0.0/8","Backend":{"Type":"alloc"}}'
empty_cluster flanneld
if [ -x "$UPSTREAM_FLANNELD" ]; then
  BIN=$UPSTREAM_FLANNELD empty_cluster upstream
else
  echo "(no upstream binary at $UPSTREAM_FLANNELD: set UPSTREAM_FLANNELD for its figures)"
fi

echo "== B. $LEASES existing leases, $RUNS runs =="
clear_leases
lease=$(gw lease/grant '{"TTL":"3600"}' | jq -r .ID)
for ((b = 0; b < LEASES; b += 100)); do
  jq -nc --argjson b "$b" --argjson n "$LEASES" --arg lease "$lease" '
    {success: [range($b; [$b + 100, $n] | min) as $i |
      {request_put: {
        key: ("/coreos.com/network/subnets/10.\(($i / 256 | floor) + 1).\($i % 256).0-24" | @base64),
        value: ({PublicIP: "172.16.\($i / 256 | floor).\($i % 256)", PublicIPv6: null} | tojson | @base64),
        lease: $lease}}]}' >"$TMP/txn.json"
  nsx curl -sf -X POST $E/v3/kv/txn --data-binary @"$TMP/txn.json" >/dev/null
done
: >"$TMP/b"
for i in $(seq 1 "$RUNS"); do
  run_daemon "Running backend" "$i"
  n=$(awk '/Listed [0-9]+ leases/ {for (i = 1; i <= NF; i++) if ($i == "Listed") print $(i+1); exit}' "$LOG")
  [ "$n" -ge "$LEASES" ] || { echo "daemon listed $n leases, expected $LEASES" >&2; exit 1; }
  tl=$(stamp_us "Listed " "$LOG"); tw=$(stamp_us "Wrote subnet file" "$LOG")
  echo "$((tl - T0)) $((tw - T0)) $(rss_kb "$DPID" VmHWM) $(rss_kb "$DPID" RssAnon)" >>"$TMP/b"
  stop_daemon
  # Remove this run's own lease so every run starts from the same $LEASES.
  key=$(awk -F= '/FLANNEL_SUBNET/ {print $2}' "$RUN/s$i.env" | sed 's/\.1\//.0-/')
  gw kv/deleterange "{\"key\":\"$(b64 "/coreos.com/network/subnets/$key")\"}" >/dev/null
done
printf '%-44s %s\n' "exec -> all $LEASES leases known (us, median)" "$(cut -d' ' -f1 "$TMP/b" | median)"
printf '%-44s %s\n' "exec -> subnet.env written (us, median)" "$(cut -d' ' -f2 "$TMP/b" | median)"
printf '%-44s %s\n' "peak RSS (kB, median)" "$(cut -d' ' -f3 "$TMP/b" | median)"
printf '%-44s %s\n' "anonymous RSS after ready (kB, median)" "$(cut -d' ' -f4 "$TMP/b" | median)"
