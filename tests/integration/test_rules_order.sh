#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Where the iptables rules sit in the start-up, with a slow iptables-restore
# (a stand-in over /usr/sbin in the daemon's mount namespace that holds until
# the test releases it, then runs the real one): ordering, not timing.
#   - default flags (forward rules only): subnet.env, READY and /readyz 200
#     come while the forward rules' iptables-restore is still held; the
#     forward rules arrive once it is released.
#   - --ip-masq: subnet.env and READY=1 wait for the masquerade rules
#     (the held restore), while /healthz keeps answering (the loop is not
#     blocked); both come once it is released, the rules already in.
#
#	sw: br0 10.200.0.1 + etcd
#	 |-- h1 10.200.0.11  flanneld (default flags)
#	 `-- h2 10.200.0.12  flanneld --ip-masq, notify_recv.py
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v iptables-restore >/dev/null || skip "iptables not installed"
command -v python3 >/dev/null || skip "python3 not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"

topo_up 2
etcd_start
etcd_put_config "$DEFAULT_CONFIG"

# The stand-in: "start.N" when invocation N begins (saying whether subnet.env
# existed then), waits for "release" (20 s at most), runs the real one,
# "done.N" (the same) when that finished. flanneld runs its helpers from a
# fixed PATH with none of its environment, so each host's stand-in has its
# paths written in and sits over /usr/sbin in the daemon's own mount
# namespace (fake_sbin.sh). The real one is the xtables multi-call binary
# that /usr/sbin/iptables-restore links to, named by its first argument.
MULTI=$(readlink -f "$(command -v iptables-restore)")
case ${MULTI##*/} in
*-multi) ;;
*) skip "iptables-restore is not a link to an xtables multi-call binary ($MULTI)" ;;
esac

# start_slow <host> [flags...]: flanneld with the stand-in, markers in $TMP/fake<host>
start_slow() {
	local h=$1 d=$TMP/fake$1
	shift
	mkdir -p "$d/bin"
	cat >"$d/bin/iptables-restore" <<SH
#!/bin/sh
d=$d
n=\$(ls "\$d" | grep -c '^start\.' || true)
n=\$((n + 1))
env_now() { if [ -e "$(inst_dir "$h")/subnet.env" ]; then echo env; else echo no-env; fi; }
env_now >"\$d/start.\$n"
i=0
while [ ! -e "\$d/release" ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i + 1)); done
rc=0
"$MULTI" iptables-restore "\$@" || rc=\$?
env_now >"\$d/done.\$n"
exit \$rc
SH
	chmod +x "$d/bin/iptables-restore"
	FLANNEL_WRAP="env ${WRAP:-} $LIB_DIR/fake_sbin.sh $d/bin" flannel_start "$h" "$@"
}
marker() { cat "$TMP/fake$1/$2" 2>/dev/null; }
chain() { host_exec "$1" iptables-save -t "$2" | grep -c -- "^-A $3 " || true; }
fwd_in() { [ "$(chain "$1" filter FLANNEL-FWD)" = 2 ]; }

# -- default flags: forward rules in the background
start_slow 1
wait_until 20 test -e "$TMP/fake1/start.1" || fail "h1: iptables-restore never ran: $(tail -n 5 "$(inst_dir 1)/flanneld.log")"
wait_until 20 is_ready 1 || fail "h1 not ready while its forward rules' iptables-restore is held (readyz $(http_code 1 /readyz))"
assert_eq "$(marker 1 start.1)" env "h1: subnet.env when the forward rules' restore began"
[ -e "$TMP/fake1/done.1" ] && fail "h1: the held iptables-restore finished before the release"
assert_eq "$(chain 1 filter FLANNEL-FWD)" 0 "h1: forward rules before the release"
touch "$TMP/fake1/release"
# The held one itself completes (not killed by a deadline, not replaced by a resync).
wait_until 20 test -e "$TMP/fake1/done.1" || fail "h1: the held iptables-restore did not complete"
wait_until 20 fwd_in 1 || fail "h1: forward rules did not arrive after the release: $(host_exec 1 iptables-save -t filter)"
wait_until 10 log_has 1 "Forward rules for network 10.244.0.0/16 in place" || fail "h1: no forward rules message"
pass "default flags: subnet.env and /readyz 200 while the forward rules' iptables-restore is held, the rules after its release"

# -- --ip-masq: the masquerade rules first, the loop serving meanwhile
out=$TMP/notify.2
SPAWN_LOG=$TMP/notify.2.err spawn notify-2 "$(host_ns 2)" \
	python3 "$LIB_DIR/notify_recv.py" "$TMP/notify.sock" "$(inst_dir 2)/subnet.env" "$out"
wait_until 10 grep -qx bound "$out" 2>/dev/null || fail "notify receiver did not bind"
WRAP="NOTIFY_SOCKET=$TMP/notify.sock" start_slow 2 --ip-masq
wait_until 20 test -e "$TMP/fake2/start.1" || fail "h2: iptables-restore never ran: $(tail -n 5 "$(inst_dir 2)/flanneld.log")"
assert_eq "$(marker 2 start.1)" no-env "h2: subnet.env when the masquerade rules' restore began"
for _ in 1 2 3; do
	assert_eq "$(http_code 2 /healthz)" 200 "h2: /healthz while iptables-restore is held"
	assert_eq "$(http_code 2 /readyz)" 503 "h2: /readyz while iptables-restore is held"
	assert_eq "$(http_code 2 /metrics)" 200 "h2: /metrics while iptables-restore is held"
done
[ -e "$TMP/fake2/done.1" ] && fail "h2: the held iptables-restore finished before the release"
[ -e "$(inst_dir 2)/subnet.env" ] && fail "h2: subnet.env before the masquerade rules"
grep -q READY=1 "$out" && fail "h2: READY=1 before the masquerade rules"
touch "$TMP/fake2/release"
wait_ready 2
assert_eq "$(marker 2 done.1)" no-env "h2: subnet.env when the masquerade rules' restore finished"
assert_eq "$(chain 2 nat FLANNEL-POSTRTG)" 6 "h2: masquerade rules"
wait_until 10 grep -q '^1 READY=1' "$out" || fail "h2: no READY=1 after subnet.env: $(cat "$out")"
wait_until 20 fwd_in 2 || fail "h2: no forward rules"
flannel_stop_all 1 2
pass "--ip-masq: subnet.env and READY=1 only after the masquerade rules are in; /healthz and /metrics answered during the held iptables-restore"
