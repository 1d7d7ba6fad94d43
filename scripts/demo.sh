#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo: three hosts (network namespaces) share one etcd; each runs flanneld
# with the alloc backend, gets its own /24 out of 10.244.0.0/16 and writes
# subnet.env. Prints every subnet.env and the leases in etcd, then cleans up.
# Needs root (network namespaces); touches nothing outside them.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11  flanneld
#	 |-- h2 10.200.0.12  flanneld
#	 `-- h3 10.200.0.13  flanneld
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -s
# shellcheck source-path=SCRIPTDIR/.. source=tests/integration/lib.sh
. tests/integration/lib.sh
require_root
require_etcd
require_flanneld

CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"alloc"}}'
HOSTS=3

topo_up "$HOSTS"
etcd_start
etcd_put_config "$CONFIG"
echo "config  $ETCD_PREFIX/config = $CONFIG"
for i in $(seq 1 "$HOSTS"); do flannel_start "$i"; done
for i in $(seq 1 "$HOSTS"); do wait_ready "$i"; done

for i in $(seq 1 "$HOSTS"); do
	echo
	echo "== host $i ($(host_ip "$i")): $(inst_dir "$i" | sed "s|$TMP|\$TMP|")/subnet.env"
	sed 's/^/   /' "$(inst_dir "$i")/subnet.env"
done
echo
echo "== leases in etcd under $ETCD_PREFIX/subnets/"
etcdctl_sw get --prefix "$ETCD_PREFIX/subnets/" | paste - - | awk -F'\t' '{ printf "   %s -> %s\n", $1, $2 }'
echo
for i in $(seq 1 "$HOSTS"); do
	echo "host $i: flannel_leases_known=$(metric "$i" flannel_leases_known || echo '?')"
done
# shellcheck disable=SC2046
flannel_stop_all $(seq 1 "$HOSTS")
echo "demo done; cleaning up"
