#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fake_sbin.sh DIR CMD...: run CMD in a mount namespace of its own where the
# programs in DIR stand in front of /usr/sbin's (a read-only overlay, DIR on
# top, mounted over /usr/sbin; /sbin is a link to it on Debian). flanneld
# runs its helpers from a fixed PATH (/usr/sbin:/usr/bin:/sbin:/bin), so a
# test's stand-in must sit there; the machine's own /usr/sbin is untouched.
# Every step execs, so CMD keeps this script's PID.
set -e
dir=$1
shift
# shellcheck disable=SC2016 # expanded by the inner sh
exec unshare -m --propagation private sh -c \
	'mount -t overlay flt-fake-sbin -o "lowerdir=$0:/usr/sbin" /usr/sbin && exec "$@"' "$dir" "$@"
