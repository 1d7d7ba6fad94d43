#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The etcd password from a file, off the command line (issue 15, item 10),
# against etcd with RBAC on (a user limited to the network's prefix):
#   - --etcd-password-file (0600, with the trailing newline an editor
#     leaves): ready, the lease is in etcd, the password is in neither the
#     daemon's command line nor its environment, and one warning says the
#     credentials go to an http:// endpoint unencrypted;
#   - FLANNELD_ETCD_PASSWORD_FILE naming a file with a wrong password:
#     refused by etcd with the reason in the log;
#   - a FIFO as the password file: exit 1 at once naming the file (no
#     hang); --etcd-password with --etcd-password-file: exit 1.
#
#	sw: br0 10.200.0.1  etcd (auth on)
#	 |-- h1 10.200.0.11  flanneld 1   --etcd-password-file
#	 |-- h2 10.200.0.12  flanneld 2   FLANNELD_ETCD_PASSWORD_FILE (wrong)
#	 `-- h3 10.200.0.13  flanneld 3   a FIFO, then both flags
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld

topo_up 3
ETCD_EXTRA_ARGS="--auth-token simple" etcd_start
root() { etcdctl_sw --user root:rootpw "$@"; }
etcdctl_sw user add root:rootpw >/dev/null
etcdctl_sw user grant-role root root >/dev/null
etcdctl_sw user add flannel:fl-pw-7731 >/dev/null
etcdctl_sw role add flannel >/dev/null
etcdctl_sw role grant-permission flannel --prefix=true readwrite "$ETCD_PREFIX/" >/dev/null
etcdctl_sw user grant-role flannel flannel >/dev/null
etcdctl_sw auth enable >/dev/null
root put "$ETCD_PREFIX/config" "$DEFAULT_CONFIG" >/dev/null
etcdctl_sw get "$ETCD_PREFIX/config" >/dev/null 2>&1 && fail "etcd answers without credentials: auth is not on"

PW=$TMP/etcd-password
printf 'fl-pw-7731\n' >"$PW"
chmod 600 "$PW"
BAD=$TMP/etcd-password.bad
printf 'wrong\n' >"$BAD"
chmod 600 "$BAD"

# -- 1. --etcd-password-file
flannel_start 1 --etcd-username=flannel --etcd-password-file="$PW"
wait_ready 1
[ -n "$(root get --print-value-only -- "$(subnet_key_of 1)")" ] || fail "h1's lease is not in etcd"
pid=$(flannel_pid 1)
tr '\0' ' ' <"/proc/$pid/cmdline" | grep_q fl-pw-7731 && fail "the password is on the command line"
tr '\0' '\n' <"/proc/$pid/environ" | grep_q fl-pw-7731 && fail "the password is in the environment"
assert_eq "$(grep -c 'etcd credentials (user flannel) go to http://10.200.0.1:2379 unencrypted' "$(inst_dir 1)/flanneld.log")" 1 \
	"warnings about credentials over http://"
log_has 1 "readable by others" && fail "a warning about a 0600 password file"
pass "--etcd-password-file: ready under RBAC, the password on neither the command line nor the environment, one http:// warning"

# -- 2. FLANNELD_ETCD_PASSWORD_FILE with a wrong password
FLANNEL_WRAP="env FLANNELD_ETCD_PASSWORD_FILE=$BAD" flannel_start 2 --etcd-username=flannel
wait_until 15 log_has 2 "authentication failed" || fail "no clear error for the wrong password: $(tail -n 3 "$(inst_dir 2)/flanneld.log")"
is_ready 2 && fail "flanneld 2 is ready with a wrong password"
flannel_running 2 || fail "flanneld 2 exited instead of retrying"
flannel_stop 2
pass "FLANNELD_ETCD_PASSWORD_FILE: read; a wrong password is refused with the reason in the log"

# -- 3. a FIFO (a plain open would wait for a writer), and both flags
FIFO=$TMP/pw.fifo
mkfifo -m 600 "$FIFO"
flannel_start 3 --etcd-username=flannel --etcd-password-file="$FIFO"
wait_until 5 proc_exited flanneld-3 || fail "flanneld hangs on a FIFO as its password file"
assert_eq "$(proc_rc flanneld-3)" 1 "exit code with a FIFO as the password file"
log_has 3 "--etcd-password-file" "$FIFO" "not a regular file" || fail "no message naming the FIFO: $(tail -n 3 "$(inst_dir 3)/flanneld.log")"
flannel_start 3 --etcd-username=flannel --etcd-password=x --etcd-password-file="$PW"
wait_until 5 proc_exited flanneld-3 || fail "flanneld started with both --etcd-password and --etcd-password-file"
assert_eq "$(proc_rc flanneld-3)" 1 "exit code with both password flags"
log_has 3 "give one" || fail "no message for both password flags: $(tail -n 3 "$(inst_dir 3)/flanneld.log")"
flannel_stop 1
pass "a FIFO as the password file: exit 1 at once, naming it; both password flags: exit 1"
