"""The main job, once: `make demo ONCE=1` starts winnow-web and winnowd on 127.0.0.1,
schedules a coral run through the API, follows it to COMPLETED and stops both."""
import glob
import json
import math
import os
import re
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
                            "DEMO_DIR=" + demo_dir, "DEMO_N=300", "DEMO_PORT=0"],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = re.search(r"run COMPLETED in [\d.]+ s: (\d+) of (\d+) candidates selected", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        selected, candidates = int(m.group(1)), int(m.group(2))
        self.assertEqual(selected, math.ceil(0.1 * candidates - 1e-6))
        self.assertRegex(p.stdout, r"open http://127\.0\.0\.1:\d+/ and log in with the user token [0-9a-f]{64}")
        # the results URL is one of the pages' routes (runs.test.mjs opens it in Chromium)
        self.assertRegex(p.stdout, r"results page: http://127\.0\.0\.1:\d+/#/datasets/[0-9a-f]{24}/runs/[0-9a-f]{24}/results\n")
        # The daemon's run directory holds the outputs of SPEC 5 for that run.
        runs = glob.glob(os.path.join(demo_dir, "state", "winnowd", "runs", "*", "report.json"))
        self.assertEqual(len(runs), 1, runs)
        with open(runs[0]) as f:
            rep = json.load(f)
        self.assertEqual(rep["counts"]["selected"], selected)
        self.assertEqual(rep["counts"]["candidates"], candidates)
        self.assertEqual(rep["config"]["method"], "coral")
        with open(os.path.join(demo_dir, "dataset", ".manifest.json")) as f:
            man = json.load(f)
        self.assertEqual(rep["counts"]["corrupt"], len(man["corrupt"]))
        # Both processes were stopped: nothing listens any more.
        port = re.search(r"on http://127\.0\.0\.1:(\d+) and winnowd", p.stdout).group(1)
        import socket
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
