"""End to end through `winnowd select`: behaviours of SPEC 2-5 that no other suite drives.

- Zero candidates (SPEC 4.6): every image corrupt; the run completes with an empty
  selection and every output file holds its header only; in the daemon the run ends
  COMPLETED on the web app.
- relevant_filenames_file (SPEC 2, 3; docs/differences.md): patterns, comments, blank
  lines, `!`, `./`, CRLF, names absent; a missing or unusable file is a clear error.
- data/embeddings_2d.csv (SPEC 5, docs/outputs.md): against sklearn's PCA of the rows
  used for selection, each axis signed by its largest-magnitude loading; degenerate
  inputs (identical rows, one row).

Expected values come from the generator's manifest, from Pillow/numpy/sklearn, or from
a matcher written here from the SPEC's words, never from winnow's own output.
"""
import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import unittest

import numpy as np
from PIL import Image
from sklearn.decomposition import PCA

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402  (the module only: its tests are not collected here)
import winnowtest as wt  # noqa: E402

OUTPUT_FILES = ["report.json", "log.txt",
                "filenames/corrupt_filenames.txt", "filenames/duplicate_filenames.txt",
                "filenames/excluded_filenames.txt", "filenames/selected_filenames.txt",
                "filenames/no_predictions_filenames.txt",
                "data/selection.csv", "data/embeddings.csv",
                "data/selected_embeddings.csv", "data/embeddings_2d.csv"]
CLASSIFICATION_SCORES = ["uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"]


bsorted, read_csv = wt.bsorted, wt.read_csv


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_report(out):
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def img_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- zero candidates

