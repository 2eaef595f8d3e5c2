"""Cross-check of the coral and active_learning selections (SPEC 4.6) against
an independent, straightforward float64 reference written here with numpy.

Every case runs the real `winnowd select` end to end on an embeddings-only
datasource (.lightly/embeddings/emb.csv, no image files) with classification
predictions (.lightly/predictions/cls/) chosen to give the weights wanted:
with two categories uncertainty_margin = 1 - |2p - 1|, so p = (1 - w) / 2,
and a reused p makes an exact tie. The weights winnow actually used are read
back from data/scores.csv (printed with %.17g), so the comparison does not
depend on the score formulas. The coral check goes step by step: where the
reference's best objectives are within 1e-6 (relative) of each other,
winnow's pick is accepted and the reference continues from it; exact ties
must follow the tie rules (larger d, then the lowest index).
"""
import csv
import json
import math
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from winnowtest import read_lines, run_select, tmpdir  # noqa: E402

REL = 1e-6       # SPEC 4.6: near-ties within this are either way
DIST_REL = 1e-9  # recorded distances vs the reference's
SCORE = "uncertainty_margin"


# ---- the reference ----------------------------------------------------------

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


def dist_to(X, c):
    return np.sqrt(((X - c) ** 2).sum(axis=1))


def check_coral(tc, X, w, k, min_distance, got, got_dist):
    """Replays SPEC 4.6's coral on X (n x d) and weights w along winnow's
    picks `got` (candidate indices) with recorded distances got_dist (None
    for NaN). k: None = no limit; min_distance < 0 = off. Returns (picks by
    the method, near-ties accepted)."""
    n = len(X)
    kk = n if k is None else k
    md_on = min_distance >= 0
    selected = np.zeros(n, dtype=bool)
    step = 0
    near_ties = 0

    def follow(ref, what, obj, d):
        """Checks winnow's pick at this step against the reference's `ref`."""
        nonlocal step, near_ties
        tc.assertLess(step, len(got), "winnow stopped early at step %d (%s)" % (step, what))
        g = got[step]
        tc.assertFalse(selected[g], "step %d: %d picked twice" % (step, g))
        if g != ref:
            msg = ("step %d (%s): winnow picked %d (objective %r, d %r), reference %d (%r, %r)"
                   % (step, what, g, obj[g], d[g], ref, obj[ref], d[ref]))
            tc.assertTrue(np.isfinite(obj[g]), msg + ": not eligible")
            if obj[g] != obj[ref]:
                tc.assertLess(obj[ref] - obj[g], REL * obj[ref], msg)
            else:
                # An exact tie on the objective goes to the larger d (then the
                # lowest index, which the reference's ref already is).
                tc.assertNotEqual(d[g], d[ref], msg + ": tie not to the lowest index")
                tc.assertLess(d[ref] - d[g], REL * d[ref], msg + ": tie not to the larger d")
            near_ties += 1
        selected[g] = True
        step += 1
        return g

    def argbest(obj, d):
        """argmax obj, ties to the larger d, then the lowest index."""
        order = np.lexsort((np.arange(n), -d, -obj))
        return int(order[0])

    d = np.full(n, np.inf)
    if n > 0 and kk > 0:
        # First pick: argmax w, ties to the farthest from the mean, then the lowest index.
        dm = dist_to(X, X.mean(axis=0))
        g = follow(argbest(w, dm), "first pick", w, dm)
        tc.assertIsNone(got_dist[0], "the first pick's distance is not defined")
        d = dist_to(X, X[g])
    while step < kk:
        left = ~selected
        if not left.any():
            break
        D = d[left].max()
        elig = left & (d > 0)
        if md_on:
            elig &= d >= min_distance
        if not elig.any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            obj = np.where(elig, (d / D) * w, -np.inf)   # exactly (d_i / D) * w_i
        g = follow(argbest(obj, np.where(elig, d, -np.inf)), "objective", obj, d)
        gd = got_dist[step - 1]
        tc.assertIsNotNone(gd, "step %d: no distance recorded" % (step - 1))
        tc.assertLessEqual(abs(gd - d[g]), DIST_REL * max(d[g], 1e-300),
                           "step %d: distance %r, reference %r" % (step - 1, gd, d[g]))
        if md_on:
            tc.assertGreaterEqual(gd, min_distance, "step %d: pick below min_distance" % (step - 1))
        d = np.minimum(d, dist_to(X, X[g]))
    n_method = step
    if not md_on and kk >= n:
        # Everything selected: the rest (all at d = 0) in path order.
        rest = [i for i in range(n) if not selected[i]]
        for i in rest:
            tc.assertEqual(d[i], 0.0, "candidate %d left over at d = %r" % (i, d[i]))
        tc.assertEqual(list(got[n_method:]), rest, "fill after %d method picks" % n_method)
        for j in range(n_method, len(got)):
            tc.assertEqual(got_dist[j], 0.0)
        tc.assertEqual(len(got), n)
    else:
        tc.assertEqual(len(got), n_method, "winnow picked more than the reference")
    return n_method, near_ties


