#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The single test command: dependencies, build, unit tests (make check, under
# ASan+UBSan), then every tests/integration/test_*.sh (as root, each under a
# timeout, each in its own namespaces) in two passes: against the daemon as
# built and against the ASan+UBSan build (build-san/flanneld), several tests
# at a time; then a short run of every fuzz target (fuzz/run.sh). The last
# line is "N passed, M failed[, K skipped]"; the exit code is non-zero if
# anything failed.
#
#	tests/run.sh                   everything
#	tests/run.sh burst outage      only integration tests whose name matches
#	                               (then no fuzzing unless FUZZ_SECONDS is set)
#	TEST_TIMEOUT=600 tests/run.sh  per-test timeout in seconds (default 300;
#	                               GUEST_TEST_TIMEOUT, default 900, for a test
#	                               that runs in the qemu guest: TCG on a loaded
#	                               2-core machine took 570 s and more for
#	                               test_wireguard with both families; there
#	                               from its turn in the shared guest, and the
#	                               wait for that turn is bounded by it too)
#	TEST_JOBS=1 tests/run.sh       tests run at once (default 3; each has its
#	                               own namespaces and etcd)
#	PASSES=plain tests/run.sh      one integration pass (plain, san, or "plain san")
#	SAN=1 tests/run.sh             the same as PASSES=san
#	FUZZ_SECONDS=300 tests/run.sh  seconds per fuzz target (default 30; 0: none)
#	KEEP_OUT=1 tests/run.sh        keep the logs (the directory is printed at the end)
#	STRICT=1 tests/run.sh          a skip is a failure unless the test is in
#	                               tests/skip-allowed.txt (which gives the
#	                               reason); so is a machine where network
#	                               namespaces cannot be made (.ci/run sets it)
#	GUEST_PASSES="plain san"       passes that run the tests which boot a qemu
#	                               guest because this kernel lacks a module
#	                               (tests/integration/guest.sh; default: san,
#	                               the guest being slow). On a kernel that has
#	                               the module they run natively in every pass.
#	GUEST_BATCH=0 tests/run.sh     a qemu guest per guest test (default: one
#	                               guest, booted at the start, runs them all)
#
# Tests that do not run the daemon under test (marked "# ci: once" in their
# header: the test bed, the etcd client, valgrind on the plain build,
# packaging) run in the last pass only. A test marked "# ci: exclusive"
# runs with no other test beside it. A test marked "# ci: guest" boots a
# qemu guest whatever this kernel has (the Debian package's install, a
# module this kernel has built in): it gets GUEST_PASS=1 in a GUEST_PASSES
# pass (else 0: it leaves its guest part to that pass) and the guest's
# timeout and turn there. Longest first, so that the waits of the
# slow tests overlap (times from the last run in build/test-times, else the
# list below).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
if [ "${SAN:-0}" = 1 ]; then
	PASSES=san
fi
PASSES=${PASSES:-plain san}
GUEST_PASSES=${GUEST_PASSES:-san}
if [ $# -gt 0 ]; then
	FUZZ_SECONDS=${FUZZ_SECONDS:-0}
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
GUEST_TEST_TIMEOUT=${GUEST_TEST_TIMEOUT:-900}
TEST_JOBS=${TEST_JOBS:-3}
STRICT=${STRICT:-0}
JOBS_MAKE=$(nproc 2>/dev/null || echo 2)
TIMES=build/test-times
ALLOWED=tests/skip-allowed.txt
SAN_RE='AddressSanitizer|LeakSanitizer|runtime error:'
# Seconds per test in the san pass on a loaded 2-core VM, for the first run.
KNOWN_TIMES="test_wireguard 400 test_etcd_faults 124 test_concurrent_start 89 test_ipip 83
	test_vxlan 61 test_hostgw 33 test_etcd_outage 32 test_bad_input 32 test_ipv6_backends 31
	test_etcd_secure 30 test_lease_lifecycle 28 test_mixed_upstream 27 test_etcd_client 25
	test_scale 24 test_udp 18 test_check_config 16 test_masq 16 test_iface 15
	test_debian_package 250 test_br_netfilter 160 test_claims_bigwatch 50 test_claims_upstream 45
	test_extension 40 test_claims_masq 35 test_xtables_lock 36 test_trust_memory 23 test_ipsec 330 test_ipsec_vici 60"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/flanneld-tests.XXXXXX")
