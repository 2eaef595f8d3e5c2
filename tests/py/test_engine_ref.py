"""Cross-check of the plan engine (selectors/engine.c) against an independent
float64 reference of SPEC 4.8's greedy step written here with numpy.

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
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from winnowtest import BUILD  # noqa: E402

DRIVER = os.path.join(BUILD, "tests", "tools", "engine_driver")
REL = 1e-6       # SPEC 4.6: near-ties within this go either way
VAL_REL = 1e-9   # recorded S, objectives, distances vs the reference's


# ---- the reference (SPEC 4.8, float64) ---------------------------------------

def strength_factor(o, s):
    o = np.asarray(o, dtype=np.float64)
    if s == 0:
        return np.ones_like(o)
    if s == 1:
        return o.copy()
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if s > 0:
            return np.power(o, s)
        return np.power(np.maximum(o, 1e-12), s)


def passes(v, op, t):
    return {"SMALLER": v < t, "SMALLER_EQUAL": v <= t,
            "BIGGER": v > t, "BIGGER_EQUAL": v >= t}[op]


class Reference:
    """One run of a case; indices are the case's candidate indices."""

    def __init__(self, case):
        self.case = case
        n, d = case["n"], case["d"]
        self.n = n
        self.X = np.array(case["X"], dtype=np.float64).reshape(n, d) if d else np.zeros((n, 0))
        pre = case.get("preselected") or [0] * n
        self.selected = np.array([bool(p) for p in pre])
        self.k = case["k"]
        ents = case["entries"]
        # THRESHOLD: on raw values, not on preselected; no value: removed.
        alive = np.ones(n, dtype=bool)
        for e in ents:
            if e["strategy"] != "THRESHOLD":
                continue
            has = np.array(e.get("has_value", [1] * n), dtype=bool)
            v = np.array(e["value"], dtype=np.float64)
            ok = has & passes(v, e["operation"], e["threshold"])
            alive &= ok | self.selected
        self.alive = alive
        self.cand = np.nonzero(alive)[0]
        self.entries = [e for e in ents if e["strategy"] != "THRESHOLD"]
        self.div = None
        self.sums = {}
        for j, e in enumerate(self.entries):
            getattr(self, "prep_" + e["strategy"].lower())(j, e)

    # -- objectives
    def prep_weights(self, j, e):
        n = self.n
        has = np.array(e.get("has_value", [1] * n), dtype=bool)
        v = np.array(e["value"], dtype=np.float64)
        o = np.zeros(n)
        if e["input"] == "METADATA":
            m = has & self.alive
            if m.any():
                lo, hi = v[m].min(), v[m].max()
                o[m] = 1.0 if hi == lo else (v[m] - lo) / (hi - lo)
        else:
            o[has] = v[has]
        e["_obj"] = o
        e["_raw"] = np.where(has, v, 0.0)
        self.sums[j] = 0.0

    def prep_diversity(self, j, e):
        X, n = self.X, self.n
        d = np.full(n, np.inf)
        for p in np.nonzero(self.selected & self.alive)[0]:
            d = np.minimum(d, np.sqrt(((X - X[p]) ** 2).sum(axis=1)))
        mean = X[self.cand].sum(axis=0) / len(self.cand) if len(self.cand) else None
        self.dmean = np.sqrt(((X - mean) ** 2).sum(axis=1)) if mean is not None else None
        self.d = d
        self.div = e

    def prep_similarity(self, j, e):
        X = self.X
        Q = np.array(e["query"], dtype=np.float64).reshape(-1, X.shape[1])
        q = np.full(self.n, np.inf)
        for row in Q:
            q = np.minimum(q, np.sqrt(((X - row) ** 2).sum(axis=1)))
        Qmax = q[self.cand].max()
        e["_obj"] = np.ones(self.n) if Qmax == 0 else 1 - q / Qmax

    def prep_typicality(self, j, e):
        m = np.array(e["m"], dtype=np.float64)
        mmin = m[self.cand].min()
        with np.errstate(divide="ignore", invalid="ignore"):
            o = np.where(m == 0, 1.0, mmin / m)
        if len(self.cand) <= 1:
            o = np.ones(self.n)
        e["_obj"] = o

    def prep_balance(self, j, e):
        names = list(e["class_names"])
        C0 = len(names)
        if "class_idx" in e:
            V = np.zeros((self.n, C0))
            for i, c in enumerate(e["class_idx"]):
                if c >= 0:
                    V[i, c] = 1.0
        else:
            V = np.array(e["class_vec"], dtype=np.float64).reshape(self.n, C0)
        dist = e.get("distribution", "TARGET")
        target = e.get("target", []) if dist == "TARGET" else []
        for name, _ in target:
            if name not in names:
                names.append(name)
        V = np.hstack([V, np.zeros((self.n, len(names) - C0))])
        candsum = V[self.cand].sum(axis=0)
        occurs = (V[self.cand] > 0).any(axis=0)
        if dist == "TARGET":
            tcls = [names.index(nm) for nm, _ in target]
            t = [f for _, f in target]
        else:
            tcls = [c for c in range(len(names)) if occurs[c]]
            tot = candsum.sum()
            t = [1.0 / len(tcls) if dist == "UNIFORM" else candsum[c] / tot for c in tcls]
        e["_V"], e["_names"], e["_tcls"], e["_t"] = V, names, tcls, t
        e["_occurs"], e["_candsum"] = occurs, candsum
        e["_c"] = V[self.selected & self.alive].sum(axis=0)

    @staticmethod
    def loss(c, tot, tcls, t):
        # tot may be a vector (one per candidate) and c a matrix.
        L = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            for cls, tj in zip(tcls, t):
                cj = c[..., cls]
                share = np.where(tot > 0, cj / np.where(tot > 0, tot, 1), 0.0)
                L = L + np.abs(share - tj)
        return L

    def objective(self, e):
        s = e["strategy"]
        if s == "DIVERSITY":
            sel = self.selectable()
            anysel = (self.selected & self.alive).any()
            D = self.d[sel].max() if sel.any() else 0.0
            if not anysel or D == 0 or math.isinf(D):
                return np.ones(self.n)
            return self.d / D
        if s == "BALANCE":
            c, V = e["_c"], e["_V"]
            tot = c.sum()
            Lc = self.loss(c, np.float64(tot), e["_tcls"], e["_t"])
            Lnew = self.loss(c[None, :] + V, tot + V.sum(axis=1), e["_tcls"], e["_t"])
            return (Lc - Lnew + 2) / 4
        return e["_obj"]

    def selectable(self):
        m = self.alive & ~self.selected
        if self.div is not None:
            m &= self.d > 0
            md = self.div.get("min_distance", -1)
            if md >= 0:
                m &= self.d >= md
        return m

    def step(self):
        """(mask, S, objectives per entry, tie key) at this step."""
        sel = self.selectable()
        objs = [self.objective(e) for e in self.entries]
        S = np.ones(self.n)
        for e, o in zip(self.entries, objs):
            S = S * strength_factor(o, e.get("strength", 1))
        S = np.where(np.isnan(S), 0.0, S)
        tie = None
        if self.div is not None:
            tie = self.d if (self.selected & self.alive).any() else self.dmean
        return sel, S, objs, tie

    def exhausted_reason(self):
        left = self.alive & ~self.selected
        if not left.any():
            return "all_selected"
        if self.div is not None and self.div.get("min_distance", -1) >= 0:
            md = self.div["min_distance"]
            if (left & (self.d > 0) & (self.d < md)).any():
                return "min_distance"
        return "none_selectable"

    def pick(self, i):
        self.selected[i] = True
        if self.div is not None:
            self.d = np.minimum(self.d, np.sqrt(((self.X - self.X[i]) ** 2).sum(axis=1)))
            self.d[i] = 0.0
        for e in self.entries:
            if e["strategy"] == "BALANCE":
                e["_c"] = e["_c"] + e["_V"][i]


