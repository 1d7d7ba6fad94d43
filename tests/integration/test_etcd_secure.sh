#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# flanneld against a secured etcd.
#  1. TLS with client-certificate auth (a CA, server and client certificates
#     made here with openssl): with --etcd-cafile/certfile/keyfile the daemon
#     becomes ready; with another CA, or without a client certificate, it
#     does not, and its log names the problem (upstream silently falls back
#     to plain HTTP); a plain http:// endpoint to the TLS port fails too.
#  2. Username/password with etcd's RBAC on: a user limited to the network's
#     prefix becomes ready; a wrong password and a user without rights are
#     refused with the reason in the log. An unused auth token lives 5 s
#     (--auth-token-ttl), the lease 16 s (renewed every 8 s): each renewal
#     outlives a token (keep-alives need none in etcd 3.4): the daemon stays
#     ready, a lease added later still reaches it, and when its key is
#     deleted it authenticates again and takes the same subnet; so after an
#     etcd restart, which forgets every token.
#
#	sw: br0 10.200.0.1  etcd (TLS, then a second one with auth)
#	 |-- h1 10.200.0.11  flanneld 1   the good one
#	 |-- h2 10.200.0.12  flanneld 2   wrong CA / wrong password
#	 `-- h3 10.200.0.13  flanneld 3   no client certificate / no rights
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v openssl >/dev/null || skip "openssl is not installed"

topo_up 3
make_test_pki

# -- 1. TLS
etcd_tls_start 2379
tlsctl put /coreos.com/network/config "$DEFAULT_CONFIG" >/dev/null

flannel_start 1 --etcd-endpoints="$ETCDS" --etcd-cafile="$P/ca.pem" --etcd-certfile="$P/cli.pem" --etcd-keyfile="$P/cli-key.pem"
flannel_start 2 --etcd-endpoints="$ETCDS" --etcd-cafile="$P/other.pem" --etcd-certfile="$P/cli.pem" --etcd-keyfile="$P/cli-key.pem"
flannel_start 3 --etcd-endpoints="$ETCDS" --etcd-cafile="$P/ca.pem"
wait_ready 1
[ -n "$(tlsctl get --print-value-only -- "$(subnet_key_of 1)")" ] || fail "h1's lease is not in the TLS etcd"
wait_until 15 log_has 2 "certificate verify failed" || fail "no clear error for the wrong CA: $(tail -n 3 "$(inst_dir 2)/flanneld.log")"
wait_until 15 log_has 3 "client certificate" || fail "no clear error for the missing client certificate: $(tail -n 3 "$(inst_dir 3)/flanneld.log")"
for i in 2 3; do
	is_ready "$i" && fail "flanneld $i is ready against the TLS etcd"
	flannel_running "$i" || fail "flanneld $i exited instead of retrying"
done
info "wrong CA: $(grep -m1 -o 'certificate verify failed[^;]*' "$(inst_dir 2)/flanneld.log")"
info "no client cert: $(grep -m1 -o 'TLS: [^;]*' "$(inst_dir 3)/flanneld.log")"
flannel_stop_all 2 3
flannel_start 2 --etcd-endpoints="http://$SW_IP:2379"
wait_until 15 eval 'grep -q "etcd request failed: http://$SW_IP:2379" "$(inst_dir 2)/flanneld.log"' ||
	fail "no error for plain HTTP to the TLS port: $(tail -n 3 "$(inst_dir 2)/flanneld.log")"
is_ready 2 && fail "flanneld 2 became ready over plain HTTP to a TLS etcd"
pass "TLS: with CA and client certificate ready; wrong CA, no client certificate and plain HTTP refused with the reason logged"
flannel_stop_all 1 2
proc_stop etcd-tls 15 || true

