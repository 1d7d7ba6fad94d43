#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run a command inside a qemu guest that boots Debian's own kernel, for tests
# that need kernel modules this machine's kernel lacks (ipip, wireguard).
#
#	tests/qemu/run-in-guest.sh [--timeout S] [--env NAME]... cmd [args...]
#	tests/qemu/run-in-guest.sh --serve DIR [--timeout S]
#
# The guest sees this machine's / read-only over 9p with a tmpfs overlay on
# top (writes vanish), runs cmd as root in the same working directory with
# the same PATH and the variables named by --env, and its exit status comes
# back as ours. It has no network card: tests use namespaces inside it.
# Kernel modules load on demand from the unpacked kernel package.
#
# A guest serves a batch directory (tests/qemu/guest-init.sh has its
# protocol): it runs the jobs queued there one after another, each in a
# fresh root and cgroup of its own, until told to stop. `--serve DIR` boots
# one for DIR (tests/run.sh keeps one up for all its guest tests: a boot
# costs 40-90 s under TCG). With FLT_GUEST_BATCH naming the directory of a
# guest that is up, the command is queued there; otherwise (or if that guest
# is gone before the command started) it gets a guest of its own. Either
# way its output streams here and --timeout S bounds it from its start in
# the guest (there and here); its wait for that start (a boot, the jobs
# queued before it) is bounded by S too.
#
# Needs root (apt, the 9p export of /). Installs qemu-system-x86 and
# busybox-static if missing; downloads linux-image-<ver>-amd64 (the version
# linux-image-amd64 depends on now) with apt-get download and unpacks it with
# dpkg -x into $QEMU_CACHE (default /var/cache/flanneld-tests), once.
# QEMU_MEM (MB, default 512), QEMU_CPUS (default 1: faster than 2 under TCG).
# Exit codes: the command's; 124 on timeout; 77 when no guest can be made
# here (no kernel package to be had); 125 for runner errors.
set -euo pipefail

