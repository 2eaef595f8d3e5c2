"""Cross-check of the plan engine (selectors/engine.c) against an independent
float64 reference of SPEC 4.8's greedy step (tests/py/planref.py, numpy).

Each case is a random plan of 2-4 entries (input x strategy from 4.8's
allowed pairs, random strengths including 0 and negative ones, stopping
conditions, thresholds, preselected members, missing values), run through
tests/tools/engine_driver. The reference follows the engine step by step: at
a step where its best two S differ by less than 1e-6 relative (but are not
equal), either pick is accepted and it continues from the engine's pick; the
same tolerance holds for the tie keys (distance to the mean, d_i); exactly
equal keys must go to the lowest index. The engine's recorded S, objectives
and d_i must agree with the reference's at that step, and so must the stop
reason and BALANCE's shares.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from planref import Reference, check_case, knn_mean  # noqa: E402  (the reference)
from winnowtest import BUILD  # noqa: E402

DRIVER = os.path.join(BUILD, "tests", "tools", "engine_driver")


# ---- random cases -------------------------------------------------------------

def make_rows(rng, n, d, dups):
    X = rng.normal(size=(n, d))
    if dups:
        src = rng.integers(0, n, size=n // 10)
        dst = rng.integers(0, n, size=n // 10)
        X[dst] = X[src]
    return X


def entry(rng, n, X, kind, **kw):
    e = {}
    if kind == "div":
        e = {"input": "EMBEDDINGS", "strategy": "DIVERSITY"}
        if rng.random() < 0.4:
            e["min_distance"] = float(rng.uniform(0.5, 2.5))
    elif kind == "scores":
        e = {"input": "SCORES", "strategy": "WEIGHTS",
             "value": [float(v) for v in rng.integers(0, 5, n) / 4] if rng.random() < 0.5
             else [float(v) for v in rng.random(n)]}
    elif kind == "random":
        e = {"input": "RANDOM", "strategy": "WEIGHTS", "value": [float(v) for v in rng.random(n)]}
    elif kind == "meta":
        has = rng.random(n) < 0.8
        e = {"input": "METADATA", "strategy": "WEIGHTS",
             "value": [float(v) for v in rng.normal(100, 30, n)],
             "has_value": [int(h) for h in has]}
    elif kind == "thr":
        has = rng.random(n) < 0.9
        e = {"input": rng.choice(["SCORES", "METADATA"]), "strategy": "THRESHOLD",
             "value": [float(v) for v in rng.random(n)], "has_value": [int(h) for h in has],
             "threshold": float(rng.uniform(0.2, 0.6)),
             "operation": str(rng.choice(["SMALLER", "SMALLER_EQUAL", "BIGGER", "BIGGER_EQUAL"]))}
        if e["operation"].startswith("SMALLER"):
            e["threshold"] = 1 - e["threshold"]
    elif kind == "bal_meta":
        C = int(rng.integers(2, 6))
        names = ["c%d" % c for c in range(C)]
        p = rng.dirichlet(np.ones(C) * 0.7)
        idx = [int(c) if rng.random() < 0.9 else -1 for c in rng.choice(C, size=n, p=p)]
        e = {"input": "METADATA", "strategy": "BALANCE", "class_names": names, "class_idx": idx}
        dist = str(rng.choice(["TARGET", "UNIFORM", "INPUT"]))
        e["distribution"] = dist
        if dist == "TARGET":
            tn = list(rng.choice(names, size=min(C, 3), replace=False)) + ["unseen"]
            fr = rng.dirichlet(np.ones(len(tn))) * 0.95
            e["target"] = [[str(a), float(b)] for a, b in zip(tn, fr)]
    elif kind == "bal_pred":
        C = int(rng.integers(2, 5))
        names = ["k%d" % c for c in range(C)]
        vec = rng.random((n, C)) * (rng.random((n, C)) < 0.5)
        if rng.random() < 0.5:
            vec = np.floor(vec * 4)  # CATEGORY_COUNT-like
        e = {"input": "PREDICTIONS", "strategy": "BALANCE", "class_names": names,
             "class_vec": [float(v) for v in vec.ravel()],
             "distribution": str(rng.choice(["UNIFORM", "INPUT", "TARGET"]))}
        if e["distribution"] == "TARGET":
            e["target"] = [[names[0], 0.5], [names[-1], 0.3]]
    elif kind == "sim":
        q = X[rng.integers(0, n, size=int(rng.integers(1, 6)))] + rng.normal(scale=0.1, size=(1, X.shape[1]))
        e = {"input": "EMBEDDINGS", "strategy": "SIMILARITY", "query": [float(v) for v in q.ravel()]}
    elif kind == "typ":
        e = {"input": "EMBEDDINGS", "strategy": "TYPICALITY", "K": int(rng.integers(2, 12))}
        if rng.random() < 0.5:
            e["min_typicality"] = float(rng.uniform(0.3, 0.6))
    if e["strategy"] != "THRESHOLD":
        r = rng.random()
        e["strength"] = 1.0 if r < 0.4 else 0.0 if r < 0.5 else float(rng.choice([-1.0, -0.5, 0.5, 2.0, 3.0]))
    if e["strategy"] == "WEIGHTS" and rng.random() < 0.3:
        e["max_sum"] = float(rng.uniform(5, 30)) * (100 if e["input"] == "METADATA" else 1)
    e.update(kw)
    return e


def make_case(seed, kinds, n, d=6, k=None, pre=0.0, dups=False):
    rng = np.random.default_rng(seed)
    X = make_rows(rng, n, d, dups)
    ents = [entry(rng, n, X, kd) if isinstance(kd, str) else entry(rng, n, X, kd[0], **kd[1])
            for kd in kinds]
    preselected = [int(p) for p in (rng.random(n) < pre)]
    case = {"n": n, "d": d, "X": [float(v) for v in X.ravel()], "preselected": preselected,
            "k": -1 if k is None else k, "threads": 2, "entries": ents}
    typ = [e for e in ents if e["strategy"] == "TYPICALITY"]
    if typ:
        # The caller's m_i over the candidates left after thresholds.
        alive = Reference(dict(case, entries=[e for e in ents if e["strategy"] == "THRESHOLD"])).cand
        for e in typ:
            e["m"] = [float(v) for v in knn_mean(X, alive, e.pop("K"))]
    return case


def run_driver(case):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(case, f)
        path = f.name
    try:
        out = subprocess.run([DRIVER, path], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        raise AssertionError("engine_driver failed: " + out.stderr)
    return json.loads(out.stdout)


CASES = [
    # (seed, entries, n, k, preselected share, duplicates)
    (1, ["div", "scores", "bal_meta"], 1000, 120, 0.0, False),
    (2, ["sim", ("typ", {"min_typicality": 0.45})], 800, 150, 0.0, False),
    (3, ["thr", "meta", "div"], 1500, 100, 0.02, True),
    (4, ["random"], 2000, 200, 0.0, False),
    (5, ["meta", "div"], 600, None, 0.0, True),
    (6, ["bal_pred", "div", "scores"], 700, 120, 0.01, False),
    (7, ["bal_meta", "scores", "typ"], 500, 100, 0.0, False),
    (8, ["thr", "div", "sim", "random"], 900, 100, 0.03, False),
    (9, ["div"], 300, None, 0.05, True),
    (11, [("div", {"min_distance": 1.5}), ("scores", {"strength": -1.0})], 400, None, 0.0, False),
    (10, ["thr", "bal_pred", "meta", "div"], 400, 80, 0.0, True),
]


class EngineReference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(DRIVER, os.X_OK):
            raise unittest.SkipTest("build %s first (make unit)" % DRIVER)

    def test_fixed_mixes(self):
        reasons = set()
        for seed, kinds, n, k, pre, dups in CASES:
            with self.subTest(seed=seed, kinds=kinds):
                case = make_case(seed, kinds, n, k=k, pre=pre, dups=dups)
                got = run_driver(case)
                steps, reason = check_case(self, case, got)
                self.assertGreater(steps, 0)
                reasons.add(reason)
        # The mixes reach every way of stopping but all_selected (test_engine has it).
        self.assertEqual(reasons, {"budget", "max_sum", "min_typicality", "none_selectable",
                                   "min_distance"})

    def test_random_plans(self):
        kinds = ["div", "scores", "random", "meta", "thr", "bal_meta", "bal_pred", "sim", "typ"]
        single = {"div", "sim", "typ"}
        for seed in range(100, 112):
            rng = np.random.default_rng(seed)
            m = int(rng.integers(2, 5))
            chosen = []
            while len(chosen) < m:
                kd = str(rng.choice(kinds))
                if kd in single and kd in chosen:
                    continue
                chosen.append(kd)
            n = int(rng.integers(200, 1200))
            k = int(rng.integers(20, 120)) if rng.random() < 0.8 else None
            with self.subTest(seed=seed, kinds=chosen):
                case = make_case(seed, chosen, n, k=k, pre=0.02 if rng.random() < 0.3 else 0.0,
                                 dups=rng.random() < 0.3)
                if k is None and not any(e["strategy"] == "DIVERSITY" for e in case["entries"]):
                    case["k"] = 150
                got = run_driver(case)
                check_case(self, case, got)

    def test_reference_catches_a_wrong_pick(self):
        """The checker itself: a swapped pick or a wrong stop reason is reported."""
        case = make_case(1, ["div", "scores"], 300, k=20)
        got = run_driver(case)
        check_case(self, case, got)
        bad = json.loads(json.dumps(got))
        bad["picks"][5], bad["picks"][6] = bad["picks"][6], bad["picks"][5]
        with self.assertRaises(AssertionError):
            check_case(self, case, bad)
        bad = json.loads(json.dumps(got))
        bad["stop"] = "max_sum"
        with self.assertRaises(AssertionError):
            check_case(self, case, bad)


if __name__ == "__main__":
    unittest.main()