def make_all_corrupt(root):
    """A datasource whose every image is corrupt, each kind once: {path: reason}."""
    rng = np.random.default_rng(4)
    photo = Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), "RGB")
    jpg = img_bytes(photo, "JPEG", quality=90)
    png = img_bytes(photo, "PNG")
    put(os.path.join(root, "a_empty.jpg"), b"")
    put(os.path.join(root, "b_truncated.jpg"), jpg[:len(jpg) // 2])
    put(os.path.join(root, "c/png_named.jpg"), png)
    put(os.path.join(root, "c/d_truncated.png"), png[:len(png) // 2])
    # The same truncated file twice: corrupt files are never byte duplicates.
    put(os.path.join(root, "e_truncated_copy.jpg"), jpg[:len(jpg) // 2])
    return {"a_empty.jpg": "empty file", "b_truncated.jpg": "truncated",
            "c/png_named.jpg": "bad magic: PNG data in .jpg", "c/d_truncated.png": "truncated",
            "e_truncated_copy.jpg": "truncated"}


def add_classification_task(root, images):
    """A classification task with a prediction for each (corrupt) image."""
    pdir = os.path.join(root, ".lightly", "predictions")
    put(os.path.join(pdir, "tasks.json"), b'["cls"]')
    put(os.path.join(pdir, "cls", "schema.json"),
        json.dumps({"task_type": "classification",
                    "categories": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]}).encode())
    for p in images:
        put(os.path.join(pdir, "cls", os.path.splitext(p)[0] + ".json"),
            json.dumps({"file_name": p, "predictions": [
                {"category_id": 0, "probabilities": [0.7, 0.3]}]}).encode())


class ZeroCandidatesLocal(unittest.TestCase):
    """SPEC 4.6: zero candidates complete with an empty selection, headers only."""
    objective_columns = ",DIVERSITY:EMBEDDINGS"	# coreset's, for the tests that run coreset

    @classmethod
    def setUpClass(cls):
        cls.data = wt.tmpdir("zc")
        cls.reasons = make_all_corrupt(cls.data)
        add_classification_task(cls.data, cls.reasons)

    def check_empty_run(self, out, proc):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for rel in OUTPUT_FILES:
            self.assertTrue(os.path.isfile(os.path.join(out, rel)), rel)
        rep = read_report(out)
        c = rep["counts"]
        n = len(self.reasons)
        self.assertEqual((c["listed"], c["excluded"], c["corrupt"], c["duplicates"], c["candidates"],
                          c["selected"]), (n, 0, n, 0, 0, 0), c)
        self.assertEqual(wt.read_tsv(os.path.join(out, "filenames/corrupt_filenames.txt")), self.reasons)
        for rel in ("filenames/duplicate_filenames.txt", "filenames/excluded_filenames.txt",
                    "filenames/selected_filenames.txt"):
            self.assertEqual(os.path.getsize(os.path.join(out, rel)), 0, rel)
        self.assertEqual(read_text(os.path.join(out, "data/selection.csv")),
                         "rank,filenames,weight,distance,score%s\n" % self.objective_columns)
        self.assertEqual(read_text(os.path.join(out, "data/embeddings_2d.csv")), "filenames,x,y\n")
        # Lightly's CSV header with the built-in descriptor's width (>= 32, SPEC 4.3), no rows.
        for rel in ("data/embeddings.csv", "data/selected_embeddings.csv"):
            hdr, rows = read_csv(os.path.join(out, rel))
            self.assertEqual(rows, [], rel)
            self.assertEqual(hdr[0], "filenames")
            self.assertEqual(hdr[-1], "labels")
            self.assertGreaterEqual(len(hdr) - 2, 32, rel)
            self.assertEqual(hdr[1:-1], ["embedding_%d" % i for i in range(len(hdr) - 2)], rel)
        self.assertIn("0 candidates", proc.stdout)
        self.assertTrue(read_text(os.path.join(out, "log.txt")).strip())
        return rep

    def test_every_method(self):
        for method in ("coreset", "random", "coral", "active_learning"):
            with self.subTest(method=method):
                docker = {"method": method, "stopping_condition": {"n_samples": 0.5}}
                if method in ("coral", "active_learning"):
                    docker["active_learning"] = {"task_name": "cls", "score_name": "uncertainty_margin"}
                out = os.path.join(wt.tmpdir("zo"), "out")
                p = wt.run_select(docker, self.data, out, check=False)
                # SPEC 4.8: the objective columns of the method's fixed plan.
                self.objective_columns = {
                    "coreset": ",DIVERSITY:EMBEDDINGS", "random": ",WEIGHTS:RANDOM",
                    "coral": ",DIVERSITY:EMBEDDINGS,WEIGHTS:SCORES:cls:uncertainty_margin",
                    "active_learning": ",WEIGHTS:SCORES:cls:uncertainty_margin"}[method]
                rep = self.check_empty_run(out, p)
                scores_csv = os.path.join(out, "data/scores.csv")
                if method in ("coral", "active_learning"):
                    # Scores were computed (for nobody): the header only, min/mean/max null.
                    self.assertEqual(read_text(scores_csv), ",".join(["filenames"] + CLASSIFICATION_SCORES) + "\n")
                    self.assertEqual(sorted(rep["scores"]), sorted(CLASSIFICATION_SCORES))
                    for s in CLASSIFICATION_SCORES:
                        self.assertEqual(rep["scores"][s], {"min": None, "mean": None, "max": None}, s)
                else:
                    self.assertFalse(os.path.exists(scores_csv))

    def test_count_budget_and_min_distance(self):
        out = os.path.join(wt.tmpdir("zo"), "out")
        p = wt.run_select({"method": "coreset", "stopping_condition": {"n_samples": 10, "min_distance": 0.1}},
                          self.data, out, check=False)
        self.check_empty_run(out, p)

    def test_datapool_not_created(self):
        """docs/outputs.md: a run with no new picks leaves the datapool as it was (and does not create it)."""
        pools = wt.tmpdir("zp")
        out = os.path.join(wt.tmpdir("zo"), "out")
        p = wt.run_select({"method": "coreset", "stopping_condition": {"n_samples": 3},
                           "datapool": {"name": "main"}}, self.data, out, "--datapool-dir", pools, check=False)
        rep = self.check_empty_run(out, p)
        self.assertEqual(rep["datapool"], {"name": "main", "members": 0, "preselected": 0,
                                           "ignored": 0, "added": 0})
        self.assertFalse(os.path.exists(os.path.join(pools, "main", "datapool_latest.csv")))

    def test_corruptness_check_off_is_not_zero(self):
        """The contrast: the same files without the check are candidates (so the
        zero above comes from the check, not from an empty listing)."""
        d = wt.tmpdir("zc2")
        rng = np.random.default_rng(5)
        for i in range(3):
            put(os.path.join(d, "ok_%d.png" % i),
                img_bytes(Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "RGB"), "PNG"))
        put(os.path.join(d, "z_empty.png"), b"")
        out = os.path.join(wt.tmpdir("zo"), "out")
        wt.run_select({"method": "coreset", "stopping_condition": {"n_samples": 2}}, d, out)
        c = read_report(out)["counts"]
        self.assertEqual((c["corrupt"], c["candidates"], c["selected"]), (1, 3, 2))


class ZeroCandidatesDaemon(unittest.TestCase):
    """The same through winnowd + winnow-web: the run ends COMPLETED, with empty tags."""

    def setUp(self):
        td.DaemonTest.setUp(self)

    def tearDown(self):
        td.DaemonTest.tearDown(self)

    def __getattr__(self, name):
        # test_daemon's helpers (make_dataset, schedule, wait_run, ...), not its tests.
        f = getattr(td.DaemonTest, name, None)
        if f is None or name.startswith("test"):
            raise AttributeError(name)
        return f.__get__(self)

    def test_run_completes_with_empty_selection(self):
        path = os.path.join(self.root, "allbad")
        reasons = make_all_corrupt(path)
        ds = self.make_dataset(path)
        self.daemon().start()
        sched = self.schedule(ds, td.CORESET)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        tags = {t["name"]: t for t in self.tags(ds)}
        name = "run-%s" % run["id"]
        self.assertIn(name, tags)
        self.assertEqual(self.tag_names(ds, tags[name]), [])
        if name + "-candidates" in tags:
            self.assertEqual(self.tag_names(ds, tags[name + "-candidates"]), [])
        arts = set(self.run_files(run["id"]))
        for f in ("report.json", "selection.csv", "embeddings_2d.csv", "corrupt_filenames.txt", "log.txt"):
            self.assertIn(f, arts)
        rd = os.path.join(self.daemons[0].state, "runs", sched)
        self.assertEqual(read_report(rd)["counts"]["candidates"], 0)
        self.assertEqual(wt.read_tsv(os.path.join(rd, "filenames/corrupt_filenames.txt")), reasons)


# ---------------------------------------------------------------- relevant_filenames_file

def glob_re(pattern):
    """SPEC 3's pattern as a regex: fnmatch with FNM_PATHNAME ('*', '?' and
    '[...]' stop at '/'), '**' spans folders ('**/' also zero of them)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            j = pattern.index("]", i + 2)
            body = pattern[i + 1:j]
            out += "(?!/)[" + ("^" + body[1:] if body[:1] == "!" else body) + "]"
            i = j + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def relevant_ref(lines, paths):
    """(kept paths, names absent): the last matching pattern decides, a pattern
    matching a folder covers what is under it, '#' comments, blank lines skipped."""
    pats = []
    for line in lines:
        s = line.strip(" \t\r")
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        if neg:
            s = s[1:]
        if s.startswith("./"):
            s = s[2:]
        pats.append((neg, s, glob_re(s)))

    def matches(rx, p):
        parts = p.split("/")
        return any(rx.match("/".join(parts[:k])) for k in range(len(parts), 0, -1))

    kept = []
    for p in paths:
        inside = False
        for neg, _, rx in pats:
            if matches(rx, p):
                inside = not neg
        if inside:
            kept.append(p)
    absent = [s for neg, s, rx in pats if not neg and not re.search(r"[*?\[\\]", s)
              and not any(matches(rx, p) for p in paths)]
    return kept, absent


class RelevantFilenames(unittest.TestCase):
    """SPEC 3: only the files relevant_filenames_file names are listed and selected."""

    @classmethod
    def setUpClass(cls):
        cls.data = wt.tmpdir("rf")
        cls.man = wt.mkdataset(cls.data, "--n", 80, "--seed", 3, "--subdirs")
        imgs = cls.man["images"]
        top = [p for p in imgs if "/" not in p]
        in_a = [p for p in imgs if p.startswith("a/")]
        in_bc = [p for p in imgs if p.startswith("b/c/")]
        cls.carved = in_bc[len(in_bc) // 2]
        cls.lines = [
            "# images to label this week",
            top[0] + "   ",
            "./" + top[1],
            "   " + top[2] + "\t",
            "",
            "\t",
            in_a[0] + "\r",
            "missing/not_here.jpg",
            "./also_missing.png",
            "b/c/*",
            "!" + cls.carved,
            "d/**/img_000[0-4]?.png",
            "#" + top[3],
            "no_such_*.jpg",
            "!" + top[2],
            top[2],     # later line wins over the '!' above
            "!" + in_a[0],
        ]
        # A copy whose original the file leaves out stays a candidate (byte duplicates
        # are found among the listed files only).
        kept0, _ = relevant_ref(cls.lines, imgs)
        dup_copy, dup_orig = [(c, o) for c, o in sorted(cls.man["byte_duplicates"].items())
                              if c not in kept0 and o not in kept0][0]
        cls.lines.insert(13, dup_copy)
        os.makedirs(os.path.join(cls.data, "lists"))
        with open(os.path.join(cls.data, "lists", "relevant.txt"), "w", newline="") as f:
            f.write("\n".join(cls.lines))     # no newline after the last line
        cls.kept, cls.absent = relevant_ref(cls.lines, imgs)
        cls.dup = (dup_copy, dup_orig)
        cls.out = os.path.join(wt.tmpdir("ro"), "out")
        cls.proc = wt.run_select({"method": "coreset", "stopping_condition": {"n_samples": 0.5},
                                  "relevant_filenames_file": "lists/relevant.txt"},
                                 cls.data, cls.out, check=False)

    def test_reference_sees_every_rule(self):
        """The file exercises what it should: these hold for the reference alone."""
        imgs = self.man["images"]
        self.assertIn(self.lines[1].strip(), self.kept)
        self.assertNotIn(self.carved, self.kept)
        self.assertNotIn(self.lines[12][1:], self.kept)          # commented out
        self.assertIn(self.lines[2][2:], self.kept)              # ./ prefix
        self.assertIn(self.lines[3].strip(), self.kept)          # '!' then re-included
        self.assertNotIn(self.lines[6].strip(), self.kept)       # included then '!'
        self.assertTrue(any(p.startswith("d/") for p in self.kept))
        self.assertTrue(any(p.startswith("b/c/") for p in self.kept))
        self.assertIn(self.dup[0], self.kept)
        self.assertNotIn(self.dup[1], self.kept)
        self.assertTrue(set(self.kept) & set(self.man["corrupt"]), "no corrupt file kept")
        self.assertEqual(self.absent, ["missing/not_here.jpg", "also_missing.png"])
        self.assertLess(len(self.kept), len(imgs) // 2)

    def test_only_relevant_files_listed_and_selected(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        rep = read_report(self.out)
        kept = self.kept
        corrupt = wt.read_tsv(os.path.join(self.out, "filenames/corrupt_filenames.txt"))
        dups = wt.read_tsv(os.path.join(self.out, "filenames/duplicate_filenames.txt"))
        self.assertEqual(rep["counts"]["listed"], len(kept))
        self.assertEqual(set(corrupt), set(kept) & set(self.man["corrupt"]))
        # Byte duplicates among the kept files only, found here by hashing the bytes.
        seen, want_dups, cands = {}, {}, []
        for p in kept:
            if p in self.man["corrupt"]:
                continue
            with open(os.path.join(self.data, p), "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
            if h in seen:
                want_dups[p] = "duplicate of %s (bytes)" % seen[h]
            else:
                seen[h] = p
                cands.append(p)
        self.assertEqual(dups, want_dups)
        hdr, rows = read_csv(os.path.join(self.out, "data/embeddings.csv"))
        self.assertEqual([r[0] for r in rows], cands)
        self.assertEqual(rep["counts"]["candidates"], len(cands))
        sel = wt.read_lines(os.path.join(self.out, "filenames/selected_filenames.txt"))
        self.assertEqual(len(sel), math.ceil(0.5 * len(cands) - 1e-6))
        self.assertLessEqual(set(sel), set(cands))
        self.assertEqual(rep["config"]["relevant_filenames_file"], "lists/relevant.txt")

    def test_counts_in_log(self):
        """Images left out and names absent are counted (SPEC 3). The count is in log.txt;
        report.json has no key for it."""
        log = read_text(os.path.join(self.out, "log.txt"))
        want = "relevant_filenames_file: %d images not listed in it, %d names in it not found" % (
            len(self.man["images"]) - len(self.kept), len(self.absent))
        self.assertIn(want, log)

    def run_bad(self, relevant, extra_docker=None, data=None):
        out = os.path.join(wt.tmpdir("rb"), "out")
        docker = {"method": "coreset", "stopping_condition": {"n_samples": 2},
                  "relevant_filenames_file": relevant}
        docker.update(extra_docker or {})
        p = wt.run_select(docker, data or self.data, out, check=False)
        return p, out

    def test_missing_file_is_an_error(self):
        p, out = self.run_bad("lists/nope.txt")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("relevant_filenames_file lists/nope.txt: No such file or directory", p.stderr)
        self.assertIn("relevant_filenames_file lists/nope.txt: No such file or directory",
                      read_text(os.path.join(out, "log.txt")))
        self.assertFalse(os.path.exists(os.path.join(out, "filenames/selected_filenames.txt")))
        self.assertFalse(os.path.exists(os.path.join(out, "report.json")))

    def test_folder_is_an_error(self):
        p, _ = self.run_bad("lists")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("relevant_filenames_file lists: Is a directory", p.stderr)

    def test_path_outside_the_root_is_a_config_error(self):
        p, _ = self.run_bad("../relevant.txt")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('docker.relevant_filenames_file: "../relevant.txt" is not a path relative to the '
                      'datasource root', p.stderr)

    def test_matching_nothing_fails_no_images(self):
        """SPEC 3: with nothing listed the run fails with "no images found", and so it
        does with an embeddings CSV: the filter is not dropped for an embeddings-only run
        over the whole CSV."""
        d = wt.tmpdir("rn")
        man = wt.mkdataset(d, "--n", 20, "--seed", 8, "--embeddings")
        with open(os.path.join(d, "none.txt"), "w") as f:
            f.write("# nothing here\nnot_an_image.jpg\n")
        for extra in ({}, {"embeddings": "default.csv"}):
            with self.subTest(extra=extra):
                p, out = self.run_bad("none.txt", extra, d)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("no images found", p.stderr)
                self.assertIn("relevant_filenames_file", p.stderr)
                self.assertFalse(os.path.exists(os.path.join(out, "filenames/selected_filenames.txt")))
        self.assertEqual(len(man["images"]), 20)


# ---------------------------------------------------------------- 2-D PCA

def pca_ref(x):
    """sklearn's 2-D PCA of x, each axis signed so that its largest-magnitude
    loading is positive (docs/outputs.md); returns (xy, explained variances)."""
    p = PCA(n_components=2, svd_solver="full").fit(x)
    comp = p.components_.copy()
    for c in range(2):
        j = np.argmax(np.abs(comp[c]))
        if comp[c, j] < 0:
            comp[c] = -comp[c]
    return (x - x.mean(axis=0)) @ comp.T, p.explained_variance_, comp


def normalise(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 0, x / np.where(n > 0, n, 1), 0)


class Pca2d(unittest.TestCase):
    """data/embeddings_2d.csv against sklearn on the rows of data/embeddings.csv."""

    @classmethod
    def setUpClass(cls):
        cls.data = wt.tmpdir("pc")
        cls.man = wt.mkdataset(cls.data, "--n", 300, "--seed", 21, "--embeddings")

    def run_2d(self, docker, data=None):
        out = os.path.join(wt.tmpdir("po"), "out")
        wt.run_select(docker, data or self.data, out)
        hdr, rows = read_csv(os.path.join(out, "data/embeddings.csv"))
        names = [r[0] for r in rows]
        raw = np.array([[float(v) for v in r[1:-1]] for r in rows]).reshape(len(rows), len(hdr) - 2)
        hdr2, rows2 = read_csv(os.path.join(out, "data/embeddings_2d.csv"))
        self.assertEqual(hdr2, ["filenames", "x", "y"])
        self.assertEqual([r[0] for r in rows2], names, "rows in the order of embeddings.csv (path order)")
        self.assertEqual(names, bsorted(names))
        self.assertTrue(all(len(r) == 3 for r in rows2))
        xy = np.array([[float(r[1]), float(r[2])] for r in rows2]).reshape(len(rows2), 2)
        return names, raw, xy

    def check_against_sklearn(self, x, xy, what):
        ref, var, comp = pca_ref(x)
        # The two axes are well defined here (distinct variances, a clear largest loading);
        # else the comparison below would be meaningless, not wrong.
        self.assertGreater(var[0] - var[1], 1e-3 * var[0], what)
        for c in range(2):
            a = np.sort(np.abs(comp[c]))
            self.assertGreater(a[-1] - a[-2], 1e-3, "%s axis %d: two near-equal largest loadings" % (what, c))
        scale = np.abs(ref).max()
        err = np.abs(xy - ref).max(axis=0)
        # Tolerance: 1e-6 of the largest coordinate. winnow iterates on the covariance
        # in float64; sklearn takes an SVD.
        tol = 1e-6 * scale
        self.assertTrue((err <= tol).all(), "%s: max |winnow - sklearn| per axis %s, tolerance %.3g"
                        % (what, err, tol))
        return err / scale

    def test_custom_embeddings_normalised(self):
        names, raw, xy = self.run_2d({"method": "coreset", "stopping_condition": {"n_samples": 10},
                                      "embeddings": "default.csv"})
        self.assertEqual(len(names), len(self.man["candidates_embeddings"]))
        self.check_against_sklearn(normalise(raw), xy, "CSV, normalised")

    def test_custom_embeddings_raw(self):
        names, raw, xy = self.run_2d({"method": "coreset", "stopping_condition": {"n_samples": 10},
                                      "embeddings": "default.csv", "normalize_embeddings": False})
        self.check_against_sklearn(raw, xy, "CSV, not normalised")
        # Not the normalised rows' PCA: the option reaches the plot.
        ref_n, _, _ = pca_ref(normalise(raw))
        self.assertGreater(np.abs(np.abs(xy) - np.abs(ref_n)).max(), 1e-3)

    def test_builtin_descriptor(self):
        names, raw, xy = self.run_2d({"method": "random", "stopping_condition": {"n_samples": 10}})
        self.assertEqual(names, self.man["candidates"])
        self.assertGreaterEqual(raw.shape[1], 32)
        self.check_against_sklearn(normalise(raw), xy, "built-in descriptor")

    def test_identical_rows(self):
        """Degenerate: every row the same (duplicate removal off). Not documented;
        winnow gives the centre, (0, 0) up to rounding, for every row."""
        d = wt.tmpdir("pi")
        png = img_bytes(Image.fromarray(np.random.default_rng(3).integers(0, 256, (50, 70, 3), dtype=np.uint8),
                                        "RGB"), "PNG")
        for i in range(5):
            put(os.path.join(d, "same_%d.png" % i), png)
        names, raw, xy = self.run_2d({"method": "coreset", "stopping_condition": {"n_samples": 2},
                                      "remove_exact_duplicates": False}, d)
        self.assertEqual(names, ["same_%d.png" % i for i in range(5)])
        self.assertTrue((raw == raw[0]).all())
        self.assertTrue(np.isfinite(xy).all())
        self.assertLessEqual(np.abs(xy).max(), 1e-12, xy)

    def test_one_row(self):
        """One candidate: its centred row is zero, so it sits at (0, 0) exactly."""
        d = wt.tmpdir("p1")
        put(os.path.join(d, "only.png"),
            img_bytes(Image.fromarray(np.random.default_rng(9).integers(0, 256, (30, 30, 3), dtype=np.uint8),
                                      "RGB"), "PNG"))
        names, raw, xy = self.run_2d({"method": "coreset", "stopping_condition": {"n_samples": 2}}, d)
        self.assertEqual(names, ["only.png"])
        self.assertEqual(xy.tolist(), [[0.0, 0.0]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
