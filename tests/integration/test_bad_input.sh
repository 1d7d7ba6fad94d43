#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad input never kills the daemon, and each case says clearly what is wrong.
#  1. flags (no namespaces, no root): unknown flag, bad values -> exit 1 and
#     a one-line message on stderr naming the flag.
#  2. configs: invalid JSON and every ERR row of FLANNEL_COMPAT.md §2.5 ->
#     upstream's message in the log, alive, not ready; a valid config then
#     makes it ready (the daemon retries).
#  3. junk keys and values under subnets/ -> "Ignoring bad subnet node",
#     good peers still counted.
#  4. corrupt subnet.env -> logged, ignored, a lease is acquired anyway.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11  flanneld (configs; junk; one prefix per config case)
#	 |-- h2 10.200.0.12  flanneld (good peer)
#	 `-- h3 10.200.0.13  flanneld (corrupt subnet.env)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_flanneld

# -- 1. flags: these must fail before touching etcd, the network or files
flag_case() { # expected-substring args...
	local want=$1 rc=0 lines
	shift
	timeout 10 "$FLANNELD" --etcd-endpoints=http://127.0.0.1:1 \
		--subnet-file="$TMP/flags/subnet.env" "$@" >"$TMP/flag.out" 2>"$TMP/flag.err" || rc=$?
	[ "$rc" -eq 1 ] || fail "flanneld $*: exit code $rc, expected 1 (stderr: $(head -c 300 "$TMP/flag.err"))"
	lines=$(grep -c . "$TMP/flag.err" || true)
	[ "$lines" -ge 1 ] || fail "flanneld $*: nothing on stderr"
	head -n 1 "$TMP/flag.err" | grep_q -F -- "$want" ||
		fail "flanneld $*: first stderr line does not name $want: $(head -n 1 "$TMP/flag.err")"
	[ "$lines" -eq 1 ] || fail "flanneld $*: $lines lines on stderr, expected one: $(head -c 300 "$TMP/flag.err")"
	[ ! -e "$TMP/flags/subnet.env" ] || fail "flanneld $*: wrote a subnet file"
}
flag_case --no-such-flag --no-such-flag
flag_case --subnet-lease-renew-margin --subnet-lease-renew-margin=abc
flag_case --subnet-lease-renew-margin --subnet-lease-renew-margin=0
flag_case --subnet-lease-renew-margin --subnet-lease-renew-margin=1440
flag_case --healthz-port --healthz-port=notaport
pass "bad flags: exit 1 with a message naming the flag"

require_root
require_etcd
topo_up 3
etcd_start

# -- 2. configs. One prefix per case, so one daemon's retries never meet
# the next case's config.
GOOD='{"Network":"10.3.0.0/16","Backend":{"Type":"alloc"}}'
ncase=0
config_case() { # config expected-message
	local cfg=$1 want=$2 prefix
	ncase=$((ncase + 1))
	prefix=/bad/$ncase/network
	etcd_put_config "$cfg" "$prefix"
	rm -f "$(inst_dir 1)/subnet.env"
	flannel_start 1 --etcd-prefix="$prefix"
	wait_until 15 log_has 1 "$want" || fail "config $cfg: log lacks \"$want\""
	flannel_running 1 || fail "config $cfg: flanneld exited ($(proc_rc flanneld-1))"
	[ "$(http_code 1 /healthz)" = 200 ] || fail "config $cfg: /healthz $(http_code 1 /healthz)"
	[ "$(http_code 1 /readyz)" = 503 ] || fail "config $cfg: /readyz $(http_code 1 /readyz), expected 503"
	[ ! -e "$(inst_dir 1)/subnet.env" ] || fail "config $cfg: subnet.env written"
	etcd_put_config "$GOOD" "$prefix"
	wait_ready 1 15
	flannel_stop 1
	info "config $cfg -> $want"
}
config_case '{"Network":' "Couldn't fetch network config"
config_case '{"Network":"10.3.0.0/29"}' "network is too small. Minimum useful network prefix is /28"
config_case '{"Network":"10.3.0.0/16","SubnetLen":31}' "SubnetLen must be less than /31"
config_case '{"Network":"10.3.0.0/16","SubnetLen":17}' "network must be able to accommodate at least four subnets"
config_case '{"Network":"10.3.0.0/16","SubnetLen":8}' "network must be able to accommodate at least four subnets"
config_case '{"Network":"10.3.0.0/16","SubnetMin":"10.4.0.0"}' "SubnetMin is not in the range of the Network"
config_case '{"Network":"10.3.0.0/16","SubnetMax":"10.4.0.0"}' "SubnetMax is not in the range of the Network"
config_case '{"Network":"10.3.0.0/16","SubnetMin":"10.3.0.128"}' "SubnetMin is not on a SubnetLen boundary: 10.3.0.128"
config_case '{"Network":"0.0.0.0/0"}' "please define a correct Network parameter in the flannel config"
config_case '{}' "please define a correct Network parameter in the flannel config"
config_case '{"Network":"10.3.0.0"}' "invalid CIDR address: 10.3.0.0"
config_case '{"Network":"10.3.0.0/16","Backend":"vxlan"}' "error decoding Backend property of config"
config_case '{"EnableIPv4":false,"EnableIPv6":true}' "please define a correct IPv6Network parameter in the flannel config"
V6='"Network":"10.3.0.0/16","EnableIPv6":true'
config_case "{$V6,\"IPv6Network\":\"fc00::/125\"}" "IPv6Network is too small. Minimum useful network prefix is /124"
config_case "{$V6,\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetLen\":127}" "SubnetLen must be less than /127"
config_case "{$V6,\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetLen\":49}" "network must be able to accommodate at least four subnets"
config_case "{$V6,\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":\"fc00:0:0:1::1\"}" "IPv6SubnetMin is not on a SubnetLen boundary: fc00:0:0:1::1"
config_case "{$V6,\"IPv6Network\":\"fc00::/48\",\"IPv6SubnetMin\":\"fc01::\"}" "IPv6SubnetMin is not in the range of the IPv6Network"
pass "$ncase invalid configs: message logged, alive, not ready, ready once fixed"