# cpu_ticks: busy and total jiffies of all CPUs so far (/proc/stat's cpu line).
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
read -r CPU_BUSY0 CPU_ALL0 < <(cpu_ticks)
GB=
GB_PID=
# guest_down: the shared qemu guest (below) ends with the run, whatever ends it.
guest_down() {
	[ -z "$GB_PID" ] || kill -TERM "$GB_PID" 2>/dev/null || true
	[ -z "$GB" ] || rm -rf "$GB"
}
trap 'guest_down; [ "${KEEP_OUT:-0}" = 1 ] || rm -rf "$OUT"' EXIT

passed=0
failed=0
skipped=0
failures=()
reasons=()

result() { # name PASS|FAIL|SKIP [seconds]
	printf '%-40s %s%s\n' "$1" "$2" "${3:+ (${3}s)}"
	case $2 in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*)
		failed=$((failed + 1))
		failures+=("$1")
		;;
	esac
}

show_tail() { # file [lines]
	tail -n "${2:-40}" "$1" | sed 's/^/    | /'
}

# bounded <seconds> <log> cmd...: a step that must not hold CI until its
# own limit; a timeout is said in the log.
bounded() {
	local secs=$1 log=$2 rc=0
	shift 2
	timeout -k 10 "$secs" "$@" >>"$log" 2>&1 || rc=$?
	[ $rc -ne 124 ] && [ $rc -ne 137 ] || echo "timed out after ${secs}s: $*" >>"$log"
	return $rc
}

# Remove what a killed test could not: namespaces named with its prefix and
# the processes still inside them (by PID, found through the namespace).
sweep() { # prefix
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$1-" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
		echo "    swept leftover namespace $ns"
	done
	# and the temp dir (lib.sh's) of a test killed after its timeout
	rm -rf "${TMPDIR:-/tmp}/$1".?????? 2>/dev/null || true
}

# -- dependencies and build (bench helpers too: test_scale runs bench/scale.sh,
# which would otherwise build them, twice at once)
if ! bounded 1200 "$OUT/deps.log" scripts/deps.sh; then
	result deps FAIL
	show_tail "$OUT/deps.log"
	reasons+=("deps: $(grep -iE 'error|fail' "$OUT/deps.log" | tail -n 2 | paste -sd ';')")
fi
start=$SECONDS
if bounded 900 "$OUT/make.log" make -j"$JOBS_MAKE" all bench &&
	{ [[ $PASSES != *san* ]] || bounded 900 "$OUT/make.log" make -j"$JOBS_MAKE" SAN=1; }; then
	result build PASS $((SECONDS - start))
else
	result build FAIL $((SECONDS - start))
	show_tail "$OUT/make.log"
	reasons+=("build: $(grep -E 'error|Error|timed out' "$OUT/make.log" | head -n 3 | paste -sd ';')")
fi

# -- unit tests: make check prints "unit: N passed, M failed"
start=$SECONDS
bounded 900 "$OUT/check.log" make -j"$JOBS_MAKE" units
bounded 600 "$OUT/check.log" make check
rc=$?
line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$OUT/check.log" | tail -n 1)
if [ -n "$line" ]; then
	up=$(sed -E 's/^unit: ([0-9]+) passed.*/\1/' <<<"$line")
	uf=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	printf '%-40s %s (%ss)\n' "unit" "${line#unit: }" $((SECONDS - start))
	passed=$((passed + up))
	failed=$((failed + uf))
	if [ "$uf" -gt 0 ]; then
		failures+=(unit)
		grep -E 'FAILED|\[  FAILED  \]|ERROR' "$OUT/check.log" | head -n 20 | sed 's/^/    | /'
		reasons+=("unit: $(grep -E '\[  FAILED  \]|ERROR|runtime error' "$OUT/check.log" | head -n 4 | paste -sd ';')")
	fi
	if [ $rc -ne 0 ] && [ "$uf" -eq 0 ]; then
		result "unit (make check exit $rc)" FAIL
		show_tail "$OUT/check.log"
		reasons+=("unit: make check exit $rc: $(tail -n 2 "$OUT/check.log" | paste -sd ';')")
	fi
