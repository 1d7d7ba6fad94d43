#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vxlan self-healing: whatever someone else does to flanneld's kernel state
# (route, its nexthop object, neighbour or FDB entry deleted or changed,
# address removed, device set down, given another MTU or MAC, or deleted;
# the underlay link flapping) is restored within HEAL_MS (the README's
# bound), timed from just before the damage is handed to an ip waiting in
# h1 to the kernel's notification of the repair, as an rtnetlink listener
# on h1 (ip -ts monitor) receives it; container traffic flows again. Notifications lost to ENOBUFS lead to a
# full converge. A new VTEP MAC is published in our lease and peers follow.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11 eth0  flannel.1 (+ flannel.2, DirectRouting)  cni0 -- c1
#	 `-- h2 10.200.0.12 eth0  flannel.1 (+ flannel.2, DirectRouting)  cni0 -- c2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

PROTO=158 # NL_RTPROT_FLANNEL in src/netlink/nl.h
DEV=flannel.1
HEAL_MS=500 # README: every repair is in the kernel within 500 ms of the damage

topo_up 2
require_vxlan
etcd_start
etcd_put_config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
DR=/dr/network
etcd_put_config '{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan","VNI":2,"DirectRouting":true}}' "$DR"

for i in 1 2; do
	flannel_start "$i"
	flannel_start "${i}b" --etcd-prefix="$DR" --healthz-port=9912
done
for i in 1 2 1b 2b; do wait_ready "$i"; done
for i in 1 2; do container_up "$i"; done

net_of() { local s; s=$(subnet_of "$1"); ip_add "${s%/*}" -1; }
len_of() { local s; s=$(subnet_of "$1"); echo "${s#*/}"; }
vtep_mac() { key_value "$(subnet_key_of "$1")" | jq -r .BackendData.VtepMAC; }
dev_mac() { host_exec "$1" cat "/sys/class/net/$DEV/address"; }

# The entries h1 must hold for host 2, as iproute2 prints them. Read the
# kernel only: each check must be quick, the repairs are timed.
set_expected() {
	NET2=$(net_of 2)
	MAC2=$(vtep_mac 2)
	NEIGH2="$NET2 lladdr $MAC2 PERMANENT"
	FDB2="$MAC2 dst $(host_ip 2) self permanent"
	ROUTE2=$(peer_route "$NET2" "$(len_of 2)" via "$NET2" dev "$DEV" onlink)
	DRROUTE2=$(peer_route "$(net_of 2b)" "$(len_of 2b)" via "$(host_ip 2)" dev eth0)
}
neigh_ok() { host_exec 1 ip neigh show dev "$DEV" | sed 's/ *$//' | grep_q -x "$NEIGH2"; }
fdb_ok() { host_exec 1 bridge fdb show dev "$DEV" | sed 's/ *$//' | grep_q -x "$FDB2"; }
route_ok() { host_exec 1 ip route show proto "$PROTO" | sed 's/ *$//' | grep_q -x "$ROUTE2"; }
drroute_ok() { host_exec 1 ip route show proto "$PROTO" | sed 's/ *$//' | grep_q -x "$DRROUTE2"; }
peer_ok() { neigh_ok && fdb_ok && route_ok; }
addr_ok() { host_exec 1 ip -4 -o addr show dev "$DEV" | grep_q " $(net_of 1)/32 "; }
dev_ok() { host_exec 1 ip link show "$DEV" 2>/dev/null | grep_q ",UP"; }
mtu_ok() { [ "$(host_exec 1 cat /sys/class/net/$DEV/mtu 2>/dev/null)" = 1450 ]; }

# An rtnetlink listener on h1: every kernel notification, stamped as it is
# received. The repairs are timed on it, not on the polls below.
MON=$TMP/monitor.log
SPAWN_LOG=$MON spawn monitor "$(host_ns 1)" env TZ=UTC ip -ts monitor link address route neigh nexthop
host_exec 1 ip link add mon0 type bridge
wait_until 5 grep -q ' mon0: ' "$MON" || fail "ip monitor on h1 reports nothing"
host_exec 1 ip link del mon0

