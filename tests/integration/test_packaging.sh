#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packaging: the man page renders without warnings and cannot go stale
# (every flag of `flanneld --help` has an entry and every entry is a flag;
# every network config and vxlan field the parsers accept is described;
# the flags and backend types the binary refuses are the ones the page
# says it refuses, checked against the binary and a real etcd);
# `make install DESTDIR=... PREFIX=...` installs binary, unit, man page and
# examples with the right modes and paths, and `make uninstall` removes them.
# flanneld only runs in h1 here, and only to be refused at once.
#
#	sw: br0 10.200.0.1 + etcd     <- a config per backend type
#	 `-- h1 10.200.0.11   flanneld --ip-masq ... -> exit 1;
#	                      flanneld --check-config (one per backend type)
# ci: once (man page and install; the few daemon runs are start-up refusals)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
require_etcd
require_flanneld
command -v groff >/dev/null || skip "groff not installed (scripts/deps.sh)"
command -v man >/dev/null || skip "man-db not installed (scripts/deps.sh)"
command -v mandoc >/dev/null || skip "mandoc not installed (scripts/deps.sh)"
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (systemd, scripts/deps.sh)"

PAGE=$REPO_ROOT/doc/flanneld.8
topo_up 1

# -- renders without warnings
groff -man -ww -z "$PAGE" 2>"$TMP/groff.err" || fail "groff failed: $(cat "$TMP/groff.err")"
[ ! -s "$TMP/groff.err" ] || fail "groff warnings: $(cat "$TMP/groff.err")"
LC_ALL=C MANWIDTH=200 man --warnings -l "$PAGE" >"$TMP/page" 2>"$TMP/man.err" ||
	fail "man -l failed: $(cat "$TMP/man.err")"
[ ! -s "$TMP/man.err" ] || fail "man warnings: $(cat "$TMP/man.err")"
mandoc -T lint -W warning "$PAGE" >"$TMP/lint" 2>&1 || fail "mandoc lint: $(cat "$TMP/lint")"
grep -q '^NAME' "$TMP/page" || fail "rendered page has no NAME section"
pass "doc/flanneld.8 renders with groff -ww, man --warnings and mandoc -T lint, no warnings"

# -- flags: --help and the OPTIONS entries are the same set
"$FLANNELD" --help 2>&1 | awk '/^  -/ { sub(/,$/, "", $1); print $1 }' | sort >"$TMP/flags.help"
[ "$(wc -l <"$TMP/flags.help")" -ge 30 ] || fail "only $(wc -l <"$TMP/flags.help") flags in --help"
# An entry is a tag line at the 7-column indent: "--flag=value", "--flag", "-h, --help".
sed -n '/^OPTIONS/,/^[A-Z]/p' "$TMP/page" |
	sed -nE 's/^ {7}(--?[a-z0-9_-]+).*/\1/p' | sort >"$TMP/flags.man"
missing=$(comm -23 "$TMP/flags.help" "$TMP/flags.man" | tr '\n' ' ')
extra=$(comm -13 "$TMP/flags.help" "$TMP/flags.man" | tr '\n' ' ')
[ -z "$missing" ] || fail "flags without an entry in doc/flanneld.8: $missing"
[ -z "$extra" ] || fail "entries in doc/flanneld.8 that are not flags: $extra"
pass "all $(wc -l <"$TMP/flags.help") flags of --help have an entry, and nothing else does"

# entry <flag>: the text of the flag's entry, on one line.
entry() {
	awk -v f="$1" '
		!match($0, /[^ ]/) { next }
		RSTART == 8 && substr($0, 8, 1) == "-" {
			on = ($1 == f || index($1, f "=") == 1 || $1 == f ",")
			next
		}
		RSTART < 8 { on = 0 }
		on { printf "%s ", $0 }' "$TMP/page" | tr -s ' '
}
# Every flag's entry states its default (or that it takes none).
for f in $(cat "$TMP/flags.help"); do
	case $f in -h | --version | --check-config) continue ;; esac
	entry "$f" | grep_q -E 'Default' || fail "entry $f states no default: $(entry "$f")"
done
pass "every flag's entry states its default"

# -- refused flags: what the page says matches what the binary does
refused=()
for f in $(cat "$TMP/flags.help"); do
	entry "$f" | grep_q 'start-up fails' && refused+=("$f")
done
assert_eq "${refused[*]}" "--kube-subnet-mgr" \
	"flags the man page says are refused"
