#!/usr/bin/env bash
# make bench-images: the image pass (read, check, hash, descriptor) of winnowd
# over generated 640x480 JPEGs, against Pillow's Image.open(f).load() over the
# same files, measured in the same run (best of 3 for each side, files in the
# page cache). Prints images/s for both and the ratios.
# BENCH_N (default 10000) images; they are cached in $BUILD/bench/jpeg640.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
N=${BENCH_N:-10000}
dir=$BUILD/bench/jpeg640-v2-$N
PY=/usr/bin/python3
if [ ! -f "$dir/.done" ]; then
	echo "bench-images: generating $N JPEGs of 640x480 in $dir"
	rm -rf "$dir"; mkdir -p "$dir"
	$PY - "$dir" "$N" <<'PYEOF'
import sys, numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
yy, xx = np.mgrid[0:480, 0:640]
for i in range(n):
    a, b, c = rng.uniform(0.005, 0.05, 3)
    base = np.stack([np.sin(xx * a + i) , np.cos(yy * b + 2 * i), np.sin((xx + yy) * c)], -1)
    # Photo-like: smooth structure, a few objects, mild sensor noise.
    img = base * 90 + 128 + rng.normal(0, 3, (480, 640, 3))
    for _ in range(4):
        x, y, r = rng.integers(0, 640), rng.integers(0, 480), rng.integers(20, 120)
        img[max(0, y - r):y + r, max(0, x - r):x + r] = rng.uniform(0, 255, 3)
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save("%s/img_%05d.jpg" % (out, i), quality=85)
PYEOF
	touch "$dir/.done"
fi
cat "$dir"/*.jpg > /dev/null	# warm the page cache for both sides
cfg=$(mktemp); out=$(mktemp -d)
echo '{"docker": {"method": "random", "stopping_condition": {"n_samples": 1}, "remove_exact_duplicates": false}}' > "$cfg"

pillow=$($PY - "$dir" <<'PYEOF'
import glob, sys, time
from PIL import Image
files = sorted(glob.glob(sys.argv[1] + "/*.jpg"))
best = 0
for rep in range(3):
    t = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            im.load()
    best = max(best, len(files) / (time.perf_counter() - t))
print("%.1f" % best)
PYEOF
)
winnow() {	# threads -> images/s of the image stage, best of 3 runs
	for rep in 1 2 3; do
		"$BIN/winnowd" select --config "$cfg" --input "$dir" --output "$out" --force --threads "$1" >/dev/null 2>&1
		$PY -c "import json,sys; r=json.load(open(sys.argv[1])); s=[x['seconds'] for x in r['stages'] if x['name']=='images'][0]; print('%.1f' % (r['counts']['listed']/s))" "$out/report.json"
	done | sort -g | tail -1
}
w1=$(winnow 1); w2=$(winnow 2)
rm -rf "$cfg" "$out"
echo "bench-images: $N JPEGs 640x480"
echo "  Pillow Image.open().load(), 1 thread: $pillow images/s"
echo "  winnowd image pass,        1 thread: $w1 images/s"
echo "  winnowd image pass,       2 threads: $w2 images/s"
$PY -c "import sys; p,a,b=map(float,sys.argv[1:]); print('  ratio winnowd/Pillow (1 thread): %.2fx (target >= 2x)' % (a/p)); print('  ratio 2 threads/1 thread:        %.2fx (target >= 1.8x)' % (b/a))" "$pillow" "$w1" "$w2"
