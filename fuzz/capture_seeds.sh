#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerate the seed corpora in fuzz/corpus/ from a real etcd (Debian's
# etcd-server, in a private network namespace on loopback) and from the
# formats the daemon writes. The seeds are committed; run this as root
# after a change in what etcd or the daemon sends.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "fuzz/capture_seeds.sh: run as root" >&2; exit 1; }
C=fuzz/corpus
NS=flseed$$
TMP=$(mktemp -d /tmp/flseed.XXXXXX)
EP=http://127.0.0.1:23791
EPID=
cleanup() {
	set +e
	[ -n "$EPID" ] && kill "$EPID" && wait "$EPID"
	ip netns del "$NS"
	rm -rf "$TMP"
} 2>/dev/null
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
nsx() { ip netns exec "$NS" "$@"; }
nsx etcd --data-dir "$TMP/etcd" --listen-client-urls $EP --advertise-client-urls $EP \
	--listen-peer-urls http://127.0.0.1:23792 --initial-advertise-peer-urls http://127.0.0.1:23792 \
	--initial-cluster default=http://127.0.0.1:23792 --logger zap --log-outputs stderr 2>"$TMP/etcd.log" &
EPID=$!
until nsx curl -sf $EP/health >/dev/null 2>&1; do sleep 0.1; done
b64() { printf '%s' "$1" | base64 -w0; }
post() { nsx curl -s -X POST "$EP/v3/$1" -d "$2"; }
# seed <target> <name> <first-bytes-as-printf-format> <file-with-body>
seed() {
	mkdir -p "$C/$1"
	{
		# shellcheck disable=SC2059 # the prefix is a printf format on purpose
		printf "$3"
		cat "$4"
	} >"$C/$1/$2"
}
reply() { # kind-byte name path body
	post "$3" "$4" >"$TMP/r"
	seed fuzz_etcd_reply "$2" "$1" "$TMP/r"
}

P=/coreos.com/network
V='{"PublicIP":"10.200.0.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}}'
LEASE=$(post lease/grant '{"TTL":"600"}' | jq -r .ID)
# kinds: 0 range 1 put 2 delete 3 txn 4 grant 5 keepalive 6 revoke 7 timetolive 8 auth
reply '\x01' put kv/put "{\"key\":\"$(b64 $P/subnets/10.5.1.0-24)\",\"value\":\"$(b64 "$V")\",\"lease\":\"$LEASE\"}"
post kv/put "{\"key\":\"$(b64 $P/subnets/10.5.2.0-24)\",\"value\":\"$(b64 '{"PublicIP":"10.200.0.12","PublicIPv6":null}')\"}" >/dev/null
reply '\x00' range kv/range "{\"key\":\"$(b64 $P/subnets)\",\"range_end\":\"$(b64 $P/subnett)\"}"
reply '\x00' range_limit kv/range "{\"key\":\"$(b64 $P/subnets)\",\"range_end\":\"$(b64 $P/subnett)\",\"limit\":\"1\"}"
reply '\x00' range_empty kv/range "{\"key\":\"$(b64 /none)\"}"
reply '\x03' txn_ok kv/txn "{\"compare\":[{\"key\":\"$(b64 $P/subnets/10.5.3.0-24)\",\"target\":\"VERSION\",\"result\":\"EQUAL\",\"version\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 $P/subnets/10.5.3.0-24)\",\"value\":\"$(b64 "$V")\"}}]}"
reply '\x03' txn_failed kv/txn "{\"compare\":[{\"key\":\"$(b64 $P/subnets/10.5.3.0-24)\",\"target\":\"VERSION\",\"result\":\"EQUAL\",\"version\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 $P/subnets/10.5.3.0-24)\",\"value\":\"eA==\"}}],\"failure\":[{\"request_range\":{\"key\":\"$(b64 $P/subnets/10.5.3.0-24)\"}}]}"
reply '\x02' delete kv/deleterange "{\"key\":\"$(b64 $P/subnets/10.5.3.0-24)\"}"
reply '\x04' grant lease/grant '{"TTL":"60"}'
reply '\x05' keepalive lease/keepalive "{\"ID\":\"$LEASE\"}"
reply '\x07' timetolive lease/timetolive "{\"ID\":\"$LEASE\"}"
reply '\x07' timetolive_none lease/timetolive '{"ID":"12345"}'
reply '\x06' revoke_unknown lease/revoke '{"ID":"12345"}'
reply '\x08' auth_disabled auth/authenticate '{"name":"root","password":"x"}'
post kv/range '{"key":"not base64!"}' >"$TMP/r"
seed fuzz_etcd_reply error_bad_request '\xff' "$TMP/r"

