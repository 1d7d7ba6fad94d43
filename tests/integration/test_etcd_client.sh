#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The etcd client (src/etcd.c) against real etcd servers: kv, txn, leases,
# watch (multi-event messages, compaction), endpoint failover, etcd restarts,
# auth (tokens, re-authentication) and TLS (client certificates, wrong CA),
# built with ASan+UBSan. tests/etcd_smoke.c starts its own etcd servers on
# fixed loopback ports, so it runs inside a private namespace of its own.
#
#	ns <prefix>-etcdc: lo 127.0.0.1  etcd :23791, TLS etcd :23795, fake gateway :23797
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd

NS=$FLT_PREFIX-etcdc
BIN=$TMP/etcd_smoke
ip netns add "$NS"
echo "$NS" >>"$TMP/netns.list"
ip -n "$NS" link set lo up

cd "$REPO_ROOT"
cc -std=gnu11 -D_GNU_SOURCE -Isrc -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all -o "$BIN" \
	tests/etcd_smoke.c src/etcd.c src/etcd_json.c src/httpc.c src/http_parse.c src/tls.c src/textutil.c \
	src/loop.c src/log.c -ljansson -lpthread || fail "etcd_smoke does not build"
(cd "$TMP" && timeout 240 ip netns exec "$NS" "$BIN") >"$TMP/smoke.log" 2>&1 || {
	tail -n 40 "$TMP/smoke.log" >&2
	fail "etcd client smoke test failed"
}
grep -q "TLS: openssl failed, skipped" "$TMP/smoke.log" && fail "TLS part skipped: openssl failed"
tail -n 3 "$TMP/smoke.log"
pass "etcd client against real etcd (kv, txn, leases, watch, failover, auth, TLS)"
