# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# For tests of tunnel kinds this machine's kernel may lack (ipip,
# wireguard). Source it before lib.sh and call
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
	ip -n "$ns" link add fltprobe type "$1" "${extra[@]}" >/dev/null 2>&1 && ok=0
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
