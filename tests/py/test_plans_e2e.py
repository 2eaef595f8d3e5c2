"""Selection plans end to end (SPEC 2.1, 3, 4.8, 5): V4 configs run by `winnowd
select` in local mode, each checked step by step against tests/py/planref.py,
a float64 reference of SPEC 4.8 fed from independent sources:

- the candidates' rows: the embeddings CSV written here (or, for the built-in
  descriptor, the run's data/embeddings.csv), normalised as SPEC 4.3 says;
- SCORES: the run's data/scores.csv (`<task>:<score>` columns), its margin
  column checked against the prediction files;
- METADATA: the .lightly/metadata files (and a schema.json's defaults) written
  here, and lightly.* recomputed with PIL from the PNG files by SPEC 4.8's
  formulas (pinned by thresholds between neighbouring values);
- PREDICTIONS: class distributions and category counts computed here from
  mkdataset's prediction files;
- SIMILARITY: .lightly/tags/<name>.txt written here;
- RANDOM: splitmix64 + xoshiro256** written here.

Every strategy (DIVERSITY with min distance, WEIGHTS with max sum, THRESHOLD's
four operations, BALANCE TARGET/UNIFORM/INPUT on metadata categories and on
PREDICTIONS CLASS_DISTRIBUTION/CATEGORY_COUNT, SIMILARITY, TYPICALITY with K
and min typicality, RANDOM) and plans mixing them with negative strengths,
nSamples and proportionSamples, and a datapool run. Checked per run:
selected_filenames.txt's order, selection.csv's rank, weight, distance, score
and objective columns (named `<STRATEGY>:<INPUT>[:<task>][:<score or
name>][:<key>]`), report.json's plan, stop_reason (every one of the six) and
balance and query_tags, scores.csv's columns. Every plan (and the datapool
runs) run again on the S3 datasource (s3rver) gives byte-identical outputs. A 2.2 coral config and the V4 plan of
its shape agree where SPEC 4.8 says they must and differ where it says they
may. Bad plans are config errors (exit 2) naming their JSON path; a malformed
metadata file fails the run naming the file.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import unittest

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import planref  # noqa: E402
import s3util  # noqa: E402
import winnowtest as wt  # noqa: E402

CLS = "my-classification-task"
DET = "my-detection-task"
EMB_DIM = 16
N_IMAGES = 150        # mkdataset's images, before 16 extras of our own
SCENES = ["highway", "city", "rural", "tunnel"]


def E(inp, strat):
    return {"input": inp, "strategy": strat}


DIV = E({"type": "EMBEDDINGS"}, {"type": "DIVERSITY"})


def margin(p):
    """SPEC 4.4's uncertainty_margin of a probability vector."""
    s = sorted(p, reverse=True) + [0.0]
    return min(1.0, max(0.0, 1 - (s[0] - s[1])))


# ---- the datasource ------------------------------------------------------------