def ref_topk(w, k):
    """The k largest w, ties to the lowest index (a stable descending sort)."""
    order = sorted(range(len(w)), key=lambda i: (-w[i], i))
    return order if k is None else order[:k]


# ---- running winnow ---------------------------------------------------------

def fmt(v):
    return repr(float(v))


def make_source(rows, probs, names=None, missing=()):
    """An embeddings-only datasource with a classification task "cls": image
    i gets probabilities [probs[i], 1 - probs[i]] (none for i in missing)."""
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
    pred = os.path.join(root, ".lightly", "predictions")
    task = os.path.join(pred, "cls")
    os.makedirs(task)
    with open(os.path.join(pred, "tasks.json"), "w") as f:
        json.dump(["cls"], f)
    with open(os.path.join(task, "schema.json"), "w") as f:
        json.dump({"task_type": "classification",
                   "categories": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]}, f)
    for i, (name, p) in enumerate(zip(names, probs)):
        if i in missing:
            continue
        with open(os.path.join(task, os.path.splitext(name)[0] + ".json"), "w") as f:
            json.dump({"file_name": name,
                       "predictions": [{"category_id": 0, "probabilities": [p, 1 - p]}]}, f)
    return root, names


def docker(method, n_samples, min_distance=-1, normalize=False, dups=False):
    return {"method": method, "embeddings": "emb.csv", "normalize_embeddings": normalize,
            "remove_exact_duplicates": dups,
            "active_learning": {"task_name": "cls", "score_name": SCORE},
            "stopping_condition": {"n_samples": n_samples, "min_distance": min_distance}}


