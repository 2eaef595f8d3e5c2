#!/usr/bin/env bash
# make demo: the main job. Generates a sample dataset (images in JPEG, PNG and
# WebP, some corrupt, some copies, with predictions and an embeddings CSV),
# runs winnowd in local mode on it with Lightly's default preset (coreset,
# 10%), and prints the summary and the first picks.
# ONCE=1: run once without pauses (what `make check` does).
set -eu
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
DEMO_DIR=${DEMO_DIR:-build/demo}
N=${DEMO_N:-600}
data=$DEMO_DIR/dataset
out=$DEMO_DIR/run
mkdir -p "$DEMO_DIR"
if [ ! -f "$data/.manifest.json" ]; then
	echo "demo: generating a sample dataset of $N images in $data"
	rm -rf "$data"
	/usr/bin/python3 tests/tools/mkdataset --out "$data" --n "$N" --seed 7 --subdirs \
		--predictions --embeddings >/dev/null
fi
cat > "$DEMO_DIR/config.json" <<'JSON'
{"docker": {"enable_corruptness_check": true, "remove_exact_duplicates": true,
  "enable_training": false, "pretagging": false, "pretagging_debug": false,
  "method": "coreset", "stopping_condition": {"n_samples": 0.1, "min_distance": -1},
  "scorer": "object-frequency", "scorer_config": {"frequency_penalty": 0.25, "min_score": 0.9},
  "active_learning": {"task_name": "", "score_name": "uncertainty_margin"}},
 "lightly": {}}
JSON
echo "demo: winnowd select --config $DEMO_DIR/config.json --input $data --output $out"
"$BIN/winnowd" select --config "$DEMO_DIR/config.json" --input "$data" --output "$out" --force
echo
echo "demo: corrupt files found ($(wc -l < "$out/filenames/corrupt_filenames.txt")):"
head -n 8 "$out/filenames/corrupt_filenames.txt" | sed 's/^/  /'
echo "demo: duplicates removed: $(wc -l < "$out/filenames/duplicate_filenames.txt")"
echo "demo: first 10 of $(wc -l < "$out/filenames/selected_filenames.txt") selected (rank, file, distance):"
sed -n '2,11p' "$out/data/selection.csv" | awk -F, '{ printf "  %3s  %-28s %s\n", $1, $2, $4 }'
echo "demo: all outputs in $out (report.json, filenames/, data/, log.txt)"