TIMEOUT=600
ENVS=(PATH)
SERVE=
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
	--serve)
		SERVE=$2
		shift 2
		;;
	--)
		shift
		break
		;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || [ -n "$SERVE" ] || {
	echo "usage: $0 [--timeout S] [--env NAME]... cmd [args...] | --serve DIR [--timeout S]" >&2
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

# prepare: the packages, the unpacked kernel and the initramfs; sets KERNEL,
# KDIR and MODDIR.
prepare() {
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
	# (one per version of guest-init.sh: trees checked out side by side
	# share the cache)
	INIT=$(dirname "$0")/guest-init.sh
	INITRD=$KDIR/initrd-$(sha256sum "$INIT" | cut -c1-12).cpio.gz
	if [ ! -e "$INITRD" ]; then
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
		(cd "$ir" && find . | $BB cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp")
		mv "$INITRD.tmp" "$INITRD"
		rm -rf "$ir"
	fi
	flock -u "$LOCKFD"

	KERNEL=$KDIR/root/boot/vmlinuz-$KVER
	[ -s "$KDIR/vmlinux" ] && KERNEL=$KDIR/vmlinux
}

# serve <dir>: boot a guest that serves <dir>, bounded by TIMEOUT; the
# console streams to stderr. Writes <dir>/pid first and <dir>/down last.
serve() {
	local dir=$1 qpid='' tpid deadline rc
	echo $$ >"$dir/pid"
	# shellcheck disable=SC2317 # called by the traps
	serve_end() {
		if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
			kill -TERM "$qpid" 2>/dev/null || true
			for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
			kill -KILL "$qpid" 2>/dev/null || true
		fi
		: >"$dir/down"
	}
	trap serve_end EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	prepare
	# The modules' path goes on the kernel command line.
	# no_timer_check: on a loaded host TCG's timer looks broken at boot, and
	# the kernel panics with "IO-APIC + timer doesn't work!".
	: >"$dir/console"
	# Ahead of the tests beside it (nice -10, every qemu thread): on a busy
	# host the emulated guest got a small share of the CPUs, ran many times
	# slower than alone, and its timing (WireGuard rekeys, charon's DH)
	# stopped looking like a machine's. It is the run's critical path too.
	nice -n "${QEMU_NICE:--10}" qemu-system-x86_64 \
		-accel tcg,thread=multi,tb-size=64 -cpu max -smp "$CPUS" -m "$MEM" \
		-nodefaults -nic none -serial "file:$dir/console" -display none -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 no_timer_check flt.mod=$MODDIR" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$dir,mount_tag=job,security_model=none,multidevs=remap" \
		</dev/null >"$dir/qemu.log" 2>&1 &
	qpid=$!
	tail -n +1 -f --pid="$qpid" "$dir/console" 2>/dev/null | tr -d '\r' |
		grep --line-buffered -Ev "^($MARK |\[ *[0-9.]+\] reboot: Power down)" >&2 &
	tpid=$!
	deadline=$((SECONDS + TIMEOUT))
	while kill -0 "$qpid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			say "timed out after ${TIMEOUT}s: killing qemu"
			serve_end
			wait "$tpid" 2>/dev/null || true
			exit 124
		fi
		# Whoever started it (tests/run.sh, a test) was killed: no one is left to ask.
		kill -0 "$PPID" 2>/dev/null || exit 143
		sleep 0.2
	done
	wait "$qpid" 2>/dev/null || true
	qpid=
	wait "$tpid" 2>/dev/null || true
	rc=$(tr -d '\r' <"$dir/console" | sed -n "s/^$MARK \([0-9]*\)\$/\1/p" | tail -n 1)
	if [ -z "$rc" ]; then
		say "the guest ended without an exit status"
		tail -n 20 "$dir/qemu.log" >&2
		exit 125
	fi
	exit "$rc"
}

if [ -n "$SERVE" ]; then
	[ -d "$SERVE" ] || die "no directory $SERVE"
	serve "$SERVE"
fi

# serving <dir>: a guest serves <dir> (or is booting for it).
serving() {
	local pid
	[ ! -e "$1/down" ] && pid=$(cat "$1/pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# submit <dir>: queue the command in <dir>; sets ID.
submit() {
	local dir=$1 v
	ID=$(date +%s%N)-$$
	{
		echo '#!/bin/bash'
		for v in "${ENVS[@]}"; do
			v=${v#--env=}
			[ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"
		done
		echo "export FLANNELD_IN_GUEST=1 HOME=/root"
		printf 'cd %q || exit 125\n' "$PWD"
		printf 'exec'
		printf ' %q' "${CMD[@]}"
		echo
	} >"$dir/$ID.cmd"
	echo "$TIMEOUT" >"$dir/$ID.limit"
	: >"$dir/$ID.out"
	mv "$dir/$ID.cmd" "$dir/$ID.job"
}

# await <dir> <batch 0|1>: stream the job's output until it ends; its exit
# status, 124 past TIMEOUT, 125 if the guest ended under it, 200 if a
# shared guest (batch 1) ended before it started.
await() {
	local dir=$1 batch=$2 deadline started rc=
	sleep $((TIMEOUT + 60)) &
	HOLD=$!
	tail -n +1 -s 0.3 -f --pid="$HOLD" "$dir/$ID.out" &
	TPID=$!
	deadline=$((SECONDS + TIMEOUT))
	started=0
	while [ ! -e "$dir/$ID.rc" ]; do
		if [ $started = 0 ] && [ -e "$dir/$ID.started" ]; then
			started=1
			[ "$batch" = 0 ] || say "its turn in the shared guest came after $((SECONDS + TIMEOUT - deadline))s"
			deadline=$((SECONDS + TIMEOUT))
		fi
		if ((SECONDS >= deadline)); then
			say "timed out after ${TIMEOUT}s (from its $([ $started = 1 ] && echo start || echo queueing))"
			: >"$dir/$ID.cancel"
			for _ in $(seq 100); do
				[ -e "$dir/$ID.rc" ] || ! serving "$dir" && break
				sleep 0.2
			done
			rc=124
			break
		fi
		if ! serving "$dir" && [ ! -e "$dir/$ID.rc" ]; then
			if [ "$batch" = 1 ] && [ ! -e "$dir/$ID.started" ]; then
				rc=200
			else
				say "the guest ended while running the command; its console:"
				tail -n 20 "$dir/console" 2>/dev/null | tr -d '\r' >&2
				rc=125
			fi
			break
		fi
		sleep 0.2
	done
	kill "$HOLD" 2>/dev/null || true
	wait "$TPID" 2>/dev/null || true
	HOLD=''
	TPID=''
	[ -n "$rc" ] || rc=$(cat "$dir/$ID.rc")
	[[ $rc =~ ^[0-9]+$ ]] || rc=125
	return "$rc"
}

CMD=("$@")
DIR=
SPID=
HOLD=
TPID=
# shellcheck disable=SC2317 # called by the traps
cleanup() {
	[ -z "$HOLD" ] || kill "$HOLD" 2>/dev/null || true
	[ -z "$TPID" ] || kill "$TPID" 2>/dev/null || true
	if [ -n "$DIR" ] && [ -n "${ID:-}" ] && [ ! -e "$DIR/$ID.rc" ]; then
		: >"$DIR/$ID.cancel" 2>/dev/null || true
	fi
	if [ -n "$SPID" ]; then
		kill -TERM "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

B=${FLT_GUEST_BATCH:-}
if [ -n "$B" ] && serving "$B"; then
	DIR=$B
	submit "$DIR"
	rc=0
	await "$DIR" 1 || rc=$?
	[ "$rc" -eq 200 ] || exit "$rc"
	say "the shared guest is gone: booting one for this command"
fi

# A guest of our own, serving this one command.
DIR=$(mktemp -d "${TMPDIR:-/tmp}/flanneld-guest.XXXXXX")
submit "$DIR"
: >"$DIR/stop"
"$0" --serve "$DIR" --timeout $((2 * TIMEOUT + 30)) &
SPID=$!
echo "$SPID" >"$DIR/pid" # before it does: await asks at once
rc=0
await "$DIR" 0 || rc=$?
if [ "$rc" -eq 125 ] && [ ! -e "$DIR/$ID.started" ]; then
	# The guest never ran it: the server's status says why (77: no kernel).
	wait "$SPID" || rc=$?
fi
exit "$rc"
