#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lease reuse: a restart (SIGTERM or SIGKILL) keeps the subnet; a lost key is re-taken from
# subnet.env; a reservation (key without an etcd lease) is used by the host
# whose PublicIP it names and stays a reservation; two networks under two
# prefixes side by side don't see each other's leases.
#
#	sw: br0 10.200.0.1 + etcd  (/coreos.com/network, /other/network)
#	 |-- h1 10.200.0.11  flanneld 1 (:9911)  flanneld 1b (:9912, /other)
#	 |-- h2 10.200.0.12  flanneld 2 (:9911)  flanneld 2b (:9912, /other)
#	 `-- h3 10.200.0.13  flanneld 3 (:9911)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

OTHER=/other/network
topo_up 3
etcd_start
etcd_put_config "$DEFAULT_CONFIG"
# Host 2's reservation exists from the start, so nobody else takes it.
rk=$ETCD_PREFIX/subnets/10.244.77.0-24
put_lease "$rk" "$(host_ip 2)"

# -- restart keeps the subnet and the key
flannel_start 1
wait_ready 1
s1=$(subnet_of 1)
k1=$(subnet_key_of 1)
[ -n "$s1" ] || fail "no FLANNEL_SUBNET for host 1"
[ -n "$(key_value "$k1")" ] || fail "key $k1 missing in etcd"
flannel_stop 1
[ -n "$(key_value "$k1")" ] || fail "key $k1 gone after SIGTERM (the lease must stay)"
flannel_start 1
wait_ready 1
assert_eq "$(subnet_of 1)" "$s1" "subnet after restart"
assert_eq "$(subnet_keys | grep -vxF "$rk")" "$k1" "keys after restart"
pass "restart keeps $s1 ($k1)"

# -- a crash (SIGKILL) is no different
flannel_kill 1
flannel_start 1
wait_ready 1
assert_eq "$(subnet_of 1)" "$s1" "subnet after SIGKILL and start"
assert_eq "$(subnet_keys | grep -vxF "$rk")" "$k1" "keys after SIGKILL and start"
pass "SIGKILL and start keeps $s1"

# -- key deleted while stopped: the subnet from subnet.env is taken again
flannel_stop 1
etcdctl_sw del -- "$k1" >/dev/null
[ -z "$(key_value "$k1")" ] || fail "could not delete $k1"
flannel_start 1
wait_ready 1
assert_eq "$(subnet_of 1)" "$s1" "subnet after the key was deleted"
[ -n "$(key_value "$k1")" ] || fail "$k1 not re-created"
[ "$(key_lease "$k1")" != 0 ] || fail "$k1 re-created without an etcd lease"
pass "lost key re-acquired from subnet.env: $s1"

# -- a reservation for host 2 is used, and stays a reservation
flannel_start 2
wait_ready 2
assert_eq "$(subnet_of 2)" 10.244.77.1/24 "host 2 subnet (reserved)"
assert_eq "$(key_lease "$rk")" 0 "etcd lease of the reservation $rk"
assert_eq "$(jq -r .PublicIP <<<"$(key_value "$rk")")" "$(host_ip 2)" "PublicIP of the reservation"
pass "reservation 10.244.77.0/24 used by host 2 and kept without a lease"

# -- two networks side by side
flannel_start 3
wait_ready 3
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"alloc"}}' "$OTHER"
for i in 1 2; do
	flannel_start "${i}b" --etcd-prefix="$OTHER" --healthz-port=9912
done
for i in 1 2; do wait_ready "${i}b"; done
for i in 1 2; do
	case $(subnet_of "${i}b") in
	10.245.*) ;;
	*) fail "host $i second network got $(subnet_of "${i}b"), expected 10.245.x" ;;
	esac
done
assert_eq "$(subnet_keys "$OTHER" | wc -l)" 2 "keys under $OTHER"
assert_eq "$(subnet_keys | wc -l)" 3 "keys under $ETCD_PREFIX"
for i in 1 2 3; do
	wait_until 10 metric_eq "$i" flannel_leases_known 2 ||
		fail "flanneld $i: leases_known $(metric "$i" flannel_leases_known || true), expected 2"
done
for i in 1 2; do
	wait_until 10 metric_eq "${i}b" flannel_leases_known 1 ||
		fail "flanneld ${i}b: leases_known $(metric "${i}b" flannel_leases_known || true), expected 1"
done
[ "$(subnet_of 1)" = "$s1" ] || fail "host 1 subnet changed"
pass "two networks: 3 daemons under $ETCD_PREFIX, 2 under $OTHER, each counts its own"

flannel_stop_all 1 2 3 1b 2b
assert_eq "$(key_lease "$rk")" 0 "etcd lease of the reservation after stop"
pass "all daemons exit 0 on SIGTERM"
