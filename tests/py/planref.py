"""planref: a float64 reference of SPEC 4.8's selection plans, written with
numpy from the SPEC's words, for tests/py/test_engine_ref.py (the engine
alone, through tests/tools/engine_driver) and tests/py/test_plans_e2e.py
(whole runs of `winnowd select`).

The engine-level part (Reference, follow_steps, check_case) takes a "case":
{"n", "d", "X": [n*d], "preselected", "k", "entries": [{"input", "strategy",
"strength", "value", "has_value", "class_names", "class_idx", "class_vec",
"query", "m", ...}]}, each entry's values already read. The run-level part
(Source, case_from_plan, random_values, image_metadata, ...) makes that case
from a datasource's own files: the embeddings CSV normalised as SPEC 4.3
says, data/scores.csv, .lightly/metadata files, predictions, tags, and
lightly.* metadata recomputed with PIL.
"""
import json
import math
import os

import numpy as np

import winnowtest as wt

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
    """engine_driver's answer against the reference: steps, stop, BALANCE."""
    tc.assertEqual(got["rc"], 0, got)
    ref, step, reason = follow_steps(tc, case, got["picks"], got["stop"])
    tc.assertEqual(got["ncand"], len(ref.cand))
    check_balance(tc, ref, got["balance"])
    return step, reason


def follow_steps(tc, case, picks, stop):
    """Follows picks [[i, S, d_i, [objectives]], ...] and the stop reason
    step by step (SPEC 4.6's exactness rule); returns (reference after the
    last pick, steps, reason)."""
    ref = Reference(case)
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
        tc.assertLess(step, len(picks), "engine stopped early at step %d (%s)" % (step, stop))
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
    tc.assertEqual(stop, reason)
    return ref, step, reason


def check_balance(tc, ref, balance):
    """BALANCE's figures, per entry, classes in the reference's order."""
    bal = [e for e in ref.entries if e["strategy"] == "BALANCE"]
    tc.assertEqual(len(balance), len(bal))
    for gb, e in zip(balance, bal):
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




# ---- TYPICALITY's m_i -----------------------------------------------------------

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


# ---- RANDOM: splitmix64 seeding xoshiro256** (SPEC 4.8) ---------------------------

def random_values(seed, n):
    """u_0 .. u_{n-1}: (x >> 11) * 2^-53 of xoshiro256**'s outputs, its state
    the first four outputs of splitmix64 started at seed (mod 2^64)."""
    rng = wt.Xoshiro256ss(seed)
    return [(rng.next() >> 11) * 2.0 ** -53 for _ in range(n)]


# ---- lightly.* image metadata, recomputed with PIL (SPEC 4.8) ------------------------

def grey_image(path):
    """The grey image of SPEC 4.8: (77R + 150G + 29B + 128) >> 8 of 8-bit RGB,
    the high byte of 16-bit samples, alpha ignored (int64 array)."""
    from PIL import Image
    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(im, dtype=np.int64) >> 8
        if im.mode == "L":
            return np.asarray(im, dtype=np.int64)
        rgb = np.asarray(im.convert("RGB"), dtype=np.int64)
    return (77 * rgb[..., 0] + 150 * rgb[..., 1] + 29 * rgb[..., 2] + 128) >> 8


