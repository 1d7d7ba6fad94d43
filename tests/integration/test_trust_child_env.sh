#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables children get a fixed PATH and a minimal environment (issue 15,
# item 9). flanneld runs with FLANNELD_ETCD_PASSWORD set and a PATH whose
# first directory holds an "evil" iptables-restore and iptables-save: those
# must never run, and the real programs' stand-in (fake_sbin.sh puts it over
# /usr/sbin in the daemon's mount namespace only) records its environment,
# which must hold PATH=/usr/sbin:/usr/bin:/sbin:/bin and nothing of the
# daemon's: no password, no FLANNELD_* variable, not the daemon's PATH.
# The forward rules still arrive.
#
#	sw: br0 10.200.0.1 + etcd
#	 `-- h1 10.200.0.11  flanneld (default flags: forward rules on)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v iptables-restore >/dev/null || skip "iptables not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
MULTI=$(readlink -f "$(command -v iptables-restore)")
case ${MULTI##*/} in
*-multi) ;;
*) skip "iptables-restore is not a link to an xtables multi-call binary ($MULTI)" ;;
esac

topo_up 1
etcd_start
etcd_put_config "$DEFAULT_CONFIG"

# The evil ones, first in the daemon's PATH: leave a mark, then do the real job.
EVIL=$TMP/evil
mkdir -p "$EVIL"
for p in iptables-restore iptables-save; do
	printf '#!/bin/sh\necho "$0 $*" >>%s/ran\nexec %s %s "$@"\n' "$EVIL" "$MULTI" "$p" >"$EVIL/$p"
	chmod +x "$EVIL/$p"
done
# The stand-in over /usr/sbin: its environment, one file per run.
FAKE=$TMP/fake
mkdir -p "$FAKE/bin"
cat >"$FAKE/bin/iptables-restore" <<SH
#!/bin/sh
n=\$(ls "$FAKE" | grep -c '^env\.' || true)
env >"$FAKE/env.\$((n + 1))"
exec "$MULTI" iptables-restore "\$@"
SH
chmod +x "$FAKE/bin/iptables-restore"

FLANNEL_WRAP="env PATH=$EVIL:$PATH FLANNELD_ETCD_PASSWORD=s3cret-pw FLANNELD_UNRELATED=x $LIB_DIR/fake_sbin.sh $FAKE/bin" \
	flannel_start 1
wait_ready 1
fwd_in() { [ "$(host_exec 1 iptables-save -t filter | grep -c -- '^-A FLANNEL-FWD ')" = 2 ]; }
wait_until 20 fwd_in || fail "no forward rules: $(tail -n 5 "$(inst_dir 1)/flanneld.log")"
wait_until 10 test -s "$FAKE/env.1" || fail "the iptables-restore in /usr/sbin never ran"
tr '\0' '\n' <"/proc/$(flannel_pid 1)/environ" | grep_q -x FLANNELD_ETCD_PASSWORD=s3cret-pw ||
	fail "the daemon itself was not started with the password in its environment"
[ -e "$EVIL/ran" ] && fail "a helper was taken from the daemon's PATH: $(cat "$EVIL/ran")"
E=$FAKE/env.1
grep -q 's3cret-pw' "$E" && fail "the etcd password reached iptables-restore: $(grep s3cret "$E")"
grep -q '^FLANNELD_' "$E" && fail "FLANNELD_* variables reached iptables-restore: $(grep '^FLANNELD_' "$E")"
assert_eq "$(grep '^PATH=' "$E")" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" "iptables-restore's PATH"
n=$(grep -cv -e '^PATH=' -e '^LC_ALL=C$' -e '^PWD=' -e '^XTABLES_LOCKFILE=' -e '^SHLVL=' -e '^_=' -e '^OLDPWD=' "$E" || true)
assert_eq "$n" 0 "other variables in iptables-restore's environment ($(tr '\n' ' ' <"$E"))"
flannel_stop 1
pass "iptables-restore ran from /usr/sbin with PATH=/usr/sbin:/usr/bin:/sbin:/bin and $(wc -l <"$E") variables ($(cut -d= -f1 "$E" | tr '\n' ' ')); the password, FLANNELD_* and the daemon's PATH stayed behind; forward rules in place"
