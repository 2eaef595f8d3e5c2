"""Cross-check of the random and coreset selections (SPEC 4.6) against an
independent, straightforward float64 reference written here with numpy.

Every case runs the real `winnowd select` end to end on an embeddings-only
datasource (a folder holding only .lightly/embeddings/emb.csv) and reads
filenames/selected_filenames.txt and data/selection.csv. The coreset check
goes step by step: where the reference's best candidates are within 1e-6
(relative) of each other, winnow's pick is accepted and the reference
continues from it; everything else must match exactly.
"""
import csv
import math
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from winnowtest import Xoshiro256ss, read_lines, run_select, tmpdir  # noqa: E402

REL = 1e-6      # SPEC 4.6: near-ties within this are either way
DIST_REL = 1e-9  # recorded distances vs the reference's


# ---- the reference ----------------------------------------------------------

def ref_random(n, k, seed):
    """Partial Fisher-Yates over 0..n-1, picks in draw order."""
    rng = Xoshiro256ss(seed)
    a = list(range(n))
    k = min(k, n)
    for i in range(k):
        j = i + rng.bounded(n - i)
        a[i], a[j] = a[j], a[i]
    return a[:k]


def budget(n_samples, n):
    """SPEC 2: k for n candidates; None = no limit."""
    if n_samples == -1:
        return None
    if 0 < n_samples <= 1:
        return max(0, math.ceil(n_samples * n - 1e-6))
    return int(n_samples)


def candidates(rows, remove_dups, normalize):
    """SPEC 4.2 (embedding level) and 4.3: (kept indices, float64 rows used)."""
    keep, seen = [], set()
    for i, r in enumerate(rows):
        key = np.asarray(r, dtype=np.float64).tobytes()
        if remove_dups and key in seen:
            continue
        seen.add(key)
        keep.append(i)
    X = np.array([rows[i] for i in keep], dtype=np.float64).reshape(len(keep), -1)
    if normalize:
        norms = np.sqrt((X * X).sum(axis=1))
        nz = norms > 0
        X[nz] = X[nz] / norms[nz, None]   # a zero row stays zero
    return keep, X


def check_coreset(tc, X, k, min_distance, got, got_dist, strict=False):
    """Replays SPEC 4.6's coreset on X along winnow's picks `got`.

    k: None = no limit; min_distance < 0 = off. got_dist: winnow's recorded
    distances (None for an empty/NaN cell). strict: ties must go exactly to
    the lowest index (for data whose distances are exact).
    """
    n = len(X)
    kk = n if k is None else k
    md_on = min_distance >= 0
    selected = np.zeros(n, dtype=bool)
    d = np.full(n, np.inf)
    step = 0
    near_ties = 0

    def take(obj, what):
        nonlocal step, near_ties
        masked = np.where(selected, -np.inf, obj)
        ref = int(np.argmax(masked))           # argmax: lowest index on ties
        best = masked[ref]
        tc.assertLess(step, len(got), "winnow stopped early at step %d (%s)" % (step, what))
        g = got[step]
        tc.assertFalse(selected[g], "step %d: %d picked twice" % (step, g))
        if g != ref:
            tc.assertFalse(strict, "step %d (%s): winnow picked %d (%r), reference %d (%r)"
                           % (step, what, g, obj[g], ref, best))
            tc.assertLessEqual(best - obj[g], REL * best,
                               "step %d (%s): winnow picked %d (%r), reference %d (%r)"
                               % (step, what, g, obj[g], ref, best))
            near_ties += 1
        selected[g] = True
        step += 1
        return g

    if n > 0 and kk > 0:
        mean = X.mean(axis=0)
        obj = np.sqrt(((X - mean) ** 2).sum(axis=1))
        g = take(obj, "farthest from the mean")
        tc.assertIsNone(got_dist[0], "first pick's distance is not defined")
        d = np.sqrt(((X - X[g]) ** 2).sum(axis=1))
        while step < kk:
            left = ~selected
            if not left.any():
                break
            best = d[left].max()
            if best == 0:
                break
            if md_on:
                # A stop decision this close to the threshold goes either way,
                # like a near-tie: follow winnow.
                if not strict and abs(best - min_distance) <= REL * min_distance:
                    if step >= len(got):
                        break
                elif best < min_distance:
                    break
            g = take(d, "argmax d")
            gd = got_dist[step - 1]
            tc.assertIsNotNone(gd, "step %d: no distance recorded" % (step - 1))
            tc.assertLessEqual(abs(gd - d[g]), DIST_REL * max(d[g], 1e-300),
                               "step %d: distance %r, reference %r" % (step - 1, gd, d[g]))
            d = np.minimum(d, np.sqrt(((X - X[g]) ** 2).sum(axis=1)))
    n_method = step
    if not md_on and kk >= n:
        # Everything selected: the rest (all at d = 0) in path order.
        rest = [i for i in range(n) if not selected[i]]
        for i in rest:
            tc.assertEqual(d[i], 0.0, "candidate %d left over at d = %r" % (i, d[i]))
        tc.assertEqual(list(got[n_method:]), rest, "fill after %d greedy picks" % n_method)
        for j in range(n_method, len(got)):
            tc.assertEqual(got_dist[j], 0.0)
        tc.assertEqual(len(got), n)
    else:
        tc.assertEqual(len(got), n_method, "winnow picked more than the reference")
    return n_method, near_ties


