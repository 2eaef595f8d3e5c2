"""End to end: `winnowd select` on generated datasets (tests/tools/mkdataset).

Everything asserted here is either planted by the generator (its manifest) or
follows from SPEC 4 and 5 (counts, sizes, file formats, the coreset rules).
"""
import csv
import json
import math
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import winnowtest as wt  # noqa: E402

# SPEC 4.1: the reason each planted corrupt kind must get ("" = any non-empty reason).
REASON_EXACT = {
    "empty": "empty file",
    "huge_png": "too many pixels: 50000x50000",
    "truncated_jpeg": "truncated",
    "truncated_png": "truncated",
}
REASON_PREFIX = {
    "bad_magic": "bad magic: PNG data in .jpg",
    "corrupt_jpeg_data": "corrupt data",
    "png_bad_crc": "",
}

OUTPUT_FILES = ["report.json", "log.txt",
                "filenames/corrupt_filenames.txt", "filenames/duplicate_filenames.txt",
                "filenames/excluded_filenames.txt", "filenames/selected_filenames.txt",
                "filenames/no_predictions_filenames.txt",
                "data/selection.csv", "data/embeddings.csv",
                "data/selected_embeddings.csv", "data/embeddings_2d.csv"]


bsorted, read_csv = wt.bsorted, wt.read_csv


def read_embeddings(path):
    """Lightly CSV -> (header, names, float64 matrix, labels)."""
    hdr, rows = read_csv(path)
    names = [r[0] for r in rows]
    m = np.array([[float(v) for v in r[1:-1]] for r in rows], dtype=np.float64).reshape(len(rows), len(hdr) - 2)
    return hdr, names, m, [r[-1] for r in rows]


def n_samples_k(f, n):
    return math.ceil(f * n - 1e-6)


class Run:
    """One winnowd select run and its parsed outputs."""

    def __init__(self, config, data_dir, *extra):
        self.out = wt.tmpdir("out")
        self.proc = wt.run_select(config, data_dir, self.out, *extra)
        o = self.out
        with open(os.path.join(o, "report.json")) as f:
            self.report = json.load(f)
        self.corrupt = wt.read_tsv(os.path.join(o, "filenames/corrupt_filenames.txt"))
        self.dups = wt.read_tsv(os.path.join(o, "filenames/duplicate_filenames.txt"))
        self.excluded = wt.read_tsv(os.path.join(o, "filenames/excluded_filenames.txt"))
        self.selected = wt.read_lines(os.path.join(o, "filenames/selected_filenames.txt"))

    def path(self, rel):
        return os.path.join(self.out, rel)


