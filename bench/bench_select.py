#!/usr/bin/python3
"""make bench-select: the selection speed of issue 6.

1. n = 100,000, d = 128, k = 1,000 coreset, clustered (a Gaussian mixture of
   64 components in a 16-dimensional subspace, embedded in 128 dimensions
   by a random linear map, plus N(0, 0.01^2) noise in every dimension) and
   uniform ([0, 1)^128): winnow (build/bench/bench_select, all cores; the
   median of 3 runs in one process, each printed) against the numpy reference
   of SPEC 4.6 (float64, one vectorised distance pass per pick, argmax) timed
   once in the same run (at 35 s or so its spread is small beside winnow's). Prints both times, the ratio beside
   its target (>= 100x clustered, >= 20x uniform) and whether winnow's
   selection equals the reference's (SPEC 4.6's step-by-step comparison:
   where the reference's best two distances differ by < 1e-6 relative,
   either is accepted and the reference continues from winnow's pick).
   Then coral on the same rows with uniform [0, 1) weights (a score's range)
   against its numpy reference (SPEC 4.6: argmax (d_i / D) w_i over the rows
   with d_i > 0, D = max d over the unselected; first pick argmax w), with the
   same step-by-step comparison. The issue sets no coral target; its ratio is
   printed beside coreset's.
2. n = 1,000,000, d = 64, k = 10,000 clustered: winnow alone (bench_select
   big): wall time, peak RSS, bytes streamed per second against a
   STREAM-style copy, each beside its target.

3. Selection plans (issue 13), from one run each (bench_select plan): on
   1,000,000 x 64 clustered rows, the plan [EMBEDDINGS/DIVERSITY,
   SCORES/WEIGHTS, METADATA/BALANCE over 5 classes (UNIFORM)], k = 10,000,
   through the plan engine against coral on the same rows and weights in the
   same process: the ratio beside its target (<= 2x of coral). It counts only
   when the engine is exact there: [DIVERSITY, WEIGHTS] must pick exactly
   coral's picks on the same rows, and the fast path must equal the plain
   path on 20,000 of them (k = 300) for the full plan.
4. TYPICALITY's exact k-NN, K = 20 on 100,000 x 128 clustered rows, against
   scikit-learn's exact NearestNeighbors(algorithm='brute', n_jobs=-1) on the
   same rows computing the same m_i (bench_knn, as make bench-knn): the core
   count, the ratio beside its target (>= 3x), winnow's time beside 60 s and
   whether every m_i agrees within 1e-6.

BENCH_SELECT_N, _D, _K change part 1's sizes, BENCH_SELECT_REPEAT winnow's
runs; BENCH_SELECT_CORAL=0 skips coral; BENCH_SELECT_BIG=0 skips part 2,
BENCH_SELECT_PLAN=0 part 3, BENCH_SELECT_KNN=0 part 4.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
EXE = os.path.join(BUILD, "bench", "bench_select")
N = int(os.environ.get("BENCH_SELECT_N", "100000"))
D = int(os.environ.get("BENCH_SELECT_D", "128"))
K = int(os.environ.get("BENCH_SELECT_K", "1000"))
REL = 1e-6
REPEAT = int(os.environ.get("BENCH_SELECT_REPEAT", "3"))


def clustered(n, d, rs, comps=64, sub=16):
    basis = rs.normal(size=(sub, d)) / np.sqrt(sub)
    means = 4 * rs.normal(size=(comps, sub))
    z = means[rs.integers(0, comps, size=n)] + rs.normal(size=(n, sub))
    return z @ basis + 0.01 * rs.normal(size=(n, d))


def uniform(n, d, rs):
    return rs.random(size=(n, d))


class Follow:
    """SPEC 4.6's step-by-step comparison: at each step the reference's argmax
    of the objective o, unless winnow's pick (follow) is within REL of it,
    when the reference goes winnow's way (near-ties). Objectives are >= 0 for
    every row still pickable here; taken rows are below 0."""

    def __init__(self, follow):
        self.follow, self.near, self.bad = follow, 0, None

    def pick(self, o, step):
        r = int(np.argmax(o))
        f = self.follow
        if f is None or step >= len(f) or f[step] == r:
            return r
        g = f[step]
        if o[r] - o[g] <= REL * abs(o[r]) and o[g] >= 0:
            self.near += 1
            return g
        if self.bad is None:
            self.bad = step
        return r


def reference(X, k, follow=None):
    """SPEC 4.6's coreset, float64, one distance pass per pick. With follow
    (winnow's picks), near-ties go winnow's way; returns (picks, near_ties,
    first_mismatch or None)."""
    n = len(X)
    mean = X.mean(axis=0)
    obj = np.sqrt(((X - mean) ** 2).sum(axis=1))
    fw = Follow(follow)
    g = fw.pick(obj, 0)
    picks = [g]
    d = np.sqrt(((X - X[g]) ** 2).sum(axis=1))
    d[g] = -1
    while len(picks) < min(k, n):
        g = fw.pick(d, len(picks))
        if d[g] <= 0:
            break
        picks.append(g)
        d = np.minimum(d, np.sqrt(((X - X[g]) ** 2).sum(axis=1)))
        d[picks] = -1
    return picks, fw.near, fw.bad


def reference_coral(X, w, k, follow=None):
    """SPEC 4.6's coral, float64, one distance pass per pick; near-ties go
    winnow's way as in reference(). Weights are continuous here, so the first
    pick's tie rule (farthest from the mean) and the objective's (larger d,
    then lowest index) are not needed."""
    n = len(X)
    picks = [int(np.argmax(w))]
    fw = Follow(follow)
    taken = np.zeros(n, dtype=bool)
    taken[picks[0]] = True
    d = np.sqrt(((X - X[picks[0]]) ** 2).sum(axis=1))
    while len(picks) < min(k, n):
        live = ~taken
        D = d[live].max()
        obj = np.where(live & (d > 0), d / D * w, -np.inf)
        r = fw.pick(obj, len(picks))
        if not np.isfinite(obj[r]):
            break
        picks.append(r)
        taken[r] = True
        d = np.minimum(d, np.sqrt(((X - X[r]) ** 2).sum(axis=1)))
    return picks, fw.near, fw.bad


def run_winnow(X, k, tmp, method="coreset", w=None):
    path = os.path.join(tmp, "rows.f64")
    out = os.path.join(tmp, "picks.txt")
    np.ascontiguousarray(X, dtype=np.float64).tofile(path)
    if w is not None:
        np.ascontiguousarray(w, dtype=np.float64).tofile(path + ".w")
    res = subprocess.run([EXE, "run", path, str(len(X)), str(X.shape[1]), str(k), method, out,
                          str(REPEAT)],
                         check=True, capture_output=True, text=True)
    secs = None
    for line in res.stdout.splitlines():
        if line.startswith("winnow_seconds "):
            secs = float(line.split()[1])
        else:
            print("  winnow " + line)
    with open(out) as f:
        picks = [int(x) for x in f.read().split()]
    return secs, picks


def part1():
    rs = np.random.default_rng(2024)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, gen, target in (("clustered", clustered, 100), ("uniform", uniform, 20)):
            X = gen(N, D, rs)
            print("%s: n=%d d=%d k=%d" % (name, N, D, K))
            w_secs, picks = run_winnow(X, K, tmp)
            t0 = time.perf_counter()
            ref, near, bad = reference(X, K, follow=picks)
            p_secs = time.perf_counter() - t0
            same = bad is None and ref == picks
            ratio = p_secs / w_secs
            print("  numpy reference %.2f s, winnow %.3f s, ratio %.1fx (target >= %dx) %s"
                  % (p_secs, w_secs, ratio, target, "ok" if ratio >= target else "MISSED"))
            print("  selection equals the reference's: %s (%d picks, %d near-ties followed%s)"
                  % ("yes" if same else "NO", len(picks), near,
                     "" if bad is None else ", first mismatch at step %d" % bad))
            ok = ok and same
            if os.environ.get("BENCH_SELECT_CORAL", "1") == "0":
                continue
            w = np.random.default_rng(7).random(N)  # its own stream: the rows stay as before
            print("%s coral: n=%d d=%d k=%d, weights uniform in [0, 1)" % (name, N, D, K))
            w_secs, picks = run_winnow(X, K, tmp, "coral", w)
            t0 = time.perf_counter()
            ref, near, bad = reference_coral(X, w, K, follow=picks)
            p_secs = time.perf_counter() - t0
            same = bad is None and ref == picks
            print("  numpy reference %.2f s, winnow %.3f s, ratio %.1fx (no target of its own)"
                  % (p_secs, w_secs, p_secs / w_secs))
            print("  selection equals the reference's: %s (%d picks, %d near-ties followed%s)"
                  % ("yes" if same else "NO", len(picks), near,
                     "" if bad is None else ", first mismatch at step %d" % bad))
            ok = ok and same
    return ok


def main():
    ok = part1()
    if os.environ.get("BENCH_SELECT_BIG", "1") != "0":
        print("big: winnow alone")
        res = subprocess.run([EXE, "big"], capture_output=True, text=True)
        sys.stdout.write("".join("  " + l + "\n" for l in res.stdout.splitlines()))
        sys.stderr.write(res.stderr)
        ok = ok and res.returncode == 0
    if os.environ.get("BENCH_SELECT_PLAN", "1") != "0":
        print("plan: [DIVERSITY, WEIGHTS, BALANCE] against coral, same rows, same run")
        sys.stdout.flush()
        res = subprocess.run([EXE, "plan"], capture_output=True, text=True)
        sys.stdout.write("".join("  " + l + "\n" for l in res.stdout.splitlines()))
        sys.stderr.write(res.stderr)
        ok = ok and res.returncode == 0
    if os.environ.get("BENCH_SELECT_KNN", "1") != "0":
        print("typicality: exact k-NN (K = 20) against sklearn, same rows, same run")
        sys.stdout.flush()
        knn = os.path.join(BUILD, "bench", "bench_knn")
        res = subprocess.run([knn, os.path.join(ROOT, "bench", "bench_knn.py")],
                             capture_output=True, text=True)
        sys.stdout.write("".join("  " + l + "\n" for l in res.stdout.splitlines()))
        sys.stderr.write(res.stderr)
        ok = ok and res.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
