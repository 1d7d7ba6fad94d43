#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mixed cluster: upstream's Go flanneld v0.20.2 on one host, this daemon on
# the two others, sharing one etcd network, for vxlan, host-gw and udp
# (IPv4) and dual-stack vxlan and host-gw (EnableIPv6 + IPv6Network). Per
# case: three distinct leases of the same shape (the C leases have exactly
# the JSON paths of Go's; VtepMACs are the devices' MACs); subnet.env on
# all three exactly as upstream writes it for the host's lease; each host
# programs the others' routes, neighbours and FDB entries (Go from the C
# leases, ours from Go's); containers ping (and ping6) across all six
# ordered pairs (Go->C, C->Go, C->C). Lifecycle, both ways: with Go
# stopped the C hosts keep talking and keep Go's entries; Go restarted
# after its kernel state for the C hosts was removed (vxlan: its devices,
# so a new VtepMAC) keeps its lease and subnet, programs the C hosts again,
# and the C hosts take its new VtepMACs; a C host stopped and its lease
# deleted disappears from the Go host (and the other C host); Go stopped
# and its lease deleted disappears from the C host.
#
#	sw: br0 10.200.0.1 fd00:200::1 + etcd
#	 |-- h1  Go  h2, h3  C   vxlan             10.245/16  /mx-vxlan/network
#	 |-- h4  Go  h5, h6  C   host-gw           10.246/16  /mx-host-gw/network
#	 |-- h7  Go  h8, h9  C   udp               10.247/16  /mx-udp/network
#	 |-- h10 Go  h11,h12 C   vxlan dual-stack  10.248/16 fc00:4::/48  /mx-vxlan6/network
#	 `-- h13 Go  h14,h15 C   host-gw dual      10.249/16 fc00:5::/48  /mx-host-gw6/network
#	host n: eth0 10.200.0.(10+n)/24 (h10..h15 also fd00:200::(10+n)/64)
#	        cni0 <FLANNEL_SUBNET> [<FLANNEL_IPV6_SUBNET>] -- container n (.2 / ::2)
# The five cases run side by side (they share only etcd), about a minute
# in all.
#
# The Go binary: $UPSTREAM_FLANNELD, else ../shared/upstream/flanneld-v0.20.2
# beside the repository (see its README). Missing: skip, or fail with CI=true.
# Its output goes to h<n>/upstream.log, not flanneld.log: it is not a
# sanitized build, and its shutdown panic ("panic: runtime error: index out
# of range") would read as a sanitizer report there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

require_upstream

topo_up 15
require_vxlan
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
host_ip6() { echo "fd00:200::$((10 + $1))"; }
sw_exec ip -6 addr add fd00:200::1/64 dev br0 nodad
for i in $(seq 10 15); do # the dual-stack cases' hosts
	ip -n "$(host_ns "$i")" -6 addr add "$(host_ip6 "$i")/64" dev eth0 nodad
	host_exec "$i" sysctl -qw net.ipv6.conf.all.forwarding=1
done
etcd_start

# ---------------------------------------------------------------- helpers
#
# The checks below are polled, by five cases at once on a machine that may
# be busy: they read kernel state with `ip -n`/`bridge -n` (no mount
# namespace per call) and take per-host values from arrays filled once the
# leases are checked, rather than spawning a pipeline per value.
#
# Per host n: PUB4[n] PUB6[n] (PublicIP/PublicIPv6), N4[n] N6[n] (its
# subnets, 10.245.7.0/24 fc00:4:0:3::/64), C4[n] C6[n] (its container's
# addresses), MAC4[n] MAC6[n] (VtepMACs of its lease).
declare -A PUB4 PUB6 N4 N6 C4 C6 MAC4 MAC6

# has_line <text> <line>: text has exactly that line (no process).
has_line() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]; }
# has_prefix <text> <start>: some line of text starts with <start>.
has_prefix() { [[ $'\n'$1 == *$'\n'"$2"* ]]; }