# day_us: now, in microseconds since midnight UTC (the monitor runs with TZ=UTC).
day_us() {
	local us
	us=$(now_us)
	echo $((us / 1000000 % 86400 * 1000000 + us % 1000000))
}

# event_ms <from-line> <t0> <ERE>: ms from <t0> (day_us, taken just before
# the damaging command ran, so no later than the kernel's change) to the
# first notification at or after line <from-line> of the monitor's log that
# matches <ERE> and is no deletion (the repair; stamped as received, so no
# earlier than the kernel's change): an upper bound of the repair time.
# Fails if there is no such notification yet.
event_ms() {
	tail -n +"$1" "$MON" | awk -v t0="$2" -v re="$3" '
		function us(s, t) { split(substr(s, 13, 15), t, /[:.]/); return ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000000 + t[4] }
		!/^\[/ { next }
		{ line = $0; sub(/^\[[^]]*\] /, "", line) }
		line !~ /^Deleted / && line ~ re { d = us($1) - t0; if (d < -43200000000) d += 86400000000; printf "%d\n", d / 1000; found = 1; exit }
		END { exit !found }'
}

# within_ms <ms> <check...>: poll check every 10 ms until it holds, at most
# ms; ELAPSED is when the passing check had returned (an upper bound, which
# includes the check's own run time).
ELAPSED=
within_ms() {
	local ms=$1 start now
	shift
	start=$(now_us)
	while :; do
		if "$@"; then
			ELAPSED=$((($(now_us) - start) / 1000))
			return 0
		fi
		now=$(now_us)
		((now - start < ms * 1000)) || return 1
		sleep 0.01
	done
}

# The damaging ip and bridge commands go to an ip (and a bridge) started
# in h1 beforehand, reading a FIFO: between t0 and the kernel's change there
# is no fork or exec, only a wake-up (a loaded machine takes 300 ms to
# start "ip netns exec ... ip").
batch_start() { # tool
	mkfifo "$TMP/$1.cmd"
	SPAWN_LOG=$TMP/batch-$1.log spawn "batch-$1" "$(host_ns 1)" \
		sh -c 'exec "$1" -force -batch - <"$2"' batch "$1" "$TMP/$1.cmd"
}
batch_start ip
exec {IP_BATCH}>"$TMP/ip.cmd"
batch_start bridge
exec {BRIDGE_BATCH}>"$TMP/bridge.cmd"

# kernel_do host_exec 1 <ip|bridge> args...: run it through the batch.
kernel_do() {
	case $3 in
	ip) echo "${*:4}" >&"$IP_BATCH" ;;
	bridge) echo "${*:4}" >&"$BRIDGE_BATCH" ;;
	*) fail "kernel_do: $*" ;;
	esac
}

# timed_repair <what> <from-line> <t0> <ERE>: the repair's notification came
# within HEAL_MS of t0; TOOK is the time.
timed_repair() {
	wait_until 5 event_ms "$2" "$3" "$4" >/dev/null ||
		fail "'$1': no notification of the repair (/$4/) after line $2: $(tail -n +"$2" "$MON" | grep '^\[' | head -n 8)"
	TOOK=$(event_ms "$2" "$3" "$4")
	((TOOK <= HEAL_MS)) || fail "'$1' repaired $TOOK ms after the damage (by the kernel's notification); the bound is $HEAL_MS ms: $(tail -n +"$2" "$MON" | grep '^\[' | head -n 8)"
}