class CheckMixin:
    def check_outputs(self, run, man, candidates, k):
        """SPEC 5 files of a run whose candidates are `candidates` (path order)."""
        for rel in OUTPUT_FILES:
            self.assertTrue(os.path.isfile(run.path(rel)), rel)
        c = run.report["counts"]
        for key in ["listed", "excluded", "corrupt", "duplicates", "candidates", "selected"]:
            self.assertIn(key, c)
        self.assertEqual(c["listed"], len(man["images"]))
        self.assertEqual(c["corrupt"], len(run.corrupt))
        self.assertEqual(c["duplicates"], len(run.dups))
        self.assertEqual(c["excluded"], len(run.excluded))
        self.assertEqual(c["candidates"], len(candidates))
        self.assertEqual(c["candidates"], c["listed"] - c["corrupt"] - c["duplicates"])
        self.assertEqual(c["selected"], len(run.selected))
        for key in ["version", "config", "stages", "warnings"]:
            self.assertIn(key, run.report)
        self.assertIsInstance(run.report["stages"], list)

        # selection: size, no repeats, only candidates, same order as selection.csv
        self.assertEqual(len(run.selected), k)
        self.assertEqual(len(set(run.selected)), len(run.selected), "repeated picks")
        self.assertLessEqual(set(run.selected), set(candidates))
        hdr, rows = read_csv(run.path("data/selection.csv"))
        # SPEC 4.8: the objective columns of the method's fixed plan follow the old ones.
        plan_cols = {"coreset": ["DIVERSITY:EMBEDDINGS"], "random": ["WEIGHTS:RANDOM"]}
        self.assertEqual(hdr, ["rank", "filenames", "weight", "distance", "score"] +
                         plan_cols[run.report["config"]["method"]])
        self.assertEqual([r[1] for r in rows], run.selected)
        self.assertEqual([r[0] for r in rows], [str(i) for i in range(1, k + 1)])

        # embeddings.csv: one raw row per candidate, path order, Lightly format
        hdr, names, emb, labels = read_embeddings(run.path("data/embeddings.csv"))
        self.assertEqual(hdr[0], "filenames")
        self.assertEqual(hdr[-1], "labels")
        self.assertEqual(hdr[1:-1], ["embedding_%d" % i for i in range(len(hdr) - 2)])
        self.assertEqual(names, candidates)
        self.assertTrue(all(v == "0" for v in labels))
        self.assertTrue(np.isfinite(emb).all())
        rows_by_name = dict(zip(names, emb))

        # selected_embeddings.csv: the same rows for the selection
        hdr2, names2, emb2, _ = read_embeddings(run.path("data/selected_embeddings.csv"))
        self.assertEqual(hdr2, hdr)
        self.assertEqual(sorted(names2), sorted(run.selected))
        for n, row in zip(names2, emb2):
            np.testing.assert_array_equal(row, rows_by_name[n])

        # embeddings_2d.csv: filenames,x,y for every candidate
        hdr3, rows3 = read_csv(run.path("data/embeddings_2d.csv"))
        self.assertEqual(hdr3, ["filenames", "x", "y"])
        self.assertEqual(sorted(r[0] for r in rows3), sorted(candidates))
        xy = np.array([[float(r[1]), float(r[2])] for r in rows3])
        self.assertTrue(np.isfinite(xy).all())
        return names, emb, rows

    def check_coreset(self, names, emb, rows, normalize=True):
        """Replay SPEC 4.6 coreset in float64 from the raw rows: winnow's pick at
        each step must be a farthest candidate (within 1e-6 relative), and its
        distance column must be d at its pick."""
        x = emb.copy()
        if normalize:
            nr = np.linalg.norm(x, axis=1, keepdims=True)
            x = np.where(nr > 0, x / np.where(nr > 0, nr, 1), 0)
        idx = {n: i for i, n in enumerate(names)}
        mean = x.mean(axis=0)
        d0 = np.linalg.norm(x - mean, axis=1)
        first = idx[rows[0][1]]
        self.assertGreaterEqual(d0[first], d0.max() * (1 - 1e-6) - 1e-12,
                                "first pick is not the farthest from the mean")
        d = np.linalg.norm(x - x[first], axis=1)
        prev = math.inf
        for step, r in enumerate(rows[1:], start=2):
            i = idx[r[1]]
            best = d.max()
            self.assertGreater(best, 0)
            self.assertGreaterEqual(d[i], best * (1 - 1e-6) - 1e-12,
                                    "step %d: %s at %.9g, farthest is %.9g" % (step, r[1], d[i], best))
            got = float(r[3])
            self.assertAlmostEqual(got, d[i], delta=1e-9 * max(1.0, d[i]),
                                   msg="step %d distance column" % step)
            self.assertLessEqual(got, prev * (1 + 1e-9) + 1e-12, "distances must not increase")
            prev = got
            d = np.minimum(d, np.linalg.norm(x - x[i], axis=1))


