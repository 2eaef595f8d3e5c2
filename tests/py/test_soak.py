"""The short form of `make soak` (tests/tools/soak.py): 8 kill -9s of winnowd at
random moments inside its work (claiming, stages, reporting; never idle) over 6
scheduled runs, against the real winnow-web; every run COMPLETED once, nothing
duplicated, both databases pass PRAGMA integrity_check.
"""
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import winnowtest as wt  # noqa: E402
import soak  # noqa: E402  (tests/tools, on the path through winnowtest)


class SoakTest(unittest.TestCase):
    def test_short_soak(self):
        out = io.StringIO()
        s = soak.Soak(cycles=8, runs=6, workdir=wt.tmpdir("soak"), out=out)
        try:
            ok = s.run()
        finally:
            s.cleanup()
            sys.stderr.write(out.getvalue())
        r = s.result
        self.assertEqual(r["lost"], [], out.getvalue())
        self.assertEqual(r["duplicated"], [], out.getvalue())
        self.assertEqual(r["differing"], [], out.getvalue())
        self.assertEqual(r["integrity"], ("ok", "ok"))
        self.assertEqual(r["winnowd_rc"], 0)
        self.assertLess(r["deaths"], soak.MAX_DEATHS)
        # Every kill landed in the phase it was aimed at, none while the daemon was idle.
        self.assertEqual(r["missed"], 0, out.getvalue())
        self.assertEqual(r["kills"]["idle"], 0, out.getvalue())
        self.assertEqual(r["kills"], dict(r["aims"], idle=0), out.getvalue())
        self.assertEqual(sum(r["aims"].values()), 8)
        self.assertIn("idle 0;", out.getvalue())
        self.assertTrue(ok, out.getvalue())


if __name__ == "__main__":
    unittest.main(verbosity=2)
