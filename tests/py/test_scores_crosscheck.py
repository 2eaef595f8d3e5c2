"""Cross-check of the active-learning scores (SPEC 4.4) and the object-frequency
scorer (4.5) against an independent, straightforward float64 numpy
implementation written here.

One embeddings-only datasource (only .lightly/: an embeddings CSV and
predictions, no image files) holds random but valid predictions of
N >= 1,000 images for six tasks: classification, object detection,
semantic segmentation, keypoint detection, and a binary classification and a
binary detection task whose schemas have 2 categories and whose entries
often give a single probability. Some images have no prediction file, some
have "predictions": []; detection and segmentation mix entries with and
without probabilities; probability vectors sometimes hold zeros or sum to
1 +- 5e-4. Each task is scored by the real `winnowd select` (task_name
switches the task) and data/scores.csv must match the reference within 1e-9.

The reference is also used by bench/bench_scores.sh (read_task_dir, reference).
"""
import collections
import json
import math
import os
import random
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from winnowtest import read_lines, run_select, tmpdir  # noqa: E402

TOL = 1e-9
N = 1200            # images per task (>= 1,000)
DIM = 4             # embedding dimensions
H, W = 32, 32       # the nominal image size the RLEs are written for

NAMES = {
    "classification": ["uncertainty_least_confidence", "uncertainty_margin",
                       "uncertainty_entropy"],
    "object-detection": ["uncertainty_least_confidence", "uncertainty_margin",
                         "uncertainty_entropy", "objectness_least_confidence",
                         "object_frequency"],
    "semantic-segmentation": ["uncertainty_least_confidence", "uncertainty_margin",
                              "uncertainty_entropy"],
    "keypoint-detection": ["mean_uncertainty"],
}


# ---- the reference ----------------------------------------------------------

def probs_scores(p):
    """(least confidence, margin, entropy) of one probability vector."""
    p = np.asarray(p, dtype=np.float64)
    c = len(p)
    if c < 2:
        return 0.0, 0.0, 0.0    # winnow's decision for C = 1
    top = np.sort(p)[::-1]
    lc = (1 - top[0]) / (1 - 1 / c)
    margin = 1 - (top[0] - top[1])
    nz = p[p > 0]
    ent = -np.sum(nz * np.log2(nz)) / np.log2(c)
    return tuple(float(np.clip(x, 0.0, 1.0)) for x in (lc, margin, ent))


def expand(probs):
    """A single value p, bare or as [p], means [p, 1-p] (SPEC 3)."""
    if isinstance(probs, (int, float)):
        probs = [probs]
    if probs is not None and len(probs) == 1:
        return [probs[0], 1 - probs[0]]
    return probs


def entry_vectors(entries):
    """The probability vector of each entry: its own, else the pseudo vector."""
    k = max([e["category_id"] for e in entries if e.get("probabilities") is None] + [1])
    out = []
    for e in entries:
        p = expand(e.get("probabilities"))
        if p is None:
            v = np.full(k + 1, (1 - e["score"]) / k)
            v[e["category_id"]] = e["score"]
            p = v
        out.append(p)
    return out


def score_image(ttype, entries):
    """The SPEC 4.4 scores of one image (object_frequency left at 0)."""
    ncol = len(NAMES[ttype])
    if not entries:
        return [0.0] * ncol
    if ttype == "classification":
        return list(probs_scores(expand(entries[0]["probabilities"])))
    if ttype == "keypoint-detection":
        means = [np.mean(np.asarray(e["keypoints"][2::3], dtype=np.float64)) for e in entries]
        return [float(np.clip(1 - np.mean(means), 0, 1))]
    s = np.array([probs_scores(p) for p in entry_vectors(entries)])
    if ttype == "object-detection":
        objectness = 1 - np.mean([e["score"] for e in entries])
        return list(s.max(axis=0)) + [float(np.clip(objectness, 0, 1)), 0.0]
    # semantic segmentation: pixel-weighted mean
    w = np.array([float(sum(e["segmentation"][1::2])) for e in entries])
    if w.sum() == 0:
        return [0.0] * 3
    return [float(np.clip(np.sum(w * s[:, c]) / np.sum(w), 0, 1)) for c in range(3)]


def object_frequency(label_lists, penalty, min_score):
    n = []
    for labels in label_lists:
        counts = collections.Counter(labels)
        n.append(sum(1 + penalty * (c - 1) for c in counts.values()))
    n = np.array(n, dtype=np.float64)
    if len(n) == 0:
        return n
    lo, hi = n.min(), n.max()
    if lo == hi:
        return np.ones_like(n)
    return np.clip(min_score + (n - lo) * (1 - min_score) / (hi - lo), 0, 1)