def select(cfg, root):
    out = os.path.join(tmpdir("out"), "run")
    run_select(cfg, root, out)
    names = read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))
    with open(os.path.join(out, "data", "selection.csv"), newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        body = [r for r in rd if r]
    with open(os.path.join(out, "data", "scores.csv"), newline="") as f:
        rd = csv.reader(f)
        sh = next(rd)
        col = sh.index(SCORE)
        scores = {r[0]: float(r[col]) for r in rd if r}
    return out, names, header, body, sh, scores


def parse_dist(cell):
    cell = cell.strip()
    if cell == "" or cell.lower() == "nan":
        return None
    return float(cell)


# ---- data -------------------------------------------------------------------

def p_for(w):
    """The probability p whose two-class margin 1 - |2p - 1| is w (up to rounding)."""
    return w / 2.0


def tricky_rows(seed, n_gauss=150, n_grid=50, n_dup=30, dim=5):
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


def tied_probs(seed, n, levels=6):
    """p from a few values (so many weights tie exactly), 0 and 1 included."""
    rs = np.random.default_rng(seed + 1000)
    vals = [0.0, 1.0] + [float(v) for v in rs.uniform(0.02, 0.98, size=levels - 2)]
    return [vals[i] for i in rs.integers(0, len(vals), size=n)]


def random_probs(seed, n):
    rs = np.random.default_rng(seed + 2000)
    return [float(v) for v in rs.uniform(0, 1, size=n)]


# ---- tests ------------------------------------------------------------------

class CoralCrossCheck(unittest.TestCase):
    def run_case(self, rows, probs, n_samples, min_distance=-1, normalize=False, dups=False,
                 missing=()):
        root, names = make_source(rows, probs, missing=missing)
        out, got_names, header, body, sh, scores = select(
            docker("coral", n_samples, min_distance, normalize, dups), root)
        # SPEC 4.8: the existing columns, then S and the objective of each entry of coral's plan.
        self.assertEqual(header[:5], ["rank", "filenames", "weight", "distance", "score"])
        self.assertEqual(len(header), 7, header)
        self.assertEqual(header[5], "DIVERSITY:EMBEDDINGS")
        self.assertRegex(header[6], r"^WEIGHTS:SCORES:.+:uncertainty_margin$")
        self.assertEqual(sh, ["filenames", "uncertainty_least_confidence", "uncertainty_margin",
                              "uncertainty_entropy"])
        self.assertEqual([r[1] for r in body], got_names)
        keep, X = candidates(rows, dups, normalize)
        cand = [names[i] for i in keep]
        self.assertEqual(sorted(scores), sorted(cand), "scores.csv lists the candidates")
        w = np.array([scores[nm] for nm in cand], dtype=np.float64)
        pos = {nm: c for c, nm in enumerate(cand)}
        for nm in got_names:
            self.assertIn(nm, pos, "%s is not a candidate" % nm)
        got = [pos[nm] for nm in got_names]
        for r, g in zip(body, got):
            self.assertEqual(float(r[2]), w[g], "weight column of %s" % r[1])
        dist = [parse_dist(r[3]) for r in body]
        k = budget(n_samples, len(keep))
        n_method, ties = check_coral(self, X, w, k, min_distance, got, dist)
        for j, r in enumerate(body):
            if j >= n_method:	# the fill explains nothing
                self.assertEqual(r[4:], ["", "", ""], r)
                continue
            S, div, wo = float(r[4]), float(r[5]), float(r[6])
            self.assertEqual(wo, w[got[j]], r)
            self.assertEqual(S, div * wo, r)
            self.assertTrue(0 < div <= 1, r)
            if dist[j] is None:	# the first pick: nothing selected yet
                self.assertEqual(div, 1.0, r)
        return out, got, n_method, ties, w

    def test_count_tied_weights(self):
        rows = tricky_rows(1)
        out, got, nm, _, w = self.run_case(rows, tied_probs(1, len(rows)), 25)
        self.assertEqual(len(got), 25)
        self.assertLess(len(set(w)), 10, "the weights tie")

    def test_count_random_weights(self):
        rows = tricky_rows(2)
        out, got, nm, _, w = self.run_case(rows, random_probs(2, len(rows)), 40)
        self.assertEqual(len(got), 40)

    def test_fraction(self):
        rows = tricky_rows(3)
        out, got, nm, _, _ = self.run_case(rows, tied_probs(3, len(rows)), 0.15)
        self.assertEqual(len(got), math.ceil(0.15 * len(rows) - 1e-6))

    def test_all_with_fill(self):
        rows = tricky_rows(4)
        out, got, nm, _, _ = self.run_case(rows, tied_probs(4, len(rows)), -1)
        self.assertEqual(len(got), len(rows))
        self.assertLess(nm, len(rows), "the duplicates must come as fill")

    def test_fraction_one_is_all(self):
        rows = tricky_rows(5, n_gauss=50, n_grid=20, n_dup=10)
        out, got, nm, _, _ = self.run_case(rows, random_probs(5, len(rows)), 1.0)
        self.assertEqual(sorted(got), list(range(len(rows))))

    def test_min_distance(self):
        rows = tricky_rows(6)
        X = np.array(rows)
        md = float(np.median(np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)))) / 3
        out, got, nm, _, _ = self.run_case(rows, tied_probs(6, len(rows)), -1, min_distance=md)
        self.assertGreater(len(got), 1)
        self.assertLess(len(got), len(set(map(tuple, rows))))

    def test_min_distance_and_count(self):
        rows = tricky_rows(7)
        out, got, nm, _, _ = self.run_case(rows, random_probs(7, len(rows)), 10, min_distance=0.5)
        self.assertEqual(len(got), 10)
        out, got, nm, _, _ = self.run_case(rows, random_probs(7, len(rows)), 200, min_distance=1.2)
        self.assertLess(len(got), 200)

    def test_min_distance_honoured(self):
        """Every recorded distance is at least min_distance, and none is left
        that could have been picked."""
        rows = tricky_rows(8)
        md = 1.0
        root, names = make_source(rows, random_probs(8, len(rows)))
        out, got_names, header, body, sh, scores = select(docker("coral", -1, md), root)
        dist = [parse_dist(r[3]) for r in body]
        self.assertIsNone(dist[0])
        for r, dv in zip(body[1:], dist[1:]):
            self.assertIsNotNone(dv, r)
            self.assertGreaterEqual(dv, md, r)
        X = np.array(rows)
        sel = np.array([names.index(nm) for nm in got_names])
        dmin = np.sqrt(((X[:, None, :] - X[None, sel, :]) ** 2).sum(-1)).min(axis=1)
        self.assertTrue((dmin[~np.isin(np.arange(len(rows)), sel)] < md).all(),
                        "a candidate at least min_distance away was left")

    def test_min_distance_zero_no_fill(self):
        rows = tricky_rows(9, n_gauss=40, n_grid=20, n_dup=15)
        out, got, nm, _, _ = self.run_case(rows, tied_probs(9, len(rows)), -1, min_distance=0)
        self.assertEqual(len(got), nm)
        self.assertLess(len(got), len(rows))

    def test_zero_weights(self):
        """p = 0 or 1 everywhere: every weight is 0, so coral orders like coreset."""
        rows = tricky_rows(10)
        probs = [float(i % 2) for i in range(len(rows))]
        out, got, nm, _, w = self.run_case(rows, probs, -1)
        self.assertTrue((w == 0).all())
        self.assertLess(nm, len(rows))
        cs = os.path.join(tmpdir("out"), "run")
        root, names = make_source(rows, probs)
        cfg = docker("coreset", -1)
        run_select(cfg, root, cs)
        self.assertEqual(read_lines(os.path.join(cs, "filenames", "selected_filenames.txt")),
                         ["img_%05d.png" % (i + 1) for i in got])

    def test_missing_predictions(self):
        """Images without a prediction file: whatever weight winnow gives
        them (scores.csv), the selection follows the rules."""
        rows = tricky_rows(11, n_gauss=60, n_grid=20, n_dup=10)
        self.run_case(rows, random_probs(11, len(rows)), 30, missing={0, 5, 17, 18, 40})

    def test_normalized(self):
        rows = tricky_rows(12, n_grid=30)
        rows[17] = [0.0] * len(rows[0])          # stays zero
        rows[40] = [2 * v for v in rows[39]]     # same direction: d = 0 once normalised
        probs = tied_probs(12, len(rows))
        out, got, nm, _, _ = self.run_case(rows, probs, -1, normalize=True)
        self.assertEqual(len(got), len(rows))
        self.run_case(rows, probs, 0.2, normalize=True)
        self.run_case(rows, probs, -1, min_distance=0.3, normalize=True)

    def test_remove_exact_duplicates(self):
        rows = tricky_rows(13)
        out, got, nm, _, _ = self.run_case(rows, tied_probs(13, len(rows)), -1, dups=True)
        keep, _ = candidates(rows, True, False)
        self.assertLess(len(keep), len(rows))
        self.assertEqual(len(got), len(keep))

    def test_grid_ties(self):
        # Rows on a 3x3x3 grid and weights from three values: many exact ties
        # in d and in the objective.
        rs = np.random.default_rng(14)
        rows = [list(r) for r in rs.integers(0, 3, size=(64, 3)).astype(np.float64)]
        probs = [[0.0, 0.25, 0.5][i] for i in rs.integers(0, 3, size=64)]
        self.run_case(rows, probs, -1)
        self.run_case(rows, probs, 12)
        self.run_case(rows, probs, -1, min_distance=1.5)

    def test_larger(self):
        rs = np.random.default_rng(15)
        rows = [list(r) for r in rs.normal(size=(1200, 16))]
        out, got, nm, _, _ = self.run_case(rows, random_probs(15, 1200), 120)
        self.assertEqual(len(got), 120)

    def test_tiny(self):
        self.run_case([[0.5, 1.5]], [0.3], -1)
        self.run_case([[0.5], [0.5]], [0.3, 0.3], -1)
        # x = 0 1 2 3 10, w = .5 .2 1 .1 .4 (p = .25 .1 .5 .05 .2; the weights
        # are read back): #2 first, then #4 #0 #1 #3.
        rows = [[0.0], [1.0], [2.0], [3.0], [10.0]]
        probs = [p_for(v) for v in (0.5, 0.2, 1.0, 0.1, 0.4)]
        out, got, nm, _, _ = self.run_case(rows, probs, -1)
        self.assertEqual(got, [2, 4, 0, 1, 3])
        out, got, nm, _, _ = self.run_case(rows, probs, -1, min_distance=1.5)
        self.assertEqual(got, [2, 4, 0])
        # Two top weights at the same distance from the mean: the lower index.
        rows = [[0.0], [1.0], [2.0], [3.0], [4.0]]
        probs = [p_for(v) for v in (0.1, 0.9, 0.2, 0.9, 0.1)]
        # (n_samples 1 means all candidates, SPEC 2: look at the first pick.)
        out, got, nm, _, _ = self.run_case(rows, probs, 2)
        self.assertEqual(got[0], 1)


