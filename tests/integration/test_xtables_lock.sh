#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The event loop never waits on others (issue 15, item 8): while another
# program holds the xtables lock for 15 s, flanneld (host-gw, --ip-masq,
# legacy iptables, so that iptables-restore takes the lock) answers
# /healthz within 100 ms (every probe answered, within 1 s, at most 1 in
# 20 late: see healthz_ok), keeps /readyz at 200, programs a lease put
# meanwhile, keeps flannel_loop_lag_max_seconds under 0.1, and puts its
# missing rule back once the lock is free. Then the same prober against a
# daemon in nftables mode (libnftables on its worker thread) while its
# rules are deleted and rewritten.
#
# The lock is never the machine's: the daemon runs in a mount namespace of
# its own (unshare -m --propagation private inside `ip netns exec`) with a
# tmpfs over /run (so /run/xtables.lock is a file of that tmpfs) and a copy
# of /etc/alternatives bound over the real one whose iptables entries name
# the legacy binaries; the lock holder joins that mount namespace
# (nsenter). The test checks that neither mount is visible outside.
#
#	sw: br0 10.200.0.1 + etcd
#	 `-- h1 10.200.0.11 eth0   flanneld 1 (private /run, legacy iptables)
#	                           flanneld 1b (second network, nftables mode)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
for c in iptables-legacy iptables-legacy-save iptables-legacy-restore ip6tables-legacy flock nsenter unshare python3 nft; do
	command -v "$c" >/dev/null || skip "$c not installed"
done

NET=10.244.0.0/16
TAG=flt-run-$FLT_PREFIX
HOLD=15
topo_up 1
etcd_start
etcd_put_config "{\"Network\":\"$NET\",\"Backend\":{\"Type\":\"host-gw\"}}"

# -- the private mount namespace: /run and /etc/alternatives of its own
ALT=$TMP/alternatives
mkdir -p "$ALT"
cp -a /etc/alternatives/. "$ALT/"
for t in iptables ip6tables; do
	for s in "" -save -restore; do ln -sfn "/usr/sbin/$t-legacy$s" "$ALT/$t$s"; done
done
cat >"$TMP/private.sh" <<'SH'
# sh private.sh ALT TAG cmd...: run as `unshare -m --propagation private sh
# private.sh ...`: a tmpfs named TAG over /run, ALT over /etc/alternatives,
# then exec cmd. Both mounts die with the namespace.
set -e
alt=$1 tag=$2
shift 2
mount -t tmpfs -o size=1m,mode=0755 "$tag" /run
mount --bind "$alt" /etc/alternatives
exec "$@"
SH
PRIV="unshare -m --propagation private sh $TMP/private.sh $ALT $TAG"
machine_lock_before=$(ls -l /run/xtables.lock 2>/dev/null || echo none)
alt_before=$(readlink /etc/alternatives/iptables-restore)
# shellcheck disable=SC2086 # split on purpose
v=$(host_exec 1 $PRIV iptables --version 2>&1) || skip "legacy iptables unusable here: $v"
[[ $v == *legacy* ]] || fail "the private alternatives do not give legacy iptables: $v"

FLANNEL_WRAP=$PRIV flannel_start 1 --ip-masq --iptables-resync=1
wait_ready 1
pid=$(flannel_pid 1)
assert_eq "$(cat "/proc/$pid/comm")" flanneld "the spawned process (unshare and sh exec it)"
# dx cmd...: in the daemon's network and mount namespaces.
dx() { nsenter -t "$pid" -m -n "$@"; }
dx grep -q "$TAG" /proc/self/mountinfo || fail "the daemon's /run is not the private tmpfs"
grep -q "$TAG" /proc/self/mountinfo && fail "the private /run is visible in the machine's mount namespace"
assert_eq "$(readlink /etc/alternatives/iptables-restore)" "$alt_before" "the machine's iptables-restore alternative"
assert_eq "$(ls -l /run/xtables.lock 2>/dev/null || echo none)" "$machine_lock_before" "the machine's /run/xtables.lock"

