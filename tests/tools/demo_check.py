"""The main job, once: `make demo ONCE=1` must succeed and leave every output of SPEC 5."""
import json
import math
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ.get("WINNOW_ROOT", "."), "tests", "py"))
import winnowtest as wt  # noqa: E402


class Demo(unittest.TestCase):
    def test_make_demo_once(self):
        demo_dir = os.path.join(os.getcwd(), "demo")
        p = subprocess.run(["make", "-s", "-C", wt.ROOT, "demo", "ONCE=1",
                            "BUILD=" + os.environ.get("BUILD", "build"),
                            "BIN=" + os.environ.get("BIN", "bin"),
                            "DEMO_DIR=" + demo_dir],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("winnowd select: completed", p.stdout)
        run = os.path.join(demo_dir, "run")
        with open(os.path.join(run, "report.json")) as f:
            rep = json.load(f)
        with open(os.path.join(demo_dir, "dataset", ".manifest.json")) as f:
            man = json.load(f)
        c = rep["counts"]
        self.assertEqual(c["corrupt"], len(man["corrupt"]))
        self.assertGreater(c["candidates"], 0)
        self.assertEqual(c["selected"], math.ceil(0.1 * c["candidates"] - 1e-6))
        sel = wt.read_lines(os.path.join(run, "filenames", "selected_filenames.txt"))
        self.assertEqual(len(sel), c["selected"])
        for rel in ["log.txt", "filenames/corrupt_filenames.txt", "filenames/duplicate_filenames.txt",
                    "filenames/excluded_filenames.txt", "data/selection.csv", "data/embeddings.csv",
                    "data/selected_embeddings.csv", "data/embeddings_2d.csv"]:
            self.assertTrue(os.path.isfile(os.path.join(run, rel)), rel)


if __name__ == "__main__":
    unittest.main(verbosity=2)
