#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash # busybox ash: local is there
# /init of the test guest (busybox sh; see run-in-guest.sh). It serves the
# jobs the host queues in the batch directory (shared read-write over 9p),
# one after another, until the host asks it to stop; then it powers off.
#
# Each job gets what a guest of its own would give it: a fresh root (the
# host's / read-only over 9p under a new tmpfs overlay, fresh /proc /sys
# /dev /run; not /tmp: the job's working directory may be there, e.g. CI's
# clone) and a cgroup of its own, killed whole when the job ends, times out
# or is cancelled, so that what one test leaves behind (a hung daemon, a
# namespace, a loaded module) cannot change the next one's result.
#
# The batch directory's protocol (the host side is run-in-guest.sh):
#	ID.job     the host queues a job (a bash script; renamed last)
#	ID.limit   its time bound in seconds, from its start here
#	ID.run     the job, taken (renamed from ID.job)
#	ID.started it runs (its output goes to ID.out)
#	ID.cancel  the host gave up on it: kill it
#	ID.rc      its exit status (124: timed out here, 143: cancelled)
#	ready      the guest is up and serving
#	stop       the host queues nothing more: power off once idle
PATH=/bin:/sbin
export PATH
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

MODS=
for kv in $(cat /proc/cmdline); do
	case $kv in
	flt.mod=*) MODS=${kv#flt.mod=} ;;
	esac
done

finish() {
	echo "FLANNELD-GUEST-EXIT $1" >/dev/ttyS0
	sync
	poweroff -f
	sleep 5
	exit "$1"
}

for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe "$m" 2>/dev/null
done
mkdir -p /batch /j /cg
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower ||
	{ echo "guest: cannot mount the host's / over 9p" >/dev/ttyS0; finish 125; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /batch ||
	{ echo "guest: cannot mount the batch directory" >/dev/ttyS0; finish 125; }
mount -t cgroup2 none /cg ||
	{ echo "guest: cannot mount cgroup2" >/dev/ttyS0; finish 125; }

# The kernel's request_module runs /sbin/modprobe in this root (pid 1 does
# not chroot itself): give it the whole unpacked module tree.
KVER=$(uname -r)
[ -n "$MODS" ] && [ -d "/lower$MODS" ] && mount --bind "/lower$MODS" "/lib/modules/$KVER"
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
hostname flanneld-guest
BASE_MODS=" $(while read -r m _; do printf '%s ' "$m"; done </proc/modules)"

# root_up <dir>: a fresh root in <dir>/root, its writes in <dir>/rw.
root_up() {
	R=$1/root
	mkdir -p "$1/rw" "$R" &&
		mount -t tmpfs -o mode=0755 tmpfs "$1/rw" &&
		mkdir -p "$1/rw/upper" "$1/rw/work" &&
		mount -t overlay overlay -o "lowerdir=/lower,upperdir=$1/rw/upper,workdir=$1/rw/work" "$R" || return 1
	mount -t proc proc "$R/proc"
	mount -t sysfs sys "$R/sys"
	mount -t devtmpfs dev "$R/dev"
	mkdir -p "$R/dev/pts" "$R/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
	mount -t tmpfs tmpfs "$R/dev/shm"
	mount -t tmpfs -o mode=0755 tmpfs "$R/run"
	# bash's process substitution needs /dev/fd.
	ln -sfn /proc/self/fd "$R/dev/fd"
	ln -sf /proc/self/fd/0 "$R/dev/stdin"
	ln -sf /proc/self/fd/1 "$R/dev/stdout"
	ln -sf /proc/self/fd/2 "$R/dev/stderr"
}

# unload_new: the modules the last job loaded, so the next one finds the
# kernel as booted (a test may need a module not to be loaded). Best
# effort: a module still in use (a namespace being freed) stays.
unload_new() {
	local m left
	for _ in 1 2 3; do
		left=0
		while read -r m _; do
			case $BASE_MODS in *" $m "*) continue ;; esac
			rmmod "$m" 2>/dev/null || left=1
		done </proc/modules
		[ $left = 0 ] && return
		sleep 0.3
	done
}

# run_job <id>
run_job() {
	local id="$1" d="/j/$1" cg="/cg/$1" limit pid rc='' now end
	limit=$(cat "/batch/$id.limit" 2>/dev/null)
	case $limit in '' | *[!0-9]*) limit=600 ;; esac
	if [ -e "/batch/$id.cancel" ]; then
		rc=143 # the host gave up on it before its turn
	elif ! root_up "$d" || ! mkdir "$cg"; then
		echo "guest: cannot set up the root of job $id" >/dev/ttyS0
		rc=125
	else
		{
			echo "export FLT_GUEST_UPPER=/proc/1/root$d/rw/upper"
			cat "/batch/$id.run"
		} >"$R/run/flt-guest-job.sh"
		: >"/batch/$id.started"
		# shellcheck disable=SC2016 # $$ is the inner sh's
		sh -c 'echo $$ >"$1/cgroup.procs" && exec chroot "$2" /bin/bash /run/flt-guest-job.sh' \
			- "$cg" "$R" </dev/null >"/batch/$id.out" 2>&1 &
		pid=$!
		end=$(($(date +%s) + limit))
		while kill -0 "$pid" 2>/dev/null; do
			now=$(date +%s)
			if [ -e "/batch/$id.cancel" ] || [ "$now" -ge "$end" ]; then
				rc=143
				[ "$now" -ge "$end" ] && rc=124
				echo 1 >"$cg/cgroup.kill"
				kill -KILL "$pid" 2>/dev/null # not in the cgroup yet
				break
			fi
			sleep 0.3
		done
		if [ -n "$rc" ]; then
			wait "$pid"
		else
			wait "$pid"
			rc=$?
		fi
		# What the job left running goes with it.
		echo 1 >"$cg/cgroup.kill" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -s "$cg/cgroup.procs" ] || break
			sleep 0.2
		done
		rmdir "$cg" 2>/dev/null
	fi
	umount -l "$d/root" 2>/dev/null
	umount -l "$d/rw" 2>/dev/null
	unload_new
	echo "$rc" >"/batch/$id.rc.tmp" && mv "/batch/$id.rc.tmp" "/batch/$id.rc"
}

: >/batch/ready
while :; do
	next=
	for j in /batch/*.job; do
		[ -e "$j" ] && next=$j && break
	done
	if [ -n "$next" ]; then
		id=${next##*/}
		id=${id%.job}
		mv "$next" "/batch/$id.run" && run_job "$id"
		continue
	fi
	[ -e /batch/stop ] && break
	sleep 0.3
done
finish 0
