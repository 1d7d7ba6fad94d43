# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Test bed for flanneld integration tests. Source it from a test script:
#
#	. "$(dirname "$0")/lib.sh"
#
# Topology (every box is a network namespace this file creates; nothing is
# added to, or changed in, the machine's own namespace):
#
#	          <prefix>-sw                       etcd: http://10.200.0.1:2379
#	  +-----------------------------+                 http://127.0.0.1:2379
#	  | br0 10.200.0.1/24   lo      |           peer: http://127.0.0.1:2380
#	  |  |      |      ...   |      |
#	  | h1     h2           hN      |  <- veth ends, ports of br0
#	  +--|------|------------|------+
#	     |      |            |
#	  +--|---+ +|-----+    +-|----+
#	  | eth0 | | eth0 |    | eth0 |   10.200.0.(10+N)/24, default via .1
#	  | lo   | | lo   |    | lo   |   healthz on 127.0.0.1:9911 (:9912 ...)
#	  +------+ +------+    +------+
#	  <prefix>-h1 -h2   ...  -hN      one flanneld (or more) per host
#
# Names carry a per-run prefix ($FLT_PREFIX, default "flt<pid>") so parallel
# runs don't collide. All state (etcd data, logs, subnet.env files) lives in
# a temp dir ($TMP) that cleanup removes; set KEEP_TMP=1 to keep it.
#
# A flanneld "instance" is named by its host number, optionally followed by
# letters: "1" runs in host 1, "1b" is a second daemon in host 1 (e.g. a
# second network); each instance has its own dir $TMP/h<id>/ with
# subnet.env, flanneld.log, pid, rc and port.
#
# Exit codes of a test: 0 pass, 77 skip, anything else fail.

set -euo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LIB_DIR/../.." && pwd)
FLANNELD=${FLANNELD:-$REPO_ROOT/build/flanneld}
FLT_PREFIX=${FLT_PREFIX:-flt$$}
SW_NS=$FLT_PREFIX-sw
SW_IP=10.200.0.1
ETCD_CLIENT=http://$SW_IP:2379
ETCD_PREFIX=/coreos.com/network
HEALTHZ_PORT=9911
# shellcheck disable=SC2034 # used by the tests
DEFAULT_CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"alloc"}}'
TEST_NAME=$(basename "$0" .sh)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/$FLT_PREFIX.XXXXXX")
mkdir -p "$TMP/procs"
: >"$TMP/netns.list"
ETCD_DATA=$TMP/etcd.data
ETCD_LOG=$TMP/etcd.log
_CLEANED=0

# ---------------------------------------------------------------- messages

info() { printf '%s [%s] %s\n' "$(date +%T.%3N)" "$TEST_NAME" "$*" >&2; }

# ok: <claim> (at <s>): seconds since the test started, to see where its time goes.
pass() { printf 'ok: %s (at %ss)\n' "$*" "$SECONDS"; }