class ActiveLearningCrossCheck(unittest.TestCase):
    def run_topk(self, rows, probs, n_samples, min_distance=-1, dups=False):
        root, names = make_source(rows, probs)
        out, got, header, body, sh, scores = select(
            docker("active_learning", n_samples, min_distance, dups=dups), root)
        keep, _ = candidates(rows, dups, False)
        cand = [names[i] for i in keep]
        w = [scores[nm] for nm in cand]
        k = budget(n_samples, len(keep))
        want = [cand[i] for i in ref_topk(w, k)]
        self.assertEqual(got, want)
        self.assertEqual([r[1] for r in body], got)
        for r in body:
            self.assertEqual(float(r[2]), scores[r[1]])
            self.assertEqual(r[3].strip(), "", "active_learning records no distance")
        return got, w

    def test_count_with_ties(self):
        rows = tricky_rows(20)
        got, w = self.run_topk(rows, tied_probs(20, len(rows)), 50)
        self.assertEqual(len(got), 50)

    def test_fraction_and_all(self):
        rows = tricky_rows(21)
        self.run_topk(rows, random_probs(21, len(rows)), 0.3)
        got, w = self.run_topk(rows, tied_probs(21, len(rows)), -1)
        self.assertEqual(len(got), len(rows))

    def test_min_distance_ignored(self):
        rows = tricky_rows(22, n_gauss=50, n_grid=10, n_dup=10)
        a, _ = self.run_topk(rows, tied_probs(22, len(rows)), 20, min_distance=5.0)
        self.assertEqual(len(a), 20)

    def test_zero_weights_path_order(self):
        rows = tricky_rows(23, n_gauss=30, n_grid=5, n_dup=5)
        got, w = self.run_topk(rows, [1.0] * len(rows), 10)
        self.assertEqual(got, ["img_%05d.png" % (i + 1) for i in range(10)])

    def test_after_duplicates(self):
        rows = tricky_rows(24, n_gauss=60, n_grid=10, n_dup=20)
        self.run_topk(rows, tied_probs(24, len(rows)), 40, dups=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
