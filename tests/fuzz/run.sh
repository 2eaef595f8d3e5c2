#!/usr/bin/env bash
# Runs each libFuzzer target for a while and reports it.
#   tests/fuzz/run.sh SECONDS [TARGET...]      (default: every $FUZZ_BUILD/fuzz_* binary)
# Each target starts from its seed corpus tests/fuzz/<target>/ (which holds the
# regression inputs of fixed bugs, so every run replays them first); the inputs it
# finds go to a scratch corpus, never into the seeds; tests/fuzz/<target>.dict, when
# present, is its libFuzzer dictionary. One line per target:
#   <target>  <executions> execs  cov <N>  ft <N>  <N> crashes  (<s> s)
# cov and ft are from libFuzzer's last status line (DONE, or the last before a
# crash), executions from -print_final_stats. A crash, leak, timeout or
# out-of-memory is a failure; its input is kept as $FUZZ_BUILD/artifacts/<target>-*
# and the log's end is shown. Ends with "N passed, N failed" over the targets.
set -u
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for b in "$FUZZ_BUILD"/fuzz_*; do
		[ -x "$b" ] && targets+=("${b##*/fuzz_}")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "no fuzz targets in $FUZZ_BUILD (make fuzz-build)"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$FUZZ_BUILD/artifacts" "$FUZZ_BUILD/logs"
pass=0 fail=0
for t in "${targets[@]}"; do
	bin=$FUZZ_BUILD/fuzz_$t seeds=tests/fuzz/$t log=$FUZZ_BUILD/logs/$t.log
	scratch=$(mktemp -d)
	before=$(ls "$FUZZ_BUILD/artifacts" | grep -c "^$t-" || true)
	t0=$SECONDS
	# -timeout: one input taking this long is a hang; the scratch corpus comes
	# first, so that new inputs are written there.
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=30 -rss_limit_mb=2048 \
		"${dict[@]}" -artifact_prefix="$FUZZ_BUILD/artifacts/$t-" "$scratch" "$seeds" >"$log" 2>&1
	rc=$?
	rm -rf "$scratch"
	after=$(ls "$FUZZ_BUILD/artifacts" | grep -c "^$t-" || true)
	crashes=$((after - before))
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -1)
	status=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$status")
	ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$status")
	printf '%-12s %10s execs  cov %5s  ft %6s  %d crashes  (%d s)\n' "$t" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "$crashes" $((SECONDS - t0))
	if [ "$crashes" -ne 0 ]; then
		fail=$((fail + 1))
		grep -E 'ERROR|SUMMARY|^    #[0-9]|Test unit written|abort' "$log" | head -40 | sed 's/^/    | /'
	else
		pass=$((pass + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