class E2EBuiltin(unittest.TestCase, CheckMixin):
    """2,000 images in sub-folders, built-in descriptor, Lightly's default preset."""

    @classmethod
    def setUpClass(cls):
        cls.data = wt.tmpdir("ds")
        cls.man = wt.mkdataset(cls.data, "--n", 2000, "--seed", 11, "--subdirs")
        cls.r0 = Run({"method": "coreset", "stopping_condition": {"n_samples": 0.1, "min_distance": -1}},
                      cls.data)
        cls.candidates = [p for p in cls.man["images"]
                          if p not in cls.man["corrupt"] and p not in cls.man["byte_duplicates"]]

    def test_planted_dataset(self):
        m = self.man
        self.assertEqual(len(m["images"]), 2000)
        self.assertGreaterEqual(len(m["corrupt"]), 7)
        self.assertEqual(set(m["corrupt"].values()), set(REASON_EXACT) | set(REASON_PREFIX))
        self.assertGreater(len(m["byte_duplicates"]), 0)
        self.assertEqual(self.candidates, m["candidates"])

    def test_corrupt_exactly_planted(self):
        r = self.r0
        self.assertEqual(set(r.corrupt), set(self.man["corrupt"]),
                         "missed: %s\nextra: %s" % (sorted(set(self.man["corrupt"]) - set(r.corrupt))[:10],
                                                   sorted(set(r.corrupt) - set(self.man["corrupt"]))[:10]))
        lines = wt.read_lines(r.path("filenames/corrupt_filenames.txt"))
        self.assertEqual([l.split("\t")[0] for l in lines], bsorted(r.corrupt), "not in path order")
        for p, kind in self.man["corrupt"].items():
            reason = r.corrupt[p]
            with self.subTest(path=p, kind=kind):
                self.assertTrue(reason.strip(), "empty reason")
                if kind in REASON_EXACT:
                    self.assertEqual(reason, REASON_EXACT[kind])
                else:
                    self.assertTrue(reason.startswith(REASON_PREFIX[kind]), reason)

    def test_byte_duplicates_exactly_planted(self):
        want = {c: "duplicate of %s (bytes)" % o for c, o in self.man["byte_duplicates"].items()}
        self.assertEqual(self.r0.dups, want)
        lines = wt.read_lines(self.r0.path("filenames/duplicate_filenames.txt"))
        self.assertEqual([l.split("\t")[0] for l in lines], bsorted(want), "not in path order")

    def test_nothing_excluded(self):
        self.assertEqual(self.r0.excluded, {})

    def test_selection_and_outputs(self):
        k = n_samples_k(0.1, len(self.candidates))
        names, emb, rows = self.check_outputs(self.r0, self.man, self.candidates, k)
        self.assertGreaterEqual(emb.shape[1], 32, "built-in descriptor: at least 32 dimensions")
        print("\n  2000 listed: %d corrupt, %d duplicates, %d candidates, %d selected, %d dims"
              % (len(self.r0.corrupt), len(self.r0.dups), len(self.candidates), k, emb.shape[1]))

    def test_coreset_rule(self):
        k = n_samples_k(0.1, len(self.candidates))
        names, emb, rows = self.check_outputs(self.r0, self.man, self.candidates, k)
        self.check_coreset(names, emb, rows)

    def test_random_same_seed_same_selection(self):
        cfg = {"method": "random", "stopping_condition": {"n_samples": 0.1}, "seed": 5}
        a = Run(cfg, self.data)
        b = Run(cfg, self.data)
        k = n_samples_k(0.1, len(self.candidates))
        self.check_outputs(a, self.man, self.candidates, k)
        self.assertEqual(a.selected, b.selected)
        _, rows = read_csv(a.path("data/selection.csv"))
        self.assertTrue(all(r[3] == "" for r in rows), "random: empty distance column")
        c = Run(dict(cfg, seed=6), self.data)
        self.assertEqual(len(c.selected), k)
        # 184 of 1840 twice alike by chance: probability ~ 1/C(1840,184)
        self.assertNotEqual(a.selected, c.selected)
        self.assertNotEqual(set(a.selected), set(c.selected))

    def test_default_seed_is_1(self):
        a = Run({"method": "random", "stopping_condition": {"n_samples": 50}}, self.data)
        b = Run({"method": "random", "stopping_condition": {"n_samples": 50}, "seed": 1}, self.data)
        self.assertEqual(len(a.selected), 50)
        self.assertEqual(a.selected, b.selected)

    def test_threads_do_not_change_results(self):
        a = Run({"method": "coreset", "stopping_condition": {"n_samples": 40}}, self.data, "--threads", "1")
        self.assertEqual(a.corrupt, self.r0.corrupt)
        self.assertEqual(a.dups, self.r0.dups)
        self.assertEqual(a.selected, self.r0.selected[:40], "coreset is greedy: 40 picks prefix 184")
        e1 = read_embeddings(a.path("data/embeddings.csv"))[2]
        e2 = read_embeddings(self.r0.path("data/embeddings.csv"))[2]
        np.testing.assert_array_equal(e1, e2)


class E2EEmbeddingsCsv(unittest.TestCase, CheckMixin):
    """The same with the dataset's own embeddings CSV: embedding-level duplicates."""

    @classmethod
    def setUpClass(cls):
        cls.data = wt.tmpdir("dse")
        cls.man = wt.mkdataset(cls.data, "--n", 1200, "--seed", 12, "--subdirs", "--embeddings")
        cls.r0 = Run({"method": "coreset", "stopping_condition": {"n_samples": 0.1},
                       "embeddings": "default.csv"}, cls.data)
        m = cls.man
        cls.candidates = [p for p in m["images"] if p not in m["corrupt"]
                          and p not in m["byte_duplicates"] and p not in m["embedding_duplicates"]]

    def test_planted(self):
        self.assertGreaterEqual(len(self.man["embedding_duplicates"]), 2)
        self.assertEqual(self.candidates, self.man["candidates_embeddings"])

    def test_duplicates_bytes_and_embedding(self):
        m = self.man
        want = {c: "duplicate of %s (bytes)" % o for c, o in m["byte_duplicates"].items()}
        want.update({c: "duplicate of %s (embedding)" % o for c, o in m["embedding_duplicates"].items()})
        self.assertEqual(self.r0.dups, want)
        self.assertEqual(set(self.r0.corrupt), set(m["corrupt"]))

    def test_outputs_and_rows_from_csv(self):
        k = n_samples_k(0.1, len(self.candidates))
        names, emb, rows = self.check_outputs(self.r0, self.man, self.candidates, k)
        _, src_names, src, _ = read_embeddings(os.path.join(self.data, ".lightly/embeddings/default.csv"))
        src_rows = dict(zip(src_names, src))
        self.assertEqual(emb.shape[1], self.man["embeddings"]["dim"])
        for n, row in zip(names, emb):
            np.testing.assert_array_equal(row, src_rows[n], "raw row of %s" % n)
        self.check_coreset(names, emb, rows)

    def test_no_dedup_keeps_everything_clean(self):
        r = Run({"method": "coreset", "stopping_condition": {"n_samples": 20},
                 "embeddings": "default.csv", "remove_exact_duplicates": False}, self.data)
        self.assertEqual(r.dups, {})
        self.assertEqual(r.report["counts"]["candidates"], len(self.man["clean"]))
        self.assertEqual(len(r.selected), 20)


if __name__ == "__main__":
    unittest.main(verbosity=2)
