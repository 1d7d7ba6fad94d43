#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every fuzz target (or those named) for SECONDS each, two at a time,
# starting from the committed seeds in fuzz/corpus/<target>/ plus what
# earlier runs found (kept in build-fuzz/corpus/). A crash, leak or
# sanitizer report fails its target; the input that did it is kept in
# build-fuzz/crashes/ and named in the output. Last line:
# "fuzz: N passed, M failed".
#
#	fuzz/run.sh [SECONDS] [target...]     default 60 s, every target
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
# Bounded: a hung compiler must not hold CI until its own limit.
timeout -k 10 900 make -s fuzz || { echo "fuzz: 0 passed, 1 failed (build)"; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz/fuzz_*.c | xargs -n1 basename | sed 's/\.c$//')
mkdir -p build-fuzz/crashes build-fuzz/logs

run_one() {
	local t=$1 work=build-fuzz/corpus/$t seeds=fuzz/corpus/$t log=build-fuzz/logs/$t.log
	mkdir -p "$work" "$seeds"
	# -rss_limit_mb: a parser that balloons on some input is a finding too.
	timeout -k 10 $((SECS + 120)) "build-fuzz/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="build-fuzz/crashes/$t-" "$work" "$seeds" >"$log" 2>&1
	echo $? >"$log.rc"
}

pids=()
for t in "${targets[@]}"; do
	run_one "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge 2 ]; then
		wait "${pids[0]}"
		pids=("${pids[@]:1}")
	fi
done
wait

passed=0
failed=0
for t in "${targets[@]}"; do
	log=build-fuzz/logs/$t.log
	rc=$(cat "$log.rc" 2>/dev/null || echo 1)
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{ print $2 }')
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | awk '{ print $2 }')
	corp=$(ls build-fuzz/corpus/$t | wc -l)
	if [ "$rc" = 0 ]; then
		printf '%-20s PASS  %s execs in %s s, coverage %s edges / %s features, corpus %s\n' \
			"$t" "${execs:-?}" "$SECS" "${cov:-?}" "${ft:-?}" "$corp"
		passed=$((passed + 1))
	else
		printf '%-20s FAIL  (exit %s)\n' "$t" "$rc"
		grep -E 'ERROR|SUMMARY|==ABORTING|Test unit written' "$log" | head -n 6 | sed 's/^/    | /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
