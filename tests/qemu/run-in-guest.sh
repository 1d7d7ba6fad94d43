#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run a command inside a qemu guest that boots Debian's own kernel, for tests
# that need kernel modules this machine's kernel lacks (ipip, wireguard).
#
#	tests/qemu/run-in-guest.sh [--timeout S] [--env NAME]... cmd [args...]
#
# The guest sees this machine's / read-only over 9p with a tmpfs overlay on
# top (writes vanish at power-off), runs cmd as root in the same working
# directory with the same PATH and the variables named by --env, and its
# exit status comes back as ours (through a marker line on the serial
# console). It has no network card: tests use namespaces inside it. Kernel
# modules load on demand from the unpacked kernel package.
#
# Needs root (apt, the 9p export of /). Installs qemu-system-x86 and
# busybox-static if missing; downloads linux-image-<ver>-amd64 (the version
# linux-image-amd64 depends on now) with apt-get download and unpacks it with
# dpkg -x into $QEMU_CACHE (default /var/cache/flanneld-tests), once.
# QEMU_MEM (MB, default 512), QEMU_CPUS (default 1: faster than 2 under TCG).
# Exit codes: the command's; 124 on timeout (qemu killed); 77 when no guest
# can be made here (no kernel package to be had); 125 for runner errors.
set -euo pipefail

TIMEOUT=600
ENVS=(PATH)
while [ $# -gt 0 ]; do
	case $1 in
	--timeout)
		TIMEOUT=$2
		shift 2
		;;
	--env)
		ENVS+=("$2")
		shift 2
		;;
	--)
		shift
		break
		;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || {
	echo "usage: $0 [--timeout S] [--env NAME]... cmd [args...]" >&2
	exit 125
}

CACHE=${QEMU_CACHE:-/var/cache/flanneld-tests}
MEM=${QEMU_MEM:-512}
CPUS=${QEMU_CPUS:-1}
MARK=FLANNELD-GUEST-EXIT

say() { echo "run-in-guest: $*" >&2; }
die() {
	say "$*"
	exit 125
}

[ "$(id -u)" -eq 0 ] || die "needs root"

# -- packages
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
bblist=$(/bin/busybox --list 2>/dev/null || true)
grep -qx depmod <<<"$bblist" || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
		die "cannot install ${need[*]}"
fi
BB=/bin/busybox

