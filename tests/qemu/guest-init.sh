#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the test guest (busybox sh; see run-in-guest.sh): the host's /
# read-only over 9p under a tmpfs overlay, fresh /proc /sys /dev /run (not
# /tmp: the job's working directory may be there, e.g. CI's clone),
# the job directory read-write, then the job's cmd.sh in a chroot. Its exit
# status goes to the console as a marker line, then the guest powers off.
PATH=/bin:/sbin
export PATH
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

JOB=
MODS=
for kv in $(cat /proc/cmdline); do
	case $kv in
	flt.job=*) JOB=${kv#flt.job=} ;;
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
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower ||
	{ echo "guest: cannot mount the host's / over 9p" >/dev/ttyS0; finish 125; }
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	{ echo "guest: overlay mount failed" >/dev/ttyS0; finish 125; }

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $R/run
# bash's process substitution needs /dev/fd.
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mkdir -p "$R$JOB"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job "$R$JOB" ||
	{ echo "guest: cannot mount the job directory" >/dev/ttyS0; finish 125; }

# The kernel's request_module runs /sbin/modprobe in this root (pid 1 does
# not chroot itself): give it the whole unpacked module tree.
KVER=$(uname -r)
[ -n "$MODS" ] && [ -d "/lower$MODS" ] && mount --bind "/lower$MODS" "/lib/modules/$KVER"
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
hostname flanneld-guest

chroot $R /bin/bash "$JOB/cmd.sh" </dev/null >/dev/ttyS0 2>&1
finish $?
