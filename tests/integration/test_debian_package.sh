#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ci: once (the package build does not depend on the daemon build under test)
# ci: guest (the package is installed in a qemu guest, never on this machine)
# The Debian package (debian/): dpkg-buildpackage builds
# flanneld_<VERSION>_amd64.deb with the Makefile's VERSION; lintian reports
# no error or warning; dpkg-deb -c / -I show the files with their modes and
# owners, /etc/default/flanneld as the only conffile, computed Depends plus
# iptables, libssl3 and libnftables1 as Recommends, and maintainer scripts
# that neither enable nor start the unit. Then, in a qemu guest (the
# machine's / read-only under a throwaway overlay: nothing is installed
# here), `apt install ./flanneld_*.deb`: the unit is there and disabled,
# systemd-analyze verify passes, `flanneld --version` and `man flanneld`
# work; `apt remove` leaves only the conffile (and dpkg's record of it),
# `apt purge` leaves nothing.
#
# The build runs in a copy of the tree, build-deb/tree (ignored by git), kept
# between runs so that only changed sources are recompiled
# (dpkg-buildpackage --no-pre-clean); the packages land in build-deb/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

# The guest gets it from here (make there would stat the tree over 9p).
if [ "${FLANNELD_IN_GUEST:-0}" != 1 ]; then
	export PKG_VERSION
	PKG_VERSION=$(make -s --no-print-directory -C "$REPO_ROOT" print-version)
fi
VERSION=$PKG_VERSION
DEB_DIR=$REPO_ROOT/build-deb
DEB=$DEB_DIR/flanneld_${VERSION}_amd64.deb

# ---------------------------------------------------------------- in the guest

# Every file with "flannel" in its path that the guest wrote: the upper
# layer of this job's overlay (tests/qemu/guest-init.sh names it, a path
# through pid 1, the guest's /init); paths from /.
guest_written() {
	(cd "$FLT_GUEST_UPPER" && find . -path '*flannel*') | sed 's|^\.||' | sort || true
}

