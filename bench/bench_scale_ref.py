"""bench_scale_ref: the numpy float64 reference's seconds per coreset pick for bench_scale.

A straightforward float64 farthest-first on rows of bench_scale's shape (default 1,280,000 x
128; the time per pick depends on the shape only): d = min(d, |x - c|^2) over every row in
chunks, then argmax. Times 100 picks and prints the seconds per pick alone on stdout.
"""
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1280000
d = int(sys.argv[2]) if len(sys.argv) > 2 else 128
PICKS = 100
CHUNK = 65536

X = np.random.default_rng(12345).standard_normal((n, d))
d2 = np.full(n, np.inf)


def fold(c):
    for a in range(0, n, CHUNK):
        diff = X[a:a + CHUNK] - c
        np.minimum(d2[a:a + CHUNK], np.einsum("ij,ij->i", diff, diff), out=d2[a:a + CHUNK])


mean = X.mean(axis=0)
diff = X - mean
p = int(np.argmax(np.einsum("ij,ij->i", diff, diff)))
del diff
fold(X[p])
d2[p] = -1
t0 = time.perf_counter()
for _ in range(PICKS):
    p = int(np.argmax(d2))
    fold(X[p].copy())
    d2[p] = -1
per = (time.perf_counter() - t0) / PICKS
print(f"numpy reference: {per * 1e3:.1f} ms a pick over {PICKS} picks on {n} x {d}",
      file=sys.stderr)
print(f"{per:.6f}")