# go_start <n>: upstream flanneld in host n, flags as lib.sh gives ours.
go_start() {
	local n=$1 d extra=()
	d=$(inst_dir "$n")
	mkdir -p "$d"
	[ -s "$d/upstream.log" ] && cat "$d/upstream.log" >>"$d/upstream.log.prev"
	[ "$DUAL" = 0 ] || extra=("--public-ipv6=$(host_ip6 "$n")")
	SPAWN_LOG=$d/upstream.log spawn "upstream-$n" "$(host_ns "$n")" "$UPSTREAM" \
		"--etcd-endpoints=$ETCD_CLIENT" "--etcd-prefix=$P" "--subnet-file=$d/subnet.env" \
		"--public-ip=$(host_ip "$n")" --iface=eth0 --healthz-ip=127.0.0.1 "--healthz-port=$HEALTHZ_PORT" \
		-v=1 "${extra[@]}"
}
# go_watching <log>: upstream wrote subnet.env and started its lease watch.
go_watching() {
	grep -q "Wrote subnet file" "$1" && grep -qi "watching for new subnet leases" "$1"
}
go_wait() {
	local log
	log=$(inst_dir "$1")/upstream.log
	wait_until 20 go_watching "$log" || fail "$CASE: upstream flanneld on host $1 did not start: $(tail -n 5 "$log")"
	go_alive "$1"
}
go_alive() {
	proc_running "upstream-$1" ||
		fail "$CASE: upstream flanneld on host $1 exited ($(proc_rc "upstream-$1")): $(tail -n 5 "$(inst_dir "$1")/upstream.log")"
}
# go_stop <n>: SIGTERM. v0.20.2 panics in its watch goroutine on the way out
# (exit 2, "index out of range" in registry.go): that is a normal stop here.
go_stop() {
	local rc=0
	proc_stop "upstream-$1" 15 || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || fail "$CASE: upstream flanneld on host $1 exited with $rc after SIGTERM (expected 0 or 2)"
}