def reference(ttype, preds, penalty=0.25, min_score=0.9, scorer_on=True):
    """preds: per image, the list of entries (None for no file). -> rows."""
    rows = [score_image(ttype, p or []) for p in preds]
    if ttype == "object-detection" and scorer_on:
        of = object_frequency([[e["category_id"] for e in (p or [])] for p in preds],
                              penalty, min_score)
        for r, v in zip(rows, of):
            r[4] = float(v)
    return rows


def read_task_dir(root, task, names):
    """Reads the prediction files of `task` for image `names` (None: no file)."""
    out = []
    for name in names:
        path = os.path.join(root, ".lightly", "predictions", task,
                            os.path.splitext(name)[0] + ".json")
        try:
            with open(path) as f:
                out.append(json.load(f)["predictions"])
        except FileNotFoundError:
            out.append(None)
    return out


# ---- random, valid predictions ---------------------------------------------

def rand_probs(rng, c):
    """A probability vector of length c: sometimes with zeros, sometimes
    summing to 1 +- 5e-4 (the parser allows 1e-3), each value in [0,1]."""
    x = [0.0 if rng.random() < 0.15 else rng.random() ** rng.choice((1, 3, 8)) for _ in range(c)]
    if sum(x) == 0:
        x[rng.randrange(c)] = 1.0
    s = sum(x)
    f = 1 + rng.uniform(-5e-4, 5e-4) if rng.random() < 0.2 else 1
    return [min(1.0, v / s * f) for v in x]


def rand_score(rng):
    r = rng.random()
    if r < 0.05:
        return 0.0
    if r < 0.1:
        return 1.0
    return rng.random()


def rand_rle(rng):
    """Lightly's row-major RLE of an H x W mask: 0-run first (may be 0)."""
    total = H * W
    if rng.random() < 0.05:
        return [total]              # an empty mask
    runs = [rng.randrange(0, 200)]
    left = total - runs[0]
    one = True
    while left > 0:
        r = min(left, rng.randrange(1, 120))
        runs.append(r)
        left -= r
        one = not one
    return runs


def single(rng):
    """A single probability, written as [p] or as a bare number."""
    p = rng.random()
    return [p] if rng.random() < 0.5 else p


def is_single(e):
    p = e.get("probabilities")
    return isinstance(p, float) or (isinstance(p, list) and len(p) == 1)


def make_entry(rng, ttype, cats, binary):
    cat = rng.choice(cats)
    if ttype == "classification":
        if binary and rng.random() < 0.6:
            return {"category_id": cat, "probabilities": single(rng)}
        return {"category_id": cat, "probabilities": rand_probs(rng, len(cats))}
    if ttype == "keypoint-detection":
        kp = []
        for _ in range(rng.randrange(1, 8)):
            kp += [rng.uniform(0, W), rng.uniform(0, H), rand_score(rng)]
        return {"category_id": cat, "keypoints": kp, "score": rand_score(rng)}
    e = {"category_id": cat}
    if ttype == "object-detection":
        e["bbox"] = [rng.uniform(0, 20), rng.uniform(0, 20), rng.uniform(0.5, 12), rng.uniform(0.5, 12)]
    else:
        e["segmentation"] = rand_rle(rng)
    e["score"] = rand_score(rng)
    if rng.random() < 0.5:
        if binary and rng.random() < 0.6:
            e["probabilities"] = single(rng)
        else:
            e["probabilities"] = rand_probs(rng, len(cats))
    return e


# name -> (task type, category ids, binary, max entries per image)
TASKS = {
    "cls": ("classification", list(range(12)), False, 1),
    "det": ("object-detection", list(range(40)), False, 14),
    "seg": ("semantic-segmentation", [0, 2, 3, 7, 11, 12], False, 6),
    "kp": ("keypoint-detection", [0, 1, 2], False, 5),
    "bincls": ("classification", [0, 1], True, 1),
    "bindet": ("object-detection", [0, 1], True, 6),
}


def image_names(n):
    # Some in a sub-folder; sorted bytewise as the dataset is.
    return sorted(("sub/" if i % 7 == 3 else "") + "img_%05d.png" % i for i in range(n))


def write_embeddings_csv(root, names, rng, fname="emb.csv"):
    d = os.path.join(root, ".lightly", "embeddings")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "w") as f:
        f.write("filenames," + ",".join("embedding_%d" % j for j in range(DIM)) + ",labels\n")
        for name in names:
            f.write(name + "," + ",".join(repr(rng.uniform(-1, 1)) for _ in range(DIM)) + ",0\n")