for f in "${refused[@]}"; do
	val=
	"$FLANNELD" --help 2>&1 | grep_q -E "^  $f (string|value|int) " && val==10.0.0.1
	rc=0
	host_exec 1 timeout 10 "$FLANNELD" "$f$val" --etcd-endpoints=http://127.0.0.1:1 \
		--subnet-file="$TMP/never.env" >"$TMP/refused.out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "$f$val: exit $rc, the man page says start-up fails: $(cat "$TMP/refused.out")"
	grep -q 'not supported' "$TMP/refused.out" || fail "$f$val: no 'not supported' message: $(cat "$TMP/refused.out")"
done
[ ! -e "$TMP/never.env" ] || fail "a refused start wrote subnet.env"
pass "refused flags (${refused[*]}) exit 1 with 'not supported', as the page says"

# -- network config and vxlan fields: every name the parsers accept is described
fields=$(sed -nE 's/^\s*\{ "([A-Za-z0-9]+)", F_[A-Z0-9]+, offsetof.*/\1/p' "$REPO_ROOT/src/config.c")
vxfields=$(grep -oE '\{ "[A-Za-z]+", F_(INT|BOOL)' "$REPO_ROOT/src/backend/vxlan_conf.c" | sed -E 's/\{ "([A-Za-z]+)".*/\1/')
[ "$(wc -w <<<"$fields")" -ge 10 ] && [ "$(wc -w <<<"$vxfields")" -ge 6 ] ||
	fail "could not read the field tables: '$fields' / '$vxfields'"
sed -n '/^NETWORK CONFIGURATION/,/^ENVIRONMENT/p' "$TMP/page" >"$TMP/netconf"
for n in $fields $vxfields; do
	grep -qw -- "$n" "$TMP/netconf" || fail "config field $n is not in NETWORK CONFIGURATION"
done
# Backend entries ("alloc", "vxlan", "host-gw, udp, ipip, wireguard"): those
# marked "Not supported yet" must be refused by --check-config, the others pass.
etcd_start
sed -n '/^ *Backends and their fields/,/^ENVIRONMENT/p' "$TMP/netconf" |
	sed -nE 's/^ {7}([a-z][a-z, -]*[a-z])(  +.*)?$/\1/p' >"$TMP/backend.tags"
