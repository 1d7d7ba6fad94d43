#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Go interoperability, compared with what upstream's binary really writes
# rather than with expectations written by hand: per config, upstream's Go
# flanneld v0.20.2 runs first on a host, then ours on the same host with
# the same flags. Ours must reuse Go's lease (same key) and write, field by
# field, the lease value Go wrote (VtepMACs aside: each must be its own
# device's MAC), a subnet.env identical to Go's, and (vxlan) devices with
# Go's attributes: the kernel's vxlan data (VNI, port, learning, GBP, TTL,
# checksums, local address, underlay), MTU, flags and addresses. Go's
# device is deleted before ours starts, so ours creates its own.
#
#	sw: br0 10.200.0.1 fd00:200::1 + etcd
#	 |-- h1 vxlan (defaults)                     /go-vxlan/network
#	 |-- h2 vxlan VNI 7, Port 4789, GBP, Learning /go-vxlan-opts/network
#	 |-- h3 vxlan dual-stack                      /go-vxlan6/network
#	 |-- h4 host-gw dual-stack                    /go-host-gw6/network
#	 |-- h5 udp                                   /go-udp/network
#	 `-- h6 alloc                                 /go-alloc/network
#	host n: eth0 10.200.0.(10+n)/24 fd00:200::(10+n)/64
# The cases run side by side (they share only etcd).
#
# The Go binary: $UPSTREAM_FLANNELD, else ../shared/upstream/flanneld-v0.20.2
# beside the repository. Missing: skip, or fail with CI=true. Its output
# goes to h<n>/upstream.log (see test_mixed_upstream.sh for why).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

require_upstream

topo_up 6
require_vxlan
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
host_ip6() { echo "fd00:200::$((10 + $1))"; }
sw_exec ip -6 addr add fd00:200::1/64 dev br0 nodad
for i in $(seq 1 6); do
	ip -n "$(host_ns "$i")" -6 addr add "$(host_ip6 "$i")/64" dev eth0 nodad
done
etcd_start