else
	result unit FAIL $((SECONDS - start))
	show_tail "$OUT/check.log"
	reasons+=("unit: no summary line: $(tail -n 2 "$OUT/check.log" | paste -sd ';')")
fi

# -- what the machine can do
if [ "$(id -u)" -eq 0 ] && ip netns add "flr$$-probe" 2>/dev/null; then
	ip netns del "flr$$-probe"
	netns_ok=1
else
	netns_ok=0
	if [ "$STRICT" = 1 ]; then
		result "network namespaces" FAIL
		echo "    | cannot create network namespaces here (root: $(id -u)): no integration test could run"
	fi
fi

# shellcheck source=integration/guest.sh
. tests/integration/guest.sh
# guest_kinds <script>: the link kinds the test declares it needs a guest
# for (its in_guest_unless_kernel_has line); missing_kinds: those of them
# this kernel cannot create, probed in a throwaway namespace.
guest_kinds() { sed -nE 's/^in_guest_unless_kernel_has +//p' "$1" | head -n 1; }
declare -A MISSING=()
missing_kinds() {
	local t=$1 k out=
	if [ -z "${MISSING[$t]+x}" ]; then
		for k in $(guest_kinds "$t"); do
			_kernel_has_kind "$k" || out+="$k "
		done
		MISSING[$t]=${out% }
	fi
	echo "${MISSING[$t]}"
}
last_pass=${PASSES##* }

# allowed_skip <name>: the reason tests/skip-allowed.txt gives, if any.
allowed_skip() {
	[ -f "$ALLOWED" ] && awk -v n="$1" '$1 == n { $1 = ""; sub(/^ +/, ""); print; found = 1; exit } END { exit !found }' "$ALLOWED"
}

# -- the integration jobs: one per test and pass
J_NAME=()
J_FILE=()
J_PASS=()
J_EST=()
J_EXCL=()
J_GUEST=()
declare -A EST=()
read -ra kt <<<"$(tr '\n\t' '  ' <<<"$KNOWN_TIMES")"
for ((i = 0; i + 1 < ${#kt[@]}; i += 2)); do EST[${kt[i]}]=${kt[i + 1]}; done
if [ -f "$TIMES" ]; then
	while read -r n s; do [[ $s =~ ^[0-9]+$ ]] && EST[$n]=$s; done <"$TIMES"
fi

for pass in $PASSES; do
	case $pass in
	plain | san) ;;
	*)
		result "pass $pass" FAIL
		continue
		;;
	esac
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		if [ $# -gt 0 ]; then
			match=0
			for pat in "$@"; do [[ $name == *"$pat"* ]] && match=1; done
			[ $match -eq 1 ] || continue
		fi
		if grep -q '^# ci: once' "$t" && [ "$pass" != "$last_pass" ]; then
			continue # does not run the daemon under test: once is enough
		fi
		miss=
		if [ "$netns_ok" = 1 ] && [ -n "$(guest_kinds "$t")" ]; then
			miss=$(missing_kinds "$t")
			if [ -n "$miss" ] && [[ " $GUEST_PASSES " != *" $pass "* ]]; then
				sfx=
				[ "$pass" = san ] && sfx=" [san]"
				printf '%-40s %s\n' "$name$sfx" \
					"not run: this kernel lacks $miss; runs in the qemu guest in the pass(es) $GUEST_PASSES"
				continue
			fi
		fi
		J_NAME+=("$name")
		J_FILE+=("$t")
		J_PASS+=("$pass")
		J_EST+=("${EST[$name]:-10}")
		if grep -q '^# ci: exclusive' "$t"; then J_EXCL+=(1); else J_EXCL+=(0); fi
		if [ -n "$miss" ] || { grep -q '^# ci: guest' "$t" && [[ " $GUEST_PASSES " == *" $pass "* ]]; }; then
			J_GUEST+=(1)
		else
			J_GUEST+=(0)
		fi
	done
done

# Longest first; stable on the discovery order (plain before san of a test).
mapfile -t ORDER < <(for i in "${!J_NAME[@]}"; do echo "${J_EST[i]} $i"; done | sort -k1,1nr -k2,2n -s | awk '{print $2}')

# One qemu guest serves every guest test of the run, one after another
# (tests/qemu/run-in-guest.sh --serve; a boot costs 40-90 s under TCG): booted
# now, while the first tests start, and told to stop once no guest test is
# left. Each test still queues its own guest part, under its own timeout
# there, and keeps its own result; a test that finds this guest gone before
# its turn boots one of its own. Its bound covers the sum of theirs.
# GUEST_BATCH=0: a guest per test, as a test run by hand has.
guest_tests=0
for i in "${!J_NAME[@]}"; do [ "${J_GUEST[i]}" = 0 ] || guest_tests=$((guest_tests + 1)); done
if [ $guest_tests -gt 0 ] && [ "${GUEST_BATCH:-1}" = 1 ]; then
	GB=$(mktemp -d "${TMPDIR:-/tmp}/flanneld-guest.XXXXXX")
	GB_START=$SECONDS
	tests/qemu/run-in-guest.sh --serve "$GB" --timeout $((guest_tests * GUEST_TEST_TIMEOUT + 300)) \
		>"$OUT/guest.log" 2>&1 </dev/null &
	GB_PID=$!
	echo "$GB_PID" >"$GB/pid" # before a test asks whether it is up
fi
# guest_stop_if_done: no guest test pending or running: the guest may go.
guest_stop_if_done() {
	local j
	[ -n "$GB" ] && [ ! -e "$GB/stop" ] && [ $guest_running -eq 0 ] || return 0
	for j in "${PENDING[@]}"; do [ "${J_GUEST[j]}" = 0 ] || return 0; done
	: >"$GB/stop"
}

label() { # job index
	local s=
	[ "${J_PASS[$1]}" = san ] && s=" [san]"
	echo "${J_NAME[$1]}$s"
}

# finish <job>: its result line (and the log's tail on failure), as the job ends.
finish() {
	local i=$1 rc el name log reason
	rc=$(cat "$OUT/job$i.rc" 2>/dev/null || echo 255)
	el=$(($(cat "$OUT/job$i.end") - $(cat "$OUT/job$i.start")))
	name=$(label "$i")
	log=$OUT/${J_NAME[i]}.${J_PASS[i]}.log
	echo "${J_NAME[i]} $el" >>"$OUT/times.${J_PASS[i]}"
	# A report in the test's output fails it whatever its exit code (a skip
	# can come after a daemon ran; lib.sh also fails on reports in daemon logs).
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
		if grep -qE "$SAN_RE" "$log"; then
			result "$name" FAIL "$el"
			echo "    | sanitizer report in the test's output (exit $rc)"
			reasons+=("$name: $(grep -m1 -E "$SAN_RE" "$log")")
			grep -E -A12 "$SAN_RE" "$log" | head -n 40 | sed 's/^/    | /'
			sweep "${J_PREFIX[i]}"
			return
		fi
	fi
	case $rc in
	0) result "$name" PASS "$el" ;;
	77)
		reason=$(grep -m1 '^SKIP' "$log")
		if [ "$STRICT" = 1 ]; then
			if allowed=$(allowed_skip "${J_NAME[i]}"); then
				result "$name" SKIP "$el"
				echo "    | $reason"
				echo "    | allowed in strict mode ($ALLOWED): $allowed"
			else
				result "$name" FAIL "$el"
				echo "    | strict mode: a skip is a failure ($ALLOWED does not list ${J_NAME[i]})"
				echo "    | $reason"
			fi
		else
			result "$name" SKIP "$el"
			echo "    | $reason"
		fi
		;;
	124 | 137)
		result "$name" FAIL "$el"
		reasons+=("$name: timed out")
		if [ "${J_GUEST[i]}" = 1 ]; then
			echo "    | timed out (run-in-guest's line below says which bound)"
		else
			echo "    | timed out after ${J_LIMIT[i]}s"
		fi
		show_tail "$log"
		;;
	*)
		result "$name" FAIL "$el"
		# The FAIL line first: the daemons' logs after it can push it out of the tail.
		grep -m1 '^FAIL' "$log" | sed 's/^/    | /'
		reasons+=("$name: $(grep -m1 '^FAIL' "$log" || echo "exit $rc, no FAIL line")")
		show_tail "$log" 60
		;;
	esac
	sweep "${J_PREFIX[i]}"
}

