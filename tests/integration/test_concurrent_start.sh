#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Race-free allocation: 20 daemons released at the same instant get 20
# distinct subnets (subnet.env files and etcd keys agree), all stay up and
# each learns the other 19 leases. Five rounds, leases cleared in between.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1  10.200.0.11  flanneld --.
#	 |-- h2  10.200.0.12  flanneld   |  all blocked on one FIFO gate,
#	 |   ...                         |  released together
#	 `-- h20 10.200.0.30  flanneld --'
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

N=${N:-20}
ROUNDS=${ROUNDS:-5}
SUBNETS=$ETCD_PREFIX/subnets/

ids() { seq 1 "$N"; }

not_ready() {
	local i out=()
	for i in $(ids); do is_ready "$i" || out+=("$i"); done
	echo "${out[*]}"
}
all_ready() { [ -z "$(not_ready)" ]; }
all_env_written() {
	local i
	for i in $(ids); do [ -s "$TMP/h$i/subnet.env" ] || return 1; done
}

not_at_gate() {
	local i out=()
	for i in $(ids); do gate_blocked "flanneld-$i" || out+=("$i"); done
	echo "${out[*]}"
}

all_know_others() {
	local i
	for i in $(ids); do
		metric_eq "$i" flannel_leases_known $((N - 1)) || return 1
	done
}

topo_up "$N"
etcd_start
etcd_put_config "$DEFAULT_CONFIG"

for round in $(seq 1 "$ROUNDS"); do
	gate_open
	for i in $(ids); do
		FLANNEL_GATE=$GATE flannel_start "$i"
	done
	# Every daemon must be waiting at the gate, or the release is not one instant.
	# shellcheck disable=SC2046 # word splitting of ids is intended
	wait_until 20 gate_blocked $(ids | sed 's/^/flanneld-/') ||
		fail "round $round: not every daemon blocked on the gate; not waiting: $(not_at_gate)"
	gate_release
	# subnet.env comes just before /readyz turns 200: wait for the files
	# without forking, then ask every daemon (20 curls a poll are costly).
	wait_until 60 all_env_written || true
	wait_until 60 all_ready || fail "round $round: not ready after 60s: $(not_ready)"

	# Distinct subnets in subnet.env ...
	for i in $(ids); do subnet_of "$i"; done | sort >"$TMP/subnets"
	assert_eq "$(grep -c . "$TMP/subnets")" "$N" "round $round: subnet.env files with FLANNEL_SUBNET"
	assert_eq "$(sort -u "$TMP/subnets" | wc -l)" "$N" "round $round: distinct subnets"
	# ... and exactly those keys in etcd, each naming its owner.
	subnet_keys | sort >"$TMP/keys"
	assert_eq "$(wc -l <"$TMP/keys")" "$N" "round $round: keys under $SUBNETS"
	for i in $(ids); do subnet_key_of "$i"; done | sort >"$TMP/keys.env"
	diff -u "$TMP/keys.env" "$TMP/keys" || fail "round $round: etcd keys differ from subnet.env files"
	# One read of etcd for every key's PublicIP and etcd lease ("key ip lease").
	etcdctl_sw get --prefix -w json "$SUBNETS" |
		jq -r '.kvs[] | [(.key | @base64d), (.value | @base64d | fromjson | .PublicIP), (.lease // 0)] | @tsv' \
			>"$TMP/leases"
	for i in $(ids); do
		k=$(subnet_key_of "$i")
		read -r _ ip lease < <(awk -F'\t' -v k="$k" '$1 == k' "$TMP/leases")
		[ "${ip:-}" = "$(host_ip "$i")" ] || fail "round $round: $k has PublicIP '${ip:-}', expected $(host_ip "$i")"
		[ "${lease:-0}" != 0 ] || fail "round $round: $k has no etcd lease"
	done

	wait_until 30 all_know_others || {
		for i in $(ids); do echo "h$i leases_known=$(metric "$i" flannel_leases_known || echo '?')"; done
		fail "round $round: not every daemon knows the other $((N - 1)) leases"
	}
	for i in $(ids); do
		flannel_running "$i" || fail "round $round: flanneld $i exited"
	done

	# shellcheck disable=SC2046 # word splitting of ids is intended
	flannel_stop_all $(ids)
	gate_close
	etcd_revoke_all
	etcdctl_sw del --prefix "$SUBNETS" >/dev/null
	for i in $(ids); do rm -f "$(inst_dir "$i")/subnet.env"; done
	assert_eq "$(subnet_keys | wc -l)" 0 "keys left after clearing"
	pass "round $round: $N daemons, $N distinct subnets, each knows $((N - 1)) peers"
done