# A watch stream: created, events of a put, a txn and a delete, then a
# compacted watch's cancel line (2 bytes of split seed first).
nsx curl -sN -X POST $EP/v3/watch -d "{\"create_request\":{\"key\":\"$(b64 $P/subnets)\",\"range_end\":\"$(b64 $P/subnett)\"}}" >"$TMP/w" &
WPID=$!
sleep 0.5 # let the watch be created before the changes it is to see
post kv/put "{\"key\":\"$(b64 $P/subnets/10.5.4.0-24)\",\"value\":\"$(b64 "$V")\"}" >/dev/null
post kv/txn "{\"success\":[{\"request_put\":{\"key\":\"$(b64 $P/subnets/10.5.5.0-24)\",\"value\":\"$(b64 "$V")\"}},{\"request_put\":{\"key\":\"$(b64 $P/subnets/10.5.6.0-24)\",\"value\":\"$(b64 "$V")\"}}]}" >/dev/null
post kv/deleterange "{\"key\":\"$(b64 $P/subnets/10.5.4.0-24)\"}" >/dev/null
sleep 0.5
kill "$WPID" 2>/dev/null || true
wait "$WPID" 2>/dev/null || true
REV=$(post kv/range "{\"key\":\"$(b64 /x)\"}" | jq -r .header.revision)
post kv/compaction "{\"revision\":\"$REV\"}" >/dev/null
timeout 2 ip netns exec "$NS" curl -sN -X POST $EP/v3/watch -d "{\"create_request\":{\"key\":\"$(b64 $P/subnets)\",\"start_revision\":\"2\"}}" >>"$TMP/w" || true
seed fuzz_watch_stream stream '\x12\x34' "$TMP/w"

# The daemon's own formats and the shapes of remote input.
mkdir -p "$C/fuzz_lease" "$C/fuzz_config" "$C/fuzz_subnetenv" "$C/fuzz_ip" "$C/fuzz_http" "$C/fuzz_nl"
printf '%s\n%s' "$P/subnets/10.5.1.0-24" "$V" >"$C/fuzz_lease/vxlan"
printf '%s\n%s' "$P/subnets/10.5.79.0-24&fc00:0:0:29::-64" '{"PublicIP":"10.200.0.11","PublicIPv6":"fd00::11","BackendType":"host-gw","BackendData":null,"BackendV6Data":null}' >"$C/fuzz_lease/dualstack"
printf '%s\n%s' "$P/subnets/0.0.0.0-0&fc00::-64" '{"PublicIP":"0.0.0.0","PublicIPv6":"fd00::1"}' >"$C/fuzz_lease/v6only"
printf '%s' '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.10.0","SubnetMax":"10.5.99.0","Backend":{"Type":"vxlan","VNI":4096,"Port":4789,"GBP":true,"DirectRouting":true}}' >"$C/fuzz_config/vxlan"
printf '%s' '{"EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":64,"Network":"10.0.0.0/8","Backend":{"Type":"host-gw"}}' >"$C/fuzz_config/dualstack"
cp tests/fixtures/subnetenv_*.env "$C/fuzz_subnetenv/"
printf '10.5.71.0/24' >"$C/fuzz_ip/v4net"
printf 'fc00:0:0:29::/64' >"$C/fuzz_ip/v6net"
printf '::ffff:10.1.2.3' >"$C/fuzz_ip/mapped"
printf '\x00https://[fd00::1]:2379/prefix' >"$C/fuzz_http/url"
printf '\x05HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' >"$C/fuzz_http/length"
{ printf '\x07'; head -c 600 "$TMP/w" | awk 'BEGIN { printf "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" } { printf "%x\r\n%s\n\r\n", length($0) + 1, $0 } END { printf "0\r\n\r\n" }'; } >"$C/fuzz_http/chunked"
printf '\x09HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\nnot found' >"$C/fuzz_http/close"
ls -R "$C" | head -n 60