# damage <what> <check> <repaired-ERE> <command...>: break something on h1,
# see it repaired (the check holds) and the repair's notification come
# within HEAL_MS of the damage's, then see container traffic flow.
damage() {
	local what=$1 check=$2 re=$3 from t0
	shift 3
	"$check" || fail "before '$what': the state to break is not there"
	from=$(($(wc -l <"$MON") + 1))
	t0=$(day_us)
	kernel_do "$@" || fail "could not $what"
	wait_until 10 "$check" || fail "'$what' was not repaired within 10 s ($(cat "$TMP"/batch-*.log))"
	timed_repair "$what" "$from" "$t0" "$re"
	local took=$TOOK
	peer_ok && addr_ok && dev_ok || fail "after '$what': h1 lacks other entries"
	container_ping 1 2 || fail "container 1 cannot ping container 2 after '$what'"
	flannel_running 1 || fail "flanneld 1 died after '$what'"
	pass "$what: repaired in $took ms, ping works"
}

set_expected
# What the repairs' notifications look like (ip monitor prints an FDB entry
# as "<dst> dev <dev> lladdr <mac>").
esc() { sed 's/[.]/[.]/g' <<<"$1"; }
RE_ROUTE="^$(esc "$NET2/$(len_of 2)") .*dev $(esc "$DEV") .*proto $PROTO"
RE_NH="^id $(ip_int "$NET2") via $(esc "$NET2") dev $(esc "$DEV")"
RE_NEIGH="^$(esc "$NET2") dev $(esc "$DEV") lladdr $MAC2 .*PERMANENT"
RE_FDB="^$(esc "$(host_ip 2)") dev $(esc "$DEV") lladdr $MAC2"
RE_ADDR="^[0-9]+: $(esc "$DEV") +inet $(esc "$(net_of 1)")/32"
RE_MTU="^[0-9]+: $(esc "$DEV"): .* mtu 1450 "
RE_DRROUTE="^$(esc "$(net_of 2b)/$(len_of 2b)") .*dev eth0 .*proto $PROTO"
wait_until 10 peer_ok || fail "h1 never got host 2's entries"
wait_until 10 drroute_ok || fail "h1 never got host 2's direct route"
container_ping 1 2 || fail "container 1 cannot ping container 2"
MAC1=$(dev_mac 1)

damage "delete the route" route_ok "$RE_ROUTE" host_exec 1 ip route del "$NET2/$(len_of 2)" proto "$PROTO"
damage "replace the route with a foreign one" route_ok "$RE_ROUTE" \
	host_exec 1 ip route replace "$NET2/$(len_of 2)" via "$SW_IP" dev eth0
# The route names a nexthop object; deleting that takes the route along.
damage "delete the route's nexthop" route_ok "$RE_ROUTE" host_exec 1 ip nexthop del id "$(ip_int "$NET2")"
damage "point the route's nexthop elsewhere" route_ok "$RE_NH" \
	host_exec 1 ip nexthop replace id "$(ip_int "$NET2")" via "$SW_IP" dev eth0 proto 158
damage "delete the neighbour entry" neigh_ok "$RE_NEIGH" host_exec 1 ip neigh del "$NET2" dev "$DEV"
damage "point the neighbour entry at another MAC" neigh_ok "$RE_NEIGH" \
	host_exec 1 ip neigh replace "$NET2" lladdr 02:00:00:00:00:01 dev "$DEV" nud permanent
damage "delete the FDB entry" fdb_ok "$RE_FDB" host_exec 1 bridge fdb del "$MAC2" dev "$DEV" dst "$(host_ip 2)"
damage "point the FDB entry at another host" fdb_ok "$RE_FDB" \
	host_exec 1 bridge fdb replace "$MAC2" dev "$DEV" dst 10.200.0.99 self permanent
damage "remove the device's address" addr_ok "$RE_ADDR" host_exec 1 ip addr del "$(net_of 1)/32" dev "$DEV"
damage "change the device's MTU" mtu_ok "$RE_MTU" host_exec 1 ip link set "$DEV" mtu 1300
# The kernel drops the routes through a device that goes down, silently:
# the repair is done when the route is back. So for a deleted device.
damage "set the device down" route_ok "$RE_ROUTE" host_exec 1 ip link set "$DEV" down
damage "delete the device" peer_ok "$RE_ROUTE" host_exec 1 ip link del "$DEV"
assert_eq "$(dev_mac 1)" "$MAC1" "MAC of the recreated $DEV"
assert_eq "$(vtep_mac 1)" "$MAC1" "VtepMAC of host 1 after $DEV was recreated"
log_has 1 "$DEV was deleted; recreating it" || fail "no log line for the deleted device"
container_ping 2 1 || fail "container 2 cannot ping container 1 after $DEV was recreated"
pass "recreated $DEV keeps its MAC (lease unchanged), address and every entry"

