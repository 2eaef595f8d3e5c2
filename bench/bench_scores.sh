#!/usr/bin/env bash
# make bench-scores: the scores stage of winnowd (read, parse and validate the
# prediction files of an object-detection task, then score, SPEC 4.4 and 4.5)
# against a straightforward Python reference of the same formulas (json +
# numpy, the one tests/py/test_scores_crosscheck.py checks winnow against)
# over the same files, measured in the same run. Prints files/s for both and
# the ratios (target >= 20x). Each side is the best of BENCH_REPS (3) runs.
# BENCH_N (default 100000) images, each with one prediction file of 10 boxes
# over 10 classes, about half of them with probabilities, in an
# embeddings-only datasource cached in $BUILD/bench/det-$BENCH_N.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
N=${BENCH_N:-100000}
dir=$BUILD/bench/det-$N
PY=/usr/bin/python3
if [ ! -f "$dir/.done" ]; then
	echo "bench-scores: generating $N object-detection prediction files in $dir"
	rm -rf "$dir"; mkdir -p "$dir"
	$PY - "$dir" "$N" <<'PYEOF'
import json, os, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
pred = os.path.join(out, ".lightly", "predictions")
emb = os.path.join(out, ".lightly", "embeddings")
os.makedirs(os.path.join(pred, "det"))
os.makedirs(emb)
with open(os.path.join(pred, "tasks.json"), "w") as f:
    json.dump(["det"], f)
with open(os.path.join(pred, "det", "schema.json"), "w") as f:
    json.dump({"task_type": "object-detection",
               "categories": [{"id": c, "name": "class%d" % c} for c in range(10)]}, f)
with open(os.path.join(emb, "emb.csv"), "w") as f:
    f.write("filenames,embedding_0,embedding_1,embedding_2,embedding_3,labels\n")
    for i in range(n):
        f.write("img_%06d.png,%r,%r,%r,%r,0\n" % ((i,) + tuple(rng.uniform(-1, 1) for _ in range(4))))
for i in range(n):
    boxes = []
    for _ in range(10):
        b = {"category_id": rng.randrange(10),
             "bbox": [round(rng.uniform(0, 600), 2), round(rng.uniform(0, 400), 2),
                      round(rng.uniform(5, 200), 2), round(rng.uniform(5, 200), 2)],
             "score": rng.random()}
        if rng.random() < 0.5:
            x = [rng.random() for _ in range(10)]
            s = sum(x)
            b["probabilities"] = [v / s for v in x]
        boxes.append(b)
    with open(os.path.join(pred, "det", "img_%06d.json" % i), "w") as f:
        json.dump({"file_name": "img_%06d.png" % i, "predictions": boxes}, f)
PYEOF
	touch "$dir/.done"
fi
# Warm the page cache for both sides.
find "$dir/.lightly" -type f -print0 | xargs -0 cat > /dev/null
cfg=$(mktemp); out=$(mktemp -d)
trap 'rm -rf "$cfg" "$out"' EXIT
echo '{"docker": {"method": "active_learning", "embeddings": "emb.csv",
  "active_learning": {"task_name": "det", "score_name": "uncertainty_margin"},
  "stopping_condition": {"n_samples": 10}}, "lightly": {}}' > "$cfg"

python=$($PY - "$dir" "$N" <<'PYEOF'
import os, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "py"))
from test_scores_crosscheck import read_task_dir, reference
root, n = sys.argv[1], int(sys.argv[2])
names = ["img_%06d.png" % i for i in range(n)]
best = 0
for rep in range(int(os.environ.get("BENCH_REPS", "3"))):
    t = time.perf_counter()
    rows = reference("object-detection", read_task_dir(root, "det", names))
    best = max(best, n / (time.perf_counter() - t))
print("%.1f" % best)
PYEOF
)
winnow() {	# threads (0: all cores) -> files/s of the scores stage, best of BENCH_REPS
	local th=()
	[ "$1" -gt 0 ] && th=(--threads "$1")
	for rep in $(seq "${BENCH_REPS:-3}"); do
		"$BIN/winnowd" select --config "$cfg" --input "$dir" --output "$out" --force "${th[@]}" >/dev/null 2>&1
		$PY -c "import json,sys; r=json.load(open(sys.argv[1])); s=[x['seconds'] for x in r['stages'] if x['name']=='scores'][0]; print('%.1f' % (int(sys.argv[2])/s))" "$out/report.json" "$N"
	done | sort -g | tail -1
}
w1=$(winnow 1); wall=$(winnow 0)
echo "bench-scores: $N object-detection prediction files, 10 boxes each, ~half with probabilities"
echo "  Python json + numpy reference, 1 thread: $python files/s"
echo "  winnowd scores stage,          1 thread: $w1 files/s"
echo "  winnowd scores stage,       all threads: $wall files/s ($(nproc) cores)"
$PY -c "import sys; p,a,b=map(float,sys.argv[1:]); print('  ratio winnowd/Python (1 thread):   %.1fx' % (a/p)); print('  ratio winnowd/Python (all threads): %.1fx (target >= 20x; winnowd uses all cores by default)' % (b/p))" "$python" "$w1" "$wall"
