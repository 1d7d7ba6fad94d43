#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# etcd outage and compaction.
#  1. Three daemons run; etcd is stopped for OUTAGE seconds (20) and
#     restarted on the same data dir. The daemons stay alive (and /healthz
#     answers) throughout; /readyz stays 200 for the 10 s grace period, then
#     answers 503 until etcd is back, then 200 again. Then they see a new
#     daemon's lease.
#  2. flanneld 1 is frozen (SIGSTOP) and etcd restarted, which ends its
#     watch stream; then two leases are added and one deleted and etcd is
#     compacted to the current revision, so that the frozen daemon's watch
#     must resume from a compacted revision. After SIGCONT it must converge
#     to exactly the true set by a resync.
#
#	sw: br0 10.200.0.1 + etcd (stopped, restarted, compacted)
#	 |-- h1 10.200.0.11  flanneld 1 (SIGSTOP/SIGCONT in part 2)
#	 |-- h2 10.200.0.12  flanneld 2
#	 |-- h3 10.200.0.13  flanneld 3
#	 `-- h4 10.200.0.14  flanneld 4 (started after the outage)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

OUTAGE=${OUTAGE:-20}

# answer <id> <path>: the HTTP status of the daemon's answer. On a loaded
# machine one curl can time out (000) while the daemon is fine; one more try
# with a longer timeout tells a slow poller from a daemon that does not
# answer (000 again). Any answer other than the one expected still fails.
answer() {
	local c
	c=$(http_code "$1" "$2")
	if [ "$c" = 000 ]; then
		echo "$(date +%T.%3N) flanneld $1 $2: no answer in 2 s, asking again" >>"$TMP/retries"
		c=$(host_exec "$(_inst_host "$1")" curl -s -m 8 -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$(cat "$(inst_dir "$1")/port")$2" 2>/dev/null) || true
	fi
	echo "${c:-000}"
}

alive_and_healthy() {
	local i c
	for i in "$@"; do
		flannel_running "$i" || { echo "flanneld $i exited" >&2; return 1; }
		c=$(answer "$i" /healthz)
		[ "$c" = 200 ] || { echo "flanneld $i /healthz $c" >&2; return 1; }
	done
}

GRACE=10 # the daemon's ETCD_GRACE_MS

# /readyz of each daemon during the outage: one line "<code> <ms since
# OUTAGE_T0>" per change, in $TMP/readyz.<id>.
note_readyz() {
	local i c f ms
	for i in 1 2 3; do
		f=$TMP/readyz.$i
		c=$(answer "$i" /readyz)
		ms=$((($(now_us) - OUTAGE_T0) / 1000))
		[ "$(tail -n 1 "$f" 2>/dev/null | cut -d' ' -f1)" = "$c" ] || echo "$c $ms" >>"$f"
	done
	alive_and_healthy 1 2 3
}

# readyz_history <id>: "200@0ms 503@10123ms" for messages.
readyz_history() { awk '{ printf "%s%s@%sms", (NR > 1 ? " " : ""), $1, $2 }' "$TMP/readyz.$1"; }

all_know() { # count ids...
	local want=$1 i
	shift
	for i in "$@"; do metric_eq "$i" flannel_leases_known "$want" || return 1; done
}

topo_up 4
etcd_start
etcd_put_config "$DEFAULT_CONFIG"
for i in 1 2 3; do flannel_start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
wait_until 10 all_know 2 1 2 3 || fail "daemons do not know each other before the outage"

# -- 1. outage
declare -A errs0
for i in 1 2 3; do errs0[$i]=$(metric "$i" flannel_etcd_request_errors_total) || fail "flanneld $i: no flannel_etcd_request_errors_total"; done
for i in 1 2 3; do assert_eq "$(http_code "$i" /readyz)" 200 "flanneld $i /readyz before the outage"; done
OUTAGE_T0=$(now_us) # before the stop: no daemon can see etcd gone earlier
etcd_stop
info "etcd stopped for ${OUTAGE}s"
hold_for "$OUTAGE" note_readyz || fail "a daemon died or stopped answering /healthz while etcd was down"
for i in 1 2 3; do info "flanneld $i /readyz during the outage: $(readyz_history "$i")"; done
# Every daemon counted its failed requests to the stopped etcd.
errs=
for i in 1 2 3; do
	e1=$(metric "$i" flannel_etcd_request_errors_total) || fail "flanneld $i: no flannel_etcd_request_errors_total"
	((e1 > ${errs0[$i]})) || fail "flanneld $i: flannel_etcd_request_errors_total ${errs0[$i]} -> $e1 through the outage"
	errs+=" h$i ${errs0[$i]}->$e1"
done
SPAWN_LOG_APPEND=1 etcd_start
[ ! -s "$TMP/retries" ] || info "curl asked again: $(wc -l <"$TMP/retries") times: $(tr '\n' ';' <"$TMP/retries")"
pass "3 daemons alive with /healthz 200 through a ${OUTAGE}s etcd outage; etcd request errors counted:$errs"

# /readyz: 200 through the grace period, then 503 (and nothing else) for
# the rest of the outage (when the outage is long enough to see it).
want="200 503 "
((OUTAGE >= GRACE + 3)) || want="200 "
for i in 1 2 3; do
	h=$(readyz_history "$i")
	[ "$(cut -d' ' -f1 "$TMP/readyz.$i" | tr '\n' ' ')" = "$want" ] ||
		fail "flanneld $i /readyz during the ${OUTAGE}s outage: $h, expected: $want"
	t503=$(awk '$1 == 503 { print $2 }' "$TMP/readyz.$i")
	[ -z "$t503" ] || ((t503 >= GRACE * 1000)) ||
		fail "flanneld $i /readyz 503 after ${t503}ms, before the ${GRACE}s grace period ($h)"
done
pass "/readyz during the outage: $(readyz_history 1) (grace ${GRACE}s)"

for i in 1 2 3; do wait_ready "$i" 30; done
for i in 1 2 3; do assert_eq "$(http_code "$i" /readyz)" 200 "flanneld $i /readyz after etcd is back"; done
pass "/readyz 200 again once etcd is back"
assert_eq "$(subnet_keys | wc -l)" 3 "leases in etcd after the outage"
flannel_start 4
wait_ready 4
wait_until 30 all_know 3 1 2 3 4 ||
	fail "the lease added after the outage is not seen by all: $(for i in 1 2 3 4; do printf 'h%s=%s ' "$i" "$(metric "$i" flannel_leases_known || echo '?')"; done)"
pass "lease added after the outage seen by all (leases_known 3)"

# -- 2. compaction while flanneld 1 is frozen
lease=$(etcd_lease_grant 3600)
mapfile -t fake < <(free_subnets 3)
put_lease "${fake[0]}" 10.200.1.250 "$lease"
wait_until 10 all_know 4 1 2 3 4 || fail "fake lease ${fake[0]} not seen by all"
resyncs0=$(metric 1 flannel_resyncs_total || echo 0)

proc_signal flanneld-1 STOP
# Restart etcd first: that ends flanneld 1's watch stream before any of the
# changes below is sent on it (events already written to its socket would
# still be read after SIGCONT, and no resync would be needed).
etcd_restart
put_lease "${fake[1]}" 10.200.1.251 "$lease"
put_lease "${fake[2]}" 10.200.1.252 "$lease"
etcdctl_sw del -- "${fake[0]}" >/dev/null
# true set for every daemon: the 4 daemons + 2 new fakes, minus itself
want=5
wait_until 15 all_know "$want" 2 3 4 || fail "running daemons did not follow the changes"
rev=$(etcd_compact)
info "compacted at revision $rev"
proc_signal flanneld-1 CONT

wait_until 30 metric_eq 1 flannel_leases_known "$want" ||
	fail "flanneld 1 after compaction: leases_known $(metric 1 flannel_leases_known || echo '?'), expected $want"
wait_until 10 metric_ge 1 flannel_resyncs_total $((${resyncs0%.*} + 1)) ||
	fail "flanneld 1: flannel_resyncs_total $(metric 1 flannel_resyncs_total || echo '?'), expected > $resyncs0"
wait_until 10 all_know "$want" 2 3 4 || fail "other daemons lost track after the etcd restart"
alive_and_healthy 1 2 3 4 || fail "a daemon died"
pass "frozen daemon resynced after compaction: leases_known $want, resyncs $(metric 1 flannel_resyncs_total)"

flannel_stop_all 1 2 3 4
pass "all daemons exit 0 on SIGTERM"