def image_metadata(path):
    """{key: value} of winnow's computed lightly.* metadata for one image
    decoded at full scale (PNG; JPEG may be DCT-scaled, so not for JPEG)."""
    from PIL import Image
    with Image.open(path) as im:
        w, h = im.size
    g = grey_image(path)
    assert g.shape == (h, w)
    gf = g.astype(np.float64)
    mean = gf.mean()
    sd = gf.std()
    if w >= 3 and h >= 3:
        lap = (4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
        sharp = (lap.astype(np.float64) / 255.0).var()
    else:
        sharp = 0.0
    # |v - mean| <= 2 for every v of a row, in integers: |v * w - row sum| <= 2w.
    rs = g.sum(axis=1, keepdims=True)
    uniform = (np.abs(g * w - rs) <= 2 * w).all(axis=1).mean()
    return {"lightly.sizeInBytes": float(os.path.getsize(path)), "lightly.width": float(w),
            "lightly.height": float(h), "lightly.luminance": mean / 255.0,
            "lightly.snr": 0.0 if sd == 0 else mean / sd, "lightly.sharpness": float(sharp),
            "lightly.uniformRowRatio": float(uniform)}


# ---- a datasource's own values ------------------------------------------------------

def category_text(v):
    """A metadata scalar as a BALANCE class name (SPEC 3)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "%.17g" % v
    return v


def lookup(doc, key):
    """(found, value) of a key path like weather.temp in a metadata document."""
    cur = doc.get("metadata", {})
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


class Source:
    """The candidates of a run (SPEC 4.6: path order) and their inputs, read
    from the datasource's files (root) and from the CSV files given."""

    def __init__(self, root, names, rows, normalize=True, scores=None):
        self.root = root
        self.names = list(names)
        self.index = {nm: i for i, nm in enumerate(self.names)}
        X = np.array(rows, dtype=np.float64).reshape(len(self.names), -1)
        if normalize:
            nrm = np.sqrt((X * X).sum(axis=1))
            X = np.where(nrm[:, None] > 0, X / np.where(nrm > 0, nrm, 1)[:, None], 0.0)
        self.X = X
        self.scores = scores or {}     # {"task:score": [value per candidate]}
        self._img = {}

    def stem(self, name):
        return os.path.splitext(name)[0]

    def schema_default(self, key):
        """(found, defaultValue) of key in .lightly/metadata/schema.json (SPEC 3)."""
        p = os.path.join(self.root, ".lightly", "metadata", "schema.json")
        if os.path.exists(p):
            with open(p) as f:
                for ent in json.load(f):
                    if ent["path"] == key and ent.get("defaultValue") is not None:
                        return True, ent["defaultValue"]
        return False, None

    def metadata(self, key):
        """(values, has) of a key: custom from .lightly/metadata (the schema's
        default standing in for a missing value), or lightly.*."""
        vals, has = [], []
        has_default, default = self.schema_default(key)
        for nm in self.names:
            if key.startswith("lightly."):
                if nm not in self._img:
                    self._img[nm] = image_metadata(os.path.join(self.root, nm))
                vals.append(self._img[nm][key])
                has.append(True)
                continue
            p = os.path.join(self.root, ".lightly", "metadata", self.stem(nm) + ".json")
            found, v = False, None
            if os.path.exists(p):
                with open(p) as f:
                    found, v = lookup(json.load(f), key)
            if not found and has_default:
                found, v = True, default
            vals.append(v)
            has.append(found and v is not None)
        return vals, has

    def predictions(self, task, name, categories=None):
        """(class names, matrix n x C) of PREDICTIONS CLASS_DISTRIBUTION or
        CATEGORY_COUNT (SPEC 4.8), categories in ascending id order."""
        pdir = os.path.join(self.root, ".lightly", "predictions", task)
        with open(os.path.join(pdir, "schema.json")) as f:
            schema = json.load(f)
        cats = sorted(schema["categories"], key=lambda c: c["id"])
        ids = [c["id"] for c in cats]
        C = len(ids)
        V = np.zeros((len(self.names), C))
        for i, nm in enumerate(self.names):
            p = os.path.join(pdir, self.stem(nm) + ".json")
            if not os.path.exists(p):
                continue
            with open(p) as f:
                preds = json.load(f)["predictions"]
            for e in preds:
                col = ids.index(e["category_id"])
                if name == "CATEGORY_COUNT":
                    V[i, col] += 1
                    continue
                pr = e.get("probabilities")
                if pr is not None:
                    pr = list(pr)
                    if len(pr) == 1 and C == 2:
                        pr = [pr[0], 1 - pr[0]]
                    V[i] += np.array(pr, dtype=np.float64)
                else:
                    s = e["score"]
                    row = np.full(C, (1 - s) / (C - 1)) if C > 1 else np.zeros(C)
                    row[col] = s
                    V[i] += row
        names = [c["name"] for c in cats]
        if categories:
            keep = [names.index(c) for c in names if c in categories]
            names = [names[c] for c in keep]
            V = V[:, keep]
        return names, V

    def tag(self, tag):
        """Candidate indices of a query tag (.lightly/tags/<tag>.txt, local mode)."""
        with open(os.path.join(self.root, ".lightly", "tags", tag + ".txt")) as f:
            lines = [l.strip() for l in f if l.strip()]
        return [self.index[l] for l in lines if l in self.index]


def case_from_plan(selection, src, preselected=None, class_order=None):
    """The reference's case for a V4 `selection` on src's candidates;
    preselected: candidate indices already selected (4.7); class_order:
    {entry index: [class names]} for METADATA BALANCE (the report's order)."""
    n = len(src.names)
    entries = []
    for idx, ent in enumerate(selection["strategies"]):
        inp, st = ent["input"], ent["strategy"]
        e = {"input": inp["type"], "strategy": st["type"], "_config_index": idx}
        if st["type"] != "THRESHOLD":
            e["strength"] = float(st.get("strength", 1.0))
        it, s = inp["type"], st["type"]
        if it == "SCORES":
            e["value"] = list(src.scores["%s:%s" % (inp["task"], inp["score"])])
        elif it == "RANDOM":
            e["value"] = random_values(inp.get("randomSeed", 1), n)
        elif it == "METADATA" and s != "BALANCE":
            vals, has = src.metadata(inp["key"])
            e["value"] = [float(v) if h else 0.0 for v, h in zip(vals, has)]
            e["has_value"] = [int(h) for h in has]
        elif it == "METADATA":
            vals, has = src.metadata(inp["key"])
            cats = [category_text(v) if h else None for v, h in zip(vals, has)]
            names = list((class_order or {}).get(idx) or [])
            for c in cats:
                if c is not None and c not in names:
                    names.append(c)
            e["class_names"] = names
            e["class_idx"] = [names.index(c) if c is not None else -1 for c in cats]
        elif it == "PREDICTIONS":
            names, V = src.predictions(inp["task"], inp["name"], inp.get("categories"))
            e["class_names"] = names
            e["class_vec"] = [float(v) for v in V.ravel()]
        if s == "DIVERSITY":
            e["min_distance"] = float(st.get("stopping_condition_minimum_distance", -1))
        elif s == "WEIGHTS":
            e["max_sum"] = float(st.get("stoppingConditionMaxSum", -1))
        elif s == "THRESHOLD":
            e["threshold"] = float(st["threshold"])
            e["operation"] = st["operation"]
        elif s == "BALANCE":
            e["distribution"] = st.get("distribution", "TARGET")
            if "target" in st:
                e["target"] = [[k, float(v)] for k, v in st["target"].items()]
        elif s == "SIMILARITY":
            q = src.X[src.tag(inp["tagName"])]
            e["query"] = [float(v) for v in q.ravel()]
        elif s == "TYPICALITY":
            e["K"] = int(st.get("numNearestNeighbors", 20))
            e["min_typicality"] = float(st.get("stoppingConditionMinimumTypicality", -1))
        entries.append(e)
    pre = [0] * n
    for i in preselected or []:
        pre[i] = 1
    case = {"n": n, "d": src.X.shape[1], "X": src.X, "preselected": pre, "k": -1,
            "entries": entries}
    alive = Reference(dict(case, entries=[e for e in entries if e["strategy"] == "THRESHOLD"])).cand
    for e in entries:
        if e["strategy"] == "TYPICALITY":
            e["m"] = [float(v) for v in knn_mean(src.X, alive, e.pop("K"))]
    if selection.get("nSamples", -1) != -1 and "nSamples" in selection:
        case["k"] = int(selection["nSamples"])
    elif "proportionSamples" in selection:
        case["k"] = math.ceil(selection["proportionSamples"] * len(alive) - 1e-6)
    return case