def write_task(root, task, ttype, cats, binary, maxe, names, rng, empty_frac=0.08):
    """Writes schema.json and the prediction files; returns per image the
    entries, or None for an image without a file."""
    d = os.path.join(root, ".lightly", "predictions", task)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "schema.json"), "w") as f:
        json.dump({"task_type": ttype,
                   "categories": [{"id": c, "name": "c%d" % c} for c in cats]}, f)
    preds = []
    for name in names:
        r = rng.random()
        if r < empty_frac:
            preds.append(None)      # no prediction file
            continue
        if r < 2 * empty_frac:
            entries = []
        elif ttype == "classification":
            entries = [make_entry(rng, ttype, cats, binary)]
        else:
            entries = [make_entry(rng, ttype, cats, binary) for _ in range(rng.randrange(1, maxe + 1))]
        path = os.path.join(d, os.path.splitext(name)[0] + ".json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"file_name": name, "predictions": entries}, f)
        preds.append(entries)
    return preds


def build_datasource(root, n, seed):
    rng = random.Random(seed)
    names = image_names(n)
    write_embeddings_csv(root, names, rng)
    os.makedirs(os.path.join(root, ".lightly", "predictions"), exist_ok=True)
    with open(os.path.join(root, ".lightly", "predictions", "tasks.json"), "w") as f:
        json.dump(list(TASKS), f)
    preds = {}
    for task, (ttype, cats, binary, maxe) in TASKS.items():
        preds[task] = write_task(root, task, ttype, cats, binary, maxe, names, rng)
    # A prediction file of an image that is not a candidate: ignored (SPEC 3).
    with open(os.path.join(root, ".lightly", "predictions", "det", "zz_orphan.json"), "w") as f:
        json.dump({"file_name": "zz_orphan.png", "predictions": []}, f)
    return names, preds


# ---- the test ---------------------------------------------------------------

def read_scores(out):
    lines = read_lines(os.path.join(out, "data", "scores.csv"))
    header = lines[0].split(",")
    names, rows = [], []
    for line in lines[1:]:
        f = line.split(",")
        names.append(f[0])
        rows.append([float(x) for x in f[1:]])
    return header, names, rows


class ScoresCrosscheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tmpdir("ds")
        cls.names, cls.preds = build_datasource(cls.root, N, seed=20261129)

    def run_task(self, task, **docker):
        ttype = TASKS[task][0]
        cfg = {"method": "coral", "embeddings": "emb.csv",
               "active_learning": {"task_name": task,
                                   "score_name": "mean_uncertainty" if ttype == "keypoint-detection"
                                   else "uncertainty_margin"},
               "stopping_condition": {"n_samples": 10}}
        cfg.update(docker)
        out = os.path.join(tmpdir("out"), "run")
        run_select(cfg, self.root, out)
        return out

    def check_scores(self, task, out, **ref_opts):
        ttype = TASKS[task][0]
        header, names, rows = read_scores(out)
        self.assertEqual(header, ["filenames"] + NAMES[ttype])
        self.assertEqual(names, self.names)   # candidates in path order
        want = reference(ttype, self.preds[task], **ref_opts)
        worst = 0.0
        for name, got, exp in zip(names, rows, want):
            self.assertEqual(len(got), len(exp), name)
            for col, (g, e) in enumerate(zip(got, exp)):
                self.assertTrue(0.0 <= g <= 1.0, "%s %s = %r" % (name, NAMES[ttype][col], g))
                if abs(g - e) > TOL:
                    self.fail("%s %s %s: winnow %.17g, reference %.17g" %
                              (task, name, NAMES[ttype][col], g, e))
                worst = max(worst, abs(g - e))
        print("  %s: %d images, largest difference %.3g" % (task, len(rows), worst), file=sys.stderr)
        return rows

    def check_no_predictions(self, task, out):
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
        want = sum(1 for p in self.preds[task] if not p)
        self.assertEqual(report["counts"]["no_predictions"], want)

    def test_generated_data_covers_cases(self):
        # Guards the generator: the cases the brief names must be present.
        det = [p for p in self.preds["det"] if p]
        boxes = [e for p in det for e in p]
        self.assertGreaterEqual(len(self.names), 1000)
        self.assertTrue(any(p is None for p in self.preds["det"]))
        self.assertTrue(any(p == [] for p in self.preds["det"]))
        self.assertTrue(any("probabilities" in e for e in boxes))
        self.assertTrue(any("probabilities" not in e for e in boxes))
        for task in ("bincls", "bindet"):
            entries = [e for p in self.preds[task] if p for e in p]
            self.assertTrue(any(is_single(e) and isinstance(e["probabilities"], list)
                                for e in entries))
            self.assertTrue(any(is_single(e) and isinstance(e["probabilities"], float)
                                for e in entries))
            self.assertTrue(any(not is_single(e) and "probabilities" in e for e in entries))
        segs = [e for p in self.preds["seg"] if p for e in p]
        self.assertTrue(any(sum(e["segmentation"][1::2]) == 0 for e in segs))

    def test_classification(self):
        out = self.run_task("cls")
        self.check_scores("cls", out)
        self.check_no_predictions("cls", out)

    def test_classification_binary(self):
        self.check_scores("bincls", self.run_task("bincls"))

    def test_detection(self):
        out = self.run_task("det")
        rows = self.check_scores("det", out)
        self.check_no_predictions("det", out)
        # The defaults are on: object frequency spans [0.9, 1].
        of = [r[4] for r in rows]
        self.assertAlmostEqual(min(of), 0.9, delta=TOL)
        self.assertEqual(max(of), 1.0)

    def test_detection_binary(self):
        self.check_scores("bindet", self.run_task("bindet"))

    def test_segmentation(self):
        out = self.run_task("seg")
        self.check_scores("seg", out)
        self.check_no_predictions("seg", out)

    def test_keypoints(self):
        out = self.run_task("kp")
        self.check_scores("kp", out)
        self.check_no_predictions("kp", out)

    def test_object_frequency_off(self):
        # scorer "": the object_frequency column holds 0 (the other columns
        # are unchanged).
        rows = self.check_scores("det", self.run_task("det", scorer=""), scorer_on=False)
        self.assertTrue(all(r[4] == 0.0 for r in rows))

    def test_object_frequency_config(self):
        rows = self.check_scores("det", self.run_task(
            "det", scorer_config={"frequency_penalty": 0.6, "min_score": 0.3}),
            penalty=0.6, min_score=0.3)
        of = [r[4] for r in rows]
        self.assertAlmostEqual(min(of), 0.3, delta=TOL)
        self.assertEqual(max(of), 1.0)

    def test_object_frequency_all_equal(self):
        # Every image holds exactly one box of class 3: all n equal -> 1.0.
        root = tmpdir("eq")
        rng = random.Random(7)
        names = image_names(30)
        write_embeddings_csv(root, names, rng)
        d = os.path.join(root, ".lightly", "predictions")
        os.makedirs(os.path.join(d, "det"))
        with open(os.path.join(d, "tasks.json"), "w") as f:
            json.dump(["det"], f)
        with open(os.path.join(d, "det", "schema.json"), "w") as f:
            json.dump({"task_type": "object-detection",
                       "categories": [{"id": c, "name": "c%d" % c} for c in range(5)]}, f)
        for name in names:
            os.makedirs(os.path.dirname(os.path.join(d, "det", name)), exist_ok=True)
            with open(os.path.join(d, "det", name[:-4] + ".json"), "w") as f:
                json.dump({"file_name": name, "predictions": [
                    {"category_id": 3, "bbox": [1, 2, 3, 4], "score": rng.random()}]}, f)
        out = os.path.join(tmpdir("out"), "run")
        run_select({"method": "coral", "embeddings": "emb.csv",
                    "active_learning": {"task_name": "det", "score_name": "uncertainty_margin"},
                    "stopping_condition": {"n_samples": 10}}, root, out)
        _, got_names, rows = read_scores(out)
        self.assertEqual(got_names, names)
        self.assertTrue(all(r[4] == 1.0 for r in rows))


class ReferenceSelfCheck(unittest.TestCase):
    """The reference against the SPEC's worked examples, so that a wrong
    reference cannot agree with a wrong winnow."""

    def test_worked_examples(self):
        for p, want in (([0.8, 0.1, 0.1], (0.3, 0.3, 0.58167)),
                        ([0.5, 0.41, 0.09], (0.75, 0.91, 0.84547)),
                        ([0.5, 0.5], (1, 1, 1)), ([1, 0, 0], (0, 0, 0))):
            for g, w in zip(probs_scores(p), want):
                self.assertAlmostEqual(g, w, delta=1e-5)
        of = object_frequency([[0, 0, 0, 1], [1], [], [2, 2]], 0.25, 0.9)
        for g, w in zip(of, (1.0, 0.94, 0.9, 0.95)):
            self.assertAlmostEqual(g, w, delta=1e-12)

    def test_pseudo_vector(self):
        v = entry_vectors([{"category_id": 2, "score": 0.7}])[0]
        self.assertEqual(list(v), [0.15000000000000002, 0.15000000000000002, 0.7])


if __name__ == "__main__":
    unittest.main(verbosity=2)