# launch <job>: run it in the background; it writes job<i>.rc when done.
J_PREFIX=()
J_LIMIT=()
launch() {
	local i=$1 bin limit=$TEST_TIMEOUT wait=0
	# The guest's own bound (guest.sh) ends before the test's; in the shared
	# guest it counts from the test's turn there, after at most one other's.
	if [ "${J_GUEST[i]}" = 1 ]; then
		limit=$GUEST_TEST_TIMEOUT
		[ -z "$GB" ] || wait=$GUEST_TEST_TIMEOUT
	fi
	J_LIMIT[i]=$limit
	case ${J_PASS[i]} in
	plain) bin=$PWD/build/flanneld ;;
	san) bin=$PWD/build-san/flanneld ;;
	esac
	J_PREFIX[i]=flr$$x$i
	date +%s >"$OUT/job$i.start"
	(
		rc=0
		FLANNELD=$bin FLT_PREFIX=${J_PREFIX[i]} GUEST_TIMEOUT=$((limit - 30)) GUEST_PASS=${J_GUEST[i]} \
			FLT_GUEST_BATCH=$GB \
			timeout -k 15 $((limit + wait)) \
			bash "${J_FILE[i]}" >"$OUT/${J_NAME[i]}.${J_PASS[i]}.log" 2>&1 </dev/null || rc=$?
		date +%s >"$OUT/job$i.end"
		echo "$rc" >"$OUT/job$i.rc"
		echo "$i" >"$OUT/ended"
	) &
}

