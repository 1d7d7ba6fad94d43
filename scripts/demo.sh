#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo: a local etcd and three hosts (network namespaces), each running
# flanneld with the vxlan backend. Each host gets a "container" wired the
# way Docker's --bip/--mtu would use subnet.env: a bridge cni0 holding
# FLANNEL_SUBNET's address with FLANNEL_MTU, the container on the next
# address. Prints the hosts, the subnet.env files, the leases in etcd and
# host 1's vxlan entries, then pings container to container for all 6
# ordered pairs; exits non-zero if any ping fails. Cleans up on every exit
# (also on failure or Ctrl-C). Needs root; touches nothing outside the
# namespaces it creates.
#
#	sw: br0 10.200.0.1 + etcd     (no route to 10.244.0.0/16)
#	 |-- h1 eth0 10.200.0.11  flanneld  flannel.1  cni0 -- c1 (container)
#	 |-- h2 eth0 10.200.0.12  flanneld  flannel.1  cni0 -- c2
#	 `-- h3 eth0 10.200.0.13  flanneld  flannel.1  cni0 -- c3
#
# KEEP_TMP=1 keeps the temp dir (flanneld and etcd logs) after the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -s
# shellcheck source-path=SCRIPTDIR/.. source=tests/integration/lib.sh
. tests/integration/lib.sh
require_root
require_etcd
require_flanneld

NETWORK=10.244.0.0/16
CONFIG="{\"Network\":\"$NETWORK\",\"Backend\":{\"Type\":\"vxlan\"}}"
HOSTS=3
DEV=flannel.1 # flannel.<VNI>, VNI 1 by default
PROTO=158     # protocol of flanneld's routes

section() { printf '\n== %s\n' "$*"; }
indent() { sed 's/^/   /; s/ *$//'; }

# addr_of <netns> <dev>: the device's IPv4 address with prefix length.
addr_of() { ip -n "$1" -4 -o addr show dev "$2" | awk '{ print $4; exit }'; }
mtu_in() { ip netns exec "$1" cat "/sys/class/net/$2/mtu"; }

# peer_routes <host>: number of flanneld routes on the host (one per peer).
peer_routes() { host_exec "$1" ip route show proto "$PROTO" | grep -c . || true; }
has_all_peers() { [ "$(peer_routes "$1")" -ge $((HOSTS - 1)) ]; }

# ping_rtt <from> <to>: ping container <to> from container <from> (bounded as
# container_ping); prints the average round trip in ms, fails without reply.
ping_rtt() {
	local out
	out=$(container_exec "$1" ping -q -c 2 -i 0.2 -W 2 -w 10 "$(container_ip "$2")" 2>&1) || return 1
	sed -nE 's|^rtt [^=]*= [0-9.]+/([0-9.]+)/.*|\1|p' <<<"$out"
}

echo "flanneld demo: etcd + $HOSTS hosts (network namespaces), vxlan backend"
topo_up "$HOSTS"
host_exec 1 ip link add probe0 type vxlan id 9 dstport 4789 2>/dev/null ||
	fail "this kernel cannot create vxlan devices (ip link add ... type vxlan)"
host_exec 1 ip link del probe0
etcd_start
etcd_put_config "$CONFIG"
echo "etcd config: $ETCD_PREFIX/config = $CONFIG"
for i in $(seq 1 "$HOSTS"); do flannel_start "$i"; done
for i in $(seq 1 "$HOSTS"); do wait_ready "$i"; done
cmdline=$(tr '\0' ' ' <"/proc/$(flannel_pid 1)/cmdline")
cmdline=${cmdline% }
echo "host 1 runs: ${cmdline/#"$REPO_ROOT"\//}"
echo "(hosts 2 and 3 alike, with their own --public-ip and --subnet-file)"

section "hosts: each wrote subnet.env; a container is wired from it the way"
echo "   'source subnet.env; docker daemon --bip=\$FLANNEL_SUBNET --mtu=\$FLANNEL_MTU' would"
for i in $(seq 1 "$HOSTS"); do
	container_up "$i"
	h=$(host_ns "$i")
	c=$(container_ns "$i")
	printf 'host %d (eth0 %s): bridge cni0 %s mtu %s (from FLANNEL_SUBNET/FLANNEL_MTU); container %s mtu %s\n' \
		"$i" "$(host_ip "$i")" "$(addr_of "$h" cni0)" "$(mtu_in "$h" cni0)" \
		"$(addr_of "$c" eth0)" "$(mtu_in "$c" eth0)"
done

section "subnet.env files (--subnet-file; /run/flannel/subnet.env by default)"
for i in $(seq 1 "$HOSTS"); do
	echo "host $i: $(inst_dir "$i")/subnet.env"
	indent <"$(inst_dir "$i")/subnet.env"
done

section "leases in etcd (etcdctl get --prefix $ETCD_PREFIX/subnets/)"
etcdctl_sw get --prefix "$ETCD_PREFIX/subnets/" | paste - - |
	awk -F'\t' '{ printf "%s\n   %s\n", $1, $2 }'

for i in $(seq 1 "$HOSTS"); do
	wait_until 10 has_all_peers "$i" || echo "host $i: only $(peer_routes "$i") of $((HOSTS - 1)) peer routes after 10 s"
done
section "vxlan state on host 1: per peer a neighbour, an FDB entry and a route (proto $PROTO)"
for cmd in "ip -d link show $DEV" "ip neigh show dev $DEV" "bridge fdb show dev $DEV" "ip route show proto $PROTO"; do
	echo "host 1# $cmd"
	# shellcheck disable=SC2086 # the command is split on purpose
	host_exec 1 $cmd | sed 's/ addrgenmode .*/ .../' | indent
done

section "ping container -> container (the switch has no route to $NETWORK: only vxlan carries it)"
failed=0
for a in $(seq 1 "$HOSTS"); do
	for b in $(seq 1 "$HOSTS"); do
		[ "$a" = "$b" ] && continue
		pair=$(printf 'container %d %-12s -> container %d %-12s' "$a" "$(container_ip "$a")" "$b" "$(container_ip "$b")")
		if rtt=$(ping_rtt "$a" "$b"); then
			echo "$pair OK   (${rtt:-?} ms)"
		else
			echo "$pair FAIL"
			failed=$((failed + 1))
		fi
	done
done
pairs=$((HOSTS * (HOSTS - 1)))
if [ "$failed" -ne 0 ]; then
	echo "FAIL: $failed of $pairs pairs"
	for i in $(seq 1 "$HOSTS"); do
		echo "host $i: $(peer_routes "$i") of $((HOSTS - 1)) peer routes; last warnings/errors of its flanneld:"
		grep -E '^[WE][0-9]{4} ' "$(inst_dir "$i")/flanneld.log" | grep -v iptables-forward-rules | tail -n 5 | indent || true
	done
	echo "(KEEP_TMP=1 $0 keeps the logs in $TMP)"
	exit 1
fi
echo "$pairs of $pairs pairs OK"

# shellcheck disable=SC2046
flannel_stop_all $(seq 1 "$HOSTS")
echo
echo "demo done; cleaning up (namespaces, etcd, temp dir)"