# lease_json <prefix> <public-ip>: key and value of the one lease carrying that PublicIP.
lease_json() {
	etcdctl_sw get --prefix -w json -- "$1/subnets/" | jq -c --arg ip "$2" '
		[.kvs[]? | {k: (.key | @base64d), v: (.value | @base64d | fromjson)} | select(.v.PublicIP == $ip)] |
		if length == 1 then .[0] else error("\(length) leases") end'
}
# dev_state <n> <dev>: what the kernel says of a device, MAC and ifindex aside.
dev_state() {
	local ns
	ns=$(host_ns "$1")
	jq -S -c '.[0] | {mtu, flags, operstate, kind: .linkinfo.info_kind, data: .linkinfo.info_data}' \
		<<<"$(ip -n "$ns" -d -j link show dev "$2")"
	ip -n "$ns" -j addr show dev "$2" |
		jq -S -c '[.[0].addr_info[] | select(.scope == "global") | {family, local, prefixlen}] | sort'
}
dev_mac() { ip -n "$(host_ns "$1")" -j link show dev "$2" | jq -r '.[0].address'; }
# strip_macs <lease json>: VtepMACs replaced by the MAC of the device named, checked.
strip_macs() { # n json dev4 dev6
	local n=$1 j=$2 m
	for f in BackendData:$3 BackendV6Data:$4; do
		[ "$(jq -r ".v.${f%%:*}.VtepMAC // empty" <<<"$j")" ] || continue
		m=$(dev_mac "$n" "${f#*:}")
		[ "$(jq -r ".v.${f%%:*}.VtepMAC" <<<"$j")" = "$m" ] ||
			{ echo "VtepMAC in ${f%%:*} is not ${f#*:}'s MAC $m: $j" >&2 && return 1; }
		j=$(jq -c ".v.${f%%:*}.VtepMAC = \"<mac of ${f#*:}>\"" <<<"$j")
	done
	echo "$j"
}
# diff_fields <what> <go json> <c json>: every path of either, with its value, side by side.
diff_fields() {
	local paths
	paths=$(jq -n -c --argjson a "$2" --argjson b "$3" '
		[($a, $b) | paths(scalars)] | unique | .[] as $p |
		select(($a | getpath($p)) != ($b | getpath($p))) |
		{path: ($p | map(tostring) | join(".")), go: ($a | getpath($p)), ours: ($b | getpath($p))}')
	[ -z "$paths" ] || { echo "$1 differs from Go's: $paths" >&2 && return 1; }
}

# one_case <n> <prefix> <config> <devices...>: Go then ours on host n; compare.
one_case() {
	local n=$1 p=$2 config=$3 d go_lease c_lease go_env dev log
	shift 3
	local devs=("$@")
	d=$(inst_dir "$n")
	log=$d/case.log
	mkdir -p "$d"
	etcd_put_config "$config" "$p"
	local flags=("--etcd-endpoints=$ETCD_CLIENT" "--etcd-prefix=$p" "--public-ip=$(host_ip "$n")"
		"--iface=eth0" "--healthz-ip=127.0.0.1" "--healthz-port=$HEALTHZ_PORT")
	[[ $config != *EnableIPv6* ]] || flags+=("--public-ipv6=$(host_ip6 "$n")")

	# -- Go
	SPAWN_LOG=$d/upstream.log spawn "upstream-$n" "$(host_ns "$n")" "$UPSTREAM" "${flags[@]}" \
		"--subnet-file=$d/go.env" -v=1
	wait_until 30 grep -q "Wrote subnet file" "$d/upstream.log" ||
		{ echo "Go did not write subnet.env: $(tail -n 5 "$d/upstream.log")" >"$log" && return 1; }
	go_lease=$(lease_json "$p" "$(host_ip "$n")") || { echo "Go's lease: $go_lease" >"$log" && return 1; }
	go_lease=$(strip_macs "$n" "$go_lease" "${devs[0]:-}" "${devs[1]:-}" 2>>"$log") || return 1
	for dev in "${devs[@]}"; do dev_state "$n" "$dev" >"$d/go.$dev"; done
	local rc=0
	proc_stop "upstream-$n" 15 || rc=$?
	# v0.20.2 panics in its watch goroutine on the way out (exit 2).
	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || { echo "Go exited with $rc" >"$log" && return 1; }
	for dev in "${devs[@]}"; do ip -n "$(host_ns "$n")" link del "$dev" 2>/dev/null || true; done

	# -- ours, same flags, same host: reuses Go's lease
	flannel_start "$n" "${flags[@]}" "--subnet-file=$d/subnet.env"
	wait_until 30 is_ready "$n" || { echo "ours not ready" >"$log" && return 1; }
	c_lease=$(lease_json "$p" "$(host_ip "$n")") || { echo "our lease: $c_lease" >"$log" && return 1; }
	c_lease=$(strip_macs "$n" "$c_lease" "${devs[0]:-}" "${devs[1]:-}" 2>>"$log") || return 1
	diff_fields "lease (key and value)" "$go_lease" "$c_lease" 2>>"$log" || return 1
	go_env=$(cat "$d/go.env")
	[ "$(cat "$d/subnet.env")" = "$go_env" ] ||
		{ printf 'subnet.env differs:\n--- Go\n%s\n--- ours\n%s\n' "$go_env" "$(cat "$d/subnet.env")" >"$log" && return 1; }
	for dev in "${devs[@]}"; do
		[ "$(dev_state "$n" "$dev")" = "$(cat "$d/go.$dev")" ] ||
			{ printf '%s differs:\n--- Go\n%s\n--- ours\n%s\n' "$dev" "$(cat "$d/go.$dev")" "$(dev_state "$n" "$dev")" >"$log" && return 1; }
	done
	flannel_stop "$n"
	echo "key $(jq -r .k <<<"$c_lease" | sed 's|.*/||'), value $(jq -c .v <<<"$c_lease"), subnet.env $(tr '\n' ' ' <"$d/subnet.env")${devs[*]:+, devices ${devs[*]}}" >"$log"
}

cases=(
	"1|/go-vxlan/network|{\"Network\":\"10.241.0.0/16\",\"Backend\":{\"Type\":\"vxlan\"}}|flannel.1"
	"2|/go-vxlan-opts/network|{\"Network\":\"10.242.0.0/16\",\"SubnetLen\":26,\"Backend\":{\"Type\":\"vxlan\",\"VNI\":7,\"Port\":4789,\"GBP\":true,\"Learning\":true}}|flannel.7"
	"3|/go-vxlan6/network|{\"Network\":\"10.243.0.0/16\",\"EnableIPv6\":true,\"IPv6Network\":\"fc00:3::/48\",\"Backend\":{\"Type\":\"vxlan\"}}|flannel.1 flannel-v6.1"
	"4|/go-host-gw6/network|{\"Network\":\"10.244.0.0/16\",\"EnableIPv6\":true,\"IPv6Network\":\"fc00:4::/48\",\"Backend\":{\"Type\":\"host-gw\"}}|"
	"5|/go-udp/network|{\"Network\":\"10.245.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}|"
	"6|/go-alloc/network|{\"Network\":\"10.246.0.0/16\",\"Backend\":{\"Type\":\"alloc\"}}|"
)
pids=()
for c in "${cases[@]}"; do
	IFS='|' read -r n p config devs <<<"$c"
	# shellcheck disable=SC2086 # devs: one word per device
	(one_case "$n" "$p" "$config" $devs) &
	pids+=($!)
done
failed=0
for i in "${!cases[@]}"; do
	IFS='|' read -r n p _ <<<"${cases[$i]}"
	if wait "${pids[$i]}"; then
		pass "$p: $(cat "$(inst_dir "$n")/case.log")"
	else
		echo "FAIL: $p: $(cat "$(inst_dir "$n")/case.log" 2>/dev/null)"
		failed=1
	fi
done
[ "$failed" = 0 ] || fail "ours differs from upstream's Go flanneld (above)"
pass "lease values, subnet.env and vxlan devices as upstream's Go flanneld writes them, for 6 configs"
