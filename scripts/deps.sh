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
#
# strongSwan's packages would start a charon in the machine's own namespace:
# its services are masked before the install and a policy-rc.d that starts
# nothing is in place during it. test_ipsec starts its own charons, each
# inside a test's namespace.
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
	strongswan-charon strongswan-swanctl libstrongswan-standard-plugins # test_ipsec (gcm, openssl: ecp256)
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
# Masked only when we install strongSwan: a machine that already runs it keeps its service.
if [[ " ${missing[*]} " == *" strongswan-charon "* ]]; then
	mkdir -p /etc/systemd/system
	for unit in strongswan-starter.service strongswan.service; do
		[ -e "/etc/systemd/system/$unit" ] || ln -s /dev/null "/etc/systemd/system/$unit"
	done
fi
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	own_policy=1
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