# Print the tail of every flanneld log (and etcd's), then exit 1; the EXIT
# trap cleans up. upstream.log: upstream's Go flanneld in a mixed-cluster
# test. With FAIL_HOSTS="4 5 6" only those hosts' logs (for a test that
# runs cases side by side).
fail() {
	local f h
	printf 'FAIL: %s\n' "$*"
	# In a subshell stdout may be a $(...) capture: say it where it shows.
	[ "$BASH_SUBSHELL" -eq 0 ] || printf 'FAIL: %s\n' "$*" >&2
	for f in "$TMP"/h*/flanneld.log "$TMP"/h*/upstream.log; do
		[ -f "$f" ] || continue
		h=${f#"$TMP"/h}
		h=${h%%[!0-9]*}
		[ -z "${FAIL_HOSTS:-}" ] || [[ " $FAIL_HOSTS " == *" $h "* ]] || continue
		printf -- '--- last 30 lines of %s\n' "${f#"$TMP"/}"
		tail -n 30 "$f"
	done
	if [ -f "$ETCD_LOG" ]; then
		printf -- '--- last 5 lines of etcd.log\n'
		tail -n 5 "$ETCD_LOG"
	fi
	exit 1
}

skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

assert_eq() { # actual expected [what]
	[ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

assert_grep() { # file regex
	grep -Eq -- "$2" "$1" 2>/dev/null || fail "$1 does not match /$2/"
}

# grep_q <grep args>: grep -q for the end of a pipeline. grep -q exits at
# the first match, the writer before it can then die of SIGPIPE, and under
# pipefail a found match reads as a failure: this one reads all its input.
grep_q() { grep "$@" >/dev/null; }

# ---------------------------------------------------------------- polling

now_us() { echo "${EPOCHREALTIME/./}"; }

# wait_until <timeout_s> cmd...: run cmd every 50 ms until it succeeds
# (return 0) or the deadline passes (return 1). Bounded in time and count.
wait_until() {
	local timeout=$1 deadline n=0 max
	shift
	deadline=$((${EPOCHREALTIME/./} + timeout * 1000000))
	max=$((timeout * 20 + 20))
	while :; do
		if "$@"; then
			return 0
		fi
		if ((${EPOCHREALTIME/./} >= deadline)) || ((++n > max)); then
			return 1
		fi
		sleep 0.05
	done
}

# hold_for <seconds> cmd...: cmd must succeed at every poll (every 100 ms)
# for the whole duration; return 1 at the first failure. For "stays alive
# while X" checks, not for synchronisation.
hold_for() {
	local secs=$1 deadline n=0 max
	shift
	deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
	max=$((secs * 10 + 10))
	while ((${EPOCHREALTIME/./} < deadline)) && ((n++ < max)); do
		"$@" || return 1
		sleep 0.1
	done
	"$@"
}

# ---------------------------------------------------------------- requirements

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	command -v ip >/dev/null || skip "iproute2 (ip) not installed"
	local probe=$FLT_PREFIX-probe
	ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces here"
	ip netns del "$probe"
}

require_etcd() {
	command -v etcd >/dev/null || skip "etcd not installed (scripts/deps.sh)"
	command -v etcdctl >/dev/null || skip "etcdctl not installed (scripts/deps.sh)"
}

require_flanneld() {
	[ -x "$FLANNELD" ] || fail "$FLANNELD not found: run make"
}

# require_vxlan: skip unless a host namespace can create a vxlan link
# (topo_up must have run).
require_vxlan() {
	host_exec 1 ip link add probe0 type vxlan id 9 dstport 4789 2>/dev/null ||
		skip "no vxlan support in this kernel"
	host_exec 1 ip link del probe0
}

# require_upstream: sets UPSTREAM to upstream's Go flanneld
# ($UPSTREAM_FLANNELD, else ../shared/upstream/flanneld-v0.20.2 beside the
# repository). Missing: skip, or fail with CI=true.
require_upstream() {
	UPSTREAM=${UPSTREAM_FLANNELD:-$REPO_ROOT/../shared/upstream/flanneld-v0.20.2}
	if [ ! -x "$UPSTREAM" ]; then
		[ "${CI:-}" = true ] &&
			fail "upstream Go flanneld not found at $UPSTREAM (CI=true: copy shared/ beside the repository or set UPSTREAM_FLANNELD)"
		skip "upstream Go flanneld not found at $UPSTREAM (set UPSTREAM_FLANNELD, see shared/upstream/README.md)"
	fi
	"$UPSTREAM" --version >/dev/null 2>&1 || fail "$UPSTREAM --version failed: not a runnable flanneld"
}

# require_masq_tools: the masquerade tests use both rule back-ends.
require_masq_tools() {
	command -v iptables-save >/dev/null || skip "iptables not installed"
	command -v nft >/dev/null || skip "nftables not installed"
}

# ---------------------------------------------------------------- processes
#
# spawn <name> <ns|-> cmd...: start cmd in the background (inside netns <ns>
# unless "-"), record its PID in $TMP/procs/<name>/pid and, once it exits,
# its exit code in .../rc. If $SPAWN_GATE names a FIFO, the process waits
# on it (already inside the namespace) before exec'ing cmd: see gate_*.

spawn() {
	local name=$1 ns=$2 d=$TMP/procs/$1 out=${SPAWN_LOG:-/dev/null} gate=${SPAWN_GATE:-}
	shift 2
	rm -rf "$d"
	mkdir -p "$d"
	local pre=()
	[ "$ns" = - ] || pre=(ip netns exec "$ns")
	if [ -n "$gate" ]; then
		# shellcheck disable=SC2016 # expanded by sh, not here
		pre+=(sh -c ': <"$1"; shift; exec "$@"' gate "$gate")
	fi
	[ "${SPAWN_LOG_APPEND:-0}" = 1 ] || : >"$out"
	(
		echo "$BASHPID" >"$d/wrapper"
		"${pre[@]}" "$@" >>"$out" 2>&1 </dev/null &
		local pid=$!
		echo "$pid" >"$d/pid.tmp"
		mv "$d/pid.tmp" "$d/pid"
		local rc=0
		wait "$pid" || rc=$?
		echo "$rc" >"$d/rc.tmp"
		mv "$d/rc.tmp" "$d/rc"
	) </dev/null >/dev/null 2>&1 &
	wait_until 5 test -s "$d/pid" || fail "could not start $name"
}

proc_pid() { cat "$TMP/procs/$1/pid"; }

proc_running() { [ -s "$TMP/procs/$1/pid" ] && [ ! -e "$TMP/procs/$1/rc" ]; }

proc_exited() { [ -e "$TMP/procs/$1/rc" ]; }

proc_rc() { cat "$TMP/procs/$1/rc"; }

# True if <pid> is still the process we spawned under <name>: its parent is
# our wrapper or its command line mentions our temp dir.
_proc_is_ours() {
	local name=$1 pid=$2 ppid wrapper
	[ -d "/proc/$pid" ] || return 1
	wrapper=$(cat "$TMP/procs/$name/wrapper" 2>/dev/null || echo x)
	ppid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
	[ "$ppid" = "$wrapper" ] && return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep_q -F -- "$TMP"
}

# proc_signal <name> <SIG>: signal a process we spawned, if still running.
proc_signal() {
	local pid
	proc_running "$1" || return 0
	pid=$(proc_pid "$1")
	_proc_is_ours "$1" "$pid" && kill -s "$2" "$pid" 2>/dev/null
	return 0
}

# proc_stop <name> [timeout_s]: SIGTERM, wait for the exit, SIGKILL if it
# does not come; returns the exit code (137 etc. after SIGKILL).
proc_stop() {
	local name=$1 t=${2:-10}
	proc_running "$name" || return "$(proc_rc "$name" 2>/dev/null || echo 0)"
	proc_signal "$name" TERM
	if ! wait_until "$t" proc_exited "$name"; then
		proc_signal "$name" KILL
		wait_until 5 proc_exited "$name" || true
	fi
	return "$(proc_rc "$name" 2>/dev/null || echo 255)"
}

# ---------------------------------------------------------------- topology

sw_exec() { ip netns exec "$SW_NS" "$@"; }

host_ns() { echo "$FLT_PREFIX-h$1"; }
host_ip() { echo "10.200.0.$((10 + $1))"; }
host_exec() {
	local n=$1
	shift
	ip netns exec "$(host_ns "$n")" "$@"
}

_netns_add() {
	ip netns add "$1"
	echo "$1" >>"$TMP/netns.list"
	ip -n "$1" link set lo up
}

# topo_up <N>: switch namespace with br0 and N host namespaces (1..N). Can be
# called again with a larger N to add hosts.
topo_up() {
	local n=$1 i ns
	((n >= 1 && n <= 200)) || fail "topo_up: 1..200 hosts"
	if ! grep -qx "$SW_NS" "$TMP/netns.list"; then
		_netns_add "$SW_NS"
		ip -n "$SW_NS" link add br0 type bridge
		ip -n "$SW_NS" addr add "$SW_IP/24" dev br0
		ip -n "$SW_NS" link set br0 up
	fi
	for ((i = 1; i <= n; i++)); do
		ns=$(host_ns "$i")
		grep -qx "$ns" "$TMP/netns.list" && continue
		_netns_add "$ns"
		# The veth is created inside the switch namespace and its peer is
		# moved straight into the host namespace: the machine's own
		# namespace never sees either end.
		ip -n "$SW_NS" link add "h$i" type veth peer name eth0 netns "$ns"
		ip -n "$SW_NS" link set "h$i" master br0 up
		ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$SW_IP"
		mkdir -p "$TMP/h$i"
	done
}

topo_down() {
	local ns
	while read -r ns; do
		[ -n "$ns" ] || continue
		ip netns del "$ns" 2>/dev/null || info "could not delete netns $ns"
	done <"$TMP/netns.list"
	: >"$TMP/netns.list"
}

# ---------------------------------------------------------------- etcd

etcd_healthy() { sw_exec curl -sf -m 1 http://127.0.0.1:2379/health 2>/dev/null | grep_q '"health":"true"'; }

# ETCD_EXTRA_ARGS: more flags for etcd, split on blanks (e.g. --enable-grpc-gateway=false).
etcd_start() {
	local extra
	read -ra extra <<<"${ETCD_EXTRA_ARGS:-}"
	mkdir -p "$ETCD_DATA"
	chmod 700 "$ETCD_DATA"
	SPAWN_LOG=$ETCD_LOG spawn etcd "$SW_NS" etcd \
		--name flt \
		--data-dir "$ETCD_DATA" \
		--listen-client-urls "$ETCD_CLIENT,http://127.0.0.1:2379" \
		--advertise-client-urls "$ETCD_CLIENT" \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster flt=http://127.0.0.1:2380 \
		--logger zap --log-outputs stderr "${extra[@]}"
	# In the qemu guest (TCG, a loaded host) etcd took over 20 s to start.
	if ! wait_until "$([ "${FLANNELD_IN_GUEST:-0}" = 1 ] && echo 60 || echo 20)" etcd_healthy; then
		tail -n 20 "$ETCD_LOG" >&2
		fail "etcd did not become healthy"
	fi
}

etcd_stop() {
	local rc=0
	proc_stop etcd 15 || rc=$?
	# etcd re-raises SIGTERM after its own cleanup, so 143 is a clean stop.
	[ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || info "etcd exited with $rc"
}

etcd_restart() {
	etcd_stop
	SPAWN_LOG_APPEND=1 etcd_start
}

etcdctl_sw() {
	sw_exec env ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 "$@"
}

# make_test_pki: a throw-away PKI in $P ($TMP/pki): ca.pem/ca-key.pem (the
# CA etcd trusts), other.pem (an unrelated CA), srv.pem/srv-key.pem (etcd's,
# IP SANs $SW_IP and 127.0.0.1), cli.pem/cli-key.pem (a client's).
make_test_pki() {
	P=$TMP/pki
	mkdir -p "$P"
	(
		cd "$P"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=flt-ca
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other-key.pem -out other.pem -days 1 -subj /CN=other-ca
		openssl req -newkey rsa:2048 -nodes -keyout srv-key.pem -out srv.csr -subj /CN=etcd
		printf 'subjectAltName=IP:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$SW_IP" >srv.ext
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out srv.pem -days 1 -extfile srv.ext
		openssl req -newkey rsa:2048 -nodes -keyout cli-key.pem -out cli.csr -subj /CN=flannel
		printf 'extendedKeyUsage=clientAuth\n' >cli.ext
		openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cli.pem -days 1 -extfile cli.ext
	) >"$TMP/openssl.log" 2>&1 || fail "openssl could not make the certificates: $(tail -n 5 "$TMP/openssl.log")"
}

# etcd_tls_start <port>: a second etcd ("tls") on https://$SW_IP:<port>
# (and 127.0.0.1), peer port <port>+1, requiring client certificates from
# make_test_pki's CA. Sets ETCDS; tlsctl runs etcdctl against it.
etcd_tls_start() {
	TLS_PORT=$1
	ETCDS=https://$SW_IP:$1
	SPAWN_LOG=$TMP/etcd-tls.log spawn etcd-tls "$SW_NS" etcd --name tls --data-dir "$TMP/tls.data" \
		--listen-client-urls "$ETCDS,https://127.0.0.1:$1" --advertise-client-urls "$ETCDS" \
		--listen-peer-urls "http://127.0.0.1:$(($1 + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$(($1 + 1))" \
		--initial-cluster "tls=http://127.0.0.1:$(($1 + 1))" \
		--cert-file "$P/srv.pem" --key-file "$P/srv-key.pem" --client-cert-auth --trusted-ca-file "$P/ca.pem" \
		--logger zap --log-outputs stderr
	wait_until 20 eval 'tlsctl endpoint health >/dev/null 2>&1' || fail "TLS etcd not healthy: $(tail -n 3 "$TMP/etcd-tls.log")"
}
tlsctl() {
	sw_exec env ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$TLS_PORT" --cacert "$P/ca.pem" \
		--cert "$P/cli.pem" --key "$P/cli-key.pem" "$@"
}

# etcd_put_config '<json>' [prefix]
etcd_put_config() {
	etcdctl_sw put -- "${2:-$ETCD_PREFIX}/config" "$1" >/dev/null
}

etcd_revision() {
	etcdctl_sw endpoint status -w json | jq -r '.[0].Status.header.revision'
}

# etcd_compact: compact to the current revision (physically).
etcd_compact() {
	local rev
	rev=$(etcd_revision)
	etcdctl_sw compaction --physical "$rev" >/dev/null
	echo "$rev"
}

# etcd_lease_grant <ttl_s>: print the new lease ID (hex, as etcdctl wants it).
etcd_lease_grant() {
	etcdctl_sw lease grant "$1" | awk '/granted/ {print $2}'
}

# subnet_keys [prefix]: the keys under <prefix>/subnets/, one per line.
subnet_keys() {
	etcdctl_sw get --prefix --keys-only "${1:-$ETCD_PREFIX}/subnets/" | grep -v '^$' || true
}

# free_subnets <count> [prefix]: <count> keys 10.244.X.0-24 (X from 1 up)
# that are not in etcd yet, for fake peers that must not hit a real one.
free_subnets() {
	local want=$1 p=${2:-$ETCD_PREFIX} x k taken
	taken=$(subnet_keys "$p")
	for ((x = 1; x < 255 && want > 0; x++)); do
		k=$p/subnets/10.244.$x.0-24
		grep -qxF -- "$k" <<<"$taken" && continue
		echo "$k"
		((want--)) || true
	done
}

# key_lease <key>: the etcd lease ID of a key, in decimal (0 when it has
# none, empty when the key does not exist). "-w fields" prints it exactly;
# jq would round it to a double.
key_lease() {
	etcdctl_sw get -w fields -- "$1" | awk -F' : ' '$1 == "\"Lease\"" { print $2 }'
}

# lease_value <public-ip>: a lease value as the alloc backend writes it.
lease_value() { printf '{"PublicIP":"%s","PublicIPv6":null}' "$1"; }

# put_lease <key> <public-ip> [lease-id]: write a peer's lease (with no
# lease-id: a reservation, i.e. a key without an etcd lease).
put_lease() {
	local opt=()
	[ -z "${3:-}" ] || opt=(--lease="$3")
	etcdctl_sw put "${opt[@]}" -- "$1" "$(lease_value "$2")" >/dev/null
}

# key_value <key>
key_value() {
	etcdctl_sw get --print-value-only -- "$1"
}

# etcd_revoke_all: revoke every etcd lease (and so every key attached).
etcd_revoke_all() {
	local id
	for id in $(etcdctl_sw lease list | awk 'NR > 1 { print $1 }'); do
		etcdctl_sw lease revoke "$id" >/dev/null 2>&1 || true
	done
}

# ---------------------------------------------------------------- flanneld

_inst_host() { echo "${1%%[!0-9]*}"; }
inst_dir() { echo "$TMP/h$1"; }

# flannel_start <id> [extra flags...]: start a flanneld in host <id>'s
# namespace with the default flags below; an extra flag with the same name
# replaces the default. With FLANNEL_GATE=<fifo> set, the daemon waits on
# the gate before exec (see gate_open/gate_release).
flannel_start() {
	local id=$1 n d port=$HEALTHZ_PORT a f name skipit
	shift
	n=$(_inst_host "$id")
	d=$(inst_dir "$id")
	mkdir -p "$d"
	local defaults=(
		"--etcd-endpoints=$ETCD_CLIENT"
		"--subnet-file=$d/subnet.env"
		"--public-ip=$(host_ip "$n")"
		"--iface=eth0"
		"--healthz-ip=127.0.0.1"
		"--healthz-port=$HEALTHZ_PORT"
		"-v=1"
	)
	local args=()
	for f in "${defaults[@]}"; do
		name=${f%%=*}
		skipit=0
		for a in "$@"; do
			[ "${a%%=*}" = "$name" ] && skipit=1
		done
		[ $skipit -eq 1 ] || args+=("$f")
	done
	args+=("$@")
	for a in "${args[@]}"; do
		case $a in --healthz-port=*) port=${a#*=} ;; esac
	done
	echo "$port" >"$d/port"
	# Keep earlier runs of this instance in flanneld.log.prev so that
	# log_has only sees the current run.
	[ -s "$d/flanneld.log" ] && cat "$d/flanneld.log" >>"$d/flanneld.log.prev"
	# FLANNEL_WRAP: a command to run the daemon under (valgrind ...).
	# shellcheck disable=SC2086 # split on purpose
	SPAWN_LOG=$d/flanneld.log SPAWN_GATE=${FLANNEL_GATE:-} \
		spawn "flanneld-$id" "$(host_ns "$n")" ${FLANNEL_WRAP:-} "$FLANNELD" "${args[@]}"
}

flannel_pid() { proc_pid "flanneld-$1"; }
flannel_running() { proc_running "flanneld-$1"; }

# flannel_stop <id>: SIGTERM, wait for the exit, assert exit code 0.
flannel_stop() {
	local rc=0
	proc_stop "flanneld-$1" 15 || rc=$?
	[ "$rc" -eq 0 ] || fail "flanneld $1 exited with $rc after SIGTERM (expected 0)"
}

# flannel_stop_all <id>...: SIGTERM to all at once, then assert each exits 0.
flannel_stop_all() {
	local id rc
	for id in "$@"; do proc_signal "flanneld-$id" TERM; done
	for id in "$@"; do
		wait_until 15 proc_exited "flanneld-$id" || fail "flanneld $id did not exit after SIGTERM"
		rc=$(proc_rc "flanneld-$id")
		[ "$rc" -eq 0 ] || fail "flanneld $id exited with $rc after SIGTERM (expected 0)"
	done
}

flannel_kill() {
	proc_signal "flanneld-$1" KILL
	wait_until 5 proc_exited "flanneld-$1" || fail "flanneld $1 survived SIGKILL"
}

# http_code <id> <path>: HTTP status of the instance's health server.
http_code() {
	local n port
	n=$(_inst_host "$1")
	port=$(cat "$(inst_dir "$1")/port")
	host_exec "$n" curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$2" 2>/dev/null || true
}

is_ready() { [ "$(http_code "$1" /readyz)" = 200 ]; }

# _ready_logged <id>: this run of the instance logged "flannel is ready"
# (builtins only: no fork; flannel_start starts a fresh flanneld.log).
_ready_logged() {
	local line
	[ -f "$TMP/h$1/flanneld.log" ] || return 1
	while IFS= read -r line; do
		[[ $line == *"flannel is ready"* ]] && return 0
	done <"$TMP/h$1/flanneld.log"
	return 1
}

# _ready_poll <id>: /readyz (two forks) once the log says ready, else only
# every 10th poll (500 ms): a daemon that does not log it (upstream's, one
# under a wrapper) is still seen.
_ready_poll() {
	{ _ready_logged "$1" || ((++_READY_POLLS % 10 == 0)); } && is_ready "$1"
}

# wait_ready <id> [timeout_s]
wait_ready() {
	_READY_POLLS=0
	wait_until "${2:-20}" _ready_poll "$1" || fail "flanneld $1 not ready (readyz $(http_code "$1" /readyz))"
}

# metric <id> <name>: value of a Prometheus metric (first sample; labels
# allowed); prints nothing and returns 1 when absent.
metric() {
	local n port out
	n=$(_inst_host "$1")
	port=$(cat "$(inst_dir "$1")/port")
	out=$(host_exec "$n" curl -s -m 2 "http://127.0.0.1:$port/metrics" 2>/dev/null) || return 1
	awk -v m="$2" '$1 == m || index($1, m "{") == 1 { print $2; found = 1; exit } END { exit !found }' <<<"$out"
}

metric_eq() { # id name value
	local v
	v=$(metric "$1" "$2") || return 1
	awk -v a="$v" -v b="$3" 'BEGIN { exit !(a + 0 == b + 0) }'
}

metric_ge() { # id name value
	local v
	v=$(metric "$1" "$2") || return 1
	awk -v a="$v" -v b="$3" 'BEGIN { exit !(a + 0 >= b + 0) }'
}

# subnet_of <id>: FLANNEL_SUBNET from the instance's subnet.env.
subnet_of() {
	sed -n 's/^FLANNEL_SUBNET=//p' "$(inst_dir "$1")/subnet.env" 2>/dev/null | tail -n 1
}

# subnet_key_of <id> [prefix]: the etcd key for the instance's lease
# (FLANNEL_SUBNET 10.244.3.1/24 -> <prefix>/subnets/10.244.3.0-24).
subnet_key_of() {
	local s net len
	s=$(subnet_of "$1")
	[ -n "$s" ] || return 1
	len=${s#*/}
	net=$(awk -F'[./]' -v l="$len" '{
		ip = (($1 * 256 + $2) * 256 + $3) * 256 + $4
		sz = 2 ^ (32 - l); ip = ip - ip % sz
		printf "%d.%d.%d.%d", int(ip / 16777216), int(ip / 65536) % 256, int(ip / 256) % 256, ip % 256
	}' <<<"$s")
	echo "${2:-$ETCD_PREFIX}/subnets/$net-$len"
}

# log_has <id> <string>...: one line of the current run's log contains
# every string (fixed strings, not regexes).
log_has() {
	local f s
	f=$(inst_dir "$1")/flanneld.log
	shift
	[ -f "$f" ] || return 1
	s=$(cat "$f")
	while [ $# -gt 0 ]; do
		s=$(grep -F -- "$1" <<<"$s") || return 1
		shift
	done
}

# ---------------------------------------------------------------- start gate
#
# gate_open: make a FIFO; daemons started with FLANNEL_GATE=$GATE block in
# open(2) on it. gate_release opens it read-write, which wakes every
# blocked reader at the same instant (and lets later ones straight through).

gate_open() {
	GATE=$TMP/gate.$RANDOM
	mkfifo "$GATE"
}

# gate_blocked <name>...: every named process is blocked opening the gate.
gate_blocked() {
	local name
	for name in "$@"; do
		proc_running "$name" || return 1
		[ "$(cat "/proc/$(proc_pid "$name")/wchan" 2>/dev/null)" = wait_for_partner ] || return 1
	done
}

gate_release() {
	exec {GATE_FD}<>"$GATE"
}

gate_close() {
	[ -n "${GATE_FD:-}" ] && exec {GATE_FD}>&-
	GATE_FD=
	rm -f "$GATE"
}

# ---------------------------------------------------------------- containers
#
# A "container" is a namespace <prefix>-c<n> behind host n, wired the way
# Docker's --bip/--mtu would use subnet.env: bridge cni0 in the host holding
# FLANNEL_SUBNET's address with FLANNEL_MTU, a veth from cni0 into the
# container, the container on the next address with a default route via
# the bridge. Both veth ends are created in the host namespace and one is
# moved straight into the container: the machine's namespace sees neither.
#
#	host n: eth0 -- flannel.<VNI>    cni0 10.244.X.1/24 -- vc<n>
#	                                                      |
#	container n:                                eth0 10.244.X.2/24

container_ns() { echo "$FLT_PREFIX-c$1"; }
container_exec() {
	local n=$1
	shift
	ip netns exec "$(container_ns "$n")" "$@"
}

# ip_add <a.b.c.d> <k>: the address k after a.b.c.d.
ip_add() {
	awk -F. -v k="$2" '{
		ip = (($1 * 256 + $2) * 256 + $3) * 256 + $4 + k
		printf "%d.%d.%d.%d\n", int(ip / 16777216) % 256, int(ip / 65536) % 256, int(ip / 256) % 256, ip % 256
	}' <<<"$1"
}

# ip_int <a.b.c.d>: the address as an integer.
ip_int() { awk -F. '{ printf "%d\n", (($1 * 256 + $2) * 256 + $3) * 256 + $4 }' <<<"$1"; }

# peer_route <net> <len> <via...>: a route of flanneld's to a peer's subnet
# as `ip route show proto 158` prints it. It names a nexthop object whose id
# is the subnet address (--nexthop-objects, the default).
peer_route() {
	local net=$1 len=$2
	shift 2
	echo "$net/$len nhid $(ip_int "$net") $*"
}

# mtu_of <id>: FLANNEL_MTU from the instance's subnet.env.
mtu_of() {
	sed -n 's/^FLANNEL_MTU=//p' "$(inst_dir "$1")/subnet.env" 2>/dev/null | tail -n 1
}

# container_ip <n>: the container's address (FLANNEL_SUBNET's address + 1).
container_ip() {
	local s
	s=$(subnet_of "$1")
	[ -n "$s" ] || return 1
	ip_add "${s%/*}" 1
}

# container_up <n>: create container n from host n's subnet.env (flanneld
# must have written it).
container_up() {
	local n=$1 hns cns s mtu cip
	hns=$(host_ns "$n")
	cns=$(container_ns "$n")
	s=$(subnet_of "$n")
	mtu=$(mtu_of "$n")
	[ -n "$s" ] && [ -n "$mtu" ] || fail "container_up $n: no subnet.env for host $n"
	cip=$(container_ip "$n")
	grep -qx "$cns" "$TMP/netns.list" && fail "container_up $n: already up"
	_netns_add "$cns"
	ip netns exec "$hns" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$hns" link add cni0 type bridge
	ip -n "$hns" addr add "$s" dev cni0
	ip -n "$hns" link set cni0 mtu "$mtu" up
	ip -n "$hns" link add "vc$n" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$cns"
	ip -n "$hns" link set "vc$n" master cni0 up
	ip -n "$cns" addr add "$cip/${s#*/}" dev eth0
	ip -n "$cns" link set eth0 up
	ip -n "$cns" route add default via "${s%/*}"
}

# container_ping <from> <to> [count]: ping container <to> from container
# <from> (bounded: 2 s per reply, 10 s in all).
container_ping() {
	container_exec "$1" ping -q -c "${3:-2}" -i 0.2 -W 2 -w 10 "$(container_ip "$2")" >/dev/null 2>&1
}

# ping_all_pairs <n>: every container 1..n pings every other one; fails
# naming the first pair that cannot.
ping_all_pairs() {
	local a b
	for a in $(seq 1 "$1"); do
		for b in $(seq 1 "$1"); do
			[ "$a" = "$b" ] && continue
			container_ping "$a" "$b" || fail "container $a cannot ping container $b ($(container_ip "$b"))"
		done
	done
}

# iperf3_run <from> <to> <seconds> [timeout]: TCP from container <from> to
# container <to>; sets IPERF3_MBPS (received Mbit/s, fails when none
# arrived) and IPERF3_JSON (iperf3's report). Not in a $(...): fail must
# end the test, not a subshell.
iperf3_run() {
	local to_ip
	to_ip=$(container_ip "$2")
	IPERF3_JSON=$TMP/iperf3-$1-$2.json
	SPAWN_LOG=$TMP/iperf3-server-$1-$2.log spawn "iperf3-server-$1-$2" "$(container_ns "$2")" iperf3 -s -1 -B "$to_ip"
	wait_until 10 container_exec "$2" sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
	container_exec "$1" timeout "${4:-30}" iperf3 -c "$to_ip" -t "$3" -J >"$IPERF3_JSON" ||
		fail "iperf3 failed: $(tail -n 5 "$IPERF3_JSON")"
	IPERF3_MBPS=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$IPERF3_JSON")
	((IPERF3_MBPS > 0)) || fail "iperf3 measured $IPERF3_MBPS Mbit/s"
}

# ---------------------------------------------------------------- cleanup

cleanup() {
	local rc=$? d name
	[ "$_CLEANED" -eq 1 ] && return
	_CLEANED=1
	set +e
	for d in "$TMP"/procs/*/; do
		[ -d "$d" ] || continue
		name=$(basename "$d")
		proc_signal "$name" TERM
	done
	for d in "$TMP"/procs/*/; do
		[ -d "$d" ] || continue
		name=$(basename "$d")
		if ! wait_until 5 proc_exited "$name"; then
			proc_signal "$name" KILL
			wait_until 2 proc_exited "$name"
		fi
	done
	topo_down
	# A daemon built with sanitizers (make SAN=1, FLANNELD=build-san/flanneld)
	# reports to its log; any report fails an otherwise passing test.
	if grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP"/h*/flanneld.log* 2>/dev/null; then
		echo "FAIL: sanitizer report in the flanneld logs above"
		grep -hE -A12 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP"/h*/flanneld.log* | head -n 40
		# A skip too: the daemon ran before the test gave up.
		[ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || rc=1
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		info "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