in_guest() {
	# Never on the machine itself: the guest's / is an overlay and its
	# hostname is set by tests/qemu/guest-init.sh.
	if [ "$(hostname)" != flanneld-guest ] || [ "$(stat -f -c %T /)" != overlayfs ] ||
		[ ! -d "${FLT_GUEST_UPPER:-/nonexistent}" ]; then
		fail "not in the qemu guest: refusing to install packages"
	fi
	! dpkg -s flanneld >/dev/null 2>&1 || fail "flanneld is already installed in the guest"
	[ -z "$(guest_written)" ] || fail "flannel files before the install: $(guest_written)"
	export DEBIAN_FRONTEND=noninteractive
	# Guest-only settings, for time under emulation: the man-db trigger
	# would re-index every page (what man-db/auto-update=false does; man
	# finds the page without the index) and man would keep a formatted
	# copy in /var/cache/man; the guest has no network, so apt gets no
	# package lists to parse (~30 s each run): it resolves from the
	# installed packages, which hold every dependency.
	rm -f /var/lib/man-db/auto-update
	echo NOCACHE >>/etc/manpath.config
	mkdir -p /tmp/no-apt-lists/partial
	printf 'Dir::State::Lists "/tmp/no-apt-lists";\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
		>/etc/apt/apt.conf.d/99guest-test

	# -- install (no network in the guest: every dependency is already
	# installed, so apt has nothing to download)
	cd "$DEB_DIR"
	info "apt install"
	apt install -y "./${DEB##*/}" >"$TMP/install.log" 2>&1 ||
		fail "apt install failed: $(tail -n 20 "$TMP/install.log")"
	assert_eq "$(dpkg-query -W -f='${Status} ${Version}' flanneld)" "install ok installed $VERSION" \
		"dpkg status after apt install"
	pass "apt install ./${DEB##*/} (offline: every dependency already installed)"

	# -- the unit: present, disabled (no systemd as pid 1 in the guest:
	# systemctl works on the unit files, offline)
	[ -f /lib/systemd/system/flanneld.service ] || fail "no /lib/systemd/system/flanneld.service"
	local state
	state=$(SYSTEMD_OFFLINE=1 systemctl is-enabled flanneld.service 2>&1 || true)
	assert_eq "$state" disabled "systemctl is-enabled flanneld.service"
	[ -z "$(find /etc/systemd/system -name 'flanneld.service*')" ] ||
		fail "enablement links: $(find /etc/systemd/system -name 'flanneld.service*')"
	! pgrep -x flanneld >/dev/null || fail "a flanneld runs after the install"
	pass "the unit is installed and disabled (is-enabled: $state), no flanneld runs"

	# Documentation=man:flanneld(8) is checked too: verify runs man.
	info "systemd-analyze verify"
	systemd-analyze verify /lib/systemd/system/flanneld.service >"$TMP/verify.log" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
	! grep -q flanneld "$TMP/verify.log" || fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
	pass "systemd-analyze verify flanneld.service passes"

	local v
	v=$(/usr/sbin/flanneld --version 2>&1) || fail "flanneld --version failed: $v"
	[[ $v =~ ^v${VERSION//./\\.}( \(git [0-9a-f]+(-dirty)?\))?$ ]] ||
		fail "flanneld --version: '$v', expected v$VERSION [(git <commit>)]"
	assert_eq "$(man -w flanneld)" /usr/share/man/man8/flanneld.8.gz "man -w flanneld"
	LC_ALL=C MANWIDTH=80 man flanneld >"$TMP/man.txt" 2>"$TMP/man.err" ||
		fail "man flanneld: $(cat "$TMP/man.err")"
	grep -q '^NAME' "$TMP/man.txt" || fail "man flanneld: no NAME: $(head -n 5 "$TMP/man.txt")"
	grep -q 'flanneld - flannel overlay network daemon' "$TMP/man.txt" ||
		fail "man flanneld: not our page: $(head -n 5 "$TMP/man.txt")"
	pass "flanneld --version prints '$v'; man flanneld renders the page"

	# -- state as a run leaves it (the unit's RuntimeDirectory) and an
	# edited conffile
	mkdir -p /run/flannel
	echo FLANNEL_SUBNET=10.244.7.1/24 >/run/flannel/subnet.env
	echo 'FLANNELD_ETCD_ENDPOINTS=http://10.0.0.1:2379' >>/etc/default/flanneld

	# -- remove: the conffile stays (edited), dpkg's record of it and
	# deb-systemd-helper's for purge; nothing else
	info "apt remove"
	apt remove -y flanneld >"$TMP/remove.log" 2>&1 || fail "apt remove failed: $(tail -n 20 "$TMP/remove.log")"
	assert_eq "$(dpkg-query -W -f='${Status}' flanneld)" "deinstall ok config-files" "dpkg status after apt remove"
	[ ! -e /run/flannel ] || fail "/run/flannel left after apt remove: $(ls -la /run/flannel)"
	grep -q 10.0.0.1 /etc/default/flanneld || fail "the edited /etc/default/flanneld did not survive apt remove"
	local left unexpected
	left=$(guest_written)
	unexpected=$(grep -vxE '/etc/default/flanneld|/var/lib/dpkg/info/flanneld\.(list|conffiles|postrm|md5sums)|/var/lib/systemd/deb-systemd-helper-enabled/flanneld\.service\.dsh-also' <<<"$left" || true)
	[ -z "$unexpected" ] || fail "left after apt remove: $unexpected"
	pass "apt remove: /run/flannel gone; left: $(tr '\n' ' ' <<<"$left")"

	info "apt purge"
	apt purge -y flanneld >"$TMP/purge.log" 2>&1 || fail "apt purge failed: $(tail -n 20 "$TMP/purge.log")"
	! dpkg -s flanneld >/dev/null 2>&1 || fail "dpkg still knows flanneld after apt purge"
	left=$(guest_written)
	[ -z "$left" ] || fail "left after apt purge: $left"
	pass "apt purge: nothing of flanneld left on the guest's disk or in /run"
}

if [ "${FLANNELD_IN_GUEST:-0}" = 1 ]; then
	in_guest
	exit 0
fi

# ---------------------------------------------------------------- on the machine

for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || skip "$t not installed (scripts/deps.sh)"
done

# -- build, one at a time (two test passes may run this side by side)
mkdir -p "$DEB_DIR"
exec {lockfd}>"$DEB_DIR/.lock"
flock -w 600 "$lockfd" || fail "build-deb/.lock held for 10 minutes"
TREE=$DEB_DIR/tree
mkdir -p "$TREE"
# The copy gets the tree's files as they are (tracked and untracked, not
# ignored), mtimes kept: make rebuilds only what changed. Objects built
# under another Makefile or debian/rules go.
sum=$(cat "$REPO_ROOT/Makefile" "$REPO_ROOT/debian/rules" | md5sum)
[ "$sum" = "$(cat "$DEB_DIR/rules.sum" 2>/dev/null)" ] || rm -rf "$TREE/build" "$TREE/build-gen"
find "$TREE" -mindepth 1 -maxdepth 1 ! -name build ! -name build-gen -exec rm -rf {} +
(cd "$REPO_ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
	tar -C "$TREE" -xpf -
rm -f "$DEB_DIR"/flanneld_* "$DEB_DIR"/flanneld-dbgsym_*
start=$SECONDS
GIT_COMMIT=$(git -C "$REPO_ROOT" describe --always --dirty --exclude='*' 2>/dev/null || true)
(cd "$TREE" && GIT_COMMIT=$GIT_COMMIT DEB_BUILD_OPTIONS=parallel=2 \
	dpkg-buildpackage -b -us -uc --no-pre-clean) >"$DEB_DIR/build.log" 2>&1 ||
	fail "dpkg-buildpackage failed: $(tail -n 30 "$DEB_DIR/build.log")"
echo "$sum" >"$DEB_DIR/rules.sum"
[ -f "$DEB" ] || fail "no $DEB: $(ls "$DEB_DIR")"
pass "dpkg-buildpackage -b built ${DEB##*/} in $((SECONDS - start)) s"

# lintian (checked at the end) runs while the guest boots.
SPAWN_LOG=$TMP/lintian.log spawn lintian - \
	lintian --pedantic --display-info "$DEB_DIR/flanneld_${VERSION}_amd64.changes"

# -- control: name, version, depends, recommends, conffiles, scripts
field() { dpkg-deb -f "$DEB" "$1"; }
assert_eq "$(field Package) $(field Version) $(field Architecture)" "flanneld $VERSION amd64" "package"
depends=$(field Depends)
for d in 'libc6 (>= ' 'libjansson4 (>= ' 'libmnl0 (>= ' 'libnghttp2-14 (>= ' 'libprotobuf-c1 (>= '; do
	[[ $depends == *"$d"* ]] || fail "Depends has no computed '$d...': $depends"
done
[[ ", $depends, " == *", iptables, "* ]] || fail "Depends has no iptables: $depends"
[[ $depends != *libssl* && $depends != *libnftables* ]] || fail "dlopen'ed libraries in Depends: $depends"
assert_eq "$(field Recommends)" "libnftables1, libssl3" "Recommends"
[[ $(field Description) == *dlopen* ]] || fail "the description does not say why libssl3 and libnftables1 are Recommends"
dpkg-deb -I "$DEB" >"$TMP/info"
grep -qE '^ +[0-9]+ bytes, +[0-9]+ lines +conffiles' "$TMP/info" || fail "no conffiles: $(cat "$TMP/info")"
mkdir "$TMP/control"
dpkg-deb -e "$DEB" "$TMP/control"
assert_eq "$(cat "$TMP/control/conffiles")" /etc/default/flanneld "conffiles"
# Maintainer scripts: nothing starts the unit on a fresh install; enabling
# only restores the state of an earlier install (was-enabled).
# shellcheck disable=SC2016 # $_dh_action is the script's, not ours
! grep -qE 'deb-systemd-invoke (start|restart|\$_dh_action)|_dh_action=start|systemctl .*(start|enable)' \
	"$TMP/control/postinst" || fail "postinst starts the unit: $(cat "$TMP/control/postinst")"
# dh_installsystemd --no-enable's snippet: enable only what an earlier
# install of the package had enabled.
grep -q 'if deb-systemd-helper debian-installed' "$TMP/control/postinst" ||
	fail "postinst enables the unit on a fresh install: $(cat "$TMP/control/postinst")"
grep -q 'deb-systemd-invoke try-restart' "$TMP/control/postinst" || fail "postinst does not restart a running daemon on upgrade"
grep -q 'deb-systemd-invoke stop flanneld.service' "$TMP/control/prerm" || fail "prerm does not stop the daemon"
grep -q 'rm -rf /run/flannel' "$TMP/control/postrm" || fail "postrm leaves /run/flannel"
pass "dpkg-deb -I: $VERSION, Depends: $depends; Recommends: $(field Recommends); conffiles: /etc/default/flanneld; not enabled or started"

# -- data: every file, its mode and owner, nothing else
dpkg-deb -c "$DEB" | awk '{ print $1, $2, $6 }' | sort -k3 >"$TMP/contents"
sort -k3 >"$TMP/expected" <<-'EOF'
	drwxr-xr-x root/root ./
	drwxr-xr-x root/root ./etc/
	drwxr-xr-x root/root ./etc/default/
	-rw-r--r-- root/root ./etc/default/flanneld
	drwxr-xr-x root/root ./lib/
	drwxr-xr-x root/root ./lib/systemd/
	drwxr-xr-x root/root ./lib/systemd/system/
	-rw-r--r-- root/root ./lib/systemd/system/flanneld.service
	drwxr-xr-x root/root ./usr/
	drwxr-xr-x root/root ./usr/sbin/
	-rwxr-xr-x root/root ./usr/sbin/flanneld
	drwxr-xr-x root/root ./usr/share/
	drwxr-xr-x root/root ./usr/share/doc/
	drwxr-xr-x root/root ./usr/share/doc/flanneld/
	-rw-r--r-- root/root ./usr/share/doc/flanneld/README.md.gz
	-rw-r--r-- root/root ./usr/share/doc/flanneld/changelog.gz
	-rw-r--r-- root/root ./usr/share/doc/flanneld/copyright
	drwxr-xr-x root/root ./usr/share/doc/flanneld/examples/
	drwxr-xr-x root/root ./usr/share/doc/flanneld/examples/docker.service.d/
	-rw-r--r-- root/root ./usr/share/doc/flanneld/examples/docker.service.d/flannel.conf
	drwxr-xr-x root/root ./usr/share/lintian/
	drwxr-xr-x root/root ./usr/share/lintian/overrides/
	-rw-r--r-- root/root ./usr/share/lintian/overrides/flanneld
	drwxr-xr-x root/root ./usr/share/man/
	drwxr-xr-x root/root ./usr/share/man/man8/
	-rw-r--r-- root/root ./usr/share/man/man8/flanneld.8.gz
EOF
diff -u "$TMP/expected" "$TMP/contents" >"$TMP/contents.diff" || fail "dpkg-deb -c: $(cat "$TMP/contents.diff")"
# The files are the tree's, not stale copies.
dpkg-deb -x "$DEB" "$TMP/root"
R=$TMP/root
cmp -s "$R/etc/default/flanneld" "$REPO_ROOT/dist/flanneld.default" || fail "/etc/default/flanneld is not dist/flanneld.default"
cmp -s "$R/lib/systemd/system/flanneld.service" "$REPO_ROOT/dist/flanneld.service" || fail "the unit is not dist/flanneld.service"
zcat "$R/usr/share/man/man8/flanneld.8.gz" | cmp -s - "$REPO_ROOT/doc/flanneld.8" || fail "the man page is not doc/flanneld.8"
grep -q 'License: Apache-2.0' "$R/usr/share/doc/flanneld/copyright" || fail "copyright names no Apache-2.0"
pass "dpkg-deb -c: $(grep -c . "$TMP/contents") entries with the expected modes and owners; files match dist/ and doc/"

# -- install, check, remove and purge inside the guest
info "installing in a qemu guest"
rc=0
"$REPO_ROOT/tests/qemu/run-in-guest.sh" --timeout "${GUEST_TIMEOUT:-400}" \
	--env FLT_PREFIX --env KEEP_TMP --env PKG_VERSION bash "$0" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

# -- lintian: no error, no warning (info and pedantic tags are shown)
wait_until 120 proc_exited lintian || fail "lintian still runs after 120 s"
grep -v 'running with root privileges' "$TMP/lintian.log" >"$TMP/lintian.tags" || true
cat "$TMP/lintian.tags"
! grep -qE '^[EW]:' "$TMP/lintian.tags" || fail "lintian: $(grep -E '^[EW]:' "$TMP/lintian.tags")"
assert_eq "$(proc_rc lintian)" 0 "lintian's exit status"
pass "lintian: no errors or warnings ($(grep -c . "$TMP/lintian.tags" || true) other lines)"