# lease_of <n>: host n's lease in $P, found by its PublicIP, as lines: key,
# the JSON paths of the value, PublicIPv6, BackendType, BackendData,
# BackendV6Data (one etcd request, one jq). Fails unless exactly one.
lease_of() {
	local out
	out=$(etcdctl_sw get --prefix -w json -- "$P/subnets/" | jq -r --arg ip "${PUB4[$1]}" '
		[.kvs[]? | {k: (.key | @base64d), v: (.value | @base64d | fromjson)} | select(.v.PublicIP == $ip)] |
		if length == 1 then .[0] | .k, (.v | [paths] | tojson), (.v.PublicIPv6 // "null"), (.v.BackendType // "none"),
			(.v.BackendData | tojson), (.v.BackendV6Data | tojson), (.v | tojson)
		else error("\(length) leases") end') || return 1
	echo "$out"
}
# key_of <n>: the key of host n's lease.
key_of() { local l; l=$(lease_of "$1") && echo "${l%%$'\n'*}"; }
# key_net4/key_net6 <key>: the subnets a key names (10.245.7.0-24&fc00:4:0:3::-64).
key_net4() { local b=${1##*/}; b=${b%%&*}; echo "${b%-*}/${b##*-}"; }
key_net6() { local b=${1##*/}; [[ $b == *"&"* ]] || return 1; b=${b#*&}; echo "${b%-*}/${b##*-}"; }

# env_expected <key>: subnet.env as upstream writes it for that lease.
env_expected() {
	local n4 n6
	n4=$(key_net4 "$1")
	echo "FLANNEL_NETWORK=$NET"
	echo "FLANNEL_SUBNET=$(ip_add "${n4%/*}" 1)/${n4#*/}"
	if [ "$DUAL" = 1 ]; then
		n6=$(key_net6 "$1")
		echo "FLANNEL_IPV6_NETWORK=$NET6"
		echo "FLANNEL_IPV6_SUBNET=${n6%/*}1/${n6#*/}"
	fi
	echo "FLANNEL_MTU=$MTU"
	echo "FLANNEL_IPMASQ=false"
}

dev_mac() { # host dev
	local mac
	read -r _ _ mac _ <<<"$(ip -n "$FLT_PREFIX-h$1" -br link show dev "$2")"
	echo "$mac"
}

# Kernel state, normalised: our routes carry "nhid N" (nexthop objects)
# and "proto 158", upstream's neither; both are the same forwarding entry.
routes4() { ip -n "$FLT_PREFIX-h$1" -4 route show | sed -E 's/ nhid [0-9]+//; s/ proto 158//; s/ *$//'; }
routes6() { ip -n "$FLT_PREFIX-h$1" -6 route show | sed -E 's/ nhid [0-9]+//; s/ proto 158//; s/ pref medium//; s/ *$//'; }
neighs() { ip -n "$FLT_PREFIX-h$1" neigh show dev "$2" | sed 's/ *$//'; }
fdbs() { bridge -n "$FLT_PREFIX-h$1" fdb show dev "$2" | sed 's/ *$//'; }
kstate() {
	printf '%s\n' "routes:" "$(routes4 "$1")"
	[ "$DUAL" = 0 ] || routes6 "$1" | grep -v '^fe80'
	if [ "$BE" = vxlan ]; then
		printf '%s\n' "neighbours/FDB:" "$(neighs "$1" flannel.1)" "$(fdbs "$1" flannel.1)"
		[ "$DUAL" = 0 ] || printf '%s\n' "$(neighs "$1" flannel-v6.1)" "$(fdbs "$1" flannel-v6.1)"
	fi
}

# has_entries <h> <p>: host h holds what its backend programs for peer p,
# with p's MACs from p's lease (which is checked against p's devices).
has_entries() {
	local h=$1 p=$2 n4=${N4[$2]} n6=${N6[$2]}
	case $BE in
	vxlan)
		has_line "$(routes4 "$h")" "$n4 via ${n4%/*} dev flannel.1 onlink" &&
			has_line "$(neighs "$h" flannel.1)" "${n4%/*} lladdr ${MAC4[$p]} PERMANENT" &&
			has_line "$(fdbs "$h" flannel.1)" "${MAC4[$p]} dst ${PUB4[$p]} self permanent" || return 1
		[ "$DUAL" = 0 ] && return 0
		has_line "$(routes6 "$h")" "$n6 via ${n6%/*} dev flannel-v6.1 metric 1024 onlink" &&
			has_line "$(neighs "$h" flannel-v6.1)" "${n6%/*} lladdr ${MAC6[$p]} PERMANENT" &&
			has_line "$(fdbs "$h" flannel-v6.1)" "${MAC6[$p]} dst ${PUB6[$p]} self permanent"
		;;
	host-gw)
		has_line "$(routes4 "$h")" "$n4 via ${PUB4[$p]} dev eth0" || return 1
		[ "$DUAL" = 0 ] && return 0
		has_line "$(routes6 "$h")" "$n6 via ${PUB6[$p]} dev eth0 metric 1024"
		;;
	udp)
		# No per-peer kernel state: a ping from h's flannel0 address to
		# p's crosses both daemons' peer tables.
		ip netns exec "$FLT_PREFIX-h$h" ping -q -c 1 -W 1 "${n4%/*}" >/dev/null 2>&1
		;;
	esac
}

# no_entries <h> <p>: nothing left on host h for peer p's subnets and MACs.
no_entries() {
	local h=$1 p=$2 n4=${N4[$2]} n6=${N6[$2]}
	has_prefix "$(routes4 "$h")" "$n4 " && return 1
	[ "$DUAL" = 1 ] && has_prefix "$(routes6 "$h")" "$n6 " && return 1
	if [ "$BE" = vxlan ]; then
		has_prefix "$(neighs "$h" flannel.1)" "${n4%/*} " && return 1
		has_prefix "$(fdbs "$h" flannel.1)" "${MAC4[$p]} " && return 1
		if [ "$DUAL" = 1 ]; then
			has_prefix "$(neighs "$h" flannel-v6.1)" "${n6%/*} " && return 1
			has_prefix "$(fdbs "$h" flannel-v6.1)" "${MAC6[$p]} " && return 1
		fi
	fi
	return 0
}

udp_peers_are() { metric_eq "$1" flannel_udp_peers "$2"; }

# wait_entries <h> <p>
wait_entries() {
	wait_until 10 has_entries "$1" "$2" || fail "$CASE: host $1 ($(who "$1")) lacks the entries for host $2 (${N4[$2]} ${N6[$2]}):
$(kstate "$1")"
}

# container_up_dual <n>: lib.sh's container, plus the IPv6 subnet in dual-stack.
container_up_dual() {
	local n=$1 s6
	container_up "$n"
	C4[$n]=$(container_ip "$n")
	[ "$DUAL" = 1 ] || return 0
	s6=${N6[$n]%/*}1/${N6[$n]#*/}
	C6[$n]=${N6[$n]%/*}2
	ip -n "$FLT_PREFIX-h$n" addr add "$s6" dev cni0 nodad
	ip -n "$FLT_PREFIX-c$n" addr add "${C6[$n]}/${s6#*/}" dev eth0 nodad
	ip -n "$FLT_PREFIX-c$n" -6 route add default via "${s6%/*}"
}

cping() { ip netns exec "$FLT_PREFIX-c$1" ping -q -c 1 -W 2 -w 10 "$2" >/dev/null 2>&1; }

# ping_pairs <a b>...: container a pings (and ping6s) container b, for each pair given.
ping_pairs() {
	local a b
	while [ $# -ge 2 ]; do
		a=$1 b=$2
		shift 2
		wait_until 10 cping "$a" "${C4[$b]}" ||
			fail "$CASE: container $a ($(who "$a")) cannot ping container $b ($(who "$b"), ${C4[$b]}); host $a:
$(kstate "$a")"
		[ "$DUAL" = 0 ] && continue
		wait_until 10 cping "$a" "${C6[$b]}" ||
			fail "$CASE: container $a ($(who "$a")) cannot ping6 container $b ($(who "$b"), ${C6[$b]}); host $a:
$(kstate "$a")"
	done
}
who() { if [ "$1" = "$G" ]; then echo Go; else echo C; fi; }

# ---------------------------------------------------------------- one case

# mixed_case <backend> <dual 0|1> <case number 1..5>: Go on host 3k-2, ours
# on 3k-1 and 3k.
mixed_case() {
	BE=$1 DUAL=$2
	local k=$3 i j kk kg env_g config t0 gshape keys="" l pings
	G=$((3 * k - 2)) A=$((3 * k - 1)) B=$((3 * k))
	CASE=$BE P=/mx-$BE/network pings=ping
	if [ "$DUAL" = 1 ]; then CASE="$BE dual-stack" P=/mx-${BE}6/network pings="ping and ping6"; fi
	NET=10.$((244 + k)).0.0/16
	NET6=fc00:$k::/48
	case $BE in vxlan) MTU=1450 ;; host-gw) MTU=1500 ;; udp) MTU=1472 ;; esac
	config="{\"Network\":\"$NET\",\"Backend\":{\"Type\":\"$BE\"}}"
	[ "$DUAL" = 0 ] || config="{\"Network\":\"$NET\",\"EnableIPv6\":true,\"IPv6Network\":\"$NET6\",\"Backend\":{\"Type\":\"$BE\"}}"
	t0=$(now_us)
	info "$CASE: Go on h$G, C on h$A and h$B"
	etcd_put_config "$config" "$P"
	for i in "$G" "$A" "$B"; do
		PUB4[$i]=$(host_ip "$i")
		PUB6[$i]=$(host_ip6 "$i")
	done

	# -- leases: one per host, distinct, all of the shape Go writes; the
	# VtepMACs are the devices' MACs; subnet.env exactly as upstream's.
	# lease_ok <n> reads host n's lease into the arrays and checks it.
	lease_ok() {
		local n=$1 f
		l=$(lease_of "$n") || fail "$CASE: no single lease of host $n in etcd: $(subnet_keys "$P")"
		mapfile -t f <<<"$l"
		kk=${f[0]}
		N4[$n]=$(key_net4 "$kk")
		N6[$n]=$(key_net6 "$kk" || true)
		if [ "$n" = "$G" ]; then
			gshape=${f[1]}
		else
			assert_eq "${f[1]}" "$gshape" "$CASE: JSON paths of host $n's lease (${f[6]}) against Go's"
		fi
		assert_eq "${f[2]}" "$([ "$DUAL" = 1 ] && echo "${PUB6[$n]}" || echo null)" "$CASE: PublicIPv6 of host $n"
		# udp: Go writes no BackendType (nor BackendData)
		assert_eq "${f[3]}" "${BE/udp/none}" "$CASE: BackendType of host $n"
		case $BE in
		vxlan)
			MAC4[$n]=$(dev_mac "$n" flannel.1)
			assert_eq "${f[4]}" "{\"VNI\":1,\"VtepMAC\":\"${MAC4[$n]}\"}" "$CASE: BackendData of host $n ($(who "$n"))"
			if [ "$DUAL" = 1 ]; then
				MAC6[$n]=$(dev_mac "$n" flannel-v6.1)
				assert_eq "${f[5]}" "{\"VNI\":1,\"VtepMAC\":\"${MAC6[$n]}\"}" "$CASE: BackendV6Data of host $n ($(who "$n"))"
			fi
			;;
		esac
		assert_eq "$(cat "$(inst_dir "$n")/subnet.env")" "$(env_expected "$kk")" "$CASE: subnet.env of host $n ($(who "$n"))"
		keys+="${kk##*/} "
	}

	# Go first, and the C hosts one at a time, each once Go has it: v0.20.2
	# can miss a watch event when hosts join at once (not what this tests).
	go_start "$G"
	go_wait "$G"
	lease_ok "$G"
	for i in "$A" "$B"; do
		flannel_start "$i" "--etcd-prefix=$P"
		wait_ready "$i"
		lease_ok "$i"
		wait_entries "$G" "$i"
	done
	go_alive "$G"
	assert_eq "$(subnet_keys "$P" | wc -l)" 3 "$CASE: leases in etcd"
	local nets=("${N4[$G]}" "${N4[$A]}" "${N4[$B]}")
	[ "$DUAL" = 0 ] || nets+=("${N6[$G]}" "${N6[$A]}" "${N6[$B]}")
	assert_eq "$(printf '%s\n' "${nets[@]}" | sort -u | grep -c .)" "${#nets[@]}" "$CASE: distinct subnets (${nets[*]})"
	pass "$CASE: 3 distinct leases (${keys% }), C leases shaped as Go's ($(jq -c 'del(.PublicIP, .PublicIPv6) | keys' <<<"${l##*$'\n'}")), subnet.env as upstream's on all 3"

	# -- each host has the others' entries: Go from the C leases, C from Go's
	for i in "$G" "$A" "$B"; do
		for j in "$G" "$A" "$B"; do
			[ "$i" = "$j" ] || wait_entries "$i" "$j"
		done
	done
	if [ "$BE" = udp ]; then
		for i in "$A" "$B"; do wait_until 10 udp_peers_are "$i" 2 || fail "$CASE: host $i has $(metric "$i" flannel_udp_peers) udp peers, expected 2"; done
	fi
	pass "$CASE: every host has the entries for both others (Go <-> C, C <-> C)"

	for i in "$G" "$A" "$B"; do container_up_dual "$i"; done
	ping_pairs "$G" "$A" "$G" "$B" "$A" "$G" "$B" "$G" "$A" "$B" "$B" "$A"
	pass "$CASE: containers $pings across all 6 ordered pairs"

	# -- Go stopped: the C hosts keep talking and keep Go's entries. Its
	# kernel state for the C hosts is then removed (vxlan: the devices, so
	# they come back with new MACs; host-gw: the routes; udp: flannel0 goes
	# with the process), so that restarted it must program them again from
	# the C leases, and the C hosts must take its lease's new VtepMACs. It
	# keeps its lease and subnet.
	kg=$(key_of "$G") || fail "$CASE: no single lease of the Go host"
	env_g=$(cat "$(inst_dir "$G")/subnet.env")
	local mac_g=${MAC4[$G]:-}
	go_stop "$G"
	ping_pairs "$A" "$B" "$B" "$A"
	if [ "$BE" != udp ]; then
		has_entries "$A" "$G" || fail "$CASE: host $A dropped Go's entries while Go was down: $(kstate "$A")"
	fi
	case $BE in
	vxlan)
		ip -n "$FLT_PREFIX-h$G" link del flannel.1
		[ "$DUAL" = 0 ] || ip -n "$FLT_PREFIX-h$G" link del flannel-v6.1
		;;
	host-gw)
		for i in "$A" "$B"; do
			ip -n "$FLT_PREFIX-h$G" route del "${N4[$i]}"
			[ "$DUAL" = 0 ] || ip -n "$FLT_PREFIX-h$G" -6 route del "${N6[$i]}"
		done
		;;
	esac
	go_start "$G"
	go_wait "$G"
	lease_ok "$G"
	assert_eq "$kk" "$kg" "$CASE: Go's lease after its restart"
	assert_eq "$(cat "$(inst_dir "$G")/subnet.env")" "$env_g" "$CASE: Go's subnet.env after its restart"
	for i in "$A" "$B"; do
		wait_entries "$G" "$i"
		wait_entries "$i" "$G"
	done
	ping_pairs "$G" "$A" "$A" "$G" "$G" "$B" "$B" "$G"
	local what="entries"
	[ "$BE" != vxlan ] || what="devices (VtepMAC $mac_g -> ${MAC4[$G]})"
	[ "$BE" != host-gw ] || what="routes to the C hosts"
	[ "$BE" != udp ] || what="flannel0"
	local kept=", Go's entries kept"
	[ "$BE" != udp ] || kept=""
	pass "$CASE: Go down: C <-> C still pings$kept; Go restarted without its $what: lease ${kg##*/} and subnet.env kept, all reprogrammed, C <-> Go pings again"

	# -- a C host leaves (stopped, lease deleted): gone from Go and from the other C host
	kk=$(key_of "$B") || fail "$CASE: no single lease of host $B"
	flannel_stop "$B"
	etcdctl_sw del -- "$kk" >/dev/null
	if [ "$BE" = udp ]; then
		# Go's udp peer table is not visible from outside; its log is.
		wait_until 10 grep -qF "Subnet removed: ${N4[$B]}" "$(inst_dir "$G")/upstream.log" ||
			fail "$CASE: Go (host $G) did not remove host $B's ${N4[$B]} after its lease was deleted"
		wait_until 10 udp_peers_are "$A" 1 || fail "$CASE: host $A still has $(metric "$A" flannel_udp_peers) udp peers after host $B left"
	else
		wait_until 10 no_entries "$G" "$B" || fail "$CASE: Go (host $G) kept entries of host $B after its lease was deleted:
$(kstate "$G")"
		wait_until 10 no_entries "$A" "$B" || fail "$CASE: host $A kept entries of host $B after its lease was deleted:
$(kstate "$A")"
	fi
	has_entries "$G" "$A" || fail "$CASE: Go lost host $A's entries when host $B left: $(kstate "$G")"
	ping_pairs "$G" "$A" "$A" "$G"
	pass "$CASE: C host $B left: $([ "$BE" = udp ] && echo "Go logs its removal, host $A's peer table down to 1" || echo "its entries gone from Go and from host $A"); Go <-> C still pings"

	# -- Go leaves (stopped, lease deleted): gone from the C host
	go_stop "$G"
	etcdctl_sw del -- "$kg" >/dev/null
	if [ "$BE" = udp ]; then
		wait_until 10 udp_peers_are "$A" 0 || fail "$CASE: host $A still has $(metric "$A" flannel_udp_peers) udp peers after Go left"
	else
		wait_until 10 no_entries "$A" "$G" || fail "$CASE: host $A kept Go's entries after Go's lease was deleted:
$(kstate "$A")"
	fi
	flannel_stop "$A"
	pass "$CASE: Go host left: $([ "$BE" = udp ] && echo "host $A's peer table empty" || echo "its entries gone from host $A") ($((($(now_us) - t0) / 1000)) ms for the case)"
}

