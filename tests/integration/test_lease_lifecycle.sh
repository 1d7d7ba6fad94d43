#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Own-lease life cycle with a short etcd lease (--subnet-lease-ttl=8, so the
# keep-alive runs every ttl/2 = 4 s):
#  1. renewal keeps the same etcd lease on the key and creates no new ones;
#  2. our key deleted while running: the same subnet is taken again,
#     subnet.env is not touched, and the old etcd lease is revoked;
#  3. our key expired while the daemon was frozen (SIGSTOP): after SIGCONT
#     the same subnet is taken again;
#  4. our key taken over by another host's value: a different subnet is
#     acquired, subnet.env rewritten, our old etcd lease revoked and the
#     other host's key left alone.
# flanneld 2 (default TTL) runs throughout; its leases_known follows.
#
#	sw: br0 10.200.0.1 + etcd  <-- etcdctl del / put (PublicIP 10.200.0.99)
#	 |-- h1 10.200.0.11  flanneld 1 --subnet-lease-ttl=8 (SIGSTOP/SIGCONT)
#	 `-- h2 10.200.0.12  flanneld 2 (default TTL)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

TTL=8
OTHER_IP=10.200.0.99

# lease_count: how many etcd leases exist ("found N leases").
lease_count() {
	etcdctl_sw lease list | awk 'NR == 1 && $1 == "found" { print $2 }'
}
lease_count_eq() { [ "$(lease_count)" = "$1" ]; }

# lease_ttl <decimal id>: remaining TTL of an etcd lease, -1 once gone.
lease_ttl() {
	etcdctl_sw lease timetolive -w json "$(printf '%x' "$1")" | jq -r .ttl
}

lease_gone() { [ "$(lease_ttl "$1")" = -1 ]; } # decimal id

key_gone() { [ -z "$(key_value "$1")" ]; }
key_public_ip() { key_value "$1" | jq -r .PublicIP; }
key_mod_rev() { etcdctl_sw get -w json -- "$1" | jq -r '.kvs[0].mod_revision'; }

# key_is_host <key> <host>: the key exists with that host's PublicIP.
key_is_host() { [ "$(key_public_ip "$1" 2>/dev/null)" = "$(host_ip "$2")" ]; }

subnet_moved() { [ "$(subnet_of "$1")" != "$2" ]; } # id old-subnet

know() { # count ids...
	local want=$1 i
	shift
	for i in "$@"; do metric_eq "$i" flannel_leases_known "$want" || return 1; done
}
known() { # ids...: "h1=N h2=M" for messages
	local i
	for i in "$@"; do printf 'h%s=%s ' "$i" "$(metric "$i" flannel_leases_known || echo '?')"; done
}

# File identity of subnet.env: inode and mtime (ns). Unchanged means the
# file was not rewritten at all.
env_stamp() { stat -c '%i %.9Y' "$(inst_dir "$1")/subnet.env"; }

# Renewal tracking on flanneld 1: exp_track resets; exp_advanced N is true
# once flannel_own_lease_expiry_seconds has moved forward N times.
exp_track() {
	EXP_LAST=$(metric 1 flannel_own_lease_expiry_seconds) || fail "no expiry metric"
	[ "$EXP_LAST" -gt 0 ] || fail "flannel_own_lease_expiry_seconds is $EXP_LAST"
	EXP_N=0
	EXP_DELTAS=()
}
exp_advanced() {
	local v
	v=$(metric 1 flannel_own_lease_expiry_seconds) || return 1
	if [ "$v" -gt "$EXP_LAST" ]; then
		EXP_DELTAS+=($((v - EXP_LAST)))
		EXP_LAST=$v
		EXP_N=$((EXP_N + 1))
	fi
	[ "$EXP_N" -ge "$1" ]
}
# wait_renewals <what>: two keep-alives, each ~ttl/2 (4 s, 3..5 with
# whole-second rounding) after the previous one.
wait_renewals() {
	local d
	exp_track
	wait_until $((TTL * 2 + 4)) exp_advanced 2 ||
		fail "$1: expiry advanced $EXP_N times (${EXP_DELTAS[*]:-}) in $((TTL * 2 + 4))s, expected 2"
	for d in "${EXP_DELTAS[@]}"; do
		((d >= TTL / 2 - 1 && d <= TTL / 2 + 1)) ||
			fail "$1: renewal moved the expiry by ${d}s, expected ~$((TTL / 2))s (ttl/2): ${EXP_DELTAS[*]}"
	done
}

acquisitions() { metric 1 flannel_lease_acquisitions_total; }

assert_alive() { # what
	flannel_running 1 || fail "$1: flanneld 1 exited (rc $(proc_rc flanneld-1))"
	assert_eq "$(flannel_pid 1)" "$pid1" "$1: flanneld 1 pid"
	flannel_running 2 || fail "$1: flanneld 2 exited (rc $(proc_rc flanneld-2))"
}