# -- 2. RBAC: users, roles, token expiry
etcd_start_auth() {
	SPAWN_LOG=$ETCD_LOG SPAWN_LOG_APPEND=1 spawn etcd "$SW_NS" etcd --name flt --data-dir "$ETCD_DATA" \
		--listen-client-urls "$ETCD_CLIENT,http://127.0.0.1:2379" --advertise-client-urls "$ETCD_CLIENT" \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster flt=http://127.0.0.1:2380 --auth-token simple --auth-token-ttl 5 \
		--logger zap --log-outputs stderr
	wait_until 20 etcd_healthy || fail "etcd did not become healthy"
}
mkdir -p "$ETCD_DATA"
chmod 700 "$ETCD_DATA"
etcd_start_auth
root() { etcdctl_sw --user root:rootpw "$@"; }
etcdctl_sw user add root:rootpw >/dev/null
etcdctl_sw user grant-role root root >/dev/null
etcdctl_sw user add flannel:flpw >/dev/null
etcdctl_sw role add flannel >/dev/null
etcdctl_sw role grant-permission flannel --prefix=true readwrite /coreos.com/network/ >/dev/null
etcdctl_sw user grant-role flannel flannel >/dev/null
etcdctl_sw user add nobody:nopw >/dev/null
etcdctl_sw auth enable >/dev/null
root put /coreos.com/network/config "$DEFAULT_CONFIG" >/dev/null
etcdctl_sw get /coreos.com/network/config >/dev/null 2>&1 && fail "etcd answers without credentials: auth is not on"

flannel_start 1 --etcd-username=flannel --etcd-password=flpw --subnet-lease-ttl=16
flannel_start 2 --etcd-username=flannel --etcd-password=wrong
flannel_start 3 --etcd-username=nobody --etcd-password=nopw
wait_ready 1
wait_until 15 log_has 2 "authentication failed" || fail "no clear error for the wrong password: $(tail -n 3 "$(inst_dir 2)/flanneld.log")"
wait_until 15 log_has 3 "permission denied" || fail "no clear error for the user without rights: $(tail -n 3 "$(inst_dir 3)/flanneld.log")"
for i in 2 3; do is_ready "$i" && fail "flanneld $i is ready with bad credentials"; done
info "wrong password: $(grep -m1 -o 'authentication failed[^;]*' "$(inst_dir 2)/flanneld.log")"
info "no rights: $(grep -m1 -o 'permission denied[^;]*' "$(inst_dir 3)/flanneld.log")"
flannel_stop_all 2 3

key=$(subnet_key_of 1)
lease=$(root get -w fields -- "$key" | awk -F' : ' '$1 == "\"Lease\"" { print $2 }')
acq=$(metric 1 flannel_lease_acquisitions_total)
hold_for 20 is_ready 1 || fail "flanneld 1 stopped being ready as its tokens expired"
renewals=$(grep -c "Lease renewed" "$(inst_dir 1)/flanneld.log" || true)
((renewals >= 2)) || fail "only $renewals renewals in 20 s with a 16 s lease"
wait_until 10 log_has 1 "Lease renewed" || fail "no renewal"
assert_eq "$(root get -w fields -- "$key" | awk -F' : ' '$1 == "\"Lease\"" { print $2 }')" "$lease" "etcd lease of h1's key after 20 s of 5 s tokens"
assert_eq "$(metric 1 flannel_lease_acquisitions_total)" "$acq" "acquisitions while tokens expired"
# Fake peers on subnets h1 does not hold (its own is picked at random).
own=$(subnet_of 1)
own=${own#10.244.}
own=${own%%.*}
mapfile -t fake < <(for x in 250 251 252; do [ "$x" = "$own" ] || echo "/coreos.com/network/subnets/10.244.$x.0-24"; done)
root put -- "${fake[0]}" "$(lease_value 10.200.0.99)" >/dev/null
wait_until 15 metric_eq 1 flannel_leases_known 1 || fail "a lease added after token expiry did not reach flanneld 1"
# Keep-alives need no token (etcd 3.4); taking the lease again does.
subnet=$(subnet_of 1)
root del -- "$key" >/dev/null
wait_until 30 eval '[ -n "$(root get --print-value-only -- "$key")" ]' || fail "flanneld 1 did not take its lease again"
log_has 1 "authenticating again" || fail "no re-authentication with the expired token"
assert_eq "$(subnet_of 1)" "$subnet" "h1's subnet after taking its lease again"
# etcd restarted: its simple tokens are gone, the daemon logs in again
etcd_stop
etcd_start_auth
root put -- "${fake[1]}" "$(lease_value 10.200.0.98)" >/dev/null
wait_until 30 metric_eq 1 flannel_leases_known 2 || fail "a lease added after the etcd restart did not reach flanneld 1"
wait_ready 1 30
pass "RBAC: the prefix's user ready; wrong password and no rights refused with the reason; $renewals renewals past 5 s tokens and an etcd restart: lease kept, new leases seen"
flannel_stop 1