[ "$(wc -l <"$TMP/backend.tags")" -ge 3 ] || fail "backend entries: $(cat "$TMP/backend.tags")"
nb=0
while read -r tag; do
	body=$(awk -v t="$tag" '
		!match($0, /[^ ]/) { next }
		RSTART == 8 {
			# A tag shorter than the indent has its text on the same line.
			on = ($0 == "       " t || index($0, "       " t "  ") == 1)
			if (on) printf "%s ", substr($0, 8 + length(t))
			next
		}
		RSTART < 8 { on = 0 }
		on { sub(/^ +/, ""); printf "%s ", $0 }' "$TMP/netconf")
	for type in ${tag//,/ }; do
		extra= # a field the backend cannot do without
		[ "$type" = ipsec ] && extra=",\"PSK\":\"$(printf '%096d' 7)\""
		etcd_put_config "{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"$type\"$extra}}"
		rc=0
		host_exec 1 timeout 20 "$FLANNELD" --check-config --etcd-endpoints="$ETCD_CLIENT" \
			>"$TMP/cc.out" 2>&1 || rc=$?
		if grep -q 'Not supported yet' <<<"$body"; then
			[ "$rc" -eq 1 ] && grep -q "not supported yet: backend type" "$TMP/cc.out" ||
				fail "backend $type: the page says not supported, --check-config: rc $rc $(cat "$TMP/cc.out")"
		else
			[ "$rc" -eq 0 ] || fail "backend $type: the page describes it, --check-config: rc $rc $(cat "$TMP/cc.out")"
		fi
		nb=$((nb + 1))
	done
done <"$TMP/backend.tags"
pass "$nb backend types: supported or not as the page says ($(tr '\n' ';' <"$TMP/backend.tags"))"

for s in ENVIRONMENT FILES SIGNALS "HEALTH AND METRICS" "EXIT STATUS" EXAMPLES; do
	grep -qx "$s" "$TMP/page" || fail "no $s section"
done
for w in FLANNEL_NETWORK FLANNEL_SUBNET FLANNEL_MTU FLANNEL_IPMASQ NOTIFY_SOCKET READY=1 \
	/healthz /readyz /metrics SIGTERM SIGHUP; do
	grep -qF -- "$w" "$TMP/page" || fail "the page does not mention $w"
done
pass "fields $(echo $fields $vxfields | tr ' ' ,) and the other sections are described"

# -- make install / uninstall
R=$TMP/root
make -s -C "$REPO_ROOT" install DESTDIR="$R" PREFIX=/usr >"$TMP/install.log" 2>&1 ||
	fail "make install failed: $(tail -n 20 "$TMP/install.log")"
mode() { stat -c %a "$R$1" 2>/dev/null || echo missing; }
assert_eq "$(mode /usr/sbin/flanneld)" 755 "mode of /usr/sbin/flanneld"
assert_eq "$(mode /usr/lib/systemd/system/flanneld.service)" 644 "mode of flanneld.service"
assert_eq "$(mode /usr/share/man/man8/flanneld.8)" 644 "mode of flanneld.8"
assert_eq "$(mode /usr/share/doc/flanneld/examples/docker.service.d/flannel.conf)" 644 "mode of the docker drop-in"
assert_eq "$(mode /usr/share/doc/flanneld/examples/flanneld.default)" 644 "mode of flanneld.default"
"$R/usr/sbin/flanneld" --version >/dev/null 2>&1 || fail "installed binary does not run"
cmp -s "$PAGE" "$R/usr/share/man/man8/flanneld.8" || fail "installed man page differs"
U=$R/usr/lib/systemd/system/flanneld.service
for l in Type=notify Restart=on-failure Wants=network-online.target \
	EnvironmentFile=-/etc/default/flanneld 'ExecStart=/usr/sbin/flanneld $FLANNELD_OPTS' \
	'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE' \
	RuntimeDirectory=flannel RuntimeDirectoryPreserve=yes; do
	grep -qxF -- "$l" "$U" || fail "flanneld.service lacks '$l'"
done
grep -qE '^After=(.* )?network-online.target( |$)' "$U" || fail "flanneld.service is not After=network-online.target"
D=$R/usr/share/doc/flanneld/examples/docker.service.d/flannel.conf
for l in Requires=flanneld.service After=flanneld.service EnvironmentFile=/run/flannel/subnet.env ExecStart=; do
	grep -qxF -- "$l" "$D" || fail "docker drop-in lacks '$l'"
done
grep -qE '^ExecStart=.*dockerd .*--bip=\$\{FLANNEL_SUBNET\} --mtu=\$\{FLANNEL_MTU\}' "$D" ||
	fail "docker drop-in does not pass --bip/--mtu from subnet.env"
MANPATH=$R/usr/share/man man -w flanneld >/dev/null 2>&1 || fail "man cannot find the installed page"
# Verify the unit as installed, with ExecStart at the staged binary and
# man: links resolved against the staged man page.
mkdir -p "$TMP/unit"
sed "s|/usr/sbin/flanneld|$R/usr/sbin/flanneld|" "$U" >"$TMP/unit/flanneld.service"
MANPATH=$R/usr/share/man systemd-analyze verify "$TMP/unit/flanneld.service" >"$TMP/verify" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$TMP/verify")"
pass "make install PREFIX=/usr: binary 755, unit and man page 644, unit verified by systemd-analyze"

make -s -C "$REPO_ROOT" install DESTDIR="$TMP/local" PREFIX=/usr/local UNITDIR=/etc/systemd/system \
	>"$TMP/install2.log" 2>&1 || fail "make install PREFIX=/usr/local failed: $(tail "$TMP/install2.log")"
grep -qxF 'ExecStart=/usr/local/sbin/flanneld $FLANNELD_OPTS' "$TMP/local/etc/systemd/system/flanneld.service" ||
	fail "unit installed under /usr/local does not run /usr/local/sbin/flanneld"
[ -x "$TMP/local/usr/local/sbin/flanneld" ] && [ -f "$TMP/local/usr/local/share/man/man8/flanneld.8" ] ||
	fail "PREFIX=/usr/local: files missing: $(cd "$TMP/local" && find . -type f)"
make -s -C "$REPO_ROOT" uninstall DESTDIR="$R" PREFIX=/usr >/dev/null 2>&1 || fail "make uninstall failed"
left=$(find "$R" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
pass "PREFIX=/usr/local with UNITDIR points ExecStart at /usr/local/sbin; make uninstall removes everything"