topo_up 2
etcd_start
etcd_put_config "$DEFAULT_CONFIG"
flannel_start 1 --subnet-lease-ttl=$TTL
flannel_start 2
wait_ready 1
wait_ready 2
pid1=$(flannel_pid 1)
s1=$(subnet_of 1)
k1=$(subnet_key_of 1)
net1=${k1##*/}
net1=${net1/-//} # 10.244.X.0/24, as the log spells it
k2=$(subnet_key_of 2)
[[ -n $s1 && -n $k2 ]] || fail "no subnet.env for the daemons"
[ "$k1" != "$k2" ] || fail "both daemons hold $k1"
cp "$(inst_dir 1)/subnet.env" "$TMP/subnet.env.1"
stamp1=$(env_stamp 1)
cp "$(inst_dir 2)/subnet.env" "$TMP/subnet.env.2"
lease2=$(key_lease "$k2")
wait_until 10 know 1 1 2 || fail "daemons do not see each other: $(known 1 2)"

# -- 1. renewal: same etcd lease, no new leases
lease1=$(key_lease "$k1")
[[ -n $lease1 && $lease1 != 0 ]] || fail "$k1 has no etcd lease ('$lease1')"
n0=$(lease_count)
assert_eq "$n0" 2 "etcd leases with two daemons"
ttl=$(lease_ttl "$lease1")
((ttl > 0 && ttl <= TTL)) || fail "lease of $k1: TTL $ttl, expected 1..$TTL"
acq=$(acquisitions)
assert_eq "$acq" 1 "acquisitions at start"
wait_renewals "renewal"
key_is_host "$k1" 1 || fail "$k1 lost after renewals: '$(key_value "$k1")'"
assert_eq "$(key_lease "$k1")" "$lease1" "etcd lease of $k1 after 2 renewals"
assert_eq "$(lease_count)" "$n0" "etcd lease count after 2 renewals"
ttl=$(lease_ttl "$lease1")
((ttl > 0)) || fail "lease of $k1: TTL $ttl after renewals"
assert_eq "$(acquisitions)" "$acq" "acquisitions after renewals"
log_has 1 "Lease renewed, new expiration in" || fail "no 'Lease renewed' in flanneld 1's log"
know 1 1 2 || fail "leases_known after renewals: $(known 1 2)"
pass "2 keep-alives of lease $(printf '%x' "$lease1") (expiry +${EXP_DELTAS[*]}s), TTL left ${ttl}s, still $n0 etcd leases"

# -- 2. key deleted while running
etcdctl_sw del -- "$k1" >/dev/null
wait_until 10 key_is_host "$k1" 1 || fail "$k1 not re-created after delete: '$(key_value "$k1")'"
wait_until 10 metric_ge 1 flannel_lease_acquisitions_total $((acq + 1)) ||
	fail "acquisitions $(acquisitions), expected $((acq + 1))"
wait_ready 1
assert_alive "after delete"
log_has 1 "Our lease $net1" "was deleted or has expired; re-acquiring" ||
	fail "no 'was deleted or has expired; re-acquiring' in flanneld 1's log"
assert_eq "$(subnet_key_of 1)" "$k1" "subnet key after delete"
cmp -s "$TMP/subnet.env.1" "$(inst_dir 1)/subnet.env" || fail "subnet.env changed after delete"
assert_eq "$(env_stamp 1)" "$stamp1" "subnet.env inode/mtime after delete"
lease1b=$(key_lease "$k1")
[[ -n $lease1b && $lease1b != 0 ]] || fail "$k1 re-created without an etcd lease"
# The old etcd lease lost its key: the daemon revokes it at once (not left
# to run out: with the default TTL that is a day). It had >= ttl/2 = 4 s
# left at the delete, so "gone within 2 s" is the revoke, not the expiry.
wait_until 2 lease_gone "$lease1" ||
	fail "old etcd lease $(printf '%x' "$lease1") not revoked: TTL $(lease_ttl "$lease1")"
[ "$lease1b" != "$lease1" ] || fail "$k1 re-created on the old (revoked) lease"
assert_eq "$(lease_count)" "$n0" "etcd leases after delete"
key_is_host "$k1" 1 || fail "$k1 gone after the old lease ended: '$(key_value "$k1")'"
assert_eq "$(key_lease "$k1")" "$lease1b" "etcd lease of $k1 after the old lease ended"
wait_until 10 know 1 1 2 || fail "leases_known after delete: $(known 1 2)"
acq=$(acquisitions)
assert_eq "$acq" 2 "acquisitions after delete"
pass "deleted key re-acquired as $k1 (lease $(printf '%x' "$lease1b")), subnet.env untouched, $n0 etcd leases"

# -- 3. key expired while frozen
lease1=$lease1b
proc_signal flanneld-1 STOP
wait_until $((TTL + 5)) key_gone "$k1" || fail "$k1 still there $((TTL + 5))s after SIGSTOP"
wait_until 10 metric_eq 2 flannel_leases_known 0 ||
	fail "flanneld 2 still counts the expired key: $(known 2)"
proc_signal flanneld-1 CONT
wait_until 15 key_is_host "$k1" 1 || fail "$k1 not re-created after SIGCONT: '$(key_value "$k1")'"
wait_until 10 metric_ge 1 flannel_lease_acquisitions_total $((acq + 1)) ||
	fail "acquisitions $(acquisitions), expected $((acq + 1))"
wait_ready 1
assert_alive "after SIGSTOP/SIGCONT"
log_has 1 "Our lease $net1" "re-acquiring" || fail "no 're-acquiring' in flanneld 1's log after SIGCONT"
assert_eq "$(subnet_key_of 1)" "$k1" "subnet key after expiry"
cmp -s "$TMP/subnet.env.1" "$(inst_dir 1)/subnet.env" || fail "subnet.env changed after expiry"
assert_eq "$(env_stamp 1)" "$stamp1" "subnet.env inode/mtime after expiry"
lease1c=$(key_lease "$k1")
[[ -n $lease1c && $lease1c != 0 && $lease1c != "$lease1" ]] ||
	fail "etcd lease of $k1 after expiry: '$lease1c' (old $lease1)"
assert_eq "$(lease_ttl "$lease1")" -1 "TTL of the expired lease"
wait_until 5 lease_count_eq "$n0" || fail "etcd leases after expiry: $(lease_count), expected $n0"
wait_until 10 know 1 1 2 || fail "leases_known after expiry: $(known 1 2)"
assert_eq "$(acquisitions)" $((acq + 1)) "acquisitions after expiry"
acq=$(acquisitions)
pass "expired key re-acquired as $k1 after SIGCONT (lease $(printf '%x' "$lease1c")), subnet.env untouched"

# -- 4. key taken over by another host
lease1=$lease1c
other=$(etcd_lease_grant 3600)
put_lease "$k1" "$OTHER_IP" "$other"
other_rev=$(key_mod_rev "$k1")
wait_until 10 metric_ge 1 flannel_lease_acquisitions_total $((acq + 1)) ||
	fail "no new acquisition after take-over: $(acquisitions)"
wait_until 5 subnet_moved 1 "$s1" || fail "subnet.env still says $s1 after take-over"
wait_ready 1
assert_alive "after take-over"
log_has 1 "Our lease $k1 was taken over by $OTHER_IP" || fail "no 'was taken over' in flanneld 1's log"
s1n=$(subnet_of 1)
k1n=$(subnet_key_of 1)
net1n=${k1n##*/}
net1n=${net1n/-//}
[[ -n $k1n && $k1n != "$k1" && $k1n != "$k2" ]] || fail "new key $k1n after take-over (old $k1, host 2 $k2)"
key_is_host "$k1n" 1 || fail "$k1n in subnet.env but etcd has '$(key_value "$k1n")'"
lease1n=$(key_lease "$k1n")
[ "$lease1n" != 0 ] || fail "$k1n without an etcd lease"
log_has 1 "Our subnet changed from $net1 to $net1n" || fail "no 'Our subnet changed' in flanneld 1's log"
# Our old etcd lease (it carries no key now) is revoked; the other host's
# key, on its own lease, stays exactly as written (checked after 2 renewals).
wait_until 2 lease_gone "$lease1" ||
	fail "old etcd lease $(printf '%x' "$lease1") not revoked: TTL $(lease_ttl "$lease1")"
assert_eq "$(lease_count)" $((n0 + 1)) "etcd leases after take-over"
wait_until 10 know 2 1 2 || fail "leases_known after take-over: $(known 1 2), expected 2"
wait_renewals "renewal after take-over"
assert_eq "$(key_lease "$k1n")" "$lease1n" "etcd lease of $k1n after 2 renewals"
ttl=$(lease_ttl "$lease1n")
((ttl > 0)) || fail "lease of $k1n: TTL $ttl after renewals"
assert_eq "$(key_public_ip "$k1")" "$OTHER_IP" "PublicIP of $k1 (taken over)"
assert_eq "$(key_mod_rev "$k1")" "$other_rev" "mod_revision of $k1 (taken over)"
assert_eq "$(acquisitions)" $((acq + 1)) "acquisitions after take-over"
assert_eq "$(subnet_keys | sort | tr '\n' ' ')" "$(printf '%s\n' "$k1" "$k1n" "$k2" | sort | tr '\n' ' ')" \
	"keys after take-over"
assert_eq "$(lease_count)" $((n0 + 1)) "etcd leases after take-over and 2 renewals"
pass "taken-over $k1 left to $OTHER_IP; now $s1n ($k1n), subnet.env rewritten"

# -- the other host goes away: back to one peer each; host 2 never moved
etcdctl_sw lease revoke "$other" >/dev/null
wait_until 10 know 1 1 2 || fail "leases_known after the other host left: $(known 1 2)"
assert_eq "$(lease_count)" "$n0" "etcd leases at the end"
assert_eq "$(subnet_of 1)" "$s1n" "flanneld 1 subnet at the end"
assert_eq "$(key_lease "$k2")" "$lease2" "etcd lease of flanneld 2's key"
cmp -s "$TMP/subnet.env.2" "$(inst_dir 2)/subnet.env" || fail "flanneld 2's subnet.env changed"
assert_alive "at the end"
pass "flanneld 2 kept $k2 throughout and followed every change"

flannel_stop_all 1 2
pass "both daemons exit 0 on SIGTERM"
