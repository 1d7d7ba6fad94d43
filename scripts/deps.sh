#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages that the build, the tests and the demo need.
# Idempotent and quiet when everything is present; runs `apt-get update` at
# most once, and only when something is missing. Every tool a test calls is
# here: under STRICT=1 (.ci/run) a test that skips for a missing tool fails.
#
# etcd-server may try to start a system etcd on install; a policy-rc.d that
# blocks it is fine: the tests never use a system etcd, they start their own
# inside a network namespace.
set -euo pipefail

PKGS=(
	build-essential pkg-config
	libssl-dev libjansson-dev libmnl-dev libcmocka-dev
	libprotobuf-c-dev protobuf-c-compiler libnghttp2-dev nghttp2-client
	etcd-server etcd-client
	iproute2 iputils-ping procps curl jq iperf3 openssl python3 bsdextrautils
	iptables nftables libnftables-dev
	man-db groff-base mandoc systemd # test_packaging: man, groff, mandoc -T lint, systemd-analyze verify
	clang clang-format libclang-rt-14-dev valgrind
	qemu-system-x86 busybox-static # tests/qemu/run-in-guest.sh
	debhelper lintian # dpkg-buildpackage (dpkg-dev: build-essential); no fakeroot: Rules-Requires-Root: no
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