def close(a, b, rel):
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def check_case(tc, case, got):
    ref = Reference(case)
    tc.assertEqual(got["rc"], 0, got)
    tc.assertEqual(got["ncand"], len(ref.cand))
    picks = got["picks"]
    k = case["k"] if case["k"] >= 0 else math.inf
    step = 0
    reason = None
    while True:
        if step >= k:
            reason = "budget"
            break
        sel, S, objs, tie = ref.step()
        if not sel.any():
            reason = ref.exhausted_reason()
            break
        idx = np.nonzero(sel)[0]
        best_S = S[idx].max()
        top = idx[S[idx] == best_S]
        if tie is not None:
            top = top[tie[top] == tie[top].max()]
        best = int(top.min())
        stop_typ = False
        for e, o in zip(ref.entries, objs):
            mt = e.get("min_typicality", -1)
            if e["strategy"] == "TYPICALITY" and mt >= 0 and o[best] < mt:
                stop_typ = True
        if stop_typ:
            reason = "min_typicality"
            break
        tc.assertLess(step, len(picks), "engine stopped early at step %d (%s)" % (step, got["stop"]))
        i, gS, gd, gobj = picks[step]
        if i != best:
            tc.assertTrue(sel[i], "step %d: engine's pick %d not selectable" % (step, i))
            tc.assertTrue(close(S[i], best_S, REL),
                          "step %d: engine %d (S %r) vs reference %d (S %r)" % (step, i, S[i], best, best_S))
            if S[i] == best_S and tie is not None:
                tbest = tie[top[0]]
                # Exactly equal keys go to the lowest index; near-equal ones either way.
                tc.assertTrue(tie[i] != tbest and close(tie[i], tbest, REL),
                              "step %d: tie key of %d %r vs %r (%d)" % (step, i, tie[i], tbest, best))
            elif S[i] == best_S:
                tc.fail("step %d: equal S, engine %d, lowest index %d" % (step, i, best))
        tc.assertTrue(close(gS, S[i], VAL_REL), "step %d: S %r vs %r" % (step, gS, S[i]))
        for o_got, o_ref in zip(gobj, objs):
            tc.assertTrue(close(o_got, o_ref[i], VAL_REL), "step %d: objective %r vs %r" % (step, o_got, o_ref[i]))
        if ref.div is not None:
            tc.assertTrue(close(gd, ref.d[i], VAL_REL), "step %d: d %r vs %r" % (step, gd, ref.d[i]))
        else:
            tc.assertTrue(math.isnan(gd))
        ref.pick(i)
        step += 1
        hit = False
        for j, e in enumerate(ref.entries):
            if e["strategy"] == "WEIGHTS":
                ref.sums[j] += e["_raw"][i]
                if e.get("max_sum", -1) >= 0 and ref.sums[j] >= e["max_sum"]:
                    hit = True
        if hit:
            reason = "max_sum"
            break
    tc.assertEqual(len(picks), step)
    tc.assertEqual(got["stop"], reason)
    # BALANCE's figures, per entry.
    bal = [e for e in ref.entries if e["strategy"] == "BALANCE"]
    tc.assertEqual(len(got["balance"]), len(bal))
    for gb, e in zip(got["balance"], bal):
        keep = [c for c in range(len(e["_names"])) if e["_occurs"][c] or c in e["_tcls"]]
        tc.assertEqual(gb["classes"], [e["_names"][c] for c in keep])
        cs = e["_candsum"]
        for pos, c in enumerate(keep):
            want = cs[c] / cs.sum() if cs.sum() > 0 else 0.0
            tc.assertTrue(close(gb["candidate"][pos], want, VAL_REL))
            sc = e["_c"]
            want = sc[c] / sc.sum() if sc.sum() > 0 else 0.0
            tc.assertTrue(close(gb["selection"][pos], want, VAL_REL))
            if c in e["_tcls"]:
                tc.assertTrue(close(gb["target"][pos], e["_t"][e["_tcls"].index(c)], VAL_REL))
            else:
                tc.assertTrue(math.isnan(gb["target"][pos]))
    return step, reason


# ---- random cases -------------------------------------------------------------

def knn_mean(X, cand, K):
    """m_i: mean distance to the K nearest other candidates (exact, float64)."""
    m = np.zeros(len(X))
    C = X[cand]
    K = min(K, len(cand) - 1)
    if K < 1:
        return m
    for a, i in enumerate(cand):
        dd = np.sqrt(((C - X[i]) ** 2).sum(axis=1))
        dd[a] = np.inf
        m[i] = np.sort(dd)[:K].mean()
    return m


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