# ---------------------------------------------------------------- run

# The five cases share nothing but etcd (each its own prefix, hosts and
# networks), so they run side by side, each in a subshell whose output is
# printed once it is done; a fail() there ends that case only. On exit,
# cases still running are stopped before lib.sh's cleanup (which must see
# the exit status; set -e is off here so that nothing stops it early).
CASE_PIDS=()
mixed_exit() {
	local rc=$? p
	set +e
	for p in "${CASE_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	(exit "$rc")
	cleanup
}
trap mixed_exit EXIT
cases=("vxlan 0" "host-gw 0" "udp 0" "vxlan 1" "host-gw 1")
for k in 1 2 3 4 5; do
	# shellcheck disable=SC2086 # "backend dual" split on purpose
	(
		FAIL_HOSTS="$((3 * k - 2)) $((3 * k - 1)) $((3 * k))"
		mixed_case ${cases[k - 1]} "$k"
	) >"$TMP/case$k.out" 2>&1 &
	CASE_PIDS+=($!)
done
failed=0
for k in 1 2 3 4 5; do
	rc=0
	wait "${CASE_PIDS[k - 1]}" || rc=$?
	cat "$TMP/case$k.out"
	if [ "$rc" -ne 0 ]; then
		c=${cases[k - 1]}
		echo "FAIL: case ${c% *}$([ "${c#* }" = 1 ] && echo ' dual-stack' || echo ' IPv4'): exit $rc"
		failed=1
	fi
done
CASE_PIDS=()
[ "$failed" -eq 0 ] || exit 1