# ---- running winnow ---------------------------------------------------------

def fmt(v):
    return repr(float(v))


def make_source(rows, names=None):
    """An embeddings-only datasource; names default to img_00001.png, ..."""
    root = tmpdir("src")
    n = len(rows)
    if names is None:
        names = ["img_%05d.png" % (i + 1) for i in range(n)]
    assert names == sorted(names, key=lambda s: s.encode())
    dim = len(rows[0]) if n else 1
    emb = os.path.join(root, ".lightly", "embeddings")
    os.makedirs(emb)
    with open(os.path.join(emb, "emb.csv"), "w") as f:
        f.write(",".join(["filenames"] + ["embedding_%d" % j for j in range(dim)] + ["labels"]) + "\n")
        for name, r in zip(names, rows):
            f.write(",".join([name] + [fmt(v) for v in r] + ["0"]) + "\n")
    return root, names


def docker(method, n_samples, min_distance=-1, normalize=False, dups=False, seed=1):
    return {"method": method, "embeddings": "emb.csv", "normalize_embeddings": normalize,
            "remove_exact_duplicates": dups,
            "stopping_condition": {"n_samples": n_samples, "min_distance": min_distance},
            "seed": seed}


def select(cfg, root):
    out = os.path.join(tmpdir("out"), "run")
    run_select(cfg, root, out)
    names = read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))
    with open(os.path.join(out, "data", "selection.csv"), newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        body = [r for r in rd if r]
    return out, names, header, body


def parse_dist(cell):
    cell = cell.strip()
    if cell == "" or cell.lower() == "nan":
        return None
    return float(cell)


# ---- data -------------------------------------------------------------------

def tricky_rows(seed, n_gauss=200, n_grid=60, n_dup=40, dim=6):
    """Gaussian rows, rows on a small integer grid (exact distance ties), and
    exact copies of earlier rows, shuffled together."""
    rs = np.random.default_rng(seed)
    g = rs.normal(size=(n_gauss, dim))
    grid = rs.integers(0, 3, size=(n_grid, dim)).astype(np.float64)
    base = np.vstack([g, grid])
    dup = base[rs.integers(0, len(base), size=n_dup)]
    rows = np.vstack([base, dup])
    rows = rows[rs.permutation(len(rows))]
    return [list(r) for r in rows]


# ---- tests ------------------------------------------------------------------

class CoresetCrossCheck(unittest.TestCase):
    def run_case(self, rows, n_samples, min_distance=-1, normalize=False, dups=False, strict=False):
        root, names = make_source(rows)
        out, got_names, header, body = select(docker("coreset", n_samples, min_distance,
                                                     normalize, dups), root)
        self.assertEqual(header, ["rank", "filenames", "weight", "distance", "score",
                                  "DIVERSITY:EMBEDDINGS"])
        self.assertEqual([r[1] for r in body], got_names)
        ranks = [int(r[0]) for r in body]
        self.assertEqual(ranks, list(range(ranks[0], ranks[0] + len(ranks))) if ranks else [])
        keep, X = candidates(rows, dups, normalize)
        pos = {names[i]: c for c, i in enumerate(keep)}
        for nm in got_names:
            self.assertIn(nm, pos, "%s is not a candidate" % nm)
        got = [pos[nm] for nm in got_names]
        dist = [parse_dist(r[3]) for r in body]
        k = budget(n_samples, len(keep))
        n_method, ties = check_coreset(self, X, k, min_distance, got, dist, strict=strict)
        # coreset picks the largest d_i: its DIVERSITY objective d_i / D is 1; the fill's is empty.
        for j, r in enumerate(body):
            self.assertEqual(r[4:], ["1", "1"] if j < n_method else ["", ""], r)
        return out, got, n_method, ties

    def test_count(self):
        out, got, nm, _ = self.run_case(tricky_rows(1), 25)
        self.assertEqual(len(got), 25)

    def test_fraction(self):
        rows = tricky_rows(2)
        out, got, nm, _ = self.run_case(rows, 0.1)
        self.assertEqual(len(got), math.ceil(0.1 * len(rows) - 1e-6))

    def test_all_with_fill(self):
        rows = tricky_rows(3)
        out, got, nm, _ = self.run_case(rows, -1)
        self.assertEqual(len(got), len(rows))
        self.assertLess(nm, len(rows), "the duplicates must come as fill")

    def test_fraction_one_is_all(self):
        rows = tricky_rows(4, n_gauss=50, n_grid=20, n_dup=10)
        out, got, nm, _ = self.run_case(rows, 1.0)
        self.assertEqual(sorted(got), list(range(len(rows))))

    def test_min_distance(self):
        rows = tricky_rows(5)
        X = np.array(rows)
        # A threshold well inside the range of the greedy's distances.
        md = float(np.median(np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)))) / 3
        out, got, nm, _ = self.run_case(rows, -1, min_distance=md)
        self.assertGreater(len(got), 1)
        self.assertLess(len(got), len(set(map(tuple, rows))))

    def test_min_distance_and_count(self):
        rows = tricky_rows(6)
        out, got, nm, _ = self.run_case(rows, 10, min_distance=0.5)
        self.assertEqual(len(got), 10)
        out, got, nm, _ = self.run_case(rows, 300, min_distance=1.0)
        self.assertLess(len(got), 300)

    def test_min_distance_zero_no_fill(self):
        rows = tricky_rows(7, n_gauss=40, n_grid=20, n_dup=15)
        out, got, nm, _ = self.run_case(rows, -1, min_distance=0)
        self.assertEqual(len(got), nm)
        self.assertLess(len(got), len(rows))

    def test_normalized_with_zero_row(self):
        rows = tricky_rows(8, n_grid=30)
        rows[17] = [0.0] * len(rows[0])         # stays zero
        rows[40] = [2 * v for v in rows[39]]     # same direction: d = 0 once normalised
        out, got, nm, _ = self.run_case(rows, -1, normalize=True)
        self.assertEqual(len(got), len(rows))
        out, got, nm, _ = self.run_case(rows, 0.2, normalize=True)
        out, got, nm, _ = self.run_case(rows, -1, min_distance=0.3, normalize=True)

    def test_remove_exact_duplicates(self):
        rows = tricky_rows(9)
        rows[5] = list(rows[3])                  # a copy later in path order
        out, got, nm, _ = self.run_case(rows, -1, dups=True)
        keep, _ = candidates(rows, True, False)
        self.assertLess(len(keep), len(rows))
        self.assertEqual(len(got), len(keep))
        self.assertEqual(nm, len(keep), "no duplicates are left, so no fill")
        dup_file = os.path.join(out, "filenames", "duplicate_filenames.txt")
        listed = [l.split("\t")[0] for l in read_lines(dup_file)]
        dropped = sorted(set(range(len(rows))) - set(keep))
        self.assertEqual(sorted(listed), ["img_%05d.png" % (i + 1) for i in dropped])
        self.run_case(rows, 30, dups=True)

    def test_grid_ties_strict(self):
        # 64 rows (a power of two: the mean is exact) on a 3x3x3x3 grid: all
        # distances are exact, so ties must go to the lowest index.
        rs = np.random.default_rng(10)
        rows = [list(r) for r in rs.integers(0, 3, size=(64, 4)).astype(np.float64)]
        self.run_case(rows, -1, strict=True)
        self.run_case(rows, 12, strict=True)

    def test_larger(self):
        rs = np.random.default_rng(11)
        rows = [list(r) for r in rs.normal(size=(1500, 24))]
        out, got, nm, _ = self.run_case(rows, 150)
        self.assertEqual(len(got), 150)

    # Sizes where winnow's fast passes (float32 gate, clustered member lists,
    # threads) do the work: the reference still decides every pick.
    def test_clustered_fast_path(self):
        rs = np.random.default_rng(15)
        basis = rs.normal(size=(8, 32)) / np.sqrt(8)
        means = 4 * rs.normal(size=(16, 8))
        z = means[rs.integers(0, 16, size=6000)] + rs.normal(size=(6000, 8))
        X = z @ basis + 0.01 * rs.normal(size=(6000, 32))
        out, got, nm, _ = self.run_case([list(r) for r in X], 300)
        self.assertEqual(len(got), 300)

    def test_uniform_fast_path(self):
        rs = np.random.default_rng(16)
        out, got, nm, _ = self.run_case([list(r) for r in rs.random(size=(4000, 48))], 200)
        self.assertEqual(len(got), 200)

    def test_lattice_duplicates_fast_path(self):
        # 3^5 = 243 points for 2048 rows: exact distances, many ties and duplicates.
        rs = np.random.default_rng(17)
        rows = [list(r) for r in rs.integers(0, 3, size=(2048, 5)).astype(np.float64)]
        out, got, nm, _ = self.run_case(rows, -1, strict=True)
        self.assertLessEqual(nm, 243)
        self.assertEqual(len(got), 2048)

    def test_tiny(self):
        self.run_case([[0.5, 1.5]], -1)
        self.run_case([[0.5], [0.5]], -1)
        self.run_case([[0.0], [1.0], [3.0], [7.0], [15.0]], -1, min_distance=3, strict=True)
        # Four rows tie for farthest from the mean (3): the lowest index first.
        out, got, nm, _ = self.run_case([[1.0], [5.0], [3.0], [5.0], [1.0]], -1, strict=True)
        self.assertEqual(got, [0, 1, 2, 3, 4])
        self.assertEqual(nm, 3)
        root, names = make_source([[0.0], [1.0], [3.0], [7.0], [15.0]])
        out, got, header, body = select(docker("coreset", -1, min_distance=3), root)
        self.assertEqual(got, ["img_00005.png", "img_00001.png", "img_00004.png", "img_00003.png"])