# The tests use the Debian tools deps.sh installs: those first in PATH (a
# version manager's python3 shim took 10 s to start on a loaded machine).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

[ "$TEST_JOBS" -ge 1 ] 2>/dev/null || TEST_JOBS=1
# Each job writes its number to this FIFO as it ends: the loop below sleeps
# in read until one does (held open read-write here, so writers never block).
mkfifo "$OUT/ended"
exec {ENDED}<>"$OUT/ended"
declare -A RUNNING=() # job -> 1
excl_running=0
guest_running=0
# One qemu guest at a time (each keeps a CPU busy under TCG). The shared
# guest takes two guest tests at once: one runs there while the other does
# its part on this machine (the Debian package's build) or waits its turn;
# a test waiting there does not hold one of the TEST_JOBS.
guest_max=1
[ -z "$GB" ] || guest_max=2
PENDING=("${ORDER[@]}")
# pick: the first pending job that may start now (index into PENDING in
# PICKED), or none. An exclusive test waits for the others to end and runs
# alone.
pick() {
	local k j busy=${#RUNNING[@]} q
	if [ -n "$GB" ]; then
		for q in "$GB"/*.job; do [ -e "$q" ] && busy=$((busy - 1)); done
	fi
	[ "$busy" -lt "$TEST_JOBS" ] && [ $excl_running -eq 0 ] || return 1
	for k in "${!PENDING[@]}"; do
		j=${PENDING[k]}
		[ "${J_EXCL[j]}" = 1 ] && [ ${#RUNNING[@]} -gt 0 ] && return 1
		[ "${J_GUEST[j]}" = 1 ] && [ $guest_running -ge $guest_max ] && continue
		PICKED=$k
		return 0
	done
	return 1
}
while [ ${#PENDING[@]} -gt 0 ] || [ ${#RUNNING[@]} -gt 0 ]; do
	while pick; do
		j=${PENDING[PICKED]}
		unset "PENDING[$PICKED]"
		launch "$j"
		RUNNING[$j]=1
		[ "${J_EXCL[j]}" = 1 ] && excl_running=1
		[ "${J_GUEST[j]}" = 1 ] && guest_running=$((guest_running + 1))
	done
	done_any=0
	for j in "${!RUNNING[@]}"; do
		if [ -e "$OUT/job$j.rc" ]; then
			finish "$j"
			unset "RUNNING[$j]"
			[ "${J_EXCL[j]}" = 1 ] && excl_running=0
			[ "${J_GUEST[j]}" = 1 ] && guest_running=$((guest_running - 1))
			done_any=1
		fi
	done
	guest_stop_if_done
	# Sleep until a job ends (the timeout only guards against a lost line).
	[ $done_any -eq 1 ] || [ ${#RUNNING[@]} -eq 0 ] || read -r -t 5 -u "$ENDED" _ || true
done
guest_stop_if_done
if [ -n "$GB_PID" ]; then
	rc=0
	wait "$GB_PID" || rc=$?
	up=-
	[ -e "$GB/ready" ] && up="booted in $(($(stat -c %Y "$GB/ready") - $(stat -c %Y "$GB/pid")))s,"
	printf '%-40s %s\n' "(qemu guest)" "one boot for $guest_tests guest tests: $up up $((SECONDS - GB_START))s, exit $rc"
	[ $rc -eq 0 ] || show_tail "$OUT/guest.log" 20
	GB_PID=
fi
wait

# Durations of this run for the next one's order (the slower pass of each test).
if [ -n "$(ls "$OUT"/times.* 2>/dev/null)" ]; then
	mkdir -p build
	touch "$TIMES"
	cat "$OUT"/times.* | awk 'FNR == NR { old[$1] = $2; next }
		!($1 in new) || $2 > new[$1] { new[$1] = $2 }
		END { for (n in old) if (!(n in new)) new[n] = old[n]; for (n in new) print n, new[n] }' \
		"$TIMES" - | sort >"$TIMES.tmp" && mv "$TIMES.tmp" "$TIMES"
fi

# -- fuzzing: fuzz/run.sh prints "fuzz: N passed, M failed"
if [ "$FUZZ_SECONDS" -gt 0 ]; then
	start=$SECONDS
	fuzz/run.sh "$FUZZ_SECONDS" >"$OUT/fuzz.log" 2>&1
	line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$OUT/fuzz.log" | tail -n 1)
	grep -E ' (PASS|FAIL) ' "$OUT/fuzz.log" | sed 's/^/    /'
	if [ -n "$line" ]; then
		fp=$(sed -E 's/^fuzz: ([0-9]+) passed.*/\1/' <<<"$line")
		ff=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
		printf '%-40s %s (%ss)\n' "fuzz ($FUZZ_SECONDS s per target)" "${line#fuzz: }" $((SECONDS - start))
		passed=$((passed + fp))
		failed=$((failed + ff))
		[ "$ff" -eq 0 ] || {
			failures+=(fuzz)
			reasons+=("fuzz: $(grep ' FAIL ' "$OUT/fuzz.log" | tr -s ' ' | paste -sd ';')")
			grep -A6 ' FAIL ' "$OUT/fuzz.log" | sed 's/^/    | /'
		}
	else
		result fuzz FAIL $((SECONDS - start))
		show_tail "$OUT/fuzz.log"
	fi
fi

# Why each test failed, again at the end: CI may keep only the last lines.
for r in "${reasons[@]}"; do
	echo "why: ${r:0:300}"
done
# How busy the machine was: a run near 100% can only get shorter by doing less.
read -r b a < <(cpu_ticks)
echo "cpu: $(((b - CPU_BUSY0) * 100 / (a - CPU_ALL0 + 1)))% busy over ${SECONDS}s on $(nproc) CPUs"
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary+=", $skipped skipped"
[ "${KEEP_OUT:-0}" != 1 ] || echo "logs: $OUT"
echo "$summary"
[ "$failed" -eq 0 ]