def extra_image(i, rng):
    """A PNG of its own size whose lightly.* values spread: flat, striped, noise, soft rows."""
    w, h = [(2, 40), (9, 7), (64, 48), (200, 30), (33, 120), (240, 180), (17, 17), (100, 101),
            (48, 64), (160, 12), (12, 160), (90, 60), (3, 3), (128, 96), (70, 140), (150, 150)][i]
    kind = i % 4
    if kind == 0:      # flat: snr 0, sharpness 0, every row uniform
        a = np.full((h, w, 3), rng.integers(0, 256, 3), dtype=np.uint8)
    elif kind == 1:    # horizontal stripes: rows uniform, sharp edges
        a = np.repeat(rng.integers(0, 256, (h, 1, 3)), w, axis=1).astype(np.uint8)
    elif kind == 2:    # noise
        a = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    else:              # rows on the edge of "within 2 of the row's mean" (w is even)
        a = np.zeros((h, w), dtype=np.int64)
        for y in range(h):
            lvl = int(rng.integers(20, 230))
            kind = int(rng.integers(4))
            a[y] = lvl
            if kind == 1:      # lvl and lvl + 4 half each: every value exactly 2 off the mean
                a[y, rng.permutation(w)[:w // 2]] += 4
            elif kind == 2:    # lvl and lvl + 5: 2.5 off
                a[y, rng.permutation(w)[:w // 2]] += 5
            elif kind == 3:    # noise in [-3, 3]
                a[y] += rng.integers(-3, 4, w)
        a = np.repeat(a[..., None], 3, axis=2).astype(np.uint8)
    return Image.fromarray(a, "RGB")


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def build_dataset(root):
    """mkdataset's PNGs with predictions and an embeddings CSV, plus 16 PNGs of
    varied sizes, one of whose rows is 2x a candidate's (exactly equal once
    normalised), metadata files and tags. Returns (candidates in path order,
    {name: raw row})."""
    man = wt.mkdataset(root, "--n", N_IMAGES, "--seed", 7, "--formats", "png",
                       "--corrupt-share", 0, "--dup-share", 0, "--predictions", "--embeddings")
    rng = np.random.default_rng(13)
    rows = {}
    csvp = os.path.join(root, ".lightly", "embeddings", "default.csv")
    for name, row in _read_rows(csvp).items():
        rows[name] = row
    extras = []
    for i in range(16):
        nm = "x/extra_%02d.png" % i
        p = os.path.join(root, nm)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        extra_image(i, rng).save(p, "PNG")
        rows[nm] = [float(v) for v in rng.normal(size=EMB_DIM)]
        extras.append(nm)
    cands = wt.bsorted(man["candidates_embeddings"] + extras)
    # Distinct raw rows, equal once normalised: a d = 0 pair for DIVERSITY.
    twin_src = cands[3]
    rows["x/extra_15.png"] = [2.0 * v for v in rows[twin_src]]
    with open(csvp, "w") as f:
        f.write("filenames," + ",".join("embedding_%d" % j for j in range(EMB_DIM)) + ",labels\n")
        for nm in wt.bsorted(rows):
            f.write(nm + "," + ",".join(repr(v) for v in rows[nm]) + ",0\n")
    # Custom metadata: a file for 8 of 9 candidates; weather.temp missing in some.
    for i, nm in enumerate(cands):
        if i % 9 == 4:
            continue
        md = {"scene": SCENES[int(rng.choice(4, p=[0.5, 0.25, 0.15, 0.1]))],
              "night": bool(rng.random() < 0.3), "lanes": int(rng.integers(1, 5))}
        if rng.random() < 0.9:
            md["weather"] = {"temp": round(float(rng.normal(10, 8)), 1)}
        write_json(os.path.join(root, ".lightly", "metadata", os.path.splitext(nm)[0] + ".json"),
                   {"file_name": nm, "type": "image", "metadata": md})
    tags = os.path.join(root, ".lightly", "tags")
    os.makedirs(tags)
    with open(os.path.join(tags, "query_set.txt"), "w") as f:
        f.write("\n".join([cands[10], cands[40], "not/there.png", cands[90], cands[-4]]) + "\n")
    open(os.path.join(tags, "empty_tag.txt"), "w").close()
    with open(os.path.join(tags, "ghost_tag.txt"), "w") as f:
        f.write("not/there.png\n")
    return cands, rows, twin_src


def _read_rows(path):
    rows = {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        assert header[0] == "filenames" and header[-1] == "labels", header
        for line in f:
            parts = line.rstrip("\n").split(",")
            rows[parts[0]] = [float(x) for x in parts[1:-1]]
    return rows


# ---- what SPEC 4.8 says a run's outputs hold ---------------------------------------

def column_base(ent):
    inp, st = ent["input"], ent["strategy"]
    parts = [st["type"], inp["type"]]
    if "task" in inp:
        parts.append(inp["task"])
    if "score" in inp:
        parts.append(inp["score"])
    elif "name" in inp:
        parts.append(inp["name"])
    if "key" in inp:
        parts.append(inp["key"])
    return ":".join(parts)


def objective_columns(selection):
    """[(config index, base name)] of the non-THRESHOLD entries."""
    return [(i, column_base(e)) for i, e in enumerate(selection["strategies"])
            if e["strategy"]["type"] != "THRESHOLD"]


def expected_plan(selection):
    """report.json's plan: the selection as given, defaults filled (SPEC 4.8)."""
    out = {}
    for k in ("nSamples", "proportionSamples"):
        if k in selection and selection[k] != -1:
            out[k] = selection[k]
    out["strategies"] = []
    for ent in selection["strategies"]:
        inp = {"type": ent["input"]["type"]}
        t = inp["type"]
        for k in {"EMBEDDINGS": ["tagName", "datasetId"], "SCORES": ["task", "score"],
                  "METADATA": ["key"], "PREDICTIONS": ["task", "name", "categories"],
                  "RANDOM": []}[t]:
            if k in ent["input"]:
                inp[k] = ent["input"][k]
        if t == "RANDOM":
            inp["randomSeed"] = ent["input"].get("randomSeed", 1)
        st = {"type": ent["strategy"]["type"]}
        s = st["type"]
        for k in {"DIVERSITY": ["stopping_condition_minimum_distance"],
                  "WEIGHTS": ["stoppingConditionMaxSum"], "THRESHOLD": ["threshold", "operation"],
                  "BALANCE": ["target"], "SIMILARITY": [],
                  "TYPICALITY": ["stoppingConditionMinimumTypicality"]}[s]:
            if k in ent["strategy"]:
                st[k] = ent["strategy"][k]
        if s == "BALANCE":
            st["distribution"] = ent["strategy"].get("distribution", "TARGET")
        if s == "TYPICALITY":
            st["numNearestNeighbors"] = ent["strategy"].get("numNearestNeighbors", 20)
        if s != "THRESHOLD":
            st["strength"] = ent["strategy"].get("strength", 1)
        out["strategies"].append({"input": inp, "strategy": st})
    return out


def fnum(s):
    return float("nan") if s == "" else float(s)


def same_number(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


# ---- the plans ---------------------------------------------------------------------

PLANS = {
    "diversity_min_distance": {"nSamples": -1, "strategies": [
        E({"type": "EMBEDDINGS"}, {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.95})]},
    "weights_scores_max_sum": {"nSamples": 120, "strategies": [
        E({"type": "SCORES", "task": CLS, "score": "uncertainty_margin"},
          {"type": "WEIGHTS", "stoppingConditionMaxSum": 17.25})]},
    "weights_metadata_and_diversity": {"nSamples": 25, "strategies": [
        E({"type": "METADATA", "key": "weather.temp"}, {"type": "WEIGHTS", "strength": 2}),
        DIV]},
    "thresholds_all_four": {"nSamples": 500, "strategies": [
        E({"type": "METADATA", "key": "lightly.sizeInBytes"},
          {"type": "THRESHOLD", "threshold": 60000, "operation": "SMALLER"}),
        E({"type": "METADATA", "key": "weather.temp"}, {"type": "THRESHOLD", "threshold": 2.5, "operation": "BIGGER"}),
        E({"type": "METADATA", "key": "lanes"}, {"type": "THRESHOLD", "threshold": 3, "operation": "SMALLER_EQUAL"}),
        E({"type": "SCORES", "task": CLS, "score": "uncertainty_entropy"},
          {"type": "THRESHOLD", "threshold": 0.3, "operation": "BIGGER_EQUAL"}),
        E({"type": "RANDOM", "randomSeed": 42}, {"type": "WEIGHTS"})]},
    # Each operation at a value some candidates hold: strict and not strict differ.
    "thresholds_at_values": {"nSamples": 500, "strategies": [
        E({"type": "METADATA", "key": "lightly.width"}, {"type": "THRESHOLD", "threshold": 160, "operation": "BIGGER_EQUAL"}),
        E({"type": "METADATA", "key": "lightly.height"}, {"type": "THRESHOLD", "threshold": 180, "operation": "SMALLER"}),
        E({"type": "METADATA", "key": "lanes"}, {"type": "THRESHOLD", "threshold": 1, "operation": "BIGGER"}),
        E({"type": "METADATA", "key": "lanes"}, {"type": "THRESHOLD", "threshold": 3, "operation": "SMALLER_EQUAL"}),
        E({"type": "SCORES", "task": CLS, "score": "uncertainty_margin"}, {"type": "WEIGHTS"})]},
    "balance_metadata_target": {"proportionSamples": 0.25, "strategies": [
        E({"type": "METADATA", "key": "scene"},
          {"type": "BALANCE", "target": {"highway": 0.2, "tunnel": 0.4, "snow": 0.1}}),
        E({"type": "EMBEDDINGS"}, {"type": "DIVERSITY", "strength": 0.5})]},
    "balance_metadata_uniform": {"nSamples": 30, "strategies": [
        E({"type": "METADATA", "key": "night"}, {"type": "BALANCE", "distribution": "UNIFORM"}),
        E({"type": "SCORES", "task": DET, "score": "object_frequency"}, {"type": "WEIGHTS"})]},
    "balance_metadata_input": {"nSamples": 40, "strategies": [
        E({"type": "METADATA", "key": "lanes"}, {"type": "BALANCE", "distribution": "INPUT", "strength": 3}),
        E({"type": "RANDOM", "randomSeed": 7}, {"type": "WEIGHTS", "strength": 0.3})]},
    "balance_predictions_distribution": {"nSamples": 30, "strategies": [
        E({"type": "PREDICTIONS", "task": CLS, "name": "CLASS_DISTRIBUTION"},
          {"type": "BALANCE", "target": {"cat": 0.4, "dog": 0.4}}),
        DIV]},
    "balance_predictions_counts": {"nSamples": 30, "strategies": [
        E({"type": "PREDICTIONS", "task": DET, "name": "CATEGORY_COUNT", "categories": ["car", "person", "bus"]},
          {"type": "BALANCE", "distribution": "UNIFORM"}),
        E({"type": "PREDICTIONS", "task": DET, "name": "CLASS_DISTRIBUTION"},
          {"type": "BALANCE", "distribution": "INPUT", "strength": 2})]},
    "balance_predictions_segmentation_and_classes": {"nSamples": 25, "strategies": [
        E({"type": "PREDICTIONS", "task": "my-segmentation-task", "name": "CLASS_DISTRIBUTION"},
          {"type": "BALANCE", "target": {"road": 0.5, "sky": 0.3}}),
        E({"type": "PREDICTIONS", "task": CLS, "name": "CATEGORY_COUNT"},
          {"type": "BALANCE", "distribution": "UNIFORM", "strength": 0.5})]},
    "similarity": {"nSamples": 20, "strategies": [
        E({"type": "EMBEDDINGS", "tagName": "query_set"}, {"type": "SIMILARITY"}),
        E({"type": "SCORES", "task": CLS, "score": "uncertainty_margin"}, {"type": "WEIGHTS", "strength": 0.5})]},
    "typicality_min": {"nSamples": 120, "strategies": [
        E({"type": "EMBEDDINGS"}, {"type": "TYPICALITY", "numNearestNeighbors": 5,
                                   "stoppingConditionMinimumTypicality": 0.8})]},
    "typicality_default_k_with_threshold": {"nSamples": 15, "strategies": [
        E({"type": "SCORES", "task": CLS, "score": "uncertainty_least_confidence"},
          {"type": "THRESHOLD", "threshold": 0.5, "operation": "SMALLER"}),
        E({"type": "EMBEDDINGS"}, {"type": "TYPICALITY"})]},
    # Thresholds leave fewer than K + 1 candidates: K becomes n - 1.
    "typicality_k_over_n": {"nSamples": 3, "strategies": [
        E({"type": "METADATA", "key": "lanes"}, {"type": "THRESHOLD", "threshold": 3, "operation": "BIGGER"}),
        E({"type": "METADATA", "key": "weather.temp"}, {"type": "THRESHOLD", "threshold": 16, "operation": "BIGGER"}),
        E({"type": "EMBEDDINGS"}, {"type": "TYPICALITY", "strength": 2})]},
    "random": {"nSamples": 20, "strategies": [
        E({"type": "RANDOM", "randomSeed": 123456789012}, {"type": "WEIGHTS"})]},
    "random_twice_clash": {"nSamples": 12, "strategies": [
        E({"type": "RANDOM"}, {"type": "WEIGHTS"}),
        E({"type": "RANDOM", "randomSeed": -5}, {"type": "WEIGHTS", "strength": -1})]},
    "negative_strengths_mix": {"nSamples": 40, "strategies": [
        DIV,
        E({"type": "SCORES", "task": CLS, "score": "uncertainty_margin"}, {"type": "WEIGHTS", "strength": -1}),
        E({"type": "METADATA", "key": "weather.temp"}, {"type": "WEIGHTS", "strength": 2.5}),
        E({"type": "METADATA", "key": "scene"}, {"type": "BALANCE", "distribution": "UNIFORM", "strength": -0.5}),
        E({"type": "EMBEDDINGS", "tagName": "query_set"}, {"type": "SIMILARITY", "strength": -2}),
        E({"type": "SCORES", "task": DET, "score": "objectness_least_confidence"}, {"type": "WEIGHTS", "strength": 0})]},
    "lightly_metadata": {"nSamples": 30, "strategies": [
        E({"type": "METADATA", "key": "lightly.width"}, {"type": "THRESHOLD", "threshold": 3, "operation": "BIGGER_EQUAL"}),
        E({"type": "METADATA", "key": "lightly.uniformRowRatio"},
          {"type": "THRESHOLD", "threshold": 0.9, "operation": "SMALLER_EQUAL"}),
        E({"type": "METADATA", "key": "lightly.luminance"}, {"type": "WEIGHTS"}),
        E({"type": "METADATA", "key": "lightly.snr"}, {"type": "WEIGHTS", "strength": 0.5}),
        E({"type": "METADATA", "key": "lightly.sharpness"}, {"type": "WEIGHTS"}),
        E({"type": "METADATA", "key": "lightly.height"}, {"type": "WEIGHTS", "strength": -0.25})]},
    "lightly_metadata_thresholds": {"nSamples": 500, "strategies": [
        E({"type": "METADATA", "key": "lightly.luminance"}, {"type": "THRESHOLD", "threshold": 0.45, "operation": "BIGGER"}),
        E({"type": "METADATA", "key": "lightly.snr"}, {"type": "THRESHOLD", "threshold": 3.5, "operation": "SMALLER_EQUAL"}),
        E({"type": "METADATA", "key": "lightly.sharpness"},
          {"type": "THRESHOLD", "threshold": 0.01, "operation": "BIGGER_EQUAL"}),
        E({"type": "METADATA", "key": "lightly.height"}, {"type": "THRESHOLD", "threshold": 121, "operation": "SMALLER"}),
        E({"type": "METADATA", "key": "lightly.sizeInBytes"}, {"type": "WEIGHTS"})]},
    "none_selectable": {"nSamples": 1000, "strategies": [
        DIV, E({"type": "METADATA", "key": "lightly.uniformRowRatio"}, {"type": "WEIGHTS"})]},
}


class Plans(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("pl")
        cls.data = os.path.join(cls.dir, "data")
        cls.cands, cls.rows, cls.twin_src = build_dataset(cls.data)
        cls.s3 = s3util.S3Server(cls.dir, ["plans"])
        cls.s3.upload_dir("plans", "set/", cls.data)
        cls.reasons = set()

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    # -- running
    def select(self, config, inp=None, extra=(), check=True):
        out = os.path.join(wt.tmpdir("out"), "run")
        cpath = os.path.join(wt.tmpdir("cfg"), "c.json")
        with open(cpath, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=s3util.KEY_ID, AWS_SECRET_ACCESS_KEY=s3util.SECRET)
        p = subprocess.run([wt.WINNOWD, "select", "--config", cpath, "--input", inp or self.data,
                            "--output", out, "--s3-endpoint", self.s3.endpoint, "--threads", "2"]
                           + list(extra), capture_output=True, text=True, env=env, timeout=300)
        if check:
            self.assertEqual(p.returncode, 0, p.stderr)
        return out, p

    @staticmethod
    def v4(selection, docker=None):
        return {"workerType": "FULL", "docker": {"embeddings": "default.csv"} if docker is None else docker,
                "selection": selection}

    def source(self, out, names=None, rows=None):
        """The reference's inputs: rows written here, scores from the run's scores.csv."""
        names = names or self.cands
        rows = rows or self.rows
        scores = {}
        sp = os.path.join(out, "data", "scores.csv")
        if os.path.exists(sp):
            hdr, body = wt.read_csv(sp)
            self.assertEqual([r[0] for r in body], names, "scores.csv: the candidates in path order")
            for j, col in enumerate(hdr[1:], 1):
                scores[col] = [float(r[j]) for r in body]
        return planref.Source(self.data, names, [rows[nm] for nm in names], scores=scores)

    # -- checking
    def check_run(self, selection, out, src, preselected=None):
        """Follows the run step by step; returns (report, picks as names)."""
        with open(os.path.join(out, "report.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["plan"], expected_plan(selection))
        # Candidates: those whose rows were given, duplicates of embeddings removed (4.2).
        out_rows = _read_rows(os.path.join(out, "data", "embeddings.csv"))
        self.assertEqual(list(out_rows), src.names)
        # scores.csv: a column <task>:<score> per score the plan names.
        named = {"%s:%s" % (e["input"]["task"], e["input"]["score"])
                 for e in selection["strategies"] if e["input"]["type"] == "SCORES"}
        sp = os.path.join(out, "data", "scores.csv")
        if named:
            hdr, _ = wt.read_csv(sp)
            self.assertEqual(hdr[0], "filenames")
            self.assertEqual(sorted(hdr[1:]), sorted(named))
        # selection.csv's columns.
        hdr, body = wt.read_csv(os.path.join(out, "data", "selection.csv"))
        cols = objective_columns(selection)
        self.assertEqual(hdr[:5], ["rank", "filenames", "weight", "distance", "score"])
        self.check_column_names(hdr[5:], cols)
        self.assertEqual([r[1] for r in body], wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt")))
        self.assertEqual([r[0] for r in body], [str(i) for i in range(1, len(body) + 1)])
        self.assertEqual(rep["counts"]["selected"], len(body))
        # The reference.
        bal_entries = [i for i, e in enumerate(selection["strategies"]) if e["strategy"]["type"] == "BALANCE"]
        order = {}
        for b in rep.get("balance", []):
            if selection["strategies"][b["entry"]]["input"]["type"] == "METADATA":
                order[b["entry"]] = b["classes"]
        case = planref.case_from_plan(selection, src, preselected=preselected, class_order=order)
        picks = []
        for r in body:
            self.assertIn(r[1], src.index, "selected a name that is no candidate")
            picks.append([src.index[r[1]], fnum(r[4]), fnum(r[3]), [fnum(v) for v in r[5:]]])
        ref, steps, reason = planref.follow_steps(self, case, picks, rep["stop_reason"])
        self.assertEqual(rep["stop_reason"], reason)
        # weight: the objective of the single WEIGHTS entry, else empty.
        wi = [j for j, (ci, _) in enumerate(cols) if selection["strategies"][ci]["strategy"]["type"] == "WEIGHTS"]
        for r in body:
            if len(wi) == 1:
                self.assertTrue(same_number(fnum(r[2]), fnum(r[5 + wi[0]])), r)
            else:
                self.assertEqual(r[2], "", r)
        # BALANCE: {entry, classes, target, candidate_share, selection_share} by class name.
        self.assertEqual([b["entry"] for b in rep.get("balance", [])], bal_entries)
        bal = [e for e in ref.entries if e["strategy"] == "BALANCE"]
        for b, e in zip(rep.get("balance", []), bal):
            keep = [c for c in range(len(e["_names"])) if e["_occurs"][c] or c in e["_tcls"]]
            self.assertEqual(sorted(b["classes"]), sorted(e["_names"][c] for c in keep))
            cs, sc = e["_candsum"], e["_c"]
            for c in keep:
                pos = b["classes"].index(e["_names"][c])
                want_c = cs[c] / cs.sum() if cs.sum() > 0 else 0.0
                want_s = sc[c] / sc.sum() if sc.sum() > 0 else 0.0
                self.assertTrue(planref.close(b["candidate_share"][pos], want_c, planref.VAL_REL), (b, c))
                self.assertTrue(planref.close(b["selection_share"][pos], want_s, planref.VAL_REL), (b, c))
                if c in e["_tcls"]:
                    want_t = e["_t"][e["_tcls"].index(c)]
                    self.assertTrue(planref.close(b["target"][pos], want_t, planref.VAL_REL), (b, c))
                else:
                    self.assertIsNone(b["target"][pos], (b, c))
        # Query tags: the names that are not candidates are counted (SPEC 4.8).
        want = []
        for i, e in enumerate(selection["strategies"]):
            tag = e["input"].get("tagName")
            if tag:
                lines = wt.read_lines(os.path.join(self.data, ".lightly", "tags", tag + ".txt"))
                want.append({"entry": i, "tag": tag, "images": len(lines),
                             "not_candidates": sum(nm not in src.index for nm in lines)})
        self.assertEqual(rep.get("query_tags", []), want)
        return rep, [r[1] for r in body]

    def check_column_names(self, got, cols):
        bases = [b for _, b in cols]
        self.assertEqual(len(got), len(cols))
        for name, (ci, base) in zip(got, cols):
            if bases.count(base) == 1:
                self.assertEqual(name, base)
            else:
                # SPEC 4.8: "#<entry index>" appended on a clash (to the later
                # entries, or to every clashing one).
                self.assertIn(name, (base, "%s#%d" % (base, ci)))
        self.assertEqual(len(set(got)), len(got), got)

    # -- the tests
    def test_plans_local_and_s3(self):
        for name, sel in PLANS.items():
            with self.subTest(plan=name):
                out, _ = self.select(self.v4(sel))
                rep, picked = self.check_run(sel, out, self.source(out))
                self.assertGreater(len(picked), 0)
                self.reasons.add(rep["stop_reason"])
                s3, _ = self.select(self.v4(sel), inp="s3://plans/set")
                wt.assert_same_outputs(self, out, s3)
        # The plans stop in each of the six ways.
        self.assertEqual(self.reasons, {"budget", "min_distance", "max_sum", "min_typicality",
                                        "none_selectable", "all_selected"})

    def test_custom_then_computed_metadata(self):
        """A computed lightly.* key after a custom key in one plan (the other
        order is in thresholds_all_four)."""
        sel = {"nSamples": 10, "strategies": [
            E({"type": "METADATA", "key": "weather.temp"}, {"type": "THRESHOLD", "threshold": 0, "operation": "BIGGER"}),
            E({"type": "METADATA", "key": "lightly.luminance"}, {"type": "WEIGHTS"})]}
        out, _ = self.select(self.v4(sel))
        self.check_run(sel, out, self.source(out))

    def test_computed_metadata_values(self):
        """lightly.* values, not only their order: per key, THRESHOLDs halfway
        between neighbouring values (recomputed here with PIL) near the first
        and third quartiles, so any error larger than those gaps moves an
        image across; WEIGHTS on the key orders what is left."""
        src = planref.Source(self.data, self.cands, [self.rows[nm] for nm in self.cands])
        for key in ("lightly.luminance", "lightly.snr", "lightly.sharpness", "lightly.uniformRowRatio",
                    "lightly.sizeInBytes", "lightly.width", "lightly.height"):
            vals = sorted(set(src.metadata(key)[0]))
            self.assertGreaterEqual(len(vals), 4, key)
            j, k = len(vals) // 4, (3 * len(vals)) // 4
            lo, hi = (vals[j] + vals[j + 1]) / 2, (vals[k - 1] + vals[k]) / 2
            sel = {"nSamples": 500, "strategies": [
                E({"type": "METADATA", "key": key}, {"type": "THRESHOLD", "threshold": lo, "operation": "BIGGER"}),
                E({"type": "METADATA", "key": key}, {"type": "THRESHOLD", "threshold": hi, "operation": "SMALLER_EQUAL"}),
                E({"type": "METADATA", "key": key}, {"type": "WEIGHTS"})]}
            with self.subTest(key=key):
                out, _ = self.select(self.v4(sel))
                rep, picked = self.check_run(sel, out, self.source(out))
                self.assertEqual(rep["stop_reason"], "all_selected")
                self.assertGreater(len(picked), 0)

    def test_metadata_schema_defaults(self):
        """SPEC 3: schema.json's defaultValue stands in for a missing value
        (a missing key or a missing file), numeric and category alike."""
        root = os.path.join(wt.tmpdir("schema"), "data")
        shutil.copytree(self.data, root)
        write_json(os.path.join(root, ".lightly", "metadata", "schema.json"), [
            {"name": "temperature", "path": "weather.temp", "defaultValue": -30.5, "valueDataType": "NUMERIC_FLOAT"},
            {"name": "scene", "path": "scene", "defaultValue": "unknown", "valueDataType": "CATEGORICAL_STRING"}])
        sel = {"nSamples": 20, "strategies": [
            E({"type": "METADATA", "key": "weather.temp"}, {"type": "WEIGHTS", "strength": -1}),
            E({"type": "METADATA", "key": "scene"}, {"type": "BALANCE", "target": {"unknown": 0.5, "city": 0.3}}),
            DIV]}
        out, _ = self.select(self.v4(sel), inp=root)
        src = self.source(out)
        src.root = root
        rep, picked = self.check_run(sel, out, src)
        self.assertIn("unknown", rep["balance"][0]["classes"])
        self.assertIn(self.cands[4], picked)    # no metadata file: the defaults make it the pick

    def test_checker_catches_wrong_outputs(self):
        """The run-level checker itself: two picks swapped, a pick's S off by
        1e-7 relative, another stop reason, a balance share changed: each is red."""
        sel = PLANS["negative_strengths_mix"]
        out, _ = self.select(self.v4(sel))
        src = self.source(out)
        self.check_run(sel, out, src)

        def broken(edit_csv=None, edit_report=None):
            bad = os.path.join(wt.tmpdir("bad"), "run")
            shutil.copytree(out, bad)
            if edit_csv:
                p = os.path.join(bad, "data", "selection.csv")
                hdr, body = wt.read_csv(p)
                edit_csv(body)
                with open(p, "w") as f:
                    f.write(",".join(hdr) + "\n" + "".join(",".join(r) + "\n" for r in body))
                with open(os.path.join(bad, "filenames", "selected_filenames.txt"), "w") as f:
                    f.write("".join(r[1] + "\n" for r in body))
            if edit_report:
                p = os.path.join(bad, "report.json")
                with open(p) as f:
                    rep = json.load(f)
                edit_report(rep)
                with open(p, "w") as f:
                    json.dump(rep, f)
            return bad

        def swap(body):
            body[5][1:], body[6][1:] = body[6][1:], body[5][1:]

        def nudge(body):
            body[9][4] = repr(float(body[9][4]) * (1 + 1e-7))

        def stop(rep):
            rep["stop_reason"] = "none_selectable"

        def share(rep):
            rep["balance"][0]["selection_share"][0] += 1e-6

        for name, kw in (("swap", {"edit_csv": swap}), ("nudge", {"edit_csv": nudge}),
                         ("stop", {"edit_report": stop}), ("share", {"edit_report": share})):
            with self.subTest(breakage=name):
                with self.assertRaises(AssertionError):
                    self.check_run(sel, broken(**kw), src)

    def test_scores_csv_from_predictions(self):
        """The margin the reference reads from scores.csv is SPEC 4.4's, from the files."""
        sel = PLANS["similarity"]
        out, _ = self.select(self.v4(sel))
        src = self.source(out)
        col = src.scores[CLS + ":uncertainty_margin"]
        for i, nm in enumerate(self.cands):
            p = os.path.join(self.data, ".lightly", "predictions", CLS, os.path.splitext(nm)[0] + ".json")
            want = 0.0
            if os.path.exists(p):
                with open(p) as f:
                    preds = json.load(f)["predictions"]
                if preds:
                    want = margin(preds[0]["probabilities"])
            self.assertAlmostEqual(col[i], want, places=12, msg=nm)

    def test_builtin_descriptor(self):
        """No embeddings CSV: the rows are the run's data/embeddings.csv, normalised here."""
        sel = {"nSamples": 20, "strategies": [
            DIV, E({"type": "METADATA", "key": "lightly.sizeInBytes"}, {"type": "WEIGHTS"})]}
        out, _ = self.select(self.v4(sel, docker={}))
        rows = _read_rows(os.path.join(out, "data", "embeddings.csv"))
        names = list(rows)
        # Every image but the descriptor's duplicates (none of the files is corrupt or a copy).
        dups = wt.read_tsv(os.path.join(out, "filenames", "duplicate_filenames.txt"))
        images = [os.path.relpath(os.path.join(d, f), self.data) for d, _, fs in os.walk(self.data)
                  for f in fs if f.lower().endswith(".png") and "/.lightly" not in d]
        self.assertEqual(names, wt.bsorted(set(images) - set(dups)))
        self.check_run(sel, out, self.source(out, names=names, rows=rows))

    def test_datapool(self):
        """useDatapool: a second run preselects the first run's picks (4.7); the two
        runs select what one run of the summed budget selects."""
        sel = lambda k: {"nSamples": k, "strategies": [  # noqa: E731
            DIV, E({"type": "SCORES", "task": CLS, "score": "uncertainty_margin"}, {"type": "WEIGHTS"})]}
        pools = wt.tmpdir("pool")
        docker = {"embeddings": "default.csv", "useDatapool": True}
        out1, _ = self.select(self.v4(sel(15), docker), extra=["--datapool-dir", pools])
        _, first = self.check_run(sel(15), out1, self.source(out1))
        out2, _ = self.select(self.v4(sel(10), docker), extra=["--datapool-dir", pools])
        src = self.source(out2)
        _, second = self.check_run(sel(10), out2, src, preselected=[src.index[nm] for nm in first])
        self.assertFalse(set(first) & set(second))
        self.assertTrue(os.path.exists(os.path.join(pools, "default", "datapool_latest.csv")))
        out3, _ = self.select(self.v4(sel(25)))
        self.assertEqual(wt.read_lines(os.path.join(out3, "filenames", "selected_filenames.txt")), first + second)
        # The same two runs on S3, with a datapool of their own, give the same outputs.
        pools_s3 = wt.tmpdir("pool")
        s3a, _ = self.select(self.v4(sel(15), docker), inp="s3://plans/set", extra=["--datapool-dir", pools_s3])
        s3b, _ = self.select(self.v4(sel(10), docker), inp="s3://plans/set", extra=["--datapool-dir", pools_s3])
        wt.assert_same_outputs(self, out1, s3a)
        wt.assert_same_outputs(self, out2, s3b)
        # proportionSamples counts the preselected among the candidates (k = ceil(0.05 * 164) = 9 new).
        prop = dict(sel(1), proportionSamples=0.05)
        del prop["nSamples"]
        out4, _ = self.select(self.v4(prop, docker), extra=["--datapool-dir", pools])
        _, third = self.check_run(prop, out4, src, preselected=[src.index[nm] for nm in first + second])
        self.assertEqual(len(third), math.ceil(0.05 * len(self.cands)))

    def test_coral_and_its_v4_plan(self):
        """SPEC 4.8: a 2.2 coral config and the V4 plan of its shape select the same
        rows in the same order with the same columns and values (but the first
        pick's distance) while the budget is under the candidates; with a budget
        over them coral's "all selected" fill appends the d = 0 twin (empty
        objectives), the V4 plan stops at none_selectable."""
        v4sel = lambda k: {"nSamples": k, "strategies": [  # noqa: E731
            DIV, E({"type": "SCORES", "task": CLS, "score": "uncertainty_margin"}, {"type": "WEIGHTS"})]}
        coral = lambda k: {"docker": {"method": "coral", "stopping_condition": {"n_samples": k},  # noqa: E731
                                      "active_learning": {"task_name": CLS, "score_name": "uncertainty_margin"},
                                      "embeddings": "default.csv"}}
        sel_csv = lambda o: wt.read_csv(os.path.join(o, "data", "selection.csv"))  # noqa: E731
        def first_distance(rows):
            """The first pick's distance, which differs: a 2.2 config keeps its
            column as it was (empty), a V4 plan prints d_i (+inf, nothing selected)."""
            d = rows[0][3]
            rows[0][3] = "?"
            return d

        a, _ = self.select(coral(30))
        b, _ = self.select(self.v4(v4sel(30)))
        self.check_run(v4sel(30), b, self.source(b))
        (ha, ra), (hb, rb) = sel_csv(a), sel_csv(b)
        self.assertEqual((first_distance(ra), float(first_distance(rb))), ("", math.inf))
        self.assertEqual((ha, ra), (hb, rb))
        for f in ("filenames/selected_filenames.txt", "data/embeddings.csv", "data/selected_embeddings.csv"):
            with open(os.path.join(a, f), "rb") as fa, open(os.path.join(b, f), "rb") as fb:
                self.assertEqual(fa.read(), fb.read(), f)
        # scores.csv: the task type's columns for 2.2, <task>:<score> for V4.
        self.assertEqual(wt.read_csv(os.path.join(a, "data/scores.csv"))[0],
                         ["filenames", "uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"])
        self.assertEqual(wt.read_csv(os.path.join(b, "data/scores.csv"))[0],
                         ["filenames", CLS + ":uncertainty_margin"])
        n = len(self.cands)
        a, _ = self.select(coral(n))
        b, _ = self.select(self.v4(v4sel(n)))
        rep, picked = self.check_run(v4sel(n), b, self.source(b))
        self.assertEqual(rep["stop_reason"], "none_selectable")
        ha, ra = sel_csv(a)
        hb, rb = sel_csv(b)
        self.assertEqual((first_distance(ra), float(first_distance(rb))), ("", math.inf))
        self.assertEqual(ha, hb)
        self.assertEqual(len(ra), n)
        self.assertEqual(len(rb), n - 1)
        self.assertEqual(ra[:n - 1], rb)
        twin = ({"x/extra_15.png", self.twin_src} - set(picked)).pop()
        self.assertEqual(ra[-1][1], twin)
        self.assertEqual(fnum(ra[-1][3]), 0.0)
        self.assertEqual(ra[-1][4:], [""] * (len(ha) - 4))


class BadPlans(unittest.TestCase):
    """SPEC 4.8 / issue 13's bad input: config errors exit 2 naming the JSON path."""

    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("bad")
        cls.data = os.path.join(cls.dir, "data")
        cls.cands, _, _ = build_dataset(cls.data)

    def run_bad(self, config, inp=None):
        out = os.path.join(wt.tmpdir("out"), "run")
        cpath = os.path.join(wt.tmpdir("cfg"), "c.json")
        with open(cpath, "w") as f:
            json.dump(config, f)
        return subprocess.run([wt.WINNOWD, "select", "--config", cpath, "--input", inp or self.data,
                               "--output", out, "--threads", "2"],
                              capture_output=True, text=True, timeout=120)

    def assert_config_error(self, selection, *want, docker=None, top=None):
        cfg = {"workerType": "FULL", "docker": {"embeddings": "default.csv"} if docker is None else docker,
               "selection": selection}
        cfg.update(top or {})
        p = self.run_bad(cfg)
        self.assertEqual(p.returncode, 2, p.stderr)
        for w in want:
            self.assertIn(w, p.stderr)
        self.assertNotIn("not supported yet", p.stderr)
        return p

    def test_data_independent(self):
        one = lambda s: {"nSamples": 5, "strategies": s}  # noqa: E731
        score = {"type": "SCORES", "task": CLS, "score": "uncertainty_margin"}
        cases = {
            "unknown strategy": (one([E({"type": "EMBEDDINGS"}, {"type": "CLUSTER"})]),
                                 ["selection.strategies[0].strategy.type", "CLUSTER"]),
            "unknown input": (one([E({"type": "LABELS"}, {"type": "WEIGHTS"})]),
                              ["selection.strategies[0].input.type", "LABELS"]),
            "forbidden pair": (one([E(score, {"type": "DIVERSITY"})]),
                               ["selection.strategies[0]", "SCORES", "DIVERSITY", "not allowed"]),
            "forbidden pair 2": (one([DIV, E({"type": "RANDOM"}, {"type": "BALANCE", "distribution": "UNIFORM"})]),
                                 ["selection.strategies[1]", "RANDOM", "BALANCE"]),
            "second diversity": (one([DIV, E(score, {"type": "WEIGHTS"}), DIV]),
                                 ["selection.strategies[2].strategy.type", "twice"]),
            "fractions over 1": (one([E({"type": "METADATA", "key": "scene"},
                                        {"type": "BALANCE", "target": {"highway": 0.6, "city": 0.5}})]),
                                 ["selection.strategies[0].strategy", "target", "more than 1"]),
            "threshold strength": (one([E(score, {"type": "THRESHOLD", "threshold": 0.5, "operation": "BIGGER",
                                                  "strength": 2}), DIV]),
                                   ["selection.strategies[0].strategy.strength"]),
            "no budget": ({"strategies": [DIV]}, ["selection", "no budget"]),
        }
        for name, (sel, want) in cases.items():
            with self.subTest(name):
                self.assert_config_error(sel, *want)
        with self.subTest("selection and method"):
            self.assert_config_error(one([DIV]), "docker.method", "selection",
                                     docker={"embeddings": "default.csv", "method": "coreset"})

    def test_data_dependent(self):
        one = lambda *s: {"nSamples": 5, "strategies": list(s)}  # noqa: E731
        cases = {
            "missing task": (one(E({"type": "SCORES", "task": "no-such-task", "score": "uncertainty_margin"},
                                   {"type": "WEIGHTS"})),
                             ["selection.strategies[0].input.task", "no-such-task"]),
            "missing score": (one(E({"type": "SCORES", "task": CLS, "score": "object_frequency"},
                                    {"type": "WEIGHTS"})),
                              ["selection.strategies[0].input.score", "object_frequency"]),
            "missing predictions task": (one(E({"type": "PREDICTIONS", "task": "nope-task", "name": "CATEGORY_COUNT"},
                                               {"type": "BALANCE", "distribution": "UNIFORM"})),
                                         ["selection.strategies[0].input.task", "nope-task"]),
            "category the schema lacks": (one(E({"type": "PREDICTIONS", "task": CLS, "name": "CATEGORY_COUNT",
                                                 "categories": ["cat", "unicorn"]},
                                                {"type": "BALANCE", "distribution": "UNIFORM"})),
                                          ["selection.strategies[0].input.categories", "unicorn"]),
            "missing key": (one(DIV, E({"type": "METADATA", "key": "weather.wind"}, {"type": "WEIGHTS"})),
                            ["selection.strategies[1].input.key", "weather.wind"]),
            "unknown lightly key": (one(E({"type": "METADATA", "key": "lightly.colour"}, {"type": "WEIGHTS"})),
                                    ["selection.strategies[0].input.key", "lightly.colour"]),
            "key not numeric": (one(E({"type": "METADATA", "key": "scene"},
                                      {"type": "THRESHOLD", "threshold": 1, "operation": "BIGGER"}), DIV),
                                ["selection.strategies[0].input.key", "scene", ".lightly/metadata/"]),
            "key not numeric (WEIGHTS)": (one(E({"type": "METADATA", "key": "night"}, {"type": "WEIGHTS"})),
                                          ["selection.strategies[0].input.key", "night"]),
            "empty tag": (one(E({"type": "EMBEDDINGS", "tagName": "empty_tag"}, {"type": "SIMILARITY"})),
                          ["selection.strategies[0].input.tagName", "empty_tag"]),
            "tag naming no image": (one(E({"type": "EMBEDDINGS", "tagName": "ghost_tag"}, {"type": "SIMILARITY"})),
                                    ["selection.strategies[0].input.tagName", "ghost_tag"]),
            "no such tag": (one(E({"type": "EMBEDDINGS", "tagName": "absent_tag"}, {"type": "SIMILARITY"})),
                            ["selection.strategies[0].input.tagName", "absent_tag"]),
        }
        for name, (sel, want) in cases.items():
            with self.subTest(name):
                self.assert_config_error(sel, *want)

    def test_malformed_metadata_file(self):
        bad = os.path.join(self.dir, "badmeta")
        shutil.copytree(self.data, bad)
        nm = self.cands[7]
        rel = ".lightly/metadata/" + os.path.splitext(nm)[0] + ".json"
        with open(os.path.join(bad, rel), "w") as f:
            f.write('{"file_name": "%s", "type": "image", "metadata": {"scene": "city",}' % nm)
        sel = {"nSamples": 5, "strategies": [E({"type": "METADATA", "key": "scene"},
                                                {"type": "BALANCE", "distribution": "UNIFORM"})]}
        p = self.run_bad({"workerType": "FULL", "docker": {"embeddings": "default.csv"}, "selection": sel}, inp=bad)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(rel, p.stderr)
        self.assertNotIn("not supported yet", p.stderr)
        # A file_name that does not match its location names the file too.
        with open(os.path.join(bad, rel), "w") as f:
            json.dump({"file_name": "elsewhere.png", "type": "image", "metadata": {"scene": "city"}}, f)
        p = self.run_bad({"workerType": "FULL", "docker": {"embeddings": "default.csv"}, "selection": sel}, inp=bad)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(rel, p.stderr)


if __name__ == "__main__":
    unittest.main()