class RandomCrossCheck(unittest.TestCase):
    def run_random(self, rows, n_samples, seed, dups=False, min_distance=-1):
        root, names = make_source(rows)
        out, got, header, body = select(docker("random", n_samples, min_distance,
                                               dups=dups, seed=seed), root)
        keep, _ = candidates(rows, dups, False)
        k = budget(n_samples, len(keep))
        want = [names[keep[i]] for i in ref_random(len(keep), len(keep) if k is None else k, seed)]
        self.assertEqual(got, want)
        self.assertEqual([r[1] for r in body], got)
        for r in body:
            self.assertEqual(r[3].strip(), "", "random records no distance")
        return got

    def test_random_fraction_and_seeds(self):
        rows = tricky_rows(12)
        a = self.run_random(rows, 0.3, 1)
        b = self.run_random(rows, 0.3, 7)
        self.assertNotEqual(a, b)

    def test_random_all_and_count(self):
        rows = tricky_rows(13, n_gauss=60, n_grid=10, n_dup=10)
        got = self.run_random(rows, -1, 1)
        self.assertEqual(len(got), len(rows))
        self.run_random(rows, 17, 4294967295)
        # min_distance is ignored by random (a warning only).
        self.run_random(rows, -1, 5, min_distance=0.5)

    def test_random_after_duplicates(self):
        rows = tricky_rows(14, n_gauss=60, n_grid=10, n_dup=20)
        self.run_random(rows, 40, 3, dups=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
