#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Keys from etcd are untrusted (issue 15, item 2). An etcd writer puts keys
# with a NUL byte (one whose part before the NUL is host 1's own key, one
# put 200 times), with a newline and with a DEL byte, each followed by a
# subnet so that upstream's parser reads them as leases. Host 1 caches
# none of them: it keeps its lease (no "taken over", no re-acquisition),
# knows only the real peers, warns with each key escaped, and a new host's
# lease put afterwards is known and forgotten as usual.
#
#	sw: br0 10.200.0.1 + etcd  <-- the keys (etcd's JSON gateway: NUL bytes)
#	 |-- h1 10.200.0.11  flanneld 1
#	 `-- h2 10.200.0.12  flanneld 2
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v python3 >/dev/null || skip "python3 is not installed"

# raw <put|del> <key as hex> [value] [times]: one request per time, through
# etcd's JSON gateway, which takes any bytes in a key.
raw() {
	sw_exec python3 - "$@" <<'EOF'
import base64, http.client, json, sys
op, key = sys.argv[1], bytes.fromhex(sys.argv[2])
value = sys.argv[3].encode() if len(sys.argv) > 3 else b""
times = int(sys.argv[4]) if len(sys.argv) > 4 else 1
conn = http.client.HTTPConnection("127.0.0.1", 2379, timeout=10)
body = {"key": base64.b64encode(key).decode()}
if op == "put":
    body["value"] = base64.b64encode(value).decode()
for _ in range(times):
    conn.request("POST", "/v3/kv/" + ("put" if op == "put" else "deleterange"), json.dumps(body))
    resp = conn.getresponse()
    answer = resp.read()
    if resp.status != 200:
        sys.exit("%s failed: %d %s" % (op, resp.status, answer[:200]))
EOF
}
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

topo_up 2
etcd_start
etcd_put_config '{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}'
for i in 1 2; do flannel_start "$i"; done
for i in 1 2; do wait_ready "$i"; done
k1=$(subnet_key_of 1)
s1=$(subnet_of 1)
wait_until 10 metric_eq 1 flannel_leases_known 1 || fail "h1 does not know h2's lease"
bad0=$(metric 1 flannel_bad_leases_total)
other='{"PublicIP":"10.200.0.99","PublicIPv6":null}'

# Host 1's own key, a NUL, then a subnet: upstream's parser reads a lease;
# a cache that stores the key cut at the NUL takes it for ours, taken over.
own_nul=$(hex "$k1")00$(hex /10.5.250.0-24)
# A newline (a forged log line) and a DEL byte.
newline=$(hex "$ETCD_PREFIX/subnets/")0a$(hex "E1207 00:00:00.000000 1] forged 10.5.252.0-24")
del=$(hex "$ETCD_PREFIX/subnets/10.5.253.0-24")7f$(hex /10.5.253.0-24)
# One key with a NUL put 200 times: one entry each time in such a cache.
many_nul=$(hex "$ETCD_PREFIX/subnets/")00$(hex 10.5.251.0-24)
# The three single ones first: their warnings come before the rate limit bites.
start=$SECONDS
raw put "$own_nul" "$other"
raw put "$newline" "$other"
raw put "$del" "$other"
raw put "$many_nul" "$other" 200
want=$((bad0 + 203))
wait_until 20 metric_ge 1 flannel_bad_leases_total "$want" ||
	fail "h1 counted $(metric 1 flannel_bad_leases_total) bad leases, expected at least $want"

flannel_running 1 || fail "flanneld 1 died"
is_ready 1 || fail "flanneld 1 is not ready"
log_has 1 "taken over" && fail "h1 believes its lease was taken over: $(grep -F "taken over" "$(inst_dir 1)/flanneld.log")"
metric_eq 1 flannel_lease_acquisitions_total 1 ||
	fail "h1 acquired its lease $(metric 1 flannel_lease_acquisitions_total) times"
assert_eq "$(subnet_of 1)" "$s1" "h1's subnet"
assert_eq "$(key_value "$k1")" "$(lease_value 10.200.0.11)" "h1's lease value in etcd"
metric_eq 1 flannel_leases_known 1 || fail "h1 knows $(metric 1 flannel_leases_known) leases, expected 1 (h2's)"
log_has 1 "Ignoring bad subnet node" "$k1\\x00/10.5.250.0-24" "a NUL byte" ||
	fail "no warning printing the NUL key escaped"
log_has 1 "Ignoring bad subnet node" "subnets/\\x0aE1207 00:00:00.000000 1] forged" "a control byte" ||
	fail "no warning printing the newline key escaped"
log_has 1 "Ignoring bad subnet node" "10.5.253.0-24\\x7f/10.5.253.0-24" || fail "no warning printing the DEL key escaped"
grep -q '^E1207 00:00:00.000000 1] forged' "$(inst_dir 1)/flanneld.log" && fail "a forged line made it into the log"
warnings=$(grep -c 'Ignoring bad subnet node' "$(inst_dir 1)/flanneld.log" || true)
# At most 20 per 10 s (README), in the windows the puts spanned.
max=$((20 * (2 + (SECONDS - start) / 10)))
((warnings <= max)) || fail "$warnings warnings for 203 bad keys in $((SECONDS - start)) s: not rate limited (at most $max)"
pass "keys with NUL, newline and DEL bytes: none cached, own lease kept, 1 lease known, warnings escaped and rate limited ($warnings)"

# The junk goes; a new host's lease comes and goes as usual.
for k in "$own_nul" "$many_nul" "$newline" "$del"; do raw del "$k"; done
put_lease "$ETCD_PREFIX/subnets/10.5.254.0-24" 10.200.0.50
wait_until 10 metric_eq 1 flannel_leases_known 2 || fail "h1 knows $(metric 1 flannel_leases_known) leases after a new host's put, expected 2"
etcdctl_sw del -- "$ETCD_PREFIX/subnets/10.5.254.0-24" >/dev/null
wait_until 10 metric_eq 1 flannel_leases_known 1 || fail "h1 knows $(metric 1 flannel_leases_known) leases after the new host left, expected 1"
assert_eq "$(subnet_of 1)" "$s1" "h1's subnet at the end"
pass "a new host's lease after the junk: known, then forgotten"
flannel_stop_all 1 2
