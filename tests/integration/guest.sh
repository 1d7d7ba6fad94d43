# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# For tests of tunnel kinds this machine's kernel may lack (ipip,
# wireguard; xfrm: ESP SAs for ipsec). Source it before lib.sh and call
#
#	in_guest_unless_kernel_has <kind>...
#
# On a kernel that can create every <kind> of link (probed in a throwaway
# network namespace) the test goes on here; otherwise it re-runs itself,
# unchanged, inside a qemu guest booting Debian's kernel
# (tests/qemu/run-in-guest.sh), whose exit status becomes the test's.
# GUEST_TIMEOUT (seconds, default 270) bounds the guest.

_kernel_has_kind() { # kind
	local ns=fltprobe$$ ok=1 extra=()
	[ "$1" = ipip ] && extra=(local 127.0.0.1)
	ip netns add "$ns" 2>/dev/null || return 1
	if [ "$1" = xfrm ]; then # not a link: an ESP (AES-GCM) tunnel SA, as IPsec needs
		ip -n "$ns" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode tunnel \
			aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 \
			>/dev/null 2>&1 && ok=0
	else
		ip -n "$ns" link add fltprobe type "$1" "${extra[@]}" >/dev/null 2>&1 && ok=0
	fi
	ip netns del "$ns"
	return $ok
}

in_guest_unless_kernel_has() {
	local k missing=()
	[ "$(id -u)" -eq 0 ] || return 0 # lib.sh's require_root skips
	for k in "$@"; do
		_kernel_has_kind "$k" || missing+=("$k")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	if [ "${FLANNELD_IN_GUEST:-0}" = 1 ]; then
		echo "FAIL: the guest kernel cannot create ${missing[*]} links"
		exit 1
	fi
	echo "this kernel has no ${missing[*]}: running $(basename "$0") in a qemu guest"
	local root
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	exec "$root/tests/qemu/run-in-guest.sh" --timeout "${GUEST_TIMEOUT:-270}" \
		--env FLANNELD --env FLT_PREFIX --env KEEP_TMP bash "$0"
}