F='-m comment --comment "flanneld forward"'
want_fwd() { printf '%s\n' "-A FORWARD $F -j FLANNEL-FWD" "-A FLANNEL-FWD -s $NET $F -j ACCEPT" "-A FLANNEL-FWD -d $NET $F -j ACCEPT"; }
have_fwd() { dx iptables-save -t filter | grep -E -- '^-A ([A-Z]+ .*-j FLANNEL-FWD$|FLANNEL-FWD )'; }
fwd_ok() { [ "$(have_fwd)" = "$(want_fwd)" ]; }
wait_until 10 fwd_ok || fail "forward rules (legacy): $(have_fwd)"
dx iptables-legacy-save -t nat | grep_q -- '-A FLANNEL-POSTRTG' || fail "no masquerade rules in legacy iptables"
dx test -e /run/xtables.lock || fail "iptables took no lock in the private /run"
metric 1 flannel_loop_lag_max_seconds >/dev/null || fail "no flannel_loop_lag_max_seconds in /metrics"
pass "flanneld in a private mount namespace with legacy iptables; rules in place; the machine's /run and alternatives untouched"

# The nftables-mode daemon of the last part starts now, so that its
# start-up is long past when its loop lag is looked at.
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"alloc"},"EnableNFTables":true}' /second/network
flannel_start 1b --etcd-prefix=/second/network --ip-masq --iptables-resync=1 --healthz-port=9912
wait_ready 1b

# lag_settled <id>: the loop-lag figure (last 10-20 s) is under 0.1 s, i.e.
# the start-up's longer turns, if any, have left its window.
lag_settled() { metric "$1" flannel_loop_lag_max_seconds | awk '{ exit !($1 < 0.1) }'; }

# -- hold the lock for 15 s; the holder first removes one of our forward
# rules (through another lock file, as it holds this one), so that the
# resync must run iptables-restore, which waits for the lock.
cat >"$TMP/hold.sh" <<'SH'
# sh hold.sh SECONDS MARK NET: take /run/xtables.lock, delete flanneld's
# "-d NET" forward rule, write MARK, keep the lock for SECONDS (exec: a
# kill of this process releases it).
set -e
exec 9>/run/xtables.lock
flock -x 9
XTABLES_LOCKFILE=/run/xtables-holder.lock iptables -t filter -D FLANNEL-FWD -d "$3" \
	-m comment --comment "flanneld forward" -j ACCEPT
