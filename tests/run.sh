#!/usr/bin/env bash
# Runs every test suite, each in its own process and temp dir with a timeout,
# and ends with one summary line over all suites: "N passed, N failed".
#   cmocka unit suites:   $BUILD/tests/test_*
#   Python suites:        tests/py/test_*.py   (unittest, /usr/bin/python3)
#   browser suites:       tests/browser/*.test.mjs (node's test runner, headless Chromium)
#   fuzz:                 tests/fuzz/run.sh, each libFuzzer target of $FUZZ_BUILD for
#                         FUZZ_CHECK_SECONDS (6) from its seeds; a crash or leak fails it
# TESTS="pattern ..." limits the suites run to those whose name holds one of the
# space-separated substrings.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
export BUILD BIN
export WINNOW_ROOT=$PWD
TIMEOUT=${TEST_TIMEOUT:-900}
PY=/usr/bin/python3
pass=0 fail=0 skip=0
failed_suites=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

wanted() {	# name: true when TESTS is empty or one of its words is in name
	[ -z "${TESTS:-}" ] && return 0
	local w
	for w in $TESTS; do [[ $1 == *"$w"* ]] && return 0; done
	return 1
}

run_suite() {	# name kind cmd...
	local name=$1 kind=$2; shift 2
	wanted "$name" || return
	local log=$logdir/$name.log tmp rc p=0 f=0 s=0
	tmp=$(mktemp -d)
	local t0=$SECONDS
	(cd "$tmp" && TMPDIR=$tmp timeout -k 10 "$TIMEOUT" "$@") >"$log" 2>&1
	rc=$?
	rm -rf "$tmp"
	if [ "$kind" = node ]; then
		p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
		s=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$log" | tail -1)
	elif [ "$kind" = plain ]; then
		p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log" | tail -1)
	elif [ "$kind" = cmocka ]; then
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	else
		local ran fl er us
		ran=$(sed -n 's/^Ran \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		# "expected failures" are passes; "unexpected successes" are failures.
		fl=$(sed -nE 's/^FAILED \((.*, )?failures=([0-9]+).*/\2/p' "$log" | tail -1)
		er=$(sed -nE 's/^FAILED \((.*, )?errors=([0-9]+).*/\2/p' "$log" | tail -1)
		us=$(sed -nE 's/^FAILED \(.*unexpected successes=([0-9]+).*/\1/p' "$log" | tail -1)
		s=$(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' "$log" | tail -1)
		f=$(( ${fl:-0} + ${er:-0} + ${us:-0} ))
		p=$(( ${ran:-0} - f - ${s:-0} ))
		# A test's failing subTests each count as a failure: never a negative "passed".
		[ "$p" -lt 0 ] && p=0
	fi
	p=${p:-0} f=${f:-0} s=${s:-0}
	# A suite that crashed, timed out or printed no summary counts as a failure.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (no test ran)" >>"$log"; fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	local status=ok
	if [ "$f" -ne 0 ]; then status=FAIL; failed_suites+=("$name"); fi
	printf '%-28s %-4s %3d passed, %d failed%s (%ds)\n' "$name" "$status" "$p" "$f" \
		"$([ "$s" -gt 0 ] && echo ", $s skipped")" $((SECONDS - t0))
	if [ "$status" = FAIL ]; then tail -n 40 "$log" | sed 's/^/    | /'; fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "$(basename "$t")" cmocka "$PWD/$t"
done
for t in tests/py/test_*.py; do
	[ -f "$t" ] || continue
	run_suite "$(basename "$t" .py)" python $PY "$PWD/$t"
done
for t in tests/browser/*.test.mjs; do
	[ -f "$t" ] || continue
	run_suite "$(basename "$t" .test.mjs)" node node --test "$PWD/$t"
done
# The fuzz targets, briefly (make fuzz runs them longer).
if [ -x "$FUZZ_BUILD/fuzz_config" ]; then
	fb=$FUZZ_BUILD
	[[ $fb == /* ]] || fb=$PWD/$fb
	run_suite fuzz plain env FUZZ_BUILD="$fb" "$PWD/tests/fuzz/run.sh" \
		"${FUZZ_CHECK_SECONDS:-6}"
fi
# The main job, once, so that CI exercises it.
if wanted demo; then
	run_suite demo python $PY "$PWD/tests/tools/demo_check.py"
fi

# The failures again, briefly, just above the summary (CI may keep only the end).
for name in "${failed_suites[@]}"; do
	echo "---- $name: $logdir/$name.log"
	grep -E '^(FAIL|ERROR|UNEXPECTED SUCCESS):|Error:|^ *not ok|^ *error: |^\[  FAILED  \]|ERROR: |timed out' "$logdir/$name.log" | head -n 12 | sed 's/^/    ! /'
done
if [ ${#failed_suites[@]} -gt 0 ]; then echo "failed suites: ${failed_suites[*]}"; fi
echo "$pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ "$fail" -eq 0 ]