# -- 3. junk under subnets/. Daemons allocate at most 10.244.200.0; junk
# lives above that, so it never sits on a real lease.
etcd_put_config '{"Network":"10.244.0.0/16","SubnetMax":"10.244.200.0","Backend":{"Type":"alloc"}}'
S=$ETCD_PREFIX/subnets
# present before start-up (seen by the initial list) ...
etcdctl_sw put -- "$S/garbage" x >/dev/null
etcdctl_sw put -- "$S/10.244.205.0-24" notjson >/dev/null
rm -f "$(inst_dir 1)/subnet.env"
flannel_start 1
flannel_start 2
wait_ready 1
wait_ready 2
# ... and arriving through the watch
etcdctl_sw put -- "$S/10.244.206.0-24" '{"PublicIP":null,"PublicIPv6":null}' >/dev/null
etcdctl_sw put -- "$S/10.244.207.0-24" '{}' >/dev/null
etcdctl_sw put -- "$S/10.244.208.0-32" "$(lease_value 10.200.1.8)" >/dev/null
for k in garbage 10.244.205.0-24 10.244.206.0-24 10.244.207.0-24 10.244.208.0-32; do
	wait_until 10 log_has 1 "Ignoring bad subnet node" "$k" ||
		fail "no \"Ignoring bad subnet node ...$k\" in the log"
done
grep 'Ignoring bad subnet node' "$(inst_dir 1)/flanneld.log" | head -n 5 >&2
# One good fake peer among the junk, to show the watch still works.
good=$S/10.244.209.0-24
put_lease "$good" 10.200.1.9
for i in 1 2; do
	wait_until 10 metric_eq "$i" flannel_leases_known 2 ||
		fail "flanneld $i: leases_known $(metric "$i" flannel_leases_known || echo '?'), expected 2 (peer + $good)"
	flannel_running "$i" || fail "flanneld $i exited"
done
pass "junk keys and values ignored with a log line; good peers counted"
flannel_stop_all 1 2

# -- 4. corrupt subnet.env
# A line about the file that is not the "Wrote subnet file" one or the
# echo of the flags.
says_file() {
	grep -F -- "$(inst_dir 3)/subnet.env" "$(inst_dir 3)/flanneld.log" |
		grep -Eiv 'wrote|writ|flags' | head -n 1
}
corrupt_case() { # description
	flannel_start 3
	wait_ready 3
	[ -n "$(says_file)" ] || fail "corrupt subnet.env ($1): log does not mention the file"
	case $(subnet_of 3) in
	10.244.*) ;;
	*) fail "corrupt subnet.env ($1): no valid FLANNEL_SUBNET written: $(subnet_of 3)" ;;
	esac
	flannel_stop 3
	info "corrupt subnet.env ($1): $(says_file)"
}
mkdir -p "$(inst_dir 3)"
head -c 4096 /dev/urandom >"$(inst_dir 3)/subnet.env"
corrupt_case "binary garbage"
printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=zzz\n' >"$(inst_dir 3)/subnet.env"
corrupt_case "FLANNEL_SUBNET=zzz"
pass "corrupt subnet.env: logged, lease acquired"