echo held >"$2"
exec sleep "$1"
SH
# read_probe <probe.py's last line>: its figures into p_probes, p_late, ...
probe_field() { sed -nE "s/.*(^| )$1=([^ ]+).*/\2/p" <<<"$2"; }
read_probe() {
	p_probes=$(probe_field probes "$1")
	p_late=$(probe_field late "$1")
	p_failed=$(probe_field failed "$1")
	p_max_ms=$(probe_field max_ms "$1")
	p_max_lag_s=$(probe_field max_lag_s "$1")
	p_lag_samples=$(probe_field lag_samples "$1")
	if [ -z "$p_probes" ] || [ -z "$p_lag_samples" ]; then fail "the prober said: $1"; fi
}
# Every probe answered 200, within 1 s, and at most 1 in 20 over 100 ms.
# The loop itself must never be away for 100 ms (flannel_loop_lag_max_seconds,
# asserted strictly); a late probe on a loaded machine is the scheduler
# running other programs than the prober or the daemon, which the lag tells
# apart (here, at load average 15-25 on 2 cores: 3 of 252 probes over 100 ms,
# the longest 174 ms, while the loop's longest turn was 14 ms).
healthz_ok() {
	((p_failed == 0 && p_late * 20 <= p_probes)) &&
		awk -v m="$p_max_ms" 'BEGIN { exit !(m < 1000) }'
}
lease=$(free_subnets 1)
net=${lease##*/}
net=${net%-24}
wait_until 25 lag_settled 1 || fail "loop lag still $(metric 1 flannel_loop_lag_max_seconds)s 20 s after start-up"
SPAWN_LOG=$TMP/probe.log spawn probe "$(host_ns 1)" python3 "$LIB_DIR/probe.py" "$HEALTHZ_PORT" "$HOLD" "$TMP/probe.out"
wait_until 10 grep -qs started "$TMP/probe.out" || fail "the prober did not start"
SPAWN_LOG=$TMP/hold.log spawn holder - nsenter -t "$pid" -m -n sh "$TMP/hold.sh" "$HOLD" "$TMP/held" "$NET"
wait_until 5 test -s "$TMP/held" || fail "the lock holder did not start: $(cat "$TMP/hold.log")"
t_held=$(now_us)

# flanneld's iptables-restore now waits for the lock
restoring() { pgrep -P "$pid" -f '^iptables-restore' >/dev/null; }
wait_until 5 restoring || fail "no iptables-restore waiting for the lock"
fwd_ok && fail "the forward rule came back while the lock was held"
# a lease put meanwhile is programmed at once
etcdctl_sw put -- "$lease" '{"PublicIP":"10.200.0.99","PublicIPv6":null,"BackendType":"host-gw"}' >/dev/null
route_in() { host_exec 1 ip route show proto 158 | grep_q "^$net/24 .*via 10.200.0.99 dev eth0"; }
wait_until 5 route_in || fail "the lease put while the lock is held was not programmed: $(host_exec 1 ip route show proto 158)"
proc_running holder || fail "the lock holder ended before the route was checked"
is_ready 1 || fail "/readyz not 200 while the lock is held"
pass "lock held: iptables-restore waits for it; a lease put meanwhile was routed $((($(now_us) - t_held) / 1000)) ms into the hold; /readyz 200"

wait_until $((HOLD + 5)) proc_exited holder || fail "the lock holder did not end"
wait_until 15 fwd_ok || fail "forward rule not back after the lock was freed: $(have_fwd)"
back_ms=$((($(now_us) - t_held) / 1000))
wait_until 5 proc_exited probe || fail "the prober did not end"
res=$(tail -n 1 "$TMP/probe.out")
info "prober: $res"
read_probe "$res"
((p_probes >= 50)) || fail "only $p_probes probes in ${HOLD}s: $res"
healthz_ok || fail "/healthz failed, or took over 100 ms too often: $res"
((p_lag_samples >= 10)) || fail "too few loop-lag samples: $res"
awk -v l="$p_max_lag_s" 'BEGIN { exit !(l < 0.1) }' || fail "loop lag reached ${p_max_lag_s}s while the lock was held: $res"
log_has 1 "iptables-restore did not finish in 10000 ms" || fail "no message about the restore that outlasted its deadline"
wait_until 5 log_has 1 "The iptables rules are in place again" || fail "no message once the rules were back"
pass "lock held ${HOLD}s: $p_probes /healthz probes, $p_late over 100 ms (max ${p_max_ms} ms), loop lag at most ${p_max_lag_s}s; the restore past its 10 s deadline was killed and the rule was back $back_ms ms after the lock was taken"

grep -q "$TAG" /proc/self/mountinfo && fail "the private /run leaked into the machine's mount namespace"
assert_eq "$(ls -l /run/xtables.lock 2>/dev/null || echo none)" "$machine_lock_before" "the machine's /run/xtables.lock"

# -- nftables mode: nft takes no lock another program could hold (the
# kernel serialises transactions only while each commits), so this shows
# the worker thread at work under the same prober: the table is deleted
# and rewritten every resync while the loop stays free.
nft_ok() { host_exec 1 nft list table ip flannel-ipv4-"$1" 2>/dev/null | grep_q 'masquerade'; }
tb=$(host_exec 1 nft list tables | sed -nE 's/^table ip flannel-ipv4-([0-9a-f]{8})$/\1/p')
[ -n "$tb" ] || fail "no nftables table of the second network: $(host_exec 1 nft list tables)"
wait_until 5 nft_ok "$tb" || fail "nft rules of the second network"
wait_until 25 lag_settled 1b || fail "loop lag of 1b still $(metric 1b flannel_loop_lag_max_seconds)s"
SPAWN_LOG=$TMP/probe2.log spawn probe2 "$(host_ns 1)" python3 "$LIB_DIR/probe.py" 9912 6 "$TMP/probe2.out"
wait_until 10 grep -qs started "$TMP/probe2.out" || fail "the second prober did not start"
for round in 1 2 3; do
	host_exec 1 nft delete table ip "flannel-ipv4-$tb"
	wait_until 5 nft_ok "$tb" || fail "nft table not rewritten (round $round)"
done
wait_until 10 proc_exited probe2 || fail "the second prober did not end"
res=$(tail -n 1 "$TMP/probe2.out")
info "prober (nftables): $res"
read_probe "$res"
healthz_ok || fail "nftables mode: /healthz failed, or took over 100 ms too often: $res"
awk -v l="$p_max_lag_s" 'BEGIN { exit !(l < 0.1) }' || fail "nftables mode: loop lag ${p_max_lag_s}s: $res"
log_has 1b "Some nftables rules were missing or changed" || fail "no message about the rewritten nft table"
pass "nftables mode: table deleted 3 times and rewritten from the worker thread; $p_probes /healthz probes, $p_late over 100 ms (max ${p_max_ms} ms), loop lag at most ${p_max_lag_s}s"
flannel_stop 1b
flannel_stop 1