# -- the kernel: resolved at run time (old versions leave the archive)
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
if [ -z "$KPKG" ]; then
	KPKG=$(ls -d "$CACHE"/linux-image-*-amd64 2>/dev/null | tail -n 1 || true)
	KPKG=${KPKG##*/}
fi
[ -n "$KPKG" ] || {
	echo "SKIP: no linux-image-*-amd64 package known to apt, no guest kernel"
	exit 77
}
KVER=${KPKG#linux-image-}
KDIR=$CACHE/$KPKG
mkdir -p "$CACHE"

# One unpacking at a time (parallel tests share the cache).
exec {LOCKFD}>"$CACHE/.lock"
flock "$LOCKFD"
if [ ! -e "$KDIR/ready" ]; then
	say "preparing $KPKG in $KDIR (once)"
	rm -rf "$KDIR" "$KDIR.tmp"
	mkdir -p "$KDIR.tmp/dl"
	(cd "$KDIR.tmp/dl" && apt-get download -q "$KPKG" >/dev/null 2>&1) ||
		{ apt-get update -qq >/dev/null 2>&1 && (cd "$KDIR.tmp/dl" && apt-get download -q "$KPKG" >/dev/null); } ||
		die "apt-get download $KPKG failed"
	dpkg -x "$KDIR.tmp"/dl/*.deb "$KDIR.tmp/root"
	rm -rf "$KDIR.tmp/dl"
	$BB depmod -b "$KDIR.tmp/root" "$KVER" || die "depmod failed"
	# The plain kernel boots ~3 s faster under emulation than the XZ one.
	python3 - "$KDIR.tmp/root/boot/vmlinuz-$KVER" "$KDIR.tmp/vmlinux" <<-'EOF' || say "no plain kernel extracted, booting vmlinuz"
		import lzma, sys
		data = open(sys.argv[1], "rb").read()
		at = data.find(b"\xfd7zXZ\x00")
		if at < 0:
		    sys.exit(1)
		out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[at:])
		if out[:4] != b"\x7fELF":
		    sys.exit(1)
		open(sys.argv[2], "wb").write(out)
	EOF
	mv "$KDIR.tmp" "$KDIR"
	touch "$KDIR/ready"
fi
MODDIR=$KDIR/root/lib/modules/$KVER

# -- the initramfs: busybox, the modules for virtio/9p/overlay, /init
# (rebuilt when guest-init.sh changes)
INIT=$(dirname "$0")/guest-init.sh
if ! cmp -s "$INIT" "$KDIR/initrd.init" 2>/dev/null || [ ! -e "$KDIR/initrd.cpio.gz" ]; then
	ir=$(mktemp -d "$CACHE/initrd.XXXXXX")
	mkdir -p "$ir"/{bin,sbin,dev,proc,sys,lower,rw,newroot,lib/modules/"$KVER"}
	cp "$BB" "$ir/bin/busybox"
	ln -s busybox "$ir/bin/sh"
	ln -s ../bin/busybox "$ir/sbin/modprobe"
	# The modules and what they depend on, from modules.dep.
	mods=()
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		line=$(grep -E "(^|/)${m}\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" || true)
		[ -n "$line" ] || continue # built in
		read -r -a deps <<<"${line/:/}"
		mods+=("${deps[@]}")
	done
	for f in $(printf '%s\n' "${mods[@]}" | sort -u); do
		mkdir -p "$ir/lib/modules/$KVER/$(dirname "$f")"
		cp "$MODDIR/$f" "$ir/lib/modules/$KVER/$f"
	done
	cp "$MODDIR"/modules.dep "$ir/lib/modules/$KVER/"
	cp "$INIT" "$ir/init"
	chmod 0755 "$ir/init"
	(cd "$ir" && find . | $BB cpio -o -H newc 2>/dev/null | gzip -1 >"$KDIR/initrd.cpio.gz.tmp")
	mv "$KDIR/initrd.cpio.gz.tmp" "$KDIR/initrd.cpio.gz"
	cp "$INIT" "$KDIR/initrd.init"
	rm -rf "$ir"
fi
flock -u "$LOCKFD"

KERNEL=$KDIR/root/boot/vmlinuz-$KVER
[ -s "$KDIR/vmlinux" ] && KERNEL=$KDIR/vmlinux

# -- the job: a script the guest runs, in a directory shared read-write
JOB=$(mktemp -d "${TMPDIR:-/tmp}/flanneld-guest.XXXXXX")
QPID=
cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill -TERM "$QPID" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$QPID" 2>/dev/null || true
	fi
	rm -rf "$JOB"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

{
	echo '#!/bin/bash'
	for v in "${ENVS[@]}"; do
		v=${v#--env=}
		[ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"
	done
	echo "export FLANNELD_IN_GUEST=1 HOME=/root"
	printf 'cd %q || exit 125\n' "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$JOB/cmd.sh"
chmod 0755 "$JOB/cmd.sh"

# The job's path and the modules' go on the kernel command line.
# no_timer_check: on a loaded host TCG's timer looks broken at boot, and the
# kernel panics with "IO-APIC + timer doesn't work!".
: >"$JOB/console"
qemu-system-x86_64 \
	-accel tcg,thread=multi,tb-size=64 -cpu max -smp "$CPUS" -m "$MEM" \
	-nodefaults -nic none -serial "file:$JOB/console" -display none -no-reboot \
	-kernel "$KERNEL" -initrd "$KDIR/initrd.cpio.gz" \
	-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 no_timer_check flt.job=$JOB flt.mod=$MODDIR" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$JOB,mount_tag=job,security_model=none,multidevs=remap" \
	</dev/null >"$JOB/qemu.log" 2>&1 &
QPID=$!

# Stream the console (minus the marker) while waiting, bounded by TIMEOUT.
tail -n +1 -f --pid="$QPID" "$JOB/console" 2>/dev/null | tr -d '\r' | grep --line-buffered -Ev "^($MARK |\[ *[0-9.]+\] reboot: Power down)" &
TPID=$!
deadline=$((SECONDS + TIMEOUT))
while kill -0 "$QPID" 2>/dev/null; do
	if ((SECONDS >= deadline)); then
		say "timed out after ${TIMEOUT}s: killing qemu"
		cleanup
		wait "$TPID" 2>/dev/null || true
		exit 124
	fi
	sleep 0.2
done
wait "$QPID" 2>/dev/null || true
QPID=
wait "$TPID" 2>/dev/null || true
rc=$(tr -d '\r' <"$JOB/console" | sed -n "s/^$MARK \([0-9]*\)\$/\1/p" | tail -n 1)
if [ -z "$rc" ]; then
	say "the guest ended without an exit status"
	tail -n 20 "$JOB/qemu.log" >&2
	exit 125
fi
exit "$rc"
