"""End to end for the active-learning scores (issue: scores, coral, active_learning):
a generated dataset with predictions of all four task types, through `winnowd select`:
selection sizes, score statistics in report.json, weights in selection.csv, config
errors for wrong task or score names, and bad prediction files failing the run with
a message naming the file and the field."""
import csv
import json
import math
import os
import shutil
import unittest

import winnowtest as wt

TASKS = {
    "classification": "my-classification-task",
    "object-detection": "my-detection-task",
    "semantic-segmentation": "my-segmentation-task",
    "keypoint-detection": "my-keypoint-task",
}
SCORES = {
    "classification": ["uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"],
    "semantic-segmentation": ["uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"],
    "object-detection": ["uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy",
                         "objectness_least_confidence", "object_frequency"],
    "keypoint-detection": ["mean_uncertainty"],
}


class ScoresE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = os.path.join(wt.tmpdir("ds"), "data")
        cls.man = wt.mkdataset(cls.data, "--n", 300, "--seed", 11, "--subdirs", "--predictions")
        cls.candidates = cls.man["candidates"]

    def select(self, docker, data=None, check=True):
        out = os.path.join(wt.tmpdir("out"), "run")
        p = wt.run_select(docker, data or self.data, out, check=check)
        return out, p

    def read_csv(self, path):
        with open(path, newline="") as f:
            return list(csv.reader(f))

    def test_coral_each_task(self):
        for ttype, task in TASKS.items():
            with self.subTest(task=task):
                docker = {"method": "coral", "stopping_condition": {"n_samples": 0.2},
                          "active_learning": {"task_name": task}}
                out, _ = self.select(docker)
                with open(os.path.join(out, "report.json")) as f:
                    rep = json.load(f)
                n = rep["counts"]["candidates"]
                self.assertEqual(n, len(self.candidates))
                self.assertEqual(rep["counts"]["selected"], math.ceil(0.2 * n - 1e-6))
                # Score statistics: every score of the type, min <= mean <= max in [0,1].
                self.assertEqual(sorted(rep["scores"]), sorted(SCORES[ttype]))
                for name, st in rep["scores"].items():
                    self.assertTrue(0 <= st["min"] <= st["mean"] <= st["max"] <= 1, (name, st))
                # scores.csv: header, candidates in path order, values in [0,1].
                rows = self.read_csv(os.path.join(out, "data", "scores.csv"))
                self.assertEqual(rows[0], ["filenames"] + SCORES[ttype])
                self.assertEqual([r[0] for r in rows[1:]], self.candidates)
                vals = {r[0]: [float(v) for v in r[1:]] for r in rows[1:]}
                for name, st in rep["scores"].items():
                    col = SCORES[ttype].index(name)
                    colv = [v[col] for v in vals.values()]
                    self.assertAlmostEqual(min(colv), st["min"], places=12)
                    self.assertAlmostEqual(max(colv), st["max"], places=12)
                    self.assertAlmostEqual(sum(colv) / len(colv), st["mean"], places=9)
                # The weight of each pick is its weighting score.
                wname = "mean_uncertainty" if ttype == "keypoint-detection" else "uncertainty_margin"
                self.assertEqual(rep["predictions"]["score_name"], wname)
                sel = self.read_csv(os.path.join(out, "data", "selection.csv"))
                self.assertEqual(sel[0], ["rank", "filenames", "weight", "distance", "score",
                                          "DIVERSITY:EMBEDDINGS",
                                          "WEIGHTS:SCORES:%s:%s" % (task, wname)])
                for r in sel[1:]:
                    self.assertEqual(float(r[2]), vals[r[1]][SCORES[ttype].index(wname)])
                    if r[6]:	# a method pick: its weights objective is its weight
                        self.assertEqual(float(r[6]), float(r[2]))
                # Images without predictions are counted.
                tm = self.man["tasks"][task]
                nopred = [p for p in self.candidates if p in tm["empty"] or p in tm["missing"]]
                self.assertEqual(rep["counts"]["no_predictions"], len(nopred))
                self.assertGreater(len(nopred), 0)
                # ... and listed by name (SPEC 5: filenames/no_predictions_filenames.txt)
                with open(os.path.join(out, "filenames", "no_predictions_filenames.txt")) as f:
                    self.assertEqual(sorted(f.read().split("\n")[:-1]), sorted(nopred))
                for p in nopred:
                    self.assertTrue(all(v == 0 for v in vals[p][:3]), p)

    def test_active_learning_top_k(self):
        task = TASKS["classification"]
        out, _ = self.select({"method": "active_learning", "stopping_condition": {"n_samples": 25},
                              "active_learning": {"task_name": task,
                                                  "score_name": "uncertainty_entropy"}})
        rows = self.read_csv(os.path.join(out, "data", "scores.csv"))
        ent = [(-float(r[3]), i, r[0]) for i, r in enumerate(rows[1:])]
        want = [name for _, _, name in sorted(ent)[:25]]
        got = wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))
        self.assertEqual(got, want)

    def test_scores_with_coreset(self):
        # A task name with another method still writes scores.csv; weights stay empty.
        out, _ = self.select({"method": "coreset", "stopping_condition": {"n_samples": 10},
                              "active_learning": {"task_name": TASKS["object-detection"]}})
        self.assertTrue(os.path.isfile(os.path.join(out, "data", "scores.csv")))
        sel = self.read_csv(os.path.join(out, "data", "selection.csv"))
        self.assertTrue(all(r[2] == "" for r in sel[1:]))

    def test_object_frequency_scorer_off(self):
        task = TASKS["object-detection"]
        out, _ = self.select({"method": "coral", "stopping_condition": {"n_samples": 10},
                              "scorer": "", "active_learning": {"task_name": task}})
        rows = self.read_csv(os.path.join(out, "data", "scores.csv"))
        self.assertTrue(all(float(r[5]) == 0 for r in rows[1:]))
        out, _ = self.select({"method": "coral", "stopping_condition": {"n_samples": 10},
                              "scorer_config": {"min_score": 0.5},
                              "active_learning": {"task_name": task}})
        rows = self.read_csv(os.path.join(out, "data", "scores.csv"))
        of = [float(r[5]) for r in rows[1:]]
        self.assertAlmostEqual(min(of), 0.5, places=12)
        self.assertAlmostEqual(max(of), 1.0, places=12)

    def test_config_errors(self):
        cases = [
            ({"method": "coral", "active_learning": {"task_name": "nope"}},
             ["task_name", "\"nope\"", TASKS["classification"], TASKS["keypoint-detection"]]),
            ({"method": "coral", "active_learning": {"task_name": TASKS["keypoint-detection"],
                                                     "score_name": "uncertainty_margin"}},
             ["score_name", "mean_uncertainty"]),
            ({"method": "coral", "active_learning": {"task_name": TASKS["classification"],
                                                     "score_name": "object_frequency"}},
             ["score_name", "uncertainty_least_confidence", "uncertainty_entropy"]),
            ({"method": "coral"}, ["task_name"]),
            ({"method": "active_learning", "active_learning": {"task_name": ""}}, ["task_name"]),
        ]
        for docker, needles in cases:
            with self.subTest(docker=docker):
                out, p = self.select(docker, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                for n in needles:
                    self.assertIn(n, p.stderr)

    def broken_copy(self, task, mutate):
        """A copy of the dataset with one prediction file of `task` rewritten by mutate(obj, path)."""
        data = os.path.join(wt.tmpdir("bad"), "data")
        shutil.copytree(self.data, data, symlinks=True)
        tm = self.man["tasks"][task]
        img = next(p for p in self.candidates if p in tm["files"] and p not in tm["empty"])
        rel = os.path.join(".lightly", "predictions", task, tm["files"][img])
        path = os.path.join(data, rel)
        with open(path) as f:
            obj = json.load(f)
        text = mutate(obj)
        with open(path, "w") as f:
            f.write(text if isinstance(text, str) else json.dumps(obj))
        return data, rel

    def expect_failure(self, task, mutate, field):
        data, rel = self.broken_copy(task, mutate)
        out, p = self.select({"method": "coral", "active_learning": {"task_name": task}},
                             data=data, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(rel, p.stderr)
        self.assertIn(field, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "data", "scores.csv")))
        self.assertFalse(os.path.exists(os.path.join(out, "filenames", "selected_filenames.txt")))
        with open(os.path.join(out, "log.txt")) as f:
            self.assertIn(rel, f.read())

    def test_bad_prediction_files(self):
        cls, det = TASKS["classification"], TASKS["object-detection"]
        seg, kp = TASKS["semantic-segmentation"], TASKS["keypoint-detection"]

        def setp(task, key, fn):
            def m(o):
                fn(o["predictions"][0])
            return m
        cases = [
            (cls, lambda o: "{\"file_name\": ", "invalid JSON"),
            (cls, setp(cls, "p", lambda e: e["probabilities"].append(0.0)), "probabilities"),
            (cls, setp(cls, "p", lambda e: e.__setitem__("probabilities", [0.5] * len(e["probabilities"]))),
             "probabilities"),
            (cls, setp(cls, "p", lambda e: e["probabilities"].__setitem__(0, -0.25)), "probabilities"),
            (cls, setp(cls, "c", lambda e: e.__setitem__("category_id", 99)), "category_id"),
            (det, setp(det, "b", lambda e: e["bbox"].__setitem__(2, -3)), "bbox"),
            (det, setp(det, "s", lambda e: e.__setitem__("score", 1.5)), "score"),
            (seg, setp(seg, "r", lambda e: e["segmentation"].append(7)), "segmentation"),
            (kp, setp(kp, "k", lambda e: e["keypoints"].__setitem__(2, 2.0)), "keypoints"),
            (cls, lambda o: o.__setitem__("file_name", "../outside.png"), "file_name"),
            (cls, lambda o: "{\"file_name\": \"x\", \"predictions\": [{\"category_id\": 0, "
                            "\"probabilities\": [NaN, 1]}]}", "invalid JSON"),
        ]
        for task, mutate, field in cases:
            with self.subTest(task=task, field=field):
                self.expect_failure(task, mutate, field)

    def test_missing_schema(self):
        data = os.path.join(wt.tmpdir("bad"), "data")
        shutil.copytree(self.data, data, symlinks=True)
        task = TASKS["object-detection"]
        os.unlink(os.path.join(data, ".lightly", "predictions", task, "schema.json"))
        out, p = self.select({"method": "coral", "active_learning": {"task_name": task}},
                             data=data, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("schema.json", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