# -- a new VTEP MAC on h2 is published; h1 follows it
NEWMAC=0a:11:22:33:44:55
host_exec 2 ip link set "$DEV" address "$NEWMAC"
wait_until 5 eval '[ "$(vtep_mac 2)" = "$NEWMAC" ]' || fail "host 2's lease still has VtepMAC $(vtep_mac 2)"
log_has 2 "The MAC of $DEV changed from $(tr -d '\n' <<<"$MAC2") to $NEWMAC: publishing it in our lease" ||
	fail "no log line for the MAC change on h2"
OLDMAC2=$MAC2
set_expected
wait_until 5 peer_ok || fail "h1 did not follow host 2's new MAC: $(host_exec 1 bridge fdb show dev "$DEV")"
host_exec 1 bridge fdb show dev "$DEV" | grep_q "^$OLDMAC2 " && fail "h1 kept the FDB entry of host 2's old MAC"
container_ping 1 2 || fail "container 1 cannot ping container 2 after host 2's MAC changed"
pass "VTEP MAC changed on h2: its lease carries $NEWMAC, h1's neighbour and FDB entries follow, ping works"

# -- the underlay flaps: routes through eth0 (DirectRouting) vanish with it
host_exec 1 ip link set eth0 down
! drroute_ok || fail "the kernel kept the direct route while eth0 was down"
from=$(($(wc -l <"$MON") + 1))
t0=$(day_us)
kernel_do host_exec 1 ip link set eth0 up
wait_until 10 drroute_ok || fail "the direct route was not restored within 10 s of eth0 coming up"
timed_repair "eth0 up" "$from" "$t0" "$RE_DRROUTE"
took=$TOOK
host_exec 1 ip route replace default via "$SW_IP" # the test bed's, not flanneld's
log_has 1b "eth0 is up again; restoring" || fail "no log line for eth0 coming back"
host_exec 1 ping -c 1 -W 2 "$(net_of 2b)" >/dev/null || fail "h1 cannot reach host 2's $(net_of 2b) directly"
container_ping 1 2 || fail "container 1 cannot ping container 2 after eth0 flapped"
pass "eth0 down and up: direct route back in $took ms, vxlan traffic flows"

# -- lost notifications: flanneld 1 is stopped while 30000 unrelated
# neighbour changes overflow its netlink buffer, then its route is deleted
# (that notification is lost for sure); the overrun alone must repair it
host_exec 1 ip link add fill0 type veth peer name fill1
proc_signal flanneld-1 STOP
for i in $(seq 0 14999); do
	printf 'neigh add 10.77.%d.%d lladdr 02:00:00:00:%02x:%02x dev fill0 nud permanent\n' \
		$((i / 250)) $((i % 250 + 1)) $((i / 256 % 256)) $((i % 256))
done >"$TMP/fill.batch"
host_exec 1 ip -batch "$TMP/fill.batch"
host_exec 1 ip link del fill0 # 15000 deletions more
host_exec 1 ip route del "$NET2/$(len_of 2)" proto "$PROTO"
proc_signal flanneld-1 CONT
within_ms 5000 route_ok || fail "route not restored after the notification overrun"
took=$ELAPSED
log_has 1 "Missed rtnetlink notifications (ENOBUFS)" || fail "flanneld 1 did not see the overrun"
container_ping 1 2 || fail "container 1 cannot ping container 2 after the overrun"
pass "30000 notifications overflowed the buffer while the route was deleted: ENOBUFS -> full resync, route back $took ms after SIGCONT"

flannel_stop_all 1 2 1b 2b
