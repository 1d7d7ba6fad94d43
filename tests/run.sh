#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The single test command: dependencies, build, unit tests (make check, under
# ASan+UBSan), then every tests/integration/test_*.sh (as root, each under a
# timeout, each in its own namespaces) twice: against the daemon as built
# and against the ASan+UBSan build (build-san/flanneld), then a short run of
# every fuzz target (fuzz/run.sh). The last line is "N passed, M failed[, K
# skipped]"; the exit code is non-zero if anything failed.
#
#	tests/run.sh                   everything
#	tests/run.sh burst outage      only integration tests whose name matches
#	                               (then no fuzzing unless FUZZ_SECONDS is set)
#	TEST_TIMEOUT=600 tests/run.sh  per-test timeout in seconds (default 300)
#	PASSES=plain tests/run.sh      one integration pass (plain, san, or "plain san")
#	SAN=1 tests/run.sh             the same as PASSES=san
#	FUZZ_SECONDS=300 tests/run.sh  seconds per fuzz target (default 30; 0: none)
#	GUEST_PASSES="plain san"       passes that run the tests which boot a qemu
#	                               guest when this kernel lacks a module
#	                               (tests/integration/guest.sh; default: san,
#	                               the guest being slow)
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
OUT=$(mktemp -d "${TMPDIR:-/tmp}/flanneld-tests.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

passed=0
failed=0
skipped=0
failures=()

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
}

# -- dependencies and build
if ! scripts/deps.sh >"$OUT/deps.log" 2>&1; then
	result deps FAIL
	show_tail "$OUT/deps.log"
fi
start=$SECONDS
if make >"$OUT/make.log" 2>&1 && { [[ $PASSES != *san* ]] || make SAN=1 >>"$OUT/make.log" 2>&1; }; then
	result build PASS $((SECONDS - start))
else
	result build FAIL $((SECONDS - start))
	show_tail "$OUT/make.log"
fi

# -- unit tests: make check prints "unit: N passed, M failed"
start=$SECONDS
make check >"$OUT/check.log" 2>&1
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
	fi
	if [ $rc -ne 0 ] && [ "$uf" -eq 0 ]; then
		result "unit (make check exit $rc)" FAIL
		show_tail "$OUT/check.log"
	fi
else
	result unit FAIL $((SECONDS - start))
	show_tail "$OUT/check.log"
fi

# guest_elsewhere <pass>: a guest test runs in another of this run's passes, not this one.
guest_elsewhere() {
	local p
	[[ " $GUEST_PASSES " == *" $1 "* ]] && return 1
	for p in $PASSES; do
		[[ " $GUEST_PASSES " == *" $p "* ]] && return 0
	done
	return 1
}

# -- integration tests, once per pass
n=0
for pass in $PASSES; do
	case $pass in
	plain) export FLANNELD=$PWD/build/flanneld suffix="" ;;
	san) export FLANNELD=$PWD/build-san/flanneld suffix=" [san]" ;;
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
		if grep -q in_guest_unless_kernel_has "$t" && guest_elsewhere "$pass"; then
			continue # the guest costs minutes: once, in a GUEST_PASSES pass
		fi
		n=$((n + 1))
		prefix=flr$$x$n
		log=$OUT/$name.$pass.log
		start=$SECONDS
		FLT_PREFIX=$prefix timeout -k 15 "$TEST_TIMEOUT" bash "$t" >"$log" 2>&1 </dev/null
		rc=$?
		el=$((SECONDS - start))
		case $rc in
		0) result "$name$suffix" PASS $el ;;
		77)
			result "$name$suffix" SKIP $el
			grep -m1 '^SKIP' "$log" | sed 's/^/    | /'
			;;
		124 | 137)
			result "$name$suffix" FAIL $el
			echo "    | timed out after ${TEST_TIMEOUT}s"
			show_tail "$log"
			;;
		*)
			result "$name$suffix" FAIL $el
			show_tail "$log" 60
			;;
		esac
		sweep "$prefix"
	done
done

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
		[ "$ff" -eq 0 ] || { failures+=(fuzz); grep -A6 ' FAIL ' "$OUT/fuzz.log" | sed 's/^/    | /'; }
	else
		result fuzz FAIL $((SECONDS - start))
		show_tail "$OUT/fuzz.log"
	fi
fi

[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary+=", $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
